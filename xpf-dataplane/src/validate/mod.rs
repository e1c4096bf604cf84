//! Semantic validation of a [`Config`](crate::Config) (placeholder; being written).

use crate::{Config, ConfigErrors};

/// Checks a config's semantics, collecting every error.
pub fn validate(_config: &Config) -> Result<(), ConfigErrors> {
    Ok(())
}
