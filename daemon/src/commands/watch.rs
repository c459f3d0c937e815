//! `edge-infer watch`: a client of the daemon's socket that prints what it receives.

use crate::cli::WatchArgs;
use edge_infer::daemon::{default_socket_path, Exit, EX_DATAERR, EX_UNAVAILABLE};
use edge_infer_protocol::{Client, ClientError};

pub fn run(a: &WatchArgs) -> Result<(), Exit> {
    let path = a.socket.clone().unwrap_or_else(default_socket_path);
    let fail = |e: ClientError| Exit {
        code: match e {
            ClientError::Protocol(_) => EX_DATAERR,
            _ => EX_UNAVAILABLE,
        },
        msg: format!("{}: {e}", path.display()),
    };
    let mut client = Client::connect(&path).map_err(fail)?;
    let hello = client.hello();
    let names: Vec<String> = hello.class_names.iter().map(String::from).collect();
    outln!(
        "connected to {}: model {} ({}x{}), camera {}x{}, {} classes",
        path.display(),
        hello.model_name,
        hello.input_width,
        hello.input_height,
        hello.source_width,
        hello.source_height,
        names.len()
    );
    let mut seen = 0u64;
    while a.count.is_none_or(|n| seen < n) {
        let msg = client.next().map_err(fail)?;
        seen += 1;
        let f = msg.frame;
        let latency_ms = f.publish_ns.saturating_sub(f.capture_ns) as f64 / 1e6;
        let name = |c: u16| names.get(c as usize).map_or("?", String::as_str);
        if a.json {
            let dets: Vec<_> = msg
                .detections
                .iter()
                .map(|d| serde_json::json!({"class": d.class, "name": name(d.class), "score": d.score, "box": [d.x1, d.y1, d.x2, d.y2]}))
                .collect();
            outln!(
                "{}",
                serde_json::json!({"sequence": f.sequence, "capture_ns": f.capture_ns, "publish_ns": f.publish_ns, "dropped_since_last": f.dropped_since_last, "detections": dets})
            );
        } else {
            outln!(
                "frame {} latency {latency_ms:.1} ms, {} detections{}",
                f.sequence,
                msg.detections.len(),
                if f.dropped_since_last > 0 {
                    format!(" ({} dropped)", f.dropped_since_last)
                } else {
                    String::new()
                }
            );
            for d in &msg.detections {
                outln!(
                    "  {:<14} {:.2} ({:.0}, {:.0}) - ({:.0}, {:.0})",
                    name(d.class),
                    d.score,
                    d.x1,
                    d.y1,
                    d.x2,
                    d.y2
                );
            }
        }
    }
    Ok(())
}
