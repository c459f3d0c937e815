//! Little-endian cursors over a packet: a bounds-checked reader whose errors name the packet
//! offset and field, and a writer for buffers whose length the encoder has already checked.

use crate::error::{DecodeError, DecodeErrorKind};

pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader at `pos` of the whole packet (so offsets in errors are packet offsets).
    pub(crate) fn at(bytes: &'a [u8], pos: usize) -> Self {
        Reader { bytes, pos }
    }

    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    pub(crate) fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], DecodeError> {
        let truncated = |needed| {
            DecodeError::new(
                self.pos,
                field,
                DecodeErrorKind::Truncated {
                    needed,
                    len: self.bytes.len(),
                },
            )
        };
        let end = self
            .pos
            .checked_add(n)
            .ok_or_else(|| truncated(usize::MAX))?;
        let slice = self
            .bytes
            .get(self.pos..end)
            .ok_or_else(|| truncated(end))?;
        self.pos = end;
        Ok(slice)
    }

    pub(crate) fn array<const N: usize>(
        &mut self,
        field: &'static str,
    ) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, field)?);
        Ok(out)
    }

    pub(crate) fn u16(&mut self, field: &'static str) -> Result<u16, DecodeError> {
        self.array(field).map(u16::from_le_bytes)
    }

    pub(crate) fn u32(&mut self, field: &'static str) -> Result<u32, DecodeError> {
        self.array(field).map(u32::from_le_bytes)
    }

    pub(crate) fn u64(&mut self, field: &'static str) -> Result<u64, DecodeError> {
        self.array(field).map(u64::from_le_bytes)
    }

    /// An `f32` that must be finite.
    pub(crate) fn finite_f32(&mut self, field: &'static str) -> Result<f32, DecodeError> {
        let at = self.pos;
        let value = f32::from_le_bytes(self.array(field)?);
        if value.is_finite() {
            Ok(value)
        } else {
            let bits = value.to_bits();
            Err(DecodeError::new(
                at,
                field,
                DecodeErrorKind::NonFinite { bits },
            ))
        }
    }
}

/// Writes into a buffer at least as long as everything written (the encoders check first).
pub(crate) struct Writer<'a> {
    buf: &'a mut [u8],
    pos: usize,
}

impl<'a> Writer<'a> {
    pub(crate) fn new(buf: &'a mut [u8]) -> Self {
        Writer { buf, pos: 0 }
    }

    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    pub(crate) fn bytes(&mut self, bytes: &[u8]) {
        self.buf[self.pos..self.pos + bytes.len()].copy_from_slice(bytes);
        self.pos += bytes.len();
    }

    /// `text` then zeros up to `len` bytes; `text` must not be longer than `len`.
    pub(crate) fn padded(&mut self, text: &[u8], len: usize) {
        let field = &mut self.buf[self.pos..self.pos + len];
        field[..text.len()].copy_from_slice(text);
        field[text.len()..].fill(0);
        self.pos += len;
    }

    pub(crate) fn u16(&mut self, v: u16) {
        self.bytes(&v.to_le_bytes());
    }

    pub(crate) fn u32(&mut self, v: u32) {
        self.bytes(&v.to_le_bytes());
    }

    pub(crate) fn u64(&mut self, v: u64) {
        self.bytes(&v.to_le_bytes());
    }

    pub(crate) fn f32(&mut self, v: f32) {
        self.bytes(&v.to_le_bytes());
    }

    /// Overwrites a `u32` at `pos` (a count known only after the records are written).
    pub(crate) fn patch_u32(&mut self, pos: usize, v: u32) {
        self.buf[pos..pos + 4].copy_from_slice(&v.to_le_bytes());
    }
}
