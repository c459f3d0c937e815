//! edge-engine: a TensorRT-shaped inference engine for YOLO detectors.
//!
//! import (Darknet) -> [`graph::Graph`] -> [`optimize`] -> [`Builder`] -> [`plan::Plan`] (bytes,
//! bound to a device) -> [`Engine`] (immutable, shared) -> [`Context`] (arena, per stream).

pub mod atomic_file;
pub mod backend;
pub mod builder;
pub mod error;
pub mod fnv;
pub mod graph;
pub mod import;
pub mod memory;
pub mod model;
pub mod npy;
pub mod optimize;
pub mod plan;
pub mod quant;
pub mod rng;
pub mod runtime;
pub mod yolo;

pub use builder::{Builder, Device};
pub use error::{Error, Result};
pub use runtime::{Context, Engine};
