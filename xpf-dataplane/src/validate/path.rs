//! Field paths for error messages.
//!
//! A [`Path`] is built top down while the config is walked and names the
//! offending field in Junos vocabulary:
//! `security.policies[trust->untrust].allow-web.match.application`.
//!
//! Conventions:
//! - fields are kebab-case and joined with `.`;
//! - a list element is named by its key in brackets (`zones[trust]`,
//!   `forwarding.routes[198.18.0.0/16]`, `ha.redundancy-groups[1]`), or by
//!   `#<index>` when the key is empty (`schedulers[office-hours].windows[#0]`);
//! - a zone-pair policy is a dotted segment after its pair
//!   (`security.policies[trust->untrust].allow-web`, or `.#2` when unnamed);
//! - a list of plain values (`interfaces[eth0].addresses`) is not indexed:
//!   the message quotes the offending value instead.

use std::fmt;

/// A dotted config path; see the module docs for the conventions.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct Path(String);

impl Path {
    /// The empty path (the config root).
    pub(super) fn root() -> Self {
        Self::default()
    }

    /// `self.name`: a field, or several dotted fields (`"match.application"`).
    pub(super) fn field(&self, name: &str) -> Self {
        let mut path = self.0.clone();
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(name);
        Self(path)
    }

    /// `self[key]`: a list element named by its key, or `self[#index]`
    /// when the key is empty.
    pub(super) fn item(&self, key: &str, index: usize) -> Self {
        if key.is_empty() {
            self.index(index)
        } else {
            Self(format!("{}[{key}]", self.0))
        }
    }

    /// `self[#index]`: a list element by position. Used for unnamed
    /// elements and for "first defined at" references, where the key would
    /// not tell the two definitions apart.
    pub(super) fn index(&self, index: usize) -> Self {
        Self(format!("{}[#{index}]", self.0))
    }

    /// `self.name`, or `self.#index` when the name is empty: a list element
    /// written as a dotted segment (policies inside a zone pair).
    pub(super) fn segment(&self, name: &str, index: usize) -> Self {
        if name.is_empty() {
            self.field(&format!("#{index}"))
        } else {
            self.field(name)
        }
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&Path> for String {
    fn from(path: &Path) -> Self {
        path.0.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_junos_style_paths() {
        let pair = Path::root()
            .field("security.policies")
            .item("trust->untrust", 0);
        assert_eq!(
            pair.segment("allow-web", 3)
                .field("match.application")
                .to_string(),
            "security.policies[trust->untrust].allow-web.match.application"
        );
        assert_eq!(
            pair.segment("", 3).to_string(),
            "security.policies[trust->untrust].#3"
        );
        assert_eq!(
            Path::root()
                .field("schedulers")
                .item("x", 0)
                .field("windows")
                .item("", 1)
                .to_string(),
            "schedulers[x].windows[#1]"
        );
        assert_eq!(
            Path::root().field("zones").index(0).to_string(),
            "zones[#0]"
        );
    }
}
