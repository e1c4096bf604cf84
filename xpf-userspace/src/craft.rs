//! Building well-formed Ethernet frames — TCP, UDP and ICMP echo over IPv4
//! and IPv6, with correct checksums — for tests, the conformance harness
//! and the replay tool's trace generator. Not used on the packet path.

use std::net::IpAddr;

/// TCP flag bits.
pub mod tcp_flags {
    /// FIN.
    pub const FIN: u8 = 0x01;
    /// SYN.
    pub const SYN: u8 = 0x02;
    /// RST.
    pub const RST: u8 = 0x04;
    /// PSH.
    pub const PSH: u8 = 0x08;
    /// ACK.
    pub const ACK: u8 = 0x10;
}

/// The L2/L3 envelope of a frame: MACs, addresses, TTL, optional VLAN.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Envelope {
    /// Source MAC.
    pub src_mac: [u8; 6],
    /// Destination MAC.
    pub dst_mac: [u8; 6],
    /// Source address.
    pub src: IpAddr,
    /// Destination address (same family as `src`).
    pub dst: IpAddr,
    /// TTL / hop limit.
    pub ttl: u8,
    /// 802.1Q tag.
    pub vlan: Option<u16>,
    /// IPv4 identification.
    pub ip_id: u16,
}

impl Envelope {
    /// An untagged envelope with TTL 64.
    pub fn new(src_mac: [u8; 6], dst_mac: [u8; 6], src: IpAddr, dst: IpAddr) -> Self {
        Self {
            src_mac,
            dst_mac,
            src,
            dst,
            ttl: 64,
            vlan: None,
            ip_id: 1,
        }
    }

    /// A TCP segment (MSS option on SYNs).
    #[allow(clippy::too_many_arguments)]
    pub fn tcp(
        &self,
        sport: u16,
        dport: u16,
        flags: u8,
        seq: u32,
        ack: u32,
        window: u16,
        payload: &[u8],
    ) -> Vec<u8> {
        let options: &[u8] = if flags & tcp_flags::SYN != 0 {
            &[2, 4, 0x05, 0xb4] // MSS 1460
        } else {
            &[]
        };
        let hlen = 20 + options.len();
        let mut l4 = Vec::with_capacity(hlen + payload.len());
        l4.extend_from_slice(&sport.to_be_bytes());
        l4.extend_from_slice(&dport.to_be_bytes());
        l4.extend_from_slice(&seq.to_be_bytes());
        l4.extend_from_slice(&ack.to_be_bytes());
        l4.push(((hlen / 4) as u8) << 4);
        l4.push(flags);
        l4.extend_from_slice(&window.to_be_bytes());
        l4.extend_from_slice(&[0, 0, 0, 0]);
        l4.extend_from_slice(options);
        l4.extend_from_slice(payload);
        self.finish(6, l4, 16)
    }

    /// A UDP datagram.
    pub fn udp(&self, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
        let len = (8 + payload.len()) as u16;
        let mut l4 = Vec::with_capacity(len as usize);
        l4.extend_from_slice(&sport.to_be_bytes());
        l4.extend_from_slice(&dport.to_be_bytes());
        l4.extend_from_slice(&len.to_be_bytes());
        l4.extend_from_slice(&[0, 0]);
        l4.extend_from_slice(payload);
        self.finish(17, l4, 6)
    }

    /// An ICMP / ICMPv6 echo request (or reply).
    pub fn echo(&self, id: u16, seq: u16, reply: bool, payload: &[u8]) -> Vec<u8> {
        let v6 = self.src.is_ipv6();
        let ty = match (v6, reply) {
            (false, false) => 8,
            (false, true) => 0,
            (true, false) => 128,
            (true, true) => 129,
        };
        let mut l4 = vec![ty, 0, 0, 0];
        l4.extend_from_slice(&id.to_be_bytes());
        l4.extend_from_slice(&seq.to_be_bytes());
        l4.extend_from_slice(payload);
        if v6 {
            self.finish(58, l4, 2)
        } else {
            let c = checksum(0, &l4);
            l4[2..4].copy_from_slice(&c.to_be_bytes());
            self.ip(1, &l4)
        }
    }

