//! V4L2 cameras: format negotiation, mmap streaming and the `cameras` listing.
//!
//! Capabilities, formats, sizes, frame rates and controls go through the `v4l` crate's safe API.
//! The streaming loop does not: the crate's `io::mmap::Stream` gives a buffer back to the driver
//! only at the next call, queues the same buffer twice after a poll timeout or an interrupted
//! poll (the next call then fails with EINVAL), hides the buffer flags' meaning, and panics in
//! `Drop` on any error but ENODEV. [`Buffers`] is the replacement: REQBUFS/QUERYBUF/mmap once in
//! `start`, then DQBUF -> frame -> QBUF per frame with nothing allocated, all through the crate's
//! raw `v4l2::ioctl`/`mmap`, and a `Drop` that never panics.

mod buffers;
mod cameras;

use buffers::Buffers;
use cameras::Fps;
pub use cameras::{list_cameras, CameraInfo, FormatInfo, Rates, SizeInfo};
use std::ffi::{c_int, c_void};
use std::fmt;
use std::io;
use std::ptr::NonNull;
use std::sync::Arc;
use std::time::{Duration, Instant};

use v4l::buffer::Type as BufType;
use v4l::capability::Flags as Caps;
use v4l::device::Handle;
use v4l::format::description::Flags as FormatFlags;
use v4l::format::FieldOrder;
use v4l::frameinterval::FrameIntervalEnum;
use v4l::framesize::FrameSizeEnum;
use v4l::memory::Memory;
use v4l::parameters::Capabilities as ParamCaps;
use v4l::v4l_sys::{
    v4l2_buffer, v4l2_requestbuffers, V4L2_BUF_FLAG_ERROR, V4L2_BUF_FLAG_TIMESTAMP_MASK,
    V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC,
};
use v4l::video::capture::Parameters;
use v4l::video::Capture;
use v4l::{v4l2, Device, Format, FourCC, Fraction};

use super::{CaptureError, FrameSource, SourceOptions, StreamInfo};
use crate::clock::monotonic_ns;
use crate::frame::{Frame, PixelFormat};

/// How long `next` waits for a frame before it reports `Timeout`.
pub const FRAME_TIMEOUT: Duration = Duration::from_secs(2);

/// The order `start` picks formats in when the config names none: uncompressed first (no decode
/// on the capture path), the 4:2:2 formats every USB camera offers first among those, MJPEG last.
pub const PREFERENCE: [PixelFormat; 7] = [
    PixelFormat::Yuyv,
    PixelFormat::Uyvy,
    PixelFormat::Nv12,
    PixelFormat::Rgb24,
    PixelFormat::Bgr24,
    PixelFormat::Grey,
    PixelFormat::Mjpeg,
];

/// A V4L2 capture device, e.g. "/dev/video0". Nothing touches the device before `start`;
/// `stop`, or dropping the source, stops the stream and closes the device.
pub struct V4l2 {
    path: String,
    opts: SourceOptions,
    stream: Option<Streaming>,
}

/// An open, streaming device.
struct Streaming {
    buffers: Buffers,
    format: PixelFormat,
    width: usize,
    height: usize,
    stride: usize,
    /// The rate the driver reports (None if it does not say).
    fps: Option<f32>,
    /// Bytes a raw frame occupies: frames are handed over trimmed to this (None: MJPEG).
    frame_len: Option<usize>,
    wall_clock_logged: bool,
    short_logged: bool,
}

impl V4l2 {
    pub fn new(path: &str, opts: &SourceOptions) -> V4l2 {
        V4l2 {
            path: path.into(),
            opts: opts.clone(),
            stream: None,
        }
    }

