//! NVRTC, loaded by us rather than through cudarc: only the builder needs it (a loaded plan
//! carries its cubin), and we must find it where cudarc's name list does not look: JetPack 5's
//! `libnvrtc.so.11.2`, a pip wheel's directory, or a path from the config.

use libloading::Library;
use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::path::{Path, PathBuf};

type Program = *mut c_void;
type CreateFn = unsafe extern "C" fn(
    *mut Program,
    *const c_char,
    *const c_char,
    c_int,
    *const *const c_char,
    *const *const c_char,
) -> c_int;
type CompileFn = unsafe extern "C" fn(Program, c_int, *const *const c_char) -> c_int;
type SizeFn = unsafe extern "C" fn(Program, *mut usize) -> c_int;
type BytesFn = unsafe extern "C" fn(Program, *mut c_char) -> c_int;
type DestroyFn = unsafe extern "C" fn(*mut Program) -> c_int;
type VersionFn = unsafe extern "C" fn(*mut c_int, *mut c_int) -> c_int;

/// Sonames tried in order when no path is given: CUDA 13, 12 (JetPack 6), 11.x (JetPack 5
/// ships `libnvrtc.so.11.2` for every 11.x), then the unversioned development link.
const SONAMES: [&str; 5] = [
    "libnvrtc.so.13",
    "libnvrtc.so.12",
    "libnvrtc.so.11.2",
    "libnvrtc.so.11",
    "libnvrtc.so",
];

/// Environment variable naming the NVRTC library file (the config's `engine.nvrtc` sets it too).
pub const NVRTC_ENV: &str = "EDGE_INFER_NVRTC";

pub struct Nvrtc {
    lib: Library,
    pub path: PathBuf,
}

impl Nvrtc {
    /// Loads NVRTC from `path`, `$EDGE_INFER_NVRTC`, or the library path by soname.
    pub fn load(path: Option<&Path>) -> Result<Nvrtc, String> {
        let env = std::env::var_os(NVRTC_ENV).map(PathBuf::from);
        if let Some(p) = path.map(Path::to_path_buf).or(env) {
            // SAFETY: loading NVRTC runs its initializers, which have no preconditions.
            return unsafe { Library::new(&p) }
                .map(|lib| Nvrtc {
                    lib,
                    path: p.clone(),
                })
                .map_err(|e| format!("cannot load NVRTC from {}: {e}", p.display()));
        }
        for name in SONAMES {
            // SAFETY: as above.
            if let Ok(lib) = unsafe { Library::new(name) } {
                return Ok(Nvrtc {
                    lib,
                    path: name.into(),
                });
            }
        }
        Err(format!(
            "NVRTC not found (tried {}); building a CUDA engine needs it (running one does not): \
             install the CUDA toolkit's nvrtc, or set {NVRTC_ENV} or `engine.nvrtc` to the \
             library file",
            SONAMES.join(", ")
        ))
    }

    pub fn version(&self) -> Result<(i32, i32), String> {
        let f: VersionFn = self.sym(b"nvrtcVersion\0")?;
        let (mut major, mut minor) = (0, 0);
        // SAFETY: both pointers are valid for writes.
        check(unsafe { f(&mut major, &mut minor) }, "nvrtcVersion")?;
        Ok((major, minor))
    }

    /// Compiles CUDA C++ `source` to a cubin for `arch` (e.g. `sm_87`). The error carries the
    /// compiler's log.
    pub fn compile_cubin(&self, source: &str, arch: &str) -> Result<Vec<u8>, String> {
        self.compile(source, arch, b"nvrtcGetCUBINSize\0", b"nvrtcGetCUBIN\0")
    }

    /// Compiles `source` to PTX for a virtual `arch` (e.g. `compute_90`): what tests read to
    /// check the instructions a kernel was built with.
    pub fn compile_ptx(&self, source: &str, arch: &str) -> Result<String, String> {
        let ptx = self.compile(source, arch, b"nvrtcGetPTXSize\0", b"nvrtcGetPTX\0")?;
        Ok(String::from_utf8_lossy(ptx.split(|&b| b == 0).next().unwrap_or_default()).into_owned())
    }

