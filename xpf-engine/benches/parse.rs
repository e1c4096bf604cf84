//! Frame parsing and NAT rewrite benchmarks.
//!
//! - `parse/tcp_ipv4_64B`: a 64-byte Ethernet + IPv4 + TCP frame (10 bytes
//!   of payload), the minimum-size case of a forwarding path.
//! - `parse/vlan_ipv6_ext_udp`: 802.1Q + IPv6 with hop-by-hop and
//!   destination options headers + UDP.
//! - `nat/{incremental,recompute}/{64,1500}`: source NAT of a TCP/IPv4
//!   frame (address and port). `incremental` is `wire::set_src_addr` +
//!   `wire::set_src_port` (RFC 1624 updates); `recompute` is the baseline
//!   that writes the same fields and recomputes the IPv4 header and TCP
//!   checksums from scratch, measured in the same run.
//!
//! Fixtures are built with etherparse. Run with
//! `cargo bench -p xpf-engine --bench parse`.

// `criterion_group!` generates undocumented public functions.
#![allow(missing_docs)]

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use etherparse::{
    IpHeaders, IpNumber, Ipv6Extensions, Ipv6FlowLabel, Ipv6Header, Ipv6RawExtHeader,
    PacketBuilder, VlanId,
};
use xpf_engine::checksum;
use xpf_engine::wire;

const CLIENT_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0a];
const FIREWALL_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0f];

/// Ethernet + IPv4 (198.18.0.1 → 198.19.0.1) + TCP ACK with `payload_len`
/// bytes, 14 + 20 + 20 + payload bytes long.
fn tcp_ipv4(payload_len: usize) -> Vec<u8> {
    let builder = PacketBuilder::ethernet2(CLIENT_MAC, FIREWALL_MAC)
        .ipv4([198, 18, 0, 1], [198, 19, 0, 1], 64)
        .tcp(40000, 443, 1_000_000, 65535)
        .ack(2_000_000);
    let mut out = Vec::with_capacity(builder.size(payload_len));
    builder.write(&mut out, &vec![0x5a; payload_len]).unwrap();
    out
}

/// 802.1Q VLAN 100 + IPv6 (2001:db8::1 → 2001:db8::2) with hop-by-hop and
/// destination options headers (8 bytes each, PadN) + UDP with 32 bytes.
fn vlan_ipv6_ext_udp() -> Vec<u8> {
    let pad = || Ipv6RawExtHeader::new_raw(IpNumber(0), &[1, 4, 0, 0, 0, 0]).unwrap();
    let mut src = [0u8; 16];
    src[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
    let mut dst = src;
    src[15] = 1;
    dst[15] = 2;
    let header = Ipv6Header {
        traffic_class: 0,
        flow_label: Ipv6FlowLabel::ZERO,
        payload_length: 0,
        next_header: IpNumber::UDP,
        hop_limit: 64,
        source: src,
        destination: dst,
    };
    let exts = Ipv6Extensions {
        hop_by_hop_options: Some(pad()),
        destination_options: Some(pad()),
        ..Default::default()
    };
    let mut out = Vec::new();
    PacketBuilder::ethernet2(CLIENT_MAC, FIREWALL_MAC)
        .single_vlan(VlanId::try_new(100).unwrap())
        .ip(IpHeaders::Ipv6(header, exts))
        .udp(5353, 53)
        .write(&mut out, &[0x11; 32])
        .unwrap();
    out
}

fn parse(c: &mut Criterion) {
    let mut group = c.benchmark_group("parse");
    group.throughput(Throughput::Elements(1));
    let tcp = tcp_ipv4(10);
    assert_eq!(tcp.len(), 64);
    group.bench_function("tcp_ipv4_64B", |b| {
        b.iter(|| wire::parse_frame(black_box(&tcp)).unwrap())
    });
    let udp = vlan_ipv6_ext_udp();
    group.bench_function("vlan_ipv6_ext_udp", |b| {
        b.iter(|| wire::parse_frame(black_box(&udp)).unwrap())
    });
    group.finish();
}

/// The two translations the benchmarks alternate between, so that every
/// iteration really changes the frame.
const NAT: [(Ipv4Addr, u16); 2] = [
    (Ipv4Addr::new(198, 18, 200, 7), 20001),
    (Ipv4Addr::new(198, 18, 0, 1), 40000),
];

/// The baseline: write the source address and port, then recompute the
/// IPv4 header checksum and the TCP checksum from scratch.
fn nat_by_recompute(buf: &mut [u8], parsed: &wire::ParsedFrame, addr: Ipv4Addr, port: u16) {
    let (l3, l4, end) = (parsed.l3_offset, parsed.l4_offset.unwrap(), parsed.l3_end());
    buf[l3 + 12..l3 + 16].copy_from_slice(&addr.octets());
    buf[l4..l4 + 2].copy_from_slice(&port.to_be_bytes());
    let ip_csum = checksum::ipv4_header_checksum(&buf[l3..l4]);
    buf[l3 + 10..l3 + 12].copy_from_slice(&ip_csum.to_be_bytes());
    let tcp_csum = checksum::tcp_checksum(IpAddr::V4(addr), parsed.dst, &buf[l4..end]);
    buf[l4 + 16..l4 + 18].copy_from_slice(&tcp_csum.to_be_bytes());
}

fn nat(c: &mut Criterion) {
    let mut group = c.benchmark_group("nat");
    group.throughput(Throughput::Elements(1));
    for payload in [10usize, 1446] {
        let frame = tcp_ipv4(payload);
        let size = frame.len();
        let parsed = wire::parse_frame(&frame).unwrap();

        // Both paths produce the same bytes for the same translation.
        let (addr, port) = NAT[0];
        let mut a = frame.clone();
        let mut pa = parsed;
        wire::set_src_addr(&mut a, &mut pa, IpAddr::V4(addr)).unwrap();
        wire::set_src_port(&mut a, &mut pa, port).unwrap();
        let mut b = frame.clone();
        nat_by_recompute(&mut b, &parsed, addr, port);
        assert_eq!(a, b);

        let mut buf = frame.clone();
        let mut p = parsed;
        let mut i = 0;
        group.bench_function(format!("incremental/{size}"), |b| {
            b.iter(|| {
                let (addr, port) = NAT[i & 1];
                i += 1;
                wire::set_src_addr(black_box(&mut buf), &mut p, IpAddr::V4(addr)).unwrap();
                wire::set_src_port(black_box(&mut buf), &mut p, port).unwrap();
            })
        });
        assert_eq!(p.verify_l4_checksum(&buf), Some(true));

        let mut buf = frame.clone();
        let mut i = 0;
        group.bench_function(format!("recompute/{size}"), |b| {
            b.iter(|| {
                let (addr, port) = NAT[i & 1];
                i += 1;
                nat_by_recompute(black_box(&mut buf), &parsed, addr, port);
            })
        });
        let check = wire::parse_frame(&buf).unwrap();
        assert_eq!(check.verify_l4_checksum(&buf), Some(true));
    }
    group.finish();
}

criterion_group!(benches, parse, nat);
criterion_main!(benches);
