//! Cluster-synced installs into the program's maps:
//! [`Firewall::install_synced`] puts a session received from the cluster
//! peer where the packet path finds it — the forward entry (with the TCP
//! tracker the peer's state implies), the reverse entry, the source-NAT
//! slot the peer's translation occupies (with its persistent and
//! address-persistent bindings, or an address hold) and the session-limit
//! counts — so that the following packets of the flow behave as on the
//! peer.
//!
//! The rules are the engine's (`Engine::install_synced`) and the reference
//! model's:
//!
//! - the same session (same id and keys) is refreshed in place (state,
//!   tracker, timeout, counters, flags; last-seen never goes back), its NAT
//!   slot kept;
//! - the same session (same id and forward key) under a different reply key
//!   is re-keyed: the old version's reverse entry and NAT slot are released
//!   and the new version installed, silently (no close event, no delta, not
//!   counted as created or closed);
//! - a different local session holding the forward key (either direction)
//!   is closed with reason `cluster-reconcile` (close event per its policy's
//!   logging, close delta, NAT slot released);
//! - a full table evicts the oldest embryonic session, as a packet would.
//!
//! Refused with nothing changed: a reverse entry, a reply key that does not
//! follow the NAT translation, equal keys, a reply key held by a session
//! other than the one replaced, a source mapping no pool or interface in
//! force can hold or that collides with a live one, a full table without an
//! embryonic session.
//!
//! Needs no program support: the live count the program checks its capacity
//! against includes the control plane's tally (`xpf_state` key 1), and a
//! synced session's install order is the one the program's next session
//! gets, ordered before it by a control-plane sequence.
//!
//! A synced TCP session gets the tracker a mid-stream pickup gets: liberal
//! (the peer sends no windows; they are learnt from the traffic), in the
//! peer's state, with the FIN bookkeeping that state implies. It counts as
//! a created session (so created minus closed stays the live count) but
//! emits no open event and no delta (the peer did, and deltas must not echo
//! back).

use super::{
    Firewall, bind_key, hold_scope, limit_keys, persist_key, pool_kind, relay_slot, sess_key,
    session_kind,
};
use crate::abi::{self, SessKey, SessVal};
use crate::lower::Lowered;
use xpf_dataplane::error::DataplaneError;
use xpf_runtime::counters::BaseCounter;
use xpf_runtime::{
    AddressFamily, CloseReason, NatPoolId, SessionAddr, SessionEntry, SessionFlags, SessionState,
    SessionValue, TcpState,
};

/// `BPF_NOEXIST`: an update that fails when the key is present.
const BPF_NOEXIST: u64 = 1;

/// What [`Firewall::install_synced`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SyncedInstall {
    /// The same session was present and refreshed in place.
    pub refreshed: bool,
    /// A different local session holding the forward key was closed
    /// (`cluster-reconcile`).
    pub replaced: bool,
    /// An embryonic session was evicted to make room.
    pub evicted: bool,
    /// The same session was present under another reply key and took the
    /// peer's newer version without a close.
    pub rekeyed: bool,
}

/// The program's `xpf_tcp_state` number of `s`.
fn tcp_number(s: TcpState) -> u8 {
    match s {
        TcpState::None => 0,
        TcpState::SynSent => 1,
        TcpState::SynReceived => 2,
        TcpState::Established => 3,
        TcpState::FinWait => 4,
        TcpState::CloseWait => 5,
        TcpState::LastAck => 6,
        TcpState::TimeWait => 7,
        TcpState::Close => 8,
    }
}

/// The program's `xpf_sess_state` number of `s`.
fn state_number(s: SessionState) -> u8 {
    match s {
        SessionState::New => 0,
        SessionState::Established => 1,
        SessionState::Closing => 2,
        SessionState::Closed => 3,
    }
}

/// The program's `lifecycle()`: the session state a TCP state implies.
fn lifecycle(tcp: u8, answered: bool) -> u8 {
    match tcp {
        0 => u8::from(answered),
        1 | 2 => 0,
        3 => 1,
        4..=6 => 2,
        _ => 3,
    }
}

/// The program's `unanswered()`: a session still waiting for its first
/// reply (the embryonic ones a full table evicts).
fn unanswered(state: u8, tcp: u8) -> bool {
    state == 0 && (tcp == 0 || tcp == 1)
}

