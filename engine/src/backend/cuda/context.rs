//! Per-stream state of the CUDA backend: every device and pinned buffer, allocated when the
//! context is made, and the frame recorded once as a CUDA graph (input copy, network, YOLO
//! decode, candidates to mapped host memory). `infer` is one graph launch and one wait.

use super::device::{driver_error, DeviceBuffer, HostBuffer};
use super::engine::CudaEngine;
use super::launch::{Candidate, Launch, Strided, CANDIDATE_HEADER};
use super::preprocess::{Camera, PreArgs, PreParams, RawFormat, Tap};
use crate::error::{Error, Result};
use crate::graph::Shape;
use cudarc::driver::sys::{self, CUstreamCaptureMode};
use cudarc::driver::{result, CudaStream};
use std::sync::Arc;

/// An instantiated CUDA graph (cudarc's CudaGraph is not Send; a context moves to its thread).
struct Graph {
    graph: sys::CUgraph,
    exec: sys::CUgraphExec,
}

// SAFETY: the handles are only used through `&mut CudaContext`, one thread at a time, as the
// driver requires for graph objects.
unsafe impl Send for Graph {}

impl Drop for Graph {
    fn drop(&mut self) {
        // SAFETY: both handles were created by `capture` and are destroyed once.
        unsafe {
            let _ = result::graph::exec_destroy(self.exec);
            let _ = result::graph::destroy(self.graph);
        }
    }
}

/// Candidates the GPU decoder keeps per frame; more are counted as overflow.
pub const CANDIDATE_CAPACITY: usize = 8192;

/// A host-to-device copy recorded into a graph.
#[derive(Clone, Copy)]
struct HostCopy {
    dst: u64,
    src: *const u8,
    bytes: usize,
}

/// The camera path: frames land in pinned memory and are preprocessed on the GPU.
struct CameraPath {
    // Field order is drop order: the graph first.
    graph: Graph,
    camera: Camera,
    frame_host: HostBuffer,
    _frame_dev: Option<DeviceBuffer>,
    _taps: [DeviceBuffer; 2],
}

pub struct CudaContext {
    // Field order is drop order: graphs before the buffers they use, the engine last.
    camera: Option<CameraPath>,
    graph: Option<Graph>,
    /// The layers alone, for timing the network apart from input and decode.
    network: Option<Graph>,
    launches: Vec<Launch>,
    /// `launches[nodes[i]]` are node i's.
    nodes: Vec<std::ops::Range<usize>>,
    arena: DeviceBuffer,
    workspace: DeviceBuffer,
    /// The f32 input binding: pinned staging the caller fills, and its device copy.
    input_host: HostBuffer,
    input_dev: DeviceBuffer,
    threshold_dev: DeviceBuffer,
    list: DeviceBuffer,
    candidates: HostBuffer,
    /// f32 copies of the YOLO heads, filled by `fetch_heads`.
    heads_dev: Vec<DeviceBuffer>,
    heads_host: Vec<HostBuffer>,
    stream: Arc<CudaStream>,
    engine: Arc<CudaEngine>,
}

