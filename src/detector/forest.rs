//! The extended Isolation Forest (Hariri, Kind & Brunner, 2019): random hyperplane
//! cuts isolate rare points in fewer steps than common ones. Trees live in one flat
//! arena of nodes so scoring walks integers, not pointers, and is parallel over rows.

use rand::rngs::StdRng;
use rand::seq::index;
use rand::{RngExt, SeedableRng};
use rand_distr::StandardNormal;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Why a forest could not be configured or trained.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ForestError {
    /// `n_trees` was zero.
    #[error("n_trees must be at least 1, got {0}")]
    NoTrees(usize),
    /// `sample_size` was below 2, which cannot isolate anything.
    #[error("sample_size must be at least 2, got {0}")]
    SampleTooSmall(usize),
    /// `max_depth` was zero or beyond what a tree of 2^16 leaves can use.
    #[error("max_depth must be between 1 and {MAX_DEPTH_LIMIT}, got {0}")]
    BadDepth(usize),
    /// `extension_level` was not below the number of dimensions.
    #[error("extension_level must be below the number of dimensions ({dims}), got {level}")]
    BadExtension {
        /// The requested extension level.
        level: usize,
        /// The dimensions of the training data.
        dims: usize,
    },
    /// The training data had no columns.
    #[error("the training data has no dimensions")]
    NoDimensions,
    /// Fewer than two training rows.
    #[error("at least 2 training rows are needed, got {0}")]
    TooFewRows(usize),
    /// A row with a different width than the first.
    #[error("row {row} has {found} values, expected {expected}")]
    RaggedRow {
        /// Index of the offending row.
        row: usize,
        /// Width of the first row.
        expected: usize,
        /// Width of this row.
        found: usize,
    },
}

/// The deepest tree a user may ask for; deeper trees only memorise the sample.
pub const MAX_DEPTH_LIMIT: usize = 32;

/// Hyper-parameters as given; [`ForestParams::check`] turns them into a [`ValidForestParams`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForestParams {
    /// Number of trees; more trees give steadier scores at linear cost.
    pub n_trees: usize,
    /// Rows drawn (without replacement) to grow each tree; capped at the row count.
    pub sample_size: usize,
    /// Non-zero coordinates of each cut's normal, minus one: 0 is the classic
    /// axis-parallel forest; `None` means full extension (dims - 1).
    pub extension_level: Option<usize>,
    /// Depth at which growth stops; `None` means ceil(log2(sample size)).
    pub max_depth: Option<usize>,
    /// Seed of every random choice, so a fit is reproducible.
    pub seed: u64,
}

impl Default for ForestParams {
    fn default() -> Self {
        Self {
            n_trees: 200,
            sample_size: 256,
            extension_level: None,
            max_depth: None,
            seed: 0,
        }
    }
}

impl ForestParams {
    /// Validates the parameters that do not depend on the data.
    pub fn check(&self) -> Result<ValidForestParams, ForestError> {
        if self.n_trees == 0 {
            return Err(ForestError::NoTrees(self.n_trees));
        }
        if self.sample_size < 2 {
            return Err(ForestError::SampleTooSmall(self.sample_size));
        }
        if let Some(depth) = self.max_depth
            && !(1..=MAX_DEPTH_LIMIT).contains(&depth)
        {
            return Err(ForestError::BadDepth(depth));
        }
        Ok(ValidForestParams(self.clone()))
    }
}

/// Parameters that passed [`ForestParams::check`]; the only way to fit a forest.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidForestParams(ForestParams);

impl ValidForestParams {
    /// Grows the forest on `rows` (row-major, `dims` values per row).
    pub fn fit(&self, rows: &[f32], dims: usize) -> Result<Forest, ForestError> {
        let p = &self.0;
        if dims == 0 {
            return Err(ForestError::NoDimensions);
        }
        if !rows.len().is_multiple_of(dims) {
            return Err(ForestError::RaggedRow {
                row: rows.len() / dims,
                expected: dims,
                found: rows.len() % dims,
            });
        }
        let n_rows = rows.len() / dims;
        if n_rows < 2 {
            return Err(ForestError::TooFewRows(n_rows));
        }
        let level = p.extension_level.unwrap_or(dims - 1);
        if level >= dims {
            return Err(ForestError::BadExtension { level, dims });
        }
        let sample_size = p.sample_size.min(n_rows);
        let max_depth = p
            .max_depth
            .unwrap_or_else(|| (sample_size as f64).log2().ceil().max(1.0) as usize);
        let stride = padded(dims);
        let grower = Grower {
            rows,
            dims,
            stride,
            level,
            max_depth,
        };
        let trees: Vec<TreeNodes> = (0..p.n_trees)
            .into_par_iter()
            .map(|t| {
                let mut rng = StdRng::seed_from_u64(tree_seed(p.seed, t as u64));
                let sample = index::sample(&mut rng, n_rows, sample_size).into_vec();
                grower.grow(sample, &mut rng)
            })
            .collect();
        Ok(Forest::assemble(trees, dims, stride, sample_size))
    }
}

