//! Runs a [`Scenario`] against harnesses and checks the properties.
//!
//! [`run_equivalence`] drives the reference model and a backend side by
//! side, step by step, and compares verdict, output bytes, generated
//! frames, the session table, counters, events and deltas after every
//! step; it also checks the per-step invariants on the backend (NAT
//! mapping uniqueness, apply atomicity, companion-delete completeness,
//! reconcile exactness, counters adding up). Events and deltas are compared
//! per step as multisets (expiry order within one step is not part of the
//! contract) and deltas without their sequence numbers.

use crate::generate::{Proto, Scenario, Step, Variant};
use crate::harness::{CounterSnapshot, Harness, HarnessError, Outcome, Verdict};
use crate::model::Model;
use crate::render::{self, SeqState, Wire};
use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, Ipv6Addr};
use xpf_dataplane::Config;
use xpf_dataplane::apply::{Capabilities, Capability};
use xpf_dataplane::session_store::{ReconcileInput, reverse_entry};
use xpf_runtime::counters::BaseCounter;
use xpf_runtime::{
    AnySessionKey, CloseReason, DropReason, GlobalCounter, InterfaceId, NatPoolId, PacketCounters,
    SessionEntry, SessionFlags, SessionId, SessionState, SessionValue, TcpState, ZoneId,
};

/// Start of every scenario: 2026-11-23 10:00 UTC (a Monday).
pub const T0: u64 = (1_795_392_000 + 10 * 3600) * 1_000_000_000;
const SEC: u64 = 1_000_000_000;

/// Operations a harness reported unsupported during a run (listed by the suite).
pub type Skipped = BTreeSet<String>;

/// A property violation: which step, what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// Step index (`usize::MAX` for the initial apply).
    pub step: usize,
    /// What differed or broke.
    pub message: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "step {}: {}", self.step, self.message)
    }
}

fn fail<T>(step: usize, message: impl Into<String>) -> Result<T, Failure> {
    Err(Failure {
        step,
        message: message.into(),
    })
}

/// Parses the config of a variant.
pub fn config_of(s: &Scenario, v: Variant) -> Config {
    let text = s.net.config_toml(v);
    Config::from_toml_str(&text)
        .unwrap_or_else(|e| panic!("generated config does not parse: {e}\n{text}"))
}

fn vlan_of(s: &Scenario) -> impl Fn(usize) -> Option<u16> + '_ {
    |k| {
        s.net
            .interfaces
            .get(k - 1)
            .and_then(|i| i.vlan.then_some((k * 10) as u16))
    }
}

/// The frame and ingress interface of a flow packet, addressed from the
/// model's view of the flow's session.
fn render_send(s: &Scenario, model: &Model, flow: usize, reply: bool) -> (usize, Wire) {
    let f = &s.flows[flow];
    let (k, w) = render::client_wire(f, vlan_of(s));
    if !reply {
        return (k, w);
    }
    let key = render::forward_key(f);
    let session = model.session_of(&key).filter(|e| e.key() == key);
    let (src, dst, sport, dport, ingress) = match session {
        Some(e) => {
            let r = reverse_entry(&e);
            let (a, b, sp, dp) = match r.key() {
                AnySessionKey::V4(k) => (k.src.into(), k.dst.into(), k.src_port, k.dst_port),
                AnySessionKey::V6(k) => (k.src.into(), k.dst.into(), k.src_port, k.dst_port),
            };
            let out_if = match e {
                SessionEntry::V4 { value, .. } => value.egress_interface,
                SessionEntry::V6 { value, .. } => value.egress_interface,
            };
            (a, b, sp, dp, usize::from(out_if.0))
        }
        None => (w.dst, w.src, w.dport, w.sport, f.server.iface()),
    };
    let ingress = if ingress == 0 {
        f.server.iface()
    } else {
        ingress
    };
    let sport = if f.proto == Proto::Icmp { dport } else { sport };
    let mac = |k: usize| crate::generate::host_mac(k, 254);
    let w = Wire {
        src,
        dst,
        sport,
        dport,
        src_mac: match f.server {
            crate::generate::Endpoint::Host(k2, h) if k2 == ingress => {
                crate::generate::host_mac(k2, h)
            }
            _ => mac(ingress),
        },
        dst_mac: crate::generate::if_mac(ingress),
        vlan: vlan_of(s)(ingress),
    };
    (ingress, w)
}

fn sorted<T: std::fmt::Debug>(v: Vec<T>) -> Vec<String> {
    let mut s: Vec<String> = v.iter().map(|e| format!("{e:?}")).collect();
    s.sort();
    s
}

fn deltas_normalised(v: Vec<xpf_runtime::SessionDelta>) -> Vec<String> {
    sorted(v.into_iter().map(|d| (d.reason, d.entry)).collect())
}

