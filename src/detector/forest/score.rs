//! Scoring: rows walked down every tree in blocks, in parallel, by the fastest
//! kernel the CPU runs; every kernel gives bit-identical scores.

use rayon::prelude::*;

use super::arena::{Forest, TOP_FLOATS, TOP_LEVELS, TREE_FLOATS, WIDE_LEVELS};
use super::grow::{average_path_length, dot_padded};
#[cfg(target_arch = "x86_64")]
use super::kernels::{step8, top_records8, top_step8, wide_records8, wide_step8};
use super::{LANES, at_edge};

/// The code that walks blocks of rows down the trees. All give bit-identical scores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
pub(super) enum Kernel {
    /// Plain Rust, one row at a time.
    Portable,
    /// Eight rows at a time, the first [`TOP_LEVELS`] levels from lane tables.
    Avx2,
    /// As [`Kernel::Avx2`], with [`WIDE_LEVELS`] from lane tables.
    Avx512,
}

impl Kernel {
    /// The fastest kernel this CPU runs.
    pub(super) fn detect() -> Kernel {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::is_x86_feature_detected as has;
            if has!("avx2") && has!("avx512f") && has!("avx512vl") {
                return Kernel::Avx512;
            }
            if has!("avx2") {
                return Kernel::Avx2;
            }
        }
        Kernel::Portable
    }
}

/// Rows scored together per tree, so their independent walks overlap in the CPU.
pub(super) const BLOCK: usize = 512;

impl Forest {
    /// Features of the rows the forest scores.
    pub fn dims(&self) -> usize {
        self.data.dims
    }

    /// Rows each tree grew from: the sample size asked for, or every row the fit
    /// gave it when there were fewer.
    pub fn sample_size(&self) -> usize {
        self.data.sample_size
    }

    /// Anomaly scores s(x) = 2^(-E[h(x)] / c(psi)) in (0, 1] for row-major `rows`;
    /// higher is more anomalous. Parallel over blocks of rows; the result does not
    /// depend on the number of threads.
    pub fn score(&self, rows: &[f32]) -> Vec<f64> {
        self.score_with(rows, Kernel::detect())
    }

    /// [`Forest::score`] with the given kernel.
    pub(super) fn score_with(&self, rows: &[f32], kernel: Kernel) -> Vec<f64> {
        let dims = self.data.dims;
        let mut out = vec![0.0; rows.len() / dims];
        out.par_chunks_mut(BLOCK)
            .enumerate()
            .for_each(|(b, chunk)| {
                let start = b * BLOCK * dims;
                let end = start + chunk.len() * dims;
                self.score_block(&rows[start..end], chunk, kernel);
            });
        out
    }

