//! The plan: everything needed to run a network on one device, as versioned bytes.
//! `format` has the byte layout; this module the types and the errors loading can give.

pub mod fingerprint;
pub mod format;

use crate::graph::Graph;
use crate::quant::Quantization;
pub use fingerprint::Fingerprint;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Precision {
    Fp32,
    Fp16,
    Int8,
}

impl Precision {
    pub const ALL: [Precision; 3] = [Precision::Fp32, Precision::Fp16, Precision::Int8];

    pub fn name(self) -> &'static str {
        match self {
            Precision::Fp32 => "fp32",
            Precision::Fp16 => "fp16",
            Precision::Int8 => "int8",
        }
    }
}

impl std::str::FromStr for Precision {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Precision::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| format!("'{s}': expected fp32, fp16 or int8"))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DType {
    F32,
    F16,
    I8,
}

impl DType {
    pub fn name(self) -> &'static str {
        match self {
            DType::F32 => "f32",
            DType::F16 => "f16",
            DType::I8 => "i8",
        }
    }
}

/// A named input or output of the engine as a caller sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct Binding {
    pub name: String,
    /// `[n, h, w, c]`
    pub shape: [usize; 4],
    pub dtype: DType,
    pub layout: String,
}

/// The kernel variant chosen for one node, as the builder picked it for the device.
#[derive(Clone, Debug, PartialEq)]
pub struct Tactic {
    pub node: usize,
    pub name: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    pub producer: String,
    pub fingerprint: Fingerprint,
    pub precision: Precision,
    pub inputs: Vec<Binding>,
    pub outputs: Vec<Binding>,
    pub graph: Graph,
    pub tactics: Vec<Tactic>,
    /// Kernels compiled for the plan's GPU (a cubin); empty for the CPU backend.
    pub device_code: Vec<u8>,
    /// INT8 plans: which convs run int8 and each int8 buffer's scale.
    pub quant: Option<Quantization>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlanError {
    #[error("not an edge-infer engine file (magic bytes {found:02x?}, expected \"EDGEPLAN\")")]
    BadMagic { found: Vec<u8> },
    #[error("plan format version {found} is not supported by this edge-infer (it reads version {supported}); rebuild the engine with this version")]
    UnsupportedVersion { found: u32, supported: u32 },
    #[error("truncated: the file has {found} bytes, its header says {expected}")]
    Truncated { expected: u64, found: u64 },
    #[error(
        "checksum mismatch: stored {stored:08x}, computed {computed:08x}; the file is corrupt"
    )]
    Checksum { stored: u32, computed: u32 },
    #[error("malformed at byte offset {offset}: {what}")]
    Malformed { offset: usize, what: String },
    #[error("built for another device: plan is for {built_for}, this machine is {this}; rebuild it here with `edge-infer build`")]
    WrongDevice { built_for: String, this: String },
}
