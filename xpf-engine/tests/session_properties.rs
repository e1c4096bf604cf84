//! Behaviour of the session table: lookup from both directions, exact
//! expiry, the capacity rule, TCP tracking, per-address counts, HA export
//! and install. Unit tests are named for the behaviour they pin down; the
//! property tests compare the table with deliberately simple oracles.
//!
//! Addresses come from 198.18.0.0/15 and 2001:db8::/32.

use proptest::prelude::*;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::num::NonZeroU32;
use xpf_dataplane::session_store::reverse_entry;
use xpf_engine::session::{
    Direction, InsertError, SessionHandle, SessionInit, SessionTable, TICK_NS, TcpSegment,
    TcpTracker, TcpViolation, Timeouts,
};
use xpf_runtime::{
    AddressFamily, AnySessionKey, CloseReason, IpProtocol, SessionEntry, SessionFlags, SessionId,
    SessionKey, SessionKeyV4, SessionKeyV6, SessionState, TcpState,
};

use Direction::{Forward, Reverse};

const SEC: u64 = TICK_NS;
const SYN: u8 = TcpSegment::SYN;
const ACK: u8 = TcpSegment::ACK;
const FIN: u8 = TcpSegment::FIN;
const RST: u8 = TcpSegment::RST;
const PSH: u8 = TcpSegment::PSH;

// ---------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------

/// Small, distinct timeouts so tests can tell the classes apart.
fn timeouts() -> Timeouts {
    Timeouts {
        tcp_initial_secs: 20,
        tcp_established_secs: 1800,
        tcp_closing_secs: 240,
        tcp_time_wait_secs: 2,
        udp_secs: 60,
        icmp_secs: 10,
        other_secs: 30,
    }
}

fn table(capacity: usize) -> SessionTable {
    SessionTable::with_timeouts(capacity, timeouts())
}

/// An IPv4 key from 198.18.0.`host`:`sport` to 198.19.0.1:`dport`.
fn v4(host: u8, sport: u16, dport: u16, protocol: IpProtocol) -> SessionKeyV4 {
    SessionKey {
        src: Ipv4Addr::new(198, 18, 0, host),
        dst: Ipv4Addr::new(198, 19, 0, 1),
        src_port: sport,
        dst_port: dport,
        protocol,
    }
}

/// An IPv6 key from 2001:db8::`host`:`sport` to 2001:db8:1::1:`dport`.
fn v6(host: u16, sport: u16, dport: u16, protocol: IpProtocol) -> SessionKeyV6 {
    SessionKey {
        src: Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, host),
        dst: Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 1),
        src_port: sport,
        dst_port: dport,
        protocol,
    }
}

/// The reverse key of `key` after source NAT to 198.19.255.1:`port`.
fn snat_reverse(key: &SessionKeyV4, port: u16) -> SessionKeyV4 {
    SessionKey {
        src: key.dst,
        dst: Ipv4Addr::new(198, 19, 255, 1),
        src_port: key.dst_port,
        dst_port: port,
        protocol: key.protocol,
    }
}

fn init(id: u64) -> SessionInit {
    SessionInit {
        id: SessionId(id),
        ..SessionInit::default()
    }
}

fn udp(host: u8, sport: u16) -> SessionKeyV4 {
    v4(host, sport, 53, IpProtocol::UDP)
}

/// Inserts a UDP session without NAT.
fn insert_udp(t: &mut SessionTable, key: SessionKeyV4, id: u64, now: u64) -> SessionHandle {
    t.insert(key.into(), key.reversed().into(), init(id), now)
        .expect("insert")
        .handle
}

/// One TCP connection's sequence numbers: client ISN `c`, server ISN `s`.
#[derive(Clone, Copy)]
struct Conn {
    c: u32,
    s: u32,
}

impl Conn {
    const fn new(c: u32, s: u32) -> Self {
        Self { c, s }
    }
    fn syn(&self) -> TcpSegment {
        TcpSegment::new(SYN, self.c, 0, 64240)
    }
    fn syn_ack(&self) -> TcpSegment {
        TcpSegment::new(SYN | ACK, self.s, self.c.wrapping_add(1), 65160)
    }
    /// Client → server, `sent` bytes after the ISN, acknowledging `acked`
    /// server bytes.
    fn client(&self, flags: u8, sent: u32, acked: u32) -> TcpSegment {
        TcpSegment::new(
            flags,
            self.c.wrapping_add(1).wrapping_add(sent),
            self.s.wrapping_add(1).wrapping_add(acked),
            64240,
        )
    }
    /// Server → client.
    fn server(&self, flags: u8, sent: u32, acked: u32) -> TcpSegment {
        TcpSegment::new(
            flags,
            self.s.wrapping_add(1).wrapping_add(sent),
            self.c.wrapping_add(1).wrapping_add(acked),
            65160,
        )
    }
}

const CONN: Conn = Conn::new(1_000, 5_000);

/// Inserts a TCP session from `conn`'s SYN with extra `flags`.
fn insert_tcp(
    t: &mut SessionTable,
    key: SessionKeyV4,
    conn: &Conn,
    flags: SessionFlags,
    now: u64,
) -> SessionHandle {
    let tracker = TcpTracker::new_from_syn(&conn.syn()).expect("SYN");
    let init = SessionInit {
        tcp: Some(tracker),
        flags,
        app_timeout: NonZeroU32::new(3600),
        ..init(u64::from(key.src_port))
    };
    t.insert(key.into(), key.reversed().into(), init, now)
        .expect("insert")
        .handle
}

/// Runs the three-way handshake on a fresh session.
fn handshake(t: &mut SessionTable, h: SessionHandle, conn: &Conn) {
    t.track_tcp(h, Reverse, &conn.syn_ack()).expect("SYN+ACK");
    t.track_tcp(h, Forward, &conn.client(ACK, 0, 0))
        .expect("ACK");
}

fn established(t: &mut SessionTable, conn: &Conn, flags: SessionFlags) -> SessionHandle {
    let h = insert_tcp(t, v4(10, 40000, 443, IpProtocol::TCP), conn, flags, 0);
    handshake(t, h, conn);
    assert_eq!(t.get(h).tcp_state(), TcpState::Established);
    h
}

// ---------------------------------------------------------------------
// Lookup and storage
// ---------------------------------------------------------------------

#[test]
fn lookup_from_either_direction_finds_the_same_session() {
    let mut t = table(16);
    let fwd = v4(10, 40000, 443, IpProtocol::UDP);
    let rev = snat_reverse(&fwd, 1024);
    let h = t.insert(fwd.into(), rev.into(), init(1), 0).unwrap().handle;
    assert_eq!(t.lookup(&fwd.into()), Some((h, Forward)));
    assert_eq!(t.lookup(&rev.into()), Some((h, Reverse)));
    assert_eq!(t.lookup_v4(&rev), Some((h, Reverse)));
    // The un-NATed reply key is not the session's.
    assert_eq!(t.lookup(&fwd.reversed().into()), None);

    let f6 = v6(0x10, 40000, 443, IpProtocol::TCP);
    let tracker = TcpTracker::new_from_syn(&CONN.syn()).unwrap();
    let h6 = t
        .insert(
            f6.into(),
            f6.reversed().into(),
            SessionInit {
                tcp: Some(tracker),
                ..init(2)
            },
            0,
        )
        .unwrap()
        .handle;
    assert_eq!(h6.family(), AddressFamily::Inet6);
    assert_eq!(t.lookup_v6(&f6), Some((h6, Forward)));
    assert_eq!(t.lookup(&f6.reversed().into()), Some((h6, Reverse)));
    assert_eq!(t.get(h6).id(), SessionId(2));
    assert_eq!(t.len(), 2);
    assert_eq!(t.keys(h).reverse, AnySessionKey::V4(rev));
}

