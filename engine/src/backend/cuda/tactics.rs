//! The convolution kernels a plan can choose from, by the name the plan stores, with what
//! each needs to launch and which convs it can take.

use crate::plan::Precision;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// CUDA-core FMA, any conv; `conv_simt.cu`.
    Simt,
    /// Tensor cores, mma.sync m16n8k16 FP16 -> FP32; `conv_hmma.cu`.
    Hmma {
        bk: u32,
        wm: u32,
        wn: u32,
        stages: u32,
    },
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
    const fn hmma(bm: u32, bn: u32, bk: u32, wm: u32, wn: u32, stages: u32) -> Kernel {
        Kernel {
            family: Family::Hmma { bk, wm, wn, stages },
            bm,
            bn,
            threads: wm * wn * 32,
        }
    }

    /// The kernel's symbol in the cubin.
    pub fn symbol(&self, precision: Precision) -> String {
        let (bm, bn) = (self.bm, self.bn);
        match self.family {
            Family::Simt => format!("conv_simt_{}_{bm}x{bn}", dtype(precision)),
            Family::Hmma { bk, wm, wn, stages } => {
                format!("conv_hmma_{bm}x{bn}x{bk}_w{wm}x{wn}_s{stages}")
            }
        }
    }

    pub fn shared_bytes(&self) -> u32 {
        match self.family {
            Family::Simt => 0,
            // The pipeline's stages, or the FP32 accumulator tile the epilogue reuses them for.
            Family::Hmma { bk, stages, .. } => {
                (stages * (self.bm + self.bn) * bk * 2).max(self.bm * (self.bn + 4) * 4)
            }
        }
    }
}

pub fn dtype(precision: Precision) -> &'static str {
    match precision {
        Precision::Fp16 => "f16",
        _ => "f32",
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
const HMMA: [Kernel; 11] = [
    Kernel::hmma(128, 128, 32, 2, 2, 3),
    Kernel::hmma(128, 128, 32, 2, 4, 3),
    Kernel::hmma(128, 64, 32, 2, 2, 3),
    Kernel::hmma(64, 128, 32, 2, 2, 3),
    Kernel::hmma(64, 64, 32, 2, 2, 4),
    Kernel::hmma(32, 64, 32, 1, 2, 4),
    Kernel::hmma(128, 128, 64, 2, 4, 3),
    Kernel::hmma(128, 64, 64, 2, 2, 4),
    Kernel::hmma(64, 128, 64, 2, 2, 4),
    Kernel::hmma(64, 64, 64, 2, 2, 4),
    Kernel::hmma(64, 64, 64, 2, 2, 3),
];

/// One choice for one conv: a kernel and how many ways K is split.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvTactic {
    pub kernel: Kernel,
    pub splits: u32,
}

impl ConvTactic {
    /// The name stored in the plan and shown by `inspect`.
    pub fn name(&self, precision: Precision) -> String {
        let k = self.kernel;
        let family = match k.family {
            Family::Simt => format!("simt-{}", dtype(precision)),
            Family::Hmma { bk, wm, wn, stages } => {
                format!("hmma-f16 k{bk} w{wm}x{wn} s{stages}")
            }
        };
        let split = if self.splits > 1 {
            format!(" split-k {}", self.splits)
        } else {
            String::new()
        };
        format!("{family} {}x{}{split}", k.bm, k.bn)
    }

    pub fn parse(name: &str, precision: Precision) -> Option<ConvTactic> {
        all(precision)
            .into_iter()
            .chain(splits(precision))
            .find(|t| t.name(precision) == name)
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
    /// Pixel strides and channel offsets of input, output and residual are multiples of 8.
    pub aligned8: bool,
}

fn all(precision: Precision) -> Vec<ConvTactic> {
    let one = |kernel| ConvTactic { kernel, splits: 1 };
    match precision {
        Precision::Fp16 => SIMT_F16.iter().chain(&HMMA).copied().map(one).collect(),
        _ => SIMT_F32.iter().copied().map(one).collect(),
    }
}

fn splits(precision: Precision) -> Vec<ConvTactic> {
    if precision != Precision::Fp16 {
        return Vec::new();
    }
    [HMMA[4], HMMA[5], HMMA[9]]
        .into_iter()
        .flat_map(|kernel| [2, 4, 8].map(|splits| ConvTactic { kernel, splits }))
        .collect()
}

/// Every tactic that can run this conv on a GPU of compute capability `cc`.
pub fn candidates(precision: Precision, shape: &ConvShape, cc: (i32, i32)) -> Vec<ConvTactic> {
    let hmma_ok = cc.0 >= 8 && shape.groups == 1 && shape.cin.is_multiple_of(8) && shape.aligned8;
    all(precision)
        .into_iter()
        .chain(splits(precision))
        .filter(|t| match t.kernel.family {
            Family::Simt => t.splits == 1,
            Family::Hmma { .. } => {
                // Split K only where the tile grid leaves most SMs idle and each split keeps
                // at least 8 32-wide k-tiles. k_per_split is a multiple of the tile's BK.
                let tiles =
                    shape.m.div_ceil(t.kernel.bm as usize) * shape.n.div_ceil(t.kernel.bn as usize);
                hmma_ok && (t.splits == 1 || (tiles < 256 && shape.k >= t.splits as usize * 8 * 32))
            }
        })
        .collect()
}

/// K elements per split, a whole number of 64-wide k-tiles (so of 32-wide ones too).
pub fn k_per_split(k: usize, splits: u32) -> usize {
    k.div_ceil(splits as usize).div_ceil(64) * 64
}
