//! The 16-byte header every message starts with: magic, version, kind, payload length.

use crate::cursor::{Reader, Writer};
use crate::error::{DecodeError, DecodeErrorKind};
use crate::{HEADER_LEN, MAGIC, VERSION};

/// What a message is (`header.kind`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum Kind {
    /// Daemon -> client, once, first: the model, sizes and class names.
    Hello = 1,
    /// Daemon -> client, one per published frame.
    Detections = 2,
}

impl Kind {
    pub const fn from_u16(value: u16) -> Option<Kind> {
        match value {
            1 => Some(Kind::Hello),
            2 => Some(Kind::Detections),
            _ => None,
        }
    }

    pub const fn to_u16(self) -> u16 {
        self as u16
    }
}

/// A validated header: right magic, [`VERSION`], a known kind, and a payload length that matches
/// the packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub kind: Kind,
    /// Bytes after the header (= packet length - [`HEADER_LEN`]).
    pub payload_length: u32,
}

impl Header {
    /// Checks steps 1 and 2 of `PROTOCOL.md`'s validation on a whole packet.
    pub fn decode(packet: &[u8]) -> Result<Header, DecodeError> {
        let mut r = Reader::at(packet, 0);
        let found: [u8; 4] = r.array("header.magic")?;
        if found != MAGIC {
            return Err(DecodeError::new(
                0,
                "header.magic",
                DecodeErrorKind::BadMagic { found },
            ));
        }
        let version = r.u16("header.version")?;
        if version != VERSION {
            let kind = DecodeErrorKind::UnsupportedVersion { found: version };
            return Err(DecodeError::new(4, "header.version", kind));
        }
        let raw_kind = r.u16("header.kind")?;
        let kind = Kind::from_u16(raw_kind).ok_or(DecodeError::new(
            6,
            "header.kind",
            DecodeErrorKind::UnknownKind { found: raw_kind },
        ))?;
        let payload_length = r.u32("header.payload_length")?;
        let _reserved = r.u32("header.reserved")?;
        let actual = packet.len() - HEADER_LEN;
        if payload_length as usize != actual {
            let kind = DecodeErrorKind::LengthMismatch {
                expected: payload_length as usize,
                found: actual,
            };
            return Err(DecodeError::new(8, "header.payload_length", kind));
        }
        Ok(Header {
            kind,
            payload_length,
        })
    }

    pub(crate) fn write(w: &mut Writer<'_>, kind: Kind, payload_length: usize) {
        w.bytes(&MAGIC);
        w.u16(VERSION);
        w.u16(kind.to_u16());
        // Every message is at most MAX_MESSAGE_LEN long: the cast cannot truncate.
        w.u32(payload_length as u32);
        w.u32(0);
    }
}