/// Distinct, well-mixed seeds per tree (SplitMix64), so trees can grow in any order.
fn tree_seed(seed: u64, tree: u64) -> u64 {
    let mut z = seed ^ tree.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Dimensions rounded up to a whole number of 8-lane chunks, so dot products vectorise.
fn padded(dims: usize) -> usize {
    dims.div_ceil(LANES) * LANES
}

const LANES: usize = 8;

/// The code that walks blocks of rows down the trees. All give bit-identical scores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
enum Kernel {
    /// Plain Rust, one row at a time.
    Portable,
    /// Eight rows at a time, the first [`TOP_LEVELS`] levels from lane tables.
    Avx2,
    /// As [`Kernel::Avx2`], with [`WIDE_LEVELS`] from lane tables.
    Avx512,
}

impl Kernel {
    /// The fastest kernel this CPU runs.
    fn detect() -> Kernel {
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

/// Average path length of an unsuccessful search in a binary search tree of `n`
/// points: the normaliser c(n) of the isolation score.
pub fn average_path_length(n: usize) -> f64 {
    match n {
        0 | 1 => 0.0,
        2 => 1.0,
        _ => {
            let n = n as f64;
            const EULER: f64 = 0.577_215_664_901_532_9;
            2.0 * ((n - 1.0).ln() + EULER) - 2.0 * (n - 1.0) / n
        }
    }
}

struct Grower<'a> {
    rows: &'a [f32],
    dims: usize,
    stride: usize,
    level: usize,
    max_depth: usize,
}

/// One tree's nodes before they join the arena; indices are local to the tree.
struct TreeNodes {
    normals: Vec<f32>,
    bounds: Vec<f32>,
    children: Vec<[u32; 2]>,
    leaf_depth: Vec<f32>,
    depth: u32,
}

impl Grower<'_> {
    fn row(&self, i: usize) -> &[f32] {
        &self.rows[i * self.dims..(i + 1) * self.dims]
    }

    fn grow(&self, sample: Vec<usize>, rng: &mut StdRng) -> TreeNodes {
        let mut tree = TreeNodes {
            normals: Vec::new(),
            bounds: Vec::new(),
            children: Vec::new(),
            leaf_depth: Vec::new(),
            depth: 0,
        };
        // Each pending entry is (node index, depth, rows that reached it).
        let mut pending = vec![(tree.push_leaf(self.stride), 0usize, sample)];
        let mut lo = vec![0f32; self.dims];
        let mut hi = vec![0f32; self.dims];
        while let Some((node, depth, members)) = pending.pop() {
            tree.depth = tree.depth.max(depth as u32);
            let size = members.len();
            if depth >= self.max_depth || size <= 1 || !self.bounds_of(&members, &mut lo, &mut hi) {
                tree.leaf_depth[node] = (depth as f64 + average_path_length(size)) as f32;
                continue;
            }
            let normal = self.draw_normal(rng);
            let mut bound = 0f32;
            for d in 0..self.dims {
                let point = if hi[d] > lo[d] {
                    rng.random_range(lo[d]..hi[d])
                } else {
                    lo[d]
                };
                bound += point * normal[d];
            }
            let (left, right): (Vec<usize>, Vec<usize>) = members
                .into_iter()
                .partition(|&i| dot_plain(self.row(i), &normal) <= bound);
            let l = tree.push_leaf(self.stride);
            let r = tree.push_leaf(self.stride);
            tree.normals[node * self.stride..node * self.stride + self.dims]
                .copy_from_slice(&normal);
            tree.bounds[node] = bound;
            tree.children[node] = [l as u32, r as u32];
            pending.push((r, depth + 1, right));
            pending.push((l, depth + 1, left));
        }
        tree
    }

    /// Fills the bounding box of `members`; false when all of them are the same point.
    fn bounds_of(&self, members: &[usize], lo: &mut [f32], hi: &mut [f32]) -> bool {
        lo.copy_from_slice(self.row(members[0]));
        hi.copy_from_slice(self.row(members[0]));
        for &i in &members[1..] {
            for (d, &v) in self.row(i).iter().enumerate() {
                lo[d] = lo[d].min(v);
                hi[d] = hi[d].max(v);
            }
        }
        lo.iter().zip(hi.iter()).any(|(l, h)| h > l)
    }

    /// A random direction with `level + 1` non-zero Gaussian coordinates.
    fn draw_normal(&self, rng: &mut StdRng) -> Vec<f32> {
        let mut normal: Vec<f32> = (0..self.dims)
            .map(|_| rng.sample::<f64, _>(StandardNormal) as f32)
            .collect();
        let zeroed = self.dims - self.level - 1;
        if zeroed > 0 {
            for d in index::sample(rng, self.dims, zeroed) {
                normal[d] = 0.0;
            }
        }
        normal
    }
}

impl TreeNodes {
    /// Adds a node that is a leaf until split: its zero normal and maximal bound
    /// send every row to `children[0]`, itself, so traversal needs no branch.
    fn push_leaf(&mut self, stride: usize) -> usize {
        let id = self.bounds.len();
        self.normals.extend(std::iter::repeat_n(0.0, stride));
        self.bounds.push(f32::MAX);
        self.children.push([id as u32, id as u32]);
        self.leaf_depth.push(0.0);
        id
    }
}

fn dot_plain(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Dot product over whole 8-lane chunks with a fixed summation order, so the result
/// is the same whether or not the compiler vectorises it.
#[inline(always)]
fn dot_padded(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; LANES];
    for (ca, cb) in a.chunks_exact(LANES).zip(b.chunks_exact(LANES)) {
        for k in 0..LANES {
            acc[k] += ca[k] * cb[k];
        }
    }
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]))
}

