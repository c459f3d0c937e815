//! Convolution as implicit GEMM on NHWC tensors: output pixels x filters = im2col(input) x W.
//!
//! Why not a GEMM crate: `gemm` and `matrixmultiply` both allocate packing buffers on every
//! call, and the per-frame path must not allocate. Here the weights are packed once when the
//! engine is prepared, the input patch (im2col) is packed per MR pixels into a stack buffer,
//! and a register-tiled microkernel, compiled per SIMD level, does the multiply-adds.
//! Loop order (Goto): filter blocks of NC -> K blocks of KC -> MR pixels -> NR filters.

use super::aligned::AlignedBuf;
use super::isa::{Isa, Level};
use crate::graph::{Activation, Conv};
use rayon::prelude::*;

/// Depth of one K block: an MR x KC input panel stays in L1, a KC x NC weight block in L2.
const KC: usize = 384;
/// Filters per block.
const NC: usize = 1024;
/// MR-pixel panels per block of packed patches (8 x 12 x 256 floats = 96 KiB, in L2).
const MC_PANELS: usize = 6;

/// Register tile (MR pixels x NR filters) per SIMD level, for a conv with `filters` per
/// group: a narrow conv (the first layer's 16 filters) would waste half of a 32-wide tile.
pub fn tile(level: Level, filters: usize) -> (usize, usize) {
    match level {
        Level::Avx512 if filters <= 16 => (12, 16),
        Level::Avx512 => (12, 32),
        Level::Avx2 => (6, 16),
        Level::Neon => (6, 16),
        Level::Portable => (4, 8),
    }
}

/// A conv's weights, packed for one SIMD level: per group, panels of NR filters, each
/// `[K][NR]` with K ordered (ky, kx, ci) to match NHWC patches; filters past the end are zero.
#[derive(Debug)]
pub struct PackedConv {
    nr: usize,
    /// Depth per group: `kernel * kernel * in_channels / groups`.
    pub k: usize,
    /// Filters per group.
    pub n: usize,
    panels_per_group: usize,
    data: AlignedBuf,
    pub patches: Patches,
}

/// How the microkernel gets each pixel's input patch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Patches {
    /// Copied into a packed panel first (padding written as zeros).
    Packed,
    /// Read in place, one run of input channels per kernel tap.
    Taps,
    /// Read in place, one run per kernel row: with few channels (an RGB input) the taps of a
    /// row are adjacent in NHWC memory. Panels touching the left or right border are packed.
    TapRows,
}

impl Patches {
    pub fn name(self) -> &'static str {
        match self {
            Patches::Packed => "packed",
            Patches::Taps => "direct",
            Patches::TapRows => "direct-rows",
        }
    }

    pub fn choose(kernel: usize, in_channels: usize, groups: usize) -> Patches {
        let cin = in_channels / groups;
        if cin >= DIRECT_MIN_CHANNELS {
            Patches::Taps
        } else if groups == 1 && kernel * cin <= KC {
            Patches::TapRows
        } else {
            Patches::Packed
        }
    }
}

/// Input channels per group from which reading each tap in place beats packing.
const DIRECT_MIN_CHANNELS: usize = 8;
/// Most units (taps or kernel rows) one K block of the direct kernel spans, over all the
/// panels of an MC block.
const MAX_TAPS: usize = 64 * MC_PANELS;
/// What the direct kernel reads for padding and for rows past the last pixel.
static ZEROS: [f32; KC] = [0.0; KC];

impl PackedConv {
    pub fn new(level: Level, conv: &Conv, in_channels: usize) -> PackedConv {
        let (_, nr) = tile(level, conv.filters / conv.groups);
        let cin = in_channels / conv.groups;
        let kk = conv.kernel * conv.kernel;
        let k = kk * cin;
        let n = conv.filters / conv.groups;
        let panels_per_group = n.div_ceil(nr);
        let mut buf = AlignedBuf::zeroed(conv.groups * panels_per_group * k * nr);
        let data = buf.as_mut_slice();
        for g in 0..conv.groups {
            for f in 0..n {
                let (panel, j) = (f / nr, f % nr);
                let base = (g * panels_per_group + panel) * k * nr;
                let filter = &conv.weights[(g * n + f) * cin * kk..][..cin * kk];
                for ci in 0..cin {
                    for tap in 0..kk {
                        let kidx = tap * cin + ci;
                        data[base + kidx * nr + j] = filter[ci * kk + tap];
                    }
                }
            }
        }
        PackedConv {
            nr,
            k,
            n,
            panels_per_group,
            data: buf,
            patches: Patches::choose(conv.kernel, in_channels, conv.groups),
        }
    }

