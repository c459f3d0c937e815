//! `examples/python/watch.py` (stdlib only) against the fake daemon, when python3 is installed
//! (the test says SKIPPED otherwise).

mod common;

use std::process::Command;

use common::{
    crate_dir, frame_packet, hello_packet, python, run_with_deadline, After, FakeDaemon, DEADLINE,
    WATCH_OUTPUT,
};

#[test]
fn python_watch_prints_hello_and_detections() {
    let Some(python) = python("python_watch_prints_hello_and_detections") else {
        return;
    };
    let mut packets = vec![hello_packet()];
    packets.extend((0..4).map(frame_packet));
    let daemon = FakeDaemon::serve(packets, After::Hold(DEADLINE));

    let script = crate_dir().join("examples/python/watch.py");
    let out = run_with_deadline(Command::new(python).arg(script).arg(daemon.path()).arg("3"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{:?}: {stderr}", out.status);
    assert_eq!(String::from_utf8_lossy(&out.stdout), WATCH_OUTPUT);
    assert_eq!(stderr, "");
    assert!(
        daemon.finish().is_empty(),
        "the Python client must send nothing"
    );
}

#[test]
fn python_watch_reports_protocol_errors_with_the_offset() {
    let Some(python) = python("python_watch_reports_protocol_errors_with_the_offset") else {
        return;
    };
    let mut bad = frame_packet(2);
    bad[56 + 24 + 20..56 + 24 + 24].copy_from_slice(&f32::INFINITY.to_le_bytes());
    let daemon = FakeDaemon::serve(vec![hello_packet(), bad], After::Close);

    let script = crate_dir().join("examples/python/watch.py");
    let out = run_with_deadline(Command::new(python).arg(script).arg(daemon.path()));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(65), "{stderr}");
    assert!(
        stderr.contains("protocol error at byte 100 (detection.y2)"),
        "{stderr}"
    );
}
