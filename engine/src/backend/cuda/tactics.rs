//! The convolution kernels a plan can choose from, by the name the plan stores, with what
//! each needs to launch and which convs it can take.

use crate::plan::Precision;

/// The arithmetic of one conv: the plan's float type, or INT8 (an INT8 plan's convs that read
/// int8; its other convs are FP16).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arith {
    F32,
    F16,
    S8,
}

impl Arith {
    /// A conv of a plan of `precision`; `int8` says the plan's quantization runs it INT8.
    pub fn of(precision: Precision, int8: bool) -> Arith {
        match precision {
            _ if int8 => Arith::S8,
            Precision::Fp32 => Arith::F32,
            Precision::Fp16 | Precision::Int8 => Arith::F16,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Arith::F32 => "f32",
            Arith::F16 => "f16",
            Arith::S8 => "s8",
        }
    }

    /// Bytes of one input or weight element.
    pub fn bytes(self) -> usize {
        match self {
            Arith::F32 => 4,
            Arith::F16 => 2,
            Arith::S8 => 1,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// CUDA-core FMA, any conv; `conv_simt.cu`.
    Simt,
    /// CUDA-core int8 dot products (dp4a, sm_61+), any INT8 conv; `conv_simt.cu`.
    Dp4a,
    /// CUDA-core FMA, one thread per pixel and 8 filters (`bn`), weights in shared memory;
    /// float convs with a short K (`DIRECT_MAX_K`); `conv_simt.cu`.
    Direct,
    /// Tensor cores (mma.sync, sm_80+) over a shared-memory patch of the input rows: FP16
    /// convs of 8-channel pixels with at most `PATCH_MAX_TAPS` taps (the first conv of a plan
    /// whose input is padded to 8 channels); `conv_hmma.cu`.
    Patch,
    /// Tensor cores, `conv_hmma.cu`, on `unit`; `bk` is in elements, `wm` x `wn` warps (or
    /// warpgroups, for wgmma) share the tile, `slices` sets of them (wgmma) each stage's K.
    Mma {
        bk: u32,
        wm: u32,
        wn: u32,
        slices: u32,
        stages: u32,
        unit: Unit,
    },
}

/// The tensor-core instructions of an `Mma` kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// mma.sync: FP16 m16n8k16 -> FP32, or INT8 m16n8k32 -> int32 (both sm_80+, cp.async).
    Sync,
    /// INT8 as mma.sync m8n8k16 with synchronous loads (sm_75+).
    Sync75,
    /// wgmma (sm_90a, Hopper): warpgroups multiply tiles straight from shared memory.
    Wgmma,
}

impl Unit {
    /// For a conv of arithmetic `arith`: the kernel symbol's stem, the tactic name's prefix,
    /// and the letter before the warp (w) or warpgroup (g) counts in both.
    fn labels(self, arith: Arith) -> (&'static str, &'static str, char) {
        match (arith, self) {
            (Arith::S8, Unit::Sync) => ("imma", "imma-s8", 'w'),
            (Arith::S8, Unit::Sync75) => ("imma75", "imma-s8-sm75", 'w'),
            (Arith::S8, Unit::Wgmma) => ("wgimma", "wgmma-s8", 'g'),
            (_, Unit::Wgmma) => ("wghmma", "wgmma-f16", 'g'),
            _ => ("hmma", "hmma-f16", 'w'),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Kernel {
    pub family: Family,
    pub bm: u32,
    pub bn: u32,
    pub threads: u32,
}

impl Kernel {
    const fn simt(bm: u32, bn: u32, threads: u32) -> Kernel {
        Kernel {
            family: Family::Simt,
            bm,
            bn,
            threads,
        }
    }
    const fn dp4a(bm: u32, bn: u32, threads: u32) -> Kernel {
        Kernel {
            family: Family::Dp4a,
            bm,
            bn,
            threads,
        }
    }
    const fn direct() -> Kernel {
        Kernel {
            family: Family::Direct,
            bm: 1,
            bn: 8,
            threads: 256,
        }
    }
    /// 4 warps on `bm` pixels of an output row by 32 filters.
    const fn patch(bm: u32) -> Kernel {
        Kernel {
            family: Family::Patch,
            bm,
            bn: 32,
            threads: 128,
        }
    }
    #[allow(clippy::too_many_arguments)]
    const fn tensor(
        unit: Unit,
        bm: u32,
        bn: u32,
        bk: u32,
        wm: u32,
        wn: u32,
        slices: u32,
        stages: u32,
    ) -> Kernel {
        let warp_threads = match unit {
            Unit::Wgmma => 128,
            Unit::Sync | Unit::Sync75 => 32,
        };
        Kernel {
            family: Family::Mma {
                bk,
                wm,
                wn,
                slices,
                stages,
                unit,
            },
            bm,
            bn,
            threads: wm * wn * slices * warp_threads,
        }
    }
    const fn mma(bm: u32, bn: u32, bk: u32, wm: u32, wn: u32, stages: u32) -> Kernel {
        Kernel::tensor(Unit::Sync, bm, bn, bk, wm, wn, 1, stages)
    }
    const fn mma75(bm: u32, bn: u32, bk: u32, wm: u32, wn: u32) -> Kernel {
        Kernel::tensor(Unit::Sync75, bm, bn, bk, wm, wn, 1, 2)
    }
    const fn wgmma(bm: u32, bn: u32, bk: u32, wm: u32, wn: u32, stages: u32) -> Kernel {
        Kernel::tensor(Unit::Wgmma, bm, bn, bk, wm, wn, 1, stages)
    }
    /// A 64 x 64 wgmma tile whose K is split `slices` ways among that many warpgroups.
    const fn sliced(bk: u32, slices: u32, stages: u32) -> Kernel {
        Kernel::tensor(Unit::Wgmma, 64, 64, bk, 1, 1, slices, stages)
    }

    /// The kernel's symbol in the cubin, for a conv of arithmetic `arith`.
    pub fn symbol(&self, arith: Arith) -> String {
        let (bm, bn) = (self.bm, self.bn);
        match self.family {
            Family::Simt => format!("conv_simt_{}_{bm}x{bn}", arith.name()),
            Family::Dp4a => format!("conv_dp4a_{bm}x{bn}"),
            Family::Direct => format!("conv_direct_{}", arith.name()),
            Family::Patch => format!("conv_patch_{}_{bm}x{bn}", arith.name()),
            Family::Mma {
                bk,
                wm,
                wn,
                slices,
                stages,
                unit,
            } => {
                let (name, _, w) = unit.labels(arith);
                let k = slices_label(slices);
                format!("conv_{name}_{bm}x{bn}x{bk}_{w}{wm}x{wn}{k}_s{stages}")
            }
        }
    }

    /// Dynamic shared memory of a launch for a conv of this shape.
    pub fn shared_bytes(&self, shape: &ConvShape) -> u32 {
        let arith = shape.arith;
        match self.family {
            Family::Simt | Family::Dp4a => 0,
            // The weights as floats, filters padded to whole groups of 8.
            Family::Direct => (shape.k * shape.n.next_multiple_of(8) * 4) as u32,
            // The filters' rows of tap chunks (an odd count) and the input rows under the tile
            // with a zero chunk after them, or the FP32 accumulator tile that replaces them
            // (`conv_patch`).
            Family::Patch => {
                let (bm, bn) = (self.bm as usize, self.bn as usize);
                let taps = shape.kernel * shape.kernel;
                let weights = bn * (taps.div_ceil(2) * 2 + 1) * 16;
                let patch = (shape.kernel * ((bm - 1) * shape.stride + shape.kernel) + 1) * 16;
                (weights + patch).max(bm * (bn + 4) * 4) as u32
            }
            // The pipeline's stages, or the FP32 accumulator tile the epilogue reuses them for
            // and after it the sums of K slices 1..; then the residual tile (2-byte elements at
            // most) where there is one. wgmma's stages start on a 1 KiB boundary, which may take
            // up to 1 KiB more. `conv_mma` places them so (RES_AT).
            Family::Mma {
                bk,
                slices,
                stages,
                unit,
                ..
            } => {
                let align = if unit == Unit::Wgmma { 1024 } else { 0 };
                let (bm, bn) = (self.bm, self.bn);
                let residual = bm * bn * shape.residual_bytes;
                (stages * (bm + bn) * bk * arith.bytes() as u32)
                    .max(bm * (bn + 4) * 4 + (slices - 1) * bm * bn * 4)
                    + residual
                    + align
            }
        }
    }
}

/// How a kernel's symbol and tactic name say that its K is split among warpgroups.
fn slices_label(slices: u32) -> String {
    if slices > 1 {
        format!("k{slices}")
    } else {
        String::new()
    }
}

pub fn dtype(precision: Precision) -> &'static str {
    match precision {
        Precision::Fp32 => "f32",
        // INT8 plans keep their float tensors in FP16.
        Precision::Fp16 | Precision::Int8 => "f16",
    }
}

const SIMT_F32: [Kernel; 4] = [
    Kernel::simt(32, 32, 256),
    Kernel::simt(64, 64, 256),
    Kernel::simt(128, 64, 256),
    Kernel::simt(128, 128, 256),
];
const SIMT_F16: [Kernel; 3] = [
    Kernel::simt(32, 32, 256),
    Kernel::simt(64, 64, 256),
    Kernel::simt(128, 64, 256),
];
const HMMA: [Kernel; 16] = [
    Kernel::mma(128, 128, 32, 2, 2, 3),
    Kernel::mma(128, 128, 32, 2, 4, 3),
    Kernel::mma(128, 64, 32, 2, 2, 3),
    Kernel::mma(64, 128, 32, 2, 2, 3),
    Kernel::mma(64, 64, 32, 2, 2, 4),
    Kernel::mma(32, 64, 32, 1, 2, 4),
    Kernel::mma(128, 128, 64, 2, 4, 3),
    Kernel::mma(128, 64, 64, 2, 2, 4),
    Kernel::mma(64, 128, 64, 2, 2, 4),
    Kernel::mma(64, 64, 64, 2, 2, 4),
    Kernel::mma(64, 64, 64, 2, 2, 3),
    // For the small grids of batch 1, where few warps per SM wait on memory: a deeper
    // pipeline, or 8 warps on a tile that 4 would do.
    Kernel::mma(64, 64, 64, 2, 2, 6),
    Kernel::mma(64, 64, 64, 2, 4, 4),
    Kernel::mma(128, 64, 64, 4, 2, 4),
    Kernel::mma(64, 128, 64, 2, 4, 4),
    // The first conv: 32 filters over every pixel of the image, 8 padded input channels.
    Kernel::mma(128, 32, 32, 4, 1, 3),
];
const DP4A: [Kernel; 3] = [
    Kernel::dp4a(32, 32, 256),
    Kernel::dp4a(64, 64, 256),
    Kernel::dp4a(128, 64, 256),
];
const IMMA: [Kernel; 13] = [
    Kernel::mma(128, 128, 64, 2, 4, 3),
    Kernel::mma(128, 64, 64, 2, 2, 3),
    Kernel::mma(64, 64, 64, 2, 2, 4),
    Kernel::mma(32, 64, 64, 1, 2, 4),
    Kernel::mma(128, 128, 128, 2, 4, 3),
    Kernel::mma(128, 64, 128, 2, 2, 4),
    Kernel::mma(64, 128, 128, 2, 2, 4),
    Kernel::mma(64, 64, 128, 2, 2, 4),
    Kernel::mma(64, 64, 128, 2, 2, 6),
    Kernel::mma(64, 64, 128, 2, 4, 4),
    Kernel::mma(128, 64, 128, 4, 2, 4),
    Kernel::mma(64, 128, 128, 2, 4, 4),
    // 32 filters (YOLOv3's 1x1 64 -> 32 conv at 208x208): the 64-filter tiles leave half idle.
    Kernel::mma(128, 32, 64, 4, 1, 3),
];
/// wgmma tiles (bm, bn, wm, wn, stages) of 128-byte rows of K (`bk` 64 halves or 128 int8):
/// warpgroups of 64 x 64n.
const fn wgmma_tiles(bk: u32) -> [Kernel; 6] {
    [
        Kernel::wgmma(64, 64, bk, 1, 1, 4),
        Kernel::wgmma(64, 64, bk, 1, 1, 6),
        Kernel::wgmma(64, 128, bk, 1, 1, 4),
        Kernel::wgmma(64, 128, bk, 1, 2, 4),
        Kernel::wgmma(128, 64, bk, 2, 1, 4),
        Kernel::wgmma(128, 128, bk, 2, 1, 3),
    ]
}
const WGHMMA: [Kernel; 6] = wgmma_tiles(64);
const WGIMMA: [Kernel; 6] = wgmma_tiles(128);
// INT8 with 256 bytes of K per stage: half the pipeline steps, whose fixed cost INT8 does not
// halve.
const WGIMMA_256: [Kernel; 3] = [
    Kernel::wgmma(64, 64, 256, 1, 1, 3),
    Kernel::wgmma(64, 64, 256, 1, 1, 4),
    Kernel::wgmma(128, 64, 256, 2, 1, 3),
];
// K split among 2 or 4 warpgroups of one CTA: at batch 1 a conv's grid is about one wave, one
// warpgroup per SM, whose load and wgmma issue waits on its own latencies; the slices share
// that work and sum in shared memory (no split-K round trip through L2).
const WGHMMA_SLICED: [Kernel; 4] = [
    Kernel::sliced(64, 2, 4),
    Kernel::sliced(128, 2, 3),
    Kernel::sliced(128, 2, 4),
    Kernel::sliced(128, 4, 4),
];
const WGIMMA_SLICED: [Kernel; 4] = [
    Kernel::sliced(128, 2, 4),
    Kernel::sliced(256, 2, 3),
    Kernel::sliced(256, 2, 4),
    Kernel::sliced(256, 4, 4),
];
const IMMA75: [Kernel; 2] = [
    Kernel::mma75(128, 64, 64, 2, 2),
    Kernel::mma75(64, 64, 64, 2, 2),
];

/// The patch kernel's tiles: 128 pixels, or 64 where a row's last tile would leave more idle.
const PATCH: [Kernel; 2] = [Kernel::patch(128), Kernel::patch(64)];
/// The patch kernel's limits: taps and stride, which keep its weights and patch small in
/// shared memory.
const PATCH_MAX_TAPS: usize = 16;
const PATCH_MAX_STRIDE: usize = 2;

/// The direct kernel's limits: a short K (a thread runs all of it for 8 filters), and shared
/// weights that leave room for several blocks per SM.
const DIRECT_MAX_K: usize = 128;
const DIRECT_MAX_SHARED: u32 = 32 << 10;

/// A bound on the static shared memory of the kernels that take dynamic shared memory
/// (`fits_block`): 128 bytes in the sm_90a build (ptxas -v), split-K's counter aligned.
const STATIC_SHARED: u32 = 1024;

/// Split-K runs only where a conv's grid has fewer output tiles than this (where most SMs
/// would idle); the split-K workspace holds one arrival counter per tile.
pub const SPLIT_TILES: usize = 256;

/// One choice for one conv: a kernel and how many ways K is split.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvTactic {
    pub kernel: Kernel,
    pub splits: u32,
}

impl ConvTactic {
    /// The name stored in the plan and shown by `inspect`.
    pub fn name(&self, arith: Arith) -> String {
        let k = self.kernel;
        let family = match k.family {
            Family::Simt => format!("simt-{}", arith.name()),
            Family::Dp4a => "dp4a-s8".into(),
            Family::Direct => format!("direct-{}", arith.name()),
            Family::Patch => format!("patch-{}", arith.name()),
            Family::Mma {
                bk,
                wm,
                wn,
                slices,
                stages,
                unit,
            } => {
                let (_, prefix, w) = unit.labels(arith);
                let k = slices_label(slices);
                format!("{prefix} k{bk} {w}{wm}x{wn}{k} s{stages}")
            }
        };
        let split = if self.splits > 1 {
            format!(" split-k {}", self.splits)
        } else {
            String::new()
        };
        format!("{family} {}x{}{split}", k.bm, k.bn)
    }

