// SPDX-License-Identifier: (MIT OR GPL-2.0)
/*
 * xpf XDP program: the stateful firewall packet path in the kernel.
 *
 * Order per packet (the reference model in xpf-conformance follows the same
 * order): parse -> zone of the ingress interface -> session lookup from
 * either direction -> hit: TCP tracking, rewrite to the other direction's
 * key -> miss: TCP must start with SYN (unless loose), static/destination
 * NAT, host-inbound, route, policy (zone pair, global, default), static /
 * source NAT allocation, session insert (evicting the oldest embryonic
 * session when full) -> TTL, MSS clamp, neighbour MAC, VLAN -> redirect.
 *
 * A frame the program cannot handle safely is dropped and counted under its
 * reason, never passed unparsed. Configuration is read from the slot named
 * by xpf_globals.active, which the loader flips after filling the other
 * slot, so a packet never sees half a configuration.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "xpf_shared.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

/* ------------------------------------------------------------------------ */
/* Maps                                                                      */

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xpf_globals);
} xpf_globals SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct xpf_state);
} xpf_state SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xpf_trace);
} xpf_trace SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct xpf_gen_cfg);
} xpf_gen SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2 * XPF_MAX_IFACES);
	__type(key, __u32);
	__type(value, struct xpf_iface);
} xpf_ifaces SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 2 * XPF_MAX_IFACES);
	__type(key, struct xpf_ifindex_key);
	__type(value, __u32);
} xpf_ifindex SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2 * XPF_MAX_ZONES);
	__type(key, __u32);
	__type(value, struct xpf_zone);
} xpf_zones SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 2 * XPF_MAX_ZONE_PAIRS);
	__type(key, struct xpf_pair_key);
	__type(value, struct xpf_span);
} xpf_zone_pairs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2 * XPF_MAX_RULES);
	__type(key, __u32);
	__type(value, struct xpf_rule);
} xpf_rules SEC(".maps");

/* The flood bucket as the program sees it: the lock is a real spin lock. */
struct flood_val {
	struct bpf_spin_lock lock;
	__u32 rate;
	__u64 cap;
	__u64 nano;
	__u64 at;
};
_Static_assert(sizeof(struct flood_val) == sizeof(struct xpf_flood), "flood_val");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2 * XPF_MAX_ZONES * 3);
	__type(key, __u32);
	__type(value, struct flood_val);
} xpf_floods SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XPF_MAX_SESSIONS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct xpf_persist_key);
	__type(value, struct xpf_binding);
} xpf_persist SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XPF_MAX_SESSIONS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct xpf_bind_key);
	__type(value, struct xpf_binding);
} xpf_binds SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 2 * XPF_MAX_SESSIONS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct xpf_limit_key);
	__type(value, __u64);
} xpf_limit_cnt SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2 * XPF_MAX_TERMS);
	__type(key, __u32);
	__type(value, struct xpf_term);
} xpf_terms SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2 * XPF_MAX_FILTERS);
	__type(key, __u32);
	__type(value, struct xpf_span);
} xpf_filters SEC(".maps");

/* The policer bucket as the program sees it: the lock is a real spin lock. */
struct bucket_val {
	struct bpf_spin_lock lock;
	__u32 pad0;
	__u64 rate;
	__u64 cap;
	__u64 nano;
	__u64 at;
};
_Static_assert(sizeof(struct bucket_val) == sizeof(struct xpf_bucket), "bucket_val");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2 * XPF_MAX_TERMS * 2);
	__type(key, __u32);
	__type(value, struct bucket_val);
} xpf_policers SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XPF_MAX_TERMS);
	__type(key, __u32);
	__type(value, struct xpf_pkt_cnt);
} xpf_cnt_term SEC(".maps");

/* Redundancy groups inactive on this node (1), written by the loader. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XPF_MAX_RGS);
	__type(key, __u32);
	__type(value, __u32);
} xpf_rg_state SEC(".maps");

/* Fabric forwarding of a backup group's frames (struct xpf_fabric, key 0):
 * written by the loader from the synced fabric view only. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32);
	__type(value, struct xpf_fabric);
} xpf_fabric SEC(".maps");

static __always_inline int rg_inactive(__u32 rg)
{
	if (rg == 0)
		return 0;
	__u32 k = rg & (XPF_MAX_RGS - 1);
	__u32 *st = bpf_map_lookup_elem(&xpf_rg_state, &k);
	return st && *st;
}

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2 * XPF_MAX_SCHEDULES);
	__type(key, __u32);
	__type(value, struct xpf_sched);
} xpf_scheds SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, XPF_MAX_SET_PREFIXES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct xpf_lpm4_key);
	__type(value, __u8);
} xpf_sets4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, XPF_MAX_SET_PREFIXES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct xpf_lpm6_key);
	__type(value, __u8);
} xpf_sets6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, XPF_MAX_SET_PREFIXES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct xpf_lpm4_key);
	__type(value, struct xpf_members);
} xpf_members4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, XPF_MAX_SET_PREFIXES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct xpf_lpm6_key);
	__type(value, struct xpf_members);
} xpf_members6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, XPF_MAX_ROUTES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct xpf_lpm4_key);
	__type(value, struct xpf_route);
} xpf_routes4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, XPF_MAX_ROUTES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct xpf_lpm6_key);
	__type(value, struct xpf_route);
} xpf_routes6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 2 * XPF_MAX_NEIGHBOURS);
	__type(key, struct xpf_addr_key);
	__type(value, struct xpf_neighbour);
} xpf_neighbours SEC(".maps");

/* Per slot, a copy of every neighbour entry at its id: what a session's
 * cached next hop refers to. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2 * XPF_MAX_NEIGHBOURS);
	__type(key, __u32);
	__type(value, struct xpf_neighbour);
} xpf_nexthops SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 2 * XPF_MAX_LOCAL_ADDRS);
	__type(key, struct xpf_addr_key);
	__type(value, __u32);
} xpf_local SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2 * XPF_MAX_SNAT_RULES);
	__type(key, __u32);
	__type(value, struct xpf_snat_rule);
} xpf_snat SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2 * XPF_MAX_DNAT_RULES);
	__type(key, __u32);
	__type(value, struct xpf_dnat_rule);
} xpf_dnat SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2 * XPF_MAX_STATIC_RULES);
	__type(key, __u32);
	__type(value, struct xpf_static_rule);
} xpf_static SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2 * XPF_MAX_POOLS);
	__type(key, __u32);
	__type(value, struct xpf_pool);
} xpf_pools SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct xpf_pool_addr_key);
	__type(value, struct xpf_prefix);
} xpf_pool_addrs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XPF_MAX_SESSIONS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct xpf_slot_key);
	__type(value, __u8);
} xpf_slots SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct xpf_slot_key);
	__type(value, struct xpf_exhaust);
} xpf_exhausted SEC(".maps");

/* The session value as the program sees it: the lock is a real spin lock. */
struct sess_val {
	__u64 nh[2]; /* cached next hop per direction (xpf_shared.h) */
	struct xpf_sess s;
	struct bpf_spin_lock lock;
	__u32 pad0;
};
_Static_assert(sizeof(struct sess_val) == sizeof(struct xpf_sess_val), "sess_val");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 2 * XPF_MAX_SESSIONS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct xpf_sess_key);
	__type(value, struct sess_val);
} xpf_sessions SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_QUEUE);
	__uint(max_entries, XPF_MAX_SESSIONS);
	__type(value, struct xpf_embryo);
} xpf_embryonic SEC(".maps");

/* The datagram value as the program sees it: the lock is a real spin lock. */
struct frag_val {
	struct bpf_spin_lock lock;
	__u32 pad0;
	struct xpf_frag f;
};
_Static_assert(sizeof(struct frag_val) == sizeof(struct xpf_frag_val), "frag_val");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XPF_FRAG_CAPACITY);
	__type(key, struct xpf_frag_key);
	__type(value, struct frag_val);
} xpf_frags SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_QUEUE);
	__uint(max_entries, XPF_FRAG_CAPACITY);
	__type(value, struct xpf_frag_age);
} xpf_frag_ages SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, XPF_RINGBUF_BYTES);
} xpf_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XPF_COUNTERS);
	__type(key, __u32);
	__type(value, __u64);
} xpf_cnt_global SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XPF_MAX_IFACES);
	__type(key, __u32);
	__type(value, struct xpf_if_cnt);
} xpf_cnt_iface SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XPF_MAX_ZONES);
	__type(key, __u32);
	__type(value, struct xpf_zone_cnt);
} xpf_cnt_zone SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XPF_MAX_RULE_IDS);
	__type(key, __u32);
	__type(value, struct xpf_pkt_cnt);
} xpf_cnt_policy SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XPF_MAX_NAT_IDS);
	__type(key, __u32);
	__type(value, struct xpf_pkt_cnt);
} xpf_cnt_nat SEC(".maps");

/* ------------------------------------------------------------------------ */
/* Per-packet scratch (per CPU): keeps the stack small.                      */

enum l4_kind { L4_OTHER = 0, L4_TCP, L4_UDP, L4_ICMP_QUERY, L4_ICMP_ERROR, L4_ICMP_OTHER };

struct pkt {
	__u32 flen;      /* logical frame length */
	__u16 l3;
	__u16 l4;
	__u32 l3_len;
	__u16 vlan;
	__u8 tags;
	__u8 family;
	__u8 proto;
	__u8 ttl;
	__u8 kind;
	__u8 fragment;
	__u8 icmp_type;
	__u8 icmp_code;
	__u8 tcp_flags;
	__u8 thlen;
	__u8 wscale;     /* 0xff: no option */
	__u8 dst_mac0;
	__u16 sport;
	__u16 dport;
	__u16 window;
	__u8 source_route; /* IPv4 loose / strict source-route option present */
	__u8 dscp;
	__u32 seq;
	__u32 ack;
	__u32 payload;
	__u8 src[16];
	__u8 dst[16];
	/* Fragment fields when `fragment` (IPv4 header or IPv6 Fragment
	 * header): data offset in bytes, more-fragments, identification. */
	__u32 frag_off;
	__u32 frag_id;
	__u8 frag_more;
	__u8 upper;      /* a transport header follows the IP headers */
	__u8 pad1[2];
};

struct tcp_seg {
	__u32 seq;
	__u32 ack;
	__u32 len;
	__u16 window;
	__u8 flags;
	__u8 wscale; /* 0xff: none */
};

/* Per-packet facts shared by the stages (scalars only: it is passed by
 * pointer to subprograms). */
struct verdict_ctx {
	__u64 now;
	__u32 ingress;
	__u32 zone;     /* ingress zone counter slot (0xffff: no interface) */
	__u32 flen;
	__u32 slot;
	__u32 trace;
	__u32 test_mode;
	__u32 node;
	__u32 rg;       /* redundancy group of the ingress interface (0: none) */
	__u16 fin[2];   /* input filters of the ingress interface (FilterId + 1): v4, v6 */
};

/* The longest quote of an emitted ICMP error: 576 - 20 - 8 (IPv4),
 * 1280 - 40 - 8 (IPv6). */
#define QUOTE_MAX4 548
#define QUOTE_MAX6 1232
#define QUOTE_BUF 2048 /* a power of two: indices are masked */

struct scratch {
	struct verdict_ctx v;
	struct tcp_seg seg;
	struct xpf_addr_key ak;
	struct xpf_pair_key pk;
	struct pkt p;
	struct xpf_sess_key key;
	struct xpf_sess_key rkey;
	struct xpf_sess_key okey;
	struct xpf_sess_val nv; /* plain layout: per-CPU maps cannot hold spin locks */
	struct xpf_tcp tcp;
	struct xpf_embryo embryo;
	struct xpf_route rt;
	struct xpf_members msrc; /* set membership of the source (policy) */
	struct xpf_members mdst; /* ... of the (translated) destination */
	__u8 src2[16];
	__u8 dst2[16];
	__u8 q_out[16];
	__u8 gw[16];
	__u8 hdr[64];       /* an emitted frame's L2 / IP / transport headers */
	struct xpf_limit_key lk;
	struct xpf_pool_addr_key pak;
	struct xpf_persist_key nk;  /* persistent-mapping key */
	struct xpf_bind_key bk;     /* address-persistence key */
	struct nat_plan {
		__u64 start;   /* first slot tried (offset within the scanned range) */
		__u32 slots;   /* slots scanned */
		__u32 base;    /* first slot of the scanned range */
		__u32 ports;   /* ports per address */
		__u32 reused;  /* slot + 1 of a persistent mapping reused (no claim) */
		__u32 idx;     /* address index (address persistence) */
		__u16 target;
		__u8 kind;     /* POOL_* */
		__u8 sproto;   /* protocol of the slot key (HOLD_PROTO: address hold) */
		__u32 memo;    /* the exhaustion memo applies to this scan */
		__u64 memo_r0; /* its release count when the scan started */
	} nat;
	__s64 local; /* local time of the packet, seconds (schedulers) */
	/* The session direction's cached next hop (FC_HIT: `fc_nh` is the
	 * neighbour id, the route and neighbour lookups are skipped; FC_FILL:
	 * resolve as usual, then store it in the session entry). */
	__u32 fc_state;  /* FC_* */
	__u32 fc_dir;    /* 0: forward, 1: reply */
	__u32 fc_epoch;  /* the packet's slot's xpf_gen_cfg.epoch */
	__u32 fc_nh;     /* FC_HIT: neighbour id */
	__u64 fc_sid;    /* session id the next hop belongs to */
	struct xpf_frag_key fk;   /* the datagram of a fragment */
	struct xpf_frag_age fa;   /* its insertion record / the oldest one popped */
	struct xpf_frag_val fv;   /* a new datagram (plain layout, as nv) */
	/* An IPv6 extension-header walk (the packet's own chain or an ICMPv6
	 * error's quote): input and result of xpf_v6_step. */
	struct v6_chain {
		__u32 base;   /* packet offset (or quote-buffer index) of the IPv6 header */
		__u32 limit;  /* bytes of the IPv6 packet (fixed header included) */
		__u32 len;    /* header bytes walked, fixed header included */
		__u32 frag_off;
		__u32 frag_id;
		__u8 next;    /* next header to look at */
		__u8 proto;   /* result: the protocol after the chain */
		__u8 upper;   /* result: a transport header follows */
		__u8 count;   /* extension headers walked */
		__u8 fragment;
		__u8 frag_more;
		__u8 routing; /* routing type of the first routing header */
		__u8 has_routing;
		__u8 quote;   /* 1: read from sc->quote, 0: from the packet */
		__u8 pad[3];
	} ch;
	__u8 quote[QUOTE_BUF]; /* the packet an emitted ICMP error quotes */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} xpf_scratch SEC(".maps");

/* ------------------------------------------------------------------------ */
/* Small helpers                                                             */

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_ACK 0x10

static __always_inline __u16 rd16(const __u8 *b)
{
	return ((__u16)b[0] << 8) | b[1];
}

static __always_inline __u32 rd32(const __u8 *b)
{
	return ((__u32)b[0] << 24) | ((__u32)b[1] << 16) | ((__u32)b[2] << 8) | b[3];
}

static __always_inline void wr16(__u8 *b, __u16 v)
{
	b[0] = v >> 8;
	b[1] = v & 0xff;
}

static __always_inline void cnt_add(__u32 idx, __u64 n)
{
	__u64 *v = bpf_map_lookup_elem(&xpf_cnt_global, &idx);
	if (v)
		*v += n;
}

static __always_inline void cnt_pkt(void *map, __u32 idx, __u64 bytes)
{
	struct xpf_pkt_cnt *c = bpf_map_lookup_elem(map, &idx);
	if (c) {
		c->packets += 1;
		c->bytes += bytes;
	}
}

static __always_inline int addr_eq(const __u8 *a, const __u8 *b)
{
	const __u32 *x = (const __u32 *)a, *y = (const __u32 *)b;
	return x[0] == y[0] && x[1] == y[1] && x[2] == y[2] && x[3] == y[3];
}

static __always_inline void addr_cpy(__u8 *d, const __u8 *s)
{
	__u32 *x = (__u32 *)d;
	const __u32 *y = (const __u32 *)s;
	x[0] = y[0];
	x[1] = y[1];
	x[2] = y[2];
	x[3] = y[3];
}

static __always_inline int key_eq(const struct xpf_sess_key *a, const struct xpf_sess_key *b)
{
	return a->family == b->family && a->proto == b->proto && a->sport == b->sport &&
	       a->dport == b->dport && addr_eq(a->src, b->src) && addr_eq(a->dst, b->dst);
}

static __always_inline int has_ports(__u8 proto)
{
	return proto == 6 || proto == 17 || proto == 132;
}

static __always_inline int is_icmp(__u8 proto)
{
	return proto == 1 || proto == 58;
}

/* Does `addr` of `family` fall in prefix `pf`? */
static __always_inline int prefix_contains(const struct xpf_prefix *pf, __u8 family, const __u8 *addr)
{
	if (pf->family != family)
		return 0;
	__u32 len = pf->len;
	__u32 words = family == 4 ? 1 : 4;
	for (__u32 w = 0; w < 4; w++) {
		if (w >= words)
			break;
		__u32 bits = len > w * 32 ? len - w * 32 : 0;
		if (bits == 0)
			break;
		__u32 a = rd32(addr + w * 4), b = rd32(pf->addr + w * 4);
		__u32 mask = bits >= 32 ? 0xffffffffu : ~(0xffffffffu >> bits);
		if ((a & mask) != (b & mask))
			return 0;
	}
	return 1;
}

/* ------------------------------------------------------------------------ */
/* Parsing                                                                   */

#define PARSE_OK 0xffff

__noinline int xpf_tcp_wscale(struct xdp_md *ctx, __u32 l4, __u32 th);
__noinline int xpf_ip_options(struct xdp_md *ctx, __u32 l3, __u32 hlen);

/* IPv6 extension headers (RFC 8200 / RFC 7045) the walk steps over:
 * hop-by-hop, routing, fragment, ESP, AH, destination options, mobility,
 * HIP, shim6, experimental. */
static __always_inline int v6_ext(__u8 nh)
{
	return nh == 0 || nh == 43 || nh == 44 || nh == 50 || nh == 51 || nh == 60 || nh == 135 ||
	       nh == 139 || nh == 140 || nh == 253 || nh == 254;
}

#define V6_DONE 0
#define V6_MORE 1
#define V6_BAD (-1)
/* At most this many extension headers (the model's limit); one step more
 * finds the ninth and fails. */
#define V6_MAX_HEADERS 8

/* One step of the IPv6 extension-header walk over sc->ch (the model's
 * wire::walk_ipv6): hop-by-hop only first, `(len + 1) * 8` bytes (at least
 * 8 present), AH `(len + 2) * 4` (at least 12), fragment 8 bytes and once,
 * a non-first fragment and ESP end the walk. V6_MORE: call again; V6_DONE:
 * ch.proto / ch.len / ch.upper hold the result; V6_BAD: malformed chain.
 * A global function, verified once: the caller's loop stays trivial. */
__noinline int xpf_v6_step(struct xdp_md *ctx, struct scratch *sc)
{
	if (!ctx || !sc)
		return V6_BAD;
	struct v6_chain *c = &sc->ch;
	__u8 next = c->next;
	if (!v6_ext(next)) {
		c->proto = next;
		c->upper = next != 59;
		return V6_DONE;
	}
	if (c->count >= V6_MAX_HEADERS)
		return V6_BAD;
	c->count++;
	__u32 len = c->len, limit = c->limit;
	if (len > limit)
		return V6_BAD;
	__u32 rest = limit - len;
	if (next == 50) {
		c->proto = 50;
		c->upper = 0;
		return V6_DONE;
	}
	if (rest < 8 || (next == 44 && c->fragment) || (next == 51 && rest < 12))
		return V6_BAD;
	if (next == 0 && c->count != 1)
		return V6_BAD;
	__u8 b[8];
	if (c->quote) {
		__u32 at = c->base + len;
		for (int i = 0; i < 8; i++)
			b[i] = sc->quote[(at + i) & (QUOTE_BUF - 1)];
	} else if (bpf_xdp_load_bytes(ctx, c->base + len, b, 8)) {
		return V6_BAD;
	}
	__u32 n;
	if (next == 44) {
		__u16 word = rd16(b + 2);
		c->fragment = 1;
		c->frag_off = (__u32)(word >> 3) * 8;
		c->frag_more = word & 1;
		c->frag_id = rd32(b + 4);
		n = 8;
	} else if (next == 51) {
		n = ((__u32)b[1] + 2) * 4;
	} else {
		n = ((__u32)b[1] + 1) * 8;
		if (next == 43 && !c->has_routing) {
			c->has_routing = 1;
			c->routing = b[2];
		}
	}
	if (n > rest)
		return V6_BAD;
	c->len = len + n;
	c->next = b[0];
	if (next == 44 && c->frag_off) {
		c->proto = b[0];
		c->upper = 0;
		return V6_DONE;
	}
	return V6_MORE;
}

/* Walks the extension headers of the IPv6 packet at `base` (`limit` bytes,
 * fixed header included) from next header `first`; `quote`: the packet is
 * in sc->quote. 0 with the result in sc->ch, -1 when malformed. */
