//! A whole message, and `decode`: from one packet's bytes to a message or an error that names
//! the offset and field. It never panics, whatever the bytes.

use crate::detections::{decode_detections, Detections};
use crate::error::{DecodeError, EncodeError};
use crate::header::{Header, Kind};
use crate::hello::{decode_hello, Hello};

#[derive(Clone, Debug, PartialEq)]
#[allow(
    clippy::large_enum_variant,
    reason = "no_std has no Box; a Message is a short-lived stack value and Detections is 6 KiB at most"
)]
pub enum Message<'a> {
    Hello(Hello<'a>),
    Detections(Detections),
}

impl Message<'_> {
    pub fn kind(&self) -> Kind {
        match self {
            Message::Hello(_) => Kind::Hello,
            Message::Detections(_) => Kind::Detections,
        }
    }

    /// Packet length of this message.
    pub fn encoded_len(&self) -> usize {
        match self {
            Message::Hello(h) => h.encoded_len(),
            Message::Detections(d) => d.encoded_len(),
        }
    }

    /// Writes the message into `buf` and returns its length.
    pub fn encode(&self, buf: &mut [u8]) -> Result<usize, EncodeError> {
        match self {
            Message::Hello(h) => h.encode(buf),
            Message::Detections(d) => d.encode(buf),
        }
    }
}

/// Decodes one packet (one message), checking everything `PROTOCOL.md`'s "Validation" lists,
/// in that order. A decoded Hello borrows `packet`.
pub fn decode(packet: &[u8]) -> Result<Message<'_>, DecodeError> {
    let header = Header::decode(packet)?;
    match header.kind {
        Kind::Hello => decode_hello(packet, &header).map(Message::Hello),
        Kind::Detections => decode_detections(packet, &header).map(Message::Detections),
    }
}