/// The tracker of a synced TCP session in `state` (`None` is taken as
/// established): liberal, no windows, the FIN bookkeeping of the state.
fn synced_tracker(state: TcpState) -> abi::Tcp {
    let state = match state {
        TcpState::None => TcpState::Established,
        s => s,
    };
    let (fwd, rev) = match state {
        TcpState::FinWait => ((1, 0), (0, 0)),
        TcpState::CloseWait => ((0, 0), (1, 0)),
        TcpState::LastAck => ((1, 0), (1, 0)),
        TcpState::TimeWait => ((1, 1), (1, 1)),
        _ => ((0, 0), (0, 0)),
    };
    let side = |(seen, acked): (u8, u8)| abi::TcpSide {
        fin_seen: seen,
        fin_acked: acked,
        ..abi::TcpSide::default()
    };
    abi::Tcp {
        sides: [side(fwd), side(rev)],
        state: tcp_number(state),
        liberal: 1,
        valid: 1,
        ..abi::Tcp::default()
    }
}

/// The session data of the peer's forward value `v` (reply key `rev`) as
/// the program keeps it, before its NAT slot and install order are known.
fn synced_sess<A: SessionAddr>(
    v: &SessionValue<A>,
    proto: u8,
    rev: &SessKey,
    now_ns: u64,
) -> abi::Sess {
    let (tcp, state) = if proto == 6 {
        let t = synced_tracker(v.tcp_state);
        (t, lifecycle(t.state, true))
    } else {
        (abi::Tcp::default(), state_number(v.state))
    };
    let last_seen = v.last_seen_ns.min(now_ns);
    abi::Sess {
        session_id: v.session_id.0,
        created_ns: v.created_ns.min(last_seen),
        last_seen_ns: last_seen,
        fwd_packets: v.fwd.packets,
        fwd_bytes: v.fwd.bytes,
        rev_packets: v.rev.packets,
        rev_bytes: v.rev.bytes,
        timeout: v.timeout_secs,
        rule: v.policy_rule.0,
        nat_rule_src: v.nat_rule_src.0,
        nat_rule_dst: v.nat_rule_dst.0,
        flags: (v.flags | SessionFlags::CLUSTER_SYNCED).0,
        app: v.app.0,
        in_zone: v.ingress_zone.0,
        out_zone: v.egress_zone.0,
        in_if: v.ingress_interface.0,
        out_if: v.egress_interface.0,
        nat_pool: v.nat_pool.0,
        state,
        embryonic: u8::from(unanswered(state, if proto == 6 { tcp.state } else { 0 })),
        rg: v.owner_rg.0,
        other: *rev,
        tcp,
        ..abi::Sess::default()
    }
}

fn refused(entry: &SessionEntry, why: impl std::fmt::Display) -> DataplaneError {
    DataplaneError::InvalidArgument(format!(
        "cannot install session {} ({}): {why}",
        entry.session_id(),
        entry.key()
    ))
}

fn backend(e: crate::program::Error) -> DataplaneError {
    DataplaneError::Backend {
        backend: "ebpf",
        message: e.to_string(),
    }
}

