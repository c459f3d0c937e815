//! The Detections message: one frame's timestamps, drop count and detection records.

use crate::cursor::{Reader, Writer};
use crate::error::{DecodeError, DecodeErrorKind, EncodeError};
use crate::header::{Header, Kind};
use crate::{
    detections_len, DETECTIONS_FIXED_LEN, DROPPED_SINCE_LAST_OFFSET, HEADER_LEN, MAGIC,
    MAX_DETECTIONS,
};

/// One detected object: a 24-byte record on the wire.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Detection {
    /// Index into the Hello's class names.
    pub class: u16,
    /// Objectness x class probability; finite.
    pub score: f32,
    /// Corners in source (camera-frame) pixels; finite.
    pub x1: f32,
    pub y1: f32,
    pub x2: f32,
    pub y2: f32,
}

/// Everything in a Detections message but the records.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct FrameInfo {
    /// Capture sequence number of the frame.
    pub sequence: u64,
    /// `CLOCK_MONOTONIC` ns at capture (the camera driver's timestamp).
    pub capture_ns: u64,
    /// `CLOCK_MONOTONIC` ns when the daemon published the message.
    pub publish_ns: u64,
    /// The frame the boxes refer to, pixels.
    pub source_width: u32,
    pub source_height: u32,
    /// Messages for this client dropped since its previous one.
    pub dropped_since_last: u32,
}

/// Daemon -> client, one per published frame. Owns its records (no allocation: a fixed-capacity
/// vector of [`MAX_DETECTIONS`]).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Detections {
    pub frame: FrameInfo,
    pub detections: heapless::Vec<Detection, MAX_DETECTIONS>,
}

impl Detections {
    /// Packet length of this message.
    pub fn encoded_len(&self) -> usize {
        detections_len(self.detections.len())
    }

    /// Writes this message into `buf` and returns its length; see [`encode_detections`].
    pub fn encode(&self, buf: &mut [u8]) -> Result<usize, EncodeError> {
        encode_detections(buf, &self.frame, self.detections.iter().copied())
    }
}

/// Writes a Detections message for `frame` with `detections` into `buf` and returns its length
/// ([`detections_len`] of the count, at most [`MAX_DETECTIONS_LEN`](crate::MAX_DETECTIONS_LEN)).
///
/// `detections` is any exact-size iterator, so the daemon can map its own detection type
/// without copying into a [`Detections`] first. More than [`MAX_DETECTIONS`] items, or a
/// non-finite score or corner, is an error (the decoder would reject the message).
/// Allocates nothing.
pub fn encode_detections<I>(
    buf: &mut [u8],
    frame: &FrameInfo,
    detections: I,
) -> Result<usize, EncodeError>
where
    I: IntoIterator<Item = Detection>,
    I::IntoIter: ExactSizeIterator,
{
    let items = detections.into_iter();
    let count = items.len();
    if count > MAX_DETECTIONS {
        return Err(EncodeError::TooMany {
            field: "detections.count",
            count,
            max: MAX_DETECTIONS,
        });
    }
    let len = detections_len(count);
    if buf.len() < len {
        return Err(EncodeError::BufferTooSmall {
            needed: len,
            available: buf.len(),
        });
    }
    let mut w = Writer::new(&mut buf[..len]);
    Header::write(&mut w, Kind::Detections, len - HEADER_LEN);
    w.u64(frame.sequence);
    w.u64(frame.capture_ns);
    w.u64(frame.publish_ns);
    w.u32(frame.source_width);
    w.u32(frame.source_height);
    w.u32(frame.dropped_since_last);
    let count_at = w.pos();
    w.u32(count as u32);
    let mut written = 0;
    for (index, d) in items.take(count).enumerate() {
        for (field, value) in [
            ("detection.score", d.score),
            ("detection.x1", d.x1),
            ("detection.y1", d.y1),
            ("detection.x2", d.x2),
            ("detection.y2", d.y2),
        ] {
            if !value.is_finite() {
                let bits = value.to_bits();
                return Err(EncodeError::NonFinite { field, index, bits });
            }
        }
        w.u16(d.class);
        w.u16(0);
        w.f32(d.score);
        w.f32(d.x1);
        w.f32(d.y1);
        w.f32(d.x2);
        w.f32(d.y2);
        written += 1;
    }
    if written != count {
        // The iterator promised more than it gave: describe what was written.
        w.patch_u32(count_at, written as u32);
        w.patch_u32(8, (detections_len(written) - HEADER_LEN) as u32);
    }
    Ok(detections_len(written))
}

/// Rewrites `dropped_since_last` in an encoded Detections message, so the daemon can encode a
/// frame once and adjust the one per-client field before each send.
pub fn set_dropped_since_last(packet: &mut [u8], dropped: u32) -> Result<(), EncodeError> {
    let is_detections = packet.len() >= DETECTIONS_FIXED_LEN
        && packet[..4] == MAGIC
        && packet[6..8] == Kind::Detections.to_u16().to_le_bytes();
    if !is_detections {
        return Err(EncodeError::NotDetections);
    }
    packet[DROPPED_SINCE_LAST_OFFSET..DROPPED_SINCE_LAST_OFFSET + 4]
        .copy_from_slice(&dropped.to_le_bytes());
    Ok(())
}

/// Decodes the payload of a packet whose header said Detections.
pub(crate) fn decode_detections(packet: &[u8], header: &Header) -> Result<Detections, DecodeError> {
    let mut r = Reader::at(packet, HEADER_LEN);
    let frame = FrameInfo {
        sequence: r.u64("detections.sequence")?,
        capture_ns: r.u64("detections.capture_ns")?,
        publish_ns: r.u64("detections.publish_ns")?,
        source_width: r.u32("detections.source_width")?,
        source_height: r.u32("detections.source_height")?,
        dropped_since_last: r.u32("detections.dropped_since_last")?,
    };
    let count_at = r.pos();
    let count = r.u32("detections.count")?;
    let too_many = DecodeError::new(
        count_at,
        "detections.count",
        DecodeErrorKind::TooMany {
            count,
            max: MAX_DETECTIONS as u32,
        },
    );
    if count as usize > MAX_DETECTIONS {
        return Err(too_many);
    }
    let expected = detections_len(count as usize) - HEADER_LEN;
    if header.payload_length as usize != expected {
        let kind = DecodeErrorKind::LengthMismatch {
            expected,
            found: header.payload_length as usize,
        };
        return Err(DecodeError::new(count_at, "detections.count", kind));
    }

    let mut detections = heapless::Vec::new();
    for _ in 0..count {
        let class = r.u16("detection.class")?;
        let _reserved = r.u16("detection.reserved")?;
        let d = Detection {
            class,
            score: r.finite_f32("detection.score")?,
            x1: r.finite_f32("detection.x1")?,
            y1: r.finite_f32("detection.y1")?,
            x2: r.finite_f32("detection.x2")?,
            y2: r.finite_f32("detection.y2")?,
        };
        // count <= MAX_DETECTIONS was checked above, so this never fails.
        detections.push(d).map_err(|_| too_many)?;
    }
    Ok(Detections { frame, detections })
}
