//! The daemon as a robot runs it: clients read detections, a slow client does not hurt the
//! others, SIGTERM stops it cleanly, bad input exits with the right code and message.

use edge_infer_protocol::Client;
use hil_tests::*;
use nix::sys::signal::Signal;
use std::time::{Duration, Instant};

#[test]
fn clients_receive_detections_in_order_with_sane_latency() {
    let dir = scratch("order");
    let cfg = config(&dir, "");
    let d = Daemon::start(&dir, &cfg, &[], &[]);
    let mut clients: Vec<Client> = (0..2)
        .map(|_| {
            Client::connect_with_timeout(&d.socket, Duration::from_secs(30)).expect("connects")
        })
        .collect();
    for c in &clients {
        let h = c.hello();
        assert_eq!(h.model_name, "allops");
        assert_eq!((h.input_width, h.input_height), (64, 64));
        assert_eq!(h.class_names.len(), 7);
        if !camera().1 {
            assert_eq!((h.source_width, h.source_height), (320, 240));
        }
    }
    for c in &mut clients {
        let mut last = None;
        for _ in 0..20 {
            let m = c.next().expect("a message");
            let f = m.frame;
            if let Some(prev) = last {
                assert!(
                    f.sequence > prev,
                    "sequence went from {prev} to {}",
                    f.sequence
                );
            }
            last = Some(f.sequence);
            let latency = f.publish_ns.saturating_sub(f.capture_ns);
            assert!(
                f.publish_ns >= f.capture_ns && latency < 2_000_000_000,
                "latency {latency} ns"
            );
            for det in &m.detections {
                assert!(
                    det.x1 >= 0.0
                        && det.x2 <= f.source_width as f32
                        && det.y2 <= f.source_height as f32
                );
            }
        }
    }
    d.signal(Signal::SIGTERM);
    let (status, _, _) = d.wait(Duration::from_secs(5));
    assert!(status.success());
}

#[test]
fn sigterm_stops_cleanly_within_two_seconds() {
    let dir = scratch("term");
    let cfg = config(&dir, "");
    let d = Daemon::start(&dir, &cfg, &[], &[]);
    let mut c = Client::connect_with_timeout(&d.socket, Duration::from_secs(30)).unwrap();
    c.next().expect("streaming before the signal");
    let socket = d.socket.clone();
    d.signal(Signal::SIGTERM);
    let (status, took, err) = d.wait(Duration::from_secs(10));
    assert!(status.success(), "exit {status:?}: {err}");
    assert!(took < Duration::from_secs(2), "took {took:?}");
    assert!(!socket.exists(), "socket file left behind");
    assert!(err.contains("stopped: captured"), "{err}");
    // The client sees the end (after what was already queued for it), not a hang.
    c.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    assert!(
        (0..1000).any(|_| c.next().is_err()),
        "the connection was not closed"
    );
}

#[test]
fn a_corrupt_engine_exits_65_with_a_clear_message() {
    let dir = scratch("corrupt");
    let engine = dir.join("bad.engine");
    // The current plan format version, so the loader gets as far as the truncation.
    use edge_engine::plan::format::{MAGIC, VERSION};
    let bytes = [&MAGIC[..], &VERSION.to_le_bytes(), b" truncated garbage"].concat();
    std::fs::write(&engine, bytes).unwrap();
    let cfg = config(&dir, "");
    let (status, out) = run(
        &[
            "--config",
            cfg.to_str().unwrap(),
            "--engine",
            engine.to_str().unwrap(),
        ],
        Duration::from_secs(30),
    );
    assert_eq!(status.code(), Some(65), "{out}");
    assert!(
        out.contains("bad.engine") && out.contains("truncated"),
        "{out}"
    );
}

