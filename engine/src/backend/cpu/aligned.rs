//! Float buffers that start on a 64-byte boundary. The allocator only promises 16 bytes, and
//! an AVX-512 load that straddles two cache lines costs twice; over-allocating a cache line
//! and starting at the first aligned element avoids that without any `unsafe`.

const LINE_FLOATS: usize = 16;

#[derive(Debug)]
pub struct AlignedBuf {
    data: Vec<f32>,
    start: usize,
    len: usize,
}

impl AlignedBuf {
    pub fn zeroed(len: usize) -> AlignedBuf {
        let data = vec![0.0f32; len + LINE_FLOATS];
        let misalign = (data.as_ptr() as usize / 4) % LINE_FLOATS;
        let start = (LINE_FLOATS - misalign) % LINE_FLOATS;
        AlignedBuf { data, start, len }
    }

    pub fn as_slice(&self) -> &[f32] {
        &self.data[self.start..self.start + self.len]
    }

    pub fn as_mut_slice(&mut self) -> &mut [f32] {
        &mut self.data[self.start..self.start + self.len]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_on_a_cache_line() {
        for len in [1, 15, 16, 1000, 123_457] {
            let mut b = AlignedBuf::zeroed(len);
            assert_eq!(b.as_slice().as_ptr() as usize % 64, 0);
            assert_eq!(b.as_mut_slice().len(), len);
        }
    }
}
