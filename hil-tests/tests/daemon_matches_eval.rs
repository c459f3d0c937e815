//! The same scenes through the daemon (synthetic camera -> pipeline -> stdout) and through
//! `edge-infer eval` (PNG files -> engine) give the same detections, with the demo model.

use hil_tests::*;
use std::time::Duration;

#[test]
fn daemon_and_eval_agree_frame_by_frame() {
    let dir = scratch("agree");
    let data = dir.join("data");
    let (status, out) = run(
        &[
            "dataset",
            "synth",
            "--out",
            data.to_str().unwrap(),
            "--count",
            "12",
            "--seed",
            "77",
            "--size",
            "320x320",
        ],
        Duration::from_secs(60),
    );
    assert!(status.success(), "{out}");
    let model = repo("models/shapes/shapes.cfg");
    let weights = repo("models/shapes/shapes.weights");
    let dump = dir.join("eval.json");
    let (status, out) = run(
        &[
            "eval",
            "--model",
            model.to_str().unwrap(),
            "--weights",
            weights.to_str().unwrap(),
            "--dataset",
            data.to_str().unwrap(),
            "--conf",
            "0.25",
            "--iou",
            "0.45",
            "--dump",
            dump.to_str().unwrap(),
        ],
        Duration::from_secs(120),
    );
    assert!(status.success(), "{out}");
    let eval: Vec<(u64, u64, f64, [f64; 4])> =
        json_detections(&std::fs::read_to_string(&dump).unwrap());

    let cfg = config(&dir, "");
    let text = std::fs::read_to_string(&cfg).unwrap();
    let first = text.lines().next().unwrap().to_string();
    let text = text
        .replace(&first, &format!("model: {}", model.display()))
        .replace(
            "weights: random:1",
            &format!("weights: {}", weights.display()),
        )
        .replace("synthetic:shapes:5", "synthetic:scenes:77")
        .replace("height: 240", "height: 320\n  format: rgb24")
        .replace("fps: 30", "fps: 4");
    std::fs::write(&cfg, text).unwrap();
    let (status, out) = run(
        &[
            "--config",
            cfg.to_str().unwrap(),
            "--frames",
            "12",
            "--print",
        ],
        Duration::from_secs(120),
    );
    assert!(status.success(), "{out}");
    let mut compared = 0;
    for line in out.lines().filter(|l| l.starts_with("{\"sequence\"")) {
        let seq = field(line, "\"sequence\":");
        let mut ours: Vec<(u64, f64, [f64; 4])> = Vec::new();
        for d in line.split("{\"class\":").skip(1) {
            let class: u64 = d.split(',').next().unwrap().parse().unwrap();
            let score: f64 = d
                .split("\"score\":")
                .nth(1)
                .unwrap()
                .split(',')
                .next()
                .unwrap()
                .parse()
                .unwrap();
            let b: Vec<f64> = d
                .split("\"box\":[")
                .nth(1)
                .unwrap()
                .split(']')
                .next()
                .unwrap()
                .split(',')
                .map(|v| v.parse().unwrap())
                .collect();
            ours.push((class, score, [b[0], b[1], b[2], b[3]]));
        }
        let theirs: Vec<_> = eval.iter().filter(|e| e.0 == seq).collect();
        assert_eq!(
            ours.len(),
            theirs.len(),
            "frame {seq}: daemon {ours:?} vs eval {theirs:?}"
        );
        for (o, t) in ours.iter().zip(&theirs) {
            assert_eq!(o.0, t.1, "frame {seq}: class");
            assert!(
                (o.1 - t.2).abs() < 1e-4,
                "frame {seq}: score {} vs {}",
                o.1,
                t.2
            );
            for k in 0..4 {
                assert!(
                    (o.2[k] - t.3[k]).abs() < 0.06,
                    "frame {seq}: box {:?} vs {:?}",
                    o.2,
                    t.3
                );
            }
        }
        compared += 1;
    }
    assert!(compared >= 6, "only {compared} frames compared:\n{out}");

    // And through the socket, as a client sees them.
    let d = Daemon::start(&dir, &cfg, &[], &[]);
    let mut client =
        edge_infer_protocol::Client::connect_with_timeout(&d.socket, Duration::from_secs(30))
            .unwrap();
    let mut over_socket = 0;
    for _ in 0..40 {
        let m = client.next().unwrap();
        let seq = m.frame.sequence;
        if seq >= 12 {
            break;
        }
        let theirs: Vec<_> = eval.iter().filter(|e| e.0 == seq).collect();
        assert_eq!(
            m.detections.len(),
            theirs.len(),
            "frame {seq} over the socket"
        );
        for (o, t) in m.detections.iter().zip(&theirs) {
            assert_eq!(o.class as u64, t.1);
            assert!(
                (o.score as f64 - t.2).abs() < 1e-5,
                "frame {seq}: score {} vs {}",
                o.score,
                t.2
            );
            for (k, v) in [o.x1, o.y1, o.x2, o.y2].into_iter().enumerate() {
                assert!(
                    (v as f64 - t.3[k]).abs() < 1e-3,
                    "frame {seq}: box {o:?} vs {:?}",
                    t.3
                );
            }
        }
        over_socket += 1;
    }
    assert!(
        over_socket >= 3,
        "only {over_socket} frames compared over the socket"
    );
    assert!(
        eval.len() >= 12,
        "the demo model should find the shapes: {} detections",
        eval.len()
    );
}

fn field(line: &str, key: &str) -> u64 {
    line.split(key)
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

/// (image, class, score, box) from an eval dump, in the order eval found them.
fn json_detections(text: &str) -> Vec<(u64, u64, f64, [f64; 4])> {
    let dets = text
        .split("\"detections\":[")
        .nth(1)
        .unwrap()
        .split("],\"images\"")
        .next()
        .unwrap();
    let mut out = Vec::new();
    for d in dets.split("},{") {
        let num = |k: &str| -> f64 {
            d.split(&format!("\"{k}\":"))
                .nth(1)
                .unwrap()
                .split([',', '}'])
                .next()
                .unwrap()
                .parse()
                .unwrap()
        };
        if !d.contains("\"box\"") {
            continue;
        }
        let b: Vec<f64> = d
            .split("\"box\":[")
            .nth(1)
            .unwrap()
            .split(']')
            .next()
            .unwrap()
            .split(',')
            .map(|v| v.parse().unwrap())
            .collect();
        out.push((
            num("image") as u64,
            num("class") as u64,
            num("score"),
            [b[0], b[1], b[2], b[3]],
        ));
    }
    out
}