static __always_inline int v6_walk(struct xdp_md *ctx, struct scratch *sc, __u32 base, __u32 limit,
				   __u8 first, __u8 quote)
{
	struct v6_chain *c = &sc->ch;
	__builtin_memset(c, 0, sizeof(*c));
	c->base = base;
	c->limit = limit;
	c->len = 40;
	c->next = first;
	c->proto = first;
	c->upper = 1;
	c->quote = quote;
	for (int i = 0; i <= V6_MAX_HEADERS; i++) {
		int r = xpf_v6_step(ctx, sc);
		if (r == V6_DONE)
			return 0;
		if (r != V6_MORE)
			return -1;
	}
	return -1;
}

/* The extension-header chain of the IPv6 packet at `l3` of the frame
 * (sc->p filled by parse up to its fixed header): the packet's protocol,
 * fragment fields and source-route flag from the chain. Returns the header
 * bytes walked (fixed header included) | 0x10000 when a transport header
 * follows, or -1 when the chain is malformed. A global function: keeps the
 * entry point's stack small. */
__noinline int xpf_v6_chain(struct xdp_md *ctx, __u32 l3)
{
	__u32 zero = 0;
	struct scratch *sc = bpf_map_lookup_elem(&xpf_scratch, &zero);
	if (!ctx || !sc)
		return -1;
	struct pkt *p = &sc->p;
	if (v6_walk(ctx, sc, l3, p->l3_len, p->proto, 0) < 0)
		return -1;
	struct v6_chain *c = &sc->ch;
	p->proto = c->proto;
	p->fragment = c->fragment;
	p->frag_off = c->frag_off;
	p->frag_more = c->frag_more;
	p->frag_id = c->frag_id;
	p->source_route = c->has_routing && c->routing == 0;
	return (c->len & 0xffff) | (c->upper ? 0x10000 : 0);
}

/* The ethertype after every VLAN tag (for the ARP check), or 0. */
static __always_inline __u16 inner_ethertype(void *data, void *end, __u32 flen)
{
	__u32 at = 12;
	for (int i = 0; i < 8; i++) {
		if (at + 2 > flen || data + at + 2 > end)
			return 0;
		__u16 et = rd16(data + at);
		if (et != 0x8100 && et != 0x88a8)
			return et;
		at += 4;
	}
	return 0;
}

static __always_inline __u32 parse(struct xdp_md *ctx, struct pkt *p)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	__u32 flen = p->flen;
	if (flen < 14 || data + 14 > end)
		return DR_MALFORMED_ETH;
	__u8 *eth = data;
	p->dst_mac0 = eth[0];
	__u16 et = rd16(eth + 12);
	__u32 at = 14;
	p->tags = 0;
	p->vlan = 0;
#pragma unroll
	for (int i = 0; i < 3; i++) {
		if (et != 0x8100 && et != 0x88a8)
			break;
		if (i == 2)
			return DR_UNSUPPORTED_ETHERTYPE;
		if (flen < at + 4 || data + at + 4 > end)
			return DR_MALFORMED_VLAN;
		if (i == 0)
			p->vlan = rd16(data + at) & 0x0fff;
		et = rd16(data + at + 2);
		at += 4;
		p->tags = i + 1;
	}
	p->l3 = at;
	__u32 iplen = flen - at;
	__u8 *ip = data + at;
	__u32 hlen;
	p->upper = 1;
	if (et == 0x0800) {
		if (iplen < 20 || (void *)(ip + 20) > end)
			return DR_MALFORMED_IPV4;
		if ((ip[0] >> 4) != 4)
			return DR_MALFORMED_IPV4;
		hlen = (ip[0] & 0x0f) * 4;
		__u32 total = rd16(ip + 2);
		if (hlen < 20 || hlen > iplen || total < hlen || total > iplen)
			return DR_MALFORMED_IPV4;
		__u32 sum = 0;
		if (hlen == 20) {
			/* No options (bounds checked above): the ones' complement
			 * sum of five 32-bit words, folded, is the sum of the ten
			 * 16-bit words in host order; 0xffff reads the same in
			 * either byte order. */
			const __u32 *w = (const __u32 *)ip;
			__u64 s = (__u64)w[0] + w[1] + w[2] + w[3] + w[4];
			s = (s & 0xffffffff) + (s >> 32);
			s = (s & 0xffff) + (s >> 16);
			s = (s & 0xffff) + (s >> 16);
			s = (s & 0xffff) + (s >> 16);
			sum = (__u32)s;
		} else {
			for (int i = 0; i < 30; i++) {
				if ((__u32)i * 2 >= hlen)
					break;
				if ((void *)(ip + i * 2 + 2) > end)
					return DR_MALFORMED_IPV4;
				sum += rd16(ip + i * 2);
			}
			sum = (sum & 0xffff) + (sum >> 16);
			sum = (sum & 0xffff) + (sum >> 16);
		}
		if (sum != 0xffff)
			return DR_BAD_IPV4_CSUM;
		p->source_route = 0;
		p->dscp = ip[1] >> 2;
		__u16 fw = rd16(ip + 6);
		p->fragment = (fw & 0x3fff) != 0;
		p->frag_off = (__u32)(fw & 0x1fff) * 8;
		p->frag_more = (fw & 0x2000) != 0;
		p->frag_id = rd16(ip + 4);
		p->family = 4;
		__builtin_memset(p->src, 0, 16);
		__builtin_memset(p->dst, 0, 16);
		__builtin_memcpy(p->src, ip + 12, 4);
		__builtin_memcpy(p->dst, ip + 16, 4);
		p->proto = ip[9];
		p->ttl = ip[8];
		p->l3_len = total;
		if (hlen > 20) {
			int sr = xpf_ip_options(ctx, at, hlen);
			if (sr < 0)
				return DR_MALFORMED_IPV4;
			p->source_route = sr;
		}
	} else if (et == 0x86dd) {
		if (iplen < 40 || (void *)(ip + 40) > end)
			return DR_MALFORMED_IPV6;
		if ((ip[0] >> 4) != 6)
			return DR_MALFORMED_IPV6;
		__u32 payload = rd16(ip + 4);
		if (40 + payload > iplen)
			return DR_MALFORMED_IPV6;
		hlen = 40;
		p->fragment = 0;
		p->frag_off = 0;
		p->frag_more = 0;
		p->frag_id = 0;
		p->source_route = 0;
		p->dscp = ((ip[0] & 0x0f) << 2) | (ip[1] >> 6);
		p->family = 6;
		__builtin_memcpy(p->src, ip + 8, 16);
		__builtin_memcpy(p->dst, ip + 24, 16);
		p->proto = ip[6];
		p->ttl = ip[7];
		p->l3_len = 40 + payload;
		if (v6_ext(p->proto)) {
			/* The extension-header chain, only when there is one. */
			int r = xpf_v6_chain(ctx, at);
			if (r < 0)
				return DR_MALFORMED_EXT;
			hlen = r & 0xffff;
			p->upper = (r >> 16) & 1;
			/* At most 40 + 8 x 2048 bytes (bounds the packet offset). */
			if (hlen > p->l3_len || hlen > 40 + V6_MAX_HEADERS * 2048)
				return DR_MALFORMED_EXT;
		}
	} else {
		return DR_UNSUPPORTED_ETHERTYPE;
	}
	p->l4 = at + hlen;
	p->kind = L4_OTHER;
	p->sport = 0;
	p->dport = 0;
	p->icmp_type = 0;
	p->icmp_code = 0;
	p->wscale = 0xff;
	/* A non-first fragment carries no transport header, nor does a chain
	 * ending in ESP or no-next-header; a first fragment does. */
	if ((p->fragment && p->frag_off) || !p->upper)
		return PARSE_OK;
	__u32 seglen = p->l3_len - hlen;
	data = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
	__u8 *seg = data + at + hlen;
	__u8 own_icmp = p->family == 4 ? 1 : 58;
	if (p->proto == 6) {
		if (seglen < 20 || (void *)(seg + 20) > end)
			return DR_MALFORMED_TCP;
		__u32 th = (seg[12] >> 4) * 4;
		if (th < 20 || th > seglen)
			return DR_MALFORMED_TCP;
		p->kind = L4_TCP;
		p->sport = rd16(seg);
		p->dport = rd16(seg + 2);
		p->seq = rd32(seg + 4);
		p->ack = rd32(seg + 8);
		p->tcp_flags = seg[13];
		p->window = rd16(seg + 14);
		p->thlen = th;
		p->payload = seglen - th;
		p->wscale = 0xff;
		if (th > 20)
			p->wscale = xpf_tcp_wscale(ctx, at + hlen, th);
	} else if (p->proto == 17) {
		if (seglen < 8 || (void *)(seg + 8) > end)
			return DR_MALFORMED_UDP;
		__u32 len = rd16(seg + 4);
		/* A first fragment's UDP length describes the whole datagram. */
		if (!p->fragment && (len < 8 || len > seglen))
			return DR_MALFORMED_UDP;
		p->kind = L4_UDP;
		p->sport = rd16(seg);
		p->dport = rd16(seg + 2);
	} else if (p->proto == own_icmp) {
		if (seglen < 8 || (void *)(seg + 8) > end)
			return DR_MALFORMED_ICMP;
		__u8 ty = seg[0];
		p->icmp_type = ty;
		p->icmp_code = seg[1];
		int error, query;
		if (p->family == 4) {
			error = ty == 3 || ty == 4 || ty == 5 || ty == 11 || ty == 12;
			query = ty == 0 || ty == 8 || (ty >= 13 && ty <= 18);
		} else {
			error = ty >= 1 && ty <= 4;
			query = ty == 128 || ty == 129;
		}
		if (error) {
			p->kind = L4_ICMP_ERROR;
		} else if (query) {
			p->kind = L4_ICMP_QUERY;
			p->sport = rd16(seg + 4);
			p->dport = p->sport;
		} else {
			p->kind = L4_ICMP_OTHER;
		}
	}
	return PARSE_OK;
}

/* ------------------------------------------------------------------------ */
/* TCP tracking (van Rooij / netfilter, as xpf-conformance's model/tcp.rs). */

#define TV_OUT_OF_WINDOW (-1)
#define TV_INVALID (-2)
#define TV_REOPEN (-3)

enum seg_kind { K_NONE = 0, K_SYN, K_SYNACK, K_RST, K_FIN, K_ACK };

static __always_inline int seg_kind(__u8 flags)
{
	__u8 f = flags & (TCP_SYN | TCP_ACK | TCP_FIN | TCP_RST);
	if (f == TCP_SYN)
		return K_SYN;
	if (f == (TCP_SYN | TCP_ACK))
		return K_SYNACK;
	if (f == TCP_RST || f == (TCP_RST | TCP_ACK))
		return K_RST;
	if (f == (TCP_FIN | TCP_ACK))
		return K_FIN;
	if (f == TCP_ACK)
		return K_ACK;
	return K_NONE;
}

static __always_inline int s_lt(__u32 a, __u32 b)
{
	return (__s32)(a - b) < 0;
}

static __always_inline int s_gt(__u32 a, __u32 b)
{
	return s_lt(b, a);
}

static __always_inline __u32 seg_end(const struct tcp_seg *g)
{
	return g->seq + g->len + ((g->flags & TCP_SYN) ? 1 : 0) + ((g->flags & TCP_FIN) ? 1 : 0);
}

static __always_inline void side_syn_init(struct xpf_tcp_side *side, const struct tcp_seg *g)
{
	__u32 e = seg_end(g);
	side->end = e;
	side->max_end = e;
	side->max_win = g->window ? g->window : 1;
	if (g->wscale != 0xff) {
		side->scale = g->wscale > 14 ? 14 : g->wscale;
		side->scale_offered = 1;
	} else {
		side->scale = 0;
		side->scale_offered = 0;
	}
}

static __always_inline void side_mid_init(struct xpf_tcp_side *me, struct xpf_tcp_side *peer,
					  const struct tcp_seg *g)
{
	__u32 e = seg_end(g);
	__u32 win = ((__u32)g->window << (me->scale & 15));
	if (win == 0)
		win = 1;
	me->end = e;
	me->max_win = win;
	me->max_end = e + win;
	if (!(g->flags & TCP_ACK))
		return;
	if (peer->max_win == 0) {
		peer->end = g->ack;
		peer->max_end = g->ack;
	} else if (g->ack == peer->end + 1) {
		peer->end = peer->end + 1;
	}
}

/* Updates tracker `t` with segment `g` in direction `dir` (0: initiator).
 * Returns the new state, or a TV_* violation (t unchanged). */
static __always_inline int tcp_update(struct xpf_tcp *t, const struct tcp_seg *g, __u32 dir, __u32 loose)
{
	int k = seg_kind(g->flags);
	if (k == K_NONE)
		return TV_INVALID;
	int fwd = (dir & 1) == 0;
	__u8 prev = t->state;
	__u32 end = seg_end(g);
	int liberal = loose || t->liberal;
	/* Work on copies of the two sides: me (the sender) and peer. */
	struct xpf_tcp_side me, peer, a0, a1;
	a0 = t->sides[0];
	a1 = t->sides[1];
	if (fwd) {
		me = a0;
		peer = a1;
	} else {
		me = a1;
		peer = a0;
	}
	int dup_syn = me.max_win != 0 && !s_gt(end, me.end);
	int ok = 0;
	switch (prev) {
	case TS_SYN_SENT:
		if (k == K_SYN && fwd)
			ok = 1;
		else if (k == K_SYNACK && !fwd)
			ok = 1;
		else if (k == K_RST && !fwd) {
			int good = (g->flags & TCP_ACK) && g->ack == a0.end;
			if (!good && !liberal)
				return TV_OUT_OF_WINDOW;
			t->state = TS_CLOSE;
			t->version++;
			return TS_CLOSE;
		} else if (k == K_RST)
			ok = 1;
		break;
	case TS_SYN_RECEIVED:
		if (k == K_SYN && fwd && dup_syn)
			ok = 1;
		else if (k == K_SYNACK && !fwd)
			ok = 1;
		else if (k == K_ACK && fwd)
			ok = 1;
		else if (k == K_FIN && fwd && !s_lt(g->ack, a1.end))
			ok = 1;
		else if (k == K_RST)
			ok = 1;
		break;
	case TS_ESTABLISHED:
		if (k == K_SYN && fwd && dup_syn)
			return prev;
		if (k == K_SYNACK && !fwd && dup_syn)
			return prev;
		if (k == K_ACK || k == K_FIN || k == K_RST)
			ok = 1;
		break;
	case TS_FIN_WAIT:
	case TS_CLOSE_WAIT:
	case TS_LAST_ACK:
		if (k == K_ACK || k == K_FIN || k == K_RST)
			ok = 1;
		break;
	case TS_TIME_WAIT:
		if (k == K_ACK || k == K_FIN || k == K_RST)
			ok = 1;
		else if (k == K_SYN && fwd)
			return TV_REOPEN;
		break;
	case TS_CLOSE:
		if (k == K_RST)
			ok = 1;
		else if (k == K_SYN && fwd)
			return TV_REOPEN;
		break;
	default:
		break;
	}
	if (!ok)
		return TV_INVALID;
	if (me.fin_seen && k != K_RST && s_gt(end, me.end))
		return TV_INVALID;

	/* Windows (on the copies). */
	int is_syn = k == K_SYN || k == K_SYNACK;
	int first = me.max_win == 0;
	int restart = !first && is_syn && s_gt(end, me.end) &&
		      ((prev == TS_SYN_SENT && fwd) || (prev == TS_SYN_RECEIVED && !fwd));
	if (first && !is_syn)
		side_mid_init(&me, &peer, g);
	else if (first || restart)
		side_syn_init(&me, g);
	if (k == K_SYNACK && !(me.scale_offered && peer.scale_offered)) {
		me.scale = 0;
		peer.scale = 0;
	}
	__u32 ack;
	if (!(g->flags & TCP_ACK) || ((g->flags & TCP_RST) && g->ack == 0))
		ack = peer.end;
	else
		ack = g->ack;
	__u32 ack_span = me.max_win > 66000 ? me.max_win : 66000;
	int acceptable = !s_gt(g->seq, me.max_end) &&
			 (peer.max_win == 0 || !s_lt(end, me.end - peer.max_win)) &&
			 !s_gt(ack, peer.end) && !s_lt(ack, peer.end - ack_span);
	if (!acceptable && !liberal)
		return TV_OUT_OF_WINDOW;
	__u32 win = g->window;
	if (!(g->flags & TCP_SYN))
		win <<= (me.scale & 15);
	if (win > me.max_win)
		me.max_win = win;
	if (s_gt(end, me.end))
		me.end = end;
	if (peer.max_win != 0 && s_gt(end, me.max_end))
		peer.max_win = peer.max_win + (end - me.max_end);
	__u32 edge = ack + win;
	if (!s_lt(edge, peer.max_end))
		peer.max_end = win == 0 ? edge + 1 : edge;
	/* State. */
	__u8 state;
	if (k == K_RST) {
		state = TS_CLOSE;
	} else if (k == K_SYNACK && prev == TS_SYN_SENT) {
		state = TS_SYN_RECEIVED;
	} else if (k == K_SYN || k == K_SYNACK) {
		state = prev;
	} else {
		if ((g->flags & TCP_ACK) && peer.fin_seen && !s_lt(ack, peer.end))
			peer.fin_acked = 1;
		if (k == K_FIN)
			me.fin_seen = 1;
		struct xpf_tcp_side *i0 = fwd ? &me : &peer;
		struct xpf_tcp_side *i1 = fwd ? &peer : &me;
		if (prev == TS_SYN_RECEIVED && s_lt(ack, i1->end)) {
			state = TS_SYN_RECEIVED;
		} else if (!i0->fin_seen && !i1->fin_seen) {
			state = TS_ESTABLISHED;
		} else if (i0->fin_seen && !i1->fin_seen) {
			state = TS_FIN_WAIT;
		} else if (!i0->fin_seen && i1->fin_seen) {
			state = TS_CLOSE_WAIT;
		} else if (i0->fin_acked && i1->fin_acked) {
			state = TS_TIME_WAIT;
		} else {
			state = TS_LAST_ACK;
		}
	}
	if (fwd) {
		t->sides[0] = me;
		t->sides[1] = peer;
	} else {
		t->sides[0] = peer;
		t->sides[1] = me;
	}
	t->state = state;
	t->version++;
	return state;
}

__noinline int xpf_tcp_update(struct xpf_tcp *t, const struct tcp_seg *g, __u32 dir, __u32 loose)
{
	if (!t || !g)
		return TV_INVALID;
	return tcp_update(t, g, dir, loose);
}

/* A new tracker from a first segment: strict needs a SYN, loose picks up
 * mid-stream (ACK / FIN+ACK). Returns 0 or TV_INVALID. */
__noinline int xpf_tcp_new(struct xpf_tcp *t, const struct tcp_seg *g, __u32 loose)
{
	if (!t || !g)
		return TV_INVALID;
	__builtin_memset(t, 0, sizeof(*t));
	t->valid = 1;
	int k = seg_kind(g->flags);
	if (k == K_SYN) {
		t->state = TS_SYN_SENT;
		side_syn_init(&t->sides[0], g);
		return 0;
	}
	if (!loose || (k != K_ACK && k != K_FIN))
		return TV_INVALID;
	t->state = TS_ESTABLISHED;
	t->liberal = 1;
	int r = xpf_tcp_update(t, g, 0, 1);
	return r < 0 ? r : 0;
}

static __always_inline __u8 lifecycle(__u8 tcp, int answered)
{
	switch (tcp) {
	case TS_NONE:
		return answered ? SS_ESTABLISHED : SS_NEW;
	case TS_SYN_SENT:
	case TS_SYN_RECEIVED:
		return SS_NEW;
	case TS_ESTABLISHED:
		return SS_ESTABLISHED;
	case TS_FIN_WAIT:
	case TS_CLOSE_WAIT:
	case TS_LAST_ACK:
		return SS_CLOSING;
	default:
		return SS_CLOSED;
	}
}

static __always_inline int unanswered(__u8 state, __u8 tcp)
{
	return state == SS_NEW && (tcp == TS_NONE || tcp == TS_SYN_SENT);
}

static __always_inline __u32 timeout_for(const struct xpf_gen_cfg *gc, __u8 proto, __u8 tcp, __u32 app)
{
	if (proto == 6) {
		switch (tcp) {
		case TS_SYN_SENT:
		case TS_SYN_RECEIVED:
			return gc->tcp_initial;
		case TS_ESTABLISHED:
		case TS_NONE:
			return app ? app : gc->tcp_established;
		case TS_FIN_WAIT:
		case TS_CLOSE_WAIT:
		case TS_LAST_ACK:
			return gc->tcp_closing;
		default:
			return gc->tcp_time_wait;
		}
	}
	if (proto == 17)
		return app ? app : gc->udp;
	if (proto == 1 || proto == 58)
		return gc->icmp;
	return gc->other;
}

/* ------------------------------------------------------------------------ */
/* Records (deltas and events) through the ring buffer.                      */

static __always_inline void emit_delta(__u32 kind, __u32 reason, __u64 now,
				       const struct xpf_sess_key *key, const struct xpf_sess *s)
{
	struct xpf_record *r = bpf_ringbuf_reserve(&xpf_events, sizeof(*r), 0);
	if (!r) {
		cnt_add(XC_DELTAS_DROPPED, 1);
		return;
	}
	r->kind = kind;
	r->reason = reason;
	r->time_ns = now;
	__builtin_memcpy(&r->key, key, sizeof(r->key));
	__builtin_memcpy(&r->s, s, sizeof(r->s));
	bpf_ringbuf_submit(r, 0);
}

/* ------------------------------------------------------------------------ */
/* Policy                                                                    */