impl CudaContext {
    pub fn new(engine: Arc<CudaEngine>) -> Result<CudaContext> {
        let ctx = &engine.gpu.ctx;
        let stream = ctx
            .new_stream()
            .map_err(|e| driver_error("creating a stream", e))?;
        let g = engine.graph();
        let mem = engine.memory();
        let arena = DeviceBuffer::zeroed(ctx, mem.arena_len * engine.element_size())?;
        let workspace = DeviceBuffer::zeroed(ctx, engine.workspace_bytes(None))?;
        let input_len = engine.input_len();
        let input_host = HostBuffer::zeroed(ctx, input_len * 4)?;
        let input_dev = DeviceBuffer::zeroed(ctx, input_len * 4)?;
        let threshold_dev = DeviceBuffer::zeroed(ctx, 4)?;
        let list_bytes = CANDIDATE_HEADER + CANDIDATE_CAPACITY * std::mem::size_of::<Candidate>();
        let list = DeviceBuffer::zeroed(ctx, list_bytes)?;
        // The capacity field, which the kernels read.
        // SAFETY: the buffer holds the header; synchronous copy of 4 bytes.
        unsafe { result::memcpy_htod_sync(list.ptr() + 4, &[CANDIDATE_CAPACITY as i32]) }
            .map_err(|e| driver_error("initializing the candidate list", e))?;
        let candidates = HostBuffer::zeroed(ctx, list_bytes)?;
        let mut heads_dev = Vec::new();
        let mut heads_host = Vec::new();
        for h in &g.meta.heads {
            let n = g.shape(h.tensor).len();
            heads_dev.push(DeviceBuffer::zeroed(ctx, n * 4)?);
            heads_host.push(HostBuffer::zeroed(ctx, n * 4)?);
        }

        let mut launches = Vec::new();
        let a = arena.ptr();
        let input = g.shape(g.input);
        let input_ptr = engine.tensor_ptr(a, g.input);
        if let Some(l) = engine.convert_launch(
            true,
            input_dev.ptr(),
            input_ptr,
            Strided {
                pixels: input.pixels() as i32,
                channels: input.c as i32,
                x_stride: engine.input_channels() as i32,
                y_stride: mem.placements[g.input].pixel_stride as i32,
            },
            0.0,
        )? {
            launches.push(l);
        }
        let mut nodes = Vec::with_capacity(g.nodes.len());
        for i in 0..g.nodes.len() {
            let first = launches.len();
            engine.node_launches(i, a, workspace.ptr(), None, &mut launches)?;
            nodes.push(first..launches.len());
        }
        engine.decode_launches(
            a,
            threshold_dev.ptr(),
            list.ptr(),
            candidates.device_ptr(),
            &mut launches,
        )?;
        let mut c = CudaContext {
            camera: None,
            graph: None,
            network: None,
            launches,
            nodes,
            arena,
            workspace,
            input_host,
            input_dev,
            threshold_dev,
            list,
            candidates,
            heads_dev,
            heads_host,
            stream,
            engine,
        };
        c.set_threshold(0.25)?;
        let input = HostCopy {
            dst: c.input_target(),
            src: c.input_host.as_slice::<u8>().as_ptr(),
            bytes: c.engine.input_len() * 4,
        };
        c.graph = Some(c.capture(Some(input), None, 0..c.launches.len())?);
        c.network = Some(c.capture(None, None, c.layers())?);
        Ok(c)
    }

    /// Where the input copy lands: the arena's input tensor for fp32 (no conversion), the
    /// f32 staging tensor the conversion reads otherwise.
    fn input_target(&self) -> u64 {
        if self.engine.precision() == crate::plan::Precision::Fp32 {
            self.engine
                .tensor_ptr(self.arena.ptr(), self.engine.graph().input)
        } else {
            self.input_dev.ptr()
        }
    }

