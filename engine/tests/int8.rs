//! INT8 on the CPU backend: the quantization arithmetic against a hand computation, the
//! choice of what runs INT8, plans that carry it, and INT8 networks against FP32 ones.

mod common;

use common::{graph, rel_err};
use edge_engine::builder::Int8Settings;
use edge_engine::graph::{Activation, Conv, Graph, Node, Op, Shape, Storage, TensorInfo};
use edge_engine::model::{ModelMeta, Preprocess};
use edge_engine::plan::{format, Precision};
use edge_engine::quant::{self, Quantization};
use edge_engine::{Builder, Engine, Error};
use std::collections::HashMap;

fn tensor(name: &str, shape: Shape) -> TensorInfo {
    TensorInfo {
        name: name.into(),
        shape,
        storage: Storage::Own,
    }
}

fn conv(filters: usize, weights: Vec<f32>, bias: Vec<f32>) -> Op {
    Op::Conv(Conv {
        filters,
        kernel: 1,
        stride: 1,
        pad: 0,
        groups: 1,
        weights,
        bias,
        act: Activation::Linear,
        residual: None,
        post_act: Activation::Linear,
    })
}

/// input (2x3x1) -> "a": 1x1 conv, weight 1 (the float conv that reads the input)
/// -> "b": 1x1 conv with two filters (INT8 when "a" has a scale) -> output.
fn two_convs() -> Graph {
    let meta = ModelMeta {
        name: "two-convs".into(),
        input: Shape::new(2, 3, 1),
        class_names: Vec::new(),
        heads: Vec::new(),
        preprocess: Preprocess::default(),
    };
    Graph {
        tensors: vec![
            tensor("input", Shape::new(2, 3, 1)),
            tensor("a", Shape::new(2, 3, 1)),
            tensor("b", Shape::new(2, 3, 2)),
        ],
        nodes: vec![
            Node {
                name: "0:conv".into(),
                op: conv(1, vec![1.0], vec![0.0]),
                inputs: vec![0],
                output: 1,
            },
            Node {
                name: "1:conv".into(),
                op: conv(2, vec![0.5, -1.27], vec![0.1, 0.1]),
                inputs: vec![1],
                output: 2,
            },
        ],
        input: 0,
        outputs: vec![2],
        meta,
    }
}

fn settings(scales: &[(&str, f32)], exclude: Option<Vec<String>>) -> Int8Settings {
    Int8Settings {
        scales: scales.iter().map(|(n, s)| (n.to_string(), *s)).collect(),
        exclude,
    }
}

fn int8_builder(s: Int8Settings) -> Builder {
    Builder {
        precision: Precision::Int8,
        int8: Some(s),
        ..Builder::default()
    }
}

fn outputs(engine: &Engine, input: &[f32]) -> Vec<f32> {
    let mut ctx = engine.context(1).unwrap();
    ctx.input_mut().copy_from_slice(input);
    ctx.infer().unwrap();
    let mut out = Vec::new();
    ctx.read_tensor(engine.graph().outputs[0], &mut out)
        .unwrap();
    out
}

#[test]
fn int8_conv_matches_a_hand_computation() {
    // Tensor "a" gets scale 0.5: the input 1, -2, 3.2, 100, 0.25, 0.75 becomes the int8 values
    // 2, -4, 6 (3.2 / 0.5 = 6.4 rounds down), 127 (200 clamps), 0 (0.5 rounds half to even)
    // and 2 (1.5 rounds half to even), i.e. 1, -2, 3, 63.5, 0, 1.
    // Weights per filter: 0.5 is int8 127 at scale 0.5/127, -1.27 is -127 at scale 0.01, so
    // "b" = those values times 0.5 and times -1.27, plus the bias 0.1.
    let plan = int8_builder(settings(&[("a", 0.5)], Some(Vec::new())))
        .build(two_convs(), &mut |_| {})
        .unwrap();
    let q = plan
        .quant
        .as_ref()
        .expect("an int8 plan has its quantization");
    assert_eq!(
        q.int8,
        vec![false, true],
        "only the second conv can run int8"
    );
    let engine = Engine::from_plan(plan).unwrap();
    let got = outputs(&engine, &[1.0, -2.0, 3.2, 100.0, 0.25, 0.75]);
    let dequantized = [1.0, -2.0, 3.0, 63.5, 0.0, 1.0];
    for (p, x) in dequantized.iter().enumerate() {
        let want = [x * 0.5 + 0.1, x * -1.27 + 0.1];
        for f in 0..2 {
            let g = got[p * 2 + f];
            assert!(
                (g - want[f]).abs() <= 1e-5 * want[f].abs().max(1.0),
                "pixel {p} filter {f}: {g}, by hand {}",
                want[f]
            );
        }
    }
}