struct policy_ctx {
	__u32 slot;
	__u32 start;
	__u16 from;
	__u16 to;
	__u8 family;
	__u8 proto;
	__u16 sport;
	__u16 dport;
	__u8 icmp_type;
	__u8 icmp_code;
	__u32 found;   /* index + 1 of the matching rule */
};

/* Is scheduler `id` of `slot` active at local time `local` (seconds)? The
 * packet's clock is xpf_globals.clock_ns in test runs (the harness's `now`),
 * else boot time + clock_offset_ns. Weekly windows need local >= 0. */
static __always_inline int sched_active(__u32 slot, __u32 id, __s64 local)
{
	if (id >= XPF_MAX_SCHEDULES)
		return 0;
	__u32 idx = (slot & 1) * XPF_MAX_SCHEDULES + id;
	struct xpf_sched *s = bpf_map_lookup_elem(&xpf_scheds, &idx);
	if (!s || !s->valid)
		return 0;
	if (s->n_dates) {
		int in = 0;
		for (int i = 0; i < XPF_SCHED_DATES; i++)
			if (i < s->n_dates && s->dates[i][0] <= local && local < s->dates[i][1])
				in = 1;
		if (!in)
			return 0;
	}
	if (!s->n_windows)
		return 1;
	if (local < 0)
		return 0;
	__u64 l = (__u64)local;
	__u64 days = l / 86400;
	__u32 minute = (__u32)((days + 3) % 7) * 1440 + (__u32)((l % 86400) / 60);
	for (int i = 0; i < XPF_SCHED_WINDOWS; i++)
		if (i < s->n_windows && s->windows[i][0] <= minute && minute < s->windows[i][1])
			return 1;
	return 0;
}

static __always_inline int set_contains(__u32 slot, __u32 set, __u8 family, const __u8 *addr)
{
	__u32 tag = __builtin_bswap32((slot << 31) | (set & 0x7fffffff));
	if (family == 4) {
		struct xpf_lpm4_key k = { .prefixlen = 64, .tag = tag };
		__builtin_memcpy(k.addr, addr, 4);
		return bpf_map_lookup_elem(&xpf_sets4, &k) != 0;
	}
	struct xpf_lpm6_key k = { .prefixlen = 160, .tag = tag };
	__builtin_memcpy(k.addr, addr, 16);
	return bpf_map_lookup_elem(&xpf_sets6, &k) != 0;
}

/* Loads the set membership of `addr` (xpf_members4/6) into `out`: empty
 * when no prefix of any set with an id below XPF_MEMBER_SETS covers it. */
static __always_inline void members_load(__u32 slot, __u8 family, const __u8 *addr,
					 struct xpf_members *out)
{
	struct xpf_members *m;
	__u32 tag = __builtin_bswap32(slot);
	if (family == 4) {
		struct xpf_lpm4_key k = { .prefixlen = 64, .tag = tag };
		__builtin_memcpy(k.addr, addr, 4);
		m = bpf_map_lookup_elem(&xpf_members4, &k);
	} else {
		struct xpf_lpm6_key k = { .prefixlen = 160, .tag = tag };
		__builtin_memcpy(k.addr, addr, 16);
		m = bpf_map_lookup_elem(&xpf_members6, &k);
	}
	if (m)
		__builtin_memcpy(out, m, sizeof(*out));
	else
		__builtin_memset(out, 0, sizeof(*out));
}

/* Whether set `set` contains the address whose membership is `m`. */
static __always_inline int set_has(const struct xpf_members *m, __u32 slot, __u32 set,
				   __u8 family, const __u8 *addr)
{
	if (set < XPF_MEMBER_SETS)
		return (m->bits[(set >> 6) & (XPF_MEMBER_SETS / 64 - 1)] >> (set & 63)) & 1;
	return set_contains(slot, set, family, addr);
}

static long policy_step(__u64 i, void *arg)
{
	struct policy_ctx *c = arg;
	__u32 zero = 0;
	struct scratch *sc = bpf_map_lookup_elem(&xpf_scratch, &zero);
	if (!sc)
		return 1;
	__u32 idx = c->slot * XPF_MAX_RULES + c->start + (__u32)i;
	struct xpf_rule *r = bpf_map_lookup_elem(&xpf_rules, &idx);
	if (!r)
		return 1;
	if (!(r->flags & RF_ANY_FROM) && !(c->from < 64 && (r->from_zones >> c->from) & 1))
		return 0;
	if (!(r->flags & RF_ANY_TO) && !(c->to < 64 && (r->to_zones >> c->to) & 1))
		return 0;
	if (!(r->flags & RF_ANY_PROTO)) {
		if (r->proto != c->proto)
			return 0;
		if (has_ports(c->proto)) {
			if (c->sport < r->sport_lo || c->sport > r->sport_hi)
				return 0;
			if (c->dport < r->dport_lo || c->dport > r->dport_hi)
				return 0;
		} else if (is_icmp(c->proto)) {
			if ((r->flags & RF_HAS_ICMP_TYPE) && r->icmp_type != c->icmp_type)
				return 0;
			if ((r->flags & RF_HAS_ICMP_CODE) && r->icmp_code != c->icmp_code)
				return 0;
		}
	}
	int in_src = set_has(&sc->msrc, c->slot, r->src_set, c->family, sc->p.src);
	if (in_src == !!(r->flags & RF_SRC_NEGATE))
		return 0;
	int in_dst = set_has(&sc->mdst, c->slot, r->dst_set, c->family, sc->dst2);
	if (in_dst == !!(r->flags & RF_DST_NEGATE))
		return 0;
	if (r->sched && !sched_active(c->slot, r->sched - 1, sc->local))
		return 0;
	c->found = c->start + (__u32)i + 1;
	return 1;
}

/* ------------------------------------------------------------------------ */
/* NAT                                                                       */

static __always_inline int ctx_matches(const struct xpf_nat_ctx *c, __u16 zone, __u16 iface)
{
	if (c->zones == 0 && c->ifaces[0] == 0 && c->ifaces[1] == 0 && c->ifaces[2] == 0 &&
	    c->ifaces[3] == 0)
		return 1;
	if (zone < 64 && ((c->zones >> zone) & 1))
		return 1;
	__u32 w = (iface >> 6) & 3;
	return (c->ifaces[w] >> (iface & 63)) & 1;
}

struct nat_q {
	__u32 slot;
	__u16 zone;
	__u16 iface;
	__u16 to_zone;
	__u16 egress;
	__u8 family;
	__u8 proto;
	__u16 sport;
	__u16 dport;
	__u16 pad0;
	__u32 found; /* index + 1 */
};

static __always_inline int match_matches(const struct xpf_nat_match *m, const struct nat_q *q,
					 const struct pkt *p)
{
	int ok;
	if (m->n_src) {
		ok = 0;
		for (int i = 0; i < XPF_NAT_PREFIXES; i++)
			if (i < m->n_src && prefix_contains(&m->src[i], q->family, p->src))
				ok = 1;
		if (!ok)
			return 0;
	}
	if (m->n_dst) {
		ok = 0;
		for (int i = 0; i < XPF_NAT_PREFIXES; i++)
			if (i < m->n_dst && prefix_contains(&m->dst[i], q->family, p->dst))
				ok = 1;
		if (!ok)
			return 0;
	}
	if (m->n_protos) {
		ok = 0;
		for (int i = 0; i < XPF_NAT_PROTOS; i++)
			if (i < m->n_protos && m->protos[i] == q->proto)
				ok = 1;
		if (!ok)
			return 0;
	}
	if (m->n_sports) {
		ok = 0;
		for (int i = 0; i < XPF_NAT_PORTS; i++)
			if (i < m->n_sports && has_ports(q->proto) && q->sport >= m->sports[i][0] &&
			    q->sport <= m->sports[i][1])
				ok = 1;
		if (!ok)
			return 0;
	}
	if (m->n_dports) {
		ok = 0;
		for (int i = 0; i < XPF_NAT_PORTS; i++)
			if (i < m->n_dports && has_ports(q->proto) && q->dport >= m->dports[i][0] &&
			    q->dport <= m->dports[i][1])
				ok = 1;
		if (!ok)
			return 0;
	}
	return 1;
}

/* Host bits of `addr` moved from prefix `from` onto prefix `to`. */
static __always_inline void map_prefix(const struct xpf_prefix *from, const struct xpf_prefix *to,
				       __u8 family, const __u8 *addr, __u8 *out)
{
	__builtin_memset(out, 0, 16);
	__u32 words = family == 4 ? 1 : 4;
	for (__u32 w = 0; w < 4; w++) {
		if (w >= words)
			break;
		__u32 bits = from->len > w * 32 ? from->len - w * 32 : 0;
		__u32 mask = bits >= 32 ? 0xffffffffu : (bits == 0 ? 0 : ~(0xffffffffu >> bits));
		__u32 v = (rd32(to->addr + w * 4) & mask) | (rd32(addr + w * 4) & ~mask);
		out[w * 4] = v >> 24;
		out[w * 4 + 1] = v >> 16;
		out[w * 4 + 2] = v >> 8;
		out[w * 4 + 3] = v;
	}
}

static long static_in_step(__u64 i, void *arg)
{
	struct nat_q *q = arg;
	__u32 zero = 0;
	struct scratch *sc = bpf_map_lookup_elem(&xpf_scratch, &zero);
	if (!sc)
		return 1;
	__u32 idx = q->slot * XPF_MAX_STATIC_RULES + (__u32)i;
	struct xpf_static_rule *r = bpf_map_lookup_elem(&xpf_static, &idx);
	if (!r)
		return 1;
	if (!ctx_matches(&r->from, q->zone, q->iface))
		return 0;
	if (!prefix_contains(&r->public_net, q->family, sc->p.dst))
		return 0;
	map_prefix(&r->public_net, &r->private_net, q->family, sc->p.dst, sc->q_out);
	q->found = (__u32)i + 1;
	return 1;
}

static long static_out_step(__u64 i, void *arg)
{
	struct nat_q *q = arg;
	__u32 zero = 0;
	struct scratch *sc = bpf_map_lookup_elem(&xpf_scratch, &zero);
	if (!sc)
		return 1;
	__u32 idx = q->slot * XPF_MAX_STATIC_RULES + (__u32)i;
	struct xpf_static_rule *r = bpf_map_lookup_elem(&xpf_static, &idx);
	if (!r)
		return 1;
	if (!prefix_contains(&r->private_net, q->family, sc->p.src))
		return 0;
	map_prefix(&r->private_net, &r->public_net, q->family, sc->p.src, sc->q_out);
	q->found = (__u32)i + 1;
	return 1;
}

static long dnat_step(__u64 i, void *arg)
{
	struct nat_q *q = arg;
	__u32 zero = 0;
	struct scratch *sc = bpf_map_lookup_elem(&xpf_scratch, &zero);
	if (!sc)
		return 1;
	__u32 idx = q->slot * XPF_MAX_DNAT_RULES + (__u32)i;
	struct xpf_dnat_rule *r = bpf_map_lookup_elem(&xpf_dnat, &idx);
	if (!r)
		return 1;
	if (!ctx_matches(&r->from, q->zone, q->iface))
		return 0;
	if (!match_matches(&r->m, q, &sc->p))
		return 0;
	q->found = (__u32)i + 1;
	return 1;
}

static long snat_step(__u64 i, void *arg)
{
	struct nat_q *q = arg;
	__u32 zero = 0;
	struct scratch *sc = bpf_map_lookup_elem(&xpf_scratch, &zero);
	if (!sc)
		return 1;
	__u32 idx = q->slot * XPF_MAX_SNAT_RULES + (__u32)i;
	struct xpf_snat_rule *r = bpf_map_lookup_elem(&xpf_snat, &idx);
	if (!r)
		return 1;
	if (!ctx_matches(&r->from, q->zone, q->iface))
		return 0;
	if (!ctx_matches(&r->to, q->to_zone, q->egress))
		return 0;
	if (!match_matches(&r->m, q, &sc->p))
		return 0;
	q->found = (__u32)i + 1;
	return 1;
}

/* FNV-1a 64 over the request, then the MurmurHash3 finaliser. */
static __always_inline __u64 fnv_byte(__u64 h, __u8 b)
{
	return (h ^ b) * 0x00000100000001b3ULL;
}

