//! INT8 calibration for `edge-infer calibrate` and every INT8 build: running the FP32 engine
//! over calibration frames through the runtime's own preprocessing, and the cache rules: a
//! cache made for this graph is reused without calibrating, a missing one is made and written
//! (where frames are given), one made for another graph is refused unless `recalibrate`.

use crate::capture::{self, CaptureError, SourceOptions};
use crate::convert::Converter;
use crate::frame::Frame;
use edge_calib::{Algorithm, CalibCache, Collector, Header};
use edge_engine::builder::Int8Settings;
use edge_engine::graph::Graph;
use edge_engine::plan::Precision;
use edge_engine::quant::graph_hash;
use edge_engine::{Builder, Context, Device, Engine, Error, Result};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Where an INT8 build's scales come from.
#[derive(Clone, Debug, Default)]
pub struct Int8Options {
    /// The calibration cache: reused when it matches, written when made.
    pub cache: Option<PathBuf>,
    /// Frames to calibrate on when the cache is missing (or `recalibrate`).
    pub images: Option<String>,
    pub count: usize,
    pub algorithm: Algorithm,
    pub recalibrate: bool,
    /// Convs kept float (`Int8Settings::exclude`); "none" entries are dropped.
    pub exclude: Option<Vec<String>>,
    /// CPU workers of the FP32 engine that is measured (0: every core).
    pub threads: usize,
    /// Frames per calibration step (`calibrate`; 0 counts as 1).
    pub batch: usize,
}

/// The scales an INT8 build of `graph` uses, by the cache rules above.
pub fn int8_settings(device: Device, a: &Int8Options, graph: &Graph) -> Result<Int8Settings> {
    let Some(path) = &a.cache else {
        return Err(Error::Input(
            "--precision int8 needs --calib-cache FILE (made by `edge-infer calibrate`, or made \
             here with --calib-images)"
                .into(),
        ));
    };
    let hash = graph_hash(graph);
    let reuse = path.exists() && !a.recalibrate;
    let cache = if reuse {
        let cache = CalibCache::read(path).map_err(|e| Error::Input(e.to_string()))?;
        match &cache.header {
            Header::Edge { graph_hash: h, .. } if *h != hash => {
                return Err(Error::Input(format!(
                    "{}: this calibration cache was made for another graph (hash {h:016x}; this \
                     model and its weights hash to {hash:016x}); pass --recalibrate with \
                     --calib-images to overwrite it",
                    path.display()
                )))
            }
            Header::Edge { algorithm, .. } => eprintln!(
                "{}: calibration cache matches the graph ({algorithm}); reused, no calibration run",
                path.display()
            ),
            Header::TensorRt {
                version,
                calibrator,
            } => eprintln!(
                "warning: {}: a TensorRT cache (TRT-{version}-{calibrator}) has no graph hash: only its \
                 tensor names are checked",
                path.display()
            ),
        }
        cache
    } else {
        let Some(images) = &a.images else {
            return Err(Error::Input(format!(
                "{}: {}; give --calib-images to calibrate",
                path.display(),
                if path.exists() {
                    "--recalibrate needs calibration frames"
                } else {
                    "no calibration cache there yet (make one with `edge-infer calibrate --cache \
                     FILE`)"
                }
            )));
        };
        let started = Instant::now();
        let frames = Frames {
            images,
            count: a.count,
            batch: a.batch,
        };
        let cache = calibrate(graph, device, a.threads, &frames, &a.algorithm)?;
        cache.write(path).map_err(|e| Error::Input(e.to_string()))?;
        eprintln!(
            "{}: calibrated on {images} in {:.1} s and written",
            path.display(),
            started.elapsed().as_secs_f64()
        );
        cache
    };
    let scales = cache.scales.iter().cloned().collect();
    let missing = missing_tensors(graph, &cache);
    if !missing.is_empty() {
        return Err(Error::Input(format!(
            "{}: no scale for {} tensor(s) of this graph: {}",
            path.display(),
            missing.len(),
            missing.join(", ")
        )));
    }
    Ok(Int8Settings {
        scales,
        exclude: a.exclude.clone().map(|list| {
            list.into_iter()
                .filter(|e| e != "none" && !e.is_empty())
                .collect()
        }),
    })
}

/// The measured tensors of `graph` the cache has no line for.
fn missing_tensors(graph: &Graph, cache: &CalibCache) -> Vec<String> {
    edge_engine::quant::Quantization::calibrated_tensors(graph)
        .into_iter()
        .map(|t| graph.tensors[t].name.clone())
        .filter(|n| cache.get(n).is_none())
        .collect()
}

/// What a calibration runs on: `count` frames of `images`, `batch` at a time.
pub struct Frames<'a> {
    pub images: &'a str,
    pub count: usize,
    pub batch: usize,
}

/// Calibration frames in steps of as many frames as there are engine contexts: each frame fills
/// the next context's input, and a full step (or the last, partial one) runs, on the CPU backend
/// at once (one thread per context, the worker threads split among them), on CUDA one after the
/// other; then every frame of it goes into the histograms in frame order, so the cache does not
/// depend on the step size.
struct Steps {
    ctxs: Vec<Context>,
    filled: usize,
    parallel: bool,
    collector: Collector,
}

impl Steps {
    fn next_input(&mut self) -> &mut [f32] {
        self.ctxs[self.filled].input_mut()
    }