/// Backend invariants that hold after every step.
fn invariants(step: usize, h: &dyn HarnessDyn) -> Result<(), Failure> {
    let sessions = h.sessions();
    let c = h.counters();
    // Counters add up.
    let rx = c.get(BaseCounter::RxPackets);
    let handled = c.get(BaseCounter::Forwarded)
        + c.get(BaseCounter::LocalDelivered)
        + c.get(BaseCounter::Dropped);
    if rx != handled {
        return fail(
            step,
            format!("counters: rx {rx} != forwarded + local + dropped {handled}"),
        );
    }
    let drops: u64 = c
        .global
        .iter()
        .filter(|(k, _)| matches!(k, GlobalCounter::Drop(_)))
        .map(|(_, v)| v)
        .sum();
    if drops != c.get(BaseCounter::Dropped) {
        return fail(
            step,
            format!(
                "counters: drop reasons sum {drops} != dropped {}",
                c.get(BaseCounter::Dropped)
            ),
        );
    }
    let forward: Vec<&SessionEntry> = sessions.iter().filter(|e| !e.is_reverse()).collect();
    let live =
        c.get(BaseCounter::SessionsCreated) as i64 - c.get(BaseCounter::SessionsClosed) as i64;
    if live != forward.len() as i64 {
        return fail(
            step,
            format!(
                "counters: created - closed = {live} but {} sessions live",
                forward.len()
            ),
        );
    }
    // Every forward entry has its reverse entry and vice versa.
    let keys: BTreeSet<AnySessionKey> = sessions.iter().map(|e| e.key()).collect();
    if keys.len() != sessions.len() {
        return fail(step, "sessions: duplicate keys");
    }
    for e in &sessions {
        if !keys.contains(&e.companion_key()) {
            return fail(
                step,
                format!(
                    "sessions: {} has no companion {}",
                    e.key(),
                    e.companion_key()
                ),
            );
        }
    }
    // NAT mapping uniqueness: a translated (public addr, port, protocol)
    // belongs to one internal endpoint.
    let mut owners: BTreeMap<String, String> = BTreeMap::new();
    for e in forward {
        if !e.flags().contains(SessionFlags::SNAT) {
            continue;
        }
        let (public, internal) = match e {
            SessionEntry::V4 { key, value } => (
                format!("{}:{}/{}", value.nat.src, value.nat.src_port, key.protocol),
                format!("{}:{}", key.src, key.src_port),
            ),
            SessionEntry::V6 { key, value } => (
                format!("{}:{}/{}", value.nat.src, value.nat.src_port, key.protocol),
                format!("{}:{}", key.src, key.src_port),
            ),
        };
        if let Some(prev) = owners.insert(public.clone(), internal.clone())
            && prev != internal
        {
            return fail(
                step,
                format!("NAT mapping {public} shared by {prev} and {internal}"),
            );
        }
    }
    Ok(())
}

/// Object-safe view of a harness, so the runner can hold a model and a
/// backend of another type.
pub trait HarnessDyn {
    /// See [`Harness::sessions`].
    fn sessions(&self) -> Vec<SessionEntry>;
    /// See [`Harness::counters`].
    fn counters(&self) -> CounterSnapshot;
}

impl<H: Harness> HarnessDyn for H {
    fn sessions(&self) -> Vec<SessionEntry> {
        Harness::sessions(self)
    }
    fn counters(&self) -> CounterSnapshot {
        Harness::counters(self)
    }
}

/// The traffic capabilities `frame` exercises beyond what every frame
/// does: an IP fragment, IPv6 extension headers (in the frame itself or in
/// the packet an ICMP error quotes), a transport protocol without ports
/// ([`Capability::SourceNatPortless`], which matters only where source NAT
/// is configured). Read from the raw bytes, so a malformed chain counts
/// too.
pub fn traffic_capabilities(frame: &[u8]) -> BTreeSet<Capability> {
    let mut caps = BTreeSet::new();
    let mut at = 12;
    while let Some(et) = frame
        .get(at..at + 2)
        .map(|b| u16::from_be_bytes([b[0], b[1]]))
    {
        match et {
            0x8100 | 0x88a8 => at += 4,
            0x0800 | 0x86dd => {
                ip_capabilities(&frame[at + 2..], true, &mut caps);
                break;
            }
            _ => break,
        }
    }
    caps
}

/// [`traffic_capabilities`] of the IP packet `ip`; `outer` for the frame's
/// own packet (an ICMP error's quote is looked into once).
fn ip_capabilities(ip: &[u8], outer: bool, caps: &mut BTreeSet<Capability>) {
    const EXTENSION_HEADERS: [u8; 10] = [0, 43, 44, 50, 51, 60, 135, 139, 140, 253];
    match ip.first().map(|b| b >> 4) {
        Some(4) if ip.len() >= 20 => {
            if u16::from_be_bytes([ip[6], ip[7]]) & 0x3fff != 0 {
                caps.insert(Capability::Fragments);
            }
            if outer && !matches!(ip[9], 1 | 6 | 17 | 58 | 132) {
                caps.insert(Capability::SourceNatPortless);
            }
            let header = usize::from(ip[0] & 0x0f) * 4;
            if outer
                && ip[9] == 1
                && let Some(icmp) = ip.get(header..)
                && icmp.len() > 8
                && matches!(icmp[0], 3 | 11 | 12)
            {
                ip_capabilities(&icmp[8..], false, caps);
            }
        }
        Some(6) if ip.len() >= 40 => {
            let next = ip[6];
            if next == 44 {
                caps.insert(Capability::Fragments);
            }
            if EXTENSION_HEADERS.contains(&next) || next == 254 {
                caps.insert(Capability::Ipv6ExtensionHeaders);
            } else if outer && !matches!(next, 1 | 6 | 17 | 58 | 132) {
                caps.insert(Capability::SourceNatPortless);
            }
            if outer && next == 58 && ip.len() > 48 && (1..=4).contains(&ip[40]) {
                ip_capabilities(&ip[48..], false, caps);
            }
        }
        _ => {}
    }
}

/// What a case's configurations use that decides whether a frame's
/// traffic capabilities matter.
struct TrafficContext<'c> {
    /// The backend's declared capabilities.
    declared: &'c Capabilities,
    /// Some configuration of the case has source NAT rules.
    source_nat: bool,
}

