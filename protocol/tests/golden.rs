//! Encoded messages against bytes written by hand from PROTOCOL.md's tables (not copied from
//! the encoder's output), and decoded back.

use edge_infer_protocol::{
    decode, encode_detections, encode_hello, ClassNames, Detection, Detections, FrameInfo, Hello,
    Message, MAX_MESSAGE_LEN,
};

/// PROTOCOL.md's "Example" section, byte for byte.
const DETECTIONS_EXAMPLE: [u8; 80] = [
    0x45, 0x44, 0x47, 0x49, 0x01, 0x00, 0x02, 0x00, 0x40, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, // header
    0x07, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // sequence 7
    0x40, 0x42, 0x0f, 0x00, 0x00, 0x00, 0x00, 0x00, // capture_ns 1 000 000
    0x60, 0xe3, 0x16, 0x00, 0x00, 0x00, 0x00, 0x00, // publish_ns 1 500 000
    0x80, 0x02, 0x00, 0x00, 0xe0, 0x01, 0x00, 0x00, // 640 x 480
    0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, // dropped 0, count 1
    0x02, 0x00, 0x00, 0x00, // class 2, reserved
    0x00, 0x00, 0x40, 0x3f, // score 0.75
    0x00, 0x00, 0x20, 0x41, // x1 10
    0x00, 0x00, 0xa4, 0x41, // y1 20.5
    0x00, 0x00, 0xc8, 0x42, // x2 100
    0x00, 0x40, 0x48, 0x43, // y2 200.25
];

fn example_detections() -> (FrameInfo, Detection) {
    let frame = FrameInfo {
        sequence: 7,
        capture_ns: 1_000_000,
        publish_ns: 1_500_000,
        source_width: 640,
        source_height: 480,
        dropped_since_last: 0,
    };
    let d = Detection {
        class: 2,
        score: 0.75,
        x1: 10.0,
        y1: 20.5,
        x2: 100.0,
        y2: 200.25,
    };
    (frame, d)
}

#[test]
fn detections_encode_to_the_bytes_in_protocol_md() {
    let (frame, d) = example_detections();
    let mut buf = [0xAAu8; MAX_MESSAGE_LEN];
    let len = encode_detections(&mut buf, &frame, [d]).unwrap();
    assert_eq!(&buf[..len], &DETECTIONS_EXAMPLE[..]);
}

#[test]
fn detections_decode_from_the_bytes_in_protocol_md() {
    let (frame, d) = example_detections();
    let mut expected = Detections {
        frame,
        ..Detections::default()
    };
    expected.detections.push(d).unwrap();
    assert_eq!(
        decode(&DETECTIONS_EXAMPLE),
        Ok(Message::Detections(expected))
    );
}

/// A Hello for model "tiny" with classes "cat" and "dög" (a two-byte UTF-8 character).
fn hello_golden() -> Vec<u8> {
    let mut b = Vec::new();
    // header: EDGI, version 1, kind 1, payload 88 + 2 * 32 = 152 (0x98), reserved
    b.extend_from_slice(&[0x45, 0x44, 0x47, 0x49, 0x01, 0x00, 0x01, 0x00]);
    b.extend_from_slice(&[0x98, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00]);
    // offset 16: model_name "tiny", zero-padded to 64 bytes
    b.extend_from_slice(&[0x74, 0x69, 0x6e, 0x79]);
    b.extend_from_slice(&[0u8; 60]);
    // offset 80: input 416 x 416 (0x1a0), source 640 x 480 (0x280, 0x1e0)
    b.extend_from_slice(&[0xa0, 0x01, 0x00, 0x00, 0xa0, 0x01, 0x00, 0x00]);
    b.extend_from_slice(&[0x80, 0x02, 0x00, 0x00, 0xe0, 0x01, 0x00, 0x00]);
    // offset 96: max_detections 100, class_count 2
    b.extend_from_slice(&[0x64, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00]);
    // offset 104: "cat", zero-padded to 32 bytes
    b.extend_from_slice(&[0x63, 0x61, 0x74]);
    b.extend_from_slice(&[0u8; 29]);
    // offset 136: "dög" = 64 c3 b6 67, zero-padded to 32 bytes
    b.extend_from_slice(&[0x64, 0xc3, 0xb6, 0x67]);
    b.extend_from_slice(&[0u8; 28]);
    assert_eq!(b.len(), 168);
    b
}

const NAMES: [&str; 2] = ["cat", "dög"];

fn hello() -> Hello<'static> {
    Hello {
        model_name: "tiny",
        input_width: 416,
        input_height: 416,
        source_width: 640,
        source_height: 480,
        max_detections: 100,
        class_names: ClassNames::new(&NAMES),
    }
}

#[test]
fn hello_encodes_to_hand_written_bytes() {
    let mut buf = [0xAAu8; MAX_MESSAGE_LEN];
    let len = encode_hello(&mut buf, &hello()).unwrap();
    assert_eq!(&buf[..len], &hello_golden()[..]);
}

#[test]
fn hello_decodes_from_hand_written_bytes() {
    let bytes = hello_golden();
    let Ok(Message::Hello(h)) = decode(&bytes) else {
        panic!("not a Hello: {:?}", decode(&bytes));
    };
    assert_eq!(h, hello());
    assert_eq!(h.class_names.get(1), Some("dög"));
    assert_eq!(h.class_names.get(2), None);
    assert_eq!(h.class_names.iter().collect::<Vec<_>>(), NAMES);
}
