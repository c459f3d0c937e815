//! INT8 quantization, one set of rules for both backends so the CPU reproduces the GPU.
//!
//! - Weights: symmetric int8 per output channel, `scale = max|w| / 127`.
//! - Activations: symmetric int8 per buffer (an owning tensor and every channel window of it
//!   share one scale), `scale = amax / 127` from calibration.
//! - An INT8 conv multiplies int8 patches by int8 weights into int32, then
//!   `v = float(acc) * (s_x * s_w[n]) + bias` (one rounding per operation, no fused multiply-add,
//!   so the GPU and the CPU agree bit for bit), activation, residual, and the store.
//! - A store into an int8 buffer is `clamp(round_half_even(v * (1 / s)), -127, 127)`; a read
//!   from one is `q * s`. The CPU keeps int8 buffers as those dequantized floats, which equal
//!   the GPU's reads exactly.

use crate::fnv::Fnv;
use crate::graph::{Graph, Op, Storage};

pub const QMAX: f32 = 127.0;

/// `v` quantized with the reciprocal of its scale.
#[inline(always)]
pub fn quantize(v: f32, inv_scale: f32) -> i8 {
    (v * inv_scale).round_ties_even().clamp(-QMAX, QMAX) as i8
}

/// The reciprocal the GPU receives for scale `s` (computed once, on the host, for both).
pub fn inverse(scale: f32) -> f32 {
    1.0 / scale
}

/// Per-output-channel int8 weights of a conv (rows of `per_row` weights) and their scales.
/// An all-zero row gets scale 1 so nothing divides by zero.
pub fn quantize_weights(weights: &[f32], per_row: usize) -> (Vec<i8>, Vec<f32>) {
    let mut q = Vec::with_capacity(weights.len());
    let mut scales = Vec::with_capacity(weights.len() / per_row.max(1));
    for row in weights.chunks(per_row.max(1)) {
        let amax = row.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let s = if amax > 0.0 { amax / QMAX } else { 1.0 };
        let inv = inverse(s);
        q.extend(row.iter().map(|&v| quantize(v, inv)));
        scales.push(s);
    }
    (q, scales)
}

/// The dequantization factor of each output channel: `s_x * s_w[n]`.
pub fn output_multipliers(input_scale: f32, weight_scales: &[f32]) -> Vec<f32> {
    weight_scales.iter().map(|s| input_scale * s).collect()
}

/// What an INT8 plan adds to its graph.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Quantization {
    /// Per node: the conv runs INT8.
    pub int8: Vec<bool>,
    /// Per tensor: the scale of an owning tensor stored as int8; `None` for float storage and
    /// for views (they use their base's).
    pub scales: Vec<Option<f32>>,
}

