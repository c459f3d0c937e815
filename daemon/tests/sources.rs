//! File sources and the source selector: Y4M headers and frames, image directories, and
//! clear errors for what they cannot use.

use edge_infer::capture::{self, y4m, CaptureError, SourceOptions};
use edge_infer::frame::PixelFormat;

fn tmp(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("edge-src-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn y4m_headers() {
    let h = y4m::parse_header("YUV4MPEG2 W640 H480 F30000:1001 Ip A1:1 C420jpeg").unwrap();
    assert_eq!((h.width, h.height, h.mono), (640, 480, false));
    assert!((h.fps - 29.97).abs() < 0.01);
    assert!(y4m::parse_header("YUV4MPEG2 W64 H48 Cmono").unwrap().mono);
    assert!(y4m::parse_header("YUV4MPEG2 W64 H48 C444")
        .unwrap_err()
        .contains("C444"));
    assert!(y4m::parse_header("YUV4MPEG2 W0 H48")
        .unwrap_err()
        .contains("0x48"));
    assert!(y4m::parse_header("RIFF....")
        .unwrap_err()
        .contains("not a YUV4MPEG2"));
    assert!(y4m::parse_header("YUV4MPEG2 W64 H48 It")
        .unwrap_err()
        .contains("interlacing"));
}

#[test]
fn y4m_frames_become_nv12_and_loop() {
    let dir = tmp("y4m");
    let path = dir.join("a.y4m");
    let mut bytes = b"YUV4MPEG2 W4 H2 F25:1 C420\n".to_vec();
    for i in 0..2u8 {
        bytes.extend_from_slice(b"FRAME\n");
        bytes.extend_from_slice(&[i * 10; 8]); // Y
        bytes.extend_from_slice(&[100 + i, 101 + i]); // U plane (2x1)
        bytes.extend_from_slice(&[200 + i, 201 + i]); // V plane
    }
    std::fs::write(&path, &bytes).unwrap();
    let opts = SourceOptions {
        fps: 0.0,
        looped: true,
        ..SourceOptions::default()
    };
    let mut src = capture::open(path.to_str().unwrap(), &opts).unwrap();
    let info = src.start().unwrap();
    assert_eq!(
        (info.format, info.width, info.height, info.fps),
        (PixelFormat::Nv12, 4, 2, 25.0)
    );
    let mut seen = Vec::new();
    for _ in 0..3 {
        src.next(&mut |f| seen.push(f.data.to_vec())).unwrap();
    }
    assert_eq!(&seen[0][8..], &[100, 200, 101, 201], "U and V interleaved");
    assert_eq!(seen[1][0], 10);
    assert_eq!(seen[2], seen[0], "looped back to the first frame");
}

#[test]
fn a_truncated_y4m_frame_is_an_error_naming_the_file() {
    let dir = tmp("y4m-short");
    let path = dir.join("short.y4m");
    std::fs::write(&path, b"YUV4MPEG2 W4 H2 C420\nFRAME\n\x01\x02").unwrap();
    let mut src = capture::open(
        path.to_str().unwrap(),
        &SourceOptions {
            fps: 0.0,
            ..SourceOptions::default()
        },
    )
    .unwrap();
    src.start().unwrap();
    let e = src.next(&mut |_| {}).unwrap_err();
    assert!(
        matches!(&e, CaptureError::Unusable(m) if m.contains("short.y4m") && m.contains("truncated")),
        "{e}"
    );
}

#[test]
fn image_directories_play_in_name_order_and_end() {
    let dir = tmp("images");
    for (name, v) in [("b.png", 20u8), ("a.png", 10), ("c.txt", 0)] {
        if name.ends_with("png") {
            image::RgbImage::from_pixel(3, 2, image::Rgb([v, v, v]))
                .save(dir.join(name))
                .unwrap();
        } else {
            std::fs::write(dir.join(name), "not an image").unwrap();
        }
    }
    let opts = SourceOptions {
        fps: 0.0,
        looped: false,
        ..SourceOptions::default()
    };
    let mut src = capture::open(dir.to_str().unwrap(), &opts).unwrap();
    let info = src.start().unwrap();
    assert_eq!(
        (info.format, info.width, info.height),
        (PixelFormat::Rgb24, 3, 2)
    );
    let mut firsts = Vec::new();
    while src.next(&mut |f| firsts.push(f.data[0])).is_ok() {}
    assert_eq!(firsts, vec![10, 20]);
    assert!(matches!(
        src.next(&mut |_| {}),
        Err(CaptureError::EndOfStream)
    ));
}

#[test]
fn unknown_sources_say_what_is_accepted() {
    let e = capture::open("rtsp://camera", &SourceOptions::default())
        .err()
        .unwrap();
    assert!(
        e.to_string().contains("/dev/videoN, synthetic:shapes"),
        "{e}"
    );
    let e = capture::open("synthetic:cubes", &SourceOptions::default())
        .err()
        .unwrap();
    assert!(e.to_string().contains("synthetic:shapes[:SEED]"), "{e}");
    let e = capture::open(
        "synthetic:shapes",
        &SourceOptions {
            format: Some(PixelFormat::Mjpeg),
            ..SourceOptions::default()
        },
    )
    .err()
    .unwrap();
    assert!(e.to_string().contains("MJPEG"), "{e}");
}

#[test]
fn the_synthetic_camera_delivers_every_packed_format_at_any_size() {
    for format in [
        PixelFormat::Yuyv,
        PixelFormat::Uyvy,
        PixelFormat::Nv12,
        PixelFormat::Rgb24,
        PixelFormat::Bgr24,
        PixelFormat::Grey,
    ] {
        let opts = SourceOptions {
            width: 96,
            height: 64,
            fps: 0.0,
            format: Some(format),
            ..SourceOptions::default()
        };
        let mut src = capture::open("synthetic:shapes:2", &opts).unwrap();
        let info = src.start().unwrap();
        assert_eq!((info.format, info.width, info.height), (format, 96, 64));
        let mut len = 0;
        let mut seqs = Vec::new();
        for _ in 0..2 {
            src.next(&mut |f| {
                len = f.data.len();
                seqs.push(f.sequence);
            })
            .unwrap();
        }
        assert_eq!(
            len,
            format.frame_len(96, 64, 96 * format.bytes_per_pixel()),
            "{format}"
        );
        assert_eq!(seqs, vec![0, 1]);
    }
}
