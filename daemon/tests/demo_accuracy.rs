//! The shipped demo model keeps its accuracy: mAP@0.5 on held-out synthetic scenes (a seed no
//! training run used) through the full eval path. docs/ACCURACY.md has the 500-scene figure;
//! this checks 150 scenes so it stays quick, against the bar of 0.90.

use std::process::Command;

#[test]
fn demo_model_map50_stays_above_0_90() {
    let dir = std::env::temp_dir().join(format!("edge-demo-acc-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let bin = env!("CARGO_BIN_EXE_edge-infer");
    let repo = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let synth = Command::new(bin)
        .args([
            "dataset", "synth", "--count", "150", "--seed", "999997", "--size", "320x320", "--out",
        ])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        synth.status.success(),
        "{}",
        String::from_utf8_lossy(&synth.stderr)
    );
    let eval = Command::new(bin)
        .args(["eval", "--json", "--dataset"])
        .arg(&dir)
        .arg("--model")
        .arg(format!("{repo}/models/shapes/shapes.cfg"))
        .arg("--weights")
        .arg(format!("{repo}/models/shapes/shapes.weights"))
        .arg("--names")
        .arg(format!("{repo}/models/shapes/shapes.names"))
        .output()
        .unwrap();
    assert!(
        eval.status.success(),
        "{}",
        String::from_utf8_lossy(&eval.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&eval.stdout).unwrap();
    let map50 = v["map50"].as_f64().unwrap();
    let map = v["map50_95"].as_f64().unwrap();
    eprintln!("demo model on 150 held-out scenes: mAP@0.5 {map50:.4}, mAP@0.5:0.95 {map:.4}");
    assert!(map50 >= 0.90, "mAP@0.5 {map50}");
    assert!(map >= 0.80, "mAP@0.5:0.95 {map}");
    for c in v["per_class"].as_array().unwrap() {
        assert!(c["ap50"].as_f64().unwrap() >= 0.85, "{c}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
