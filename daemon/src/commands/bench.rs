//! `edge-infer bench`: latency percentiles and throughput of one context.

use super::open_engine;
use crate::cli::BenchArgs;
use edge_engine::rng::SplitMix64;
use edge_engine::yolo::{DecodeParams, Detections, Letterbox, Postprocessor};
use edge_engine::{Context, Engine, Result};
use std::time::Instant;

pub fn run(a: &BenchArgs) -> Result<()> {
    let engine = open_engine(&a.engine)?;
    let mut ctx = engine.context(a.engine.threads)?;
    let mut rng = SplitMix64::new(1);
    ctx.input_mut().iter_mut().for_each(|v| *v = rng.unit());
    let meta = engine.meta().clone();
    let params = DecodeParams::default();
    ctx.set_threshold(params.conf_threshold)?;
    let input = engine.graph().shape(engine.graph().input);
    let lb = Letterbox::new(input.w, input.h, input.w, input.h, true);
    let mut post = Postprocessor::new(8192);
    let mut dets = Detections::new();
    let iterations = a.iterations.max(1);
    let mut frame = vec![0f64; iterations];
    let mut gpu = vec![0f64; iterations];
    let mut nms = vec![0f64; iterations];
    let mut network = vec![0f64; iterations];
    let total = ctx.run(|ctx| -> Result<f64> {
        for _ in 0..a.warmup {
            ctx.infer()?;
            ctx.infer_network()?;
        }
        for t in network.iter_mut() {
            let s = Instant::now();
            ctx.infer_network()?;
            *t = s.elapsed().as_secs_f64() * 1e3;
        }
        let start = Instant::now();
        for i in 0..iterations {
            let s = Instant::now();
            ctx.infer()?;
            let d = Instant::now();
            ctx.detect(&mut post, &meta, &lb, &params, &mut dets);
            let e = Instant::now();
            gpu[i] = (d - s).as_secs_f64() * 1e3;
            nms[i] = (e - d).as_secs_f64() * 1e3;
            frame[i] = (e - s).as_secs_f64() * 1e3;
        }
        Ok(start.elapsed().as_secs_f64())
    })?;
    if a.profile {
        print_profile(&engine, &mut ctx, iterations)?;
    }
    let frame = Summary::of(frame);
    let network = Summary::of(network);
    let gpu = Summary::of(gpu);
    let nms = Summary::of(nms);
    let fps = iterations as f64 / total;
    let gpu_mb = ctx.device_bytes().map(|b| b as f64 / 1048576.0);
    if a.json {
        outln!(
            "{}",
            serde_json::json!({
                "model": engine.meta().name,
                "input": [input.h, input.w],
                "device": engine.plan().fingerprint.to_string(),
                "precision": engine.plan().precision.name(),
                "threads": ctx.threads(),
                "iterations": iterations,
                "median_ms": frame.median,
                "p99_ms": frame.p99,
                "mean_ms": frame.mean,
                "min_ms": frame.min,
                "network_median_ms": network.median,
                "network_p99_ms": network.p99,
                "infer_median_ms": gpu.median,
                "infer_p99_ms": gpu.p99,
                "detect_median_ms": nms.median,
                "detect_p99_ms": nms.p99,
                "candidates": post.candidates_last(),
                "detections": dets.len(),
                "throughput_fps": fps,
                "gpu_memory_mib": gpu_mb,
            })
        );
    } else {
        outln!(
            "{} {}x{} on {} ({}, {} threads), {iterations} iterations",
            engine.meta().name,
            input.w,
            input.h,
            engine.plan().fingerprint,
            engine.plan().precision.name(),
            ctx.threads()
        );
        outln!("frame    {frame}  {fps:.1} fps   (infer + detect)");
        outln!("infer    {gpu}   (input copy + network + decode on the GPU)");
        outln!(
            "detect   {nms}   (NMS of {} candidates -> {} detections)",
            post.candidates_last(),
            dets.len()
        );
        outln!("network  {network}   (layers alone)");
        if let Some(mb) = gpu_mb {
            outln!("GPU memory {mb:.1} MiB (weights, activations, buffers)");
        }
    }
    Ok(())
}

struct Summary {
    median: f64,
    p99: f64,
    mean: f64,
    min: f64,
}

impl Summary {
    fn of(mut times: Vec<f64>) -> Summary {
        times.sort_by(f64::total_cmp);
        let pct = |p: f64| times[((p / 100.0) * (times.len() - 1) as f64).round() as usize];
        Summary {
            median: pct(50.0),
            p99: pct(99.0),
            mean: times.iter().sum::<f64>() / times.len() as f64,
            min: times[0],
        }
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "median {:.3} ms  p99 {:.3} ms  mean {:.3} ms  min {:.3} ms",
            self.median, self.p99, self.mean, self.min
        )
    }
}

/// Per-layer mean times over separate profiled runs (timing each layer adds a little).
fn print_profile(engine: &Engine, ctx: &mut Context, iterations: usize) -> Result<()> {
    let graph = engine.graph();
    let mut layer = vec![0f64; graph.nodes.len()];
    ctx.run(|ctx| -> Result<()> {
        for _ in 0..iterations {
            ctx.infer_profiled(&mut layer)?;
        }
        Ok(())
    })?;
    let total: f64 = layer.iter().sum();
    outln!(
        "{:>4}  {:<18} {:<10} {:<14} {:>9} {:>6}",
        "#",
        "layer",
        "op",
        "output",
        "ms",
        "%"
    );
    for (i, n) in graph.nodes.iter().enumerate() {
        let ms = layer[i] / iterations as f64;
        outln!(
            "{i:>4}  {:<18} {:<10} {:<14} {ms:>9.3} {:>5.1}%",
            n.name,
            n.op.kind(),
            graph.shape(n.output).to_string(),
            100.0 * layer[i] / total.max(f64::MIN_POSITIVE)
        );
    }
    outln!(
        "total {:.3} ms per frame (sum of layers)",
        total / iterations as f64
    );
    Ok(())
}
