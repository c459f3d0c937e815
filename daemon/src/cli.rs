//! Command-line interface: every flag and its help text, in one place.

use clap::{Args, Parser, Subcommand};
use edge_calib::Algorithm;
use edge_engine::import::darknet::weights::WeightsSource;
use edge_engine::plan::Precision;
use edge_engine::Device;
use edge_infer::calibration::Int8Options;
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "edge-infer",
    version,
    about = "Camera-to-detections daemon for NVIDIA Jetson, and the tools that build and inspect its engines",
    long_about = "edge-infer builds a device-specific inference engine from a Darknet model \
                  (build), shows what is inside one (inspect), measures it (bench) and runs it on \
                  one input (infer)."
)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Without a command: run the daemon (camera -> engine -> detections on the socket)
    #[command(flatten)]
    pub run: RunArgs,
}

/// The daemon's options; each overrides the same key of the --config file.
#[derive(Args, Debug, Default)]
pub struct RunArgs {
    /// YAML config file (configs/edge-infer.yaml documents every key)
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Prebuilt engine file
    #[arg(long, value_name = "E.engine")]
    pub engine: Option<PathBuf>,
    /// Darknet cfg to build (and cache) the engine from
    #[arg(long, value_name = "M.cfg")]
    pub model: Option<PathBuf>,
    /// With --model: .weights file or random[:SEED]
    #[arg(long, value_name = "W|random[:SEED]")]
    pub weights: Option<String>,
    /// With --model: class names file
    #[arg(long, value_name = "FILE")]
    pub names: Option<PathBuf>,
    /// /dev/videoN, synthetic:shapes[:SEED], an image directory or a .y4m file
    #[arg(long, value_name = "SOURCE")]
    pub camera: Option<String>,
    /// Camera frame width to ask for
    #[arg(long)]
    pub width: Option<usize>,
    /// Camera frame height to ask for
    #[arg(long)]
    pub height: Option<usize>,
    /// Camera frame rate to ask for (0: as fast as the source goes)
    #[arg(long)]
    pub fps: Option<f32>,
    /// Camera pixel format: yuyv, uyvy, nv12, mjpeg, rgb24, bgr24, grey
    #[arg(long)]
    pub format: Option<String>,
    /// Socket the detections are published on
    #[arg(long, value_name = "PATH")]
    pub socket: Option<PathBuf>,
    /// Also print each frame's detections to stdout as a JSON line
    #[arg(long)]
    pub print: bool,
    /// Stop after this many frames
    #[arg(long, value_name = "N")]
    pub frames: Option<u64>,
    /// Save annotated frames (boxes and labels) as PNG into this directory
    #[arg(long, value_name = "DIR")]
    pub save_frames: Option<PathBuf>,
    /// With --save-frames: save every N-th frame
    #[arg(long, value_name = "N", default_value_t = 30)]
    pub save_every: u64,
    /// Engine precision when building from --model
    #[arg(long, value_name = "fp32|fp16|int8")]
    pub precision: Option<String>,
    /// With --precision int8: the calibration cache (made by `edge-infer calibrate`)
    #[arg(long, value_name = "FILE")]
    pub calib_cache: Option<PathBuf>,
    /// Where the engine runs: cpu or cuda[:N]
    #[arg(long)]
    pub device: Option<String>,
    /// CPU worker threads (0: one per core)
    #[arg(long)]
    pub threads: Option<usize>,
    /// Directory for engines built from --model
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Confidence threshold
    #[arg(long)]
    pub conf: Option<f32>,
    /// error, warn, info, debug or trace
    #[arg(long)]
    pub log_level: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Build an engine (plan) for this device from a Darknet cfg and weights
    Build(BuildArgs),
    /// Show an engine's device fingerprint, layers after fusion, tactics and memory
    Inspect(InspectArgs),
    /// Measure inference latency (median, p99) and throughput
    Bench(BenchArgs),
    /// Run one image or tensor through an engine and print the detections
    Infer(InferArgs),
    /// Write a Darknet .weights file of seeded random weights for a cfg (for other frameworks)
    Weights(WeightsArgs),
    /// Connect to a running daemon and print its detections
    Watch(WatchArgs),
    /// List V4L2 cameras with their formats, frame sizes and rates
    Cameras,
    /// Make datasets of synthetic scenes (the demo model's training and test data)
    #[command(subcommand)]
    Dataset(DatasetCommand),
    /// Measure an engine's accuracy on a dataset: mAP@0.5, mAP@0.5:0.95, per-class AP
    Eval(EvalArgs),
    /// Measure activation ranges on representative frames and write an INT8 calibration cache
    Calibrate(CalibrateArgs),
}