    fn panel(&self, group: usize, panel: usize) -> &[f32] {
        let len = self.k * self.nr;
        &self.data.as_slice()[(group * self.panels_per_group + panel) * len..][..len]
    }
}

/// Stack buffers on cache lines, for the same reason as [`AlignedBuf`].
#[repr(align(64))]
struct Aligned<T>(T);

/// Geometry of one conv, in pixels of the input and output tensors.
#[derive(Clone, Copy, Debug)]
pub struct ConvShape {
    pub in_h: usize,
    pub in_w: usize,
    pub out_h: usize,
    pub out_w: usize,
    pub kernel: usize,
    pub stride: usize,
    pub pad: usize,
    pub groups: usize,
}

/// Everything one conv execution reads. Slices start at the tensor's first element and step
/// `*_stride` elements per pixel.
pub struct ConvJob<'a> {
    pub shape: ConvShape,
    pub packed: &'a PackedConv,
    pub bias: &'a [f32],
    pub act: Activation,
    pub post_act: Activation,
    pub input: &'a [f32],
    pub in_stride: usize,
    pub residual: Option<(&'a [f32], usize)>,
    pub out_stride: usize,
}

/// Runs the conv over all output pixels, split across the current rayon pool.
pub fn conv(isa: Isa, job: &ConvJob, out: &mut [f32]) {
    let pixels = job.shape.out_h * job.shape.out_w;
    if pixels == 0 {
        return;
    }
    let (mr, _) = tile(isa.level(), job.packed.n);
    let threads = rayon::current_num_threads();
    // Each chunk streams all weights once: few chunks when the image is small and the
    // weights large, more for load balance when there are many pixels.
    let chunks = (pixels / 256)
        .clamp(threads, threads * 4)
        .min(pixels.div_ceil(mr));
    let chunk = pixels.div_ceil(chunks).div_ceil(mr) * mr;
    out.par_chunks_mut(chunk * job.out_stride)
        .enumerate()
        .for_each(|(i, o)| {
            let p0 = i * chunk;
            conv_pixels(isa, job, p0, (p0 + chunk).min(pixels), o);
        });
}

