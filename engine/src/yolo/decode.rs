//! YOLOv3 head decode (Darknet's `[yolo]` semantics) into preallocated candidates.

use super::{nms::nms, DecodeParams, Detection, Detections, Letterbox, MAX_DETECTIONS};
use crate::graph::{sigmoid, Shape};
use crate::model::ModelMeta;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Candidate {
    pub class: u16,
    pub score: f32,
    /// Corners in network-input pixels.
    pub bbox: [f32; 4],
    pub suppressed: bool,
}

/// Decode + NMS with buffers sized once; `run` allocates nothing.
pub struct Postprocessor {
    candidates: Vec<Candidate>,
    /// Once the buffer has filled, candidates below this score are not worth keeping.
    floor: f32,
    /// Candidates dropped because the buffer was full, in the last run.
    pub overflow: usize,
}

impl Postprocessor {
    pub fn new(capacity: usize) -> Self {
        Postprocessor {
            candidates: Vec::with_capacity(capacity.max(2)),
            floor: 0.0,
            overflow: 0,
        }
    }

    /// Decodes every head (NHWC tensors, as `heads(i)` gives them) and writes the kept
    /// detections, in frame pixels, best first.
    pub fn run<'a>(
        &mut self,
        meta: &ModelMeta,
        heads: impl Fn(usize) -> (&'a [f32], Shape),
        letterbox: &Letterbox,
        params: &DecodeParams,
        out: &mut Detections,
    ) {
        self.begin();
        let (net_w, net_h) = (meta.input.w as f32, meta.input.h as f32);
        for (i, head) in meta.heads.iter().enumerate() {
            let (data, shape) = heads(i);
            let per_anchor = head.classes + 5;
            let s = head.scale_x_y;
            for cell in 0..shape.pixels() {
                let (cy, cx) = ((cell / shape.w) as f32, (cell % shape.w) as f32);
                let px = &data[cell * shape.c..][..shape.c];
                for (a, &(aw, ah)) in head.anchors.iter().enumerate() {
                    let p = &px[a * per_anchor..][..per_anchor];
                    let objectness = sigmoid(p[4]);
                    if objectness < params.conf_threshold {
                        continue;
                    }
                    let x = (cx + sigmoid(p[0]) * s - (s - 1.0) / 2.0) / shape.w as f32 * net_w;
                    let y = (cy + sigmoid(p[1]) * s - (s - 1.0) / 2.0) / shape.h as f32 * net_h;
                    let w = p[2].min(20.0).exp() * aw;
                    let h = p[3].min(20.0).exp() * ah;
                    let bbox = [x - w / 2.0, y - h / 2.0, x + w / 2.0, y + h / 2.0];
                    for (class, &logit) in p[5..].iter().enumerate() {
                        let score = objectness * sigmoid(logit);
                        if score >= params.conf_threshold {
                            self.push(Candidate {
                                class: class as u16,
                                score,
                                bbox,
                                suppressed: false,
                            });
                        }
                    }
                }
            }
        }
        self.finish(letterbox, params, out);
    }

    /// NMS over candidates a GPU decoder found (boxes in network-input pixels); `lost`
    /// counts those it had no room for.
    pub fn run_candidates(
        &mut self,
        candidates: impl IntoIterator<Item = Candidate>,
        lost: usize,
        letterbox: &Letterbox,
        params: &DecodeParams,
        out: &mut Detections,
    ) {
        self.begin();
        for c in candidates {
            if c.score >= params.conf_threshold {
                self.push(c);
            }
        }
        self.overflow += lost;
        self.finish(letterbox, params, out);
    }

    /// Candidates the last run kept for NMS.
    pub fn candidates_last(&self) -> usize {
        self.candidates.len()
    }

    fn begin(&mut self) {
        self.candidates.clear();
        self.overflow = 0;
        self.floor = 0.0;
    }

    fn finish(&mut self, letterbox: &Letterbox, params: &DecodeParams, out: &mut Detections) {
        out.clear();
        let max = params.max_detections.min(MAX_DETECTIONS);
        nms(&mut self.candidates, params.iou_threshold, max, |c| {
            let (x1, y1) = letterbox.to_source(c.bbox[0], c.bbox[1]);
            let (x2, y2) = letterbox.to_source(c.bbox[2], c.bbox[3]);
            // Capacity is MAX_DETECTIONS and `max` never exceeds it.
            let _ = out.push(Detection {
                class: c.class,
                score: c.score,
                x1,
                y1,
                x2,
                y2,
            });
        });
    }