/// A trained forest as stored: every tree's nodes in shared flat arrays.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct ForestData {
    dims: usize,
    stride: usize,
    sample_size: usize,
    /// Per tree: index of its root in the arena and the depth of its deepest leaf.
    trees: Vec<(u32, u32)>,
    normals: Vec<f32>,
    bounds: Vec<f32>,
    children: Vec<[u32; 2]>,
    leaf_depth: Vec<f32>,
}

/// A trained forest. Scoring reads one interleaved record per node (its normal,
/// bound, two children and leaf depth) so a step touches one cache line; the stored
/// form is [`ForestData`], checked on load so no index can point outside the arena.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "ForestData", into = "ForestData")]
pub struct Forest {
    data: ForestData,
    /// Floats per node record: the normal, then the bound, where the left and right
    /// children's records start (as bits of a float offset into `records`), and the
    /// leaf depth.
    record: usize,
    records: Vec<f32>,
    /// For rows 8 floats wide: per tree, its first [`WIDE_LEVELS`] levels as lane
    /// tables ([`TREE_FLOATS`] floats; see [`top_tables`]), empty otherwise.
    tops: Vec<f32>,
}

/// Levels of each tree walked from 8-lane tables rather than node records.
const TOP_LEVELS: usize = 4;

/// Floats per tree for the [`TOP_LEVELS`] 8-lane levels: per level, 8 rows of the
/// normal's components by node and the bounds by node; then the record offsets of
/// the 16 nodes below the last of them.
const TOP_FLOATS: usize = TOP_LEVELS * 9 * LANES + 2 * LANES;

/// Levels walked from lane tables on a CPU with AVX-512, whose two-table permutes
/// pick among 16 and 32 nodes in one step: the [`TOP_LEVELS`], then two more.
const WIDE_LEVELS: usize = TOP_LEVELS + 2;

/// Floats per tree in [`Forest::tops`]: the [`TOP_FLOATS`], then the next two
/// levels' tables (16 and 32 lanes) and the record offsets of the 64 nodes below.
const TREE_FLOATS: usize = TOP_FLOATS + 9 * 16 + 9 * 32 + 64;

impl TryFrom<ForestData> for Forest {
    type Error = String;

    fn try_from(data: ForestData) -> Result<Self, Self::Error> {
        let nodes = data.bounds.len();
        let consistent = data.dims >= 1
            && data.stride == padded(data.dims)
            && data.sample_size >= 1
            && data.normals.len() == nodes * data.stride
            && data.children.len() == nodes
            && data.leaf_depth.len() == nodes
            && data.trees.iter().all(|&(root, _)| (root as usize) < nodes)
            && data
                .children
                .iter()
                .flatten()
                .all(|&c| (c as usize) < nodes)
            && (0..nodes).all(|n| data.is_split_or_leaf(n));
        if !consistent {
            return Err("the forest's node arrays are inconsistent (a corrupt model file?)".into());
        }
        let record = data.stride + 4;
        if nodes.saturating_mul(record) > u32::MAX as usize {
            return Err(format!("the forest has too many nodes to score ({nodes})"));
        }
        let offset = |node: u32| f32::from_bits(node * record as u32);
        let mut records = Vec::with_capacity(nodes * record);
        for node in 0..nodes {
            records.extend_from_slice(&data.normals[node * data.stride..(node + 1) * data.stride]);
            let [left, right] = data.children[node];
            records.extend([
                data.bounds[node],
                offset(left),
                offset(right),
                data.leaf_depth[node],
            ]);
        }
        let tops = if data.stride == LANES {
            data.trees
                .iter()
                .flat_map(|&(root, _)| top_tables(&data, root, record as u32))
                .collect()
        } else {
            Vec::new()
        };
        Ok(Forest {
            data,
            record,
            records,
            tops,
        })
    }
}