/// Output pixels `[p0, p1)` into `out`, which starts at pixel `p0`.
fn conv_pixels(isa: Isa, job: &ConvJob, p0: usize, p1: usize, out: &mut [f32]) {
    match isa.level() {
        #[cfg(target_arch = "x86_64")]
        Level::Avx512 if job.packed.nr == 16 => {
            // SAFETY: an `Isa` at this level exists only after the CPU reported avx512f and fma.
            unsafe { pixels_avx512_narrow(job, p0, p1, out) }
        }
        #[cfg(target_arch = "x86_64")]
        Level::Avx512 => {
            // SAFETY: an `Isa` at this level exists only after the CPU reported avx512f and fma.
            unsafe { pixels_avx512(job, p0, p1, out) }
        }
        #[cfg(target_arch = "x86_64")]
        Level::Avx2 => {
            // SAFETY: an `Isa` at this level exists only after the CPU reported avx2 and fma.
            unsafe { pixels_avx2(job, p0, p1, out) }
        }
        #[cfg(target_arch = "aarch64")]
        Level::Neon => pixels_tiled(job, p0, p1, out, kernel_6x16, direct_6x16),
        _ => pixels_tiled(job, p0, p1, out, kernel_4x8, direct_4x8),
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,fma")]
fn pixels_avx512(job: &ConvJob, p0: usize, p1: usize, out: &mut [f32]) {
    pixels_tiled(job, p0, p1, out, kernel_12x32, direct_12x32)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,fma")]
fn pixels_avx512_narrow(job: &ConvJob, p0: usize, p1: usize, out: &mut [f32]) {
    pixels_tiled(job, p0, p1, out, kernel_12x16, direct_12x16)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn pixels_avx2(job: &ConvJob, p0: usize, p1: usize, out: &mut [f32]) {
    pixels_tiled(job, p0, p1, out, kernel_6x16, direct_6x16)
}

#[inline(always)]
fn pixels_tiled<const MR: usize, const NR: usize>(
    job: &ConvJob,
    p0: usize,
    p1: usize,
    out: &mut [f32],
    microkernel: impl Fn(&[[f32; MR]], &[[f32; NR]], &mut [[f32; NR]; MR]),
    direct_kernel: impl Fn(&[[&[f32]; MR]], &[[f32; NR]], &mut [[f32; NR]; MR]),
) {
    let packed = job.packed;
    debug_assert_eq!(packed.nr, NR);
    let (k, n) = (packed.k, packed.n);
    let nc = NC / NR * NR;
    let cin = k / (job.shape.kernel * job.shape.kernel);
    // An MC-pixel block of packed patches stays in L2 while one weight panel (in L1) meets
    // each of its MR-pixel panels in turn.
    let mut ablock = Aligned([[[0.0f32; MR]; KC]; MC_PANELS]);
    let ablock = &mut ablock.0;
    let mut rows: [[&[f32]; MR]; MAX_TAPS] = [[&[]; MR]; MAX_TAPS];
    let mut units_of: [Option<usize>; MC_PANELS] = [None; MC_PANELS];
    let mut acc = Aligned([[0.0f32; NR]; MR]);
    let acc = &mut acc.0;
    // Width of one in-place run; tap rows need the input's pixels to be back to back.
    let unit = match packed.patches {
        Patches::Taps => Some(cin),
        Patches::TapRows if job.in_stride == cin => Some(job.shape.kernel * cin),
        _ => None,
    };
    for g in 0..job.shape.groups {
        for jc in (0..n).step_by(nc) {
            let jc_end = (jc + nc).min(n);
            for block in KBlocks::new(k, unit.unwrap_or(cin), unit.is_some()) {
                let (pc, kc) = (block.k0, block.len);
                let last = pc + kc == k;
                for ic0 in (p0..p1).step_by(MR * MC_PANELS) {
                    let panels = (p1 - ic0).div_ceil(MR).min(MC_PANELS);
                    for q in 0..panels {
                        let ic = ic0 + q * MR;
                        let mr = MR.min(p1 - ic);
                        units_of[q] = match unit {
                            Some(width) => {
                                let q_rows = &mut rows[q * MAX_TAPS / MC_PANELS..];
                                patch_rows(job, g, width, ic, mr, &block, q_rows)
                            }
                            None => None,
                        };
                        if units_of[q].is_none() {
                            pack_patches(job, g, ic, mr, pc, &mut ablock[q][..kc]);
                        }
                    }
                    for jr in (jc..jc_end).step_by(NR) {
                        let (b, _) =
                            packed.panel(g, jr / NR)[pc * NR..(pc + kc) * NR].as_chunks::<NR>();
                        let nr = NR.min(n - jr);
                        let ch0 = g * n + jr;
                        for q in 0..panels {
                            let ic = ic0 + q * MR;
                            match units_of[q] {
                                Some(units) => {
                                    let start = q * MAX_TAPS / MC_PANELS;
                                    direct_kernel(&rows[start..start + units], b, acc)
                                }
                                None => microkernel(&ablock[q][..kc], b, acc),
                            }
                            for (i, acc_row) in acc.iter().enumerate().take(MR.min(p1 - ic)) {
                                let pixel = ic + i;
                                let row = &mut out[(pixel - p0) * job.out_stride + ch0..][..nr];
                                finish_row(job, pixel, ch0, row, &acc_row[..nr], pc == 0, last);
                            }
                        }
                    }
                }
            }
        }
    }
}

/// One K block: depth `[k0, k0 + len)`, which is taps `[tap0, tap1)` over channels
/// `[ci0, ci1)` of each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct KBlock {
    k0: usize,
    len: usize,
    tap0: usize,
    tap1: usize,
    ci0: usize,
    ci1: usize,
}

/// K blocks of at most KC. For the direct kernel they follow tap boundaries (whole taps, or
/// a channel range of one tap when a tap alone is deeper than KC).
struct KBlocks {
    k: usize,
    cin: usize,
    aligned: bool,
    next: usize,
}

impl KBlocks {
    fn new(k: usize, cin: usize, aligned: bool) -> Self {
        KBlocks {
            k,
            cin,
            aligned,
            next: 0,
        }
    }
}

impl Iterator for KBlocks {
    type Item = KBlock;
    fn next(&mut self) -> Option<KBlock> {
        let k0 = self.next;
        if k0 >= self.k {
            return None;
        }
        let (tap0, ci0) = (k0 / self.cin, k0 % self.cin);
        let len = if !self.aligned {
            KC.min(self.k - k0)
        } else if self.cin >= KC || ci0 != 0 {
            KC.min(self.cin - ci0)
        } else {
            (KC / self.cin).min(MAX_TAPS / MC_PANELS) * self.cin
        }
        .min(self.k - k0);
        self.next = k0 + len;
        let (tap1, ci1) = if len + ci0 <= self.cin {
            (tap0 + 1, ci0 + len)
        } else {
            (tap0 + len / self.cin, self.cin)
        };
        Some(KBlock {
            k0,
            len,
            tap0,
            tap1,
            ci0,
            ci1,
        })
    }
}

/// For the direct kernel: per unit (tap, or kernel row) of the block, the slice of input
/// each of the `mr` pixels from `pixel` reads (zeros for padding and rows past `mr`).
/// `None` when a kernel row crosses the left or right border: that panel is packed instead.
#[inline(always)]
fn patch_rows<'a, const MR: usize>(
    job: &ConvJob<'a>,
    group: usize,
    width: usize,
    pixel: usize,
    mr: usize,
    block: &KBlock,
    rows: &mut [[&'a [f32]; MR]],
) -> Option<usize> {
    let s = &job.shape;
    let cin = job.packed.k / (s.kernel * s.kernel);
    let zeros: &'static [f32] = &ZEROS[..block.ci1 - block.ci0];
    let whole_rows = width != cin;
    let units = block.tap1 - block.tap0;
    for (u, unit_rows) in (block.tap0..block.tap1).zip(rows.iter_mut()) {
        let (ky, kx) = if whole_rows {
            (u, 0)
        } else {
            (u / s.kernel, u % s.kernel)
        };
        let (mut oy, mut ox) = (pixel / s.out_w, pixel % s.out_w);
        for (i, row) in unit_rows.iter_mut().enumerate() {
            let iy = (oy * s.stride + ky).wrapping_sub(s.pad);
            let ix = (ox * s.stride + kx).wrapping_sub(s.pad);
            let last_ix = if whole_rows {
                ix.wrapping_add(s.kernel - 1)
            } else {
                ix
            };
            *row = if i >= mr || iy >= s.in_h {
                zeros
            } else if ix < s.in_w && last_ix < s.in_w {
                let at = (iy * s.in_w + ix) * job.in_stride + group * cin;
                &job.input[at + block.ci0..at + block.ci1]
            } else if whole_rows {
                return None;
            } else {
                zeros
            };
            ox += 1;
            if ox == s.out_w {
                ox = 0;
                oy += 1;
            }
        }
    }
    Some(units)
}

/// A register-tile microkernel: the rows are spelled out so the compiler keeps every
/// accumulator in a register (a loop over rows makes it spill them to memory).
macro_rules! microkernel {
    ($name:ident, $mr:literal x $nr:literal, fma = $fma:literal, rows [$($i:literal)*]) => {
        #[inline(always)]
        fn $name(a: &[[f32; $mr]], b: &[[f32; $nr]], out: &mut [[f32; $nr]; $mr]) {
            let mut c = [[0.0f32; $nr]; $mr];
            for (av, bv) in a.iter().zip(b) {
                $(
                    for j in 0..$nr {
                        c[$i][j] = if $fma {
                            av[$i].mul_add(bv[j], c[$i][j])
                        } else {
                            c[$i][j] + av[$i] * bv[j]
                        };
                    }
                )*
            }
            // Stored from registers; returning the tile by value costs a memcpy call.
            *out = c;
        }
    };
}

/// The microkernel reading patches in place: per tap, MR input rows of equal length.
macro_rules! direct_kernel {
    ($name:ident, $mr:literal x $nr:literal, fma = $fma:literal, rows [$($i:literal)*]) => {
        #[inline(always)]
        fn $name(taps: &[[&[f32]; $mr]], b: &[[f32; $nr]], out: &mut [[f32; $nr]; $mr]) {
            let mut c = [[0.0f32; $nr]; $mr];
            let mut b = b;
            for rows in taps {
                let n = rows[0].len();
                // Equal lengths let the compiler drop the bounds checks in the loop.
                let r: [&[f32]; $mr] = rows.map(|row| &row[..n]);
                let (bt, rest) = b.split_at(n);
                b = rest;
                for (ci, bv) in bt.iter().enumerate() {
                    $(
                        let a = r[$i][ci];
                        for j in 0..$nr {
                            c[$i][j] = if $fma {
                                a.mul_add(bv[j], c[$i][j])
                            } else {
                                c[$i][j] + a * bv[j]
                            };
                        }
                    )*
                }
            }
            *out = c;
        }
    };
}

// The 12-row tiles are AVX-512's (32 vector registers); 6x16 serves AVX2 and NEON; 4x8 is the
// portable fallback everywhere.
#[cfg(target_arch = "x86_64")]
direct_kernel!(direct_12x32, 12 x 32, fma = true, rows [0 1 2 3 4 5 6 7 8 9 10 11]);
#[cfg(target_arch = "x86_64")]
direct_kernel!(direct_12x16, 12 x 16, fma = true, rows [0 1 2 3 4 5 6 7 8 9 10 11]);
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
direct_kernel!(direct_6x16, 6 x 16, fma = true, rows [0 1 2 3 4 5]);
direct_kernel!(direct_4x8, 4 x 8, fma = false, rows [0 1 2 3]);

#[cfg(target_arch = "x86_64")]
microkernel!(kernel_12x32, 12 x 32, fma = true, rows [0 1 2 3 4 5 6 7 8 9 10 11]);
#[cfg(target_arch = "x86_64")]
microkernel!(kernel_12x16, 12 x 16, fma = true, rows [0 1 2 3 4 5 6 7 8 9 10 11]);
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
microkernel!(kernel_6x16, 6 x 16, fma = true, rows [0 1 2 3 4 5]);
microkernel!(kernel_4x8, 4 x 8, fma = false, rows [0 1 2 3]);

/// Writes one accumulator row to the output: a partial sum while K blocks remain, and at
/// the last block bias, activation and the residual, in one pass.
#[inline(always)]
fn finish_row(
    job: &ConvJob,
    pixel: usize,
    ch0: usize,
    row: &mut [f32],
    acc: &[f32],
    first: bool,
    last: bool,
) {
    if !last {
        if first {
            row.copy_from_slice(acc);
        } else {
            row.iter_mut().zip(acc).for_each(|(r, a)| *r += a);
        }
        return;
    }
    let bias = &job.bias[ch0..][..row.len()];
    if first {
        row.iter_mut()
            .zip(acc)
            .zip(bias)
            .for_each(|((r, a), b)| *r = a + b);
    } else {
        row.iter_mut()
            .zip(acc)
            .zip(bias)
            .for_each(|((r, a), b)| *r += a + b);
    }
    job.act.apply_slice(row);
    if let Some((res, stride)) = job.residual {
        let r = &res[pixel * stride + ch0..][..row.len()];
        row.iter_mut().zip(r).for_each(|(v, r)| *v += r);
        job.post_act.apply_slice(row);
    }
}

/// The input patches of `mr` output pixels from `pixel`, depth `[pc, pc + kc)`, as `[kc][MR]`;
/// padding and rows past `mr` are zero.
#[inline(always)]
fn pack_patches<const MR: usize>(
    job: &ConvJob,
    group: usize,
    pixel: usize,
    mr: usize,
    pc: usize,
    apack: &mut [[f32; MR]],
) {
    let s = &job.shape;
    let cin = job.packed.k / (s.kernel * s.kernel);
    let (k_lo, k_hi) = (pc, pc + apack.len());
    if mr < MR {
        for col in apack.iter_mut() {
            col[mr..].fill(0.0);
        }
    }
    let (mut oy, mut ox) = (pixel / s.out_w, pixel % s.out_w);
    if mr == MR && ox + MR <= s.out_w {
        pack_row_panel(job, group, cin, oy, ox, k_lo, apack);
        return;
    }
    for i in 0..mr {
        // k walks (ky, kx, ci) in step with the packed weights; no divisions in here.
        let mut k = 0;
        'taps: for ky in 0..s.kernel {
            let iy = (oy * s.stride + ky).wrapping_sub(s.pad);
            for kx in 0..s.kernel {
                let (lo, hi) = (k.max(k_lo), (k + cin).min(k_hi));
                if lo < hi {
                    let dst = &mut apack[lo - k_lo..hi - k_lo];
                    let ix = (ox * s.stride + kx).wrapping_sub(s.pad);
                    if iy < s.in_h && ix < s.in_w {
                        let at = (iy * s.in_w + ix) * job.in_stride + group * cin + (lo - k);
                        for (d, v) in dst.iter_mut().zip(&job.input[at..at + (hi - lo)]) {
                            d[i] = *v;
                        }
                    } else {
                        for d in dst.iter_mut() {
                            d[i] = 0.0;
                        }
                    }
                }
                k += cin;
                if k >= k_hi {
                    break 'taps;
                }
            }
        }
        ox += 1;
        if ox == s.out_w {
            ox = 0;
            oy += 1;
        }
    }
}

/// `pack_patches` for MR pixels on one output row, the common case: per depth index the MR
/// values are one strided walk along an input row, written to one contiguous column.
#[inline(always)]
fn pack_row_panel<const MR: usize>(
    job: &ConvJob,
    group: usize,
    cin: usize,
    oy: usize,
    ox: usize,
    k_lo: usize,
    apack: &mut [[f32; MR]],
) {
    let s = &job.shape;
    let k_hi = k_lo + apack.len();
    let step = s.stride * job.in_stride;
    let mut k = 0;
    for ky in 0..s.kernel {
        let iy = (oy * s.stride + ky).wrapping_sub(s.pad);
        for kx in 0..s.kernel {
            let (lo, hi) = (k.max(k_lo), (k + cin).min(k_hi));
            if lo < hi {
                let cols = &mut apack[lo - k_lo..hi - k_lo];
                let ix0 = (ox * s.stride + kx) as isize - s.pad as isize;
                let ix_last = ix0 + ((MR - 1) * s.stride) as isize;
                if iy >= s.in_h {
                    cols.iter_mut().for_each(|c| *c = [0.0; MR]);
                } else if ix0 >= 0 && (ix_last as usize) < s.in_w {
                    let base =
                        (iy * s.in_w + ix0 as usize) * job.in_stride + group * cin + (lo - k);
                    let src = &job.input[base..base + (MR - 1) * step + (hi - lo)];
                    for (ci, col) in cols.iter_mut().enumerate() {
                        for (i, v) in col.iter_mut().enumerate() {
                            *v = src[i * step + ci];
                        }
                    }
                } else {
                    for (ci, col) in cols.iter_mut().enumerate() {
                        for (i, v) in col.iter_mut().enumerate() {
                            let ix = ix0 + (i * s.stride) as isize;
                            *v = if ix >= 0 && (ix as usize) < s.in_w {
                                job.input[(iy * s.in_w + ix as usize) * job.in_stride
                                    + group * cin
                                    + (lo - k)
                                    + ci]
                            } else {
                                0.0
                            };
                        }
                    }
                }
            }
            k += cin;
            if k >= k_hi {
                return;
            }
        }
    }
}