#[test]
fn insert_refuses_colliding_equal_and_mismatched_keys_without_side_effects() {
    let mut t = table(16);
    let a = udp(1, 1000);
    let h = insert_udp(&mut t, a, 1, 0);
    // Forward key already a session's forward key.
    assert_eq!(
        t.insert(a.into(), udp(2, 2000).into(), init(2), 0),
        Err(InsertError::KeyInUse {
            direction: Forward,
            existing: h
        })
    );
    // Reverse key already a session's reverse key (e.g. a NAT port clash).
    assert_eq!(
        t.insert(udp(3, 3000).into(), a.reversed().into(), init(3), 0),
        Err(InsertError::KeyInUse {
            direction: Reverse,
            existing: h
        })
    );
    let same = udp(4, 4000);
    assert_eq!(
        t.insert(same.into(), same.into(), init(4), 0),
        Err(InsertError::SameKeys)
    );
    let f6 = v6(1, 1, 2, IpProtocol::UDP);
    assert_eq!(
        t.insert(udp(5, 5).into(), f6.into(), init(5), 0),
        Err(InsertError::KeyMismatch)
    );
    // TCP needs a tracker; UDP must not have one.
    let tcp = v4(6, 6, 80, IpProtocol::TCP);
    assert_eq!(
        t.insert(tcp.into(), tcp.reversed().into(), init(6), 0),
        Err(InsertError::TcpTracker)
    );
    let tracker = TcpTracker::new_from_syn(&CONN.syn()).unwrap();
    assert_eq!(
        t.insert(
            udp(7, 7).into(),
            udp(7, 7).reversed().into(),
            SessionInit {
                tcp: Some(tracker),
                ..init(7)
            },
            0
        ),
        Err(InsertError::TcpTracker)
    );
    assert_eq!(t.len(), 1);
    assert_eq!(
        t.count_by_source(IpAddr::V4(Ipv4Addr::new(198, 18, 0, 3))),
        0
    );
}

#[test]
fn touch_counts_both_directions_and_answers_non_tcp_sessions() {
    let mut t = table(16);
    let h = insert_udp(&mut t, udp(1, 1000), 1, 0);
    assert_eq!(t.get(h).state(), SessionState::New);
    assert!(t.get(h).is_embryonic());
    assert!(!t.touch(h, Forward, 100, SEC));
    assert!(t.touch(h, Reverse, 60, 2 * SEC), "first reply answers");
    assert!(!t.touch(h, Reverse, 40, SEC), "time never runs backwards");
    let s = t.get(h);
    assert_eq!(s.state(), SessionState::Established);
    assert!(!s.is_embryonic());
    assert_eq!(s.counters(Forward).packets, 1);
    assert_eq!(s.counters(Forward).bytes, 100);
    assert_eq!(s.counters(Reverse).packets, 2);
    assert_eq!(s.counters(Reverse).bytes, 100);
    assert_eq!(s.last_seen_ns(), 2 * SEC);
    assert_eq!(t.embryonic_len(), 0);
}

#[test]
fn removed_session_frees_both_keys_and_its_slot() {
    let mut t = table(2);
    let a = udp(1, 1000);
    let h = insert_udp(&mut t, a, 1, 0);
    let closed = t.remove(h, CloseReason::Admin);
    assert_eq!(closed.reason, CloseReason::Admin);
    assert_eq!(closed.forward.session_id(), SessionId(1));
    assert_eq!(closed.reverse().key(), AnySessionKey::V4(a.reversed()));
    assert!(t.try_get(h).is_none());
    assert_eq!(t.lookup(&a.into()), None);
    assert_eq!(t.lookup(&a.reversed().into()), None);
    let h2 = insert_udp(&mut t, udp(2, 2000), 2, 0);
    assert_eq!(h2, h, "the slot is reused");
    assert_eq!(t.get(h2).id(), SessionId(2));
}

#[test]
fn to_entries_exports_forward_and_reverse_with_the_nat_translation() {
    let mut t = table(4);
    let fwd = v4(10, 40000, 80, IpProtocol::UDP);
    let rev = snat_reverse(&fwd, 2000);
    let h = t
        .insert(
            fwd.into(),
            rev.into(),
            SessionInit {
                flags: SessionFlags::SNAT,
                ..init(9)
            },
            5,
        )
        .unwrap()
        .handle;
    t.touch(h, Forward, 500, 7);
    let (f, r) = t.to_entries(h);
    assert_eq!(r, reverse_entry(&f));
    assert!(r.is_reverse());
    let SessionEntry::V4 { key, value } = f else {
        panic!("family")
    };
    assert_eq!(key, fwd);
    assert_eq!(value.reverse_key, rev);
    assert_eq!(value.nat.src, Ipv4Addr::new(198, 19, 255, 1));
    assert_eq!(value.nat.src_port, 2000);
    assert_eq!(value.nat.dst, fwd.dst);
    assert_eq!(value.fwd.bytes, 500);
    assert_eq!(value.created_ns, 5);
    assert_eq!(value.last_seen_ns, 7);
    assert_eq!(value.timeout_secs, 60);
    assert!(value.is_nat());
}

#[test]
fn insert_synced_installs_refreshes_and_replaces() {
    let mut a = table(8);
    let fwd = v4(10, 40000, 443, IpProtocol::TCP);
    let h = insert_tcp(&mut a, fwd, &CONN, SessionFlags::empty(), 0);
    handshake(&mut a, h, &CONN);
    a.touch(h, Forward, 1000, 3 * SEC);
    let (entry, _) = a.to_entries(h);

    let mut b = table(8);
    let synced = b.insert_synced(&entry, 10 * SEC).unwrap();
    assert!(!synced.refreshed);
    let s = b.get(synced.handle);
    assert!(s.flags().contains(SessionFlags::CLUSTER_SYNCED));
    assert_eq!(s.tcp_state(), TcpState::Established);
    assert!(s.tcp().is_liberal());
    assert_eq!(s.counters(Forward).bytes, 1000);
    assert_eq!(
        b.lookup(&fwd.reversed().into()),
        Some((synced.handle, Reverse))
    );
    // The synced session tracks traffic without knowing the windows.
    b.track_tcp(
        synced.handle,
        Forward,
        &CONN.client(ACK | PSH, 0, 0).with_payload(10),
    )
    .unwrap();

    // The same session again: refreshed in place.
    a.touch(h, Reverse, 50, 4 * SEC);
    let (entry, _) = a.to_entries(h);
    let again = b.insert_synced(&entry, 11 * SEC).unwrap();
    assert!(again.refreshed);
    assert_eq!(again.handle, synced.handle);
    assert_eq!(b.get(again.handle).counters(Reverse).bytes, 50);
    assert_eq!(b.len(), 1);

    // Another session under the same forward key replaces it.
    let SessionEntry::V4 { key, mut value } = entry else {
        panic!()
    };
    value.session_id = SessionId(77);
    let other = SessionEntry::V4 { key, value };
    let replaced = b.insert_synced(&other, 12 * SEC).unwrap();
    assert_eq!(
        replaced.replaced.map(|c| c.reason),
        Some(CloseReason::ClusterReconcile)
    );
    assert_eq!(b.get(replaced.handle).id(), SessionId(77));
    assert_eq!(b.len(), 1);

    // Reverse entries and inconsistent entries are refused.
    let (_, rev) = b.to_entries(replaced.handle);
    assert_eq!(b.insert_synced(&rev, 0), Err(InsertError::ReverseEntry));
    value.nat.src_port = 1;
    assert_eq!(
        b.insert_synced(&SessionEntry::V4 { key, value }, 0),
        Err(InsertError::InconsistentEntry)
    );
}