static __always_inline __u64 fmix64(__u64 h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

/* endpoint_hash: fmix64(fnv1a64(src || src_port || protocol)). */
static __always_inline __u64 flow_hash_endpoint(__u8 family, const __u8 *src, __u16 sport, __u8 proto)
{
	__u64 h = 0xcbf29ce484222325ULL;
	__u32 n = family == 4 ? 4 : 16;
	for (__u32 i = 0; i < 16; i++)
		if (i < n)
			h = fnv_byte(h, src[i]);
	h = fnv_byte(h, sport >> 8);
	h = fnv_byte(h, sport & 0xff);
	h = fnv_byte(h, proto);
	return fmix64(h);
}

/* host_hash: fmix64(fnv1a64(src)). */
static __always_inline __u64 host_hash(__u8 family, const __u8 *src)
{
	__u64 h = 0xcbf29ce484222325ULL;
	__u32 n = family == 4 ? 4 : 16;
	for (__u32 i = 0; i < 16; i++)
		if (i < n)
			h = fnv_byte(h, src[i]);
	return fmix64(h);
}

static __always_inline __u64 flow_hash(__u8 family, const __u8 *src, __u16 sport, __u8 proto,
				       const __u8 *dst, __u16 dport)
{
	__u64 h = 0xcbf29ce484222325ULL;
	__u32 n = family == 4 ? 4 : 16;
	for (__u32 i = 0; i < 16; i++)
		if (i < n)
			h = fnv_byte(h, src[i]);
	h = fnv_byte(h, sport >> 8);
	h = fnv_byte(h, sport & 0xff);
	h = fnv_byte(h, proto);
	for (__u32 i = 0; i < 16; i++)
		if (i < n)
			h = fnv_byte(h, dst[i]);
	h = fnv_byte(h, dport >> 8);
	h = fnv_byte(h, dport & 0xff);
	return fmix64(h);
}

struct alloc_ctx {
	__u64 start;
	__u32 slots;
	__u32 base;
	__u16 target;
	__u8 proto;
	__u8 pad0;
	__u32 taken; /* slot + 1 */
};

static long alloc_step(__u64 k, void *arg)
{
	struct alloc_ctx *a = arg;
	if (a->slots == 0)
		return 1;
	__u64 s = a->base + (a->start + k) % a->slots;
	struct xpf_slot_key key = { .target = a->target, .proto = a->proto, .slot = (__u32)s };
	__u8 one = 1;
	if (bpf_map_update_elem(&xpf_slots, &key, &one, BPF_NOEXIST) == 0) {
		a->taken = (__u32)s + 1;
		return 1;
	}
	return 0;
}

static __always_inline int release_slot(__u16 target, __u8 proto, __u32 slot)
{
	struct xpf_slot_key key = { .target = target, .proto = proto, .slot = slot };
	int r = bpf_map_delete_elem(&xpf_slots, &key);
	if (r == 0) {
		key.slot = 0;
		struct xpf_exhaust *ex = bpf_map_lookup_elem(&xpf_exhausted, &key);
		if (ex)
			__sync_fetch_and_add(&ex->releases, 1);
	}
	return r;
}

/* The slot plan of a source-NAT allocation (docs/nat-allocation.md) into
 * sc->nat: a persistent mapping of this endpoint is reused as it is
 * (nat.reused); else the scan covers the bound address's ports (address
 * persistence) or every slot, from the endpoint hash (persistent) or the
 * flow hash. `naddr` addresses of `ports` ports; sc->nat.target / kind set
 * by the caller. A global function: keeps the first-packet stage's stack
 * small. */
__noinline int xpf_nat_plan(struct scratch *sc, __u32 naddr, __u32 ports, __u32 dport)
{
	if (!sc || naddr == 0 || ports == 0)
		return -1;
	struct pkt *p = &sc->p;
	struct nat_plan *n = &sc->nat;
	n->reused = 0;
	n->ports = ports;
	n->base = 0;
	n->idx = 0;
	if (n->kind & POOL_ADDR_ONLY) {
		/* An address hold: the host's held address, else the first free
		 * one from its host hash. */
		struct xpf_bind_key *bk = &sc->bk;
		__builtin_memset(bk, 0, sizeof(*bk));
		bk->target = n->target;
		bk->family = p->family;
		bk->scope = (n->kind & POOL_HOLD_SCOPED) ? p->proto : 0;
		addr_cpy(bk->src, p->src);
		struct xpf_binding *b = bpf_map_lookup_elem(&xpf_binds, bk);
		if (b) {
			n->reused = b->value + 1;
			return 0;
		}
		n->slots = naddr;
		n->start = host_hash(p->family, p->src) % naddr;
		return 0;
	}
	if (n->kind & POOL_PERSISTENT) {
		struct xpf_persist_key *nk = &sc->nk;
		__builtin_memset(nk, 0, sizeof(*nk));
		nk->target = n->target;
		nk->proto = p->proto;
		nk->family = p->family;
		nk->sport = p->sport;
		addr_cpy(nk->src, p->src);
		struct xpf_binding *b = bpf_map_lookup_elem(&xpf_persist, nk);
		if (b) {
			n->reused = b->value + 1;
			return 0;
		}
	}
	__u64 h;
	if (n->kind & POOL_PERSISTENT)
		h = flow_hash_endpoint(p->family, p->src, p->sport, p->proto);
	else
		h = flow_hash(p->family, p->src, p->sport, p->proto, sc->dst2, (__u16)dport);
	if (n->kind & POOL_ADDR_PERSISTENT) {
		struct xpf_bind_key *bk = &sc->bk;
		__builtin_memset(bk, 0, sizeof(*bk));
		bk->target = n->target;
		bk->family = p->family;
		addr_cpy(bk->src, p->src);
		struct xpf_binding *b = bpf_map_lookup_elem(&xpf_binds, bk);
		__u32 idx = b ? b->value : (__u32)(host_hash(p->family, p->src) % naddr);
		n->idx = idx;
		n->base = idx * ports;
		n->slots = ports;
		n->start = h % ports;
	} else {
		n->slots = naddr * ports;
		n->start = h % n->slots;
	}
	return 0;
}

/* The exhaustion memo (struct xpf_exhaust) before a scan of sc->nat's
 * plan: 1 when the last full scan of this (target, proto) failed and no
 * slot has been released since, so the pool is still full. Otherwise notes
 * the release count the scan starts from. Only whole-pool scans (not an
 * address hold, not one address's ports) are remembered. Global functions:
 * the first-packet stage's stack is at its limit. */
__noinline int xpf_nat_memo(struct scratch *sc, __u32 proto)
{
	if (!sc)
		return 0;
	struct nat_plan *n = &sc->nat;
	n->memo = 0;
	if (n->kind & (POOL_ADDR_ONLY | POOL_ADDR_PERSISTENT))
		return 0;
	struct xpf_slot_key ek = { .target = n->target, .proto = (__u8)proto };
	struct xpf_exhaust fresh = {};
	bpf_map_update_elem(&xpf_exhausted, &ek, &fresh, BPF_NOEXIST);
	struct xpf_exhaust *ex = bpf_map_lookup_elem(&xpf_exhausted, &ek);
	if (!ex)
		return 0;
	__u64 r0 = ex->releases;
	if (ex->failed_at == r0 + 1)
		return 1;
	n->memo = 1;
	n->memo_r0 = r0;
	return 0;
}

/* Records that the scan xpf_nat_memo prepared found no free slot. */
__noinline int xpf_nat_memo_fail(struct scratch *sc, __u32 proto)
{
	if (!sc || !sc->nat.memo)
		return 0;
	struct xpf_slot_key ek = { .target = sc->nat.target, .proto = (__u8)proto };
	struct xpf_exhaust *ex = bpf_map_lookup_elem(&xpf_exhausted, &ek);
	if (ex)
		ex->failed_at = sc->nat.memo_r0 + 1;
	return 0;
}

/* Bookkeeping of a granted persistent / address-persistent mapping, once
 * its session is in place: the endpoint's slot and the host's address gain
 * a reference. */
__noinline int xpf_nat_take(struct scratch *sc, __u32 slot)
{
	if (!sc)
		return 0;
	struct nat_plan *n = &sc->nat;
	if (n->kind & POOL_ADDR_ONLY) {
		struct xpf_binding *b = bpf_map_lookup_elem(&xpf_binds, &sc->bk);
		if (b) {
			__sync_fetch_and_add(&b->refs, 1);
		} else {
			struct xpf_binding nb = { .value = slot, .refs = 1 };
			bpf_map_update_elem(&xpf_binds, &sc->bk, &nb, BPF_NOEXIST);
		}
		return 0;
	}
	if (n->kind & POOL_PERSISTENT) {
		struct xpf_binding *b = bpf_map_lookup_elem(&xpf_persist, &sc->nk);
		if (b) {
			__sync_fetch_and_add(&b->refs, 1);
		} else {
			struct xpf_binding nb = { .value = slot, .refs = 1 };
			bpf_map_update_elem(&xpf_persist, &sc->nk, &nb, BPF_NOEXIST);
		}
	}
	if ((n->kind & POOL_ADDR_PERSISTENT) && !n->reused) {
		struct xpf_binding *b = bpf_map_lookup_elem(&xpf_binds, &sc->bk);
		if (b) {
			__sync_fetch_and_add(&b->refs, 1);
		} else {
			struct xpf_binding nb = { .value = n->ports ? slot / n->ports : 0, .refs = 1 };
			bpf_map_update_elem(&xpf_binds, &sc->bk, &nb, BPF_NOEXIST);
		}
	}
	return 0;
}

/* Releases the source mapping of session `s` (forward key `fk`): a
 * persistent mapping loses a reference and frees its slot with the last;
 * an address-persistent host loses a reference on its address. */
__noinline int xpf_nat_release(struct scratch *sc, const struct xpf_sess_key *fk,
			       const struct xpf_sess *s)
{
	if (!sc || !fk || !s)
		return 0;
	__u8 kind = s->nat_kind;
	if (kind & POOL_ADDR_ONLY) {
		struct xpf_bind_key *bk = &sc->bk;
		__builtin_memset(bk, 0, sizeof(*bk));
		bk->target = s->snat_target;
		bk->family = fk->family;
		bk->scope = (kind & POOL_HOLD_SCOPED) ? fk->proto : 0;
		addr_cpy(bk->src, fk->src);
		struct xpf_binding *b = bpf_map_lookup_elem(&xpf_binds, bk);
		if (!b || b->value != s->slot)
			return 0;
		if (__sync_fetch_and_add(&b->refs, -1) > 1)
			return 0;
		bpf_map_delete_elem(&xpf_binds, bk);
		release_slot(s->snat_target, (kind & POOL_HOLD_SCOPED) ? fk->proto : HOLD_PROTO,
			     s->slot);
		return 0;
	}
	if (kind & POOL_PERSISTENT) {
		struct xpf_persist_key *nk = &sc->nk;
		__builtin_memset(nk, 0, sizeof(*nk));
		nk->target = s->snat_target;
		nk->proto = fk->proto;
		nk->family = fk->family;
		nk->sport = fk->sport;
		addr_cpy(nk->src, fk->src);
		struct xpf_binding *b = bpf_map_lookup_elem(&xpf_persist, nk);
		if (!b || b->value != s->slot)
			return 0;
		if (__sync_fetch_and_add(&b->refs, -1) > 1)
			return 0;
		bpf_map_delete_elem(&xpf_persist, nk);
	}
	if (release_slot(s->snat_target, fk->proto, s->slot) != 0)
		return 0;
	if (kind & POOL_ADDR_PERSISTENT) {
		struct xpf_bind_key *bk = &sc->bk;
		__builtin_memset(bk, 0, sizeof(*bk));
		bk->target = s->snat_target;
		bk->family = fk->family;
		addr_cpy(bk->src, fk->src);
		struct xpf_binding *b = bpf_map_lookup_elem(&xpf_binds, bk);
		if (b && __sync_fetch_and_add(&b->refs, -1) <= 1)
			bpf_map_delete_elem(&xpf_binds, bk);
	}
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Checksums (RFC 1624 incremental updates, big-endian 16-bit words).       */

static __always_inline __u32 csum_acc(__u32 acc, __u16 old, __u16 new)
{
	return acc + (__u16)~old + new;
}

static __always_inline __u16 csum_apply(__u16 hc, __u32 acc)
{
	__u32 s = (__u16)~hc + acc;
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return ~s & 0xffff;
}

/* TCP option walk over a copy of the options (verified once, in a bpf_loop
 * callback, instead of unrolling a 40-step walk over packet pointers). */
struct opt_walk {
	__u8 opts[40];
	__u32 len;
	__u32 i;
	__u32 ws;
	__u32 n_mss;
	__u32 mss_at[4];
	__u32 mss_val[4];
};

static long opt_step(__u64 n, void *arg)
{
	struct opt_walk *w = arg;
	__u32 i = w->i;
	if (i >= w->len || i >= 40)
		return 1;
	__u8 kind = w->opts[i];
	if (kind == 0)
		return 1;
	if (kind == 1) {
		w->i = i + 1;
		return 0;
	}
	if (i + 1 >= w->len || i + 1 >= 40)
		return 1;
	__u32 len = w->opts[i + 1];
	if (len < 2 || i + len > w->len)
		return 1;
	if (kind == 3 && len == 3 && i + 2 < 40)
		w->ws = w->opts[i + 2];
	if (kind == 2 && len == 4 && w->n_mss < 4 && i + 3 < 40) {
		__u32 n = w->n_mss & 3;
		w->mss_at[n] = i + 2;
		w->mss_val[n] = ((__u32)w->opts[i + 2] << 8) | w->opts[i + 3];
		w->n_mss++;
	}
	w->i = i + len;
	return 0;
}

static __always_inline int walk_options(struct xdp_md *ctx, __u32 l4, __u32 th, struct opt_walk *w)
{
	__builtin_memset(w, 0, sizeof(*w));
	w->ws = 0xff;
	if (th <= 20 || th > 60)
		return 0;
	__u32 len = (th - 20) & 63;
	if (len == 0 || len > 40)
		return 0;
	if (bpf_xdp_load_bytes(ctx, l4 + 20, w->opts, len))
		return -1;
	w->len = len;
	bpf_loop(40, opt_step, w, 0);
	return 0;
}

/* Clamps every MSS option of the TCP header at `l4` (header length `th`)
 * to `mss`, fixing the checksum. Returns 1 when something changed, 0 when
 * not, -1 on a bounds error. A global function: verified once, on its own. */
__noinline int xpf_mss_clamp(struct xdp_md *ctx, __u32 l4, __u32 th, __u32 mss)
{
	if (!ctx)
		return -1;
	struct opt_walk w;
	if (walk_options(ctx, l4, th, &w) < 0)
		return -1;
	__u32 acc = 0;
	int changed = 0;
	for (int k = 0; k < 4; k++) {
		if (k >= w.n_mss)
			break;
		__u32 at = w.mss_at[k] & 0x3f;
		__u16 cur = w.mss_val[k];
		if (cur > mss) {
			__u8 b[2] = { mss >> 8, mss & 0xff };
			if (bpf_xdp_store_bytes(ctx, l4 + 20 + at, b, 2))
				return -1;
			acc = csum_acc(acc, cur, (__u16)mss);
			changed = 1;
		}
	}
	if (!changed)
		return 0;
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	__u8 *seg = data + (l4 & 0x7fff);
	if ((void *)(seg + 20) > end)
		return -1;
	wr16(seg + 16, csum_apply(rd16(seg + 16), acc));
	return 1;
}

/* IPv4 options walk (RFC 791): END stops, NOP is one byte, every other
 * option carries a length of at least 2 that must fit. */
struct ipopt_walk {
	__u8 opts[40];
	__u32 len;
	__u32 i;
	__u32 bad;
	__u32 sr;
};

static long ipopt_step(__u64 n, void *arg)
{
	struct ipopt_walk *w = arg;
	__u32 i = w->i;
	if (i >= w->len || i >= 40)
		return 1;
	__u8 kind = w->opts[i];
	if (kind == 0)
		return 1;
	if (kind == 1) {
		w->i = i + 1;
		return 0;
	}
	__u32 len = 0;
	if (i + 1 < w->len && i + 1 < 40)
		len = w->opts[i + 1];
	if (len < 2 || i + len > w->len) {
		w->bad = 1;
		return 1;
	}
	if (kind == 131 || kind == 137)
		w->sr = 1;
	w->i = i + len;
	return 0;
}

/* The options of the IPv4 header at `l3` (length `hlen` > 20): -1 when the
 * list is malformed, 1 when it holds a loose / strict source route, else 0. */
__noinline int xpf_ip_options(struct xdp_md *ctx, __u32 l3, __u32 hlen)
{
	if (!ctx)
		return -1;
	struct ipopt_walk w;
	__builtin_memset(&w, 0, sizeof(w));
	if (hlen <= 20 || hlen > 60)
		return 0;
	__u32 len = (hlen - 20) & 63;
	if (len == 0 || len > 40)
		return 0;
	if (bpf_xdp_load_bytes(ctx, l3 + 20, w.opts, len))
		return -1;
	w.len = len;
	bpf_loop(40, ipopt_step, &w, 0);
	if (w.bad)
		return -1;
	return w.sr ? 1 : 0;
}

/* The window-scale option of the TCP header at `l4` (0xff: none). */
__noinline int xpf_tcp_wscale(struct xdp_md *ctx, __u32 l4, __u32 th)
{
	if (!ctx)
		return 0xff;
	struct opt_walk w;
	if (walk_options(ctx, l4, th, &w) < 0)
		return 0xff;
	return w.ws;
}

/* Stages return an XDP action, or FWD_TO(egress) to continue with xpf_forward
 * (called from the entry point, which keeps the call chain shallow). */
#define FWD_TO(e) (0x100000 | ((e) & 0xffff))
#define EMIT_REJECT 1        /* policy reject: RST for TCP, else admin-prohibited */
#define EMIT_RST 2           /* zone tcp-rst on a non-SYN first segment */
#define EMIT_TIME_EXCEEDED 3 /* TTL / hop-limit expiry */
#define EMIT_TO(kind) (0x400000 | (kind)) /* out of the ingress */
#define EMIT_VIA(kind, iface) (0x400000 | 0x10000 | (((iface) & 0xff) << 8) | (kind))

#define DELIVER_TO(e) (0x200000 | ((e) & 0xffff))
/* xpf_established found no session for the packet's key: first packet. The
 * session lookup is done once, in that stage (its value pointer cannot be
 * passed to a global function). */
#define SESS_MISS 0x1000000

/* scratch.fc_state */
#define FC_NONE 0
#define FC_HIT 1
#define FC_FILL 2

/* ------------------------------------------------------------------------ */
/* Verdicts                                                                  */

static __always_inline struct xpf_gen_cfg *gen_of(const struct verdict_ctx *v)
{
	__u32 slot = v->slot & 1;
	return bpf_map_lookup_elem(&xpf_gen, &slot);
}

static __always_inline int do_drop(struct verdict_ctx *v, __u32 reason)
{
	cnt_add(XC_BASE_COUNT + reason, 1);
	cnt_add(XC_DROPPED, 1);
	if (v->ingress < XPF_MAX_IFACES) {
		__u32 i = v->ingress;
		struct xpf_if_cnt *c = bpf_map_lookup_elem(&xpf_cnt_iface, &i);
		if (c)
			c->rx_dropped += 1;
	}
	if (v->zone < XPF_MAX_ZONES) {
		__u32 z = v->zone;
		struct xpf_zone_cnt *c = bpf_map_lookup_elem(&xpf_cnt_zone, &z);
		if (c)
			c->dropped += 1;
	}
	if (v->trace) {
		__u32 zero = 0;
		struct xpf_trace *t = bpf_map_lookup_elem(&xpf_trace, &zero);
		if (t) {
			t->verdict = XV_DROP;
			t->reason = reason;
			t->egress = 0;
		}
	}
	return XDP_DROP;
}

static __always_inline int do_local(struct verdict_ctx *v)
{
	cnt_add(XC_LOCAL, 1);
	if (v->trace) {
		__u32 zero = 0;
		struct xpf_trace *t = bpf_map_lookup_elem(&xpf_trace, &zero);
		if (t) {
			t->verdict = XV_LOCAL;
			t->reason = 0;
			t->egress = 0;
		}
	}
	return XDP_PASS;
}

/* A frame of a redundancy group that is backup on this node: counted as the
 * ha-inactive drop it is (as the userspace backend counts the engine's
 * verdict), then, when the synced fabric view holds a usable link (map
 * xpf_fabric), sent to the peer over it as it stands except destination
 * MAC = the peer's, source MAC = this node's, and counted as
 * fabric-forwarded. Without a link it is dropped. The frame stands as the
 * engine's would at the same drop: as it arrived at the entry point and in
 * the established path (before any rewrite), with its translated tuple at
 * the egress check of xpf_forward (before the TTL and MSS stages). */
__noinline int xpf_ha_inactive(struct xdp_md *ctx, struct verdict_ctx *v)
{
	if (!ctx || !v)
		return XDP_DROP;
	do_drop(v, DR_HA_INACTIVE);
	__u32 zero = 0;
	struct xpf_fabric *f = bpf_map_lookup_elem(&xpf_fabric, &zero);
	if (!f)
		return XDP_DROP;
	__u32 ifindex = f->ifindex;
	if (!ifindex)
		return XDP_DROP;
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	if (data + 12 > end)
		return XDP_DROP;
	__builtin_memcpy(data, f->peer_mac, 6);
	__builtin_memcpy(data + 6, f->local_mac, 6);
	cnt_add(XC_FABRIC_FORWARDED, 1);
	if (v->trace) {
		struct xpf_trace *t = bpf_map_lookup_elem(&xpf_trace, &zero);
		if (t)
			t->fabric = ifindex;
	}
	if (!v->test_mode && ifindex == ctx->ingress_ifindex)
		return XDP_TX;
	return bpf_redirect(ifindex, 0);
}

/* ------------------------------------------------------------------------ */
/* Rewrites                                                                  */

/* Rewrites addresses and ports to (src, dst, sport, dport) with incremental
 * checksum updates. Returns 1 when anything changed, -1 on a bounds error. */
static __always_inline int rewrite(struct xdp_md *ctx, struct pkt *p, const __u8 *nsrc,
				   const __u8 *ndst, __u16 nsp, __u16 ndp)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	__u32 l3 = p->l3 & 0x1f;
	__u32 l4 = p->l4 & 0x7fff; /* IPv6 extension headers: beyond 127 */
	__u8 *ip = data + l3;
	__u8 *seg = data + l4;
	if ((void *)(ip + 40) > end)
		return -1;
	__u32 ip_acc = 0, l4_acc = 0;
	int changed = 0;
	__u32 so = p->family == 4 ? 12 : 8;
	__u32 dof = p->family == 4 ? 16 : 24;
	__u32 words = p->family == 4 ? 2 : 8;
	for (__u32 w = 0; w < 8; w++) {
		if (w >= words)
			break;
		__u8 *ps = ip + so + w * 2;
		__u8 *pd = ip + dof + w * 2;
		if ((void *)(ps + 2) > end || (void *)(pd + 2) > end)
			return -1;
		__u16 o = rd16(ps), n = rd16(nsrc + w * 2);
		if (o != n) {
			ip_acc = csum_acc(ip_acc, o, n);
			wr16(ps, n);
			changed = 1;
		}
		o = rd16(pd);
		n = rd16(ndst + w * 2);
		if (o != n) {
			ip_acc = csum_acc(ip_acc, o, n);
			wr16(pd, n);
			changed = 1;
		}
	}
	if ((void *)(seg + 20) > end && p->kind == L4_TCP)
		return -1;
	if ((void *)(seg + 8) > end && p->kind != L4_OTHER)
		return -1;
	if (p->kind == L4_TCP || p->kind == L4_UDP) {
		if ((void *)(seg + 8) > end)
			return -1;
		if (p->sport != nsp) {
			l4_acc = csum_acc(l4_acc, p->sport, nsp);
			wr16(seg, nsp);
			p->sport = nsp;
			changed = 1;
		}
		if (p->dport != ndp) {
			l4_acc = csum_acc(l4_acc, p->dport, ndp);
			wr16(seg + 2, ndp);
			p->dport = ndp;
			changed = 1;
		}
	} else if (p->kind == L4_ICMP_QUERY) {
		if ((void *)(seg + 8) > end)
			return -1;
		if (p->sport != nsp) {
			l4_acc = csum_acc(l4_acc, p->sport, nsp);
			wr16(seg + 4, nsp);
			p->sport = nsp;
			p->dport = nsp;
			changed = 1;
		}
	}
	addr_cpy(p->src, nsrc);
	addr_cpy(p->dst, ndst);
	if (!changed)
		return 0;
	if (p->family == 4 && ip_acc) {
		__u16 hc = rd16(ip + 10);
		wr16(ip + 10, csum_apply(hc, ip_acc));
	}
	if (p->kind == L4_OTHER)
		return 1;
	/* The pseudo header covers the addresses for TCP, UDP and ICMPv6. */
	int pseudo = !(p->proto == 1 && p->family == 4);
	__u32 acc = l4_acc + (pseudo ? ip_acc : 0);
	if ((void *)(seg + 20) > end && p->kind == L4_TCP)
		return -1;
	__u32 at = p->kind == L4_TCP ? 16 : (p->kind == L4_UDP ? 6 : 2);
	if ((void *)(seg + at + 2) > end)
		return -1;
	__u16 hc = rd16(seg + at);
	if (p->kind == L4_UDP && p->family == 4 && hc == 0)
		return 1; /* no checksum on this datagram */
	__u16 nc = csum_apply(hc, acc);
	if (p->kind == L4_UDP && nc == 0)
		nc = 0xffff;
	wr16(seg + at, nc);
	return 1;
}

/* ------------------------------------------------------------------------ */
/* Forwarding: route, TTL, MSS clamp, neighbour, MAC, VLAN, redirect.       */

static __always_inline int route_lookup(__u32 slot, __u8 family, const __u8 *dst, struct xpf_route *out)
{
	struct xpf_route *r;
	if (family == 4) {
		struct xpf_lpm4_key k = { .prefixlen = 64, .tag = __builtin_bswap32(slot) };
		__builtin_memcpy(k.addr, dst, 4);
		r = bpf_map_lookup_elem(&xpf_routes4, &k);
	} else {
		struct xpf_lpm6_key k = { .prefixlen = 160, .tag = __builtin_bswap32(slot) };
		__builtin_memcpy(k.addr, dst, 16);
		r = bpf_map_lookup_elem(&xpf_routes6, &k);
	}
	if (!r)
		return 0;
	__builtin_memcpy(out, r, sizeof(*out));
	return 1;
}


/* ------------------------------------------------------------------------ */
/* Firewall filters: the interface's input filter of the packet's family   */
/* after the HA check (before screens), the egress interface's output      */
/* filter after the route lookup (before the TTL decrement). Terms in       */
/* order; a match counts the term, runs its policer (red: drop              */
/* policer-exceeded whatever the action), logs when asked, then the action; */
/* no terminating term: implicit discard.                                   */

#define TERM_ACCEPTED 0xffff

static __always_inline int term_matches(const struct xpf_term *t, const struct pkt *p)
{
	int ok;
	if (t->n_src) {
		ok = 0;
		for (int i = 0; i < XPF_TERM_PREFIXES; i++)
			if (i < t->n_src && prefix_contains(&t->src[i], p->family, p->src))
				ok = 1;
		if (!ok)
			return 0;
	}
	if (t->n_dst) {
		ok = 0;
		for (int i = 0; i < XPF_TERM_PREFIXES; i++)
			if (i < t->n_dst && prefix_contains(&t->dst[i], p->family, p->dst))
				ok = 1;
		if (!ok)
			return 0;
	}
	if (t->n_protos) {
		ok = 0;
		for (int i = 0; i < XPF_TERM_PROTOS; i++)
			if (i < t->n_protos && t->protos[i] == p->proto)
				ok = 1;
		if (!ok)
			return 0;
	}
	int ports = p->kind == L4_TCP || p->kind == L4_UDP || p->kind == L4_ICMP_QUERY;
	if (t->n_sports) {
		ok = 0;
		for (int i = 0; i < XPF_TERM_PORTS; i++)
			if (i < t->n_sports && ports && p->sport >= t->sports[i][0] &&
			    p->sport <= t->sports[i][1])
				ok = 1;
		if (!ok)
			return 0;
	}
	if (t->n_dports) {
		ok = 0;
		for (int i = 0; i < XPF_TERM_PORTS; i++)
			if (i < t->n_dports && ports && p->dport >= t->dports[i][0] &&
			    p->dport <= t->dports[i][1])
				ok = 1;
		if (!ok)
			return 0;
	}
	if (t->n_flags) {
		ok = 0;
		for (int i = 0; i < XPF_TERM_FLAGS; i++)
			if (i < t->n_flags && p->kind == L4_TCP &&
			    (p->tcp_flags & t->flags[i][0]) == t->flags[i][1])
				ok = 1;
		if (!ok)
			return 0;
	}
	if (t->n_dscp) {
		ok = 0;
		for (int i = 0; i < XPF_TERM_DSCP; i++)
			if (i < t->n_dscp && t->dscp[i] == p->dscp)
				ok = 1;
		if (!ok)
			return 0;
	}
	if (t->n_icmp) {
		int icmp = p->kind == L4_ICMP_QUERY || p->kind == L4_ICMP_ERROR || p->kind == L4_ICMP_OTHER;
		ok = 0;
		for (int i = 0; i < XPF_TERM_ICMP; i++)
			if (i < t->n_icmp && icmp && t->icmp[i] == p->icmp_type)
				ok = 1;
		if (!ok)
			return 0;
	}
	return 1;
}

/* Refills bucket `b` to `now` and takes `need` when it holds it. */
static __always_inline int bucket_take(struct bucket_val *b, __u64 need, __u64 now)
{
	int ok;
	bpf_spin_lock(&b->lock);
	if (now > b->at) {
		__u64 el = now - b->at;
		__u64 rate = b->rate;
		__u64 deficit = b->cap > b->nano ? b->cap - b->nano : 0;
		if (rate && el >= (deficit + rate - 1) / rate)
			b->nano = b->cap;
		else
			b->nano += el * rate;
		b->at = now;
	}
	ok = b->nano >= need;
	if (ok)
		b->nano -= need;
	bpf_spin_unlock(&b->lock);
	return ok;
}

/* The term's policer: single rate (red when the committed bucket cannot
 * pay) or two-rate colour-blind (red when the peak bucket cannot pay, else
 * the committed bucket pays when it can). */
static __always_inline int policer_red(__u32 slot, __u32 ti, __u32 two_rate, __u32 bytes, __u64 now)
{
	__u64 need = (__u64)bytes * 1000000000ULL;
	__u32 k = ((slot & 1) * XPF_MAX_TERMS + ti) * 2;
	struct bucket_val *c = bpf_map_lookup_elem(&xpf_policers, &k);
	if (!c)
		return 0;
	if (two_rate) {
		__u32 kp = k + 1;
		struct bucket_val *pk = bpf_map_lookup_elem(&xpf_policers, &kp);
		if (!pk)
			return 0;
		if (!bucket_take(pk, need, now))
			return 1;
		bucket_take(c, need, now);
		return 0;
	}
	return !bucket_take(c, need, now);
}

struct term_q {
	__u64 now;
	__u32 slot;
	__u32 start;
	__u32 dir;
	__u32 iface;
	__u32 result; /* 0: no terminating term yet; TERM_ACCEPTED; else a drop reason */
	__u32 reject;
};

static long term_step(__u64 i, void *arg)
{
	struct term_q *q = arg;
	__u32 zero = 0;
	struct scratch *sc = bpf_map_lookup_elem(&xpf_scratch, &zero);
	if (!sc)
		return 1;
	struct pkt *p = &sc->p;
	__u32 ti = q->start + (__u32)i;
	if (ti >= XPF_MAX_TERMS)
		return 1;
	__u32 idx = (q->slot & 1) * XPF_MAX_TERMS + ti;
	struct xpf_term *t = bpf_map_lookup_elem(&xpf_terms, &idx);
	if (!t)
		return 1;
	if (!term_matches(t, p))
		return 0;
	cnt_pkt(&xpf_cnt_term, ti, p->l3_len);
	int red = t->policer && policer_red(q->slot, ti, t->policer == 2, p->l3_len, q->now);
	__u32 done = 0, reason = 0, logged = FA_LOG_ACCEPT;
	if (red) {
		done = 1;
		reason = DR_POLICER_EXCEEDED;
		logged = FA_LOG_DISCARD;
	} else if (t->action == FA_ACCEPT) {
		done = 1;
		reason = TERM_ACCEPTED;
	} else if (t->action == FA_DISCARD) {
		done = 1;
		reason = DR_FILTER_DISCARD;
		logged = FA_LOG_DISCARD;
	} else if (t->action == FA_REJECT) {
		done = 1;
		reason = DR_FILTER_REJECT;
		logged = FA_LOG_REJECT;
	}
	if (t->log) {
		struct xpf_record *r = bpf_ringbuf_reserve(&xpf_events, sizeof(*r), 0);
		if (r) {
			__builtin_memset(r, 0, sizeof(*r));
			r->kind = XR_FILTER_LOG;
			r->reason = logged;
			r->time_ns = q->now;
			r->key.family = p->family;
			r->key.proto = p->proto;
			/* A non-first fragment's ports (its datagram's) are
			 * not in the packet: the log names none. */
			int carried = p->kind == L4_TCP || p->kind == L4_UDP ||
				      p->kind == L4_ICMP_QUERY;
			r->key.sport = carried ? p->sport : 0;
			r->key.dport = carried ? p->dport : 0;
			addr_cpy(r->key.src, p->src);
			addr_cpy(r->key.dst, p->dst);
			r->s.rule = t->filter;
			r->s.nat_rule_src = t->id;
			r->s.state = q->dir;
			r->s.in_if = q->iface;
			r->s.flags = (p->kind == L4_ICMP_QUERY || p->kind == L4_ICMP_ERROR ||
				      p->kind == L4_ICMP_OTHER)
					     ? (__u16)p->icmp_type + 1
					     : 0;
			bpf_ringbuf_submit(r, 0);
		} else {
			cnt_add(XC_EVENTS_DROPPED, 1);
		}
	}
	if (!done)
		return 0;
	q->result = reason;
	q->reject = !red && t->action == FA_REJECT;
	return 1;
}

#define FILTER_DROPPED 1
#define FILTER_REJECTED 2

/* Runs filter `fid1` (FilterId + 1) on the packet, attached to `iface` in
 * direction `dir` (0 input, 1 output): 0 when the packet goes on, else
 * FILTER_DROPPED / FILTER_REJECTED (dropped and counted; a reject answers
 * out of `iface`). */
__noinline int xpf_filter(struct verdict_ctx *v, struct scratch *sc, __u32 fid1, __u32 iface, __u32 dir)
{
	if (!v || !sc || fid1 == 0 || fid1 > XPF_MAX_FILTERS)
		return 0;
	__u32 k = (v->slot & 1) * XPF_MAX_FILTERS + (fid1 - 1);
	struct xpf_span *span = bpf_map_lookup_elem(&xpf_filters, &k);
	struct term_q q;
	__builtin_memset(&q, 0, sizeof(q));
	q.now = v->now;
	q.slot = v->slot;
	q.dir = dir;
	q.iface = iface;
	if (span && span->count) {
		q.start = span->start;
		bpf_loop(span->count, term_step, &q, 0);
	}
	if (q.result == TERM_ACCEPTED)
		return 0;
	do_drop(v, q.result ? q.result : DR_FILTER_DISCARD);
	return q.reject ? FILTER_REJECTED : FILTER_DROPPED;
}

/* The ingress interface's input filter of the packet's family. */
__noinline int xpf_in_filter(struct verdict_ctx *v, struct scratch *sc)
{
	if (!v || !sc)
		return 0;
	__u32 iidx = (v->slot & 1) * XPF_MAX_IFACES + (v->ingress & (XPF_MAX_IFACES - 1));
	struct xpf_iface *ifc = bpf_map_lookup_elem(&xpf_ifaces, &iidx);
	if (!ifc)
		return 0;
	__u32 f = sc->p.family == 4 ? ifc->filters[0] : ifc->filters[1];
	if (!f)
		return 0;
	return xpf_filter(v, sc, f, v->ingress, 0);
}

__noinline int xpf_forward(struct xdp_md *ctx, struct verdict_ctx *v, struct scratch *sc, __u32 egress)
{
	if (!ctx || !v || !sc)
		return XDP_DROP;
	struct pkt *p = &sc->p;
	__u32 slot = v->slot & 1;
	struct xpf_gen_cfg *gc = gen_of(v);
	if (!gc)
		return do_drop(v, DR_UNKNOWN_INTERFACE);
	__u32 eidx = slot * XPF_MAX_IFACES + (egress & (XPF_MAX_IFACES - 1));
	struct xpf_iface *eif = bpf_map_lookup_elem(&xpf_ifaces, &eidx);
	if (!eif || !eif->valid || egress >= XPF_MAX_IFACES)
		return do_drop(v, DR_NO_ROUTE);
	if (rg_inactive(eif->rg))
		return xpf_ha_inactive(ctx, v);
	/* A cached next hop stands for this lookup: under the same epoch the
	 * route of the direction's (translated) destination forwards to it. */
	if (sc->fc_state != FC_HIT) {
		if (!route_lookup(slot, p->family, p->dst, &sc->rt))
			return do_drop(v, DR_NO_ROUTE);
		if (sc->rt.kind == RT_DISCARD)
			return do_drop(v, DR_ROUTE_DISCARD);
		if (sc->rt.kind == RT_NEXT_HOP)
			addr_cpy(sc->gw, sc->rt.gateway);
		else
			addr_cpy(sc->gw, p->dst);
	}
	__u32 fo = p->family == 4 ? eif->filters[2] : eif->filters[3];
	if (fo) {
		int fr = xpf_filter(v, sc, fo, egress, 1);
		if (fr == FILTER_REJECTED)
			return EMIT_VIA(EMIT_REJECT, egress);
		if (fr)
			return XDP_DROP;
	}
	if (p->ttl <= 1)
		return do_drop(v, DR_TTL_EXCEEDED);
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	__u32 l3 = p->l3 & 0x1f;
	__u8 *ip = data + l3;
	if ((void *)(ip + 40) > end)
		return do_drop(v, DR_MALFORMED_IPV4);
	p->ttl -= 1;
	if (p->family == 4) {
		__u16 old = rd16(ip + 8);
		ip[8] = p->ttl;
		__u16 nw = rd16(ip + 8);
		wr16(ip + 10, csum_apply(rd16(ip + 10), csum_acc(0, old, nw)));
	} else {
		ip[7] = p->ttl;
	}
	/* MSS clamp (by the entry point), then delivery. */
	return DELIVER_TO(egress);
}

/* Neighbour, MAC rewrite, VLAN, counters, redirect. */
__noinline int xpf_deliver(struct xdp_md *ctx, struct verdict_ctx *v, struct scratch *sc, __u32 egress)
{
	if (!ctx || !v || !sc)
		return XDP_DROP;
	struct pkt *p = &sc->p;
	__u32 slot = v->slot & 1;
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	__u32 eidx = slot * XPF_MAX_IFACES + (egress & (XPF_MAX_IFACES - 1));
	struct xpf_iface *eif = bpf_map_lookup_elem(&xpf_ifaces, &eidx);
	if (!eif || !eif->valid || egress >= XPF_MAX_IFACES)
		return do_drop(v, DR_NO_ROUTE);
	struct xpf_neighbour *nb = 0;
	if (sc->fc_state == FC_HIT) {
		__u32 ni = slot * XPF_MAX_NEIGHBOURS + (sc->fc_nh & (XPF_MAX_NEIGHBOURS - 1));
		nb = bpf_map_lookup_elem(&xpf_nexthops, &ni);
		if (!nb)
			return do_drop(v, DR_NO_NEIGHBOUR);
	} else {
		struct xpf_addr_key *nk = &sc->ak;
		__builtin_memset(nk, 0, sizeof(*nk));
		nk->slot = slot;
		nk->family = p->family;
		addr_cpy(nk->addr, sc->gw);
		nb = bpf_map_lookup_elem(&xpf_neighbours, nk);
		if (!nb)
			return do_drop(v, DR_NO_NEIGHBOUR);
		if (sc->fc_state == FC_FILL) {
			/* Remember it in the session entry (the same session:
			 * its id is checked; a replaced entry is not written). */
			__u64 word = ((__u64)sc->fc_epoch << 32) | nb->id;
			struct sess_val *fv = bpf_map_lookup_elem(&xpf_sessions, &sc->okey);
			if (fv && fv->s.session_id == sc->fc_sid && !fv->s.is_reverse) {
				if (sc->fc_dir == 0)
					fv->nh[0] = word;
				else
					fv->nh[1] = word;
			}
		}
	}
	__u8 mac[6], smac[6];
	__builtin_memcpy(mac, nb->mac, 6);
	__builtin_memcpy(smac, eif->mac, 6);
	__u16 evlan = eif->vlan;
	__u32 ifindex = eif->ifindex;
	__u32 ezone = eif->zone;
	__u32 out_len = p->flen;
	/* VLAN: pop the outer tag, push the egress tag, or rewrite in place. */
	if (p->tags && evlan) {
		if (data + 16 > end)
			return do_drop(v, DR_MALFORMED_VLAN);
		__u8 *e = data;
		e[12] = 0x81;
		e[13] = 0x00;
		wr16(e + 14, evlan);
	} else if (p->tags) {
		if (data + 16 > end)
			return do_drop(v, DR_MALFORMED_VLAN);
		__u8 *e = data;
		/* Move the 12 MAC bytes 4 bytes forward, then drop the 4 head bytes. */
		for (int i = 11; i >= 0; i--)
			e[i + 4] = e[i];
		if (bpf_xdp_adjust_head(ctx, 4))
			return do_drop(v, DR_MALFORMED_VLAN);
		out_len -= 4;
	} else if (evlan) {
		if (bpf_xdp_adjust_head(ctx, -4))
			return do_drop(v, DR_MALFORMED_VLAN);
		data = (void *)(long)ctx->data;
		end = (void *)(long)ctx->data_end;
		if (data + 16 > end)
			return do_drop(v, DR_MALFORMED_VLAN);
		__u8 *e = data;
		for (int i = 0; i < 12; i++)
			e[i] = e[i + 4];
		e[12] = 0x81;
		e[13] = 0x00;
		wr16(e + 14, evlan);
		out_len += 4;
	}
	data = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
	if (data + 14 > end)
		return do_drop(v, DR_MALFORMED_ETH);
	__builtin_memcpy(data, mac, 6);
	__builtin_memcpy(data + 6, smac, 6);
	cnt_add(XC_FORWARDED, 1);
	__u32 e = egress;
	struct xpf_if_cnt *ic = bpf_map_lookup_elem(&xpf_cnt_iface, &e);
	if (ic) {
		ic->tx_packets += 1;
		ic->tx_bytes += out_len;
	}
	if (ezone < XPF_MAX_ZONES) {
		struct xpf_zone_cnt *zc = bpf_map_lookup_elem(&xpf_cnt_zone, &ezone);
		if (zc) {
			zc->eg_packets += 1;
			zc->eg_bytes += out_len;
		}
	}
	if (v->trace) {
		__u32 zero = 0;
		struct xpf_trace *t = bpf_map_lookup_elem(&xpf_trace, &zero);
		if (t) {
			t->verdict = XV_FORWARD;
			t->reason = 0;
			t->egress = egress;
		}
	}
	if (v->test_mode)
		return XDP_TX;
	if (ifindex == ctx->ingress_ifindex)
		return XDP_TX;
	return bpf_redirect(ifindex, 0);
}


/* ------------------------------------------------------------------------ */
/* Frames the firewall emits (the model's wire.rs build_rst /                */
/* build_icmp_error, byte for byte): a TCP RST or an ICMP / ICMPv6 error     */
/* about the packet, built in the packet buffer and sent back out of the     */
/* ingress interface (XDP_TX) with the Ethernet addresses swapped and the    */
/* VLAN tags as received. The packet itself is already dropped and counted. */

#define SCREEN_TO(reason) (0x800000 | (reason)) /* screen drop, with its record */

static __always_inline __u32 csum_fold(__u32 s)
{
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return s & 0xffff;
}

/* Sum of the 16-bit words of an address (4 or 16 bytes). */
static __always_inline __u32 addr_sum(__u8 family, const __u8 *a)
{
	__u32 s = 0;
	__u32 n = family == 4 ? 2 : 8;
	for (__u32 i = 0; i < 8; i++)
		if (i < n)
			s += rd16(a + i * 2);
	return s;
}

/* Broadcast, multicast, unspecified or loopback (no error is sent to or about them). */
static __always_inline int non_unicast(__u8 family, const __u8 *a)
{
	__u32 w0 = rd32(a);
	if (family == 4)
		return w0 == 0 || w0 == 0xffffffffu || (a[0] & 0xf0) == 0xe0 || a[0] == 127;
	if (a[0] == 0xff)
		return 1;
	__u32 w1 = rd32(a + 4), w2 = rd32(a + 8), w3 = rd32(a + 12);
	return w0 == 0 && w1 == 0 && w2 == 0 && (w3 == 0 || w3 == 1);
}

struct sum_ctx {
	__u32 sum;
	__u32 len;
};

static long quote_sum_step(__u64 i, void *arg)
{
	struct sum_ctx *c = arg;
	__u32 zero = 0;
	struct scratch *sc = bpf_map_lookup_elem(&xpf_scratch, &zero);
	if (!sc)
		return 1;
	__u32 at = (__u32)i * 2;
	if (at >= c->len)
		return 1;
	__u32 hi = sc->quote[at & (QUOTE_BUF - 1)];
	__u32 lo = at + 1 < c->len ? sc->quote[(at + 1) & (QUOTE_BUF - 1)] : 0;
	c->sum += (hi << 8) | lo;
	return 0;
}

/* Writes the 12 MAC bytes found at `from`, swapped, at offset 0. */
static __always_inline int swap_macs(struct xdp_md *ctx, __u32 from)
{
	__u8 l2[24];
	if (bpf_xdp_load_bytes(ctx, from, l2, 24))
		return -1;
	for (int i = 0; i < 6; i++) {
		__u8 t = l2[i];
		l2[i] = l2[i + 6];
		l2[i + 6] = t;
	}
	return bpf_xdp_store_bytes(ctx, 0, l2, 24) ? -1 : 0;
}

static __always_inline int trim_to(struct xdp_md *ctx, __u32 len)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	int delta = (int)len - (int)(end - data);
	if (delta && bpf_xdp_adjust_tail(ctx, delta))
		return -1;
	return 0;
}