    /// Records `launches[range]`, after the input copy if `with_input`, as a CUDA graph.
    fn capture(
        &self,
        copy: Option<HostCopy>,
        first: Option<&Launch>,
        range: std::ops::Range<usize>,
    ) -> Result<Graph> {
        let s = self.stream.cu_stream();
        self.stream
            .begin_capture(CUstreamCaptureMode::CU_STREAM_CAPTURE_MODE_THREAD_LOCAL)
            .map_err(|e| driver_error("starting graph capture", e))?;
        let recorded = (|| -> Result<()> {
            if let Some(c) = copy {
                // SAFETY: source and destination hold `bytes` bytes and live as long as the
                // graph (both belong to this context).
                unsafe { sys::cuMemcpyHtoDAsync_v2(c.dst, c.src.cast(), c.bytes, s) }
                    .result()
                    .map_err(|e| driver_error("recording the input copy", e))?;
            }
            if let Some(l) = first {
                l.record(&self.stream).map_err(|e| {
                    driver_error(&describe("the camera preprocessing kernel", l), e)
                })?;
            }
            for i in range {
                let l = &self.launches[i];
                l.record(&self.stream)
                    .map_err(|e| driver_error(&describe(&self.whose(i), l), e))?;
            }
            Ok(())
        })();
        // SAFETY: ends the capture begun above on this stream.
        let ended = unsafe { result::stream::end_capture(s) }
            .map_err(|e| driver_error("ending graph capture", e));
        // A failed launch invalidates the capture; its own error says which and why.
        if let Err(e) = recorded {
            if let Some(graph) = ended.ok().filter(|g| !g.is_null()) {
                // SAFETY: captured above, never instantiated, destroyed once.
                let _ = unsafe { result::graph::destroy(graph) };
            }
            return Err(e);
        }
        let graph = ended?;
        if graph.is_null() {
            return Err(Error::Device("CUDA graph capture was empty".into()));
        }
        // SAFETY: `graph` is the complete graph just captured.
        match unsafe { result::graph::instantiate(graph, sys::CUgraphInstantiate_flags(0)) } {
            Ok(exec) => Ok(Graph { graph, exec }),
            Err(e) => {
                // SAFETY: not instantiated, destroyed once.
                let _ = unsafe { result::graph::destroy(graph) };
                Err(driver_error("instantiating the CUDA graph", e))
            }
        }
    }

    /// Whose launch `i` is, for an error: a node with its conv tactic, or the conversion or
    /// decode around them.
    fn whose(&self, i: usize) -> String {
        let e = &self.engine;
        match self.nodes.iter().position(|r| r.contains(&i)) {
            Some(n) => {
                let tactic = e
                    .tactic(n)
                    .map_or(String::new(), |t| format!(", {}", t.name(e.arith(n))));
                format!("a kernel of node {n} ({}{tactic})", e.graph().nodes[n].name)
            }
            None if self.nodes.first().is_some_and(|r| i < r.start) => {
                "the input conversion".to_string()
            }
            None => "the decode".to_string(),
        }
    }

    /// The launches of the layers and the decode (after the input conversion).
    fn layers(&self) -> std::ops::Range<usize> {
        self.nodes.first().map_or(0, |r| r.start)..self.nodes.last().map_or(0, |r| r.end)
    }

    /// Makes `infer_camera` take frames of `camera` (pinned staging, taps on the device, a
    /// graph: frame copy, or zero-copy reads on an integrated GPU -> preprocess -> layers ->
    /// decode). Nothing is allocated when the camera is the one already set.
    pub fn set_camera(&mut self, camera: &Camera) -> Result<()> {
        if self.camera.as_ref().is_some_and(|c| &c.camera == camera) {
            return Ok(());
        }
        check_camera(camera, self.engine.graph().shape(self.engine.graph().input))?;
        self.camera = None;
        let ctx = &self.engine.gpu.ctx;
        let frame_host = HostBuffer::zeroed(ctx, camera.bytes)?;
        let integrated = self.engine.gpu.info.integrated;
        let frame_dev = if integrated {
            None
        } else {
            Some(DeviceBuffer::zeroed(ctx, camera.bytes)?)
        };
        let taps = [
            DeviceBuffer::from_slice(ctx, &camera.rows)?,
            DeviceBuffer::from_slice(ctx, &camera.cols)?,
        ];
        let g = self.engine.graph();
        let input = g.shape(g.input);
        let src = frame_dev
            .as_ref()
            .map_or(frame_host.device_ptr(), DeviceBuffer::ptr);
        let pre = self.engine.preprocess_launch(PreArgs {
            src,
            rows: taps[0].ptr(),
            cols: taps[1].ptr(),
            out: self.engine.tensor_ptr(self.arena.ptr(), g.input),
            q: PreParams {
                format: camera.format as i32,
                width: camera.width as i32,
                height: camera.height as i32,
                stride: camera.stride as i32,
                net_w: input.w as i32,
                net_h: input.h as i32,
                out_stride: self.engine.memory().placements[g.input].pixel_stride as i32,
                out_channels: input.c as i32,
                scale: camera.scale,
                offset: camera.offset,
                pad: camera.pad,
            },
        })?;
        let copy = frame_dev.as_ref().map(|d| HostCopy {
            dst: d.ptr(),
            src: frame_host.as_slice::<u8>().as_ptr(),
            bytes: camera.bytes,
        });
        let graph = self.capture(copy, Some(&pre), self.layers())?;
        self.camera = Some(CameraPath {
            graph,
            camera: camera.clone(),
            frame_host,
            _frame_dev: frame_dev,
            _taps: taps,
        });
        Ok(())
    }

