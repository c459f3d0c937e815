//! The CUDA backend against the CPU reference on the same weights and inputs. Skipped, with a
//! line saying so, where there is no GPU; scripts/gpu-check.sh runs them on a GPU host.

mod common;
use common::*;
use edge_engine::backend::cuda::Gpu;
use edge_engine::graph::{Graph, Node, Op, Shape, Storage, TensorInfo};
use edge_engine::import::darknet::{self, weights};
use edge_engine::plan::{format, PlanError, Precision};
use edge_engine::quant::Quantization;
use edge_engine::rng::SplitMix64;
use edge_engine::{Builder, Device, Engine, Error};

fn compare(name: &str, graph: edge_engine::graph::Graph, precision: Precision, tol: f64) {
    let cpu = engine(graph.clone(), &edge_engine::optimize::Pass::ALL);
    let gpu = cuda_engine(graph, precision);
    eprintln!(
        "{name} {} tactics: {:?}",
        precision.name(),
        gpu.plan().tactics
    );
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
        .filter(|t| {
            ["hmma", "wgmma-f16", "patch-f16"]
                .iter()
                .any(|p| t.name.starts_with(p))
        })
        .count();
    // Only the first conv (K of 27, or 72 padded) may find the CUDA-core direct kernel faster.
    assert!(hmma >= convs - 1, "{:?}", plan.tactics);
}

/// Every layer kind an INT8 detector uses: the float conv reading the input, 3x3 (stride 1
/// and 2) and 1x1 INT8 convs, a residual (fused), maxpool, a route to an earlier layer,
/// upsample into an in-place concat, leaky and linear activations, two float heads. Conv 14
/// reads the 56-channel concat (not a multiple of 16 channels: only dp4a takes it).
const INT8_NET: &str = "
[net]
width=64
height=64
channels=3
# 0: float, reads the input
[convolutional]
filters=16
size=3
stride=1
pad=1
activation=leaky
# 1
[convolutional]
batch_normalize=1
filters=32
size=3
stride=2
pad=1
activation=leaky
# 2
[convolutional]
batch_normalize=1
filters=16
size=1
stride=1
pad=1
activation=leaky
# 3: linear, then the residual from 1
[convolutional]
batch_normalize=1
filters=32
size=3
stride=1
pad=1
activation=linear
# 4
[shortcut]
from=-3
activation=linear
# 5
[maxpool]
size=2
stride=2
# 6
[convolutional]
batch_normalize=1
filters=48
size=3
stride=1
pad=1
activation=leaky
# 7: writes the float buffer head A reads
[convolutional]
batch_normalize=1
filters=32
size=3
stride=1
pad=1
activation=leaky
# 8: head A
[convolutional]
filters=16
size=1
stride=1
pad=1
activation=linear
# 9
[yolo]
mask=0,1
anchors=8,8, 16,16, 32,32, 48,48
classes=3
num=4
# 10
[route]
layers=-4
# 11
[convolutional]
batch_normalize=1
filters=24
size=1
stride=1
pad=1
activation=leaky
# 12
[upsample]
stride=2
# 13: 24 + 32 channels
[route]
layers=-1,4
# 14
[convolutional]
batch_normalize=1
filters=48
size=3
stride=1
pad=1
activation=leaky
# 15: writes the float buffer head B reads
[convolutional]
batch_normalize=1
filters=32
size=3
stride=1
pad=1
activation=leaky
# 16: head B
[convolutional]
filters=16
size=1
stride=1
pad=1
activation=linear
# 17
[yolo]
mask=2,3
anchors=8,8, 16,16, 32,32, 48,48
classes=3
num=4
";

