//! The CUDA backend against the CPU reference on the same weights and inputs. Skipped, with a
//! line saying so, where there is no GPU; scripts/gpu-check.sh runs them on a GPU host.

mod common;
use common::*;
use edge_engine::plan::{format, PlanError, Precision};
use edge_engine::{Engine, Error};

fn compare(name: &str, graph: edge_engine::graph::Graph, precision: Precision, tol: f64) {
    let cpu = engine(graph.clone(), &edge_engine::optimize::Pass::ALL);
    let gpu = cuda_engine(graph, precision);
    for seed in [1, 2] {
        let input = random_input(&cpu, seed);
        let want = run(&cpu, &input);
        let got = run(&gpu, &input);
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            let err = rel_err(g, w);
            eprintln!(
                "{name} {} head {i}: relative error {err:.2e}",
                precision.name()
            );
            assert!(
                err <= tol,
                "{name} {} head {i}: {err:e} > {tol:e}",
                precision.name()
            );
        }
    }
}

#[test]
fn fp32_matches_the_cpu_on_every_layer_type() {
    if !gpu_or_skip("fp32_matches_the_cpu_on_every_layer_type") {
        return;
    }
    for size in [(64, 64), (96, 160)] {
        let g = graph("engine/tests/fixtures/allops.cfg", Some(size), 5);
        compare("allops", g, Precision::Fp32, 1e-4);
    }
}

#[test]
fn fp16_matches_the_cpu_on_every_layer_type() {
    if !gpu_or_skip("fp16_matches_the_cpu_on_every_layer_type") {
        return;
    }
    let g = graph("engine/tests/fixtures/allops.cfg", Some((64, 64)), 5);
    compare("allops", g, Precision::Fp16, 3e-2);
}

#[test]
fn yolov3_tiny_and_the_demo_model_match_the_cpu() {
    if !gpu_or_skip("yolov3_tiny_and_the_demo_model_match_the_cpu") {
        return;
    }
    let tiny = || graph("models/yolov3-tiny.cfg", Some((416, 416)), 3);
    compare("yolov3-tiny-416", tiny(), Precision::Fp32, 1e-4);
    compare("yolov3-tiny-416", tiny(), Precision::Fp16, 3e-2);
    compare("demo", demo_graph(), Precision::Fp32, 1e-4);
    compare("demo", demo_graph(), Precision::Fp16, 1e-2);
}

#[test]
fn yolov3_416_matches_the_cpu() {
    if !gpu_or_skip("yolov3_416_matches_the_cpu") {
        return;
    }
    let g = || graph("models/yolov3.cfg", Some((416, 416)), 3);
    compare("yolov3-416", g(), Precision::Fp32, 1e-4);
    compare("yolov3-416", g(), Precision::Fp16, 3e-2);
}

/// Each replay of the recorded graph reads the input anew.
#[test]
fn graph_replays_follow_the_input() {
    if !gpu_or_skip("graph_replays_follow_the_input") {
        return;
    }
    let engine = cuda_engine(
        graph("models/yolov3-tiny.cfg", Some((128, 128)), 3),
        Precision::Fp16,
    );
    let (a, b) = (random_input(&engine, 1), random_input(&engine, 2));
    let first = run(&engine, &a);
    let mut ctx = engine.context(0).unwrap();
    let mut heads = |input: &[f32]| {
        ctx.input_mut().copy_from_slice(input);
        ctx.infer().unwrap();
        ctx.fetch_heads().unwrap();
        ctx.head(0).0.to_vec()
    };
    let (ha, hb, ha2) = (heads(&a), heads(&b), heads(&a));
    assert_eq!(ha, first[0]);
    assert_eq!(ha, ha2);
    assert_ne!(ha, hb);
}

#[test]
fn a_plan_loads_only_on_its_compute_capability() {
    if !gpu_or_skip("a_plan_loads_only_on_its_compute_capability") {
        return;
    }
    let engine = cuda_engine(
        graph("models/yolov3-tiny.cfg", Some((128, 128)), 3),
        Precision::Fp16,
    );
    let bytes = format::to_bytes(engine.plan());
    let reloaded = Engine::from_bytes(&bytes).expect("round trip loads");
    let input = random_input(&engine, 4);
    assert_eq!(run(&engine, &input), run(&reloaded, &input));
    assert!(reloaded.warnings().is_empty());

    let mut other = engine.plan().clone();
    other.fingerprint.arch = "sm_53".into();
    match Engine::from_plan(other) {
        Err(Error::Plan(PlanError::WrongDevice { built_for, this })) => {
            assert!(built_for.contains("sm_53"), "{built_for}");
            assert!(this.contains(&engine.plan().fingerprint.arch), "{this}");
        }
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("a plan for sm_53 loaded"),
    }

    let mut renamed = engine.plan().clone();
    for (k, v) in &mut renamed.fingerprint.device {
        if k == "name" {
            *v = "Some Other GPU".into();
        }
    }
    let e = Engine::from_plan(renamed).expect("same compute capability loads");
    assert!(
        e.warnings()[0].contains("tuned on Some Other GPU"),
        "{:?}",
        e.warnings()
    );
}

#[test]
fn inspectable_tactics_use_tensor_cores_for_fp16() {
    if !gpu_or_skip("inspectable_tactics_use_tensor_cores_for_fp16") {
        return;
    }
    let engine = cuda_engine(
        graph("models/yolov3-tiny.cfg", Some((416, 416)), 3),
        Precision::Fp16,
    );
    let plan = engine.plan();
    let convs = plan
        .graph
        .nodes
        .iter()
        .filter(|n| n.op.kind() == "conv")
        .count();
    assert_eq!(plan.tactics.len(), convs, "one tactic per conv");
    let hmma = plan
        .tactics
        .iter()
        .filter(|t| t.name.starts_with("hmma"))
        .count();
    // Only the 3-channel first conv cannot take the tensor-core kernel.
    assert!(hmma >= convs - 1, "{:?}", plan.tactics);
}
