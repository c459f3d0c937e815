//! Class-aware greedy non-maximum suppression.

use super::{iou, Candidate};

/// Sorts `candidates` best first and marks the kept ones, at most `max`, by calling `keep`.
pub fn nms(
    candidates: &mut [Candidate],
    iou_threshold: f32,
    max: usize,
    mut keep: impl FnMut(&Candidate),
) {
    candidates.sort_unstable_by(|a, b| b.score.total_cmp(&a.score));
    let mut kept = 0;
    for i in 0..candidates.len() {
        if kept == max {
            break;
        }
        if candidates[i].suppressed {
            continue;
        }
        let c = candidates[i];
        keep(&c);
        kept += 1;
        for other in &mut candidates[i + 1..] {
            if !other.suppressed
                && other.class == c.class
                && iou(c.bbox, other.bbox) > iou_threshold
            {
                other.suppressed = true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(class: u16, score: f32, bbox: [f32; 4]) -> Candidate {
        Candidate {
            class,
            score,
            bbox,
            suppressed: false,
        }
    }

    #[test]
    fn suppresses_overlaps_of_the_same_class_only() {
        // A and B overlap with IoU 81/119 = 0.68; C is the same box as B in another class.
        let mut c = vec![
            cand(0, 0.6, [1.0, 1.0, 11.0, 11.0]),
            cand(0, 0.9, [0.0, 0.0, 10.0, 10.0]),
            cand(1, 0.5, [1.0, 1.0, 11.0, 11.0]),
            cand(0, 0.4, [50.0, 50.0, 60.0, 60.0]),
        ];
        let mut kept = Vec::new();
        nms(&mut c, 0.45, 10, |k| kept.push(k.score));
        assert_eq!(kept, vec![0.9, 0.5, 0.4]);
        // With a looser threshold both class-0 boxes survive.
        let mut kept = Vec::new();
        nms(
            &mut c
                .iter()
                .map(|k| Candidate {
                    suppressed: false,
                    ..*k
                })
                .collect::<Vec<_>>(),
            0.7,
            10,
            |k| kept.push(k.score),
        );
        assert_eq!(kept, vec![0.9, 0.6, 0.5, 0.4]);
    }

    #[test]
    fn stops_at_max() {
        let mut c: Vec<_> = (0..10)
            .map(|i| {
                cand(
                    0,
                    i as f32 / 10.0,
                    [i as f32 * 20.0, 0.0, i as f32 * 20.0 + 5.0, 5.0],
                )
            })
            .collect();
        let mut kept = Vec::new();
        nms(&mut c, 0.5, 3, |k| kept.push(k.score));
        assert_eq!(kept, vec![0.9, 0.8, 0.7]);
    }

    #[test]
    fn iou_of_hand_computed_boxes() {
        assert_eq!(
            iou([0.0, 0.0, 10.0, 10.0], [5.0, 0.0, 15.0, 10.0]),
            50.0 / 150.0
        );
        assert_eq!(iou([0.0, 0.0, 1.0, 1.0], [2.0, 2.0, 3.0, 3.0]), 0.0);
        assert_eq!(iou([0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]), 0.0);
    }
}
