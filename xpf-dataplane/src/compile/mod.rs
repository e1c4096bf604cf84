//! The compiler: validated [`Config`] → [`CompiledConfig`].

pub mod form;
pub mod ids;

pub use form::*;
pub use ids::{IdRegistry, IdSpace};

use crate::apply::Capability;
use crate::{Config, ConfigErrors};

/// Validates and compiles `config` with fresh ids.
pub fn compile(config: &Config) -> Result<CompiledConfig, ConfigErrors> {
    compile_with_previous(config, None)
}

/// Validates and compiles `config`, keeping the ids `previous` assigned to
/// objects that still exist (see [`ids`]).
pub fn compile_with_previous(
    config: &Config,
    _previous: Option<&CompiledConfig>,
) -> Result<CompiledConfig, ConfigErrors> {
    crate::validate::validate(config)?;
    todo!("compiler being written")
}

impl CompiledConfig {
    /// The capabilities a backend needs to run this config.
    pub fn required_capabilities(&self) -> Vec<Capability> {
        Vec::new()
    }
}
