//! The engine: one stateful firewall instance running the whole pipeline
//! over frames handed to it, with no I/O and no threads.
//!
//! ```text
//! process(now, ingress, frame)
//!   parse ─► ingress filter ─► screens (stateless, fragments, floods)
//!     ─► session lookup ──hit──► TCP tracking ─► NAT rewrite ─┐
//!            │ miss                                            │
//!            ▼                                                 ▼
//!   static/destination NAT ─► host-inbound? ─► route ─► policy ─► limits
//!     ─► static/source NAT allocation ─► session insert ─► rewrite ─►
//!   egress filter ─► TTL / MSS / MAC / VLAN ─► Verdict::Forward
//! ```
//!
//! Packets of established sessions in the common shape (untagged IPv4
//! without options or IPv6 without extension headers, TCP other than SYN or
//! UDP, no filters on the way) take the fast path of module `fast` first:
//! the same stages with the same results, without the general parse. It
//! declines before changing anything, and everything it declines goes the
//! general way. First packets of that shape (UDP, TCP SYN) whose lookup
//! misses are admitted there too, in one pass over the same parse (one
//! route lookup, no second session lookup), unless their zone is screened
//! or they need what only the general path does (host-inbound, reject,
//! egress filters, MSS clamp). [`Engine::process_batch`] looks ahead over
//! groups of frames so their session lookups' cache misses overlap.
//!
//! `now_ns` is nanoseconds since the Unix epoch, supplied by the caller
//! (schedulers are evaluated against it); the engine never reads a clock.
//! It must not go backwards.
//!
//! TTL / hop-limit expiry is decided on the packet *as received*: on a
//! first packet after the policy permitted it (so before session limits,
//! NAT allocation and the session insert: no session, no NAT mapping), on
//! a session hit before TCP tracking (the session is untouched: no state
//! change, no packet counters, no last-seen; only the global `session-hits`
//! counts the lookup). The packet is dropped (`ttl-exceeded`) and a
//! time-exceeded error (ICMPv4 type 11 / ICMPv6 type 3) quoting it
//! unchanged is sent back out of the ingress interface, to the original
//! source, from the ingress interface's address. Packets for the firewall
//! itself (host-inbound) are not forwarded and never expire; an ICMP error
//! with TTL 1 is dropped without an answer.
//!
//! Schedulers: a rule whose scheduler is inactive does not match. When the
//! set of active schedulers changes (checked at most once per second of
//! `now`, at the start of [`Engine::process`] and at the end of
//! [`Engine::expire`]), live sessions are rematched as after an apply, so
//! a session admitted by a rule whose schedule turned off closes with
//! reason `policy` at the first call at or after the edge, unless another
//! rule still permits it.
//!
//! Config apply ([`Engine::apply`]) builds every new table first and swaps
//! them in one assignment between packets, so a packet never sees half a
//! config and a failed apply leaves the old tables in force. Live sessions
//! are then re-checked against the new policy (rematch) and closed with
//! reason `policy` when no longer permitted.

mod fast;

use crate::filter::{FilterInput, FilterTable, FilterVerdict, LoggedTerm};
use crate::fragments::{DatagramKey, Fragment, FragmentTracker};
use crate::host_inbound::{self, HostPacket};
use crate::nat::{FlowRequest, NatError, SnatTarget, SourceMapping, SourceNat};
use crate::nat_rules::{DestinationTranslation, NatInput, NatRules};
use crate::policy::PolicyInput;
use crate::screen::{ScreenInput, ZoneFloods, stateless_check};
use crate::session::{
    Closed, Direction, InsertError, SessionHandle, SessionInit, SessionTable, TcpSegment,
    TcpTracker, TcpViolation, Timeouts,
};
use crate::tables::{NextHop, Tables};
use crate::telemetry::Telemetry;
use crate::wire::build::{IcmpErrorKind, build_icmp_error, build_tcp_rst};
use crate::wire::rewrite::{self, EmbeddedRewrite};
use crate::wire::{L4Info, ParsedFrame, parse_frame};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use xpf_dataplane::compile::{CompiledConfig, CompiledRule, CompiledSourceAction};
use xpf_dataplane::config::PolicyAction;
use xpf_dataplane::session_store::{close_event, open_event};
use xpf_runtime::counters::BaseCounter;
use xpf_runtime::event::{FilterDirection, FilterLogAction};
use xpf_runtime::{
    AddressFamily, AnySessionKey, CloseReason, DropReason, Event, FilterLogEvent, FlowTuple,
    InterfaceId, IpProtocol, NatPoolId, NatRuleId, PolicyDenyEvent, RedundancyGroupId,
    ScreenDropEvent, ScreenKind, SessionDeltaReason, SessionEntry, SessionFlags, SessionId,
    SessionKey, ZoneId,
};

/// Frames the firewall itself emits (TCP RST, ICMP errors).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Emitted {
    /// Interface to send it out of.
    pub interface: InterfaceId,
    /// The whole Ethernet frame.
    pub frame: Vec<u8>,
}

/// What happened to a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Send the (rewritten) frame out of `egress`.
    Forward {
        /// Egress interface.
        egress: InterfaceId,
    },
    /// Deliver to the host stack (host-inbound permitted, ARP).
    Local,
    /// Dropped, and counted under the reason.
    Drop(DropReason),
}

/// Engine construction parameters besides the config.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EngineOptions {
    /// This node's id (0 or 1), the top bit of every session id it mints.
    pub node_id: u8,
    /// Event queue capacity.
    pub event_capacity: usize,
    /// Session-delta queue capacity.
    pub delta_capacity: usize,
    /// Fragment datagrams tracked at once.
    pub fragment_capacity: usize,
    /// How long a datagram's fragments are remembered.
    pub fragment_timeout_ns: u64,
    /// Take the established-flow fast path for packets of the common shape
    /// (default on). Results are identical either way; off sends every
    /// packet through the general pipeline (differential tests, benchmark
    /// baselines).
    pub fast_path: bool,
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self {
            node_id: 0,
            event_capacity: 65_536,
            delta_capacity: 65_536,
            fragment_capacity: 4096,
            fragment_timeout_ns: 2_000_000_000,
            fast_path: true,
        }
    }
}

/// What [`Engine::install_synced`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SyncedInstall {
    /// The same session was present and refreshed in place.
    pub refreshed: bool,
    /// A local session holding the forward key was replaced.
    pub replaced: bool,
    /// An embryonic session was evicted to make room.
    pub evicted: bool,
    /// The same session (same id and forward key) was present under a
    /// different reply key and took the peer's newer version: its old
    /// reverse key and NAT mapping were released, without a close.
    pub rekeyed: bool,
}

/// Why [`Engine::install_synced`] refused an entry (nothing changed).
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The session table refused it (reverse entry, inconsistent keys, a
    /// reverse key held by another session, table full).
    #[error("synced install refused: {0}")]
    Insert(#[from] InsertError),
    /// Its source NAT mapping collides with a live one or does not belong
    /// to the recorded pool.
    #[error("synced install refused: source NAT mapping: {0}")]
    Nat(NatError),
}

/// Why an apply failed (the old config stays in force).
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// A source pool cannot be laid out (e.g. too many addresses).
    #[error("source NAT pool {pool}: {reason}")]
    Pool {
        /// The pool.
        pool: NatPoolId,
        /// Why.
        reason: String,
    },
}

/// What an apply did to live sessions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ApplyOutcome {
    /// Sessions closed because the new policy no longer permits them.
    pub closed_by_rematch: usize,
    /// Sessions kept.
    pub kept: usize,
}

