//! Fusion into the conv epilogue: batch norm into weights and bias, the activation, and a
//! following residual add.

use super::{compact, sole_consumer};
use crate::graph::{Activation, Graph, Op};

/// Folds `conv -> batchnorm` into the conv: `w' = w * k`, `b' = (b - mean) * k + beta`,
/// `k = gamma / sqrt(var + eps)`.
pub fn fold_batchnorm(graph: &mut Graph) {
    fuse_pairs(graph, |conv, next| {
        let (Op::Conv(c), Op::BatchNorm(bn)) = (&mut *conv, next) else {
            return false;
        };
        if c.residual.is_some() || c.act != Activation::Linear {
            return false;
        }
        let per_filter = c.weights.len() / c.filters;
        for f in 0..c.filters {
            let k = bn.scale[f] / (bn.var[f] + bn.eps).sqrt();
            for w in &mut c.weights[f * per_filter..(f + 1) * per_filter] {
                *w *= k;
            }
            c.bias[f] = (c.bias[f] - bn.mean[f]) * k + bn.bias[f];
        }
        true
    })
}

/// Moves an activation that follows a conv into its epilogue (after the residual add when
/// the conv has one).
pub fn fuse_activation(graph: &mut Graph) {
    fuse_pairs(graph, |conv, next| {
        let (Op::Conv(c), Op::Activation(a)) = (&mut *conv, next) else {
            return false;
        };
        let slot = if c.residual.is_some() {
            &mut c.post_act
        } else {
            &mut c.act
        };
        if *slot != Activation::Linear {
            return false;
        }
        *slot = *a;
        true
    })
}

/// `conv -> add(conv, r)` becomes a conv whose epilogue adds `r`, when `r` is already made
/// by the time the conv runs.
pub fn fuse_residual(graph: &mut Graph) {
    let producer = graph.producer();
    let consumers = graph.consumers();
    let mut i = 0;
    while i < graph.nodes.len() {
        let t = graph.nodes[i].output;
        let Some(j) = sole_consumer(graph, &consumers, t) else {
            i += 1;
            continue;
        };
        let other = match (&graph.nodes[i].op, &graph.nodes[j].op) {
            (Op::Conv(c), Op::Add(_)) if c.residual.is_none() => {
                let ins = &graph.nodes[j].inputs;
                let r = if ins[0] == t { ins[1] } else { ins[0] };
                // The conv runs at step i; r must exist by then and not be the conv's own output.
                let ready = r != t && producer[r].is_none_or(|p| p < i);
                ready.then_some(r)
            }
            _ => None,
        };
        if let Some(r) = other {
            let Op::Add(act) = graph.nodes[j].op else {
                unreachable!("matched above")
            };
            let out = graph.nodes[j].output;
            if let Op::Conv(c) = &mut graph.nodes[i].op {
                c.residual = Some(r);
                c.post_act = act;
            }
            graph.nodes[i].output = out;
            graph.nodes.remove(j);
            compact(graph);
            return fuse_residual(graph);
        }
        i += 1;
    }
}

/// For every node whose output only `next` reads, offers the pair to `merge`; when it merges
/// (editing the first op in place), the second node disappears and the first takes its output.
fn fuse_pairs(graph: &mut Graph, mut merge: impl FnMut(&mut Op, &Op) -> bool) {
    let mut changed = false;
    let mut i = 0;
    while i < graph.nodes.len() {
        let consumers = graph.consumers();
        let t = graph.nodes[i].output;
        if let Some(j) = sole_consumer(graph, &consumers, t) {
            let next = graph.nodes[j].op.clone();
            if graph.nodes[j].inputs == [t] && merge(&mut graph.nodes[i].op, &next) {
                graph.nodes[i].output = graph.nodes[j].output;
                graph.nodes.remove(j);
                changed = true;
                continue;
            }
        }
        i += 1;
    }
    if changed {
        compact(graph);
    }
}
