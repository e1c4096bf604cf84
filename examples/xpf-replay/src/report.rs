//! The replay summary: verdict tally, session table, log lines, counters.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use xpf_dataplane::RuntimeDataPlane;
use xpf_dataplane::apply::ApplyResult;
use xpf_engine::engine::Verdict;
use xpf_runtime::{
    AnySessionKey, BaseCounter, Event, GlobalCounter, InterfaceId, IpProtocol, NatRuleId,
    SessionEntry, SessionFlags,
};
use xpf_userspace::{Injected, UserspaceDataplane};

/// What happened to the replayed frames.
#[derive(Debug, Default)]
pub struct Tally {
    /// Frames replayed.
    pub frames: u64,
    /// Forwarded.
    pub forwarded: u64,
    /// Delivered to the host.
    pub local: u64,
    /// Dropped, by reason.
    pub dropped: BTreeMap<String, u64>,
    /// Not processed (ingress link down).
    pub not_processed: u64,
    /// Frames the firewall generated (RST, ICMP errors).
    pub generated: u64,
}

impl Tally {
    /// Counts one injected frame.
    pub fn count(&mut self, out: &Injected) {
        self.frames += 1;
        match out.verdict {
            Some(Verdict::Forward { .. }) => self.forwarded += 1,
            Some(Verdict::Local) => self.local += 1,
            Some(Verdict::Drop(r)) => *self.dropped.entry(r.name().to_string()).or_default() += 1,
            None => self.not_processed += 1,
        }
        self.generated += out
            .frames
            .iter()
            .filter(|f| f.origin == xpf_userspace::Origin::Generated)
            .count() as u64;
    }
}

/// Everything the summary shows.
pub struct Summary<'a> {
    /// The backend after the replay.
    pub dp: &'a UserspaceDataplane,
    /// The apply result (names for ids).
    pub applied: &'a ApplyResult,
    /// Verdicts.
    pub tally: &'a Tally,
    /// Output files: interface, path, frames.
    pub outputs: &'a [(String, PathBuf, usize)],
    /// Events emitted during the replay.
    pub events: &'a [Event],
    /// Inputs.
    pub inputs: &'a [(String, PathBuf)],
}

fn proto(p: IpProtocol) -> String {
    match p.0 {
        1 => "icmp".into(),
        6 => "tcp".into(),
        17 => "udp".into(),
        58 => "icmp6".into(),
        n => n.to_string(),
    }
}

fn endpoint(addr: std::net::IpAddr, port: u16) -> String {
    format!("{addr}/{port}")
}

fn tuple(key: &AnySessionKey) -> String {
    let (s, d, sp, dp, p) = match key {
        AnySessionKey::V4(k) => (
            k.src.into(),
            k.dst.into(),
            k.src_port,
            k.dst_port,
            k.protocol,
        ),
        AnySessionKey::V6(k) => (
            k.src.into(),
            k.dst.into(),
            k.src_port,
            k.dst_port,
            k.protocol,
        ),
    };
    format!("{} --> {};{}", endpoint(s, sp), endpoint(d, dp), proto(p))
}