/// Mutable state: everything but the config tables.
struct State {
    opts: EngineOptions,
    sessions: SessionTable,
    /// Source NAT allocators. A live session's mapping is not stored
    /// separately: it follows from the session itself (flag `SNAT`, its
    /// pool and its keys; see [`snat_mapping_of`]).
    snat: SourceNat,
    filters: FilterTable,
    floods: Vec<ZoneFloods>,
    fragments: FragmentTracker,
    telemetry: Telemetry,
    rg_inactive: Vec<RedundancyGroupId>,
    /// Schedule edges: the second last checked and which schedules (in
    /// compiled order) were active then.
    sched_sec: i64,
    sched_active: Vec<bool>,
    next_seq: u64,
    /// Added to `next_seq` per minted id (shards of one node interleave).
    seq_stride: u64,
    logs: Vec<LoggedTerm>,
    /// The fast path's resolved IPv4 next hops, for the tables in force.
    next_hops: fast::NextHopCache,
    /// Counters of forwarded fast-path packets not yet added to
    /// `telemetry` (flushed before `process` / `process_batch` return).
    tally: fast::Tally,
}

/// One firewall instance.
pub struct Engine {
    tables: Arc<Tables>,
    nat: Arc<NatRules>,
    state: State,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("generation", &self.tables.generation)
            .field("sessions", &self.state.sessions.len())
            .finish()
    }
}

fn floods_for(t: &Tables, now_ns: u64) -> Vec<ZoneFloods> {
    let zones = t
        .compiled
        .zones
        .iter()
        .map(|z| z.id.index())
        .max()
        .unwrap_or(0)
        + 1;
    (0..zones)
        .map(|z| {
            t.zone_screen(ZoneId(z as u16))
                .map(|s| ZoneFloods::new(s, now_ns))
                .unwrap_or_default()
        })
        .collect()
}

impl Engine {
    /// An engine running `compiled` as generation `generation`.
    pub fn new(
        compiled: Arc<CompiledConfig>,
        generation: u64,
        opts: EngineOptions,
        now_ns: u64,
    ) -> Result<Self, ApplyError> {
        let snat =
            SourceNat::from_compiled(&compiled.nat).map_err(|(pool, e)| ApplyError::Pool {
                pool,
                reason: e.to_string(),
            })?;
        let mut sessions = SessionTable::with_timeouts(
            compiled.flow.session_capacity as usize,
            Timeouts::from(&compiled.flow),
        );
        let filters = FilterTable::new(&compiled.filters, now_ns);
        let nat = Arc::new(NatRules::new(&compiled.nat));
        let tables = Arc::new(Tables::new(compiled, generation));
        // Per-address session counts only for the screens' session limits.
        sessions.set_address_counts(tables.has_session_limits());
        let mut telemetry = Telemetry::new(opts.event_capacity, opts.delta_capacity);
        resize_counters(&mut telemetry, &tables);
        Ok(Self {
            state: State {
                opts,
                sessions,
                snat,
                filters,
                floods: floods_for(&tables, now_ns),
                fragments: FragmentTracker::new(opts.fragment_capacity, opts.fragment_timeout_ns),
                telemetry,
                rg_inactive: Vec::new(),
                sched_sec: (now_ns / 1_000_000_000) as i64,
                sched_active: schedules_active(&tables, now_ns),
                next_seq: 1,
                seq_stride: 1,
                logs: Vec::new(),
                next_hops: fast::NextHopCache::default(),
                tally: fast::Tally::default(),
            },
            tables,
            nat,
        })
    }

    /// The tables in force.
    pub fn tables(&self) -> &Arc<Tables> {
        &self.tables
    }

    /// The generation in force.
    pub fn generation(&self) -> u64 {
        self.tables.generation
    }

    /// The session table.
    pub fn sessions(&self) -> &SessionTable {
        &self.state.sessions
    }

    /// Counters, events and deltas.
    pub fn telemetry(&self) -> &Telemetry {
        &self.state.telemetry
    }

    /// Mutable telemetry (to drain events and deltas).
    pub fn telemetry_mut(&mut self) -> &mut Telemetry {
        &mut self.state.telemetry
    }

    /// The source NAT allocators (ports in use per pool).
    pub fn source_nat(&self) -> &SourceNat {
        &self.state.snat
    }

    /// The filters with their counters.
    pub fn filters(&self) -> &FilterTable {
        &self.state.filters
    }

    /// Flood-screen state per zone.
    pub fn floods(&self, zone: ZoneId) -> Option<&ZoneFloods> {
        self.state.floods.get(zone.index())
    }

    /// Makes this engine mint session ids `first`, `first + stride`, ...
    /// (sequence numbers under the node bit), so several engines of one
    /// node (shards) never mint the same id: shard `i` of `n` uses
    /// `set_session_ids(i + 1, n)`. Call before the first packet.
    pub fn set_session_ids(&mut self, first: u64, stride: u64) {
        self.state.next_seq = first.max(1);
        self.state.seq_stride = stride.max(1);
    }

    /// Marks a redundancy group active or backup on this node. Traffic on
    /// interfaces of a backup group is dropped (`ha-inactive`).
    pub fn set_rg_active(&mut self, rg: RedundancyGroupId, active: bool) {
        self.state.rg_inactive.retain(|g| *g != rg);
        if !active {
            self.state.rg_inactive.push(rg);
        }
    }

    /// Is a redundancy group active here?
    pub fn rg_active(&self, rg: RedundancyGroupId) -> bool {
        !self.state.rg_inactive.contains(&rg)
    }

    /// Installs a new config generation atomically, then rematches live
    /// sessions against it.
    pub fn apply(
        &mut self,
        compiled: Arc<CompiledConfig>,
        generation: u64,
        now_ns: u64,
    ) -> Result<ApplyOutcome, ApplyError> {
        // Build everything first; nothing is touched until all of it worked.
        let mut snat =
            SourceNat::from_compiled(&compiled.nat).map_err(|(pool, e)| ApplyError::Pool {
                pool,
                reason: e.to_string(),
            })?;
        let filters = FilterTable::new(&compiled.filters, now_ns);
        let nat = Arc::new(NatRules::new(&compiled.nat));
        let tables = Arc::new(Tables::new(compiled, generation));
        let floods = floods_for(&tables, now_ns);
        // Carry live mappings over; a mapping the new pools cannot hold
        // closes its session (its translation no longer exists).
        let mut orphaned = Vec::new();
        for (handle, sess) in self.state.sessions.iter() {
            if !sess.flags().contains(SessionFlags::SNAT) {
                continue;
            }
            let entry = self.state.sessions.forward_entry(handle);
            if let Some((target, mapping)) = snat_mapping_of(&entry)
                && snat.install(target, &mapping).is_err()
            {
                orphaned.push(handle);
            }
        }
        // Swap.
        self.tables = tables;
        self.nat = nat;
        let s = &mut self.state;
        s.snat = snat;
        s.filters = filters;
        s.floods = floods;
        s.next_hops.clear();
        s.sessions
            .set_timeouts(Timeouts::from(&self.tables.compiled.flow));
        s.sessions
            .set_address_counts(self.tables.has_session_limits());
        resize_counters(&mut s.telemetry, &self.tables);
        for h in orphaned {
            // Its mapping does not exist in the new allocators: close the
            // session without releasing anything.
            let closed = s.sessions.remove(h, CloseReason::Policy);
            on_closed_with(s, closed, now_ns, false);
        }
        s.sched_sec = (now_ns / 1_000_000_000) as i64;
        s.sched_active = schedules_active(&self.tables, now_ns);
        Ok(self.rematch(now_ns))
    }

    /// Schedule edges: when the set of active schedulers differs from the
    /// last check (made at most once per second of `now`), live sessions
    /// are rematched, so a session whose scheduled rule turned off closes
    /// (reason `policy`) at the first `process` or `expire` call at or
    /// after the edge. Returns what the rematch did, if one ran.
    pub fn check_schedules(&mut self, now_ns: u64) -> Option<ApplyOutcome> {
        let sec = (now_ns / 1_000_000_000) as i64;
        if sec == self.state.sched_sec || self.state.sched_active.is_empty() {
            return None;
        }
        self.state.sched_sec = sec;
        let active = schedules_active(&self.tables, now_ns);
        if active == self.state.sched_active {
            return None;
        }
        self.state.sched_active = active;
        Some(self.rematch(now_ns))
    }

