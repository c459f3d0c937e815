//! `edge-infer eval`: the full path (letterbox, engine, decode, NMS) over a dataset, scored
//! COCO-style.

use super::open_engine;
use crate::cli::EvalArgs;
use edge_engine::yolo::{DecodeParams, Detections, Postprocessor};
use edge_engine::{Error, Result};
use edge_infer::convert::Converter;
use edge_infer::frame::{Frame, PixelFormat};
use edge_infer::metrics::{self, Gt, Pred};

pub fn run(a: &EvalArgs) -> Result<()> {
    let engine = open_engine(&a.engine)?;
    let meta = engine.meta().clone();
    let samples = edge_infer::dataset::load(&a.dataset)?;
    let mut ctx = engine.context(a.engine.threads)?;
    let params = DecodeParams {
        conf_threshold: a.conf,
        iou_threshold: a.iou,
        max_detections: 100,
    };
    ctx.set_threshold(params.conf_threshold)?;
    let mut post = Postprocessor::new(8192);
    let mut dets = Detections::new();
    let (mut preds, mut gts) = (Vec::new(), Vec::new());
    let mut converter: Option<Converter> = None;
    for (i, s) in samples.iter().enumerate() {
        let img = image::open(&s.image)
            .map_err(|e| Error::Input(format!("{}: {e}", s.image.display())))?
            .to_rgb8();
        let (w, h) = (img.width() as usize, img.height() as usize);
        let frame = Frame::still(&img, i as u64);
        if converter
            .as_ref()
            .is_none_or(|c| (c.letterbox.src_w, c.letterbox.src_h) != (w, h))
        {
            converter = Some(
                Converter::new(PixelFormat::Rgb24, w, h, &meta)
                    .map_err(|e| Error::Input(e.to_string()))?,
            );
        }
        let conv = converter.as_mut().expect("set above");
        conv.fill(&frame, ctx.input_mut())
            .map_err(|e| Error::Input(format!("{}: {e}", s.image.display())))?;
        ctx.infer()?;
        ctx.detect(&mut post, &meta, &conv.letterbox, &params, &mut dets);
        preds.extend(dets.iter().map(|d| Pred {
            image: i,
            class: d.class as usize,
            score: d.score,
            bbox: [d.x1, d.y1, d.x2, d.y2].map(f64::from),
        }));
        gts.extend(s.truth.iter().map(|t| Gt {
            image: i,
            class: t.class,
            bbox: [t.x1, t.y1, t.x2, t.y2].map(f64::from),
        }));
    }
    if let Some(path) = &a.dump {
        let list: Vec<_> = preds
            .iter()
            .map(|p| serde_json::json!({"image": p.image, "class": p.class, "score": p.score, "box": p.bbox}))
            .collect();
        let truth: Vec<_> = gts
            .iter()
            .map(|g| serde_json::json!({"image": g.image, "class": g.class, "box": g.bbox}))
            .collect();
        let doc = serde_json::json!({"images": samples.len(), "classes": meta.classes(), "detections": list, "truth": truth});
        edge_engine::atomic_file::write(path, doc.to_string().as_bytes())?;
    }
    let report = metrics::evaluate(&preds, &gts, meta.classes());
    if a.json {
        let per_class: Vec<_> = report
            .per_class
            .iter()
            .enumerate()
            .map(|(c, ap)| serde_json::json!({"class": c, "name": meta.class_name(c), "ap50": ap.map(|a| a.0), "ap50_95": ap.map(|a| a.1)}))
            .collect();
        outln!(
            "{}",
            serde_json::json!({"images": samples.len(), "map50": report.map50, "map50_95": report.map50_95, "per_class": per_class})
        );
    } else {
        outln!(
            "{} images, {} detections, {} objects",
            samples.len(),
            preds.len(),
            gts.len()
        );
        outln!("mAP@0.5      {:.4}", report.map50);
        outln!("mAP@0.5:0.95 {:.4}", report.map50_95);
        for (c, ap) in report.per_class.iter().enumerate() {
            match ap {
                Some((a50, a)) => outln!(
                    "  {:<16} AP@0.5 {a50:.4}  AP@0.5:0.95 {a:.4}",
                    meta.class_name(c)
                ),
                None => outln!("  {:<16} (no objects)", meta.class_name(c)),
            }
        }
    }
    Ok(())
}
