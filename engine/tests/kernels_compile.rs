//! Every kernel compiles with NVRTC for Jetson Orin (sm_87) and Hopper (sm_90). Needs NVRTC,
//! not a GPU: CI points EDGE_INFER_NVRTC at the pip wheel's libnvrtc.so.12. Without any NVRTC
//! the test says it skipped; with EDGE_INFER_NVRTC set, a missing library fails it.

use edge_engine::backend::cuda::{kernels, nvrtc};
use std::io::Write;

#[test]
fn every_kernel_compiles_for_orin_and_hopper() {
    let nvrtc = match nvrtc::Nvrtc::load(None) {
        Ok(n) => n,
        Err(e) if std::env::var_os(nvrtc::NVRTC_ENV).is_none() => {
            let _ = writeln!(std::io::stderr(), "skipped: {e}");
            return;
        }
        Err(e) => panic!("{e}"),
    };
    let (major, minor) = nvrtc.version().unwrap();
    for arch in ["sm_87", "sm_90"] {
        let cubin = kernels::compile(&nvrtc, arch).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(&cubin[..4], b"\x7fELF", "{arch}: not a cubin");
        let _ = writeln!(
            std::io::stderr(),
            "NVRTC {major}.{minor} ({}): {arch} cubin of {} KiB",
            nvrtc.path.display(),
            cubin.len() / 1024
        );
    }
}
