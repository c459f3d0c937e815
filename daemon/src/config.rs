//! The YAML config (`--config FILE`): every key, its default and its range. Unknown keys are
//! refused; errors give the key's path and, for syntax and type errors, line and column.
//! `configs/edge-infer.yaml` documents each key; flags given on the command line win.

use crate::frame::PixelFormat;
use serde::Deserialize;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// A prebuilt engine file; wins over `model`.
    pub engine: Option<PathBuf>,
    /// A Darknet cfg to build from (the engine is cached in `cache_dir`).
    pub model: Option<PathBuf>,
    /// Darknet weights file, or random[:SEED].
    pub weights: Option<String>,
    /// Class names, one per line.
    pub names: Option<PathBuf>,
    pub precision: String,
    /// INT8 scales for a `model` built with precision int8.
    pub calib_cache: Option<PathBuf>,
    pub device: String,
    pub cache_dir: PathBuf,
    /// CPU worker threads (0: one per core).
    pub threads: usize,
    pub camera: Camera,
    pub detection: Detection,
    pub socket: Socket,
    pub stats: Stats,
    pub log_level: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Camera {
    pub device: String,
    pub width: usize,
    pub height: usize,
    pub fps: f32,
    pub format: Option<String>,
    pub buffers: u32,
    #[serde(rename = "loop")]
    pub looped: bool,
    /// Reconnect backoff: first wait and cap, in milliseconds.
    pub reconnect_min_ms: u64,
    pub reconnect_max_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Detection {
    pub confidence: f32,
    pub iou: f32,
    pub max_detections: usize,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Socket {
    /// null: $RUNTIME_DIRECTORY (systemd), /run/edge-infer, or the user's runtime directory.
    pub path: Option<PathBuf>,
    /// Octal permission bits of the socket file, as a string ("0660").
    pub mode: String,
    pub group: Option<String>,
    pub max_clients: usize,
    /// A client that misses this many frames in a row is disconnected.
    pub max_missed: u32,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Stats {
    /// Seconds between stats lines in the log and STATUS= updates.
    pub interval_s: f64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            engine: None,
            model: None,
            weights: None,
            names: None,
            precision: "fp32".into(),
            calib_cache: None,
            device: "cpu".into(),
            cache_dir: default_cache_dir(),
            threads: 0,
            camera: Camera::default(),
            detection: Detection::default(),
            socket: Socket::default(),
            stats: Stats { interval_s: 10.0 },
            log_level: "info".into(),
        }
    }
}

impl Default for Camera {
    fn default() -> Self {
        Camera {
            device: "synthetic:shapes".into(),
            width: 1280,
            height: 720,
            fps: 30.0,
            format: None,
            buffers: 4,
            looped: true,
            reconnect_min_ms: 250,
            reconnect_max_ms: 10_000,
        }
    }
}

impl Default for Detection {
    fn default() -> Self {
        Detection {
            confidence: 0.25,
            iou: 0.45,
            max_detections: 100,
        }
    }
}

impl Default for Socket {
    fn default() -> Self {
        Socket {
            path: None,
            mode: "0660".into(),
            group: None,
            max_clients: 16,
            max_missed: 30,
        }
    }
}

impl Default for Stats {
    fn default() -> Self {
        Stats { interval_s: 10.0 }
    }
}

/// $STATE_DIRECTORY (systemd), else $XDG_CACHE_HOME/edge-infer, else ~/.cache/edge-infer.
fn default_cache_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("STATE_DIRECTORY") {
        return PathBuf::from(d);
    }
    if let Some(d) = std::env::var_os("XDG_CACHE_HOME") {
        return PathBuf::from(d).join("edge-infer");
    }
    match std::env::var_os("HOME") {
        Some(h) => PathBuf::from(h).join(".cache/edge-infer"),
        None => PathBuf::from("/var/lib/edge-infer"),
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{file}: {msg}")]
pub struct ConfigError {
    pub file: String,
    pub msg: String,
}

impl Config {
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: file.clone(),
            msg: e.to_string(),
        })?;
        Config::parse(&file, &text)
    }

    pub fn parse(file: &str, text: &str) -> Result<Config, ConfigError> {
        let err = |msg: String| ConfigError {
            file: file.into(),
            msg,
        };
        let config: Config = if text.trim().is_empty() {
            Config::default()
        } else {
            yaml_serde::from_str(text).map_err(|e| err(e.to_string()))?
        };
        config.validate().map_err(err)?;
        Ok(config)
    }

    /// Range checks, naming the key path.
    pub fn validate(&self) -> Result<(), String> {
        let range = |key: &str, ok: bool, want: &str| {
            if ok {
                Ok(())
            } else {
                Err(format!("{key}: {want}"))
            }
        };
        let c = &self.camera;
        range(
            "camera.width",
            (16..=8192).contains(&c.width),
            "must be 16..=8192",
        )?;
        range(
            "camera.height",
            (16..=8192).contains(&c.height),
            "must be 16..=8192",
        )?;
        range(
            "camera.fps",
            c.fps.is_finite() && (0.0..=1000.0).contains(&c.fps),
            "must be 0..=1000 (0: as fast as the source goes)",
        )?;
        range(
            "camera.buffers",
            (2..=32).contains(&c.buffers),
            "must be 2..=32",
        )?;
        if let Some(f) = &c.format {
            range(
                "camera.format",
                PixelFormat::from_name(f).is_some(),
                "must be one of yuyv, uyvy, nv12, mjpeg, rgb24, bgr24, grey",
            )?;
        }
        range(
            "camera.reconnect_min_ms",
            (1..=60_000).contains(&c.reconnect_min_ms),
            "must be 1..=60000",
        )?;
        range(
            "camera.reconnect_max_ms",
            c.reconnect_max_ms >= c.reconnect_min_ms && c.reconnect_max_ms <= 600_000,
            "must be reconnect_min_ms..=600000",
        )?;
        range("camera.device", !c.device.is_empty(), "must not be empty")?;
        let d = &self.detection;
        range(
            "detection.confidence",
            (0.0..=1.0).contains(&d.confidence),
            "must be 0..=1",
        )?;
        range(
            "detection.iou",
            (0.0..=1.0).contains(&d.iou),
            "must be 0..=1",
        )?;
        range(
            "detection.max_detections",
            (1..=edge_engine::yolo::MAX_DETECTIONS).contains(&d.max_detections),
            "must be 1..=256",
        )?;
        let s = &self.socket;
        range(
            "socket.mode",
            self.socket_mode().is_some(),
            "must be octal permission bits such as \"0660\"",
        )?;
        range(
            "socket.max_clients",
            (1..=64).contains(&s.max_clients),
            "must be 1..=64",
        )?;
        range(
            "socket.max_missed",
            (1..=100_000).contains(&s.max_missed),
            "must be 1..=100000",
        )?;
        if let Some(p) = &s.path {
            range(
                "socket.path",
                !p.as_os_str().is_empty() && p.as_os_str().len() < 108,
                "must be a path shorter than 108 bytes",
            )?;
        }
        range(
            "stats.interval_s",
            self.stats.interval_s.is_finite() && (0.1..=3600.0).contains(&self.stats.interval_s),
            "must be 0.1..=3600",
        )?;
        range("threads", self.threads <= 1024, "must be 0..=1024")?;
        range(
            "precision",
            ["fp32", "fp16", "int8"].contains(&self.precision.as_str()),
            "must be fp32, fp16 or int8",
        )?;
        range(
            "calib_cache",
            self.precision != "int8" || self.engine.is_some() || self.calib_cache.is_some(),
            "needed to build an int8 engine (make one with `edge-infer calibrate`)",
        )?;
        range(
            "device",
            self.device == "cpu" || self.device.starts_with("cuda"),
            "must be cpu or cuda[:N]",
        )?;
        range(
            "log_level",
            self.log_level().is_some(),
            "must be error, warn, info, debug or trace",
        )?;
        Ok(())
    }

    pub fn socket_mode(&self) -> Option<u32> {
        u32::from_str_radix(self.socket.mode.trim_start_matches("0o"), 8)
            .ok()
            .filter(|m| *m <= 0o777)
    }

    pub fn log_level(&self) -> Option<log::LevelFilter> {
        self.log_level.parse().ok()
    }

    pub fn pixel_format(&self) -> Option<PixelFormat> {
        self.camera
            .format
            .as_deref()
            .and_then(PixelFormat::from_name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_example_is_the_default() {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../configs/edge-infer.yaml"
        ))
        .unwrap();
        let parsed = Config::parse("edge-infer.yaml", &text).unwrap();
        // The example names the packaged cache directory rather than this machine's.
        let want = Config {
            cache_dir: parsed.cache_dir.clone(),
            ..Config::default()
        };
        assert_eq!(parsed, want);
    }

    #[test]
    fn unknown_keys_are_refused_with_their_location() {
        let e = Config::parse("c.yaml", "camera:\n  widht: 640\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("unknown field `widht`") && e.contains("line 2"),
            "{e}"
        );
    }

    #[test]
    fn type_errors_name_line_and_column() {
        let e = Config::parse("c.yaml", "detection:\n  iou: lots\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("detection.iou") || e.contains("line 2"), "{e}");
        assert!(e.starts_with("c.yaml: "), "{e}");
    }

    #[test]
    fn out_of_range_values_name_the_key_path() {
        let e = Config::parse("c.yaml", "camera:\n  fps: 5000\n")
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "c.yaml: camera.fps: must be 0..=1000 (0: as fast as the source goes)"
        );
        let e = Config::parse("c.yaml", "socket:\n  mode: \"0999\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("socket.mode"), "{e}");
        let e = Config::parse("c.yaml", "detection:\n  max_detections: 0\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("detection.max_detections: must be 1..=256"),
            "{e}"
        );
    }

    #[test]
    fn partial_files_keep_the_other_defaults() {
        let c = Config::parse("c.yaml", "camera:\n  device: /dev/video2\n").unwrap();
        assert_eq!(c.camera.device, "/dev/video2");
        assert_eq!(c.camera.width, 1280);
        assert_eq!(c.socket_mode(), Some(0o660));
    }
}
