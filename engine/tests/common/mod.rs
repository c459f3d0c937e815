//! Helpers shared by the engine's integration tests.
#![allow(dead_code)]

use edge_engine::graph::Graph;
use edge_engine::import::darknet::{self, weights};
use edge_engine::optimize::Pass;
use edge_engine::plan::Precision;
use edge_engine::{npy, Builder, Device, Engine};
use std::io::Write;
use std::path::{Path, PathBuf};

/// A path in the repository; `$EDGE_INFER_REPO` names it where the test executable was built
/// elsewhere (scripts/gpu-check.sh runs them on a GPU host).
pub fn repo(path: &str) -> PathBuf {
    match std::env::var_os("EDGE_INFER_REPO") {
        Some(root) => PathBuf::from(root).join(path),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path),
    }
}

/// A Darknet cfg from the repo with seeded random weights.
pub fn graph(cfg: &str, size: Option<(usize, usize)>, seed: u64) -> Graph {
    let model = darknet::load_cfg(&repo(cfg), size).expect("cfg imports");
    let params = weights::random(&model, seed);
    model.with_params(&params).expect("weights fit")
}

/// Builds with the given passes (all of them: `Pass::ALL`) and loads the engine.
pub fn engine(graph: Graph, passes: &[Pass]) -> Engine {
    let builder = Builder {
        passes: passes.to_vec(),
        ..Builder::default()
    };
    Engine::from_plan(builder.build(graph, &mut |_| {}).expect("builds")).expect("loads")
}

/// The trained demo model (models/shapes) with its real weights.
pub fn demo_graph() -> Graph {
    let model = darknet::load_cfg(&repo("models/shapes/shapes.cfg"), None).expect("cfg imports");
    let bytes = std::fs::read(repo("models/shapes/shapes.weights")).expect("weights read");
    let params = weights::parse(&model, "shapes.weights", &bytes).expect("weights parse");
    model.with_params(&params).expect("weights fit")
}

/// Whether GPU 0 can be opened; if not, says so on the terminal (past libtest's capture) so
/// a run without a GPU shows what it did not test.
pub fn gpu_or_skip(test: &str) -> bool {
    match edge_engine::backend::cuda::Gpu::open(0) {
        Ok(_) => true,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "skipped: no CUDA device ({e}) [{test}]");
            false
        }
    }
}

/// Builds for GPU 0 at `precision` (every pass) and loads the engine.
pub fn cuda_engine(graph: Graph, precision: Precision) -> Engine {
    let builder = Builder {
        device: Device::Cuda(0),
        precision,
        ..Builder::default()
    };
    Engine::from_plan(builder.build(graph, &mut |_| {}).expect("builds for CUDA")).expect("loads")
}

/// Runs one input (NHWC) and returns every output (the YOLO heads, NHWC).
pub fn run(engine: &Engine, input: &[f32]) -> Vec<Vec<f32>> {
    let mut ctx = engine.context(2).expect("context");
    ctx.input_mut().copy_from_slice(input);
    ctx.infer().expect("infer");
    ctx.fetch_heads().expect("heads");
    assert_eq!(engine.graph().outputs.len(), engine.meta().heads.len());
    (0..engine.meta().heads.len())
        .map(|i| ctx.head(i).0.to_vec())
        .collect()
}

/// A seeded input in [0, 1) for this engine.
pub fn random_input(engine: &Engine, seed: u64) -> Vec<f32> {
    let n = engine.graph().shape(engine.graph().input).len();
    let mut rng = edge_engine::rng::SplitMix64::new(seed);
    (0..n).map(|_| rng.unit()).collect()
}

pub fn rel_err(got: &[f32], want: &[f32]) -> f64 {
    assert_eq!(got.len(), want.len(), "lengths differ");
    let (mut num, mut den) = (0f64, 0f64);
    for (g, w) in got.iter().zip(want) {
        num += (*g as f64 - *w as f64).powi(2);
        den += (*w as f64).powi(2);
    }
    (num / den.max(f64::MIN_POSITIVE)).sqrt()
}

/// An `[1, C, H, W]` fixture as NHWC.
pub fn load_nchw(path: &Path) -> (Vec<usize>, Vec<f32>) {
    let a = npy::read(path).expect("fixture reads");
    let [1, c, h, w] = a.shape[..] else {
        panic!("{}: not [1,C,H,W]: {:?}", path.display(), a.shape)
    };
    let mut out = vec![0.0; a.data.len()];
    for ch in 0..c {
        for p in 0..h * w {
            out[p * c + ch] = a.data[ch * h * w + p];
        }
    }
    (vec![h, w, c], out)
}

/// INT8 scales of an optimized graph from one CPU FP32 run on `input`: max |x| / 127 of every
/// tensor calibration measures, by name (what a min-max calibration cache holds). The measured
/// tensors are made outputs of the FP32 plan, as calibration does, so that no later layer
/// reuses their memory before they are read.
pub fn int8_scales(optimized: &Graph, input: &[f32]) -> std::collections::HashMap<String, f32> {
    let measured = edge_engine::quant::Quantization::calibrated_tensors(optimized);
    let mut g = optimized.clone();
    g.outputs
        .extend(measured.iter().filter(|t| !optimized.outputs.contains(t)));
    let plan = Builder::default()
        .build_optimized(g, &mut |_| {})
        .expect("builds");
    let fp32 = Engine::from_plan(plan).expect("loads");
    let mut ctx = fp32.context(0).expect("context");
    ctx.input_mut().copy_from_slice(input);
    ctx.infer().expect("infer");
    let mut buf = Vec::new();
    measured
        .into_iter()
        .map(|t| {
            ctx.read_tensor(t, &mut buf).expect("read");
            let amax = buf.iter().fold(0f32, |m, v| m.max(v.abs()));
            (
                optimized.tensors[t].name.clone(),
                amax.max(1e-6) / edge_engine::quant::QMAX,
            )
        })
        .collect()
}

/// An INT8 plan of an optimized graph for `device`, with `scales` and the default exclusions
/// (the output convs stay float), loaded.
pub fn int8_engine(
    optimized: Graph,
    device: Device,
    scales: std::collections::HashMap<String, f32>,
) -> Engine {
    let builder = Builder {
        device,
        precision: Precision::Int8,
        int8: Some(edge_engine::builder::Int8Settings {
            scales,
            exclude: None,
        }),
        ..Builder::default()
    };
    let plan = builder
        .build_optimized(optimized, &mut |_| {})
        .expect("int8 builds");
    Engine::from_plan(plan).expect("loads")
}
