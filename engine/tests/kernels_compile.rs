//! Every kernel compiles with NVRTC for Jetson Xavier (sm_72: INT8 on dp4a only), Turing (sm_75:
//! INT8 tensor cores through m8n8k16, no cp.async), Jetson Orin (sm_87) and Hopper (sm_90a, with
//! wgmma). Needs NVRTC, not a GPU: CI points EDGE_INFER_NVRTC at the pip wheel's libnvrtc.so.12.
//! Without any NVRTC the test says it skipped; with EDGE_INFER_NVRTC set, a missing library fails
//! it.

use edge_engine::backend::cuda::tactics::{self, Arith, ConvShape};
use edge_engine::backend::cuda::{kernels, nvrtc};
use std::io::Write;
use std::sync::OnceLock;

/// NVRTC, or None with a skip line where there is none; with EDGE_INFER_NVRTC set, a missing
/// library fails the test.
fn nvrtc_or_skip() -> Option<nvrtc::Nvrtc> {
    match nvrtc::Nvrtc::load(None) {
        Ok(n) => Some(n),
        Err(e) if std::env::var_os(nvrtc::NVRTC_ENV).is_none() => {
            let _ = writeln!(std::io::stderr(), "skipped: {e}");
            None
        }
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn every_kernel_compiles_for_xavier_turing_orin_and_hopper() {
    let Some(nvrtc) = nvrtc_or_skip() else {
        return;
    };
    let (major, minor) = nvrtc.version().unwrap();
    for (arch, cc) in [
        ("sm_72", (7, 2)),
        ("sm_75", (7, 5)),
        ("sm_87", (8, 7)),
        ("sm_90a", (9, 0)),
    ] {
        if major >= 13 && cc < (7, 5) {
            // CUDA 13 dropped Xavier; its JetPack (CUDA 11) brings an NVRTC that builds for it.
            let _ = writeln!(
                std::io::stderr(),
                "skipped: {arch} with NVRTC {major}.{minor}, which no longer targets it"
            );
            continue;
        }
        let started = std::time::Instant::now();
        let cubin = kernels::compile(&nvrtc, arch).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(&cubin[..4], b"\x7fELF", "{arch}: not a cubin");
        // Every conv kernel a tactic can pick on this architecture is in the cubin.
        // A deep conv and a first conv (8 padded input channels): between them, every kernel.
        let shapes = [(13 * 13, 1024, 512), (416 * 416, 32, 8)];
        for (arith, (m, n, cin)) in [Arith::F32, Arith::F16, Arith::S8]
            .into_iter()
            .flat_map(|a| shapes.map(|s| (a, s)))
        {
            let shape = ConvShape {
                m,
                n,
                k: 9 * cin,
                cin,
                groups: 1,
                in_align: 16,
                kernel: 3,
                stride: 1,
                arith,
                residual_bytes: 0,
            };
            for t in tactics::runnable(&shape, cc) {
                let symbol = t.kernel.symbol(arith);
                assert!(
                    cubin
                        .windows(symbol.len() + 1)
                        .any(|w| w[..symbol.len()] == *symbol.as_bytes() && w[symbol.len()] == 0),
                    "{arch}: {} needs {symbol}, not in the cubin",
                    t.name(arith)
                );
            }
        }
        let _ = writeln!(
            std::io::stderr(),
            "NVRTC {major}.{minor} ({}): {arch} cubin of {} KiB in {:.1} s",
            nvrtc.path.display(),
            cubin.len() / 1024,
            started.elapsed().as_secs_f64()
        );
    }
}

/// The `#[repr(C)]` mirrors in launch.rs and preprocess.rs have the sizes of the kernels'
/// parameter structs (a field added on one side only would have the kernels read garbage, and
/// only on a GPU). NVRTC checks them at compile time; it has no offsetof, so field order stays
/// a matter of reading both.
#[test]
fn parameter_structs_match_the_kernels() {
    use edge_engine::backend::cuda::launch::{
        ConvParams, HeadParams, LayerParams, Strided, YoloArgs,
    };
    use edge_engine::backend::cuda::preprocess::{PreArgs, PreParams, Tap};
    use std::mem::size_of;
    let Some(nvrtc) = nvrtc_or_skip() else {
        return;
    };
    let asserts: String = [
        ("ConvParams", size_of::<ConvParams>()),
        ("Strided", size_of::<Strided>()),
        ("LayerParams", size_of::<LayerParams>()),
        ("HeadParams", size_of::<HeadParams>()),
        ("YoloArgs", size_of::<YoloArgs>()),
        ("Tap", size_of::<Tap>()),
        ("PreParams", size_of::<PreParams>()),
        ("PreArgs", size_of::<PreArgs>()),
    ]
    .iter()
    .map(|(s, n)| format!("static_assert(sizeof({s}) == {n}, \"{s} is {n} bytes in Rust\");\n"))
    .collect();
    nvrtc
        .compile_cubin(&format!("{}{asserts}", kernels::source()), "sm_75")
        .unwrap_or_else(|e| panic!("a launch.rs struct differs from its .cu struct: {e}"));
}

/// Every kernel of the sm_90a build as (name, PTX from `.entry` to its closing brace), compiled
/// once for the tests that read them.
fn hopper_entries(nvrtc: &nvrtc::Nvrtc) -> Vec<(&'static str, &'static str)> {
    static PTX: OnceLock<String> = OnceLock::new();
    let ptx = PTX.get_or_init(|| {
        nvrtc
            .compile_ptx(&kernels::source(), "compute_90a")
            .unwrap_or_else(|e| panic!("{e}"))
    });
    let entries: Vec<(&str, &str)> = ptx
        .split(".entry ")
        .skip(1)
        .map(|e| {
            let name = e.split('(').next().unwrap_or_default().trim();
            (name, e.split("\n}").next().unwrap_or(e))
        })
        .collect();
    assert!(
        entries.len() >= 40,
        "only {} kernels in the PTX",
        entries.len()
    );
    entries
}

/// Every kernel's code stays short: each CTA fetches its kernel's code, and a frame runs dozens
/// of kernels. With conv kernels of 4300-8100 PTX instructions (inlined smooth activations,
/// prologue loads and split-K sums unrolled) YOLOv3-416 took 0.98 ms in FP16 and 0.72 ms in
/// INT8 on an H200; at 1250-2300 it takes 0.79 and 0.56 ms (docs/PERFORMANCE.md, "Code size").
/// The bound leaves room for new work, not for a second copy of an epilogue.
#[test]
fn every_kernel_stays_short() {
    const MAX_INSTRUCTIONS: usize = 3000;
    let Some(nvrtc) = nvrtc_or_skip() else {
        return;
    };
    for (name, entry) in hopper_entries(&nvrtc) {
        // Instructions end in `;`; directives (`.reg`, `.shared`) start with a dot, labels end in `:`.
        let n = entry
            .lines()
            .map(str::trim)
            .filter(|l| l.ends_with(';') && !l.starts_with('.') && !l.starts_with("//"))
            .count();
        assert!(
            n <= MAX_INSTRUCTIONS,
            "{name}: {n} PTX instructions, more than {MAX_INSTRUCTIONS}: what made it longer?"
        );
    }
}

/// Kernels launched to overlap their predecessor (sm_90) must wait for it before they touch
/// memory: in every kernel of the sm_90a build, `griddepcontrol.wait` comes before any plain
/// global load, store or atomic. Only weight reads may precede it (cp.async, or loads through
/// the read-only path, `ld.global.nc`).
#[test]
fn every_kernel_waits_for_the_previous_one_before_touching_memory() {
    let Some(nvrtc) = nvrtc_or_skip() else {
        return;
    };
    for (name, entry) in hopper_entries(&nvrtc) {
        let wait = entry
            .find("griddepcontrol.wait")
            .unwrap_or_else(|| panic!("{name} never waits for the previous kernel"));
        for line in entry[..wait].lines() {
            // The instruction, past a predicate (`@%p1 ld.global...`).
            let op = line
                .split_whitespace()
                .find(|t| !t.starts_with('@'))
                .unwrap_or_default();
            let reads_or_writes = ["ld.global", "st.global", "atom.", "red."]
                .iter()
                .any(|o| op.starts_with(o))
                && !op.starts_with("ld.global.nc");
            assert!(
                !reads_or_writes,
                "{name}: `{}` before griddepcontrol.wait",
                line.trim()
            );
        }
    }
}