    /// Re-checks every live session against the policy in force; closes
    /// (reason `policy`) those no longer permitted.
    pub fn rematch(&mut self, now_ns: u64) -> ApplyOutcome {
        let t = &self.tables;
        let s = &mut self.state;
        let unix = (now_ns / 1_000_000_000) as i64;
        let mut doomed = Vec::new();
        let mut kept = 0;
        for (handle, sess) in s.sessions.iter() {
            if sess.flags().contains(SessionFlags::CLUSTER_SYNCED)
                || sess.flags().contains(SessionFlags::LOCAL)
            {
                kept += 1;
                continue;
            }
            let keys = s.sessions.keys(handle);
            let (src, dst, protocol, sport, dport) = match (keys.forward, keys.reverse) {
                (AnySessionKey::V4(f), AnySessionKey::V4(r)) => (
                    IpAddr::V4(f.src),
                    IpAddr::V4(r.src),
                    f.protocol,
                    f.src_port,
                    r.src_port,
                ),
                (AnySessionKey::V6(f), AnySessionKey::V6(r)) => (
                    IpAddr::V6(f.src),
                    IpAddr::V6(r.src),
                    f.protocol,
                    f.src_port,
                    r.src_port,
                ),
                _ => continue,
            };
            let icmp = protocol.is_icmp().then(|| {
                let echo = if src.is_ipv4() { 8 } else { 128 };
                (echo, 0)
            });
            let input = PolicyInput {
                from_zone: sess.ingress_zone(),
                to_zone: sess.egress_zone(),
                src,
                dst,
                protocol,
                src_port: sport,
                dst_port: dport,
                icmp,
            };
            if t.policy.evaluate(&input, unix).action == PolicyAction::Permit {
                kept += 1;
            } else {
                doomed.push(handle);
            }
        }
        let closed_by_rematch = doomed.len();
        for h in doomed {
            let closed = s.sessions.remove(h, CloseReason::Policy);
            on_closed(s, closed, now_ns);
        }
        ApplyOutcome {
            closed_by_rematch,
            kept,
        }
    }

    /// Expires idle sessions (at most `max`), releasing their NAT mappings
    /// and emitting close events and deltas. Returns how many closed.
    pub fn expire(&mut self, now_ns: u64, max: usize) -> usize {
        let closed = self.state.sessions.expire(now_ns, max);
        let n = closed.len();
        for c in closed {
            self.state
                .telemetry
                .counters
                .add(BaseCounter::SessionsExpired, 1);
            on_closed(&mut self.state, c, now_ns);
        }
        self.check_schedules(now_ns);
        n
    }

    /// Closes one session (operator clear, HA), with companions and NAT.
    pub fn close_session(&mut self, key: &AnySessionKey, reason: CloseReason, now_ns: u64) -> bool {
        let Some((h, _)) = self.state.sessions.lookup(key) else {
            return false;
        };
        let closed = self.state.sessions.remove(h, reason);
        on_closed(&mut self.state, closed, now_ns);
        true
    }

    /// Installs a session received from the cluster peer, given its forward
    /// entry (times already on the local clock), with its reverse entry and
    /// its source NAT mapping (so no local flow is given the same public
    /// port), flagged [`SessionFlags::CLUSTER_SYNCED`].
    ///
    /// The peer owns the session, so its entry wins over local state:
    ///
    /// - the same session (same id and keys) already present is refreshed
    ///   in place (state, timeout, counters, flags; last-seen never goes
    ///   back), its NAT mapping kept;
    /// - the same session (same id and forward key) present under a
    ///   *different reply key* (the peer re-translated it) takes the peer's
    ///   newer version whole: its old reverse key and NAT mapping are
    ///   released and the entry installed in its place, silently — the
    ///   session did not end, so no close event, no delta, and it counts
    ///   neither as closed nor as created;
    /// - a local session holding the forward key (in either direction) is
    ///   replaced: closed with reason `cluster-reconcile` (close event when
    ///   it logs, close delta, NAT released);
    /// - a full table evicts its oldest embryonic session as a packet would.
    ///
    /// Refused, with nothing changed: a reverse entry, keys that do not
    /// follow the NAT translation, a reverse key held by a *different*
    /// session than the one being replaced ([`SyncError::Insert`]), a
    /// mapping that collides with another live mapping or that the target
    /// pool could not make ([`SyncError::Nat`]), a full table without an
    /// embryonic session. The caller (the cluster sync) counts refusals.
    ///
    /// An install counts as a created session (`sessions-created`), so
    /// `created - closed` stays the live count; it emits no open event and
    /// no delta (the peer already did, and deltas must not echo back).
    pub fn install_synced(
        &mut self,
        entry: &SessionEntry,
        now_ns: u64,
    ) -> Result<SyncedInstall, SyncError> {
        let s = &mut self.state;
        let key = entry.key();
        if entry.is_reverse() {
            return Err(SyncError::Insert(InsertError::ReverseEntry));
        }
        let holder = s.sessions.lookup(&key).map(|(h, _)| h);
        let mut rekeyed = false;
        if let Some(h) = holder {
            let keys = s.sessions.keys(h);
            if s.sessions.get(h).id() == entry.session_id() && keys.forward == key {
                if keys.reverse == entry.companion_key() {
                    s.sessions.insert_synced(entry, now_ns)?;
                    return Ok(SyncedInstall {
                        refreshed: true,
                        ..SyncedInstall::default()
                    });
                }
                rekeyed = true;
            }
        }
        // The source NAT mapping the entry records, claimed before anything
        // changes; the holder's own mapping is set aside while trying.
        let mapping = snat_mapping_of(entry);
        let held = holder.and_then(|h| snat_mapping_of(&s.sessions.forward_entry(h)));
        if let Some((target, m)) = held {
            let _ = s.snat.release(target, &m);
        }
        let restore = |s: &mut State| {
            if let Some((target, m)) = held {
                let _ = s.snat.install(target, &m);
            }
        };
        if let Some((target, m)) = mapping
            && let Err(e) = s.snat.install(target, &m)
        {
            restore(s);
            return Err(SyncError::Nat(e));
        }
        let synced = match s.sessions.insert_synced(entry, now_ns) {
            Ok(r) => r,
            Err(e) => {
                if let Some((target, m)) = mapping {
                    let _ = s.snat.release(target, &m);
                }
                restore(s);
                return Err(SyncError::Insert(e));
            }
        };
        if let Some(closed) = synced.replaced
            && !rekeyed
        {
            // Its mapping was released above.
            on_closed_with(s, closed, now_ns, false);
        }
        let evicted = synced.evicted.is_some();
        if let Some(closed) = synced.evicted {
            on_closed(s, closed, now_ns);
        }
        if !rekeyed {
            s.telemetry.counters.add(BaseCounter::SessionsCreated, 1);
        }
        Ok(SyncedInstall {
            refreshed: false,
            replaced: synced.replaced.is_some() && !rekeyed,
            evicted,
            rekeyed,
        })
    }

    /// Processes one frame arriving on `ingress` at `now_ns`. The frame is
    /// rewritten in place; frames the firewall emits are appended to `out`.
    pub fn process(
        &mut self,
        now_ns: u64,
        ingress: InterfaceId,
        frame: &mut Vec<u8>,
        out: &mut Vec<Emitted>,
    ) -> Verdict {
        // Most configs have no schedulers: skip the per-second check.
        if !self.state.sched_active.is_empty() {
            self.check_schedules(now_ns);
        }
        let v = self.process_one(now_ns, ingress, frame, out, None);
        self.state.tally.flush(&mut self.state.telemetry.counters);
        v
    }

