//! Screens (Junos `ids-option`): stateless packet checks and per-zone flood
//! limits, applied to traffic entering a zone with a screen profile.
//!
//! Order and exact conditions (shared with the reference model):
//!
//! | screen | drops |
//! |---|---|
//! | land | a TCP SYN whose source and destination address are equal |
//! | syn-fin | TCP with both SYN and FIN |
//! | tcp-no-flag | TCP with no flag at all |
//! | fin-no-ack | TCP with FIN and without ACK |
//! | winnuke | TCP to port 139 with URG |
//! | syn-frag | a first fragment (MF set, offset 0) carrying a TCP SYN |
//! | ping-death | an ICMP / ICMPv6 fragment whose end (offset + payload) exceeds 65535 bytes |
//! | source-route | IPv4 loose/strict source-route option, IPv6 routing header type 0 |
//! | tear-drop | a fragment overlapping an earlier fragment of the same datagram (checked by the fragment tracker) |
//! | syn/icmp/udp flood | more than the threshold per second of TCP SYNs (without ACK) / ICMP / UDP into the zone; token bucket of rate = burst = threshold |
//! | session limits | a new session whose source (destination) already has the limit of sessions (checked at session creation) |
//!
//! Stateless checks run first in table order; the first hit decides. Floods
//! are counted only for packets that passed the stateless checks.

use crate::meter::TokenBucket;
use std::net::IpAddr;
use xpf_dataplane::compile::CompiledScreen;
use xpf_dataplane::config::types::tcp_flags::{ACK, FIN, SYN, URG};
use xpf_runtime::{FloodCounters, FloodKind, FloodState, IpProtocol, ScreenKind};

/// What the screens see of a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScreenInput {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// Upper-layer protocol.
    pub protocol: IpProtocol,
    /// TCP flags (TCP with a header only).
    pub tcp_flags: Option<u8>,
    /// Destination port (TCP/UDP with a header only).
    pub dst_port: Option<u16>,
    /// True for any fragment.
    pub is_fragment: bool,
    /// Fragment offset in bytes.
    pub fragment_offset: u32,
    /// More-fragments flag.
    pub more_fragments: bool,
    /// Payload bytes after the IP header(s).
    pub payload_len: u32,
    /// IPv4 LSRR/SSRR option or IPv6 routing header type 0.
    pub source_route: bool,
}

/// The stateless checks of `profile`, first hit wins.
pub fn stateless_check(profile: &CompiledScreen, p: &ScreenInput) -> Option<ScreenKind> {
    if let Some(flags) = p.tcp_flags {
        let syn = flags & SYN != 0;
        if profile.land && syn && p.src == p.dst {
            return Some(ScreenKind::Land);
        }
        if profile.syn_fin && syn && flags & FIN != 0 {
            return Some(ScreenKind::SynFin);
        }
        if profile.tcp_no_flag && flags == 0 {
            return Some(ScreenKind::TcpNoFlag);
        }
        if profile.fin_no_ack && flags & FIN != 0 && flags & ACK == 0 {
            return Some(ScreenKind::FinNoAck);
        }
        if profile.winnuke && flags & URG != 0 && p.dst_port == Some(139) {
            return Some(ScreenKind::WinNuke);
        }
        if profile.syn_frag && syn && p.is_fragment {
            return Some(ScreenKind::SynFrag);
        }
    }
    if profile.ping_death
        && p.protocol.is_icmp()
        && p.is_fragment
        && p.fragment_offset + p.payload_len > 65_535
    {
        return Some(ScreenKind::PingOfDeath);
    }
    if profile.source_route && p.source_route {
        return Some(ScreenKind::SourceRoute);
    }
    None
}

/// One flood limiter with its counters.
#[derive(Clone, Copy, Debug)]
struct Flood {
    kind: FloodKind,
    threshold: u32,
    bucket: TokenBucket,
    passed: u64,
    dropped: u64,
    active: bool,
}

/// The flood limiters of one zone.
#[derive(Clone, Debug, Default)]
pub struct ZoneFloods {
    floods: Vec<Flood>,
}

impl ZoneFloods {
    /// Limiters for the thresholds of `profile` (none configured = none).
    pub fn new(profile: &CompiledScreen, now_ns: u64) -> Self {
        let floods = [
            (FloodKind::Syn, profile.syn_flood_pps),
            (FloodKind::Icmp, profile.icmp_flood_pps),
            (FloodKind::Udp, profile.udp_flood_pps),
        ]
        .into_iter()
        .filter_map(|(kind, t)| {
            t.map(|t| Flood {
                kind,
                threshold: t,
                bucket: TokenBucket::new(u64::from(t), u64::from(t), now_ns),
                passed: 0,
                dropped: 0,
                active: false,
            })
        })
        .collect();
        Self { floods }
    }

    /// Which flood class a packet belongs to, if any.
    pub fn classify(p: &ScreenInput) -> Option<FloodKind> {
        match p.protocol {
            IpProtocol::TCP => p
                .tcp_flags
                .filter(|f| f & SYN != 0 && f & ACK == 0)
                .map(|_| FloodKind::Syn),
            IpProtocol::UDP => Some(FloodKind::Udp),
            p if p.is_icmp() => Some(FloodKind::Icmp),
            _ => None,
        }
    }