impl Firewall {
    /// Installs a session received from the cluster peer, given its forward
    /// entry (times on the local clock), flagged
    /// [`SessionFlags::CLUSTER_SYNCED`]; see the [module docs](self) for the
    /// rules. A refusal is an [`DataplaneError::InvalidArgument`] naming
    /// why, with nothing changed.
    pub fn install_synced(
        &mut self,
        entry: &SessionEntry,
        now_ns: u64,
    ) -> Result<SyncedInstall, DataplaneError> {
        if entry.is_reverse() {
            return Err(refused(entry, "it is a reverse entry"));
        }
        let consistent = match entry {
            SessionEntry::V4 { key, value } => {
                SessionValue::reply_key(key, &value.nat) == value.reverse_key
            }
            SessionEntry::V6 { key, value } => {
                SessionValue::reply_key(key, &value.nat) == value.reverse_key
            }
        };
        if !consistent {
            return Err(refused(
                entry,
                "its reply key does not follow its NAT translation",
            ));
        }
        let fwd = sess_key(&entry.key());
        let rev = sess_key(&entry.companion_key());
        if fwd == rev {
            return Err(refused(entry, "its forward and reply keys are equal"));
        }
        let fresh = match entry {
            SessionEntry::V4 { value, .. } => synced_sess(value, fwd.proto, &rev, now_ns),
            SessionEntry::V6 { value, .. } => synced_sess(value, fwd.proto, &rev, now_ns),
        };
        let holder = self.find(&entry.key());
        if let Some((rk, rv)) = self.find(&entry.companion_key())
            && holder.map(|(k, _)| k) != Some(rk)
        {
            return Err(refused(
                entry,
                format!("its reply key belongs to session {}", rv.s.session_id),
            ));
        }
        if let Some((hk, hv)) = holder
            && hv.s.session_id == fresh.session_id
            && hk == fwd
            && hv.s.other == rev
        {
            self.refresh_synced(&hk, &hv, fresh).map_err(backend)?;
            return Ok(SyncedInstall {
                refreshed: true,
                ..SyncedInstall::default()
            });
        }
        let rekeyed =
            holder.is_some_and(|(hk, hv)| hv.s.session_id == fresh.session_id && hk == fwd);

        // The source mapping the entry records, claimed before anything
        // changes; the holder's own mapping is set aside while trying.
        let held = holder.filter(|(_, hv)| hv.s.snat_target != 0);
        if let Some((hk, hv)) = &held {
            self.release_mapping(hk, &hv.s);
        }
        let restore = |fw: &mut Self| {
            if let Some((hk, hv)) = &held {
                fw.claim_mapping(hk, &hv.s);
            }
        };
        let mut new = fresh;
        if SessionFlags(fresh.flags).contains(SessionFlags::SNAT) {
            let Some((sk, kind)) = self.synced_slot(&fwd, &fresh) else {
                restore(self);
                return Err(refused(
                    entry,
                    "no source NAT pool or interface in force holds its translation",
                ));
            };
            new.snat_target = sk.target;
            new.slot = sk.slot;
            new.nat_kind = kind;
            if !self.claim_mapping(&fwd, &new) {
                restore(self);
                return Err(refused(
                    entry,
                    "its source NAT mapping collides with a live one",
                ));
            }
        }
        let unclaim = |fw: &mut Self, new: &abi::Sess| {
            if new.snat_target != 0 {
                fw.release_mapping(&fwd, new);
            }
            restore(fw);
        };

        // Room: the holder's place is reused; otherwise a full table evicts
        // its oldest embryonic session.
        let capacity = u64::from(self.capacity());
        let live = self
            .live_sessions()
            .map_err(backend)?
            .saturating_sub(u64::from(holder.is_some()));
        let mut victim = None;
        if live >= capacity {
            victim = self.embryonic_victim(holder.map(|(k, _)| k));
            if victim.is_none() {
                unclaim(self, &new);
                return Err(refused(
                    entry,
                    "the session table is full and holds no embryonic session",
                ));
            }
        }

        // Commit: the holder goes (its mapping was released above), the
        // victim is evicted, the new entries go in.
        if let Some((hk, hv)) = holder {
            if rekeyed {
                self.remove_entry(&hk).map_err(backend)?;
                if let Ok(r) = self.prog.maps.sessions.get(&hv.s.other, 0)
                    && r.s.session_id == hv.s.session_id
                {
                    self.remove_entry(&hv.s.other).map_err(backend)?;
                }
                self.release_limits(&hk);
            } else {
                self.close_with(&hk, CloseReason::ClusterReconcile, now_ns, false)
                    .map_err(backend)?;
            }
        }
        if let Some(vk) = victim {
            self.close(&vk, CloseReason::Evicted, now_ns)
                .map_err(backend)?;
        }
        new.order = self.take_order(&fwd, new.session_id).map_err(backend)?;
        let value = SessVal {
            s: new,
            ..SessVal::default()
        };
        let stub = SessVal {
            s: abi::Sess {
                session_id: new.session_id,
                is_reverse: 1,
                other: fwd,
                ..abi::Sess::default()
            },
            ..SessVal::default()
        };
        // Orphaned reverse entries (their forward entry gone) under either
        // key are leftovers, not sessions: they make way. A live entry that
        // appeared meanwhile (the program raced us) is not overwritten.
        for k in [fwd, rev] {
            if let Ok(v) = self.prog.maps.sessions.get(&k, 0)
                && v.s.is_reverse != 0
                && !self
                    .prog
                    .maps
                    .sessions
                    .get(&v.s.other, 0)
                    .is_ok_and(|f| f.s.is_reverse == 0 && f.s.session_id == v.s.session_id)
            {
                let _ = self.prog.maps.sessions.remove(&k);
            }
        }
        let inserted = self
            .prog
            .maps
            .sessions
            .insert(fwd, value, BPF_NOEXIST)
            .and_then(|()| {
                self.prog
                    .maps
                    .sessions
                    .insert(rev, stub, BPF_NOEXIST)
                    .inspect_err(|_| {
                        let _ = self.prog.maps.sessions.remove(&fwd);
                    })
            });
        if let Err(e) = inserted {
            unclaim(self, &new);
            return Err(refused(entry, format!("the session map refused it: {e}")));
        }
        self.user_inserted += 1;
        self.write_user_state().map_err(backend)?;
        self.add_limits(&fwd);
        if new.embryonic != 0 {
            let _ = self.prog.maps.embryonic.push(
                abi::Embryo {
                    key: fwd,
                    session_id: new.session_id,
                },
                0,
            );
        }
        if !rekeyed {
            self.count_user(BaseCounter::SessionsCreated);
        }
        Ok(SyncedInstall {
            refreshed: false,
            replaced: holder.is_some() && !rekeyed,
            evicted: victim.is_some(),
            rekeyed,
        })
    }

