//! Every rejection of PROTOCOL.md's "Validation" with its offset and field, the encoder's
//! errors, name truncation, and round trips at the size limits.

use edge_infer_protocol::{
    decode, detections_len, encode_detections, encode_hello, hello_len, set_dropped_since_last,
    wire_text, ClassNames, DecodeError, DecodeErrorKind, Detection, Detections, EncodeError,
    FrameInfo, Hello, Kind, Message, CLASS_NAME_LEN, DROPPED_SINCE_LAST_OFFSET, MAX_CLASSES,
    MAX_DETECTIONS, MAX_DETECTIONS_LEN, MAX_HELLO_LEN, MAX_MESSAGE_LEN,
};

const NAMES: [&str; 3] = ["person", "bicycle", "car"];

fn hello() -> Hello<'static> {
    Hello {
        model_name: "yolov3-tiny",
        input_width: 416,
        input_height: 416,
        source_width: 1280,
        source_height: 720,
        max_detections: 100,
        class_names: ClassNames::new(&NAMES),
    }
}

fn hello_bytes() -> Vec<u8> {
    let mut buf = vec![0u8; MAX_MESSAGE_LEN];
    let len = encode_hello(&mut buf, &hello()).unwrap();
    buf.truncate(len);
    buf
}

fn detection(k: usize) -> Detection {
    Detection {
        class: (k % 3) as u16,
        score: 0.9,
        x1: 1.0,
        y1: 2.0,
        x2: 3.0,
        y2: 4.0,
    }
}

fn frame() -> FrameInfo {
    FrameInfo {
        sequence: 42,
        capture_ns: 10,
        publish_ns: 20,
        source_width: 1280,
        source_height: 720,
        dropped_since_last: 3,
    }
}

fn detections_bytes(count: usize) -> Vec<u8> {
    let mut buf = vec![0u8; MAX_MESSAGE_LEN];
    let len = encode_detections(&mut buf, &frame(), (0..count).map(detection)).unwrap();
    buf.truncate(len);
    buf
}

fn put_u32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

fn err(bytes: &[u8]) -> DecodeError {
    match decode(bytes) {
        Err(e) => e,
        Ok(m) => panic!("decoded {m:?}"),
    }
}

fn assert_err(bytes: &[u8], offset: usize, field: &str, kind: DecodeErrorKind) {
    let e = err(bytes);
    assert_eq!((e.offset, e.field, e.kind), (offset, field, kind), "{e}");
    let text = e.to_string();
    assert!(
        text.starts_with(&format!("at byte {offset} ({field}): ")),
        "{text}"
    );
}

#[test]
fn wrong_magic() {
    let mut b = detections_bytes(1);
    b[..4].copy_from_slice(b"GET ");
    assert_err(
        &b,
        0,
        "header.magic",
        DecodeErrorKind::BadMagic { found: *b"GET " },
    );
    // Short garbage is still reported as the wrong magic when its first bytes are there.
    assert_err(
        b"hello",
        0,
        "header.magic",
        DecodeErrorKind::BadMagic { found: *b"hell" },
    );
}

#[test]
fn unsupported_version() {
    let mut b = hello_bytes();
    b[4] = 2;
    assert_err(
        &b,
        4,
        "header.version",
        DecodeErrorKind::UnsupportedVersion { found: 2 },
    );
    assert!(err(&b)
        .to_string()
        .contains("unsupported protocol version 2"));
}

#[test]
fn unknown_kind() {
    let mut b = detections_bytes(0);
    b[6] = 9;
    assert_err(
        &b,
        6,
        "header.kind",
        DecodeErrorKind::UnknownKind { found: 9 },
    );
}

#[test]
fn truncated_header() {
    let b = detections_bytes(0);
    let truncated = |needed, len| DecodeErrorKind::Truncated { needed, len };
    assert_err(&[], 0, "header.magic", truncated(4, 0));
    assert_err(&b[..3], 0, "header.magic", truncated(4, 3));
    assert_err(&b[..5], 4, "header.version", truncated(6, 5));
    assert_err(&b[..7], 6, "header.kind", truncated(8, 7));
    assert_err(&b[..11], 8, "header.payload_length", truncated(12, 11));
    assert_err(&b[..15], 12, "header.reserved", truncated(16, 15));
}

