//! The per-frame path: capture thread -> latest-frame slot -> inference thread (convert,
//! engine, decode, publish). The newest frame wins; nothing queues. After start-up nothing
//! here allocates (MJPEG decoding and a change of camera geometry aside).

use crate::capture::{CaptureError, FrameSource, StreamInfo};
use crate::clock::monotonic_ns;
use crate::convert::Converter;
use crate::frame::PixelFormat;
use crate::publish::Publisher;
use crate::slot::{FrameBuf, LatestFrame, Take};
use crate::stats::Stats;
use edge_engine::yolo::{DecodeParams, Detections, Postprocessor};
use edge_engine::{Context, Engine};
use edge_infer_protocol as proto;
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// State the threads share with the main loop.
pub struct Shared {
    pub stats: Stats,
    pub stop: AtomicBool,
    /// Set once the camera delivered its first frame.
    pub streaming: AtomicBool,
    /// Frames to infer before stopping by itself (0: run until told).
    pub frame_limit: u64,
    /// A reason the pipeline cannot go on (unusable camera, engine failure), for the exit code.
    pub fatal: Mutex<Option<String>>,
    /// Geometry of the current stream, for the Hello's source size.
    pub source_size: AtomicU64,
}

impl Shared {
    pub fn new(frame_limit: u64) -> Shared {
        Shared {
            stats: Stats::default(),
            stop: AtomicBool::new(false),
            streaming: AtomicBool::new(false),
            frame_limit,
            fatal: Mutex::new(None),
            source_size: AtomicU64::new(0),
        }
    }

    pub fn fail(&self, why: String) {
        log::error!("{why}");
        let mut f = self.fatal.lock().unwrap_or_else(|p| p.into_inner());
        f.get_or_insert(why);
        self.stop.store(true, SeqCst);
    }

    pub fn stopping(&self) -> bool {
        self.stop.load(Relaxed)
    }
}

/// Reconnect backoff bounds.
#[derive(Clone, Copy, Debug)]
pub struct Backoff {
    pub min: Duration,
    pub max: Duration,
}

/// Biggest frame a stream can deliver, for sizing the slot's buffers.
pub fn frame_bytes(info: &StreamInfo) -> usize {
    let stride = info.width * info.format.bytes_per_pixel().max(1);
    match info.format {
        // A JPEG is rarely bigger than the raw frame; leave room for bad compressors.
        PixelFormat::Mjpeg => info.width * info.height * 4 + 65536,
        f => f.frame_len(info.width, info.height, stride),
    }
}

/// The capture thread: frames into the slot; reconnects with capped exponential backoff,
/// logging once per change of state.
pub fn capture_loop(
    mut source: Box<dyn FrameSource>,
    mut info: StreamInfo,
    slot: Arc<LatestFrame>,
    shared: Arc<Shared>,
    backoff: Backoff,
) {
    let mut back = FrameBuf::with_capacity(frame_bytes(&info));
    let mut front_unused = FrameBuf::with_capacity(0);
    let mut wait = backoff.min;
    let mut lost = false;
    shared
        .source_size
        .store(((info.width as u64) << 32) | info.height as u64, Relaxed);
    while !shared.stopping() {
        let result = source.next(&mut |frame| {
            shared.stats.captured.fetch_add(1, Relaxed);
            back.store(frame);
            if slot.put(&mut back) {
                shared.stats.dropped.fetch_add(1, Relaxed);
            }
            shared.streaming.store(true, Relaxed);
        });
        match result {
            Ok(()) => {
                if lost {
                    log::info!("{}: streaming again", source.name());
                    lost = false;
                    wait = backoff.min;
                }
            }
            Err(CaptureError::Timeout(ms)) => {
                if !lost {
                    log::warn!("{}: no frame for {ms} ms", source.name());
                    lost = true;
                }
            }
            Err(CaptureError::Disconnected(why)) => {
                if !lost {
                    log::warn!(
                        "{}: lost ({why}); reconnecting with backoff up to {} ms",
                        source.name(),
                        backoff.max.as_millis()
                    );
                    lost = true;
                }
                source.stop();
                loop {
                    if sleep_unless_stopped(&shared, wait) {
                        return;
                    }
                    wait = (wait * 2).min(backoff.max);
                    match source.start() {
                        Ok(new_info) => {
                            if new_info != info {
                                log::info!(
                                    "{}: now {}x{} {}",
                                    source.name(),
                                    new_info.width,
                                    new_info.height,
                                    new_info.format
                                );
                                slot.resize(frame_bytes(&new_info), &mut back, &mut front_unused);
                                info = new_info;
                                shared.source_size.store(
                                    ((info.width as u64) << 32) | info.height as u64,
                                    Relaxed,
                                );
                            }
                            break;
                        }
                        Err(CaptureError::Unusable(why)) => {
                            shared.fail(format!("{}: {why}", source.name()));
                            slot.close();
                            return;
                        }
                        Err(_) => continue,
                    }
                }
            }
            Err(CaptureError::EndOfStream) => {
                log::info!("{}: end of stream", source.name());
                break;
            }
            Err(CaptureError::Unusable(why)) => {
                shared.fail(format!("{}: {why}", source.name()));
                break;
            }
        }
    }
    source.stop();
    slot.close();
}

