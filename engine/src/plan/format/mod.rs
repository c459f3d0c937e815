//! Plan bytes, little-endian throughout:
//!
//! ```text
//! 0   "EDGEPLAN"          magic
//! 8   u32                 format version
//! 12  u64                 total file length (so truncation is told apart from corruption)
//! 20  u64                 byte offset of the weights (a multiple of 64)
//! 28  u64                 number of weight floats
//! 36  body                producer, fingerprint, precision, bindings, model metadata,
//!                         graph (ops refer to weight ranges), tactics, device code (the
//!                         CUDA backend's cubin; empty for the CPU)
//!     zero padding        up to the weights offset
//!     f32[]               weights: every parameter array, each starting 64-byte aligned
//! end-4 u32               CRC-32 of every byte before it
//! ```
//! Strings are u32 length + UTF-8; lists are u32 count + items.

mod read;
mod write;

pub use read::from_bytes;
pub use write::to_bytes;

pub const MAGIC: &[u8; 8] = b"EDGEPLAN";
/// 2: device code; 3: INT8 quantization; 4: the kernels' parameter structs changed (split-K
/// counters), so a version-3 cubin would read the runtime's launch arguments wrongly; 5: kernels
/// may be launched to overlap their predecessor, which a version-4 cubin does not wait for; 6:
/// Hopper plans carry sm_90a code (wgmma tactics).
pub const VERSION: u32 = 6;
const ALIGN: usize = 64;
const HEADER: usize = 36;
/// Limit on any count or size read from a plan, so corrupt numbers cannot exhaust memory.
const MAX_ITEMS: usize = 1 << 28;