/* Builds the frame `kind` asks for over the dropped packet and returns
 * XDP_TX, or XDP_DROP when none is sent (a RST answering a RST, an error
 * about an ICMP error, a fragment or a group address, no address of the
 * family on the ingress interface). A global function: verified once. */
__noinline int xpf_emit(struct xdp_md *ctx, struct verdict_ctx *v, struct scratch *sc, __u32 kind,
		       __u32 iface)
{
	if (!ctx || !v || !sc)
		return XDP_DROP;
	__u32 iidx = (v->slot & 1) * XPF_MAX_IFACES + (iface & (XPF_MAX_IFACES - 1));
	struct xpf_iface *ifc = bpf_map_lookup_elem(&xpf_ifaces, &iidx);
	if (!ifc || !ifc->valid)
		return XDP_DROP;
	__u32 out_ifindex = ifc->ifindex;
	struct pkt *p = &sc->p;
	__u32 l3 = p->l3;
	if (l3 != 14 && l3 != 18 && l3 != 22)
		return XDP_DROP;
	__u8 family = p->family;
	__u32 hl = family == 4 ? 20 : 40;
	__u8 *h = sc->hdr;
	__builtin_memset(h, 0, sizeof(sc->hdr));
	int rst = kind == EMIT_RST || (kind == EMIT_REJECT && p->kind == L4_TCP);
	if (rst) {
		if (p->kind != L4_TCP || (p->tcp_flags & TCP_RST))
			return XDP_DROP;
		__u32 rseq, rack;
		__u8 rflags;
		if (p->tcp_flags & TCP_ACK) {
			rseq = p->ack;
			rack = 0;
			rflags = TCP_RST;
		} else {
			rseq = 0;
			rack = p->seq + p->payload + ((p->tcp_flags & TCP_SYN) ? 1 : 0) +
			       ((p->tcp_flags & TCP_FIN) ? 1 : 0);
			rflags = TCP_RST | TCP_ACK;
		}
		__u32 sum = addr_sum(family, p->src) + addr_sum(family, p->dst) + 6 + 20;
		if (family == 4) {
			h[0] = 0x45;
			wr16(h + 2, 40);
			h[8] = 64;
			h[9] = 6;
			__builtin_memcpy(h + 12, p->dst, 4);
			__builtin_memcpy(h + 16, p->src, 4);
			__u32 is = 0;
			for (int i = 0; i < 10; i++)
				is += rd16(h + i * 2);
			wr16(h + 10, ~csum_fold(is));
		} else {
			h[0] = 0x60;
			wr16(h + 4, 20);
			h[6] = 6;
			h[7] = 64;
			__builtin_memcpy(h + 8, p->dst, 16);
			__builtin_memcpy(h + 24, p->src, 16);
		}
		__u8 *t = h + (family == 4 ? 20 : 40);
		wr16(t, p->dport);
		wr16(t + 2, p->sport);
		wr16(t + 4, rseq >> 16);
		wr16(t + 6, rseq & 0xffff);
		wr16(t + 8, rack >> 16);
		wr16(t + 10, rack & 0xffff);
		t[12] = 5 << 4;
		t[13] = rflags;
		for (int i = 0; i < 10; i++)
			sum += rd16(t + i * 2);
		wr16(t + 16, ~csum_fold(sum));
		if (swap_macs(ctx, 0) < 0)
			return XDP_DROP;
		if (family == 4) {
			if (bpf_xdp_store_bytes(ctx, l3, h, 40))
				return XDP_DROP;
		} else {
			if (bpf_xdp_store_bytes(ctx, l3, h, 60))
				return XDP_DROP;
		}
		if (trim_to(ctx, l3 + hl + 20) < 0)
			return XDP_DROP;
		cnt_add(XC_RST_SENT, 1);
	} else {
		if (p->kind == L4_ICMP_ERROR || (p->fragment && p->frag_off))
			return XDP_DROP;
		if (non_unicast(family, p->dst) || (family == 4 && (p->dst_mac0 & 1)) ||
		    non_unicast(family, p->src))
			return XDP_DROP;
		__u8 *from = sc->q_out;
		__builtin_memset(from, 0, 16);
		if (family == 4) {
			if (!ifc->has_v4)
				return XDP_DROP;
			__builtin_memcpy(from, ifc->v4, 4);
		} else {
			if (!ifc->has_v6)
				return XDP_DROP;
			__builtin_memcpy(from, ifc->v6, 16);
		}
		__u32 quote = p->l3_len;
		__u32 max = family == 4 ? QUOTE_MAX4 : QUOTE_MAX6;
		if (quote > max)
			quote = max;
		if (quote < 20 || quote > QUOTE_MAX6)
			return XDP_DROP;
		if (bpf_xdp_load_bytes(ctx, l3, sc->quote, quote))
			return XDP_DROP;
		struct sum_ctx qs = { .sum = 0, .len = quote };
		bpf_loop((quote + 1) / 2, quote_sum_step, &qs, 0);
		__u8 ty, code;
		if (kind == EMIT_TIME_EXCEEDED) {
			ty = family == 4 ? 11 : 3;
			code = 0;
		} else {
			ty = family == 4 ? 3 : 1;
			code = family == 4 ? 13 : 1;
		}
		__u32 sum = qs.sum + (((__u32)ty << 8) | code);
		__u8 *ic = h + (family == 4 ? 20 : 40);
		if (family == 4) {
			h[0] = 0x45;
			h[1] = 48 << 2;
			wr16(h + 2, 28 + quote);
			h[8] = 64;
			h[9] = 1;
			__builtin_memcpy(h + 12, from, 4);
			__builtin_memcpy(h + 16, p->src, 4);
			__u32 is = 0;
			for (int i = 0; i < 10; i++)
				is += rd16(h + i * 2);
			wr16(h + 10, ~csum_fold(is));
		} else {
			h[0] = 0x60;
			wr16(h + 4, 8 + quote);
			h[6] = 58;
			h[7] = 64;
			__builtin_memcpy(h + 8, from, 16);
			__builtin_memcpy(h + 24, p->src, 16);
			sum += addr_sum(6, from) + addr_sum(6, p->src) + 8 + quote + 58;
		}
		ic[0] = ty;
		ic[1] = code;
		wr16(ic + 2, ~csum_fold(sum));
		if (bpf_xdp_adjust_head(ctx, -(int)(hl + 8)))
			return XDP_DROP;
		if (swap_macs(ctx, hl + 8) < 0)
			return XDP_DROP;
		if (family == 4) {
			if (bpf_xdp_store_bytes(ctx, l3, h, 28))
				return XDP_DROP;
		} else {
			if (bpf_xdp_store_bytes(ctx, l3, h, 48))
				return XDP_DROP;
		}
		if (trim_to(ctx, l3 + hl + 8 + quote) < 0)
			return XDP_DROP;
		cnt_add(XC_ICMP_ERR_SENT, 1);
	}
	if (v->trace) {
		__u32 zero = 0;
		struct xpf_trace *t = bpf_map_lookup_elem(&xpf_trace, &zero);
		if (t) {
			t->emitted = 1;
			t->egress = iface;
		}
	}
	if (v->test_mode || iface == v->ingress || out_ifindex == 0)
		return XDP_TX;
	return bpf_redirect(out_ifindex, 0);
}