/// True (and the refusal listed) when `frame` exercises a traffic
/// capability the backend marks unsupported.
fn frame_refused(
    traffic: &TrafficContext<'_>,
    name: &str,
    frame: &[u8],
    skipped: &mut Skipped,
) -> bool {
    let declared = traffic.declared;
    let mut refused = false;
    for cap in traffic_capabilities(frame) {
        if cap == Capability::SourceNatPortless && !traffic.source_nat {
            continue;
        }
        if !declared.supports(cap) {
            let reason = declared
                .entries
                .get(&cap)
                .map_or("not declared", |s| s.reason.as_str());
            skipped.insert(format!("{name}: traffic ({cap}: {reason})"));
            refused = true;
        }
    }
    refused
}

/// A backend refused an operation the model ran: from here on the two
/// states differ by that operation, so the case stops. Its earlier steps
/// were compared, but it counts as skipped (not passed): the refusal is
/// listed and the stop counted in the histogram.
fn stopped() -> bool {
    tally("case stopped at an unsupported operation");
    false
}

fn unsupported(skipped: &mut Skipped, name: &str, what: &str, e: &HarnessError) -> bool {
    if let HarnessError::Unsupported { capability, reason } = e {
        skipped.insert(format!("{name}: {what} ({capability}: {reason})"));
        true
    } else {
        false
    }
}

