//! `edge-infer build`: cfg + weights -> engine file for this device.

use super::{build_plan, load_model};
use crate::cli::BuildArgs;
use edge_engine::plan::format;
use edge_engine::Result;

pub fn run(a: &BuildArgs) -> Result<()> {
    let start = std::time::Instant::now();
    let graph = load_model(&a.model)?;
    let plan = build_plan(a.device, a.precision, &a.int8, 0, graph)?;
    let bytes = format::to_bytes(&plan);
    edge_engine::atomic_file::write(&a.output, &bytes)?;
    outln!(
        "{}: {} layers, {} for {} in {:.1} s ({:.1} MB)",
        a.output.display(),
        plan.graph.nodes.len(),
        plan.precision.name(),
        plan.fingerprint,
        start.elapsed().as_secs_f64(),
        bytes.len() as f64 / 1e6
    );
    Ok(())
}