/* ------------------------------------------------------------------------ */
/* ICMP errors from the network (the model's icmp_error): an error travels   */
/* with the session of the packet it quotes (the reversed quoted tuple); the */
/* quote is rewritten to the other direction's packet (addresses, ports /    */
/* identifier, quoted IPv4 header checksum recomputed, quoted transport      */
/* checksum updated per RFC 1624 field by field), the outer destination      */
/* follows it, the outer source too when the error comes from the           */
/* translated endpoint itself; the outer checksums are recomputed. The      */
/* session is not touched. The ICMP message is edited in the scratch quote  */
/* buffer (RFC 792 / 4443 errors fit: at most 576 / 1280 bytes; a longer    */
/* one is dropped as malformed-icmp).                                        */

#define QB(sc, i) ((sc)->quote[(i) & (QUOTE_BUF - 1)])

static __always_inline __u16 q_rd16(struct scratch *sc, __u32 at)
{
	return ((__u16)QB(sc, at) << 8) | QB(sc, at + 1);
}

static __always_inline void q_wr16(struct scratch *sc, __u32 at, __u16 v)
{
	QB(sc, at) = v >> 8;
	QB(sc, at + 1) = v & 0xff;
}

/* Checksum update modes: plain, UDP (a computed zero is sent as 0xffff),
 * IPv4 UDP (also: a zero checksum means none and stays). */
#define CU_PLAIN 0
#define CU_UDP 1
#define CU_UDP4 2

static __always_inline void q_csum_fix(struct scratch *sc, __u32 at, __u32 acc, __u32 mode)
{
	__u16 cur = q_rd16(sc, at);
	if (mode == CU_UDP4 && cur == 0)
		return;
	__u16 nv = csum_apply(cur, acc);
	if (mode != CU_PLAIN && nv == 0)
		nv = 0xffff;
	q_wr16(sc, at, nv);
}

/* Writes address `a` (4 or 16 bytes) at `at` of the quote buffer and returns
 * the checksum accumulation of the change. */
static __always_inline __u32 q_put_addr(struct scratch *sc, __u32 at, __u8 family, const __u8 *a)
{
	__u32 acc = 0;
	__u32 n = family == 4 ? 2 : 8;
	for (__u32 w = 0; w < 8; w++) {
		if (w >= n)
			break;
		__u16 o = q_rd16(sc, at + w * 2), nw = rd16(a + w * 2);
		acc = csum_acc(acc, o, nw);
		q_wr16(sc, at + w * 2, nw);
	}
	return acc;
}

struct qsum_ctx {
	__u32 sum;
	__u32 from;
	__u32 len; /* bytes from `from` */
};

static long q_sum_step(__u64 i, void *arg)
{
	struct qsum_ctx *c = arg;
	__u32 zero = 0;
	struct scratch *sc = bpf_map_lookup_elem(&xpf_scratch, &zero);
	if (!sc)
		return 1;
	__u32 at = (__u32)i * 2;
	if (at >= c->len)
		return 1;
	__u32 hi = QB(sc, c->from + at);
	__u32 lo = at + 1 < c->len ? QB(sc, c->from + at + 1) : 0;
	c->sum += (hi << 8) | lo;
	return 0;
}

static __always_inline __u32 q_sum(__u32 from, __u32 len)
{
	struct qsum_ctx c = { .sum = 0, .from = from, .len = len };
	bpf_loop((len + 1) / 2, q_sum_step, &c, 0);
	return c.sum;
}

__noinline int xpf_icmp_error(struct xdp_md *ctx, struct verdict_ctx *v, struct scratch *sc)
{
	if (!ctx || !v || !sc)
		return XDP_DROP;
	struct pkt *p = &sc->p;
	__u8 family = p->family;
	__u32 l3 = p->l3, l4 = p->l4;
	if (l4 < l3 || p->l3_len < l4 - l3)
		return do_drop(v, DR_MALFORMED_ICMP);
	__u32 mlen = p->l3_len - (l4 - l3);
	if (mlen < 8 || mlen > QUOTE_BUF)
		return do_drop(v, DR_MALFORMED_ICMP);
	if (bpf_xdp_load_bytes(ctx, l4, sc->quote, mlen))
		return do_drop(v, DR_MALFORMED_ICMP);
	/* The quoted packet, at offset 8 of the message. */
	__u32 qlen = mlen - 8;
	__u32 hlen, upper;
	__u8 qproto;
	struct xpf_sess_key *k = &sc->key;
	__builtin_memset(k, 0, sizeof(*k));
	__u32 so, dof;
	if (family == 4) {
		if (qlen < 20 || (QB(sc, 8) >> 4) != 4)
			return do_drop(v, DR_MALFORMED_ICMP);
		hlen = (QB(sc, 8) & 0x0f) * 4;
		if (hlen < 20 || hlen > qlen)
			return do_drop(v, DR_MALFORMED_ICMP);
		so = 8 + 12;
		dof = 8 + 16;
		qproto = QB(sc, 8 + 9);
		upper = (q_rd16(sc, 8 + 6) & 0x1fff) == 0;
		for (int i = 0; i < 4; i++) {
			k->src[i] = QB(sc, dof + i);
			k->dst[i] = QB(sc, so + i);
		}
	} else {
		if (qlen < 40 || (QB(sc, 8) >> 4) != 6)
			return do_drop(v, DR_MALFORMED_ICMP);
		hlen = 40;
		so = 8 + 8;
		dof = 8 + 24;
		qproto = QB(sc, 8 + 6);
		upper = 1;
		if (v6_ext(qproto)) {
			/* The quoted chain, walked up to the end of the quote (it
			 * may be cut inside the chain: then the packet is known by
			 * its addresses and fixed next header only). */
			if (v6_walk(ctx, sc, 8, qlen, qproto, 1) == 0) {
				qproto = sc->ch.proto;
				hlen = sc->ch.len;
				upper = sc->ch.upper;
			} else {
				upper = 0;
			}
			if (hlen > qlen)
				return do_drop(v, DR_MALFORMED_ICMP);
		}
		for (int i = 0; i < 16; i++) {
			k->src[i] = QB(sc, dof + i);
			k->dst[i] = QB(sc, so + i);
		}
	}
	__u8 own = family == 4 ? 1 : 58;
	int has_l4 = 0, has_ports = 0;
	__u32 ql4 = 8 + hlen;
	__u16 isp = 0, idp = 0;
	if (upper && (qproto == 6 || qproto == 17 || qproto == own)) {
		if (qlen >= hlen + 8) {
			has_l4 = 1;
			if (qproto == own) {
				__u8 ty = QB(sc, ql4);
				int query = family == 4 ? (ty == 0 || ty == 8 || (ty >= 13 && ty <= 18))
							: (ty == 128 || ty == 129);
				if (query) {
					has_ports = 1;
					isp = q_rd16(sc, ql4 + 4);
					idp = isp;
				}
			} else {
				has_ports = 1;
				isp = q_rd16(sc, ql4);
				idp = q_rd16(sc, ql4 + 2);
			}
		} else if (family == 4) {
			return do_drop(v, DR_MALFORMED_ICMP);
		}
	}
	/* The session of the reversed quoted tuple. */
	k->family = family;
	k->proto = qproto;
	k->sport = idp;
	k->dport = isp;
	__u8 *qdst = sc->src2; /* the quoted destination as received */
	addr_cpy(qdst, k->src);
	struct sess_val *hit = bpf_map_lookup_elem(&xpf_sessions, k);
	if (!hit)
		return do_drop(v, DR_ICMP_ERROR_NO_SESSION);
	cnt_add(XC_SESS_HITS, 1);
	if (p->ttl <= 1)
		return do_drop(v, DR_TTL_EXCEEDED);
	__u32 dir = hit->s.is_reverse ? 1 : 0;
	struct sess_val *fv = hit;
	if (dir) {
		__builtin_memcpy(&sc->okey, &hit->s.other, sizeof(sc->okey));
		fv = bpf_map_lookup_elem(&xpf_sessions, &sc->okey);
		if (!fv)
			return do_drop(v, DR_ICMP_ERROR_NO_SESSION);
		/* other = the forward key */
	} else {
		__builtin_memcpy(&sc->okey, &fv->s.other, sizeof(sc->okey));
		/* other = the reverse key */
	}
	__u32 egress = dir == 0 ? fv->s.out_if : fv->s.in_if;
	struct xpf_sess_key *o = &sc->okey;
	/* The quoted transport checksum: offset, mode, covers the addresses. */
	int inner = 0, covers = 0;
	__u32 cat = 0, mode = CU_PLAIN;
	if (has_l4) {
		if (qproto == 6 && ql4 + 18 <= mlen) {
			inner = 1;
			covers = 1;
			cat = ql4 + 16;
		} else if (qproto == 17) {
			inner = 1;
			covers = 1;
			cat = ql4 + 6;
			mode = family == 4 ? CU_UDP4 : CU_UDP;
		} else if (qproto == own) {
			inner = 1;
			covers = family == 6;
			cat = ql4 + 2;
		}
	}
	__u32 acc = q_put_addr(sc, so, family, o->src);
	if (inner && covers)
		q_csum_fix(sc, cat, acc, mode);
	acc = q_put_addr(sc, dof, family, o->dst);
	if (inner && covers)
		q_csum_fix(sc, cat, acc, mode);
	if (family == 4) {
		q_wr16(sc, 8 + 10, 0);
		q_wr16(sc, 8 + 10, ~csum_fold(q_sum(8, hlen)));
	}
	if (has_l4 && has_ports) {
		if (qproto == own) {
			__u16 old = q_rd16(sc, ql4 + 4);
			q_wr16(sc, ql4 + 4, o->dport);
			if (inner)
				q_csum_fix(sc, cat, csum_acc(0, old, o->dport), mode);
		} else {
			__u16 old = q_rd16(sc, ql4);
			q_wr16(sc, ql4, o->sport);
			if (inner)
				q_csum_fix(sc, cat, csum_acc(0, old, o->sport), mode);
			old = q_rd16(sc, ql4 + 2);
			q_wr16(sc, ql4 + 2, o->dport);
			if (inner)
				q_csum_fix(sc, cat, csum_acc(0, old, o->dport), mode);
		}
	}
	/* The outer header follows the quote. */
	if (addr_eq(p->src, qdst) && !addr_eq(qdst, o->dst))
		addr_cpy(p->src, o->dst);
	addr_cpy(p->dst, o->src);
	q_wr16(sc, 2, 0);
	__u32 sum = q_sum(0, mlen);
	if (family == 6)
		sum += addr_sum(6, p->src) + addr_sum(6, p->dst) + mlen + 58;
	q_wr16(sc, 2, ~csum_fold(sum));
	if (bpf_xdp_store_bytes(ctx, l4, sc->quote, mlen))
		return do_drop(v, DR_MALFORMED_ICMP);
	/* Outer addresses and (IPv4) header checksum. */
	__u8 *hb = sc->hdr;
	__u32 ohl = l4 - l3;
	if (family == 4) {
		if (ohl < 20 || ohl > 60)
			return do_drop(v, DR_MALFORMED_IPV4);
		if (bpf_xdp_load_bytes(ctx, l3, hb, ohl))
			return do_drop(v, DR_MALFORMED_IPV4);
		__builtin_memcpy(hb + 12, p->src, 4);
		__builtin_memcpy(hb + 16, p->dst, 4);
		hb[10] = 0;
		hb[11] = 0;
		__u32 is = 0;
		for (int i = 0; i < 30; i++) {
			if ((__u32)i * 2 >= ohl)
				break;
			is += rd16(hb + i * 2);
		}
		wr16(hb + 10, ~csum_fold(is));
		if (bpf_xdp_store_bytes(ctx, l3, hb, ohl))
			return do_drop(v, DR_MALFORMED_IPV4);
	} else {
		if (bpf_xdp_store_bytes(ctx, l3 + 8, p->src, 16) ||
		    bpf_xdp_store_bytes(ctx, l3 + 24, p->dst, 16))
			return do_drop(v, DR_MALFORMED_IPV6);
	}
	return FWD_TO(egress);
}

/* ------------------------------------------------------------------------ */
/* Host-inbound                                                              */

