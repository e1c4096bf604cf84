//! Unit tests, starting with the worked example of `docs/nat-allocation.md`:
//! every number printed there is asserted here.

use super::*;
use xpf_dataplane::config::PortRange;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// The example pool: 198.18.100.1-198.18.100.2 (A = 2), ports 1024-1027
/// (P = 4), so S = 8 slots per protocol.
fn example_pool(mode: PoolMode) -> SourcePool {
    let layout = PoolLayout::new(
        &[(ip("198.18.100.1"), ip("198.18.100.2"))],
        PortRange::new(1024, 1027),
    )
    .unwrap();
    SourcePool::new(NatPoolId(1), layout, mode)
}

const PAT: PoolMode = PoolMode {
    port_overload: true,
    persistent: false,
    address_persistent: false,
};

/// TCP from 198.18.0.`host`:40000 to 198.19.0.1:443.
fn example_request(host: u8) -> FlowRequest {
    FlowRequest {
        src: ip(&format!("198.18.0.{host}")),
        src_port: 40000,
        protocol: IpProtocol::TCP,
        dst: ip("198.19.0.1"),
        dst_port: 443,
    }
}

fn public(m: &SourceMapping) -> (IpAddr, u16) {
    (m.public_addr, m.public_port)
}

#[test]
fn worked_example_hashes() {
    let r = example_request(10);
    assert_eq!(
        fnv1a64(&[198, 18, 0, 10, 0x9c, 0x40, 6, 198, 19, 0, 1, 0x01, 0xbb]),
        0x7a70_cc57_5530_e273
    );
    assert_eq!(
        flow_hash(r.src, r.src_port, r.protocol, r.dst, r.dst_port),
        0x896e_9379_768d_fee2
    );
    let starts: Vec<u64> = [10, 12, 13, 16, 17, 18]
        .map(|h| {
            let r = example_request(h);
            flow_hash(r.src, r.src_port, r.protocol, r.dst, r.dst_port) % 8
        })
        .to_vec();
    assert_eq!(starts, vec![2, 2, 1, 7, 7, 7]);
    assert_eq!(host_hash(ip("198.18.0.10")), 0xf6bf_2dc2_d8e2_d050);
    assert_eq!(host_hash(ip("198.18.0.12")) % 2, 1);
    assert_eq!(
        endpoint_hash(ip("198.18.0.10"), 40000, IpProtocol::TCP),
        0xac3e_28a9_c6a7_4df8
    );
}

#[test]
fn worked_example_port_overload() {
    let mut pool = example_pool(PAT);
    let mut got = Vec::new();
    for host in [10, 12, 13, 16, 17] {
        got.push(pool.allocate(&example_request(host)).unwrap());
    }
    assert_eq!(
        got.iter().map(public).collect::<Vec<_>>(),
        vec![
            (ip("198.18.100.1"), 1026), // .10: start slot 2, free
            (ip("198.18.100.1"), 1027), // .12: start slot 2 taken -> 3
            (ip("198.18.100.1"), 1025), // .13: start slot 1, free
            (ip("198.18.100.2"), 1027), // .16: start slot 7, free
            (ip("198.18.100.1"), 1024), // .17: slot 7 taken -> wraps to 0
        ]
    );
    assert_eq!(pool.ports_in_use(), 5);
    assert_eq!(pool.addresses_in_use(), 2);
    pool.release(&got[0]).unwrap();
    // .18 starts at 7: 7, 0 and 1 are taken, 2 was just released.
    let m = pool.allocate(&example_request(18)).unwrap();
    assert_eq!(public(&m), (ip("198.18.100.1"), 1026));
    assert_eq!(pool.ports_in_use(), 5);
}

#[test]
fn worked_example_address_persistence() {
    let mut pool = example_pool(PoolMode {
        address_persistent: true,
        ..PAT
    });
    // .10: host_hash mod 2 = 0 -> 198.18.100.1; flow_hash mod 4 = 2 -> 1026.
    let a = pool.allocate(&example_request(10)).unwrap();
    assert_eq!(public(&a), (ip("198.18.100.1"), 1026));
    // .12: host_hash mod 2 = 1 -> 198.18.100.2; flow_hash mod 4 = 2 -> 1026.
    let b = pool.allocate(&example_request(12)).unwrap();
    assert_eq!(public(&b), (ip("198.18.100.2"), 1026));
    // .10 again from other ports: always 198.18.100.1, until its 4 ports run out.
    let mut more = vec![a];
    for sport in 1..=3 {
        let m = pool
            .allocate(&FlowRequest {
                src_port: sport,
                ..example_request(10)
            })
            .unwrap();
        assert_eq!(m.public_addr, ip("198.18.100.1"));
        more.push(m);
    }
    assert_eq!(
        pool.allocate(&FlowRequest {
            src_port: 4,
            ..example_request(10)
        }),
        Err(NatError::PoolExhausted),
        "198.18.100.2 has free ports, but address persistence never spills over"
    );
    assert_eq!(
        pool.host_address(ip("198.18.0.10")),
        Some(ip("198.18.100.1"))
    );
    for m in &more {
        pool.release(m).unwrap();
    }
    assert_eq!(pool.host_address(ip("198.18.0.10")), None);
}

