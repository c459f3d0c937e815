//! edge-infer: the camera-to-detections daemon's binary and its engine tools.

mod cli;
mod commands;
mod exit;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(exit::USAGE)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let result = match &cli.command {
        cli::Command::Build(a) => commands::build::run(a),
        cli::Command::Inspect(a) => commands::inspect::run(a),
        cli::Command::Bench(a) => commands::bench::run(a),
        cli::Command::Infer(a) => commands::infer::run(a),
        cli::Command::Weights(a) => commands::weights::run(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("edge-infer: {e}");
            ExitCode::from(exit::code(&e))
        }
    }
}
