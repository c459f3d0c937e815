//! What a plan knows about the model beyond its graph: classes, YOLO heads, preprocessing.

use crate::graph::{Shape, TensorId};

#[derive(Clone, Debug, PartialEq)]
pub struct YoloHead {
    /// The graph output holding this head's raw (pre-sigmoid) predictions.
    pub tensor: TensorId,
    /// Anchor (w, h) in network-input pixels, one per box this head predicts.
    pub anchors: Vec<(f32, f32)>,
    pub classes: usize,
    pub scale_x_y: f32,
}

/// How a camera frame becomes the network input: letterbox into `input`, then
/// `(pixel / 255 - mean) / std` per RGB channel.
#[derive(Clone, Debug, PartialEq)]
pub struct Preprocess {
    pub letterbox: bool,
    /// Fill of the letterbox bars, in normalized input units.
    pub pad_value: f32,
    pub mean: [f32; 3],
    pub std: [f32; 3],
}

impl Default for Preprocess {
    /// Darknet's: letterbox with grey bars, inputs in [0, 1].
    fn default() -> Self {
        Preprocess {
            letterbox: true,
            pad_value: 0.5,
            mean: [0.0; 3],
            std: [1.0; 3],
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct ModelMeta {
    pub name: String,
    pub input: Shape,
    pub class_names: Vec<String>,
    pub heads: Vec<YoloHead>,
    pub preprocess: Preprocess,
}

impl ModelMeta {
    pub fn classes(&self) -> usize {
        self.heads.first().map_or(0, |h| h.classes)
    }

    pub fn class_name(&self, class: usize) -> &str {
        self.class_names.get(class).map_or("?", String::as_str)
    }
}
