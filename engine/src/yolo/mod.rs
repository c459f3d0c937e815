//! From raw YOLO head outputs to boxes in source-image pixels: decode with a confidence
//! threshold, class-aware NMS, and the letterbox mapping back to the camera frame.

pub mod decode;
pub mod letterbox;
pub mod nms;

pub use decode::{Candidate, Postprocessor};
pub use letterbox::Letterbox;

/// Most detections one frame can report; fixes the size of [`Detections`].
pub const MAX_DETECTIONS: usize = 256;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Detection {
    pub class: u16,
    pub score: f32,
    /// Corners in source-image pixels.
    pub x1: f32,
    pub y1: f32,
    pub x2: f32,
    pub y2: f32,
}

pub type Detections = heapless::Vec<Detection, MAX_DETECTIONS>;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DecodeParams {
    /// Objectness x class probability a box needs.
    pub conf_threshold: f32,
    /// Boxes of one class overlapping a better one by more than this are dropped.
    pub iou_threshold: f32,
    /// At most this many detections (capped at [`MAX_DETECTIONS`]).
    pub max_detections: usize,
}

impl Default for DecodeParams {
    fn default() -> Self {
        DecodeParams {
            conf_threshold: 0.25,
            iou_threshold: 0.45,
            max_detections: 100,
        }
    }
}

pub fn iou(a: [f32; 4], b: [f32; 4]) -> f32 {
    let iw = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let ih = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = iw * ih;
    let union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
    if union > 0.0 {
        inter / union
    } else {
        0.0
    }
}
