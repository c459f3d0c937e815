//! Detection accuracy, COCO style: per class and IoU threshold, detections sorted by score
//! are matched greedily to the best-overlapping unmatched ground truth of their image; AP is
//! the mean of the interpolated precision at 101 recall points (0, 0.01, ..., 1). mAP@0.5 and
//! mAP@0.5:0.95 (thresholds 0.50, 0.55, ..., 0.95) average over classes with ground truth.

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Pred {
    pub image: usize,
    pub class: usize,
    pub score: f32,
    pub bbox: [f64; 4],
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Gt {
    pub image: usize,
    pub class: usize,
    pub bbox: [f64; 4],
}

#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    pub map50: f64,
    pub map50_95: f64,
    /// Per class: (AP@0.5, AP@0.5:0.95), None for classes without ground truth.
    pub per_class: Vec<Option<(f64, f64)>>,
}

/// 0.50, 0.55, ..., 0.95, computed as numpy's linspace does, so boxes right at a threshold
/// fall on the same side as in pycocotools.
pub fn iou_thresholds() -> [f64; 10] {
    let step = (0.95 - 0.5) / 9.0;
    std::array::from_fn(|i| if i == 9 { 0.95 } else { i as f64 * step + 0.5 })
}

/// Intersection over union in f64 (boxes as x1, y1, x2, y2).
pub fn iou(a: [f64; 4], b: [f64; 4]) -> f64 {
    let iw = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let ih = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = iw * ih;
    let union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
    if union > 0.0 {
        inter / union
    } else {
        0.0
    }
}

/// AP of one class at one IoU threshold.
pub fn average_precision(preds: &[Pred], gts: &[Gt], threshold: f64) -> Option<f64> {
    if gts.is_empty() {
        return None;
    }
    let mut order: Vec<&Pred> = preds.iter().collect();
    // Stable: equal scores keep input order, as pycocotools' mergesort does.
    order.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut matched = vec![false; gts.len()];
    let mut tp = Vec::with_capacity(order.len());
    for p in order {
        let mut best: Option<(usize, f64)> = None;
        for (g, gt) in gts.iter().enumerate() {
            if gt.image != p.image || matched[g] {
                continue;
            }
            let o = iou(p.bbox, gt.bbox);
            if o >= threshold && best.is_none_or(|(_, b)| o > b) {
                best = Some((g, o));
            }
        }
        match best {
            Some((g, _)) => {
                matched[g] = true;
                tp.push(true);
            }
            None => tp.push(false),
        }
    }
    let n = gts.len() as f64;
    let (mut tps, mut fps) = (0f64, 0f64);
    let mut recall = Vec::with_capacity(tp.len());
    let mut precision = Vec::with_capacity(tp.len());
    for t in tp {
        if t {
            tps += 1.0;
        } else {
            fps += 1.0;
        }
        recall.push(tps / n);
        precision.push(tps / (tps + fps));
    }
    // Precision envelope: best precision at this recall or beyond.
    for i in (0..precision.len().saturating_sub(1)).rev() {
        precision[i] = precision[i].max(precision[i + 1]);
    }
    let mut sum = 0.0;
    for k in 0..=100 {
        // numpy's linspace(0, 1, 101): k * 0.01, which is not always k / 100.
        let r = if k == 100 { 1.0 } else { k as f64 * 0.01 };
        // First point whose recall reaches r (pycocotools: searchsorted, side='left').
        let i = recall.partition_point(|&x| x < r);
        sum += precision.get(i).copied().unwrap_or(0.0);
    }
    Some(sum / 101.0)
}