/// The first [`WIDE_LEVELS`] levels of the tree at `root` (rows 8 wide) as lane
/// tables: level d's 2^d nodes sit in lanes (at least 8), so a row's index within
/// its level picks its node's normal components and bound with one permute each,
/// and goes to 2 * index + side. A leaf above the last level stands in for its own
/// children (it links to itself and sends every row left), so every row walks the
/// same number of levels and lands where the records would have taken it. The
/// record offsets of the nodes reached follow the [`TOP_LEVELS`] and the rest.
fn top_tables(data: &ForestData, root: u32, record: u32) -> Vec<f32> {
    let mut tables = Vec::with_capacity(TREE_FLOATS);
    let mut level = vec![root];
    for depth in 0..WIDE_LEVELS {
        let lanes = LANES.max(1 << depth);
        for k in 0..LANES {
            tables.extend((0..lanes).map(|i| {
                level
                    .get(i)
                    .map_or(0.0, |&n| data.normals[n as usize * LANES + k])
            }));
        }
        tables.extend((0..lanes).map(|i| level.get(i).map_or(0.0, |&n| data.bounds[n as usize])));
        level = level
            .iter()
            .flat_map(|&n| data.children[n as usize])
            .collect();
        if depth + 1 == TOP_LEVELS || depth + 1 == WIDE_LEVELS {
            tables.extend(level.iter().map(|&n| f32::from_bits(n * record)));
        }
    }
    tables
}

impl ForestData {
    /// Whether node `n` has the shape the grower gives every node: split, with
    /// adjacent children, or a leaf that links to itself and sends every row left.
    /// Scoring relies on it to find the next node as `left + side`.
    fn is_split_or_leaf(&self, n: usize) -> bool {
        let [left, right] = self.children[n];
        let split = right == left.wrapping_add(1);
        let leaf = left as usize == n
            && right as usize == n
            && self.bounds[n] == f32::MAX
            && self.normals[n * self.stride..(n + 1) * self.stride]
                .iter()
                .all(|&v| v == 0.0);
        split || leaf
    }
}

impl From<Forest> for ForestData {
    fn from(forest: Forest) -> ForestData {
        forest.data
    }
}

/// Rows scored together per tree, so their independent walks overlap in the CPU.
const BLOCK: usize = 512;

impl Forest {
    fn assemble(trees: Vec<TreeNodes>, dims: usize, stride: usize, sample_size: usize) -> Self {
        let mut data = ForestData {
            dims,
            stride,
            sample_size,
            trees: Vec::with_capacity(trees.len()),
            normals: Vec::new(),
            bounds: Vec::new(),
            children: Vec::new(),
            leaf_depth: Vec::new(),
        };
        for tree in trees {
            let base = data.bounds.len() as u32;
            data.trees.push((base, tree.depth));
            data.normals.extend(tree.normals);
            data.bounds.extend(tree.bounds);
            data.children
                .extend(tree.children.into_iter().map(|[l, r]| [l + base, r + base]));
            data.leaf_depth.extend(tree.leaf_depth);
        }
        // The grower only links nodes it created, so the arena is consistent.
        Forest::try_from(data).unwrap_or_else(|e| unreachable!("{e}"))
    }

    /// Anomaly scores s(x) = 2^(-E[h(x)] / c(psi)) in (0, 1] for row-major `rows`;
    /// higher is more anomalous. Parallel over blocks of rows; the result does not
    /// depend on the number of threads.
    pub fn score(&self, rows: &[f32]) -> Vec<f64> {
        self.score_with(rows, Kernel::detect())
    }