    fn open(&self) -> Result<Streaming, CaptureError> {
        let path = &self.path;
        let device = Device::with_path(path).map_err(|e| open_error(path, e))?;
        let caps = device
            .query_caps()
            .map_err(|e| setup_error(path, "reading its capabilities", e))?;
        let who = format!("{path} ({}, driver {})", caps.card, caps.driver);
        check_capabilities(caps.capabilities)
            .map_err(|why| CaptureError::Unusable(format!("{who} {why}")))?;

        let offered = device.enum_formats().unwrap_or_default();
        let usable: Vec<PixelFormat> = offered
            .iter()
            .filter_map(|d| PixelFormat::from_fourcc(d.fourcc.repr))
            .collect();
        let Some(format) = choose_format(self.opts.format, &usable) else {
            // ENUM_FMT reads "no formats" for a device that just went away: tell the two apart.
            device
                .query_caps()
                .map_err(|e| setup_error(path, "listing its formats", e))?;
            let offers: Vec<String> = offered
                .iter()
                .map(|d| format!("{} ({})", fourcc_str(d.fourcc.repr), d.description))
                .collect();
            return Err(CaptureError::Unusable(format!(
                "{who}: none of its formats is one edge-infer reads; it offers {}; edge-infer reads {}",
                if offers.is_empty() { "none".to_string() } else { offers.join(", ") },
                PREFERENCE.map(|p| p.name()).join(", ")
            )));
        };
        if let Some(wanted) = self.opts.format.filter(|w| *w != format) {
            log::warn!(
                "{who} does not offer {wanted}; using {format} (it offers {})",
                usable
                    .iter()
                    .map(|p| p.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }

        let requested = Format {
            width: clamp_u32(self.opts.width),
            height: clamp_u32(self.opts.height),
            fourcc: FourCC::new(&format.fourcc()),
            field_order: FieldOrder::Progressive,
            stride: 0,
            size: 0,
            ..device
                .format()
                .map_err(|e| setup_error(path, "reading its format", e))?
        };
        let got = device.set_format(&requested).map_err(|e| {
            setup_error(
                path,
                &format!("setting {format} {}x{}", requested.width, requested.height),
                e,
            )
        })?;
        let Some(format) = PixelFormat::from_fourcc(got.fourcc.repr) else {
            return Err(CaptureError::Unusable(format!(
                "{who}: asked for {format}, the driver set {}, which edge-infer does not read",
                fourcc_str(got.fourcc.repr)
            )));
        };
        let (width, height) = (got.width as usize, got.height as usize);
        let min_stride = width * format.bytes_per_pixel();
        let stride = (got.stride as usize).max(min_stride);
        if width == 0 || height == 0 {
            return Err(CaptureError::Unusable(format!(
                "{who}: the driver set a {width}x{height} frame"
            )));
        }
        if (width, height) != (self.opts.width, self.opts.height) {
            log::info!(
                "{who}: asked for {}x{}, the driver set {width}x{height}",
                self.opts.width,
                self.opts.height
            );
        }

        let fps = set_frame_rate(&device, &who, self.opts.fps);
        let mut buffers = Buffers::request(device.handle(), self.opts.buffers.clamp(2, 32))
            .map_err(|e| setup_error(path, "allocating its buffers", e))?;
        buffers
            .start()
            .map_err(|e| setup_error(path, "starting the stream", e))?;
        log::info!(
            "{who}: {format} {width}x{height}, stride {stride}, {} fps, {} buffers",
            fps.map_or("unknown".to_string(), |f| Fps(f).to_string()),
            buffers.maps.len()
        );
        let frame_len = match format {
            PixelFormat::Mjpeg => None,
            f => Some(f.frame_len(width, height, stride)),
        };
        Ok(Streaming {
            buffers,
            format,
            width,
            height,
            stride,
            fps,
            frame_len,
            wall_clock_logged: false,
            short_logged: false,
        })
    }

    /// Bytes from one row to the next in the negotiated format (None when not streaming).
    /// `StreamInfo` does not carry it; drivers may pad rows beyond width * bytes per pixel.
    pub fn stride(&self) -> Option<usize> {
        self.stream.as_ref().map(|s| s.stride)
    }
}

impl FrameSource for V4l2 {
    fn name(&self) -> &str {
        &self.path
    }

    fn start(&mut self) -> Result<StreamInfo, CaptureError> {
        self.stop();
        let s = self.open()?;
        let info = StreamInfo {
            format: s.format,
            width: s.width,
            height: s.height,
            fps: s.fps.unwrap_or(0.0),
        };
        self.stream = Some(s);
        Ok(info)
    }

    fn next(&mut self, f: &mut dyn FnMut(&Frame)) -> Result<(), CaptureError> {
        let path = &self.path;
        let Some(s) = self.stream.as_mut() else {
            return Err(CaptureError::Disconnected(format!(
                "{path} is not streaming"
            )));
        };
        let deadline = Instant::now() + FRAME_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match s
                .buffers
                .handle
                .poll(nix::libc::POLLIN, left.as_millis() as i32)
            {
                Ok(0) => return Err(CaptureError::Timeout(FRAME_TIMEOUT.as_millis() as u64)),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(stream_error(path, "waiting for a frame", e)),
            }
            let buf = match s.buffers.dequeue() {
                Ok(buf) => buf,
                // Poll said ready, yet no buffer: the driver flagged an error (POLLERR).
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return Err(CaptureError::Disconnected(format!(
                        "{path}: the device reports an error and delivers no frames"
                    )))
                }
                Err(e) => return Err(stream_error(path, "taking a frame", e)),
            };
            let used = (buf.bytesused as usize).min(s.buffers.maps[buf.index as usize].len);
            let len = s.frame_len.unwrap_or(used);
            let corrupt = buf.flags & V4L2_BUF_FLAG_ERROR != 0 || used == 0;
            if corrupt || used < len {
                if !corrupt && !s.short_logged {
                    log::warn!(
                        "{path}: dropping frames of {used} bytes; a {} frame needs {len}",
                        s.format
                    );
                    s.short_logged = true;
                }
                s.buffers
                    .queue(buf.index)
                    .map_err(|e| stream_error(path, "giving a buffer back", e))?;
                continue;
            }
            let stamp = frame_time_ns(buf.flags, buf.timestamp.tv_sec, buf.timestamp.tv_usec);
            let timestamp_ns = stamp.unwrap_or_else(|| {
                if !s.wall_clock_logged {
                    log::warn!("{path}: timestamps not on CLOCK_MONOTONIC; stamping on arrival");
                    s.wall_clock_logged = true;
                }
                monotonic_ns()
            });
            f(&Frame {
                format: s.format,
                width: s.width,
                height: s.height,
                stride: s.stride,
                data: s.buffers.bytes(buf.index, len),
                timestamp_ns,
                sequence: u64::from(buf.sequence),
            });
            s.buffers
                .queue(buf.index)
                .map_err(|e| stream_error(path, "giving a buffer back", e))?;
            return Ok(());
        }
    }

