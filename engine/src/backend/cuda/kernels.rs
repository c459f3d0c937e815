//! The kernel sources (engine/kernels/*.cu, compiled as one unit by NVRTC when a plan is
//! built) and the loaded module a plan's cubin becomes at run time.

use super::device::driver_error;
use super::launch::Kernel;
use super::nvrtc::Nvrtc;
use crate::error::{Error, Result};
use cudarc::driver::sys::{CUfunction_attribute, CUmodule};
use cudarc::driver::{result, CudaContext};
use std::collections::HashMap;
use std::ffi::CString;
use std::sync::{Arc, Mutex};

/// In compilation order: common.cuh first, every other file uses it.
pub const FILES: [(&str, &str); 6] = [
    ("common.cuh", include_str!("../../../kernels/common.cuh")),
    (
        "conv_simt.cu",
        include_str!("../../../kernels/conv_simt.cu"),
    ),
    (
        "conv_hmma.cu",
        include_str!("../../../kernels/conv_hmma.cu"),
    ),
    ("layers.cu", include_str!("../../../kernels/layers.cu")),
    ("yolo.cu", include_str!("../../../kernels/yolo.cu")),
    (
        "preprocess.cu",
        include_str!("../../../kernels/preprocess.cu"),
    ),
];

/// The whole source, with `#line` marks so compiler messages name the file and line.
pub fn source() -> String {
    FILES
        .iter()
        .map(|(name, text)| format!("#line 1 \"{name}\"\n{text}\n"))
        .collect()
}

/// Compiles every kernel for `arch` (`sm_87`, `sm_90`, ...), once per process and arch: the
/// sources are built in, so a second build of any model reuses the cubin.
pub fn compile(nvrtc: &Nvrtc, arch: &str) -> Result<Vec<u8>> {
    static DONE: Mutex<Vec<(String, Vec<u8>)>> = Mutex::new(Vec::new());
    let mut done = DONE.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((_, cubin)) = done.iter().find(|(a, _)| a == arch) {
        return Ok(cubin.clone());
    }
    let version = nvrtc.version().map_err(Error::Device)?;
    target_supported(arch, version)
        .map_err(|e| Error::Device(format!("{e} ({})", nvrtc.path.display())))?;
    let cubin = nvrtc
        .compile_cubin(&source(), arch)
        .map_err(Error::Device)?;
    done.push((arch.to_string(), cubin.clone()));
    Ok(cubin)
}

/// Arch-specific targets (`sm_90a`, which the builder takes on Hopper for wgmma) came with NVRTC
/// 12.0: an older NVRTC is refused with that said, rather than with its "invalid option".
fn target_supported(arch: &str, (major, minor): (i32, i32)) -> std::result::Result<(), String> {
    if arch.ends_with('a') && major < 12 {
        return Err(format!(
            "building for {arch} needs NVRTC 12.0 or later; this one is {major}.{minor}"
        ));
    }
    Ok(())
}

/// A plan's cubin, loaded into a context.
pub struct Module {
    module: CUmodule,
    ctx: Arc<CudaContext>,
    dependent: bool,
    /// The dynamic shared memory each kernel is allowed so far. The limit is the function's,
    /// and convs on one kernel may need different amounts (a residual tile or none), so it only
    /// ever rises: a smaller launch recorded later must not lower it under an earlier one's.
    shared_allowed: Mutex<HashMap<String, u32>>,
}

// SAFETY: a CUmodule handle may be used from any thread once loaded; unloading is in Drop.
unsafe impl Send for Module {}
// SAFETY: as above; lookups do not mutate the module.
unsafe impl Sync for Module {}

impl Module {
    /// `dependent`: its kernels are launched to overlap the previous one (`launch::dependent_launch`).
    pub fn load(ctx: &Arc<CudaContext>, cubin: &[u8], dependent: bool) -> Result<Module> {
        ctx.bind_to_thread()
            .map_err(|e| driver_error("binding the context", e))?;
        if cubin.len() < 4 || &cubin[..4] != b"\x7fELF" {
            return Err(Error::Device(
                "the plan's device code is not a cubin; rebuild the engine".into(),
            ));
        }
        // SAFETY: `cubin` is an ELF image (checked above, and the plan's CRC matched) that
        // stays alive for the call; the driver copies what it keeps.
        let module = unsafe { result::module::load_data(cubin.as_ptr().cast()) }
            .map_err(|e| driver_error("loading the plan's kernels", e))?;
        Ok(Module {
            module,
            ctx: Arc::clone(ctx),
            dependent,
            shared_allowed: Mutex::new(HashMap::new()),
        })
    }

    /// The kernel `name`, allowed `shared` bytes of dynamic shared memory.
    pub fn function(&self, name: &str, shared: u32) -> Result<Kernel> {
        let c = CString::new(name).expect("kernel names have no NUL");
        // SAFETY: `module` is loaded and `c` is NUL-terminated.
        let f = unsafe { result::module::get_function(self.module, c) }
            .map_err(|e| driver_error(&format!("kernel {name} is not in the plan"), e))?;
        let mut allowed = self
            .shared_allowed
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        // Without opting in, a launch may ask 48 KiB less the kernel's static shared memory
        // (every mma.sync kernel has split-K's `last`); assuming 48 KiB failed launches of
        // exactly 48 KiB.
        let now = match allowed.get(name) {
            Some(&n) => n,
            None => {
                // SAFETY: `f` is a valid function; the attribute is an integer.
                let fixed = unsafe {
                    result::function::get_function_attribute(
                        f,
                        CUfunction_attribute::CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES,
                    )
                }
                .map_err(|e| {
                    driver_error(&format!("querying the static shared memory of {name}"), e)
                })?;
                let n = (48 * 1024 - fixed).max(0) as u32;
                allowed.insert(name.to_string(), n);
                n
            }
        };
        if shared > now {
            // SAFETY: `f` is a valid function; the attribute takes a byte count.
            unsafe {
                result::function::set_function_attribute(
                    f,
                    CUfunction_attribute::CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                    shared as i32,
                )
            }
            .map_err(|e| {
                driver_error(
                    &format!("allowing {name} {shared} bytes of dynamic shared memory"),
                    e,
                )
            })?;
            allowed.insert(name.to_string(), shared);
        }
        Ok(Kernel {
            func: f,
            dependent: self.dependent,
        })
    }
}

impl Drop for Module {
    fn drop(&mut self) {
        let _ = self.ctx.bind_to_thread();
        // SAFETY: loaded in `load`, unloaded once; every Launch using it is gone (the engine
        // owning this module outlives its contexts).
        let _ = unsafe { result::module::unload(self.module) };
    }
}

#[cfg(test)]
mod tests {
    use super::target_supported;

    #[test]
    fn hopper_targets_need_nvrtc_12() {
        let err = target_supported("sm_90a", (11, 8)).unwrap_err();
        assert!(
            err.contains("sm_90a") && err.contains("12.0") && err.contains("11.8"),
            "{err}"
        );
        assert!(target_supported("sm_90a", (12, 0)).is_ok());
        // JetPack 5's NVRTC 11.4 still builds for Orin and Xavier.
        assert!(target_supported("sm_87", (11, 4)).is_ok());
        assert!(target_supported("sm_72", (11, 4)).is_ok());
    }
}