    /// [`Forest::score`] with the given kernel.
    fn score_with(&self, rows: &[f32], kernel: Kernel) -> Vec<f64> {
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
    fn score_block(&self, rows: &[f32], out: &mut [f64], kernel: Kernel) {
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
    unsafe fn score_block_avx2(&self, rows: &[f32], out: &mut [f64]) {
        if self.data.stride == 8 {
            self.score_block_kernel::<8, true, false>(rows, out);
        } else {
            self.score_block_portable(rows, out);
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,avx512f,avx512vl")]
    unsafe fn score_block_avx512(&self, rows: &[f32], out: &mut [f64]) {
        if self.data.stride == 8 {
            self.score_block_kernel::<8, true, true>(rows, out);
        } else {
            self.score_block_portable(rows, out);
        }
    }

    /// Dispatches to a kernel compiled for the padded width, so the common widths
    /// get fully unrolled dot products.
    #[inline(always)]
    fn score_block_portable(&self, rows: &[f32], out: &mut [f64]) {
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
    fn score_block_kernel<const S: usize, const GROUPED: bool, const WIDE: bool>(
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
                // A non-finite input would make every cut undecided; clamp it to the edge.
                *dst = if v.is_nan() {
                    0.0
                } else {
                    v.clamp(-1e30, 1e30)
                };
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

/// Moves eight rows of width 8 one level down their tree with AVX2. The eight dot
/// products share one transposed horizontal sum, added in exactly the order of
/// [`dot_padded`] ((p0+p4)+(p1+p5))+((p2+p6)+(p3+p7)), so a row gets the same
/// path here as alone. Each node's bound and left child are read as one pair, and
/// the next record is the left child's or the one after it: a split node's children
/// are adjacent and a leaf never sends a row right (see [`Forest`]'s checks).
///
/// # Safety
/// The CPU must have AVX2; `xs` holds 8 rows of 8 floats; `at` holds 8 offsets;
/// every offset in `at`, and every child's offset reachable from it, must start a
/// record of the arena at `records`, whose records are 12 floats (normal, bound,
/// left, right, leaf depth).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn step8(records: *const f32, xs: &[f32], at: &mut [u32]) {
    use std::arch::x86_64::*;
    const RECORD: usize = 12;
    // Lane order of the sums after the two horizontal adds; the permute at the end
    // puts the next offsets back in row order.
    const ORDER: [usize; 8] = [0, 2, 4, 6, 1, 3, 5, 7];
    let halves = |a: __m256, b: __m256| {
        _mm256_add_ps(
            _mm256_permute2f128_ps::<0x20>(a, b),
            _mm256_permute2f128_ps::<0x31>(a, b),
        )
    };
    let node: [*const f32; 8] = std::array::from_fn(|r| unsafe { records.add(at[r] as usize) });
    let p: [__m256; 8] = std::array::from_fn(|r| {
        _mm256_mul_ps(unsafe { _mm256_loadu_ps(xs.as_ptr().add(r * 8)) }, unsafe {
            _mm256_loadu_ps(node[r])
        })
    });
    let sums = _mm256_hadd_ps(
        _mm256_hadd_ps(halves(p[0], p[1]), halves(p[2], p[3])),
        _mm256_hadd_ps(halves(p[4], p[5]), halves(p[6], p[7])),
    );
    // Two lanes' (bound, left) pairs in one 128-bit register: [b, l, b', l'].
    let pairs = |a: usize, b: usize| unsafe {
        let lo = _mm_load_sd(node[ORDER[a]].add(8) as *const f64);
        _mm_castpd_ps(_mm_loadh_pd(lo, node[ORDER[b]].add(8) as *const f64))
    };
    let front = _mm256_set_m128(pairs(4, 5), pairs(0, 1));
    let back = _mm256_set_m128(pairs(6, 7), pairs(2, 3));
    let bounds = _mm256_shuffle_ps::<0b10_00_10_00>(front, back);
    let lefts = _mm256_castps_si256(_mm256_shuffle_ps::<0b11_01_11_01>(front, back));
    // A true comparison is all ones: going right moves on by one record.
    let right = _mm256_castps_si256(_mm256_cmp_ps::<_CMP_GT_OQ>(sums, bounds));
    let next = _mm256_add_epi32(
        lefts,
        _mm256_and_si256(right, _mm256_set1_epi32(RECORD as i32)),
    );
    let natural = _mm256_permutevar8x32_epi32(next, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    unsafe { _mm256_storeu_si256(at.as_mut_ptr() as *mut __m256i, natural) };
}

/// Moves eight rows of width 8 one of the first [`TOP_LEVELS`] levels down a tree,
/// from its lane tables ([`top_tables`]): `at` holds each row's index within the
/// level, and gets its index within the next ([`lane_step8`]).
///
/// # Safety
/// The CPU must have AVX2; `top` holds one tree's [`TOP_FLOATS`] floats; `columns`
/// holds 8 rows of 8 floats as columns (component k of every row at 8k); `level`
/// is below [`TOP_LEVELS`] and every index in `at` below 2^level.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn top_step8(top: &[f32], level: usize, columns: &[f32], at: &mut [u32]) {
    use std::arch::x86_64::*;
    let base = level * 9 * LANES;
    let pick = |index: __m256i, row: usize| {
        let table = unsafe { _mm256_loadu_ps(top[base + row * 8..base + row * 8 + 8].as_ptr()) };
        _mm256_permutevar8x32_ps(table, index)
    };
    // SAFETY: the caller's contract includes `lane_step8`'s.
    unsafe { lane_step8(columns, at, pick) };
}

/// Moves eight rows of width 8 one level down a tree: `pick(index, row)` gives each
/// lane's node's value from row `row` of its level's table (the normal's
/// components 0-7, then the bound). The products are summed in the order of
/// [`dot_padded`], so a row takes the same path here as alone; each index in `at`
/// becomes 2 * index + side.
///
/// # Safety
/// The CPU must have AVX2; `columns` holds 8 rows of 8 floats as columns (component
/// k of every row at 8k); `at` holds 8 indices.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn lane_step8(
    columns: &[f32],
    at: &mut [u32],
    pick: impl Fn(std::arch::x86_64::__m256i, usize) -> std::arch::x86_64::__m256,
) {
    use std::arch::x86_64::*;
    let index = unsafe { _mm256_loadu_si256(at.as_ptr() as *const __m256i) };
    let load = |at: usize| unsafe { _mm256_loadu_ps(columns[at..at + 8].as_ptr()) };
    let p: [__m256; 8] = std::array::from_fn(|k| _mm256_mul_ps(load(k * 8), pick(index, k)));
    let sum = _mm256_add_ps(
        _mm256_add_ps(_mm256_add_ps(p[0], p[4]), _mm256_add_ps(p[1], p[5])),
        _mm256_add_ps(_mm256_add_ps(p[2], p[6]), _mm256_add_ps(p[3], p[7])),
    );
    // A true comparison is all ones (-1): going right adds one.
    let right = _mm256_castps_si256(_mm256_cmp_ps::<_CMP_GT_OQ>(sum, pick(index, 8)));
    let next = _mm256_sub_epi32(_mm256_slli_epi32::<1>(index), right);
    unsafe { _mm256_storeu_si256(at.as_mut_ptr() as *mut __m256i, next) };
}

/// Turns eight rows' indices below the last of the [`TOP_LEVELS`] levels into the
/// offsets of the records they reached.
///
/// # Safety
/// The CPU must have AVX2; `top` holds one tree's [`TOP_FLOATS`] floats; every
/// index in `at` is below 2^[`TOP_LEVELS`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn top_records8(top: &[f32], at: &mut [u32]) {
    use std::arch::x86_64::*;
    let load = |at: usize| unsafe { _mm256_loadu_ps(top[at..at + 8].as_ptr()) };
    let index = unsafe { _mm256_loadu_si256(at.as_ptr() as *const __m256i) };
    // Sixteen records: lanes 0-7 of the first table, then of the second.
    let offsets = TOP_LEVELS * 9 * LANES;
    let low = _mm256_permutevar8x32_ps(load(offsets), index);
    let high = _mm256_permutevar8x32_ps(load(offsets + 8), index);
    let upper = _mm256_castsi256_ps(_mm256_slli_epi32::<28>(index));
    let reached = _mm256_blendv_ps(low, high, upper);
    unsafe { _mm256_storeu_ps(at.as_mut_ptr() as *mut f32, reached) };
}

/// Moves eight rows of width 8 one level down a tree past the [`TOP_LEVELS`], from
/// that level's lane table of `NODES` (16 or 32) nodes, each picked with one
/// two-table permute; otherwise exactly as [`top_step8`].
///
/// # Safety
/// The CPU must have AVX-512 F and VL; `table` holds 9 rows of `NODES` floats (the
/// normal's components by node, then the bounds); `columns` holds 8 rows of 8
/// floats as columns; every index in `at` is below `NODES`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,avx512f,avx512vl")]
unsafe fn wide_step8<const NODES: usize>(table: &[f32], columns: &[f32], at: &mut [u32]) {
    use std::arch::x86_64::*;
    let pick = |index: __m256i, row: usize| {
        let base = row * NODES;
        if NODES == 16 {
            let low = unsafe { _mm256_loadu_ps(table[base..base + 8].as_ptr()) };
            let high = unsafe { _mm256_loadu_ps(table[base + 8..base + 16].as_ptr()) };
            _mm256_permutex2var_ps(low, index, high)
        } else {
            let low = unsafe { _mm512_loadu_ps(table[base..base + 16].as_ptr()) };
            let high = unsafe { _mm512_loadu_ps(table[base + 16..base + 32].as_ptr()) };
            _mm512_castps512_ps256(_mm512_permutex2var_ps(
                low,
                _mm512_castsi256_si512(index),
                high,
            ))
        }
    };
    // SAFETY: the caller's contract includes `lane_step8`'s.
    unsafe { lane_step8(columns, at, pick) };
}

/// Turns eight rows' indices below the last of the [`WIDE_LEVELS`] into the offsets
/// of the records they reached.
///
/// # Safety
/// The CPU must have AVX-512 F and VL; `offsets` holds 64 record offsets; every
/// index in `at` is below 64.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,avx512f,avx512vl")]
unsafe fn wide_records8(offsets: &[f32], at: &mut [u32]) {
    use std::arch::x86_64::*;
    let load = |at: usize| unsafe { _mm512_loadu_ps(offsets[at..at + 16].as_ptr()) };
    let index = unsafe { _mm256_loadu_si256(at.as_ptr() as *const __m256i) };
    let wide = _mm512_castsi256_si512(index);
    // Two permutes over 32 offsets each; bit 5 of the index picks between them.
    let low = _mm512_castps512_ps256(_mm512_permutex2var_ps(load(0), wide, load(16)));
    let high = _mm512_castps512_ps256(_mm512_permutex2var_ps(load(32), wide, load(48)));
    let upper = _mm256_castsi256_ps(_mm256_slli_epi32::<26>(index));
    let reached = _mm256_blendv_ps(low, high, upper);
    unsafe { _mm256_storeu_ps(at.as_mut_ptr() as *mut f32, reached) };
}

/// Widest padded row kept on the stack while scoring (64 dimensions).
const MAX_INLINE_STRIDE: usize = 64;

#[cfg(test)]
mod tests {
    use super::*;
    use rand_distr::{Distribution, Normal};

    fn blobs(n: usize, dims: usize, seed: u64) -> Vec<f32> {
        let mut rng = StdRng::seed_from_u64(seed);
        let normal = Normal::new(0.0f64, 1.0).unwrap();
        (0..n * dims)
            .map(|i| {
                let centre = if (i / dims).is_multiple_of(2) {
                    -5.0
                } else {
                    5.0
                };
                (centre + normal.sample(&mut rng)) as f32
            })
            .collect()
    }

    fn fit(rows: &[f32], dims: usize, seed: u64) -> Forest {
        fit_with(
            ForestParams {
                seed,
                ..ForestParams::default()
            },
            rows,
            dims,
        )
    }

    fn fit_with(params: ForestParams, rows: &[f32], dims: usize) -> Forest {
        params.check().unwrap().fit(rows, dims).unwrap()
    }

    #[test]
    fn planted_outliers_get_the_top_scores() {
        let dims = 4;
        let mut rows = blobs(2000, dims, 1);
        let planted = [[0.0, 0.0, 0.0, 0.0], [15.0, -15.0, 15.0, 0.0], [-12.0; 4]];
        for p in planted {
            rows.extend_from_slice(&p);
        }
        let scores = fit(&rows, dims, 7).score(&rows);
        let mut order: Vec<usize> = (0..scores.len()).collect();
        order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
        let top: Vec<usize> = order[..3].to_vec();
        for i in 2000..2003 {
            assert!(top.contains(&i), "planted row {i} not in top 3: {top:?}");
        }
        assert!(scores[2001] > 0.6, "far outlier scored {}", scores[2001]);
    }

    #[test]
    fn same_seed_gives_bit_identical_model_and_scores_on_any_thread_count() {
        let rows = blobs(3000, 5, 2);
        let a = fit(&rows, 5, 11);
        let single = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let b = single.install(|| fit(&rows, 5, 11));
        assert_eq!(a, b);
        let sa = a.score(&rows);
        let sb = single.install(|| b.score(&rows));
        assert!(sa.iter().zip(&sb).all(|(x, y)| x.to_bits() == y.to_bits()));
    }

    #[test]
    fn different_seeds_give_different_forests() {
        let rows = blobs(1000, 3, 3);
        let a = fit(&rows, 3, 1).score(&rows);
        let b = fit(&rows, 3, 2).score(&rows);
        assert_ne!(a, b);
    }

    #[test]
    fn a_constant_column_does_not_break_scoring() {
        let mut rows = blobs(500, 3, 4);
        for r in rows.chunks_exact_mut(3) {
            r[1] = 42.0;
        }
        let scores = fit(&rows, 3, 5).score(&rows);
        assert!(
            scores
                .iter()
                .all(|s| s.is_finite() && *s > 0.0 && *s <= 1.0)
        );
        let all_constant = vec![1.0f32; 300];
        let flat = fit(&all_constant, 3, 5).score(&all_constant);
        assert!(flat.iter().all(|s| s.is_finite()));
    }

    #[test]
    fn classic_axis_parallel_forest_still_isolates_outliers() {
        let mut rows = blobs(1000, 2, 6);
        rows.extend_from_slice(&[40.0, 40.0]);
        let forest = fit_with(
            ForestParams {
                extension_level: Some(0),
                ..ForestParams::default()
            },
            &rows,
            2,
        );
        let scores = forest.score(&rows);
        let max = scores.iter().cloned().fold(0.0, f64::max);
        assert_eq!(scores[1000], max);
    }

    #[test]
    fn invalid_parameters_are_named_before_any_work() {
        let bad = ForestParams {
            n_trees: 0,
            ..ForestParams::default()
        };
        assert_eq!(bad.check(), Err(ForestError::NoTrees(0)));
        let bad = ForestParams {
            sample_size: 1,
            ..ForestParams::default()
        };
        assert_eq!(bad.check(), Err(ForestError::SampleTooSmall(1)));
        let bad = ForestParams {
            max_depth: Some(0),
            ..ForestParams::default()
        };
        assert_eq!(bad.check(), Err(ForestError::BadDepth(0)));
        let bad = ForestParams {
            extension_level: Some(3),
            ..ForestParams::default()
        };
        let err = bad.check().unwrap().fit(&[0.0; 30], 3).unwrap_err();
        assert_eq!(err, ForestError::BadExtension { level: 3, dims: 3 });
    }

    /// The error loading a saved forest gives after `tamper` edits its JSON.
    fn refusal_after(tamper: impl FnOnce(&mut serde_json::Value)) -> String {
        let rows = blobs(300, 2, 9);
        let mut json = serde_json::to_value(fit(&rows, 2, 1)).unwrap();
        tamper(&mut json);
        serde_json::from_value::<Forest>(json)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn a_model_whose_children_point_outside_the_arena_is_refused() {
        let rows = blobs(300, 2, 9);
        let json = serde_json::to_string(&fit(&rows, 2, 1)).unwrap();
        let back: Forest = serde_json::from_str(&json).unwrap();
        assert_eq!(back.score(&rows), fit(&rows, 2, 1).score(&rows));
        let err =
            refusal_after(|json| json["children"][0][0] = serde_json::json!(4_000_000_000u32));
        assert!(err.contains("inconsistent"), "{err}");
    }

    #[test]
    fn a_model_whose_split_does_not_have_adjacent_children_is_refused() {
        let err = refusal_after(|json| {
            let root = json["trees"][0][0].as_u64().unwrap() as usize;
            let children = &mut json["children"][root];
            let [left, right] = [children[0].take(), children[1].take()];
            *children = serde_json::json!([right, left]);
        });
        assert!(err.contains("inconsistent"), "{err}");
    }

    #[test]
    fn a_row_scores_the_same_alone_as_in_a_block() {
        // Small samples make trees shallower than the levels walked from lane
        // tables, with leaves among them; repeated rows make early leaves too.
        let mut rows = blobs(200, 5, 10);
        rows.extend(rows[..50].to_vec());
        for sample_size in [2, 4, 16, 256] {
            let params = ForestParams {
                seed: 4,
                sample_size,
                ..ForestParams::default()
            };
            let forest = fit_with(params, &rows, 5);
            let together = forest.score(&rows);
            for (r, expected) in together.iter().enumerate() {
                let alone = forest.score(&rows[r * 5..(r + 1) * 5])[0];
                assert_eq!(
                    alone.to_bits(),
                    expected.to_bits(),
                    "row {r}, sample {sample_size}"
                );
            }
        }
    }

    #[test]
    fn every_kernel_this_cpu_runs_gives_the_same_scores() {
        let mut rows = blobs(3000, 8, 12);
        rows.extend(rows[..400].to_vec());
        let best = Kernel::detect();
        for sample_size in [2, 16, 64, 256] {
            let params = ForestParams {
                seed: 9,
                sample_size,
                ..ForestParams::default()
            };
            let forest = fit_with(params, &rows, 8);
            let portable = forest.score_with(&rows, Kernel::Portable);
            for kernel in [Kernel::Avx2, Kernel::Avx512] {
                if kernel <= best {
                    let scores = forest.score_with(&rows, kernel);
                    assert!(
                        scores
                            .iter()
                            .zip(&portable)
                            .all(|(a, b)| a.to_bits() == b.to_bits()),
                        "{kernel:?}, sample {sample_size}"
                    );
                }
            }
        }
    }

    #[test]
    fn scores_many_dimensions() {
        let dims = 70;
        let rows = blobs(600, dims, 8);
        let scores = fit(&rows, dims, 1).score(&rows);
        assert_eq!(scores.len(), 600);
        assert!(scores.iter().all(|s| *s > 0.0 && *s <= 1.0));
    }
}
