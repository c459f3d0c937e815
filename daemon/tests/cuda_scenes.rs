//! The CUDA backend on what the daemon feeds it: synthetic camera scenes through the demo
//! model. The GPU decoder must find exactly what the CPU decoder finds in the same heads, and
//! FP16 detections must match FP32 ones. Skipped, with a line saying so, without a GPU.

use edge_engine::import::darknet::{self, weights};
use edge_engine::plan::Precision;
use edge_engine::yolo::{iou, DecodeParams, Detections, Postprocessor};
use edge_engine::{Builder, Device, Engine};
use edge_infer::convert::{encode_rgb, Converter};
use edge_infer::frame::{Frame, PixelFormat};
use edge_infer::scene::Scene;
use std::io::Write;
use std::path::Path;

fn demo(precision: Precision) -> Engine {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let root = std::env::var_os("EDGE_INFER_REPO").map_or(root, Into::into);
    let model = darknet::load_cfg(&root.join("models/shapes/shapes.cfg"), None).unwrap();
    let bytes = std::fs::read(root.join("models/shapes/shapes.weights")).unwrap();
    let params = weights::parse(&model, "shapes.weights", &bytes).unwrap();
    let graph = model.with_params(&params).unwrap();
    let builder = Builder {
        device: Device::Cuda(0),
        precision,
        ..Builder::default()
    };
    Engine::from_plan(builder.build(graph, &mut |_| {}).unwrap()).unwrap()
}

#[test]
fn gpu_decode_and_fp16_match_on_camera_scenes() {
    if let Err(e) = edge_engine::backend::cuda::Gpu::open(0) {
        let _ = writeln!(std::io::stderr(), "skipped: no CUDA device ({e})");
        return;
    }
    let (w, h) = (1280, 720);
    let fp32 = demo(Precision::Fp32);
    let fp16 = demo(Precision::Fp16);
    let meta = fp32.meta().clone();
    let params = DecodeParams::default();
    let mut c32 = fp32.context(0).unwrap();
    let mut c16 = fp16.context(0).unwrap();
    let mut conv = Converter::new(PixelFormat::Yuyv, w, h, &meta).unwrap();
    let (mut rgb, mut yuyv) = (vec![0u8; w * h * 3], vec![0u8; w * h * 2]);
    let (mut matched, mut total) = (0, 0);
    for seed in 0..40 {
        Scene::random(seed, w, h, 6).render(&mut rgb);
        encode_rgb(&rgb, w, h, PixelFormat::Yuyv, w * 2, &mut yuyv);
        let frame = Frame {
            format: PixelFormat::Yuyv,
            width: w,
            height: h,
            stride: w * 2,
            data: &yuyv,
            timestamp_ns: 0,
            sequence: seed,
        };
        let mut dets = [Detections::new(), Detections::new()];
        for (ctx, out) in [&mut c32, &mut c16].into_iter().zip(&mut dets) {
            ctx.set_threshold(params.conf_threshold).unwrap();
            conv.fill(&frame, ctx.input_mut()).unwrap();
            ctx.infer().unwrap();
            let mut post = Postprocessor::new(8192);
            ctx.detect(&mut post, &meta, &conv.letterbox, &params, out);
            assert_eq!(post.overflow, 0);
            // The same heads through the CPU decoder.
            ctx.fetch_heads().unwrap();
            let mut on_cpu = Detections::new();
            Postprocessor::new(8192).run(
                &meta,
                |i| ctx.head(i),
                &conv.letterbox,
                &params,
                &mut on_cpu,
            );
            assert_eq!(
                out.len(),
                on_cpu.len(),
                "scene {seed}: {out:?}\nCPU {on_cpu:?}"
            );
            for (g, c) in out.iter().zip(&on_cpu) {
                assert_eq!(g.class, c.class, "scene {seed}");
                assert!(
                    (g.score - c.score).abs() < 1e-5,
                    "scene {seed}: {g:?} vs {c:?}"
                );
                let b = |d: &edge_engine::yolo::Detection| [d.x1, d.y1, d.x2, d.y2];
                assert!(iou(b(g), b(c)) > 0.999, "scene {seed}: {g:?} vs {c:?}");
            }
        }
        let [d32, d16] = &dets;
        total += d32.len();
        matched += d32
            .iter()
            .filter(|a| {
                d16.iter().any(|b| {
                    a.class == b.class
                        && iou([a.x1, a.y1, a.x2, a.y2], [b.x1, b.y1, b.x2, b.y2]) >= 0.9
                })
            })
            .count();
    }
    let share = matched as f64 / total as f64;
    let _ = writeln!(
        std::io::stderr(),
        "FP16 matches {matched} of {total} FP32 detections at IoU >= 0.9 ({:.2}%)",
        100.0 * share
    );
    assert!(
        total > 40,
        "the demo model should find the shapes ({total})"
    );
    assert!(share >= 0.99, "{matched} of {total}");
}

