//! The CPU backend: the FP32 reference every other backend is checked against, and what runs
//! the demo anywhere. Weights are packed when the engine is prepared; a context owns one arena
//! (all activations, input and outputs) and a worker pool, so `infer` allocates nothing.

mod aligned;
pub mod gemm;
mod int8;
pub mod isa;
pub mod ops;

use crate::error::{Error, Result};
use crate::graph::{Graph, Op};
use crate::memory::{self, MemoryPlan};
use crate::quant::Quantization;
use aligned::AlignedBuf;
use gemm::{ConvJob, ConvShape, PackedConv};
use int8::{Int8Conv, Int8Job};
use isa::Isa;
use ops::In;
use std::sync::Arc;

/// 4 GiB of f32 activations: far above any detector, well below what would abort.
const MAX_ARENA_FLOATS: usize = 1 << 30;

enum Kernel {
    Conv {
        packed: PackedConv,
        shape: ConvShape,
    },
    Int8Conv {
        conv: Int8Conv,
        shape: ConvShape,
    },
    ScaleShift {
        mul: Vec<f32>,
        add: Vec<f32>,
    },
    Direct,
}

/// An immutable, shareable CPU engine: the graph, its memory plan and prepared weights.
pub struct CpuEngine {
    graph: Graph,
    memory: MemoryPlan,
    kernels: Vec<Kernel>,
    /// Per node: the int8 scale of the buffer it writes, if that buffer is int8.
    out_scales: Vec<Option<f32>>,
    /// Bytes of the quantized input the largest INT8 conv needs.
    scratch_len: usize,
    isa: Isa,
}

impl CpuEngine {
    /// Prepares a validated graph for `isa`. Refuses graphs whose activations would not fit
    /// in memory (a plan is untrusted input: its shapes must not make us abort on allocation).
    pub fn new(graph: Graph, quant: Option<&Quantization>, isa: Isa) -> Result<CpuEngine> {
        let memory = memory::plan(&graph);
        if memory.arena_len > MAX_ARENA_FLOATS {
            return Err(Error::Unsupported(format!(
                "the network needs {:.1} GiB of activations; the limit is {} GiB",
                memory.arena_len as f64 * 4.0 / (1u64 << 30) as f64,
                (MAX_ARENA_FLOATS * 4) >> 30
            )));
        }
        let scale = |t: usize| quant.and_then(|q| q.scale(&graph, t));
        let kernels: Vec<Kernel> = graph
            .nodes
            .iter()
            .enumerate()
            .map(|(i, node)| match &node.op {
                Op::Conv(c) => {
                    let x = graph.shape(node.inputs[0]);
                    let y = graph.shape(node.output);
                    let shape = ConvShape {
                        in_h: x.h,
                        in_w: x.w,
                        out_h: y.h,
                        out_w: y.w,
                        kernel: c.kernel,
                        stride: c.stride,
                        pad: c.pad,
                        groups: c.groups,
                    };
                    match scale(node.inputs[0]) {
                        Some(s) if quant.is_some_and(|q| q.int8[i]) => Kernel::Int8Conv {
                            conv: Int8Conv::new(c, x.c, s),
                            shape,
                        },
                        _ => Kernel::Conv {
                            packed: PackedConv::new(isa.level(), c, x.c),
                            shape,
                        },
                    }
                }
                Op::BatchNorm(bn) => {
                    let (mul, add) = bn.scale_shift();
                    Kernel::ScaleShift { mul, add }
                }
                _ => Kernel::Direct,
            })
            .collect();
        let out_scales = graph.nodes.iter().map(|n| scale(n.output)).collect();
        let scratch_len = kernels
            .iter()
            .map(|k| match k {
                Kernel::Int8Conv { conv, shape } => conv.scratch_len(shape),
                _ => 0,
            })
            .max()
            .unwrap_or(0);
        Ok(CpuEngine {
            graph,
            memory,
            kernels,
            out_scales,
            scratch_len,
            isa,
        })
    }

    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    pub fn memory(&self) -> &MemoryPlan {
        &self.memory
    }

