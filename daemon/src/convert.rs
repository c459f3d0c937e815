//! Camera pixels to the engine's input: any supported format, letterboxed (bilinear) into the
//! network size, BT.601 limited-range YUV to RGB, normalized as the plan says. Tables are
//! built once per source geometry; `fill` allocates nothing (MJPEG decoding aside).

use crate::frame::{Frame, PixelFormat};
use edge_engine::backend::cuda::preprocess::{Camera, RawFormat, Tap as GpuTap};
use edge_engine::model::ModelMeta;
use edge_engine::yolo::Letterbox;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConvertError {
    #[error(
        "{format} frame of {width}x{height} with stride {stride}: needs {need} bytes, got {got}"
    )]
    Short {
        format: PixelFormat,
        width: usize,
        height: usize,
        stride: usize,
        need: usize,
        got: usize,
    },
    #[error("{format} frame {got_w}x{got_h}, but the converter was set up for {want_w}x{want_h}")]
    Geometry {
        format: PixelFormat,
        got_w: usize,
        got_h: usize,
        want_w: usize,
        want_h: usize,
    },
    #[error("bad MJPEG frame: {0}")]
    Jpeg(String),
    #[error("frame size {0}x{1} is empty or too large")]
    Size(usize, usize),
}

/// Source sample positions and weight for one output row or column.
#[derive(Clone, Copy, Debug)]
struct Tap {
    lo: u32,
    hi: u32,
    w: f32,
}

pub struct Converter {
    format: PixelFormat,
    width: usize,
    height: usize,
    pub letterbox: Letterbox,
    net_w: usize,
    net_h: usize,
    rows: Vec<Option<Tap>>,
    cols: Vec<Option<Tap>>,
    scale: [f32; 3],
    offset: [f32; 3],
    pad: f32,
    /// Decoded MJPEG frames.
    rgb: Vec<u8>,
}

impl Converter {
    pub fn new(
        format: PixelFormat,
        width: usize,
        height: usize,
        meta: &ModelMeta,
    ) -> Result<Converter, ConvertError> {
        if width == 0 || height == 0 || width > 16384 || height > 16384 {
            return Err(ConvertError::Size(width, height));
        }
        let (net_w, net_h) = (meta.input.w, meta.input.h);
        let pre = &meta.preprocess;
        let lb = Letterbox::new(width, height, net_w, net_h, pre.letterbox);
        let taps = |n: usize, pad: usize, inner: usize, src: usize| -> Vec<Option<Tap>> {
            (0..n)
                .map(|i| {
                    let j = i.checked_sub(pad).filter(|&j| j < inner)?;
                    let pos = ((j as f32 + 0.5) * src as f32 / inner as f32 - 0.5).max(0.0);
                    let lo = (pos as usize).min(src - 1);
                    Some(Tap {
                        lo: lo as u32,
                        hi: (lo + 1).min(src - 1) as u32,
                        w: pos - lo as f32,
                    })
                })
                .collect()
        };
        // (v / 255 - mean) / std  ==  v * scale + offset
        let scale = std::array::from_fn(|c| 1.0 / (255.0 * pre.std[c]));
        let offset = std::array::from_fn(|c| -pre.mean[c] / pre.std[c]);
        Ok(Converter {
            format,
            width,
            height,
            letterbox: lb,
            net_w,
            net_h,
            rows: taps(net_h, lb.pad_y, lb.inner_h, height),
            cols: taps(net_w, lb.pad_x, lb.inner_w, width),
            scale,
            offset,
            pad: pre.pad_value,
            rgb: if format == PixelFormat::Mjpeg {
                vec![0; width * height * 3]
            } else {
                Vec::new()
            },
        })
    }

    pub fn format(&self) -> PixelFormat {
        self.format
    }

    /// The same conversion for the GPU preprocessor, for frames of `stride` and `bytes`; None
    /// for MJPEG, which is decoded on the CPU.
    pub fn gpu_camera(&self, stride: usize, bytes: usize) -> Option<Camera> {
        let format = match self.format {
            PixelFormat::Yuyv => RawFormat::Yuyv,
            PixelFormat::Uyvy => RawFormat::Uyvy,
            PixelFormat::Nv12 => RawFormat::Nv12,
            PixelFormat::Rgb24 => RawFormat::Rgb24,
            PixelFormat::Bgr24 => RawFormat::Bgr24,
            PixelFormat::Grey => RawFormat::Grey,
            PixelFormat::Mjpeg => return None,
        };
        let taps = |list: &[Option<Tap>]| -> Vec<GpuTap> {
            list.iter()
                .map(|t| {
                    t.map_or(GpuTap::BAR, |t| GpuTap {
                        lo: t.lo as i32,
                        hi: t.hi as i32,
                        w: t.w,
                    })
                })
                .collect()
        };
        Some(Camera {
            format,
            width: self.width,
            height: self.height,
            stride,
            bytes,
            rows: taps(&self.rows),
            cols: taps(&self.cols),
            scale: self.scale,
            offset: self.offset,
            pad: self.pad,
        })
    }