    /// [`process`](Self::process) with the fast path's parse and lookup
    /// when a batch looked ahead.
    #[inline]
    fn process_one(
        &mut self,
        now_ns: u64,
        ingress: InterfaceId,
        frame: &mut Vec<u8>,
        out: &mut Vec<Emitted>,
        ahead: Option<fast::Ahead>,
    ) -> Verdict {
        let fast = if self.state.opts.fast_path {
            fast::established(
                &self.tables,
                &self.nat,
                &mut self.state,
                now_ns,
                ingress,
                frame,
                ahead,
            )
        } else {
            None
        };
        let verdict = match fast {
            Some(fast::Taken::Forwarded(egress)) => return Verdict::Forward { egress },
            Some(fast::Taken::Other(v)) => v,
            None => process(
                &self.tables,
                &self.nat,
                &mut self.state,
                now_ns,
                ingress,
                frame,
                out,
            ),
        };
        let c = &mut self.state.telemetry.counters;
        match verdict {
            Verdict::Forward { egress } => {
                c.add(BaseCounter::Forwarded, 1);
                if let Some(i) = c.interfaces.get_mut(egress.index()) {
                    i.tx.packets += 1;
                    i.tx.bytes += frame.len() as u64;
                }
                if let Some(z) = self
                    .tables
                    .fast_interface(egress)
                    .and_then(|i| c.zones.get_mut(i.zone.index()))
                {
                    z.egress.packets += 1;
                    z.egress.bytes += frame.len() as u64;
                }
            }
            Verdict::Local => c.add(BaseCounter::LocalDelivered, 1),
            Verdict::Drop(reason) => {
                c.drop(reason);
                if let Some(i) = c.interfaces.get_mut(ingress.index()) {
                    i.rx_dropped += 1;
                }
                if let Some(z) = self
                    .tables
                    .fast_interface(ingress)
                    .and_then(|i| c.zones.get_mut(i.zone.index()))
                {
                    z.dropped += 1;
                }
            }
        }
        verdict
    }

    /// Processes a batch of frames (each with its ingress interface) at one
    /// `now_ns`; `verdicts` receives one verdict per frame, in order.
    ///
    /// The result is exactly that of calling [`process`](Self::process) on
    /// each frame in order. Frames are taken in groups of
    /// [`BATCH_LOOKAHEAD`]: each group is first parsed and its sessions
    /// looked up stage by stage (hash every key, read every home bucket,
    /// then finish every lookup and read every session record), so the
    /// cache misses of different frames overlap instead of queueing; then
    /// every frame is processed. A lookup made ahead is used only if no
    /// session was inserted or removed in between (otherwise the frame is
    /// looked up again).
    pub fn process_batch(
        &mut self,
        now_ns: u64,
        frames: &mut [(InterfaceId, Vec<u8>)],
        verdicts: &mut Vec<Verdict>,
        out: &mut Vec<Emitted>,
    ) {
        verdicts.reserve(frames.len());
        self.check_schedules(now_ns);
        for group in frames.chunks_mut(BATCH_LOOKAHEAD) {
            let mut ahead = [None; BATCH_LOOKAHEAD];
            if self.state.opts.fast_path {
                fast::look_ahead(&self.tables, &self.state, group, &mut ahead);
            }
            let version = self.state.sessions.mutations();
            for ((ingress, frame), a) in group.iter_mut().zip(ahead) {
                let a = a.filter(|_| self.state.sessions.mutations() == version);
                verdicts.push(self.process_one(now_ns, *ingress, frame, out, a));
            }
        }
        self.state.tally.flush(&mut self.state.telemetry.counters);
    }
}

/// Frames a batch looks ahead at once (see [`Engine::process_batch`]).
pub const BATCH_LOOKAHEAD: usize = 16;

/// Which schedulers (in compiled order) are active at `now_ns`.
fn schedules_active(t: &Tables, now_ns: u64) -> Vec<bool> {
    let c = &t.compiled;
    let sec = (now_ns / 1_000_000_000) as i64;
    c.schedules
        .iter()
        .map(|s| s.is_active(sec, c.system.utc_offset_secs))
        .collect()
}

fn resize_counters(tel: &mut Telemetry, t: &Tables) {
    let c = &t.compiled;
    let ifs = c.interfaces.iter().map(|i| i.id.index()).max().unwrap_or(0) + 1;
    let zones = c.zones.iter().map(|z| z.id.index()).max().unwrap_or(0) + 1;
    let rules = c
        .policies
        .rules
        .iter()
        .map(|r| r.id.index())
        .max()
        .unwrap_or(0)
        + 1;
    let nat = c
        .nat
        .source_rules
        .iter()
        .map(|r| r.id.index())
        .chain(c.nat.destination_rules.iter().map(|r| r.id.index()))
        .chain(c.nat.static_rules.iter().map(|r| r.id.index()))
        .max()
        .unwrap_or(0)
        + 1;
    tel.counters.resize(ifs, zones, rules, nat);
}

/// The source NAT mapping a session holds in this engine's allocators:
/// every source-translated session (flag `SNAT`) holds `(pool, forward
/// source → reverse destination)`, including sessions installed from the
/// cluster peer ([`Engine::install_synced`] reserves their mapping so no
/// local flow is given the same translation).
fn snat_mapping_of(entry: &SessionEntry) -> Option<(SnatTarget, SourceMapping)> {
    macro_rules! derive {
        ($key:expr, $v:expr) => {{
            let (k, v) = ($key, $v);
            if !v.flags.contains(SessionFlags::SNAT) {
                return None;
            }
            let public_addr = IpAddr::from(v.reverse_key.dst);
            let mapping = SourceMapping {
                protocol: k.protocol,
                internal_addr: IpAddr::from(k.src),
                internal_port: k.src_port,
                public_addr,
                public_port: v.reverse_key.dst_port,
            };
            Some((SnatTarget::of_session(v.nat_pool, public_addr), mapping))
        }};
    }
    match entry {
        SessionEntry::V4 { key, value } => derive!(key, value),
        SessionEntry::V6 { key, value } => derive!(key, value),
    }
}

/// Bookkeeping for a closed session: NAT release, counters, event, delta.
fn on_closed(s: &mut State, closed: Closed, now_ns: u64) {
    on_closed_with(s, closed, now_ns, true);
}

/// [`on_closed`], releasing the session's source NAT mapping only when
/// `release` (a session orphaned by an apply has none in the new pools).
fn on_closed_with(s: &mut State, closed: Closed, now_ns: u64, release: bool) {
    if release && let Some((target, mapping)) = snat_mapping_of(&closed.forward) {
        let _ = s.snat.release(target, &mapping);
    }
    s.telemetry.counters.add(BaseCounter::SessionsClosed, 1);
    if closed.reason == CloseReason::Evicted {
        s.telemetry.counters.add(BaseCounter::SessionsEvicted, 1);
    }
    let entry = closed.forward;
    if entry.flags().contains(SessionFlags::LOG_CLOSE) {
        s.telemetry.event(Event::SessionClose(close_event(
            &entry,
            closed.reason,
            now_ns,
        )));
    }
    s.telemetry
        .delta(SessionDeltaReason::Close(closed.reason), entry);
}

fn flow_of(p: &ParsedFrame, ports: Option<(u16, u16)>) -> FlowTuple {
    let (src_port, dst_port) = ports.unwrap_or((0, 0));
    FlowTuple {
        src: p.src,
        src_port,
        dst: p.dst,
        dst_port,
        protocol: p.protocol,
        icmp_type: p.icmp().map(|i| i.icmp_type),
    }
}

/// The session key of a packet with the given addresses and ports.
fn key_of(
    src: IpAddr,
    dst: IpAddr,
    sport: u16,
    dport: u16,
    protocol: IpProtocol,
) -> Option<AnySessionKey> {
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => Some(AnySessionKey::V4(SessionKey {
            src: s,
            dst: d,
            src_port: sport,
            dst_port: dport,
            protocol,
        })),
        (IpAddr::V6(s), IpAddr::V6(d)) => Some(AnySessionKey::V6(SessionKey {
            src: s,
            dst: d,
            src_port: sport,
            dst_port: dport,
            protocol,
        })),
        _ => None,
    }
}

/// `(src, dst, src_port, dst_port)` of a key.
fn parts(k: &AnySessionKey) -> (IpAddr, IpAddr, u16, u16) {
    match k {
        AnySessionKey::V4(k) => (k.src.into(), k.dst.into(), k.src_port, k.dst_port),
        AnySessionKey::V6(k) => (k.src.into(), k.dst.into(), k.src_port, k.dst_port),
    }
}

fn tcp_segment(p: &ParsedFrame) -> Option<TcpSegment> {
    p.tcp().map(|t| TcpSegment {
        flags: t.flags.0,
        seq: t.seq,
        ack: t.ack,
        window: t.window,
        payload_len: u32::from(t.payload_len),
        window_scale: t.window_scale,
    })
}

