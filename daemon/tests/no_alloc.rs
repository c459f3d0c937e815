//! The steady-state pipeline allocates nothing per frame: capture (synthetic camera, YUYV),
//! slot, conversion, engine, decode, encode and publish to a connected client, 1000 frames
//! after warm-up, counted by a global allocator on every thread but libtest's own.

use edge_engine::import::darknet;
use edge_engine::yolo::DecodeParams;
use edge_engine::{Builder, Engine};
use edge_infer::capture::{synthetic::Synthetic, FrameSource, SourceOptions};
use edge_infer::frame::PixelFormat;
use edge_infer::pipeline::{self, Backoff, Inference, Shared};
use edge_infer::publish::Publisher;
use edge_infer::slot::LatestFrame;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Counting;
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// Whether this thread's allocations count; decided on its first allocation.
    static COUNTED: Cell<Option<bool>> = const { Cell::new(None) };
}

/// Every thread counts except the process's main thread. That one is libtest's harness (each
/// test runs on a thread of its own), which allocates on its own schedule: with several test
/// threads on a slow machine (qemu), its "has been running for over 60 seconds" notice would
/// land in the counted window. The pipeline's threads, the engine's workers, the client and
/// this test's own thread are all spawned threads, so all of them still count.
fn counted() -> bool {
    COUNTED
        .try_with(|c| {
            let yes = c
                .get()
                .unwrap_or_else(|| nix::unistd::gettid() != nix::unistd::getpid());
            c.set(Some(yes));
            yes
        })
        .unwrap_or(true)
}

fn count() {
    if counted() {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: forwards to the system allocator unchanged; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn a_thousand_frames_after_warm_up_allocate_nothing() {
    let cfg = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../engine/tests/fixtures/allops.cfg"
    );
    let model = darknet::load_cfg(std::path::Path::new(cfg), None).unwrap();
    let params = darknet::weights::random(&model, 1);
    let graph = model.with_params(&params).unwrap();
    let engine = Engine::from_plan(Builder::default().build(graph, &mut |_| {}).unwrap()).unwrap();
    let ctx = engine.context(1).unwrap();

    let opts = SourceOptions {
        width: 160,
        height: 120,
        fps: 0.0,
        format: Some(PixelFormat::Yuyv),
        ..SourceOptions::default()
    };
    let mut source = Synthetic::new("shapes:3", &opts).unwrap();
    let info = source.start().unwrap();

    let dir = std::env::temp_dir().join(format!("edge-noalloc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let hello = vec![0u8; 16];
    let publisher =
        Arc::new(Publisher::bind(&dir.join("s.sock"), 0o600, None, 4, 1_000_000, hello).unwrap());
    // A client that reads every message into a fixed buffer.
    let client = nix::sys::socket::socket(
        nix::sys::socket::AddressFamily::Unix,
        nix::sys::socket::SockType::SeqPacket,
        nix::sys::socket::SockFlag::empty(),
        None,
    )
    .unwrap();
    let addr = nix::sys::socket::UnixAddr::new(&dir.join("s.sock")).unwrap();
    nix::sys::socket::connect(std::os::fd::AsRawFd::as_raw_fd(&client), &addr).unwrap();
    publisher.housekeeping();
    assert_eq!(publisher.client_count(), 1);
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        let mut n = 0u64;
        while let Ok(len) = nix::sys::socket::recv(
            std::os::fd::AsRawFd::as_raw_fd(&client),
            &mut buf,
            nix::sys::socket::MsgFlags::empty(),
        ) {
            if len == 0 {
                break;
            }
            n += 1;
        }
        n
    });

    let shared = Arc::new(Shared::new(0));
    let slot = Arc::new(LatestFrame::new(pipeline::frame_bytes(&info)));
    let backoff = Backoff {
        min: Duration::from_millis(10),
        max: Duration::from_millis(100),
    };
    let capture = {
        let (slot, shared) = (slot.clone(), shared.clone());
        std::thread::spawn(move || {
            pipeline::capture_loop(Box::new(source), info, slot, shared, backoff)
        })
    };
    let inference = {
        let (slot, shared) = (slot.clone(), shared.clone());
        let inf = Inference {
            engine,
            ctx,
            params: DecodeParams::default(),
            publisher: Some(publisher.clone()),
            print: false,
            save_frames: None,
        };
        std::thread::spawn(move || pipeline::inference_loop(inf, slot, shared, info))
    };
    let inferred = || shared.stats.inferred.load(Ordering::SeqCst);
    // Stalled means no new frame for a minute, not slow: under qemu 1000 frames take minutes.
    let wait_for = |n: u64| {
        let (mut seen, mut since) = (inferred(), Instant::now());
        while seen < n {
            std::thread::sleep(Duration::from_millis(1));
            let now = inferred();
            if now != seen {
                (seen, since) = (now, Instant::now());
            }
            assert!(
                since.elapsed() < Duration::from_secs(60),
                "pipeline stalled at {seen} frames"
            );
        }
    };
    wait_for(50);
    let before = ALLOCATIONS.load(Ordering::SeqCst);
    let start = inferred();
    wait_for(start + 1000);
    let allocations = ALLOCATIONS.load(Ordering::SeqCst) - before;
    let frames = inferred() - start;
    shared.stop.store(true, Ordering::SeqCst);
    slot.close();
    capture.join().unwrap();
    inference.join().unwrap();
    publisher.shutdown();
    let received = reader.join().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(received >= 1000, "the client got {received} messages");
    assert_eq!(
        allocations, 0,
        "{allocations} allocations in {frames} frames"
    );
}
