//! `edge-infer weights`: seeded random weights as a Darknet file, so another framework can
//! run exactly the network our `--weights random:SEED` builds.

use crate::cli::WeightsArgs;
use edge_engine::import::darknet::{self, weights};
use edge_engine::Result;

pub fn run(a: &WeightsArgs) -> Result<()> {
    let model = darknet::load_cfg(&a.model, None)?;
    let params = weights::random(&model, a.seed);
    weights::write(&a.output, &params)?;
    outln!("{}: {} floats", a.output.display(), params.len());
    Ok(())
}
