//! The CUDA engine: a plan loaded onto one GPU. Weights are uploaded once (repacked for the
//! implicit GEMM, in the plan's precision: an INT8 plan's INT8 convs get int8 weights per
//! output channel, its other convs FP16); the network becomes a list of launches over a
//! context's arena, which the context records into a CUDA graph.
//!
//! An INT8 plan's float type is FP16 (arena elements of 2 bytes). Its int8 buffers keep their
//! placements, one byte per element at `arena + 2 * offset`, with the same pixel stride in
//! elements: they use half of their slot.

use super::device::{DeviceBuffer, Gpu};
use super::kernels::Module;
use super::launch::{
    self, Args, ConvParams, HeadParams, Kernel, Launch, LayerParams, Strided, YoloArgs, BLOCK,
    MAX_ANCHORS,
};
use super::preprocess::PreArgs;
use super::tactics::{self, Arith, ConvShape, ConvTactic, Family};
use crate::error::{Error, Result};
use crate::graph::{Conv, Graph, Op};
use crate::memory::{self, MemoryPlan};
use crate::plan::{Plan, PlanError, Precision};
use crate::quant::{self, Quantization};

/// 8 GiB of activations: far above any detector on a Jetson, refused before allocating.
const MAX_ARENA_BYTES: usize = 8 << 30;
/// The split-K tile counters at the start of the workspace, 256-byte aligned.
const SPLIT_COUNTER_BYTES: usize = (tactics::SPLIT_TILES * 4).next_multiple_of(256);

enum NodeCode {
    Conv {
        weights: DeviceBuffer,
        bias: DeviceBuffer,
        /// INT8 convs: `s_x * s_w[n]` per filter.
        wmul: Option<DeviceBuffer>,
        tactic: ConvTactic,
    },
    ScaleShift {
        mul: DeviceBuffer,
        add: DeviceBuffer,
    },
    Other,
}

pub struct CudaEngine {
    // Field order is drop order: buffers and module before the context `gpu` holds.
    nodes: Vec<NodeCode>,
    pub(super) module: Module,
    pub(super) gpu: Gpu,
    /// The plan's graph, with the input padded to 8 channels where that lets the first conv
    /// use the tensor cores (`input_channels` keeps the binding's count).
    graph: Graph,
    input_channels: usize,
    memory: MemoryPlan,
    precision: Precision,
    quant: Option<Quantization>,
}

