//! A directory of PNG/JPEG images as a camera, in name order, looped or once. Each image is
//! decoded when it is due (this source is for tests and demos, not the zero-allocation path).

use super::{CaptureError, FrameSource, Pacer, SourceOptions, StreamInfo};
use crate::clock::monotonic_ns;
use crate::frame::{Frame, PixelFormat};
use std::path::{Path, PathBuf};

pub struct ImageDir {
    name: String,
    files: Vec<PathBuf>,
    next: usize,
    looped: bool,
    fps: f32,
    pacer: Pacer,
    size: (usize, usize),
    sequence: u64,
}

impl ImageDir {
    pub fn new(dir: &Path, opts: &SourceOptions) -> Result<ImageDir, CaptureError> {
        Ok(ImageDir {
            name: dir.display().to_string(),
            files: image_files(dir)?,
            next: 0,
            looped: opts.looped,
            fps: opts.fps,
            pacer: Pacer::new(opts.fps),
            size: (0, 0),
            sequence: 0,
        })
    }

    fn load(&self, i: usize) -> Result<image::RgbImage, CaptureError> {
        let path = &self.files[i];
        image::open(path)
            .map(|img| img.to_rgb8())
            .map_err(|e| CaptureError::Unusable(format!("{}: {e}", path.display())))
    }
}

/// The PNG and JPEG files of `dir`, in name order; at least one.
pub fn image_files(dir: &Path) -> Result<Vec<PathBuf>, CaptureError> {
    let read = std::fs::read_dir(dir)
        .map_err(|e| CaptureError::Unusable(format!("{}: {e}", dir.display())))?;
    let mut files: Vec<PathBuf> = read
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| ["png", "jpg", "jpeg"].contains(&e.to_ascii_lowercase().as_str()))
        })
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(CaptureError::Unusable(format!(
            "{}: no .png or .jpg images",
            dir.display()
        )));
    }
    Ok(files)
}

impl FrameSource for ImageDir {
    fn name(&self) -> &str {
        &self.name
    }

    /// Every image must have the size of the first: the stream has one geometry.
    fn start(&mut self) -> Result<StreamInfo, CaptureError> {
        let first = self.load(0)?;
        self.size = (first.width() as usize, first.height() as usize);
        Ok(StreamInfo {
            format: PixelFormat::Rgb24,
            width: self.size.0,
            height: self.size.1,
            fps: self.fps,
        })
    }

    fn next(&mut self, f: &mut dyn FnMut(&Frame)) -> Result<(), CaptureError> {
        if self.next == self.files.len() {
            if !self.looped {
                return Err(CaptureError::EndOfStream);
            }
            self.next = 0;
        }
        self.pacer.wait();
        let img = self.load(self.next)?;
        let (w, h) = (img.width() as usize, img.height() as usize);
        if (w, h) != self.size {
            return Err(CaptureError::Unusable(format!(
                "{}: {w}x{h}, but the first image is {}x{}",
                self.files[self.next].display(),
                self.size.0,
                self.size.1
            )));
        }
        self.next += 1;
        f(&Frame {
            format: PixelFormat::Rgb24,
            width: w,
            height: h,
            stride: w * 3,
            data: img.as_raw(),
            timestamp_ns: monotonic_ns(),
            sequence: self.sequence,
        });
        self.sequence += 1;
        Ok(())
    }

    fn stop(&mut self) {}
}