/// Runs `s` on the model and on `backend`; compares everything after every
/// step and checks the backend's invariants. `Ok(false)` when the initial
/// config was refused by either side, or the backend refused a step's
/// operation as unsupported (from there the model's state is no longer
/// the backend's): the case is skipped and the refusal listed in
/// `skipped`.
pub fn run_equivalence<B: Harness>(
    s: &Scenario,
    backend: &mut B,
    skipped: &mut Skipped,
) -> Result<bool, Failure> {
    let mut model = Model::new();
    let base = config_of(s, Variant::Base);
    let m = model.apply(&base, T0);
    let b = backend.apply(&base, T0);
    match (&m, &b) {
        (Ok(m), Ok(b)) => {
            if m.generation != b.generation
                || m.zone_ids != b.zone_ids
                || m.policy_names != b.policy_names
            {
                return fail(usize::MAX, "apply results differ");
            }
        }
        (Err(e), _) => {
            if unsupported(skipped, "model", "config", e) {
                return Ok(false);
            }
            return fail(usize::MAX, format!("model refused a generated config: {e}"));
        }
        (Ok(_), Err(e)) => {
            if unsupported(skipped, backend.name(), "config", e) {
                return Ok(false);
            }
            return fail(
                usize::MAX,
                format!("backend refused a config the model accepts: {e}"),
            );
        }
    }
    // Traffic the backend declares it cannot handle yet (by capability)
    // stops the case as skipped, listed with the backend's reason.
    let declared = backend.capabilities();
    let variants = s.steps.iter().filter_map(|step| match step {
        Step::Apply { variant } => Some(config_of(s, *variant)),
        _ => None,
    });
    let source_nat = std::iter::once(base.clone())
        .chain(variants)
        .any(|c| !c.security.nat.source.rule_sets.is_empty());
    let traffic = TrafficContext {
        declared: &declared,
        source_nat,
    };
    let mut now = T0;
    let mut last_active = schedules_active(&model, now);
    let mut seqs: Vec<SeqState> = (0..s.flows.len()).map(SeqState::new).collect();
    for (i, step) in s.steps.iter().enumerate() {
        now += SEC / 100;
        if matches!(step, Step::Apply { .. } | Step::Reconcile { .. }) {
            // Expiry at `now` comes first; what it removes is neither the
            // apply's nor the reconcile's doing.
            model.advance(now);
            backend.advance(now);
        }
        let before_sessions = Harness::sessions(backend);
        let before_counters = Harness::counters(backend);
        match step {
            Step::Send {
                flow,
                reply,
                kind,
                ttl1,
            } => {
                let (k, w) = render_send(s, &model, *flow, *reply);
                let frame =
                    render::flow_frame(&s.flows[*flow], &w, *reply, *kind, *ttl1, &mut seqs[*flow]);
                let iface = xpf_runtime::InterfaceId(k as u16);
                if frame_refused(&traffic, backend.name(), &frame, skipped) {
                    return Ok(stopped());
                }
                let mo = model.inject(iface, &frame, now);
                let bo = backend.inject(iface, &frame, now);
                compare_outcome(i, &mo, &bo)?;
            }
            Step::Junk { iface, junk } => {
                let frame = render::junk_frame(*iface, *junk);
                let id = xpf_runtime::InterfaceId(*iface as u16);
                if frame_refused(&traffic, backend.name(), &frame, skipped) {
                    return Ok(stopped());
                }
                let mo = model.inject(id, &frame, now);
                let bo = backend.inject(id, &frame, now);
                compare_outcome(i, &mo, &bo)?;
            }
            Step::Advance { secs } => {
                now += u64::from(*secs) * SEC;
                model.advance(now);
                backend.advance(now);
            }
            Step::Apply { variant } => {
                let cfg = config_of(s, *variant);
                let m = model.apply(&cfg, now);
                let b = backend.apply(&cfg, now);
                match (m, b) {
                    (Ok(m), Ok(b)) => {
                        if m.generation != b.generation || m.policy_names != b.policy_names {
                            return fail(i, "apply results differ");
                        }
                    }
                    (Err(_), Err(_)) => {
                        // Apply atomicity: nothing changed on the backend.
                        if Harness::sessions(backend) != before_sessions {
                            return fail(i, "a rejected apply changed the sessions");
                        }
                        if Harness::counters(backend) != before_counters {
                            return fail(i, "a rejected apply changed the counters");
                        }
                    }
                    (m, b) => {
                        return fail(
                            i,
                            format!(
                                "apply: model {:?} vs backend {:?}",
                                m.map(|r| r.generation),
                                b.map(|r| r.generation)
                            ),
                        );
                    }
                }
            }
            Step::DeleteFlow { flow, by_reverse } => {
                let fwd = render::forward_key(&s.flows[*flow]);
                let key = match (by_reverse, model.session_of(&fwd)) {
                    (true, Some(e)) if e.key() == fwd => e.companion_key(),
                    _ => fwd,
                };
                let target = model.session_of(&key);
                let m = model.delete_with_companions(&key, CloseReason::Admin, now);
                let b = backend.delete_with_companions(&key, CloseReason::Admin, now);
                match (m, b) {
                    (Ok(m), Ok(b)) if m == b => {}
                    (Ok(_), Err(e))
                        if unsupported(skipped, backend.name(), "delete_with_companions", &e) =>
                    {
                        return Ok(stopped());
                    }
                    (m, b) => {
                        return fail(
                            i,
                            format!("delete_with_companions: model {m:?} vs backend {b:?}"),
                        );
                    }
                }
                if let Some(t) = target {
                    let keys: BTreeSet<_> =
                        Harness::sessions(backend).iter().map(|e| e.key()).collect();
                    if keys.contains(&t.key()) || keys.contains(&t.companion_key()) {
                        return fail(i, "companion delete left an entry behind");
                    }
                }
            }
            Step::DeleteKnown { flow } => {
                let fwd = render::forward_key(&s.flows[*flow]);
                let Some(entry) = model.session_of(&fwd) else {
                    continue;
                };
                let m = model.delete_known(&entry, CloseReason::Admin, now);
                let b = backend.delete_known(&entry, CloseReason::Admin, now);
                match (m, b) {
                    (Ok(m), Ok(b)) if m == b => {}
                    (Ok(_), Err(e)) if unsupported(skipped, backend.name(), "delete_known", &e) => {
                        return Ok(stopped());
                    }
                    (m, b) => {
                        return fail(i, format!("delete_known: model {m:?} vs backend {b:?}"));
                    }
                }
            }
            Step::IcmpError { .. } => {
                let (k, frame) = icmp_error_frame(s, &model, step, &seqs);
                let iface = xpf_runtime::InterfaceId(k as u16);
                if frame_refused(&traffic, backend.name(), &frame, skipped) {
                    return Ok(stopped());
                }
                let mo = model.inject(iface, &frame, now);
                let bo = backend.inject(iface, &frame, now);
                tally(match mo.verdict {
                    Verdict::Forward { .. } => "icmp-error translated and forwarded",
                    _ => "icmp-error dropped",
                });
                if let Step::IcmpError {
                    flow, quote_ext, ..
                } = step
                    && s.flows[*flow].v6
                    && !quote_ext.is_empty()
                    && matches!(mo.verdict, Verdict::Forward { .. })
                {
                    tally("icmpv6 error quoting extension headers forwarded");
                }
                compare_outcome(i, &mo, &bo)?;
            }
            Step::IpOption {
                flow,
                reply,
                kind,
                option,
            } => {
                let (k, w) = render_send(s, &model, *flow, *reply);
                let frame =
                    render::flow_frame(&s.flows[*flow], &w, *reply, *kind, false, &mut seqs[*flow]);
                let frame = render::with_ipv4_option(&frame, *option);
                let iface = xpf_runtime::InterfaceId(k as u16);
                if frame_refused(&traffic, backend.name(), &frame, skipped) {
                    return Ok(stopped());
                }
                let mo = model.inject(iface, &frame, now);
                let bo = backend.inject(iface, &frame, now);
                compare_outcome(i, &mo, &bo)?;
            }
            Step::Fragments {
                flow,
                reply,
                kind,
                plan,
            } => {
                let (k, w) = render_send(s, &model, *flow, *reply);
                let frame =
                    render::flow_frame(&s.flows[*flow], &w, *reply, *kind, false, &mut seqs[*flow]);
                let iface = xpf_runtime::InterfaceId(k as u16);
                for piece in render::fragments(&frame, *plan, 0x4000 + i as u32) {
                    if frame_refused(&traffic, backend.name(), &piece, skipped) {
                        return Ok(stopped());
                    }
                    let mo = model.inject(iface, &piece, now);
                    let bo = backend.inject(iface, &piece, now);
                    tally(match mo.verdict {
                        Verdict::Forward { .. } => "fragment forwarded",
                        _ => "fragment dropped",
                    });
                    compare_outcome(i, &mo, &bo)?;
                }
            }
            Step::ExtHeaders {
                flow,
                reply,
                kind,
                chain,
                cut,
            } => {
                let (k, w) = render_send(s, &model, *flow, *reply);
                let frame =
                    render::flow_frame(&s.flows[*flow], &w, *reply, *kind, false, &mut seqs[*flow]);
                let frame = render::with_ext_headers(&frame, chain, *cut, 0x8000 + i as u32);
                let iface = xpf_runtime::InterfaceId(k as u16);
                if frame_refused(&traffic, backend.name(), &frame, skipped) {
                    return Ok(stopped());
                }
                let mo = model.inject(iface, &frame, now);
                let bo = backend.inject(iface, &frame, now);
                if s.flows[*flow].v6 && !chain.is_empty() {
                    tally(match mo.verdict {
                        Verdict::Forward { .. } => "ipv6 extension headers forwarded",
                        _ => "ipv6 extension headers dropped",
                    });
                }
                compare_outcome(i, &mo, &bo)?;
            }
            Step::Land { flow } => {
                let f = crate::generate::FlowSpec {
                    proto: Proto::Tcp,
                    ..s.flows[*flow].clone()
                };
                let (k, mut w) = render::client_wire(&f, vlan_of(s));
                w.dst = w.src;
                let frame = render::flow_frame(
                    &f,
                    &w,
                    false,
                    crate::generate::TcpKind::Syn,
                    false,
                    &mut SeqState::new(*flow),
                );
                let iface = xpf_runtime::InterfaceId(k as u16);
                if frame_refused(&traffic, backend.name(), &frame, skipped) {
                    return Ok(stopped());
                }
                let mo = model.inject(iface, &frame, now);
                let bo = backend.inject(iface, &frame, now);
                compare_outcome(i, &mo, &bo)?;
            }
            Step::SetRg { active } => {
                let rg = xpf_runtime::RedundancyGroupId(1);
                let m = model.set_redundancy_group(rg, *active, now);
                let b = backend.set_redundancy_group(rg, *active, now);
                match (m, b) {
                    (Ok(()), Ok(())) => {}
                    (Ok(()), Err(e))
                        if unsupported(skipped, backend.name(), "set_redundancy_group", &e) =>
                    {
                        return Ok(stopped());
                    }
                    (m, b) => {
                        return fail(
                            i,
                            format!("set_redundancy_group: model {m:?} vs backend {b:?}"),
                        );
                    }
                }
            }
            Step::PutSynced { .. } => {
                let entry = synced_entry(s, step, now);
                if model.session_of(&entry.key()).is_some_and(|e| {
                    !e.is_reverse()
                        && e.session_id() == entry.session_id()
                        && e.companion_key() != entry.companion_key()
                }) {
                    tally("put-synced of a known session under a new reply key");
                }
                let m = model.put_cluster_synced(entry, now);
                let b = backend.put_cluster_synced(entry, now);
                tally(if m.is_ok() {
                    "put-synced installed"
                } else {
                    "put-synced refused"
                });
                match (m, b) {
                    (Ok(()), Ok(())) | (Err(_), Err(_)) => {}
                    (Ok(()), Err(e))
                        if unsupported(skipped, backend.name(), "put_cluster_synced", &e) =>
                    {
                        return Ok(stopped());
                    }
                    (m, b) => {
                        return fail(
                            i,
                            format!("put_cluster_synced: model {m:?} vs backend {b:?}"),
                        );
                    }
                }
            }
            Step::Reconcile {
                received,
                synced_zone,
            } => {
                let keys: Vec<AnySessionKey> = s
                    .flows
                    .iter()
                    .enumerate()
                    .filter(|(j, _)| received & (1 << j) != 0)
                    .map(|(_, f)| render::forward_key(f))
                    .collect();
                let input = ReconcileInput::new(keys, synced_zone.map(|z| ZoneId(z as u16 + 1)));
                let stale: BTreeSet<AnySessionKey> = before_sessions
                    .iter()
                    .filter(|e| input.is_stale(e))
                    .map(|e| e.key())
                    .collect();
                let m = model.reconcile_cluster_bulk(&input, CloseReason::ClusterReconcile, now);
                let b = backend.reconcile_cluster_bulk(&input, CloseReason::ClusterReconcile, now);
                match (m, b) {
                    (Ok(m), Ok(b)) if m == b => {}
                    (Ok(_), Err(e))
                        if unsupported(skipped, backend.name(), "reconcile_cluster_bulk", &e) =>
                    {
                        return Ok(stopped());
                    }
                    (m, b) => return fail(i, format!("reconcile: model {m:?} vs backend {b:?}")),
                }
                // Exactly the stale forward sessions (and their companions) left.
                let after: BTreeSet<AnySessionKey> = Harness::sessions(backend)
                    .iter()
                    .filter(|e| !e.is_reverse())
                    .map(|e| e.key())
                    .collect();
                let before: BTreeSet<AnySessionKey> = before_sessions
                    .iter()
                    .filter(|e| !e.is_reverse())
                    .map(|e| e.key())
                    .collect();
                let removed: BTreeSet<AnySessionKey> = before.difference(&after).copied().collect();
                if removed != stale {
                    return fail(
                        i,
                        format!("reconcile removed {removed:?}, stale were {stale:?}"),
                    );
                }
            }
        }
        let active = schedules_active(&model, now);
        if active != last_active {
            tally("schedule edge crossed");
            last_active = active;
        }
        compare_state(i, &mut model, backend)?;
        invariants(i, backend)?;
    }
    Ok(true)
}

