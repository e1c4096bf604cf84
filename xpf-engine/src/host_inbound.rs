//! Host-inbound traffic: which packets addressed to the firewall itself a
//! zone accepts (Junos `host-inbound-traffic system-services` /
//! `protocols`).
//!
//! The mapping from service to traffic (shared with the reference model):
//!
//! | service / protocol | traffic |
//! |---|---|
//! | ping | ICMP echo request (8), ICMPv6 echo request (128) |
//! | traceroute | UDP 33434-33534 |
//! | ssh / telnet / http / https / netconf | TCP 22 / 23 / 80 / 443 / 830 |
//! | dns | UDP and TCP 53 |
//! | ntp / snmp / syslog | UDP 123 / 161 / 514 |
//! | dhcp / dhcpv6 | UDP 67-68 / 546-547 |
//! | ike | UDP 500 and 4500 |
//! | bgp | TCP 179 (either port, so both passive and active sessions work) |
//! | ospf / ospf3 | IP protocol 89 (IPv4 / IPv6) |
//! | bfd | UDP 3784, 3785, 4784 |
//! | vrrp / pim | IP protocol 112 / 103 |
//! | router-discovery | ICMPv6 133-137 |
//!
//! IPv6 neighbour solicitation and advertisement (ICMPv6 135/136) are
//! always accepted: IPv6 does not work without them, and Junos accepts
//! them implicitly too.

use xpf_dataplane::config::{HostProtocol, HostService};
use xpf_runtime::IpProtocol;

/// What host-inbound checks see of a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostPacket {
    /// Upper-layer protocol.
    pub protocol: IpProtocol,
    /// Source and destination ports, when present.
    pub ports: Option<(u16, u16)>,
    /// ICMP / ICMPv6 type, when ICMP.
    pub icmp_type: Option<u8>,
    /// True for IPv6.
    pub ipv6: bool,
}

fn tcp(p: &HostPacket, port: u16) -> bool {
    p.protocol == IpProtocol::TCP && p.ports.is_some_and(|(_, d)| d == port)
}

fn udp(p: &HostPacket, lo: u16, hi: u16) -> bool {
    p.protocol == IpProtocol::UDP && p.ports.is_some_and(|(_, d)| (lo..=hi).contains(&d))
}

fn service_allows(s: HostService, p: &HostPacket) -> bool {
    match s {
        HostService::All => true,
        HostService::Ping => matches!(
            (p.protocol, p.icmp_type),
            (IpProtocol::ICMP, Some(8)) | (IpProtocol::ICMPV6, Some(128))
        ),
        HostService::Traceroute => udp(p, 33434, 33534),
        HostService::Ssh => tcp(p, 22),
        HostService::Telnet => tcp(p, 23),
        HostService::Http => tcp(p, 80),
        HostService::Https => tcp(p, 443),
        HostService::Netconf => tcp(p, 830),
        HostService::Dns => udp(p, 53, 53) || tcp(p, 53),
        HostService::Ntp => udp(p, 123, 123),
        HostService::Snmp => udp(p, 161, 161),
        HostService::Syslog => udp(p, 514, 514),
        HostService::Dhcp => udp(p, 67, 68),
        HostService::Dhcpv6 => udp(p, 546, 547),
        HostService::Ike => udp(p, 500, 500) || udp(p, 4500, 4500),
    }
}

fn protocol_allows(proto: HostProtocol, p: &HostPacket) -> bool {
    match proto {
        HostProtocol::All => true,
        HostProtocol::Bgp => {
            p.protocol == IpProtocol::TCP && p.ports.is_some_and(|(s, d)| s == 179 || d == 179)
        }
        HostProtocol::Ospf => p.protocol == IpProtocol::OSPF && !p.ipv6,
        HostProtocol::Ospf3 => p.protocol == IpProtocol::OSPF && p.ipv6,
        HostProtocol::Bfd => udp(p, 3784, 3785) || udp(p, 4784, 4784),
        HostProtocol::Vrrp => p.protocol == IpProtocol::VRRP,
        HostProtocol::Pim => p.protocol == IpProtocol::PIM,
        HostProtocol::RouterDiscovery => {
            p.protocol == IpProtocol::ICMPV6
                && p.icmp_type.is_some_and(|t| (133..=137).contains(&t))
        }
    }
}

/// Does a zone with these services and protocols accept `p`?
pub fn allows(services: &[HostService], protocols: &[HostProtocol], p: &HostPacket) -> bool {
    let neighbour_discovery =
        p.protocol == IpProtocol::ICMPV6 && matches!(p.icmp_type, Some(135 | 136));
    neighbour_discovery
        || services.iter().any(|s| service_allows(*s, p))
        || protocols.iter().any(|x| protocol_allows(*x, p))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkt(protocol: IpProtocol, dport: Option<u16>, icmp: Option<u8>) -> HostPacket {
        HostPacket {
            protocol,
            ports: dport.map(|d| (40000, d)),
            icmp_type: icmp,
            ipv6: protocol == IpProtocol::ICMPV6,
        }
    }

    #[test]
    fn services_map_to_their_ports() {
        let ssh_ping = [HostService::Ssh, HostService::Ping];
        assert!(allows(
            &ssh_ping,
            &[],
            &pkt(IpProtocol::TCP, Some(22), None)
        ));
        assert!(allows(
            &ssh_ping,
            &[],
            &pkt(IpProtocol::ICMP, None, Some(8))
        ));
        assert!(allows(
            &ssh_ping,
            &[],
            &pkt(IpProtocol::ICMPV6, None, Some(128))
        ));
        assert!(!allows(
            &ssh_ping,
            &[],
            &pkt(IpProtocol::TCP, Some(23), None)
        ));
        assert!(!allows(
            &ssh_ping,
            &[],
            &pkt(IpProtocol::ICMP, None, Some(13))
        ));
        assert!(!allows(&[], &[], &pkt(IpProtocol::UDP, Some(53), None)));
    }

    #[test]
    fn neighbour_discovery_is_always_accepted() {
        assert!(allows(&[], &[], &pkt(IpProtocol::ICMPV6, None, Some(135))));
        assert!(!allows(&[], &[], &pkt(IpProtocol::ICMPV6, None, Some(133))));
        assert!(allows(
            &[],
            &[HostProtocol::RouterDiscovery],
            &pkt(IpProtocol::ICMPV6, None, Some(133))
        ));
    }

    #[test]
    fn bgp_accepts_either_direction() {
        let mut active = pkt(IpProtocol::TCP, Some(50000), None);
        active.ports = Some((179, 50000));
        assert!(allows(&[], &[HostProtocol::Bgp], &active));
    }
}
