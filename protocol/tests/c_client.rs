//! `include/edge_infer.h` and `examples/c/watch.c`: compiled with the system C compiler (the
//! test says SKIPPED when there is none) and run against the fake daemon.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use common::{
    c_compiler, compile_c, crate_dir, frame_packet, hello_packet, run_with_deadline, say, After,
    FakeDaemon, DEADLINE, WATCH_OUTPUT,
};

/// watch.c, compiled once per test run.
fn watch(cc: &str) -> &'static PathBuf {
    static WATCH: OnceLock<PathBuf> = OnceLock::new();
    WATCH.get_or_init(|| compile_c(cc, "examples/c/watch.c", "edgi-watch-c"))
}

#[test]
fn c_watch_prints_hello_and_detections() {
    let Some(cc) = c_compiler("c_watch_prints_hello_and_detections") else {
        return;
    };
    let mut packets = vec![hello_packet()];
    packets.extend((0..4).map(frame_packet));
    let daemon = FakeDaemon::serve(packets, After::Hold(DEADLINE));

    let out = run_with_deadline(Command::new(watch(&cc)).arg(daemon.path()).arg("3"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{:?}: {stderr}", out.status);
    assert_eq!(String::from_utf8_lossy(&out.stdout), WATCH_OUTPUT);
    assert_eq!(stderr, "");
    assert!(daemon.finish().is_empty(), "the C client must send nothing");
}

#[test]
fn c_watch_reports_protocol_errors_with_the_offset() {
    let Some(cc) = c_compiler("c_watch_reports_protocol_errors_with_the_offset") else {
        return;
    };
    let mut bad = frame_packet(1);
    bad[60..64].copy_from_slice(&f32::NAN.to_le_bytes());
    let daemon = FakeDaemon::serve(vec![hello_packet(), bad], After::Close);

    let out = run_with_deadline(Command::new(watch(&cc)).arg(daemon.path()).arg("3"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(65), "{stderr}");
    assert!(
        stderr.contains("protocol error at byte 60 (detection.score)"),
        "{stderr}"
    );
}

#[test]
fn c_watch_reports_garbage_and_hang_ups() {
    let Some(cc) = c_compiler("c_watch_reports_garbage_and_hang_ups") else {
        return;
    };
    let daemon = FakeDaemon::serve(vec![b"garbage!".repeat(3)], After::Close);
    let out = run_with_deadline(Command::new(watch(&cc)).arg(daemon.path()));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(65), "{stderr}");
    assert!(stderr.contains("at byte 0 (header.magic)"), "{stderr}");

    let daemon = FakeDaemon::serve(vec![hello_packet()], After::Close);
    let out = run_with_deadline(Command::new(watch(&cc)).arg(daemon.path()));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(69), "{stderr}");
    assert!(stderr.contains("closed the connection"), "{stderr}");
}

#[test]
fn c_header_compiles_as_cpp() {
    let cxx = std::env::var("CXX").unwrap_or_else(|_| "c++".to_string());
    if !Command::new(&cxx)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        say(&format!(
            "SKIPPED c_header_compiles_as_cpp: no C++ compiler ({cxx}) found"
        ));
        return;
    }
    let source = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("edgi-header.cpp");
    std::fs::write(
        &source,
        "#include \"edge_infer.h\"\n\
         int check(const unsigned char *p, size_t n) {\n\
             edgi_message m; edgi_error e;\n\
             return edgi_decode(p, n, &m, &e) == EDGI_OK ? (int)m.kind : -(int)e.offset;\n\
         }\n",
    )
    .unwrap();
    let out = Command::new(&cxx)
        .args([
            "-std=c++11",
            "-Wall",
            "-Wextra",
            "-Wpedantic",
            "-Wconversion",
            "-Werror",
            "-fsyntax-only",
        ])
        .arg("-I")
        .arg(crate_dir().join("include"))
        .arg(&source)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
