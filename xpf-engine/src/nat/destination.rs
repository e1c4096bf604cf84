//! Destination and static NAT: pure functions of the compiled rule.
//!
//! Neither allocates anything. Destination NAT rewrites to the pool's
//! address and, if the pool names one, its port (otherwise the port is
//! kept). Static NAT maps a whole prefix 1:1 keeping the host bits, in both
//! directions: inbound packets to the public prefix go to the private one,
//! and traffic the private hosts originate leaves from the public one.

use std::net::IpAddr;
use xpf_dataplane::compile::{CompiledDestinationPool, CompiledStaticRule};

/// Destination NAT through `pool`: the translated (address, port) of a
/// packet to port `dst_port`.
pub fn destination_translation(pool: &CompiledDestinationPool, dst_port: u16) -> (IpAddr, u16) {
    (pool.address, pool.port.unwrap_or(dst_port))
}

/// Static NAT inbound: the private address for public `dst`, if the rule covers it.
pub fn static_inbound(rule: &CompiledStaticRule, dst: IpAddr) -> Option<IpAddr> {
    rule.to_private(dst)
}

/// Static NAT outbound: the public address for private `src`, if the rule covers it.
pub fn static_outbound(rule: &CompiledStaticRule, src: IpAddr) -> Option<IpAddr> {
    rule.to_public(src)
}

#[cfg(test)]
mod tests {
    use super::*;
    use xpf_dataplane::compile::CompiledNatContext;
    use xpf_runtime::{NatPoolId, NatRuleId};

    #[test]
    fn destination_pool_port_is_optional() {
        let mut pool = CompiledDestinationPool {
            id: NatPoolId(3),
            name: "web".into(),
            address: "198.18.10.5".parse().unwrap(),
            port: Some(8080),
        };
        assert_eq!(
            destination_translation(&pool, 80),
            ("198.18.10.5".parse().unwrap(), 8080)
        );
        pool.port = None;
        assert_eq!(destination_translation(&pool, 80).1, 80);
    }

    #[test]
    fn static_nat_keeps_host_bits_both_ways() {
        let rule = CompiledStaticRule {
            id: NatRuleId(1),
            name: "s/r".into(),
            from: CompiledNatContext::default(),
            public: "198.19.1.0/24".parse().unwrap(),
            private: "198.18.1.0/24".parse().unwrap(),
        };
        let private = static_inbound(&rule, "198.19.1.77".parse().unwrap());
        assert_eq!(private, Some("198.18.1.77".parse().unwrap()));
        assert_eq!(
            static_outbound(&rule, private.unwrap()),
            Some("198.19.1.77".parse().unwrap())
        );
        assert_eq!(static_inbound(&rule, "198.19.2.1".parse().unwrap()), None);
    }
}
