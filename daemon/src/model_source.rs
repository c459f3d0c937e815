//! Where the daemon's engine comes from: a prebuilt engine file, a Darknet model built and
//! cached on first use, or the built-in default model.

use crate::cache::{self, Fnv};
use edge_engine::graph::Graph;
use edge_engine::import::darknet::{self, weights::WeightsSource};
use edge_engine::plan::Precision;
use edge_engine::{Device, Engine, Error, Result};
use std::path::{Path, PathBuf};

/// The built-in model, so the daemon runs with no files at all: the demo detector for the
/// synthetic camera's shapes (models/shapes, trained by tools/train).
pub const BUILTIN_CFG: &str = include_str!("../../models/shapes/shapes.cfg");
pub const BUILTIN_WEIGHTS: &[u8] = include_bytes!("../../models/shapes/shapes.weights");
pub const BUILTIN_NAMES: &str = include_str!("../../models/shapes/shapes.names");
pub const BUILTIN_NAME: &str = "builtin-shapes";

pub enum ModelSource {
    Engine(PathBuf),
    Darknet {
        cfg: PathBuf,
        weights: WeightsSource,
        names: Option<PathBuf>,
    },
    Builtin,
}

pub fn names_from(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
}

/// Loads or builds the engine; `cache_dir` holds built ones.
pub fn open(
    source: &ModelSource,
    precision: Precision,
    device: Device,
    cache_dir: &Path,
    calib_cache: Option<&Path>,
) -> Result<Engine> {
    let target = cache::Target {
        precision,
        device,
        calib_cache,
    };
    match source {
        ModelSource::Engine(path) => Engine::load(path),
        ModelSource::Darknet {
            cfg,
            weights,
            names,
        } => {
            let text = std::fs::read_to_string(cfg).map_err(|e| Error::io(cfg, e))?;
            let names_path = names
                .clone()
                .or_else(|| Some(cfg.with_extension("names")).filter(|p| p.exists()));
            let names_text = match &names_path {
                Some(p) => Some(std::fs::read_to_string(p).map_err(|e| Error::io(p, e))?),
                None => None,
            };
            let mut hash = Fnv::default();
            hash.update(text.as_bytes());
            match weights {
                WeightsSource::File(p) => {
                    hash.update(&std::fs::read(p).map_err(|e| Error::io(p, e))?)
                }
                WeightsSource::Random(seed) => hash.update(format!("random:{seed}").as_bytes()),
            }
            hash.update(names_text.as_deref().unwrap_or("").as_bytes());
            let stem = cfg
                .file_stem()
                .map_or("model".into(), |s| s.to_string_lossy().into_owned());
            let file = cfg.display().to_string();
            let cached = cache::engine(cache_dir, &stem, hash.finish(), &target, || {
                let model = darknet::parse_cfg(&file, &stem, &text, None)?;
                let params = darknet::weights::params_for(&model, weights)?;
                let mut graph = model.with_params(&params)?;
                if let Some(n) = &names_text {
                    set_names(&mut graph, names_from(n), names_path.as_deref())?;
                }
                Ok(graph)
            })?;
            Ok(cached.engine)
        }
        ModelSource::Builtin => {
            let mut hash = Fnv::default();
            hash.update(BUILTIN_CFG.as_bytes());
            hash.update(BUILTIN_WEIGHTS);
            hash.update(BUILTIN_NAMES.as_bytes());
            let cached = cache::engine(cache_dir, BUILTIN_NAME, hash.finish(), &target, || {
                let model =
                    darknet::parse_cfg("<built-in shapes.cfg>", "shapes", BUILTIN_CFG, None)?;
                let params =
                    darknet::weights::parse(&model, "<built-in shapes.weights>", BUILTIN_WEIGHTS)?;
                let mut graph = model.with_params(&params)?;
                set_names(&mut graph, names_from(BUILTIN_NAMES), None)?;
                Ok(graph)
            })?;
            Ok(cached.engine)
        }
    }
}

pub fn set_names(graph: &mut Graph, names: Vec<String>, path: Option<&Path>) -> Result<()> {
    let classes = graph.meta.classes();
    if names.len() != classes {
        return Err(Error::Input(format!(
            "{}: {} names for a model with {classes} classes",
            path.map_or("<built-in names>".into(), |p| p.display().to_string()),
            names.len()
        )));
    }
    graph.meta.class_names = names;
    Ok(())
}
