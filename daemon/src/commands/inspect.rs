//! `edge-infer inspect`: what an engine holds, like `trtexec --dumpLayerInfo`.

use crate::cli::InspectArgs;
use edge_engine::graph::{Activation, Op};
use edge_engine::plan::{format, Precision};
use edge_engine::{Error, Result};

/// Reads the plan without loading it onto its device: a CUDA engine can be inspected anywhere.
pub fn run(a: &InspectArgs) -> Result<()> {
    let bytes = std::fs::read(&a.engine).map_err(|e| Error::io(&a.engine, e))?;
    let plan = format::from_bytes(&bytes).map_err(|source| Error::PlanFile {
        path: a.engine.clone(),
        source,
    })?;
    let g = &plan.graph;
    let mem = edge_engine::memory::plan(g);
    let esize = match plan.precision {
        Precision::Fp32 => 4.0,
        Precision::Fp16 => 2.0,
        Precision::Int8 => 1.0,
    };
    // An INT8 plan runs its float layers in fp16 on a GPU and fp32 on the CPU.
    let float = match plan.precision {
        Precision::Int8 if plan.fingerprint.backend == "cuda" => "fp16",
        Precision::Int8 => "fp32",
        p => p.name(),
    };
    outln!("engine     {}", a.engine.display());
    outln!("producer   {}", plan.producer);
    outln!("device     {}", plan.fingerprint);
    outln!("features   {}", plan.fingerprint.features.join(" "));
    match &plan.quant {
        Some(q) => outln!(
            "precision  int8: {} of {} convs in int8, the others {float}",
            q.int8.iter().filter(|&&b| b).count(),
            g.nodes
                .iter()
                .filter(|n| matches!(n.op, Op::Conv(_)))
                .count()
        ),
        None => outln!("precision  {}", plan.precision.name()),
    }
    outln!("model      {} ({} classes)", g.meta.name, g.meta.classes());
    for (kind, list) in [("input ", &plan.inputs), ("output", &plan.outputs)] {
        for b in list {
            outln!(
                "{kind}     {} {:?} {} {}",
                b.name,
                b.shape,
                b.dtype.name(),
                b.layout
            );
        }
    }
    outln!();
    outln!(
        "{:>4}  {:<18} {:<10} {:<14} {:<28} {:<6} {:<15} tactic",
        "#",
        "layer",
        "op",
        "output",
        "fused",
        "prec",
        "stored"
    );
    for (i, n) in g.nodes.iter().enumerate() {
        let fused = match &n.op {
            Op::Conv(c) => {
                let mut parts = vec![format!("{}x{}/{}", c.kernel, c.kernel, c.stride)];
                if c.act != Activation::Linear {
                    parts.push(c.act.name().into());
                }
                if let Some(r) = c.residual {
                    parts.push(format!("+{}", g.tensors[r].name));
                    if c.post_act != Activation::Linear {
                        parts.push(c.post_act.name().into());
                    }
                }
                parts.join(" ")
            }
            Op::Concat | Op::ChannelSlice { .. }
                if g.tensors[n.output].storage != edge_engine::graph::Storage::Own
                    || n.inputs
                        .iter()
                        .all(|&t| g.tensors[t].storage != edge_engine::graph::Storage::Own) =>
            {
                "in place".into()
            }
            _ => String::new(),
        };
        let tactic = plan
            .tactics
            .iter()
            .find(|t| t.node == i)
            .map_or("direct", |t| t.name.as_str());
        let q = plan.quant.as_ref();
        let prec = if q.is_some_and(|q| q.int8[i]) {
            "int8"
        } else {
            float
        };
        let stored = match q.and_then(|q| q.scale(g, n.output)) {
            Some(s) => format!("int8 s={s:.3e}"),
            None => float.to_string(),
        };
        outln!(
            "{i:>4}  {:<18} {:<10} {:<14} {:<28} {prec:<6} {stored:<15} {tactic}",
            n.name,
            n.op.kind(),
            g.shape(n.output).to_string(),
            fused,
        );
    }
    let weights: usize = g
        .nodes
        .iter()
        .map(|n| match &n.op {
            Op::Conv(c) => c.weights.len() + c.bias.len(),
            _ => 0,
        })
        .sum();
    outln!();
    outln!(
        "arena      {:.2} MB (naive sum of activations {:.2} MB, {:.1}x)",
        mem.arena_len as f64 * esize / 1e6,
        mem.naive_len as f64 * esize / 1e6,
        mem.naive_len as f64 / mem.arena_len.max(1) as f64
    );
    outln!("weights    {:.2} MB", weights as f64 * esize / 1e6);
    if !plan.device_code.is_empty() {
        outln!(
            "kernels    {:.2} MB cubin",
            plan.device_code.len() as f64 / 1e6
        );
    }
    Ok(())
}
