//! The Hello message: the model, the network and camera sizes, and the class names a client
//! needs to read the Detections messages that follow.

use core::fmt;

use crate::cursor::{Reader, Writer};
use crate::detections::Detections;
use crate::error::{DecodeError, DecodeErrorKind, EncodeError};
use crate::header::{Header, Kind};
use crate::{
    detections_len, hello_len, CLASS_NAME_LEN, HEADER_LEN, HELLO_FIXED_LEN, MAX_CLASSES,
    MAX_DETECTIONS, MODEL_NAME_LEN,
};

/// Daemon -> client, once, first. Decoded, it borrows the packet; to encode one, borrow the
/// daemon's names with [`ClassNames::new`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Hello<'a> {
    /// At most [`MODEL_NAME_LEN`] bytes on the wire; longer names are truncated at a character
    /// boundary when encoded.
    pub model_name: &'a str,
    /// Network input size, pixels.
    pub input_width: u32,
    pub input_height: u32,
    /// Camera frame size, pixels.
    pub source_width: u32,
    pub source_height: u32,
    /// Most detections one Detections message will carry (at most [`MAX_DETECTIONS`]).
    pub max_detections: u32,
    /// Class `i`'s name is `class_names.get(i)`; `class_names.len()` is the class count.
    pub class_names: ClassNames<'a>,
}

impl Hello<'_> {
    /// Packet length of this Hello.
    pub fn encoded_len(&self) -> usize {
        hello_len(self.class_names.len())
    }

    /// Writes this Hello into `buf` and returns its length; see [`encode_hello`].
    pub fn encode(&self, buf: &mut [u8]) -> Result<usize, EncodeError> {
        encode_hello(buf, self)
    }

    /// The checks that need the Hello: at most `max_detections` records, and every class below
    /// the class count. Offsets are those of `detections` as a packet.
    pub fn check_detections(&self, detections: &Detections) -> Result<(), DecodeError> {
        let count = detections.detections.len();
        if count > self.max_detections as usize {
            let kind = DecodeErrorKind::TooMany {
                count: count as u32,
                max: self.max_detections,
            };
            return Err(DecodeError::new(
                detections_len(0) - 4,
                "detections.count",
                kind,
            ));
        }
        let class_count = self.class_names.len();
        for (i, d) in detections.detections.iter().enumerate() {
            if usize::from(d.class) >= class_count {
                let kind = DecodeErrorKind::ClassOutOfRange {
                    class: d.class,
                    class_count: class_count as u32,
                };
                return Err(DecodeError::new(detections_len(i), "detection.class", kind));
            }
        }
        Ok(())
    }
}

/// A Hello's class names: views of the packet's 32-byte records when decoded, or the daemon's
/// strings when encoding. Either way [`get`](Self::get) returns the name as it is on the wire.
#[derive(Clone, Copy)]
pub struct ClassNames<'a>(Names<'a>);

#[derive(Clone, Copy)]
enum Names<'a> {
    /// `len / CLASS_NAME_LEN` records, each already checked to be valid text.
    Wire(&'a [u8]),
    Strs(&'a [&'a str]),
}

impl<'a> ClassNames<'a> {
    /// Names to encode. More than [`MAX_CLASSES`] is an encoding error.
    pub const fn new(names: &'a [&'a str]) -> Self {
        ClassNames(Names::Strs(names))
    }

    /// Records checked by [`validate_names`] (or copied from a decoded Hello).
    pub(crate) fn wire(records: &'a [u8]) -> Self {
        ClassNames(Names::Wire(records))
    }

    /// The packet bytes of a decoded Hello's names (for a reader that keeps them).
    #[cfg(feature = "std")]
    pub(crate) fn wire_bytes(&self) -> Option<&'a [u8]> {
        match self.0 {
            Names::Wire(records) => Some(records),
            Names::Strs(_) => None,
        }
    }

    pub fn len(&self) -> usize {
        match self.0 {
            Names::Wire(records) => records.len() / CLASS_NAME_LEN,
            Names::Strs(names) => names.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Class `index`'s name as the wire carries it; `None` past the end.
    pub fn get(&self, index: usize) -> Option<&'a str> {
        match self.0 {
            Names::Wire(records) => {
                let start = index.checked_mul(CLASS_NAME_LEN)?;
                let record = records.get(start..start.checked_add(CLASS_NAME_LEN)?)?;
                // Checked when the Hello was decoded; "" is unreachable.
                Some(core::str::from_utf8(until_nul(record)).unwrap_or(""))
            }
            Names::Strs(names) => names.get(index).map(|name| wire_text(name, CLASS_NAME_LEN)),
        }
    }

    pub fn iter(&self) -> ClassNamesIter<'a> {
        ClassNamesIter {
            names: *self,
            next: 0,
        }
    }
}

impl PartialEq for ClassNames<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl fmt::Debug for ClassNames<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<'a> IntoIterator for ClassNames<'a> {
    type Item = &'a str;
    type IntoIter = ClassNamesIter<'a>;

    fn into_iter(self) -> ClassNamesIter<'a> {
        self.iter()
    }
}

/// The names of a [`ClassNames`], in class order.
#[derive(Clone)]
pub struct ClassNamesIter<'a> {
    names: ClassNames<'a>,
    next: usize,
}

