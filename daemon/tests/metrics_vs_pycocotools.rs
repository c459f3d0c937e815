//! Our COCO-style mAP against pycocotools on the same predictions: a fixture of jittered,
//! missed, duplicated and false detections made by `tools/eval/coco_check.py --make-fixture`,
//! with pycocotools' own answers stored beside them.

use edge_infer::metrics::{evaluate, Gt, Pred};

#[test]
fn map_matches_pycocotools_to_1e_4() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/metrics-pycocotools.json"
    ))
    .unwrap();
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    let bbox = |v: &serde_json::Value| -> [f64; 4] {
        let b: Vec<f64> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect();
        [b[0], b[1], b[2], b[3]]
    };
    let preds: Vec<Pred> = doc["detections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| Pred {
            image: d["image"].as_u64().unwrap() as usize,
            class: d["class"].as_u64().unwrap() as usize,
            score: d["score"].as_f64().unwrap() as f32,
            bbox: bbox(&d["box"]),
        })
        .collect();
    let gts: Vec<Gt> = doc["truth"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| Gt {
            image: t["image"].as_u64().unwrap() as usize,
            class: t["class"].as_u64().unwrap() as usize,
            bbox: bbox(&t["box"]),
        })
        .collect();
    let classes = doc["classes"].as_u64().unwrap() as usize;
    let ours = evaluate(&preds, &gts, classes);
    let theirs = &doc["pycocotools"];
    let close = |a: f64, b: &serde_json::Value, what: &str| {
        let b = b.as_f64().unwrap();
        assert!((a - b).abs() <= 1e-4, "{what}: ours {a} pycocotools {b}");
    };
    close(ours.map50, &theirs["map50"], "mAP@0.5");
    close(ours.map50_95, &theirs["map50_95"], "mAP@0.5:0.95");
    for (c, ap) in ours.per_class.iter().enumerate() {
        let (a50, a) = ap.expect("every class has objects");
        close(
            a50,
            &theirs["per_class"][c][0],
            &format!("class {c} AP@0.5"),
        );
        close(
            a,
            &theirs["per_class"][c][1],
            &format!("class {c} AP@0.5:0.95"),
        );
    }
    assert!(
        ours.map50 > 0.3 && ours.map50 < 0.9,
        "the fixture should exercise partial matches: {ours:?}"
    );
}
