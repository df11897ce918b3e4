//! Growing the trees: each from its own seeded sample, split by random hyperplanes
//! until its rows are isolated or the depth limit is reached, then joined into the
//! forest's arena.

use rand::RngExt;
use rand::rngs::StdRng;
use rand::seq::index;
use rand_distr::StandardNormal;

use super::LANES;
use super::arena::{Forest, ForestData};

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

pub(super) struct Grower<'a> {
    pub(super) rows: &'a [f32],
    pub(super) dims: usize,
    pub(super) stride: usize,
    pub(super) level: usize,
    pub(super) max_depth: usize,
}

/// One tree's nodes before they join the arena; indices are local to the tree.
pub(super) struct TreeNodes {
    pub(super) normals: Vec<f32>,
    pub(super) bounds: Vec<f32>,
    pub(super) children: Vec<[u32; 2]>,
    pub(super) leaf_depth: Vec<f32>,
    pub(super) depth: u32,
}

impl Grower<'_> {
    pub(super) fn row(&self, i: usize) -> &[f32] {
        &self.rows[i * self.dims..(i + 1) * self.dims]
    }

    pub(super) fn grow(&self, sample: Vec<usize>, rng: &mut StdRng) -> TreeNodes {
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
    pub(super) fn bounds_of(&self, members: &[usize], lo: &mut [f32], hi: &mut [f32]) -> bool {
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
    pub(super) fn draw_normal(&self, rng: &mut StdRng) -> Vec<f32> {
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
    pub(super) fn push_leaf(&mut self, stride: usize) -> usize {
        let id = self.bounds.len();
        self.normals.extend(std::iter::repeat_n(0.0, stride));
        self.bounds.push(f32::MAX);
        self.children.push([id as u32, id as u32]);
        self.leaf_depth.push(0.0);
        id
    }
}

pub(super) fn dot_plain(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Dot product over whole 8-lane chunks with a fixed summation order, so the result
/// is the same whether or not the compiler vectorises it.
#[inline(always)]
pub(super) fn dot_padded(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; LANES];
    for (ca, cb) in a.chunks_exact(LANES).zip(b.chunks_exact(LANES)) {
        for k in 0..LANES {
            acc[k] += ca[k] * cb[k];
        }
    }
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]))
}

impl Forest {
    pub(super) fn assemble(
        trees: Vec<TreeNodes>,
        dims: usize,
        stride: usize,
        sample_size: usize,
    ) -> Self {
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
}