    /// Writes the network input (NHWC f32) for this frame.
    pub fn fill(&mut self, frame: &Frame, dst: &mut [f32]) -> Result<(), ConvertError> {
        self.dispatch(frame, Letterboxed(dst))
    }

    /// The frame as packed RGB8 at its own size (`width * height * 3` bytes), e.g. to save
    /// an annotated copy.
    pub fn rgb8(&mut self, frame: &Frame, dst: &mut [u8]) -> Result<(), ConvertError> {
        let (width, height) = (frame.width, frame.height);
        self.dispatch(frame, FullSize { dst, width, height })
    }

    /// Checks the frame and runs `sink` over a pixel reader for its format.
    fn dispatch(&mut self, frame: &Frame, sink: impl Sink) -> Result<(), ConvertError> {
        if (frame.width, frame.height, frame.format) != (self.width, self.height, self.format) {
            return Err(ConvertError::Geometry {
                format: frame.format,
                got_w: frame.width,
                got_h: frame.height,
                want_w: self.width,
                want_h: self.height,
            });
        }
        let f = *frame;
        if f.format != PixelFormat::Mjpeg {
            let min_stride = f.width * f.format.bytes_per_pixel();
            let need = f.format.frame_len(f.width, f.height, f.stride);
            if f.stride < min_stride || f.data.len() < need {
                return Err(ConvertError::Short {
                    format: f.format,
                    width: f.width,
                    height: f.height,
                    stride: f.stride,
                    need: need.max(f.format.frame_len(f.width, f.height, min_stride)),
                    got: f.data.len(),
                });
            }
        }
        let d = f.data;
        let s = f.stride;
        match f.format {
            PixelFormat::Rgb24 => sink.run(self, |x, y| {
                let o = y * s + x * 3;
                [d[o] as f32, d[o + 1] as f32, d[o + 2] as f32]
            }),
            PixelFormat::Bgr24 => sink.run(self, |x, y| {
                let o = y * s + x * 3;
                [d[o + 2] as f32, d[o + 1] as f32, d[o] as f32]
            }),
            PixelFormat::Grey => sink.run(self, |x, y| {
                let v = d[y * s + x] as f32;
                [v, v, v]
            }),
            PixelFormat::Yuyv => sink.run(self, |x, y| {
                let o = y * s + (x & !1) * 2;
                yuv_to_rgb(d[y * s + x * 2], d[o + 1], d[o + 3])
            }),
            PixelFormat::Uyvy => sink.run(self, |x, y| {
                let o = y * s + (x & !1) * 2;
                yuv_to_rgb(d[y * s + x * 2 + 1], d[o], d[o + 2])
            }),
            PixelFormat::Nv12 => {
                let uv = s * f.height;
                sink.run(self, |x, y| {
                    let o = uv + (y / 2) * s + (x & !1);
                    yuv_to_rgb(d[y * s + x], d[o], d[o + 1])
                })
            }
            PixelFormat::Mjpeg => {
                let mut decoder = zune_jpeg::JpegDecoder::new_with_options(
                    zune_core::bytestream::ZCursor::new(d),
                    zune_core::options::DecoderOptions::default()
                        .jpeg_set_out_colorspace(zune_core::colorspace::ColorSpace::RGB),
                );
                decoder
                    .decode_headers()
                    .map_err(|e| ConvertError::Jpeg(e.to_string()))?;
                let (w, h) = decoder.dimensions().unwrap_or((0, 0));
                if (w, h) != (self.width, self.height) {
                    return Err(ConvertError::Jpeg(format!(
                        "image is {w}x{h}, the stream said {}x{}",
                        self.width, self.height
                    )));
                }
                decoder
                    .decode_into(&mut self.rgb)
                    .map_err(|e| ConvertError::Jpeg(e.to_string()))?;
                let rgb = std::mem::take(&mut self.rgb);
                let w = self.width;
                sink.run(self, |x, y| {
                    let o = (y * w + x) * 3;
                    [rgb[o] as f32, rgb[o + 1] as f32, rgb[o + 2] as f32]
                });
                self.rgb = rgb;
            }
        }
        Ok(())
    }

    /// Bilinear letterbox over a source given as `pixel(x, y) -> [r, g, b]` in 0..=255.
    #[inline(always)]
    /// Rows go to the current rayon pool: the engine's workers, when called inside
    /// `Context::run`, which is where the daemon converts.
    fn letterbox_into(&self, dst: &mut [f32], pixel: impl Fn(usize, usize) -> [f32; 3] + Sync) {
        use rayon::prelude::*;
        let rows = self.net_h * self.net_w * 3;
        dst[..rows]
            .par_chunks_mut(self.net_w * 3)
            .enumerate()
            .for_each(|(y, row)| {
                let Some(ty) = self.rows[y] else {
                    row.fill(self.pad);
                    return;
                };
                for (x, px) in row.chunks_exact_mut(3).enumerate() {
                    let Some(tx) = self.cols[x] else {
                        px.fill(self.pad);
                        continue;
                    };
                    let (x0, x1, y0, y1) = (
                        tx.lo as usize,
                        tx.hi as usize,
                        ty.lo as usize,
                        ty.hi as usize,
                    );
                    let (a, b, c, d) = (pixel(x0, y0), pixel(x1, y0), pixel(x0, y1), pixel(x1, y1));
                    for k in 0..3 {
                        let top = a[k] + (b[k] - a[k]) * tx.w;
                        let bottom = c[k] + (d[k] - c[k]) * tx.w;
                        px[k] = (top + (bottom - top) * ty.w) * self.scale[k] + self.offset[k];
                    }
                }
            });
    }
}