fn emit_reject(
    t: &Tables,
    s: &mut State,
    p: &ParsedFrame,
    frame: &[u8],
    ingress: InterfaceId,
    out: &mut Vec<Emitted>,
) {
    let built = if p.protocol == IpProtocol::TCP && p.tcp().is_some() {
        build_tcp_rst(p, frame).ok().inspect(|_| {
            s.telemetry.counters.add(BaseCounter::RstSent, 1);
        })
    } else {
        let source = t.interface_address(ingress, p.family);
        source
            .and_then(|src| build_icmp_error(IcmpErrorKind::AdminProhibited, p, frame, src).ok())
            .inspect(|_| s.telemetry.counters.add(BaseCounter::IcmpErrorsSent, 1))
    };
    if let Some(frame) = built {
        out.push(Emitted {
            interface: ingress,
            frame,
        });
    }
}

fn run_filter(
    s: &mut State,
    filter: Option<xpf_runtime::FilterId>,
    direction: FilterDirection,
    interface: InterfaceId,
    p: &ParsedFrame,
    ports: Option<(u16, u16)>,
    now_ns: u64,
) -> FilterVerdict {
    let Some(id) = filter else {
        return FilterVerdict::Accept;
    };
    let input = FilterInput {
        src: p.src,
        dst: p.dst,
        protocol: p.protocol,
        ports,
        tcp_flags: p.tcp().map(|t| t.flags.0),
        dscp: p.dscp,
        icmp_type: p.icmp().map(|i| i.icmp_type),
        len: p.l3_len as u32,
    };
    s.logs.clear();
    let mut logs = std::mem::take(&mut s.logs);
    let v = s.filters.evaluate(id, &input, now_ns, &mut logs);
    for l in &logs {
        let action = match l.verdict {
            FilterVerdict::Accept => FilterLogAction::Accept,
            FilterVerdict::Reject { .. } => FilterLogAction::Reject,
            _ => FilterLogAction::Discard,
        };
        s.telemetry.event(Event::FilterLog(FilterLogEvent {
            time_ns: now_ns,
            filter: id,
            term: l.term,
            action,
            direction,
            flow: flow_of(p, ports),
            interface,
        }));
    }
    s.logs = logs;
    v
}

fn filter_drop(
    t: &Tables,
    s: &mut State,
    v: FilterVerdict,
    p: &ParsedFrame,
    frame: &[u8],
    ingress: InterfaceId,
    out: &mut Vec<Emitted>,
) -> Option<Verdict> {
    match v {
        FilterVerdict::Accept => None,
        FilterVerdict::Discard { .. } => Some(Verdict::Drop(DropReason::FilterDiscard)),
        FilterVerdict::PolicerDrop { .. } => Some(Verdict::Drop(DropReason::PolicerExceeded)),
        FilterVerdict::Reject { .. } => {
            emit_reject(t, s, p, frame, ingress, out);
            Some(Verdict::Drop(DropReason::FilterReject))
        }
    }
}

/// TTL / hop-limit expiry, checked on the packet *as received*, before
/// any NAT rewrite and before a session is created (as Linux forwarding
/// drops before conntrack confirms): a packet that would leave with TTL 0
/// is dropped (`ttl-exceeded`) and answered with a time-exceeded error
/// that quotes it unchanged and goes back out of the ingress interface, to
/// the original source, from the ingress interface's address. `None` when
/// the packet may be forwarded.
fn ttl_expired(
    t: &Tables,
    s: &mut State,
    p: &ParsedFrame,
    frame: &[u8],
    ingress: InterfaceId,
    out: &mut Vec<Emitted>,
) -> Option<Verdict> {
    if p.ttl > 1 {
        return None;
    }
    if let Some(src) = t.interface_address(ingress, p.family)
        && let Ok(f) = build_icmp_error(IcmpErrorKind::TimeExceeded, p, frame, src)
    {
        s.telemetry.counters.add(BaseCounter::IcmpErrorsSent, 1);
        out.push(Emitted {
            interface: ingress,
            frame: f,
        });
    }
    Some(Verdict::Drop(DropReason::TtlExceeded))
}

fn screen_drop(
    s: &mut State,
    kind: ScreenKind,
    p: &ParsedFrame,
    ports: Option<(u16, u16)>,
    zone: ZoneId,
    ingress: InterfaceId,
    now_ns: u64,
) -> Verdict {
    s.telemetry.event(Event::ScreenDrop(ScreenDropEvent {
        time_ns: now_ns,
        kind,
        flow: flow_of(p, ports),
        zone,
        interface: ingress,
    }));
    Verdict::Drop(kind.drop_reason())
}

const ETHERTYPE_ARP: u16 = 0x0806;

#[allow(clippy::too_many_arguments)]
fn process(
    t: &Tables,
    nat: &NatRules,
    s: &mut State,
    now_ns: u64,
    ingress: InterfaceId,
    frame: &mut Vec<u8>,
    out: &mut Vec<Emitted>,
) -> Verdict {
    s.telemetry.counters.add(BaseCounter::RxPackets, 1);
    s.telemetry
        .counters
        .add(BaseCounter::RxBytes, frame.len() as u64);
    let Some(ifc) = t.interface(ingress) else {
        return Verdict::Drop(DropReason::UnknownInterface);
    };
    if let Some(i) = s.telemetry.counters.interfaces.get_mut(ingress.index()) {
        i.rx.packets += 1;
        i.rx.bytes += frame.len() as u64;
    }
    let mut p = match parse_frame(frame) {
        Ok(p) => p,
        Err(e) => {
            let reason = e.drop_reason();
            if reason == DropReason::UnsupportedEthertype && ethertype(frame) == Some(ETHERTYPE_ARP)
            {
                return Verdict::Local;
            }
            return Verdict::Drop(reason);
        }
    };
    let zone = ifc.zone;
    if zone.is_none() {
        // An interface in no zone (a fabric link) carries no transit traffic.
        return Verdict::Drop(DropReason::UnknownInterface);
    }
    if let Some(z) = s.telemetry.counters.zones.get_mut(zone.index()) {
        z.ingress.packets += 1;
        z.ingress.bytes += frame.len() as u64;
    }
    if let Some(rg) = ifc.redundancy_group
        && s.rg_inactive.contains(&rg)
    {
        return Verdict::Drop(DropReason::HaInactive);
    }

    // Fragments: learn / recall the flow's ports; teardrop.
    let screen = t.zone_screen(zone);
    let mut ports = p.ports();
    if p.fragment.is_fragment {
        s.telemetry.counters.add(BaseCounter::Fragments, 1);
        let outcome = s.fragments.observe(
            DatagramKey {
                src: p.src,
                dst: p.dst,
                id: p.fragment.id,
                protocol: p.protocol,
            },
            Fragment {
                offset: u32::from(p.fragment.offset),
                len: (p.l3_end().saturating_sub(p.payload_offset)) as u32,
                more: p.fragment.more_fragments,
                ports,
            },
            now_ns,
        );
        if outcome.overlap && screen.is_some_and(|s| s.tear_drop) {
            return screen_drop(s, ScreenKind::TearDrop, &p, ports, zone, ingress, now_ns);
        }
        if p.is_non_first_fragment() && (p.protocol.has_ports() || p.protocol.is_icmp()) {
            ports = outcome.ports;
            if ports.is_none() {
                return Verdict::Drop(DropReason::FragmentNoSession);
            }
        }
    }

    // Ingress filter. Filters are stateless: a non-first fragment carries
    // no ports, so it matches no port term (as in the egress filter),
    // whatever its first fragment said.
    let in_filter = match p.family {
        AddressFamily::Inet => ifc.filter_input_v4,
        AddressFamily::Inet6 => ifc.filter_input_v6,
    };
    let v = run_filter(
        s,
        in_filter,
        FilterDirection::Input,
        ingress,
        &p,
        p.ports(),
        now_ns,
    );
    if let Some(v) = filter_drop(t, s, v, &p, frame, ingress, out) {
        return v;
    }

    // Screens.
    if let Some(profile) = screen {
        let input = ScreenInput {
            src: p.src,
            dst: p.dst,
            protocol: p.protocol,
            tcp_flags: p.tcp().map(|t| t.flags.0),
            dst_port: p.ports().map(|(_, d)| d),
            is_fragment: p.fragment.is_fragment,
            fragment_offset: u32::from(p.fragment.offset),
            more_fragments: p.fragment.more_fragments,
            payload_len: (p.l3_end().saturating_sub(p.payload_offset)) as u32,
            source_route: p.ipv4_options.loose_source_route
                || p.ipv4_options.strict_source_route
                || p.ipv6_routing_type0,
        };
        if let Some(kind) = stateless_check(profile, &input) {
            return screen_drop(s, kind, &p, ports, zone, ingress, now_ns);
        }
        if let Some(kind) = ZoneFloods::classify(&input)
            && let Some(f) = s.floods.get_mut(zone.index())
            && let Err(k) = f.admit(kind, now_ns)
        {
            return screen_drop(s, k, &p, ports, zone, ingress, now_ns);
        }
    }

    // ICMP errors travel with the session they are about.
    if let Some(inner) = p.icmp_error().copied() {
        return icmp_error(t, s, &mut p, frame, inner, now_ns, out);
    }

    let Some((sport, dport)) = ports.or_else(|| (!p.protocol.has_ports()).then_some((0, 0))) else {
        // A first fragment that should carry ports but does not parse as such.
        return Verdict::Drop(DropReason::FragmentNoSession);
    };
    let Some(key) = key_of(p.src, p.dst, sport, dport, p.protocol) else {
        return Verdict::Drop(DropReason::MalformedIpv4);
    };
    match s.sessions.lookup(&key) {
        Some((h, dir)) => established(t, s, &mut p, frame, ingress, h, dir, now_ns, out),
        None => {
            s.telemetry.counters.add(BaseCounter::SessionMisses, 1);
            first_packet(t, nat, s, &mut p, frame, ingress, zone, key, now_ns, out)
        }
    }
}

