//! Execution backends. Each runs the same graph semantics; `cpu` is the reference.

pub mod cpu;
pub mod cuda;
