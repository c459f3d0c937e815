//! Pixel conversion of every format against reference formulas: BT.601 limited range for
//! YUV (hand-computed colours), exact bytes for RGB/BGR/GREY, and the letterbox geometry.

use edge_engine::graph::Shape;
use edge_engine::model::{ModelMeta, Preprocess};
use edge_infer::convert::{encode_rgb, yuv_to_rgb, ConvertError, Converter};
use edge_infer::frame::{Frame, PixelFormat};

fn meta(w: usize, h: usize) -> ModelMeta {
    ModelMeta {
        name: "t".into(),
        input: Shape::new(h, w, 3),
        class_names: vec![],
        heads: vec![],
        preprocess: Preprocess::default(),
    }
}

#[test]
fn bt601_limited_range_reference_colours() {
    // Y 16 is black, Y 235 white; the BT.601 primaries at 75%... here 100%: red is
    // (Y, Cb, Cr) = (81, 90, 240), green (145, 54, 34), blue (41, 240, 110) (Rec. 601 tables).
    let close =
        |got: [f32; 3], want: [f32; 3]| got.iter().zip(want).all(|(g, w)| (g - w).abs() <= 2.0);
    assert_eq!(yuv_to_rgb(16, 128, 128), [0.0, 0.0, 0.0]);
    assert_eq!(yuv_to_rgb(235, 128, 128), [255.0, 255.0, 255.0]);
    assert!(
        close(yuv_to_rgb(81, 90, 240), [255.0, 0.0, 0.0]),
        "{:?}",
        yuv_to_rgb(81, 90, 240)
    );
    assert!(
        close(yuv_to_rgb(145, 54, 34), [0.0, 255.0, 0.0]),
        "{:?}",
        yuv_to_rgb(145, 54, 34)
    );
    assert!(
        close(yuv_to_rgb(41, 240, 110), [0.0, 0.0, 255.0]),
        "{:?}",
        yuv_to_rgb(41, 240, 110)
    );
    // Out-of-range codes clamp instead of wrapping.
    assert_eq!(yuv_to_rgb(0, 128, 128), [0.0, 0.0, 0.0]);
    assert_eq!(yuv_to_rgb(255, 128, 128), [255.0, 255.0, 255.0]);
}

/// A 4x2 frame of flat colours, packed in `format`, converted at the same size (no scaling,
/// no bars), must give the colours back within the chroma subsampling's error.
fn round_trip(format: PixelFormat, tolerance: f32) {
    let colours: [[u8; 3]; 8] = [
        [255, 0, 0],
        [255, 0, 0],
        [0, 0, 255],
        [0, 0, 255],
        [0, 255, 0],
        [0, 255, 0],
        [200, 200, 200],
        [200, 200, 200],
    ];
    let rgb: Vec<u8> = colours.iter().flatten().copied().collect();
    let (w, h) = (4, 2);
    let stride = w * format.bytes_per_pixel() + 8; // padded rows, as drivers do
    let mut packed = vec![0u8; format.frame_len(w, h, stride)];
    encode_rgb(&rgb, w, h, format, stride, &mut packed);
    let mut conv = Converter::new(format, w, h, &meta(w, h)).unwrap();
    let mut dst = vec![0f32; w * h * 3];
    let frame = Frame {
        format,
        width: w,
        height: h,
        stride,
        data: &packed,
        timestamp_ns: 0,
        sequence: 0,
    };
    conv.fill(&frame, &mut dst).unwrap();
    for (i, c) in colours.iter().enumerate() {
        let want: Vec<f32> = if format == PixelFormat::Grey {
            let g =
                (0.299 * c[0] as f32 + 0.587 * c[1] as f32 + 0.114 * c[2] as f32).round() / 255.0;
            vec![g; 3]
        } else {
            c.iter().map(|v| *v as f32 / 255.0).collect()
        };
        for k in 0..3 {
            let got = dst[i * 3 + k];
            assert!(
                (got - want[k]).abs() <= tolerance,
                "{format} pixel {i} channel {k}: {got} vs {}",
                want[k]
            );
        }
    }
}

#[test]
fn every_packed_format_round_trips() {
    // Exact bytes: only float rounding of v / 255.
    round_trip(PixelFormat::Rgb24, 1e-6);
    round_trip(PixelFormat::Bgr24, 1e-6);
    round_trip(PixelFormat::Grey, 1e-6);
    // 8-bit limited-range YUV loses a little; NV12 also halves chroma vertically, and the
    // test pattern changes colour between rows only in columns where it stays flat per pair.
    round_trip(PixelFormat::Yuyv, 3.0 / 255.0);
    round_trip(PixelFormat::Uyvy, 3.0 / 255.0);
}