fn ethertype(frame: &[u8]) -> Option<u16> {
    let mut at = 12;
    loop {
        let et = u16::from_be_bytes([*frame.get(at)?, *frame.get(at + 1)?]);
        if et == 0x8100 || et == 0x88a8 {
            at += 4;
        } else {
            return Some(et);
        }
    }
}

/// Rewrites the packet's tuple to `(src, dst, sport, dport)`, touching only
/// the fields that differ. False if the frame could not be rewritten.
fn rewrite_tuple(
    frame: &mut [u8],
    p: &mut ParsedFrame,
    src: IpAddr,
    dst: IpAddr,
    sport: u16,
    dport: u16,
) -> bool {
    let has_l4 = p.l4_offset.is_some() && !matches!(p.l4, L4Info::None);
    let ports = if has_l4 { p.ports() } else { None };
    (p.src == src || rewrite::set_src_addr(frame, p, src).is_ok())
        && (p.dst == dst || rewrite::set_dst_addr(frame, p, dst).is_ok())
        && ports.is_none_or(|(ps, pd)| {
            (ps == sport || rewrite::set_src_port(frame, p, sport).is_ok())
                // ICMP queries carry one identifier in both slots: set once.
                && (pd == dport
                    || p.protocol.is_icmp()
                    || rewrite::set_dst_port(frame, p, dport).is_ok())
        })
}

#[allow(clippy::too_many_arguments)]
fn established(
    t: &Tables,
    s: &mut State,
    p: &mut ParsedFrame,
    frame: &mut Vec<u8>,
    ingress: InterfaceId,
    h: SessionHandle,
    dir: Direction,
    now_ns: u64,
    out: &mut Vec<Emitted>,
) -> Verdict {
    s.telemetry.counters.add(BaseCounter::SessionHits, 1);
    // An expiring packet leaves the session untouched (no TCP tracking,
    // no counters, no last-seen update).
    if let Some(v) = ttl_expired(t, s, p, frame, ingress, out) {
        return v;
    }
    if let Some(seg) = tcp_segment(p) {
        match s.sessions.track_tcp(h, dir, &seg) {
            Ok(update) => {
                if update.state != update.previous {
                    let sessions = &s.sessions;
                    s.telemetry
                        .delta_with(SessionDeltaReason::Update, || sessions.forward_entry(h));
                }
            }
            Err(TcpViolation::OutOfWindow) => return Verdict::Drop(DropReason::TcpOutOfWindow),
            Err(TcpViolation::Reopen) => {
                // A new connection reusing the tuple of one that ended:
                // close the old session; the SYN is handled as a first
                // packet by the next lookup.
                let closed = s.sessions.remove(h, CloseReason::TcpFin);
                on_closed(s, closed, now_ns);
                return Verdict::Drop(DropReason::TcpInvalidState);
            }
            Err(_) => return Verdict::Drop(DropReason::TcpInvalidState),
        }
    }
    s.sessions.touch(h, dir, p.l3_len as u64, now_ns);
    let sess = s.sessions.get(h);
    let (egress, rg) = match dir {
        Direction::Forward => (sess.egress_interface(), sess.owner_rg()),
        Direction::Reverse => (sess.ingress_interface(), sess.owner_rg()),
    };
    if !rg.is_none() && s.rg_inactive.contains(&rg) {
        return Verdict::Drop(DropReason::HaInactive);
    }
    let rule = sess.policy_rule();
    let keys = s.sessions.keys(h);
    let (other, _) = match dir {
        Direction::Forward => (keys.reverse, keys.forward),
        Direction::Reverse => (keys.forward, keys.reverse),
    };
    // The packet leaves with the other direction's key reversed.
    let (osrc, odst, osport, odport) = parts(&other);
    // Counted when the tuple changes (compared before the rewrite), as for
    // a first packet.
    let translated = odst != p.src
        || osrc != p.dst
        || p.ports()
            .is_some_and(|(sp, dp)| sp != odport || dp != osport);
    if !rewrite_tuple(frame, p, odst, osrc, odport, osport) {
        return Verdict::Drop(DropReason::MalformedIpv4);
    }
    if translated {
        s.telemetry.counters.add(BaseCounter::NatTranslated, 1);
    }
    if let Some(c) = s.telemetry.counters.policies.get_mut(rule.index())
        && !rule.is_none()
    {
        c.packets += 1;
        c.bytes += p.l3_len as u64;
    }
    let seg = tcp_segment(p);
    forward(t, s, p, frame, egress, seg, now_ns, out)
}

#[allow(clippy::too_many_arguments)]
fn icmp_error(
    t: &Tables,
    s: &mut State,
    p: &mut ParsedFrame,
    frame: &mut Vec<u8>,
    inner: crate::wire::icmp::EmbeddedPacket,
    now_ns: u64,
    out: &mut Vec<Emitted>,
) -> Verdict {
    let (isp, idp) = inner.ports.unwrap_or((0, 0));
    // The quoted packet went the other way: its reversed tuple is the
    // session key this error travels on.
    let Some(key) = key_of(inner.dst, inner.src, idp, isp, inner.protocol) else {
        return Verdict::Drop(DropReason::IcmpErrorNoSession);
    };
    let Some((h, dir)) = s.sessions.lookup(&key) else {
        return Verdict::Drop(DropReason::IcmpErrorNoSession);
    };
    if p.ttl <= 1 {
        // Never an error about an error: dropped, nothing emitted.
        s.telemetry.counters.add(BaseCounter::SessionHits, 1);
        return Verdict::Drop(DropReason::TtlExceeded);
    }
    let sess = s.sessions.get(h);
    let egress = match dir {
        Direction::Forward => sess.egress_interface(),
        Direction::Reverse => sess.ingress_interface(),
    };
    let keys = s.sessions.keys(h);
    let other = match dir {
        Direction::Forward => keys.reverse,
        Direction::Reverse => keys.forward,
    };
    let (osrc, odst, osport, odport) = parts(&other);
    // The quoted packet becomes the other direction's packet as it was
    // before / after translation; the outer destination follows it.
    let embedded = EmbeddedRewrite {
        src: Some(osrc),
        dst: Some(odst),
        src_port: inner.ports.map(|_| osport),
        dst_port: inner.ports.map(|_| odport),
    };
    if rewrite::rewrite_icmp_embedded(frame, p, &embedded).is_err() {
        return Verdict::Drop(DropReason::MalformedIcmp);
    }
    if p.dst != osrc && rewrite::set_dst_addr(frame, p, osrc).is_err() {
        return Verdict::Drop(DropReason::MalformedIcmp);
    }
    // An error sent by the translated endpoint itself (e.g. a port
    // unreachable from the internal host) carries its private address as
    // the outer source: translate it like the quoted packet's destination.
    if p.src == inner.dst && inner.dst != odst && rewrite::set_src_addr(frame, p, odst).is_err() {
        return Verdict::Drop(DropReason::MalformedIcmp);
    }
    s.telemetry.counters.add(BaseCounter::SessionHits, 1);
    forward(t, s, p, frame, egress, None, now_ns, out)
}