/// The frame (and ingress interface) of a [`Step::IcmpError`]: the quoted
/// packet is the flow's packet as the error's sender saw it (translated
/// tuple read from the model's session), the outer header goes from the
/// endpoint (or a router next to it) back to the quoted source.
pub fn icmp_error_frame(
    s: &Scenario,
    model: &Model,
    step: &Step,
    seqs: &[SeqState],
) -> (usize, Vec<u8>) {
    let Step::IcmpError {
        flow,
        server_side,
        kind,
        router,
        short,
        ref quote_ext,
    } = *step
    else {
        panic!("not an IcmpError step: {step:?}");
    };
    let f = &s.flows[flow];
    // The quoted packet: the client's packet as the server received it, or
    // the server's reply as the client received it.
    let (k, w) = if server_side {
        render_send(s, model, flow, true)
    } else {
        render::client_wire(f, vlan_of(s))
    };
    let mut seq = seqs[flow];
    let (quoted_src, quoted_dst, qsport, qdport) = (w.dst, w.src, w.dport, w.sport);
    let qw = render::Wire {
        src: quoted_src,
        dst: quoted_dst,
        sport: qsport,
        dport: qdport,
        src_mac: w.dst_mac,
        dst_mac: w.src_mac,
        vlan: None,
    };
    let qframe = render::flow_frame(
        f,
        &qw,
        !server_side,
        crate::generate::TcpKind::Data(24),
        false,
        &mut seq,
    );
    let plain = qframe.len();
    let qframe = render::with_ext_headers(&qframe, quote_ext, false, 0x9000);
    let mut quote = qframe[14..].to_vec();
    let v6 = f.v6;
    // The quoted IP header with the extension headers it carries.
    let hl = if v6 { 40 } else { 20 } + (qframe.len() - plain);
    if short {
        quote.truncate(hl + 8);
    }
    let sender = if router {
        match quoted_dst {
            std::net::IpAddr::V4(_) => std::net::IpAddr::V4(Ipv4Addr::new(198, 18, k as u8, 254)),
            std::net::IpAddr::V6(_) => {
                std::net::IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, k as u16, 0, 0, 0, 0, 0xfe))
            }
        }
    } else {
        quoted_dst
    };
    let (ty, code, extra): (u8, u8, u32) = match (v6, kind) {
        (false, 0) => (3, 3, 0),
        (false, 1) => (11, 0, 0),
        (false, _) => (3, 4, 1400),
        (true, 0) => (1, 4, 0),
        (true, 1) => (3, 0, 0),
        (true, _) => (2, 0, 1280),
    };
    let mut icmp = vec![ty, code, 0, 0];
    icmp.extend_from_slice(&extra.to_be_bytes());
    icmp.extend_from_slice(&quote);
    render::error_frame(&w, sender, quoted_src, v6, icmp, k)
}

