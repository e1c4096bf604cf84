//! xpf core: the config model, validation, the compiler to a backend-neutral
//! compiled form, `ApplyResult`, and the traits every backend implements.
//!
//! The flow is: [`Config`] (TOML/JSON, Junos vocabulary) →
//! [`validate::validate`] (every error, with paths) → [`compile::compile`]
//! ([`compile::CompiledConfig`] with numeric ids, the single source of truth
//! for semantics) → a backend's [`traits::ConfigSink`] lowers it and returns
//! an [`apply::ApplyResult`].
//!
//! This crate depends on no backend; see `deny.toml`.

#![forbid(unsafe_code)]

pub mod apply;
pub mod cancel;
pub mod compile;
pub mod config;
pub mod error;
pub mod event_hub;
pub mod ha_state;
pub mod session_store;
pub mod syslog;
pub mod traits;
pub mod validate;

pub use cancel::Cancel;
pub use config::Config;
pub use error::{ConfigError, ConfigErrors, DataplaneError, Result};
pub use session_store::{MemorySessionStore, SessionTable};
pub use traits::{
    ConfigSink, EventStream, HAController, LinkController, RuntimeDataPlane, SessionStore,
    Telemetry,
};