/// Gives the float conv reading the input of optimized graph `g` weights and a bias that are
/// multiples of 1/64 in [-1/2, 1/2], and returns an input of multiples of 1/64 in [0, 1]. Every
/// product and partial sum of that conv is then a multiple of 2^-12 far below 2^12, exact in
/// FP32 whatever the order (and its operands exact in FP16), so the CPU and the GPU store the
/// same int8 values for it; from there on INT8 arithmetic is exact on both, and every int8
/// tensor must be equal. (For leaky and linear activations: logistic and mish go through expf,
/// which the GPU and the CPU round differently.)
fn exact_first_conv(g: &mut Graph, seed: u64) -> Vec<f32> {
    let mut rng = SplitMix64::new(seed);
    let mut sixty_fourths =
        |lo: i64, hi: i64| (lo + (rng.unit() * (hi - lo + 1) as f32) as i64).min(hi) as f32 / 64.0;
    let input_id = g.input;
    let first = g
        .nodes
        .iter_mut()
        .find(|n| n.inputs == [input_id])
        .expect("a conv reads the input");
    let Op::Conv(c) = &mut first.op else {
        panic!("the input's reader is a conv")
    };
    c.weights
        .iter_mut()
        .for_each(|w| *w = sixty_fourths(-32, 32));
    c.bias.iter_mut().for_each(|b| *b = sixty_fourths(-32, 32));
    (0..g.shape(g.input).len())
        .map(|_| sixty_fourths(0, 64))
        .collect()
}

/// `INT8_NET` after the optimizer, random weights, its first conv and input exact.
fn exact_int8_net() -> (Graph, Vec<f32>) {
    let model = darknet::parse_cfg("int8-net.cfg", "int8-net", INT8_NET, None).expect("cfg");
    let params = weights::random(&model, 21);
    let g = model.with_params(&params).expect("weights fit");
    let mut g = Builder::default().optimize(g).expect("optimizes");
    let input = exact_first_conv(&mut g, 8);
    (g, input)
}

/// Int8 tensors of `got` equal to `want`, float ones within `tol` (relative).
fn check_tensors(
    label: &str,
    g: &Graph,
    scales: &[Option<f32>],
    got: &[Option<Vec<f32>>],
    want: &[Option<Vec<f32>>],
    tol: f64,
) {
    for (t, (got, want)) in got.iter().zip(want).enumerate() {
        let (Some(got), Some(want)) = (got, want) else {
            continue;
        };
        let name = &g.tensors[t].name;
        if scales[t].is_some() {
            let diff = got.iter().zip(want).filter(|(a, b)| a != b).count();
            let at = got.iter().zip(want).position(|(a, b)| a != b);
            assert!(
                diff == 0,
                "{label}: int8 tensor {name}: {diff} of {} values differ from the CPU, first \
                 at {at:?}: {:?} vs {:?}",
                got.len(),
                at.map(|i| got[i]),
                at.map(|i| want[i])
            );
        } else {
            let err = rel_err(got, want);
            eprintln!("{label} float tensor {name}: rel. err {err:.2e}");
            assert!(
                err <= tol,
                "{label}: float tensor {name}: {err:e} > {tol:e}"
            );
        }
    }
}

/// `g` where every buffer calibration measures stays live (its memory not reused by later
/// layers) to the end of the frame, so `read_tensor` after `infer` sees what the network
/// computed, on either backend. A buffer lives until its last read and a new one may take its
/// memory after that: so each is read last by a 1x1 maxpool writing into a channel of one
/// extra output buffer, the only buffer made after the network (its in-place concat). The
/// maxpools take int8, so what runs INT8 does not change; the extra output is float.
fn keep_alive(g: &Graph) -> Graph {
    let mut k = g.clone();
    let kept = Quantization::calibrated_tensors(g);
    let total: usize = kept.iter().map(|&t| g.shape(t).c).sum();
    let base = k.tensors.len();
    k.tensors.push(TensorInfo {
        name: "keep".into(),
        shape: Shape::new(1, 1, total),
        storage: Storage::Own,
    });
    let mut views = Vec::new();
    for t in kept {
        let s = g.shape(t);
        let view = k.tensors.len();
        k.tensors.push(TensorInfo {
            name: format!("keep:{}", g.tensors[t].name),
            shape: Shape::new(1, 1, s.c),
            storage: Storage::View {
                base,
                channel_offset: views.iter().map(|&v: &usize| k.tensors[v].shape.c).sum(),
            },
        });
        k.nodes.push(Node {
            name: format!("keep:{}", g.tensors[t].name),
            // One window over the whole tensor: size and stride as in Op::output_shape.
            op: Op::MaxPool {
                size: s.h.min(s.w),
                stride: s.h.max(s.w),
                pad: 0,
            },
            inputs: vec![t],
            output: view,
        });
        views.push(view);
    }
    k.nodes.push(Node {
        name: "keep".into(),
        op: Op::Concat,
        inputs: views,
        output: base,
    });
    k.outputs.push(base);
    k.validate().expect("a valid graph");
    k
}

