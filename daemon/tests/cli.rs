//! The `edge-infer` binary end to end: verbs, outputs, and exit codes for bad input
//! (sysexits; never 101, the code of a Rust panic).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(p)
}

fn edge(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_edge-infer"))
        .args(args)
        .output()
        .expect("runs")
}

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("edge-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn build(name: &str) -> PathBuf {
    let engine = tmp(name);
    let cfg = repo("engine/tests/fixtures/allops.cfg");
    let o = edge(&[
        "build",
        "--model",
        cfg.to_str().unwrap(),
        "--weights",
        "random:3",
        "-o",
        engine.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    engine
}

#[test]
fn build_inspect_bench_infer() {
    let engine = build("ok.engine");
    let e = engine.to_str().unwrap();
    let o = edge(&["inspect", e]);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    for want in [
        "device     cpu",
        "in place",
        "implicit-gemm",
        "arena",
        "naive sum",
    ] {
        assert!(t.contains(want), "inspect lacks {want:?}:\n{t}");
    }
    let o = edge(&["bench", "--engine", e, "--iterations", "5", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("bench --json is JSON");
    assert!(
        v["median_ms"].as_f64().unwrap() > 0.0
            && v["p99_ms"].as_f64().unwrap() >= v["median_ms"].as_f64().unwrap()
    );
    let input = repo("engine/tests/fixtures/allops-64/input.npy");
    let raw = tmp("raw");
    let o = edge(&[
        "infer",
        "--engine",
        e,
        "--input",
        input.to_str().unwrap(),
        "--json",
        "--dump-raw",
        raw.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("infer --json is JSON");
    assert!(v["detections"].is_array());
    let head = edge_engine::npy::read(&raw.join("head1.npy")).unwrap();
    assert_eq!(head.shape, vec![1, 24, 32, 32]);
}

#[test]
fn infer_takes_an_image_and_maps_boxes_into_it() {
    let engine = build("img.engine");
    let png = tmp("frame.png");
    image::RgbImage::from_fn(200, 100, |x, y| {
        image::Rgb([(x % 256) as u8, (y * 2) as u8, 90])
    })
    .save(&png)
    .unwrap();
    let o = edge(&[
        "infer",
        "--engine",
        engine.to_str().unwrap(),
        "--input",
        png.to_str().unwrap(),
        "--json",
        "--conf",
        "0.01",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let dets = v["detections"].as_array().unwrap();
    assert!(!dets.is_empty());
    for d in dets {
        let b: Vec<f64> = d["box"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect();
        assert!(
            b[0] >= 0.0 && b[2] <= 200.0 && b[1] >= 0.0 && b[3] <= 100.0,
            "box outside the frame: {b:?}"
        );
    }
}

#[test]
fn a_corrupt_engine_exits_65_with_the_reason() {
    let engine = build("corrupt.engine");
    let mut bytes = std::fs::read(&engine).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 1;
    std::fs::write(&engine, &bytes).unwrap();
    let o = edge(&["inspect", engine.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(65), "{}", text(&o));
    assert!(text(&o).contains("checksum mismatch"), "{}", text(&o));
    std::fs::write(&engine, b"not an engine at all").unwrap();
    let o = edge(&["bench", "--engine", engine.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(65));
    assert!(
        text(&o).contains("not an edge-infer engine"),
        "{}",
        text(&o)
    );
}

#[test]
fn a_missing_file_exits_66() {
    let o = edge(&["inspect", "/nonexistent/x.engine"]);
    assert_eq!(o.status.code(), Some(66), "{}", text(&o));
    assert!(text(&o).contains("/nonexistent/x.engine"));
}

#[test]
fn bad_usage_exits_64() {
    for args in [
        &["build"][..],
        &["bench", "--engine", "a", "--model", "b"],
        &[
            "build",
            "--model",
            "m.cfg",
            "-o",
            "x",
            "--precision",
            "fp64",
        ],
        &["frobnicate"],
    ] {
        let o = edge(args);
        assert_eq!(o.status.code(), Some(64), "{args:?}: {}", text(&o));
    }
    assert_eq!(edge(&["--help"]).status.code(), Some(0));
}

#[test]
fn a_bad_cfg_exits_65_naming_the_line() {
    let cfg = tmp("bad.cfg");
    std::fs::write(
        &cfg,
        "[net]\nwidth=64\nheight=64\n[convolutional]\nsize=x\n",
    )
    .unwrap();
    let o = edge(&[
        "build",
        "--model",
        cfg.to_str().unwrap(),
        "-o",
        tmp("never.engine").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(65));
    assert!(
        text(&o).contains("bad.cfg:5: [convolutional] size: expected an integer, found 'x'"),
        "{}",
        text(&o)
    );
    assert!(!tmp("never.engine").exists());
}

#[test]
fn cuda_without_a_gpu_and_int8_without_a_cache_say_what_is_missing() {
    let cfg = repo("engine/tests/fixtures/allops.cfg");
    let c = cfg.to_str().unwrap();
    let out = tmp("x.engine");
    let gpu = edge_engine::backend::cuda::Gpu::open(0).is_ok();
    let o = edge(&[
        "build",
        "--model",
        c,
        "--device",
        "cuda",
        "-o",
        out.to_str().unwrap(),
    ]);
    if gpu {
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    } else {
        assert_eq!(o.status.code(), Some(69), "{}", text(&o));
        assert!(text(&o).contains("no CUDA"), "{}", text(&o));
    }
    let o = edge(&[
        "build",
        "--model",
        c,
        "--precision",
        "int8",
        "-o",
        out.to_str().unwrap(),
    ]);
    // INT8 runs on the CPU too, but needs calibration scales.
    assert!(!o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("--calib-cache"), "{}", text(&o));
}

#[test]
fn weights_file_of_the_wrong_length_exits_65() {
    let w = tmp("short.weights");
    std::fs::write(&w, [0u8; 40]).unwrap();
    let cfg = repo("engine/tests/fixtures/allops.cfg");
    let o = edge(&[
        "build",
        "--model",
        cfg.to_str().unwrap(),
        "--weights",
        w.to_str().unwrap(),
        "-o",
        tmp("y.engine").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(65));
    assert!(text(&o).contains("expected 4352 floats"), "{}", text(&o));
}