#[test]
fn worked_example_persistent_nat() {
    let mut pool = example_pool(PoolMode {
        persistent: true,
        ..PAT
    });
    // endpoint_hash mod 8 = 0 -> slot 0 -> 198.18.100.1:1024, whatever the destination.
    let first = pool.allocate(&example_request(10)).unwrap();
    let second = pool
        .allocate(&FlowRequest {
            dst: ip("198.19.9.9"),
            dst_port: 53,
            ..example_request(10)
        })
        .unwrap();
    assert_eq!(public(&first), (ip("198.18.100.1"), 1024));
    assert_eq!(first, second);
    assert_eq!(pool.ports_in_use(), 1);
    let inbound = pool.persistent_mapping_for(ip("198.18.100.1"), 1024, IpProtocol::TCP);
    assert_eq!(inbound, Some((ip("198.18.0.10"), 40000)));
    assert_eq!(
        pool.persistent_mapping_for(ip("198.18.100.1"), 1024, IpProtocol::UDP),
        None
    );
    pool.release(&first).unwrap();
    assert!(
        pool.persistent_mapping_for(ip("198.18.100.1"), 1024, IpProtocol::TCP)
            .is_some()
    );
    pool.release(&second).unwrap();
    assert_eq!(
        pool.persistent_mapping_for(ip("198.18.100.1"), 1024, IpProtocol::TCP),
        None
    );
    assert_eq!(pool.ports_in_use(), 0);
    assert_eq!(pool.release(&second), Err(NatError::NotAllocated));
}

#[test]
fn worked_example_address_only() {
    let mut pool = example_pool(PoolMode::default());
    // .10 hashes to index 0; .11 too, finds it held and takes index 1.
    let a = pool.allocate(&example_request(10)).unwrap();
    let b = pool.allocate(&example_request(11)).unwrap();
    assert_eq!(public(&a), (ip("198.18.100.1"), 40000));
    assert_eq!(public(&b), (ip("198.18.100.2"), 40000));
    // A second flow of .10 (any protocol) shares its address.
    let a2 = pool
        .allocate(&FlowRequest {
            protocol: IpProtocol::UDP,
            src_port: 5353,
            ..example_request(10)
        })
        .unwrap();
    assert_eq!(a2.public_addr, ip("198.18.100.1"));
    assert_eq!(
        pool.allocate(&example_request(12)),
        Err(NatError::PoolExhausted)
    );
    assert_eq!((pool.addresses_in_use(), pool.ports_in_use()), (2, 0));
    pool.release(&b).unwrap();
    assert_eq!(
        public(&pool.allocate(&example_request(12)).unwrap()),
        (ip("198.18.100.2"), 40000)
    );
}

#[test]
fn icmp_identifiers_are_allocated_like_ports() {
    let mut pool = example_pool(PAT);
    let echo = FlowRequest {
        src: ip("198.18.0.10"),
        src_port: 7,
        protocol: IpProtocol::ICMP,
        dst: ip("198.19.0.1"),
        dst_port: 7,
    };
    assert_eq!(pool.translation(IpProtocol::ICMP), Translation::PortSlot);
    let m = pool.allocate(&echo).unwrap();
    assert!((1024..=1027).contains(&m.public_port));
    // A TCP flow and an ICMP query never compete for slots.
    for host in 10..18 {
        pool.allocate(&example_request(host)).unwrap();
    }
    assert_eq!(pool.ports_in_use(), 9);
    assert_eq!(
        pool.allocate(&example_request(18)),
        Err(NatError::PoolExhausted)
    );
}

