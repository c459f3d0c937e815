//! The C header's and the Python example's decoders against the Rust one, on the same mutated
//! packets: same verdict, and for rejections the same offset and field. Skipped (visibly) when
//! the C compiler or python3 is missing.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::mutate::{mutate, seeds, utf8_cases, Rng};
use common::{c_compiler, compile_c, crate_dir, python, run_with_deadline};
use edge_infer_protocol::decode;

/// The packets, and what the Rust decoder says of each: "ok KIND" or "err OFFSET FIELD".
fn corpus(file: &str) -> (PathBuf, String) {
    let seeds = seeds();
    let mut rng = Rng(0xC0FF_EE00_1234);
    let mut packets: Vec<Vec<u8>> = seeds.clone();
    packets.extend(utf8_cases());
    packets.extend((0..20_000).map(|_| mutate(&mut rng, &seeds)));

    let mut bytes = Vec::new();
    let mut expected = String::new();
    for p in &packets {
        bytes.extend_from_slice(&(p.len() as u32).to_le_bytes());
        bytes.extend_from_slice(p);
        expected += &match decode(p) {
            Ok(m) => format!("ok {}\n", m.kind().to_u16()),
            Err(e) => format!("err {} {}\n", e.offset, e.field),
        };
    }
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(file);
    std::fs::write(&path, bytes).unwrap();
    (path, expected)
}

fn assert_same(actual: &str, expected: &str, who: &str) {
    let ok = expected.lines().filter(|l| l.starts_with("ok")).count();
    assert!(
        ok > 1000 && expected.lines().count() - ok > 1000,
        "a corpus that exercises both paths"
    );
    for (i, (a, e)) in actual.lines().zip(expected.lines()).enumerate() {
        assert_eq!(a, e, "{who} and Rust disagree on packet {i}");
    }
    assert_eq!(
        actual.lines().count(),
        expected.lines().count(),
        "{who} decoded a different number of packets"
    );
}

#[test]
fn c_decoder_agrees_with_rust() {
    let Some(cc) = c_compiler("c_decoder_agrees_with_rust") else {
        return;
    };
    let harness = compile_c(&cc, "tests/c/decode_file.c", "edgi-decode-file");
    let (packets, expected) = corpus("edgi-parity-c.bin");
    let out = run_with_deadline(Command::new(harness).arg(packets));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_same(
        &String::from_utf8_lossy(&out.stdout),
        &expected,
        "edge_infer.h",
    );
}

#[test]
fn python_decoder_agrees_with_rust() {
    let Some(python) = python("python_decoder_agrees_with_rust") else {
        return;
    };
    const HARNESS: &str = r#"
import importlib.util, struct, sys
spec = importlib.util.spec_from_file_location("watch", sys.argv[1])
watch = importlib.util.module_from_spec(spec)
spec.loader.exec_module(watch)
data = open(sys.argv[2], "rb").read()
i, out = 0, []
while i < len(data):
    (n,) = struct.unpack_from("<I", data, i)
    packet = data[i + 4:i + 4 + n]
    i += 4 + n
    try:
        kind, _ = watch.decode(packet)
        out.append("ok %d" % (1 if kind == "hello" else 2))
    except watch.ProtocolError as e:
        out.append("err %d %s" % (e.offset, e.field))
sys.stdout.write("".join(line + "\n" for line in out))
"#;
    let (packets, expected) = corpus("edgi-parity-python.bin");
    let script = crate_dir().join("examples/python/watch.py");
    let out = run_with_deadline(
        Command::new(python)
            .args(["-c", HARNESS])
            .arg(script)
            .arg(packets),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_same(&String::from_utf8_lossy(&out.stdout), &expected, "watch.py");
}