#[test]
fn memory_per_session_pair_is_within_budget() {
    let t = SessionTable::new(1_000_000);
    let v4 = t.bytes_per_session(AddressFamily::Inet);
    let v6 = t.bytes_per_session(AddressFamily::Inet6);
    println!("memory per session pair at 1,000,000 sessions: IPv4 {v4:.1} B, IPv6 {v6:.1} B");
    assert!(v4 <= 256.0, "IPv4 {v4}");
    assert!(v6 <= 256.0, "IPv6 {v6}");
}

// ---------------------------------------------------------------------
// Expiry
// ---------------------------------------------------------------------

#[test]
fn expire_closes_exactly_the_idle_sessions() {
    let mut t = table(16);
    let idle = insert_udp(&mut t, udp(1, 1), 1, 0);
    let busy = insert_udp(&mut t, udp(2, 2), 2, 0);
    let late = insert_udp(&mut t, udp(3, 3), 3, 30 * SEC);
    t.touch(busy, Forward, 1, 50 * SEC);
    assert!(
        t.expire(60 * SEC - 1, usize::MAX).is_empty(),
        "one ns early"
    );
    let gone = t.expire(60 * SEC, usize::MAX);
    assert_eq!(gone.len(), 1);
    assert_eq!(gone[0].handle, idle);
    assert_eq!(gone[0].reason, CloseReason::IdleTimeout);
    // Touched at 50 s: due at 110 s, not at its original 60 s.
    assert!(t.expire(89 * SEC, usize::MAX).is_empty());
    assert_eq!(t.expire(90 * SEC, usize::MAX)[0].handle, late);
    assert!(t.expire(110 * SEC - 1, usize::MAX).is_empty());
    assert_eq!(t.expire(110 * SEC, usize::MAX)[0].handle, busy);
    assert!(t.is_empty());
}

#[test]
fn expire_within_one_second_is_exact_to_the_nanosecond() {
    let mut t = table(16);
    let a = insert_udp(&mut t, udp(1, 1), 1, 100);
    let b = insert_udp(&mut t, udp(2, 2), 2, 900_000_000);
    // Both are due in the same one-second tick.
    assert_eq!(t.expire(60 * SEC + 99, usize::MAX).len(), 0);
    assert_eq!(t.expire(60 * SEC + 100, usize::MAX)[0].handle, a);
    assert_eq!(t.expire(60 * SEC + 899_999_999, usize::MAX).len(), 0);
    assert_eq!(t.expire(60 * SEC + 900_000_000, usize::MAX)[0].handle, b);
}

#[test]
fn expire_respects_max_and_resumes_where_it_stopped() {
    let mut t = table(64);
    for i in 0..10u16 {
        insert_udp(&mut t, udp(1, 1000 + i), u64::from(i), u64::from(i) * SEC);
    }
    let now = 100 * SEC;
    let first = t.expire(now, 3);
    assert_eq!(first.len(), 3);
    assert_eq!(t.expire(now, 0).len(), 0);
    let rest = t.expire(now, usize::MAX);
    assert_eq!(rest.len(), 7);
    assert!(t.is_empty());
}

#[test]
fn expire_after_a_gap_longer_than_the_wheel_finds_everything_due() {
    let mut t = table(64);
    // 10,000 s is more than one revolution of the 4096-bucket wheel.
    let long = SessionInit {
        app_timeout: NonZeroU32::new(10_000),
        ..init(1)
    };
    let k = udp(1, 1);
    let h_long = t
        .insert(k.into(), k.reversed().into(), long, 0)
        .unwrap()
        .handle;
    let h_short = insert_udp(&mut t, udp(2, 2), 2, 0);
    let gone = t.expire(5_000 * SEC, usize::MAX);
    assert_eq!(
        gone.iter().map(|c| c.handle).collect::<Vec<_>>(),
        vec![h_short]
    );
    assert!(t.expire(9_999 * SEC, usize::MAX).is_empty());
    assert_eq!(t.expire(20_000 * SEC, usize::MAX)[0].handle, h_long);
}

#[test]
fn session_due_now_is_found_in_an_already_scanned_second() {
    let mut t = table(8);
    insert_udp(&mut t, udp(1, 1), 1, 0);
    // Sweeps up to and including the current second: the only session
    // was due long ago.
    assert_eq!(t.expire(1_000 * SEC + 10, usize::MAX).len(), 1);
    let mut peer = table(8);
    let h = insert_udp(&mut peer, udp(2, 2), 2, 0);
    let (entry, _) = peer.to_entries(h);
    // Installed already due, in the same second as the last sweep.
    let synced = t.insert_synced(&entry, 1_000 * SEC + 20).unwrap();
    let gone = t.expire(1_000 * SEC + 30, usize::MAX);
    assert_eq!(
        gone.iter().map(|c| c.handle).collect::<Vec<_>>(),
        vec![synced.handle]
    );
}

#[test]
fn sessions_due_in_the_past_expire_on_the_next_sweep() {
    let mut t = table(8);
    t.expire(1_000 * SEC, usize::MAX);
    // A synced session last seen long ago (peer's age converted to local
    // time) is already due.
    let mut a = table(8);
    let h = insert_udp(&mut a, udp(1, 1), 1, 10 * SEC);
    let (entry, _) = a.to_entries(h);
    let synced = t.insert_synced(&entry, 1_000 * SEC).unwrap();
    let gone = t.expire(1_000 * SEC, usize::MAX);
    assert_eq!(gone[0].handle, synced.handle);
}

// ---------------------------------------------------------------------
// Capacity
// ---------------------------------------------------------------------

#[test]
fn full_table_evicts_the_oldest_embryonic_session_first() {
    let mut t = table(3);
    let oldest = insert_udp(&mut t, udp(1, 1), 1, 0);
    let answered = insert_udp(&mut t, udp(2, 2), 2, SEC);
    let younger = insert_udp(&mut t, udp(3, 3), 3, 2 * SEC);
    t.touch(answered, Reverse, 10, 2 * SEC);
    // A packet refreshes the oldest embryonic session: order is by
    // insertion, not by activity.
    t.touch(oldest, Forward, 10, 3 * SEC);

    let k = udp(4, 4);
    let ins = t
        .insert(k.into(), k.reversed().into(), init(4), 4 * SEC)
        .unwrap();
    let evicted = ins.evicted.expect("evicts");
    assert_eq!(evicted.handle, oldest);
    assert_eq!(evicted.reason, CloseReason::Evicted);
    assert_eq!(evicted.forward.session_id(), SessionId(1));
    assert_eq!(t.lookup(&udp(1, 1).into()), None);

    let k = udp(5, 5);
    let ins = t
        .insert(k.into(), k.reversed().into(), init(5), 5 * SEC)
        .unwrap();
    assert_eq!(ins.evicted.map(|c| c.handle), Some(younger));
    assert!(t.try_get(answered).is_some());
    assert_eq!(t.len(), 3);
}