    fn stop(&mut self) {
        // Dropping `Buffers` stops the stream, unmaps, frees the driver's buffers and closes.
        self.stream = None;
    }
}

fn clamp_u32(v: usize) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

/// A fourcc for people: "YUYV", "Y10" (padded with spaces), "Y16-BE" (the big-endian bit set).
fn fourcc_str(f: [u8; 4]) -> String {
    let big_endian = f[3] & 0x80 != 0;
    let chars: String = [f[0], f[1], f[2], f[3] & 0x7f]
        .iter()
        .map(|&b| match b {
            b' ' => ' ',
            b if b.is_ascii_graphic() => b as char,
            _ => '?',
        })
        .collect();
    let s = chars.trim_end();
    if big_endian {
        format!("{s}-BE")
    } else {
        s.to_string()
    }
}

/// Refuses devices `start` cannot stream from, saying what they are instead.
fn check_capabilities(caps: Caps) -> Result<(), String> {
    if !caps.contains(Caps::VIDEO_CAPTURE) {
        if caps.contains(Caps::VIDEO_CAPTURE_MPLANE) {
            return Err(
                "captures only through the multi-planar API, which edge-infer does not support yet"
                    .into(),
            );
        }
        return Err(format!(
            "is not a video capture device (it offers: {})",
            describe_caps(caps)
        ));
    }
    if !caps.contains(Caps::STREAMING) {
        return Err(format!(
            "does not support streaming I/O, which edge-infer needs (it offers: {})",
            describe_caps(caps)
        ));
    }
    Ok(())
}

fn describe_caps(caps: Caps) -> String {
    const NAMES: [(Caps, &str); 12] = [
        (Caps::VIDEO_CAPTURE, "video capture"),
        (Caps::VIDEO_CAPTURE_MPLANE, "multi-planar video capture"),
        (Caps::VIDEO_OUTPUT, "video output"),
        (Caps::VIDEO_OUTPUT_MPLANE, "multi-planar video output"),
        (Caps::VIDEO_M2M, "memory-to-memory"),
        (Caps::VIDEO_M2M_MPLANE, "multi-planar memory-to-memory"),
        (Caps::VBI_CAPTURE, "VBI capture"),
        (Caps::META_CAPTURE, "metadata capture"),
        (Caps::META_OUTPUT, "metadata output"),
        (Caps::SDR_CAPTURE, "SDR capture"),
        (Caps::TOUCH, "touch"),
        (Caps::STREAMING, "streaming"),
    ];
    let names: Vec<&str> = NAMES
        .iter()
        .filter(|(c, _)| caps.contains(*c))
        .map(|(_, n)| *n)
        .collect();
    if names.is_empty() {
        format!("capabilities {:#010x}", caps.bits())
    } else {
        names.join(", ")
    }
}

