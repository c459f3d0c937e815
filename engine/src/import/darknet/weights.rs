//! The Darknet `.weights` file: a small header, then every conv's parameters as f32 LE.

use super::DarknetModel;
use crate::error::{Error, Result};
use crate::rng::SplitMix64;
use std::path::Path;

/// Where the parameters come from: a file, or seeded random values of the right shapes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WeightsSource {
    File(std::path::PathBuf),
    Random(u64),
}

impl std::str::FromStr for WeightsSource {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.strip_prefix("random") {
            Some("") => Ok(WeightsSource::Random(0)),
            Some(rest) => rest
                .strip_prefix(':')
                .and_then(|seed| seed.parse().ok())
                .map(WeightsSource::Random)
                .ok_or_else(|| format!("'{s}': expected random or random:SEED (an integer)")),
            None => Ok(WeightsSource::File(s.into())),
        }
    }
}

impl std::fmt::Display for WeightsSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WeightsSource::File(p) => write!(f, "{}", p.display()),
            WeightsSource::Random(seed) => write!(f, "random:{seed}"),
        }
    }
}

/// The header fields we write: version 0.2.0, `seen` as u64.
const HEADER: (i32, i32, i32) = (0, 2, 0);

pub fn params_for(model: &DarknetModel, source: &WeightsSource) -> Result<Vec<f32>> {
    match source {
        WeightsSource::File(path) => {
            let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
            parse(model, &path.display().to_string(), &bytes)
        }
        WeightsSource::Random(seed) => Ok(random(model, *seed)),
    }
}

/// The parameters in a weights file, checked against what the cfg needs.
pub fn parse(model: &DarknetModel, file: &str, bytes: &[u8]) -> Result<Vec<f32>> {
    let err = |msg: String| Error::Weights {
        file: file.into(),
        msg,
    };
    let word = |at: usize| -> Result<i32> {
        bytes
            .get(at..at + 4)
            .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .ok_or_else(|| err(format!("truncated header: {} bytes", bytes.len())))
    };
    let (major, minor, revision) = (word(0)?, word(4)?, word(8)?);
    if !(0..=1000).contains(&major) || !(0..=1000).contains(&minor) {
        return Err(err(format!(
            "header version {major}.{minor}.{revision} does not look like a Darknet weights file"
        )));
    }
    let seen_bytes = if major * 10 + minor >= 2 { 8 } else { 4 };
    let header = 12 + seen_bytes;
    if bytes.len() < header {
        return Err(err(format!("truncated header: {} bytes", bytes.len())));
    }
    let body = &bytes[header..];
    let expected = model.param_count();
    if !body.len().is_multiple_of(4) || body.len() / 4 != expected {
        return Err(err(format!(
            "expected {expected} floats after the {header}-byte header (version {major}.{minor}.{revision}), found {}{}",
            body.len() / 4,
            if !body.len().is_multiple_of(4) { " and a partial one" } else { "" }
        )));
    }
    let params: Vec<f32> = body
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    if let Some(i) = params.iter().position(|v| !v.is_finite()) {
        return Err(err(format!(
            "float {i} (byte offset {}) is not finite",
            header + 4 * i
        )));
    }
    Ok(params)
}

pub fn to_bytes(params: &[f32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(20 + 4 * params.len());
    for v in [HEADER.0, HEADER.1, HEADER.2] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(&0u64.to_le_bytes());
    for p in params {
        out.extend_from_slice(&p.to_le_bytes());
    }
    out
}

pub fn write(path: &Path, params: &[f32]) -> Result<()> {
    crate::atomic_file::write(path, &to_bytes(params))
}

/// Deterministic random parameters with inference statistics that keep activations O(1)
/// through the whole network: weights scaled by fan-in, BN gains that undo leaky's halving,
/// and small gains on convs feeding a residual add so the trunk does not grow per block.
pub fn random(model: &DarknetModel, seed: u64) -> Vec<f32> {
    let mut rng = SplitMix64::new(seed);
    let mut out = Vec::with_capacity(model.param_count());
    for c in &model.convs {
        let n = c.filters;
        let fan_in = (c.weight_count / n).max(1) as f32;
        let bound = (3.0 / fan_in).sqrt();
        if c.bn_node.is_some() {
            let gain = if c.feeds_shortcut {
                (0.2, 0.4)
            } else {
                (1.2, 1.6)
            };
            out.extend((0..n).map(|_| rng.uniform(-0.1, 0.1))); // beta
            out.extend((0..n).map(|_| rng.uniform(gain.0, gain.1))); // gamma
            out.extend((0..n).map(|_| rng.uniform(-0.1, 0.1))); // running mean
            out.extend((0..n).map(|_| rng.uniform(0.5, 1.5))); // running variance
        } else {
            out.extend((0..n).map(|_| rng.uniform(-0.5, 0.5)));
        }
        out.extend((0..c.weight_count).map(|_| rng.uniform(-bound, bound)));
    }
    out
}