#[test]
fn full_table_never_evicts_established_sessions_and_refuses_new_flows() {
    let mut t = table(2);
    let a = insert_udp(&mut t, udp(1, 1), 1, 0);
    let b = established(&mut t, &CONN, SessionFlags::empty());
    t.touch(a, Reverse, 1, 0);
    assert_eq!(t.embryonic_len(), 0);
    let k = udp(3, 3);
    assert_eq!(
        t.insert(k.into(), k.reversed().into(), init(3), SEC),
        Err(InsertError::TableFull)
    );
    assert_eq!(
        InsertError::TableFull.drop_reason(),
        Some(xpf_runtime::DropReason::SessionTableFull)
    );
    assert!(t.try_get(a).is_some() && t.try_get(b).is_some());
    assert_eq!(t.len(), 2);
}

#[test]
fn answered_tcp_session_is_not_evicted_but_an_unanswered_syn_is() {
    let mut t = table(2);
    let syn_only = insert_tcp(
        &mut t,
        v4(1, 1, 80, IpProtocol::TCP),
        &CONN,
        SessionFlags::empty(),
        0,
    );
    let answered = insert_tcp(
        &mut t,
        v4(2, 2, 80, IpProtocol::TCP),
        &CONN,
        SessionFlags::empty(),
        SEC,
    );
    // The SYN+ACK answers it (SynReceived): no longer embryonic.
    t.track_tcp(answered, Reverse, &CONN.syn_ack()).unwrap();
    assert!(!t.get(answered).is_embryonic());
    assert!(t.get(syn_only).is_embryonic());
    let k = udp(3, 3);
    let ins = t
        .insert(k.into(), k.reversed().into(), init(3), 2 * SEC)
        .unwrap();
    assert_eq!(ins.evicted.map(|c| c.handle), Some(syn_only));
    let k = udp(4, 4);
    let ins = t
        .insert(k.into(), k.reversed().into(), init(4), 2 * SEC)
        .unwrap();
    assert_eq!(
        ins.evicted.map(|c| c.forward.session_id()),
        Some(SessionId(3))
    );
    assert!(t.try_get(answered).is_some());
}

#[test]
fn refused_insert_on_a_full_table_evicts_nothing() {
    let mut t = table(1);
    let a = insert_udp(&mut t, udp(1, 1), 1, 0);
    assert!(matches!(
        t.insert(udp(1, 1).into(), udp(9, 9).into(), init(2), 0),
        Err(InsertError::KeyInUse { .. })
    ));
    assert!(t.try_get(a).is_some());
}

// ---------------------------------------------------------------------
// TCP
// ---------------------------------------------------------------------

#[test]
fn tcp_handshake_reaches_established_with_the_app_timeout() {
    let mut t = table(4);
    let h = insert_tcp(
        &mut t,
        v4(1, 40000, 443, IpProtocol::TCP),
        &CONN,
        SessionFlags::empty(),
        0,
    );
    assert_eq!(t.get(h).tcp_state(), TcpState::SynSent);
    assert_eq!(t.get(h).timeout_secs(), 20);
    let u = t.track_tcp(h, Reverse, &CONN.syn_ack()).unwrap();
    assert_eq!(
        (u.previous, u.state),
        (TcpState::SynSent, TcpState::SynReceived)
    );
    assert!(u.state_changed());
    assert_eq!(t.get(h).state(), SessionState::New);
    let u = t.track_tcp(h, Forward, &CONN.client(ACK, 0, 0)).unwrap();
    assert_eq!(u.state, TcpState::Established);
    assert_eq!(u.close, None);
    assert_eq!(t.get(h).state(), SessionState::Established);
    assert_eq!(t.get(h).timeout_secs(), 3600, "application override");
    // Data both ways.
    t.track_tcp(h, Forward, &CONN.client(ACK | PSH, 0, 0).with_payload(500))
        .unwrap();
    let u = t
        .track_tcp(
            h,
            Reverse,
            &CONN.server(ACK | PSH, 0, 500).with_payload(1400),
        )
        .unwrap();
    assert!(!u.state_changed() && u.in_window);
}

#[test]
fn fin_fin_ack_teardown_goes_to_time_wait_then_expires_with_tcp_fin() {
    let mut t = table(4);
    let h = established(&mut t, &CONN, SessionFlags::empty());
    let u = t
        .track_tcp(h, Forward, &CONN.client(FIN | ACK, 0, 0))
        .unwrap();
    assert_eq!(u.state, TcpState::FinWait);
    assert_eq!(t.get(h).state(), SessionState::Closing);
    assert_eq!(t.get(h).timeout_secs(), 240);
    let u = t
        .track_tcp(h, Reverse, &CONN.server(FIN | ACK, 0, 1))
        .unwrap();
    assert_eq!(u.state, TcpState::LastAck);
    let u = t.track_tcp(h, Forward, &CONN.client(ACK, 1, 1)).unwrap();
    assert_eq!(u.state, TcpState::TimeWait);
    assert_eq!(u.close, Some(CloseReason::TcpFin));
    assert_eq!(t.get(h).state(), SessionState::Closed);
    t.touch(h, Forward, 40, 10 * SEC);
    // A retransmitted final ACK is still accepted in TimeWait.
    t.track_tcp(h, Forward, &CONN.client(ACK, 1, 1)).unwrap();
    // The 1800 s schedule was shortened to time-wait (2 s).
    assert!(t.expire(12 * SEC - 1, usize::MAX).is_empty());
    let gone = t.expire(12 * SEC, usize::MAX);
    assert_eq!(gone.len(), 1);
    assert_eq!(gone[0].reason, CloseReason::TcpFin);
}

#[test]
fn responder_fin_first_gives_close_wait() {
    let mut t = table(4);
    let h = established(&mut t, &CONN, SessionFlags::empty());
    let u = t
        .track_tcp(h, Reverse, &CONN.server(FIN | ACK, 0, 0))
        .unwrap();
    assert_eq!(u.state, TcpState::CloseWait);
    // Half-close: the client may still send data.
    t.track_tcp(h, Forward, &CONN.client(ACK | PSH, 0, 1).with_payload(100))
        .unwrap();
    // But the server may not send new data after its FIN.
    assert_eq!(
        t.track_tcp(h, Reverse, &CONN.server(ACK | PSH, 1, 100).with_payload(10)),
        Err(TcpViolation::InvalidState)
    );
}

#[test]
fn rst_in_window_closes() {
    let mut t = table(4);
    let h = established(&mut t, &CONN, SessionFlags::empty());
    let u = t
        .track_tcp(h, Reverse, &CONN.server(RST | ACK, 0, 0))
        .unwrap();
    assert_eq!(u.state, TcpState::Close);
    assert_eq!(u.close, Some(CloseReason::TcpRst));
    assert_eq!(t.get(h).state(), SessionState::Closed);
    assert_eq!(t.get(h).timeout_secs(), 2);
    let gone = t.expire(2 * SEC, usize::MAX);
    assert_eq!(gone[0].reason, CloseReason::TcpRst);
}

#[test]
fn rst_out_of_window_is_rejected() {
    let mut t = table(4);
    let h = established(&mut t, &CONN, SessionFlags::empty());
    let blind = TcpSegment::new(RST, CONN.s.wrapping_add(10_000_000), 0, 0);
    assert_eq!(
        t.track_tcp(h, Reverse, &blind),
        Err(TcpViolation::OutOfWindow)
    );
    assert_eq!(t.get(h).tcp_state(), TcpState::Established);
}