/// The forward entry a [`Step::PutSynced`] installs: the flow's client-side
/// key, the peer's translation, zones and interfaces of the flow's two
/// endpoints, peer id node 1.
pub fn synced_entry(s: &Scenario, step: &Step, now: u64) -> SessionEntry {
    let Step::PutSynced {
        flow,
        id,
        snat,
        port,
        state,
        age,
    } = *step
    else {
        panic!("not a PutSynced step: {step:?}");
    };
    let f = &s.flows[flow];
    let (ci, si) = (f.client.iface(), f.server.iface());
    let zone = |k: usize| ZoneId(s.net.interfaces[k - 1].zone as u16 + 1);
    let tcp = f.proto == Proto::Tcp;
    let (sstate, tstate) = match (tcp, state) {
        (true, 0) => (SessionState::New, TcpState::SynSent),
        (true, 1) => (SessionState::Established, TcpState::Established),
        (true, 2) => (SessionState::Closing, TcpState::FinWait),
        (true, _) => (SessionState::Closed, TcpState::TimeWait),
        (false, 0) => (SessionState::New, TcpState::None),
        (false, _) => (SessionState::Established, TcpState::None),
    };
    let icmp = f.proto == Proto::Icmp;
    let interface_nat = s.net.snat.as_ref().is_some_and(|n| n.interface);
    let public_port = 1024 + u16::from(port);
    let last_seen = now.saturating_sub(u64::from(age) * SEC);
    macro_rules! fill {
        ($k:expr, $public:expr) => {{
            let k = $k;
            let mut v = SessionValue::new_forward(
                &k,
                // A peer id names one session of one flow: the same id
                // with the same translation refreshes it; with another
                // translation (source NAT on / off, another public port)
                // it is the peer's newer version of that session under a
                // different reply key, which replaces the old version
                // silently (README, "Decisions").
                SessionId::compose(1, 900 + 4096 * flow as u64 + u64::from(id)),
                last_seen,
            );
            v.created_ns = last_seen.saturating_sub(SEC);
            v.state = sstate;
            v.tcp_state = tstate;
            v.timeout_secs = 30;
            v.ingress_zone = zone(ci);
            v.egress_zone = zone(si);
            v.ingress_interface = InterfaceId(ci as u16);
            v.egress_interface = InterfaceId(si as u16);
            v.fwd = PacketCounters {
                packets: 3,
                bytes: 300,
            };
            v.rev = PacketCounters {
                packets: 2,
                bytes: 200,
            };
            v.flags = SessionFlags::LOG_CLOSE;
            if s.net.ha && id == 1 {
                v.owner_rg = xpf_runtime::RedundancyGroupId(1);
            }
            if snat {
                v.flags.insert(SessionFlags::SNAT);
                v.nat.src = $public;
                v.nat.src_port = public_port;
                if icmp {
                    v.nat.dst_port = public_port;
                }
                v.nat_pool = if interface_nat {
                    NatPoolId::NONE
                } else {
                    NatPoolId(1)
                };
            }
            v.reverse_key = SessionValue::reply_key(&k, &v.nat);
            (k, v)
        }};
    }
    match render::forward_key(f) {
        AnySessionKey::V4(k) => {
            let public = if interface_nat {
                Ipv4Addr::new(198, 18, si as u8, 1)
            } else {
                Ipv4Addr::new(198, 19, 200, 1)
            };
            let (key, value) = fill!(k, public);
            SessionEntry::V4 { key, value }
        }
        AnySessionKey::V6(k) => {
            let public = if interface_nat {
                Ipv6Addr::new(0x2001, 0xdb8, si as u16, 0, 0, 0, 0, 1)
            } else {
                Ipv6Addr::new(0x2001, 0xdb8, 0x200, 0, 0, 0, 0, 1)
            };
            let (key, value) = fill!(k, public);
            SessionEntry::V6 { key, value }
        }
    }
}

thread_local! {
    static VERDICTS: std::cell::RefCell<BTreeMap<String, u64>> = const { std::cell::RefCell::new(BTreeMap::new()) };
}

/// Verdicts seen by [`run_equivalence`] on this thread, with counts
/// (coverage statistics for the suite's output), and resets them.
pub fn take_verdict_stats() -> BTreeMap<String, u64> {
    VERDICTS.with(|v| std::mem::take(&mut *v.borrow_mut()))
}

