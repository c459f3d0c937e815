//! The engine against the independent PyTorch reference (tools/reference/darknet_ref.py):
//! goldens made from the same cfg, the same seeded weights (written by `edge-infer weights`)
//! and a seeded input. See tools/reference/README.md to regenerate them.

mod common;
use common::*;
use edge_engine::optimize::Pass;

fn check(fixture: &str, cfg: &str, size: (usize, usize), seed: u64, heads: usize) {
    let dir = repo(&format!("engine/tests/fixtures/{fixture}"));
    let (_, input) = load_nchw(&dir.join("input.npy"));
    for passes in [&Pass::ALL[..], &[]] {
        let engine = engine(graph(cfg, Some(size), seed), passes);
        let outputs = run(&engine, &input);
        assert_eq!(outputs.len(), heads);
        for (i, got) in outputs.iter().enumerate() {
            let (shape, want) = load_nchw(&dir.join(format!("head{i}.npy")));
            let s = engine.graph().shape(engine.graph().outputs[i]);
            assert_eq!(shape, vec![s.h, s.w, s.c], "head {i} shape");
            let err = rel_err(got, &want);
            assert!(
                err <= 1e-4,
                "{fixture} head {i} (passes {passes:?}): relative error {err:e}"
            );
        }
    }
}

#[test]
fn yolov3_tiny_matches_pytorch() {
    check(
        "yolov3-tiny-128",
        "models/yolov3-tiny.cfg",
        (128, 128),
        7,
        2,
    );
}

#[test]
fn every_layer_type_and_activation_matches_pytorch() {
    check(
        "allops-64",
        "engine/tests/fixtures/allops.cfg",
        (64, 64),
        5,
        2,
    );
}
