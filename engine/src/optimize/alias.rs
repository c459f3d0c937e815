//! In-place views: each input of a concat is written straight into its channel window of the
//! concat's buffer, and a channel slice (route groups) reads its window of the source. Both
//! nodes then do nothing at run time.

use crate::graph::{Graph, Op, Storage};

pub fn in_place_views(graph: &mut Graph) {
    let mut banned = vec![false; graph.nodes.len()];
    // Each round bans one more node, so this ends; all banned means no views at all.
    for _ in 0..=graph.nodes.len() {
        let mut g = graph.clone();
        assign(&mut g, &banned);
        match conflict(&g) {
            None => {
                *graph = g;
                return;
            }
            Some(node) if node < banned.len() && !banned[node] => banned[node] = true,
            Some(_) => break,
        }
    }
}

/// Makes views for every concat and slice not banned, in node order.
fn assign(graph: &mut Graph, banned: &[bool]) {
    for t in graph.tensors.iter_mut() {
        t.storage = Storage::Own;
    }
    let producer = graph.producer();
    for (i, node) in graph.nodes.iter().enumerate() {
        if banned[i] || !matches!(node.op, Op::Concat) {
            continue;
        }
        let base = node.output;
        let has_views = graph
            .tensors
            .iter()
            .any(|t| matches!(t.storage, Storage::View { base: b, .. } if b == base));
        let eligible = !has_views
            && node.inputs.iter().enumerate().all(|(k, &t)| {
                t != graph.input
                    && !graph.is_output(t)
                    && producer[t].is_some()
                    && graph.tensors[t].storage == Storage::Own
                    && !node.inputs[..k].contains(&t)
                    && !graph
                        .tensors
                        .iter()
                        .any(|v| matches!(v.storage, Storage::View { base: b, .. } if b == t))
            });
        if !eligible {
            continue;
        }
        let mut offset = 0;
        for &t in &node.inputs {
            graph.tensors[t].storage = Storage::View {
                base,
                channel_offset: offset,
            };
            offset += graph.tensors[t].shape.c;
        }
    }
    for (i, node) in graph.nodes.iter().enumerate() {
        let Op::ChannelSlice { offset, .. } = node.op else {
            continue;
        };
        let y = node.output;
        if banned[i] || graph.is_output(y) || graph.tensors[y].storage != Storage::Own {
            continue;
        }
        if graph
            .tensors
            .iter()
            .any(|v| matches!(v.storage, Storage::View { base: b, .. } if b == y))
        {
            continue;
        }
        let (base, at) = graph.storage_of(node.inputs[0]);
        graph.tensors[y].storage = Storage::View {
            base,
            channel_offset: at + offset,
        };
    }
}

/// A node that writes into a buffer it also reads through another view (which the graph
/// would not validate with): the concat (or slice) that made the buffer shared must fall back
/// to a copy.
fn conflict(graph: &Graph) -> Option<usize> {
    let producer = graph.producer();
    for node in &graph.nodes {
        let (base, _) = graph.storage_of(node.output);
        if let Some(r) = graph.reads_own_buffer(node) {
            // Undo the view that made `r` share the buffer: a slice's, or the concat's.
            let culprit = match producer[r].map(|p| &graph.nodes[p].op) {
                Some(Op::ChannelSlice { .. }) => producer[r],
                _ => producer[base],
            };
            return Some(culprit.unwrap_or(usize::MAX));
        }
    }
    None
}