#[test]
fn payload_length_must_match_the_packet() {
    let b = detections_bytes(2);
    // Packet cut short: the header promises more than there is.
    let cut = &b[..b.len() - 1];
    let kind = DecodeErrorKind::LengthMismatch {
        expected: b.len() - 16,
        found: b.len() - 17,
    };
    assert_err(cut, 8, "header.payload_length", kind);
    // Trailing bytes.
    let mut long = b.clone();
    long.push(0);
    let kind = DecodeErrorKind::LengthMismatch {
        expected: b.len() - 16,
        found: b.len() - 15,
    };
    assert_err(&long, 8, "header.payload_length", kind);
}

#[test]
fn truncated_fixed_part_names_the_first_missing_field() {
    // Consistent header, payload too short for the kind: 16 + 30 bytes of a Detections message.
    let mut b = detections_bytes(0)[..46].to_vec();
    put_u32(&mut b, 8, 30);
    let kind = DecodeErrorKind::Truncated {
        needed: 48,
        len: 46,
    };
    assert_err(&b, 44, "detections.source_height", kind);

    let mut b = hello_bytes()[..50].to_vec();
    put_u32(&mut b, 8, 34);
    let kind = DecodeErrorKind::Truncated {
        needed: 80,
        len: 50,
    };
    assert_err(&b, 16, "hello.model_name", kind);
}

#[test]
fn counts_above_their_maximum() {
    let mut b = detections_bytes(0);
    put_u32(&mut b, 52, 257);
    assert_err(
        &b,
        52,
        "detections.count",
        DecodeErrorKind::TooMany {
            count: 257,
            max: 256,
        },
    );

    let mut b = hello_bytes();
    put_u32(&mut b, 96, 1000);
    let kind = DecodeErrorKind::TooMany {
        count: 1000,
        max: 256,
    };
    assert_err(&b, 96, "hello.max_detections", kind);

    let mut b = hello_bytes();
    put_u32(&mut b, 100, 1025);
    let kind = DecodeErrorKind::TooMany {
        count: 1025,
        max: 1024,
    };
    assert_err(&b, 100, "hello.class_count", kind);
}

#[test]
fn count_must_match_payload_length() {
    let mut b = detections_bytes(2);
    put_u32(&mut b, 52, 3);
    let kind = DecodeErrorKind::LengthMismatch {
        expected: 40 + 3 * 24,
        found: 40 + 2 * 24,
    };
    assert_err(&b, 52, "detections.count", kind);

    let mut b = hello_bytes();
    put_u32(&mut b, 100, 2);
    let kind = DecodeErrorKind::LengthMismatch {
        expected: 88 + 2 * 32,
        found: 88 + 3 * 32,
    };
    assert_err(&b, 100, "hello.class_count", kind);
}

#[test]
fn non_finite_score_and_box() {
    let mut b = detections_bytes(2);
    b[60..64].copy_from_slice(&f32::NAN.to_le_bytes());
    let bits = f32::NAN.to_bits();
    assert_err(
        &b,
        60,
        "detection.score",
        DecodeErrorKind::NonFinite { bits },
    );

    // Record 1's y2: 56 + 24 + 20.
    let mut b = detections_bytes(2);
    b[100..104].copy_from_slice(&f32::INFINITY.to_le_bytes());
    let bits = f32::INFINITY.to_bits();
    assert_err(&b, 100, "detection.y2", DecodeErrorKind::NonFinite { bits });
    assert!(err(&b).to_string().contains("non-finite value inf"));

    let mut b = detections_bytes(1);
    b[64..68].copy_from_slice(&f32::NEG_INFINITY.to_le_bytes());
    assert_eq!(err(&b).field, "detection.x1");
}

#[test]
fn invalid_utf8_names_point_at_the_bad_byte() {
    let mut b = hello_bytes();
    b[16 + 3] = 0xFF; // "yol\xffv3-tiny"
    assert_err(&b, 19, "hello.model_name", DecodeErrorKind::InvalidUtf8);

    // Class 2 ("car") starts at 104 + 64; an overlong encoding of '/' at its byte 1.
    let mut b = hello_bytes();
    b[169] = 0xC0;
    b[170] = 0xAF;
    assert_err(&b, 169, "hello.class_names", DecodeErrorKind::InvalidUtf8);

    // A character cut by the end of a full field.
    let mut b = hello_bytes();
    b[104..136].fill(b'a');
    b[135] = 0xC3;
    assert_err(&b, 135, "hello.class_names", DecodeErrorKind::InvalidUtf8);
}