#[test]
fn a_slow_client_does_not_stall_the_others() {
    let dir = scratch("slow");
    // fps 0: as fast as the pipeline goes, so the slow client's buffer fills quickly.
    let cfg = config(&dir, "  max_missed: 5\n");
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("fps: 30", "fps: 0");
    std::fs::write(&cfg, text).unwrap();
    let d = Daemon::start(&dir, &cfg, &[], &[]);
    let slow = Client::connect_with_timeout(&d.socket, Duration::from_secs(30)).unwrap();
    let mut fast = Client::connect_with_timeout(&d.socket, Duration::from_secs(30)).unwrap();
    let t = Instant::now();
    let mut got = 0;
    let mut dropped = 0;
    while got < 400 {
        let m = fast.next().expect("the fast client keeps receiving");
        dropped += m.frame.dropped_since_last;
        got += 1;
    }
    let rate = got as f64 / t.elapsed().as_secs_f64();
    assert!(rate > 20.0, "fast client got only {rate:.0} messages/s");
    assert_eq!(dropped, 0, "the fast client lost messages");
    // The slow one, never reading, was disconnected after 5 misses in a row.
    drop(slow);
    d.signal(Signal::SIGTERM);
    let (status, _, err) = d.wait(Duration::from_secs(5));
    assert!(status.success());
    assert!(
        err.contains("missed 5 frames in a row; disconnecting it"),
        "{err}"
    );
}

#[test]
fn a_second_daemon_on_a_live_socket_refuses_and_a_stale_one_is_replaced() {
    let dir = scratch("stale");
    let cfg = config(&dir, "");
    // A stale socket file: bound once, its owner gone.
    let stale = std::os::unix::net::UnixListener::bind(dir.join("d.sock")).unwrap();
    drop(stale);
    assert!(dir.join("d.sock").exists());
    let d = Daemon::start(&dir, &cfg, &[], &[]);
    let mut c = Client::connect_with_timeout(&d.socket, Duration::from_secs(30)).unwrap();
    c.next().unwrap();
    let (status, out) = run(
        &["--config", cfg.to_str().unwrap()],
        Duration::from_secs(60),
    );
    assert_eq!(status.code(), Some(69), "{out}");
    assert!(
        out.contains("another edge-infer is serving this socket"),
        "{out}"
    );
    c.next().expect("the first daemon is unaffected");
}

#[test]
fn config_errors_exit_78_naming_the_key() {
    let dir = scratch("config");
    let cfg = dir.join("bad.yaml");
    std::fs::write(&cfg, "camera:\n  fps: 99999\n").unwrap();
    let (status, out) = run(
        &["--config", cfg.to_str().unwrap()],
        Duration::from_secs(10),
    );
    assert_eq!(status.code(), Some(78), "{out}");
    assert!(out.contains("camera.fps"), "{out}");
    std::fs::write(&cfg, "camera:\n  colour: red\n").unwrap();
    let (status, out) = run(
        &["--config", cfg.to_str().unwrap()],
        Duration::from_secs(10),
    );
    assert_eq!(status.code(), Some(78), "{out}");
    assert!(
        out.contains("unknown field `colour`") && out.contains("line 2"),
        "{out}"
    );
}

#[test]
fn frames_limit_and_print_for_scripts() {
    let dir = scratch("print");
    let cfg = config(&dir, "");
    let (status, out) = run(
        &[
            "--config",
            cfg.to_str().unwrap(),
            "--frames",
            "5",
            "--print",
        ],
        Duration::from_secs(60),
    );
    assert!(status.success(), "{out}");
    let lines: Vec<&str> = out.lines().filter(|l| l.starts_with('{')).collect();
    assert_eq!(lines.len(), 5, "{out}");
    assert!(lines.iter().all(|l| l.contains("\"detections\":[")));
}

