//! The latest-frame slot between the capture and inference threads: a triple buffer. The
//! capture thread fills its back buffer and swaps it in; the inference thread swaps out the
//! newest. Nothing queues: a frame not taken before the next arrives is dropped (counted).
//! Buffers are swapped, never copied or reallocated, under a short lock.

use crate::frame::PixelFormat;
use std::sync::{Condvar, Mutex};
use std::time::Duration;

/// A frame's bytes and what is needed to read them.
#[derive(Debug)]
pub struct FrameBuf {
    pub data: Vec<u8>,
    pub len: usize,
    pub format: PixelFormat,
    pub width: usize,
    pub height: usize,
    pub stride: usize,
    pub timestamp_ns: u64,
    pub sequence: u64,
}

impl FrameBuf {
    pub fn with_capacity(bytes: usize) -> FrameBuf {
        FrameBuf {
            data: vec![0; bytes],
            len: 0,
            format: PixelFormat::Rgb24,
            width: 0,
            height: 0,
            stride: 0,
            timestamp_ns: 0,
            sequence: 0,
        }
    }

    /// Copies a frame in. A frame bigger than the buffer (a driver that pads its rows, a
    /// large JPEG) grows it: once per buffer, not per frame.
    pub fn store(&mut self, f: &crate::frame::Frame) {
        if self.data.len() < f.data.len() {
            self.data.resize(f.data.len(), 0);
        }
        self.data[..f.data.len()].copy_from_slice(f.data);
        self.len = f.data.len();
        self.format = f.format;
        self.width = f.width;
        self.height = f.height;
        self.stride = f.stride;
        self.timestamp_ns = f.timestamp_ns;
        self.sequence = f.sequence;
    }

    pub fn frame(&self) -> crate::frame::Frame<'_> {
        crate::frame::Frame {
            format: self.format,
            width: self.width,
            height: self.height,
            stride: self.stride,
            data: &self.data[..self.len],
            timestamp_ns: self.timestamp_ns,
            sequence: self.sequence,
        }
    }
}

struct Middle {
    buf: FrameBuf,
    fresh: bool,
    closed: bool,
}

pub struct LatestFrame {
    middle: Mutex<Middle>,
    ready: Condvar,
}

pub enum Take {
    Frame,
    Timeout,
    Closed,
}

impl LatestFrame {
    pub fn new(bytes: usize) -> LatestFrame {
        LatestFrame {
            middle: Mutex::new(Middle {
                buf: FrameBuf::with_capacity(bytes),
                fresh: false,
                closed: false,
            }),
            ready: Condvar::new(),
        }
    }

    /// Publishes `back` as the newest frame, handing back the older buffer to fill next.
    /// Returns true when the frame it replaces was never taken (a drop).
    pub fn put(&self, back: &mut FrameBuf) -> bool {
        let mut m = self.middle.lock().unwrap_or_else(|p| p.into_inner());
        std::mem::swap(&mut m.buf, back);
        let dropped = std::mem::replace(&mut m.fresh, true);
        drop(m);
        self.ready.notify_one();
        dropped
    }

    /// Swaps the newest frame into `front`, waiting up to `timeout` for one.
    pub fn take(&self, front: &mut FrameBuf, timeout: Duration) -> Take {
        let m = self.middle.lock().unwrap_or_else(|p| p.into_inner());
        let (mut m, _) = self
            .ready
            .wait_timeout_while(m, timeout, |m| !m.fresh && !m.closed)
            .unwrap_or_else(|p| p.into_inner());
        if m.fresh {
            std::mem::swap(&mut m.buf, front);
            m.fresh = false;
            Take::Frame
        } else if m.closed {
            Take::Closed
        } else {
            Take::Timeout
        }
    }

    /// No more frames: wakes the reader.
    pub fn close(&self) {
        self.middle.lock().unwrap_or_else(|p| p.into_inner()).closed = true;
        self.ready.notify_all();
    }

    /// Re-sizes every buffer for a new stream geometry (after a reconnect), off the hot path.
    pub fn resize(&self, bytes: usize, back: &mut FrameBuf, front: &mut FrameBuf) {
        let mut m = self.middle.lock().unwrap_or_else(|p| p.into_inner());
        for b in [&mut m.buf, back, front] {
            if b.data.len() < bytes {
                b.data.resize(bytes, 0);
            }
        }
        m.fresh = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::Frame;

    fn frame(seq: u64, data: &[u8]) -> Frame<'_> {
        Frame {
            format: PixelFormat::Grey,
            width: data.len(),
            height: 1,
            stride: data.len(),
            data,
            timestamp_ns: seq,
            sequence: seq,
        }
    }

    #[test]
    fn the_newest_frame_wins_and_drops_are_reported() {
        let slot = LatestFrame::new(4);
        let (mut back, mut front) = (FrameBuf::with_capacity(4), FrameBuf::with_capacity(4));
        back.store(&frame(1, &[1, 1]));
        assert!(!slot.put(&mut back));
        back.store(&frame(2, &[2, 2, 2]));
        assert!(slot.put(&mut back), "frame 1 was never taken");
        assert!(matches!(
            slot.take(&mut front, Duration::from_millis(10)),
            Take::Frame
        ));
        assert_eq!((front.sequence, front.frame().data), (2, &[2u8, 2, 2][..]));
        assert!(matches!(
            slot.take(&mut front, Duration::from_millis(10)),
            Take::Timeout
        ));
        slot.close();
        assert!(matches!(
            slot.take(&mut front, Duration::from_secs(5)),
            Take::Closed
        ));
    }

    #[test]
    fn a_frame_larger_than_the_buffer_grows_it_once() {
        let mut b = FrameBuf::with_capacity(2);
        b.store(&frame(0, &[5, 6, 7]));
        assert_eq!(b.frame().data, &[5, 6, 7]);
        b.store(&frame(1, &[8]));
        assert_eq!((b.frame().data, b.data.len()), (&[8u8][..], 3));
    }

    #[test]
    fn a_waiting_reader_wakes_when_a_frame_arrives() {
        let slot = std::sync::Arc::new(LatestFrame::new(1));
        let s2 = slot.clone();
        let t = std::thread::spawn(move || {
            let mut f = FrameBuf::with_capacity(1);
            matches!(s2.take(&mut f, Duration::from_secs(10)), Take::Frame) && f.sequence == 9
        });
        std::thread::sleep(Duration::from_millis(50));
        let mut b = FrameBuf::with_capacity(1);
        b.store(&frame(9, &[9]));
        slot.put(&mut b);
        assert!(t.join().unwrap());
    }
}
