//! NAT rule selection for a first packet: which static, destination and
//! source rule applies. (Address and port *allocation* is in [`crate::nat`].)
//!
//! Order, as on an SRX (and in the reference model):
//!
//! 1. **Static NAT, inbound**: the first static rule whose `from` context
//!    holds the ingress zone/interface and whose public prefix contains the
//!    destination translates the destination to the private address.
//! 2. **Destination NAT** (only when static NAT did not translate): the
//!    first destination rule whose `from` context and match hold decides;
//!    `off` stops the search without translating.
//! 3. Route lookup and policy use the translated destination.
//! 4. **Static NAT, outbound**: a source inside a static rule's private
//!    prefix is translated to its public address (any context).
//! 5. **Source NAT** (only when static NAT did not translate the source):
//!    the first source rule whose `from` and `to` contexts and match hold
//!    decides: interface, pool, or `off`.

use std::net::IpAddr;
use xpf_dataplane::compile::{
    CompiledDestinationPool, CompiledDestinationRule, CompiledNat, CompiledSourceRule,
    CompiledStaticRule,
};
use xpf_runtime::{InterfaceId, IpProtocol, ZoneId};

/// The first-packet facts NAT rules match on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NatInput {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// Protocol.
    pub protocol: IpProtocol,
    /// Source port (0 when none).
    pub src_port: u16,
    /// Destination port (0 when none).
    pub dst_port: u16,
}

/// A destination translation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DestinationTranslation<'a> {
    /// New destination address.
    pub address: IpAddr,
    /// New destination port (unchanged when `None`).
    pub port: Option<u16>,
    /// The static or destination rule.
    pub rule: xpf_runtime::NatRuleId,
    /// True for static NAT.
    pub is_static: bool,
    /// The destination pool, for destination NAT.
    pub pool: Option<&'a CompiledDestinationPool>,
}

/// NAT rules of one config generation.
#[derive(Clone, Debug, Default)]
pub struct NatRules {
    nat: CompiledNat,
}

impl NatRules {
    /// Lowers the compiled NAT section.
    pub fn new(nat: &CompiledNat) -> Self {
        Self { nat: nat.clone() }
    }

    /// The compiled NAT section.
    pub fn compiled(&self) -> &CompiledNat {
        &self.nat
    }

    /// Steps 1 and 2: the destination translation for a first packet
    /// arriving in `zone` on `interface`, if any.
    pub fn destination(
        &self,
        zone: ZoneId,
        interface: InterfaceId,
        p: &NatInput,
    ) -> Option<DestinationTranslation<'_>> {
        if let Some((rule, address)) = self.static_inbound(zone, interface, p.dst) {
            return Some(DestinationTranslation {
                address,
                port: None,
                rule: rule.id,
                is_static: true,
                pool: None,
            });
        }
        let rule: &CompiledDestinationRule = self.nat.destination_rules.iter().find(|r| {
            r.from.matches(zone, interface)
                && r.matches
                    .matches(p.src, p.dst, p.protocol, p.src_port, p.dst_port)
        })?;
        let pool = self
            .nat
            .destination_pools
            .iter()
            .find(|pool| Some(pool.id) == rule.pool)?;
        Some(DestinationTranslation {
            address: pool.address,
            port: pool.port,
            rule: rule.id,
            is_static: false,
            pool: Some(pool),
        })
    }

    fn static_inbound(
        &self,
        zone: ZoneId,
        interface: InterfaceId,
        dst: IpAddr,
    ) -> Option<(&CompiledStaticRule, IpAddr)> {
        self.nat
            .static_rules
            .iter()
            .filter(|r| r.from.matches(zone, interface))
            .find_map(|r| r.to_private(dst).map(|a| (r, a)))
    }

    /// Step 4: the public address of a source inside a static rule's
    /// private prefix.
    pub fn static_outbound(&self, src: IpAddr) -> Option<(&CompiledStaticRule, IpAddr)> {
        self.nat
            .static_rules
            .iter()
            .find_map(|r| r.to_public(src).map(|a| (r, a)))
    }

    /// Step 5: the source rule for a first packet from (`from_zone`,
    /// `from_if`) to (`to_zone`, `to_if`). `None` when no rule matched.
    pub fn source(
        &self,
        from_zone: ZoneId,
        from_if: InterfaceId,
        to_zone: ZoneId,
        to_if: InterfaceId,
        p: &NatInput,
    ) -> Option<&CompiledSourceRule> {
        self.nat.source_rules.iter().find(|r| {
            r.from.matches(from_zone, from_if)
                && r.to.matches(to_zone, to_if)
                && r.matches
                    .matches(p.src, p.dst, p.protocol, p.src_port, p.dst_port)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use xpf_dataplane::Config;
    use xpf_dataplane::compile::{CompiledSourceAction, compile};

    fn rules() -> NatRules {
        let cfg = Config::from_path(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../examples/configs/dmz-dnat.toml"
        ))
        .unwrap();
        NatRules::new(&compile(&cfg).unwrap().nat)
    }

    fn input(src: &str, dst: &str, dport: u16) -> NatInput {
        NatInput {
            src: src.parse().unwrap(),
            dst: dst.parse().unwrap(),
            protocol: IpProtocol::TCP,
            src_port: 40000,
            dst_port: dport,
        }
    }

    #[test]
    fn port_forward_translates_address_and_port() {
        let r = rules();
        let untrust = ZoneId(1);
        let t = r
            .destination(
                untrust,
                InterfaceId(1),
                &input("198.19.200.7", "198.19.0.10", 443),
            )
            .expect("the https port forward matches");
        assert_eq!(t.address, "198.18.2.10".parse::<IpAddr>().unwrap());
        assert_eq!(t.port, Some(8443));
        assert!(!t.is_static);
        assert!(
            r.destination(
                untrust,
                InterfaceId(1),
                &input("198.19.200.7", "198.19.0.10", 22)
            )
            .is_none(),
            "other ports are not forwarded"
        );
    }

    #[test]
    fn static_nat_translates_both_ways() {
        let r = rules();
        let t = r
            .destination(
                ZoneId(1),
                InterfaceId(1),
                &input("198.19.200.7", "198.19.0.37", 80),
            )
            .unwrap();
        assert!(t.is_static);
        assert_eq!(t.address, "198.18.2.37".parse::<IpAddr>().unwrap());
        let (_, public) = r.static_outbound("198.18.2.37".parse().unwrap()).unwrap();
        assert_eq!(public, "198.19.0.37".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn first_source_rule_wins_and_off_exempts() {
        let r = rules();
        let (dmz, untrust) = (ZoneId(3), ZoneId(1));
        let mx = r
            .source(
                dmz,
                InterfaceId(3),
                untrust,
                InterfaceId(1),
                &input("198.18.2.25", "198.19.200.7", 25),
            )
            .unwrap();
        assert!(matches!(mx.action, CompiledSourceAction::Pool(_)));
        let farm = r
            .source(
                dmz,
                InterfaceId(3),
                untrust,
                InterfaceId(1),
                &input("198.18.2.40", "198.19.200.7", 80),
            )
            .unwrap();
        assert_eq!(farm.action, CompiledSourceAction::Off);
    }
}
