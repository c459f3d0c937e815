//! `edge-infer calibrate`: an INT8 calibration cache from representative frames.

use super::load_model;
use crate::cli::CalibrateArgs;
use edge_engine::{Builder, Error, Result};
use edge_infer::calibration::{calibrate, Frames};
use std::time::Instant;

pub fn run(a: &CalibrateArgs) -> Result<()> {
    let graph = Builder::default().optimize(load_model(&a.model)?)?;
    let start = Instant::now();
    let frames = Frames {
        images: &a.images,
        count: a.count,
        batch: a.batch as usize,
    };
    let cache = calibrate(&graph, a.device, a.threads, &frames, &a.algorithm)?;
    cache
        .write(&a.cache)
        .map_err(|e| Error::Input(e.to_string()))?;
    outln!(
        "{}: {} tensors, {} in {:.1} s",
        a.cache.display(),
        cache.scales.len(),
        a.algorithm.name(),
        start.elapsed().as_secs_f64()
    );
    Ok(())
}
