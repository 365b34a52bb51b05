//! [`ConfigError`]: what is wrong with a configuration, a secrets file or a
//! pppd options file, and where. Depends on nothing else of the crate, so
//! every reader of a file can use it.

use std::path::PathBuf;

/// A configuration (or secrets) error. `Display` gives the place first:
/// `file:line[:column]: what is wrong; how to fix it`.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A file could not be read.
    #[error("{}: cannot read {what}: {source}", .path.display())]
    Read {
        path: PathBuf,
        /// "config file", "secrets file".
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// Something at a known line of a file is wrong.
    #[error("{origin}:{line}{}: {message}", column_suffix(.column))]
    At {
        origin: String,
        line: usize,
        column: Option<usize>,
        message: String,
    },
    /// Something without a line: a command-line value, a missing setting.
    #[error("{origin}: {message}")]
    Invalid { origin: String, message: String },
}

fn column_suffix(column: &Option<usize>) -> String {
    column.map(|c| format!(":{c}")).unwrap_or_default()
}