impl CudaEngine {
    /// Loads `plan` onto `gpu`. The caller has checked the fingerprint.
    pub fn new(plan: &Plan, gpu: Gpu) -> Result<CudaEngine> {
        let precision = plan.precision;
        let quant = plan.quant.clone();
        match &quant {
            Some(q) => q.validate(&plan.graph).map_err(Error::Graph)?,
            None if precision == Precision::Int8 => {
                return Err(Error::Graph("an int8 plan without its quantization".into()))
            }
            None => {}
        }
        if quant.as_ref().is_some_and(|q| q.int8.contains(&true)) && gpu.info.cc < (6, 1) {
            return Err(Error::Unsupported(format!(
                "int8 convolutions need compute capability 6.1 or later (dp4a); {} is {}.{}",
                gpu.info.name, gpu.info.cc.0, gpu.info.cc.1
            )));
        }
        let mut graph = plan.graph.clone();
        let input_channels = graph.shape(graph.input).c;
        if precision != Precision::Fp32 && gpu.info.cc.0 >= 8 {
            pad_input(&mut graph, 8);
        }
        let memory = memory::plan(&graph);
        let esize = element_size(precision);
        if memory.arena_len.saturating_mul(esize) > MAX_ARENA_BYTES {
            return Err(Error::Unsupported(format!(
                "the network needs {:.1} GiB of activations; the limit is {} GiB",
                (memory.arena_len * esize) as f64 / (1u64 << 30) as f64,
                MAX_ARENA_BYTES >> 30
            )));
        }
        for head in &graph.meta.heads {
            if head.anchors.len() > MAX_ANCHORS {
                return Err(Error::Unsupported(format!(
                    "a YOLO head with {} anchors; the GPU decoder takes up to {MAX_ANCHORS}",
                    head.anchors.len()
                )));
            }
        }
        let dependent = launch::dependent_launch(&gpu.info);
        if dependent {
            log::info!(
                "{}: each kernel starts while the previous one ends (programmatic dependent launch)",
                gpu.info.name
            );
        }
        let module = Module::load(&gpu.ctx, &plan.device_code, dependent)?;
        let ctx = &gpu.ctx;
        let mut nodes = Vec::with_capacity(graph.nodes.len());
        for (i, node) in graph.nodes.iter().enumerate() {
            nodes.push(match &node.op {
                Op::Conv(c) => {
                    let arith = conv_arith(precision, quant.as_ref(), i);
                    let tactic = plan
                        .tactics
                        .iter()
                        .find(|t| t.node == i)
                        .and_then(|t| ConvTactic::parse(&t.name, arith))
                        .ok_or_else(|| PlanError::Malformed {
                            offset: 0,
                            what: format!(
                                "conv {} has no {} CUDA tactic this edge-infer knows",
                                node.name,
                                arith.name()
                            ),
                        })?;
                    let cin = graph.shape(node.inputs[0]).c;
                    let packed = pack_weights(c, cin);
                    let (weights, wmul) = match arith {
                        Arith::S8 => {
                            // Validated: an INT8 conv's input is int8.
                            let s_x = quant
                                .as_ref()
                                .and_then(|q| q.scale(&graph, node.inputs[0]))
                                .ok_or_else(|| {
                                    Error::Graph(format!("int8 conv {} reads floats", node.name))
                                })?;
                            let (q, s_w) =
                                quant::quantize_weights(&packed, c.kernel * c.kernel * cin);
                            let wmul = quant::output_multipliers(s_x, &s_w);
                            (
                                DeviceBuffer::from_slice(ctx, &q)?,
                                Some(DeviceBuffer::from_slice(ctx, &wmul)?),
                            )
                        }
                        Arith::F16 => {
                            let h: Vec<u16> = packed
                                .iter()
                                .map(|&v| half::f16::from_f32(v).to_bits())
                                .collect();
                            (DeviceBuffer::from_slice(ctx, &h)?, None)
                        }
                        Arith::F32 => (DeviceBuffer::from_slice(ctx, &packed)?, None),
                    };
                    NodeCode::Conv {
                        weights,
                        bias: DeviceBuffer::from_slice(ctx, &c.bias)?,
                        wmul,
                        tactic,
                    }
                }
                Op::BatchNorm(bn) => {
                    let (mul, add) = bn.scale_shift();
                    NodeCode::ScaleShift {
                        mul: DeviceBuffer::from_slice(ctx, &mul)?,
                        add: DeviceBuffer::from_slice(ctx, &add)?,
                    }
                }
                _ => NodeCode::Other,
            });
        }
        let engine = CudaEngine {
            nodes,
            module,
            gpu,
            graph,
            input_channels,
            memory,
            precision,
            quant,
        };
        engine.check_tactics()?;
        Ok(engine)
    }

    /// The names of the tactics that can run conv `node` on this GPU.
    pub fn conv_tactics(&self, node: usize) -> Vec<String> {
        self.conv_shape(node).map_or_else(Vec::new, |s| {
            tactics::runnable(&s, self.gpu.info.cc)
                .iter()
                .map(|t| t.name(s.arith))
                .collect()
        })
    }

    /// Every conv's tactic can take it on this GPU: a kernel given a conv it was not made for
    /// (a split-K grid past its counters, a misaligned input) would write out of bounds.
    fn check_tactics(&self) -> Result<()> {
        for (i, node) in self.graph.nodes.iter().enumerate() {
            let (Some(shape), Some(t)) = (self.conv_shape(i), self.tactic(i)) else {
                continue;
            };
            if !tactics::can_run(&t, &shape, self.gpu.info.cc) {
                return Err(PlanError::Malformed {
                    offset: 0,
                    what: format!(
                        "conv {}: tactic {} cannot run it on compute capability {}.{}",
                        node.name,
                        t.name(shape.arith),
                        self.gpu.info.cc.0,
                        self.gpu.info.cc.1
                    ),
                }
                .into());
            }
        }
        Ok(())
    }

    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// Channels of the f32 input binding (the executed graph may pad them).
    pub fn input_channels(&self) -> usize {
        self.input_channels
    }

