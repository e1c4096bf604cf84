//! The slot space of a source pool: addresses and ports numbered densely.
//!
//! A pool's addresses are its sorted, merged ranges laid end to end:
//! address index `0` is the first address of the first range, and so on
//! (`A` addresses). Its ports are `low..=high` (`P` ports, offset `0` is
//! `low`). A *slot* is an (address, port) pair numbered address-major:
//! `slot = address_index * P + port_offset`, so `S = A * P` slots, and a
//! linear probe walks the ports of one address before moving to the next.

use super::NatError;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use xpf_dataplane::compile::CompiledSourcePool;
use xpf_dataplane::config::PortRange;
use xpf_runtime::AddressFamily;

/// The largest pool the allocator accepts: 2^32 addresses (an IPv4 pool can
/// never exceed it; an IPv6 pool larger than a /96 is refused), which keeps
/// every slot number below 2^48 and the arithmetic in 64 bits for the eBPF
/// implementation.
pub const MAX_POOL_ADDRESSES: u64 = 1 << 32;

/// Why a compiled pool cannot back an allocator.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PoolError {
    /// The pool has no address.
    #[error("source pool has no address")]
    Empty,
    /// More than [`MAX_POOL_ADDRESSES`] addresses.
    #[error("source pool has {addresses} addresses; at most 2^32 are supported")]
    TooLarge {
        /// Addresses in the pool.
        addresses: u128,
    },
    /// `low > high`.
    #[error("source pool port range {0} is empty")]
    InvalidPortRange(PortRange),
    /// Ranges of both families, or a range whose ends differ in family.
    #[error("source pool mixes IPv4 and IPv6 addresses")]
    MixedFamilies,
}

/// Addresses and ports of a pool, numbered.
#[derive(Clone, PartialEq, Eq)]
pub struct PoolLayout {
    family: AddressFamily,
    /// Inclusive ranges as integers, sorted, non-overlapping.
    ranges: Vec<(u128, u128)>,
    /// `starts[i]`: address index of the first address of `ranges[i]`.
    starts: Vec<u64>,
    addresses: u64,
    port_low: u16,
    ports: u32,
}

impl fmt::Debug for PoolLayout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolLayout")
            .field("family", &self.family)
            .field("addresses", &self.addresses)
            .field("port_low", &self.port_low)
            .field("ports", &self.ports)
            .finish()
    }
}