    pub fn isa(&self) -> Isa {
        self.isa
    }
}

/// Per-stream state: the arena and the worker pool. One per inference thread.
pub struct CpuContext {
    engine: Arc<CpuEngine>,
    arena: AlignedBuf,
    /// The quantized input of INT8 convs.
    scratch: Vec<i8>,
    pool: Arc<rayon::ThreadPool>,
}

impl CpuContext {
    pub fn new(engine: Arc<CpuEngine>, threads: usize) -> Result<CpuContext> {
        let threads = if threads == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            threads
        };
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("edge-cpu-{i}"))
            .build()
            .map_err(|e| Error::Unsupported(format!("cannot start {threads} CPU workers: {e}")))?;
        let arena = AlignedBuf::zeroed(engine.memory.arena_len);
        Ok(CpuContext {
            scratch: vec![0; engine.scratch_len],
            engine,
            arena,
            pool: Arc::new(pool),
        })
    }

    pub fn engine(&self) -> &CpuEngine {
        &self.engine
    }

    pub fn threads(&self) -> usize {
        self.pool.current_num_threads()
    }

    /// The worker pool, for callers that run whole frame loops inside it.
    pub fn pool(&self) -> Arc<rayon::ThreadPool> {
        Arc::clone(&self.pool)
    }

    fn tensor(&self, t: usize) -> &[f32] {
        let p = self.engine.memory.placements[t];
        &self.arena.as_slice()[p.offset..p.offset + self.engine.memory.span(&self.engine.graph, t)]
    }

    /// The input tensor (NHWC, contiguous), to be filled before `infer`.
    pub fn input_mut(&mut self) -> &mut [f32] {
        let t = self.engine.graph.input;
        let p = self.engine.memory.placements[t];
        let len = self.engine.graph.shape(t).len();
        &mut self.arena.as_mut_slice()[p.offset..p.offset + len]
    }

    /// Tensor `t` of the last `infer`, contiguous, into `out`.
    pub fn read_tensor(&self, t: usize, out: &mut Vec<f32>) {
        let shape = self.engine.graph.shape(t);
        let stride = self.engine.memory.placements[t].pixel_stride;
        out.clear();
        for p in self.tensor(t).chunks(stride) {
            out.extend_from_slice(&p[..shape.c]);
        }
    }

    /// YOLO head `i` of the model (NHWC) with its shape, after `infer`.
    pub fn head(&self, i: usize) -> (&[f32], crate::graph::Shape) {
        let graph = &self.engine.graph;
        let t = graph.meta.heads[i].tensor;
        (self.tensor(t), graph.shape(t))
    }

    /// Runs `f` on this context's worker pool. A caller that runs many frames inside one
    /// `run` hands work to the workers without any allocation at all (entering the pool from
    /// outside queues a job, which allocates now and then).
    pub fn run<R: Send>(&mut self, f: impl FnOnce(&mut Self) -> R + Send) -> R {
        let pool = Arc::clone(&self.pool);
        pool.install(|| f(self))
    }

    pub fn infer(&mut self) -> Result<()> {
        let pool = Arc::clone(&self.pool);
        pool.install(|| self.forward(None))
    }

    /// `infer`, adding each node's wall time in milliseconds to `times[node]`.
    pub fn infer_profiled(&mut self, times: &mut [f64]) -> Result<()> {
        let pool = Arc::clone(&self.pool);
        pool.install(|| self.forward(Some(times)))
    }

    fn forward(&mut self, mut times: Option<&mut [f64]>) -> Result<()> {
        let engine = &*self.engine;
        let graph = &engine.graph;
        let mem = &engine.memory;
        for (i, (node, kernel)) in graph.nodes.iter().zip(&engine.kernels).enumerate() {
            let started = times.as_ref().map(|_| std::time::Instant::now());
            let out_shape = graph.shape(node.output);
            let place = mem.placements[node.output];
            let span = mem.span(graph, node.output);
            let (before, rest) = self.arena.as_mut_slice().split_at_mut(place.offset);
            let (out, after) = rest.split_at_mut(span);
            let (before, after) = (&*before, &*after);
            let view = |t: usize| -> Result<In> {
                let p = mem.placements[t];
                let len = mem.span(graph, t);
                let data = if p.offset + len <= before.len() {
                    &before[p.offset..p.offset + len]
                } else if p.offset >= place.offset + span {
                    let start = p.offset - place.offset - span;
                    &after[start..start + len]
                } else {
                    // Unreachable for a graph that validates (no node copies from the buffer it
                    // writes, and the memory plan keeps live buffers apart); the split above
                    // needs it all the same.
                    return Err(Error::Graph(format!(
                        "node {}: input {} overlaps its output in the arena",
                        node.name, graph.tensors[t].name
                    )));
                };
                Ok(In {
                    data,
                    stride: p.pixel_stride,
                    shape: graph.shape(t),
                })
            };
            let os = place.pixel_stride;
            match (&node.op, kernel) {
                (Op::Conv(c), Kernel::Conv { packed, shape }) => {
                    let x = view(node.inputs[0])?;
                    let residual = match c.residual {
                        Some(r) => {
                            let r = view(r)?;
                            Some((r.data, r.stride))
                        }
                        None => None,
                    };
                    let job = ConvJob {
                        shape: *shape,
                        packed,
                        bias: &c.bias,
                        act: c.act,
                        post_act: c.post_act,
                        input: x.data,
                        in_stride: x.stride,
                        residual,
                        out_stride: os,
                    };
                    gemm::conv(engine.isa, &job, out);
                }
                (Op::Conv(c), Kernel::Int8Conv { conv, shape }) => {
                    let residual = match c.residual {
                        Some(r) => {
                            let r = view(r)?;
                            Some((r.data, r.stride))
                        }
                        None => None,
                    };
                    let job = Int8Job {
                        shape: *shape,
                        input: view(node.inputs[0])?,
                        bias: &c.bias,
                        act: c.act,
                        post_act: c.post_act,
                        residual,
                        out_stride: os,
                        out_scale: engine.out_scales[i],
                    };
                    conv.run(&job, &mut self.scratch, out);
                }
                (Op::BatchNorm(_), Kernel::ScaleShift { mul, add }) => {
                    ops::scale_shift(view(node.inputs[0])?, mul, add, out, os)
                }
                (Op::Activation(a), _) => ops::activation(view(node.inputs[0])?, *a, out, os),
                (Op::Add(a), _) => {
                    ops::add(view(node.inputs[0])?, view(node.inputs[1])?, *a, out, os)
                }
                (Op::Concat, _) => {
                    let mut offset = 0;
                    for (k, &t) in node.inputs.iter().enumerate() {
                        if !graph.in_place(node, k) {
                            ops::copy_channels(view(t)?, offset, out, out_shape, os);
                        }
                        offset += graph.shape(t).c;
                    }
                }
                (Op::ChannelSlice { offset, .. }, _) => {
                    if !graph.in_place(node, 0) {
                        ops::slice_channels(view(node.inputs[0])?, *offset, out, out_shape, os);
                    }
                }
                (Op::MaxPool { size, stride, pad }, _) => ops::maxpool(
                    view(node.inputs[0])?,
                    *size,
                    *stride,
                    *pad,
                    out,
                    out_shape,
                    os,
                ),
                (Op::Upsample { scale }, _) => {
                    ops::upsample(view(node.inputs[0])?, *scale, out, out_shape, os)
                }
                _ => {
                    return Err(Error::Graph(format!(
                        "node {}: kernel not prepared for {}",
                        node.name,
                        node.op.kind()
                    )))
                }
            }
            let int8_conv = matches!(kernel, Kernel::Int8Conv { .. });
            if let (Some(s), false) = (engine.out_scales[i], int8_conv) {
                int8::fake_quantize(out, out_shape, os, s);
            }
            if let (Some(t), Some(started)) = (times.as_deref_mut(), started) {
                if let Some(slot) = t.get_mut(i) {
                    *slot += started.elapsed().as_secs_f64() * 1e3;
                }
            }
        }
        Ok(())
    }
}