/// Which of the model's schedulers are active at `now` (coverage only).
fn schedules_active(model: &Model, now: u64) -> Vec<bool> {
    model.compiled().map_or_else(Vec::new, |c| {
        c.schedules
            .iter()
            .map(|s| s.is_active((now / SEC) as i64, c.system.utc_offset_secs))
            .collect()
    })
}

/// Counts an outcome label in the coverage statistics.
fn tally(label: &str) {
    VERDICTS.with(|v| *v.borrow_mut().entry(label.to_string()).or_default() += 1);
}

fn compare_outcome(step: usize, m: &Outcome, b: &Outcome) -> Result<(), Failure> {
    let label = match m.verdict {
        Verdict::Forward { .. } => "forward".to_string(),
        Verdict::Local => "local".to_string(),
        Verdict::Drop { reason } => format!("drop {reason}"),
    };
    VERDICTS.with(|v| *v.borrow_mut().entry(label).or_default() += 1);
    if m.verdict != b.verdict {
        return fail(
            step,
            format!("verdict: model {:?} vs backend {:?}", m.verdict, b.verdict),
        );
    }
    if m.forwarded != b.forwarded {
        return fail(
            step,
            format!(
                "forwarded bytes differ:\n model   {:02x?}\n backend {:02x?}",
                m.forwarded, b.forwarded
            ),
        );
    }
    if m.generated != b.generated {
        return fail(
            step,
            format!(
                "generated frames differ:\n model   {:02x?}\n backend {:02x?}",
                m.generated, b.generated
            ),
        );
    }
    Ok(())
}

fn compare_state<B: Harness>(step: usize, model: &mut Model, b: &mut B) -> Result<(), Failure> {
    let (ms, bs) = (Harness::sessions(model), Harness::sessions(b));
    if ms != bs {
        let only_m: Vec<_> = ms.iter().filter(|e| !bs.contains(e)).collect();
        let only_b: Vec<_> = bs.iter().filter(|e| !ms.contains(e)).collect();
        return fail(
            step,
            format!("sessions differ:\n model only   {only_m:?}\n backend only {only_b:?}"),
        );
    }
    let (mc, bc) = (Harness::counters(model), Harness::counters(b));
    if mc != bc {
        return fail(
            step,
            format!("counters differ:\n model   {mc:?}\n backend {bc:?}"),
        );
    }
    if let (Some(mf), Some(bf)) = (model.filter_term_counters(), b.filter_term_counters())
        && mf != bf
    {
        return fail(
            step,
            format!("filter term counters differ:\n model   {mf:?}\n backend {bf:?}"),
        );
    }
    let (me, be) = (sorted(model.drain_events()), sorted(b.drain_events()));
    if me != be {
        return fail(
            step,
            format!("events differ:\n model   {me:?}\n backend {be:?}"),
        );
    }
    let (md, bd) = (
        deltas_normalised(model.drain_deltas()),
        deltas_normalised(b.drain_deltas()),
    );
    if md != bd {
        return fail(
            step,
            format!("deltas differ:\n model   {md:?}\n backend {bd:?}"),
        );
    }
    Ok(())
}

/// Default deny: with no policy at all, no first packet is ever forwarded.
pub fn run_default_deny<B: Harness>(
    s: &Scenario,
    backend: &mut B,
    skipped: &mut Skipped,
) -> Result<bool, Failure> {
    if let Err(e) = backend.apply(&config_of(s, Variant::Base), T0) {
        if unsupported(skipped, backend.name(), "config", &e) {
            return Ok(false);
        }
        return fail(usize::MAX, format!("apply failed: {e}"));
    }
    let mut seqs: Vec<SeqState> = (0..s.flows.len()).map(SeqState::new).collect();
    for (i, f) in s.flows.iter().enumerate() {
        let (k, w) = render::client_wire(f, vlan_of(s));
        let frame = render::flow_frame(
            f,
            &w,
            false,
            crate::generate::TcpKind::Syn,
            false,
            &mut seqs[i],
        );
        let o = backend.inject(xpf_runtime::InterfaceId(k as u16), &frame, T0 + SEC);
        if matches!(o.verdict, Verdict::Forward { .. }) {
            return fail(i, format!("forwarded without any policy: {f:?}"));
        }
        if !Harness::sessions(backend).is_empty() {
            return fail(i, "a session was created without any policy");
        }
    }
    Ok(true)
}