    /// Scores one block with `kernel`. Every kernel performs the same IEEE
    /// operations in the same order (no fused multiply-add), so the scores are
    /// bit-identical on any x86-64 CPU.
    pub(super) fn score_block(&self, rows: &[f32], out: &mut [f64], kernel: Kernel) {
        #[cfg(target_arch = "x86_64")]
        match kernel {
            // SAFETY: `Kernel::detect` (or a test, from what it detected) chose these
            // only on a CPU with their features.
            Kernel::Avx512 => return unsafe { self.score_block_avx512(rows, out) },
            Kernel::Avx2 => return unsafe { self.score_block_avx2(rows, out) },
            Kernel::Portable => {}
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = kernel;
        self.score_block_portable(rows, out);
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn score_block_avx2(&self, rows: &[f32], out: &mut [f64]) {
        if self.data.stride == 8 {
            self.score_block_kernel::<8, true, false>(rows, out);
        } else {
            self.score_block_portable(rows, out);
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,avx512f,avx512vl")]
    pub(super) unsafe fn score_block_avx512(&self, rows: &[f32], out: &mut [f64]) {
        if self.data.stride == 8 {
            self.score_block_kernel::<8, true, true>(rows, out);
        } else {
            self.score_block_portable(rows, out);
        }
    }

    /// Dispatches to a kernel compiled for the padded width, so the common widths
    /// get fully unrolled dot products.
    #[inline(always)]
    pub(super) fn score_block_portable(&self, rows: &[f32], out: &mut [f64]) {
        match self.data.stride {
            8 => self.score_block_kernel::<8, false, false>(rows, out),
            16 => self.score_block_kernel::<16, false, false>(rows, out),
            24 => self.score_block_kernel::<24, false, false>(rows, out),
            32 => self.score_block_kernel::<32, false, false>(rows, out),
            40 => self.score_block_kernel::<40, false, false>(rows, out),
            48 => self.score_block_kernel::<48, false, false>(rows, out),
            56 => self.score_block_kernel::<56, false, false>(rows, out),
            64 => self.score_block_kernel::<64, false, false>(rows, out),
            _ => self.score_block_kernel::<0, false, false>(rows, out),
        }
    }

    /// Scores one block; `S` is the padded width when known at compile time, else 0.
    /// `GROUPED` (only with `S == 8`, on a CPU with AVX2) walks rows eight at a time;
    /// `WIDE` (only when grouped, on a CPU with AVX-512) walks [`WIDE_LEVELS`] from
    /// lane tables instead of [`TOP_LEVELS`].
    #[inline(always)]
    pub(super) fn score_block_kernel<const S: usize, const GROUPED: bool, const WIDE: bool>(
        &self,
        rows: &[f32],
        out: &mut [f64],
    ) {
        let dims = self.data.dims;
        let stride = if S == 0 { self.data.stride } else { S };
        let record = stride + 4;
        let n = out.len().min(BLOCK);
        let mut buf = [0f32; BLOCK * MAX_INLINE_STRIDE];
        let mut heap = Vec::new();
        let buf: &mut [f32] = if stride <= MAX_INLINE_STRIDE {
            &mut buf[..n * stride]
        } else {
            heap.resize(n * stride, 0.0);
            &mut heap
        };
        for (r, row) in rows.chunks_exact(dims).take(n).enumerate() {
            for (dst, &v) in buf[r * stride..].iter_mut().zip(row) {
                *dst = at_edge(v);
            }
        }
        let mut total = [0f64; BLOCK];
        let mut at = [0u32; BLOCK];
        let records = self.records.as_ptr();
        let record = record as u32;
        let grouped = if GROUPED && S == 8 { n / 8 * 8 } else { 0 };
        // Grouped rows also as columns: for each group of eight rows, component k
        // of all eight, then k + 1.
        let mut columns = [0f32; BLOCK * LANES];
        for (g, group) in buf[..grouped * stride].chunks_exact(64).enumerate() {
            for (r, row) in group.chunks_exact(8).enumerate() {
                for (k, &v) in row.iter().enumerate() {
                    columns[g * 64 + k * 8 + r] = v;
                }
            }
        }
        for (t, &(root, depth)) in self.data.trees.iter().enumerate() {
            at[..n].fill(root * record);
            // Level by level across all groups: each group's loads depend on its
            // previous level, so advancing every group before going deeper keeps
            // many independent loads in flight.
            #[cfg(target_arch = "x86_64")]
            if grouped > 0 {
                let top = &self.tops[t * TREE_FLOATS..(t + 1) * TREE_FLOATS];
                at[..grouped].fill(0);
                for level in 0..TOP_LEVELS {
                    for g in (0..grouped).step_by(8) {
                        let rows = &columns[g * 8..g * 8 + 64];
                        // SAFETY: `GROUPED` is only set by `score_block_avx2`, whose
                        // caller checked that the CPU has AVX2; with rows 8 floats
                        // wide (S == 8) every tree has its tables in `tops`; indices
                        // start at 0 and at most double plus one per level.
                        unsafe { top_step8(top, level, rows, &mut at[g..g + 8]) };
                    }
                }
                let levels = if WIDE {
                    let (sixteen, rest) = top[TOP_FLOATS..].split_at(9 * 16);
                    let (thirty_two, offsets) = rest.split_at(9 * 32);
                    for g in (0..grouped).step_by(8) {
                        let rows = &columns[g * 8..g * 8 + 64];
                        // SAFETY: `WIDE` is only set by `score_block_avx512`, whose
                        // caller checked that the CPU has AVX-512 (F and VL); the
                        // indices are below 16 after the top levels and at most
                        // double plus one per level, as above.
                        unsafe { wide_step8::<16>(sixteen, rows, &mut at[g..g + 8]) };
                    }
                    for g in (0..grouped).step_by(8) {
                        let rows = &columns[g * 8..g * 8 + 64];
                        // SAFETY: as above, with indices below 32.
                        unsafe { wide_step8::<32>(thirty_two, rows, &mut at[g..g + 8]) };
                    }
                    for g in (0..grouped).step_by(8) {
                        // SAFETY: as above, with indices below 64.
                        unsafe { wide_records8(offsets, &mut at[g..g + 8]) };
                    }
                    WIDE_LEVELS
                } else {
                    for g in (0..grouped).step_by(8) {
                        // SAFETY: as above, after all the top levels.
                        unsafe { top_records8(top, &mut at[g..g + 8]) };
                    }
                    TOP_LEVELS
                };
                for _ in levels as u32..depth {
                    for g in (0..grouped).step_by(8) {
                        // SAFETY: as above; node offsets are valid as explained below.
                        unsafe { step8(records, &buf[g * 8..g * 8 + 64], &mut at[g..g + 8]) };
                    }
                }
            }
            for _ in 0..depth {
                for (r, x) in buf.chunks_exact(stride).enumerate().skip(grouped) {
                    // SAFETY: every offset in `at` starts the record of a root or of
                    // a child from the arena, all checked to be below the node count
                    // when the forest was built or loaded (`TryFrom<ForestData>`);
                    // each node owns `record` floats in `records`, of which the first
                    // `stride` are its normal and the next three its bound and
                    // children's offsets.
                    let rec = unsafe {
                        std::slice::from_raw_parts(records.add(at[r] as usize), record as usize)
                    };
                    let side = dot_padded(x, &rec[..stride]) > rec[stride];
                    at[r] = rec[stride + 1 + side as usize].to_bits();
                }
            }
            for r in 0..n {
                // SAFETY: as above; the record's last float is the leaf depth.
                total[r] += unsafe { *records.add(at[r] as usize + record as usize - 1) } as f64;
            }
        }
        let norm = average_path_length(self.data.sample_size).max(f64::MIN_POSITIVE)
            * self.data.trees.len() as f64;
        for r in 0..n {
            out[r] = 2f64.powf(-total[r] / norm);
        }
    }
}

/// Widest padded row kept on the stack while scoring (64 dimensions).
pub(super) const MAX_INLINE_STRIDE: usize = 64;
