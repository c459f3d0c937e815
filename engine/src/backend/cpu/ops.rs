//! The CPU kernels other than convolution. All work on NHWC views: a slice starting at the
//! tensor's first element and a pixel stride, so in-place concat windows need no copies.

use crate::graph::{Activation, Shape};
use rayon::prelude::*;

/// A read-only tensor view.
#[derive(Clone, Copy)]
pub struct In<'a> {
    pub data: &'a [f32],
    pub stride: usize,
    pub shape: Shape,
}

impl In<'_> {
    #[inline(always)]
    pub fn pixel(&self, p: usize) -> &[f32] {
        &self.data[p * self.stride..][..self.shape.c]
    }
}

/// Calls `f(pixel index, output channels of that pixel)` for every output pixel, one image
/// row per task.
fn map_pixels<F>(out: &mut [f32], shape: Shape, stride: usize, f: F)
where
    F: Fn(usize, &mut [f32]) + Sync,
{
    if shape.is_empty() {
        return;
    }
    out.par_chunks_mut(shape.w * stride)
        .enumerate()
        .for_each(|(y, row)| {
            for x in 0..shape.w {
                f(y * shape.w + x, &mut row[x * stride..][..shape.c]);
            }
        });
}

pub fn activation(x: In, act: Activation, out: &mut [f32], stride: usize) {
    map_pixels(out, x.shape, stride, |p, o| {
        for (o, v) in o.iter_mut().zip(x.pixel(p)) {
            *o = act.apply(*v);
        }
    });
}

/// `y = x * mul + add` per channel: inference batch norm with its constants folded.
pub fn scale_shift(x: In, mul: &[f32], add: &[f32], out: &mut [f32], stride: usize) {
    map_pixels(out, x.shape, stride, |p, o| {
        for (((o, v), m), a) in o.iter_mut().zip(x.pixel(p)).zip(mul).zip(add) {
            *o = v * m + a;
        }
    });
}

pub fn add(a: In, b: In, act: Activation, out: &mut [f32], stride: usize) {
    map_pixels(out, a.shape, stride, |p, o| {
        for ((o, x), y) in o.iter_mut().zip(a.pixel(p)).zip(b.pixel(p)) {
            *o = act.apply(x + y);
        }
    });
}

/// Copies `x` into channels `[offset, offset + x.c)` of the output.
pub fn copy_channels(x: In, offset: usize, out: &mut [f32], out_shape: Shape, stride: usize) {
    map_pixels(out, out_shape, stride, |p, o| {
        o[offset..offset + x.shape.c].copy_from_slice(x.pixel(p));
    });
}

/// Channels `[offset, offset + out.c)` of `x`.
pub fn slice_channels(x: In, offset: usize, out: &mut [f32], out_shape: Shape, stride: usize) {
    map_pixels(out, out_shape, stride, |p, o| {
        o.copy_from_slice(&x.pixel(p)[offset..][..out_shape.c]);
    });
}

pub fn maxpool(
    x: In,
    size: usize,
    step: usize,
    pad: usize,
    out: &mut [f32],
    out_shape: Shape,
    stride: usize,
) {
    let before = pad / 2;
    map_pixels(out, out_shape, stride, |p, o| {
        let (oy, ox) = (p / out_shape.w, p % out_shape.w);
        o.fill(f32::NEG_INFINITY);
        for ky in 0..size {
            let iy = (oy * step + ky).wrapping_sub(before);
            if iy >= x.shape.h {
                continue;
            }
            for kx in 0..size {
                let ix = (ox * step + kx).wrapping_sub(before);
                if ix >= x.shape.w {
                    continue;
                }
                for (o, v) in o.iter_mut().zip(x.pixel(iy * x.shape.w + ix)) {
                    *o = o.max(*v);
                }
            }
        }
    });
}

pub fn upsample(x: In, scale: usize, out: &mut [f32], out_shape: Shape, stride: usize) {
    map_pixels(out, out_shape, stride, |p, o| {
        let (oy, ox) = (p / out_shape.w, p % out_shape.w);
        o.copy_from_slice(x.pixel((oy / scale) * x.shape.w + ox / scale));
    });
}