#[derive(Args, Debug)]
pub struct CalibrateArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Calibration frames, through the runtime's own preprocessing: an image directory,
    /// synthetic:scenes[:SEED] (dataset scenes), synthetic:shapes[:SEED], a .y4m file or a camera
    #[arg(long, value_name = "DIR|synthetic:scenes[:SEED]|F.y4m|/dev/videoN")]
    pub images: String,
    /// Frames to use (fewer if the source ends first)
    #[arg(long, default_value_t = 500)]
    pub count: usize,
    /// Frames per step, each on its own engine context: run at once on the CPU backend (the
    /// worker threads split among them), one after the other on CUDA. The cache is the same
    /// for any N
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub batch: u32,
    /// How each tensor's range is chosen: entropy (TensorRT's EntropyCalibration2),
    /// percentile[:P] (default 99.99) or minmax
    #[arg(
        long,
        default_value = "entropy",
        value_name = "entropy|percentile[:P]|minmax"
    )]
    pub algorithm: Algorithm,
    /// Calibration cache to write (atomically)
    #[arg(long, value_name = "FILE")]
    pub cache: PathBuf,
    /// The FP32 engine that is measured runs here
    #[arg(long, default_value = "cpu", value_name = "cpu|cuda[:N]")]
    pub device: Device,
    /// CPU worker threads (0: one per core)
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
}

/// INT8 settings of `build` and of the commands that build in memory from --model.
#[derive(Args, Debug, Clone)]
pub struct Int8Args {
    /// INT8: calibration cache, reused when it matches the graph, written when missing
    #[arg(long, value_name = "FILE")]
    pub calib_cache: Option<PathBuf>,
    /// INT8: frames to calibrate on when the cache is missing (as `calibrate --images`)
    #[arg(long, value_name = "SOURCE")]
    pub calib_images: Option<String>,
    /// INT8: calibration frames to use
    #[arg(long, default_value_t = 500, value_name = "N")]
    pub calib_count: usize,
    /// INT8: calibration frames per step (as `calibrate --batch`)
    #[arg(long, default_value_t = 1, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=256))]
    pub calib_batch: u32,
    /// INT8: range algorithm when calibrating
    #[arg(
        long,
        default_value = "entropy",
        value_name = "entropy|percentile[:P]|minmax"
    )]
    pub calib_algorithm: Algorithm,
    /// INT8: calibrate again and overwrite the cache, even one made for another graph
    #[arg(long)]
    pub recalibrate: bool,
    /// INT8: convs kept in floating point, by layer name or index (default: the convs writing
    /// the outputs; `none` keeps none but the conv reading the input)
    #[arg(long, value_delimiter = ',', value_name = "LAYER,...")]
    pub int8_exclude: Option<Vec<String>>,
}

#[derive(Subcommand, Debug)]
pub enum DatasetCommand {
    /// Write seeded synthetic scenes as PNG images with YOLO-format labels
    Synth(SynthArgs),
}

#[derive(Args, Debug)]
pub struct SynthArgs {
    /// Output directory (images/, labels/, classes.names)
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Number of scenes
    #[arg(long, default_value_t = 1000)]
    pub count: u64,
    /// Seed: scene i of seed s is always the same picture
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Image size
    #[arg(long, value_name = "WxH", value_parser = parse_any_size, default_value = "416x416")]
    pub size: (usize, usize),
}

#[derive(Args, Debug)]
pub struct EvalArgs {
    #[command(flatten)]
    pub engine: EngineArgs,
    /// A dataset directory (images/, labels/) as `dataset synth` writes
    #[arg(long, value_name = "DIR")]
    pub dataset: PathBuf,
    /// Confidence threshold for candidate boxes (low, as in COCO evaluation)
    #[arg(long, default_value_t = 0.001)]
    pub conf: f32,
    /// NMS IoU threshold
    #[arg(long, default_value_t = 0.45)]
    pub iou: f32,
    /// Print JSON instead of a table
    #[arg(long)]
    pub json: bool,
    /// Also write every detection as JSON (image index, class, score, box) to this file
    #[arg(long, value_name = "FILE")]
    pub dump: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct WatchArgs {
    /// The daemon's socket (default: where the daemon puts it)
    #[arg(long, value_name = "PATH")]
    pub socket: Option<PathBuf>,
    /// Stop after this many messages
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,
    /// One JSON line per message
    #[arg(long)]
    pub json: bool,
}

/// A Darknet model: cfg, weights, and what the cfg does not say.
#[derive(Args, Debug, Clone)]
pub struct ModelArgs {
    /// Darknet .cfg file
    #[arg(long, value_name = "M.cfg")]
    pub model: PathBuf,
    /// Darknet .weights file, or random[:SEED] for seeded random weights of the right shapes
    #[arg(long, value_name = "W|random[:SEED]", default_value = "random")]
    pub weights: WeightsSource,
    /// Class names, one per line (default: <model>.names beside the cfg, if there is one)
    #[arg(long, value_name = "FILE")]
    pub names: Option<PathBuf>,
    /// Network input size, replacing the cfg's width and height
    #[arg(long, value_name = "WxH", value_parser = parse_size)]
    pub size: Option<(usize, usize)>,
}

#[derive(Args, Debug)]
pub struct BuildArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Where the engine runs
    #[arg(long, default_value = "cpu", value_name = "cpu|cuda[:N]")]
    pub device: Device,
    /// Arithmetic precision of the engine
    #[arg(long, default_value = "fp32", value_name = "fp32|fp16|int8")]
    pub precision: Precision,
    /// Engine file to write (atomically)
    #[arg(long, short, value_name = "E.engine")]
    pub output: PathBuf,
    #[command(flatten)]
    pub int8: Int8Args,
}