#[test]
fn rst_answering_a_syn_must_acknowledge_it() {
    let mut t = table(4);
    let h = insert_tcp(
        &mut t,
        v4(1, 1, 80, IpProtocol::TCP),
        &CONN,
        SessionFlags::empty(),
        0,
    );
    let wrong = TcpSegment::new(RST | ACK, 0, CONN.c.wrapping_add(7), 0);
    assert_eq!(
        t.track_tcp(h, Reverse, &wrong),
        Err(TcpViolation::OutOfWindow)
    );
    let refused = TcpSegment::new(RST | ACK, 0, CONN.c.wrapping_add(1), 0);
    let u = t.track_tcp(h, Reverse, &refused).unwrap();
    assert_eq!(u.close, Some(CloseReason::TcpRst));
    assert!(!t.get(h).is_embryonic());
}

#[test]
fn out_of_window_data_is_rejected_in_strict_mode() {
    let mut t = table(4);
    let h = established(&mut t, &CONN, SessionFlags::empty());
    // The server's 65160-byte window allows up to ISN+1+65160.
    let far = CONN.client(ACK | PSH, 100_000, 0).with_payload(100);
    assert_eq!(
        t.track_tcp(h, Forward, &far),
        Err(TcpViolation::OutOfWindow)
    );
    assert_eq!(
        TcpViolation::OutOfWindow.drop_reason(),
        xpf_runtime::DropReason::TcpOutOfWindow
    );
    // Acknowledging data the server never sent.
    let bad_ack = CONN.client(ACK, 0, 1_000_000);
    assert_eq!(
        t.track_tcp(h, Forward, &bad_ack),
        Err(TcpViolation::OutOfWindow)
    );
    // Old data long before the window (not a plausible retransmission).
    let ancient = TcpSegment::new(
        ACK,
        CONN.c.wrapping_sub(200_000),
        CONN.s.wrapping_add(1),
        100,
    );
    assert_eq!(
        t.track_tcp(h, Forward, &ancient),
        Err(TcpViolation::OutOfWindow)
    );
    // In-window data still passes.
    t.track_tcp(h, Forward, &CONN.client(ACK | PSH, 0, 0).with_payload(100))
        .unwrap();
}

#[test]
fn out_of_window_data_is_accepted_in_loose_mode() {
    let mut t = table(4);
    let h = established(&mut t, &CONN, SessionFlags::LOOSE_TCP);
    let far = CONN.client(ACK | PSH, 100_000, 0).with_payload(100);
    let u = t.track_tcp(h, Forward, &far).unwrap();
    assert!(!u.in_window, "reported, not rejected");
    // Loose mode still enforces states.
    assert_eq!(
        t.track_tcp(
            h,
            Forward,
            &TcpSegment::new(SYN, CONN.c.wrapping_add(9_999_999), 0, 100)
        ),
        Err(TcpViolation::InvalidState)
    );
}

#[test]
fn retransmitted_syn_is_accepted() {
    let mut t = table(4);
    let h = insert_tcp(
        &mut t,
        v4(1, 1, 80, IpProtocol::TCP),
        &CONN,
        SessionFlags::empty(),
        0,
    );
    let u = t.track_tcp(h, Forward, &CONN.syn()).unwrap();
    assert_eq!(u.state, TcpState::SynSent);
    t.track_tcp(h, Reverse, &CONN.syn_ack()).unwrap();
    // Retransmitted SYN and SYN+ACK while the handshake completes.
    t.track_tcp(h, Forward, &CONN.syn()).unwrap();
    t.track_tcp(h, Reverse, &CONN.syn_ack()).unwrap();
    t.track_tcp(h, Forward, &CONN.client(ACK, 0, 0)).unwrap();
    // A late duplicate SYN+ACK (the responder missed the ACK) after the
    // connection is established.
    let u = t.track_tcp(h, Reverse, &CONN.syn_ack()).unwrap();
    assert_eq!(u.state, TcpState::Established);
    // A restarted handshake with a new ISN before any answer.
    let mut t = table(4);
    let h = insert_tcp(
        &mut t,
        v4(1, 1, 80, IpProtocol::TCP),
        &CONN,
        SessionFlags::empty(),
        0,
    );
    let restarted = Conn::new(CONN.c.wrapping_add(100_000), CONN.s);
    t.track_tcp(h, Forward, &restarted.syn()).unwrap();
    t.track_tcp(h, Reverse, &restarted.syn_ack()).unwrap();
}

#[test]
fn syn_on_established_that_is_not_a_retransmit_is_invalid() {
    let mut t = table(4);
    let h = established(&mut t, &CONN, SessionFlags::empty());
    let new_isn = TcpSegment::new(SYN, CONN.c.wrapping_add(1_000_000), 0, 64240);
    assert_eq!(
        t.track_tcp(h, Forward, &new_isn),
        Err(TcpViolation::InvalidState)
    );
    // A SYN+ACK from the initiator is never valid.
    assert_eq!(
        t.track_tcp(h, Forward, &TcpSegment::new(SYN | ACK, CONN.c, CONN.s, 100)),
        Err(TcpViolation::InvalidState)
    );
}

#[test]
fn data_before_the_handshake_is_invalid() {
    let mut t = table(4);
    let h = insert_tcp(
        &mut t,
        v4(1, 1, 80, IpProtocol::TCP),
        &CONN,
        SessionFlags::empty(),
        0,
    );
    let early = CONN.client(ACK | PSH, 0, 0).with_payload(10);
    assert_eq!(
        t.track_tcp(h, Forward, &early),
        Err(TcpViolation::InvalidState)
    );
    let unsolicited = CONN.server(ACK, 0, 0);
    assert_eq!(
        t.track_tcp(h, Reverse, &unsolicited),
        Err(TcpViolation::InvalidState)
    );
    // Simultaneous open is not supported.
    assert_eq!(
        t.track_tcp(h, Reverse, &TcpSegment::new(SYN, CONN.s, 0, 100)),
        Err(TcpViolation::InvalidState)
    );
    t.track_tcp(h, Reverse, &CONN.syn_ack()).unwrap();
    // The responder may not send data before the handshake completes.
    assert_eq!(
        t.track_tcp(h, Reverse, &CONN.server(ACK | PSH, 0, 0).with_payload(5)),
        Err(TcpViolation::InvalidState)
    );
    // Flag sets no TCP sends.
    assert_eq!(
        t.track_tcp(
            h,
            Forward,
            &TcpSegment::new(FIN, CONN.c.wrapping_add(1), 0, 100)
        ),
        Err(TcpViolation::InvalidState)
    );
    assert_eq!(t.get(h).tcp_state(), TcpState::SynReceived);
}

#[test]
fn tcp_segments_on_non_tcp_sessions_are_invalid() {
    let mut t = table(4);
    let h = insert_udp(&mut t, udp(1, 1), 1, 0);
    assert_eq!(
        t.track_tcp(h, Forward, &CONN.syn()),
        Err(TcpViolation::InvalidState)
    );
}

