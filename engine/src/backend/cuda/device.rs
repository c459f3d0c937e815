//! The GPU: opening it without panicking where there is none, what it is (for the plan's
//! fingerprint), and the device and pinned host buffers every context allocates once.

use crate::error::{Error, Result};
use crate::plan::Fingerprint;
use cudarc::driver::sys::{self, CUdevice_attribute as Attr};
use cudarc::driver::{result, CudaContext, DriverError};
use std::sync::Arc;

/// What the plan's fingerprint records about a GPU.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceInfo {
    pub name: String,
    pub cc: (i32, i32),
    pub sms: i32,
    pub memory: usize,
    pub driver: i32,
    pub integrated: bool,
}

impl DeviceInfo {
    /// The target the kernels are compiled for: the GPU's exact architecture, and on Hopper
    /// (9.0) its arch-specific variant `sm_90a`, which has wgmma (code for it runs on 9.0 alone,
    /// as a plan does anyway).
    pub fn arch(&self) -> String {
        let suffix = if self.cc == (9, 0) { "a" } else { "" };
        format!("sm_{}{}{suffix}", self.cc.0, self.cc.1)
    }

    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint {
            backend: "cuda".into(),
            arch: self.arch(),
            features: Vec::new(),
            device: vec![
                ("name".into(), self.name.clone()),
                ("sms".into(), self.sms.to_string()),
                ("memory_mib".into(), (self.memory >> 20).to_string()),
                ("driver".into(), self.driver.to_string()),
                ("integrated".into(), u8::from(self.integrated).to_string()),
            ],
        }
    }
}

pub struct Gpu {
    pub ctx: Arc<CudaContext>,
    pub info: DeviceInfo,
    /// The most shared memory a block may opt in to, static and dynamic together (an H100
    /// gives 227 KiB, a Jetson Orin 163).
    pub max_shared_per_block: u32,
}

pub fn driver_error(what: &str, e: DriverError) -> Error {
    Error::Device(format!("CUDA: {what}: {e}"))
}

impl Gpu {
    /// Opens GPU `ordinal`, or says why there is none (no driver library, no device).
    pub fn open(ordinal: usize) -> Result<Gpu> {
        // SAFETY: only tries to dlopen libcuda; cudarc would panic on first use without it.
        if !unsafe { sys::is_culib_present() } {
            return Err(Error::Device(
                "no CUDA driver on this machine (libcuda.so not found); use --device cpu".into(),
            ));
        }
        result::init().map_err(|e| driver_error("cuInit", e))?;
        let count = result::device::get_count().map_err(|e| driver_error("device count", e))?;
        if ordinal >= count.max(0) as usize {
            return Err(Error::Device(format!(
                "no CUDA device {ordinal}: this machine has {count}"
            )));
        }
        let ctx = CudaContext::new(ordinal).map_err(|e| driver_error("creating a context", e))?;
        let attr = |a: Attr| {
            ctx.attribute(a)
                .map_err(|e| driver_error("device attribute", e))
        };
        let mut driver = 0;
        // SAFETY: `driver` is a valid out pointer.
        unsafe { sys::cuDriverGetVersion(&mut driver) }
            .result()
            .map_err(|e| driver_error("driver version", e))?;
        let info = DeviceInfo {
            name: ctx.name().map_err(|e| driver_error("device name", e))?,
            cc: (
                attr(Attr::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR)?,
                attr(Attr::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR)?,
            ),
            sms: attr(Attr::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT)?,
            memory: ctx
                .total_mem()
                .map_err(|e| driver_error("device memory", e))?,
            driver,
            integrated: attr(Attr::CU_DEVICE_ATTRIBUTE_INTEGRATED)? != 0,
        };
        let max_shared_per_block =
            attr(Attr::CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN)?.max(0) as u32;
        Ok(Gpu {
            ctx,
            info,
            max_shared_per_block,
        })
    }
}

/// Device memory, freed on drop.
pub struct DeviceBuffer {
    ptr: sys::CUdeviceptr,
    bytes: usize,
    ctx: Arc<CudaContext>,
}

impl DeviceBuffer {
    pub fn zeroed(ctx: &Arc<CudaContext>, bytes: usize) -> Result<DeviceBuffer> {
        ctx.bind_to_thread()
            .map_err(|e| driver_error("binding the context", e))?;
        let bytes = bytes.max(16);
        // SAFETY: a plain allocation in the current context; freed once in Drop.
        let ptr = unsafe { result::malloc_sync(bytes) }.map_err(|e| {
            driver_error(
                &format!("allocating {:.1} MiB", bytes as f64 / 1048576.0),
                e,
            )
        })?;
        // Owned from here, so an error below frees it.
        let buf = DeviceBuffer {
            ptr,
            bytes,
            ctx: Arc::clone(ctx),
        };
        // SAFETY: `ptr` holds `bytes` bytes.
        unsafe { result::memset_d8_sync(ptr, 0, bytes) }
            .map_err(|e| driver_error("clearing memory", e))?;
        // A memset of device memory may return before it is done, and the kernels run on other
        // streams: the zeros (split-K's counters among them) must be there before any launch.
        ctx.synchronize()
            .map_err(|e| driver_error("clearing memory", e))?;
        Ok(buf)
    }