#[test]
fn portless_protocols_hold_an_address_per_host_and_protocol() {
    let mut pool = example_pool(PAT);
    let gre = |host: u8| FlowRequest {
        src: ip(&format!("198.18.0.{host}")),
        src_port: 0,
        protocol: IpProtocol::GRE,
        dst: ip("198.19.0.1"),
        dst_port: 0,
    };
    assert_eq!(
        pool.translation(IpProtocol::GRE),
        Translation::AddressHold {
            protocol: Some(IpProtocol::GRE)
        }
    );
    let a = pool.allocate(&gre(10)).unwrap();
    let b = pool.allocate(&gre(11)).unwrap();
    assert_ne!(a.public_addr, b.public_addr);
    assert_eq!(pool.allocate(&gre(12)), Err(NatError::PoolExhausted));
    // ESP is another protocol: its own holds.
    let esp = FlowRequest {
        protocol: IpProtocol::ESP,
        ..gre(12)
    };
    assert!(pool.allocate(&esp).is_ok());
    // TCP slots are unaffected by the holds.
    assert!(pool.allocate(&example_request(12)).is_ok());
}

#[test]
fn interface_pool_is_one_address_with_the_default_ports() {
    let mut pool = SourcePool::interface(ip("198.18.200.1"));
    assert_eq!(pool.id(), NatPoolId::NONE);
    assert_eq!(pool.layout().address_count(), 1);
    assert_eq!(pool.layout().port_count(), 64512);
    let m = pool.allocate(&example_request(10)).unwrap();
    assert_eq!(m.public_addr, ip("198.18.200.1"));
    assert!(m.public_port >= 1024);
}

#[test]
fn release_rejects_what_was_not_allocated_and_changes_nothing() {
    let mut pool = example_pool(PAT);
    let m = pool.allocate(&example_request(10)).unwrap();
    let mut wrong = m;
    wrong.public_port = if m.public_port == 1024 { 1025 } else { 1024 };
    assert_eq!(pool.release(&wrong), Err(NatError::NotAllocated));
    wrong.public_addr = ip("198.18.99.1");
    assert_eq!(pool.release(&wrong), Err(NatError::NotAllocated));
    let v6 = SourceMapping {
        internal_addr: ip("2001:db8::1"),
        ..m
    };
    assert_eq!(pool.release(&v6), Err(NatError::FamilyMismatch));
    assert_eq!(pool.ports_in_use(), 1);
    pool.release(&m).unwrap();
    assert_eq!(pool.release(&m), Err(NatError::NotAllocated));
    assert_eq!((pool.ports_in_use(), pool.addresses_in_use()), (0, 0));
}

#[test]
fn install_claims_synced_mappings_and_refuses_conflicts() {
    let mut primary = example_pool(PAT);
    let mut standby = example_pool(PAT);
    let m = primary.allocate(&example_request(10)).unwrap();
    standby.install(&m).unwrap();
    assert_eq!(standby.install(&m), Err(NatError::Conflict));
    // Both nodes now continue identically.
    assert_eq!(
        primary.allocate(&example_request(12)),
        standby.allocate(&example_request(12))
    );
    let outside = SourceMapping {
        public_port: 80,
        ..m
    };
    assert_eq!(standby.install(&outside), Err(NatError::NotAllocated));
}

#[test]
fn source_nat_table_routes_to_pools_and_interfaces() {
    use xpf_dataplane::compile::{CompiledNat, CompiledSourcePool};
    let nat = CompiledNat {
        source_pools: vec![CompiledSourcePool {
            id: NatPoolId(2),
            name: "p".into(),
            family: xpf_runtime::AddressFamily::Inet,
            ranges: vec![(ip("198.18.100.1"), ip("198.18.100.2"))],
            address_count: 2,
            port_range: PortRange::new(1024, 1027),
            port_overload: xpf_dataplane::config::PortOverload::On,
            persistent: false,
            address_persistent: false,
        }],
        ..CompiledNat::default()
    };
    let mut snat = SourceNat::from_compiled(&nat).unwrap();
    let m = snat
        .allocate(SnatTarget::Pool(NatPoolId(2)), &example_request(10))
        .unwrap();
    assert_eq!(public(&m), (ip("198.18.100.1"), 1026));
    assert_eq!(snat.ports_in_use(NatPoolId(2)), 1);
    assert_eq!(
        snat.allocate(SnatTarget::Pool(NatPoolId(9)), &example_request(10)),
        Err(NatError::UnknownPool(NatPoolId(9)))
    );
    let egress = ip("198.18.200.1");
    let i = snat
        .allocate(SnatTarget::Interface(egress), &example_request(10))
        .unwrap();
    let target = SnatTarget::of_session(NatPoolId::NONE, i.public_addr);
    assert_eq!(target, SnatTarget::Interface(egress));
    assert!(snat.interface(egress).is_some());
    snat.release(target, &i).unwrap();
    assert!(
        snat.interface(egress).is_none(),
        "empty interface allocators are dropped"
    );
    snat.release(SnatTarget::of_session(NatPoolId(2), m.public_addr), &m)
        .unwrap();
    assert_eq!(snat.ports_in_use(NatPoolId(2)), 0);
}