#[test]
fn bytes_after_the_first_zero_and_reserved_fields_are_ignored() {
    let mut b = hello_bytes();
    b[12] = 0xFF; // header.reserved
    b[104 + 10] = 0xFF; // inside "person"'s padding, after its zero
    let Ok(Message::Hello(h)) = decode(&b) else {
        panic!("{:?}", decode(&b))
    };
    assert_eq!(h.class_names.get(0), Some("person"));

    let mut b = detections_bytes(1);
    b[58] = 0x12; // detection.reserved
    assert!(decode(&b).is_ok());
}

#[test]
fn full_width_names_have_no_terminator() {
    let name = "abcdefghijklmnopqrstuvwxyz012345"; // exactly 32 bytes
    let names = [name];
    let h = Hello {
        class_names: ClassNames::new(&names),
        ..hello()
    };
    let mut buf = vec![0u8; MAX_MESSAGE_LEN];
    let len = h.encode(&mut buf).unwrap();
    assert_eq!(&buf[104..136], name.as_bytes());
    let Ok(Message::Hello(back)) = decode(&buf[..len]) else {
        panic!()
    };
    assert_eq!(back.class_names.get(0), Some(name));
}

#[test]
fn long_names_are_truncated_at_a_character_boundary() {
    // 31 ASCII bytes then a 2-byte character: 33 bytes, cut to 31, not into the character.
    let long = "abcdefghijklmnopqrstuvwxyz01234é";
    assert_eq!(
        wire_text(long, CLASS_NAME_LEN),
        "abcdefghijklmnopqrstuvwxyz01234"
    );
    assert_eq!(wire_text("a\0b", CLASS_NAME_LEN), "a");
    assert_eq!(wire_text("ééé", 5), "éé");
    let model = "m".repeat(63) + "🙂";
    let names = [long, "nul\0inside"];
    let h = Hello {
        model_name: &model,
        class_names: ClassNames::new(&names),
        ..hello()
    };
    let mut buf = vec![0u8; MAX_MESSAGE_LEN];
    let len = h.encode(&mut buf).unwrap();
    let Ok(Message::Hello(back)) = decode(&buf[..len]) else {
        panic!()
    };
    assert_eq!(back.model_name, "m".repeat(63));
    assert_eq!(
        back.class_names.get(0),
        Some("abcdefghijklmnopqrstuvwxyz01234")
    );
    assert_eq!(back.class_names.get(1), Some("nul"));
    // The encoder's view of its names is the wire's, so the two Hellos' names compare equal.
    assert_eq!(back.class_names, h.class_names);
}

