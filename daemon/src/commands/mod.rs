//! One module per CLI verb, plus the model and engine loading they share.

pub mod bench;
pub mod build;
pub mod calibrate;
pub mod dataset;
pub mod eval;
pub mod infer;
pub mod inspect;
pub mod run;
pub mod watch;
pub mod weights;

use crate::cli::{EngineArgs, Int8Args, ModelArgs};
use edge_engine::builder::Step;
use edge_engine::graph::Graph;
use edge_engine::import::darknet::{self, weights::params_for};
use edge_engine::plan::Precision;
use edge_engine::Device;
use edge_engine::{Builder, Engine, Error, Result};
use edge_infer::model_source;
use std::io::IsTerminal;

/// Imports a Darknet model with its weights and class names.
pub fn load_model(m: &ModelArgs) -> Result<Graph> {
    let model = darknet::load_cfg(&m.model, m.size)?;
    let params = params_for(&model, &m.weights)?;
    let mut graph = model.with_params(&params)?;
    let names = m
        .names
        .clone()
        .or_else(|| Some(m.model.with_extension("names")).filter(|p| p.exists()));
    if let Some(path) = names {
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        model_source::set_names(&mut graph, model_source::names_from(&text), Some(&path))?;
    }
    Ok(graph)
}

/// Builds a plan, showing the steps on a terminal. INT8 takes its scales from the calibration
/// cache, calibrating first where there is none (`calibrate::int8_settings`).
pub fn build_plan(
    device: Device,
    precision: Precision,
    int8: &Int8Args,
    threads: usize,
    graph: Graph,
) -> Result<edge_engine::plan::Plan> {
    let show = std::io::stderr().is_terminal();
    let nodes = graph.nodes.len();
    if show {
        eprintln!("optimizing {nodes} nodes");
    }
    let mut builder = Builder {
        device,
        precision,
        ..Builder::default()
    };
    let graph = builder.optimize(graph)?;
    if precision == Precision::Int8 {
        builder.int8 = Some(edge_infer::calibration::int8_settings(
            device,
            &int8.options(threads),
            &graph,
        )?);
    }
    builder.build_optimized(graph, &mut |step| {
        if show {
            let what = match step {
                Step::Optimize => "optimizing".to_string(),
                Step::Compile => "compiling kernels for this GPU (NVRTC)".to_string(),
                Step::Tactics => "choosing kernels".to_string(),
                Step::Tune { done, total } => {
                    format!("timing kernels: conv {} of {total}", done + 1)
                }
                Step::Network => "timing the network with the close runners-up".to_string(),
                Step::Done => "done".to_string(),
            };
            eprintln!("{what}");
        }
    })
}

pub fn open_engine(a: &EngineArgs) -> Result<Engine> {
    if let Some(path) = &a.source.engine {
        return Engine::load(path);
    }
    let (Some(model), Some(weights)) = (a.source.model.clone(), a.weights.clone()) else {
        return Err(Error::Input(
            "give --engine E, or --model M.cfg with --weights".into(),
        ));
    };
    let model = ModelArgs {
        model,
        weights,
        names: a.names.clone(),
        size: a.size,
    };
    let graph = load_model(&model)?;
    let gpu = match a.device {
        edge_engine::Device::Cuda(n) => n,
        edge_engine::Device::Cpu => 0,
    };
    let plan = build_plan(a.device, a.precision, &a.int8, a.threads, graph)?;
    Engine::from_plan_on(plan, gpu)
}
