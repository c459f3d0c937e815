//! edge-infer: the daemon's parts, as a library so tests and tools can drive them.

pub mod annotate;
pub mod cache;
pub mod calibration;
pub mod capture;
pub mod clock;
pub mod config;
pub mod convert;
pub mod daemon;
pub mod dataset;
pub mod frame;
pub mod logging;
pub mod metrics;
pub mod model_source;
pub mod notify;
pub mod pipeline;
pub mod publish;
pub mod scene;
pub mod slot;
pub mod stats;