    /// Elements of the f32 input binding.
    pub fn input_len(&self) -> usize {
        self.graph.shape(self.graph.input).pixels() * self.input_channels
    }

    pub fn memory(&self) -> &MemoryPlan {
        &self.memory
    }

    pub fn precision(&self) -> Precision {
        self.precision
    }

    pub fn gpu(&self) -> &Gpu {
        &self.gpu
    }

    /// Bytes of the plan's float type: the arena's element.
    pub fn element_size(&self) -> usize {
        element_size(self.precision)
    }

    /// The int8 scale of the buffer behind tensor `t`, if it is stored as int8.
    pub fn scale(&self, t: usize) -> Option<f32> {
        self.quant.as_ref().and_then(|q| q.scale(&self.graph, t))
    }

    /// Bytes of one element of tensor `t`.
    fn tensor_element_size(&self, t: usize) -> usize {
        if self.scale(t).is_some() {
            1
        } else {
            self.element_size()
        }
    }

    /// The arithmetic conv node `node` runs in.
    pub fn arith(&self, node: usize) -> Arith {
        conv_arith(self.precision, self.quant.as_ref(), node)
    }

    /// Device memory of the uploaded weights, biases and batch-norm factors.
    pub fn weight_bytes(&self) -> usize {
        self.nodes
            .iter()
            .map(|n| match n {
                NodeCode::Conv {
                    weights,
                    bias,
                    wmul,
                    ..
                } => weights.bytes() + bias.bytes() + wmul.as_ref().map_or(0, DeviceBuffer::bytes),
                NodeCode::ScaleShift { mul, add } => mul.bytes() + add.bytes(),
                NodeCode::Other => 0,
            })
            .sum()
    }

    /// The conv shape the tactic choice depends on, for conv node `node`.
    pub fn conv_shape(&self, node: usize) -> Option<ConvShape> {
        let n = &self.graph.nodes[node];
        let Op::Conv(c) = &n.op else { return None };
        let x = self.graph.shape(n.inputs[0]);
        let y = self.graph.shape(n.output);
        let xp = self.memory.placements[n.inputs[0]];
        let in_align = [16, 8, 4, 2]
            .into_iter()
            .find(|&a| xp.pixel_stride.is_multiple_of(a) && xp.offset.is_multiple_of(a))
            .unwrap_or(1);
        Some(ConvShape {
            m: y.pixels(),
            n: c.filters,
            k: c.kernel * c.kernel * x.c / c.groups,
            cin: x.c,
            groups: c.groups,
            in_align,
            kernel: c.kernel,
            stride: c.stride,
            arith: self.arith(node),
            residual_bytes: c.residual.map_or(0, |r| self.tensor_element_size(r) as u32),
        })
    }

    pub fn tactic(&self, node: usize) -> Option<ConvTactic> {
        match &self.nodes[node] {
            NodeCode::Conv { tactic, .. } => Some(*tactic),
            _ => None,
        }
    }

    /// Bytes of split-K workspace the plan's tactics need (or `tactic` for `node`, tuning):
    /// the tile counters, then the partial sums (FP32 or int32) of the largest split conv,
    /// whole tiles of them. It must be zeroed when made.
    pub fn workspace_bytes(&self, tactic: Option<(usize, ConvTactic)>) -> usize {
        let partials = (0..self.nodes.len())
            .filter_map(|i| {
                let t = match tactic {
                    Some((n, t)) if n == i => t,
                    _ => self.tactic(i)?,
                };
                let s = self.conv_shape(i)?;
                let (bm, bn) = (t.kernel.bm as usize, t.kernel.bn as usize);
                (t.splits > 1)
                    .then(|| t.splits as usize * s.m.div_ceil(bm) * bm * s.n.div_ceil(bn) * bn * 4)
            })
            .max();
        partials.map_or(0, |p| SPLIT_COUNTER_BYTES + p)
    }

