//! Kernel launches as data: each kernel takes one parameter struct (mirrored here from the
//! `.cu` files, `#[repr(C)]`, field for field), so a frame is a list of `Launch`es recorded
//! into a CUDA graph once and replayed.

use super::preprocess::PreArgs;
use cudarc::driver::sys::CUfunction;
use cudarc::driver::{result, CudaStream, DriverError};
use std::ffi::c_void;

/// `struct ConvParams` in common.cuh. The kernel parameter structs are the ABI between this
/// runtime and a plan's cubin: changing one needs a new `plan::format::VERSION`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct ConvParams {
    pub x: u64,
    pub w: u64,
    pub bias: u64,
    pub wmul: u64,
    pub res: u64,
    pub y: u64,
    pub partial: u64,
    pub counters: u64,
    pub res_scale: f32,
    pub y_inv: f32,
    pub in_h: i32,
    pub in_w: i32,
    pub cin: i32,
    pub in_stride: i32,
    pub out_h: i32,
    pub out_w: i32,
    pub cout: i32,
    pub out_stride: i32,
    pub res_stride: i32,
    pub kh: i32,
    pub kw: i32,
    pub stride: i32,
    pub pad: i32,
    pub groups: i32,
    pub act: i32,
    pub post_act: i32,
    pub splits: i32,
    pub k_per_split: i32,
    pub vec8: i32,
}

/// `struct Strided` in layers.cu.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct Strided {
    pub pixels: i32,
    pub channels: i32,
    pub x_stride: i32,
    pub y_stride: i32,
}

/// `struct LayerParams` in layers.cu.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct LayerParams {
    pub x: u64,
    pub b: u64,
    pub y: u64,
    pub mul: u64,
    pub add: u64,
    pub s: Strided,
    pub b_stride: i32,
    pub act: i32,
    pub in_h: i32,
    pub in_w: i32,
    pub out_w: i32,
    pub size: i32,
    pub stride: i32,
    pub pad_before: i32,
    pub x_scale: f32,
    pub b_scale: f32,
    pub y_inv: f32,
}

pub const MAX_ANCHORS: usize = 9;

/// `struct HeadParams` in yolo.cu.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct HeadParams {
    pub h: i32,
    pub w: i32,
    pub c: i32,
    pub stride: i32,
    pub classes: i32,
    pub anchors: i32,
    pub scale_x_y: f32,
    pub net_w: f32,
    pub net_h: f32,
    pub anchor_wh: [f32; 2 * MAX_ANCHORS],
}

/// `struct YoloArgs` in yolo.cu.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct YoloArgs {
    pub head: u64,
    pub threshold: u64,
    pub list: u64,
    pub host: u64,
    pub hp: HeadParams,
}

/// `struct Candidate` in yolo.cu.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
pub struct Candidate {
    pub x1: f32,
    pub y1: f32,
    pub x2: f32,
    pub y2: f32,
    pub score: f32,
    pub class: i32,
}

/// Bytes before the items of `struct CandidateList` in yolo.cu: count, capacity, padding.
pub const CANDIDATE_HEADER: usize = 16;

#[derive(Clone, Copy, Debug)]
pub enum Args {
    Conv(ConvParams),
    Layer(LayerParams),
    Yolo(YoloArgs),
    Pre(PreArgs),
}

#[derive(Clone, Copy, Debug)]
pub struct Launch {
    pub func: CUfunction,
    pub grid: [u32; 3],
    pub block: u32,
    pub shared: u32,
    pub args: Args,
}

// SAFETY: a CUfunction is a handle valid in every thread of the process while its module is
// loaded; the engine that owns the module outlives every Launch made from it.
unsafe impl Send for Launch {}
// SAFETY: as above; a Launch is only read.
unsafe impl Sync for Launch {}

pub const BLOCK: u32 = 256;

impl Launch {
    /// A one-dimensional launch of `BLOCK`-thread blocks covering `n` threads.
    pub fn elementwise(func: CUfunction, n: usize, args: Args) -> Launch {
        Launch {
            func,
            grid: [n.div_ceil(BLOCK as usize).max(1) as u32, 1, 1],
            block: BLOCK,
            shared: 0,
            args,
        }
    }

    /// Queues the kernel on `stream` (or records it, while the stream captures a graph).
    pub fn record(&self, stream: &CudaStream) -> Result<(), DriverError> {
        let mut args = self.args;
        let ptr: *mut c_void = match &mut args {
            Args::Conv(p) => (p as *mut ConvParams).cast(),
            Args::Layer(p) => (p as *mut LayerParams).cast(),
            Args::Yolo(p) => (p as *mut YoloArgs).cast(),
            Args::Pre(p) => (p as *mut PreArgs).cast(),
        };
        let [x, y, z] = self.grid;
        // SAFETY: `func` takes exactly one parameter, the struct `args` mirrors (see the
        // .cu files); the driver copies it before returning. Every pointer inside it was
        // allocated by the context recording this launch and outlives its graph.
        unsafe {
            result::launch_kernel(
                self.func,
                (x, y, z),
                (self.block, 1, 1),
                self.shared,
                stream.cu_stream(),
                &mut [ptr],
            )
        }
    }
}
