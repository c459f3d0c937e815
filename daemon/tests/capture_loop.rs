//! The capture thread against a flaky camera: reconnects with capped exponential backoff,
//! logs once per change of state, counts drops when inference is slower than the camera.

use edge_infer::capture::{CaptureError, FrameSource, StreamInfo};
use edge_infer::frame::{Frame, PixelFormat};
use edge_infer::pipeline::{self, Backoff, Shared};
use edge_infer::slot::{FrameBuf, LatestFrame, Take};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A camera scripted as a list of steps.
#[derive(Clone, Copy, Debug)]
enum Step {
    Frame,
    Lose,
}

struct Scripted {
    steps: Vec<Step>,
    at: usize,
    /// After a loss, `start` fails this many times before the camera is back.
    failing_starts: usize,
    starts: Arc<Mutex<Vec<Instant>>>,
    data: Vec<u8>,
}

impl FrameSource for Scripted {
    fn name(&self) -> &str {
        "scripted"
    }
    fn start(&mut self) -> Result<StreamInfo, CaptureError> {
        self.starts.lock().unwrap().push(Instant::now());
        if self.failing_starts > 0 {
            self.failing_starts -= 1;
            return Err(CaptureError::Disconnected("no such device".into()));
        }
        Ok(StreamInfo {
            format: PixelFormat::Grey,
            width: 4,
            height: 1,
            fps: 0.0,
        })
    }
    fn next(&mut self, f: &mut dyn FnMut(&Frame)) -> Result<(), CaptureError> {
        let step = self.steps.get(self.at).copied();
        self.at += 1;
        match step {
            Some(Step::Frame) => {
                f(&Frame {
                    format: PixelFormat::Grey,
                    width: 4,
                    height: 1,
                    stride: 4,
                    data: &self.data,
                    timestamp_ns: 0,
                    sequence: self.at as u64,
                });
                Ok(())
            }
            Some(Step::Lose) => {
                self.failing_starts = 3;
                Err(CaptureError::Disconnected("ENODEV".into()))
            }
            None => Err(CaptureError::EndOfStream),
        }
    }
    fn stop(&mut self) {}
}

/// Collects log lines so the test can count them.
struct Lines(Mutex<Vec<String>>);
impl log::Log for Lines {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }
    fn log(&self, r: &log::Record) {
        self.0.lock().unwrap().push(format!("{}", r.args()));
    }
    fn flush(&self) {}
}
static LOG: Lines = Lines(Mutex::new(Vec::new()));

#[test]
fn reconnects_with_capped_exponential_backoff_and_logs_each_change_once() {
    let _ = log::set_logger(&LOG);
    log::set_max_level(log::LevelFilter::Info);
    let starts = Arc::new(Mutex::new(Vec::new()));
    let source = Scripted {
        steps: vec![Step::Frame, Step::Lose, Step::Frame, Step::Frame],
        at: 0,
        failing_starts: 0,
        starts: starts.clone(),
        data: vec![7; 4],
    };
    let info = StreamInfo {
        format: PixelFormat::Grey,
        width: 4,
        height: 1,
        fps: 0.0,
    };
    let slot = Arc::new(LatestFrame::new(4));
    let shared = Arc::new(Shared::new(0));
    let backoff = Backoff {
        min: Duration::from_millis(40),
        max: Duration::from_millis(100),
    };
    let t0 = Instant::now();
    pipeline::capture_loop(
        Box::new(source),
        info,
        slot.clone(),
        shared.clone(),
        backoff,
    );
    // After the loss: waits of 40, 80, 100 (capped), 100 ms before the 4th start works.
    let starts = starts.lock().unwrap();
    assert_eq!(starts.len(), 4, "three failed starts and one that worked");
    let gaps: Vec<u128> = starts
        .windows(2)
        .map(|w| (w[1] - w[0]).as_millis())
        .collect();
    for (gap, want) in gaps.iter().zip([80u128, 100, 100]) {
        assert!(*gap >= want && *gap < want + 60, "gaps {gaps:?}");
    }
    assert!(t0.elapsed() < Duration::from_secs(2));
    assert_eq!(shared.stats.captured.load(Ordering::SeqCst), 3);
    let lines = LOG.0.lock().unwrap();
    assert_eq!(
        lines.iter().filter(|l| l.contains("lost (ENODEV)")).count(),
        1,
        "{lines:?}"
    );
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.contains("streaming again"))
            .count(),
        1,
        "{lines:?}"
    );
    // End of stream closes the slot so the inference thread ends too.
    let mut front = FrameBuf::with_capacity(4);
    assert!(matches!(
        slot.take(&mut front, Duration::from_millis(10)),
        Take::Frame
    ));
    assert!(matches!(
        slot.take(&mut front, Duration::from_millis(10)),
        Take::Closed
    ));
}

#[test]
fn frames_nobody_took_are_counted_as_dropped() {
    let source = Scripted {
        steps: vec![Step::Frame; 10],
        at: 0,
        failing_starts: 0,
        starts: Arc::default(),
        data: vec![1; 4],
    };
    let info = StreamInfo {
        format: PixelFormat::Grey,
        width: 4,
        height: 1,
        fps: 0.0,
    };
    let slot = Arc::new(LatestFrame::new(4));
    let shared = Arc::new(Shared::new(0));
    let backoff = Backoff {
        min: Duration::from_millis(1),
        max: Duration::from_millis(1),
    };
    pipeline::capture_loop(
        Box::new(source),
        info,
        slot.clone(),
        shared.clone(),
        backoff,
    );
    // Nobody read: the 9 frames replaced before being taken are drops; the newest waits.
    assert_eq!(shared.stats.captured.load(Ordering::SeqCst), 10);
    assert_eq!(shared.stats.dropped.load(Ordering::SeqCst), 9);
    let mut front = FrameBuf::with_capacity(4);
    assert!(matches!(
        slot.take(&mut front, Duration::from_millis(10)),
        Take::Frame
    ));
    assert_eq!(front.sequence, 10, "the newest frame wins");
}
