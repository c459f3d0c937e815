//! Prints the daemon's Hello and the next COUNT Detections messages (all of them without COUNT).
//! The same output as `examples/c/watch.c` and `examples/python/watch.py`.
//!
//!     cargo run -p edge-infer-protocol --example watch -- /run/edge-infer/detections.sock 10

use std::process::ExitCode;

use edge_infer_protocol::{Client, ClientError, VERSION};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (path, count) = match args.as_slice() {
        [path] => (path, None),
        [path, n] => match n.parse::<u64>() {
            Ok(n) => (path, Some(n)),
            Err(_) => return usage(),
        },
        _ => return usage(),
    };
    match watch(path, count) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("watch: {e}");
            // sysexits: 65 bad data from the daemon, 69 daemon unavailable or gone, 74 I/O.
            ExitCode::from(match e {
                ClientError::Protocol(_) => 65,
                ClientError::Connect { .. } | ClientError::Closed | ClientError::Timeout => 69,
                ClientError::Io(_) => 74,
            })
        }
    }
}

fn usage() -> ExitCode {
    eprintln!("usage: watch SOCKET [COUNT]");
    ExitCode::from(64)
}

fn watch(path: &str, count: Option<u64>) -> Result<(), ClientError> {
    let mut client = Client::connect(path)?;
    let hello = client.hello();
    println!(
        "hello version={VERSION} model={} input={}x{} source={}x{} max_detections={} classes={}",
        hello.model_name,
        hello.input_width,
        hello.input_height,
        hello.source_width,
        hello.source_height,
        hello.max_detections,
        hello.class_names.len()
    );
    for (i, name) in hello.class_names.iter().enumerate() {
        println!("class {i} {name}");
    }
    let mut seen = 0;
    while count.is_none_or(|n| seen < n) {
        let msg = client.next()?;
        let f = &msg.frame;
        println!(
            "frame sequence={} capture_ns={} publish_ns={} source={}x{} dropped={} count={}",
            f.sequence,
            f.capture_ns,
            f.publish_ns,
            f.source_width,
            f.source_height,
            f.dropped_since_last,
            msg.detections.len()
        );
        let hello = client.hello();
        for d in &msg.detections {
            // The client checked every class against the Hello.
            let name = hello.class_names.get(usize::from(d.class)).unwrap_or("");
            println!(
                "  {} {name} score={:.3} box=({:.1},{:.1})-({:.1},{:.1})",
                d.class, d.score, d.x1, d.y1, d.x2, d.y2
            );
        }
        seen += 1;
    }
    Ok(())
}