/// The preferred format if the device offers it, else the best offered by [`PREFERENCE`].
pub fn choose_format(
    preferred: Option<PixelFormat>,
    offered: &[PixelFormat],
) -> Option<PixelFormat> {
    preferred
        .filter(|p| offered.contains(p))
        .or_else(|| PREFERENCE.into_iter().find(|p| offered.contains(p)))
}

/// Asks for `fps` if the driver lets us; returns the rate the driver then reports.
fn set_frame_rate(device: &Device, who: &str, fps: f32) -> Option<f32> {
    let params = device.params().ok()?;
    if fps > 0.0 && params.capabilities.contains(ParamCaps::TIME_PER_FRAME) {
        if let Err(e) = device.set_params(&Parameters::new(fps_to_interval(fps))) {
            log::warn!("{who}: cannot set {fps} fps: {e}");
        }
    }
    device
        .params()
        .ok()
        .and_then(|p| interval_to_fps(p.interval))
}

/// The frame interval for a rate: 30 -> 1/30, 29.97 -> 100/2997, 7.5 -> 2/15.
pub fn fps_to_interval(fps: f32) -> Fraction {
    let den = (f64::from(fps) * 1000.0)
        .round()
        .clamp(1.0, u32::MAX as f64) as u32;
    let g = gcd(1000, den);
    Fraction::new(1000 / g, den / g)
}

/// The rate of a frame interval (None if the driver reports none).
pub fn interval_to_fps(i: Fraction) -> Option<f32> {
    (i.numerator > 0 && i.denominator > 0)
        .then(|| (f64::from(i.denominator) / f64::from(i.numerator)) as f32)
}

fn gcd(mut a: u32, mut b: u32) -> u32 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// A frame's capture time in CLOCK_MONOTONIC nanoseconds, if the driver stamped it with that
/// clock (V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC); None otherwise (then the caller stamps it itself).
pub fn frame_time_ns(flags: u32, sec: i64, usec: i64) -> Option<u64> {
    let monotonic = flags & V4L2_BUF_FLAG_TIMESTAMP_MASK == V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC;
    let valid = sec > 0 || (sec == 0 && usec > 0);
    (monotonic && valid && (0..1_000_000).contains(&usec))
        .then(|| sec as u64 * 1_000_000_000 + usec as u64 * 1_000)
}

fn os_error(e: &io::Error) -> i32 {
    e.raw_os_error().unwrap_or(0)
}

/// Opening failed: absent, unplugged or not (yet) accessible devices are retried.
fn open_error(path: &str, e: io::Error) -> CaptureError {
    use nix::libc::{EACCES, EPERM};
    let hint = match os_error(&e) {
        EACCES | EPERM => " (the daemon's user needs to be in the 'video' group)",
        _ => "",
    };
    CaptureError::Disconnected(format!("cannot open {path}: {e}{hint}"))
}

/// Negotiation failed: refusals of the request are final, everything else is retried.
fn setup_error(path: &str, doing: &str, e: io::Error) -> CaptureError {
    use nix::libc::{EINVAL, ENOTTY};
    match os_error(&e) {
        ENOTTY => CaptureError::Unusable(format!("{path} is not a V4L2 device ({doing}: {e})")),
        EINVAL => CaptureError::Unusable(format!("{path}: {doing}: {e}")),
        nix::libc::EBUSY => CaptureError::Disconnected(format!(
            "{path}: {doing}: {e} (is another program using it?)"
        )),
        _ => CaptureError::Disconnected(format!("{path}: {doing}: {e}")),
    }
}

