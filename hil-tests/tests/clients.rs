//! The example clients in other languages, against a live daemon: the C example compiled
//! with the system C compiler, and the stdlib-only Python example.

use hil_tests::*;
use nix::sys::signal::Signal;
use std::process::Command;
use std::time::Duration;

fn check_output(out: &std::process::Output, who: &str) {
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{who}: {:?}\n{text}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("allops"), "{who} printed no Hello:\n{text}");
    let frames = text
        .lines()
        .filter(|l| l.contains("sequence") || l.starts_with("frame"))
        .count();
    assert!(frames >= 3, "{who} printed {frames} frames:\n{text}");
}

#[test]
fn the_c_example_reads_a_live_daemon() {
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    if Command::new(&cc).arg("--version").output().is_err() {
        eprintln!("skipped: no C compiler ({cc})");
        return;
    }
    let dir = scratch("c-client");
    let exe = dir.join("watch");
    let build = Command::new(&cc)
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-O2", "-I"])
        .arg(repo("protocol/include"))
        .arg(repo("protocol/examples/c/watch.c"))
        .arg("-o")
        .arg(&exe)
        .output()
        .unwrap();
    assert!(
        build.status.success(),
        "{}",
        String::from_utf8_lossy(&build.stderr)
    );
    let cfg = config(&dir, "");
    let d = Daemon::start(&dir, &cfg, &[], &[]);
    let out = Command::new(&exe).arg(&d.socket).arg("3").output().unwrap();
    check_output(&out, "C watch");
    d.signal(Signal::SIGTERM);
    assert!(d.wait(Duration::from_secs(5)).0.success());
}

#[test]
fn the_python_example_reads_a_live_daemon() {
    if Command::new("python3").arg("--version").output().is_err() {
        eprintln!("skipped: no python3");
        return;
    }
    let dir = scratch("py-client");
    let cfg = config(&dir, "");
    let d = Daemon::start(&dir, &cfg, &[], &[]);
    let out = Command::new("python3")
        .arg(repo("protocol/examples/python/watch.py"))
        .arg(&d.socket)
        .arg("3")
        .output()
        .unwrap();
    check_output(&out, "Python watch");
    d.signal(Signal::SIGTERM);
    assert!(d.wait(Duration::from_secs(5)).0.success());
}

#[test]
fn edge_infer_watch_reads_a_live_daemon() {
    let dir = scratch("watch");
    let cfg = config(&dir, "");
    let d = Daemon::start(&dir, &cfg, &[], &[]);
    let (status, out) = run(
        &[
            "watch",
            "--socket",
            d.socket.to_str().unwrap(),
            "--count",
            "3",
            "--json",
        ],
        Duration::from_secs(30),
    );
    assert!(status.success(), "{out}");
    assert!(out.contains("model allops (64x64)"), "{out}");
    assert_eq!(
        out.lines().filter(|l| l.starts_with("{\"")).count(),
        3,
        "{out}"
    );
    d.signal(Signal::SIGTERM);
    assert!(d.wait(Duration::from_secs(5)).0.success());
}