/// Sleeps in small steps; true if a stop was requested meanwhile.
fn sleep_unless_stopped(shared: &Shared, d: Duration) -> bool {
    let step = Duration::from_millis(20);
    let mut left = d;
    while !left.is_zero() {
        if shared.stopping() {
            return true;
        }
        let s = left.min(step);
        std::thread::sleep(s);
        left -= s;
    }
    shared.stopping()
}

/// Everything the inference thread owns, built before the loop starts.
pub struct Inference {
    pub engine: Engine,
    pub ctx: Context,
    pub params: DecodeParams,
    pub publisher: Option<Arc<Publisher>>,
    /// Write each frame's detections to stdout as a JSON line.
    pub print: bool,
    /// Save every n-th frame, annotated, as PNG into this directory (a debugging aid:
    /// saving allocates).
    pub save_frames: Option<(std::path::PathBuf, u64)>,
}

pub fn inference_loop(
    mut inf: Inference,
    slot: Arc<LatestFrame>,
    shared: Arc<Shared>,
    initial: StreamInfo,
) {
    let meta = inf.engine.meta().clone();
    let mut front = FrameBuf::with_capacity(frame_bytes(&initial));
    let mut converter: Option<Converter> = None;
    // Frames go to the GPU preprocessor when the context has one for this format.
    let mut on_gpu = false;
    let mut post = Postprocessor::new(8192);
    let mut dets = Detections::new();
    let mut packet = vec![0u8; proto::MAX_DETECTIONS_LEN];
    let stdout = std::io::stdout();
    let publisher = inf.publisher.clone();
    let print = inf.print;
    let params = inf.params;
    if let Err(e) = inf.ctx.set_threshold(params.conf_threshold) {
        shared.fail(format!("inference failed: {e}"));
        return;
    }
    inf.ctx.run(|ctx| loop {
        match slot.take(&mut front, Duration::from_millis(100)) {
            Take::Closed => break,
            Take::Timeout => {
                if shared.stopping() {
                    break;
                }
                continue;
            }
            Take::Frame => {}
        }
        let frame = front.frame();
        let stale = converter.as_ref().is_none_or(|c| {
            (c.format(), c.letterbox.src_w, c.letterbox.src_h)
                != (frame.format, frame.width, frame.height)
        });
        if stale {
            match Converter::new(frame.format, frame.width, frame.height, &meta) {
                Ok(c) => {
                    let bytes = frame.format.frame_len(frame.width, frame.height, frame.stride);
                    on_gpu = match c.gpu_camera(frame.stride, bytes) {
                        Some(camera) => match ctx.set_camera(&camera) {
                            Ok(yes) => yes,
                            Err(e) => {
                                log::warn!("GPU preprocessing unavailable ({e}); converting on the CPU");
                                false
                            }
                        },
                        None => false,
                    };
                    converter = Some(c);
                }
                Err(e) => {
                    shared.fail(format!("camera frames cannot be converted: {e}"));
                    break;
                }
            }
        }
        let Some(conv) = converter.as_mut() else {
            break;
        };
        let gpu_frame = if on_gpu {
            ctx.camera_frame_mut()
                .filter(|dst| frame.data.len() >= dst.len())
                .map(|dst| dst.copy_from_slice(&frame.data[..dst.len()]))
                .is_some()
        } else {
            false
        };
        if !gpu_frame {
            if let Err(e) = conv.fill(&frame, ctx.input_mut()) {
                if shared.stats.convert_errors.fetch_add(1, Relaxed) == 0 {
                    log::warn!("frame {}: {e}", frame.sequence);
                }
                continue;
            }
        }
        let t0 = monotonic_ns();
        let ran = if gpu_frame {
            ctx.infer_camera()
        } else {
            ctx.infer()
        };
        if let Err(e) = ran {
            shared.fail(format!("inference failed: {e}"));
            break;
        }
        let engine_ns = monotonic_ns().saturating_sub(t0);
        shared.stats.engine_ns.fetch_add(engine_ns, Relaxed);
        ctx.detect(&mut post, &meta, &conv.letterbox, &params, &mut dets);
        let now = monotonic_ns();
        let info = proto::FrameInfo {
            sequence: frame.sequence,
            capture_ns: frame.timestamp_ns,
            publish_ns: now,
            source_width: frame.width as u32,
            source_height: frame.height as u32,
            dropped_since_last: 0,
        };
        let records = dets.iter().map(|d| proto::Detection {
            class: d.class,
            score: d.score,
            x1: d.x1,
            y1: d.y1,
            x2: d.x2,
            y2: d.y2,
        });
        match proto::encode_detections(&mut packet, &info, records) {
            Ok(len) => {
                if let Some(p) = &publisher {
                    p.publish(&mut packet[..len], &shared.stats);
                }
            }
            Err(e) => log::warn!("frame {}: cannot encode: {e:?}", frame.sequence),
        }
        if print {
            print_json(&mut stdout.lock(), &info, &dets, &meta);
        }
        if let Some((dir, every)) = &inf.save_frames {
            if frame.sequence.is_multiple_of((*every).max(1)) {
                if let Err(e) = save_annotated(dir, conv, &frame, &dets, &meta) {
                    log::warn!("saving frame {}: {e}", frame.sequence);
                }
            }
        }
        shared.stats.inferred.fetch_add(1, Relaxed);
        shared.stats.published.fetch_add(1, Relaxed);
        let latency = now.saturating_sub(frame.timestamp_ns);
        shared.stats.latency.record(latency);
        shared
            .stats
            .overhead
            .record(latency.saturating_sub(engine_ns));
        shared.stats.last_inferred_ns.store(now, Relaxed);
        if shared.frame_limit > 0 && shared.stats.inferred.load(Relaxed) >= shared.frame_limit {
            shared.stop.store(true, SeqCst);
            break;
        }
    });
    let _ = stdout.lock().flush();
}

