//! Checks on single values that several sections share: port ranges,
//! network prefixes, address ranges and must-be-positive numbers; plus the
//! address-family bookkeeping ([`Families`], [`Span`]) behind the family
//! mismatch and overlap checks.

use super::Validator;
use super::path::Path;
use crate::config::{Address, AddressRange, MacAddr, PortRange};
use ipnet::IpNet;
use std::net::IpAddr;
use std::ops::BitOr;
use xpf_runtime::AddressFamily;

/// A set of address families: what a list of addresses can match.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Families {
    v4: bool,
    v6: bool,
}

impl Families {
    /// Matches nothing.
    pub(super) const NONE: Self = Self {
        v4: false,
        v6: false,
    };
    /// IPv4 only.
    pub(super) const V4: Self = Self {
        v4: true,
        v6: false,
    };
    /// IPv6 only.
    pub(super) const V6: Self = Self {
        v4: false,
        v6: true,
    };
    /// Both families.
    pub(super) const BOTH: Self = Self { v4: true, v6: true };

    /// The family of one address.
    pub(super) fn of_addr(addr: IpAddr) -> Self {
        match addr {
            IpAddr::V4(_) => Self::V4,
            IpAddr::V6(_) => Self::V6,
        }
    }

    /// The families an address book entry can match: those of its prefix
    /// and of its range's start (none when it has neither).
    pub(super) fn of_address(address: &Address) -> Self {
        let prefix = address.prefix.map(|p| Self::of_addr(p.addr()));
        let range = address.range.map(|r| Self::of_addr(r.from));
        prefix.unwrap_or_default() | range.unwrap_or_default()
    }

    /// The families of some prefixes; [`Families::NONE`] when there are none.
    pub(super) fn of_nets<'n>(nets: impl IntoIterator<Item = &'n IpNet>) -> Self {
        nets.into_iter()
            .fold(Self::NONE, |acc, net| acc | Self::of_addr(net.addr()))
    }

    /// True when no family is present.
    pub(super) fn is_empty(self) -> bool {
        self == Self::NONE
    }

    /// True when both families are present.
    pub(super) fn is_mixed(self) -> bool {
        self == Self::BOTH
    }

    /// True when the sets share a family.
    pub(super) fn intersects(self, other: Self) -> bool {
        (self.v4 && other.v4) || (self.v6 && other.v6)
    }

    /// `IPv4`, `IPv6`, `IPv4 and IPv6` or `no`.
    pub(super) fn describe(self) -> &'static str {
        match (self.v4, self.v6) {
            (true, false) => "IPv4",
            (false, true) => "IPv6",
            (true, true) => "IPv4 and IPv6",
            (false, false) => "no",
        }
    }
}

impl BitOr for Families {
    type Output = Self;

    fn bitor(self, other: Self) -> Self {
        Self {
            v4: self.v4 || other.v4,
            v6: self.v6 || other.v6,
        }
    }
}

/// `IPv4` or `IPv6`.
pub(super) fn family_name(addr: IpAddr) -> &'static str {
    Families::of_addr(addr).describe()
}

/// The family of an address, as filters name it.
pub(super) fn address_family(addr: IpAddr) -> AddressFamily {
    match addr {
        IpAddr::V4(_) => AddressFamily::Inet,
        IpAddr::V6(_) => AddressFamily::Inet6,
    }
}

/// An inclusive interval of addresses of one family, for overlap checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Span {
    v6: bool,
    first: u128,
    last: u128,
}

impl Span {
    /// Every address of a prefix (host bits ignored).
    pub(super) fn of_net(net: &IpNet) -> Self {
        Self::between(net.network(), net.broadcast())
            .expect("a prefix's network and broadcast addresses are ordered and of one family")
    }

    /// The addresses of a range, or `None` when it is inverted or mixes families.
    pub(super) fn of_range(range: &AddressRange) -> Option<Self> {
        Self::between(range.from, range.to)
    }

