//! The memory planner never lets two tensors that are live at the same time overlap.

mod common;
use common::*;
use edge_engine::graph::{Activation, Graph, Node, Op, Shape, Storage, TensorInfo};
use edge_engine::memory::{self, MemoryPlan};
use edge_engine::model::{ModelMeta, Preprocess};
use edge_engine::optimize::{self, Pass};
use proptest::prelude::*;

/// Every pair of owning tensors with intersecting live intervals occupies disjoint ranges,
/// and every tensor (views included) lies inside the arena.
fn assert_no_overlap(g: &Graph, plan: &MemoryPlan) {
    for t in 0..g.tensors.len() {
        let p = plan.placements[t];
        assert!(
            p.offset + plan.span(g, t) <= plan.arena_len,
            "tensor {t} outside the arena"
        );
    }
    let owners: Vec<usize> = (0..g.tensors.len())
        .filter(|&t| plan.live[t].is_some())
        .collect();
    for (i, &a) in owners.iter().enumerate() {
        for &b in &owners[i + 1..] {
            let (la, lb) = (plan.live[a].unwrap(), plan.live[b].unwrap());
            if la.0 > lb.1 || lb.0 > la.1 {
                continue;
            }
            let (pa, pb) = (plan.placements[a].offset, plan.placements[b].offset);
            let (ea, eb) = (pa + g.shape(a).len(), pb + g.shape(b).len());
            assert!(
                ea <= pb || eb <= pa,
                "tensors {a} {la:?} and {b} {lb:?} overlap: {pa}..{ea} vs {pb}..{eb}"
            );
        }
    }
}

#[test]
fn yolov3_plan_reuses_memory_without_overlap() {
    let mut g = graph("models/yolov3.cfg", Some((128, 128)), 1);
    optimize::optimize(&mut g);
    let plan = memory::plan(&g);
    assert_no_overlap(&g, &plan);
    assert!(
        plan.arena_len * 3 < plan.naive_len,
        "arena {} vs naive {}",
        plan.arena_len,
        plan.naive_len
    );
}

/// A random chain-with-skips graph of adds, activations, concats and slices on one
/// spatial size; some concats end up in place.
fn random_graph(ops: Vec<(u8, usize, usize)>) -> Graph {
    let mut tensors = vec![TensorInfo {
        name: "in".into(),
        shape: Shape::new(4, 4, 8),
        storage: Storage::Own,
    }];
    let mut nodes = Vec::new();
    for (kind, a, b) in ops {
        let n = tensors.len();
        let (x, y) = (a % n, b % n);
        let (op, inputs) = match kind % 4 {
            0 => (Op::Activation(Activation::Relu), vec![x]),
            1 if tensors[x].shape == tensors[y].shape => (Op::Add(Activation::Linear), vec![x, y]),
            2 if x != y => (Op::Concat, vec![x, y]),
            3 if tensors[x].shape.c >= 2 => (
                Op::ChannelSlice {
                    offset: 1,
                    channels: tensors[x].shape.c - 1,
                },
                vec![x],
            ),
            _ => (Op::Upsample { scale: 1 }, vec![x]),
        };
        let shapes: Vec<Shape> = inputs.iter().map(|&t| tensors[t].shape).collect();
        let shape = op.output_shape(&shapes).unwrap();
        if shape.c > 256 {
            continue;
        }
        tensors.push(TensorInfo {
            name: format!("t{n}"),
            shape,
            storage: Storage::Own,
        });
        nodes.push(Node {
            name: format!("n{n}"),
            op,
            inputs,
            output: n,
        });
    }
    let last = tensors.len() - 1;
    Graph {
        tensors,
        nodes,
        input: 0,
        outputs: vec![last],
        meta: ModelMeta {
            name: "p".into(),
            input: Shape::new(4, 4, 8),
            class_names: vec![],
            heads: vec![],
            preprocess: Preprocess::default(),
        },
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    #[test]
    fn live_tensors_never_overlap(ops in prop::collection::vec((0u8..4, 0usize..64, 0usize..64), 1..40), views in any::<bool>()) {
        let mut g = random_graph(ops);
        prop_assume!(!g.nodes.is_empty());
        if views {
            Pass::InPlaceViews.run(&mut g);
        }
        g.validate().unwrap();
        let plan = memory::plan(&g);
        assert_no_overlap(&g, &plan);
    }
}