    fn function(&self, name: &str, shared: u32) -> Result<Kernel> {
        self.module.function(name, shared)
    }

    fn dtype(&self) -> &'static str {
        tactics::dtype(self.precision)
    }

    /// Device address of tensor `t` in an arena at `arena`: its buffer's placement in arena
    /// elements, then its channel window in its own elements (bytes, for int8).
    pub fn tensor_ptr(&self, arena: u64, t: usize) -> u64 {
        let (base, channel) = self.graph.storage_of(t);
        let offset = self.memory.placements[base].offset * self.element_size()
            + channel * self.tensor_element_size(t);
        arena + offset as u64
    }

    /// The launches of node `i` over `arena`, with `tactic` instead of the plan's for a conv.
    pub fn node_launches(
        &self,
        i: usize,
        arena: u64,
        workspace: u64,
        tactic: Option<ConvTactic>,
        out: &mut Vec<Launch>,
    ) -> Result<()> {
        let g = &self.graph;
        let node = &g.nodes[i];
        let mem = &self.memory;
        let place = |t: usize| mem.placements[t];
        let ptr = |t: usize| self.tensor_ptr(arena, t);
        // Run-time types for the kernels: an int8 operand's scale and an int8 output's
        // reciprocal, 0 for the float type.
        let x_scale = |t: usize| self.scale(t).unwrap_or(0.0);
        let y_inv = |t: usize| self.scale(t).map_or(0.0, quant::inverse);
        let out_shape = g.shape(node.output);
        let os = place(node.output).pixel_stride as i32;
        let dt = self.dtype();
        let layer = |name: &str, q: LayerParams| -> Result<Launch> {
            let n = q.s.pixels as usize * q.s.channels as usize;
            Ok(Launch::elementwise(
                self.function(&format!("{name}_{dt}"), 0)?,
                n,
                Args::Layer(q),
            ))
        };
        let strided = |pixels: usize, channels: usize, x: usize, y: i32| Strided {
            pixels: pixels as i32,
            channels: channels as i32,
            x_stride: x as i32,
            y_stride: y,
        };
        // Input 0 read element by element into the output: the frame of most layer kernels.
        let unary = |name: &str, q: LayerParams| -> Result<Launch> {
            let x = node.inputs[0];
            layer(
                name,
                LayerParams {
                    x: ptr(x),
                    y: ptr(node.output),
                    s: strided(out_shape.pixels(), out_shape.c, place(x).pixel_stride, os),
                    x_scale: x_scale(x),
                    y_inv: y_inv(node.output),
                    ..q
                },
            )
        };
        match (&node.op, &self.nodes[i]) {
            (
                Op::Conv(c),
                NodeCode::Conv {
                    weights,
                    bias,
                    wmul,
                    tactic: planned,
                },
            ) => {
                let t = tactic.unwrap_or(*planned);
                let shape = self.conv_shape(i).expect("a conv has a conv shape");
                let arith = shape.arith;
                let x = g.shape(node.inputs[0]);
                let by8 = |t: usize| {
                    place(t).offset.is_multiple_of(8) && place(t).pixel_stride.is_multiple_of(8)
                };
                let vec8 = by8(node.output) && c.residual.is_none_or(by8);
                let p = conv_params(
                    c,
                    x,
                    out_shape,
                    ConvPtrs {
                        x: ptr(node.inputs[0]),
                        in_stride: place(node.inputs[0]).pixel_stride,
                        w: weights.ptr(),
                        bias: bias.ptr(),
                        wmul: wmul.as_ref().map_or(0, DeviceBuffer::ptr),
                        res: c
                            .residual
                            .map(|r| (ptr(r), place(r).pixel_stride, x_scale(r))),
                        y: ptr(node.output),
                        y_inv: y_inv(node.output),
                        out_stride: os as usize,
                        workspace,
                        vec8,
                    },
                    t,
                    arith,
                );
                let k = t.kernel;
                let m = out_shape.pixels();
                let (grid, block) = match k.family {
                    Family::Simt => (
                        [
                            m.div_ceil(k.bm as usize) as u32,
                            (c.filters / c.groups).div_ceil(k.bn as usize) as u32,
                            c.groups as u32,
                        ],
                        k.threads,
                    ),
                    Family::Direct => (
                        [
                            (m * c.filters.div_ceil(8)).div_ceil(k.threads as usize) as u32,
                            1,
                            1,
                        ],
                        k.threads,
                    ),
                    // A CTA per `bm` pixels of an output row.
                    Family::Patch => (
                        [
                            (out_shape.w.div_ceil(k.bm as usize) * out_shape.h) as u32,
                            c.filters.div_ceil(k.bn as usize) as u32,
                            1,
                        ],
                        k.threads,
                    ),
                    Family::Dp4a | Family::Mma { .. } => (
                        [
                            m.div_ceil(k.bm as usize) as u32,
                            c.filters.div_ceil(k.bn as usize) as u32,
                            t.splits,
                        ],
                        k.threads,
                    ),
                };
                let shared = t.shared_bytes(&shape);
                out.push(Launch {
                    kernel: self.function(&k.symbol(arith), shared)?,
                    grid,
                    block,
                    shared,
                    args: Args::Conv(p),
                });
            }
            (Op::BatchNorm(_), NodeCode::ScaleShift { mul, add }) => {
                out.push(unary(
                    "scale_shift",
                    LayerParams {
                        mul: mul.ptr(),
                        add: add.ptr(),
                        ..Default::default()
                    },
                )?);
            }
            (Op::Activation(a), _) => {
                out.push(unary(
                    "activation",
                    LayerParams {
                        act: *a as i32,
                        ..Default::default()
                    },
                )?);
            }
            (Op::Add(a), _) => {
                let (x, b) = (node.inputs[0], node.inputs[1]);
                out.push(layer(
                    "add",
                    LayerParams {
                        x: ptr(x),
                        b: ptr(b),
                        y: ptr(node.output),
                        act: *a as i32,
                        b_stride: place(b).pixel_stride as i32,
                        s: strided(out_shape.pixels(), out_shape.c, place(x).pixel_stride, os),
                        x_scale: x_scale(x),
                        b_scale: x_scale(b),
                        y_inv: y_inv(node.output),
                        ..Default::default()
                    },
                )?);
            }
            (Op::Concat, _) => {
                let mut offset = 0;
                for (k, &t) in node.inputs.iter().enumerate() {
                    let shape = g.shape(t);
                    if !g.in_place(node, k) {
                        out.push(layer(
                            "copy_channels",
                            LayerParams {
                                x: ptr(t),
                                y: ptr(node.output)
                                    + (offset * self.tensor_element_size(node.output)) as u64,
                                s: strided(shape.pixels(), shape.c, place(t).pixel_stride, os),
                                x_scale: x_scale(t),
                                y_inv: y_inv(node.output),
                                ..Default::default()
                            },
                        )?);
                    }
                    offset += shape.c;
                }
            }
            (Op::ChannelSlice { offset, .. }, _) => {
                let x = node.inputs[0];
                if !g.in_place(node, 0) {
                    out.push(layer(
                        "copy_channels",
                        LayerParams {
                            x: ptr(x) + (offset * self.tensor_element_size(x)) as u64,
                            y: ptr(node.output),
                            s: strided(out_shape.pixels(), out_shape.c, place(x).pixel_stride, os),
                            x_scale: x_scale(x),
                            y_inv: y_inv(node.output),
                            ..Default::default()
                        },
                    )?);
                }
            }
            (Op::MaxPool { size, stride, pad }, _) => {
                let xs = g.shape(node.inputs[0]);
                out.push(unary(
                    "maxpool",
                    LayerParams {
                        in_h: xs.h as i32,
                        in_w: xs.w as i32,
                        out_w: out_shape.w as i32,
                        size: *size as i32,
                        stride: *stride as i32,
                        pad_before: (*pad / 2) as i32,
                        ..Default::default()
                    },
                )?);
            }
            (Op::Upsample { scale }, _) => {
                let xs = g.shape(node.inputs[0]);
                out.push(unary(
                    "upsample",
                    LayerParams {
                        in_w: xs.w as i32,
                        out_w: out_shape.w as i32,
                        size: *scale as i32,
                        ..Default::default()
                    },
                )?);
            }
            _ => {
                return Err(Error::Graph(format!(
                    "node {}: no CUDA kernel prepared for {}",
                    node.name,
                    node.op.kind()
                )))
            }
        }
        Ok(())
    }

    /// The camera preprocessing launch, one thread per network-input pixel.
    pub fn preprocess_launch(&self, args: PreArgs) -> Result<Launch> {
        let n = args.q.net_w as usize * args.q.net_h as usize;
        Ok(Launch::elementwise(
            self.function(&format!("preprocess_{}", self.dtype()), 0)?,
            n,
            Args::Pre(args),
        ))
    }

    /// The YOLO decode launches: reset the list, decode every head, publish to `host`.
    pub fn decode_launches(
        &self,
        arena: u64,
        threshold: u64,
        list: u64,
        host: u64,
        out: &mut Vec<Launch>,
    ) -> Result<()> {
        let g = &self.graph;
        let meta = &g.meta;
        let base = YoloArgs {
            threshold,
            list,
            host,
            ..Default::default()
        };
        let reset = self.function("yolo_reset", 0)?;
        out.push(Launch::elementwise(reset, 1, Args::Yolo(base)));
        let decode = self.function(&format!("yolo_decode_{}", self.dtype()), 0)?;
        for head in &meta.heads {
            let s = g.shape(head.tensor);
            let mut hp = HeadParams {
                h: s.h as i32,
                w: s.w as i32,
                c: s.c as i32,
                stride: self.memory.placements[head.tensor].pixel_stride as i32,
                classes: head.classes as i32,
                anchors: head.anchors.len() as i32,
                scale_x_y: head.scale_x_y,
                net_w: meta.input.w as f32,
                net_h: meta.input.h as f32,
                ..Default::default()
            };
            for (k, &(w, h)) in head.anchors.iter().enumerate() {
                hp.anchor_wh[2 * k] = w;
                hp.anchor_wh[2 * k + 1] = h;
            }
            let args = YoloArgs {
                head: self.tensor_ptr(arena, head.tensor),
                hp,
                ..base
            };
            out.push(Launch::elementwise(
                decode,
                s.pixels() * head.anchors.len(),
                Args::Yolo(args),
            ));
        }
        out.push(Launch {
            kernel: self.function("yolo_publish", 0)?,
            grid: [1, 1, 1],
            block: BLOCK,
            shared: 0,
            args: Args::Yolo(base),
        });
        Ok(())
    }

    /// f32 <-> the plan's type, over `pixels` x `channels` with the given strides.
    /// `x_scale` is an int8 source's scale (0: the float type).
    pub fn convert_launch(
        &self,
        to_plan: bool,
        x: u64,
        y: u64,
        s: Strided,
        x_scale: f32,
    ) -> Result<Option<Launch>> {
        if self.precision == Precision::Fp32 {
            return Ok(None);
        }
        let name = if to_plan {
            "convert_f32_f16"
        } else {
            "convert_f16_f32"
        };
        Ok(Some(Launch::elementwise(
            self.function(name, 0)?,
            s.pixels as usize * s.channels as usize,
            Args::Layer(LayerParams {
                x,
                y,
                s,
                // Source channels: past them (input padding) zeros are written.
                size: s.channels.min(s.x_stride),
                x_scale,
                ..Default::default()
            }),
        )))
    }
}

