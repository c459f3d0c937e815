//! The graph IR every importer produces and every pass and backend consumes.
//!
//! Tensors are batch-1 NHWC. A tensor either owns its storage or is a channel window of an
//! owning tensor (in-place concat, route groups): consumers read it with the owner's pixel stride.

use crate::model::ModelMeta;

pub type TensorId = usize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Shape {
    pub h: usize,
    pub w: usize,
    pub c: usize,
}

impl Shape {
    pub fn new(h: usize, w: usize, c: usize) -> Self {
        Shape { h, w, c }
    }
    pub fn len(&self) -> usize {
        self.h * self.w * self.c
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    pub fn pixels(&self) -> usize {
        self.h * self.w
    }
}

impl std::fmt::Display for Shape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}x{}x{}", self.h, self.w, self.c)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Activation {
    Linear,
    Leaky,
    Relu,
    Logistic,
    Mish,
    Swish,
}

impl Activation {
    pub const ALL: [Activation; 6] = [
        Activation::Linear,
        Activation::Leaky,
        Activation::Relu,
        Activation::Logistic,
        Activation::Mish,
        Activation::Swish,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Activation::Linear => "linear",
            Activation::Leaky => "leaky",
            Activation::Relu => "relu",
            Activation::Logistic => "logistic",
            Activation::Mish => "mish",
            Activation::Swish => "swish",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.name() == name)
    }

    #[inline(always)]
    pub fn apply(self, x: f32) -> f32 {
        match self {
            Activation::Linear => x,
            Activation::Leaky => {
                if x > 0.0 {
                    x
                } else {
                    0.1 * x
                }
            }
            Activation::Relu => x.max(0.0),
            Activation::Logistic => sigmoid(x),
            Activation::Mish => x * softplus(x).tanh(),
            Activation::Swish => x * sigmoid(x),
        }
    }
}

impl Activation {
    /// `apply` over a slice, with the choice made once so each loop can vectorize.
    #[inline(always)]
    pub fn apply_slice(self, xs: &mut [f32]) {
        match self {
            Activation::Linear => {}
            Activation::Leaky => xs
                .iter_mut()
                .for_each(|x| *x = if *x > 0.0 { *x } else { 0.1 * *x }),
            Activation::Relu => xs.iter_mut().for_each(|x| *x = x.max(0.0)),
            other => xs.iter_mut().for_each(|x| *x = other.apply(*x)),
        }
    }
}

#[inline(always)]
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

#[inline(always)]
fn softplus(x: f32) -> f32 {
    // ln(1 + e^x) without overflow for large x.
    if x > 20.0 {
        x
    } else {
        x.exp().ln_1p()
    }
}

/// Convolution. `weights` are OIHW: `[filters][in_channels / groups][kernel][kernel]`.
/// Epilogue: `y = act(conv + bias)`, then with a residual `y = post_act(y + residual)`.
#[derive(Clone, Debug, PartialEq)]
pub struct Conv {
    pub filters: usize,
    pub kernel: usize,
    pub stride: usize,
    pub pad: usize,
    pub groups: usize,
    pub weights: Vec<f32>,
    pub bias: Vec<f32>,
    pub act: Activation,
    pub residual: Option<TensorId>,
    pub post_act: Activation,
}

/// Inference batch norm: `y = scale * (x - mean) / sqrt(var + eps) + bias`.
#[derive(Clone, Debug, PartialEq)]
pub struct BatchNorm {
    pub scale: Vec<f32>,
    pub bias: Vec<f32>,
    pub mean: Vec<f32>,
    pub var: Vec<f32>,
    pub eps: f32,
}

