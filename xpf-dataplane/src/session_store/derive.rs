//! Entries and events derived from a known entry: the reverse entry of a
//! forward entry, the forward entry a reverse entry points back to, flags,
//! and the session-open / session-close events of a forward entry.

use xpf_runtime::{
    CloseReason, FlowTuple, SessionAddr, SessionCloseEvent, SessionEntry, SessionFlags, SessionKey,
    SessionOpenEvent, SessionValue,
};

/// Applies a family-generic `(key, value) -> (key, value)` body to an entry
/// of either family and rebuilds an entry of the same family.
macro_rules! map_entry {
    ($entry:expr, |$key:ident, $value:ident| $body:expr) => {
        match $entry {
            SessionEntry::V4 {
                key: $key,
                value: $value,
            } => {
                let (key, value) = $body;
                SessionEntry::V4 { key, value }
            }
            SessionEntry::V6 {
                key: $key,
                value: $value,
            } => {
                let (key, value) = $body;
                SessionEntry::V6 { key, value }
            }
        }
    };
}

/// The reverse entry of the forward entry `forward`: stored under the
/// forward value's `reverse_key`, with the value from
/// [`SessionValue::to_reverse`].
pub fn reverse_entry(forward: &SessionEntry) -> SessionEntry {
    map_entry!(forward, |key, value| (
        value.reverse_key,
        value.to_reverse(key)
    ))
}

/// The forward entry the reverse entry `reverse` belongs to, reconstructed
/// from the reverse value (which carries the whole session): stored under the
/// reverse value's `reverse_key`, with `is_reverse` cleared and `reverse_key`
/// pointing back at `reverse`. The inverse of [`reverse_entry`].
pub fn forward_entry_of_reverse(reverse: &SessionEntry) -> SessionEntry {
    map_entry!(reverse, |key, value| (
        value.reverse_key,
        forward_value(key, value)
    ))
}

fn forward_value<A: SessionAddr>(
    reverse_key: &SessionKey<A>,
    reverse: &SessionValue<A>,
) -> SessionValue<A> {
    let mut v = *reverse;
    v.is_reverse = false;
    v.reverse_key = *reverse_key;
    v
}

/// `entry` with the bits of `flags` set.
pub fn with_flags(entry: &SessionEntry, flags: SessionFlags) -> SessionEntry {
    map_entry!(entry, |key, value| {
        let mut value = *value;
        value.flags.insert(flags);
        (*key, value)
    })
}

/// The session-open event of the forward entry `forward`, timed at its
/// creation.
pub fn open_event(forward: &SessionEntry) -> SessionOpenEvent {
    match forward {
        SessionEntry::V4 { key, value } => open_event_of(key, value),
        SessionEntry::V6 { key, value } => open_event_of(key, value),
    }
}

/// The session-close event of the forward entry `forward`, closed at
/// `time_ns` (dataplane clock) for `reason`.
pub fn close_event(forward: &SessionEntry, reason: CloseReason, time_ns: u64) -> SessionCloseEvent {
    let (fwd, rev) = match forward {
        SessionEntry::V4 { value, .. } => (value.fwd, value.rev),
        SessionEntry::V6 { value, .. } => (value.fwd, value.rev),
    };
    SessionCloseEvent {
        open: open_event(forward),
        time_ns,
        reason,
        fwd,
        rev,
    }
}

/// The last time the session saw a packet (ns, dataplane clock).
pub fn last_seen_ns(entry: &SessionEntry) -> u64 {
    match entry {
        SessionEntry::V4 { value, .. } => value.last_seen_ns,
        SessionEntry::V6 { value, .. } => value.last_seen_ns,
    }
}

fn open_event_of<A: SessionAddr>(key: &SessionKey<A>, value: &SessionValue<A>) -> SessionOpenEvent {
    SessionOpenEvent {
        time_ns: value.created_ns,
        session_id: value.session_id,
        flow: FlowTuple {
            src: key.src.to_ip(),
            src_port: key.src_port,
            dst: key.dst.to_ip(),
            dst_port: key.dst_port,
            protocol: key.protocol,
            // The key carries no ICMP type; ICMP sessions report 0.
            icmp_type: key.protocol.is_icmp().then_some(0),
        },
        nat_src: value.nat.src.to_ip(),
        nat_src_port: value.nat.src_port,
        nat_dst: value.nat.dst.to_ip(),
        nat_dst_port: value.nat.dst_port,
        nat_rule_src: value.nat_rule_src,
        nat_rule_dst: value.nat_rule_dst,
        policy_rule: value.policy_rule,
        app: value.app,
        ingress_zone: value.ingress_zone,
        egress_zone: value.egress_zone,
        ingress_interface: value.ingress_interface,
        owner_rg: value.owner_rg,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;
    use xpf_runtime::{IpProtocol, SessionId};

    fn snat_forward() -> SessionEntry {
        let key = SessionKey {
            src: Ipv4Addr::new(198, 18, 0, 10),
            dst: Ipv4Addr::new(198, 19, 0, 20),
            src_port: 40000,
            dst_port: 443,
            protocol: IpProtocol::TCP,
        };
        let mut value = SessionValue::new_forward(&key, SessionId(7), 100);
        value.nat.src = Ipv4Addr::new(198, 19, 255, 1);
        value.nat.src_port = 1024;
        value.flags.insert(SessionFlags::SNAT);
        value.reverse_key = SessionValue::reply_key(&key, &value.nat);
        SessionEntry::V4 { key, value }
    }

    #[test]
    fn reverse_and_forward_derivations_are_inverse() {
        let fwd = snat_forward();
        let rev = reverse_entry(&fwd);
        assert!(rev.is_reverse());
        assert_eq!(rev.key(), fwd.companion_key());
        assert_eq!(rev.companion_key(), fwd.key());
        assert_eq!(forward_entry_of_reverse(&rev), fwd);
    }

    #[test]
    fn close_event_carries_the_translation_and_reason() {
        let fwd = snat_forward();
        let ev = close_event(&fwd, CloseReason::IdleTimeout, 5_000_000_100);
        assert_eq!(ev.open.session_id, SessionId(7));
        assert_eq!(ev.open.nat_src_port, 1024);
        assert_eq!(ev.reason, CloseReason::IdleTimeout);
        assert_eq!(ev.elapsed_secs(), 5);
    }

    #[test]
    fn with_flags_keeps_existing_bits() {
        let e = with_flags(&snat_forward(), SessionFlags::CLUSTER_SYNCED);
        assert!(
            e.flags()
                .contains(SessionFlags::SNAT | SessionFlags::CLUSTER_SYNCED)
        );
    }
}
