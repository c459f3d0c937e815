//! `edge-infer bench`: latency percentiles and throughput of one context.

use super::open_engine;
use crate::cli::BenchArgs;
use edge_engine::rng::SplitMix64;
use edge_engine::{Context, Engine, Result};
use std::time::Instant;

pub fn run(a: &BenchArgs) -> Result<()> {
    let engine = open_engine(&a.engine)?;
    let mut ctx = engine.context(a.engine.threads)?;
    let mut rng = SplitMix64::new(1);
    ctx.input_mut().iter_mut().for_each(|v| *v = rng.unit());
    let iterations = a.iterations.max(1);
    let mut times = vec![0f64; iterations];
    let total = ctx.run(|ctx| -> Result<f64> {
        for _ in 0..a.warmup {
            ctx.infer()?;
        }
        let start = Instant::now();
        for t in times.iter_mut() {
            let s = Instant::now();
            ctx.infer()?;
            *t = s.elapsed().as_secs_f64() * 1e3;
        }
        Ok(start.elapsed().as_secs_f64())
    })?;
    if a.profile {
        print_profile(&engine, &mut ctx, iterations)?;
    }
    times.sort_by(f64::total_cmp);
    let pct = |p: f64| times[((p / 100.0) * (times.len() - 1) as f64).round() as usize];
    let (median, p99) = (pct(50.0), pct(99.0));
    let mean = times.iter().sum::<f64>() / times.len() as f64;
    let fps = iterations as f64 / total;
    let input = engine.graph().shape(engine.graph().input);
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
                "median_ms": median,
                "p99_ms": p99,
                "mean_ms": mean,
                "min_ms": times[0],
                "throughput_fps": fps,
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
        outln!(
            "median {median:.2} ms  p99 {p99:.2} ms  mean {mean:.2} ms  min {:.2} ms  {fps:.1} fps",
            times[0]
        );
    }
    Ok(())
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
