//! Plan files: round trip, and each kind of bad file refused with its own message.

mod common;
use common::*;
use edge_engine::graph::{Op, Storage};
use edge_engine::plan::{format, Fingerprint, PlanError};
use edge_engine::{Builder, Engine, Error};

fn plan_bytes() -> (edge_engine::plan::Plan, Vec<u8>) {
    let g = graph("engine/tests/fixtures/allops.cfg", None, 2);
    let plan = Builder::default().build(g, &mut |_| {}).unwrap();
    let bytes = format::to_bytes(&plan);
    (plan, bytes)
}

fn plan_error(bytes: &[u8]) -> PlanError {
    match Engine::from_bytes(bytes) {
        Err(Error::Plan(e)) => e,
        Err(e) => panic!("not a plan error: {e}"),
        Ok(_) => panic!("loaded"),
    }
}

#[test]
fn round_trips_exactly_and_runs_the_same() {
    let (plan, bytes) = plan_bytes();
    let back = format::from_bytes(&bytes).unwrap();
    assert_eq!(back, plan);
    let a = Engine::from_plan(plan).unwrap();
    let b = Engine::from_bytes(&bytes).unwrap();
    let input = random_input(&a, 1);
    assert_eq!(run(&a, &input), run(&b, &input));
}

#[test]
fn weights_are_64_byte_aligned() {
    let (_, bytes) = plan_bytes();
    let at = u64::from_le_bytes(bytes[20..28].try_into().unwrap());
    assert_eq!(at % 64, 0);
}

#[test]
fn wrong_magic() {
    let (_, mut bytes) = plan_bytes();
    bytes[0] = b'X';
    let e = plan_error(&bytes);
    assert!(matches!(e, PlanError::BadMagic { .. }), "{e}");
    assert!(e.to_string().contains("not an edge-infer engine"), "{e}");
}

#[test]
fn unsupported_version() {
    let (_, mut bytes) = plan_bytes();
    bytes[8..12].copy_from_slice(&99u32.to_le_bytes());
    let e = plan_error(&bytes);
    assert_eq!(
        e,
        PlanError::UnsupportedVersion {
            found: 99,
            supported: format::VERSION
        }
    );
    assert!(e.to_string().contains("rebuild"), "{e}");
}

#[test]
fn truncated() {
    let (_, bytes) = plan_bytes();
    for len in [10, 30, bytes.len() / 2, bytes.len() - 1] {
        let e = plan_error(&bytes[..len]);
        assert!(matches!(e, PlanError::Truncated { .. }), "at {len}: {e}");
    }
}

#[test]
fn checksum_mismatch() {
    let (_, mut bytes) = plan_bytes();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    let e = plan_error(&bytes);
    assert!(matches!(e, PlanError::Checksum { .. }), "{e}");
    assert!(e.to_string().contains("corrupt"), "{e}");
}

#[test]
fn built_for_another_device() {
    let (mut plan, _) = plan_bytes();
    plan.fingerprint = Fingerprint {
        backend: "cpu".into(),
        arch: "riscv64".into(),
        features: vec![],
        device: vec![("simd".into(), "portable".into())],
    };
    let bytes = format::to_bytes(&plan);
    let e = plan_error(&bytes);
    assert!(matches!(e, PlanError::WrongDevice { .. }), "{e}");
    assert!(
        e.to_string().contains("riscv64") && e.to_string().contains("rebuild"),
        "{e}"
    );
}

#[test]
fn a_valid_checksum_over_a_broken_graph_is_malformed_not_a_panic() {
    let (mut plan, _) = plan_bytes();
    plan.graph.nodes[0].inputs = vec![9999];
    let e = plan_error(&format::to_bytes(&plan));
    assert!(matches!(e, PlanError::Malformed { .. }), "{e}");
}

