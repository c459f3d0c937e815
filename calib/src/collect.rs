//! Activation statistics from the FP32 engine: after each calibration frame's `infer`, every
//! buffer an INT8 plan may quantize is read back and added to its histogram of |x|.

use crate::algorithm::Algorithm;
use crate::histogram::Histogram;
use edge_engine::graph::Graph;
use edge_engine::quant::Quantization;
use edge_engine::{Context, Error, Result};

pub struct Collector {
    /// (tensor id, name, histogram) of each measured buffer.
    tensors: Vec<(usize, String, Histogram)>,
    frames: usize,
    buf: Vec<f32>,
}

impl Collector {
    /// Measures the buffers of `graph` (the optimized graph the INT8 plan is built from).
    pub fn new(graph: &Graph) -> Collector {
        Collector {
            tensors: Quantization::calibrated_tensors(graph)
                .into_iter()
                .map(|t| (t, graph.tensors[t].name.clone(), Histogram::new()))
                .collect(),
            frames: 0,
            buf: Vec::new(),
        }
    }

    /// Adds the tensors of the frame `ctx` last inferred. `ctx` runs an FP32 plan of
    /// `measurable(graph)`.
    pub fn add(&mut self, ctx: &mut Context) -> Result<()> {
        for (t, name, hist) in &mut self.tensors {
            ctx.read_tensor(*t, &mut self.buf)?;
            hist.add(&self.buf).map_err(|e| {
                Error::Input(format!(
                    "calibration frame {}: tensor {name} has {e}: the FP32 engine overflowed on \
                     this input or the weights are broken",
                    self.frames
                ))
            })?;
        }
        self.frames += 1;
        Ok(())
    }

    pub fn frames(&self) -> usize {
        self.frames
    }

    /// Each tensor's scale (amax / 127) by `algorithm`, in graph order.
    pub fn scales(&self, algorithm: &Algorithm) -> Vec<(String, f32)> {
        self.tensors
            .iter()
            .map(|(_, name, h)| (name.clone(), crate::algorithm::scale(algorithm.amax(h))))
            .collect()
    }
}

/// `graph` with every measured tensor made an output: the memory planner then gives each its
/// own storage until the end of the frame, so it can still be read after `infer` (otherwise
/// later layers reuse the memory of tensors they no longer need).
pub fn measurable(graph: &Graph) -> Graph {
    let mut g = graph.clone();
    for t in Quantization::calibrated_tensors(graph) {
        if !g.outputs.contains(&t) {
            g.outputs.push(t);
        }
    }
    g
}