    /// Where the next camera frame's bytes go (after `set_camera`).
    pub fn camera_frame_mut(&mut self) -> Option<&mut [u8]> {
        let c = self.camera.as_mut()?;
        let n = c.camera.bytes;
        Some(&mut c.frame_host.as_mut_slice::<u8>()[..n])
    }

    /// One camera frame: preprocessing, network and decode as one graph. Allocates nothing.
    pub fn infer_camera(&mut self) -> Result<()> {
        let c = self
            .camera
            .as_ref()
            .ok_or_else(|| Error::Input("infer_camera before set_camera".into()))?;
        self.replay(Some(&c.graph))
    }

    /// The f32 NHWC input binding, to fill before `infer`.
    pub fn input_mut(&mut self) -> &mut [f32] {
        let n = self.engine.input_len();
        &mut self.input_host.as_mut_slice::<f32>()[..n]
    }

    /// The decoder's confidence threshold (a device value: no new graph needed).
    pub fn set_threshold(&mut self, t: f32) -> Result<()> {
        // SAFETY: 4 bytes into a 4-byte device buffer; synchronous, before any launch reads it.
        unsafe { result::memcpy_htod_sync(self.threshold_dev.ptr(), &[t]) }
            .map_err(|e| driver_error("setting the threshold", e))
    }

    /// One frame: graph launch, wait. Allocates nothing.
    pub fn infer(&mut self) -> Result<()> {
        self.replay(self.graph.as_ref())
    }

    /// The layers alone (no input copy, no decode), for benchmarks.
    pub fn infer_network(&mut self) -> Result<()> {
        self.replay(self.network.as_ref())
    }

    fn replay(&self, graph: Option<&Graph>) -> Result<()> {
        let graph = graph.ok_or_else(|| Error::Device("no CUDA graph".into()))?;
        // SAFETY: the graph's buffers are owned by this context and alive.
        unsafe { result::graph::launch(graph.exec, self.stream.cu_stream()) }
            .map_err(|e| driver_error("launching the frame", e))?;
        self.stream
            .synchronize()
            .map_err(|e| driver_error("running the frame", e))
    }

    /// The candidates of the last `infer` and how many the GPU found (more than the slice
    /// holds when it overflowed).
    pub fn candidates(&self) -> (&[Candidate], usize) {
        let header = self.candidates.as_slice::<i32>();
        let found = header[0].max(0) as usize;
        let items: &[Candidate] =
            bytemuck::cast_slice(&self.candidates.as_slice::<u8>()[CANDIDATE_HEADER..]);
        (&items[..found.min(CANDIDATE_CAPACITY)], found)
    }