/// A concat input moved out of its channel window of the concat's buffer (one byte of a
/// plan: the mutation that found this), so the concat would copy it from the buffer it is
/// writing: refused when the plan loads, not when it runs.
#[test]
fn a_concat_copying_from_its_own_buffer_is_refused_at_load() {
    let (mut plan, _) = plan_bytes();
    let g = &plan.graph;
    let (i, node) = g
        .nodes
        .iter()
        .enumerate()
        .find(|(_, n)| {
            matches!(n.op, Op::Concat)
                && n.inputs.len() >= 2
                && (0..n.inputs.len()).all(|k| g.in_place(n, k))
        })
        .expect("allops.cfg has an in-place concat");
    let (first, moved) = (node.inputs[0], node.inputs[1]);
    plan.graph.tensors[moved].storage = plan.graph.tensors[first].storage;
    let e = plan_error(&format::to_bytes(&plan));
    assert!(matches!(e, PlanError::Malformed { .. }), "{e}");
    let want = format!(
        "node {i} ({}): reads tensor {moved} ",
        plan.graph.nodes[i].name
    );
    assert!(
        e.to_string().contains(&want) && e.to_string().contains("buffer its output"),
        "{e}"
    );
}

/// A conv whose output is made a view of its own residual's storage (the residual has the
/// conv's output shape, so the window fits): the fused epilogue would read the residual where
/// it is writing. Refused at load.
#[test]
fn a_conv_writing_over_its_residual_is_refused_at_load() {
    let (mut plan, _) = plan_bytes();
    let (i, out, residual) = plan
        .graph
        .nodes
        .iter()
        .enumerate()
        .find_map(|(i, n)| match &n.op {
            Op::Conv(c) => c.residual.map(|r| (i, n.output, r)),
            _ => None,
        })
        .expect("allops.cfg has a conv with a fused residual");
    plan.graph.tensors[out].storage = match plan.graph.tensors[residual].storage {
        Storage::Own => Storage::View {
            base: residual,
            channel_offset: 0,
        },
        view => view,
    };
    let e = plan_error(&format::to_bytes(&plan));
    assert!(matches!(e, PlanError::Malformed { .. }), "{e}");
    assert!(
        e.to_string().contains(&format!("node {i} ("))
            && e.to_string().contains(&format!("reads tensor {residual} ")),
        "{e}"
    );
}

/// Mutations of a valid plan: random byte flips, truncations and splices, each both as is
/// (caught by the checksum or header) and with the checksum recomputed (so the parser and
/// graph validation see them). None may panic.
#[test]
fn thousands_of_mutated_plans_load_or_fail_cleanly() {
    let (_, bytes) = plan_bytes();
    let mut rng = edge_engine::rng::SplitMix64::new(42);
    let body_end = u64::from_le_bytes(bytes[20..28].try_into().unwrap()) as usize;
    let mut loaded = 0;
    for i in 0..4000 {
        let mut m = bytes.clone();
        match i % 4 {
            0 => {
                let at = (rng.next_u64() as usize) % m.len();
                m[at] ^= 1 << (rng.next_u64() % 8);
            }
            1 => {
                // Most interesting: the structured body before the weights.
                for _ in 0..1 + rng.next_u64() % 4 {
                    let at = 36 + (rng.next_u64() as usize) % (body_end - 36);
                    m[at] = rng.next_u64() as u8;
                }
            }
            2 => m.truncate((rng.next_u64() as usize) % m.len()),
            _ => {
                let at = 36 + (rng.next_u64() as usize) % (body_end - 36);
                let v = [0u8, 0xff, 0x7f, 0x80][(rng.next_u64() % 4) as usize];
                m[at..(at + 4).min(body_end)].fill(v);
            }
        }
        let _ = Engine::from_bytes(&m);
        if m.len() > 40 {
            let end = m.len() - 4;
            let crc = crc32fast::hash(&m[..end]);
            m[end..].copy_from_slice(&crc.to_le_bytes());
            if let Ok(engine) = Engine::from_bytes(&m) {
                // Whatever loads must also run.
                let input = random_input(&engine, 3);
                let _ = run(&engine, &input);
                loaded += 1;
            }
        }
    }
    eprintln!("{loaded} mutated plans still loaded and ran");
}

#[test]
fn load_errors_name_the_file() {
    let (_, bytes) = plan_bytes();
    let dir = std::env::temp_dir().join(format!("edge-plan-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("m.engine");
    edge_engine::atomic_file::write(&path, &bytes).unwrap();
    assert!(Engine::load(&path).is_ok());
    std::fs::write(&path, &bytes[..100]).unwrap();
    let e = Engine::load(&path).err().unwrap();
    assert!(
        e.to_string().starts_with(&path.display().to_string()),
        "{e}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}