    /// Admits or drops a packet of flood class `kind` at `now_ns`.
    pub fn admit(&mut self, kind: FloodKind, now_ns: u64) -> Result<(), ScreenKind> {
        let Some(f) = self.floods.iter_mut().find(|f| f.kind == kind) else {
            return Ok(());
        };
        if f.bucket.try_take(1, now_ns) {
            f.passed += 1;
            f.active = false;
            Ok(())
        } else {
            f.dropped += 1;
            f.active = true;
            Err(match kind {
                FloodKind::Syn => ScreenKind::SynFlood,
                FloodKind::Icmp => ScreenKind::IcmpFlood,
                FloodKind::Udp => ScreenKind::UdpFlood,
            })
        }
    }

    /// The counters, for telemetry.
    pub fn counters(&self) -> FloodCounters {
        FloodCounters {
            kinds: self
                .floods
                .iter()
                .map(|f| FloodState {
                    kind: f.kind,
                    threshold_pps: f.threshold,
                    passed: f.passed,
                    dropped: f.dropped,
                    active: f.active,
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use xpf_runtime::ScreenProfileId;

    fn profile() -> CompiledScreen {
        CompiledScreen {
            id: ScreenProfileId(1),
            name: "s".into(),
            land: true,
            syn_fin: true,
            tcp_no_flag: true,
            fin_no_ack: true,
            winnuke: true,
            syn_frag: true,
            ping_death: true,
            tear_drop: true,
            source_route: true,
            syn_flood_pps: Some(2),
            icmp_flood_pps: None,
            udp_flood_pps: None,
            source_session_limit: None,
            destination_session_limit: None,
        }
    }

    fn tcp(flags: u8) -> ScreenInput {
        ScreenInput {
            src: "198.18.0.1".parse().unwrap(),
            dst: "198.19.0.1".parse().unwrap(),
            protocol: IpProtocol::TCP,
            tcp_flags: Some(flags),
            dst_port: Some(80),
            is_fragment: false,
            fragment_offset: 0,
            more_fragments: false,
            payload_len: 20,
            source_route: false,
        }
    }

    #[test]
    fn each_tcp_screen_names_its_attack() {
        let p = profile();
        assert_eq!(
            stateless_check(&p, &tcp(SYN | FIN)),
            Some(ScreenKind::SynFin)
        );
        assert_eq!(stateless_check(&p, &tcp(0)), Some(ScreenKind::TcpNoFlag));
        assert_eq!(stateless_check(&p, &tcp(FIN)), Some(ScreenKind::FinNoAck));
        assert_eq!(stateless_check(&p, &tcp(FIN | ACK)), None);
        let mut land = tcp(SYN);
        land.dst = land.src;
        assert_eq!(stateless_check(&p, &land), Some(ScreenKind::Land));
        let mut nuke = tcp(ACK | URG);
        nuke.dst_port = Some(139);
        assert_eq!(stateless_check(&p, &nuke), Some(ScreenKind::WinNuke));
        let mut frag = tcp(SYN);
        frag.is_fragment = true;
        frag.more_fragments = true;
        assert_eq!(stateless_check(&p, &frag), Some(ScreenKind::SynFrag));
        assert_eq!(stateless_check(&p, &tcp(SYN)), None);
    }

    #[test]
    fn ping_of_death_and_source_route() {
        let p = profile();
        let mut icmp = tcp(0);
        icmp.protocol = IpProtocol::ICMP;
        icmp.tcp_flags = None;
        icmp.is_fragment = true;
        icmp.fragment_offset = 65_000;
        icmp.payload_len = 1_000;
        assert_eq!(stateless_check(&p, &icmp), Some(ScreenKind::PingOfDeath));
        icmp.fragment_offset = 64_000;
        assert_eq!(stateless_check(&p, &icmp), None);
        icmp.source_route = true;
        assert_eq!(stateless_check(&p, &icmp), Some(ScreenKind::SourceRoute));
    }

    #[test]
    fn disabled_screens_pass_everything() {
        let mut p = profile();
        p.syn_fin = false;
        assert_eq!(
            stateless_check(&p, &tcp(SYN | FIN)),
            Some(ScreenKind::FinNoAck),
            "SYN+FIN also lacks ACK: the next enabled screen catches it"
        );
        p.fin_no_ack = false;
        assert_eq!(stateless_check(&p, &tcp(SYN | FIN)), None);
    }

    #[test]
    fn syn_flood_drops_above_threshold_and_recovers() {
        let mut f = ZoneFloods::new(&profile(), 0);
        let kind = ZoneFloods::classify(&tcp(SYN)).unwrap();
        assert!(f.admit(kind, 0).is_ok());
        assert!(f.admit(kind, 0).is_ok());
        assert_eq!(f.admit(kind, 0), Err(ScreenKind::SynFlood));
        assert!(f.admit(kind, 1_000_000_000).is_ok());
        let c = f.counters();
        assert_eq!((c.kinds[0].passed, c.kinds[0].dropped), (3, 1));
        assert_eq!(
            ZoneFloods::classify(&tcp(SYN | ACK)),
            None,
            "SYN+ACK is not a flood SYN"
        );
    }
}
