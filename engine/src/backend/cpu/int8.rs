//! INT8 on the CPU: the GPU's arithmetic (`crate::quant`), so calibration and accuracy checks
//! run on any machine. Int8 buffers stay f32 in the arena, holding the dequantized values
//! `q * s` the GPU would read; an INT8 conv turns its input back into the exact `q`, multiplies
//! int8 by int8 into int32 and applies the shared epilogue.

use super::gemm::ConvShape;
use super::ops::In;
use crate::graph::{Activation, Conv, Shape};
use crate::quant;
use rayon::prelude::*;

/// Filters whose int32 sums one pass over a pixel's patch keeps on the stack.
const FILTER_BLOCK: usize = 8;

pub struct Int8Conv {
    /// `[filters][kernel][kernel][cin]`: the patch order of an NHWC input.
    weights: Vec<i8>,
    /// `s_x * s_w[n]`
    mul: Vec<f32>,
    inv_in: f32,
    cin: usize,
}

/// What one INT8 conv execution reads besides its prepared weights.
pub struct Int8Job<'a> {
    pub shape: ConvShape,
    pub input: In<'a>,
    pub bias: &'a [f32],
    pub act: Activation,
    pub post_act: Activation,
    pub residual: Option<(&'a [f32], usize)>,
    pub out_stride: usize,
    /// The output buffer's int8 scale, or `None` for float storage.
    pub out_scale: Option<f32>,
}

impl Int8Conv {
    /// `conv` (groups = 1) over `cin` channels whose input buffer has scale `input_scale`.
    pub fn new(conv: &Conv, cin: usize, input_scale: f32) -> Int8Conv {
        let (q, scales) =
            quant::quantize_weights(&patch_order(conv, cin), conv.kernel.pow(2) * cin);
        Int8Conv {
            weights: q,
            mul: quant::output_multipliers(input_scale, &scales),
            inv_in: quant::inverse(input_scale),
            cin,
        }
    }

    /// The int8 input of the conv, as the GPU holds it: `pixels x cin`, contiguous.
    pub fn scratch_len(&self, shape: &ConvShape) -> usize {
        shape.in_h * shape.in_w * self.cin
    }

    /// Runs the conv into `out` (NHWC at `job.out_stride`), using `scratch` (at least
    /// `scratch_len`) for the quantized input.
    pub fn run(&self, job: &Int8Job, scratch: &mut [i8], out: &mut [f32]) {
        let s = job.shape;
        let x = &mut scratch[..s.in_h * s.in_w * self.cin];
        x.par_chunks_mut(s.in_w * self.cin)
            .enumerate()
            .for_each(|(y, row)| {
                for (px, q) in row.chunks_mut(self.cin).enumerate() {
                    let src = job.input.pixel(y * s.in_w + px);
                    for (q, &v) in q.iter_mut().zip(src) {
                        *q = quant::quantize(v, self.inv_in);
                    }
                }
            });
        let x = &*x;
        let inv_out = job.out_scale.map(quant::inverse);
        let filters = self.mul.len();
        let k = s.kernel * s.kernel * self.cin;
        out.par_chunks_mut(s.out_w * job.out_stride)
            .enumerate()
            .for_each(|(oy, row)| {
                for ox in 0..s.out_w {
                    let m = oy * s.out_w + ox;
                    let o = &mut row[ox * job.out_stride..][..filters];
                    for n0 in (0..filters).step_by(FILTER_BLOCK) {
                        let nb = FILTER_BLOCK.min(filters - n0);
                        let mut acc = [0i32; FILTER_BLOCK];
                        for ky in 0..s.kernel {
                            let iy = (oy * s.stride + ky) as isize - s.pad as isize;
                            if iy < 0 || iy >= s.in_h as isize {
                                continue;
                            }
                            for kx in 0..s.kernel {
                                let ix = (ox * s.stride + kx) as isize - s.pad as isize;
                                if ix < 0 || ix >= s.in_w as isize {
                                    continue;
                                }
                                let pix = iy as usize * s.in_w + ix as usize;
                                let a = &x[pix * self.cin..][..self.cin];
                                let tap = (ky * s.kernel + kx) * self.cin;
                                for (j, acc) in acc[..nb].iter_mut().enumerate() {
                                    let w = &self.weights[(n0 + j) * k + tap..][..self.cin];
                                    *acc += dot(a, w);
                                }
                            }
                        }
                        for (j, &acc) in acc[..nb].iter().enumerate() {
                            let n = n0 + j;
                            let residual = job.residual.map(|(r, stride)| r[m * stride + n]);
                            o[n] = epilogue(acc, self.mul[n], job.bias[n], job, residual, inv_out);
                        }
                    }
                }
            });
    }
}

/// `float(acc) * mul + bias`, activation, residual, and the store's quantization: the GPU's
/// epilogue operation for operation.
#[inline(always)]
fn epilogue(
    acc: i32,
    mul: f32,
    bias: f32,
    job: &Int8Job,
    residual: Option<f32>,
    inv_out: Option<f32>,
) -> f32 {
    let mut v = job.act.apply(acc as f32 * mul + bias);
    if let Some(r) = residual {
        v = job.post_act.apply(v + r);
    }
    match (inv_out, job.out_scale) {
        (Some(inv), Some(s)) => f32::from(quant::quantize(v, inv)) * s,
        _ => v,
    }
}

#[inline(always)]
fn dot(a: &[i8], b: &[i8]) -> i32 {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| i32::from(x) * i32::from(y))
        .sum()
}

/// OIHW weights as `[filters][ky][kx][cin]`.
fn patch_order(conv: &Conv, cin: usize) -> Vec<f32> {
    let k = conv.kernel;
    let mut out = Vec::with_capacity(conv.weights.len());
    for f in 0..conv.filters {
        for ky in 0..k {
            for kx in 0..k {
                for c in 0..cin {
                    out.push(conv.weights[((f * cin + c) * k + ky) * k + kx]);
                }
            }
        }
    }
    out
}

/// Rounds a float tensor written into an int8 buffer to the values that buffer can hold.
pub fn fake_quantize(out: &mut [f32], shape: Shape, stride: usize, scale: f32) {
    let inv = quant::inverse(scale);
    out.par_chunks_mut(shape.w * stride).for_each(|row| {
        for px in row.chunks_mut(stride) {
            let c = shape.c.min(px.len());
            for v in &mut px[..c] {
                *v = f32::from(quant::quantize(*v, inv)) * scale;
            }
        }
    });
}
