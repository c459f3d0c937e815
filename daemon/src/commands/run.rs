//! The default command: the daemon itself, with the config file and flags merged.

use crate::cli::RunArgs;
use edge_infer::config::Config;
use edge_infer::daemon::{self, Exit, RunOptions, EX_CONFIG};

pub fn run(a: &RunArgs) -> Result<(), Exit> {
    let mut c = match &a.config {
        Some(path) => Config::load(path).map_err(|e| Exit {
            code: EX_CONFIG,
            msg: e.to_string(),
        })?,
        None => Config::default(),
    };
    if a.engine.is_some() || a.model.is_some() {
        c.engine = a.engine.clone();
        c.model = a.model.clone();
    }
    let set = |dst: &mut String, v: &Option<String>| {
        if let Some(v) = v {
            *dst = v.clone();
        }
    };
    if a.weights.is_some() {
        c.weights = a.weights.clone();
    }
    if a.names.is_some() {
        c.names = a.names.clone();
    }
    set(&mut c.camera.device, &a.camera);
    c.camera.width = a.width.unwrap_or(c.camera.width);
    c.camera.height = a.height.unwrap_or(c.camera.height);
    c.camera.fps = a.fps.unwrap_or(c.camera.fps);
    if a.format.is_some() {
        c.camera.format = a.format.clone();
    }
    if a.socket.is_some() {
        c.socket.path = a.socket.clone();
    }
    set(&mut c.precision, &a.precision);
    if a.calib_cache.is_some() {
        c.calib_cache = a.calib_cache.clone();
    }
    set(&mut c.device, &a.device);
    c.threads = a.threads.unwrap_or(c.threads);
    if let Some(d) = &a.cache_dir {
        c.cache_dir = d.clone();
    }
    c.detection.confidence = a.conf.unwrap_or(c.detection.confidence);
    set(&mut c.log_level, &a.log_level);
    let what = a.config.as_ref().map_or("command line".to_string(), |p| {
        format!("{} with the command line", p.display())
    });
    c.validate().map_err(|e| Exit {
        code: EX_CONFIG,
        msg: format!("{what}: {e}"),
    })?;
    edge_infer::logging::init(c.log_level().unwrap_or(log::LevelFilter::Info));
    daemon::run(
        &c,
        &RunOptions {
            print: a.print,
            frames: a.frames.unwrap_or(0),
            save_frames: a.save_frames.clone().map(|d| (d, a.save_every)),
        },
    )
}
