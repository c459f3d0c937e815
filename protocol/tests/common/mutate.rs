//! Random and mutated packets for the tests that feed decoders garbage: valid seeds, then bit
//! flips, truncations, extensions, counts near their limits, non-finite floats, bad UTF-8.

use edge_infer_protocol::{
    encode_detections, encode_hello, ClassNames, Detection, FrameInfo, Hello, DETECTIONS_FIXED_LEN,
    DETECTION_LEN, HELLO_FIXED_LEN, MAX_MESSAGE_LEN,
};

/// xorshift64*: deterministic, so a failure reproduces; the seed is in the panic message.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    pub fn byte(&mut self) -> u8 {
        // Bias towards the values that matter to a parser.
        const SPECIAL: [u8; 10] = [0x00, 0xFF, 0x7F, 0x80, 0xC0, 0xC3, 0xE0, 0xED, 0xF0, 0xF4];
        if self.below(3) == 0 {
            SPECIAL[self.below(SPECIAL.len())]
        } else {
            self.next() as u8
        }
    }
}

pub fn seeds() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; MAX_MESSAGE_LEN];
    let name_sets: [&[&str]; 4] = [&[], &["person"], &["cat", "dög", "鳥", ""], &["a"; 40]];
    for names in name_sets {
        let h = Hello {
            model_name: "yolov3-tiny",
            input_width: 416,
            input_height: 416,
            source_width: 1920,
            source_height: 1080,
            max_detections: 100,
            class_names: ClassNames::new(names),
        };
        let len = encode_hello(&mut buf, &h).unwrap();
        out.push(buf[..len].to_vec());
    }
    for count in [0usize, 1, 3, 17] {
        let frame = FrameInfo {
            sequence: 12345,
            capture_ns: 1 << 40,
            publish_ns: (1 << 40) + 5_000_000,
            source_width: 1920,
            source_height: 1080,
            dropped_since_last: 0,
        };
        let dets = (0..count).map(|k| Detection {
            class: k as u16,
            score: 0.5,
            x1: -0.0,
            y1: 1e-30,
            x2: 3.4e38,
            y2: 1080.0,
        });
        let len = encode_detections(&mut buf, &frame, dets).unwrap();
        out.push(buf[..len].to_vec());
    }
    out
}

pub fn put_u32(b: &mut [u8], at: usize, v: u32) {
    if b.len() >= at + 4 {
        b[at..at + 4].copy_from_slice(&v.to_le_bytes());
    }
}

/// Keeps the header's payload length consistent, so mutations reach the payload's checks.
pub fn fix_length(b: &mut [u8]) {
    let payload = b.len().saturating_sub(16) as u32;
    put_u32(b, 8, payload);
}

pub fn mutate(rng: &mut Rng, seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut b = seeds[rng.below(seeds.len())].clone();
    for _ in 0..1 + rng.below(4) {
        match rng.below(9) {
            0 if !b.is_empty() => {
                let i = rng.below(b.len());
                b[i] ^= 1 << rng.below(8);
            }
            1 if !b.is_empty() => {
                let i = rng.below(b.len());
                b[i] = rng.byte();
            }
            2 => {
                let len = rng.below(b.len() + 1);
                b.truncate(len);
                if rng.below(2) == 0 {
                    fix_length(&mut b);
                }
            }
            3 => {
                for _ in 0..1 + rng.below(64) {
                    b.push(rng.byte());
                }
                if rng.below(2) == 0 {
                    fix_length(&mut b);
                }
            }
            4 => {
                // A count field set to something near its limits.
                let v = [0, 1, 2, 255, 256, 257, 1023, 1024, 1025, u32::MAX][rng.below(10)];
                let at = [52, 96, 100][rng.below(3)];
                put_u32(&mut b, at, v);
            }
            5 => {
                // Swap the kind: a Hello's bytes read as Detections and the other way round.
                if b.len() >= 8 {
                    b[6] = 1 + rng.below(2) as u8;
                }
            }
            6 => {
                // A float at a record's score/corner set to NaN or infinity.
                if b.len() >= DETECTIONS_FIXED_LEN + DETECTION_LEN {
                    let rec = rng.below((b.len() - DETECTIONS_FIXED_LEN) / DETECTION_LEN);
                    let at = DETECTIONS_FIXED_LEN + rec * DETECTION_LEN + 4 + 4 * rng.below(5);
                    let v = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY][rng.below(3)];
                    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
                }
            }
            7 => fix_length(&mut b),
            _ => {
                // Random bytes into a name field.
                if b.len() > HELLO_FIXED_LEN {
                    let at = 16 + rng.below(b.len() - 16);
                    let n = 1 + rng.below(4);
                    for i in at..(at + n).min(b.len()) {
                        b[i] = rng.byte();
                    }
                }
            }
        }
    }
    b
}

/// Hellos whose first class name is each of the UTF-8 edge cases (overlong, surrogate, above
/// U+10FFFF, stray continuation, a character cut by the zero or by the field's end, valid
/// multi-byte text), so decoders in other languages can be compared byte for byte.
pub fn utf8_cases() -> Vec<Vec<u8>> {
    const CASES: [&[u8]; 12] = [
        b"\xC0\xAF",
        b"\xE0\x80\x80",
        b"\xED\xA0\x80",
        b"\xF4\x90\x80\x80",
        b"\xF5\x80\x80\x80",
        b"ab\x80",
        b"ok\xE2\x82",
        b"\xC3",
        b"\xF0\x9F\x99\x82 smile",
        b"caf\xC3\xA9",
        b"\xEF\xBF\xBF",
        b"\xF0\x90\x80",
    ];
    let base = &seeds()[1]; // a Hello with one class
    let mut out = Vec::new();
    for case in CASES {
        let mut b = base.clone();
        let field = HELLO_FIXED_LEN..HELLO_FIXED_LEN + 32;
        b[field.clone()].fill(0);
        b[HELLO_FIXED_LEN..HELLO_FIXED_LEN + case.len()].copy_from_slice(case);
        out.push(b.clone());
        // The same bytes at the end of a full field (no terminating zero).
        b[field.clone()].fill(b'x');
        b[field.end - case.len()..field.end].copy_from_slice(case);
        out.push(b);
    }
    out
}