    /// Fills the transport checksum at `csum_at` (pseudo-header included)
    /// and wraps the segment in IP and Ethernet.
    fn finish(&self, protocol: u8, mut l4: Vec<u8>, csum_at: usize) -> Vec<u8> {
        let mut pseudo = Vec::with_capacity(40);
        for a in [self.src, self.dst] {
            match a {
                IpAddr::V4(v) => pseudo.extend_from_slice(&v.octets()),
                IpAddr::V6(v) => pseudo.extend_from_slice(&v.octets()),
            }
        }
        if self.src.is_ipv6() {
            pseudo.extend_from_slice(&(l4.len() as u32).to_be_bytes());
            pseudo.extend_from_slice(&[0, 0, 0, protocol]);
        } else {
            pseudo.extend_from_slice(&[0, protocol]);
            pseudo.extend_from_slice(&(l4.len() as u16).to_be_bytes());
        }
        let mut c = checksum(sum(0, &pseudo), &l4);
        if protocol == 17 && c == 0 {
            c = 0xffff;
        }
        l4[csum_at..csum_at + 2].copy_from_slice(&c.to_be_bytes());
        self.ip(protocol, &l4)
    }

    /// IP header + payload inside an Ethernet frame.
    pub fn ip(&self, protocol: u8, payload: &[u8]) -> Vec<u8> {
        let mut f = self.ethernet(if self.src.is_ipv6() { 0x86dd } else { 0x0800 });
        match (self.src, self.dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                let total = (20 + payload.len()) as u16;
                let mut h = [0u8; 20];
                h[0] = 0x45;
                h[2..4].copy_from_slice(&total.to_be_bytes());
                h[4..6].copy_from_slice(&self.ip_id.to_be_bytes());
                h[6] = 0x40; // DF
                h[8] = self.ttl;
                h[9] = protocol;
                h[12..16].copy_from_slice(&s.octets());
                h[16..20].copy_from_slice(&d.octets());
                let c = checksum(0, &h);
                h[10..12].copy_from_slice(&c.to_be_bytes());
                f.extend_from_slice(&h);
            }
            (IpAddr::V6(s), IpAddr::V6(d)) => {
                let mut h = [0u8; 40];
                h[0] = 0x60;
                h[4..6].copy_from_slice(&(payload.len() as u16).to_be_bytes());
                h[6] = protocol;
                h[7] = self.ttl;
                h[8..24].copy_from_slice(&s.octets());
                h[24..40].copy_from_slice(&d.octets());
                f.extend_from_slice(&h);
            }
            _ => {}
        }
        f.extend_from_slice(payload);
        f
    }

    /// The Ethernet header (and tag) with `ethertype`.
    pub fn ethernet(&self, ethertype: u16) -> Vec<u8> {
        let mut f = Vec::with_capacity(1514);
        f.extend_from_slice(&self.dst_mac);
        f.extend_from_slice(&self.src_mac);
        if let Some(v) = self.vlan {
            f.extend_from_slice(&0x8100u16.to_be_bytes());
            f.extend_from_slice(&(v & 0x0fff).to_be_bytes());
        }
        f.extend_from_slice(&ethertype.to_be_bytes());
        f
    }
}

fn sum(mut acc: u32, data: &[u8]) -> u32 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        acc += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        acc += u32::from(*last) << 8;
    }
    acc
}

/// The Internet checksum (RFC 1071) of `data` on top of a partial sum.
pub fn checksum(partial: u32, data: &[u8]) -> u16 {
    let mut s = sum(partial, data);
    while s >> 16 != 0 {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

#[cfg(test)]
mod tests {
    use super::*;
    use xpf_engine::wire::parse_frame;

    #[test]
    fn built_frames_parse_and_verify() {
        let v4 = Envelope::new(
            [2, 0, 0, 0, 0, 1],
            [2, 0, 0, 0, 0, 2],
            "198.18.0.10".parse().unwrap(),
            "198.19.0.20".parse().unwrap(),
        );
        let v6 = Envelope::new(
            [2, 0, 0, 0, 0, 1],
            [2, 0, 0, 0, 0, 2],
            "2001:db8:1::10".parse().unwrap(),
            "2001:db8:2::20".parse().unwrap(),
        );
        for env in [v4, v6] {
            for f in [
                env.tcp(40000, 443, tcp_flags::SYN, 1, 0, 65535, &[]),
                env.udp(5353, 53, b"query"),
                env.echo(7, 1, false, b"ping"),
            ] {
                let p = parse_frame(&f).expect("parses");
                assert_eq!(p.verify_l4_checksum(&f), Some(true));
            }
        }
    }
}
