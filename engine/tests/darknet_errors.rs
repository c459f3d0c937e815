//! Bad model files get errors that name the file, line, section and key.

use edge_engine::import::darknet::{parse_cfg, weights};
use edge_engine::Error;

fn cfg_error(text: &str) -> String {
    match parse_cfg("bad.cfg", "bad", text, None) {
        Err(e @ Error::Cfg { .. }) => e.to_string(),
        Err(e) => panic!("not a cfg error: {e}"),
        Ok(_) => panic!("accepted:\n{text}"),
    }
}

const NET: &str = "[net]\nwidth=64\nheight=64\nchannels=3\n";
const HEAD: &str = "[convolutional]\nfilters=12\nsize=1\nactivation=linear\n[yolo]\nmask=0\nanchors=4,4\nclasses=7\nnum=1\n";

#[test]
fn a_bad_value_names_file_line_section_and_key() {
    let e = cfg_error(&format!(
        "{NET}[convolutional]\nfilters=abc\nsize=3\n{HEAD}"
    ));
    assert_eq!(
        e,
        "bad.cfg:6: [convolutional] filters: expected an integer, found 'abc'"
    );
}

#[test]
fn an_unknown_activation_is_refused() {
    let e = cfg_error(&format!(
        "{NET}[convolutional]\nfilters=8\nactivation=gelu\n{HEAD}"
    ));
    assert!(
        e.starts_with("bad.cfg:7: [convolutional] activation: unsupported activation 'gelu'"),
        "{e}"
    );
}

#[test]
fn a_route_past_the_start_is_refused() {
    let e = cfg_error(&format!(
        "{NET}[convolutional]\nfilters=8\n[route]\nlayers=-5\n{HEAD}"
    ));
    assert!(
        e.starts_with("bad.cfg:8: [route] layers: -5 refers to layer -4"),
        "{e}"
    );
}

#[test]
fn an_unknown_section_is_refused_at_its_line() {
    let e = cfg_error(&format!("{NET}[dropout]\nprobability=.5\n{HEAD}"));
    assert_eq!(e, "bad.cfg:5: [dropout]: unsupported layer type [dropout]");
}

#[test]
fn a_yolo_head_must_match_its_channels() {
    let e = cfg_error(&format!(
        "{NET}[convolutional]\nfilters=10\nsize=1\n[yolo]\nmask=0\nanchors=4,4\nclasses=7\nnum=1\n"
    ));
    assert!(
        e.contains("[yolo]") && e.contains("10 channels") && e.contains("needs 12"),
        "{e}"
    );
}

#[test]
fn text_before_any_section_and_garbage_lines() {
    assert!(cfg_error("width=3\n").contains("before the first [section]"));
    assert!(cfg_error(&format!("{NET}what is this\n"))
        .starts_with("bad.cfg:5: [net]: expected key=value"));
}

#[test]
fn shortcut_of_different_shapes() {
    let e = cfg_error(&format!("{NET}[convolutional]\nfilters=8\nsize=1\n[convolutional]\nfilters=4\nsize=1\n[shortcut]\nfrom=-2\n{HEAD}"));
    assert!(
        e.contains("[shortcut] from: shortcut of different shapes"),
        "{e}"
    );
}

#[test]
fn weights_of_the_wrong_length_say_expected_and_found() {
    let model = parse_cfg("ok.cfg", "ok", &format!("{NET}{HEAD}"), None).unwrap();
    // conv without BN: 12 biases + 12*3 weights = 48 floats.
    assert_eq!(model.param_count(), 48);
    let mut bytes = weights::to_bytes(&[0.5; 48]);
    assert!(weights::parse(&model, "ok.weights", &bytes).is_ok());
    bytes.truncate(bytes.len() - 8);
    let e = weights::parse(&model, "ok.weights", &bytes)
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "ok.weights: expected 48 floats after the 20-byte header (version 0.2.0), found 46"
    );
}

#[test]
fn old_weights_headers_have_a_32_bit_seen() {
    let model = parse_cfg("ok.cfg", "ok", &format!("{NET}{HEAD}"), None).unwrap();
    let mut bytes = Vec::new();
    for v in [0i32, 1, 0, 0] {
        bytes.extend_from_slice(&v.to_le_bytes()); // major 0, minor 1, revision 0, seen (u32)
    }
    bytes.extend((0..48).flat_map(|i| (i as f32).to_le_bytes()));
    let params = weights::parse(&model, "old.weights", &bytes).unwrap();
    assert_eq!(params[47], 47.0);
}

#[test]
fn random_weights_are_deterministic_and_seed_dependent() {
    let model = parse_cfg("ok.cfg", "ok", &format!("{NET}{HEAD}"), None).unwrap();
    assert_eq!(weights::random(&model, 1), weights::random(&model, 1));
    assert_ne!(weights::random(&model, 1), weights::random(&model, 2));
}
