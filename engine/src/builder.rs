//! The builder: optimizes an imported graph, picks kernels for the target device and
//! produces a plan bound to it.

use crate::backend::cpu::gemm::{tile, Patches};
use crate::backend::cpu::isa::Isa;
use crate::error::{Error, Result};
use crate::graph::{Graph, Op};
use crate::optimize::Pass;
use crate::plan::{Binding, DType, Fingerprint, Plan, Precision, Tactic};

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
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            device: Device::Cpu,
            precision: Precision::Fp32,
            passes: Pass::ALL.to_vec(),
        }
    }
}

/// What the builder is doing, for a progress display.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    Optimize,
    Tactics,
    Done,
}

impl Builder {
    pub fn build(&self, mut graph: Graph, progress: &mut dyn FnMut(Step)) -> Result<Plan> {
        match self.device {
            Device::Cpu => {}
            Device::Cuda(_) => {
                return Err(Error::Unsupported(
                    "this edge-infer has no CUDA backend yet; build with --device cpu".into(),
                ))
            }
        }
        if self.precision != Precision::Fp32 {
            return Err(Error::Unsupported(format!(
                "the CPU backend runs fp32 only, not {}",
                self.precision.name()
            )));
        }
        graph.validate().map_err(Error::Graph)?;
        progress(Step::Optimize);
        for pass in &self.passes {
            pass.run(&mut graph);
        }
        graph.validate().map_err(Error::Graph)?;
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
        progress(Step::Done);
        Ok(Plan {
            producer: format!("edge-infer {}", env!("CARGO_PKG_VERSION")),
            fingerprint: Fingerprint::cpu(isa),
            precision: self.precision,
            inputs,
            outputs,
            graph,
            tactics,
        })
    }
}
