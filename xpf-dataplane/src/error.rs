//! The crate's error types.
//!
//! - [`ConfigError`]: one problem in a config, with the path of the
//!   offending field (`security.policies[trust->untrust].allow-web.match.application`).
//! - [`ConfigErrors`]: every problem validation found, in config order.
//! - [`DataplaneError`]: what every trait method returns; one enum for all
//!   backends, with [`DataplaneError::Unsupported`] for capabilities a
//!   backend lacks and [`DataplaneError::Cancelled`] for operations
//!   cancelled before they committed.

use std::fmt;

/// One problem found in a config.
#[derive(
    Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct ConfigError {
    /// Dotted path of the offending field, Junos-style names in brackets.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl ConfigError {
    /// Builds an error.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

impl std::error::Error for ConfigError {}

/// Every problem found in a config (never empty when returned as an error).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl ConfigErrors {
    /// The errors.
    pub fn iter(&self) -> impl Iterator<Item = &ConfigError> {
        self.0.iter()
    }

    /// Number of errors.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// True when some error's path equals `path` and its message contains `needle`.
    pub fn has(&self, path: &str, needle: &str) -> bool {
        self.0
            .iter()
            .any(|e| e.path == path && e.message.contains(needle))
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.len();
        write!(
            f,
            "config rejected: {n} error{}",
            if n == 1 { "" } else { "s" }
        )?;
        for e in &self.0 {
            write!(f, "\n  {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

impl From<ConfigError> for ConfigErrors {
    fn from(e: ConfigError) -> Self {
        Self(vec![e])
    }
}

/// The error type of every dataplane trait.
#[derive(Debug, thiserror::Error)]
pub enum DataplaneError {
    /// The config was rejected; the previous config stays in force.
    #[error("{0}")]
    Config(#[from] ConfigErrors),
    /// The backend lacks a capability the config or call needs.
    #[error("unsupported capability {capability}: {reason}")]
    Unsupported {
        /// Capability name (see `Capability`).
        capability: String,
        /// Why, and what would be needed.
        reason: String,
    },
    /// The operation was cancelled before it committed; nothing changed.
    #[error("operation cancelled before commit: {0}")]
    Cancelled(String),
    /// The backend is not running (before `start` or after `close`).
    #[error("dataplane not running: {0}")]
    NotRunning(String),
    /// A lookup found nothing.
    #[error("not found: {0}")]
    NotFound(String),
    /// An argument was invalid.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// A kernel / driver / I/O failure.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Any other backend failure, with context.
    #[error("{backend} backend: {message}")]
    Backend {
        /// Backend name.
        backend: &'static str,
        /// What failed.
        message: String,
    },
}

impl DataplaneError {
    /// Builds an [`DataplaneError::Unsupported`].
    pub fn unsupported(capability: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Unsupported {
            capability: capability.into(),
            reason: reason.into(),
        }
    }
}

/// Result alias for dataplane operations.
pub type Result<T, E = DataplaneError> = std::result::Result<T, E>;
