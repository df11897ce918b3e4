//! The trained forest: every tree's nodes in one flat arena, as stored
//! (`ForestData`, checked on load) and as scored ([`Forest`], with interleaved
//! node records and the lane tables of each tree's top levels).

use serde::{Deserialize, Serialize};

use super::{LANES, padded};

/// A trained forest as stored: every tree's nodes in shared flat arrays.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct ForestData {
    pub(super) dims: usize,
    pub(super) stride: usize,
    pub(super) sample_size: usize,
    /// Per tree: index of its root in the arena and the depth of its deepest leaf.
    pub(super) trees: Vec<(u32, u32)>,
    pub(super) normals: Vec<f32>,
    pub(super) bounds: Vec<f32>,
    pub(super) children: Vec<[u32; 2]>,
    pub(super) leaf_depth: Vec<f32>,
}

/// A trained forest. Scoring reads one interleaved record per node (its normal,
/// bound, two children and leaf depth) so a step touches one cache line; the stored
/// form is `ForestData`, checked on load so no index can point outside the arena.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "ForestData", into = "ForestData")]
pub struct Forest {
    pub(super) data: ForestData,
    /// Floats per node record: the normal, then the bound, where the left and right
    /// children's records start (as bits of a float offset into `records`), and the
    /// leaf depth.
    pub(super) record: usize,
    pub(super) records: Vec<f32>,
    /// For rows 8 floats wide: per tree, its first [`WIDE_LEVELS`] levels as lane
    /// tables ([`TREE_FLOATS`] floats; see [`top_tables`]), empty otherwise.
    pub(super) tops: Vec<f32>,
}

/// Levels of each tree walked from 8-lane tables rather than node records.
pub(super) const TOP_LEVELS: usize = 4;

/// Floats per tree for the [`TOP_LEVELS`] 8-lane levels: per level, 8 rows of the
/// normal's components by node and the bounds by node; then the record offsets of
/// the 16 nodes below the last of them.
pub(super) const TOP_FLOATS: usize = TOP_LEVELS * 9 * LANES + 2 * LANES;

/// Levels walked from lane tables on a CPU with AVX-512, whose two-table permutes
/// pick among 16 and 32 nodes in one step: the [`TOP_LEVELS`], then two more.
pub(super) const WIDE_LEVELS: usize = TOP_LEVELS + 2;

/// Floats per tree in [`Forest::tops`]: the [`TOP_FLOATS`], then the next two
/// levels' tables (16 and 32 lanes) and the record offsets of the 64 nodes below.
pub(super) const TREE_FLOATS: usize = TOP_FLOATS + 9 * 16 + 9 * 32 + 64;

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
pub(super) fn top_tables(data: &ForestData, root: u32, record: u32) -> Vec<f32> {
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
    pub(super) fn is_split_or_leaf(&self, n: usize) -> bool {
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