    /// Refreshes the live session `fwd` (value `old`) with the peer's data
    /// `fresh`: its NAT slot and install order are kept (a session that
    /// becomes embryonic again joins the end of the eviction queue), its
    /// last-seen time never goes back.
    fn refresh_synced(
        &mut self,
        fwd: &SessKey,
        old: &SessVal,
        fresh: abi::Sess,
    ) -> Result<(), crate::program::Error> {
        let mut s = abi::Sess {
            last_seen_ns: fresh.last_seen_ns.max(old.s.last_seen_ns),
            snat_target: old.s.snat_target,
            slot: old.s.slot,
            nat_kind: old.s.nat_kind,
            order: old.s.order,
            ..fresh
        };
        if old.s.embryonic == 0 && s.embryonic != 0 {
            s.order = self.take_order(fwd, s.session_id)?;
            self.requeue_embryonic(fwd, s.session_id);
        }
        self.prog
            .maps
            .sessions
            .insert(fwd, SessVal { s, ..*old }, 0)
            .map_err(|source| crate::program::Error::Map {
                name: "xpf_sessions",
                source,
            })
    }

    /// The install order of a synced session `fwd` (id `session_id`)
    /// installed now: the order the program's next session gets (the
    /// program's counter is its own), with a sequence number that sorts it
    /// before that session and after earlier synced installs
    /// ([`order_key`](Firewall::order_key)).
    fn take_order(&mut self, fwd: &SessKey, session_id: u64) -> Result<u64, crate::program::Error> {
        let st = self
            .prog
            .maps
            .state
            .get(&0, 0)
            .map_err(|source| crate::program::Error::Map {
                name: "xpf_state",
                source,
            })?;
        if self.synced_seq.len() > 64 {
            // Forget synced sessions the program has closed since.
            let live = &self.prog.maps.sessions;
            self.synced_seq
                .retain(|(k, id), _| live.get(k, 0).is_ok_and(|v| v.s.session_id == *id));
        }
        self.next_synced_seq += 1;
        self.synced_seq
            .insert((*fwd, session_id), self.next_synced_seq);
        Ok(st.next_order)
    }

    /// Moves session `fwd` (id `session_id`) to the end of the embryonic
    /// eviction queue: its stale places are dropped, one is appended.
    fn requeue_embryonic(&mut self, fwd: &SessKey, session_id: u64) {
        let q = &mut self.prog.maps.embryonic;
        let mut kept = Vec::new();
        while let Ok(e) = q.pop(0) {
            if !(e.key == *fwd && e.session_id == session_id) {
                kept.push(e);
            }
        }
        kept.push(abi::Embryo {
            key: *fwd,
            session_id,
        });
        for e in kept {
            let _ = q.push(e, 0);
        }
    }

    /// The oldest live embryonic session other than `skip`, taken off the
    /// eviction queue as the program takes it (stale places are dropped).
    fn embryonic_victim(&mut self, skip: Option<SessKey>) -> Option<SessKey> {
        loop {
            let e = self.prog.maps.embryonic.pop(0).ok()?;
            if Some(e.key) == skip {
                continue;
            }
            match self.prog.maps.sessions.get(&e.key, 0) {
                Ok(v)
                    if v.s.is_reverse == 0
                        && v.s.session_id == e.session_id
                        && v.s.embryonic != 0 =>
                {
                    return Some(e.key);
                }
                _ => {}
            }
        }
    }

    /// Adds a new session to the per-source / per-destination live counts
    /// (kept only while the configuration limits sessions).
    fn add_limits(&mut self, fwd: &SessKey) {
        let limits = self.active_lowered().is_some_and(|l| l.gen_cfg.limits != 0);
        if !limits {
            return;
        }
        for lk in limit_keys(fwd) {
            let n = self.prog.maps.limit_cnt.get(&lk, 0).unwrap_or(0);
            let _ = self.prog.maps.limit_cnt.insert(lk, n + 1, 0);
        }
    }

    fn active_lowered(&self) -> Option<&Lowered> {
        self.slots[self.active as usize].lowered.as_ref()
    }

