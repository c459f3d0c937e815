//! Helpers shared by the engine's integration tests.
#![allow(dead_code)]

use edge_engine::graph::Graph;
use edge_engine::import::darknet::{self, weights};
use edge_engine::optimize::Pass;
use edge_engine::{npy, Builder, Engine};
use std::path::{Path, PathBuf};

pub fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
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

/// Runs one input (NHWC) and returns every output (NHWC).
pub fn run(engine: &Engine, input: &[f32]) -> Vec<Vec<f32>> {
    let mut ctx = engine.context(2).expect("context");
    ctx.input_mut().copy_from_slice(input);
    ctx.infer().expect("infer");
    (0..engine.graph().outputs.len())
        .map(|i| ctx.output(i).to_vec())
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