/// The YOLO heads after one `infer` (`common::run` for graphs with more outputs than heads).
fn heads(engine: &Engine, input: &[f32]) -> Vec<Vec<f32>> {
    let mut ctx = engine.context(0).expect("context");
    ctx.input_mut().copy_from_slice(input);
    ctx.infer().expect("infer");
    ctx.fetch_heads().expect("heads");
    (0..engine.meta().heads.len())
        .map(|i| ctx.head(i).0.to_vec())
        .collect()
}

/// The owning tensors of `keep_alive(g)` that `g` has, but the input, after one `infer`
/// (`None` for the others).
fn tensors(engine: &Engine, g: &Graph, input: &[f32]) -> Vec<Option<Vec<f32>>> {
    let mut ctx = engine.context(0).expect("context");
    ctx.input_mut().copy_from_slice(input);
    ctx.infer().expect("infer");
    (0..g.tensors.len())
        .map(|t| {
            (t != g.input && g.tensors[t].storage == Storage::Own).then(|| {
                let mut v = Vec::new();
                ctx.read_tensor(t, &mut v).expect("read_tensor");
                v
            })
        })
        .collect()
}

/// `engine`'s plan with the tactic `pick` names for each conv, given the tactics that can run
/// it on this GPU; the tuned one where `pick` names none.
fn forced(engine: &Engine, pick: impl Fn(usize, &[String]) -> Option<String>) -> Engine {
    let mut plan = engine.plan().clone();
    for t in &mut plan.tactics {
        if let Some(name) = pick(t.node, &engine.conv_tactics(t.node)) {
            t.name = name;
        }
    }
    Engine::from_plan(plan).expect("a forced plan loads")
}

#[test]
fn float_convs_match_the_cpu_on_every_float_kernel() {
    if !gpu_or_skip("float_convs_match_the_cpu_on_every_float_kernel") {
        return;
    }
    let (g, input, want) = allops_reference();
    let cc = Gpu::open(0).expect("gpu").info.cc;
    let mut runs = vec![
        (Precision::Fp32, 1e-4, "direct-f32 1x8"),
        (Precision::Fp32, 1e-4, "simt-f32 32x32"),
        (Precision::Fp16, 3e-2, "direct-f16 1x8"),
        (Precision::Fp16, 3e-2, "simt-f16 128x64"),
    ];
    if cc.0 >= 8 {
        runs.push((Precision::Fp16, 3e-2, "hmma-f16 k32 w2x4 s3 128x128"));
        runs.push((
            Precision::Fp16,
            3e-2,
            "hmma-f16 k64 w2x2 s4 64x64 split-k 2",
        ));
        runs.push((
            Precision::Fp16,
            3e-2,
            "hmma-f16 k32 w2x2 s4 64x64 split-k 8",
        ));
    }
    if cc.0 >= 8 {
        runs.push((Precision::Fp16, 3e-2, "hmma-f16 k32 w4x1 s3 128x32"));
        // The first conv (3x3/2, 16 filters of a 32-filter tile, a 32-pixel row under a
        // 128- and a 64-pixel tile, mish).
        runs.push((Precision::Fp16, 3e-2, "patch-f16 128x32"));
        runs.push((Precision::Fp16, 3e-2, "patch-f16 64x32"));
    }
    if cc == (9, 0) {
        runs.push((Precision::Fp16, 3e-2, "wgmma-f16 k64 g1x1 s4 64x64"));
        runs.push((Precision::Fp16, 3e-2, "wgmma-f16 k64 g1x2 s4 64x128"));
        runs.push((
            Precision::Fp16,
            3e-2,
            "wgmma-f16 k64 g2x1 s3 128x128 split-k 2",
        ));
        runs.push((Precision::Fp16, 3e-2, "wgmma-f16 k128 g1x1k2 s3 64x64"));
        runs.push((Precision::Fp16, 3e-2, "wgmma-f16 k128 g1x1k4 s4 64x64"));
        runs.push((
            Precision::Fp16,
            3e-2,
            "wgmma-f16 k64 g1x1k2 s4 64x64 split-k 2",
        ));
    }
    for (precision, tol, name) in runs {
        forced_matches("allops", &g, &input, &want, (precision, tol, name));
    }
    // The patch kernel on a 3x3/1 first conv (even taps past the odd count's zero, 416-pixel
    // rows: tiles after a row's first, the last one partial; leaky): YOLOv3-tiny's.
    if cc.0 >= 8 {
        let tiny = graph("models/yolov3-tiny.cfg", Some((416, 416)), 3);
        let cpu = engine(tiny.clone(), &edge_engine::optimize::Pass::ALL);
        let input = random_input(&cpu, 4);
        let want = run(&cpu, &input);
        for name in ["patch-f16 128x32", "patch-f16 64x32"] {
            forced_matches(
                "yolov3-tiny-416",
                &tiny,
                &input,
                &want,
                (Precision::Fp16, 3e-2, name),
            );
        }
    }
}

