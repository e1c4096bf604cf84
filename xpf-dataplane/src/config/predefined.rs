//! The predefined `junos-*` applications.
//!
//! These need no definition in a config and may not be redefined. The list
//! covers the services an SRX policy commonly names; their ports follow the
//! Junos defaults. `any` (every protocol) is handled by the compiler, not
//! listed here.

use super::model::{Application, ApplicationTerm};
use super::types::PortRange;
use xpf_runtime::IpProtocol;

/// One predefined application term: (protocol, destination ports, ICMP type).
type Term = (IpProtocol, Option<(u16, u16)>, Option<u8>);

const TCP: IpProtocol = IpProtocol::TCP;
const UDP: IpProtocol = IpProtocol::UDP;
const ICMP: IpProtocol = IpProtocol::ICMP;
const ICMP6: IpProtocol = IpProtocol::ICMPV6;

/// `(name, terms, inactivity timeout override in seconds)`.
const PREDEFINED: &[(&str, &[Term], Option<u32>)] = &[
    ("junos-ftp", &[(TCP, Some((21, 21)), None)], None),
    ("junos-ssh", &[(TCP, Some((22, 22)), None)], None),
    ("junos-telnet", &[(TCP, Some((23, 23)), None)], None),
    ("junos-smtp", &[(TCP, Some((25, 25)), None)], None),
    ("junos-smtps", &[(TCP, Some((465, 465)), None)], None),
    ("junos-dns-udp", &[(UDP, Some((53, 53)), None)], Some(60)),
    ("junos-dns-tcp", &[(TCP, Some((53, 53)), None)], None),
    ("junos-dhcp-server", &[(UDP, Some((67, 67)), None)], None),
    ("junos-dhcp-client", &[(UDP, Some((68, 68)), None)], None),
    ("junos-tftp", &[(UDP, Some((69, 69)), None)], None),
    ("junos-http", &[(TCP, Some((80, 80)), None)], None),
    ("junos-pop3", &[(TCP, Some((110, 110)), None)], None),
    ("junos-ntp", &[(UDP, Some((123, 123)), None)], None),
    ("junos-imap", &[(TCP, Some((143, 143)), None)], None),
    ("junos-snmp-agentx", &[(TCP, Some((705, 705)), None)], None),
    ("junos-snmp-get", &[(UDP, Some((161, 161)), None)], None),
    ("junos-snmp-trap", &[(UDP, Some((162, 162)), None)], None),
    ("junos-bgp", &[(TCP, Some((179, 179)), None)], None),
    ("junos-ldap", &[(TCP, Some((389, 389)), None)], None),
    ("junos-https", &[(TCP, Some((443, 443)), None)], None),
    ("junos-ike", &[(UDP, Some((500, 500)), None)], None),
    ("junos-ike-nat", &[(UDP, Some((4500, 4500)), None)], None),
    ("junos-syslog", &[(UDP, Some((514, 514)), None)], None),
    ("junos-imaps", &[(TCP, Some((993, 993)), None)], None),
    ("junos-pop3s", &[(TCP, Some((995, 995)), None)], None),
    ("junos-ms-sql", &[(TCP, Some((1433, 1433)), None)], None),
    ("junos-radius", &[(UDP, Some((1812, 1812)), None)], None),
    ("junos-radacct", &[(UDP, Some((1813, 1813)), None)], None),
    ("junos-mysql", &[(TCP, Some((3306, 3306)), None)], None),
    ("junos-rdp", &[(TCP, Some((3389, 3389)), None)], None),
    (
        "junos-sip",
        &[
            (UDP, Some((5060, 5060)), None),
            (TCP, Some((5060, 5060)), None),
        ],
        None,
    ),
    ("junos-http-ext", &[(TCP, Some((8000, 8000)), None)], None),
    ("junos-ping", &[(ICMP, None, Some(8))], None),
    ("junos-pingv6", &[(ICMP6, None, Some(128))], None),
    ("junos-icmp-all", &[(ICMP, None, None)], None),
    ("junos-icmp6-all", &[(ICMP6, None, None)], None),
    (
        "junos-traceroute",
        &[(UDP, Some((33434, 33534)), None)],
        None,
    ),
    ("junos-gre", &[(IpProtocol::GRE, None, None)], None),
    ("junos-esp", &[(IpProtocol::ESP, None, None)], None),
    ("junos-ah", &[(IpProtocol::AH, None, None)], None),
    ("junos-ospf", &[(IpProtocol::OSPF, None, None)], None),
    ("junos-vrrp", &[(IpProtocol::VRRP, None, None)], None),
    ("junos-tcp-any", &[(TCP, None, None)], None),
    ("junos-udp-any", &[(UDP, None, None)], None),
];

/// Every predefined application, as [`Application`] values in a fixed order.
pub fn predefined_applications() -> Vec<Application> {
    PREDEFINED
        .iter()
        .map(|(name, terms, timeout)| Application {
            name: (*name).to_string(),
            inactivity_timeout: *timeout,
            terms: terms
                .iter()
                .enumerate()
                .map(|(i, (proto, ports, icmp_type))| ApplicationTerm {
                    name: format!("t{}", i + 1),
                    protocol: Some(*proto),
                    source_port: None,
                    destination_port: ports.map(|(l, h)| PortRange::new(l, h)),
                    icmp_type: *icmp_type,
                    icmp_code: None,
                    inactivity_timeout: None,
                })
                .collect(),
            ..Application::default()
        })
        .collect()
}

/// True when `name` is a predefined application.
pub fn is_predefined(name: &str) -> bool {
    PREDEFINED.iter().any(|(n, _, _)| *n == name)
}

/// Names of every predefined application.
pub fn predefined_names() -> impl Iterator<Item = &'static str> {
    PREDEFINED.iter().map(|(n, _, _)| *n)
}