#[test]
fn output_convs_stay_float_unless_told_otherwise() {
    let g = two_convs();
    let default = int8_builder(settings(&[("a", 0.5)], None))
        .build(g.clone(), &mut |_| {})
        .unwrap();
    assert_eq!(default.quant.unwrap().int8, vec![false, false]);
    // Without a scale for "a" nothing can be int8, whatever the exclusions say.
    let unscaled = int8_builder(settings(&[], Some(Vec::new())))
        .build(g.clone(), &mut |_| {})
        .unwrap();
    let q = unscaled.quant.unwrap();
    assert_eq!(q.int8, vec![false, false]);
    assert!(q.scales.iter().all(Option::is_none));
    // Naming the conv by its index keeps it float.
    let by_index = int8_builder(settings(&[("a", 0.5)], Some(vec!["1".into()])))
        .build(g.clone(), &mut |_| {})
        .unwrap();
    assert_eq!(by_index.quant.unwrap().int8, vec![false, false]);
}

#[test]
fn int8_builds_refuse_missing_settings_and_unknown_layers() {
    let no_scales = Builder {
        precision: Precision::Int8,
        ..Builder::default()
    }
    .build(two_convs(), &mut |_| {});
    assert!(
        matches!(&no_scales, Err(Error::Input(m)) if m.contains("calibration")),
        "{:?}",
        no_scales.err()
    );
    let unknown = int8_builder(settings(&[("a", 0.5)], Some(vec!["7".into()])))
        .build(two_convs(), &mut |_| {});
    match unknown {
        Err(Error::Input(m)) => assert!(
            m.contains("--int8-exclude 7") && m.contains("1:conv"),
            "{m}"
        ),
        other => panic!("expected an input error, got {:?}", other.err()),
    }
}

/// `g` with `tensors` made outputs, so the memory planner keeps them to the end of the frame
/// and they can be read back after `infer` (edge_calib::collect::measurable does this too).
fn keeping(g: &Graph, tensors: impl IntoIterator<Item = usize>) -> Graph {
    let mut g = g.clone();
    for t in tensors {
        if !g.outputs.contains(&t) {
            g.outputs.push(t);
        }
    }
    g
}

/// Scales for every measured tensor of `g` from one FP32 run: max |x| / 127.
fn minmax_scales(g: &Graph, input: &[f32]) -> HashMap<String, f32> {
    let kept = keeping(g, Quantization::calibrated_tensors(g));
    let fp32 = Engine::from_plan(
        Builder::default()
            .build_optimized(kept, &mut |_| {})
            .unwrap(),
    )
    .unwrap();
    let mut ctx = fp32.context(2).unwrap();
    ctx.input_mut().copy_from_slice(input);
    ctx.infer().unwrap();
    let mut buf = Vec::new();
    Quantization::calibrated_tensors(g)
        .into_iter()
        .map(|t| {
            ctx.read_tensor(t, &mut buf).unwrap();
            let amax = buf.iter().fold(0f32, |m, v| m.max(v.abs()));
            (g.tensors[t].name.clone(), amax.max(1e-6) / quant::QMAX)
        })
        .collect()
}

