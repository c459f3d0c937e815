//! Any text given to the Darknet importer produces a graph or an error, never a panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(model) = edge_engine::import::darknet::parse_cfg("fuzz.cfg", "fuzz", text, None) {
            if model.param_count() < 1 << 20 {
                let params = edge_engine::import::darknet::weights::random(&model, 0);
                let _ = model.with_params(&params);
            }
        }
    }
});
