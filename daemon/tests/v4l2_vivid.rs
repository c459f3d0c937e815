//! The V4L2 source against a real kernel driver: vivid, the kernel's virtual camera.
//!
//! `hil-tests/vm/run-vivid.sh` boots a VM, loads vivid and runs these tests there. Anywhere else
//! each test prints a `skipped:` line and passes. EDGE_INFER_V4L2_DEVICE names the device
//! (default /dev/video0); the tests that need vivid's formats, controls or test pattern skip on
//! other drivers, the rest run on any camera.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use edge_infer::capture::v4l2::{list_cameras, CameraInfo, Rates, SizeInfo, V4l2, PREFERENCE};
use edge_infer::capture::{CaptureError, FrameSource, SourceOptions, StreamInfo};
use edge_infer::clock::monotonic_ns;
use edge_infer::frame::{Frame, PixelFormat};

/// The device, if there is one: else a visible skip line. A device named in the environment
/// must exist: a run set up for hardware does not pass by skipping.
fn device() -> Option<String> {
    let named = std::env::var("EDGE_INFER_V4L2_DEVICE").ok();
    let path = named.clone().unwrap_or_else(|| "/dev/video0".into());
    if Path::new(&path).exists() {
        Some(path)
    } else if named.is_some() {
        panic!("EDGE_INFER_V4L2_DEVICE={path}, which does not exist");
    } else {
        skip("no V4L2 device (run hil-tests/vm/run-vivid.sh)");
        None
    }
}

/// The device, if it is vivid: else a visible skip line.
fn vivid() -> Option<String> {
    let path = device()?;
    match CameraInfo::probe(&path) {
        Some(c) if c.driver == "vivid" => Some(path),
        Some(c) => {
            skip(&format!("{path} is driver '{}', not vivid", c.driver));
            None
        }
        None => {
            skip(&format!("{path} is not a video capture device"));
            None
        }
    }
}

/// Written past libtest's output capture, so a skip shows in every run.
fn skip(why: &str) {
    let _ = writeln!(std::io::stderr(), "skipped: {why}");
}

/// The tests share one device and some of them disconnect it: one at a time.
fn exclusive() -> MutexGuard<'static, ()> {
    static DEVICE: Mutex<()> = Mutex::new(());
    DEVICE.lock().unwrap_or_else(|e| e.into_inner())
}

fn options(width: usize, height: usize, format: Option<PixelFormat>, fps: f32) -> SourceOptions {
    SourceOptions {
        width,
        height,
        fps,
        format,
        buffers: 4,
        ..SourceOptions::default()
    }
}

/// What the tests keep of a frame.
#[derive(Clone, Debug)]
struct Seen {
    format: PixelFormat,
    width: usize,
    height: usize,
    stride: usize,
    len: usize,
    timestamp_ns: u64,
    sequence: u64,
    /// Monotonic time when the frame was handed over.
    received_ns: u64,
    /// RGB at the middle of each of the eight colour bars, half way down.
    bars: [[u8; 3]; 8],
}

fn next_frame(src: &mut V4l2) -> Seen {
    let mut seen = None;
    src.next(&mut |f| {
        let mut bars = [[0; 3]; 8];
        for (i, bar) in bars.iter_mut().enumerate() {
            *bar = rgb_at(f, (2 * i + 1) * f.width / 16, f.height / 2);
        }
        seen = Some(Seen {
            format: f.format,
            width: f.width,
            height: f.height,
            stride: f.stride,
            len: f.data.len(),
            timestamp_ns: f.timestamp_ns,
            sequence: f.sequence,
            received_ns: monotonic_ns(),
            bars,
        });
    })
    .unwrap_or_else(|e| panic!("{}: next: {e}", src.name()));
    seen.expect("next returned Ok without a frame")
}

