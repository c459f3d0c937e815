//! Exit codes (sysexits.h), so a systemd unit can tell bad input from a missing device.

use edge_engine::plan::PlanError;
use edge_engine::Error;

pub const USAGE: u8 = 64;
pub const DATA_ERR: u8 = 65;
pub const NO_INPUT: u8 = 66;
pub const UNAVAILABLE: u8 = 69;
pub const IO_ERR: u8 = 74;

pub fn code(e: &Error) -> u8 {
    match e {
        Error::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => NO_INPUT,
        Error::Io { .. } => IO_ERR,
        Error::Plan(PlanError::WrongDevice { .. })
        | Error::PlanFile {
            source: PlanError::WrongDevice { .. },
            ..
        } => UNAVAILABLE,
        Error::Unsupported(_) | Error::Device(_) => UNAVAILABLE,
        Error::Cfg { .. }
        | Error::Weights { .. }
        | Error::Plan(_)
        | Error::PlanFile { .. }
        | Error::Input(_)
        | Error::Graph(_) => DATA_ERR,
    }
}
