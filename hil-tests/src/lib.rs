//! Driving the real `edge-infer` binary from tests: start it with a config, wait for its
//! socket, signal it, read its output.
#![forbid(unsafe_code)]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The binary under test: `EDGE_INFER_BIN`, else the one built beside this test executable.
pub fn binary() -> PathBuf {
    if let Some(p) = std::env::var_os("EDGE_INFER_BIN") {
        return p.into();
    }
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> -> target/<profile>/edge-infer
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .map(|d| d.join("edge-infer"));
    match bin {
        Some(b) if b.exists() => b,
        _ => panic!("edge-infer binary not found beside {}; run `cargo build -p edge-infer` or set EDGE_INFER_BIN", exe.display()),
    }
}

pub fn repo(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(p)
}

/// A fresh temporary directory for one scenario.
pub fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("edge-hil-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The camera the scenarios use: real hardware when EDGE_INFER_HIL_CAMERA says so.
pub fn camera() -> (String, bool) {
    match std::env::var("EDGE_INFER_HIL_CAMERA") {
        Ok(c) if !c.is_empty() => (c, true),
        _ => {
            eprintln!(
                "hil: simulated camera (set EDGE_INFER_HIL_CAMERA=/dev/videoN for real hardware)"
            );
            ("synthetic:shapes:5".into(), false)
        }
    }
}

pub fn device() -> String {
    std::env::var("EDGE_INFER_HIL_DEVICE").unwrap_or_else(|_| "cpu".into())
}

pub struct Daemon {
    pub child: Child,
    pub socket: PathBuf,
    pub dir: PathBuf,
}

/// A config for a small, fast pipeline: the all-ops test model (64x64) on the CPU.
pub fn config(dir: &Path, extra: &str) -> PathBuf {
    let (cam, _) = camera();
    let text = format!(
        "model: {model}\nweights: random:1\ndevice: {dev}\ncache_dir: {cache}\ncamera:\n  device: \"{cam}\"\n  width: 320\n  height: 240\n  fps: 30\nsocket:\n  path: {sock}\n{extra}",
        model = repo("engine/tests/fixtures/allops.cfg").display(),
        dev = device(),
        cache = dir.join("cache").display(),
        sock = dir.join("d.sock").display(),
    );
    let path = dir.join("edge-infer.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

impl Daemon {
    /// Starts the daemon with `config` and `args`, and waits for its socket.
    pub fn start(dir: &Path, config: &Path, args: &[&str], env: &[(&str, &str)]) -> Daemon {
        let mut cmd = Command::new(binary());
        cmd.arg("--config")
            .arg(config)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("edge-infer starts");
        let mut d = Daemon {
            child,
            socket: dir.join("d.sock"),
            dir: dir.into(),
        };
        d.wait_for_socket(Duration::from_secs(60));
        d
    }

    /// Until a client can connect (a stale file from an earlier run does not count).
    fn wait_for_socket(&mut self, limit: Duration) {
        let t = Instant::now();
        loop {
            if edge_infer_protocol::Client::connect_with_timeout(
                &self.socket,
                Duration::from_secs(5),
            )
            .is_ok()
            {
                return;
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                let mut err = String::new();
                if let Some(mut e) = self.child.stderr.take() {
                    let _ = e.read_to_string(&mut err);
                }
                panic!("edge-infer exited with {status} before serving: {err}");
            }
            assert!(
                t.elapsed() < limit,
                "no socket at {} after {limit:?}",
                self.socket.display()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn signal(&self, s: nix::sys::signal::Signal) {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.child.id() as i32), s).unwrap();
    }

    /// Waits for exit, up to `limit`; returns status, how long it took, stderr.
    pub fn wait(mut self, limit: Duration) -> (ExitStatus, Duration, String) {
        let t = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                let mut err = String::new();
                if let Some(mut e) = self.child.stderr.take() {
                    let _ = e.read_to_string(&mut err);
                }
                return (status, t.elapsed(), err);
            }
            if t.elapsed() > limit {
                let _ = self.child.kill();
                panic!("edge-infer did not exit within {limit:?}");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the binary to completion with a time limit.
pub fn run(args: &[&str], limit: Duration) -> (ExitStatus, String) {
    let mut child = Command::new(binary())
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Both pipes are drained while it runs, so a chatty process cannot block on a full pipe.
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = r.read_to_string(&mut s);
            s
        })
    };
    let out = drain(Box::new(child.stdout.take().unwrap()));
    let err = drain(Box::new(child.stderr.take().unwrap()));
    let t = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut text = out.join().unwrap();
            text.push_str(&err.join().unwrap());
            return (status, text);
        }
        if t.elapsed() > limit {
            let _ = child.kill();
            panic!("edge-infer {args:?} did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
