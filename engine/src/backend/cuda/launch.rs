//! Kernel launches as data: each kernel takes one parameter struct (mirrored here from the
//! `.cu` files, `#[repr(C)]`, field for field), so a frame is a list of `Launch`es recorded
//! into a CUDA graph once and replayed.

use super::device::DeviceInfo;
use super::preprocess::PreArgs;
use cudarc::driver::sys::{CUfunction, CUresult, CUstream};
use cudarc::driver::{result, CudaStream, DriverError};
use std::ffi::c_void;
use std::sync::OnceLock;

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

/// A kernel of the plan's module, and whether it may start before the previous kernel on its
/// stream ends (programmatic dependent launch: the kernels synchronize themselves, see
/// `wait_for_previous_kernel` in common.cuh).
#[derive(Clone, Copy, Debug)]
pub struct Kernel {
    pub func: CUfunction,
    pub dependent: bool,
}

#[derive(Clone, Copy, Debug)]
pub struct Launch {
    pub kernel: Kernel,
    pub grid: [u32; 3],
    pub block: u32,
    pub shared: u32,
    pub args: Args,
}

// SAFETY: a CUfunction is a handle valid in every thread of the process while its module is
// loaded; the engine that owns the module outlives every Kernel and Launch made from it.
unsafe impl Send for Kernel {}
// SAFETY: as above; a Kernel is only read.
unsafe impl Sync for Kernel {}

pub const BLOCK: u32 = 256;

impl Launch {
    /// A one-dimensional launch of `BLOCK`-thread blocks covering `n` threads.
    pub fn elementwise(kernel: Kernel, n: usize, args: Args) -> Launch {
        Launch {
            kernel,
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
        if let Some(launch_ex) = launch_kernel_ex().filter(|_| self.kernel.dependent) {
            let attr = LaunchAttribute {
                id: PROGRAMMATIC_STREAM_SERIALIZATION,
                pad: 0,
                value: [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            };
            let config = LaunchConfig {
                grid: self.grid,
                block: [self.block, 1, 1],
                shared: self.shared,
                stream: stream.cu_stream(),
                attrs: &attr,
                attr_count: 1,
            };
            let mut params = [ptr];
            // SAFETY: as for launch_kernel below; `config` and `attr` mirror cuda.h's
            // CUlaunchConfig and CUlaunchAttribute and live across the call, which copies them.
            return unsafe {
                launch_ex(
                    &config,
                    self.kernel.func,
                    params.as_mut_ptr(),
                    std::ptr::null_mut(),
                )
            }
            .result();
        }
        let [x, y, z] = self.grid;
        // SAFETY: `func` takes exactly one parameter, the struct `args` mirrors (see the
        // .cu files); the driver copies it before returning. Every pointer inside it was
        // allocated by the context recording this launch and outlives its graph.
        unsafe {
            result::launch_kernel(
                self.kernel.func,
                (x, y, z),
                (self.block, 1, 1),
                self.shared,
                stream.cu_stream(),
                &mut [ptr],
            )
        }
    }
}

/// `CUlaunchAttribute` of cuda.h (CUDA 12): an id, padding, a 64-byte union.
#[repr(C, align(8))]
struct LaunchAttribute {
    id: u32,
    pad: u32,
    value: [i32; 16],
}

/// `CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION`; its value is an int, non-zero to allow.
const PROGRAMMATIC_STREAM_SERIALIZATION: u32 = 6;

/// `CUlaunchConfig` of cuda.h (CUDA 12).
#[repr(C)]
struct LaunchConfig {
    grid: [u32; 3],
    block: [u32; 3],
    shared: u32,
    stream: CUstream,
    attrs: *const LaunchAttribute,
    attr_count: u32,
}

type LaunchKernelEx = unsafe extern "C" fn(
    *const LaunchConfig,
    CUfunction,
    *mut *mut c_void,
    *mut *mut c_void,
) -> CUresult;

/// Whether kernels on `gpu` start while the previous one ends: on sm_90 and later (the kernels'
/// `griddepcontrol` needs it) with a CUDA 12+ driver, unless `EDGE_INFER_DEPENDENT_LAUNCH=0`
/// (serialized launches, to measure what the overlap gains or to rule it out).
pub fn dependent_launch(gpu: &DeviceInfo) -> bool {
    gpu.cc >= (9, 0)
        && std::env::var_os(DEPENDENT_LAUNCH_ENV).is_none_or(|v| v != "0")
        && launch_kernel_ex().is_some()
}

pub const DEPENDENT_LAUNCH_ENV: &str = "EDGE_INFER_DEPENDENT_LAUNCH";

/// `cuLaunchKernelEx` from the loaded driver (CUDA 12.0 and later), or None. cudarc's bindings
/// are CUDA 11.4's (JetPack 5's driver), which lack it.
fn launch_kernel_ex() -> Option<LaunchKernelEx> {
    static EX: OnceLock<Option<(libloading::Library, LaunchKernelEx)>> = OnceLock::new();
    EX.get_or_init(|| {
        // SAFETY: libcuda is already loaded by cudarc (this only takes another reference) and
        // runs no constructors of ours; the symbol has the C signature declared above since
        // CUDA 12.0, and the library stays loaded for the life of the process (static).
        unsafe {
            let lib = libloading::Library::new("libcuda.so.1").ok()?;
            let f = *lib.get::<LaunchKernelEx>(b"cuLaunchKernelEx\0").ok()?;
            Some((lib, f))
        }
    })
    .as_ref()
    .map(|(_, f)| *f)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::{offset_of, size_of};

    /// The layout cuda.h (CUDA 12) gives these structs on a 64-bit target: an attribute is a
    /// 4-byte id, 4 bytes of padding and a 64-byte union; the config's stream pointer is
    /// aligned to 8 after seven 4-byte fields.
    #[test]
    fn launch_structs_have_the_driver_headers_layout() {
        assert_eq!(size_of::<LaunchAttribute>(), 72);
        assert_eq!(offset_of!(LaunchAttribute, value), 8);
        assert_eq!(offset_of!(LaunchConfig, shared), 24);
        assert_eq!(offset_of!(LaunchConfig, stream), 32);
        assert_eq!(offset_of!(LaunchConfig, attrs), 40);
        assert_eq!(offset_of!(LaunchConfig, attr_count), 48);
        assert_eq!(size_of::<LaunchConfig>(), 56);
    }
}