    /// Tensor `t` of the last `infer` as contiguous f32 NHWC in `out`: what calibration
    /// measures, and what tests compare. FP16 values are converted, int8 ones dequantized
    /// (`q * s`, the CPU backend's values for them). Copies through the host; not for the
    /// per-frame path.
    pub fn read_tensor(&mut self, t: usize, out: &mut Vec<f32>) -> Result<()> {
        let engine = Arc::clone(&self.engine);
        let shape = engine.graph().shape(t);
        let stride = engine.memory().placements[t].pixel_stride;
        let span = engine.memory().span(engine.graph(), t);
        let scale = engine.scale(t);
        let esize = if scale.is_some() {
            1
        } else {
            engine.element_size()
        };
        let mut raw = vec![0u8; span * esize];
        self.stream
            .synchronize()
            .map_err(|e| driver_error("finishing the frame", e))?;
        // SAFETY: `raw` holds the `span` elements the tensor covers in the arena, and the
        // stream that wrote them has finished.
        unsafe {
            result::memcpy_dtoh_sync(
                &mut raw,
                engine.tensor_ptr(self.arena.ptr(), t) as sys::CUdeviceptr,
            )
        }
        .map_err(|e| driver_error("reading a tensor", e))?;
        out.clear();
        for p in raw.chunks(stride * esize) {
            let p = &p[..shape.c * esize];
            match (scale, esize) {
                (Some(s), _) => out.extend(p.iter().map(|&q| f32::from(q as i8) * s)),
                (None, 2) => out.extend(
                    p.chunks_exact(2)
                        .map(|h| half::f16::from_le_bytes([h[0], h[1]]).to_f32()),
                ),
                (None, _) => out.extend(
                    p.chunks_exact(4)
                        .map(|f| f32::from_le_bytes([f[0], f[1], f[2], f[3]])),
                ),
            }
        }
        Ok(())
    }

    /// Copies the YOLO heads of the last `infer` to the host as f32 (for `head`).
    pub fn fetch_heads(&mut self) -> Result<()> {
        let engine = Arc::clone(&self.engine);
        let g = engine.graph();
        let s = self.stream.cu_stream();
        for (i, h) in g.meta.heads.iter().enumerate() {
            let shape = g.shape(h.tensor);
            let src = engine.tensor_ptr(self.arena.ptr(), h.tensor);
            let stride = engine.memory().placements[h.tensor].pixel_stride;
            let dev = self.heads_dev[i].ptr();
            let layer = Strided {
                pixels: shape.pixels() as i32,
                channels: shape.c as i32,
                x_stride: stride as i32,
                y_stride: shape.c as i32,
            };
            let scale = engine.scale(h.tensor).unwrap_or(0.0);
            match engine.convert_launch(false, src, dev, layer, scale)? {
                Some(l) => l
                    .record(&self.stream)
                    .map_err(|e| driver_error("converting a head", e))?,
                None if stride == shape.c => {
                    // SAFETY: both hold the head's bytes; ordered on the stream.
                    unsafe { result::memcpy_dtod_async(dev, src, shape.len() * 4, s) }
                        .map_err(|e| driver_error("copying a head", e))?
                }
                None => {
                    return Err(Error::Unsupported(
                        "an fp32 head that is a channel window of a wider tensor".into(),
                    ))
                }
            }
            let host = self.heads_host[i].as_mut_slice::<u8>();
            let n = shape.len() * 4;
            // SAFETY: `host` is pinned and holds `n` bytes; the stream is synchronized below.
            unsafe { result::memcpy_dtoh_async(&mut host[..n], dev, s) }
                .map_err(|e| driver_error("reading a head", e))?;
        }
        self.stream
            .synchronize()
            .map_err(|e| driver_error("reading the heads", e))
    }

    /// YOLO head `i` as of the last `fetch_heads`.
    pub fn head(&self, i: usize) -> (&[f32], Shape) {
        let g = self.engine.graph();
        let shape = g.shape(g.meta.heads[i].tensor);
        (&self.heads_host[i].as_slice::<f32>()[..shape.len()], shape)
    }

