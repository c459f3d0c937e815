//! Hundreds of thousands of random and mutated packets: `decode` returns a message or an error,
//! never panics, and whatever it accepts re-encodes to the same bytes (up to the fields readers
//! ignore). The cargo-fuzz target (`fuzz/`) does the same with coverage guidance, on nightly.

mod common;

use common::mutate::{fix_length, mutate, seeds, Rng};
use edge_infer_protocol::{
    decode, Message, CLASS_NAME_LEN, DETECTIONS_FIXED_LEN, DETECTION_LEN, HELLO_FIXED_LEN,
    MAX_MESSAGE_LEN, MODEL_NAME_LEN,
};

/// The bytes an encoder writes for what `packet` decoded to: reserved fields and bytes after a
/// name's first zero cleared.
fn canonical(packet: &[u8], message: &Message<'_>) -> Vec<u8> {
    let mut b = packet.to_vec();
    b[12..16].fill(0);
    let clear_after_nul = |field: &mut [u8]| {
        if let Some(nul) = field.iter().position(|&c| c == 0) {
            field[nul..].fill(0);
        }
    };
    match message {
        Message::Hello(h) => {
            clear_after_nul(&mut b[16..16 + MODEL_NAME_LEN]);
            for i in 0..h.class_names.len() {
                let at = HELLO_FIXED_LEN + i * CLASS_NAME_LEN;
                clear_after_nul(&mut b[at..at + CLASS_NAME_LEN]);
            }
        }
        Message::Detections(d) => {
            for i in 0..d.detections.len() {
                let at = DETECTIONS_FIXED_LEN + i * DETECTION_LEN;
                b[at + 2..at + 4].fill(0);
            }
        }
    }
    b
}

fn check(packet: &[u8], out: &mut [u8], accepted: &mut usize) {
    let Ok(message) = decode(packet) else { return };
    *accepted += 1;
    let len = message.encode(out).expect("what decodes re-encodes");
    assert_eq!(
        &out[..len],
        &canonical(packet, &message)[..],
        "re-encoding {message:?}"
    );
    assert_eq!(decode(&out[..len]).as_ref(), Ok(&message));
}

#[test]
fn random_and_mutated_packets_never_panic() {
    const SEED: u64 = 0x5EED_ED61_0001;
    const MUTATED: usize = 250_000;
    const RANDOM: usize = 100_000;
    let seeds = seeds();
    let mut rng = Rng(SEED);
    let mut out = vec![0u8; MAX_MESSAGE_LEN];
    let (mut accepted, mut rejected) = (0, 0);
    for i in 0..MUTATED {
        let packet = mutate(&mut rng, &seeds);
        let before = accepted;
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            check(&packet, &mut out, &mut accepted)
        }));
        if result.is_err() {
            panic!("mutated packet {i} (seed {SEED:#x}): {packet:02x?}");
        }
        rejected += usize::from(accepted == before);
    }
    for i in 0..RANDOM {
        let len = rng.below(200);
        let mut packet: Vec<u8> = (0..len).map(|_| rng.byte()).collect();
        // Half of them with a valid magic and version, so they get past the first checks.
        if i % 2 == 0 && len >= 6 {
            packet[..4].copy_from_slice(b"EDGI");
            packet[4..6].copy_from_slice(&1u16.to_le_bytes());
            fix_length(&mut packet);
        }
        let before = accepted;
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            check(&packet, &mut out, &mut accepted)
        }));
        if result.is_err() {
            panic!("random packet {i} (seed {SEED:#x}): {packet:02x?}");
        }
        rejected += usize::from(accepted == before);
    }
    // Both paths were exercised in earnest.
    assert!(accepted > 10_000, "only {accepted} packets accepted");
    assert!(rejected > 100_000, "only {rejected} packets rejected");
}