/// What to do with a frame's pixels, given a reader for its format; generic so each format's
/// reader is inlined into each loop.
trait Sink {
    fn run(self, conv: &Converter, pixel: impl Fn(usize, usize) -> [f32; 3] + Sync);
}

struct Letterboxed<'a>(&'a mut [f32]);

impl Sink for Letterboxed<'_> {
    fn run(self, conv: &Converter, pixel: impl Fn(usize, usize) -> [f32; 3] + Sync) {
        conv.letterbox_into(self.0, pixel)
    }
}

struct FullSize<'a> {
    dst: &'a mut [u8],
    width: usize,
    height: usize,
}

impl Sink for FullSize<'_> {
    fn run(self, _: &Converter, pixel: impl Fn(usize, usize) -> [f32; 3] + Sync) {
        for (i, px) in self
            .dst
            .chunks_exact_mut(3)
            .take(self.width * self.height)
            .enumerate()
        {
            let p = pixel(i % self.width, i / self.width);
            for (o, v) in px.iter_mut().zip(p) {
                *o = v.round() as u8;
            }
        }
    }
}

/// BT.601 limited range ("studio swing": Y 16..235, Cb/Cr 16..240) to RGB 0..=255.
#[inline(always)]
pub fn yuv_to_rgb(y: u8, u: u8, v: u8) -> [f32; 3] {
    let c = (y as f32 - 16.0) * (255.0 / 219.0);
    let d = (u as f32 - 128.0) * (255.0 / 224.0);
    let e = (v as f32 - 128.0) * (255.0 / 224.0);
    [
        (c + 1.402 * e).clamp(0.0, 255.0),
        (c - 0.344_136 * d - 0.714_136 * e).clamp(0.0, 255.0),
        (c + 1.772 * d).clamp(0.0, 255.0),
    ]
}

/// RGB to BT.601 limited-range YUV (for the synthetic camera and tests).
pub fn rgb_to_yuv(r: u8, g: u8, b: u8) -> [u8; 3] {
    let (r, g, b) = (r as f32, g as f32, b as f32);
    let y = 0.299 * r + 0.587 * g + 0.114 * b;
    let cb = (b - y) / 1.772;
    let cr = (r - y) / 1.402;
    [
        (16.0 + y * 219.0 / 255.0).round().clamp(0.0, 255.0) as u8,
        (128.0 + cb * 224.0 / 255.0).round().clamp(0.0, 255.0) as u8,
        (128.0 + cr * 224.0 / 255.0).round().clamp(0.0, 255.0) as u8,
    ]
}

/// Packs RGB8 into `format` (not MJPEG) at the given stride; for the synthetic camera.
pub fn encode_rgb(
    rgb: &[u8],
    width: usize,
    height: usize,
    format: PixelFormat,
    stride: usize,
    out: &mut [u8],
) {
    for y in 0..height {
        for x in 0..width {
            let p = &rgb[(y * width + x) * 3..][..3];
            match format {
                PixelFormat::Rgb24 => out[y * stride + x * 3..][..3].copy_from_slice(p),
                PixelFormat::Bgr24 => {
                    out[y * stride + x * 3..][..3].copy_from_slice(&[p[2], p[1], p[0]])
                }
                PixelFormat::Grey => {
                    out[y * stride + x] =
                        (0.299 * p[0] as f32 + 0.587 * p[1] as f32 + 0.114 * p[2] as f32).round()
                            as u8
                }
                PixelFormat::Yuyv | PixelFormat::Uyvy | PixelFormat::Nv12 => {
                    let [yy, u, v] = rgb_to_yuv(p[0], p[1], p[2]);
                    match format {
                        PixelFormat::Yuyv => {
                            out[y * stride + x * 2] = yy;
                            out[y * stride + (x & !1) * 2 + if x % 2 == 0 { 1 } else { 3 }] =
                                if x % 2 == 0 { u } else { v };
                        }
                        PixelFormat::Uyvy => {
                            out[y * stride + x * 2 + 1] = yy;
                            out[y * stride + (x & !1) * 2 + if x % 2 == 0 { 0 } else { 2 }] =
                                if x % 2 == 0 { u } else { v };
                        }
                        _ => {
                            out[y * stride + x] = yy;
                            if y % 2 == 0 {
                                let o = stride * height + (y / 2) * stride + (x & !1);
                                out[o + x % 2] = if x % 2 == 0 { u } else { v };
                            }
                        }
                    }
                }
                PixelFormat::Mjpeg => {}
            }
        }
    }
}