impl BatchNorm {
    /// As `y = x * mul + add` per channel.
    pub fn scale_shift(&self) -> (Vec<f32>, Vec<f32>) {
        let mul: Vec<f32> = self
            .scale
            .iter()
            .zip(&self.var)
            .map(|(s, v)| s / (v + self.eps).sqrt())
            .collect();
        let add = self
            .bias
            .iter()
            .zip(&self.mean)
            .zip(&mul)
            .map(|((b, m), k)| b - m * k)
            .collect();
        (mul, add)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// inputs: `[x]` (plus the residual named in `Conv::residual` once fused)
    Conv(Conv),
    BatchNorm(BatchNorm),
    Activation(Activation),
    /// inputs: `[a, b]`, same shape; `act(a + b)`
    Add(Activation),
    /// inputs concatenated along channels
    Concat,
    /// channels `[offset, offset + channels)` of the input
    ChannelSlice {
        offset: usize,
        channels: usize,
    },
    /// Darknet maxpool: `pad` in total, `pad / 2` before, the rest after; padding never wins.
    MaxPool {
        size: usize,
        stride: usize,
        pad: usize,
    },
    /// nearest-neighbour
    Upsample {
        scale: usize,
    },
}

impl Op {
    pub fn kind(&self) -> &'static str {
        match self {
            Op::Conv(_) => "conv",
            Op::BatchNorm(_) => "batchnorm",
            Op::Activation(_) => "activation",
            Op::Add(_) => "add",
            Op::Concat => "concat",
            Op::ChannelSlice { .. } => "slice",
            Op::MaxPool { .. } => "maxpool",
            Op::Upsample { .. } => "upsample",
        }
    }

