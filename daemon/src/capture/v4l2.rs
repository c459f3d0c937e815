//! V4L2 cameras (being written).

use super::{CaptureError, FrameSource, SourceOptions, StreamInfo};
use crate::frame::Frame;

pub struct V4l2 {
    path: String,
}

impl V4l2 {
    pub fn new(path: &str, _opts: &SourceOptions) -> V4l2 {
        V4l2 { path: path.into() }
    }
}

impl FrameSource for V4l2 {
    fn name(&self) -> &str {
        &self.path
    }
    fn start(&mut self) -> Result<StreamInfo, CaptureError> {
        Err(CaptureError::Unusable(
            "V4L2 capture is not in this build yet".into(),
        ))
    }
    fn next(&mut self, _f: &mut dyn FnMut(&Frame)) -> Result<(), CaptureError> {
        Err(CaptureError::Unusable(
            "V4L2 capture is not in this build yet".into(),
        ))
    }
    fn stop(&mut self) {}
}