#[test]
fn a_client_that_sends_bytes_is_disconnected_and_max_clients_holds() {
    let dir = scratch("clients");
    let cfg = config(&dir, "  max_clients: 2\n");
    let d = Daemon::start(&dir, &cfg, &[], &[]);
    // Let the daemon notice that start-up's probe client left.
    std::thread::sleep(Duration::from_millis(500));
    let mut good = Client::connect_with_timeout(&d.socket, Duration::from_secs(30)).unwrap();
    // A raw peer that talks: the protocol says clients send nothing.
    let rude = nix::sys::socket::socket(
        nix::sys::socket::AddressFamily::Unix,
        nix::sys::socket::SockType::SeqPacket,
        nix::sys::socket::SockFlag::empty(),
        None,
    )
    .unwrap();
    let addr = nix::sys::socket::UnixAddr::new(&d.socket).unwrap();
    nix::sys::socket::connect(std::os::fd::AsRawFd::as_raw_fd(&rude), &addr).unwrap();
    nix::sys::socket::send(
        std::os::fd::AsRawFd::as_raw_fd(&rude),
        b"GET / HTTP/1.1\r\n",
        nix::sys::socket::MsgFlags::empty(),
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(1000));
    // The third client (good + rude + this) is over max_clients=2 unless rude was dropped:
    // it was, so this one is served.
    let mut third = Client::connect_with_timeout(&d.socket, Duration::from_secs(5))
        .expect("served after the rude client left");
    third.next().unwrap();
    good.next().unwrap();
    // Now two are connected: a fourth is refused (closed without a Hello).
    assert!(
        Client::connect_with_timeout(&d.socket, Duration::from_secs(2)).is_err(),
        "max_clients=2 must refuse a third"
    );
    d.signal(Signal::SIGTERM);
    let (status, _, err) = d.wait(Duration::from_secs(5));
    assert!(status.success());
    assert!(
        err.contains("sent data, which the protocol does not allow"),
        "{err}"
    );
    assert!(err.contains("refusing a client"), "{err}");
}

#[test]
fn nothing_is_logged_per_frame_at_info() {
    let dir = scratch("quiet");
    let cfg = config(&dir, "");
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("fps: 30", "fps: 0");
    std::fs::write(&cfg, text).unwrap();
    let (status, out) = run(
        &["--config", cfg.to_str().unwrap(), "--frames", "300"],
        Duration::from_secs(120),
    );
    assert!(status.success(), "{out}");
    let lines = out.lines().count();
    assert!(lines < 20, "{lines} log lines for 300 frames:\n{out}");
}

#[test]
fn the_engine_cache_is_reused_and_rebuilt_with_the_reason() {
    let dir = scratch("cache");
    let model = dir.join("m.cfg");
    std::fs::copy(repo("engine/tests/fixtures/allops.cfg"), &model).unwrap();
    let cfg = config(&dir, "");
    let text = std::fs::read_to_string(&cfg).unwrap();
    let model_line = text.lines().next().unwrap().to_string();
    std::fs::write(
        &cfg,
        text.replace(&model_line, &format!("model: {}", model.display())),
    )
    .unwrap();
    let go = || {
        run(
            &["--config", cfg.to_str().unwrap(), "--frames", "1"],
            Duration::from_secs(120),
        )
        .1
    };
    assert!(go().contains("building engine") && go().contains("using cached engine"));
    // The model changes (a comment suffices: the cache keys on the file's hash).
    std::fs::write(
        &model,
        format!("# edited\n{}", std::fs::read_to_string(&model).unwrap()),
    )
    .unwrap();
    let out = go();
    assert!(out.contains("(the model changed"), "{out}");
    // The cached engine claims another device.
    let key = dir.join("cache/m.fp32.key");
    let k = std::fs::read_to_string(&key).unwrap();
    let device = k
        .lines()
        .find(|l| l.starts_with("device="))
        .unwrap()
        .to_string();
    std::fs::write(&key, k.replace(&device, "device=cpu riscv64 simd=portable")).unwrap();
    let out = go();
    assert!(
        out.contains("(the device changed (built for cpu riscv64"),
        "{out}"
    );
    assert!(go().contains("using cached engine"));
}

#[test]
fn flags_override_the_config_file() {
    let dir = scratch("override");
    let cfg = config(&dir, "");
    let d = Daemon::start(&dir, &cfg, &["--width", "160", "--height", "96"], &[]);
    let c = Client::connect_with_timeout(&d.socket, Duration::from_secs(30)).unwrap();
    if !camera().1 {
        assert_eq!(
            (c.hello().source_width, c.hello().source_height),
            (160, 96),
            "the file said 320x240"
        );
    }
}
