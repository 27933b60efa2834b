//! What can stop the plots: an unreadable input, no font, or a failed drawing.

use std::fmt;
use std::path::PathBuf;

/// An error of the `plots` binary; each message says what to do about it.
///
/// # Examples
///
/// ```
/// use ringlog_benches::plots::{PlotError, rows_from_json};
///
/// let err = rows_from_json("not json", "in.json").unwrap_err();
/// assert!(matches!(err, PlotError::Parse { .. }));
/// assert!(err.to_string().starts_with("in.json"));
/// ```
#[derive(Debug)]
pub enum PlotError {
    /// The input file cannot be read.
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The input is not the JSON array `compare --json` writes.
    Parse {
        /// The file (or another name for the text).
        origin: String,
        /// Where and why parsing stopped.
        source: serde_json::Error,
    },
    /// The output directory cannot be created.
    OutputDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// No usable font for the labels (the message comes from
    /// [`ringlog_service::cli::load_font`]).
    Font(String),
    /// plotters failed to draw or write a plot.
    Draw {
        /// The plot's file.
        path: PathBuf,
        /// plotters' message.
        message: String,
    },
}

impl fmt::Display for PlotError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlotError::Read { path, source } => write!(
                f,
                "cannot read {}: {source} (write it with `target/release/compare --json {}`)",
                path.display(),
                path.display()
            ),
            PlotError::Parse { origin, source } => write!(
                f,
                "{origin} is not the JSON array of rows that `compare --json` writes: {source} (each row needs at \
                 least transport, record and mode)"
            ),
            PlotError::OutputDir { path, source } => {
                write!(f, "cannot create the output directory {}: {source}", path.display())
            }
            PlotError::Font(message) => f.write_str(message),
            PlotError::Draw { path, message } => write!(
                f,
                "cannot draw {}: {message} (is the directory writable and the disk not full?)",
                path.display()
            ),
        }
    }
}

impl std::error::Error for PlotError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PlotError::Read { source, .. } | PlotError::OutputDir { source, .. } => Some(source),
            PlotError::Parse { source, .. } => Some(source),
            PlotError::Font(_) | PlotError::Draw { .. } => None,
        }
    }
}