fn to_u128(addr: IpAddr) -> u128 {
    match addr {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

impl PoolLayout {
    /// Lays out inclusive address ranges (sorted and merged here) and a port range.
    pub fn new(ranges: &[(IpAddr, IpAddr)], ports: PortRange) -> Result<Self, PoolError> {
        if !ports.is_valid() {
            return Err(PoolError::InvalidPortRange(ports));
        }
        let family = match ranges.first() {
            None => return Err(PoolError::Empty),
            Some((IpAddr::V4(_), _)) => AddressFamily::Inet,
            Some((IpAddr::V6(_), _)) => AddressFamily::Inet6,
        };
        let mut raw = Vec::with_capacity(ranges.len());
        for &(a, b) in ranges {
            if a.is_ipv4() != b.is_ipv4() || a.is_ipv4() != (family == AddressFamily::Inet) {
                return Err(PoolError::MixedFamilies);
            }
            let (a, b) = (to_u128(a), to_u128(b));
            raw.push((a.min(b), a.max(b)));
        }
        raw.sort_unstable();
        let mut merged: Vec<(u128, u128)> = Vec::with_capacity(raw.len());
        for (a, b) in raw {
            match merged.last_mut() {
                Some(last) if a <= last.1.saturating_add(1) => last.1 = last.1.max(b),
                _ => merged.push((a, b)),
            }
        }
        let mut starts = Vec::with_capacity(merged.len());
        let mut total: u128 = 0;
        for &(a, b) in &merged {
            starts.push(u64::try_from(total).unwrap_or(u64::MAX));
            total = total.saturating_add(b - a + 1);
        }
        if total > u128::from(MAX_POOL_ADDRESSES) {
            return Err(PoolError::TooLarge { addresses: total });
        }
        Ok(Self {
            family,
            ranges: merged,
            starts,
            addresses: total as u64,
            port_low: ports.low,
            ports: ports.len(),
        })
    }

    /// The layout of a compiled pool.
    pub fn from_compiled(pool: &CompiledSourcePool) -> Result<Self, PoolError> {
        Self::new(&pool.ranges, pool.port_range)
    }

    /// Address family.
    pub fn family(&self) -> AddressFamily {
        self.family
    }

    /// `A`: number of addresses.
    pub fn address_count(&self) -> u64 {
        self.addresses
    }

    /// `P`: number of ports per address.
    pub fn port_count(&self) -> u32 {
        self.ports
    }

    /// `S = A * P`: number of (address, port) slots per protocol.
    pub fn slot_count(&self) -> u64 {
        self.addresses * u64::from(self.ports)
    }

    /// The port at `offset` (`low + offset`).
    #[inline]
    pub fn port(&self, offset: u32) -> u16 {
        (u32::from(self.port_low) + offset) as u16
    }

    /// The offset of `port`, if inside the range.
    #[inline]
    pub fn port_offset(&self, port: u16) -> Option<u32> {
        let off = u32::from(port).checked_sub(u32::from(self.port_low))?;
        (off < self.ports).then_some(off)
    }

    /// The address at `index` (`index < A`).
    pub fn address(&self, index: u32) -> IpAddr {
        let index = u64::from(index);
        let r = self.starts.partition_point(|&s| s <= index) - 1;
        let value = self.ranges[r].0 + u128::from(index - self.starts[r]);
        match self.family {
            AddressFamily::Inet => IpAddr::V4(Ipv4Addr::from(value as u32)),
            AddressFamily::Inet6 => IpAddr::V6(Ipv6Addr::from(value)),
        }
    }

    /// The index of `addr`, if it is a pool address.
    pub fn index_of(&self, addr: IpAddr) -> Option<u32> {
        let fam_ok = matches!(
            (addr, self.family),
            (IpAddr::V4(_), AddressFamily::Inet) | (IpAddr::V6(_), AddressFamily::Inet6)
        );
        if !fam_ok {
            return None;
        }
        let v = to_u128(addr);
        let r = self
            .ranges
            .partition_point(|&(a, _)| a <= v)
            .checked_sub(1)?;
        let (a, b) = self.ranges[r];
        (v <= b).then(|| (self.starts[r] + (v - a) as u64) as u32)
    }

    /// Checks that `addr` has the pool's family.
    pub fn check_family(&self, addr: IpAddr) -> Result<(), NatError> {
        match (addr, self.family) {
            (IpAddr::V4(_), AddressFamily::Inet) | (IpAddr::V6(_), AddressFamily::Inet6) => Ok(()),
            _ => Err(NatError::FamilyMismatch),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn addresses_are_numbered_across_ranges() {
        let l = PoolLayout::new(
            &[
                (ip("198.18.1.10"), ip("198.18.1.11")),
                (ip("198.18.0.1"), ip("198.18.0.3")),
                (ip("198.18.0.4"), ip("198.18.0.4")),
            ],
            PortRange::new(1024, 1027),
        )
        .unwrap();
        assert_eq!(l.address_count(), 6);
        assert_eq!(l.slot_count(), 24);
        let all: Vec<_> = (0..6).map(|i| l.address(i)).collect();
        assert_eq!(
            all,
            [
                "198.18.0.1",
                "198.18.0.2",
                "198.18.0.3",
                "198.18.0.4",
                "198.18.1.10",
                "198.18.1.11"
            ]
            .map(ip)
        );
        for (i, a) in all.iter().enumerate() {
            assert_eq!(l.index_of(*a), Some(i as u32));
        }
        assert_eq!(l.index_of(ip("198.18.0.5")), None);
        assert_eq!(l.index_of(ip("198.18.0.0")), None);
        assert_eq!(l.index_of(ip("2001:db8::1")), None);
        assert_eq!(l.port_offset(1027), Some(3));
        assert_eq!(l.port_offset(1028), None);
        assert_eq!(l.port_offset(80), None);
    }

    #[test]
    fn oversized_and_malformed_pools_are_refused() {
        assert_eq!(PoolLayout::new(&[], PortRange::ANY), Err(PoolError::Empty));
        assert!(matches!(
            PoolLayout::new(
                &[(ip("2001:db8::"), ip("2001:db8::ffff:ffff:ffff"))],
                PortRange::ANY
            ),
            Err(PoolError::TooLarge { .. })
        ));
        assert_eq!(
            PoolLayout::new(&[(ip("198.18.0.1"), ip("2001:db8::1"))], PortRange::ANY),
            Err(PoolError::MixedFamilies)
        );
        assert!(PoolLayout::new(&[(ip("0.0.0.0"), ip("255.255.255.255"))], PortRange::ANY).is_ok());
    }
}