#[derive(Args, Debug)]
pub struct InspectArgs {
    /// Engine file
    #[arg(value_name = "E.engine")]
    pub engine: PathBuf,
}

/// An engine from a file, or built in memory from a model.
#[derive(Args, Debug)]
#[group(required = true, multiple = false)]
pub struct EngineSource {
    /// Engine file made by `edge-infer build`
    #[arg(long, value_name = "E.engine")]
    pub engine: Option<PathBuf>,
    /// Build an engine in memory from this Darknet cfg instead
    #[arg(long, value_name = "M.cfg", requires = "weights")]
    pub model: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct EngineArgs {
    #[command(flatten)]
    pub source: EngineSource,
    /// With --model: .weights file or random[:SEED]
    #[arg(long, value_name = "W|random[:SEED]")]
    pub weights: Option<WeightsSource>,
    /// With --model: network input size
    #[arg(long, value_name = "WxH", value_parser = parse_size)]
    pub size: Option<(usize, usize)>,
    /// With --model: class names file
    #[arg(long, value_name = "FILE")]
    pub names: Option<PathBuf>,
    /// CPU worker threads (0: one per core)
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// With --model: where the engine runs
    #[arg(long, default_value = "cpu", value_name = "cpu|cuda[:N]")]
    pub device: Device,
    /// With --model: arithmetic precision
    #[arg(long, default_value = "fp32", value_name = "fp32|fp16|int8")]
    pub precision: Precision,
    #[command(flatten)]
    pub int8: Int8Args,
}

#[derive(Args, Debug)]
pub struct BenchArgs {
    #[command(flatten)]
    pub engine: EngineArgs,
    /// Timed iterations
    #[arg(long, default_value_t = 100)]
    pub iterations: usize,
    /// Untimed iterations first
    #[arg(long, default_value_t = 5)]
    pub warmup: usize,
    /// Print one JSON object instead of a table
    #[arg(long)]
    pub json: bool,
    /// Also time every layer and print a table (like trtexec --dumpProfile)
    #[arg(long)]
    pub profile: bool,
}

#[derive(Args, Debug)]
pub struct InferArgs {
    #[command(flatten)]
    pub engine: EngineArgs,
    /// An image (PNG, JPEG), letterboxed into the network input, or a .npy float32 tensor
    /// already in network-input form ([1,H,W,3] NHWC or [1,3,H,W] NCHW)
    #[arg(long, value_name = "IMAGE|TENSOR.npy")]
    pub input: PathBuf,
    /// Also write each head's raw output as DIR/head<i>.npy ([1,C,H,W], like PyTorch)
    #[arg(long, value_name = "DIR")]
    pub dump_raw: Option<PathBuf>,
    /// Confidence threshold (objectness x class probability)
    #[arg(long, default_value_t = 0.25)]
    pub conf: f32,
    /// NMS IoU threshold
    #[arg(long, default_value_t = 0.45)]
    pub iou: f32,
    /// Print JSON instead of a table
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct WeightsArgs {
    /// Darknet .cfg file
    #[arg(long, value_name = "M.cfg")]
    pub model: PathBuf,
    /// Seed of the random weights (the same as --weights random:SEED elsewhere)
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// .weights file to write
    #[arg(long, short, value_name = "W.weights")]
    pub output: PathBuf,
}

/// WxH of any positive size up to 8192.
fn parse_any_size(s: &str) -> Result<(usize, usize), String> {
    let (w, h) = s
        .split_once(['x', 'X'])
        .ok_or_else(|| format!("'{s}': expected WxH, e.g. 416x416"))?;
    let dim = |v: &str| match v.trim().parse::<usize>() {
        Ok(n) if (16..=8192).contains(&n) => Ok(n),
        _ => Err(format!("'{s}': sizes must be 16 to 8192")),
    };
    Ok((dim(w)?, dim(h)?))
}

fn parse_size(s: &str) -> Result<(usize, usize), String> {
    let (w, h) = s
        .split_once(['x', 'X'])
        .ok_or_else(|| format!("'{s}': expected WxH, e.g. 416x416"))?;
    let dim = |v: &str| -> Result<usize, String> {
        match v.trim().parse::<usize>() {
            Ok(n) if n > 0 && n % 32 == 0 && n <= 8192 => Ok(n),
            _ => Err(format!(
                "'{s}': sizes must be multiples of 32 from 32 to 8192"
            )),
        }
    };
    Ok((dim(h)?, dim(w)?))
}

impl Int8Args {
    pub fn options(&self, threads: usize) -> Int8Options {
        Int8Options {
            cache: self.calib_cache.clone(),
            images: self.calib_images.clone(),
            count: self.calib_count,
            batch: self.calib_batch as usize,
            algorithm: self.calib_algorithm,
            recalibrate: self.recalibrate,
            exclude: self.int8_exclude.clone(),
            threads,
        }
    }
}
