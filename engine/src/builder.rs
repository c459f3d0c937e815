//! The builder: optimizes an imported graph, picks kernels for the target device and
//! produces a plan bound to it.

use crate::backend::cpu::gemm::{tile, Patches};
use crate::backend::cpu::isa::Isa;
use crate::backend::cuda;
use crate::error::{Error, Result};
use crate::graph::{Graph, Op};
use crate::optimize::Pass;
use crate::plan::{Binding, DType, Fingerprint, Plan, Precision, Tactic};
use crate::quant::Quantization;
use std::collections::HashMap;
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

/// INT8 settings: calibrated scales and the convs kept in floating point.
#[derive(Clone, Debug, Default)]
pub struct Int8Settings {
    /// Activation scale (amax / 127) by tensor name: a calibration cache's lines.
    pub scales: HashMap<String, f32>,
    /// Convs kept in floating point, by layer name or index (`12:conv` or `12`); `None` keeps
    /// the default, the convs that write the network's outputs. The conv reading the float
    /// input always stays float.
    pub exclude: Option<Vec<String>>,
}

impl Int8Settings {
    /// The keep-float rule for `graph`, or the first `exclude` entry naming no conv.
    fn keep_float(&self, graph: &Graph) -> Result<Vec<String>> {
        let convs = graph.nodes.iter().filter(|n| matches!(n.op, Op::Conv(_)));
        let Some(list) = &self.exclude else {
            return Ok(convs
                .filter(|n| graph.is_output(n.output))
                .map(|n| n.name.clone())
                .collect());
        };
        let convs: Vec<&str> = convs.map(|n| n.name.as_str()).collect();
        list.iter()
            .map(|e| {
                convs
                    .iter()
                    .find(|&&name| name == e || name.split(':').next() == Some(e))
                    .map(|n| n.to_string())
                    .ok_or_else(|| {
                        Error::Input(format!(
                            "--int8-exclude {e}: no conv layer of that name or index (convs: {})",
                            convs.join(", ")
                        ))
                    })
            })
            .collect()
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
    /// Required for INT8 plans.
    pub int8: Option<Int8Settings>,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            device: Device::Cpu,
            precision: Precision::Fp32,
            passes: Pass::ALL.to_vec(),
            nvrtc: None,
            int8: None,
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
    /// Timing the whole network with the close runners-up of each conv's pick.
    Network,
    Done,
}

impl Builder {
    pub fn build(&self, graph: Graph, progress: &mut dyn FnMut(Step)) -> Result<Plan> {
        progress(Step::Optimize);
        let graph = self.optimize(graph)?;
        self.build_optimized(graph, progress)
    }

    /// The graph after the optimizer: what a plan runs and what calibration measures.
    pub fn optimize(&self, mut graph: Graph) -> Result<Graph> {
        graph.validate().map_err(Error::Graph)?;
        for pass in &self.passes {
            pass.run(&mut graph);
        }
        graph.validate().map_err(Error::Graph)?;
        Ok(graph)
    }

    /// `build` for a graph `optimize` returned.
    pub fn build_optimized(&self, graph: Graph, progress: &mut dyn FnMut(Step)) -> Result<Plan> {
        if self.device == Device::Cpu && self.precision == Precision::Fp16 {
            return Err(Error::Unsupported(
                "fp16 engines are not supported on the CPU: it runs fp32 and int8".into(),
            ));
        }
        let quant = match (self.precision, &self.int8) {
            (Precision::Int8, None) => {
                return Err(Error::Input(
                    "an int8 engine needs calibration scales (a calibration cache)".into(),
                ))
            }
            (Precision::Int8, Some(s)) => {
                let keep = s.keep_float(&graph)?;
                let q = Quantization::choose(&graph, &|name| s.scales.get(name).copied(), &|n| {
                    keep.iter().any(|k| k == n)
                });
                q.validate(&graph).map_err(Error::Graph)?;
                Some(q)
            }
            _ => None,
        };
        if let Device::Cuda(ordinal) = self.device {
            return self.build_cuda(graph, quant, ordinal, progress);
        }
        progress(Step::Tactics);
        let isa = Isa::detect();
        let tactics = graph
            .nodes
            .iter()
            .enumerate()
            .filter_map(|(node, n)| match &n.op {
                Op::Conv(_) if quant.as_ref().is_some_and(|q| q.int8[node]) => Some(Tactic {
                    node,
                    name: "int8 direct i32-accumulate".into(),
                }),
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
        Ok(self.plan(graph, quant, Fingerprint::cpu(isa), tactics))
    }

    /// A plan with these choices; the bindings are f32 NHWC whatever the precision inside.
    fn plan(
        &self,
        graph: Graph,
        quant: Option<Quantization>,
        fingerprint: Fingerprint,
        tactics: Vec<Tactic>,
    ) -> Plan {
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
            quant,
        }
    }

    fn build_cuda(
        &self,
        graph: Graph,
        quant: Option<Quantization>,
        ordinal: usize,
        progress: &mut dyn FnMut(Step),
    ) -> Result<Plan> {
        let draft = self.plan(graph, quant, Fingerprint::cpu(Isa::detect()), Vec::new());
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
