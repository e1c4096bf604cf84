//! [`NatCompanion`]: NAT state a session owns outside its forward and
//! reverse entries, as [`MemorySessionStore`](super::MemorySessionStore)
//! models it.

use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use xpf_runtime::{IpProtocol, NatPoolId, SessionAddr, SessionEntry, SessionKey, SessionValue};

/// One piece of NAT state held by a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NatCompanion {
    /// A source translation: the session holds `translated` (an address and
    /// port allocated from `pool`, or a static mapping when `pool` is
    /// [`NatPoolId::NONE`]) in place of the initiator's `original`.
    SourceMapping {
        /// IP protocol.
        protocol: IpProtocol,
        /// The initiator's address and port.
        original: SocketAddr,
        /// The address and port the initiator's traffic leaves with.
        translated: SocketAddr,
        /// The pool the mapping was allocated from.
        pool: NatPoolId,
    },
    /// A destination translation: traffic to `original` goes to
    /// `translated`, and replies from `translated` are rewritten back to
    /// `original`.
    DestinationMapping {
        /// IP protocol.
        protocol: IpProtocol,
        /// The address and port the initiator addressed.
        original: SocketAddr,
        /// The address and port the traffic is delivered to.
        translated: SocketAddr,
    },
}

impl NatCompanion {
    /// The NAT state the forward entry `forward` implies: a source mapping
    /// when its translation changes the source, a destination mapping when it
    /// changes the destination. Empty for sessions without NAT and for
    /// reverse entries.
    pub fn of_session(forward: &SessionEntry) -> Vec<NatCompanion> {
        if forward.is_reverse() {
            return Vec::new();
        }
        match forward {
            SessionEntry::V4 { key, value } => Self::of_forward(key, value),
            SessionEntry::V6 { key, value } => Self::of_forward(key, value),
        }
    }

    fn of_forward<A: SessionAddr>(key: &SessionKey<A>, value: &SessionValue<A>) -> Vec<Self> {
        let socket = |addr: A, port: u16| SocketAddr::new(addr.to_ip(), port);
        let mut out = Vec::new();
        let nat = &value.nat;
        if (nat.src, nat.src_port) != (key.src, key.src_port) {
            out.push(Self::SourceMapping {
                protocol: key.protocol,
                original: socket(key.src, key.src_port),
                translated: socket(nat.src, nat.src_port),
                pool: value.nat_pool,
            });
        }
        if (nat.dst, nat.dst_port) != (key.dst, key.dst_port) {
            out.push(Self::DestinationMapping {
                protocol: key.protocol,
                original: socket(key.dst, key.dst_port),
                translated: socket(nat.dst, nat.dst_port),
            });
        }
        out
    }
}
