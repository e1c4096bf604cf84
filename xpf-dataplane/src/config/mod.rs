//! The config model and its loaders.
//!
//! Loading is the first of two stages. [`Config::from_toml_str`] /
//! [`Config::from_json_str`] check syntax and types and stop at the first
//! problem, reporting it with the field path (a config that cannot be parsed
//! cannot be checked further). [`crate::validate::validate`] then checks
//! semantics (references, duplicates, ranges, families) and reports every
//! problem at once.

pub mod model;
pub mod predefined;
pub mod types;

pub use model::*;
pub use types::{CivilDateTime, MacAddr, PortRange, TcpFlagsMatch, TimeOfDay};

use crate::error::ConfigError;
use std::path::Path;

impl Config {
    /// Parses TOML. The error carries the path of the offending field.
    pub fn from_toml_str(text: &str) -> Result<Self, ConfigError> {
        let de = toml::Deserializer::new(text);
        serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            let mut msg = inner.message().to_string();
            if let Some(span) = inner.span() {
                let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
                msg = format!("{msg} (line {line})");
            }
            ConfigError::new(normalise_path(&path), msg)
        })
    }

    /// Parses JSON. The error carries the path of the offending field.
    pub fn from_json_str(text: &str) -> Result<Self, ConfigError> {
        let mut de = serde_json::Deserializer::from_str(text);
        serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            ConfigError::new(
                normalise_path(&path),
                format!("{inner} (line {})", inner.line()),
            )
        })
    }

    /// Reads a `.toml` or `.json` file.
    pub fn from_path(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::new("", format!("cannot read {}: {e}", path.display())))?;
        match path.extension().and_then(|e| e.to_str()) {
            Some("json") => Self::from_json_str(&text),
            _ => Self::from_toml_str(&text),
        }
    }

    /// Serialises to TOML.
    pub fn to_toml_string(&self) -> String {
        toml::to_string(self).expect("config model always serialises to TOML")
    }
}

/// `serde_path_to_error` prints `.` for the root and `a.b[0].c` otherwise.
fn normalise_path(path: &str) -> String {
    if path == "." {
        String::new()
    } else {
        path.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_config_loads_from_both_formats() {
        assert_eq!(Config::from_toml_str("").unwrap(), Config::default());
        assert_eq!(Config::from_json_str("{}").unwrap(), Config::default());
    }

    #[test]
    fn unknown_field_is_reported_with_its_path() {
        let err = Config::from_toml_str(
            r#"
[[zones]]
name = "trust"
scren = "x"
"#,
        )
        .unwrap_err();
        assert!(err.path.starts_with("zones[0]"), "{err}");
        assert!(err.message.contains("scren"), "{err}");
    }

    #[test]
    fn malformed_prefix_is_reported_with_its_path() {
        let err = Config::from_json_str(
            r#"{"address-book":{"addresses":[{"name":"a","prefix":"10.0.0.0/33"}]}}"#,
        )
        .unwrap_err();
        assert_eq!(err.path, "address-book.addresses[0].prefix", "{err}");
    }

    #[test]
    fn round_trips_through_toml() {
        let cfg = Config::from_toml_str(
            r#"
[[interfaces]]
name = "eth0"
zone = "trust"
addresses = ["198.18.0.1/24", "2001:db8::1/64"]

[[zones]]
name = "trust"

[[security.policies]]
from-zone = "trust"
to-zone = "trust"
[[security.policies.policies]]
name = "p"
match = { application = ["junos-http"] }
then = { action = "permit" }

[[security.nat.source.rule-sets]]
name = "rs"
from = { zone = ["trust"] }
to = { zone = ["trust"] }
[[security.nat.source.rule-sets.rules]]
name = "r"
then = { pool = "p" }
"#,
        )
        .unwrap();
        let again = Config::from_toml_str(&cfg.to_toml_string()).unwrap();
        assert_eq!(cfg, again);
    }
}