impl<'a> Iterator for ClassNamesIter<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let name = self.names.get(self.next)?;
        self.next += 1;
        Some(name)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.names.len().saturating_sub(self.next);
        (left, Some(left))
    }
}

impl ExactSizeIterator for ClassNamesIter<'_> {}

/// `text` as a zero-padded field of `field_len` bytes carries it: cut at the first U+0000, then
/// truncated to at most `field_len` bytes at a character boundary.
pub fn wire_text(text: &str, field_len: usize) -> &str {
    let text = text.split('\0').next().unwrap_or("");
    if text.len() <= field_len {
        return text;
    }
    let mut end = field_len;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Writes `hello` into `buf` and returns the message's length ([`Hello::encoded_len`], at most
/// [`MAX_HELLO_LEN`](crate::MAX_HELLO_LEN)). Names too long for their fields are truncated at a
/// character boundary. Allocates nothing.
pub fn encode_hello(buf: &mut [u8], hello: &Hello<'_>) -> Result<usize, EncodeError> {
    let class_count = hello.class_names.len();
    if class_count > MAX_CLASSES {
        return Err(EncodeError::TooMany {
            field: "hello.class_count",
            count: class_count,
            max: MAX_CLASSES,
        });
    }
    if hello.max_detections as usize > MAX_DETECTIONS {
        return Err(EncodeError::TooMany {
            field: "hello.max_detections",
            count: hello.max_detections as usize,
            max: MAX_DETECTIONS,
        });
    }
    let len = hello_len(class_count);
    if buf.len() < len {
        return Err(EncodeError::BufferTooSmall {
            needed: len,
            available: buf.len(),
        });
    }
    let mut w = Writer::new(&mut buf[..len]);
    Header::write(&mut w, Kind::Hello, len - HEADER_LEN);
    w.padded(
        wire_text(hello.model_name, MODEL_NAME_LEN).as_bytes(),
        MODEL_NAME_LEN,
    );
    w.u32(hello.input_width);
    w.u32(hello.input_height);
    w.u32(hello.source_width);
    w.u32(hello.source_height);
    w.u32(hello.max_detections);
    w.u32(class_count as u32);
    for name in hello.class_names.iter() {
        w.padded(name.as_bytes(), CLASS_NAME_LEN);
    }
    debug_assert_eq!(w.pos(), len);
    Ok(len)
}

/// Decodes the payload of a packet whose header said Hello.
pub(crate) fn decode_hello<'a>(
    packet: &'a [u8],
    header: &Header,
) -> Result<Hello<'a>, DecodeError> {
    let mut r = Reader::at(packet, HEADER_LEN);
    let model_at = r.pos();
    let model_field = r.take(MODEL_NAME_LEN, "hello.model_name")?;
    let input_width = r.u32("hello.input_width")?;
    let input_height = r.u32("hello.input_height")?;
    let source_width = r.u32("hello.source_width")?;
    let source_height = r.u32("hello.source_height")?;
    let max_at = r.pos();
    let max_detections = r.u32("hello.max_detections")?;
    let count_at = r.pos();
    let class_count = r.u32("hello.class_count")?;

    if max_detections as usize > MAX_DETECTIONS {
        let kind = DecodeErrorKind::TooMany {
            count: max_detections,
            max: MAX_DETECTIONS as u32,
        };
        return Err(DecodeError::new(max_at, "hello.max_detections", kind));
    }
    if class_count as usize > MAX_CLASSES {
        let kind = DecodeErrorKind::TooMany {
            count: class_count,
            max: MAX_CLASSES as u32,
        };
        return Err(DecodeError::new(count_at, "hello.class_count", kind));
    }
    let expected = hello_len(class_count as usize) - HEADER_LEN;
    if header.payload_length as usize != expected {
        let kind = DecodeErrorKind::LengthMismatch {
            expected,
            found: header.payload_length as usize,
        };
        return Err(DecodeError::new(count_at, "hello.class_count", kind));
    }

    let model_name = text(model_field, model_at, "hello.model_name")?;
    let records_at = r.pos();
    debug_assert_eq!(records_at, HELLO_FIXED_LEN);
    let records = r.take(CLASS_NAME_LEN * class_count as usize, "hello.class_names")?;
    validate_names(records, records_at)?;
    Ok(Hello {
        model_name,
        input_width,
        input_height,
        source_width,
        source_height,
        max_detections,
        class_names: ClassNames::wire(records),
    })
}

/// Checks every 32-byte record of `records` (which starts at packet offset `at`) is valid text.
fn validate_names(records: &[u8], at: usize) -> Result<(), DecodeError> {
    for (i, record) in records.chunks(CLASS_NAME_LEN).enumerate() {
        text(record, at + i * CLASS_NAME_LEN, "hello.class_names")?;
    }
    Ok(())
}

/// The text of a zero-padded field at packet offset `at`.
fn text<'a>(field: &'a [u8], at: usize, name: &'static str) -> Result<&'a str, DecodeError> {
    core::str::from_utf8(until_nul(field))
        .map_err(|e| DecodeError::new(at + e.valid_up_to(), name, DecodeErrorKind::InvalidUtf8))
}

fn until_nul(field: &[u8]) -> &[u8] {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    &field[..end]
}
