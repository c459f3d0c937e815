//! Graph passes. Each keeps the graph's outputs numerically the same (tests check that) and
//! leaves a graph that validates.

mod alias;
mod fuse;

use crate::graph::{Graph, Op, Storage, TensorId};

pub use alias::in_place_views;
pub use fuse::{fold_batchnorm, fuse_activation, fuse_residual};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pass {
    DeadNodes,
    FoldBatchNorm,
    FuseActivation,
    FuseResidual,
    InPlaceViews,
}

impl Pass {
    /// The builder's pipeline, in order. Activation fusion runs again after residual fusion
    /// so an activation after the add lands in the conv's epilogue too.
    pub const ALL: [Pass; 6] = [
        Pass::DeadNodes,
        Pass::FoldBatchNorm,
        Pass::FuseActivation,
        Pass::FuseResidual,
        Pass::FuseActivation,
        Pass::InPlaceViews,
    ];

    pub fn run(self, graph: &mut Graph) {
        match self {
            Pass::DeadNodes => drop_dead_nodes(graph),
            Pass::FoldBatchNorm => fold_batchnorm(graph),
            Pass::FuseActivation => fuse_activation(graph),
            Pass::FuseResidual => fuse_residual(graph),
            Pass::InPlaceViews => in_place_views(graph),
        }
    }
}

pub fn optimize(graph: &mut Graph) {
    for pass in Pass::ALL {
        pass.run(graph);
    }
}

/// Removes nodes whose results no output needs.
pub fn drop_dead_nodes(graph: &mut Graph) {
    let producer = graph.producer();
    let mut needed = vec![false; graph.tensors.len()];
    let mut stack: Vec<TensorId> = graph.outputs.clone();
    while let Some(t) = stack.pop() {
        if std::mem::replace(&mut needed[t], true) {
            continue;
        }
        if let Storage::View { base, .. } = graph.tensors[t].storage {
            stack.push(base);
        }
        if let Some(p) = producer[t] {
            stack.extend(graph.nodes[p].reads());
        }
    }
    graph.nodes.retain(|n| needed[n.output]);
    compact(graph);
}

/// Single consumer of `t`, if `t` is not a graph output and exactly one node reads it.
fn sole_consumer(graph: &Graph, consumers: &[Vec<usize>], t: TensorId) -> Option<usize> {
    match consumers[t].as_slice() {
        [c] if !graph.is_output(t) => Some(*c),
        _ => None,
    }
}

/// Drops tensors no node makes or reads (left behind by fusion) and renumbers the rest.
fn compact(graph: &mut Graph) {
    let n = graph.tensors.len();
    let mut keep = vec![false; n];
    keep[graph.input] = true;
    for node in &graph.nodes {
        keep[node.output] = true;
        for t in node.reads() {
            keep[t] = true;
        }
    }
    for &t in &graph.outputs {
        keep[t] = true;
    }
    for t in 0..n {
        if let Storage::View { base, .. } = graph.tensors[t].storage {
            if keep[t] {
                keep[base] = true;
            }
        }
    }
    let mut map = vec![usize::MAX; n];
    let mut next = 0;
    for t in 0..n {
        if keep[t] {
            map[t] = next;
            next += 1;
        }
    }
    let mut i = 0;
    graph.tensors.retain(|_| {
        i += 1;
        keep[i - 1]
    });
    for info in &mut graph.tensors {
        if let Storage::View { base, .. } = &mut info.storage {
            *base = map[*base];
        }
    }
    for node in &mut graph.nodes {
        node.output = map[node.output];
        for t in &mut node.inputs {
            *t = map[*t];
        }
        if let Op::Conv(c) = &mut node.op {
            c.residual = c.residual.map(|r| map[r]);
        }
    }
    graph.input = map[graph.input];
    for t in &mut graph.outputs {
        *t = map[*t];
    }
    for h in &mut graph.meta.heads {
        h.tensor = map[h.tensor];
    }
}