/// allops at 64x64, a seeded input and the CPU's heads for it: what the forced-tactic tests
/// compare against.
fn allops_reference() -> (Graph, Vec<f32>, Vec<Vec<f32>>) {
    let g = graph("engine/tests/fixtures/allops.cfg", Some((64, 64)), 5);
    let cpu = engine(g.clone(), &edge_engine::optimize::Pass::ALL);
    let input = random_input(&cpu, 3);
    let want = run(&cpu, &input);
    (g, input, want)
}

/// Every tactic a plan may name for an allops conv (`conv_tactics`: whatever it can run, not
/// only what the tuner times), alone on that conv with the others on the CUDA-core 64x64 tile,
/// launches and matches the CPU, FP32 and FP16. Forcing a tile on every conv at once hides a
/// launch that works only after another conv raised the kernel's shared-memory limit: the
/// tuner picked `hmma-f16 k64 w2x2 s3 64x64` (exactly 48 KiB, plus split-K's static `last`)
/// alone on allops' head in 8 of 40 FP16 plans on an H200, and their graph capture failed
/// until the launch opted in (`scripts/gpu-repeat.sh`); this sweep covers that launch.
#[test]
fn every_tactic_alone_on_each_conv_matches_the_cpu() {
    if !gpu_or_skip("every_tactic_alone_on_each_conv_matches_the_cpu") {
        return;
    }
    let (g, input, want) = allops_reference();
    for (precision, tol) in [(Precision::Fp32, 1e-4), (Precision::Fp16, 3e-2)] {
        let gpu = cuda_engine(g.clone(), precision);
        let simt = |node: usize| {
            gpu.conv_tactics(node)
                .into_iter()
                .find(|t| t.starts_with("simt-") && t.ends_with(" 64x64"))
                .expect("the CUDA-core tile runs every conv")
        };
        let mut plans = 0;
        for node in gpu.plan().tactics.iter().map(|t| t.node) {
            for name in gpu.conv_tactics(node) {
                let e = forced(&gpu, |n, _| {
                    Some(if n == node { name.clone() } else { simt(n) })
                });
                for (i, (h, w)) in run(&e, &input).iter().zip(&want).enumerate() {
                    let err = rel_err(h, w);
                    assert!(
                        err <= tol,
                        "allops {} node {node} on {name}, head {i}: {err:e} > {tol:e}",
                        precision.name()
                    );
                }
                plans += 1;
            }
        }
        eprintln!(
            "allops {}: {plans} plans, each with one conv on one of its tactics, match",
            precision.name()
        );
    }
}

/// `g` built for the GPU at `precision` with tactic `name` on every conv that can take it (at
/// least one) follows the CPU's heads `want` within `tol`.
fn forced_matches(
    label: &str,
    g: &Graph,
    input: &[f32],
    want: &[Vec<f32>],
    (precision, tol, name): (Precision, f64, &str),
) {
    let gpu = cuda_engine(g.clone(), precision);
    let taken = std::cell::Cell::new(0);
    let e = forced(&gpu, |_, can| {
        let takes = can.iter().any(|c| c == name);
        taken.set(taken.get() + usize::from(takes));
        takes.then(|| name.to_string())
    });
    assert!(taken.get() >= 1, "{name} runs no conv of {label}");
    for (i, (h, w)) in run(&e, input).iter().zip(want).enumerate() {
        let err = rel_err(h, w);
        eprintln!(
            "{label} {name} on {} convs, head {i}: relative error {err:.2e}",
            taken.get()
        );
        assert!(err <= tol, "{label} {name} head {i}: {err:e} > {tol:e}");
    }
}