    /// Keeps the better candidates when there are more than the buffer holds: a full buffer
    /// is cut to its better half, whose worst score becomes the bar for the rest. Amortized
    /// O(log n) per candidate even when a broken model makes every cell a candidate.
    fn push(&mut self, c: Candidate) {
        if c.score < self.floor {
            self.overflow += 1;
            return;
        }
        if self.candidates.len() == self.candidates.capacity() {
            self.candidates
                .sort_unstable_by(|a, b| b.score.total_cmp(&a.score));
            let keep = self.candidates.len() / 2;
            self.overflow += self.candidates.len() - keep;
            self.candidates.truncate(keep);
            self.floor = self.candidates[keep - 1].score;
            if c.score < self.floor {
                self.overflow += 1;
                return;
            }
        }
        self.candidates.push(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Preprocess, YoloHead};

    fn logit(p: f32) -> f32 {
        (p / (1.0 - p)).ln()
    }

    fn meta(scale_x_y: f32) -> ModelMeta {
        ModelMeta {
            name: "t".into(),
            input: Shape::new(64, 64, 3),
            class_names: vec!["a".into(), "b".into()],
            heads: vec![YoloHead {
                tensor: 1,
                anchors: vec![(10.0, 20.0)],
                classes: 2,
                scale_x_y,
            }],
            preprocess: Preprocess::default(),
        }
    }

    #[test]
    fn decodes_one_box_by_hand() {
        // A 2x2 grid over a 64x64 input (stride 32), one anchor of 10x20, two classes.
        // Cell (y=1, x=0): sigmoid(tx)=0.25, sigmoid(ty)=0.5, tw=ln 2, th=0, obj=0.8,
        // class b = 0.75 -> score 0.6; centre ((0+0.25)*32, (1+0.5)*32) = (8, 48),
        // size (20, 20) -> corners (-2, 38)..(18, 58), clamped at 0 when mapped back.
        let shape = Shape::new(2, 2, 7);
        let mut data = vec![-20.0f32; shape.len()];
        let px = &mut data[2 * 7..3 * 7];
        px.copy_from_slice(&[
            logit(0.25),
            0.0,
            2f32.ln(),
            0.0,
            logit(0.8),
            -20.0,
            logit(0.75),
        ]);
        let lb = Letterbox::new(64, 64, 64, 64, true);
        let mut out = Detections::new();
        let mut pp = Postprocessor::new(16);
        pp.run(
            &meta(1.0),
            |_| (&data, shape),
            &lb,
            &DecodeParams::default(),
            &mut out,
        );
        assert_eq!(out.len(), 1);
        let d = out[0];
        assert_eq!(d.class, 1);
        assert!((d.score - 0.6).abs() < 1e-6);
        let want = [0.0, 38.0, 18.0, 58.0];
        for (got, want) in [d.x1, d.y1, d.x2, d.y2].iter().zip(want) {
            assert!((got - want).abs() < 1e-4, "{d:?}");
        }
    }

    #[test]
    fn scale_x_y_stretches_the_offset_around_the_cell_centre() {
        // scale_x_y = 2: x = (cx + 2*sig - 0.5) / grid; with sig = 0.75 at cell 0: 1.0 cell,
        // 32 pixels (scale 1 would give 0.75 cells, 24 pixels).
        let shape = Shape::new(2, 2, 7);
        let mut data = vec![-20.0f32; shape.len()];
        data[..7].copy_from_slice(&[logit(0.75), logit(0.75), 0.0, 0.0, 5.0, 5.0, -20.0]);
        let lb = Letterbox::new(64, 64, 64, 64, true);
        let mut out = Detections::new();
        Postprocessor::new(4).run(
            &meta(2.0),
            |_| (&data, shape),
            &lb,
            &DecodeParams::default(),
            &mut out,
        );
        let d = out[0];
        assert!(((d.x1 + d.x2) / 2.0 - 32.0).abs() < 1e-3, "{d:?}");
        assert!(((d.y1 + d.y2) / 2.0 - 32.0).abs() < 1e-3, "{d:?}");
    }

    #[test]
    fn a_full_buffer_keeps_the_best_candidates() {
        let mut pp = Postprocessor::new(4);
        for s in [0.3, 0.9, 0.5, 0.4, 0.35, 0.8, 0.2] {
            pp.push(Candidate {
                class: 0,
                score: s,
                bbox: [0.0; 4],
                suppressed: false,
            });
        }
        // Full at 4 (0.3 0.9 0.5 0.4) -> halved to 0.9 0.5, bar 0.5: 0.35 is dropped,
        // 0.8 kept, 0.2 dropped.
        let mut scores: Vec<f32> = pp.candidates.iter().map(|c| c.score).collect();
        scores.sort_by(f32::total_cmp);
        assert_eq!(scores, vec![0.5, 0.8, 0.9]);
        assert_eq!(pp.overflow, 4);
    }
}