impl Quantization {
    /// Chooses what runs INT8. `scale` gives a buffer's calibrated scale by tensor name;
    /// `keep_float` says a conv must stay in floating point (by node name).
    ///
    /// A conv runs INT8 unless it reads the float input binding or is kept float, and only if
    /// its input buffer is int8 (it may write a float output). A buffer is int8 when it has a scale,
    /// is neither the input nor holds an output, and every reader can take int8: INT8 convs
    /// (as their input), any conv's residual, and the other layers (they dequantize). Only a
    /// float conv's input needs float storage, so the choice repeats until nothing changes.
    pub fn choose(
        graph: &Graph,
        scale: &dyn Fn(&str) -> Option<f32>,
        keep_float: &dyn Fn(&str) -> bool,
    ) -> Quantization {
        let base = |t: usize| graph.storage_of(t).0;
        let input = base(graph.input);
        let mut int8: Vec<bool> = graph
            .nodes
            .iter()
            .map(|n| match &n.op {
                Op::Conv(c) => c.groups == 1 && base(n.inputs[0]) != input && !keep_float(&n.name),
                _ => false,
            })
            .collect();
        let mut scales = vec![None; graph.tensors.len()];
        for (t, info) in graph.tensors.iter().enumerate() {
            if info.storage == Storage::Own && t != input {
                scales[t] = scale(&info.name).filter(|s| s.is_finite() && *s > 0.0);
            }
        }
        for &o in &graph.outputs {
            scales[base(o)] = None;
        }
        loop {
            let mut changed = false;
            for (i, n) in graph.nodes.iter().enumerate() {
                if let Op::Conv(_) = n.op {
                    let x = base(n.inputs[0]);
                    if !int8[i] && scales[x].is_some() {
                        scales[x] = None;
                        changed = true;
                    }
                }
            }
            for (i, n) in graph.nodes.iter().enumerate() {
                if int8[i] && scales[base(n.inputs[0])].is_none() {
                    int8[i] = false;
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
        Quantization { int8, scales }
    }

    /// The int8 scale of the buffer behind tensor `t`, if it is stored as int8.
    pub fn scale(&self, graph: &Graph, t: usize) -> Option<f32> {
        self.scales.get(graph.storage_of(t).0).copied().flatten()
    }

    /// Checks a quantization read from a plan against its graph.
    pub fn validate(&self, graph: &Graph) -> Result<(), String> {
        if self.int8.len() != graph.nodes.len() || self.scales.len() != graph.tensors.len() {
            return Err(format!(
                "quantization covers {} nodes and {} tensors, the graph has {} and {}",
                self.int8.len(),
                self.scales.len(),
                graph.nodes.len(),
                graph.tensors.len()
            ));
        }
        for (t, s) in self.scales.iter().enumerate() {
            if let Some(s) = s {
                if !(s.is_finite() && *s > 0.0) || graph.tensors[t].storage != Storage::Own {
                    return Err(format!(
                        "tensor {t} ({}): int8 scale {s} on a view or not a positive number",
                        graph.tensors[t].name
                    ));
                }
            }
        }
        let input = graph.storage_of(graph.input).0;
        if self.scales[input].is_some()
            || graph
                .outputs
                .iter()
                .any(|&o| self.scales[graph.storage_of(o).0].is_some())
        {
            return Err("the input and the outputs must be stored as floats".into());
        }
        for (i, n) in graph.nodes.iter().enumerate() {
            let conv = match &n.op {
                Op::Conv(c) => Some(c),
                _ => None,
            };
            if self.int8[i] && conv.is_none_or(|c| c.groups != 1) {
                return Err(format!(
                    "node {i} ({}): only convs with groups = 1 run int8",
                    n.name
                ));
            }
            if conv.is_some() && self.int8[i] != self.scale(graph, n.inputs[0]).is_some() {
                return Err(format!(
                    "node {i} ({}): an int8 conv needs an int8 input and a float conv a float one",
                    n.name
                ));
            }
        }
        Ok(())
    }

    /// Names of the buffers calibration measures: every owning tensor a node writes, except
    /// the graph's outputs.
    pub fn calibrated_tensors(graph: &Graph) -> Vec<usize> {
        let outputs: Vec<usize> = graph
            .outputs
            .iter()
            .map(|&o| graph.storage_of(o).0)
            .collect();
        let mut out: Vec<usize> = graph
            .nodes
            .iter()
            .map(|n| graph.storage_of(n.output).0)
            .filter(|b| !outputs.contains(b))
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }
}

/// What a calibration cache is valid for: tensor names, shapes and storage, the ops and
/// weights that compute them, and the preprocessing that makes the input. Scales from other
/// weights would be wrong without any name changing, so the weights count too (TensorRT's
/// cache does not check this).
pub fn graph_hash(graph: &Graph) -> u64 {
    let mut h = Fnv::default();
    for t in &graph.tensors {
        h.str(&t.name);
        for d in [t.shape.h, t.shape.w, t.shape.c] {
            h.u64(d as u64);
        }
        match t.storage {
            Storage::Own => h.u64(u64::MAX),
            Storage::View {
                base,
                channel_offset,
            } => {
                h.u64(base as u64);
                h.u64(channel_offset as u64);
            }
        }
    }
    h.u64(graph.input as u64);
    for &o in &graph.outputs {
        h.u64(o as u64);
    }
    let floats = |h: &mut Fnv, v: &[f32]| {
        h.u64(v.len() as u64);
        for x in v {
            h.update(&x.to_bits().to_le_bytes());
        }
    };
    for n in &graph.nodes {
        h.str(&n.name);
        for &i in &n.inputs {
            h.u64(i as u64);
        }
        h.u64(n.output as u64);
        match &n.op {
            Op::Conv(c) => {
                h.str(&format!(
                    "conv {} {} {} {} {} {:?} {:?} {:?}",
                    c.filters, c.kernel, c.stride, c.pad, c.groups, c.act, c.post_act, c.residual
                ));
                floats(&mut h, &c.weights);
                floats(&mut h, &c.bias);
            }
            Op::BatchNorm(bn) => {
                h.str("batchnorm");
                for v in [&bn.scale, &bn.bias, &bn.mean, &bn.var] {
                    floats(&mut h, v);
                }
                floats(&mut h, &[bn.eps]);
            }
            other => h.str(&format!("{other:?}")),
        }
    }
    let p = &graph.meta.preprocess;
    h.u64(u64::from(p.letterbox));
    floats(&mut h, &[p.pad_value]);
    floats(&mut h, &p.mean);
    floats(&mut h, &p.std);
    h.finish()
}