/// Bytes of a plan's float type (an INT8 plan's is FP16).
pub fn element_size(precision: Precision) -> usize {
    match precision {
        Precision::Fp16 | Precision::Int8 => 2,
        Precision::Fp32 => 4,
    }
}

fn conv_arith(precision: Precision, quant: Option<&Quantization>, node: usize) -> Arith {
    Arith::of(precision, quant.is_some_and(|q| q.int8[node]))
}

/// Gives the network input `to` channels (zeros past the real ones, and zero weights for
/// them) when every reader is a plain conv: a 3-channel first conv then runs on the tensor
/// cores like the rest, as TensorRT does.
fn pad_input(graph: &mut Graph, to: usize) {
    let input = graph.input;
    let c = graph.shape(input).c;
    let readers: Vec<usize> = (0..graph.nodes.len())
        .filter(|&i| graph.nodes[i].reads().any(|t| t == input))
        .collect();
    let plain_conv = |i: &usize| {
        let n = &graph.nodes[*i];
        matches!(&n.op, Op::Conv(conv) if conv.groups == 1 && conv.residual.is_none())
            && n.inputs == [input]
    };
    let viewed = graph
        .tensors
        .iter()
        .any(|t| matches!(t.storage, crate::graph::Storage::View { base, .. } if base == input));
    if c.is_multiple_of(to) || readers.is_empty() || !readers.iter().all(plain_conv) || viewed {
        return;
    }
    if graph.outputs.contains(&input) {
        return;
    }
    let cp = c.next_multiple_of(to);
    graph.tensors[input].shape.c = cp;
    for i in readers {
        if let Op::Conv(conv) = &mut graph.nodes[i].op {
            let kk = conv.kernel * conv.kernel;
            let mut w = vec![0.0; conv.filters * cp * kk];
            for n in 0..conv.filters {
                w[n * cp * kk..][..c * kk].copy_from_slice(&conv.weights[n * c * kk..][..c * kk]);
            }
            conv.weights = w;
        }
    }
}

