//! The systemd notify protocol against a real NOTIFY_SOCKET datagram socket bound here:
//! READY=1 only once frames flow, STATUS= with fps and latency, WATCHDOG=1 pings while
//! frames flow, STOPPING=1 on SIGTERM.

use hil_tests::*;
use nix::sys::signal::Signal;
use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

#[test]
fn ready_status_watchdog_and_stopping() {
    let dir = scratch("notify");
    let notify_path = dir.join("notify.sock");
    let sock = UnixDatagram::bind(&notify_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let cfg = config(&dir, "stats:\n  interval_s: 0.5\n");
    let started = Instant::now();
    let d = Daemon::start(
        &dir,
        &cfg,
        &[],
        &[
            ("NOTIFY_SOCKET", notify_path.to_str().unwrap()),
            ("WATCHDOG_USEC", "1000000"),
        ],
    );
    let mut seen: Vec<(Duration, String)> = Vec::new();
    let mut buf = [0u8; 4096];
    while started.elapsed() < Duration::from_secs(20) {
        if let Ok(n) = sock.recv(&mut buf) {
            seen.push((
                started.elapsed(),
                String::from_utf8_lossy(&buf[..n]).into_owned(),
            ));
        }
        let pings = seen
            .iter()
            .filter(|(_, m)| m.contains("WATCHDOG=1"))
            .count();
        if pings >= 3 && seen.iter().any(|(_, m)| m.starts_with("STATUS=")) {
            break;
        }
    }
    d.signal(Signal::SIGTERM);
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        if let Ok(n) = sock.recv(&mut buf) {
            seen.push((
                started.elapsed(),
                String::from_utf8_lossy(&buf[..n]).into_owned(),
            ));
        }
    }
    let (status, _, err) = d.wait(Duration::from_secs(5));
    assert!(status.success(), "{err}");
    let msgs: Vec<&str> = seen.iter().map(|(_, m)| m.as_str()).collect();
    let ready = msgs
        .iter()
        .position(|m| m.contains("READY=1"))
        .expect("READY=1 sent");
    assert_eq!(
        msgs.iter().filter(|m| m.contains("READY=1")).count(),
        1,
        "{msgs:?}"
    );
    let first_ping = msgs
        .iter()
        .position(|m| m.contains("WATCHDOG=1"))
        .expect("watchdog pings");
    assert!(first_ping > ready, "pinged before ready: {msgs:?}");
    let status_line = msgs
        .iter()
        .find(|m| m.starts_with("STATUS=") && m.contains("fps"))
        .expect("STATUS with fps");
    assert!(status_line.contains("latency p50"), "{status_line}");
    assert_eq!(msgs.last(), Some(&"STOPPING=1"), "{msgs:?}");
}

#[test]
fn no_watchdog_pings_while_the_camera_is_stalled() {
    // The camera is a Y4M stream through a FIFO: after a few frames the writer stops
    // writing but keeps the pipe open, as a hung camera would. The daemon stays up; its
    // watchdog pings must stop so systemd restarts it.
    let dir = scratch("stall");
    let notify_path = dir.join("notify.sock");
    let sock = UnixDatagram::bind(&notify_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let fifo = dir.join("cam.y4m");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let cfg = config(&dir, "");
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("synthetic:shapes:5", fifo.to_str().unwrap());
    std::fs::write(&cfg, text).unwrap();
    let writer = std::thread::spawn({
        let fifo = fifo.clone();
        move || {
            use std::io::Write;
            let mut w = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
            w.write_all(b"YUV4MPEG2 W32 H16 F10:1 C420\n").unwrap();
            for _ in 0..10 {
                w.write_all(b"FRAME\n").unwrap();
                w.write_all(&[128u8; 32 * 16 * 3 / 2]).unwrap();
                std::thread::sleep(Duration::from_millis(100));
            }
            std::thread::sleep(Duration::from_secs(4));
            // Dropping the writer ends the stream.
        }
    });
    let mut d = Daemon::start(
        &dir,
        &cfg,
        &[],
        &[
            ("NOTIFY_SOCKET", notify_path.to_str().unwrap()),
            ("WATCHDOG_USEC", "400000"),
        ],
    );
    let mut msgs = Vec::new();
    let mut buf = [0u8; 4096];
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(3) {
        if let Ok(n) = sock.recv(&mut buf) {
            msgs.push((t.elapsed(), String::from_utf8_lossy(&buf[..n]).into_owned()));
        }
    }
    assert!(
        d.child.try_wait().unwrap().is_none(),
        "the daemon must still be running"
    );
    let pings = |from: Duration, to: Duration| {
        msgs.iter()
            .filter(|(at, m)| m.contains("WATCHDOG=1") && *at >= from && *at < to)
            .count()
    };
    assert!(
        pings(Duration::ZERO, Duration::from_millis(1000)) > 0,
        "no pings while frames flowed: {msgs:?}"
    );
    assert_eq!(
        pings(Duration::from_millis(2000), Duration::from_secs(3)),
        0,
        "pings after frames stopped: {msgs:?}"
    );
    writer.join().unwrap();
}