#[test]
fn int8_tensors_equal_the_cpu_for_every_int8_kernel() {
    if !gpu_or_skip("int8_tensors_equal_the_cpu_for_every_int8_kernel") {
        return;
    }
    let (g, input) = exact_int8_net();
    let scales = int8_scales(&g, &input);
    let cpu = int8_engine(keep_alive(&g), Device::Cpu, scales.clone());
    let gpu = int8_engine(keep_alive(&g), Device::Cuda(0), scales);
    let q = gpu.plan().quant.clone().expect("an int8 plan");
    assert_eq!(cpu.plan().quant.as_ref(), Some(&q), "both choose the same");
    let convs = g.nodes.iter().filter(|n| n.op.kind() == "conv").count();
    // All but the input conv and the two heads.
    assert_eq!(q.int8.iter().filter(|&&b| b).count(), convs - 3);
    eprintln!("int8-net tuned tactics: {:?}", gpu.plan().tactics);
    let want = tensors(&cpu, &g, &input);
    let want_heads = heads(&cpu, &input);

    let cc = Gpu::open(0).expect("gpu").info.cc;
    // Every INT8 conv on one kernel (a tensor-core one where it can take the conv, else dp4a).
    let mut variants = vec!["dp4a-s8 128x64", "dp4a-s8 32x32"];
    if cc >= (7, 5) {
        variants.push("imma-s8-sm75 k64 w2x2 s2 128x64");
        variants.push("imma-s8-sm75 k64 w2x2 s2 64x64 split-k 4");
    }
    if cc.0 >= 8 {
        variants.push("imma-s8 k128 w2x4 s3 128x128");
        variants.push("imma-s8 k64 w2x2 s4 64x64 split-k 2");
        variants.push("imma-s8 k64 w4x1 s3 128x32");
    }
    if cc == (9, 0) {
        variants.push("wgmma-s8 k128 g1x1 s4 64x64");
        variants.push("wgmma-s8 k128 g1x2 s4 64x128 split-k 2");
        variants.push("wgmma-s8 k128 g2x1 s3 128x128");
        variants.push("wgmma-s8 k256 g1x1 s3 64x64");
        variants.push("wgmma-s8 k256 g2x1 s3 128x64 split-k 2");
        variants.push("wgmma-s8 k256 g1x1k2 s3 64x64");
        variants.push("wgmma-s8 k256 g1x1k4 s4 64x64 split-k 2");
        variants.push("wgmma-s8 k128 g1x1k2 s4 64x64");
    }
    let mut engines = vec![("tuned".to_string(), gpu.clone())];
    for label in variants {
        // Where the kernel cannot take an INT8 conv (cin or the input slice not on 16 bytes, K
        // too short to split), dp4a.
        let e = forced(&gpu, |node, can| {
            q.int8[node].then(|| {
                let name = if can.iter().any(|c| c == label) {
                    label
                } else {
                    "dp4a-s8 64x64"
                };
                name.to_string()
            })
        });
        let imma = e
            .plan()
            .tactics
            .iter()
            .filter(|t| t.name.starts_with("imma") || t.name.starts_with("wgmma"))
            .count();
        assert!(
            label.starts_with("dp4a") || imma >= 4,
            "{label}: only {imma} imma convs"
        );
        engines.push((label.to_string(), e));
    }
    // The tuned plan survives its bytes.
    let bytes = format::to_bytes(gpu.plan());
    engines.push((
        "reloaded".into(),
        Engine::from_bytes(&bytes).expect("loads"),
    ));

    let mut first_heads: Option<Vec<Vec<f32>>> = None;
    for (label, engine) in &engines {
        check_tensors(
            label,
            &g,
            &q.scales,
            &tensors(engine, &g, &input),
            &want,
            1e-2,
        );
        let got = heads(engine, &input);
        for (i, (h, w)) in got.iter().zip(&want_heads).enumerate() {
            let err = rel_err(h, w);
            eprintln!("int8-net {label} head {i}: relative error {err:.2e}");
            assert!(err <= 1e-2, "{label} head {i}: {err:e}");
        }
        // The float convs and their int8 inputs are the same in every variant.
        match &first_heads {
            None => first_heads = Some(got),
            Some(f) => assert_eq!(&got, f, "{label}: heads differ from the tuned plan's"),
        }
    }
}

