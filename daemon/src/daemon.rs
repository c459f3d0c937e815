//! The daemon's main run: engine, camera, socket, the two pipeline threads, and the main
//! loop that accepts clients, handles signals, talks to systemd and reports stats.

use crate::capture::{self, CaptureError, SourceOptions};
use crate::config::Config;
use crate::model_source::{self, ModelSource};
use crate::notify::Notifier;
use crate::pipeline::{self, Backoff, Inference, Shared};
use crate::publish::Publisher;
use crate::slot::LatestFrame;
use edge_engine::plan::Precision;
use edge_engine::yolo::DecodeParams;
use edge_engine::Device;
use edge_infer_protocol as proto;
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use std::path::PathBuf;
use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// An exit with its sysexits code.
#[derive(Debug)]
pub struct Exit {
    pub code: u8,
    pub msg: String,
}

pub const EX_USAGE: u8 = 64;
pub const EX_DATAERR: u8 = 65;
pub const EX_NOINPUT: u8 = 66;
pub const EX_UNAVAILABLE: u8 = 69;
pub const EX_SOFTWARE: u8 = 70;
pub const EX_CANTCREAT: u8 = 73;
pub const EX_CONFIG: u8 = 78;

fn exit(code: u8, msg: impl Into<String>) -> Exit {
    Exit {
        code,
        msg: msg.into(),
    }
}

pub fn engine_exit(e: &edge_engine::Error) -> u8 {
    use edge_engine::plan::PlanError;
    use edge_engine::Error as E;
    match e {
        E::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => EX_NOINPUT,
        E::Io { .. } => 74,
        E::Plan(PlanError::WrongDevice { .. })
        | E::PlanFile {
            source: PlanError::WrongDevice { .. },
            ..
        }
        | E::Unsupported(_)
        | E::Device(_) => EX_UNAVAILABLE,
        _ => EX_DATAERR,
    }
}

/// What the command line adds to the config.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub print: bool,
    /// Save every n-th frame, annotated, into this directory.
    pub save_frames: Option<(PathBuf, u64)>,
    /// Stop after this many inferred frames (0: run until signalled).
    pub frames: u64,
}

/// The socket path when the config leaves it to us: systemd's RuntimeDirectory, else
/// /run/edge-infer when writable, else the user's runtime directory.
pub fn default_socket_path() -> PathBuf {
    if let Some(d) = std::env::var_os("RUNTIME_DIRECTORY") {
        // systemd may list several, separated by ':'.
        let first = d
            .to_string_lossy()
            .split(':')
            .next()
            .unwrap_or("")
            .to_string();
        return PathBuf::from(first).join("detections.sock");
    }
    let run = PathBuf::from("/run/edge-infer");
    let writable =
        |d: &std::path::Path| nix::unistd::access(d, nix::unistd::AccessFlags::W_OK).is_ok();
    if writable(&run) || (!run.exists() && writable(std::path::Path::new("/run"))) {
        return run.join("detections.sock");
    }
    let base = std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(format!("/tmp/edge-infer-{}", nix::unistd::getuid())));
    base.join("edge-infer").join("detections.sock")
}

