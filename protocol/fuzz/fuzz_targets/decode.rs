//! Any bytes given to the decoder produce a message or an error, never a panic; whatever it
//! accepts re-encodes and decodes to the same message.
//! Run from `protocol/`: `cargo +nightly fuzz run decode` (see ../README.md for a seed corpus).
#![no_main]

use edge_infer_protocol::{decode, MAX_MESSAGE_LEN};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(message) = decode(data) else { return };
    let mut buf = [0u8; MAX_MESSAGE_LEN];
    let len = message.encode(&mut buf).expect("a decoded message re-encodes");
    assert_eq!(len, data.len(), "re-encoded length");
    assert_eq!(decode(&buf[..len]).as_ref(), Ok(&message), "round trip");
});
