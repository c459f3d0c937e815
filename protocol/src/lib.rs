//! The wire format of edge-infer's detection socket, specified in `PROTOCOL.md`.
//!
//! The daemon encodes with [`encode_hello`] and [`encode_detections`] into buffers it allocated
//! once ([`MAX_MESSAGE_LEN`] bytes hold any message); clients decode packets with [`decode`],
//! or, with the default `std` feature, use the blocking `Client`.
//!
//! Without `std` the crate is `no_std` and allocates nothing: decoded Hellos borrow the packet,
//! decoded detections live in a fixed-capacity [`heapless::Vec`].
#![no_std]
#![forbid(unsafe_code)]

#[cfg(feature = "std")]
extern crate std;

#[cfg(feature = "std")]
mod client;
mod cursor;
mod detections;
mod error;
mod header;
mod hello;
mod message;

#[cfg(feature = "std")]
pub use client::{Client, ClientError};
pub use detections::{encode_detections, set_dropped_since_last, Detection, Detections, FrameInfo};
pub use error::{DecodeError, DecodeErrorKind, EncodeError};
pub use header::{Header, Kind};
pub use hello::{encode_hello, wire_text, ClassNames, Hello};
pub use message::{decode, Message};

/// First four bytes of every message.
pub const MAGIC: [u8; 4] = *b"EDGI";
/// The protocol version this crate reads and writes.
pub const VERSION: u16 = 1;
/// Bytes of the header every message starts with.
pub const HEADER_LEN: usize = 16;

/// Bytes of the zero-padded model name in a Hello.
pub const MODEL_NAME_LEN: usize = 64;
/// Bytes of one zero-padded class-name record in a Hello.
pub const CLASS_NAME_LEN: usize = 32;
/// Most class names a Hello carries.
pub const MAX_CLASSES: usize = 1024;
/// A Hello without class names, header included.
pub const HELLO_FIXED_LEN: usize = HEADER_LEN + 88;
/// The largest Hello ([`MAX_CLASSES`] names).
pub const MAX_HELLO_LEN: usize = hello_len(MAX_CLASSES);

/// Most detections one Detections message carries.
pub const MAX_DETECTIONS: usize = 256;
/// Bytes of one detection record.
pub const DETECTION_LEN: usize = 24;
/// A Detections message without records, header included.
pub const DETECTIONS_FIXED_LEN: usize = HEADER_LEN + 40;
/// The largest Detections message ([`MAX_DETECTIONS`] records).
pub const MAX_DETECTIONS_LEN: usize = detections_len(MAX_DETECTIONS);
/// Packet offset of `dropped_since_last` in a Detections message (see [`set_dropped_since_last`]).
pub const DROPPED_SINCE_LAST_OFFSET: usize = HEADER_LEN + 32;

/// A buffer this long holds any message; a longer packet is a protocol error.
pub const MAX_MESSAGE_LEN: usize = if MAX_HELLO_LEN > MAX_DETECTIONS_LEN {
    MAX_HELLO_LEN
} else {
    MAX_DETECTIONS_LEN
};

/// Packet length of a Hello with `class_count` names.
pub const fn hello_len(class_count: usize) -> usize {
    HELLO_FIXED_LEN + CLASS_NAME_LEN * class_count
}

/// Packet length of a Detections message with `count` records.
pub const fn detections_len(count: usize) -> usize {
    DETECTIONS_FIXED_LEN + DETECTION_LEN * count
}
