//! The SIMD steps of scoring (AVX2, and AVX-512 F and VL): eight rows moved one
//! level down a tree at a time, summing in exactly the order of the portable dot
//! product so every kernel reaches the same leaf.

#[cfg(target_arch = "x86_64")]
use super::LANES;
#[cfg(target_arch = "x86_64")]
use super::arena::TOP_LEVELS;

/// Moves eight rows of width 8 one level down their tree with AVX2. The eight dot
/// products share one transposed horizontal sum, added in exactly the order of
/// [`super::grow::dot_padded`] ((p0+p4)+(p1+p5))+((p2+p6)+(p3+p7)), so a row gets the same
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
pub(super) unsafe fn step8(records: *const f32, xs: &[f32], at: &mut [u32]) {
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
/// from its lane tables ([`super::arena::top_tables`]): `at` holds each row's index within the
/// level, and gets its index within the next ([`lane_step8`]).
///
/// # Safety
/// The CPU must have AVX2; `top` holds one tree's [`super::arena::TOP_FLOATS`] floats; `columns`
/// holds 8 rows of 8 floats as columns (component k of every row at 8k); `level`
/// is below [`TOP_LEVELS`] and every index in `at` below 2^level.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
pub(super) unsafe fn top_step8(top: &[f32], level: usize, columns: &[f32], at: &mut [u32]) {
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
/// [`super::grow::dot_padded`], so a row takes the same path here as alone; each index in `at`
/// becomes 2 * index + side.
///
/// # Safety
/// The CPU must have AVX2; `columns` holds 8 rows of 8 floats as columns (component
/// k of every row at 8k); `at` holds 8 indices.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
pub(super) unsafe fn lane_step8(
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
/// The CPU must have AVX2; `top` holds one tree's [`super::arena::TOP_FLOATS`] floats; every
/// index in `at` is below 2^[`TOP_LEVELS`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
pub(super) unsafe fn top_records8(top: &[f32], at: &mut [u32]) {
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
pub(super) unsafe fn wide_step8<const NODES: usize>(
    table: &[f32],
    columns: &[f32],
    at: &mut [u32],
) {
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

/// Turns eight rows' indices below the last of the [`super::arena::WIDE_LEVELS`] into the offsets
/// of the records they reached.
///
/// # Safety
/// The CPU must have AVX-512 F and VL; `offsets` holds 64 record offsets; every
/// index in `at` is below 64.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,avx512f,avx512vl")]
pub(super) unsafe fn wide_records8(offsets: &[f32], at: &mut [u32]) {
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
