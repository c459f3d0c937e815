//! Engine (immutable, shareable) and Context (per stream), as TensorRT's ICudaEngine and
//! IExecutionContext.

use crate::backend::cpu::{CpuContext, CpuEngine};
use crate::error::{Error, Result};
use crate::graph::Graph;
use crate::memory::MemoryPlan;
use crate::model::ModelMeta;
use crate::plan::{format, Plan, PlanError};
use std::path::Path;
use std::sync::Arc;

pub use crate::backend::cpu::CpuContext as Context;

/// A loaded plan, ready to make contexts. Cheap to clone and share between threads.
#[derive(Clone)]
pub struct Engine {
    plan: Arc<Plan>,
    cpu: Arc<CpuEngine>,
}

impl Engine {
    /// Accepts a plan built for this machine, and says why not otherwise.
    pub fn from_plan(plan: Plan) -> Result<Engine> {
        let Some(isa) = plan.fingerprint.cpu_isa() else {
            let this = crate::plan::Fingerprint::cpu(crate::backend::cpu::isa::Isa::detect());
            return Err(PlanError::WrongDevice {
                built_for: plan.fingerprint.to_string(),
                this: this.to_string(),
            }
            .into());
        };
        let cpu = Arc::new(CpuEngine::new(plan.graph.clone(), isa)?);
        Ok(Engine {
            plan: Arc::new(plan),
            cpu,
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

    /// A context with its own arena; `threads` = 0 uses every core.
    pub fn context(&self, threads: usize) -> Result<Context> {
        CpuContext::new(Arc::clone(&self.cpu), threads)
    }

    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    pub fn graph(&self) -> &Graph {
        self.cpu.graph()
    }

    pub fn meta(&self) -> &ModelMeta {
        &self.plan.graph.meta
    }

    pub fn memory(&self) -> &MemoryPlan {
        self.cpu.memory()
    }
}
