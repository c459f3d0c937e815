//! The CUDA backend: kernels compiled by NVRTC into the plan when it is built for a GPU, run
//! through the driver API alone (cudarc, loaded at run time: this crate builds, and its CPU
//! backend runs, where there is no CUDA at all).

pub mod context;
pub mod device;
pub mod engine;
pub mod kernels;
pub mod launch;
pub mod nvrtc;
pub mod preprocess;
pub mod tactics;
pub mod tune;

pub use context::CudaContext;
pub use device::{DeviceInfo, Gpu};
pub use engine::CudaEngine;