    fn between(first: IpAddr, last: IpAddr) -> Option<Self> {
        let span = match (first, last) {
            (IpAddr::V4(a), IpAddr::V4(b)) => Self {
                v6: false,
                first: u32::from(a).into(),
                last: u32::from(b).into(),
            },
            (IpAddr::V6(a), IpAddr::V6(b)) => Self {
                v6: true,
                first: a.into(),
                last: b.into(),
            },
            _ => return None,
        };
        (span.first <= span.last).then_some(span)
    }

    /// True when the spans share an address.
    pub(super) fn overlaps(&self, other: &Self) -> bool {
        self.v6 == other.v6 && self.first <= other.last && other.first <= self.last
    }
}

/// What is wrong with a prefix where a network is expected: host bits set.
pub(super) fn host_bits_problem(prefix: &IpNet) -> Option<String> {
    (prefix.addr() != prefix.network()).then(|| {
        format!(
            "prefix {prefix} has host bits set (did you mean {}?)",
            prefix.trunc()
        )
    })
}

impl Validator<'_> {
    /// Reports an inverted port range.
    pub(super) fn check_port_range(&mut self, path: &Path<'_>, range: PortRange) {
        if !range.is_valid() {
            self.error(
                path,
                format!(
                    "port range {}-{} is inverted (low > high)",
                    range.low, range.high
                ),
            );
        }
    }

    /// Reports every inverted port range of a list.
    pub(super) fn check_port_ranges(&mut self, path: &Path<'_>, ranges: &[PortRange]) {
        for range in ranges {
            self.check_port_range(path, *range);
        }
    }

    /// Reports a prefix with host bits set where a network is expected.
    pub(super) fn check_network_prefix(&mut self, path: &Path<'_>, prefix: &IpNet) {
        if let Some(problem) = host_bits_problem(prefix) {
            self.error(path, problem);
        }
    }

    /// Reports every prefix of a list that has host bits set.
    pub(super) fn check_network_prefixes(&mut self, path: &Path<'_>, prefixes: &[IpNet]) {
        for prefix in prefixes {
            self.check_network_prefix(path, prefix);
        }
    }

    /// Reports an address range that mixes families or is inverted.
    pub(super) fn check_address_range(&mut self, path: &Path<'_>, range: &AddressRange) {
        let (from, to) = (range.from, range.to);
        if from.is_ipv4() != to.is_ipv4() {
            self.error(
                path,
                format!(
                    "address range {from}-{to} mixes families ({} start, {} end)",
                    family_name(from),
                    family_name(to)
                ),
            );
        } else if from > to {
            self.error(
                path,
                format!("address range {from}-{to} is inverted (from > to)"),
            );
        }
    }

    /// Reports a MAC address that cannot be a unicast source or destination.
    pub(super) fn check_unicast_mac(&mut self, path: &Path<'_>, mac: MacAddr) {
        if mac.is_zero() {
            self.error(path, format!("mac {mac} is the all-zero address"));
        } else if mac.is_multicast() {
            self.error(path, format!("mac {mac} is a multicast address"));
        }
    }

    /// Reports an optional count, rate, size or timer that is set to 0.
    /// `what` names it in the message (`"syn-flood-threshold"`).
    pub(super) fn check_positive<T>(&mut self, path: &Path<'_>, what: &str, value: Option<T>)
    where
        T: Into<u64> + Copy,
    {
        if value.is_some_and(|v| v.into() == 0) {
            self.error(path, format!("{what} of 0 is invalid (must be at least 1)"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_overlap_only_within_a_family() {
        let net = |s: &str| Span::of_net(&s.parse().unwrap());
        assert!(net("198.18.0.0/24").overlaps(&net("198.18.0.128/25")));
        assert!(!net("198.18.0.0/25").overlaps(&net("198.18.0.128/25")));
        assert!(!net("0.0.0.0/0").overlaps(&net("::/0")));
        let range = AddressRange {
            from: "198.18.0.9".parse().unwrap(),
            to: "198.18.0.1".parse().unwrap(),
        };
        assert_eq!(Span::of_range(&range), None);
    }

    #[test]
    fn families_combine() {
        assert!((Families::V4 | Families::V6).is_mixed());
        assert!(!Families::V4.intersects(Families::V6));
        assert!(Families::BOTH.intersects(Families::V6));
        assert!(Families::of_nets([]).is_empty());
    }
}