/// What a new session takes from its destination translation and the rule
/// that admitted it (the general and the new-flow path share this).
struct SessionMarks {
    rule: xpf_runtime::PolicyRuleId,
    app: xpf_runtime::AppId,
    app_timeout: Option<NonZeroU32>,
    nat_rule_dst: NatRuleId,
}

/// Sets a new session's flags from its destination translation (counting
/// the rule's hit), the admitting `rule` (log / count) and `loose` TCP
/// tracking, and returns the rule-derived fields. `default-policy =
/// "permit"` admits flows without a rule: no logging, no counting, rule id
/// and application NONE.
fn session_marks(
    s: &mut State,
    dnat: Option<&DestinationTranslation<'_>>,
    rule: Option<&CompiledRule>,
    loose: bool,
    flags: &mut SessionFlags,
) -> SessionMarks {
    let mut nat_rule_dst = NatRuleId::NONE;
    if let Some(d) = dnat {
        nat_rule_dst = d.rule;
        flags.insert(if d.is_static {
            SessionFlags::STATIC_NAT
        } else {
            SessionFlags::DNAT
        });
        if let Some(c) = s.telemetry.counters.nat_rules.get_mut(d.rule.index()) {
            c.packets += 1;
        }
    }
    let Some(r) = rule else {
        if loose {
            flags.insert(SessionFlags::LOOSE_TCP);
        }
        return SessionMarks {
            rule: Default::default(),
            app: Default::default(),
            app_timeout: None,
            nat_rule_dst,
        };
    };
    for (on, flag) in [
        (r.log_init, SessionFlags::LOG_INIT),
        (r.log_close, SessionFlags::LOG_CLOSE),
        (r.count, SessionFlags::COUNT),
        (loose, SessionFlags::LOOSE_TCP),
    ] {
        if on {
            flags.insert(flag);
        }
    }
    SessionMarks {
        rule: r.id,
        app: r.app,
        app_timeout: r.app_match.timeout_secs.and_then(NonZeroU32::new),
        nat_rule_dst,
    }
}