/// OIHW `[filters][cin/groups][k][k]` to the implicit GEMM's `[filters][k][k][cin/groups]`.
fn pack_weights(c: &Conv, cin: usize) -> Vec<f32> {
    let (k, cg) = (c.kernel, cin / c.groups);
    let mut out = Vec::with_capacity(c.weights.len());
    for n in 0..c.filters {
        for ky in 0..k {
            for kx in 0..k {
                for ci in 0..cg {
                    out.push(c.weights[((n * cg + ci) * k + ky) * k + kx]);
                }
            }
        }
    }
    out
}

struct ConvPtrs {
    x: u64,
    in_stride: usize,
    w: u64,
    bias: u64,
    wmul: u64,
    /// Address, pixel stride and int8 scale (0: float type).
    res: Option<(u64, usize, f32)>,
    y: u64,
    y_inv: f32,
    out_stride: usize,
    /// Split-K: the tile counters, then the partial sums (`Engine::workspace_bytes`).
    workspace: u64,
    /// Output and residual pixel strides and element offsets are multiples of 8.
    vec8: bool,
}

fn conv_params(
    c: &Conv,
    x: crate::graph::Shape,
    y: crate::graph::Shape,
    p: ConvPtrs,
    t: ConvTactic,
    arith: Arith,
) -> ConvParams {
    let k = c.kernel * c.kernel * x.c / c.groups;
    ConvParams {
        x: p.x,
        w: p.w,
        bias: p.bias,
        wmul: p.wmul,
        res: p.res.map_or(0, |r| r.0),
        y: p.y,
        counters: if t.splits > 1 { p.workspace } else { 0 },
        partial: if t.splits > 1 {
            p.workspace + SPLIT_COUNTER_BYTES as u64
        } else {
            0
        },
        res_scale: p.res.map_or(0.0, |r| r.2),
        y_inv: p.y_inv,
        in_h: x.h as i32,
        in_w: x.w as i32,
        cin: x.c as i32,
        in_stride: p.in_stride as i32,
        out_h: y.h as i32,
        out_w: y.w as i32,
        cout: c.filters as i32,
        out_stride: p.out_stride as i32,
        res_stride: p.res.map_or(0, |r| r.1 as i32),
        kh: c.kernel as i32,
        kw: c.kernel as i32,
        stride: c.stride as i32,
        pad: c.pad as i32,
        groups: c.groups as i32,
        act: c.act as i32,
        post_act: c.post_act as i32,
        splits: t.splits as i32,
        k_per_split: if t.splits > 1 {
            tactics::k_per_split(k, t.splits, arith) as i32
        } else {
            k as i32
        },
        vec8: i32::from(p.vec8),
    }
}
