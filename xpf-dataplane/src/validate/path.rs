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
//!
//! # Cost
//!
//! Almost every path built during a walk is thrown away, because almost
//! every field is fine. So a path is not a string: it is a small `Copy`
//! value holding its segments (borrowed names and indices) inline, and
//! building one never allocates. The string is rendered, with [`Display`],
//! only when an error is reported.
//!
//! [`Display`]: fmt::Display

use std::fmt;

/// Deepest path the validator builds, in segments. The deepest today has 8
/// (`security.nat.source.rule-sets[rs].rules[r].match.source-address`,
/// where `security.nat` is one segment); the rest is headroom.
const MAX_DEPTH: usize = 10;

/// A dotted config path; see the module docs for the conventions.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Path<'a> {
    /// The first `len` entries are the path's segments, outermost first.
    segments: [Segment<'a>; MAX_DEPTH],
    len: usize,
}

/// One step of a [`Path`].
#[derive(Clone, Copy, Debug)]
enum Segment<'a> {
    /// `.name` (or just `name` at the root): one or more dotted fields.
    Field(&'a str),
    /// `[key]`, or `[#index]` when the key is empty: a list element.
    Item(&'a str, usize),
    /// `.name`, or `.#index` when the name is empty: a list element
    /// written as a dotted segment (policies inside a zone pair).
    Dotted(&'a str, usize),
}

impl Default for Segment<'_> {
    fn default() -> Self {
        Self::Field("")
    }
}

impl<'a> Path<'a> {
    /// The empty path (the config root).
    pub(super) fn root() -> Self {
        Self::default()
    }

    /// `self.name`: a field, or several dotted fields (`"match.application"`).
    pub(super) fn field(&self, name: &'a str) -> Self {
        self.push(Segment::Field(name))
    }

    /// `self[key]`: a list element named by its key, or `self[#index]`
    /// when the key is empty.
    pub(super) fn item(&self, key: &'a str, index: usize) -> Self {
        self.push(Segment::Item(key, index))
    }

    /// `self[#index]`: a list element by position. Used for unnamed
    /// elements and for "first defined at" references, where the key would
    /// not tell the two definitions apart.
    pub(super) fn index(&self, index: usize) -> Self {
        self.item("", index)
    }

    /// `self.name`, or `self.#index` when the name is empty: a list element
    /// written as a dotted segment (policies inside a zone pair).
    pub(super) fn segment(&self, name: &'a str, index: usize) -> Self {
        self.push(Segment::Dotted(name, index))
    }

    /// The element at `index` of the list this path's element belongs to,
    /// named by position: `zones[trust]` gives `zones[#index]` and
    /// `security.policies[a->b].allow-web` gives `security.policies[a->b].#index`.
    /// This is where a duplicate's first definition is reported. A path
    /// that does not end in a list element gives `self[#index]`.
    pub(super) fn by_index(&self, index: usize) -> Self {
        match self.last() {
            Some(Segment::Item(..)) => self.pop().index(index),
            Some(Segment::Dotted(..)) => self.pop().segment("", index),
            Some(Segment::Field(_)) | None => self.index(index),
        }
    }

    fn last(&self) -> Option<Segment<'a>> {
        self.len.checked_sub(1).map(|last| self.segments[last])
    }

    fn pop(&self) -> Self {
        let mut path = *self;
        path.len = path.len.saturating_sub(1);
        path
    }

    fn push(&self, segment: Segment<'a>) -> Self {
        let mut path = *self;
        debug_assert!(path.len < MAX_DEPTH, "path deeper than MAX_DEPTH");
        if let Some(slot) = path.segments.get_mut(path.len) {
            *slot = segment;
            path.len += 1;
        }
        path
    }
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, segment) in self.segments[..self.len].iter().enumerate() {
            let dot = if i == 0 { "" } else { "." };
            match *segment {
                Segment::Dotted("", index) => write!(f, "{dot}#{index}")?,
                Segment::Field(name) | Segment::Dotted(name, _) => write!(f, "{dot}{name}")?,
                Segment::Item("", index) => write!(f, "[#{index}]")?,
                Segment::Item(key, _) => write!(f, "[{key}]")?,
            }
        }
        Ok(())
    }
}

/// Paths are equal when they render the same.
impl PartialEq for Path<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.to_string() == other.to_string()
    }
}

impl Eq for Path<'_> {}

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

    #[test]
    fn names_a_duplicate_by_index() {
        let zones = Path::root().field("zones");
        assert_eq!(zones.item("trust", 4).by_index(1).to_string(), "zones[#1]");
        let pair = Path::root().field("security.policies").item("a->b", 0);
        assert_eq!(
            pair.segment("allow-web", 4).by_index(2).to_string(),
            "security.policies[a->b].#2"
        );
        assert_eq!(zones.by_index(0).to_string(), "zones[#0]");
    }
}
