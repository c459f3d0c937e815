//! The mmap buffer ring: REQBUFS/QUERYBUF/mmap once, then DQBUF -> frame -> QBUF per frame
//! with nothing allocated, and a `Drop` that never panics.

use super::*;

/// One mapped driver buffer.
pub(super) struct Mapping {
    pub(super) ptr: NonNull<c_void>,
    pub(super) len: usize,
}

/// A dequeued buffer: what the driver says about it.
pub(super) struct Dequeued {
    pub(super) index: u32,
    pub(super) bytesused: u32,
    pub(super) flags: u32,
    pub(super) timestamp: Timeval,
    pub(super) sequence: u32,
}

pub(super) struct Timeval {
    pub(super) tv_sec: i64,
    pub(super) tv_usec: i64,
}

/// The driver's mmap buffers and the stream over them. Owns the device handle, so dropping it
/// stops the stream, unmaps, frees the buffers and closes the device, in that order.
pub(super) struct Buffers {
    pub(super) handle: Arc<Handle>,
    pub(super) maps: Vec<Mapping>,
    pub(super) streaming: bool,
}

// SAFETY: the mappings are plain shared memory owned by this value alone; nothing about them is
// tied to the thread that created them, and `&self` methods only read through them.
unsafe impl Send for Buffers {}

impl Buffers {
    pub(super) fn request(handle: Arc<Handle>, count: u32) -> io::Result<Buffers> {
        let mut buffers = Buffers {
            handle,
            maps: Vec::new(),
            streaming: false,
        };
        let granted = buffers.reqbufs(count)?;
        if granted == 0 {
            return Err(io::Error::new(
                io::ErrorKind::OutOfMemory,
                "the driver granted no buffers",
            ));
        }
        buffers.maps.reserve_exact(granted as usize);
        for index in 0..granted {
            let mut buf = buffer_desc(index);
            // SAFETY: VIDIOC_QUERYBUF takes a v4l2_buffer.
            unsafe { buffers.ioctl(v4l2::vidioc::VIDIOC_QUERYBUF, &mut buf) }?;
            // SAFETY: for MMAP buffers QUERYBUF fills `m.offset`; reading a u32 union member
            // written by the kernel is sound.
            let offset = unsafe { buf.m.offset };
            let len = buf.length as usize;
            // SAFETY: maps `len` bytes of the device at the offset the driver just named; the
            // kernel checks both, and the new mapping aliases no Rust memory.
            let ptr = unsafe {
                v4l2::mmap(
                    std::ptr::null_mut(),
                    len,
                    nix::libc::PROT_READ,
                    nix::libc::MAP_SHARED,
                    buffers.handle.fd(),
                    offset as nix::libc::off_t,
                )
            }?;
            let ptr = NonNull::new(ptr).ok_or_else(|| io::Error::other("mmap returned null"))?;
            buffers.maps.push(Mapping { ptr, len });
        }
        Ok(buffers)
    }

    /// Queues every buffer and starts streaming.
    pub(super) fn start(&mut self) -> io::Result<()> {
        for index in 0..self.maps.len() as u32 {
            self.queue(index)?;
        }
        self.stream(true)
    }

    /// Asks the driver for `count` buffers (0: frees them); returns how many it granted.
    fn reqbufs(&self, count: u32) -> io::Result<u32> {
        let mut req = v4l2_requestbuffers {
            count,
            type_: BufType::VideoCapture as u32,
            memory: Memory::Mmap as u32,
            // SAFETY: a plain C struct of integers; all zeroes is a valid value.
            ..unsafe { std::mem::zeroed() }
        };
        // SAFETY: VIDIOC_REQBUFS takes a v4l2_requestbuffers.
        unsafe { self.ioctl(v4l2::vidioc::VIDIOC_REQBUFS, &mut req) }?;
        Ok(req.count)
    }