    /// The slot key and `POOL_*` kind the source translation of the session
    /// `fwd` (data `s`) occupies in the configuration in force:
    /// its pool's, or for an interface translation (no pool) the
    /// interface's whose primary address is the public address (the egress
    /// interface first).
    fn synced_slot(&self, fwd: &SessKey, s: &abi::Sess) -> Option<(abi::SlotKey, u8)> {
        let c = self.compiled.as_ref()?;
        let l = self.active_lowered()?;
        let mut probe = *s;
        if s.nat_pool != NatPoolId::NONE.0 {
            probe.snat_target = s.nat_pool;
        } else {
            let public = super::ip_of(s.other.family, &s.other.dst);
            let fam = if public.is_ipv4() {
                AddressFamily::Inet
            } else {
                AddressFamily::Inet6
            };
            let ifc = c
                .interfaces
                .iter()
                .filter(|i| i.id.0 == s.out_if)
                .chain(c.interfaces.iter())
                .find(|i| i.primary_address(fam) == Some(public))?;
            probe.snat_target = abi::iface_target(ifc.id.0, public.is_ipv6());
        }
        let sk = relay_slot(c, l, fwd, &probe)?;
        let kind = session_kind(pool_kind(c, sk.target).0, fwd.proto);
        Some((sk, kind))
    }

    /// Claims the source mapping of session `s` (forward key `fwd`) in the
    /// maps the program allocates from, as the program's allocator would
    /// have taken it: the port slot (or an address hold), a persistent
    /// mapping's reference, an address-persistent host's binding. False,
    /// with nothing changed, when it collides with a live mapping.
    fn claim_mapping(&mut self, fwd: &SessKey, s: &abi::Sess) -> bool {
        let ports = self
            .compiled
            .as_ref()
            .map_or(1, |c| pool_kind(c, s.snat_target).1.max(1));
        let m = &mut self.prog.maps;
        let kind = s.nat_kind;
        if kind & abi::flags::POOL_ADDR_ONLY != 0 {
            let (scope, hold_proto) = hold_scope(kind, fwd.proto);
            let bk = bind_key(s.snat_target, fwd, scope);
            let sk = abi::SlotKey {
                target: s.snat_target,
                proto: hold_proto,
                pad0: 0,
                slot: s.slot,
            };
            return match m.binds.get(&bk, 0) {
                Ok(b) if b.value == s.slot => m
                    .binds
                    .insert(
                        bk,
                        abi::Binding {
                            refs: b.refs + 1,
                            ..b
                        },
                        0,
                    )
                    .is_ok(),
                Ok(_) => false,
                Err(_) => {
                    if m.slots.get(&sk, 0).is_ok() || m.slots.insert(sk, 1, 0).is_err() {
                        return false;
                    }
                    let b = abi::Binding {
                        value: s.slot,
                        refs: 1,
                    };
                    if m.binds.insert(bk, b, 0).is_err() {
                        let _ = m.slots.remove(&sk);
                        m.forget_exhaustion();
                        return false;
                    }
                    true
                }
            };
        }
        let pk = persist_key(s.snat_target, fwd);
        if kind & abi::flags::POOL_PERSISTENT != 0
            && let Ok(b) = m.persist.get(&pk, 0)
        {
            if b.value != s.slot {
                return false;
            }
            return m
                .persist
                .insert(
                    pk,
                    abi::Binding {
                        refs: b.refs + 1,
                        ..b
                    },
                    0,
                )
                .is_ok();
        }
        let sk = abi::SlotKey {
            target: s.snat_target,
            proto: fwd.proto,
            pad0: 0,
            slot: s.slot,
        };
        if m.slots.get(&sk, 0).is_ok() {
            return false;
        }
        let idx = s.slot / ports;
        let bk = bind_key(s.snat_target, fwd, 0);
        let addr_persistent = kind & abi::flags::POOL_ADDR_PERSISTENT != 0;
        let bound = if addr_persistent {
            match m.binds.get(&bk, 0) {
                Ok(b) if b.value != idx => return false,
                Ok(b) => Some(b),
                Err(_) => None,
            }
        } else {
            None
        };
        if m.slots.insert(sk, 1, 0).is_err() {
            return false;
        }
        if kind & abi::flags::POOL_PERSISTENT != 0 {
            let _ = m.persist.insert(
                pk,
                abi::Binding {
                    value: s.slot,
                    refs: 1,
                },
                0,
            );
        }
        if addr_persistent {
            let b = bound.unwrap_or(abi::Binding {
                value: idx,
                refs: 0,
            });
            let _ = m.binds.insert(
                bk,
                abi::Binding {
                    refs: b.refs + 1,
                    ..b
                },
                0,
            );
        }
        true
    }
}
