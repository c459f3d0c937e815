//! edge-infer: the camera-to-detections daemon's binary and its engine tools.

/// `println!` for command output: a closed pipe (`edge-infer inspect E | head`) ends the
/// program quietly, as it would a C tool killed by SIGPIPE, instead of panicking.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout(), $($arg)*) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
        }
    }};
}

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
    // The daemon sets its logger from its config; the other commands show the engine's
    // warnings (a plan tuned on another GPU, a tactic that failed to launch while tuning).
    if cli.command.is_some() {
        edge_infer::logging::init(log::LevelFilter::Warn);
    }
    let result = match &cli.command {
        None => return finish(commands::run::run(&cli.run)),
        Some(cli::Command::Watch(a)) => return finish(commands::watch::run(a)),
        Some(cli::Command::Cameras) => {
            let cams = edge_infer::capture::v4l2::list_cameras();
            if cams.is_empty() {
                outln!("no V4L2 capture devices (/dev/video*)");
            }
            for c in cams {
                outln!("{}", c.describe());
            }
            return ExitCode::SUCCESS;
        }
        Some(cli::Command::Build(a)) => commands::build::run(a),
        Some(cli::Command::Inspect(a)) => commands::inspect::run(a),
        Some(cli::Command::Bench(a)) => commands::bench::run(a),
        Some(cli::Command::Infer(a)) => commands::infer::run(a),
        Some(cli::Command::Weights(a)) => commands::weights::run(a),
        Some(cli::Command::Dataset(cli::DatasetCommand::Synth(a))) => commands::dataset::synth(a),
        Some(cli::Command::Eval(a)) => commands::eval::run(a),
        Some(cli::Command::Calibrate(a)) => commands::calibrate::run(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("edge-infer: {e}");
            ExitCode::from(exit::code(&e))
        }
    }
}

fn finish(result: Result<(), edge_infer::daemon::Exit>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if !e.msg.is_empty() {
                log::error!("{}", e.msg);
                if !log::log_enabled!(log::Level::Error) {
                    eprintln!("edge-infer: {}", e.msg);
                }
            }
            ExitCode::from(e.code)
        }
    }
}
