//! IP protocol numbers, parsed from Junos-style names or plain numbers.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// An IP protocol number (IPv4 `protocol` / IPv6 `next header` of the upper layer).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct IpProtocol(pub u8);

impl IpProtocol {
    /// ICMP for IPv4.
    pub const ICMP: Self = Self(1);
    /// IGMP.
    pub const IGMP: Self = Self(2);
    /// TCP.
    pub const TCP: Self = Self(6);
    /// UDP.
    pub const UDP: Self = Self(17);
    /// GRE.
    pub const GRE: Self = Self(47);
    /// ESP.
    pub const ESP: Self = Self(50);
    /// AH.
    pub const AH: Self = Self(51);
    /// ICMPv6.
    pub const ICMPV6: Self = Self(58);
    /// OSPF.
    pub const OSPF: Self = Self(89);
    /// PIM.
    pub const PIM: Self = Self(103);
    /// VRRP.
    pub const VRRP: Self = Self(112);
    /// SCTP.
    pub const SCTP: Self = Self(132);

    const NAMES: &'static [(&'static str, IpProtocol)] = &[
        ("icmp", Self::ICMP),
        ("igmp", Self::IGMP),
        ("tcp", Self::TCP),
        ("udp", Self::UDP),
        ("gre", Self::GRE),
        ("esp", Self::ESP),
        ("ah", Self::AH),
        ("icmp6", Self::ICMPV6),
        ("ospf", Self::OSPF),
        ("pim", Self::PIM),
        ("vrrp", Self::VRRP),
        ("sctp", Self::SCTP),
    ];

    /// The Junos keyword for this protocol, if it has one.
    pub fn name(self) -> Option<&'static str> {
        Self::NAMES
            .iter()
            .find(|(_, p)| *p == self)
            .map(|(n, _)| *n)
    }

    /// True for protocols whose sessions are keyed by ports (TCP, UDP, SCTP).
    pub fn has_ports(self) -> bool {
        matches!(self, Self::TCP | Self::UDP | Self::SCTP)
    }

    /// True for ICMP and ICMPv6 (the ICMP identifier sits in the port slot).
    pub fn is_icmp(self) -> bool {
        matches!(self, Self::ICMP | Self::ICMPV6)
    }
}

impl fmt::Display for IpProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "{}", self.0),
        }
    }
}

/// Error for an unknown protocol keyword.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown protocol {0:?} (expected a number 0-255 or one of tcp, udp, icmp, icmp6, gre, esp, ah, sctp, ospf, pim, vrrp, igmp)"
)]
pub struct UnknownProtocol(pub String);

impl FromStr for IpProtocol {
    type Err = UnknownProtocol;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.trim().to_ascii_lowercase();
        if let Ok(n) = lower.parse::<u8>() {
            return Ok(Self(n));
        }
        let alias = match lower.as_str() {
            "icmpv6" | "ipv6-icmp" => "icmp6",
            other => other,
        };
        Self::NAMES
            .iter()
            .find(|(n, _)| *n == alias)
            .map(|(_, p)| *p)
            .ok_or_else(|| UnknownProtocol(s.to_string()))
    }
}

impl Serialize for IpProtocol {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.name() {
            Some(n) => s.serialize_str(n),
            None => s.serialize_u8(self.0),
        }
    }
}

impl<'de> Deserialize<'de> for IpProtocol {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = IpProtocol;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a protocol name such as \"tcp\" or a number 0-255")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<IpProtocol, E> {
                u8::try_from(v)
                    .map(IpProtocol)
                    .map_err(|_| E::custom(format!("protocol number {v} is out of range 0-255")))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<IpProtocol, E> {
                u8::try_from(v)
                    .map(IpProtocol)
                    .map_err(|_| E::custom(format!("protocol number {v} is out of range 0-255")))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<IpProtocol, E> {
                v.parse().map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers_parse_to_the_same_protocol() {
        assert_eq!("tcp".parse::<IpProtocol>().unwrap(), IpProtocol::TCP);
        assert_eq!("6".parse::<IpProtocol>().unwrap(), IpProtocol::TCP);
        assert_eq!("ICMPv6".parse::<IpProtocol>().unwrap(), IpProtocol::ICMPV6);
        assert!("tpc".parse::<IpProtocol>().is_err());
        let p: IpProtocol = serde_json::from_str("17").unwrap();
        assert_eq!(p, IpProtocol::UDP);
        assert_eq!(serde_json::to_string(&IpProtocol(99)).unwrap(), "99");
        assert_eq!(serde_json::to_string(&IpProtocol::UDP).unwrap(), "\"udp\"");
    }
}
