//! Any bytes given to the plan loader produce an engine or an error, never a panic.
//! Run: `cargo +nightly fuzz run plan_loader` (seed the corpus with a built engine).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = edge_engine::Engine::from_bytes(data);
    // Past the checksum too: fix it up so the parser and graph validation see the bytes.
    if data.len() > 40 {
        let mut m = data.to_vec();
        let end = m.len() - 4;
        let crc = crc32(&m[..end]);
        m[end..].copy_from_slice(&crc.to_le_bytes());
        let _ = edge_engine::Engine::from_bytes(&m);
    }
});

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = (crc >> 1) ^ (0xEDB8_8320 & (crc & 1).wrapping_neg());
        }
    }
    !crc
}
