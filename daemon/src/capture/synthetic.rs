//! `synthetic:shapes[:SEED]`: moving shapes with known ground truth, rendered in any size,
//! rate and packed pixel format. The same scenes the demo model is trained on.
//! `synthetic:scenes[:SEED]`: frame i is scene i of the dataset `edge-infer dataset synth
//! --seed SEED` writes, so daemon and `eval` can be compared frame by frame.

use super::{CaptureError, FrameSource, Pacer, SourceOptions, StreamInfo};
use crate::clock::monotonic_ns;
use crate::convert::encode_rgb;
use crate::frame::{Frame, PixelFormat};
use crate::scene::{Scene, Truth};

pub struct Synthetic {
    name: String,
    scene: Scene,
    format: PixelFormat,
    fps: f32,
    stride: usize,
    rgb: Vec<u8>,
    packed: Vec<u8>,
    sequence: u64,
    pacer: Pacer,
    truth: Vec<Truth>,
    /// `Some(seed)`: a still dataset scene per frame instead of one moving scene.
    dataset_seed: Option<u64>,
}

impl Synthetic {
    /// `kind` is what follows "synthetic:": "shapes" or "shapes:SEED".
    pub fn new(kind: &str, opts: &SourceOptions) -> Result<Synthetic, CaptureError> {
        let (mode, seed) = match kind.split_once(':') {
            None => (kind, opts.seed),
            Some((m, s)) => (
                m,
                s.parse().map_err(|_| {
                    CaptureError::Unusable(format!("synthetic:{kind}: the seed must be an integer"))
                })?,
            ),
        };
        let dataset_seed = match mode {
            "shapes" => None,
            "scenes" => Some(seed),
            _ => {
                return Err(CaptureError::Unusable(format!(
                    "synthetic:{kind}: the synthetic camera is synthetic:shapes[:SEED] or synthetic:scenes[:SEED]"
                )))
            }
        };
        let format = opts.format.unwrap_or(PixelFormat::Yuyv);
        if format == PixelFormat::Mjpeg {
            return Err(CaptureError::Unusable(
                "the synthetic camera does not produce MJPEG".into(),
            ));
        }
        let (w, h) = (opts.width, opts.height);
        if w < 16 || h < 16 || w > 8192 || h > 8192 || w % 2 != 0 {
            return Err(CaptureError::Unusable(format!(
                "synthetic camera size {w}x{h}: even width, 16..8192"
            )));
        }
        let stride = w * format.bytes_per_pixel();
        Ok(Synthetic {
            name: format!("synthetic:{mode}:{seed}"),
            scene: match dataset_seed {
                Some(s) => crate::dataset::scene(s, 0, w, h),
                None => Scene::random(seed, w, h, 6),
            },
            format,
            fps: opts.fps,
            stride,
            rgb: vec![0; w * h * 3],
            packed: vec![0; format.frame_len(w, h, stride)],
            sequence: 0,
            pacer: Pacer::new(opts.fps),
            truth: Vec::with_capacity(16),
            dataset_seed,
        })
    }

    /// Ground truth of the frame last handed out.
    pub fn truth(&self) -> &[Truth] {
        &self.truth
    }
}

impl FrameSource for Synthetic {
    fn name(&self) -> &str {
        &self.name
    }

    fn start(&mut self) -> Result<StreamInfo, CaptureError> {
        Ok(StreamInfo {
            format: self.format,
            width: self.scene.width,
            height: self.scene.height,
            fps: self.fps,
        })
    }

    fn next(&mut self, f: &mut dyn FnMut(&Frame)) -> Result<(), CaptureError> {
        self.pacer.wait();
        self.scene.render(&mut self.rgb);
        self.scene.truth(&mut self.truth);
        let (w, h) = (self.scene.width, self.scene.height);
        encode_rgb(&self.rgb, w, h, self.format, self.stride, &mut self.packed);
        f(&Frame {
            format: self.format,
            width: w,
            height: h,
            stride: self.stride,
            data: &self.packed,
            timestamp_ns: monotonic_ns(),
            sequence: self.sequence,
        });
        self.sequence += 1;
        match self.dataset_seed {
            // Scenes own a few shapes: a new one per frame is a small allocation, accepted in
            // this test mode (the moving mode allocates nothing).
            Some(s) => self.scene = crate::dataset::scene(s, self.sequence, w, h),
            None => self.scene.step(),
        }
        Ok(())
    }

    fn stop(&mut self) {}
}
