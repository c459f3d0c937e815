//! The engine cache: `--model M.cfg` builds an engine on first start and reuses it after,
//! keyed by the model's content hash, this device's fingerprint and the precision. A change
//! of either is logged with the reason and the engine rebuilt.

use edge_engine::backend::cpu::isa::Isa;
use edge_engine::graph::Graph;
use edge_engine::plan::{format, Fingerprint, Precision};
use edge_engine::{Builder, Device, Engine, Error, Result};
use std::path::{Path, PathBuf};

pub use edge_engine::fnv::Fnv;

/// What a cached engine was built from and for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    pub model: String,
    pub device: String,
    pub precision: String,
    /// Hash of the INT8 calibration cache's text ("none" without one).
    pub calibration: String,
    pub plan_version: u32,
}

impl Key {
    fn to_text(&self) -> String {
        format!(
            "model={}\ndevice={}\nprecision={}\ncalibration={}\nplan_version={}\n",
            self.model, self.device, self.precision, self.calibration, self.plan_version
        )
    }

    fn parse(text: &str) -> Option<Key> {
        let get = |k: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(k)?.strip_prefix('='))
                .map(str::to_string)
        };
        Some(Key {
            model: get("model")?,
            device: get("device")?,
            precision: get("precision")?,
            calibration: get("calibration")?,
            plan_version: get("plan_version")?.parse().ok()?,
        })
    }

    /// Why a cached engine with key `old` cannot serve `self`, or None if it can.
    fn mismatch(&self, old: &Key) -> Option<String> {
        if old.plan_version != self.plan_version {
            Some(format!(
                "the plan format changed ({} -> {})",
                old.plan_version, self.plan_version
            ))
        } else if old.model != self.model {
            Some(format!(
                "the model changed (hash {} -> {})",
                old.model, self.model
            ))
        } else if old.device != self.device {
            Some(format!(
                "the device changed (built for {}, this is {})",
                old.device, self.device
            ))
        } else if old.precision != self.precision {
            Some(format!(
                "the precision changed ({} -> {})",
                old.precision, self.precision
            ))
        } else if old.calibration != self.calibration {
            Some("the calibration cache changed".into())
        } else {
            None
        }
    }
}

/// What an engine is built for besides the model.
pub struct Target<'a> {
    pub precision: Precision,
    pub device: Device,
    /// INT8: the calibration cache the scales come from.
    pub calib_cache: Option<&'a Path>,
}

pub struct Cached {
    pub engine: Engine,
    pub path: PathBuf,
    pub built: bool,
}

/// Loads the cached engine for `graph` (named `stem`, hashed as `model_hash`) or builds and
/// stores it. `graph` is only called when a build is needed.
pub fn engine(
    cache_dir: &Path,
    stem: &str,
    model_hash: u64,
    target: &Target,
    graph: impl FnOnce() -> Result<Graph>,
) -> Result<Cached> {
    let (precision, device) = (target.precision, target.device);
    let calibration = match target.calib_cache.filter(|_| precision == Precision::Int8) {
        Some(path) => {
            let mut h = Fnv::default();
            h.update(&std::fs::read(path).map_err(|e| Error::io(path, e))?);
            format!("{:016x}", h.finish())
        }
        None => "none".into(),
    };
    let this = match device {
        Device::Cpu => Fingerprint::cpu(Isa::detect()).to_string(),
        Device::Cuda(n) => edge_engine::backend::cuda::Gpu::open(n)?
            .info
            .fingerprint()
            .to_string(),
    };
    let key = Key {
        model: format!("{model_hash:016x}"),
        device: this,
        precision: precision.name().into(),
        calibration,
        plan_version: format::VERSION,
    };
    let engine_path = cache_dir.join(format!("{stem}.{}.engine", precision.name()));
    let key_path = cache_dir.join(format!("{stem}.{}.key", precision.name()));
    let reason = match std::fs::read_to_string(&key_path) {
        Err(_) => "no cached engine".to_string(),
        Ok(text) => match Key::parse(&text) {
            None => "the cache key is unreadable".to_string(),
            Some(old) => match key.mismatch(&old) {
                Some(why) => why,
                None => match load_on(&engine_path, device) {
                    Ok(engine) => {
                        log::info!("using cached engine {}", engine_path.display());
                        return Ok(Cached {
                            engine,
                            path: engine_path,
                            built: false,
                        });
                    }
                    Err(e) => format!("the cached engine cannot be used: {e}"),
                },
            },
        },
    };
    log::info!("building engine {} ({reason})", engine_path.display());
    let mut builder = Builder {
        device,
        precision,
        ..Builder::default()
    };
    let graph = builder.optimize(graph()?)?;
    if precision == Precision::Int8 {
        let options = crate::calibration::Int8Options {
            cache: target.calib_cache.map(Path::to_path_buf),
            ..Default::default()
        };
        builder.int8 = Some(crate::calibration::int8_settings(device, &options, &graph)?);
    }
    let plan = builder.build_optimized(graph, &mut |_| {})?;
    let bytes = format::to_bytes(&plan);
    std::fs::create_dir_all(cache_dir).map_err(|e| Error::io(cache_dir, e))?;
    edge_engine::atomic_file::write(&engine_path, &bytes)?;
    edge_engine::atomic_file::write(&key_path, key.to_text().as_bytes())?;
    Ok(Cached {
        engine: Engine::from_plan_on(plan, gpu_ordinal(device))?,
        path: engine_path,
        built: true,
    })
}

fn gpu_ordinal(device: Device) -> usize {
    match device {
        Device::Cuda(n) => n,
        Device::Cpu => 0,
    }
}

fn load_on(path: &Path, device: Device) -> Result<Engine> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let plan = edge_engine::plan::format::from_bytes(&bytes).map_err(|source| Error::PlanFile {
        path: path.into(),
        source,
    })?;
    Engine::from_plan_on(plan, gpu_ordinal(device))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_round_trips_and_names_what_changed() {
        let k = Key {
            model: "ab".into(),
            device: "cpu x86_64 simd=avx2".into(),
            precision: "fp32".into(),
            calibration: "none".into(),
            plan_version: 1,
        };
        assert_eq!(Key::parse(&k.to_text()), Some(k.clone()));
        let other = Key {
            device: "cpu aarch64 simd=neon".into(),
            ..k.clone()
        };
        assert!(k.mismatch(&other).unwrap().contains("device changed"));
        let other = Key {
            model: "cd".into(),
            ..k.clone()
        };
        assert!(k.mismatch(&other).unwrap().contains("model changed"));
        assert_eq!(k.mismatch(&k), None);
    }
}
