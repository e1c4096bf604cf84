//! Flow steering: which shard a frame belongs to.
//!
//! Every session lives in exactly one shard (one engine). A frame is steered
//! to its session's shard in three steps:
//!
//! 1. **Steering table** — sessions whose two keys do not hash to the same
//!    shard (every NAT session whose translated reply tuple hashes
//!    elsewhere) are registered here under both keys, from the engine's
//!    session deltas, before the frame that opened them is transmitted: a
//!    reply can therefore never overtake its registration.
//! 2. **Symmetric hash** — otherwise the shard is a hash of the tuple that
//!    is the same in both directions (the two endpoints are ordered before
//!    hashing), so both directions of a non-NAT flow meet without any table.
//! 3. **Special cases** — an ICMP error is steered by the tuple it quotes
//!    (reversed, it is one of the session's keys); a non-first fragment has
//!    no ports and follows its first fragment through a small datagram map;
//!    a frame that does not parse goes to shard 0, whose engine counts it.
//!
//! NAT allocations never collide between shards because each shard
//! allocates from its own slice of every pool's port range (see
//! [`crate::plan`]).

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError, RwLock};
use xpf_engine::wire::parse_frame;
use xpf_runtime::{AnySessionKey, IpProtocol, SessionEntry, SessionKey};

/// The session key of a tuple (`None` when the families differ).
pub fn key_of(
    src: IpAddr,
    dst: IpAddr,
    src_port: u16,
    dst_port: u16,
    protocol: IpProtocol,
) -> Option<AnySessionKey> {
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => Some(AnySessionKey::V4(SessionKey {
            src: s,
            dst: d,
            src_port,
            dst_port,
            protocol,
        })),
        (IpAddr::V6(s), IpAddr::V6(d)) => Some(AnySessionKey::V6(SessionKey {
            src: s,
            dst: d,
            src_port,
            dst_port,
            protocol,
        })),
        _ => None,
    }
}