#[test]
fn round_trips_at_the_size_limits() {
    let names: Vec<String> = (0..MAX_CLASSES).map(|i| format!("class-{i}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let h = Hello {
        max_detections: MAX_DETECTIONS as u32,
        class_names: ClassNames::new(&refs),
        ..hello()
    };
    let mut buf = vec![0u8; MAX_MESSAGE_LEN];
    assert_eq!(h.encode(&mut buf), Ok(MAX_HELLO_LEN));
    assert_eq!(decode(&buf[..MAX_HELLO_LEN]), Ok(Message::Hello(h)));

    let mut d = Detections {
        frame: frame(),
        ..Detections::default()
    };
    for k in 0..MAX_DETECTIONS {
        d.detections.push(detection(k)).unwrap();
    }
    assert_eq!(d.encode(&mut buf), Ok(MAX_DETECTIONS_LEN));
    assert_eq!(
        decode(&buf[..MAX_DETECTIONS_LEN]),
        Ok(Message::Detections(d))
    );
    assert_eq!(MAX_MESSAGE_LEN, 32_872);
    assert_eq!(MAX_DETECTIONS_LEN, 6_200);
}

#[test]
fn encoder_errors() {
    let mut small = [0u8; 100];
    assert_eq!(
        encode_hello(&mut small, &hello()),
        Err(EncodeError::BufferTooSmall {
            needed: hello_len(3),
            available: 100
        })
    );
    assert_eq!(
        encode_detections(&mut small, &frame(), (0..3).map(detection)),
        Err(EncodeError::BufferTooSmall {
            needed: detections_len(3),
            available: 100
        })
    );

    let mut buf = vec![0u8; MAX_MESSAGE_LEN * 2];
    let too_many = (0..MAX_DETECTIONS + 1).map(detection);
    assert_eq!(
        encode_detections(&mut buf, &frame(), too_many),
        Err(EncodeError::TooMany {
            field: "detections.count",
            count: 257,
            max: 256
        })
    );
    let h = Hello {
        max_detections: 257,
        ..hello()
    };
    assert!(matches!(
        h.encode(&mut buf),
        Err(EncodeError::TooMany {
            field: "hello.max_detections",
            ..
        })
    ));
    let names = vec!["x"; MAX_CLASSES + 1];
    let h = Hello {
        class_names: ClassNames::new(&names),
        ..hello()
    };
    assert!(matches!(
        h.encode(&mut buf),
        Err(EncodeError::TooMany {
            field: "hello.class_count",
            ..
        })
    ));

    let nan_box = Detection {
        y1: f32::NAN,
        ..detection(0)
    };
    let e = encode_detections(&mut buf, &frame(), [detection(0), nan_box]).unwrap_err();
    assert!(
        matches!(
            e,
            EncodeError::NonFinite {
                field: "detection.y1",
                index: 1,
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn an_iterator_that_lies_about_its_length_still_yields_a_valid_message() {
    struct Liar(usize);
    impl Iterator for Liar {
        type Item = Detection;
        fn next(&mut self) -> Option<Detection> {
            (self.0 > 0).then(|| {
                self.0 -= 1;
                detection(self.0)
            })
        }
    }
    impl ExactSizeIterator for Liar {
        fn len(&self) -> usize {
            5
        }
    }
    let mut buf = vec![0u8; MAX_MESSAGE_LEN];
    let len = encode_detections(&mut buf, &frame(), Liar(2)).unwrap();
    assert_eq!(len, detections_len(2));
    let Ok(Message::Detections(d)) = decode(&buf[..len]) else {
        panic!()
    };
    assert_eq!(d.detections.len(), 2);
}

#[test]
fn dropped_since_last_can_be_patched_per_client() {
    let mut b = detections_bytes(2);
    set_dropped_since_last(&mut b, 77).unwrap();
    assert_eq!(DROPPED_SINCE_LAST_OFFSET, 48);
    let Ok(Message::Detections(d)) = decode(&b) else {
        panic!()
    };
    assert_eq!(d.frame.dropped_since_last, 77);
    let mut h = hello_bytes();
    assert_eq!(
        set_dropped_since_last(&mut h, 1),
        Err(EncodeError::NotDetections)
    );
    assert_eq!(
        set_dropped_since_last(&mut b[..40], 1),
        Err(EncodeError::NotDetections)
    );
}

#[test]
fn checks_against_the_hello() {
    let h = Hello {
        max_detections: 2,
        ..hello()
    };
    let mut d = Detections::default();
    d.detections.push(detection(0)).unwrap();
    assert_eq!(h.check_detections(&d), Ok(()));
    d.detections
        .push(Detection {
            class: 3,
            ..detection(0)
        })
        .unwrap();
    let e = h.check_detections(&d).unwrap_err();
    assert_eq!((e.offset, e.field), (56 + 24, "detection.class"));
    assert_eq!(
        e.kind,
        DecodeErrorKind::ClassOutOfRange {
            class: 3,
            class_count: 3
        }
    );
    d.detections.push(detection(0)).unwrap();
    let e = h.check_detections(&d).unwrap_err();
    assert_eq!((e.offset, e.field), (52, "detections.count"));
}

#[test]
fn kinds() {
    assert_eq!(decode(&hello_bytes()).unwrap().kind(), Kind::Hello);
    assert_eq!(
        decode(&detections_bytes(0)).unwrap().kind(),
        Kind::Detections
    );
    assert_eq!(Kind::from_u16(3), None);
}