/// INT8 through a real network: YOLOv3-416 (random weights, scales from an FP32 run), GPU
/// INT8 against CPU INT8, twice. With the first conv exact (`exact_first_conv`) every int8
/// tensor must be equal and the heads differ by the FP16 of their float convs alone. With a
/// random input, the GPU's FP16 first conv moves a few int8 values by one step, and those
/// moves spread through 71 INT8 convs: on the CPU, rounding the input and the float convs'
/// weights to FP16 moves the heads by 0.09 to 0.11 relative (INT8 against FP32: 0.14 to 0.25).
#[test]
fn yolov3_416_int8_follows_the_cpu_int8() {
    if !gpu_or_skip("yolov3_416_int8_follows_the_cpu_int8") {
        return;
    }
    let g = Builder::default()
        .optimize(graph("models/yolov3.cfg", Some((416, 416)), 3))
        .expect("optimizes");
    let mut rng = SplitMix64::new(4);
    let random: Vec<f32> = (0..g.shape(g.input).len()).map(|_| rng.unit()).collect();
    let mut exact_g = g.clone();
    let exact = exact_first_conv(&mut exact_g, 4);
    for (label, g, input, exact) in [
        ("yolov3-416 int8 exact", exact_g, exact, true),
        ("yolov3-416 int8 random", g, random, false),
    ] {
        let head_tol = if exact { 1e-2 } else { 0.2 };
        let scales = int8_scales(&g, &input);
        let cpu = int8_engine(keep_alive(&g), Device::Cpu, scales.clone());
        let gpu = int8_engine(keep_alive(&g), Device::Cuda(0), scales);
        let plan = gpu.plan();
        let q = plan.quant.clone().expect("an int8 plan");
        let int8: Vec<&str> = plan
            .tactics
            .iter()
            .filter(|t| q.int8[t.node])
            .map(|t| t.name.as_str())
            .collect();
        assert_eq!(
            int8.len(),
            75 - 4,
            "all convs but the input conv and the 3 heads"
        );
        assert!(
            int8.iter().all(|n| ["imma-s8", "wgmma-s8", "dp4a-s8"]
                .iter()
                .any(|p| n.starts_with(p))),
            "{int8:?}"
        );
        let imma = int8.iter().filter(|n| !n.starts_with("dp4a")).count();
        eprintln!(
            "{label}: {imma} of {} int8 convs on tensor cores",
            int8.len()
        );
        if Gpu::open(0).expect("gpu").info.cc >= (7, 5) {
            assert!(imma >= int8.len() / 2, "{int8:?}");
        }
        let (want, got) = (tensors(&cpu, &g, &input), tensors(&gpu, &g, &input));
        let (mut differ, mut total, mut worst) = (0, 0, 0f32);
        // The plan's graph is `g` plus the keep_alive tensors after it.
        for ((s, a), b) in q.scales.iter().zip(&got).zip(&want) {
            let (Some(s), Some(a), Some(b)) = (s, a, b) else {
                continue;
            };
            total += a.len();
            for (x, y) in a.iter().zip(b) {
                if x != y {
                    differ += 1;
                    worst = worst.max(((x - y) / s).abs());
                }
            }
        }
        eprintln!(
            "{label}: {differ} of {total} int8 values differ from the CPU ({:.3}%), by up to \
             {worst:.0} steps",
            100.0 * differ as f64 / total as f64
        );
        if exact {
            check_tensors(label, &g, &q.scales, &got, &want, 1e-2);
        }
        let (want, got) = (heads(&cpu, &input), heads(&gpu, &input));
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            let err = rel_err(g, w);
            eprintln!("{label} head {i}: relative error {err:.2e}");
            assert!(err <= head_tol, "{label} head {i}: {err:e} > {head_tol:e}");
        }
    }
}
