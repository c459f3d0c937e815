//! Engine (immutable, shareable) and Context (per stream), as TensorRT's ICudaEngine and
//! IExecutionContext, over whichever backend the plan was built for.

use crate::backend::cpu::{CpuContext, CpuEngine};
use crate::backend::cuda::preprocess::Camera;
use crate::backend::cuda::{CudaContext, CudaEngine, DeviceInfo, Gpu};
use crate::error::{Error, Result};
use crate::graph::{Graph, Shape};
use crate::memory::MemoryPlan;
use crate::model::ModelMeta;
use crate::plan::{format, Fingerprint, Plan, PlanError};
use crate::yolo::{DecodeParams, Detections, Letterbox, Postprocessor};
use std::path::Path;
use std::sync::Arc;

#[derive(Clone)]
enum Backend {
    Cpu(Arc<CpuEngine>),
    Cuda(Arc<CudaEngine>),
}

/// A loaded plan, ready to make contexts. Cheap to clone and share between threads.
#[derive(Clone)]
pub struct Engine {
    plan: Arc<Plan>,
    backend: Backend,
    warnings: Vec<String>,
}

impl Engine {
    /// Accepts a plan built for this machine, and says why not otherwise. A CUDA plan runs
    /// on GPU 0 (`from_plan_on` picks another).
    pub fn from_plan(plan: Plan) -> Result<Engine> {
        Engine::from_plan_on(plan, 0)
    }

    pub fn from_plan_on(plan: Plan, gpu: usize) -> Result<Engine> {
        if plan.fingerprint.backend == "cuda" {
            let gpu = Gpu::open(gpu)?;
            let warnings = check_gpu(&plan.fingerprint, &gpu.info)?;
            for w in &warnings {
                log::warn!("{w}");
            }
            let cuda = Arc::new(CudaEngine::new(&plan, gpu)?);
            return Ok(Engine {
                plan: Arc::new(plan),
                backend: Backend::Cuda(cuda),
                warnings,
            });
        }
        let Some(isa) = plan.fingerprint.cpu_isa() else {
            let this = Fingerprint::cpu(crate::backend::cpu::isa::Isa::detect());
            return Err(PlanError::WrongDevice {
                built_for: plan.fingerprint.to_string(),
                this: this.to_string(),
            }
            .into());
        };
        let cpu = Arc::new(CpuEngine::new(
            plan.graph.clone(),
            plan.quant.as_ref(),
            isa,
        )?);
        Ok(Engine {
            plan: Arc::new(plan),
            backend: Backend::Cpu(cpu),
            warnings: Vec::new(),
        })
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Engine> {
        Engine::from_plan(format::from_bytes(bytes)?)
    }

    pub fn load(path: &Path) -> Result<Engine> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        Engine::from_bytes(&bytes).map_err(|e| match e {
            Error::Plan(p) => Error::PlanFile {
                path: path.into(),
                source: p,
            },
            other => other,
        })
    }

    /// A context with its own buffers; `threads` (CPU workers, 0: every core) is ignored
    /// by the CUDA backend.
    pub fn context(&self, threads: usize) -> Result<Context> {
        Ok(match &self.backend {
            Backend::Cpu(e) => Context::Cpu(CpuContext::new(Arc::clone(e), threads)?),
            Backend::Cuda(e) => Context::Cuda(Box::new(CudaContext::new(Arc::clone(e))?)),
        })
    }

    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// What loading noticed but did not refuse (a plan tuned on another GPU model).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// The plan's graph (a backend may execute a transformed copy).
    pub fn graph(&self) -> &Graph {
        &self.plan.graph
    }

    pub fn meta(&self) -> &ModelMeta {
        &self.plan.graph.meta
    }

    pub fn memory(&self) -> &MemoryPlan {
        match &self.backend {
            Backend::Cpu(e) => e.memory(),
            Backend::Cuda(e) => e.memory(),
        }
    }

    /// The names of the tactics that can run conv `node` on this engine's GPU, any of which a
    /// plan may choose for it (none on the CPU, which has one way to run a conv).
    pub fn conv_tactics(&self, node: usize) -> Vec<String> {
        match &self.backend {
            Backend::Cpu(_) => Vec::new(),
            Backend::Cuda(e) => e.conv_tactics(node),
        }
    }
}

/// A CUDA plan loads only on its compute capability; on another GPU model of the same one it
/// loads with a warning, as its tactics were timed elsewhere.
fn check_gpu(built: &Fingerprint, this: &DeviceInfo) -> Result<Vec<String>> {
    let name = built.get("name").unwrap_or("?");
    if built.arch != this.arch() {
        return Err(PlanError::WrongDevice {
            built_for: format!("{name} ({})", built.arch),
            this: format!("{} ({})", this.name, this.arch()),
        }
        .into());
    }
    let sms = this.sms.to_string();
    if name != this.name || built.get("sms") != Some(sms.as_str()) {
        return Ok(vec![format!(
            "engine was tuned on {name} ({} SMs), this is {} ({} SMs): it runs, but rebuild it \
             here (`edge-infer build --device cuda`) for the fastest kernels",
            built.get("sms").unwrap_or("?"),
            this.name,
            this.sms
        )]);
    }
    Ok(Vec::new())
}

/// Per-stream state: one per inference thread.
pub enum Context {
    Cpu(CpuContext),
    Cuda(Box<CudaContext>),
}

