//! `edge-infer dataset synth`: seeded synthetic scenes as a training or test set.

use crate::cli::SynthArgs;
use edge_engine::Result;
use std::io::IsTerminal;

pub fn synth(a: &SynthArgs) -> Result<()> {
    let show = std::io::stderr().is_terminal();
    let (w, h) = a.size;
    edge_infer::dataset::synth(&a.out, a.count, a.seed, w, h, |i| {
        if show && (i + 1) % 100 == 0 {
            eprint!("\r{}/{} scenes", i + 1, a.count);
        }
    })?;
    if show {
        eprintln!();
    }
    outln!(
        "{}: {} scenes of {w}x{h}, seed {}",
        a.out.display(),
        a.count,
        a.seed
    );
    Ok(())
}