/// One pixel as RGB, BT.601 limited range for the YUV formats, grey as R = G = B.
fn rgb_at(f: &Frame, x: usize, y: usize) -> [u8; 3] {
    let row = y * f.stride;
    let (luma, u, v) = match f.format {
        PixelFormat::Rgb24 => return f.data[row + 3 * x..][..3].try_into().unwrap(),
        PixelFormat::Bgr24 => {
            let p = &f.data[row + 3 * x..][..3];
            return [p[2], p[1], p[0]];
        }
        PixelFormat::Grey => return [f.data[row + x]; 3],
        PixelFormat::Yuyv => {
            let pair = row + x / 2 * 4;
            (f.data[row + 2 * x], f.data[pair + 1], f.data[pair + 3])
        }
        PixelFormat::Uyvy => {
            let pair = row + x / 2 * 4;
            (f.data[row + 2 * x + 1], f.data[pair], f.data[pair + 2])
        }
        PixelFormat::Nv12 => {
            let uv = f.stride * f.height + y / 2 * f.stride + x / 2 * 2;
            (f.data[row + x], f.data[uv], f.data[uv + 1])
        }
        PixelFormat::Mjpeg => panic!("no pixels in a JPEG"),
    };
    let c = 1.164 * (luma as f32 - 16.0);
    let (u, v) = (u as f32 - 128.0, v as f32 - 128.0);
    let clamp = |x: f32| x.round().clamp(0.0, 255.0) as u8;
    [
        clamp(c + 1.596 * v),
        clamp(c - 0.392 * u - 0.813 * v),
        clamp(c + 2.017 * u),
    ]
}

/// vivid's default pattern is colour bars: white, yellow, cyan, green, magenta, red, blue, black.
fn assert_colour_bars(format: PixelFormat, bars: &[[u8; 3]; 8]) {
    if format == PixelFormat::Grey {
        // The bars are in falling luma order.
        let luma: Vec<u8> = bars.iter().map(|b| b[0]).collect();
        assert!(
            luma.windows(2).all(|w| w[0] > w[1]),
            "{format}: bar lumas should fall left to right: {luma:?}"
        );
        return;
    }
    const ON: [[bool; 3]; 8] = [
        [true, true, true],
        [true, true, false],
        [false, true, true],
        [false, true, false],
        [true, false, true],
        [true, false, false],
        [false, false, true],
        [false, false, false],
    ];
    for (i, (bar, on)) in bars.iter().zip(ON).enumerate() {
        for c in 0..3 {
            let ok = if on[c] { bar[c] > 140 } else { bar[c] < 60 };
            assert!(
                ok,
                "{format}: bar {i} is {bar:?}, expected channels on {on:?}; all bars {bars:?}"
            );
        }
    }
}

fn start(src: &mut V4l2) -> StreamInfo {
    src.start()
        .unwrap_or_else(|e| panic!("{}: start: {e}", src.name()))
}

#[test]
fn cameras_listing_shows_vivids_formats() {
    let _one = exclusive();
    let Some(path) = vivid() else { return };
    let cameras = list_cameras();
    let cam = cameras
        .iter()
        .find(|c| c.path == path)
        .unwrap_or_else(|| panic!("{path} missing from {cameras:?}"));
    assert_eq!(cam.problem, None);
    assert!(cam.card.contains("vivid"), "{cam:?}");
    // vivid's output node is no camera.
    if let Some(out) = sibling_node(&path, "vid-out") {
        assert!(cameras.iter().all(|c| c.path != out), "{out} listed");
    }
    for want in [
        PixelFormat::Yuyv,
        PixelFormat::Uyvy,
        PixelFormat::Nv12,
        PixelFormat::Rgb24,
        PixelFormat::Bgr24,
        PixelFormat::Grey,
    ] {
        let f = cam
            .formats
            .iter()
            .find(|f| f.pixel_format == Some(want))
            .unwrap_or_else(|| panic!("{path}: no {want} in the listing"));
        assert_eq!(f.fourcc, want.fourcc());
        assert!(!f.compressed);
        let vga = f.sizes.iter().find_map(|s| match s {
            SizeInfo::Discrete {
                width: 640,
                height: 480,
                rates,
            } => Some(rates),
            _ => None,
        });
        // vivid's webcam runs 640x480 at 25 fps and below, fastest listed first.
        match vga {
            Some(Rates::Discrete(r)) => {
                assert!(r[0] == 25.0 && r.windows(2).all(|w| w[0] > w[1]), "{r:?}")
            }
            other => panic!("{path} {want}: 640x480 rates {other:?}"),
        }
    }
    // Formats edge-infer cannot read are listed too, marked as such.
    assert!(cam.formats.iter().any(|f| f.pixel_format.is_none()));

    let text = cam.describe();
    for needle in [
        path.as_str(),
        "driver vivid",
        "yuyv",
        "nv12",
        "grey",
        "640x480",
        "1280x720",
        "12.5",
        "does not read",
    ] {
        assert!(text.contains(needle), "'{needle}' missing from:\n{text}");
    }
}

