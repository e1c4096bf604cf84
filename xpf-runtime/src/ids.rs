//! Typed numeric identifiers.
//!
//! Every identifier the compiler hands out is a newtype so a zone id can never
//! be passed where a policy rule id is expected. The value `0` is reserved in
//! every id space as "none / unassigned": compiled objects are numbered from
//! 1, which lets fixed-size backend tables (BPF arrays) use slot 0 as a
//! sentinel without a separate "present" flag.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident($repr:ty), $prefix:literal) => {
        $(#[$doc])*
        #[derive(
            Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(pub $repr);

        impl $name {
            /// The reserved "none / unassigned" value.
            pub const NONE: Self = Self(0);

            /// Wraps a raw value.
            pub const fn new(raw: $repr) -> Self {
                Self(raw)
            }

            /// The raw value.
            pub const fn get(self) -> $repr {
                self.0
            }

            /// True for the reserved value `0`.
            pub const fn is_none(self) -> bool {
                self.0 == 0
            }

            /// The raw value as a table index.
            pub const fn index(self) -> usize {
                self.0 as usize
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!($prefix, "{}"), self.0)
            }
        }

        impl From<$repr> for $name {
            fn from(raw: $repr) -> Self {
                Self(raw)
            }
        }

        impl From<$name> for $repr {
            fn from(id: $name) -> $repr {
                id.0
            }
        }
    };
}

id_type!(
    /// A security zone.
    ZoneId(u16), "zone#"
);
id_type!(
    /// An interface managed by the dataplane (compiled index, not the kernel ifindex).
    InterfaceId(u16), "if#"
);
id_type!(
    /// A compiled policy rule (one policy expands to one rule per application term).
    PolicyRuleId(u32), "rule#"
);
id_type!(
    /// An application (predefined `junos-*` or custom).
    AppId(u16), "app#"
);
id_type!(
    /// A compiled address set (normalised prefix list).
    AddressSetId(u32), "addrset#"
);
id_type!(
    /// An HA redundancy group. Group 0 is the control-plane group, as in Junos;
    /// sessions owned by no group carry [`RedundancyGroupId::NONE`].
    RedundancyGroupId(u8), "rg"
);
id_type!(
    /// A NAT rule's counter id (source, destination and static rules share the space).
    NatRuleId(u32), "nat-rule#"
);
id_type!(
    /// A NAT pool (source and destination pools share the space).
    NatPoolId(u16), "pool#"
);
id_type!(
    /// A firewall filter.
    FilterId(u16), "filter#"
);
id_type!(
    /// A firewall filter term (index into the flat compiled term array).
    FilterTermId(u32), "term#"
);
id_type!(
    /// A policer.
    PolicerId(u16), "policer#"
);
id_type!(
    /// A compiled scheduler slot.
    ScheduleSlot(u16), "sched#"
);
id_type!(
    /// A screen (ids-option) profile.
    ScreenProfileId(u16), "screen#"
);
id_type!(
    /// A session, unique across both nodes of a cluster: the top bit carries
    /// the node id that created it (see [`SessionId::compose`]).
    SessionId(u64), "session#"
);

impl SessionId {
    /// Builds a cluster-unique id from the creating node (0 or 1) and a
    /// per-node sequence number. The node id occupies bit 63 so ids minted on
    /// different nodes never collide.
    pub const fn compose(node: u8, seq: u64) -> Self {
        Self(((node as u64 & 1) << 63) | (seq & !(1u64 << 63)))
    }

    /// The node that minted this id.
    pub const fn node(self) -> u8 {
        (self.0 >> 63) as u8
    }

    /// The low 32 bits, as printed in `session-id-32` of RT_FLOW lines.
    pub const fn id32(self) -> u32 {
        self.0 as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_id_carries_node_in_top_bit() {
        let a = SessionId::compose(0, 42);
        let b = SessionId::compose(1, 42);
        assert_ne!(a, b);
        assert_eq!(a.node(), 0);
        assert_eq!(b.node(), 1);
        assert_eq!(b.id32(), 42);
    }

    #[test]
    fn ids_serialize_as_bare_numbers() {
        assert_eq!(serde_json::to_string(&ZoneId(7)).unwrap(), "7");
        assert_eq!(ZoneId(7).to_string(), "zone#7");
        assert!(ZoneId::NONE.is_none());
    }
}