/// Replies pass: when a flow's first packet is forwarded, the responder's
/// reply (addressed to the translated tuple) is forwarded back to the
/// client's interface.
pub fn run_replies_pass<B: Harness>(
    s: &Scenario,
    backend: &mut B,
    skipped: &mut Skipped,
) -> Result<bool, Failure> {
    let mut model = Model::new();
    let cfg = config_of(s, Variant::Base);
    if let Err(e) = model.apply(&cfg, T0) {
        unsupported(skipped, "model", "config", &e);
        return Ok(false);
    }
    if let Err(e) = backend.apply(&cfg, T0) {
        if unsupported(skipped, backend.name(), "config", &e) {
            return Ok(false);
        }
        return fail(usize::MAX, format!("apply failed: {e}"));
    }
    let mut seqs: Vec<SeqState> = (0..s.flows.len()).map(SeqState::new).collect();
    for (i, f) in s.flows.iter().enumerate() {
        let now = T0 + SEC + i as u64;
        let (k, w) = render::client_wire(f, vlan_of(s));
        let frame = render::flow_frame(
            f,
            &w,
            false,
            crate::generate::TcpKind::Syn,
            false,
            &mut seqs[i],
        );
        let iface = xpf_runtime::InterfaceId(k as u16);
        model.inject(iface, &frame, now);
        let o = backend.inject(iface, &frame, now);
        if !matches!(o.verdict, Verdict::Forward { .. }) {
            continue;
        }
        let key = render::forward_key(f);
        if model.session_of(&key).is_none_or(|e| e.key() != key) {
            continue;
        }
        let (k2, w2) = render_send(s, &model, i, true);
        let reply = render::flow_frame(
            f,
            &w2,
            true,
            crate::generate::TcpKind::Syn,
            false,
            &mut seqs[i],
        );
        let r = backend.inject(xpf_runtime::InterfaceId(k2 as u16), &reply, now + 1);
        match r.verdict {
            Verdict::Forward { egress } if usize::from(egress.0) == k => {}
            // The reply's own path can lack a neighbour (a host the
            // generator left without one): that is not a policy failure.
            Verdict::Drop {
                reason: DropReason::NoNeighbour,
            } => {}
            // Firewall filters are stateless: a term may discard or reject
            // the reply whatever the session says (model equivalence
            // checks that the backend does exactly that).
            Verdict::Drop {
                reason:
                    DropReason::FilterDiscard | DropReason::FilterReject | DropReason::PolicerExceeded,
            } if s.net.filters.is_some() => {}
            // So are the flood screens: a per-zone rate limit on packets.
            Verdict::Drop {
                reason:
                    DropReason::ScreenSynFlood
                    | DropReason::ScreenIcmpFlood
                    | DropReason::ScreenUdpFlood,
            } if s.net.screen.is_some() => {}
            // A flow destination-translated back to its own client: the
            // reply's source is its destination, which the land screen
            // drops by definition.
            Verdict::Drop {
                reason: DropReason::ScreenLand,
            } if s.net.screen.is_some() && w2.src == w2.dst => {}
            v => return fail(i, format!("reply of a permitted flow {f:?} got {v:?}")),
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An untagged Ethernet header carrying `ethertype`.
    fn ethernet(ethertype: u16) -> Vec<u8> {
        let mut f = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2];
        f.extend_from_slice(&ethertype.to_be_bytes());
        f
    }

    /// A 20-byte IPv4 header (no options) with the fragment field `frag`.
    fn ipv4(protocol: u8, frag: u16) -> Vec<u8> {
        let mut h = vec![0x45, 0, 0, 40, 0x12, 0x34];
        h.extend_from_slice(&frag.to_be_bytes());
        h.extend_from_slice(&[64, protocol, 0, 0, 198, 18, 0, 1, 198, 19, 0, 1]);
        h
    }

    /// A 40-byte IPv6 header with next header `next`.
    fn ipv6(next: u8) -> Vec<u8> {
        let mut h = vec![0x60, 0, 0, 0, 0, 16, next, 64];
        h.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8].repeat(8));
        h
    }

    #[test]
    fn plain_packets_exercise_no_traffic_capability() {
        let mut udp = ethernet(0x0800);
        udp.extend(ipv4(17, 0x4000)); // don't-fragment only
        udp.extend([0; 8]);
        assert!(traffic_capabilities(&udp).is_empty());
        let mut tcp6 = ethernet(0x86dd);
        tcp6.extend(ipv6(6));
        tcp6.extend([0; 20]);
        assert!(traffic_capabilities(&tcp6).is_empty());
    }

    #[test]
    fn fragments_and_extension_headers_are_recognised_also_behind_vlan_tags() {
        let mut first = ethernet(0x8100);
        first.extend([0, 10, 0x08, 0x00]);
        first.extend(ipv4(17, 0x2000)); // more fragments, offset 0
        assert_eq!(
            traffic_capabilities(&first),
            BTreeSet::from([Capability::Fragments])
        );
        let mut hop_by_hop = ethernet(0x86dd);
        hop_by_hop.extend(ipv6(0));
        assert_eq!(
            traffic_capabilities(&hop_by_hop),
            BTreeSet::from([Capability::Ipv6ExtensionHeaders])
        );
        let mut fragment6 = ethernet(0x86dd);
        fragment6.extend(ipv6(44));
        assert_eq!(
            traffic_capabilities(&fragment6),
            BTreeSet::from([Capability::Fragments, Capability::Ipv6ExtensionHeaders])
        );
    }

    #[test]
    fn a_transport_without_ports_is_flagged_for_source_nat() {
        let mut ah = ethernet(0x0800);
        ah.extend(ipv4(51, 0));
        assert_eq!(
            traffic_capabilities(&ah),
            BTreeSet::from([Capability::SourceNatPortless])
        );
        let mut gre6 = ethernet(0x86dd);
        gre6.extend(ipv6(47));
        assert_eq!(
            traffic_capabilities(&gre6),
            BTreeSet::from([Capability::SourceNatPortless])
        );
    }

    #[test]
    fn an_icmp_error_counts_what_its_quoted_packet_exercises() {
        let mut error = ethernet(0x0800);
        error.extend(ipv4(1, 0));
        error.extend([11, 0, 0, 0, 0, 0, 0, 0]); // time exceeded
        error.extend(ipv4(17, 0x00b9)); // a non-first fragment
        assert_eq!(
            traffic_capabilities(&error),
            BTreeSet::from([Capability::Fragments])
        );
        let mut error6 = ethernet(0x86dd);
        error6.extend(ipv6(58));
        error6.extend([1, 0, 0, 0, 0, 0, 0, 0]); // destination unreachable
        error6.extend(ipv6(60)); // destination options
        assert_eq!(
            traffic_capabilities(&error6),
            BTreeSet::from([Capability::Ipv6ExtensionHeaders])
        );
    }
}
