//! What can go wrong reading or writing a message. Decode errors carry the packet offset and
//! the field (as `PROTOCOL.md` names them), so a report points at the offending byte.

use core::fmt;

use crate::Kind;

/// Why a packet is not a valid message, and where.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecodeError {
    /// Byte offset from the start of the packet.
    pub offset: usize,
    /// The field there, e.g. `header.magic`, `detections.count`, `detection.score`.
    pub field: &'static str,
    pub kind: DecodeErrorKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeErrorKind {
    /// The packet ends inside the field: it has `len` bytes, the field ends at `needed`.
    Truncated { needed: usize, len: usize },
    /// The first four bytes are not `EDGI`.
    BadMagic { found: [u8; 4] },
    /// A version other than [`crate::VERSION`].
    UnsupportedVersion { found: u16 },
    /// A `kind` that is neither Hello nor Detections.
    UnknownKind { found: u16 },
    /// The field implies a payload of `expected` bytes; the packet has `found`.
    LengthMismatch { expected: usize, found: usize },
    /// A count above its limit.
    TooMany { count: u32, max: u32 },
    /// A float that is NaN or infinite (its bits, so the error stays comparable).
    NonFinite { bits: u32 },
    /// A text field that is not UTF-8; the offset is the first bad byte.
    InvalidUtf8,
    /// A detection's class is not below the Hello's `class_count`.
    ClassOutOfRange { class: u16, class_count: u32 },
    /// A well-formed message where the stream does not allow it: a Detections message before the
    /// Hello, or a second Hello.
    UnexpectedKind { found: Kind },
    /// A packet longer than any message ([`crate::MAX_MESSAGE_LEN`]); seen by receivers, whose
    /// socket cut it.
    PacketTooLong { len: usize },
}

impl DecodeError {
    pub(crate) const fn new(offset: usize, field: &'static str, kind: DecodeErrorKind) -> Self {
        DecodeError {
            offset,
            field,
            kind,
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at byte {} ({}): {}", self.offset, self.field, self.kind)
    }
}

impl fmt::Display for DecodeErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            DecodeErrorKind::Truncated { needed, len } => {
                write!(f, "truncated: the packet has {len} bytes, the field ends at byte {needed}")
            }
            DecodeErrorKind::BadMagic { found } => write!(
                f,
                "wrong magic {:02x} {:02x} {:02x} {:02x} (expected 45 44 47 49, \"EDGI\"): not an edge-infer message",
                found[0], found[1], found[2], found[3]
            ),
            DecodeErrorKind::UnsupportedVersion { found } => write!(
                f,
                "unsupported protocol version {found} (this reader speaks version {})",
                crate::VERSION
            ),
            DecodeErrorKind::UnknownKind { found } => {
                write!(f, "unknown message kind {found} (1 is Hello, 2 Detections)")
            }
            DecodeErrorKind::LengthMismatch { expected, found } => write!(
                f,
                "length mismatch: the field implies a {expected}-byte payload, the packet has {found}"
            ),
            DecodeErrorKind::TooMany { count, max } => write!(f, "{count} is more than the maximum {max}"),
            DecodeErrorKind::NonFinite { bits } => {
                write!(f, "non-finite value {} (bits {bits:#010x})", f32::from_bits(bits))
            }
            DecodeErrorKind::InvalidUtf8 => f.write_str("invalid UTF-8"),
            DecodeErrorKind::ClassOutOfRange { class, class_count } => write!(
                f,
                "class {class} is out of range: the Hello announced {class_count} classes"
            ),
            DecodeErrorKind::UnexpectedKind { found } => match found {
                Kind::Hello => f.write_str("a second Hello (the daemon sends one, first)"),
                Kind::Detections => f.write_str("Detections before the Hello"),
            },
            DecodeErrorKind::PacketTooLong { len } => write!(
                f,
                "a {len}-byte packet, longer than any message ({} bytes)",
                crate::MAX_MESSAGE_LEN
            ),
        }
    }
}

impl core::error::Error for DecodeError {}

/// Why a message could not be written. On error the buffer's contents are unspecified.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EncodeError {
    /// The message needs `needed` bytes; the buffer has `available`.
    BufferTooSmall { needed: usize, available: usize },
    /// More items than the protocol allows (`field` names which).
    TooMany {
        field: &'static str,
        count: usize,
        max: usize,
    },
    /// A NaN or infinite float, which the decoder would reject; `index` is the detection's.
    NonFinite {
        field: &'static str,
        index: usize,
        bits: u32,
    },
    /// [`crate::set_dropped_since_last`] was given something that is not an encoded
    /// Detections message.
    NotDetections,
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            EncodeError::BufferTooSmall { needed, available } => {
                write!(f, "buffer too small: the message needs {needed} bytes, the buffer has {available}")
            }
            EncodeError::TooMany { field, count, max } => {
                write!(f, "{field}: {count} is more than the maximum {max}")
            }
            EncodeError::NonFinite { field, index, bits } => write!(
                f,
                "detection {index}: {field} is {} (bits {bits:#010x}); only finite values are sent",
                f32::from_bits(bits)
            ),
            EncodeError::NotDetections => f.write_str("not an encoded Detections message"),
        }
    }
}

impl core::error::Error for EncodeError {}