/// Streaming failed: whatever it was, the pipeline starts over.
fn stream_error(path: &str, doing: &str, e: io::Error) -> CaptureError {
    CaptureError::Disconnected(format!("{path}: {doing}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preferred_format_wins_when_offered_else_the_best_offered() {
        use PixelFormat::*;
        assert_eq!(choose_format(None, &[Mjpeg, Grey, Yuyv]), Some(Yuyv));
        assert_eq!(choose_format(None, &[Mjpeg, Nv12]), Some(Nv12));
        assert_eq!(choose_format(Some(Mjpeg), &[Yuyv, Mjpeg]), Some(Mjpeg));
        assert_eq!(choose_format(Some(Mjpeg), &[Bgr24, Rgb24]), Some(Rgb24));
        assert_eq!(choose_format(Some(Yuyv), &[]), None);
    }

    #[test]
    fn frame_rates_become_reduced_intervals_and_back() {
        let i = fps_to_interval(30.0);
        assert_eq!((i.numerator, i.denominator), (1, 30));
        let i = fps_to_interval(7.5);
        assert_eq!((i.numerator, i.denominator), (2, 15));
        let i = fps_to_interval(29.97);
        assert_eq!((i.numerator, i.denominator), (100, 2997));
        assert_eq!(interval_to_fps(Fraction::new(1, 25)), Some(25.0));
        assert_eq!(interval_to_fps(Fraction::new(0, 0)), None);
        assert_eq!(Fps(29.97).to_string(), "29.97");
        assert_eq!(Fps(30.0).to_string(), "30");
        assert_eq!(Fps(12.5).to_string(), "12.5");
    }

    #[test]
    fn only_monotonic_timestamps_are_taken_from_the_driver() {
        let mono = V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC;
        assert_eq!(frame_time_ns(mono, 12, 345_678), Some(12_345_678_000));
        // Other flags beside the clock do not matter.
        assert_eq!(frame_time_ns(mono | 0x0001_0001, 1, 0), Some(1_000_000_000));
        // Unknown clock, COPY (m2m) timestamps, zero or malformed stamps: stamp on arrival.
        assert_eq!(frame_time_ns(0, 12, 345_678), None);
        assert_eq!(frame_time_ns(0x4000, 12, 345_678), None);
        assert_eq!(frame_time_ns(mono, 0, 0), None);
        assert_eq!(frame_time_ns(mono, -1, 0), None);
        assert_eq!(frame_time_ns(mono, 1, 1_000_000), None);
    }

    #[test]
    fn fourccs_print_without_padding_and_with_their_byte_order() {
        assert_eq!(fourcc_str(*b"YUYV"), "YUYV");
        assert_eq!(fourcc_str(*b"Y10 "), "Y10");
        assert_eq!(fourcc_str([b'Y', b'1', b'6', b' ' | 0x80]), "Y16-BE");
        assert_eq!(fourcc_str([0, 1, b'A', b'B']), "??AB");
    }

    #[test]
    fn probing_lists_unopenable_devices_and_skips_non_v4l2_files() {
        let path = "/dev/video-edge-infer-does-not-exist";
        let missing = CameraInfo::probe(path).expect("listed with its problem");
        assert!(
            missing.problem.as_deref().is_some_and(|p| p.contains(path)),
            "{missing:?}"
        );
        assert!(
            missing.describe().contains("not usable: cannot open"),
            "{}",
            missing.describe()
        );
        assert_eq!(CameraInfo::probe("/dev/null"), None);
    }

    #[test]
    fn a_missing_device_is_disconnected_and_new_touches_nothing() {
        let path = "/dev/video-edge-infer-does-not-exist";
        let mut v = V4l2::new(path, &SourceOptions::default());
        assert_eq!(v.name(), path);
        match v.start() {
            Err(CaptureError::Disconnected(m)) => assert!(m.contains(path), "{m}"),
            other => panic!("expected Disconnected, got {other:?}"),
        }
        assert!(matches!(
            v.next(&mut |_| {}),
            Err(CaptureError::Disconnected(_))
        ));
        v.stop();
    }

    #[test]
    fn a_file_that_is_not_a_v4l2_device_is_unusable() {
        let mut v = V4l2::new("/dev/null", &SourceOptions::default());
        match v.start() {
            Err(CaptureError::Unusable(m)) => assert!(m.contains("/dev/null"), "{m}"),
            other => panic!("expected Unusable, got {other:?}"),
        }
    }
}