pub fn run(config: &Config, opts: &RunOptions) -> Result<(), Exit> {
    // Signals arrive on a descriptor the main loop polls; blocked before any thread starts,
    // so every thread inherits the mask and none is interrupted.
    let mut mask = SigSet::empty();
    for s in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP] {
        mask.add(s);
    }
    mask.thread_block()
        .map_err(|e| exit(EX_SOFTWARE, format!("blocking signals: {e}")))?;
    let signals = SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
        .map_err(|e| exit(EX_SOFTWARE, format!("signalfd: {e}")))?;
    let notifier = Notifier::from_env();

    let precision: Precision = config
        .precision
        .parse()
        .map_err(|e: String| exit(EX_CONFIG, e))?;
    let device: Device = config
        .device
        .parse()
        .map_err(|e: String| exit(EX_CONFIG, e))?;
    let source = match (&config.engine, &config.model) {
        (Some(e), _) => ModelSource::Engine(e.clone()),
        (None, Some(m)) => ModelSource::Darknet {
            cfg: m.clone(),
            weights: config
                .weights
                .as_deref()
                .unwrap_or("random")
                .parse()
                .map_err(|e: String| exit(EX_CONFIG, format!("weights: {e}")))?,
            names: config.names.clone(),
        },
        (None, None) => ModelSource::Builtin,
    };
    let started = Instant::now();
    let engine = model_source::open(
        &source,
        precision,
        device,
        &config.cache_dir,
        config.calib_cache.as_deref(),
    )
    .map_err(|e| exit(engine_exit(&e), e.to_string()))?;
    let meta = engine.meta().clone();
    log::info!(
        "engine {} ({}x{}, {} classes, {}) ready in {:.1} s",
        meta.name,
        meta.input.w,
        meta.input.h,
        meta.classes(),
        engine.plan().fingerprint,
        started.elapsed().as_secs_f64()
    );
    let ctx = engine
        .context(config.threads)
        .map_err(|e| exit(EX_UNAVAILABLE, e.to_string()))?;

    let source_opts = SourceOptions {
        width: config.camera.width,
        height: config.camera.height,
        fps: config.camera.fps,
        format: config.pixel_format(),
        buffers: config.camera.buffers,
        looped: config.camera.looped,
        seed: 1,
    };
    let mut camera = capture::open(&config.camera.device, &source_opts)
        .map_err(|e| exit(EX_CONFIG, e.to_string()))?;
    let backoff = Backoff {
        min: Duration::from_millis(config.camera.reconnect_min_ms),
        max: Duration::from_millis(config.camera.reconnect_max_ms),
    };
    let info = start_camera(camera.as_mut(), backoff, &signals)?;
    log::info!(
        "camera {}: {}x{} {} at {} fps",
        camera.name(),
        info.width,
        info.height,
        info.format,
        info.fps
    );

    let names: Vec<&str> = meta.class_names.iter().map(String::as_str).collect();
    let hello = proto::Hello {
        model_name: &meta.name,
        input_width: meta.input.w as u32,
        input_height: meta.input.h as u32,
        source_width: info.width as u32,
        source_height: info.height as u32,
        max_detections: config.detection.max_detections as u32,
        class_names: proto::ClassNames::new(&names),
    };
    let mut hello_bytes = vec![0u8; hello.encoded_len()];
    hello
        .encode(&mut hello_bytes)
        .map_err(|e| exit(EX_SOFTWARE, format!("hello: {e:?}")))?;
    let socket_path = config
        .socket
        .path
        .clone()
        .unwrap_or_else(default_socket_path);
    let mode = config.socket_mode().unwrap_or(0o660);
    let publisher = Arc::new(
        Publisher::bind(
            &socket_path,
            mode,
            config.socket.group.as_deref(),
            config.socket.max_clients,
            config.socket.max_missed,
            hello_bytes,
        )
        .map_err(|e| {
            exit(
                if matches!(e, crate::publish::SocketError::InUse { .. }) {
                    EX_UNAVAILABLE
                } else {
                    EX_CANTCREAT
                },
                e.to_string(),
            )
        })?,
    );
    log::info!("publishing on {}", socket_path.display());

    let shared = Arc::new(Shared::new(opts.frames));
    let slot = Arc::new(LatestFrame::new(pipeline::frame_bytes(&info)));
    let (done_tx, done_rx) = std::sync::mpsc::channel::<&'static str>();
    let capture_thread = {
        let (slot, shared, done) = (slot.clone(), shared.clone(), done_tx.clone());
        std::thread::Builder::new()
            .name("edge-capture".into())
            .spawn(move || {
                pipeline::capture_loop(camera, info, slot, shared, backoff);
                let _ = done.send("capture");
            })
            .map_err(|e| exit(EX_SOFTWARE, e.to_string()))?
    };
    let inference_thread = {
        let (slot, shared, done) = (slot.clone(), shared.clone(), done_tx);
        let inf = Inference {
            engine: engine.clone(),
            ctx,
            params: DecodeParams {
                conf_threshold: config.detection.confidence,
                iou_threshold: config.detection.iou,
                max_detections: config.detection.max_detections,
            },
            publisher: Some(publisher.clone()),
            print: opts.print,
            save_frames: opts.save_frames.clone(),
        };
        std::thread::Builder::new()
            .name("edge-infer".into())
            .spawn(move || {
                pipeline::inference_loop(inf, slot, shared.clone(), info);
                shared.stop.store(true, SeqCst);
                let _ = done.send("inference");
            })
            .map_err(|e| exit(EX_SOFTWARE, e.to_string()))?
    };

    let interval = Duration::from_secs_f64(config.stats.interval_s);
    let mut ready = false;
    let mut last_report = Instant::now();
    let mut last_ping = Instant::now();
    let mut reported = (0u64, 0u64, 0u64);
    let mut signalled = None;
    while !shared.stopping() {
        std::thread::sleep(Duration::from_millis(20));
        publisher.housekeeping();
        if let Ok(Some(s)) = signals.read_signal() {
            signalled = Some(s.ssi_signo);
            log::info!("signal {}: shutting down", s.ssi_signo);
            break;
        }
        if !ready && shared.streaming.load(Relaxed) && shared.stats.inferred.load(Relaxed) > 0 {
            ready = true;
            notifier.notify("READY=1\nSTATUS=streaming");
            log::info!("ready: first frame published");
        }
        if let Some(wd) = notifier.watchdog {
            // Ping only while frames flow: a stalled camera or engine gets us restarted.
            let last = shared.stats.last_inferred_ns.load(Relaxed);
            let fresh =
                crate::clock::monotonic_ns().saturating_sub(last) < wd.as_nanos() as u64 / 2;
            if ready && fresh && last_ping.elapsed() >= wd / 4 {
                notifier.notify("WATCHDOG=1");
                last_ping = Instant::now();
            }
        }
        if last_report.elapsed() >= interval {
            let secs = last_report.elapsed().as_secs_f64();
            last_report = Instant::now();
            let s = &shared.stats;
            let (inferred, captured) = (s.inferred.load(Relaxed), s.captured.load(Relaxed));
            let engine_ns = s.engine_ns.load(Relaxed);
            let fps = (inferred - reported.0) as f64 / secs;
            let cam_fps = (captured - reported.1) as f64 / secs;
            let engine_ms =
                (engine_ns - reported.2) as f64 / 1e6 / (inferred - reported.0).max(1) as f64;
            reported = (inferred, captured, engine_ns);
            let lat = s.latency.take();
            let over = s.overhead.take();
            let status = format!(
                "{fps:.1} fps (camera {cam_fps:.1}), latency p50 {:.1} ms p99 {:.1} ms, engine {engine_ms:.1} ms, overhead p50 {:.1} ms p99 {:.1} ms, {} clients",
                lat.p50_ms,
                lat.p99_ms,
                over.p50_ms,
                over.p99_ms,
                publisher.client_count()
            );
            log::info!(
                "{status}; captured {captured} dropped {} inferred {inferred} published {} client drops {}",
                s.dropped.load(Relaxed),
                s.published.load(Relaxed),
                s.client_drops.load(Relaxed)
            );
            notifier.notify(&format!("STATUS={status}"));
        }
    }
    notifier.notify("STOPPING=1");
    shared.stop.store(true, SeqCst);
    slot.close();
    // Both threads notice within ~100 ms; a camera stuck in a driver call is not waited for.
    let deadline = Instant::now() + Duration::from_millis(1500);
    let mut finished = 0;
    while finished < 2 {
        let left = deadline.saturating_duration_since(Instant::now());
        match done_rx.recv_timeout(left) {
            Ok(_) => finished += 1,
            Err(_) => {
                log::warn!("a pipeline thread did not stop in time; exiting without it");
                break;
            }
        }
    }
    if finished == 2 {
        let _ = capture_thread.join();
        let _ = inference_thread.join();
    }
    publisher.shutdown();
    let s = &shared.stats;
    log::info!(
        "stopped: captured {} dropped {} inferred {} published {} client drops {}",
        s.captured.load(Relaxed),
        s.dropped.load(Relaxed),
        s.inferred.load(Relaxed),
        s.published.load(Relaxed),
        s.client_drops.load(Relaxed)
    );
    let fatal = shared
        .fatal
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take();
    match (fatal, signalled) {
        (Some(why), None) => Err(exit(EX_UNAVAILABLE, why)),
        _ => Ok(()),
    }
}

/// Starts the camera, retrying a missing or failing device with backoff until it streams or
/// a signal arrives.
fn start_camera(
    camera: &mut dyn capture::FrameSource,
    backoff: Backoff,
    signals: &SignalFd,
) -> Result<capture::StreamInfo, Exit> {
    let mut wait = backoff.min;
    let mut logged = false;
    loop {
        match camera.start() {
            Ok(info) => return Ok(info),
            Err(CaptureError::Unusable(why)) => {
                return Err(exit(EX_DATAERR, format!("{}: {why}", camera.name())))
            }
            Err(e) => {
                if !logged {
                    log::warn!(
                        "{}: {e}; retrying with backoff up to {} ms",
                        camera.name(),
                        backoff.max.as_millis()
                    );
                    logged = true;
                }
            }
        }
        let until = Instant::now() + wait;
        while Instant::now() < until {
            if let Ok(Some(_)) = signals.read_signal() {
                return Err(exit(0, "stopped before the camera came up"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        wait = (wait * 2).min(backoff.max);
    }
}