pub fn evaluate(preds: &[Pred], gts: &[Gt], classes: usize) -> Report {
    let mut per_class = Vec::with_capacity(classes);
    for c in 0..classes {
        let p: Vec<Pred> = preds.iter().filter(|p| p.class == c).copied().collect();
        let g: Vec<Gt> = gts.iter().filter(|g| g.class == c).copied().collect();
        let aps: Option<Vec<f64>> = iou_thresholds()
            .iter()
            .map(|&t| average_precision(&p, &g, t))
            .collect();
        per_class.push(aps.map(|a| (a[0], a.iter().sum::<f64>() / a.len() as f64)));
    }
    let present: Vec<(f64, f64)> = per_class.iter().flatten().copied().collect();
    let mean = |f: fn(&(f64, f64)) -> f64| {
        if present.is_empty() {
            0.0
        } else {
            present.iter().map(f).sum::<f64>() / present.len() as f64
        }
    };
    Report {
        map50: mean(|a| a.0),
        map50_95: mean(|a| a.1),
        per_class,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(image: usize, score: f32, bbox: [f64; 4]) -> Pred {
        Pred {
            image,
            class: 0,
            score,
            bbox,
        }
    }
    fn g(image: usize, bbox: [f64; 4]) -> Gt {
        Gt {
            image,
            class: 0,
            bbox,
        }
    }

    #[test]
    fn perfect_detections_score_one() {
        let gts = [g(0, [0.0, 0.0, 10.0, 10.0]), g(1, [5.0, 5.0, 20.0, 20.0])];
        let preds = [
            p(0, 0.9, [0.0, 0.0, 10.0, 10.0]),
            p(1, 0.8, [5.0, 5.0, 20.0, 20.0]),
        ];
        assert_eq!(average_precision(&preds, &gts, 0.5), Some(1.0));
        assert_eq!(evaluate(&preds, &gts, 1).map50_95, 1.0);
    }

    #[test]
    fn a_false_positive_ranked_first_by_hand() {
        // Two GTs. Ranked: FP (0.9), TP (0.8), TP (0.7).
        // recall  : 0,   0.5, 1.0 ; precision: 0, 1/2, 2/3 ; envelope: 2/3, 2/3, 2/3.
        // All 101 recall points (0..=1) find precision 2/3: AP = 2/3.
        let gts = [g(0, [0.0, 0.0, 10.0, 10.0]), g(0, [20.0, 20.0, 30.0, 30.0])];
        let preds = [
            p(0, 0.9, [50.0, 50.0, 60.0, 60.0]),
            p(0, 0.8, [0.0, 0.0, 10.0, 10.0]),
            p(0, 0.7, [20.0, 20.0, 30.0, 30.0]),
        ];
        let ap = average_precision(&preds, &gts, 0.5).unwrap();
        assert!((ap - 2.0 / 3.0).abs() < 1e-12, "{ap}");
    }

    #[test]
    fn a_missed_object_caps_recall_by_hand() {
        // Three GTs, one found (TP at 0.9): recall 1/3 with precision 1. Recall points
        // 0.00..0.33 (34 of them) get 1, the other 67 get 0: AP = 34/101.
        let gts = [
            g(0, [0.0, 0.0, 10.0, 10.0]),
            g(1, [0.0, 0.0, 10.0, 10.0]),
            g(2, [0.0, 0.0, 10.0, 10.0]),
        ];
        let preds = [p(0, 0.9, [0.0, 0.0, 10.0, 10.0])];
        let ap = average_precision(&preds, &gts, 0.5).unwrap();
        assert!((ap - 34.0 / 101.0).abs() < 1e-12, "{ap}");
    }

    #[test]
    fn duplicates_are_false_positives_and_iou_thresholds_matter() {
        // Box shifted by 2 of 10: IoU = 80/120 = 0.667: a match at 0.5..0.65, a miss from 0.7.
        let gts = [g(0, [0.0, 0.0, 10.0, 10.0])];
        let preds = [
            p(0, 0.9, [2.0, 0.0, 12.0, 10.0]),
            p(0, 0.8, [2.0, 0.0, 12.0, 10.0]),
        ];
        assert_eq!(
            average_precision(&preds, &gts, 0.5),
            Some(1.0),
            "the duplicate comes after full recall"
        );
        assert_eq!(average_precision(&preds, &gts, 0.7), Some(0.0));
        let r = evaluate(&preds, &gts, 1);
        // Thresholds 0.50, 0.55, 0.60, 0.65 match (4 of 10).
        assert!((r.map50_95 - 0.4).abs() < 1e-12, "{r:?}");
    }

    #[test]
    fn classes_without_ground_truth_are_left_out_of_the_mean() {
        let gts = [Gt {
            image: 0,
            class: 1,
            bbox: [0.0, 0.0, 4.0, 4.0],
        }];
        let preds = [
            Pred {
                image: 0,
                class: 1,
                score: 0.5,
                bbox: [0.0, 0.0, 4.0, 4.0],
            },
            Pred {
                image: 0,
                class: 0,
                score: 0.9,
                bbox: [9.0, 9.0, 12.0, 12.0],
            },
        ];
        let r = evaluate(&preds, &gts, 3);
        assert_eq!(r.per_class[0], None);
        assert_eq!(r.per_class[2], None);
        assert_eq!(r.map50, 1.0);
    }
}
