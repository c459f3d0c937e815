//! A camera frame as the capture sources hand it over: pixel format, geometry, bytes, time.

use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PixelFormat {
    Yuyv,
    Uyvy,
    Nv12,
    Mjpeg,
    Rgb24,
    Bgr24,
    Grey,
}

impl PixelFormat {
    pub const ALL: [PixelFormat; 7] = [
        PixelFormat::Yuyv,
        PixelFormat::Uyvy,
        PixelFormat::Nv12,
        PixelFormat::Mjpeg,
        PixelFormat::Rgb24,
        PixelFormat::Bgr24,
        PixelFormat::Grey,
    ];

    /// The V4L2 fourcc.
    pub fn fourcc(self) -> [u8; 4] {
        *match self {
            PixelFormat::Yuyv => b"YUYV",
            PixelFormat::Uyvy => b"UYVY",
            PixelFormat::Nv12 => b"NV12",
            PixelFormat::Mjpeg => b"MJPG",
            PixelFormat::Rgb24 => b"RGB3",
            PixelFormat::Bgr24 => b"BGR3",
            PixelFormat::Grey => b"GREY",
        }
    }

    pub fn from_fourcc(f: [u8; 4]) -> Option<PixelFormat> {
        Self::ALL.into_iter().find(|p| p.fourcc() == f)
    }

    pub fn name(self) -> &'static str {
        match self {
            PixelFormat::Yuyv => "yuyv",
            PixelFormat::Uyvy => "uyvy",
            PixelFormat::Nv12 => "nv12",
            PixelFormat::Mjpeg => "mjpeg",
            PixelFormat::Rgb24 => "rgb24",
            PixelFormat::Bgr24 => "bgr24",
            PixelFormat::Grey => "grey",
        }
    }

    pub fn from_name(s: &str) -> Option<PixelFormat> {
        Self::ALL.into_iter().find(|p| p.name() == s)
    }

    /// Bytes per pixel of the first plane (0 for compressed).
    pub fn bytes_per_pixel(self) -> usize {
        match self {
            PixelFormat::Yuyv | PixelFormat::Uyvy => 2,
            PixelFormat::Nv12 | PixelFormat::Grey => 1,
            PixelFormat::Rgb24 | PixelFormat::Bgr24 => 3,
            PixelFormat::Mjpeg => 0,
        }
    }

    /// Bytes of a whole frame at this row stride (compressed: an upper bound).
    pub fn frame_len(self, width: usize, height: usize, stride: usize) -> usize {
        match self {
            PixelFormat::Nv12 => stride * height + stride * height.div_ceil(2),
            PixelFormat::Mjpeg => width * height * 3,
            _ => stride * height,
        }
    }
}

impl fmt::Display for PixelFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Clone, Copy, Debug)]
pub struct Frame<'a> {
    pub format: PixelFormat,
    pub width: usize,
    pub height: usize,
    /// Bytes from one row to the next in the first plane.
    pub stride: usize,
    pub data: &'a [u8],
    /// CLOCK_MONOTONIC nanoseconds when the driver captured it.
    pub timestamp_ns: u64,
    pub sequence: u64,
}

impl<'a> Frame<'a> {
    /// A decoded still picture (an image file) as an RGB24 frame.
    pub fn still(img: &'a image::RgbImage, sequence: u64) -> Frame<'a> {
        let w = img.width() as usize;
        Frame {
            format: PixelFormat::Rgb24,
            width: w,
            height: img.height() as usize,
            stride: w * 3,
            data: img.as_raw(),
            timestamp_ns: 0,
            sequence,
        }
    }
}
