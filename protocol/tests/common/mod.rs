//! A fake daemon for the client tests: binds a `SOCK_SEQPACKET` listener, accepts one client,
//! sends it the given packets, then closes or holds the connection. Plus the messages the tests
//! exchange and a helper to run example programs with a deadline.
#![allow(dead_code)] // each test file uses its own part

pub mod mutate;

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use edge_infer_protocol::{
    encode_detections, ClassNames, Detection, FrameInfo, Hello, MAX_MESSAGE_LEN,
};
use nix::sys::socket::{
    self, sockopt, AddressFamily, Backlog, MsgFlags, SockFlag, SockType, UnixAddr,
};
use nix::sys::time::TimeVal;

/// No test waits longer than this for anything.
pub const DEADLINE: Duration = Duration::from_secs(10);

/// What the fake daemon does after sending its packets.
#[derive(Clone, Copy)]
pub enum After {
    /// Close the connection at once.
    Close,
    /// Keep it open this long (or until the client closes), recording what the client sends.
    Hold(Duration),
}

pub struct FakeDaemon {
    path: PathBuf,
    thread: Option<JoinHandle<Vec<u8>>>,
}

impl FakeDaemon {
    /// Listens on a fresh socket path; the first client to connect gets `packets`.
    pub fn serve(packets: Vec<Vec<u8>>, after: After) -> FakeDaemon {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "edgi-test-{}-{}.sock",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_file(&path);
        let listener = socket::socket(
            AddressFamily::Unix,
            SockType::SeqPacket,
            SockFlag::SOCK_CLOEXEC,
            None,
        )
        .expect("socket");
        socket::bind(
            listener.as_raw_fd(),
            &UnixAddr::new(&path).expect("socket path"),
        )
        .expect("bind");
        socket::listen(&listener, Backlog::new(4).expect("backlog")).expect("listen");
        // accept() honours SO_RCVTIMEO: a client that never connects cannot hang the thread.
        socket::setsockopt(&listener, sockopt::ReceiveTimeout, &timeval(DEADLINE))
            .expect("timeout");

        let thread = std::thread::spawn(move || {
            let raw = socket::accept(listener.as_raw_fd()).expect("no client connected");
            // SAFETY: accept just returned this descriptor; nothing else owns it.
            let conn = unsafe { OwnedFd::from_raw_fd(raw) };
            for p in &packets {
                // A client that has read what it wanted may leave before the last packet.
                match socket::send(conn.as_raw_fd(), p, MsgFlags::MSG_NOSIGNAL) {
                    Ok(_) | Err(nix::errno::Errno::EPIPE) | Err(nix::errno::Errno::ECONNRESET) => {}
                    Err(e) => panic!("send: {e}"),
                }
            }
            let mut received = Vec::new();
            if let After::Hold(how_long) = after {
                socket::setsockopt(&conn, sockopt::ReceiveTimeout, &timeval(how_long))
                    .expect("timeout");
                let mut buf = vec![0u8; MAX_MESSAGE_LEN];
                while let Ok(n @ 1..) = socket::recv(conn.as_raw_fd(), &mut buf, MsgFlags::empty())
                {
                    received.extend_from_slice(&buf[..n]);
                }
            }
            received
        });
        FakeDaemon {
            path,
            thread: Some(thread),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Waits for the daemon thread; returns the bytes the client sent (it should send none).
    pub fn finish(mut self) -> Vec<u8> {
        self.thread
            .take()
            .expect("finished once")
            .join()
            .expect("fake daemon thread")
    }
}

impl Drop for FakeDaemon {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn timeval(d: Duration) -> TimeVal {
    TimeVal::new(d.as_secs() as _, d.subsec_micros() as _)
}

pub const CLASS_NAMES: [&str; 3] = ["person", "bicycle", "car"];

pub fn hello() -> Hello<'static> {
    Hello {
        model_name: "yolov3-tiny",
        input_width: 416,
        input_height: 416,
        source_width: 640,
        source_height: 480,
        max_detections: 100,
        class_names: ClassNames::new(&CLASS_NAMES),
    }
}

pub fn hello_packet() -> Vec<u8> {
    let mut buf = vec![0u8; MAX_MESSAGE_LEN];
    let len = hello().encode(&mut buf).expect("encode hello");
    buf.truncate(len);
    buf
}

/// Frame `i` of the test stream: `i` detections (values chosen to print without rounding ties).
pub fn frame(i: u64) -> (FrameInfo, Vec<Detection>) {
    let info = FrameInfo {
        sequence: 100 + i,
        capture_ns: 1_000_000_000 + i * 33_000_000,
        publish_ns: 1_000_000_000 + i * 33_000_000 + 4_500_000,
        source_width: 640,
        source_height: 480,
        dropped_since_last: i as u32 % 2,
    };
    let dets = (0..i)
        .map(|k| Detection {
            class: (k % 3) as u16,
            score: 0.75 - 0.125 * k as f32,
            x1: 10.0 + k as f32,
            y1: 20.5,
            x2: 100.0,
            y2: 200.7 + k as f32,
        })
        .collect();
    (info, dets)
}

pub fn frame_packet(i: u64) -> Vec<u8> {
    let (info, dets) = frame(i);
    let mut buf = vec![0u8; MAX_MESSAGE_LEN];
    let len = encode_detections(&mut buf, &info, dets).expect("encode detections");
    buf.truncate(len);
    buf
}

/// What the example clients print for `hello()` then frames 0, 1 and 2, written by hand.
pub const WATCH_OUTPUT: &str = "\
hello version=1 model=yolov3-tiny input=416x416 source=640x480 max_detections=100 classes=3
class 0 person
class 1 bicycle
class 2 car
frame sequence=100 capture_ns=1000000000 publish_ns=1004500000 source=640x480 dropped=0 count=0
frame sequence=101 capture_ns=1033000000 publish_ns=1037500000 source=640x480 dropped=1 count=1
  0 person score=0.750 box=(10.0,20.5)-(100.0,200.7)
frame sequence=102 capture_ns=1066000000 publish_ns=1070500000 source=640x480 dropped=0 count=2
  0 person score=0.750 box=(10.0,20.5)-(100.0,200.7)
  1 bicycle score=0.625 box=(11.0,20.5)-(100.0,201.7)
";

/// Prints a line that `cargo test` shows even for a passing test (libtest captures `print!`,
/// not writes to the stderr handle).
pub fn say(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// Runs `cmd` to completion or kills it after [`DEADLINE`] (and fails the test).
pub fn run_with_deadline(cmd: &mut Command) -> Output {
    let mut child: Child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    // Drain both pipes while waiting, so a chatty child never blocks on a full pipe.
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            bytes
        })
    };
    let stdout = drain(Box::new(child.stdout.take().expect("stdout")));
    let stderr = drain(Box::new(child.stderr.take().expect("stderr")));
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break Some(status);
        }
        if start.elapsed() > DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let stdout = stdout.join().expect("stdout reader");
    let stderr = stderr.join().expect("stderr reader");
    let Some(status) = status else {
        panic!(
            "{cmd:?} still running after {DEADLINE:?}; stdout:\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&stdout),
            String::from_utf8_lossy(&stderr)
        );
    };
    Output {
        status,
        stdout,
        stderr,
    }
}