#[test]
fn cameras_command_prints_the_listing() {
    let _one = exclusive();
    let Some(path) = vivid() else { return };
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_edge-infer"))
        .arg("cameras")
        .output()
        .expect("running edge-infer cameras");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{:?}: {text}", out.status);
    for needle in [
        &format!("{path}: vivid"),
        "yuyv",
        "bgr24",
        "320x180",
        "60, 50",
    ] {
        assert!(text.contains(needle), "'{needle}' missing from:\n{text}");
    }
}

#[test]
fn negotiates_every_format_vivid_offers() {
    let _one = exclusive();
    let Some(path) = vivid() else { return };
    for format in [
        PixelFormat::Yuyv,
        PixelFormat::Uyvy,
        PixelFormat::Nv12,
        PixelFormat::Rgb24,
        PixelFormat::Bgr24,
        PixelFormat::Grey,
    ] {
        let mut src = V4l2::new(&path, &options(640, 480, Some(format), 30.0));
        let info = start(&mut src);
        assert_eq!(
            (info.format, info.width, info.height),
            (format, 640, 480),
            "{path}: asked for {format} 640x480"
        );
        let stride = src.stride().expect("streaming");
        assert_eq!(stride, 640 * format.bytes_per_pixel(), "{format}");
        // A few frames in: the first may be generated before the pattern settles.
        for _ in 0..2 {
            next_frame(&mut src);
        }
        let f = next_frame(&mut src);
        assert_eq!(
            (f.format, f.width, f.height, f.stride),
            (format, 640, 480, stride)
        );
        assert_eq!(
            f.len,
            format.frame_len(640, 480, stride),
            "{format}: frame bytes"
        );
        assert_colour_bars(format, &f.bars);
        src.stop();
    }
}

#[test]
fn picks_the_best_offered_format_when_none_is_preferred() {
    let _one = exclusive();
    let Some(path) = device() else { return };
    let offered: Vec<PixelFormat> = CameraInfo::probe(&path)
        .map(|c| c.formats.iter().filter_map(|f| f.pixel_format).collect())
        .unwrap_or_default();
    let best = PREFERENCE.into_iter().find(|p| offered.contains(p));
    let mut src = V4l2::new(&path, &options(640, 480, None, 30.0));
    match (best, src.start()) {
        (Some(best), Ok(info)) => {
            assert_eq!(info.format, best, "offered {offered:?}");
            assert_eq!(next_frame(&mut src).format, best);
        }
        (None, Err(CaptureError::Unusable(m))) => assert!(m.contains(&path), "{m}"),
        (best, got) => panic!("{path}: best {best:?}, start gave {got:?}"),
    }
}

#[test]
fn a_preferred_format_the_device_lacks_falls_back_to_the_best() {
    let _one = exclusive();
    let Some(path) = vivid() else { return };
    // vivid has no MJPEG.
    let mut src = V4l2::new(&path, &options(640, 480, Some(PixelFormat::Mjpeg), 30.0));
    assert_eq!(start(&mut src).format, PixelFormat::Yuyv);
}

