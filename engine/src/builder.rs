//! The builder: optimizes an imported graph, picks kernels for the target device and
//! produces a plan bound to it.

use crate::backend::cpu::gemm::{tile, Patches};
use crate::backend::cpu::isa::Isa;
use crate::backend::cuda;
use crate::error::{Error, Result};
use crate::graph::{Graph, Op};
use crate::optimize::Pass;
use crate::plan::{Binding, DType, Fingerprint, Plan, Precision, Tactic};
use std::path::PathBuf;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Device {
    Cpu,
    Cuda(usize),
}

impl std::str::FromStr for Device {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "cpu" => Ok(Device::Cpu),
            "cuda" => Ok(Device::Cuda(0)),
            _ => s
                .strip_prefix("cuda:")
                .and_then(|n| n.parse().ok())
                .map(Device::Cuda)
                .ok_or_else(|| format!("'{s}': expected cpu, cuda or cuda:N")),
        }
    }
}

/// Build settings, like TensorRT's builder config.
#[derive(Clone, Debug)]
pub struct Builder {
    pub device: Device,
    pub precision: Precision,
    /// Optimizer passes to run, in order (all of them unless a test says otherwise).
    pub passes: Vec<Pass>,
    /// NVRTC library file for CUDA builds (default: found by soname or `$EDGE_INFER_NVRTC`).
    pub nvrtc: Option<PathBuf>,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            device: Device::Cpu,
            precision: Precision::Fp32,
            passes: Pass::ALL.to_vec(),
            nvrtc: None,
        }
    }
}

/// What the builder is doing, for a progress display.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    Optimize,
    /// NVRTC compiling the kernels for the GPU.
    Compile,
    Tactics,
    /// Timing candidate kernels of conv `done` of `total`.
    Tune {
        done: usize,
        total: usize,
    },
    Done,
}

impl Builder {
    pub fn build(&self, mut graph: Graph, progress: &mut dyn FnMut(Step)) -> Result<Plan> {
        let supported = match self.device {
            Device::Cpu => self.precision == Precision::Fp32,
            Device::Cuda(_) => self.precision != Precision::Int8,
        };
        if !supported {
            return Err(Error::Unsupported(format!(
                "{} engines are not supported on {}: the CPU backend runs fp32, CUDA fp32 and fp16",
                self.precision.name(),
                match self.device {
                    Device::Cpu => "the CPU",
                    Device::Cuda(_) => "CUDA",
                }
            )));
        }
        graph.validate().map_err(Error::Graph)?;
        progress(Step::Optimize);
        for pass in &self.passes {
            pass.run(&mut graph);
        }
        graph.validate().map_err(Error::Graph)?;
        if let Device::Cuda(ordinal) = self.device {
            return self.build_cuda(graph, ordinal, progress);
        }
        progress(Step::Tactics);
        let isa = Isa::detect();
        let tactics = graph
            .nodes
            .iter()
            .enumerate()
            .filter_map(|(node, n)| match &n.op {
                Op::Conv(c) => {
                    let (mr, nr) = tile(isa.level(), c.filters / c.groups);
                    let cin = graph.shape(n.inputs[0]).c;
                    let patches = Patches::choose(c.kernel, cin, c.groups);
                    Some(Tactic {
                        node,
                        name: format!(
                            "implicit-gemm {} {mr}x{nr} {}",
                            isa.level().name(),
                            patches.name()
                        ),
                    })
                }
                _ => None,
            })
            .collect();
        progress(Step::Done);
        Ok(self.plan(graph, Fingerprint::cpu(isa), tactics))
    }

    /// A plan with these choices; the bindings are f32 NHWC whatever the precision inside.
    fn plan(&self, graph: Graph, fingerprint: Fingerprint, tactics: Vec<Tactic>) -> Plan {
        let binding = |name: String, t: usize| {
            let s = graph.shape(t);
            Binding {
                name,
                shape: [1, s.h, s.w, s.c],
                dtype: DType::F32,
                layout: "NHWC".into(),
            }
        };
        let inputs = vec![binding("input".into(), graph.input)];
        let outputs = graph
            .outputs
            .iter()
            .enumerate()
            .map(|(i, &t)| binding(format!("head{i}"), t))
            .collect();
        Plan {
            producer: format!("edge-infer {}", env!("CARGO_PKG_VERSION")),
            fingerprint,
            precision: self.precision,
            inputs,
            outputs,
            graph,
            tactics,
            device_code: Vec::new(),
        }
    }

    fn build_cuda(
        &self,
        graph: Graph,
        ordinal: usize,
        progress: &mut dyn FnMut(Step),
    ) -> Result<Plan> {
        let draft = self.plan(graph, Fingerprint::cpu(Isa::detect()), Vec::new());
        let built = cuda::tune::build(&draft, ordinal, self.nvrtc.as_deref(), progress)?;
        progress(Step::Done);
        Ok(Plan {
            fingerprint: built.fingerprint,
            tactics: built.tactics,
            device_code: built.device_code,
            ..draft
        })
    }
}