    /// The output shape for these input shapes, or why they do not fit this op.
    pub fn output_shape(&self, inputs: &[Shape]) -> Result<Shape, String> {
        let arity = |n: usize| -> Result<(), String> {
            if inputs.len() == n {
                Ok(())
            } else {
                Err(format!(
                    "{} takes {n} input(s), got {}",
                    self.kind(),
                    inputs.len()
                ))
            }
        };
        match self {
            Op::Conv(c) => {
                arity(1 + usize::from(c.residual.is_some()))?;
                let x = inputs[0];
                if c.groups == 0 || c.stride == 0 || c.kernel == 0 || c.filters == 0 {
                    return Err("conv needs non-zero filters, size, stride and groups".into());
                }
                if !x.c.is_multiple_of(c.groups) || c.filters % c.groups != 0 {
                    return Err(format!(
                        "groups={} must divide input channels {} and filters {}",
                        c.groups, x.c, c.filters
                    ));
                }
                let expect_w = c.filters * (x.c / c.groups) * c.kernel * c.kernel;
                if c.weights.len() != expect_w {
                    return Err(format!(
                        "conv has {} weights, its shape needs {expect_w}",
                        c.weights.len()
                    ));
                }
                if c.bias.len() != c.filters {
                    return Err(format!(
                        "conv has {} biases for {} filters",
                        c.bias.len(),
                        c.filters
                    ));
                }
                let span = |n: usize| {
                    (n + 2 * c.pad)
                        .checked_sub(c.kernel)
                        .map(|d| d / c.stride + 1)
                };
                let (Some(h), Some(w)) = (span(x.h), span(x.w)) else {
                    return Err(format!("kernel {} larger than padded input {x}", c.kernel));
                };
                let out = Shape::new(h, w, c.filters);
                if c.residual.is_some() && inputs[1] != out {
                    return Err(format!(
                        "residual {} does not match conv output {out}",
                        inputs[1]
                    ));
                }
                Ok(out)
            }
            Op::BatchNorm(bn) => {
                arity(1)?;
                let c = inputs[0].c;
                if [&bn.scale, &bn.bias, &bn.mean, &bn.var]
                    .iter()
                    .any(|v| v.len() != c)
                {
                    return Err(format!("batchnorm parameters do not have {c} channels"));
                }
                Ok(inputs[0])
            }
            Op::Activation(_) => {
                arity(1)?;
                Ok(inputs[0])
            }
            Op::Add(_) => {
                arity(2)?;
                if inputs[0] != inputs[1] {
                    return Err(format!(
                        "add of different shapes {} and {}",
                        inputs[0], inputs[1]
                    ));
                }
                Ok(inputs[0])
            }
            Op::Concat => {
                let Some(first) = inputs.first() else {
                    return Err("concat of nothing".into());
                };
                if inputs.iter().any(|s| s.h != first.h || s.w != first.w) {
                    return Err("concat of tensors with different spatial sizes".into());
                }
                Ok(Shape::new(
                    first.h,
                    first.w,
                    inputs.iter().map(|s| s.c).sum(),
                ))
            }
            Op::ChannelSlice { offset, channels } => {
                arity(1)?;
                if *channels == 0 || offset + channels > inputs[0].c {
                    return Err(format!(
                        "slice of channels {offset}..{} out of {}",
                        offset + channels,
                        inputs[0].c
                    ));
                }
                Ok(Shape::new(inputs[0].h, inputs[0].w, *channels))
            }
            Op::MaxPool { size, stride, pad } => {
                arity(1)?;
                // Wider padding would leave windows that see only padding.
                if *size == 0 || *stride == 0 || *pad > 2 * (size - 1) {
                    return Err(format!("maxpool size={size} stride={stride} padding={pad}"));
                }
                let x = inputs[0];
                let span = |n: usize| (n + pad).checked_sub(*size).map(|d| d / stride + 1);
                match (span(x.h), span(x.w)) {
                    (Some(h), Some(w)) => Ok(Shape::new(h, w, x.c)),
                    _ => Err(format!("maxpool size {size} larger than input {x}")),
                }
            }
            Op::Upsample { scale } => {
                arity(1)?;
                if *scale == 0 || *scale > 64 {
                    return Err(format!("upsample stride {scale}"));
                }
                let x = inputs[0];
                Ok(Shape::new(x.h * scale, x.w * scale, x.c))
            }
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Storage {
    Own,
    /// Channels `[channel_offset, channel_offset + c)` of an owning tensor.
    View {
        base: TensorId,
        channel_offset: usize,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct TensorInfo {
    pub name: String,
    pub shape: Shape,
    pub storage: Storage,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub name: String,
    pub op: Op,
    pub inputs: Vec<TensorId>,
    pub output: TensorId,
}

impl Node {
    /// Every tensor the node reads, including a fused residual.
    pub fn reads(&self) -> impl Iterator<Item = TensorId> + '_ {
        let residual = match &self.op {
            Op::Conv(c) => c.residual,
            _ => None,
        };
        self.inputs.iter().copied().chain(residual)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Graph {
    pub tensors: Vec<TensorInfo>,
    pub nodes: Vec<Node>,
    pub input: TensorId,
    pub outputs: Vec<TensorId>,
    pub meta: ModelMeta,
}

impl Graph {
    pub fn shape(&self, t: TensorId) -> Shape {
        self.tensors[t].shape
    }

    /// The owning tensor and channel offset behind `t`.
    pub fn storage_of(&self, t: TensorId) -> (TensorId, usize) {
        match self.tensors[t].storage {
            Storage::Own => (t, 0),
            Storage::View {
                base,
                channel_offset,
            } => (base, channel_offset),
        }
    }

    /// Which nodes read each tensor.
    pub fn consumers(&self) -> Vec<Vec<usize>> {
        let mut out = vec![Vec::new(); self.tensors.len()];
        for (i, n) in self.nodes.iter().enumerate() {
            for t in n.reads() {
                if !out[t].contains(&i) {
                    out[t].push(i);
                }
            }
        }
        out
    }

    pub fn producer(&self) -> Vec<Option<usize>> {
        let mut out = vec![None; self.tensors.len()];
        for (i, n) in self.nodes.iter().enumerate() {
            out[n.output] = Some(i);
        }
        out
    }

    pub fn is_output(&self, t: TensorId) -> bool {
        self.outputs.contains(&t)
    }

    /// Whether `node` takes its input `k` (an index into `node.inputs`) in place, with nothing to
    /// copy: a concat input already written into its channel window of the output, or a slice
    /// whose output is that window of its input. Every other read is a copy.
    pub fn in_place(&self, node: &Node, k: usize) -> bool {
        match node.op {
            Op::Concat => {
                let (base, at) = self.storage_of(node.output);
                let offset: usize = node.inputs[..k].iter().map(|&t| self.shape(t).c).sum();
                self.tensors[node.inputs[k]].storage
                    == Storage::View {
                        base,
                        channel_offset: at + offset,
                    }
            }
            Op::ChannelSlice { offset, .. } => {
                let (base, at) = self.storage_of(node.inputs[k]);
                self.tensors[node.output].storage
                    == Storage::View {
                        base,
                        channel_offset: at + offset,
                    }
            }
            _ => false,
        }
    }

    /// A tensor `node` copies from the buffer its own output lives in (through views), if any:
    /// the node would overwrite what it is still reading.
    pub fn reads_own_buffer(&self, node: &Node) -> Option<TensorId> {
        let (base, _) = self.storage_of(node.output);
        let residual = match &node.op {
            Op::Conv(c) => c.residual,
            _ => None,
        };
        (0..node.inputs.len())
            .filter(|&k| !self.in_place(node, k))
            .map(|k| node.inputs[k])
            .chain(residual)
            .find(|&t| self.storage_of(t).0 == base)
    }

    /// Checks everything a backend relies on: ids in range, one producer per tensor, nodes in
    /// topological order, shapes consistent with each op, views inside their base, and no node
    /// copying from the buffer it writes.
    pub fn validate(&self) -> Result<(), String> {
        let n = self.tensors.len();
        if self.input >= n {
            return Err(format!("input tensor {} out of range", self.input));
        }
        let mut defined = vec![false; n];
        defined[self.input] = true;
        for (i, node) in self.nodes.iter().enumerate() {
            let here = || format!("node {i} ({})", node.name);
            if node.output >= n {
                return Err(format!("{}: output tensor out of range", here()));
            }
            let mut shapes = Vec::with_capacity(node.inputs.len() + 1);
            for t in node.reads() {
                if t >= n || !defined[t] {
                    return Err(format!("{}: reads tensor {t} before it is made", here()));
                }
                shapes.push(self.tensors[t].shape);
            }
            if defined[node.output] {
                return Err(format!("{}: tensor {} written twice", here(), node.output));
            }
            if node.reads().any(|t| t == node.output) {
                return Err(format!("{}: reads its own output", here()));
            }
            let shape = node
                .op
                .output_shape(&shapes)
                .map_err(|e| format!("{}: {e}", here()))?;
            if shape != self.tensors[node.output].shape {
                return Err(format!(
                    "{}: output shape {shape} but tensor says {}",
                    here(),
                    self.tensors[node.output].shape
                ));
            }
            defined[node.output] = true;
        }
        for (t, info) in self.tensors.iter().enumerate() {
            if !defined[t] {
                return Err(format!("tensor {t} ({}) is never made", info.name));
            }
            if let Storage::View {
                base,
                channel_offset,
            } = info.storage
            {
                let ok = base < n
                    && matches!(self.tensors[base].storage, Storage::Own)
                    && base != t
                    && self.tensors[base].shape.h == info.shape.h
                    && self.tensors[base].shape.w == info.shape.w
                    && channel_offset + info.shape.c <= self.tensors[base].shape.c;
                if !ok {
                    return Err(format!(
                        "tensor {t} ({}) is a view outside its base",
                        info.name
                    ));
                }
            }
        }
        if !matches!(self.tensors[self.input].storage, Storage::Own) {
            return Err("the input tensor must own its storage".into());
        }
        if self.outputs.is_empty() || self.outputs.iter().any(|&t| t >= n) {
            return Err("graph outputs missing or out of range".into());
        }
        // Only now: views point inside their bases, so storage can be followed.
        for (i, node) in self.nodes.iter().enumerate() {
            if let Some(t) = self.reads_own_buffer(node) {
                return Err(format!(
                    "node {i} ({}): reads tensor {t} ({}) from the buffer its output {} ({}) is \
                     written to",
                    node.name, self.tensors[t].name, node.output, self.tensors[node.output].name
                ));
            }
        }
        Ok(())
    }
}