    /// A buffer holding `data`.
    pub fn from_slice<T: Copy>(ctx: &Arc<CudaContext>, data: &[T]) -> Result<DeviceBuffer> {
        let buf = DeviceBuffer::zeroed(ctx, std::mem::size_of_val(data))?;
        // SAFETY: the buffer holds at least `data`'s bytes; the copy is synchronous.
        unsafe { result::memcpy_htod_sync(buf.ptr, data) }
            .map_err(|e| driver_error("uploading", e))?;
        Ok(buf)
    }

    pub fn ptr(&self) -> u64 {
        self.ptr
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

impl Drop for DeviceBuffer {
    fn drop(&mut self) {
        let _ = self.ctx.bind_to_thread();
        // SAFETY: allocated by malloc_sync in this context, freed only here.
        let _ = unsafe { result::free_sync(self.ptr) };
    }
}

/// Page-locked host memory mapped into the GPU's address space: DMA-able for copies, and
/// read or written by kernels directly (zero-copy on an integrated GPU, small results on any).
pub struct HostBuffer {
    host: *mut u8,
    device: sys::CUdeviceptr,
    bytes: usize,
    ctx: Arc<CudaContext>,
}

// SAFETY: the buffer is plain memory owned by this value; access goes through &/&mut self.
unsafe impl Send for HostBuffer {}
// SAFETY: as above; shared access only reads.
unsafe impl Sync for HostBuffer {}

impl HostBuffer {
    pub fn zeroed(ctx: &Arc<CudaContext>, bytes: usize) -> Result<HostBuffer> {
        ctx.bind_to_thread()
            .map_err(|e| driver_error("binding the context", e))?;
        let bytes = bytes.max(16);
        // SAFETY: pinned, mapped allocation of `bytes`; freed once in Drop.
        let host = unsafe {
            result::malloc_host(
                bytes,
                sys::CU_MEMHOSTALLOC_DEVICEMAP | sys::CU_MEMHOSTALLOC_PORTABLE,
            )
        }
        .map_err(|e| driver_error("allocating pinned host memory", e))?
        .cast::<u8>();
        // SAFETY: `host` holds `bytes` writable bytes.
        unsafe { std::ptr::write_bytes(host, 0, bytes) };
        let mut device = 0;
        // SAFETY: `host` was allocated with DEVICEMAP, so it has a device address.
        let mapped = unsafe { sys::cuMemHostGetDevicePointer_v2(&mut device, host.cast(), 0) };
        if let Err(e) = mapped.result() {
            // SAFETY: allocated above, not yet owned by a HostBuffer.
            let _ = unsafe { result::free_host(host.cast()) };
            return Err(driver_error("mapping pinned host memory", e));
        }
        Ok(HostBuffer {
            host,
            device,
            bytes,
            ctx: Arc::clone(ctx),
        })
    }

    pub fn device_ptr(&self) -> u64 {
        self.device
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn as_slice<T: bytemuck::Pod>(&self) -> &[T] {
        // SAFETY: `host` is valid for `bytes` bytes while self lives; alignment is the
        // allocator's page alignment; Pod accepts any bit pattern.
        let bytes = unsafe { std::slice::from_raw_parts(self.host, self.bytes) };
        bytemuck::cast_slice(
            &bytes[..self.bytes / std::mem::size_of::<T>() * std::mem::size_of::<T>()],
        )
    }

    pub fn as_mut_slice<T: bytemuck::Pod>(&mut self) -> &mut [T] {
        // SAFETY: as in `as_slice`, and `&mut self` makes the access exclusive on the host.
        let bytes = unsafe { std::slice::from_raw_parts_mut(self.host, self.bytes) };
        let n = self.bytes / std::mem::size_of::<T>() * std::mem::size_of::<T>();
        bytemuck::cast_slice_mut(&mut bytes[..n])
    }
}

impl Drop for HostBuffer {
    fn drop(&mut self) {
        let _ = self.ctx.bind_to_thread();
        // SAFETY: allocated by malloc_host, freed only here.
        let _ = unsafe { result::free_host(self.host.cast()) };
    }
}