#[test]
fn streams_frames_with_increasing_monotonic_timestamps() {
    let _one = exclusive();
    let Some(path) = device() else { return };
    let mut src = V4l2::new(&path, &options(640, 480, None, 30.0));
    let before = monotonic_ns();
    let info = start(&mut src);
    let frames: Vec<Seen> = (0..30).map(|_| next_frame(&mut src)).collect();
    src.stop();
    let ms = |ns: i128| ns as f64 / 1e6;
    // Receipt minus timestamp: how old each frame is when handed over.
    let age: Vec<i128> = frames
        .iter()
        .map(|f| f.received_ns as i128 - f.timestamp_ns as i128)
        .collect();
    let (first, last) = (&frames[0], &frames[frames.len() - 1]);
    let _ = writeln!(
        std::io::stderr(),
        "{path}: {} {}x{} at {} fps: 30 frames over {:.0} ms, sequence {}..{}, first stamped \
         {:.1} ms after start, handed over {:.1}..{:.1} ms after their timestamps",
        info.format,
        info.width,
        info.height,
        info.fps,
        ms(last.timestamp_ns as i128 - first.timestamp_ns as i128),
        first.sequence,
        last.sequence,
        ms(first.timestamp_ns as i128 - before as i128),
        ms(*age.iter().min().unwrap()),
        ms(*age.iter().max().unwrap()),
    );
    // Stamps are CLOCK_MONOTONIC time: recent, and never ahead by more than a frame (drivers
    // stamp the end of exposure; vivid hands a frame over 0.9 frame periods before that).
    let period_ns = if info.fps > 0.0 {
        (1e9 / info.fps as f64) as i128
    } else {
        100_000_000
    };
    for (f, age) in frames.iter().zip(&age) {
        assert_eq!(
            (f.format, f.width, f.height),
            (info.format, info.width, info.height)
        );
        assert!(
            *age > -period_ns - 5_000_000,
            "{f:?} is stamped {} ms in the future",
            ms(-age)
        );
        assert!(*age < 1_000_000_000, "{f:?} is {} ms old", ms(*age));
        assert!(
            f.timestamp_ns + 1_000_000_000 > before,
            "{f:?} stamped before start at {before}"
        );
    }
    for w in frames.windows(2) {
        assert!(
            w[1].timestamp_ns > w[0].timestamp_ns,
            "timestamps {:?}",
            (w[0].timestamp_ns, w[1].timestamp_ns)
        );
        assert!(
            w[1].sequence > w[0].sequence,
            "sequence {} then {}",
            w[0].sequence,
            w[1].sequence
        );
    }
}

#[test]
fn sets_the_requested_frame_rate() {
    let _one = exclusive();
    let Some(path) = vivid() else { return };
    // 12.5 fps is 2/25 s, one of the intervals vivid's webcam input offers.
    let mut src = V4l2::new(&path, &options(320, 180, Some(PixelFormat::Yuyv), 12.5));
    let info = start(&mut src);
    assert_eq!(info.fps, 12.5, "{info:?}");
    let frames: Vec<Seen> = (0..12).map(|_| next_frame(&mut src)).collect();
    // Averaged over the run, per sequence number (frames the driver dropped still count).
    let (first, last) = (&frames[1], &frames[frames.len() - 1]);
    let period_ms = (last.timestamp_ns - first.timestamp_ns) as f64
        / 1e6
        / (last.sequence - first.sequence) as f64;
    assert!(
        (period_ms - 80.0).abs() < 4.0,
        "frames {period_ms:.1} ms apart at 12.5 fps"
    );
}

