//! Memory planner: every activation gets an offset in one arena, chosen so that tensors that
//! are live at the same time never overlap. Views (in-place concat, route groups) share their
//! base's storage, which lives from the first write of any view to the last read of any.

use crate::graph::{Graph, Storage, TensorId};

/// Offsets are rounded to this many floats (64 bytes: a cache line, an AVX-512 vector).
pub const ALIGN: usize = 16;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Placement {
    /// Element offset of the tensor's first channel of its first pixel.
    pub offset: usize,
    /// Elements from one pixel to the next (the base tensor's channel count).
    pub pixel_stride: usize,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemoryPlan {
    pub placements: Vec<Placement>,
    /// Arena length in elements.
    pub arena_len: usize,
    /// What giving every owning tensor its own buffer would take, in elements.
    pub naive_len: usize,
    /// Live interval `[first write, last read]` in steps (0: the input, node i: step i + 1),
    /// for each owning tensor; `None` for views.
    pub live: Vec<Option<(usize, usize)>>,
}

pub fn plan(graph: &Graph) -> MemoryPlan {
    let n = graph.tensors.len();
    let end = graph.nodes.len() + 1;
    let mut live: Vec<Option<(usize, usize)>> = vec![None; n];
    let touch = |live: &mut Vec<Option<(usize, usize)>>, t: TensorId, step: usize| {
        let (base, _) = graph.storage_of(t);
        let iv = live[base].get_or_insert((step, step));
        iv.0 = iv.0.min(step);
        iv.1 = iv.1.max(step);
    };
    touch(&mut live, graph.input, 0);
    for (i, node) in graph.nodes.iter().enumerate() {
        touch(&mut live, node.output, i + 1);
        for t in node.reads() {
            touch(&mut live, t, i + 1);
        }
    }
    for &t in &graph.outputs {
        touch(&mut live, t, end);
    }
    let sizes: Vec<usize> = graph
        .tensors
        .iter()
        .map(|t| t.shape.len().div_ceil(ALIGN) * ALIGN)
        .collect();
    let mut order: Vec<TensorId> = (0..n).filter(|&t| live[t].is_some()).collect();
    order.sort_by_key(|&t| (std::cmp::Reverse(sizes[t]), t));

    let mut base_offset = vec![0usize; n];
    let mut placed: Vec<(usize, usize, (usize, usize))> = Vec::with_capacity(order.len());
    let mut arena_len = 0;
    for t in order {
        let iv = live[t].expect("filtered on liveness");
        let mut busy: Vec<(usize, usize)> = placed
            .iter()
            .filter(|(_, _, other)| other.0 <= iv.1 && iv.0 <= other.1)
            .map(|&(off, len, _)| (off, len))
            .collect();
        busy.sort_unstable();
        let mut offset = 0;
        for (off, len) in busy {
            if offset + sizes[t] <= off {
                break;
            }
            offset = offset.max(off + len);
        }
        base_offset[t] = offset;
        arena_len = arena_len.max(offset + sizes[t]);
        placed.push((offset, sizes[t], iv));
    }
    let naive_len = (0..n)
        .filter(|&t| live[t].is_some())
        .map(|t| sizes[t])
        .sum();
    let placements = (0..n)
        .map(|t| {
            let (base, channel_offset) = graph.storage_of(t);
            Placement {
                offset: base_offset[base] + channel_offset,
                pixel_stride: graph.tensors[base].shape.c,
            }
        })
        .collect();
    // Views report no interval of their own.
    for (t, info) in graph.tensors.iter().enumerate() {
        if matches!(info.storage, Storage::View { .. }) {
            live[t] = None;
        }
    }
    MemoryPlan {
        placements,
        arena_len,
        naive_len,
        live,
    }
}

impl MemoryPlan {
    /// Elements a tensor's storage spans from its offset: up to its last pixel's last channel.
    pub fn span(&self, graph: &Graph, t: TensorId) -> usize {
        let s = graph.shape(t);
        if s.is_empty() {
            return 0;
        }
        (s.pixels() - 1) * self.placements[t].pixel_stride + s.c
    }
}
