//! YUV4MPEG2 (.y4m) files as a camera: 4:2:0 (delivered as NV12) or mono (GREY), looped or
//! once. Frame buffers are allocated at start; reading a frame allocates nothing.

use super::{CaptureError, FrameSource, Pacer, SourceOptions, StreamInfo};
use crate::clock::monotonic_ns;
use crate::frame::{Frame, PixelFormat};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

pub struct Y4m {
    path: PathBuf,
    name: String,
    reader: Option<BufReader<std::fs::File>>,
    data_start: u64,
    width: usize,
    height: usize,
    format: PixelFormat,
    fps: f32,
    looped: bool,
    pacer: Pacer,
    planar: Vec<u8>,
    packed: Vec<u8>,
    line: Vec<u8>,
    sequence: u64,
}

#[derive(Debug, PartialEq)]
pub struct Header {
    pub width: usize,
    pub height: usize,
    pub fps: f32,
    pub mono: bool,
}

/// Parses the stream header line (without the trailing newline).
pub fn parse_header(line: &str) -> Result<Header, String> {
    let mut parts = line.split(' ');
    if parts.next() != Some("YUV4MPEG2") {
        return Err("not a YUV4MPEG2 file (first bytes are not 'YUV4MPEG2 ')".into());
    }
    let (mut w, mut h, mut fps, mut mono) = (0usize, 0usize, 0f32, false);
    for p in parts.filter(|p| !p.is_empty()) {
        let (tag, val) = p.split_at(1);
        match tag {
            "W" => w = val.parse().map_err(|_| format!("bad width '{val}'"))?,
            "H" => h = val.parse().map_err(|_| format!("bad height '{val}'"))?,
            "F" => {
                let (n, d) = val
                    .split_once(':')
                    .ok_or(format!("bad frame rate '{val}'"))?;
                let (n, d): (f32, f32) = (
                    n.parse().map_err(|_| format!("bad frame rate '{val}'"))?,
                    d.parse().map_err(|_| format!("bad frame rate '{val}'"))?,
                );
                fps = if d > 0.0 { n / d } else { 0.0 };
            }
            "C" => {
                mono = match val {
                    "420" | "420jpeg" | "420paldv" | "420mpeg2" => false,
                    "mono" => true,
                    other => {
                        return Err(format!(
                            "colour space C{other} is not supported (4:2:0 or mono)"
                        ))
                    }
                }
            }
            "I" if val != "p" && val != "?" => {
                return Err(format!("interlacing I{val} is not supported"));
            }
            _ => {}
        }
    }
    if w == 0 || h == 0 || w > 16384 || h > 16384 || w % 2 != 0 || h % 2 != 0 {
        return Err(format!("frame size {w}x{h}: even, non-zero, at most 16384"));
    }
    Ok(Header {
        width: w,
        height: h,
        fps,
        mono,
    })
}

impl Y4m {
    pub fn new(path: &Path, opts: &SourceOptions) -> Result<Y4m, CaptureError> {
        Ok(Y4m {
            path: path.into(),
            name: path.display().to_string(),
            reader: None,
            data_start: 0,
            width: 0,
            height: 0,
            format: PixelFormat::Nv12,
            fps: opts.fps,
            looped: opts.looped,
            pacer: Pacer::new(opts.fps),
            planar: Vec::new(),
            packed: Vec::new(),
            line: Vec::with_capacity(256),
            sequence: 0,
        })
    }

    fn unusable(&self, msg: impl std::fmt::Display) -> CaptureError {
        CaptureError::Unusable(format!("{}: {msg}", self.path.display()))
    }
}

impl FrameSource for Y4m {
    fn name(&self) -> &str {
        &self.name
    }

    fn start(&mut self) -> Result<StreamInfo, CaptureError> {
        let file = std::fs::File::open(&self.path).map_err(|e| self.unusable(e))?;
        let mut reader = BufReader::new(file);
        let mut line = Vec::new();
        reader
            .by_ref()
            .take(4096)
            .read_until(b'\n', &mut line)
            .map_err(|e| self.unusable(e))?;
        if line.last() != Some(&b'\n') {
            return Err(self.unusable("no stream header line"));
        }
        let text = std::str::from_utf8(&line[..line.len() - 1])
            .map_err(|_| self.unusable("header is not text"))?;
        let h = parse_header(text).map_err(|e| self.unusable(e))?;
        self.data_start = line.len() as u64;
        self.width = h.width;
        self.height = h.height;
        self.format = if h.mono {
            PixelFormat::Grey
        } else {
            PixelFormat::Nv12
        };
        if self.fps <= 0.0 || h.fps > 0.0 && self.fps != h.fps {
            self.fps = h.fps;
            self.pacer = Pacer::new(h.fps);
        }
        let luma = h.width * h.height;
        let frame = if h.mono { luma } else { luma * 3 / 2 };
        self.planar = vec![0; frame];
        self.packed = vec![0; frame];
        self.reader = Some(reader);
        Ok(StreamInfo {
            format: self.format,
            width: h.width,
            height: h.height,
            fps: self.fps,
        })
    }

    fn next(&mut self, f: &mut dyn FnMut(&Frame)) -> Result<(), CaptureError> {
        let Some(reader) = self.reader.as_mut() else {
            return Err(CaptureError::Disconnected("not started".into()));
        };
        self.line.clear();
        let n = reader
            .by_ref()
            .take(1024)
            .read_until(b'\n', &mut self.line)
            .map_err(|e| CaptureError::Unusable(e.to_string()))?;
        if n == 0 {
            if !self.looped {
                return Err(CaptureError::EndOfStream);
            }
            reader
                .seek(SeekFrom::Start(self.data_start))
                .map_err(|e| CaptureError::Unusable(e.to_string()))?;
            return self.next(f);
        }
        if !self.line.starts_with(b"FRAME") {
            return Err(self.unusable(format!("frame {}: expected a FRAME marker", self.sequence)));
        }
        let reader = self.reader.as_mut().expect("checked above");
        if let Err(e) = reader.read_exact(&mut self.planar) {
            return Err(if e.kind() == std::io::ErrorKind::UnexpectedEof {
                self.unusable(format!("frame {} is truncated", self.sequence))
            } else {
                self.unusable(e)
            });
        }
        self.pacer.wait();
        let luma = self.width * self.height;
        self.packed[..luma].copy_from_slice(&self.planar[..luma]);
        if self.format == PixelFormat::Nv12 {
            // I420 (U plane, V plane) to NV12 (interleaved UV).
            let q = luma / 4;
            let (u, v) = self.planar[luma..].split_at(q);
            for (i, uv) in self.packed[luma..].chunks_exact_mut(2).enumerate() {
                uv[0] = u[i];
                uv[1] = v[i];
            }
        }
        f(&Frame {
            format: self.format,
            width: self.width,
            height: self.height,
            stride: self.width,
            data: &self.packed,
            timestamp_ns: monotonic_ns(),
            sequence: self.sequence,
        });
        self.sequence += 1;
        Ok(())
    }

    fn stop(&mut self) {
        self.reader = None;
    }
}