    /// Runs the frame's layers one by one (launched back to back, events between them),
    /// adding each node's GPU time in ms to `times[node]`.
    pub fn infer_profiled(&mut self, times: &mut [f64]) -> Result<()> {
        let s = self.stream.cu_stream();
        let n = self.nodes.len();
        let events: Vec<sys::CUevent> = (0..=n)
            .map(|_| result::event::create(sys::CUevent_flags::CU_EVENT_DEFAULT))
            .collect::<Result<_, _>>()
            .map_err(|e| driver_error("creating events", e))?;
        let run = (|| -> Result<()> {
            self.infer()?;
            for (range, ev) in self.nodes.iter().zip(&events) {
                // SAFETY: the event and stream belong to this context.
                unsafe { result::event::record(*ev, s) }
                    .map_err(|e| driver_error("recording an event", e))?;
                for l in &self.launches[range.clone()] {
                    l.record(&self.stream)
                        .map_err(|e| driver_error("launching", e))?;
                }
            }
            // SAFETY: as above.
            unsafe { result::event::record(events[n], s) }
                .map_err(|e| driver_error("recording an event", e))?;
            self.stream
                .synchronize()
                .map_err(|e| driver_error("profiling", e))?;
            for i in 0..n {
                // SAFETY: both events were recorded and completed.
                let ms = unsafe { result::event::elapsed(events[i], events[i + 1]) }
                    .map_err(|e| driver_error("reading an event", e))?;
                if let Some(t) = times.get_mut(i) {
                    *t += ms as f64;
                }
            }
            Ok(())
        })();
        for ev in events {
            // SAFETY: created above, destroyed once.
            let _ = unsafe { result::event::destroy(ev) };
        }
        run
    }

    /// Device memory this context and its engine hold, in bytes.
    pub fn device_bytes(&self) -> usize {
        self.engine.weight_bytes()
            + self.arena.bytes()
            + self.workspace.bytes()
            + self.input_dev.bytes()
            + self.threshold_dev.bytes()
            + self.list.bytes()
            + self
                .heads_dev
                .iter()
                .map(DeviceBuffer::bytes)
                .sum::<usize>()
    }
}

/// The taps must stay inside the frame and the frame's bytes must cover its rows: the kernel
/// trusts both.
fn check_camera(c: &Camera, net: Shape) -> Result<()> {
    let bpp = match c.format {
        RawFormat::Rgb24 | RawFormat::Bgr24 => 3,
        RawFormat::Yuyv | RawFormat::Uyvy => 2,
        RawFormat::Grey | RawFormat::Nv12 => 1,
    };
    let rows = match c.format {
        RawFormat::Nv12 => c.height + c.height.div_ceil(2),
        _ => c.height,
    };
    let bad = |what: String| Err(Error::Input(format!("camera {c:?}: {what}")));
    if c.width == 0 || c.height == 0 || c.stride < c.width * bpp {
        return bad(format!(
            "stride {} below {} bytes per row",
            c.stride,
            c.width * bpp
        ));
    }
    if c.bytes < c.stride * rows {
        return bad(format!(
            "{} bytes, the frame needs {}",
            c.bytes,
            c.stride * rows
        ));
    }
    if c.rows.len() != net.h || c.cols.len() != net.w {
        return bad(format!(
            "taps for {}x{}, the network takes {}x{}",
            c.cols.len(),
            c.rows.len(),
            net.w,
            net.h
        ));
    }
    let inside = |taps: &[Tap], n: usize| {
        taps.iter().all(|t| {
            *t == Tap::BAR || (t.lo >= 0 && t.hi >= 0 && (t.lo as usize) < n && (t.hi as usize) < n)
        })
    };
    if !inside(&c.rows, c.height) || !inside(&c.cols, c.width) {
        return bad("a tap outside the frame".into());
    }
    Ok(())
}

/// An error's account of recording `l`, the launch of `what`.
fn describe(what: &str, l: &Launch) -> String {
    format!(
        "recording {what} (grid {:?}, {} threads, {} bytes of dynamic shared memory)",
        l.grid, l.block, l.shared
    )
}
