//! `edge-infer infer`: one image or tensor through the engine, detections out.

use super::open_engine;
use crate::cli::InferArgs;
use edge_engine::graph::Shape;
use edge_engine::yolo::{DecodeParams, Detections, Letterbox, Postprocessor};
use edge_engine::{npy, Error, Result};
use edge_infer::convert::Converter;
use edge_infer::frame::{Frame, PixelFormat};
use std::path::Path;

pub fn run(a: &InferArgs) -> Result<()> {
    if !(0.0..=1.0).contains(&a.conf) || !(0.0..=1.0).contains(&a.iou) {
        return Err(Error::Input(
            "--conf and --iou must be between 0 and 1".into(),
        ));
    }
    let engine = open_engine(&a.engine)?;
    let meta = engine.meta().clone();
    let net = meta.input;
    let mut ctx = engine.context(a.engine.threads)?;
    let is_npy = a
        .input
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("npy"));
    let letterbox = if is_npy {
        fill_from_npy(&a.input, net, ctx.input_mut())?;
        Letterbox::new(net.w, net.h, net.w, net.h, false)
    } else {
        let img = image::open(&a.input)
            .map_err(|e| Error::Input(format!("{}: {e}", a.input.display())))?
            .to_rgb8();
        let (w, h) = (img.width() as usize, img.height() as usize);
        let mut conv = Converter::new(PixelFormat::Rgb24, w, h, &meta)
            .map_err(|e| Error::Input(format!("{}: {e}", a.input.display())))?;
        let frame = Frame::still(&img, 0);
        conv.fill(&frame, ctx.input_mut())
            .map_err(|e| Error::Input(format!("{}: {e}", a.input.display())))?;
        conv.letterbox
    };
    let params = DecodeParams {
        conf_threshold: a.conf,
        iou_threshold: a.iou,
        ..DecodeParams::default()
    };
    ctx.set_threshold(params.conf_threshold)?;
    ctx.infer()?;
    if let Some(dir) = &a.dump_raw {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        ctx.fetch_heads()?;
        for i in 0..meta.heads.len() {
            let (data, s) = ctx.head(i);
            let nchw = to_nchw(data, s);
            npy::write(
                &dir.join(format!("head{i}.npy")),
                &[1, s.c, s.h, s.w],
                &nchw,
            )?;
        }
    }
    let mut dets = Detections::new();
    ctx.detect(
        &mut Postprocessor::new(4096),
        &meta,
        &letterbox,
        &params,
        &mut dets,
    );
    if a.json {
        let list: Vec<_> = dets
            .iter()
            .map(|d| {
                serde_json::json!({
                    "class": d.class,
                    "name": meta.class_name(d.class as usize),
                    "score": d.score,
                    "box": [d.x1, d.y1, d.x2, d.y2],
                })
            })
            .collect();
        outln!("{}", serde_json::json!({ "detections": list }));
    } else {
        outln!("{} detections", dets.len());
        for d in &dets {
            outln!(
                "{:<16} {:.3}  ({:.1}, {:.1}) - ({:.1}, {:.1})",
                meta.class_name(d.class as usize),
                d.score,
                d.x1,
                d.y1,
                d.x2,
                d.y2
            );
        }
    }
    Ok(())
}

/// Accepts [1,H,W,3] (NHWC) or [1,3,H,W] (NCHW) at the network's input size.
fn fill_from_npy(path: &Path, net: Shape, dst: &mut [f32]) -> Result<()> {
    let a = npy::read(path)?;
    match a.shape.as_slice() {
        [1, h, w, 3] if (*h, *w) == (net.h, net.w) => dst.copy_from_slice(&a.data),
        [1, 3, h, w] if (*h, *w) == (net.h, net.w) => {
            let plane = net.h * net.w;
            for p in 0..plane {
                for c in 0..3 {
                    dst[p * 3 + c] = a.data[c * plane + p];
                }
            }
        }
        s => {
            return Err(Error::Input(format!(
                "{}: shape {s:?}; the engine takes [1,{h},{w},3] or [1,3,{h},{w}]",
                path.display(),
                h = net.h,
                w = net.w
            )))
        }
    }
    Ok(())
}

fn to_nchw(nhwc: &[f32], s: Shape) -> Vec<f32> {
    let mut out = vec![0.0; s.len()];
    for p in 0..s.pixels() {
        for c in 0..s.c {
            out[c * s.pixels() + p] = nhwc[p * s.c + c];
        }
    }
    out
}