/// The crate's directory (for `include/`, `examples/`).
pub fn crate_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The C compiler (`$CC`, else `cc`), or `None` after saying the test is skipped.
pub fn c_compiler(test: &str) -> Option<String> {
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".to_string());
    match Command::new(&cc).arg("--version").output() {
        Ok(out) if out.status.success() => Some(cc),
        _ => {
            say(&format!(
                "SKIPPED {test}: no C compiler ({cc}) found; set CC or install one"
            ));
            None
        }
    }
}

/// Compiles `source` (relative to the crate) with `cc` and edge_infer.h's strict flags into the
/// test scratch directory; panics with the compiler's output if it fails.
pub fn compile_c(cc: &str, source: &str, name: &str) -> PathBuf {
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let output = Command::new(cc)
        .args([
            "-std=c11",
            "-Wall",
            "-Wextra",
            "-Wpedantic",
            "-Wconversion",
            "-Werror",
            "-O1",
        ])
        .arg("-I")
        .arg(crate_dir().join("include"))
        .arg(crate_dir().join(source))
        .arg("-o")
        .arg(&out)
        .output()
        .expect("run the C compiler");
    assert!(
        output.status.success(),
        "{cc} {source} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    out
}

/// `python3`, or `None` after saying the test is skipped.
pub fn python(test: &str) -> Option<&'static str> {
    match Command::new("python3").arg("--version").output() {
        Ok(out) if out.status.success() => Some("python3"),
        _ => {
            say(&format!("SKIPPED {test}: python3 not found"));
            None
        }
    }
}
