//! INT8 calibration: the histogram of each tensor's |x| over the
//! calibration frames, the algorithms that choose its range from it (TensorRT's entropy, a
//! percentile, the max), and the calibration cache file that keeps the resulting scales.
//!
//! `collect` runs on top of these: it reads every measured tensor back from the FP32 engine
//! after each calibration frame and fills the histograms.

#![forbid(unsafe_code)]

pub mod algorithm;
pub mod cache;
pub mod collect;
pub mod histogram;

pub use algorithm::{scale, Algorithm, UnknownAlgorithm, DEFAULT_PERCENTILE, MIN_SCALE};
pub use cache::{CacheError, CalibCache, Header};
pub use collect::Collector;
pub use histogram::{Histogram, NonFinite, BINS};