static __always_inline int host_allows(const struct xpf_zone *z, const struct pkt *p)
{
	__u32 sv = z->host_services, pr = z->host_protocols;
	int ports = p->kind == L4_TCP || p->kind == L4_UDP || p->kind == L4_ICMP_QUERY;
	int icmp = p->kind == L4_ICMP_QUERY || p->kind == L4_ICMP_ERROR || p->kind == L4_ICMP_OTHER;
	__u16 dp = p->dport, sp = p->sport;
	int tcp = p->proto == 6 && ports;
	int udp = p->proto == 17 && ports;
	if (p->proto == 58 && icmp && (p->icmp_type == 135 || p->icmp_type == 136))
		return 1;
	if (sv & HS_ALL)
		return 1;
	if ((sv & HS_PING) && icmp &&
	    ((p->proto == 1 && p->icmp_type == 8) || (p->proto == 58 && p->icmp_type == 128)))
		return 1;
	if ((sv & HS_TRACEROUTE) && udp && dp >= 33434 && dp <= 33534)
		return 1;
	if ((sv & HS_SSH) && tcp && dp == 22)
		return 1;
	if ((sv & HS_TELNET) && tcp && dp == 23)
		return 1;
	if ((sv & HS_HTTP) && tcp && dp == 80)
		return 1;
	if ((sv & HS_HTTPS) && tcp && dp == 443)
		return 1;
	if ((sv & HS_NETCONF) && tcp && dp == 830)
		return 1;
	if ((sv & HS_DNS) && (udp || tcp) && dp == 53)
		return 1;
	if ((sv & HS_NTP) && udp && dp == 123)
		return 1;
	if ((sv & HS_SNMP) && udp && dp == 161)
		return 1;
	if ((sv & HS_SYSLOG) && udp && dp == 514)
		return 1;
	if ((sv & HS_DHCP) && udp && dp >= 67 && dp <= 68)
		return 1;
	if ((sv & HS_DHCPV6) && udp && dp >= 546 && dp <= 547)
		return 1;
	if ((sv & HS_IKE) && udp && (dp == 500 || dp == 4500))
		return 1;
	if (pr & HP_ALL)
		return 1;
	if ((pr & HP_BGP) && tcp && (sp == 179 || dp == 179))
		return 1;
	if ((pr & HP_OSPF) && p->proto == 89 && p->family == 4)
		return 1;
	if ((pr & HP_OSPF3) && p->proto == 89 && p->family == 6)
		return 1;
	if ((pr & HP_BFD) && udp && ((dp >= 3784 && dp <= 3785) || dp == 4784))
		return 1;
	if ((pr & HP_VRRP) && p->proto == 112)
		return 1;
	if ((pr & HP_PIM) && p->proto == 103)
		return 1;
	if ((pr & HP_ROUTER_DISCOVERY) && p->proto == 58 && icmp && p->icmp_type >= 133 &&
	    p->icmp_type <= 137)
		return 1;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Screens (stateless): on every packet entering a zone with a profile, the */
/* first check that hits drops, with a screen-drop event.                   */

static __always_inline __u32 screen_check(__u32 scr, __u32 fscr, const struct pkt *p)
{
	if (p->kind == L4_TCP) {
		__u8 f = p->tcp_flags;
		int fin = f & TCP_FIN, syn = f & TCP_SYN, ack = f & TCP_ACK, urg = f & 0x20;
		if ((scr & SCR_LAND) && syn && addr_eq(p->src, p->dst))
			return DR_SCREEN_LAND;
		if ((scr & SCR_SYN_FIN) && syn && fin)
			return DR_SCREEN_SYN_FIN;
		if ((scr & SCR_TCP_NO_FLAG) && f == 0)
			return DR_SCREEN_TCP_NO_FLAG;
		if ((scr & SCR_FIN_NO_ACK) && fin && !ack)
			return DR_SCREEN_FIN_NO_ACK;
		if ((scr & SCR_WINNUKE) && urg && p->dport == 139)
			return DR_SCREEN_WINNUKE;
		if ((fscr & FSCR_SYN_FRAG) && syn && p->fragment)
			return DR_SCREEN_SYN_FRAG;
	}
	/* ping-of-death: an ICMP / ICMPv6 fragment ending beyond byte 65535. */
	if ((fscr & FSCR_PING_DEATH) && is_icmp(p->proto) && p->fragment &&
	    (__u64)p->frag_off + p->l3_len - (p->l4 - p->l3) > 65535)
		return DR_SCREEN_PING_DEATH;
	if ((scr & SCR_SOURCE_ROUTE) && p->source_route)
		return DR_SCREEN_SOURCE_ROUTE;
	return 0;
}

/* Flood screens, for packets that passed the stateless checks: TCP SYN
 * without ACK, ICMP / ICMPv6 (errors included) and UDP each take one packet
 * from their zone's bucket; an empty bucket drops. Returns the drop reason
 * or 0. */
static __always_inline __u32 flood_check(__u32 slot, __u32 zone, const struct pkt *p, __u64 now)
{
	__u32 kind;
	if (p->kind == L4_TCP && (p->tcp_flags & TCP_SYN) && !(p->tcp_flags & TCP_ACK))
		kind = 0;
	else if (is_icmp(p->proto))
		kind = 1;
	else if (p->proto == 17)
		kind = 2;
	else
		return 0;
	__u32 idx = ((slot & 1) * XPF_MAX_ZONES + (zone & (XPF_MAX_ZONES - 1))) * 3 + kind;
	struct flood_val *b = bpf_map_lookup_elem(&xpf_floods, &idx);
	if (!b || !b->rate)
		return 0;
	int empty;
	bpf_spin_lock(&b->lock);
	if (now > b->at) {
		__u64 el = now - b->at;
		__u64 rate = b->rate;
		__u64 deficit = b->cap > b->nano ? b->cap - b->nano : 0;
		if (el >= (deficit + rate - 1) / rate)
			b->nano = b->cap;
		else
			b->nano += el * rate;
		b->at = now;
	}
	if (b->nano >= 1000000000ULL) {
		b->nano -= 1000000000ULL;
		empty = 0;
	} else {
		empty = 1;
	}
	bpf_spin_unlock(&b->lock);
	if (!empty)
		return 0;
	return DR_SCREEN_SYN_FLOOD + kind;
}

/* Drops the packet for screen `reason` with a screen-drop record. */
__noinline int xpf_screen_drop(struct verdict_ctx *v, struct scratch *sc, __u32 reason)
{
	if (!v || !sc)
		return XDP_DROP;
	struct pkt *p = &sc->p;
	struct xpf_record *r = bpf_ringbuf_reserve(&xpf_events, sizeof(*r), 0);
	if (r) {
		__builtin_memset(r, 0, sizeof(*r));
		r->kind = XR_SCREEN_DROP;
		r->reason = reason;
		r->time_ns = v->now;
		r->key.family = p->family;
		r->key.proto = p->proto;
		r->key.sport = p->sport;
		r->key.dport = p->dport;
		addr_cpy(r->key.src, p->src);
		addr_cpy(r->key.dst, p->dst);
		r->s.in_zone = v->zone;
		r->s.in_if = v->ingress;
		r->s.flags = (p->kind == L4_ICMP_QUERY || p->kind == L4_ICMP_ERROR ||
			      p->kind == L4_ICMP_OTHER)
				     ? (__u16)p->icmp_type + 1
				     : 0;
		bpf_ringbuf_submit(r, 0);
	} else {
		cnt_add(XC_EVENTS_DROPPED, 1);
	}
	return do_drop(v, reason);
}

/* The zone's screens (`screens`: SCR_* bits): 0 when the packet passes,
 * else the XDP action of the drop (a global function: keeps the entry
 * point's stack small). */
__noinline int xpf_screen(struct verdict_ctx *v, struct scratch *sc, __u32 screens)
{
	if (!v || !sc)
		return XDP_DROP;
	struct pkt *p = &sc->p;
	__u32 fscr = 0;
	if ((screens & SCR_FRAGS) && p->fragment) {
		__u32 zidx = (v->slot & 1) * XPF_MAX_ZONES + (v->zone & (XPF_MAX_ZONES - 1));
		struct xpf_zone *z = bpf_map_lookup_elem(&xpf_zones, &zidx);
		if (z)
			fscr = z->frag_screens;
	}
	__u32 hit = screen_check(screens, fscr, p);
	if (!hit && (screens & SCR_FLOODS))
		hit = flood_check(v->slot, v->zone, p, v->now);
	if (hit)
		return xpf_screen_drop(v, sc, hit);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Fragments (no reassembly; the model's frag.rs): every fragment's byte    */
/* range is recorded per datagram and one overlapping a recorded range (or  */
/* one too many) is an overlap, dropped by the zone's tear-drop screen; the */
/* first fragment's ports are remembered and a non-first fragment of a      */
/* port-carrying or ICMP protocol follows them (without them:               */
/* fragment-no-session). A datagram is forgotten once complete, 2 s after   */
/* its first fragment, or when the table is full (the oldest goes).         */

/* Makes room in a full datagram table: deletes the oldest datagram still
 * present (queue entries of datagrams already gone are skipped). */
static __always_inline void frag_evict(struct scratch *sc)
{
	for (int i = 0; i < 8; i++) {
		if (bpf_map_pop_elem(&xpf_frag_ages, &sc->fa))
			return;
		struct frag_val *old = bpf_map_lookup_elem(&xpf_frags, &sc->fa.key);
		if (old && old->f.first_seen == sc->fa.first_seen) {
			bpf_map_delete_elem(&xpf_frags, &sc->fa.key);
			return;
		}
	}
}

/* 0: the fragment goes on (a non-first one with its datagram's ports in
 * p->sport / p->dport); else the XDP action of its drop. A global
 * function, called by the entry point for fragments only. */
__noinline int xpf_fragment(struct verdict_ctx *v, struct scratch *sc)
{
	if (!v || !sc)
		return XDP_DROP;
	struct pkt *p = &sc->p;
	cnt_add(XC_FRAGMENTS, 1);
	__u64 now = v->now;
	struct xpf_frag_key *fk = &sc->fk;
	__builtin_memset(fk, 0, sizeof(*fk));
	fk->family = p->family;
	fk->proto = p->proto;
	fk->id = p->frag_id;
	addr_cpy(fk->src, p->src);
	addr_cpy(fk->dst, p->dst);
	__u32 hl = p->l4 - p->l3;
	__u32 start = p->frag_off;
	__u32 stop = start + (p->l3_len > hl ? p->l3_len - hl : 0);
	int carries = start == 0 && (p->kind == L4_TCP || p->kind == L4_UDP || p->kind == L4_ICMP_QUERY);
	struct frag_val *e = bpf_map_lookup_elem(&xpf_frags, fk);
	if (!e) {
		__builtin_memset(&sc->fv, 0, sizeof(sc->fv));
		sc->fv.f.first_seen = now;
		long err = bpf_map_update_elem(&xpf_frags, fk, &sc->fv, BPF_NOEXIST);
		if (err == -7 /* E2BIG: full */) {
			frag_evict(sc);
			err = bpf_map_update_elem(&xpf_frags, fk, &sc->fv, BPF_NOEXIST);
		}
		if (!err) {
			__builtin_memcpy(&sc->fa.key, fk, sizeof(*fk));
			sc->fa.first_seen = now;
			bpf_map_push_elem(&xpf_frag_ages, &sc->fa, BPF_EXIST);
		}
		/* A lost race (EEXIST) finds the other CPU's entry. */
		e = bpf_map_lookup_elem(&xpf_frags, fk);
	}
	int overlap = 0, complete = 0, known = 0;
	__u16 sp = 0, dp = 0;
	if (e) {
		struct xpf_frag *d = &e->f;
		bpf_spin_lock(&e->lock);
		if (now > d->first_seen && now - d->first_seen >= XPF_FRAG_TIMEOUT_NS) {
			/* Expired: a new datagram with the same identity. */
			d->first_seen = now;
			d->n = 0;
			d->covered = 0;
			d->max_stop = 0;
			d->end = 0;
			d->has_ports = 0;
			d->has_end = 0;
		}
		__u32 n = d->n;
		if (n >= XPF_FRAG_RANGES)
			overlap = 1;
		for (int i = 0; i < XPF_FRAG_RANGES; i++) {
			if (i >= n)
				break;
			if (start < d->ranges[i].stop && d->ranges[i].start < stop)
				overlap = 1;
		}
		if (!overlap && n < XPF_FRAG_RANGES) {
			d->ranges[n].start = start;
			d->ranges[n].stop = stop;
			d->n = n + 1;
			d->covered += stop - start;
			if (stop > d->max_stop)
				d->max_stop = stop;
		}
		if (carries) {
			d->sport = p->sport;
			d->dport = p->dport;
			d->has_ports = 1;
		}
		if (!p->frag_more) {
			d->end = stop;
			d->has_end = 1;
		}
		known = d->has_ports;
		sp = d->sport;
		dp = d->dport;
		/* Disjoint ranges cover [0, max_stop) exactly when their lengths
		 * add up to it. */
		complete = d->has_end && d->covered == d->max_stop && d->max_stop >= d->end;
		bpf_spin_unlock(&e->lock);
		if (complete)
			bpf_map_delete_elem(&xpf_frags, fk);
	}
	if (overlap) {
		__u32 zidx = (v->slot & 1) * XPF_MAX_ZONES + (v->zone & (XPF_MAX_ZONES - 1));
		struct xpf_zone *z = bpf_map_lookup_elem(&xpf_zones, &zidx);
		if (z && (z->frag_screens & FSCR_TEAR_DROP))
			return xpf_screen_drop(v, sc, DR_SCREEN_TEAR_DROP);
	}
	if (p->frag_off && (has_ports(p->proto) || is_icmp(p->proto))) {
		if (!known)
			return do_drop(v, DR_FRAGMENT_NO_SESSION);
		p->sport = sp;
		p->dport = dp;
	}
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Session limits: live sessions per forward-key source / destination.      */

/* Counts the session of forward key `fk` in (`in` = 1) or out (0). A global
 * function: keeps its callers' stack frames small. */
__noinline int xpf_limit_count(struct scratch *sc, const struct xpf_sess_key *fk, int in)
{
	if (!sc || !fk)
		return 0;
	struct xpf_limit_key *lk = &sc->lk;
	for (int side = 0; side < 2; side++) {
		__builtin_memset(lk, 0, sizeof(*lk));
		lk->family = fk->family;
		lk->side = side;
		addr_cpy(lk->addr, side ? fk->dst : fk->src);
		__u64 *c = bpf_map_lookup_elem(&xpf_limit_cnt, lk);
		if (in) {
			if (c) {
				__sync_fetch_and_add(c, 1);
			} else {
				__u64 one = 1;
				if (bpf_map_update_elem(&xpf_limit_cnt, lk, &one, BPF_NOEXIST)) {
					c = bpf_map_lookup_elem(&xpf_limit_cnt, lk);
					if (c)
						__sync_fetch_and_add(c, 1);
				}
			}
		} else if (c) {
			if (*c <= 1)
				bpf_map_delete_elem(&xpf_limit_cnt, lk);
			else
				__sync_fetch_and_add(c, -1);
		}
	}
	return 0;
}

/* Is a limit of the ingress zone reached for this first packet (the
 * packet's own addresses, before destination NAT)? The drop reason, or 0. */
__noinline int xpf_limit_hit(struct scratch *sc, __u32 src_limit, __u32 dst_limit)
{
	if (!sc)
		return 0;
	struct xpf_limit_key *lk = &sc->lk;
	struct pkt *p = &sc->p;
	for (int side = 0; side < 2; side++) {
		__u32 lim = side ? dst_limit : src_limit;
		if (!lim)
			continue;
		__builtin_memset(lk, 0, sizeof(*lk));
		lk->family = p->family;
		lk->side = side;
		addr_cpy(lk->addr, side ? p->dst : p->src);
		__u64 *c = bpf_map_lookup_elem(&xpf_limit_cnt, lk);
		if (c && *c >= lim)
			return side ? DR_SCREEN_DST_LIMIT : DR_SCREEN_SRC_LIMIT;
	}
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Session closing from the program (TCP reopen, eviction).                 */

static __always_inline void close_session(struct scratch *sc, const struct xpf_sess_key *fkey,
					  struct xpf_sess *s, __u32 reason, __u64 now, __u32 limits)
{
	struct xpf_sess_key rk;
	__builtin_memcpy(&rk, &s->other, sizeof(rk));
	if (bpf_map_delete_elem(&xpf_sessions, fkey) != 0)
		return; /* someone else closed it */
	bpf_map_delete_elem(&xpf_sessions, &rk);
	if (s->snat_target)
		xpf_nat_release(sc, fkey, s);
	__u32 zero = 0;
	struct xpf_state *st = bpf_map_lookup_elem(&xpf_state, &zero);
	if (st)
		__sync_fetch_and_add(&st->removed, 1);
	cnt_add(XC_SESS_CLOSED, 1);
	if (reason == CR_EVICTED)
		cnt_add(XC_SESS_EVICTED, 1);
	if (limits)
		xpf_limit_count(sc, fkey, 0);
	emit_delta(XR_DELTA_CLOSE, reason, now, fkey, s);
}

/* ------------------------------------------------------------------------ */
/* The program                                                               */

static __always_inline void seg_of(const struct pkt *p, struct tcp_seg *g)
{
	g->seq = p->seq;
	g->ack = p->ack;
	g->len = p->payload;
	g->window = p->window;
	g->flags = p->tcp_flags;
	g->wscale = p->wscale;
}

__noinline int xpf_established(struct xdp_md *ctx, struct verdict_ctx *v, struct scratch *sc)
{
	if (!ctx || !v || !sc)
		return XDP_DROP;
	struct sess_val *hit = bpf_map_lookup_elem(&xpf_sessions, &sc->key);
	if (!hit)
		return SESS_MISS;
	__u64 now = v->now;
	struct xpf_gen_cfg *gc = gen_of(v);
	if (!gc)
		return do_drop(v, DR_UNKNOWN_INTERFACE);
	struct pkt *p = &sc->p;
	cnt_add(XC_SESS_HITS, 1);
	/* TTL expiry before TCP tracking: the session is untouched. */
	if (p->ttl <= 1) {
		do_drop(v, DR_TTL_EXCEEDED);
		return EMIT_TO(EMIT_TIME_EXCEEDED);
	}
	__u32 dir = 0;
	struct sess_val *fv = hit;
	if (hit->s.is_reverse) {
		dir = 1;
		__builtin_memcpy(&sc->okey, &hit->s.other, sizeof(sc->okey));
		fv = bpf_map_lookup_elem(&xpf_sessions, &sc->okey);
		if (!fv)
			return do_drop(v, DR_TCP_INVALID_STATE);
	} else {
		__builtin_memcpy(&sc->okey, &sc->key, sizeof(sc->okey));
	}
	/* sc->okey is now the forward key. */
	if (p->kind == L4_TCP) {
		if (!fv->s.tcp.valid)
			return do_drop(v, DR_TCP_INVALID_STATE);
		struct tcp_seg *g = &sc->seg;
		seg_of(p, g);
		int loose = (fv->s.flags & SF_LOOSE_TCP) != 0;
		int committed = 0, res = 0;
		__u8 prev = 0;
		for (int attempt = 0; attempt < 2 && !committed; attempt++) {
			bpf_spin_lock(&fv->lock);
			sc->tcp = fv->s.tcp;
			bpf_spin_unlock(&fv->lock);
			__u32 seen = sc->tcp.version;
			prev = sc->tcp.state;
			res = tcp_update(&sc->tcp, g, dir, loose);
			if (res < 0)
				break;
			bpf_spin_lock(&fv->lock);
			if (fv->s.tcp.version == seen) {
				fv->s.tcp = sc->tcp;
				committed = 1;
			}
			bpf_spin_unlock(&fv->lock);
		}
		if (res == TV_OUT_OF_WINDOW)
			return do_drop(v, DR_TCP_OUT_OF_WINDOW);
		if (res == TV_REOPEN) {
			__builtin_memcpy(&sc->nv.s, &fv->s, sizeof(sc->nv.s));
			close_session(sc, &sc->okey, &sc->nv.s, CR_TCP_FIN, now, gc->limits);
			return do_drop(v, DR_TCP_INVALID_STATE);
		}
		if (res < 0)
			return do_drop(v, DR_TCP_INVALID_STATE);
		if ((__u8)res != prev) {
			__u8 st = lifecycle((__u8)res, 1);
			fv->s.state = st;
			fv->s.timeout = timeout_for(gc, 6, (__u8)res, fv->s.app_timeout);
			if (fv->s.embryonic && !unanswered(st, (__u8)res))
				fv->s.embryonic = 0;
			emit_delta(XR_DELTA_UPDATE, 0, now, &sc->okey, &fv->s);
		}
	}
	if (dir == 0) {
		__sync_fetch_and_add(&fv->s.fwd_packets, 1);
		__sync_fetch_and_add(&fv->s.fwd_bytes, p->l3_len);
	} else {
		__sync_fetch_and_add(&fv->s.rev_packets, 1);
		__sync_fetch_and_add(&fv->s.rev_bytes, p->l3_len);
	}
	if (now > fv->s.last_seen_ns)
		fv->s.last_seen_ns = now;
	if (dir == 1 && fv->s.state == SS_NEW && !fv->s.tcp.valid) {
		fv->s.state = SS_ESTABLISHED;
		fv->s.embryonic = 0;
	}
	if (rg_inactive(fv->s.rg))
		return xpf_ha_inactive(ctx, v);
	__u32 egress = dir == 0 ? fv->s.out_if : fv->s.in_if;
	__u32 rule = fv->s.rule;
	/* Rewrite to the other direction's key. */
	if (dir == 0)
		__builtin_memcpy(&sc->rkey, &fv->s.other, sizeof(sc->rkey));
	else
		__builtin_memcpy(&sc->rkey, &sc->okey, sizeof(sc->rkey));
	int rw = rewrite(ctx, p, sc->rkey.dst, sc->rkey.src, sc->rkey.dport, sc->rkey.sport);
	if (rw < 0)
		return do_drop(v, DR_MALFORMED_IPV4);
	if (rw > 0)
		cnt_add(XC_NAT_TRANSLATED, 1);
	if (rule && rule < XPF_MAX_RULE_IDS)
		cnt_pkt(&xpf_cnt_policy, rule, p->l3_len);
	/* The direction's cached next hop, if resolved under this slot's
	 * epoch (one aligned word: never seen half-written). */
	if (gc->epoch) {
		__u64 nh = dir == 0 ? fv->nh[0] : fv->nh[1];
		sc->fc_dir = dir;
		sc->fc_epoch = gc->epoch;
		sc->fc_nh = (__u32)nh;
		sc->fc_state = (__u32)(nh >> 32) == gc->epoch && sc->fc_nh < XPF_MAX_NEIGHBOURS ?
				       FC_HIT : FC_FILL;
		/* The id is only needed to fill (it lies outside the lines a
		 * hit touches). */
		if (sc->fc_state == FC_FILL)
			sc->fc_sid = fv->s.session_id;
	}
	return FWD_TO(egress);
}

__noinline int xpf_first_packet(struct xdp_md *ctx, struct verdict_ctx *v, struct scratch *sc)
{
	if (!ctx || !v || !sc)
		return XDP_DROP;
	__u64 now = v->now;
	__u32 slot = v->slot & 1;
	__u32 ingress = v->ingress;
	__u32 zone = v->zone;
	struct xpf_gen_cfg *gc = gen_of(v);
	if (!gc || ingress >= XPF_MAX_IFACES || zone >= XPF_MAX_ZONES)
		return do_drop(v, DR_UNKNOWN_INTERFACE);
	struct pkt *p = &sc->p;
	__u32 zidx = slot * XPF_MAX_ZONES + (zone & (XPF_MAX_ZONES - 1));
	struct xpf_zone *zc = bpf_map_lookup_elem(&xpf_zones, &zidx);
	if (!zc)
		return do_drop(v, DR_UNKNOWN_INTERFACE);
	int loose = zc->loose;
	/* The entry point cleared sc->nv and built the TCP tracker. */
	struct xpf_sess *ns = &sc->nv.s;
	/* TCP without its header: a non-first fragment (its session is gone
	 * or was never made). */
	if (p->proto == 6 && p->kind != L4_TCP)
		return do_drop(v, p->fragment && p->frag_off ? DR_FRAGMENT_NO_SESSION : DR_MALFORMED_TCP);
	/* Static inbound, then destination NAT. */
	struct nat_q q;
	__builtin_memset(&q, 0, sizeof(q));
	q.slot = slot;
	q.zone = zone;
	q.iface = ingress;
	q.family = p->family;
	q.proto = p->proto;
	q.sport = p->sport;
	q.dport = p->dport;
	__u8 *dst2 = sc->dst2;
	__u16 dp2 = p->dport;
	addr_cpy(dst2, p->dst);
	__u32 nat_dst = 0;
	int dnat_static = 0, dnat = 0;
	if (gc->n_static) {
		bpf_loop(gc->n_static, static_in_step, &q, 0);
		if (q.found) {
			__u32 idx = slot * XPF_MAX_STATIC_RULES + q.found - 1;
			struct xpf_static_rule *r = bpf_map_lookup_elem(&xpf_static, &idx);
			if (r) {
				nat_dst = r->id;
				dnat_static = 1;
				dnat = 1;
				addr_cpy(dst2, sc->q_out);
			}
		}
	}
	if (!dnat && gc->n_dnat) {
		q.found = 0;
		bpf_loop(gc->n_dnat, dnat_step, &q, 0);
		if (q.found) {
			__u32 idx = slot * XPF_MAX_DNAT_RULES + q.found - 1;
			struct xpf_dnat_rule *r = bpf_map_lookup_elem(&xpf_dnat, &idx);
			if (r && r->has_pool) {
				nat_dst = r->id;
				dnat = 1;
				__builtin_memset(dst2, 0, 16);
				addr_cpy(dst2, r->addr);
				if (r->has_port)
					dp2 = r->port;
			}
		}
	}
	/* Host-inbound: traffic to the firewall's own addresses. */
	if (!dnat) {
		struct xpf_addr_key *lk = &sc->ak;
		__builtin_memset(lk, 0, sizeof(*lk));
		lk->slot = slot;
		lk->family = p->family;
		addr_cpy(lk->addr, dst2);
		if (bpf_map_lookup_elem(&xpf_local, lk)) {
			if (host_allows(zc, p))
				return do_local(v);
			return do_drop(v, DR_HOST_INBOUND_DENIED);
		}
	}
	/* A non-first fragment follows its datagram's session; it never opens
	 * one (its first fragment was dropped, or the session is gone). */
	if (p->fragment && p->frag_off)
		return do_drop(v, DR_FRAGMENT_NO_SESSION);
	if (!route_lookup(slot, p->family, dst2, &sc->rt))
		return do_drop(v, DR_NO_ROUTE);
	if (sc->rt.kind == RT_DISCARD)
		return do_drop(v, DR_ROUTE_DISCARD);
	__u32 egress = sc->rt.iface;
	__u32 eidx = slot * XPF_MAX_IFACES + (egress & (XPF_MAX_IFACES - 1));
	struct xpf_iface *eif = bpf_map_lookup_elem(&xpf_ifaces, &eidx);
	if (!eif || !eif->valid)
		return do_drop(v, DR_NO_ROUTE);
	__u32 to_zone = eif->zone;
	/* Policy: zone pair, then global, then default. */
	struct policy_ctx pc;
	__builtin_memset(&pc, 0, sizeof(pc));
	pc.slot = slot;
	pc.from = zone;
	pc.to = to_zone;
	pc.family = p->family;
	pc.proto = p->proto;
	pc.sport = p->sport;
	pc.dport = dp2;
	pc.icmp_type = p->icmp_type;
	pc.icmp_code = p->icmp_code;
	sc->local = (__s64)(now / 1000000000ULL) + gc->utc_offset;
	struct xpf_pair_key *pk = &sc->pk;
	pk->slot = slot;
	pk->from = zone;
	pk->to = to_zone;
	struct xpf_span *span = bpf_map_lookup_elem(&xpf_zone_pairs, pk);
	if ((span && span->count) || gc->global_count) {
		members_load(slot, p->family, p->src, &sc->msrc);
		members_load(slot, p->family, dst2, &sc->mdst);
	}
	if (span && span->count) {
		pc.start = span->start;
		bpf_loop(span->count, policy_step, &pc, 0);
	}
	if (!pc.found && gc->global_count) {
		pc.start = gc->global_start;
		bpf_loop(gc->global_count, policy_step, &pc, 0);
	}
	struct xpf_rule *rule = 0;
	if (pc.found) {
		__u32 ridx = slot * XPF_MAX_RULES + pc.found - 1;
		rule = bpf_map_lookup_elem(&xpf_rules, &ridx);
		if (!rule)
			return do_drop(v, DR_DEFAULT_DENY);
	}
	__u8 action = rule ? rule->action : (gc->default_permit ? RA_PERMIT : RA_DENY);
	if (action != RA_PERMIT) {
		if (rule && (rule->flags & RF_LOG_INIT)) {
			struct xpf_record *r = bpf_ringbuf_reserve(&xpf_events, sizeof(*r), 0);
			if (r) {
				__builtin_memset(r, 0, sizeof(*r));
				r->kind = XR_POLICY_DENY;
				r->reason = action == RA_REJECT;
				r->time_ns = now;
				r->key.family = p->family;
				r->key.proto = p->proto;
				r->key.sport = p->sport;
				r->key.dport = p->dport;
				addr_cpy(r->key.src, p->src);
				addr_cpy(r->key.dst, p->dst);
				r->s.rule = rule->id;
				r->s.app = rule->app;
				r->s.in_zone = zone;
				r->s.out_zone = to_zone;
				r->s.in_if = ingress;
				r->s.flags = (p->kind == L4_ICMP_QUERY || p->kind == L4_ICMP_ERROR ||
					      p->kind == L4_ICMP_OTHER)
						     ? (__u16)p->icmp_type + 1
						     : 0;
				bpf_ringbuf_submit(r, 0);
			} else {
				cnt_add(XC_EVENTS_DROPPED, 1);
			}
		}
		if (rule && rule->id && rule->id < XPF_MAX_RULE_IDS)
			cnt_pkt(&xpf_cnt_policy, rule->id, p->l3_len);
		if (action == RA_REJECT) {
			do_drop(v, DR_POLICY_REJECT);
			return EMIT_TO(EMIT_REJECT);
		}
		return do_drop(v, rule ? DR_POLICY_DENY : DR_DEFAULT_DENY);
	}
	/* TTL expiry on the packet as received, before session limits, NAT
	 * and the insert (README of xpf-conformance, "Decisions"). */
	if (p->ttl <= 1) {
		do_drop(v, DR_TTL_EXCEEDED);
		return EMIT_TO(EMIT_TIME_EXCEEDED);
	}
	/* Session limits of the ingress zone (before destination NAT's
	 * destination: the packet's own addresses). */
	if (zc->src_limit || zc->dst_limit) {
		__u32 lh = xpf_limit_hit(sc, zc->src_limit, zc->dst_limit);
		if (lh)
			return SCREEN_TO(lh);
	}
	/* Static outbound, then source NAT. */
	__u8 *src2 = sc->src2;
	addr_cpy(src2, p->src);
	__u16 sp2 = p->sport;
	__u16 flags = 0, pool_id = 0, target = 0;
	__u32 nat_src = 0, mslot = 0;
	int translated_src = 0;
	if (gc->n_static) {
		q.found = 0;
		bpf_loop(gc->n_static, static_out_step, &q, 0);
		if (q.found) {
			__u32 idx = slot * XPF_MAX_STATIC_RULES + q.found - 1;
			struct xpf_static_rule *r = bpf_map_lookup_elem(&xpf_static, &idx);
			if (r) {
				flags |= SF_STATIC_NAT;
				nat_src = r->id;
				addr_cpy(src2, sc->q_out);
				translated_src = 1;
			}
		}
	}
	if (!translated_src && gc->n_snat) {
		q.found = 0;
		q.to_zone = to_zone;
		q.egress = egress;
		bpf_loop(gc->n_snat, snat_step, &q, 0);
		if (q.found) {
			__u32 idx = slot * XPF_MAX_SNAT_RULES + q.found - 1;
			struct xpf_snat_rule *r = bpf_map_lookup_elem(&xpf_snat, &idx);
			if (r && r->action != SNAT_OFF) {
				struct alloc_ctx a;
				__builtin_memset(&a, 0, sizeof(a));
				a.proto = p->proto;
				__u16 low, high;
				__u32 naddr;
				sc->nat.kind = 0;
				sc->nat.sproto = p->proto;
				if (r->action == SNAT_INTERFACE) {
					int has = p->family == 4 ? eif->has_v4 : eif->has_v6;
					if (!has)
						return do_drop(v, DR_NAT_POOL_EXHAUSTED);
					a.target = SNAT_TARGET_IFACE | (p->family == 6 ? SNAT_TARGET_V6 : 0) |
						   (egress & SNAT_TARGET_IFACE_MASK);
					low = 1024;
					high = 65535;
					naddr = 1;
				} else {
					__u32 pidx = slot * XPF_MAX_POOLS + (r->pool & (XPF_MAX_POOLS - 1));
					struct xpf_pool *pool = bpf_map_lookup_elem(&xpf_pools, &pidx);
					if (!pool || !pool->valid || pool->family != p->family)
						return do_drop(v, DR_NAT_POOL_EXHAUSTED);
					a.target = r->pool;
					low = pool->port_low;
					high = pool->port_high;
					naddr = pool->addr_count;
					sc->nat.kind = pool->flags;
				}
				__u64 ports = (__u64)(high - low) + 1;
				/* A protocol without ports cannot share an address by
				 * port: it holds one for that protocol alone
				 * (docs/nat-allocation.md, section 6). */
				if (!(sc->nat.kind & POOL_ADDR_ONLY) && !has_ports(p->proto) &&
				    !is_icmp(p->proto))
					sc->nat.kind = POOL_ADDR_ONLY | POOL_HOLD_SCOPED;
				if (sc->nat.kind & POOL_ADDR_ONLY) {
					ports = 1;
					sc->nat.sproto = (sc->nat.kind & POOL_HOLD_SCOPED) ? p->proto
											 : HOLD_PROTO;
				}
				a.proto = sc->nat.sproto;
				if (ports * naddr == 0 || ports * naddr > XPF_MAX_POOL_SLOTS)
					return do_drop(v, DR_NAT_POOL_EXHAUSTED);
				sc->nat.target = a.target;
				if (xpf_nat_plan(sc, naddr, (__u32)ports, dp2) < 0)
					return do_drop(v, DR_NAT_POOL_EXHAUSTED);
				if (sc->nat.reused) {
					mslot = sc->nat.reused - 1;
				} else {
					a.slots = sc->nat.slots;
					a.base = sc->nat.base;
					a.start = sc->nat.start;
					/* A scan of the whole pool is remembered when it
					 * fails (struct xpf_exhaust). */
					if (xpf_nat_memo(sc, a.proto))
						return do_drop(v, DR_NAT_POOL_EXHAUSTED);
					bpf_loop(a.slots, alloc_step, &a, 0);
					if (!a.taken) {
						xpf_nat_memo_fail(sc, a.proto);
						return do_drop(v, DR_NAT_POOL_EXHAUSTED);
					}
					mslot = a.taken - 1;
				}
				__u32 aidx = (__u32)(mslot / ports);
				sp2 = (sc->nat.kind & POOL_ADDR_ONLY) ? p->sport
								       : low + (__u16)(mslot % ports);
				if (r->action == SNAT_INTERFACE) {
					__builtin_memset(src2, 0, 16);
					if (p->family == 4)
						__builtin_memcpy(src2, eif->v4, 4);
					else
						__builtin_memcpy(src2, eif->v6, 16);
				} else {
					struct xpf_pool_addr_key *ak = &sc->pak;
					ak->slot = slot;
					ak->pool = r->pool;
					ak->pad0 = 0;
					ak->index = aidx;
					struct xpf_prefix *pa = bpf_map_lookup_elem(&xpf_pool_addrs, ak);
					if (!pa) {
						if (!sc->nat.reused)
							release_slot(a.target, sc->nat.sproto, mslot);
						return do_drop(v, DR_NAT_POOL_EXHAUSTED);
					}
					addr_cpy(src2, pa->addr);
					pool_id = r->pool;
				}
				target = a.target;
				nat_src = r->id;
				flags |= SF_SNAT;
				if (r->id < XPF_MAX_NAT_IDS)
					cnt_pkt(&xpf_cnt_nat, r->id, 0);
			}
		}
	}
	if (is_icmp(p->proto))
		dp2 = sp2;
	if (dnat) {
		flags |= dnat_static ? SF_STATIC_NAT : SF_DNAT;
		if (nat_dst < XPF_MAX_NAT_IDS)
			cnt_pkt(&xpf_cnt_nat, nat_dst, 0);
	}
	__u32 rule_id = 0, app_timeout = 0;
	__u16 app = 0;
	if (rule) {
		if (rule->flags & RF_LOG_INIT)
			flags |= SF_LOG_INIT;
		if (rule->flags & RF_LOG_CLOSE)
			flags |= SF_LOG_CLOSE;
		if (rule->flags & RF_COUNT)
			flags |= SF_COUNT;
		rule_id = rule->id;
		app = rule->app;
		app_timeout = rule->timeout;
	}
	if (loose)
		flags |= SF_LOOSE_TCP;
	/* The reverse key. */
	struct xpf_sess_key *rk = &sc->rkey;
	__builtin_memset(rk, 0, sizeof(*rk));
	rk->family = p->family;
	rk->proto = p->proto;
	rk->sport = dp2;
	rk->dport = sp2;
	addr_cpy(rk->src, dst2);
	addr_cpy(rk->dst, src2);
	__u32 zero = 0, one = 1;
	struct xpf_state *st = bpf_map_lookup_elem(&xpf_state, &zero);
	struct xpf_state *su = bpf_map_lookup_elem(&xpf_state, &one);
	if (!st || !su) {
		if (target && !sc->nat.reused)
			release_slot(target, sc->nat.sproto, mslot);
		return do_drop(v, DR_SESSION_TABLE_FULL);
	}
	__u64 seq = __sync_fetch_and_add(&st->next_seq, 1);
	__u64 sid = ((__u64)(v->node & 1) << 63) | (seq & ~(1ULL << 63));
	if (key_eq(&sc->key, rk) || bpf_map_lookup_elem(&xpf_sessions, rk)) {
		if (target && !sc->nat.reused)
			release_slot(target, sc->nat.sproto, mslot);
		return do_drop(v, DR_SESSION_CONFLICT);
	}
	/* Capacity: evict the oldest embryonic session, or refuse. */
	__u64 live = st->inserted - st->removed - su->removed;
	int evicted = 0;
	if (live >= gc->session_capacity) {
		for (int i = 0; i < XPF_EVICT_SCAN; i++) {
			if (bpf_map_pop_elem(&xpf_embryonic, &sc->embryo))
				break;
			struct sess_val *ev = bpf_map_lookup_elem(&xpf_sessions, &sc->embryo.key);
			if (!ev || ev->s.is_reverse || ev->s.session_id != sc->embryo.session_id ||
			    !ev->s.embryonic)
				continue;
			__builtin_memcpy(&sc->okey, &sc->embryo.key, sizeof(sc->okey));
			evicted = 1;
			break;
		}
		if (!evicted) {
			if (target && !sc->nat.reused)
				release_slot(target, sc->nat.sproto, mslot);
			return do_drop(v, DR_SESSION_TABLE_FULL);
		}
	}
	__u8 tcp_state = ns->tcp.valid ? ns->tcp.state : TS_NONE;
	__u8 state = lifecycle(tcp_state, 0);
	ns->session_id = sid;
	ns->created_ns = now;
	ns->last_seen_ns = now;
	ns->timeout = timeout_for(gc, p->proto, tcp_state, app_timeout);
	ns->rule = rule_id;
	ns->app = app;
	ns->app_timeout = app_timeout;
	ns->nat_rule_src = nat_src;
	ns->nat_rule_dst = nat_dst;
	ns->slot = mslot;
	ns->flags = flags;
	ns->in_zone = zone;
	ns->out_zone = to_zone;
	ns->in_if = ingress;
	ns->out_if = egress;
	ns->nat_pool = pool_id;
	ns->snat_target = target;
	ns->nat_kind = target ? sc->nat.kind : 0;
	ns->rg = v->rg ? v->rg : eif->rg;
	ns->is_reverse = 0;
	ns->state = state;
	ns->embryonic = unanswered(state, tcp_state);
	ns->fwd_packets = 1;
	ns->fwd_bytes = p->l3_len;
	__builtin_memcpy(&ns->other, rk, sizeof(ns->other));
	ns->order = __sync_fetch_and_add(&st->next_order, 1);
	long ins = bpf_map_update_elem(&xpf_sessions, &sc->key, &sc->nv, BPF_NOEXIST);
	if (ins != 0) {
		if (target && !sc->nat.reused)
			release_slot(target, sc->nat.sproto, mslot);
		/* EEXIST: another CPU made it first; anything else: the map
		 * itself is full (it has room for the capacity, so only when
		 * more CPUs race at capacity than its headroom covers). */
		return do_drop(v, ins == -17 ? DR_SESSION_CONFLICT : DR_SESSION_TABLE_FULL);
	}
	/* Reverse entry: only the forward key and the session id. */
	{
		struct xpf_sess_val *rv = &sc->nv;
		__u64 keep_id = rv->s.session_id;
		__builtin_memset(&rv->s, 0, sizeof(rv->s));
		rv->s.session_id = keep_id;
		rv->s.is_reverse = 1;
		__builtin_memcpy(&rv->s.other, &sc->key, sizeof(rv->s.other));
		if (bpf_map_update_elem(&xpf_sessions, rk, rv, BPF_NOEXIST) != 0) {
			bpf_map_delete_elem(&xpf_sessions, &sc->key);
			if (target && !sc->nat.reused)
				release_slot(target, sc->nat.sproto, mslot);
			return do_drop(v, DR_SESSION_CONFLICT);
		}
	}
	__sync_fetch_and_add(&st->inserted, 1);
	cnt_add(XC_SESS_CREATED, 1);
	if (gc->limits)
		xpf_limit_count(sc, &sc->key, 1);
	if (target && sc->nat.kind)
		xpf_nat_take(sc, mslot);
	struct sess_val *fv = bpf_map_lookup_elem(&xpf_sessions, &sc->key);
	if (fv) {
		emit_delta(XR_DELTA_OPEN, 0, now, &sc->key, &fv->s);
		if (fv->s.embryonic) {
			__builtin_memcpy(&sc->embryo.key, &sc->key, sizeof(sc->embryo.key));
			sc->embryo.session_id = sid;
			bpf_map_push_elem(&xpf_embryonic, &sc->embryo, 0);
		}
	}
	if (evicted) {
		struct sess_val *ev = bpf_map_lookup_elem(&xpf_sessions, &sc->okey);
		if (ev) {
			__builtin_memcpy(&sc->nv.s, &ev->s, sizeof(sc->nv.s));
			close_session(sc, &sc->okey, &sc->nv.s, CR_EVICTED, now, gc->limits);
		}
	}
	if (rule_id && rule_id < XPF_MAX_RULE_IDS)
		cnt_pkt(&xpf_cnt_policy, rule_id, p->l3_len);
	int rw = rewrite(ctx, p, src2, dst2, sp2, dp2);
	if (rw < 0)
		return do_drop(v, DR_MALFORMED_IPV4);
	if (rw > 0)
		cnt_add(XC_NAT_TRANSLATED, 1);
	return FWD_TO(egress);
}

SEC("xdp")
int xpf_xdp(struct xdp_md *ctx)
{
	__u32 zero = 0;
	struct xpf_globals *g = bpf_map_lookup_elem(&xpf_globals, &zero);
	struct scratch *sc = bpf_map_lookup_elem(&xpf_scratch, &zero);
	if (!g || !sc)
		return XDP_DROP;
	struct verdict_ctx *vp = &sc->v;
	__builtin_memset(vp, 0, sizeof(*vp));
	vp->ingress = 0xffff;
	vp->zone = 0xffff;
	vp->trace = g->trace;
	vp->test_mode = g->test_ingress != 0;
	vp->node = g->node;
#define v (*vp)
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	__u32 flen = end - data;
	if (g->test_len && g->test_len < flen)
		flen = g->test_len;
	v.flen = flen;
	cnt_add(XC_RX_PACKETS, 1);
	cnt_add(XC_RX_BYTES, flen);
	__u32 slot = g->active & 1;
	__u64 now = g->clock_ns ? g->clock_ns : bpf_ktime_get_boot_ns() + g->clock_offset_ns;
	v.slot = slot;
	v.now = now;
	__u32 ingress = g->test_ingress;
	if (!ingress) {
		struct xpf_ifindex_key ik = { .slot = slot, .ifindex = ctx->ingress_ifindex };
		__u32 *id = bpf_map_lookup_elem(&xpf_ifindex, &ik);
		if (!id)
			return do_drop(&v, DR_UNKNOWN_INTERFACE);
		ingress = *id;
	}
	if (ingress < XPF_MAX_IFACES)
		v.ingress = ingress;
	struct xpf_gen_cfg *gc = bpf_map_lookup_elem(&xpf_gen, &slot);
	if (!gc || !gc->valid) {
		v.ingress = 0xffff;
		return do_drop(&v, DR_UNKNOWN_INTERFACE);
	}
	__u32 iidx = slot * XPF_MAX_IFACES + (ingress & (XPF_MAX_IFACES - 1));
	struct xpf_iface *ifc = bpf_map_lookup_elem(&xpf_ifaces, &iidx);
	if (!ifc || !ifc->valid || ingress >= XPF_MAX_IFACES)
		return do_drop(&v, DR_UNKNOWN_INTERFACE);
	__u32 zone = ifc->zone;
	v.zone = zone < XPF_MAX_ZONES ? zone : 0xffff;
	v.rg = ifc->rg;
	v.fin[0] = ifc->filters[0];
	v.fin[1] = ifc->filters[1];
	struct xpf_if_cnt *ic = bpf_map_lookup_elem(&xpf_cnt_iface, &ingress);
	if (ic) {
		ic->rx_packets += 1;
		ic->rx_bytes += flen;
	}
	struct pkt *p = &sc->p;
	p->flen = flen;
	sc->fc_state = FC_NONE;
	__u32 pr = parse(ctx, p);
	if (pr != PARSE_OK) {
		if (pr == DR_UNSUPPORTED_ETHERTYPE && inner_ethertype(data, end, flen) == 0x0806)
			return do_local(&v);
		return do_drop(&v, pr);
	}
	if (zone == 0)
		return do_drop(&v, DR_UNKNOWN_INTERFACE);
	if (zone < XPF_MAX_ZONES) {
		struct xpf_zone_cnt *zc = bpf_map_lookup_elem(&xpf_cnt_zone, &zone);
		if (zc) {
			zc->in_packets += 1;
			zc->in_bytes += flen;
		}
	}
	if (rg_inactive(v.rg))
		return xpf_ha_inactive(ctx, &v);
	if (p->fragment) {
		int fr = xpf_fragment(&v, sc);
		if (fr)
			return fr;
	}
	if (v.fin[p->family == 4 ? 0 : 1]) {
		int fr = xpf_in_filter(&v, sc);
		if (fr == FILTER_REJECTED)
			return xpf_emit(ctx, &v, sc, EMIT_REJECT, v.ingress);
		if (fr)
			return XDP_DROP;
	}
	if (zone < XPF_MAX_ZONES) {
		__u32 szidx = slot * XPF_MAX_ZONES + zone;
		struct xpf_zone *zs = bpf_map_lookup_elem(&xpf_zones, &szidx);
		if (zs && zs->screens) {
			int sr = xpf_screen(&v, sc, zs->screens);
			if (sr)
				return sr;
		}
	}
	int r;
	if (p->kind == L4_ICMP_ERROR) {
		r = xpf_icmp_error(ctx, &v, sc);
		goto staged;
	}
	struct xpf_sess_key *k = &sc->key;
	__builtin_memset(k, 0, sizeof(*k));
	k->family = p->family;
	k->proto = p->proto;
	k->sport = p->sport;
	k->dport = p->dport;
	addr_cpy(k->src, p->src);
	addr_cpy(k->dst, p->dst);
	r = xpf_established(ctx, &v, sc);
	if (r == SESS_MISS) {
		cnt_add(XC_SESS_MISSES, 1);
		__builtin_memset(&sc->nv, 0, sizeof(sc->nv));
		if (p->kind == L4_TCP) {
			/* TCP must start with a SYN unless the zone is loose. Built
			 * here so the tracker's stack is not stacked on the stage's. */
			__u32 zidx = slot * XPF_MAX_ZONES + (zone & (XPF_MAX_ZONES - 1));
			struct xpf_zone *zc = bpf_map_lookup_elem(&xpf_zones, &zidx);
			if (!zc)
				return do_drop(&v, DR_UNKNOWN_INTERFACE);
			seg_of(p, &sc->seg);
			if (xpf_tcp_new(&sc->nv.s.tcp, &sc->seg, zc->loose) < 0) {
				do_drop(&v, DR_TCP_NON_SYN_FIRST);
				if (zc->tcp_rst)
					return xpf_emit(ctx, &v, sc, EMIT_RST, v.ingress);
				return XDP_DROP;
			}
		}
		r = xpf_first_packet(ctx, &v, sc);
	}
staged:
	if (r & 0x800000)
		return xpf_screen_drop(&v, sc, r & 0xff);
	if (r & 0x100000)
		r = xpf_forward(ctx, &v, sc, r & 0xffff);
	if (r & 0x400000)
		return xpf_emit(ctx, &v, sc, r & 0xff, (r & 0x10000) ? (r >> 8) & 0xff : v.ingress);
	if (!(r & 0x200000))
		return r;
	__u32 egress = r & 0xffff;
	struct xpf_gen_cfg *gm = bpf_map_lookup_elem(&xpf_gen, &slot);
	if (gm && gm->mss && p->kind == L4_TCP && (p->tcp_flags & TCP_SYN)) {
		int c = xpf_mss_clamp(ctx, p->l4, p->thlen, gm->mss);
		if (c < 0)
			return do_drop(&v, DR_MALFORMED_TCP);
		if (c > 0)
			cnt_add(XC_MSS_CLAMPED, 1);
	}
	return xpf_deliver(ctx, &v, sc, egress);
#undef v
}

/* A program that passes every frame: the baseline of the benchmarks. */
SEC("xdp")
int xpf_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}
