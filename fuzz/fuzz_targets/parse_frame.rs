//! Fuzz target: the frame parser, then every rewrite and builder on what
//! it accepts.
//!
//! Oracles (besides "no panic"):
//! - a rewrite either fails and leaves the frame unchanged, or leaves a
//!   frame that re-parses to exactly the `ParsedFrame` it updated;
//! - VLAN push then pop restores the frame;
//! - the TCP RST and ICMP error builders produce frames that parse.
//!
//! Rewrite values are drawn from a hash of the input, so every input runs
//! one deterministic sequence.

#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use libfuzzer_sys::fuzz_target;
use xpf_engine::wire::{self, EmbeddedRewrite, IcmpErrorKind, MacAddr, ParsedFrame, RewriteError};
use xpf_runtime::AddressFamily;

/// A small deterministic generator seeded from the input (FNV-1a, then
/// xorshift).
struct Values(u64);

impl Values {
    fn new(data: &[u8]) -> Self {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in data {
            h = (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
        Self(h | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn u16(&mut self) -> u16 {
        self.next() as u16
    }

    fn addr(&mut self, family: AddressFamily) -> IpAddr {
        match family {
            AddressFamily::Inet => IpAddr::V4(Ipv4Addr::from(self.next() as u32)),
            AddressFamily::Inet6 => IpAddr::V6(Ipv6Addr::from(
                u128::from(self.next()) << 64 | u128::from(self.next()),
            )),
        }
    }

    fn mac(&mut self) -> MacAddr {
        let b = self.next().to_be_bytes();
        MacAddr([b[0], b[1], b[2], b[3], b[4], b[5]])
    }
}

/// Runs one rewrite and checks its oracle.
fn check(
    frame: &mut Vec<u8>,
    parsed: &mut ParsedFrame,
    rewrite: impl FnOnce(&mut Vec<u8>, &mut ParsedFrame) -> Result<(), RewriteError>,
) {
    let before = frame.clone();
    match rewrite(frame, parsed) {
        Ok(()) => assert_eq!(
            wire::parse_frame(frame),
            Ok(*parsed),
            "re-parse after rewrite"
        ),
        Err(_) => assert_eq!(*frame, before, "a failed rewrite changed the frame"),
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(mut parsed) = wire::parse_frame(data) else {
        return;
    };
    let mut values = Values::new(data);
    let family = parsed.family;

    if let Ok(rst) = wire::build_tcp_rst(&parsed, data) {
        wire::parse_frame(&rst).expect("the RST parses");
    }
    let source = values.addr(family);
    let kinds = [
        IcmpErrorKind::AdminProhibited,
        IcmpErrorKind::TimeExceeded,
        IcmpErrorKind::PacketTooBig { mtu: values.u16() },
    ];
    for kind in kinds {
        if let Ok(error) = wire::build_icmp_error(kind, &parsed, data, source) {
            wire::parse_frame(&error).expect("the ICMP error parses");
        }
    }

    let mut frame = data.to_vec();
    let (a, b) = (values.addr(family), values.addr(family));
    check(&mut frame, &mut parsed, |f, p| wire::set_src_addr(f, p, a));
    check(&mut frame, &mut parsed, |f, p| wire::set_dst_addr(f, p, b));
    let (sport, dport, mss) = (values.u16(), values.u16(), values.u16());
    check(&mut frame, &mut parsed, |f, p| {
        wire::set_src_port(f, p, sport)
    });
    check(&mut frame, &mut parsed, |f, p| {
        wire::set_dst_port(f, p, dport)
    });
    check(&mut frame, &mut parsed, |f, p| {
        wire::decrement_ttl(f, p).map(|_| ())
    });
    check(&mut frame, &mut parsed, |f, p| {
        wire::clamp_tcp_mss(f, p, mss).map(|_| ())
    });
    let (src_mac, dst_mac) = (values.mac(), values.mac());
    check(&mut frame, &mut parsed, |f, p| {
        wire::set_macs(f, p, src_mac, dst_mac)
    });
    let embedded = EmbeddedRewrite {
        src: Some(values.addr(family)),
        dst: Some(values.addr(family)),
        src_port: Some(values.u16()),
        dst_port: Some(values.u16()),
    };
    check(&mut frame, &mut parsed, |f, p| {
        wire::rewrite_icmp_embedded(f, p, &embedded)
    });
    let address_only = EmbeddedRewrite {
        src: Some(values.addr(family)),
        ..Default::default()
    };
    check(&mut frame, &mut parsed, |f, p| {
        wire::rewrite_icmp_embedded(f, p, &address_only)
    });

    let rewritten = frame.clone();
    if wire::push_vlan(&mut frame, values.u16() % 4095).is_ok() {
        assert_eq!(wire::pop_vlan(&mut frame).map(|_| ()), Ok(()));
        assert_eq!(frame, rewritten, "push then pop restores the frame");
    }
});