/// The frame with its detections drawn, as `DIR/frame-NNNNNNNN.png`.
pub fn save_annotated(
    dir: &std::path::Path,
    conv: &mut Converter,
    frame: &crate::frame::Frame,
    dets: &Detections,
    meta: &edge_engine::model::ModelMeta,
) -> Result<(), String> {
    let (w, h) = (frame.width, frame.height);
    let mut rgb = vec![0u8; w * h * 3];
    conv.rgb8(frame, &mut rgb).map_err(|e| e.to_string())?;
    crate::annotate::draw(&mut rgb, w, h, dets, |c| meta.class_name(c).to_string());
    let mut png = Vec::new();
    image::ImageEncoder::write_image(
        image::codecs::png::PngEncoder::new(&mut png),
        &rgb,
        w as u32,
        h as u32,
        image::ExtendedColorType::Rgb8,
    )
    .map_err(|e| e.to_string())?;
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    edge_engine::atomic_file::write(&dir.join(format!("frame-{:08}.png", frame.sequence)), &png)
        .map_err(|e| e.to_string())
}

/// One JSON line per frame, written straight to stdout (no intermediate strings).
fn print_json(
    out: &mut impl Write,
    info: &proto::FrameInfo,
    dets: &Detections,
    meta: &edge_engine::model::ModelMeta,
) {
    let _ = write!(out, "{{\"sequence\":{},\"capture_ns\":{},\"publish_ns\":{},\"width\":{},\"height\":{},\"detections\":[", info.sequence, info.capture_ns, info.publish_ns, info.source_width, info.source_height);
    for (i, d) in dets.iter().enumerate() {
        let _ = write!(
            out,
            "{}{{\"class\":{},\"name\":\"{}\",\"score\":{:.4},\"box\":[{:.1},{:.1},{:.1},{:.1}]}}",
            if i == 0 { "" } else { "," },
            d.class,
            JsonStr(meta.class_name(d.class as usize)),
            d.score,
            d.x1,
            d.y1,
            d.x2,
            d.y2
        );
    }
    let _ = writeln!(out, "]}}");
}

/// A string escaped for JSON as it is written.
struct JsonStr<'a>(&'a str);

impl std::fmt::Display for JsonStr<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use std::fmt::Write as _;
        for c in self.0.chars() {
            match c {
                '"' => f.write_str("\\\"")?,
                '\\' => f.write_str("\\\\")?,
                c if (c as u32) < 0x20 => write!(f, "\\u{:04x}", c as u32)?,
                c => f.write_char(c)?,
            }
        }
        Ok(())
    }
}