/// A handshake with window-scale options `client`/`server`, after which
/// the client advertises a raw window of 502, then the server sends 100
/// bytes starting 60,000 bytes into its stream.
fn server_burst(client: Option<u8>, server: Option<u8>) -> Result<(), TcpViolation> {
    let mut t = table(4);
    let mut syn = CONN.syn();
    syn.window_scale = client;
    let tracker = TcpTracker::new_from_syn(&syn)?;
    let k = v4(1, 1, 80, IpProtocol::TCP);
    let h = t
        .insert(
            k.into(),
            k.reversed().into(),
            SessionInit {
                tcp: Some(tracker),
                ..init(1)
            },
            0,
        )
        .unwrap()
        .handle;
    let mut syn_ack = CONN.syn_ack();
    syn_ack.window_scale = server;
    t.track_tcp(h, Reverse, &syn_ack)?;
    let mut ack = CONN.client(ACK, 0, 0);
    ack.window = 502;
    t.track_tcp(h, Forward, &ack)?;
    let burst = CONN.server(ACK | PSH, 60_000, 0).with_payload(100);
    t.track_tcp(h, Reverse, &burst).map(|_| ())
}

#[test]
fn window_scaling_is_honoured() {
    // 502 << 7 = 64,256 bytes: the burst fits.
    assert_eq!(server_burst(Some(7), Some(7)), Ok(()));
    // Unscaled, 502 bytes: it does not.
    assert_eq!(server_burst(None, None), Err(TcpViolation::OutOfWindow));
}

#[test]
fn window_scaling_needs_both_syns_to_carry_the_option() {
    assert_eq!(server_burst(Some(7), None), Err(TcpViolation::OutOfWindow));
    assert_eq!(server_burst(None, Some(7)), Err(TcpViolation::OutOfWindow));
}

#[test]
fn sequence_numbers_wrap_around_2_pow_32() {
    let conn = Conn::new(u32::MAX - 50, u32::MAX - 10);
    let mut t = table(4);
    let h = insert_tcp(
        &mut t,
        v4(1, 1, 80, IpProtocol::TCP),
        &conn,
        SessionFlags::empty(),
        0,
    );
    handshake(&mut t, h, &conn);
    let mut sent = 0u32;
    let mut got = 0u32;
    for _ in 0..20 {
        t.track_tcp(
            h,
            Forward,
            &conn.client(ACK | PSH, sent, got).with_payload(1000),
        )
        .unwrap();
        sent += 1000;
        t.track_tcp(
            h,
            Reverse,
            &conn.server(ACK | PSH, got, sent).with_payload(1460),
        )
        .unwrap();
        got += 1460;
    }
    // Both streams crossed 2^32.
    assert!(conn.c.wrapping_add(1 + sent) < conn.c);
    assert!(conn.s.wrapping_add(1 + got) < conn.s);
    // The window checks still bite after the wrap.
    let far = conn.client(ACK, sent + 200_000, got);
    assert_eq!(
        t.track_tcp(h, Forward, &far),
        Err(TcpViolation::OutOfWindow)
    );
    t.track_tcp(h, Forward, &conn.client(FIN | ACK, sent, got))
        .unwrap();
    t.track_tcp(h, Reverse, &conn.server(FIN | ACK, got, sent + 1))
        .unwrap();
    let u = t
        .track_tcp(h, Forward, &conn.client(ACK, sent + 1, got + 1))
        .unwrap();
    assert_eq!(u.state, TcpState::TimeWait);
}

#[test]
fn new_syn_after_time_wait_asks_for_a_reopen() {
    let mut t = table(4);
    let h = established(&mut t, &CONN, SessionFlags::empty());
    t.track_tcp(h, Forward, &CONN.client(FIN | ACK, 0, 0))
        .unwrap();
    t.track_tcp(h, Reverse, &CONN.server(FIN | ACK, 0, 1))
        .unwrap();
    t.track_tcp(h, Forward, &CONN.client(ACK, 1, 1)).unwrap();
    let again = TcpSegment::new(SYN, CONN.c.wrapping_add(100_000), 0, 64240);
    assert_eq!(t.track_tcp(h, Forward, &again), Err(TcpViolation::Reopen));
}

// ---------------------------------------------------------------------
// Per-address counts
// ---------------------------------------------------------------------

#[test]
fn per_address_counts_follow_inserts_and_removals() {
    let mut t = table(16);
    let src = IpAddr::V4(Ipv4Addr::new(198, 18, 0, 1));
    let dst = IpAddr::V4(Ipv4Addr::new(198, 19, 0, 1));
    let a = insert_udp(&mut t, udp(1, 1), 1, 0);
    insert_udp(&mut t, udp(1, 2), 2, 0);
    insert_udp(&mut t, udp(2, 3), 3, 0);
    assert_eq!(t.count_by_source(src), 2);
    assert_eq!(t.count_by_destination(dst), 3);
    // Counted by the forward key: the reply's source is not a source.
    assert_eq!(t.count_by_source(dst), 0);
    t.remove(a, CloseReason::Admin);
    assert_eq!(t.count_by_source(src), 1);
    t.expire(1_000 * SEC, usize::MAX);
    assert_eq!(t.count_by_source(src), 0);
    assert_eq!(t.count_by_destination(dst), 0);
}

// ---------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------

/// The scripted lifecycle a TCP session in the expiry property walks
/// through: (direction, segment, resulting state) per step.
fn tcp_script(conn: &Conn) -> [(Direction, TcpSegment, TcpState); 5] {
    [
        (Reverse, conn.syn_ack(), TcpState::SynReceived),
        (Forward, conn.client(ACK, 0, 0), TcpState::Established),
        (Forward, conn.client(FIN | ACK, 0, 0), TcpState::FinWait),
        (Reverse, conn.server(FIN | ACK, 0, 1), TcpState::LastAck),
        (Forward, conn.client(ACK, 1, 1), TcpState::TimeWait),
    ]
}

#[derive(Clone, Debug)]
enum Op {
    /// Insert a UDP session with this app timeout (s), or a TCP session.
    Insert { tcp: bool, app_timeout: u32 },
    /// Touch the n-th live session (mod count) in a direction.
    Touch { pick: usize, reverse: bool },
    /// Advance a TCP session one step through its script.
    TcpStep { pick: usize },
    /// Advance time by this many ms.
    Advance { ms: u64 },
    /// Run `expire` with this max.
    Expire { max: usize },
    /// Remove the n-th live session.
    Remove { pick: usize },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (any::<bool>(), prop_oneof![1u32..120, 1u32..6000])
            .prop_map(|(tcp, app_timeout)| Op::Insert { tcp, app_timeout }),
        4 => (any::<usize>(), any::<bool>()).prop_map(|(pick, reverse)| Op::Touch { pick, reverse }),
        3 => any::<usize>().prop_map(|pick| Op::TcpStep { pick }),
        4 => prop_oneof![0u64..3_000, 0u64..200_000, 0u64..9_000_000]
            .prop_map(|ms| Op::Advance { ms }),
        3 => prop_oneof![Just(usize::MAX), 0usize..4].prop_map(|max| Op::Expire { max }),
        1 => any::<usize>().prop_map(|pick| Op::Remove { pick }),
    ]
}

/// The oracle's view of one session.
#[derive(Clone, Copy, Debug)]
struct Model {
    handle: SessionHandle,
    last_seen: u64,
    timeout: u32,
    /// TCP script steps done (`None` for UDP).
    step: Option<usize>,
}

/// The long-established timeout in the property (more than one wheel
/// revolution, so established TCP sessions lap the wheel).
const PROP_ESTABLISHED: u32 = 5_000;

fn prop_timeouts() -> Timeouts {
    Timeouts {
        tcp_established_secs: PROP_ESTABLISHED,
        ..timeouts()
    }
}

