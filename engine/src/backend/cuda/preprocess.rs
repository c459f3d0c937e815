//! Camera frames straight into the network input on the GPU: what the daemon's CPU converter
//! does (bilinear letterbox with the same taps, BT.601 limited range, normalization), run by
//! `preprocess.cu` inside the frame's CUDA graph. Mirrors the structs of preprocess.cu.

/// Packed and semi-planar formats the kernel reads (`RAW_*` in preprocess.cu).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RawFormat {
    Rgb24 = 0,
    Bgr24 = 1,
    Grey = 2,
    Yuyv = 3,
    Uyvy = 4,
    Nv12 = 5,
}

/// One output row's or column's source samples (`struct Tap`); `lo < 0` marks a letterbox bar.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Tap {
    pub lo: i32,
    pub hi: i32,
    pub w: f32,
}

impl Tap {
    pub const BAR: Tap = Tap {
        lo: -1,
        hi: -1,
        w: 0.0,
    };
}

/// A camera's frames and how they map into the network input.
#[derive(Clone, Debug, PartialEq)]
pub struct Camera {
    pub format: RawFormat,
    pub width: usize,
    pub height: usize,
    /// Bytes per row of the first plane.
    pub stride: usize,
    /// Bytes of one frame (both planes for NV12).
    pub bytes: usize,
    /// Per network-input row and column.
    pub rows: Vec<Tap>,
    pub cols: Vec<Tap>,
    /// `pixel * scale + offset` per RGB channel; `pad` fills the bars.
    pub scale: [f32; 3],
    pub offset: [f32; 3],
    pub pad: f32,
}

/// `struct PreParams` in preprocess.cu.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct PreParams {
    pub format: i32,
    pub width: i32,
    pub height: i32,
    pub stride: i32,
    pub net_w: i32,
    pub net_h: i32,
    pub out_stride: i32,
    pub out_channels: i32,
    pub scale: [f32; 3],
    pub offset: [f32; 3],
    pub pad: f32,
}

/// `struct PreArgs` in preprocess.cu.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct PreArgs {
    pub src: u64,
    pub rows: u64,
    pub cols: u64,
    pub out: u64,
    pub q: PreParams,
}