#[allow(clippy::too_many_arguments)]
fn first_packet(
    t: &Tables,
    nat: &NatRules,
    s: &mut State,
    p: &mut ParsedFrame,
    frame: &mut Vec<u8>,
    ingress: InterfaceId,
    zone: ZoneId,
    key: AnySessionKey,
    now_ns: u64,
    out: &mut Vec<Emitted>,
) -> Verdict {
    let (src, dst, sport, dport) = parts(&key);
    let zone_cfg = t.zone(zone);
    let loose = zone_cfg
        .is_some_and(|z| z.tcp_window_check == xpf_dataplane::config::TcpWindowCheck::Loose);
    let tcp = tcp_segment(p);
    let tracker = match tcp {
        Some(seg) => {
            let made = if loose {
                TcpTracker::new_mid_stream(&seg)
            } else {
                TcpTracker::new_from_syn(&seg)
            };
            match made {
                Ok(tr) => Some(tr),
                Err(_) => {
                    if zone_cfg.is_some_and(|z| z.tcp_rst) && seg.flags & TcpSegment::RST == 0 {
                        emit_reject(t, s, p, frame, ingress, out);
                    }
                    return Verdict::Drop(DropReason::TcpNonSynFirst);
                }
            }
        }
        None if p.protocol == IpProtocol::TCP => {
            return Verdict::Drop(if p.is_non_first_fragment() {
                DropReason::FragmentNoSession
            } else {
                DropReason::MalformedTcp
            });
        }
        None => None,
    };
    let ninput = NatInput {
        src,
        dst,
        protocol: p.protocol,
        src_port: sport,
        dst_port: dport,
    };
    // Static / destination NAT.
    let dnat = nat.destination(zone, ingress, &ninput);
    let (dst2, dport2) = match &dnat {
        Some(d) => (d.address, d.port.unwrap_or(dport)),
        None => (dst, dport),
    };
    // Host-inbound.
    if dnat.is_none() && t.local_interface(dst2).is_some() {
        let allowed = zone_cfg.is_some_and(|z| {
            host_inbound::allows(
                &z.host_services,
                &z.host_protocols,
                &HostPacket {
                    protocol: p.protocol,
                    ports: p.ports(),
                    icmp_type: p.icmp().map(|i| i.icmp_type),
                    ipv6: p.family == AddressFamily::Inet6,
                },
            )
        });
        return if allowed {
            Verdict::Local
        } else {
            Verdict::Drop(DropReason::HostInboundDenied)
        };
    }
    // A non-first fragment follows its datagram's session; it never opens
    // one. Without a session here, its first fragment was dropped (filter,
    // screen, policy, capacity...) or the session is gone.
    if p.is_non_first_fragment() {
        return Verdict::Drop(DropReason::FragmentNoSession);
    }
    // Route and egress zone.
    let (egress, _) = match t.route(dst2) {
        None => return Verdict::Drop(DropReason::NoRoute),
        Some(NextHop::Discard) => return Verdict::Drop(DropReason::RouteDiscard),
        Some(NextHop::Via { interface, gateway }) => (interface, gateway),
    };
    let Some(egress_if) = t.interface(egress) else {
        return Verdict::Drop(DropReason::NoRoute);
    };
    let to_zone = egress_if.zone;
    // Policy.
    let icmp = p.icmp().map(|i| (i.icmp_type, i.code));
    let unix = (now_ns / 1_000_000_000) as i64;
    let decision = t.policy.evaluate(
        &PolicyInput {
            from_zone: zone,
            to_zone,
            src,
            dst: dst2,
            protocol: p.protocol,
            src_port: sport,
            dst_port: dport2,
            icmp,
        },
        unix,
    );
    let rule = decision.index.map(|i| &t.policy.rules()[i]);
    if decision.action != PolicyAction::Permit {
        let rejected = decision.action == PolicyAction::Reject;
        if rule.is_some_and(|r| r.log_init) {
            s.telemetry.event(Event::PolicyDeny(PolicyDenyEvent {
                time_ns: now_ns,
                flow: flow_of(p, Some((sport, dport))),
                policy_rule: decision.rule.unwrap_or_default(),
                app: rule.map(|r| r.app).unwrap_or_default(),
                ingress_zone: zone,
                egress_zone: to_zone,
                ingress_interface: ingress,
                rejected,
            }));
        }
        if let Some(r) = rule
            && let Some(c) = s.telemetry.counters.policies.get_mut(r.id.index())
        {
            c.packets += 1;
            c.bytes += p.l3_len as u64;
        }
        if rejected {
            emit_reject(t, s, p, frame, ingress, out);
            return Verdict::Drop(DropReason::PolicyReject);
        }
        return Verdict::Drop(match decision.rule {
            Some(_) => DropReason::PolicyDeny,
            None => DropReason::DefaultDeny,
        });
    }
    // TTL expiry: after the policy permitted the flow, before session
    // limits, NAT and the session insert.
    if let Some(v) = ttl_expired(t, s, p, frame, ingress, out) {
        return v;
    }
    // Session limits.
    if let Some(profile) = t.zone_screen(zone) {
        if let Some(limit) = profile.source_session_limit
            && s.sessions.count_by_source(src) >= limit
        {
            return screen_drop(
                s,
                ScreenKind::SourceSessionLimit,
                p,
                Some((sport, dport)),
                zone,
                ingress,
                now_ns,
            );
        }
        if let Some(limit) = profile.destination_session_limit
            && s.sessions.count_by_destination(dst) >= limit
        {
            return screen_drop(
                s,
                ScreenKind::DestinationSessionLimit,
                p,
                Some((sport, dport)),
                zone,
                ingress,
                now_ns,
            );
        }
    }
    // Static / source NAT.
    let mut flags = SessionFlags::empty();
    let mut nat_rule_src = NatRuleId::NONE;
    let mut nat_pool = NatPoolId::NONE;
    let mut mapping = None;
    let (src2, sport2) = if let Some((r, public)) = nat.static_outbound(src) {
        flags.insert(SessionFlags::STATIC_NAT);
        nat_rule_src = r.id;
        (public, sport)
    } else if let Some(r) = nat.source(zone, ingress, to_zone, egress, &ninput) {
        let target = match r.action {
            CompiledSourceAction::Off => None,
            CompiledSourceAction::Pool(id) => Some(SnatTarget::Pool(id)),
            CompiledSourceAction::Interface => match t.interface_address(egress, p.family) {
                Some(a) => Some(SnatTarget::Interface(a)),
                None => return Verdict::Drop(DropReason::NatPoolExhausted),
            },
        };
        match target {
            None => (src, sport),
            Some(target) => {
                let req = FlowRequest {
                    src,
                    src_port: sport,
                    protocol: p.protocol,
                    dst: dst2,
                    dst_port: dport2,
                };
                match s.snat.allocate(target, &req) {
                    Ok(m) => {
                        nat_rule_src = r.id;
                        nat_pool = target.pool_id();
                        flags.insert(SessionFlags::SNAT);
                        mapping = Some((target, m));
                        if let Some(c) = s.telemetry.counters.nat_rules.get_mut(r.id.index()) {
                            c.packets += 1;
                        }
                        (m.public_addr, m.public_port)
                    }
                    Err(NatError::PoolExhausted) | Err(_) => {
                        return Verdict::Drop(DropReason::NatPoolExhausted);
                    }
                }
            }
        }
    } else {
        (src, sport)
    };
    // An ICMP query's identifier sits in both port slots of its keys, so
    // the reply key carries the translated identifier twice.
    let dport2 = if p.protocol.is_icmp() { sport2 } else { dport2 };
    let marks = session_marks(s, dnat.as_ref(), rule, loose, &mut flags);
    let (rule_id, rule_app, app_timeout, nat_rule_dst) =
        (marks.rule, marks.app, marks.app_timeout, marks.nat_rule_dst);
    let reverse = key_of(dst2, src2, dport2, sport2, p.protocol).expect("same family");
    let owner_rg = t
        .interface(ingress)
        .and_then(|i| i.redundancy_group)
        .or(egress_if.redundancy_group)
        .unwrap_or_default();
    let id = SessionId::compose(s.opts.node_id, s.next_seq);
    s.next_seq += s.seq_stride;
    let init = SessionInit {
        id,
        generation: t.generation,
        policy_rule: rule_id,
        app: rule_app,
        app_timeout,
        ingress_zone: zone,
        egress_zone: to_zone,
        ingress_interface: ingress,
        egress_interface: egress,
        nat_rule_src,
        nat_rule_dst,
        nat_pool,
        flags,
        owner_rg,
        tcp: tracker,
    };
    let inserted = match s.sessions.insert(key, reverse, init, now_ns) {
        Ok(i) => i,
        Err(e) => {
            if let Some((target, m)) = mapping {
                let _ = s.snat.release(target, &m);
            }
            return Verdict::Drop(match e {
                InsertError::TableFull => DropReason::SessionTableFull,
                // The translated reply tuple belongs to a live session
                // (e.g. a static NAT host reusing a port another flow
                // already maps to): refuse rather than alias two flows.
                _ => DropReason::SessionConflict,
            });
        }
    };
    if let Some(evicted) = inserted.evicted {
        on_closed(s, evicted, now_ns);
    }
    let h = inserted.handle;
    s.telemetry.counters.add(BaseCounter::SessionsCreated, 1);
    s.sessions
        .touch(h, Direction::Forward, p.l3_len as u64, now_ns);
    // The entry is built only when an event or a delta will hold it.
    if flags.contains(SessionFlags::LOG_INIT) {
        let open = open_event(&s.sessions.forward_entry(h));
        s.telemetry.event(Event::SessionOpen(open));
    }
    let sessions = &s.sessions;
    s.telemetry
        .delta_with(SessionDeltaReason::Open, || sessions.forward_entry(h));
    if let Some(c) = s.telemetry.counters.policies.get_mut(rule_id.index())
        && !rule_id.is_none()
    {
        c.packets += 1;
        c.bytes += p.l3_len as u64;
    }
    if !rewrite_tuple(frame, p, src2, dst2, sport2, dport2) {
        return Verdict::Drop(DropReason::MalformedIpv4);
    }
    if src2 != src || dst2 != dst || sport2 != sport || dport2 != dport {
        s.telemetry.counters.add(BaseCounter::NatTranslated, 1);
    }
    forward(t, s, p, frame, egress, tcp, now_ns, out)
}

/// Egress filter, TTL, MSS clamp, L2 rewrite.
#[allow(clippy::too_many_arguments)]
fn forward(
    t: &Tables,
    s: &mut State,
    p: &mut ParsedFrame,
    frame: &mut Vec<u8>,
    egress: InterfaceId,
    syn: Option<TcpSegment>,
    now_ns: u64,
    out: &mut Vec<Emitted>,
) -> Verdict {
    let Some(eif) = t.interface(egress) else {
        return Verdict::Drop(DropReason::NoRoute);
    };
    if let Some(rg) = eif.redundancy_group
        && s.rg_inactive.contains(&rg)
    {
        return Verdict::Drop(DropReason::HaInactive);
    }
    let gateway = match t.route(p.dst) {
        Some(NextHop::Via { gateway, .. }) => gateway,
        Some(NextHop::Discard) => return Verdict::Drop(DropReason::RouteDiscard),
        None => return Verdict::Drop(DropReason::NoRoute),
    };
    let out_filter = match p.family {
        AddressFamily::Inet => eif.filter_output_v4,
        AddressFamily::Inet6 => eif.filter_output_v6,
    };
    let ports = p.ports();
    let v = run_filter(
        s,
        out_filter,
        FilterDirection::Output,
        egress,
        p,
        ports,
        now_ns,
    );
    if let Some(v) = filter_drop(t, s, v, p, frame, egress, out) {
        return v;
    }
    // TTL expiry was decided before any rewrite (`ttl_expired`).
    if rewrite::decrement_ttl(frame, p).is_err() {
        return Verdict::Drop(DropReason::TtlExceeded);
    }
    if let (Some(mss), Some(seg)) = (t.compiled.flow.tcp_mss, syn)
        && seg.flags & TcpSegment::SYN != 0
        && rewrite::clamp_tcp_mss(frame, p, mss).unwrap_or(false)
    {
        s.telemetry.counters.add(BaseCounter::MssClamped, 1);
    }
    let Some(mac) = t.neighbour(gateway) else {
        return Verdict::Drop(DropReason::NoNeighbour);
    };
    let (smac, dmac) = (
        crate::wire::ethernet::MacAddr(eif.mac.0),
        crate::wire::ethernet::MacAddr(mac.0),
    );
    if rewrite::set_macs(frame, p, smac, dmac).is_err() {
        return Verdict::Drop(DropReason::MalformedEthernet);
    }
    if p.vlan.is_some() && rewrite::pop_vlan(frame).is_err() {
        return Verdict::Drop(DropReason::MalformedVlan);
    }
    if let Some(vid) = eif.vlan
        && rewrite::push_vlan(frame, vid).is_err()
    {
        return Verdict::Drop(DropReason::MalformedVlan);
    }
    Verdict::Forward { egress }
}