#[test]
fn int8_network_follows_fp32_and_stores_only_int8_values() {
    // yolov3-tiny at 128x128 has every kind of layer a detector uses: convs with leaky and
    // linear activations, maxpool, upsample, route concat, two heads.
    let g = Builder::default()
        .optimize(graph("models/yolov3-tiny.cfg", Some((128, 128)), 11))
        .unwrap();
    let n = g.shape(g.input).len();
    let mut rng = edge_engine::rng::SplitMix64::new(5);
    let input: Vec<f32> = (0..n).map(|_| rng.unit()).collect();
    let scales = minmax_scales(&g, &input);
    let plan = Builder {
        precision: Precision::Int8,
        int8: Some(Int8Settings {
            scales,
            exclude: None,
        }),
        ..Builder::default()
    }
    .build_optimized(g.clone(), &mut |_| {})
    .unwrap();
    let q = plan.quant.clone().unwrap();
    let convs = g
        .nodes
        .iter()
        .filter(|n| matches!(n.op, Op::Conv(_)))
        .count();
    let int8 = q.int8.iter().filter(|&&b| b).count();
    // All but the input conv and the two output convs.
    assert_eq!(int8, convs - 3, "{:?}", q.int8);
    // The plan keeps its quantization through bytes.
    let back = format::from_bytes(&format::to_bytes(&plan)).unwrap();
    assert_eq!(back.quant.as_ref(), Some(&q));

    // Every int8 buffer kept to the end of the frame, after the quantization was chosen.
    let mut plan = plan;
    plan.graph = keeping(&g, (0..g.tensors.len()).filter(|&t| q.scales[t].is_some()));
    let int8_engine = Engine::from_plan(plan).unwrap();
    let fp32_engine = Engine::from_plan(
        Builder::default()
            .build_optimized(g.clone(), &mut |_| {})
            .unwrap(),
    )
    .unwrap();
    let mut a = int8_engine.context(2).unwrap();
    let mut b = fp32_engine.context(2).unwrap();
    a.input_mut().copy_from_slice(&input);
    b.input_mut().copy_from_slice(&input);
    a.infer().unwrap();
    b.infer().unwrap();
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for (t, s) in q.scales.iter().enumerate() {
        let Some(s) = s else { continue };
        a.read_tensor(t, &mut x).unwrap();
        for v in &x {
            let k = v / s;
            assert!(
                (k - k.round()).abs() < 1e-3 && k.abs() <= 127.0 + 1e-3,
                "tensor {}: {v} is not an int8 multiple of {s}",
                g.tensors[t].name
            );
        }
    }
    for &o in &g.outputs {
        a.read_tensor(o, &mut x).unwrap();
        b.read_tensor(o, &mut y).unwrap();
        let e = rel_err(&x, &y);
        // Random weights through 10 int8 layers: a few percent, far from noise.
        assert!(
            e < 0.1,
            "head {}: int8 vs fp32 relative error {e}",
            g.tensors[o].name
        );
        assert!(
            e > 0.0,
            "head {} did not change at all: not quantized",
            g.tensors[o].name
        );
    }
}

#[test]
fn a_corrupt_quantization_section_is_refused_with_its_offset() {
    let plan = int8_builder(settings(&[("a", 0.5)], Some(Vec::new())))
        .build(two_convs(), &mut |_| {})
        .unwrap();
    let mut bad = plan.clone();
    // An int8 conv whose input is float storage.
    bad.quant.as_mut().unwrap().scales[1] = None;
    let mut bytes = format::to_bytes(&bad);
    let err = format::from_bytes(&bytes).unwrap_err().to_string();
    assert!(err.contains("byte offset") && err.contains("int8"), "{err}");
    // And a plan that says int8 without the section.
    let mut fp = plan;
    fp.quant = None;
    bytes = format::to_bytes(&fp);
    let err = format::from_bytes(&bytes).unwrap_err().to_string();
    assert!(err.contains("without quantization"), "{err}");
}