    /// The input `next_input` gave is filled: runs the step once it is full.
    fn filled_one(&mut self) -> Result<()> {
        self.filled += 1;
        if self.filled == self.ctxs.len() {
            self.run()?;
        }
        Ok(())
    }

    fn run(&mut self) -> Result<()> {
        let step = &mut self.ctxs[..self.filled];
        if self.parallel && step.len() > 1 {
            std::thread::scope(|s| {
                let runs: Vec<_> = step.iter_mut().map(|c| s.spawn(|| c.infer())).collect();
                runs.into_iter().try_for_each(|r| {
                    r.join().unwrap_or_else(|_| {
                        Err(Error::Device("a calibration worker thread panicked".into()))
                    })
                })
            })?;
        } else {
            step.iter_mut().try_for_each(Context::infer)?;
        }
        for ctx in step {
            self.collector.add(ctx)?;
        }
        self.filled = 0;
        Ok(())
    }
}

/// Runs `frames` through the FP32 engine of `graph` on `device` and the runtime's
/// preprocessing, and returns the cache for `algorithm`.
pub fn calibrate(
    graph: &Graph,
    device: Device,
    threads: usize,
    frames: &Frames,
    algorithm: &Algorithm,
) -> Result<CalibCache> {
    let Frames {
        images,
        count,
        batch,
    } = *frames;
    let builder = Builder {
        device,
        precision: Precision::Fp32,
        ..Builder::default()
    };
    let plan = builder.build_optimized(edge_calib::collect::measurable(graph), &mut |_| {})?;
    let gpu = match device {
        Device::Cuda(n) => n,
        Device::Cpu => 0,
    };
    let engine = Engine::from_plan_on(plan, gpu)?;
    let meta = engine.meta().clone();
    let batch = batch.clamp(1, count.max(1));
    let parallel = device == Device::Cpu;
    let workers = if parallel {
        let total = match threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        (total / batch).max(1)
    } else {
        threads
    };
    let mut steps = Steps {
        ctxs: (0..batch)
            .map(|_| engine.context(workers))
            .collect::<Result<_>>()?,
        filled: 0,
        parallel,
        collector: Collector::new(graph),
    };
    let mut converter: Option<Converter> = None;
    let show = std::io::stderr().is_terminal();
    let started = Instant::now();
    let mut frame_done = |frame: &Frame, what: &dyn Fn() -> String| -> Result<()> {
        if converter.as_ref().is_none_or(|c| {
            c.format() != frame.format
                || (c.letterbox.src_w, c.letterbox.src_h) != (frame.width, frame.height)
        }) {
            converter = Some(
                Converter::new(frame.format, frame.width, frame.height, &meta)
                    .map_err(|e| Error::Input(format!("{}: {e}", what())))?,
            );
        }
        let conv = converter.as_mut().expect("set above");
        conv.fill(frame, steps.next_input())
            .map_err(|e| Error::Input(format!("{}: {e}", what())))?;
        let before = steps.collector.frames();
        steps.filled_one()?;
        let n = steps.collector.frames();
        if show && (n / 25 > before / 25 || n == count) {
            eprint!(
                "\rcalibrating: frame {n} of {count} ({:.1} s)",
                started.elapsed().as_secs_f64()
            );
        }
        Ok(())
    };
    let path = Path::new(images);
    if path.is_dir() {
        // A dataset (`edge-infer dataset synth`) keeps its pictures in images/.
        let dir = match path.join("images") {
            d if d.is_dir() => d,
            _ => path.to_path_buf(),
        };
        let files = capture::images::image_files(&dir)
            .map_err(|e| Error::Input(format!("calibration frames: {e}")))?;
        for file in files.iter().take(count) {
            let img = image::open(file)
                .map_err(|e| Error::Input(format!("{}: {e}", file.display())))?
                .to_rgb8();
            frame_done(&Frame::still(&img, 0), &|| file.display().to_string())?;
        }
    } else {
        let opts = SourceOptions {
            width: meta.input.w,
            height: meta.input.h,
            fps: 0.0,
            looped: false,
            ..SourceOptions::default()
        };
        let unusable = |e: CaptureError| Error::Input(format!("calibration frames {images}: {e}"));
        let mut source = capture::open(images, &opts).map_err(unusable)?;
        source.start().map_err(unusable)?;
        let mut failed = None;
        for i in 0..count {
            let got = source.next(&mut |frame| {
                if failed.is_none() {
                    failed = frame_done(frame, &|| format!("{images} frame {i}")).err();
                }
            });
            match got {
                Ok(()) => {}
                Err(CaptureError::EndOfStream) => break,
                Err(e) => {
                    source.stop();
                    return Err(unusable(e));
                }
            }
            if let Some(e) = failed.take() {
                source.stop();
                return Err(e);
            }
        }
        source.stop();
    }
    if steps.filled > 0 {
        steps.run()?;
    }
    let collector = steps.collector;
    if show {
        eprintln!();
    }
    if collector.frames() == 0 {
        return Err(Error::Input(format!("{images}: no calibration frames")));
    }
    eprintln!(
        "calibration: {} frames through the fp32 engine in {:.1} s ({batch} per step{})",
        collector.frames(),
        started.elapsed().as_secs_f64(),
        if parallel && batch > 1 {
            format!(", at once, {workers} worker thread(s) each")
        } else {
            String::new()
        }
    );
    Ok(CalibCache {
        header: Header::Edge {
            algorithm: algorithm.name(),
            graph_hash: graph_hash(graph),
        },
        scales: collector.scales(algorithm),
    })
}
