//! Each optimizer pass keeps the outputs of the unoptimized graph (to float rounding), and
//! does what it says it does.

mod common;
use common::*;
use edge_engine::graph::{Graph, Op, Storage};
use edge_engine::optimize::Pass;

const CASES: [(&str, Option<(usize, usize)>); 2] = [
    ("engine/tests/fixtures/allops.cfg", None),
    ("models/yolov3-tiny.cfg", Some((96, 96))),
];

fn equivalent(passes: &[Pass], check: impl Fn(&Graph, &Graph)) {
    for (cfg, size) in CASES {
        let base = engine(graph(cfg, size, 3), &[]);
        let input = random_input(&base, 4);
        let want = run(&base, &input);
        let opt = engine(graph(cfg, size, 3), passes);
        opt.graph().validate().expect("optimized graph validates");
        check(base.graph(), opt.graph());
        for (i, (g, w)) in run(&opt, &input).iter().zip(&want).enumerate() {
            let err = rel_err(g, w);
            assert!(err < 1e-5, "{cfg} {passes:?}: head {i} differs by {err:e}");
        }
    }
}

fn count(g: &Graph, kind: &str) -> usize {
    g.nodes.iter().filter(|n| n.op.kind() == kind).count()
}

#[test]
fn fold_batchnorm_removes_every_batchnorm() {
    equivalent(&[Pass::FoldBatchNorm], |before, after| {
        assert!(count(before, "batchnorm") > 0);
        assert_eq!(count(after, "batchnorm"), 0);
    });
}

#[test]
fn fuse_activation_moves_activations_into_convs() {
    equivalent(
        &[Pass::FoldBatchNorm, Pass::FuseActivation],
        |before, after| {
            assert!(count(before, "activation") > count(after, "activation"));
            assert!(after.nodes.iter().any(
                |n| matches!(&n.op, Op::Conv(c) if c.act != edge_engine::graph::Activation::Linear)
            ));
        },
    );
}

#[test]
fn fuse_residual_puts_the_add_in_the_conv_epilogue() {
    let passes = [
        Pass::FoldBatchNorm,
        Pass::FuseActivation,
        Pass::FuseResidual,
        Pass::FuseActivation,
    ];
    equivalent(&passes, |before, after| {
        if count(before, "add") > 0 {
            assert_eq!(count(after, "add"), 0);
            assert!(after
                .nodes
                .iter()
                .any(|n| matches!(&n.op, Op::Conv(c) if c.residual.is_some())));
        }
    });
}

#[test]
fn in_place_views_write_concat_inputs_into_the_concat() {
    equivalent(&Pass::ALL, |_, after| {
        let in_place = after.nodes.iter().filter(|n| {
            matches!(n.op, Op::Concat) && n.inputs.iter().all(|&t| matches!(after.tensors[t].storage, Storage::View { base, .. } if base == n.output))
        });
        assert!(in_place.count() > 0, "no concat was made in place");
    });
}

#[test]
fn in_place_views_alone_are_equivalent() {
    equivalent(&[Pass::InPlaceViews], |_, _| {});
}

#[test]
fn dead_nodes_are_dropped() {
    // A route back to an early layer leaves the layers after it unused when nothing reads them.
    let cfg = "[net]\nwidth=32\nheight=32\nchannels=3\n\
        [convolutional]\nfilters=8\nsize=3\npad=1\nactivation=leaky\n\
        [convolutional]\nfilters=8\nsize=3\npad=1\nactivation=leaky\n\
        [route]\nlayers=0\n\
        [convolutional]\nfilters=12\nsize=1\nactivation=linear\n\
        [yolo]\nmask=0\nanchors=4,4\nclasses=7\nnum=1\n";
    let model = edge_engine::import::darknet::parse_cfg("dead.cfg", "dead", cfg, None).unwrap();
    let params = edge_engine::import::darknet::weights::random(&model, 1);
    let mut g = model.with_params(&params).unwrap();
    let before = g.nodes.len();
    edge_engine::optimize::drop_dead_nodes(&mut g);
    g.validate().unwrap();
    assert_eq!(
        g.nodes.len(),
        before - 2,
        "layer 1's conv and activation are dead"
    );
}
