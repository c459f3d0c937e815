//! Errors of the engine. Each names the file, line, section, key or byte offset at fault.

use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A problem in a Darknet `.cfg`, located by line, section and key.
    #[error("{file}:{line}: [{section}]{}: {msg}", key.as_ref().map(|k| format!(" {k}")).unwrap_or_default())]
    Cfg {
        file: String,
        line: usize,
        section: String,
        key: Option<String>,
        msg: String,
    },
    #[error("{file}: {msg}")]
    Weights { file: String, msg: String },
    #[error("{0}")]
    Plan(#[from] crate::plan::PlanError),
    #[error("{}: {source}", path.display())]
    PlanFile {
        path: PathBuf,
        source: crate::plan::PlanError,
    },
    #[error("invalid graph: {0}")]
    Graph(String),
    #[error("{0}")]
    Unsupported(String),
    #[error("{0}")]
    Input(String),
    /// No usable GPU, or the GPU failed (exit code 69, "unavailable").
    #[error("{0}")]
    Device(String),
}

impl Error {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}