    fn stream(&mut self, on: bool) -> io::Result<()> {
        let mut typ = BufType::VideoCapture as c_int;
        let request = if on {
            v4l2::vidioc::VIDIOC_STREAMON
        } else {
            v4l2::vidioc::VIDIOC_STREAMOFF
        };
        // SAFETY: VIDIOC_STREAMON and VIDIOC_STREAMOFF take an int, the buffer type.
        unsafe { self.ioctl(request, &mut typ) }?;
        self.streaming = on;
        Ok(())
    }

    pub(super) fn queue(&self, index: u32) -> io::Result<()> {
        let mut buf = buffer_desc(index);
        // SAFETY: VIDIOC_QBUF takes a v4l2_buffer.
        unsafe { self.ioctl(v4l2::vidioc::VIDIOC_QBUF, &mut buf) }
    }

    /// Takes a filled buffer from the driver (the device is non-blocking: WouldBlock if none).
    pub(super) fn dequeue(&self) -> io::Result<Dequeued> {
        let mut buf = buffer_desc(0);
        // SAFETY: VIDIOC_DQBUF takes a v4l2_buffer.
        unsafe { self.ioctl(v4l2::vidioc::VIDIOC_DQBUF, &mut buf) }?;
        if buf.index as usize >= self.maps.len() {
            return Err(io::Error::other(format!(
                "the driver returned buffer {}",
                buf.index
            )));
        }
        // `as`: the timeval fields are 32-bit on 32-bit targets.
        #[allow(clippy::unnecessary_cast)]
        let timestamp = Timeval {
            tv_sec: buf.timestamp.tv_sec as i64,
            tv_usec: buf.timestamp.tv_usec as i64,
        };
        Ok(Dequeued {
            index: buf.index,
            bytesused: buf.bytesused,
            flags: buf.flags,
            timestamp,
            sequence: buf.sequence,
        })
    }

    /// The first `len` bytes of a dequeued buffer (`len` at most the mapping's length).
    pub(super) fn bytes(&self, index: u32, len: usize) -> &[u8] {
        let map = &self.maps[index as usize];
        let len = len.min(map.len);
        // SAFETY: the mapping is `map.len` readable bytes and lives as long as `self`; between
        // DQBUF and the next QBUF of this index the driver does not write to it, and the caller
        // queues it again only after the returned slice is gone.
        unsafe { std::slice::from_raw_parts(map.ptr.as_ptr().cast::<u8>(), len) }
    }

    /// One ioctl on the device, retried when a signal interrupts it.
    ///
    /// # Safety
    /// `request` must be an ioctl whose argument videodev2.h declares as a `T`.
    unsafe fn ioctl<T>(&self, request: v4l2::vidioc::_IOC_TYPE, arg: &mut T) -> io::Result<()> {
        loop {
            // SAFETY: `request` takes a `T` (the caller's promise), and `arg` is a live,
            // exclusive one for the duration of the call.
            let r =
                unsafe { v4l2::ioctl(self.handle.fd(), request, (arg as *mut T).cast::<c_void>()) };
            match r {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                r => return r,
            }
        }
    }
}

fn buffer_desc(index: u32) -> v4l2_buffer {
    v4l2_buffer {
        index,
        type_: BufType::VideoCapture as u32,
        memory: Memory::Mmap as u32,
        // SAFETY: a plain C struct of integers, a timeval and a union of an integer and
        // pointers; all zeroes is a valid value of each.
        ..unsafe { std::mem::zeroed() }
    }
}

impl Drop for Buffers {
    fn drop(&mut self) {
        // Errors are expected here when the device is gone (ENODEV); there is nothing to do
        // about any of them, and closing the device frees the buffers in any case.
        if self.streaming {
            let _ = self.stream(false);
        }
        for map in self.maps.drain(..) {
            // SAFETY: unmaps exactly a mapping `request` made; no slice into it outlives `&self`.
            let _ = unsafe { v4l2::munmap(map.ptr.as_ptr(), map.len) };
        }
        let _ = self.reqbufs(0);
    }
}
