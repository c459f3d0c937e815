//! Frame sources: V4L2 cameras, the synthetic camera, image directories and Y4M files, all
//! behind one trait so the pipeline and its tests do not care which.

pub mod images;
pub mod synthetic;
pub mod v4l2;
pub mod y4m;

use crate::frame::{Frame, PixelFormat};

/// What a started source delivers.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StreamInfo {
    pub format: PixelFormat,
    pub width: usize,
    pub height: usize,
    /// Frames per second the source aims at (0: as fast as it can).
    pub fps: f32,
}

#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// The device went away or failed; the pipeline retries `start` with backoff.
    #[error("{0}")]
    Disconnected(String),
    /// A file source played once and is done.
    #[error("end of stream")]
    EndOfStream,
    /// The source cannot be used as configured (unsupported format, bad file); not retried.
    #[error("{0}")]
    Unusable(String),
    #[error("no frame within {0} ms")]
    Timeout(u64),
}

pub trait FrameSource: Send {
    /// For logs: "/dev/video0", "synthetic:shapes", a path.
    fn name(&self) -> &str;
    /// Opens and starts streaming. After a `Disconnected` error the pipeline calls it again.
    fn start(&mut self) -> Result<StreamInfo, CaptureError>;
    /// Waits for the next frame and hands it to `f`.
    fn next(&mut self, f: &mut dyn FnMut(&Frame)) -> Result<(), CaptureError>;
    /// Stops streaming and releases the device.
    fn stop(&mut self);
}

/// Parses a `--camera` value into a source.
pub fn open(spec: &str, opts: &SourceOptions) -> Result<Box<dyn FrameSource>, CaptureError> {
    if let Some(rest) = spec.strip_prefix("synthetic:") {
        return Ok(Box::new(synthetic::Synthetic::new(rest, opts)?));
    }
    let path = std::path::Path::new(spec);
    if spec.starts_with("/dev/") {
        return Ok(Box::new(v4l2::V4l2::new(spec, opts)));
    }
    if path.is_dir() {
        return Ok(Box::new(images::ImageDir::new(path, opts)?));
    }
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("y4m"))
    {
        return Ok(Box::new(y4m::Y4m::new(path, opts)?));
    }
    Err(CaptureError::Unusable(format!(
        "camera '{spec}': expected /dev/videoN, synthetic:shapes, an image directory or a .y4m file"
    )))
}

/// What the config asks of a source; each source uses what applies to it.
#[derive(Clone, Debug, PartialEq)]
pub struct SourceOptions {
    pub width: usize,
    pub height: usize,
    pub fps: f32,
    /// Preferred pixel format (V4L2 negotiation, synthetic output).
    pub format: Option<PixelFormat>,
    /// V4L2 mmap buffers.
    pub buffers: u32,
    /// File sources: start again at the end.
    pub looped: bool,
    pub seed: u64,
}

impl Default for SourceOptions {
    fn default() -> Self {
        SourceOptions {
            width: 1280,
            height: 720,
            fps: 30.0,
            format: None,
            buffers: 4,
            looped: true,
            seed: 1,
        }
    }
}

/// Paces a source to `fps` by sleeping until each frame's due time.
pub struct Pacer {
    period: std::time::Duration,
    next: Option<std::time::Instant>,
}

impl Pacer {
    pub fn new(fps: f32) -> Pacer {
        let period = if fps > 0.0 {
            std::time::Duration::from_secs_f64(1.0 / fps as f64)
        } else {
            std::time::Duration::ZERO
        };
        Pacer { period, next: None }
    }

    pub fn wait(&mut self) {
        if self.period.is_zero() {
            return;
        }
        let now = std::time::Instant::now();
        let due = self.next.unwrap_or(now);
        if due > now {
            std::thread::sleep(due - now);
        }
        // Late frames do not make the next ones come faster.
        self.next = Some(due.max(now) + self.period);
    }
}
