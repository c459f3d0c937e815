//! `infer` and the decode + NMS that follows it allocate nothing once the context exists,
//! counted by a global allocator across every thread (the worker pool included).

mod common;
use common::*;
use edge_engine::plan::Precision;
use edge_engine::yolo::{DecodeParams, Detections, Letterbox, Postprocessor};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// The counter sees every thread, so the tests of this file run one at a time: one building
/// an engine must not allocate while another counts.
fn alone() -> std::sync::MutexGuard<'static, ()> {
    static ONE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    ONE.lock().unwrap_or_else(|e| e.into_inner())
}

#[test]
fn a_thousand_frames_allocate_nothing() {
    let _alone = alone();
    // Every op kind, views, residuals, two heads; small so the test is quick.
    thousand_frames(engine(
        graph("engine/tests/fixtures/allops.cfg", None, 1),
        &edge_engine::optimize::Pass::ALL,
    ));
}

#[test]
fn a_thousand_cpu_int8_frames_allocate_nothing() {
    let _alone = alone();
    thousand_frames(allops_int8(edge_engine::Device::Cpu));
}

/// allops as INT8: int8 buffers, INT8 and float convs, requantizing layers (and on a GPU the
/// split-K workspace if tuned), scales from one random input.
fn allops_int8(device: edge_engine::Device) -> edge_engine::Engine {
    let g = edge_engine::Builder::default()
        .optimize(graph("engine/tests/fixtures/allops.cfg", None, 1))
        .unwrap();
    let mut rng = edge_engine::rng::SplitMix64::new(5);
    let calibration: Vec<f32> = (0..g.shape(g.input).len()).map(|_| rng.unit()).collect();
    let scales = int8_scales(&g, &calibration);
    int8_engine(g, device, scales)
}

#[test]
fn a_thousand_cuda_frames_allocate_nothing() {
    let _alone = alone();
    if !gpu_or_skip("a_thousand_cuda_frames_allocate_nothing") {
        return;
    }
    for precision in [Precision::Fp32, Precision::Fp16] {
        thousand_frames(cuda_engine(
            graph("engine/tests/fixtures/allops.cfg", None, 1),
            precision,
        ));
    }
    thousand_frames(allops_int8(edge_engine::Device::Cuda(0)));
}

fn thousand_frames(engine: edge_engine::Engine) {
    let mut ctx = engine.context(2).unwrap();
    let input = random_input(&engine, 5);
    let meta = engine.meta().clone();
    let lb = Letterbox::new(640, 480, meta.input.w, meta.input.h, true);
    let params = DecodeParams::default();
    ctx.set_threshold(params.conf_threshold).unwrap();
    let mut post = Postprocessor::new(4096);
    let mut dets = Detections::new();
    let (allocations, found) = ctx.run(|ctx| {
        let mut frame = |ctx: &mut edge_engine::Context, dets: &mut Detections| {
            ctx.input_mut().copy_from_slice(&input);
            ctx.infer().unwrap();
            ctx.detect(&mut post, &meta, &lb, &params, dets);
        };
        for _ in 0..10 {
            frame(ctx, &mut dets);
        }
        let before = ALLOCATIONS.load(Ordering::SeqCst);
        for _ in 0..1000 {
            frame(ctx, &mut dets);
        }
        (ALLOCATIONS.load(Ordering::SeqCst) - before, dets.len())
    });
    assert!(
        found > 0,
        "the frames should produce detections for decode to do real work"
    );
    assert_eq!(allocations, 0, "{allocations} allocations in 1000 frames");
}

#[test]
fn the_counter_sees_allocations() {
    let _alone = alone();
    let before = ALLOCATIONS.load(Ordering::SeqCst);
    let v = std::hint::black_box(vec![1u8; 100]);
    assert!(ALLOCATIONS.load(Ordering::SeqCst) > before);
    drop(v);
}