#[test]
fn nv12_reads_chroma_from_the_second_plane() {
    // 2x2 NV12: all Y = 81, one chroma sample (Cb 90, Cr 240): pure red everywhere.
    let data = [81u8, 81, 81, 81, 90, 240];
    let mut conv = Converter::new(PixelFormat::Nv12, 2, 2, &meta(2, 2)).unwrap();
    let mut dst = vec![0f32; 12];
    conv.fill(
        &Frame {
            format: PixelFormat::Nv12,
            width: 2,
            height: 2,
            stride: 2,
            data: &data,
            timestamp_ns: 0,
            sequence: 0,
        },
        &mut dst,
    )
    .unwrap();
    for px in dst.chunks(3) {
        assert!(px[0] > 0.99 && px[1] < 0.01 && px[2] < 0.01, "{px:?}");
    }
}

#[test]
fn a_wide_frame_is_letterboxed_with_grey_bars() {
    // 8x4 white RGB into 8x8: rows 0-1 and 6-7 are bars (0.5), rows 2-5 the picture (1.0).
    let data = vec![255u8; 8 * 4 * 3];
    let mut conv = Converter::new(PixelFormat::Rgb24, 8, 4, &meta(8, 8)).unwrap();
    let mut dst = vec![0f32; 8 * 8 * 3];
    conv.fill(
        &Frame {
            format: PixelFormat::Rgb24,
            width: 8,
            height: 4,
            stride: 24,
            data: &data,
            timestamp_ns: 0,
            sequence: 0,
        },
        &mut dst,
    )
    .unwrap();
    for y in 0..8 {
        let want = if (2..6).contains(&y) { 1.0 } else { 0.5 };
        assert!(
            dst[y * 24..(y + 1) * 24].iter().all(|v| *v == want),
            "row {y}"
        );
    }
    assert_eq!((conv.letterbox.pad_y, conv.letterbox.inner_h), (2, 4));
}

#[test]
fn short_frames_and_wrong_geometry_are_errors_not_panics() {
    let mut conv = Converter::new(PixelFormat::Yuyv, 4, 2, &meta(4, 4)).unwrap();
    let mut dst = vec![0f32; 48];
    let short = [0u8; 10];
    let e = conv
        .fill(
            &Frame {
                format: PixelFormat::Yuyv,
                width: 4,
                height: 2,
                stride: 8,
                data: &short,
                timestamp_ns: 0,
                sequence: 0,
            },
            &mut dst,
        )
        .unwrap_err();
    assert!(
        matches!(
            e,
            ConvertError::Short {
                need: 16,
                got: 10,
                ..
            }
        ),
        "{e}"
    );
    let e = conv
        .fill(
            &Frame {
                format: PixelFormat::Yuyv,
                width: 6,
                height: 2,
                stride: 12,
                data: &[0; 24],
                timestamp_ns: 0,
                sequence: 0,
            },
            &mut dst,
        )
        .unwrap_err();
    assert!(matches!(e, ConvertError::Geometry { .. }), "{e}");
    assert!(Converter::new(PixelFormat::Rgb24, 0, 5, &meta(4, 4)).is_err());
}

#[test]
fn mjpeg_frames_are_decoded_and_bad_ones_refused() {
    let img = image::RgbImage::from_pixel(16, 8, image::Rgb([0, 0, 255]));
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 95)
        .encode_image(&img)
        .unwrap();
    let mut conv = Converter::new(PixelFormat::Mjpeg, 16, 8, &meta(16, 8)).unwrap();
    let mut dst = vec![0f32; 16 * 8 * 3];
    let frame = |data| Frame {
        format: PixelFormat::Mjpeg,
        width: 16,
        height: 8,
        stride: 0,
        data,
        timestamp_ns: 0,
        sequence: 0,
    };
    conv.fill(&frame(&jpeg), &mut dst).unwrap();
    assert!(
        dst.chunks(3).all(|p| p[0] < 0.05 && p[2] > 0.95),
        "{:?}",
        &dst[..3]
    );
    let e = conv.fill(&frame(&jpeg[..20]), &mut dst).unwrap_err();
    assert!(matches!(e, ConvertError::Jpeg(_)), "{e}");
}