impl Summary<'_> {
    fn interface(&self, id: InterfaceId) -> String {
        self.applied
            .managed_interfaces
            .iter()
            .find(|i| i.id == id)
            .map_or_else(|| id.to_string(), |i| i.name.clone())
    }

    fn nat_rule(&self, id: NatRuleId) -> String {
        self.applied
            .nat_counter_ids
            .iter()
            .find(|(_, v)| **v == id)
            .map_or_else(|| id.to_string(), |(k, _)| k.clone())
    }

    /// The whole summary.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let t = self.tally;
        let _ = writeln!(
            s,
            "== replayed {} frames from {} trace(s)",
            t.frames,
            self.inputs.len()
        );
        for (iface, path) in self.inputs {
            let _ = writeln!(s, "   {iface:<12} <- {}", path.display());
        }
        let _ = writeln!(s, "   forwarded  {:>5}", t.forwarded);
        let _ = writeln!(s, "   local      {:>5}", t.local);
        let dropped: u64 = t.dropped.values().sum();
        let _ = writeln!(s, "   dropped    {dropped:>5}");
        for (reason, n) in &t.dropped {
            let _ = writeln!(s, "     {reason:<28} {n:>5}");
        }
        if t.not_processed > 0 {
            let _ = writeln!(s, "   link down  {:>5}", t.not_processed);
        }
        if t.generated > 0 {
            let _ = writeln!(s, "   generated  {:>5}  (RST / ICMP errors)", t.generated);
        }
        let _ = writeln!(s, "\n== written");
        for (iface, path, n) in self.outputs {
            let _ = writeln!(s, "   {iface:<12} -> {} ({n} frames)", path.display());
        }
        self.sessions(&mut s);
        self.log(&mut s);
        self.counters(&mut s);
        s
    }

    fn sessions(&self, s: &mut String) {
        let mut forward: Vec<SessionEntry> = Vec::new();
        let store = self.dp.sessions();
        let _ = futures::executor::block_on(store.for_each(None, &mut |e| {
            if !e.is_reverse() {
                forward.push(*e);
            }
            std::ops::ControlFlow::Continue(())
        }));
        forward.sort_by_key(SessionEntry::session_id);
        let _ = writeln!(s, "\n== sessions (show security flow session)");
        for e in &forward {
            macro_rules! show {
                ($key:expr, $v:expr) => {{
                    let (k, v) = ($key, $v);
                    let policy = self
                        .applied
                        .policy_names
                        .get(&v.policy_rule)
                        .map_or_else(|| v.policy_rule.to_string(), |p| p.policy.clone());
                    let _ = writeln!(
                        s,
                        "Session ID: {}, Policy name: {}/{}, State: {:?}, Timeout: {}s",
                        v.session_id.id32(),
                        policy,
                        v.policy_rule.0,
                        v.state,
                        v.timeout_secs
                    );
                    let fwd = AnySessionKey::from(*k);
                    let rev = AnySessionKey::from(v.reverse_key);
                    let _ = writeln!(
                        s,
                        "  In: {}, If: {}, Pkts: {}, Bytes: {}",
                        tuple(&fwd),
                        self.interface(v.ingress_interface),
                        v.fwd.packets,
                        v.fwd.bytes
                    );
                    let _ = writeln!(
                        s,
                        "  Out: {}, If: {}, Pkts: {}, Bytes: {}",
                        tuple(&rev),
                        self.interface(v.egress_interface),
                        v.rev.packets,
                        v.rev.bytes
                    );
                    let n = &v.nat;
                    if v.flags.contains(SessionFlags::SNAT) {
                        let _ = writeln!(
                            s,
                            "  NAT: source {} -> {} (rule {})",
                            endpoint(k.src.into(), k.src_port),
                            endpoint(n.src.into(), n.src_port),
                            self.nat_rule(v.nat_rule_src)
                        );
                    }
                    if (v.flags.contains(SessionFlags::DNAT)
                        || v.flags.contains(SessionFlags::STATIC_NAT))
                        && (n.dst, n.dst_port) != (k.dst, k.dst_port)
                    {
                        let _ = writeln!(
                            s,
                            "  NAT: destination {} -> {} (rule {})",
                            endpoint(k.dst.into(), k.dst_port),
                            endpoint(n.dst.into(), n.dst_port),
                            self.nat_rule(v.nat_rule_dst)
                        );
                    }
                }};
            }
            match e {
                SessionEntry::V4 { key, value } => show!(key, value),
                SessionEntry::V6 { key, value } => show!(key, value),
            }
        }
        let _ = writeln!(s, "Total sessions: {}", forward.len());
    }

    fn log(&self, s: &mut String) {
        let _ = writeln!(s, "\n== log ({} events)", self.events.len());
        for e in self.events {
            let _ = writeln!(
                s,
                "{}: {}",
                xpf_dataplane::syslog::message_id(e),
                xpf_dataplane::syslog::message_text(e, self.applied)
            );
        }
    }

    fn counters(&self, s: &mut String) {
        let tel = self.dp.telemetry();
        let _ = writeln!(s, "\n== counters (non-zero)");
        if let Ok(all) = futures::executor::block_on(tel.global_counters()) {
            for (c, v) in all.into_iter().filter(|(_, v)| *v > 0) {
                if matches!(c, GlobalCounter::Base(BaseCounter::Dropped)) || v == 0 {
                    continue;
                }
                let _ = writeln!(s, "   {:<32} {v:>8}", c.name());
            }
        }
        let _ = writeln!(s, "   policy hits:");
        let mut rules: Vec<_> = self.applied.policy_names.iter().collect();
        rules.sort_by_key(|(id, _)| **id);
        for (id, name) in rules {
            if let Ok(c) = futures::executor::block_on(tel.policy_counters(*id))
                && c.packets > 0
            {
                let _ = writeln!(
                    s,
                    "     {:<24} {:<16} {:>6} pkts {:>8} bytes",
                    format!("{} ({})", name.policy, name.scope),
                    name.application,
                    c.packets,
                    c.bytes
                );
            }
        }
        let _ = writeln!(s, "   NAT rule translations:");
        for (name, id) in &self.applied.nat_counter_ids {
            if let Ok(c) = futures::executor::block_on(tel.nat_rule_counters(*id)) {
                let _ = writeln!(s, "     {name:<44} {:>6}", c.packets);
            }
        }
        let _ = writeln!(s, "   interfaces:");
        for i in &self.applied.managed_interfaces {
            if let Ok(c) = futures::executor::block_on(tel.interface_counters(i.id)) {
                let _ = writeln!(
                    s,
                    "     {:<12} rx {:>5} pkts {:>7} bytes   tx {:>5} pkts {:>7} bytes   rx-dropped {:>4}",
                    i.name, c.rx.packets, c.rx.bytes, c.tx.packets, c.tx.bytes, c.rx_dropped
                );
            }
        }
    }
}