fn tcp_timeout(state: TcpState) -> u32 {
    let t = prop_timeouts();
    match state {
        TcpState::SynSent | TcpState::SynReceived => t.tcp_initial_secs,
        TcpState::Established => PROP_ESTABLISHED,
        TcpState::FinWait | TcpState::LastAck => t.tcp_closing_secs,
        _ => t.tcp_time_wait_secs,
    }
}

fn check_expiry(ops: &[Op]) -> Result<(), TestCaseError> {
    let mut t = SessionTable::with_timeouts(10_000, prop_timeouts());
    let mut live: BTreeMap<u64, Model> = BTreeMap::new();
    let mut now = 1_234_567_890u64;
    let mut next_id = 1u64;
    for op in ops {
        match *op {
            Op::Insert { tcp, app_timeout } => {
                let id = next_id;
                next_id += 1;
                let port = (id % 60_000) as u16 + 1;
                let host = (id / 60_000) as u8 + 1;
                let (key, init, timeout, step) = if tcp {
                    let key = v4(host, port, 443, IpProtocol::TCP);
                    let init = SessionInit {
                        tcp: Some(TcpTracker::new_from_syn(&CONN.syn()).unwrap()),
                        ..init(id)
                    };
                    (key, init, tcp_timeout(TcpState::SynSent), Some(0))
                } else {
                    let key = v4(host, port, 53, IpProtocol::UDP);
                    let init = SessionInit {
                        app_timeout: NonZeroU32::new(app_timeout),
                        ..init(id)
                    };
                    (key, init, app_timeout, None)
                };
                let handle = t
                    .insert(key.into(), key.reversed().into(), init, now)
                    .map_err(|e| TestCaseError::fail(e.to_string()))?
                    .handle;
                prop_assert_eq!(t.get(handle).timeout_secs(), timeout);
                live.insert(
                    id,
                    Model {
                        handle,
                        last_seen: now,
                        timeout,
                        step,
                    },
                );
            }
            Op::Touch { pick, reverse } => {
                let n = pick % live.len().max(1);
                if let Some((_, m)) = live.iter_mut().nth(n) {
                    let dir = if reverse { Reverse } else { Forward };
                    t.touch(m.handle, dir, 64, now);
                    m.last_seen = now;
                }
            }
            Op::TcpStep { pick } => {
                let tcp: Vec<u64> = live
                    .iter()
                    .filter(|(_, m)| m.step.is_some_and(|s| s < 5))
                    .map(|(id, _)| *id)
                    .collect();
                if let Some(id) = tcp.get(pick % tcp.len().max(1)) {
                    let m = live.get_mut(id).unwrap();
                    let step = m.step.unwrap();
                    let (dir, seg, state) = tcp_script(&CONN)[step];
                    let u = t
                        .track_tcp(m.handle, dir, &seg)
                        .map_err(|e| TestCaseError::fail(e.to_string()))?;
                    prop_assert_eq!(u.state, state);
                    t.touch(m.handle, dir, 40, now);
                    m.step = Some(step + 1);
                    m.timeout = tcp_timeout(state);
                    m.last_seen = now;
                }
            }
            Op::Advance { ms } => now += ms * 1_000_000,
            Op::Expire { max } => {
                let due: Vec<u64> = live
                    .iter()
                    .filter(|(_, m)| now >= m.last_seen + u64::from(m.timeout) * SEC)
                    .map(|(id, _)| *id)
                    .collect();
                let gone = t.expire(now, max);
                prop_assert_eq!(gone.len(), due.len().min(max));
                for closed in &gone {
                    let id = closed.forward.session_id().0;
                    prop_assert!(due.contains(&id), "session {} expired early", id);
                    let m = live.remove(&id).unwrap();
                    prop_assert_eq!(closed.handle, m.handle);
                    let expected = if m.step == Some(5) {
                        CloseReason::TcpFin
                    } else {
                        CloseReason::IdleTimeout
                    };
                    prop_assert_eq!(closed.reason, expected);
                }
            }
            Op::Remove { pick } => {
                if let Some((&id, m)) = live.iter().nth(pick % live.len().max(1)) {
                    let closed = t.remove(m.handle, CloseReason::Admin);
                    prop_assert_eq!(closed.forward.session_id().0, id);
                    live.remove(&id);
                }
            }
        }
        prop_assert_eq!(t.len(), live.len());
    }
    // Far in the future everything is due, and goes.
    now += 1_000_000 * SEC;
    prop_assert_eq!(t.expire(now, usize::MAX).len(), live.len());
    prop_assert!(t.is_empty());
    Ok(())
}

/// One operation on the capacity property's small table.
#[derive(Clone, Debug)]
enum CapOp {
    Insert,
    Answer(usize),
    Remove(usize),
}

fn cap_op() -> impl Strategy<Value = CapOp> {
    prop_oneof![
        5 => Just(CapOp::Insert),
        3 => any::<usize>().prop_map(CapOp::Answer),
        1 => any::<usize>().prop_map(CapOp::Remove),
    ]
}

fn check_capacity(capacity: usize, ops: &[CapOp]) -> Result<(), TestCaseError> {
    let mut t = table(capacity);
    // Insertion order of live sessions: (id, handle, answered).
    let mut live: VecDeque<(u64, SessionHandle, bool)> = VecDeque::new();
    for (i, op) in ops.iter().enumerate() {
        let id = i as u64 + 1;
        match op {
            CapOp::Insert => {
                let k = udp(1, id as u16);
                let victim = live.iter().position(|(_, _, answered)| !answered);
                let full = live.len() == capacity;
                match t.insert(k.into(), k.reversed().into(), init(id), id) {
                    Ok(ins) => {
                        prop_assert!(!full || victim.is_some());
                        match (full, ins.evicted) {
                            (false, None) => {}
                            (true, Some(evicted)) => {
                                let (vid, vh, _) = live.remove(victim.unwrap()).unwrap();
                                prop_assert_eq!(evicted.handle, vh);
                                prop_assert_eq!(evicted.forward.session_id().0, vid);
                                prop_assert_eq!(evicted.reason, CloseReason::Evicted);
                            }
                            other => prop_assert!(false, "unexpected eviction {:?}", other),
                        }
                        live.push_back((id, ins.handle, false));
                    }
                    Err(InsertError::TableFull) => {
                        prop_assert!(full && victim.is_none());
                    }
                    Err(e) => prop_assert!(false, "{}", e),
                }
            }
            CapOp::Answer(pick) => {
                if !live.is_empty() {
                    let n = pick % live.len();
                    t.touch(live[n].1, Reverse, 1, id);
                    live[n].2 = true;
                }
            }
            CapOp::Remove(pick) => {
                if !live.is_empty() {
                    let (_, h, _) = live.remove(pick % live.len()).unwrap();
                    t.remove(h, CloseReason::Admin);
                }
            }
        }
        prop_assert_eq!(t.len(), live.len());
        prop_assert_eq!(
            t.embryonic_len(),
            live.iter().filter(|(_, _, a)| !a).count()
        );
        for (id, h, answered) in &live {
            let s = t.get(*h);
            prop_assert_eq!(s.id().0, *id);
            prop_assert_eq!(s.is_embryonic(), !answered);
        }
    }
    Ok(())
}

/// An insert or remove for the lookup/count property: a key drawn from
/// small pools so that sources and destinations repeat.
#[derive(Clone, Debug)]
enum KeyOp {
    Insert {
        v6: bool,
        src: u8,
        dst: u8,
        nat_port: Option<u16>,
    },
    Remove(usize),
}