fn fnv(mut h: u64, bytes: &[u8]) -> u64 {
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

fn ip_bytes(a: IpAddr) -> [u8; 16] {
    match a {
        IpAddr::V4(v) => v.to_ipv6_mapped().octets(),
        IpAddr::V6(v) => v.octets(),
    }
}

/// A hash of a tuple that is equal for both directions of it.
pub fn symmetric_hash(a: IpAddr, pa: u16, b: IpAddr, pb: u16, protocol: IpProtocol) -> u64 {
    let ea = (ip_bytes(a), pa);
    let eb = (ip_bytes(b), pb);
    let (lo, hi) = if ea <= eb { (ea, eb) } else { (eb, ea) };
    let mut h = 0xcbf2_9ce4_8422_2325;
    h = fnv(h, &lo.0);
    h = fnv(h, &lo.1.to_be_bytes());
    h = fnv(h, &hi.0);
    h = fnv(h, &hi.1.to_be_bytes());
    h = fnv(h, &[protocol.0]);
    // fmix64: spread the low bits the modulo uses.
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

fn key_hash(key: &AnySessionKey) -> u64 {
    match key {
        AnySessionKey::V4(k) => symmetric_hash(
            k.src.into(),
            k.src_port,
            k.dst.into(),
            k.dst_port,
            k.protocol,
        ),
        AnySessionKey::V6(k) => symmetric_hash(
            k.src.into(),
            k.src_port,
            k.dst.into(),
            k.dst_port,
            k.protocol,
        ),
    }
}

type DatagramKey = (IpAddr, IpAddr, u8, u32);

/// First fragments seen recently, so their followers go the same way.
#[derive(Debug, Default)]
struct Datagrams {
    map: HashMap<DatagramKey, (usize, u64)>,
    order: VecDeque<DatagramKey>,
}

/// How many datagrams the fragment map remembers.
const DATAGRAMS: usize = 4096;
/// How long a first fragment's steering is remembered.
const DATAGRAM_TTL_NS: u64 = 2_000_000_000;

/// The steering state shared by every worker.
#[derive(Debug)]
pub struct Steering {
    shards: usize,
    table: RwLock<HashMap<AnySessionKey, usize>>,
    datagrams: Mutex<Datagrams>,
}

impl Steering {
    /// Steering over `shards` shards (at least one).
    pub fn new(shards: usize) -> Self {
        Self {
            shards: shards.max(1),
            table: RwLock::new(HashMap::new()),
            datagrams: Mutex::new(Datagrams::default()),
        }
    }

    /// Number of shards.
    pub fn shards(&self) -> usize {
        self.shards
    }

    /// The shard a key hashes to, ignoring the table.
    pub fn hashed_shard(&self, key: &AnySessionKey) -> usize {
        (key_hash(key) % self.shards as u64) as usize
    }

    /// The shard owning the session of `key`: the table, else the hash.
    pub fn shard_of_key(&self, key: &AnySessionKey) -> usize {
        if self.shards == 1 {
            return 0;
        }
        if let Some(s) = self
            .table
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key)
        {
            return *s;
        }
        self.hashed_shard(key)
    }

    /// The shard `frame` must be processed by, at `now_ns`.
    pub fn shard_of_frame(&self, frame: &[u8], now_ns: u64) -> usize {
        if self.shards == 1 {
            return 0;
        }
        let Ok(p) = parse_frame(frame) else {
            return 0;
        };
        let datagram = (p.src, p.dst, p.protocol.0, p.fragment.id);
        if p.is_non_first_fragment() {
            let d = self
                .datagrams
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if let Some((shard, seen)) = d.map.get(&datagram)
                && now_ns.saturating_sub(*seen) < DATAGRAM_TTL_NS
            {
                return *shard;
            }
            return (symmetric_hash(p.src, 0, p.dst, 0, p.protocol) % self.shards as u64) as usize;
        }
        let key = if let Some(e) = p.icmp_error() {
            // The quoted packet left through the firewall; reversed, its
            // tuple is one of the session's two keys.
            let (sp, dp) = e.ports.unwrap_or((0, 0));
            key_of(e.dst, e.src, dp, sp, e.protocol)
        } else {
            let (sp, dp) = p.ports().unwrap_or((0, 0));
            key_of(p.src, p.dst, sp, dp, p.protocol)
        };
        let shard = key.map_or(0, |k| self.shard_of_key(&k));
        if p.fragment.is_fragment {
            self.remember_datagram(datagram, shard, now_ns);
        }
        shard
    }

    fn remember_datagram(&self, key: DatagramKey, shard: usize, now_ns: u64) {
        let mut d = self
            .datagrams
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        while d.order.len() >= DATAGRAMS {
            if let Some(old) = d.order.pop_front() {
                d.map.remove(&old);
            }
        }
        if d.map.insert(key, (shard, now_ns)).is_none() {
            d.order.push_back(key);
        }
    }

    /// Records that the session of `forward` lives in `shard` (called for
    /// every opened or installed session; only sessions a hash would
    /// mis-steer are stored).
    pub fn register(&self, forward: &SessionEntry, shard: usize) {
        if self.shards == 1 {
            return;
        }
        let (f, r) = (forward.key(), forward.companion_key());
        if self.hashed_shard(&f) == shard && self.hashed_shard(&r) == shard {
            return;
        }
        let mut t = self.table.write().unwrap_or_else(PoisonError::into_inner);
        t.insert(f, shard);
        t.insert(r, shard);
    }

    /// Forgets the session of `forward` (closed in `shard`).
    pub fn unregister(&self, forward: &SessionEntry, shard: usize) {
        if self.shards == 1 {
            return;
        }
        let mut t = self.table.write().unwrap_or_else(PoisonError::into_inner);
        for k in [forward.key(), forward.companion_key()] {
            if t.get(&k) == Some(&shard) {
                t.remove(&k);
            }
        }
    }

    /// Keys in the steering table (two per registered session).
    pub fn table_len(&self) -> usize {
        self.table
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Forgets every registration (table reset).
    pub fn clear(&self) {
        self.table
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn the_hash_is_the_same_in_both_directions() {
        let a = IpAddr::V4(Ipv4Addr::new(198, 18, 0, 10));
        let b = IpAddr::V4(Ipv4Addr::new(198, 19, 0, 20));
        for (pa, pb) in [(40000, 443), (1, 2), (0, 0)] {
            assert_eq!(
                symmetric_hash(a, pa, b, pb, IpProtocol::TCP),
                symmetric_hash(b, pb, a, pa, IpProtocol::TCP)
            );
        }
        assert_ne!(
            symmetric_hash(a, 1, b, 2, IpProtocol::TCP),
            symmetric_hash(a, 2, b, 1, IpProtocol::TCP)
        );
    }
}