#[test]
fn reports_the_size_the_driver_chose() {
    let _one = exclusive();
    let Some(path) = vivid() else { return };
    let offered: Vec<(usize, usize)> = CameraInfo::probe(&path)
        .and_then(|c| {
            c.formats
                .into_iter()
                .find(|f| f.pixel_format == Some(PixelFormat::Yuyv))
        })
        .map(|f| {
            f.sizes
                .iter()
                .filter_map(|s| match s {
                    SizeInfo::Discrete { width, height, .. } => {
                        Some((*width as usize, *height as usize))
                    }
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    assert!(!offered.contains(&(1000, 700)), "{offered:?}");
    let mut src = V4l2::new(&path, &options(1000, 700, Some(PixelFormat::Yuyv), 30.0));
    let info = start(&mut src);
    assert!(
        offered.contains(&(info.width, info.height)),
        "{info:?} not among {offered:?}"
    );
    let f = next_frame(&mut src);
    assert_eq!((f.width, f.height), (info.width, info.height));
    assert_eq!(
        f.len,
        PixelFormat::Yuyv.frame_len(info.width, info.height, f.stride)
    );
    let _ = writeln!(
        std::io::stderr(),
        "{path}: asked for 1000x700, got {}x{}",
        info.width,
        info.height
    );
}

/// Counts this thread's heap allocations while `COUNTING` is set.
struct CountingAllocator;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn note_allocation() {
    if COUNTING.with(|c| c.get()) {
        ALLOCATIONS.with(|a| a.set(a.get() + 1));
    }
}

// SAFETY: forwards every call unchanged to the system allocator; the counting touches only
// const-initialized thread locals, which do not allocate.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        // SAFETY: the caller's obligations are the system allocator's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_allocation();
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

#[test]
fn next_does_not_allocate() {
    let _one = exclusive();
    let Some(path) = device() else { return };
    let mut src = V4l2::new(&path, &options(640, 480, None, 30.0));
    start(&mut src);
    let mut bytes = 0usize;
    let mut frame = |f: &Frame| bytes += f.data.len();
    src.next(&mut frame).expect("warm-up frame");
    ALLOCATIONS.with(|a| a.set(0));
    COUNTING.with(|c| c.set(true));
    let results: [Result<(), CaptureError>; 20] = std::array::from_fn(|_| src.next(&mut frame));
    COUNTING.with(|c| c.set(false));
    for r in results {
        r.expect("next");
    }
    assert_eq!(
        ALLOCATIONS.with(|a| a.get()),
        0,
        "heap allocations in 20 calls of next"
    );
    assert!(bytes > 0);
}

/// vivid's control of that name, by walking the device's controls.
fn control_id(dev: &v4l::Device, name: &str) -> u32 {
    use v4l::v4l_sys::{v4l2_queryctrl, V4L2_CTRL_FLAG_NEXT_CTRL};
    let mut id = 0;
    loop {
        // SAFETY: a plain C struct; all zeroes is a valid value.
        let mut q: v4l2_queryctrl = unsafe { std::mem::zeroed() };
        q.id = id | V4L2_CTRL_FLAG_NEXT_CTRL;
        // SAFETY: VIDIOC_QUERYCTRL takes a v4l2_queryctrl, and `q` is one, live and exclusive.
        let r = unsafe {
            v4l::v4l2::ioctl(
                dev.handle().fd(),
                v4l::v4l2::vidioc::VIDIOC_QUERYCTRL,
                (&mut q as *mut v4l2_queryctrl).cast(),
            )
        };
        if r.is_err() {
            panic!("no control '{name}'");
        }
        let len = q.name.iter().position(|&c| c == 0).unwrap_or(q.name.len());
        if &q.name[..len] == name.as_bytes() {
            return q.id;
        }
        id = q.id;
    }
}

fn set_control(dev: &v4l::Device, name: &str, value: i64) {
    let id = control_id(dev, name);
    dev.set_control(v4l::Control {
        id,
        value: v4l::control::Value::Integer(value),
    })
    .unwrap_or_else(|e| panic!("setting '{name}' to {value}: {e}"));
}

#[test]
fn no_frames_is_a_timeout_and_streaming_resumes() {
    let _one = exclusive();
    let Some(path) = vivid() else { return };
    let mut src = V4l2::new(&path, &options(320, 180, Some(PixelFormat::Yuyv), 30.0));
    start(&mut src);
    next_frame(&mut src);
    let ctl = v4l::Device::with_path(&path).expect("second handle");
    set_control(&ctl, "Percentage of Dropped Buffers", 100);
    // Buffers already filled may still come; then nothing.
    let t = Instant::now();
    let err = loop {
        match src.next(&mut |_| {}) {
            Ok(()) => assert!(t.elapsed() < Duration::from_secs(10), "frames keep coming"),
            Err(e) => break e,
        }
    };
    assert!(matches!(err, CaptureError::Timeout(2000)), "{err:?}");
    set_control(&ctl, "Percentage of Dropped Buffers", 0);
    let f = next_frame(&mut src);
    assert_eq!(f.width, 320);
}

#[test]
fn a_non_capture_device_is_unusable() {
    let _one = exclusive();
    let Some(path) = vivid() else { return };
    // vivid's video output node is registered next to its capture node.
    let Some(out) = sibling_node(&path, "vid-out") else {
        skip("no vivid video output node (load vivid with node_types=0x101)");
        return;
    };
    let mut src = V4l2::new(&out, &SourceOptions::default());
    match src.start() {
        Err(CaptureError::Unusable(m)) => {
            assert!(
                m.contains(&out)
                    && m.contains("not a video capture device")
                    && m.contains("video output"),
                "{m}"
            )
        }
        other => panic!("{out}: expected Unusable, got {other:?}"),
    }
}

/// The /dev node of the same vivid instance whose name ends in `suffix`.
fn sibling_node(path: &str, suffix: &str) -> Option<String> {
    let own = std::fs::read_to_string(sysfs_node(path)?.join("name")).ok()?;
    let prefix = own
        .trim()
        .rsplit_once('-')?
        .0
        .rsplit_once('-')?
        .0
        .to_string();
    std::fs::read_dir("/sys/class/video4linux")
        .ok()?
        .flatten()
        .find_map(|e| {
            let name = std::fs::read_to_string(e.path().join("name")).ok()?;
            (name.trim() == format!("{prefix}-{suffix}"))
                .then(|| format!("/dev/{}", e.file_name().to_string_lossy()))
        })
}

fn sysfs_node(path: &str) -> Option<PathBuf> {
    let name = Path::new(path).file_name()?;
    let p = Path::new("/sys/class/video4linux").join(name);
    p.exists().then_some(p)
}

#[test]
fn device_loss_then_reconnection_with_the_disconnect_control() {
    let _one = exclusive();
    let Some(path) = vivid() else { return };
    let mut src = V4l2::new(&path, &options(320, 180, Some(PixelFormat::Yuyv), 30.0));
    start(&mut src);
    next_frame(&mut src);

    // vivid acts unplugged until every handle to it is closed: this one keeps it so.
    let ctl = v4l::Device::with_path(&path).expect("second handle");
    set_control(&ctl, "Disconnect", 1);
    match src.next(&mut |_| {}) {
        Err(CaptureError::Disconnected(m)) => assert!(m.contains(&path), "{m}"),
        other => panic!("after Disconnect: {other:?}"),
    }
    src.stop();
    match src.start() {
        Err(CaptureError::Disconnected(m)) => assert!(m.contains(&path), "{m}"),
        other => panic!("start while disconnected: {other:?}"),
    }
    drop(ctl);
    // vivid reconnects when the last handle to any of its nodes closes, and that may be
    // another process's: udev probes the nodes a rebind (the test above) has just made.
    wait_for(
        || v4l::Device::with_path(&path).is_ok(),
        &format!("{path} to reconnect"),
    );

    let info = start(&mut src);
    assert_eq!(
        (info.format, info.width, info.height),
        (PixelFormat::Yuyv, 320, 180)
    );
    for _ in 0..3 {
        next_frame(&mut src);
    }
}

#[test]
fn device_loss_then_reconnection_by_unbinding_the_driver() {
    let _one = exclusive();
    let Some(path) = vivid() else { return };
    let Some(node) = sysfs_node(&path) else {
        return skip("no sysfs node");
    };
    let Ok(device) = node.join("device").canonicalize() else {
        return skip("no sysfs device");
    };
    let Ok(driver) = device.join("driver").canonicalize() else {
        return skip("no sysfs driver");
    };
    let id = device.file_name().unwrap().to_string_lossy().into_owned();
    let name = std::fs::read_to_string(node.join("name")).unwrap();
    let (unbind, bind) = (driver.join("unbind"), driver.join("bind"));
    if std::fs::OpenOptions::new()
        .write(true)
        .open(&unbind)
        .is_err()
    {
        return skip(&format!("cannot write {} (needs root)", unbind.display()));
    }

    let mut src = V4l2::new(&path, &options(320, 180, Some(PixelFormat::Yuyv), 30.0));
    start(&mut src);
    next_frame(&mut src);

    // The "USB cable" goes: the driver lets go of the device while we stream.
    std::fs::write(&unbind, &id).expect("unbind");
    let lost = src.next(&mut |_| {});
    assert!(
        matches!(lost, Err(CaptureError::Disconnected(_))),
        "after unbind: {lost:?}"
    );
    src.stop();
    wait_for(|| !Path::new(&path).exists(), &format!("{path} to go"));
    match src.start() {
        Err(CaptureError::Disconnected(m)) => assert!(m.contains(&path), "{m}"),
        other => panic!("start with the device gone: {other:?}"),
    }

    // And comes back.
    std::fs::write(&bind, &id).expect("bind");
    wait_for(
        || {
            std::fs::read_to_string(node.join("name")).is_ok_and(|n| n == name)
                && Path::new(&path).exists()
        },
        &format!("{path} to come back as {}", name.trim()),
    );
    let info = start(&mut src);
    assert_eq!(
        (info.format, info.width, info.height),
        (PixelFormat::Yuyv, 320, 180)
    );
    for _ in 0..3 {
        next_frame(&mut src);
    }
}

fn wait_for(cond: impl Fn() -> bool, what: &str) {
    let t = Instant::now();
    while !cond() {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "waited 10 s for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