    /// Compiles and returns the output that `size_sym` / `get_sym` read.
    fn compile(
        &self,
        source: &str,
        arch: &str,
        size_sym: &[u8],
        get_sym: &[u8],
    ) -> Result<Vec<u8>, String> {
        let create: CreateFn = self.sym(b"nvrtcCreateProgram\0")?;
        let compile: CompileFn = self.sym(b"nvrtcCompileProgram\0")?;
        let log_size: SizeFn = self.sym(b"nvrtcGetProgramLogSize\0")?;
        let log: BytesFn = self.sym(b"nvrtcGetProgramLog\0")?;
        let out_size: SizeFn = self.sym(size_sym)?;
        let get_out: BytesFn = self.sym(get_sym)?;
        let destroy: DestroyFn = self.sym(b"nvrtcDestroyProgram\0")?;

        let src = CString::new(source).map_err(|_| "kernel source contains a NUL byte")?;
        let options: Vec<CString> = [
            format!("--gpu-architecture={arch}"),
            "--std=c++17".into(),
            "--extra-device-vectorization".into(),
        ]
        .into_iter()
        .map(|o| CString::new(o).expect("no NUL in options"))
        .collect();
        let option_ptrs: Vec<*const c_char> = options.iter().map(|o| o.as_ptr()).collect();
        let mut prog: Program = std::ptr::null_mut();
        // SAFETY: `src` and the name are NUL-terminated and outlive the call; no headers.
        let created = unsafe {
            create(
                &mut prog,
                src.as_ptr(),
                c"edge_engine.cu".as_ptr(),
                0,
                std::ptr::null(),
                std::ptr::null(),
            )
        };
        check(created, "nvrtcCreateProgram")?;
        // SAFETY: `prog` was created above; the option pointers live in `options`.
        let status = unsafe { compile(prog, option_ptrs.len() as c_int, option_ptrs.as_ptr()) };
        let mut result = if status == 0 {
            Ok(Vec::new())
        } else {
            let mut n = 0usize;
            // SAFETY: `prog` is valid and `n` is writable.
            let mut text = if unsafe { log_size(prog, &mut n) } == 0 {
                vec![0u8; n.max(1)]
            } else {
                vec![0u8; 1]
            };
            // SAFETY: `text` holds the `n` bytes the log needs.
            unsafe { log(prog, text.as_mut_ptr().cast()) };
            let text = CStr::from_bytes_until_nul(&text)
                .map(|c| c.to_string_lossy().into_owned())
                .unwrap_or_default();
            Err(format!(
                "NVRTC could not compile the kernels for {arch}:\n{text}"
            ))
        };
        if let Ok(out) = &mut result {
            let mut n = 0usize;
            let what = String::from_utf8_lossy(&get_sym[..get_sym.len() - 1]);
            // SAFETY: `prog` compiled; `n` is writable.
            if let Err(e) = check(unsafe { out_size(prog, &mut n) }, &what) {
                result = Err(e);
            } else {
                out.resize(n, 0);
                // SAFETY: `out` holds the `n` bytes NVRTC reported.
                let copied = unsafe { get_out(prog, out.as_mut_ptr().cast()) };
                if let Err(e) = check(copied, &what) {
                    result = Err(e);
                }
            }
        }
        // SAFETY: `prog` is valid and destroyed once.
        unsafe { destroy(&mut prog) };
        result
    }

    fn sym<T: Copy>(&self, name: &[u8]) -> Result<T, String> {
        // SAFETY: every `T` requested here is the C signature NVRTC documents for `name`.
        unsafe { self.lib.get::<T>(name) }.map(|s| *s).map_err(|e| {
            format!(
                "{}: missing {}: {e}",
                self.path.display(),
                String::from_utf8_lossy(&name[..name.len() - 1])
            )
        })
    }
}

fn check(status: c_int, what: &str) -> Result<(), String> {
    if status == 0 {
        Ok(())
    } else {
        Err(format!("{what} failed with NVRTC status {status}"))
    }
}
