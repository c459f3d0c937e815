//! The builder's CUDA half: compile the kernels for this GPU's exact architecture, then time
//! every candidate tactic of every conv on the device and keep the fastest (TensorRT's tactic
//! selection).

use super::device::{driver_error, DeviceBuffer, Gpu};
use super::engine::{element_size, CudaEngine};
use super::kernels;
use super::launch::Launch;
use super::nvrtc::Nvrtc;
use super::tactics::{self, Arith, ConvTactic};
use crate::builder::Step;
use crate::error::{Error, Result};
use crate::graph::{Graph, Op};
use crate::plan::{Fingerprint, Plan, Tactic};
use cudarc::driver::sys;
use cudarc::driver::{result, CudaStream};
use std::path::Path;

/// Timed launches per candidate, after two untimed ones.
const REPS: usize = 10;

pub struct Built {
    pub fingerprint: Fingerprint,
    pub device_code: Vec<u8>,
    pub tactics: Vec<Tactic>,
}

/// Compiles and tunes `graph` (optimized, validated) for GPU `ordinal`. `plan` is the plan so
/// far (bindings, metadata); its fingerprint, code and tactics are filled in here.
pub fn build(
    plan: &Plan,
    ordinal: usize,
    nvrtc: Option<&Path>,
    progress: &mut dyn FnMut(Step),
) -> Result<Built> {
    let gpu = Gpu::open(ordinal)?;
    let arch = gpu.info.arch();
    let nvrtc = Nvrtc::load(nvrtc).map_err(Error::Device)?;
    progress(Step::Compile);
    let device_code = kernels::compile(&nvrtc, &arch)?;
    let fingerprint = gpu.info.fingerprint();
    let cc = gpu.info.cc;
    let graph: &Graph = &plan.graph;
    let precision = plan.precision;
    let arith =
        |node: usize| Arith::of(precision, plan.quant.as_ref().is_some_and(|q| q.int8[node]));
    // A first plan with the always-eligible tactic everywhere, to load weights and kernels.
    let first: Vec<Tactic> = conv_nodes(graph)
        .map(|i| Tactic {
            node: i,
            name: ConvTactic::fallback(arith(i)).name(arith(i)),
        })
        .collect();
    let provisional = Plan {
        fingerprint: fingerprint.clone(),
        device_code,
        tactics: first,
        ..plan.clone()
    };
    let engine = CudaEngine::new(&provisional, gpu)?;
    let ctx = &engine.gpu().ctx;
    let arena = DeviceBuffer::zeroed(ctx, engine.memory().arena_len * element_size(precision))?;
    let candidates: Vec<(usize, Vec<ConvTactic>)> = conv_nodes(graph)
        .map(|i| {
            let shape = engine.conv_shape(i).expect("a conv node");
            (i, tactics::candidates(&shape, cc))
        })
        .collect();
    let workspace_bytes = candidates
        .iter()
        .flat_map(|(i, ts)| ts.iter().map(|t| engine.workspace_bytes(Some((*i, *t)))))
        .max()
        .unwrap_or(0);
    let workspace = DeviceBuffer::zeroed(ctx, workspace_bytes)?;
    let stream = ctx
        .new_stream()
        .map_err(|e| driver_error("creating a stream", e))?;
    let timer = Timer::new()?;
    let mut tactics = Vec::new();
    let total = candidates.len();
    for (done, (node, options)) in candidates.iter().enumerate() {
        progress(Step::Tune { done, total });
        let arith = arith(*node);
        let mut best: Option<(f32, ConvTactic)> = None;
        let mut launches = Vec::new();
        for &t in options {
            launches.clear();
            // A candidate that cannot launch here (resources: more shared memory than this GPU
            // gives a block) is skipped, not fatal.
            let ms = match engine
                .node_launches(*node, arena.ptr(), workspace.ptr(), Some(t), &mut launches)
                .and_then(|()| timer.time(&stream, &launches))
            {
                Ok(ms) => ms,
                Err(e) => {
                    log::debug!("tactic {} skipped: {e}", t.name(arith));
                    continue;
                }
            };
            if best.is_none_or(|(b, _)| ms < b) {
                best = Some((ms, t));
            }
        }
        let (_, t) = best.expect("the CUDA-core tactic is always a candidate");
        tactics.push(Tactic {
            node: *node,
            name: t.name(arith),
        });
    }
    Ok(Built {
        fingerprint,
        device_code: provisional.device_code,
        tactics,
    })
}

fn conv_nodes(graph: &Graph) -> impl Iterator<Item = usize> + '_ {
    graph
        .nodes
        .iter()
        .enumerate()
        .filter(|(_, n)| matches!(n.op, Op::Conv(_)))
        .map(|(i, _)| i)
}

struct Timer {
    start: sys::CUevent,
    end: sys::CUevent,
}

impl Timer {
    fn new() -> Result<Timer> {
        let ev = || {
            result::event::create(sys::CUevent_flags::CU_EVENT_DEFAULT)
                .map_err(|e| driver_error("creating an event", e))
        };
        Ok(Timer {
            start: ev()?,
            end: ev()?,
        })
    }

    /// Mean milliseconds of one run of `launches`.
    fn time(&self, stream: &CudaStream, launches: &[Launch]) -> Result<f32> {
        let run = || -> Result<()> {
            for l in launches {
                l.record(stream)
                    .map_err(|e| driver_error("launching a candidate kernel", e))?;
            }
            Ok(())
        };
        run()?;
        run()?;
        // SAFETY: events and stream belong to the current context.
        unsafe { result::event::record(self.start, stream.cu_stream()) }
            .map_err(|e| driver_error("recording an event", e))?;
        for _ in 0..REPS {
            run()?;
        }
        // SAFETY: as above.
        unsafe { result::event::record(self.end, stream.cu_stream()) }
            .map_err(|e| driver_error("recording an event", e))?;
        // SAFETY: `end` was recorded on this stream.
        unsafe { result::event::synchronize(self.end) }
            .map_err(|e| driver_error("timing a candidate kernel", e))?;
        // SAFETY: both events completed.
        let ms = unsafe { result::event::elapsed(self.start, self.end) }
            .map_err(|e| driver_error("reading an event", e))?;
        Ok(ms / REPS as f32)
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        // SAFETY: created in `new`, destroyed once.
        unsafe {
            let _ = result::event::destroy(self.start);
            let _ = result::event::destroy(self.end);
        }
    }
}