    /// The tactic of that name for a conv of arithmetic `arith` (an INT8 conv takes only INT8
    /// tactics, a float conv only its float type's).
    pub fn parse(name: &str, arith: Arith) -> Option<ConvTactic> {
        all(arith).into_iter().find(|t| t.name(arith) == name)
    }

    /// Dynamic shared memory of its launch for a conv of this shape: split-K CTAs do not
    /// prefetch the residual (only the last of a tile adds it), so they leave its room out.
    pub fn shared_bytes(&self, shape: &ConvShape) -> u32 {
        let residual_bytes = if self.splits > 1 {
            0
        } else {
            shape.residual_bytes
        };
        self.kernel.shared_bytes(&ConvShape {
            residual_bytes,
            ..*shape
        })
    }

    /// Whether its launch for a conv of this shape asks no more shared memory than a GPU that
    /// lets a block opt in to `limit` bytes gives, with room for the kernel's static shared
    /// memory (under `STATIC_SHARED`).
    pub fn fits_block(&self, shape: &ConvShape, limit: u32) -> bool {
        self.shared_bytes(shape) + STATIC_SHARED <= limit
    }

    /// The always-eligible tactic: CUDA cores, 64x64 tiles.
    pub fn fallback(arith: Arith) -> ConvTactic {
        let kernel = match arith {
            Arith::S8 => DP4A[1],
            Arith::F16 => SIMT_F16[1],
            Arith::F32 => SIMT_F32[1],
        };
        ConvTactic { kernel, splits: 1 }
    }
}

/// What the tactic choice depends on, besides the GPU.
#[derive(Clone, Copy, Debug)]
pub struct ConvShape {
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub cin: usize,
    pub groups: usize,
    /// The largest of 16, 8, 4, 2, 1 elements dividing the input's pixel stride and offset.
    pub in_align: usize,
    /// The side of the (square) kernel and its stride.
    pub kernel: usize,
    pub stride: usize,
    pub arith: Arith,
    /// Bytes of an element of the residual the epilogue adds (0: none); the tensor-core
    /// kernels prefetch it into shared memory.
    pub residual_bytes: u32,
}

/// Every tactic of a conv of arithmetic `arith`, split-K variants included.
fn all(arith: Arith) -> Vec<ConvTactic> {
    let one = |kernel| ConvTactic { kernel, splits: 1 };
    let split = |kernels: &[Kernel]| -> Vec<ConvTactic> {
        kernels
            .iter()
            .flat_map(|&kernel| [2, 4, 8].map(|splits| ConvTactic { kernel, splits }))
            .collect()
    };
    match arith {
        Arith::F32 => SIMT_F32
            .iter()
            .chain(&[Kernel::direct()])
            .copied()
            .map(one)
            .collect(),
        Arith::F16 => SIMT_F16
            .iter()
            .chain(&[Kernel::direct()])
            .chain(&PATCH)
            .chain(&HMMA)
            .chain(&WGHMMA)
            .chain(&WGHMMA_SLICED)
            .copied()
            .map(one)
            .chain(split(&[
                HMMA[1], HMMA[4], HMMA[5], HMMA[7], HMMA[8], HMMA[9], HMMA[11], HMMA[12], HMMA[13],
                HMMA[14],
            ]))
            .chain(split(&WGHMMA))
            .chain(split(&WGHMMA_SLICED))
            .collect(),
        Arith::S8 => DP4A
            .iter()
            .chain(&IMMA)
            .chain(&IMMA75)
            .chain(&WGIMMA)
            .chain(&WGIMMA_256)
            .chain(&WGIMMA_SLICED)
            .copied()
            .map(one)
            .chain(split(&[
                IMMA[0], IMMA[2], IMMA[3], IMMA[5], IMMA[6], IMMA[7], IMMA[8], IMMA[9], IMMA[10],
                IMMA[11],
            ]))
            .chain(split(&[IMMA75[1]]))
            .chain(split(&WGIMMA))
            .chain(split(&WGIMMA_256))
            .chain(split(&WGIMMA_SLICED))
            .collect(),
    }
}

/// Whether tactic `t` computes this conv correctly on a GPU of compute capability `cc`: what a
/// plan's tactic must meet to load.
pub fn can_run(t: &ConvTactic, shape: &ConvShape, cc: (i32, i32)) -> bool {
    match t.kernel.family {
        Family::Simt | Family::Dp4a => true,
        Family::Direct => shape.groups == 1 && t.kernel.shared_bytes(shape) <= DIRECT_MAX_SHARED,
        Family::Patch => {
            t.splits == 1
                && cc.0 >= 8
                && shape.arith == Arith::F16
                && shape.groups == 1
                && shape.cin == 8
                && shape.in_align >= 8
                && shape.kernel * shape.kernel <= PATCH_MAX_TAPS
                && shape.stride <= PATCH_MAX_STRIDE
        }
        Family::Mma { unit, .. } => {
            // The cp.async kernels need sm_80, the synchronous INT8 ones sm_75, wgmma exactly
            // sm_90 (its sm_90a code runs on no other architecture).
            let arch = match unit {
                Unit::Sync => cc.0 >= 8,
                Unit::Sync75 => cc >= (7, 5),
                Unit::Wgmma => cc == (9, 0),
            };
            // A 16-byte chunk of a patch row must be one tap's channels, 16-byte aligned.
            let chunk = 16 / shape.arith.bytes();
            let fits =
                shape.groups == 1 && shape.cin.is_multiple_of(chunk) && shape.in_align >= chunk;
            arch && fits && (t.splits == 1 || tiles(t, shape) < SPLIT_TILES)
        }
    }
}

fn tiles(t: &ConvTactic, shape: &ConvShape) -> usize {
    shape.m.div_ceil(t.kernel.bm as usize) * shape.n.div_ceil(t.kernel.bn as usize)
}

/// Every tactic that can run this conv on a GPU of compute capability `cc`.
pub fn runnable(shape: &ConvShape, cc: (i32, i32)) -> Vec<ConvTactic> {
    all(shape.arith)
        .into_iter()
        .filter(|t| can_run(t, shape, cc))
        .collect()
}

/// The tactics the builder times for this conv: the runnable ones that can pay off. The direct
/// kernel only for a short K; Turing's INT8 kernels only on Turing (sm_80+ has the cp.async
/// ones); split-K only where the tile grid leaves most SMs idle (`SPLIT_TILES`) and each
/// split keeps at least 8 k-tiles of 64 bytes.
pub fn candidates(shape: &ConvShape, cc: (i32, i32)) -> Vec<ConvTactic> {
    let k_bytes = shape.k * shape.arith.bytes();
    runnable(shape, cc)
        .into_iter()
        .filter(|t| match t.kernel.family {
            Family::Direct => shape.k <= DIRECT_MAX_K,
            Family::Mma {
                unit: Unit::Sync75, ..
            } if cc.0 >= 8 => false,
            _ => t.splits == 1 || k_bytes >= t.splits as usize * 8 * 64,
        })
        .collect()
}

/// K elements per split: a whole number of 128-byte k-tiles (so of 64-byte ones too).
pub fn k_per_split(k: usize, splits: u32, arith: Arith) -> usize {
    let tile = 128 / arith.bytes();
    k.div_ceil(splits as usize).div_ceil(tile) * tile
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_parses_back_to_its_tactic() {
        for arith in [Arith::F32, Arith::F16, Arith::S8] {
            for t in all(arith) {
                assert_eq!(ConvTactic::parse(&t.name(arith), arith), Some(t));
            }
        }
        // A float tactic is no INT8 one and the other way round.
        let hmma = ConvTactic {
            kernel: HMMA[0],
            splits: 1,
        };
        assert_eq!(ConvTactic::parse(&hmma.name(Arith::F16), Arith::S8), None);
        let dp4a = ConvTactic::fallback(Arith::S8);
        assert_eq!(dp4a.name(Arith::S8), "dp4a-s8 64x64");
        assert_eq!(ConvTactic::parse("dp4a-s8 64x64", Arith::F16), None);
    }

    /// An INT8 3x3 conv of YOLOv3 at 416 (52x52, 128 -> 256 channels), with a residual of
    /// `residual_bytes` per element or none.
    fn yolo_3x3_s8(residual_bytes: u32) -> ConvShape {
        ConvShape {
            m: 52 * 52,
            n: 256,
            k: 9 * 128,
            cin: 128,
            groups: 1,
            in_align: 16,
            kernel: 3,
            stride: 1,
            arith: Arith::S8,
            residual_bytes,
        }
    }

    #[test]
    fn int8_convs_get_int8_tactics_by_compute_capability_and_alignment() {
        let shape = yolo_3x3_s8(0);
        let names = |s: &ConvShape, cc| -> Vec<String> {
            candidates(s, cc)
                .iter()
                .map(|t| t.name(Arith::S8))
                .collect()
        };
        let ampere = names(&shape, (8, 7));
        assert!(
            ampere.iter().any(|n| n == "imma-s8 k128 w2x4 s3 128x128"),
            "{ampere:?}"
        );
        assert!(ampere.iter().any(|n| n.starts_with("dp4a-s8")));
        assert!(!ampere.iter().any(|n| n.starts_with("imma-s8-sm75")));
        // wgmma on Hopper (sm_90a) alone, besides its mma.sync tiles.
        assert!(!ampere.iter().any(|n| n.starts_with("wgmma")));
        let hopper = names(&shape, (9, 0));
        assert!(
            hopper.iter().any(|n| n == "wgmma-s8 k128 g1x1 s4 64x64")
                && hopper.iter().any(|n| n == "imma-s8 k128 w2x4 s4 64x64"),
            "{hopper:?}"
        );
        assert!(!names(&shape, (10, 0))
            .iter()
            .any(|n| n.starts_with("wgmma")));
        let turing = names(&shape, (7, 5));
        assert!(
            turing
                .iter()
                .any(|n| n == "imma-s8-sm75 k64 w2x2 s2 128x64"),
            "{turing:?}"
        );
        assert!(!turing.iter().any(|n| n.starts_with("imma-s8 ")));
        // Xavier (sm_72) and Pascal: dp4a only.
        assert!(names(&shape, (7, 2))
            .iter()
            .all(|n| n.starts_with("dp4a-s8")));
        // Channels or a slice offset off the 16-byte chunk: dp4a only.
        for s in [
            ConvShape { cin: 24, ..shape },
            ConvShape {
                in_align: 8,
                ..shape
            },
        ] {
            assert!(names(&s, (9, 0)).iter().all(|n| n.starts_with("dp4a-s8")));
        }
    }

    #[test]
    fn the_patch_kernel_takes_fp16_convs_of_8_channel_pixels() {
        let first = ConvShape {
            m: 416 * 416,
            n: 32,
            k: 9 * 8,
            cin: 8,
            groups: 1,
            in_align: 8,
            kernel: 3,
            stride: 1,
            arith: Arith::F16,
            residual_bytes: 0,
        };
        let patch = |s: &ConvShape, cc| {
            candidates(s, cc)
                .iter()
                .filter(|t| t.kernel.family == Family::Patch)
                .count()
        };
        assert_eq!(patch(&first, (9, 0)), 2);
        assert_eq!(patch(&first, (8, 7)), 2);
        assert_eq!(
            patch(&first, (7, 5)),
            0,
            "mma.sync m16n8k16 and cp.async: sm_80"
        );
        for s in [
            ConvShape {
                cin: 16,
                k: 9 * 16,
                ..first
            },
            ConvShape {
                in_align: 4,
                ..first
            },
            ConvShape { stride: 4, ..first },
            ConvShape {
                kernel: 5,
                k: 25 * 8,
                ..first
            },
        ] {
            assert_eq!(patch(&s, (9, 0)), 0, "{s:?}");
        }
        // 3x3/1: 32 filters x 11 chunks (9 taps, a zero, the odd pad) and 3 rows x 130 pixels
        // + a zero chunk fit under the 128 x 36 float accumulator tile.
        assert_eq!(Kernel::patch(128).shared_bytes(&first), 128 * 36 * 4);
        // 4x4/2: 32 x 17 chunks and 4 rows x (127 x 2 + 4) pixels + 1, 16 bytes each.
        let wide = ConvShape {
            kernel: 4,
            stride: 2,
            k: 16 * 8,
            ..first
        };
        assert_eq!(
            Kernel::patch(128).shared_bytes(&wide),
            (32 * 17 + 1033) * 16
        );
    }

    /// The launch behind the 48 KiB bug, which the GPU test
    /// `every_tactic_alone_on_each_conv_matches_the_cpu` makes: this tile on allops' head (1x1,
    /// 24 channels in and out, no residual) asks exactly 48 KiB, 3 stages x (64 pixel + 64
    /// filter rows) x 64 halves x 2 bytes.
    #[test]
    fn the_48_kib_test_tile_asks_48_kib() {
        let t = ConvTactic::parse("hmma-f16 k64 w2x2 s3 64x64", Arith::F16).expect("a tactic");
        let head = ConvShape {
            m: 32 * 32,
            n: 24,
            k: 24,
            cin: 24,
            groups: 1,
            in_align: 8,
            kernel: 1,
            stride: 1,
            arith: Arith::F16,
            residual_bytes: 0,
        };
        assert_eq!(t.shared_bytes(&head), 48 * 1024);
    }

    /// The largest INT8 tile on a YOLOv3 3x3 conv with an int8 residual: 3 stages of (128 + 64)
    /// rows x 256 bytes, the 128 x 64 residual tile, 1 KiB to align the stages: 153 KiB, which
    /// an H100 (227 KiB per block) and a Jetson Orin (163) give, an RTX 30 (99) does not.
    #[test]
    fn the_largest_int8_tile_fits_an_h100_and_an_orin_not_a_99_kib_block() {
        let t = ConvTactic::parse("wgmma-s8 k256 g2x1 s3 128x64", Arith::S8).expect("a tactic");
        let shape = yolo_3x3_s8(1);
        assert_eq!(t.shared_bytes(&shape), 3 * 192 * 256 + 128 * 64 + 1024);
        assert!(t.fits_block(&shape, 227 * 1024));
        assert!(t.fits_block(&shape, 163 * 1024));
        assert!(!t.fits_block(&shape, 99 * 1024));
    }

    #[test]
    fn split_k_keeps_whole_k_tiles() {
        assert_eq!(k_per_split(4608, 4, Arith::S8), 1152);
        assert_eq!(k_per_split(4608, 4, Arith::S8) % 128, 0);
        assert_eq!(k_per_split(1000, 3, Arith::F16) % 64, 0);
        assert!(k_per_split(1000, 3, Arith::S8) * 3 >= 1000);
    }
}