fn key_op() -> impl Strategy<Value = KeyOp> {
    prop_oneof![
        4 => (any::<bool>(), 0u8..6, 0u8..4, proptest::option::of(1024u16..1100))
            .prop_map(|(v6, src, dst, nat_port)| KeyOp::Insert { v6, src, dst, nat_port }),
        1 => any::<usize>().prop_map(KeyOp::Remove),
    ]
}

fn ip_of(v6: bool, n: u8) -> IpAddr {
    if v6 {
        IpAddr::V6(Ipv6Addr::new(
            0x2001,
            0xdb8,
            0,
            0,
            0,
            0,
            0,
            u16::from(n) + 1,
        ))
    } else {
        IpAddr::V4(Ipv4Addr::new(198, 18, 0, n + 1))
    }
}

fn check_lookup_and_counts(ops: &[KeyOp]) -> Result<(), TestCaseError> {
    let mut t = table(64);
    // Forward keys of removed sessions (never reused: each insert has its
    // own source port; NATed reverse keys may legitimately be reused).
    let mut removed: Vec<AnySessionKey> = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        match *op {
            KeyOp::Insert {
                v6,
                src,
                dst,
                nat_port,
            } => {
                let sport = 10_000 + i as u16;
                let (s, d) = (ip_of(v6, src), ip_of(v6, dst + 100));
                let (fwd, rev): (AnySessionKey, AnySessionKey) = match (s, d) {
                    (IpAddr::V4(s), IpAddr::V4(d)) => {
                        let k = SessionKey {
                            src: s,
                            dst: d,
                            src_port: sport,
                            dst_port: 80,
                            protocol: IpProtocol::UDP,
                        };
                        let r = match nat_port {
                            Some(p) => snat_reverse(&k, p),
                            None => k.reversed(),
                        };
                        (k.into(), r.into())
                    }
                    (IpAddr::V6(s), IpAddr::V6(d)) => {
                        let k = SessionKey {
                            src: s,
                            dst: d,
                            src_port: sport,
                            dst_port: 80,
                            protocol: IpProtocol::UDP,
                        };
                        (k.into(), k.reversed().into())
                    }
                    _ => unreachable!(),
                };
                match t.insert(fwd, rev, init(i as u64), 0) {
                    Ok(_) => {}
                    // Two SNATed sessions drew the same NAT port towards the
                    // same server: the reverse key is taken.
                    Err(InsertError::KeyInUse {
                        direction: Reverse, ..
                    }) => {
                        prop_assert!(nat_port.is_some());
                    }
                    Err(e) => prop_assert!(false, "{}", e),
                }
            }
            KeyOp::Remove(pick) => {
                let handles: Vec<SessionHandle> = t.iter().map(|(h, _)| h).collect();
                if !handles.is_empty() {
                    let h = handles[pick % handles.len()];
                    let keys = t.keys(h);
                    t.remove(h, CloseReason::Admin);
                    removed.push(keys.forward);
                }
            }
        }
        let mut by_src: HashMap<IpAddr, u32> = HashMap::new();
        let mut by_dst: HashMap<IpAddr, u32> = HashMap::new();
        let mut n = 0;
        for (h, s) in t.iter() {
            n += 1;
            let keys = t.keys(h);
            prop_assert_eq!(t.lookup(&keys.forward), Some((h, Forward)));
            prop_assert_eq!(t.lookup(&keys.reverse), Some((h, Reverse)));
            prop_assert_eq!(t.get(h).id(), s.id());
            let (src, dst) = match keys.forward {
                AnySessionKey::V4(k) => (IpAddr::V4(k.src), IpAddr::V4(k.dst)),
                AnySessionKey::V6(k) => (IpAddr::V6(k.src), IpAddr::V6(k.dst)),
            };
            *by_src.entry(src).or_default() += 1;
            *by_dst.entry(dst).or_default() += 1;
        }
        prop_assert_eq!(n, t.len());
        for v6 in [false, true] {
            for a in 0..6 {
                let ip = ip_of(v6, a);
                prop_assert_eq!(t.count_by_source(ip), by_src.get(&ip).copied().unwrap_or(0));
            }
            for a in 100..104 {
                let ip = ip_of(v6, a);
                prop_assert_eq!(
                    t.count_by_destination(ip),
                    by_dst.get(&ip).copied().unwrap_or(0)
                );
            }
        }
        for key in &removed {
            prop_assert_eq!(t.lookup(key), None);
        }
    }
    Ok(())
}

/// A segment near the connection's sequence space: flags from the valid
/// and invalid sets, sequence and acknowledgment numbers within ±100,000
/// of the connection's current ends.
fn segment() -> impl Strategy<Value = (bool, TcpSegment)> {
    let flags = prop::sample::select(vec![
        ACK,
        ACK | PSH,
        FIN | ACK,
        RST,
        RST | ACK,
        SYN,
        SYN | ACK,
        FIN,
        0,
    ]);
    (
        any::<bool>(),
        flags,
        -100_000i32..100_000,
        -100_000i32..100_000,
        any::<u16>(),
        prop_oneof![Just(0u32), 0u32..3_000],
    )
        .prop_map(|(reverse, flags, dseq, dack, window, len)| {
            (
                reverse,
                TcpSegment::new(flags, dseq as u32, dack as u32, window).with_payload(len),
            )
        })
}

/// Random segments after a handshake: a refused segment never changes the
/// tracker, and loose mode never refuses for the window.
fn check_tracker(segments: &[(bool, TcpSegment)]) -> Result<(), TestCaseError> {
    let mut strict = TcpTracker::new_from_syn(&CONN.syn()).unwrap();
    strict.update(Reverse, &CONN.syn_ack(), false).unwrap();
    strict
        .update(Forward, &CONN.client(ACK, 0, 0), false)
        .unwrap();
    let mut loose = strict;
    for &(reverse, relative) in segments {
        let dir = if reverse { Reverse } else { Forward };
        // Place the segment relative to the sender's and receiver's ends.
        let place = |t: &TcpTracker| {
            let mut seg = relative;
            seg.seq = t.window(dir).end.wrapping_add(relative.seq);
            seg.ack = t.window(dir.opposite()).end.wrapping_add(relative.ack);
            seg
        };
        let seg = place(&strict);
        let before = strict;
        if strict.update(dir, &seg, false).is_err() {
            prop_assert_eq!(strict, before, "a refused segment changed the tracker");
        }
        let seg = place(&loose);
        let verdict = loose.update(dir, &seg, true);
        prop_assert_ne!(verdict, Err(TcpViolation::OutOfWindow));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn tcp_refusals_change_nothing_and_loose_mode_never_refuses_for_window(
        segments in prop::collection::vec(segment(), 1..60),
    ) {
        check_tracker(&segments)?;
    }

    #[test]
    fn timer_expiry_closes_exactly_the_idle_sessions(ops in prop::collection::vec(op(), 1..300)) {
        check_expiry(&ops)?;
    }

    #[test]
    fn capacity_rule_evicts_oldest_embryonic_or_refuses(
        capacity in 0usize..6,
        ops in prop::collection::vec(cap_op(), 1..80),
    ) {
        check_capacity(capacity, &ops)?;
    }

    #[test]
    fn lookup_and_per_address_counts_stay_consistent(ops in prop::collection::vec(key_op(), 1..120)) {
        check_lookup_and_counts(&ops)?;
    }
}
