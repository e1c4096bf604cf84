//! The benchmark's error type: every failure carries what was being done.

use std::path::PathBuf;

/// Everything that can stop a benchmark run.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// The command line is wrong.
    #[error("usage: {0}")]
    Usage(String),
    /// The benchmark needs root (namespaces, BPF) and was started without it.
    #[error(
        "the netns benchmark needs root (network namespaces, veth links, BPF programs); \
         run it as root, or set XPF_ALLOW_SKIP_PRIVILEGED=1 to report a skip instead"
    )]
    NotRoot,
    /// An external command could not be started.
    #[error("cannot run `{command}`: {source}")]
    Spawn {
        /// The command line.
        command: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// An external command exited with a failure.
    #[error("`{command}` failed ({status}): {stderr}")]
    Command {
        /// The command line.
        command: String,
        /// Its exit status.
        status: String,
        /// What it printed on stderr (trimmed).
        stderr: String,
    },
    /// A file could not be read or written.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done ("reading", "writing", ...).
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Output of a command or a kernel file did not have the expected shape.
    #[error("cannot parse {what}: {detail}")]
    Parse {
        /// What was parsed.
        what: String,
        /// What was wrong.
        detail: String,
    },
    /// A system call failed.
    #[error("{what}: {source}")]
    Sys {
        /// What was being done.
        what: String,
        /// The errno.
        source: nix::Error,
    },
    /// Loading, attaching or running a BPF program failed.
    #[error("BPF {what}: {detail}")]
    Bpf {
        /// What was being done.
        what: String,
        /// The loader's error, rendered with its sources.
        detail: String,
    },
    /// The run was interrupted (Ctrl-C, SIGTERM).
    #[error("interrupted")]
    Interrupted,
    /// A configuration cannot be measured (yet): never a faked figure.
    #[error("{config} is not available: {reason}")]
    Unsupported {
        /// The configuration.
        config: String,
        /// Why.
        reason: String,
    },
    /// The smoke check found a problem (no traffic forwarded, leftovers).
    #[error("check failed: {0}")]
    Check(String),
}

impl BenchError {
    /// Builds a [`BenchError::Bpf`] from any error, keeping its source chain.
    pub fn bpf(what: impl Into<String>, err: &dyn std::error::Error) -> Self {
        let mut detail = err.to_string();
        let mut source = err.source();
        while let Some(s) = source {
            detail.push_str(": ");
            detail.push_str(&s.to_string());
            source = s.source();
        }
        Self::Bpf {
            what: what.into(),
            detail,
        }
    }

    /// Builds a [`BenchError::Parse`].
    pub fn parse(what: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::Parse {
            what: what.into(),
            detail: detail.into(),
        }
    }
}

/// Result alias of the crate.
pub type Result<T, E = BenchError> = std::result::Result<T, E>;