/// Camera frames preprocessed on the GPU give the network the input the CPU converter gives
/// it: every packed format, letterboxed from 1280x720 (and a padded row stride).
#[test]
fn gpu_preprocessing_matches_the_cpu_converter() {
    if let Err(e) = edge_engine::backend::cuda::Gpu::open(0) {
        let _ = writeln!(std::io::stderr(), "skipped: no CUDA device ({e})");
        return;
    }
    let (w, h) = (1280, 720);
    for precision in [Precision::Fp32, Precision::Fp16] {
        let engine = demo(precision);
        let meta = engine.meta().clone();
        let mut ctx = engine.context(0).unwrap();
        let mut rgb = vec![0u8; w * h * 3];
        Scene::random(7, w, h, 6).render(&mut rgb);
        for format in [
            PixelFormat::Yuyv,
            PixelFormat::Uyvy,
            PixelFormat::Nv12,
            PixelFormat::Rgb24,
            PixelFormat::Bgr24,
            PixelFormat::Grey,
        ] {
            let stride = w * format.bytes_per_pixel() + 64;
            let mut data = vec![0u8; format.frame_len(w, h, stride)];
            encode_rgb(&rgb, w, h, format, stride, &mut data);
            let frame = Frame {
                format,
                width: w,
                height: h,
                stride,
                data: &data,
                timestamp_ns: 0,
                sequence: 0,
            };
            let mut conv = Converter::new(format, w, h, &meta).unwrap();
            conv.fill(&frame, ctx.input_mut()).unwrap();
            ctx.infer().unwrap();
            ctx.fetch_heads().unwrap();
            let want: Vec<Vec<f32>> = (0..meta.heads.len())
                .map(|i| ctx.head(i).0.to_vec())
                .collect();
            let camera = conv.gpu_camera(stride, data.len()).unwrap();
            assert!(ctx.set_camera(&camera).unwrap());
            ctx.camera_frame_mut().unwrap().copy_from_slice(&data);
            ctx.infer_camera().unwrap();
            ctx.fetch_heads().unwrap();
            for (i, want) in want.iter().enumerate() {
                let got = ctx.head(i).0;
                let num: f64 = got
                    .iter()
                    .zip(want)
                    .map(|(g, w)| ((g - w) as f64).powi(2))
                    .sum();
                let den: f64 = want.iter().map(|w| (*w as f64).powi(2)).sum();
                let err = (num / den).sqrt();
                let tol = if precision == Precision::Fp32 {
                    1e-5
                } else {
                    2e-3
                };
                let _ = writeln!(
                    std::io::stderr(),
                    "{} {format}: head {i} GPU vs CPU preprocessing {err:.2e}",
                    precision.name()
                );
                assert!(
                    err <= tol,
                    "{} {format} head {i}: {err:e}",
                    precision.name()
                );
            }
        }
    }
}

#[test]
fn a_camera_the_kernel_cannot_read_safely_is_refused() {
    if edge_engine::backend::cuda::Gpu::open(0).is_err() {
        let _ = writeln!(std::io::stderr(), "skipped: no CUDA device");
        return;
    }
    let engine = demo(Precision::Fp16);
    let mut ctx = engine.context(0).unwrap();
    let conv = Converter::new(PixelFormat::Yuyv, 640, 480, engine.meta()).unwrap();
    let short = conv.gpu_camera(1280, 1280 * 479).unwrap();
    let e = ctx.set_camera(&short).unwrap_err().to_string();
    assert!(e.contains("the frame needs 614400"), "{e}");
    let mut narrow = conv.gpu_camera(1000, 1000 * 480).unwrap();
    assert!(ctx.set_camera(&narrow).is_err());
    narrow = conv.gpu_camera(1280, 1280 * 480).unwrap();
    narrow.rows[3].hi = 480;
    let e = ctx.set_camera(&narrow).unwrap_err().to_string();
    assert!(e.contains("a tap outside the frame"), "{e}");
}