impl Context {
    /// The f32 NHWC input binding, to be filled before `infer`.
    pub fn input_mut(&mut self) -> &mut [f32] {
        match self {
            Context::Cpu(c) => c.input_mut(),
            Context::Cuda(c) => c.input_mut(),
        }
    }

    /// Runs the network (on CUDA also the YOLO decode). Allocates nothing.
    pub fn infer(&mut self) -> Result<()> {
        match self {
            Context::Cpu(c) => c.infer(),
            Context::Cuda(c) => c.infer(),
        }
    }

    /// The network alone: on CUDA without the input copy and the decode (for benchmarks).
    pub fn infer_network(&mut self) -> Result<()> {
        match self {
            Context::Cpu(c) => c.infer(),
            Context::Cuda(c) => c.infer_network(),
        }
    }

    /// GPU memory the context and its engine hold, for a CUDA context.
    pub fn device_bytes(&self) -> Option<usize> {
        match self {
            Context::Cpu(_) => None,
            Context::Cuda(c) => Some(c.device_bytes()),
        }
    }

    /// `infer`, adding each node's time in milliseconds to `times[node]`.
    pub fn infer_profiled(&mut self, times: &mut [f64]) -> Result<()> {
        match self {
            Context::Cpu(c) => c.infer_profiled(times),
            Context::Cuda(c) => c.infer_profiled(times),
        }
    }

    /// Takes camera frames of this geometry straight to the GPU (`infer_camera`); false where
    /// the backend has no such path (the CPU: convert into `input_mut` instead).
    pub fn set_camera(&mut self, camera: &Camera) -> Result<bool> {
        match self {
            Context::Cpu(_) => Ok(false),
            Context::Cuda(c) => c.set_camera(camera).map(|()| true),
        }
    }

    /// The pinned buffer the next camera frame's bytes go into, after `set_camera`.
    pub fn camera_frame_mut(&mut self) -> Option<&mut [u8]> {
        match self {
            Context::Cpu(_) => None,
            Context::Cuda(c) => c.camera_frame_mut(),
        }
    }

    /// `infer` from the camera frame: preprocessing on the GPU, then network and decode.
    pub fn infer_camera(&mut self) -> Result<()> {
        match self {
            Context::Cpu(_) => Err(Error::Unsupported(
                "the CPU backend takes frames through input_mut".into(),
            )),
            Context::Cuda(c) => c.infer_camera(),
        }
    }

    /// Runs `f` where this context's frames allocate nothing: inside the CPU backend's worker
    /// pool (entering it from outside allocates now and then); directly for CUDA.
    pub fn run<R: Send>(&mut self, f: impl FnOnce(&mut Self) -> R + Send) -> R {
        match self {
            Context::Cpu(c) => {
                let pool = c.pool();
                pool.install(|| f(self))
            }
            Context::Cuda(_) => f(self),
        }
    }

    /// CPU worker threads (1 for CUDA: the thread that launches the graph).
    pub fn threads(&self) -> usize {
        match self {
            Context::Cpu(c) => c.threads(),
            Context::Cuda(_) => 1,
        }
    }

    /// The confidence threshold the GPU decoder uses (the CPU decodes with the params given
    /// to `detect`). Set it before `infer`.
    pub fn set_threshold(&mut self, t: f32) -> Result<()> {
        match self {
            Context::Cpu(_) => Ok(()),
            Context::Cuda(c) => c.set_threshold(t),
        }
    }

    /// Makes `head` valid for the last `infer` (CUDA copies the heads to the host; a frame
    /// that only wants detections skips this).
    pub fn fetch_heads(&mut self) -> Result<()> {
        match self {
            Context::Cpu(_) => Ok(()),
            Context::Cuda(c) => c.fetch_heads(),
        }
    }

    /// Tensor `t` of the last `infer` as contiguous f32 NHWC in `out` (for calibration: it
    /// copies from the GPU and is not for the per-frame path). Only tensors that live to the
    /// end of the frame, the graph's outputs, still hold their values: the arena reuses the
    /// others' memory (`edge_calib::collect::measurable` makes every measured tensor one).
    pub fn read_tensor(&mut self, t: usize, out: &mut Vec<f32>) -> Result<()> {
        match self {
            Context::Cpu(c) => {
                c.read_tensor(t, out);
                Ok(())
            }
            Context::Cuda(c) => c.read_tensor(t, out),
        }
    }

    /// YOLO head `i` (NHWC f32) with its shape, after `infer` (and `fetch_heads` on CUDA).
    pub fn head(&self, i: usize) -> (&[f32], Shape) {
        match self {
            Context::Cpu(c) => c.head(i),
            Context::Cuda(c) => c.head(i),
        }
    }

    /// Detections of the last `infer`, in frame pixels: decode (done on the GPU for CUDA)
    /// and NMS. Allocates nothing.
    pub fn detect(
        &self,
        post: &mut Postprocessor,
        meta: &ModelMeta,
        letterbox: &Letterbox,
        params: &DecodeParams,
        out: &mut Detections,
    ) {
        match self {
            Context::Cpu(c) => post.run(meta, |i| c.head(i), letterbox, params, out),
            Context::Cuda(c) => {
                let (items, found) = c.candidates();
                post.run_candidates(
                    items.iter().map(|g| crate::yolo::Candidate {
                        class: g.class as u16,
                        score: g.score,
                        bbox: [g.x1, g.y1, g.x2, g.y2],
                        suppressed: false,
                    }),
                    found - items.len(),
                    letterbox,
                    params,
                    out,
                )
            }
        }
    }
}
