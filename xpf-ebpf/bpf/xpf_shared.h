/* SPDX-License-Identifier: (MIT OR GPL-2.0) */
/*
 * xpf eBPF backend: every structure shared between the XDP program and the
 * Rust loader (xpf-ebpf/src/abi.rs). Each struct has explicit padding and a
 * _Static_assert on its size and on the offset of every field; the Rust side
 * mirrors them with #[repr(C)] types and offset_of! const assertions, so a
 * layout change on one side fails the build of the other.
 *
 * Conventions: addresses are network-order bytes (IPv4 in the first 4 bytes
 * of a 16-byte field), ports and ids are host-order integers, booleans are
 * __u8 0/1. "gen" is the configuration slot (0 or 1) a packet reads; the
 * loader fills the inactive slot and then flips xpf_globals.active.
 */
#ifndef XPF_SHARED_H
#define XPF_SHARED_H

#include <linux/types.h>

#define XPF_ABI_VERSION 1

/* Sizes of the fixed tables (per configuration slot). */
#define XPF_MAX_IFACES 256      /* InterfaceId < 256 */
#define XPF_MAX_ZONES 64        /* ZoneId < 64 (zone sets are 64-bit masks) */
#define XPF_MAX_RULES 16384     /* compiled policy rules per generation */
#define XPF_MAX_RULE_IDS 65536  /* PolicyRuleId < 65536 (counter slots) */
#define XPF_MAX_NAT_IDS 4096    /* NatRuleId < 4096 (counter slots) */
#define XPF_MAX_ZONE_PAIRS 4096
#define XPF_MAX_SET_PREFIXES 262144
#define XPF_MAX_ROUTES 65536
#define XPF_MAX_NEIGHBOURS 16384
#define XPF_MAX_LOCAL_ADDRS 4096
#define XPF_MAX_SNAT_RULES 64
#define XPF_MAX_DNAT_RULES 64
#define XPF_MAX_STATIC_RULES 64
#define XPF_MAX_POOLS 256       /* NatPoolId < 256 */
#define XPF_MAX_POOL_SLOTS (1u << 20) /* addresses * ports per protocol */
#define XPF_MAX_SESSIONS 1048576      /* forward sessions (2 entries each) */
#define XPF_FRAG_CAPACITY 4096  /* datagrams followed at once (map xpf_frags) */
#define XPF_FRAG_RANGES 64      /* fragments recorded per datagram */
#define XPF_FRAG_TIMEOUT_NS 2000000000ULL /* a datagram is followed 2 s from its first fragment */
#define XPF_NAT_PREFIXES 4      /* prefixes per NAT match side */
#define XPF_NAT_PORTS 4         /* port ranges per NAT match side */
#define XPF_NAT_PROTOS 4        /* protocols per NAT match */
#define XPF_RINGBUF_BYTES (1u << 22)
#define XPF_MAX_SCHEDULES 64    /* ScheduleSlot < 64 */
#define XPF_MAX_FILTERS 256     /* FilterId < 256; map xpf_filters: span of its terms */
#define XPF_MAX_TERMS 1024      /* filter terms per slot (FilterTermId <= this) */
#define XPF_TERM_PREFIXES 4
#define XPF_TERM_PORTS 4
#define XPF_TERM_PROTOS 4
#define XPF_TERM_FLAGS 4
#define XPF_TERM_DSCP 8
#define XPF_TERM_ICMP 8
#define XPF_MAX_RGS 256         /* RedundancyGroupId < 256; map xpf_rg_state: 1 = inactive here */
#define XPF_SCHED_WINDOWS 16    /* minute-of-week windows per scheduler */
#define XPF_SCHED_DATES 4       /* date ranges per scheduler */
#define XPF_EVICT_SCAN 64       /* queue entries examined per eviction */

/* Global counter slots: xpf_runtime::BaseCounter, then DropReason, then the
 * backend's own counters (XC_FABRIC_FORWARDED). */
#define XPF_COUNTERS 72
enum xpf_base_counter {
	XC_RX_PACKETS = 0,
	XC_RX_BYTES = 1,
	XC_FORWARDED = 2,
	XC_LOCAL = 3,
	XC_DROPPED = 4,
	XC_SESS_CREATED = 5,
	XC_SESS_CLOSED = 6,
	XC_SESS_EXPIRED = 7,
	XC_SESS_EVICTED = 8,
	XC_SESS_HITS = 9,
	XC_SESS_MISSES = 10,
	XC_NAT_TRANSLATED = 11,
	XC_RST_SENT = 12,
	XC_ICMP_ERR_SENT = 13,
	XC_MSS_CLAMPED = 14,
	XC_FRAGMENTS = 15,
	XC_EVENTS_DROPPED = 16,
	XC_DELTAS_DROPPED = 17,
	XC_BASE_COUNT = 18,
};

/* xpf_runtime::DropReason indices. */
enum xpf_drop {
	DR_MALFORMED_ETH = 0,
	DR_MALFORMED_VLAN = 1,
	DR_MALFORMED_IPV4 = 2,
	DR_BAD_IPV4_CSUM = 3,
	DR_MALFORMED_IPV6 = 4,
	DR_MALFORMED_EXT = 5,
	DR_MALFORMED_TCP = 6,
	DR_MALFORMED_UDP = 7,
	DR_MALFORMED_ICMP = 8,
	DR_UNSUPPORTED_ETHERTYPE = 9,
	DR_UNKNOWN_INTERFACE = 10,
	DR_TTL_EXCEEDED = 11,
	DR_SCREEN_LAND = 12,
	DR_SCREEN_SYN_FIN = 13,
	DR_SCREEN_TCP_NO_FLAG = 14,
	DR_SCREEN_FIN_NO_ACK = 15,
	DR_SCREEN_WINNUKE = 16,
	DR_SCREEN_PING_DEATH = 17,
	DR_SCREEN_TEAR_DROP = 18,
	DR_SCREEN_SOURCE_ROUTE = 19,
	DR_SCREEN_SYN_FRAG = 20,
	DR_SCREEN_SYN_FLOOD = 21,
	DR_SCREEN_ICMP_FLOOD = 22,
	DR_SCREEN_UDP_FLOOD = 23,
	DR_SCREEN_SRC_LIMIT = 24,
	DR_SCREEN_DST_LIMIT = 25,
	DR_FILTER_DISCARD = 26,
	DR_FILTER_REJECT = 27,
	DR_POLICER_EXCEEDED = 28,
	DR_TCP_NON_SYN_FIRST = 29,
	DR_TCP_OUT_OF_WINDOW = 30,
	DR_TCP_INVALID_STATE = 31,
	DR_SESSION_TABLE_FULL = 32,
	DR_SESSION_CONFLICT = 33,
	DR_POLICY_DENY = 34,
	DR_POLICY_REJECT = 35,
	DR_DEFAULT_DENY = 36,
	DR_HOST_INBOUND_DENIED = 37,
	DR_NAT_POOL_EXHAUSTED = 38,
	DR_NO_ROUTE = 39,
	DR_ROUTE_DISCARD = 40,
	DR_NO_NEIGHBOUR = 41,
	DR_FRAGMENT_NO_SESSION = 43,
	DR_HA_INACTIVE = 44,
	DR_ICMP_ERROR_NO_SESSION = 45,
	DR_COUNT = 46,
};

/* The backend's own counter slots, after the drop reasons. */
enum xpf_backend_counter {
	/* Frames of a backup redundancy group sent to the cluster peer over
	 * the fabric link (also counted as ha-inactive drops). */
	XC_FABRIC_FORWARDED = XC_BASE_COUNT + DR_COUNT,
};
_Static_assert(XC_FABRIC_FORWARDED == 64, "fabric-forwarded counter slot");
_Static_assert(XC_FABRIC_FORWARDED < XPF_COUNTERS, "counter slots");

/* Host-inbound services and protocols (bits of xpf_zone.host_services / host_protocols). */
enum xpf_host_service {
	HS_ALL = 1u << 0, HS_PING = 1u << 1, HS_TRACEROUTE = 1u << 2, HS_SSH = 1u << 3,
	HS_TELNET = 1u << 4, HS_HTTP = 1u << 5, HS_HTTPS = 1u << 6, HS_NETCONF = 1u << 7,
	HS_DNS = 1u << 8, HS_NTP = 1u << 9, HS_SNMP = 1u << 10, HS_SYSLOG = 1u << 11,
	HS_DHCP = 1u << 12, HS_DHCPV6 = 1u << 13, HS_IKE = 1u << 14,
};
enum xpf_host_protocol {
	HP_ALL = 1u << 0, HP_BGP = 1u << 1, HP_OSPF = 1u << 2, HP_OSPF3 = 1u << 3,
	HP_BFD = 1u << 4, HP_VRRP = 1u << 5, HP_PIM = 1u << 6, HP_ROUTER_DISCOVERY = 1u << 7,
};

/* xpf_runtime::SessionFlags bits. */
#define SF_SNAT (1u << 0)
#define SF_DNAT (1u << 1)
#define SF_STATIC_NAT (1u << 2)
#define SF_LOG_INIT (1u << 3)
#define SF_LOG_CLOSE (1u << 4)
#define SF_COUNT (1u << 5)
#define SF_LOOSE_TCP (1u << 9)

/* xpf_runtime::SessionState / TcpState as numbers. */
enum xpf_sess_state { SS_NEW = 0, SS_ESTABLISHED = 1, SS_CLOSING = 2, SS_CLOSED = 3 };
enum xpf_tcp_state {
	TS_NONE = 0, TS_SYN_SENT = 1, TS_SYN_RECEIVED = 2, TS_ESTABLISHED = 3,
	TS_FIN_WAIT = 4, TS_CLOSE_WAIT = 5, TS_LAST_ACK = 6, TS_TIME_WAIT = 7, TS_CLOSE = 8,
};

/* Verdict kinds reported to the test harness (xpf_trace). */
enum xpf_verdict { XV_NONE = 0, XV_FORWARD = 1, XV_LOCAL = 2, XV_DROP = 3 };

/* Ring-buffer record kinds. */
enum xpf_record_kind {
	XR_DELTA_OPEN = 1,
	XR_DELTA_UPDATE = 2,
	XR_DELTA_CLOSE = 3,  /* reason = xpf_runtime::CloseReason index */
	XR_POLICY_DENY = 4,
	XR_SCREEN_DROP = 5,  /* reason = the screen's drop reason */
	XR_FILTER_LOG = 6,   /* reason = FA_LOG_*; s.rule = FilterId, s.nat_rule_src = FilterTermId,
			      * s.state = direction (0 input, 1 output), s.in_if = interface */
};
/* xpf_runtime::CloseReason as numbers (records only). */
enum xpf_close_reason { CR_TCP_FIN = 0, CR_TCP_RST = 1, CR_IDLE = 2, CR_EVICTED = 6 };

/* Process-wide knobs, written by the loader only. Map xpf_globals, key 0. */
struct xpf_globals {
	__u32 active;          /* configuration slot packets read: 0 or 1 */
	__u32 test_ingress;    /* test runs: InterfaceId of the ingress (0: from ifindex) */
	__u64 clock_ns;        /* test runs: Unix time of the packet (0: real clock) */
	__u64 clock_offset_ns; /* Unix time = bpf_ktime_get_boot_ns() + offset */
	__u32 test_len;        /* test runs: real frame length (the harness pads runts) */
	__u32 node;            /* cluster node id (bit 63 of session ids) */
	__u32 trace;           /* 1: write xpf_trace for every packet */
	__u32 pad0;
};
_Static_assert(sizeof(struct xpf_globals) == 40, "xpf_globals size");
_Static_assert(__builtin_offsetof(struct xpf_globals, active) == 0, "globals.active");
_Static_assert(__builtin_offsetof(struct xpf_globals, test_ingress) == 4, "globals.test_ingress");
_Static_assert(__builtin_offsetof(struct xpf_globals, clock_ns) == 8, "globals.clock_ns");
_Static_assert(__builtin_offsetof(struct xpf_globals, clock_offset_ns) == 16, "globals.clock_offset_ns");
_Static_assert(__builtin_offsetof(struct xpf_globals, test_len) == 24, "globals.test_len");
_Static_assert(__builtin_offsetof(struct xpf_globals, node) == 28, "globals.node");
_Static_assert(__builtin_offsetof(struct xpf_globals, trace) == 32, "globals.trace");

/* Program-owned sequence state: map xpf_state, key 0 (written by the program
 * with atomics); key 1 holds the loader's own tally of removed sessions. */
struct xpf_state {
	__u64 next_seq;   /* next session sequence number */
	__u64 next_order; /* next install order (embryonic FIFO, expiry ties) */
	__u64 inserted;   /* sessions installed by the program */
	__u64 removed;    /* sessions removed (by the program at key 0, the loader at key 1) */
};
_Static_assert(sizeof(struct xpf_state) == 32, "xpf_state size");
_Static_assert(__builtin_offsetof(struct xpf_state, next_seq) == 0, "state.next_seq");
_Static_assert(__builtin_offsetof(struct xpf_state, next_order) == 8, "state.next_order");
_Static_assert(__builtin_offsetof(struct xpf_state, inserted) == 16, "state.inserted");
_Static_assert(__builtin_offsetof(struct xpf_state, removed) == 24, "state.removed");

/* What happened to the last packet (test runs). Map xpf_trace, key 0. */
struct xpf_trace {
	__u32 verdict; /* xpf_verdict */
	__u32 reason;  /* drop reason when verdict == XV_DROP */
	__u32 egress;  /* InterfaceId when verdict == XV_FORWARD */
	__u32 emitted; /* 1: the output frame is one the firewall built (RST / ICMP
			* error), sent back out of the ingress; the packet was dropped */
	__u32 fabric;  /* a backup group's frame (XV_DROP, ha-inactive) redirected to
			* the peer: the fabric link's ifindex (0: not sent) */
};
_Static_assert(sizeof(struct xpf_trace) == 20, "xpf_trace size");
_Static_assert(__builtin_offsetof(struct xpf_trace, verdict) == 0, "trace.verdict");
_Static_assert(__builtin_offsetof(struct xpf_trace, reason) == 4, "trace.reason");
_Static_assert(__builtin_offsetof(struct xpf_trace, egress) == 8, "trace.egress");
_Static_assert(__builtin_offsetof(struct xpf_trace, emitted) == 12, "trace.emitted");
_Static_assert(__builtin_offsetof(struct xpf_trace, fabric) == 16, "trace.fabric");

/* Fabric forwarding: where a backup redundancy group's frames go instead of
 * being dropped (map xpf_fabric, key 0, a hash map without preallocation,
 * so an update replaces the element whole: a packet reads the old link or
 * the new one, never a mix). The loader writes it only from the *synced*
 * fabric view (never from a commit): the first enabled link of the view
 * whose device is bound (attached, up, an interface of the configuration
 * in force). No element: no usable link, the frames drop (ha-inactive). */
struct xpf_fabric {
	__u32 ifindex;     /* kernel ifindex of the fabric link's device */
	__u8 peer_mac[6];  /* destination MAC of a forwarded frame (the peer) */
	__u8 local_mac[6]; /* source MAC (this node on the fabric link) */
};
_Static_assert(sizeof(struct xpf_fabric) == 16, "xpf_fabric size");
_Static_assert(__builtin_offsetof(struct xpf_fabric, ifindex) == 0, "fabric.ifindex");
_Static_assert(__builtin_offsetof(struct xpf_fabric, peer_mac) == 4, "fabric.peer_mac");
_Static_assert(__builtin_offsetof(struct xpf_fabric, local_mac) == 10, "fabric.local_mac");

/* Per-generation settings. Map xpf_gen, key = slot. */
struct xpf_gen_cfg {
	__u32 global_start;   /* global rules: span into xpf_rules */
	__u32 global_count;
	__u32 session_capacity;
	__u32 tcp_initial;    /* timeouts, seconds */
	__u32 tcp_established;
	__u32 tcp_closing;
	__u32 tcp_time_wait;
	__u32 udp;
	__u32 icmp;
	__u32 other;
	__u32 n_snat;         /* rule counts */
	__u32 n_dnat;
	__u32 n_static;
	__u16 mss;            /* MSS clamp (0: none) */
	__u8 default_permit;
	__u8 valid;
	__s32 utc_offset;     /* local time = UTC + this, seconds (schedulers) */
	__u32 limits;         /* 1: some zone has session limits (xpf_limit_cnt is kept) */
	__u32 epoch;          /* forwarding epoch: bumped whenever the loader writes this
			       * slot's interfaces, routes or neighbours; a session's cached
			       * forwarding result is valid only under the epoch it was
			       * filled in (0: never cache) */
	__u32 pad0;
};
_Static_assert(sizeof(struct xpf_gen_cfg) == 72, "xpf_gen_cfg size");
_Static_assert(__builtin_offsetof(struct xpf_gen_cfg, global_start) == 0, "gen.global_start");
_Static_assert(__builtin_offsetof(struct xpf_gen_cfg, global_count) == 4, "gen.global_count");
_Static_assert(__builtin_offsetof(struct xpf_gen_cfg, session_capacity) == 8, "gen.session_capacity");
_Static_assert(__builtin_offsetof(struct xpf_gen_cfg, tcp_initial) == 12, "gen.tcp_initial");
_Static_assert(__builtin_offsetof(struct xpf_gen_cfg, tcp_established) == 16, "gen.tcp_established");
_Static_assert(__builtin_offsetof(struct xpf_gen_cfg, tcp_closing) == 20, "gen.tcp_closing");
_Static_assert(__builtin_offsetof(struct xpf_gen_cfg, tcp_time_wait) == 24, "gen.tcp_time_wait");
_Static_assert(__builtin_offsetof(struct xpf_gen_cfg, udp) == 28, "gen.udp");
_Static_assert(__builtin_offsetof(struct xpf_gen_cfg, icmp) == 32, "gen.icmp");
_Static_assert(__builtin_offsetof(struct xpf_gen_cfg, other) == 36, "gen.other");
_Static_assert(__builtin_offsetof(struct xpf_gen_cfg, n_snat) == 40, "gen.n_snat");
_Static_assert(__builtin_offsetof(struct xpf_gen_cfg, n_dnat) == 44, "gen.n_dnat");
_Static_assert(__builtin_offsetof(struct xpf_gen_cfg, n_static) == 48, "gen.n_static");
_Static_assert(__builtin_offsetof(struct xpf_gen_cfg, mss) == 52, "gen.mss");
_Static_assert(__builtin_offsetof(struct xpf_gen_cfg, default_permit) == 54, "gen.default_permit");
_Static_assert(__builtin_offsetof(struct xpf_gen_cfg, valid) == 55, "gen.valid");
_Static_assert(__builtin_offsetof(struct xpf_gen_cfg, utc_offset) == 56, "gen.utc_offset");
_Static_assert(__builtin_offsetof(struct xpf_gen_cfg, limits) == 60, "gen.limits");
_Static_assert(__builtin_offsetof(struct xpf_gen_cfg, epoch) == 64, "gen.epoch");

/* Live sessions per forward-key source (side 0) / destination (side 1),
 * kept while the active configuration has session limits (the loader
 * recounts them when an apply turns limits on). Map xpf_limit_cnt. */
struct xpf_limit_key {
	__u8 family;
	__u8 side;
	__u8 pad0[2];
	__u8 addr[16];
};
_Static_assert(sizeof(struct xpf_limit_key) == 20, "xpf_limit_key size");
_Static_assert(__builtin_offsetof(struct xpf_limit_key, side) == 1, "limit_key.side");
_Static_assert(__builtin_offsetof(struct xpf_limit_key, addr) == 4, "limit_key.addr");

/* A scheduler (xpf_dataplane CompiledSchedule). Map xpf_scheds, key = slot *
 * XPF_MAX_SCHEDULES + ScheduleSlot. Active at local time t iff (no date range
 * or one holds t) and (no window or one holds t's minute of the week). */
struct xpf_sched {
	__u8 valid;
	__u8 n_windows;
	__u8 n_dates;
	__u8 pad0[5];
	__s64 dates[XPF_SCHED_DATES][2];     /* [start, stop), local seconds */
	__u16 windows[XPF_SCHED_WINDOWS][2]; /* [start, stop), minutes since Monday 00:00 */
};
_Static_assert(sizeof(struct xpf_sched) == 136, "xpf_sched size");
_Static_assert(__builtin_offsetof(struct xpf_sched, n_windows) == 1, "sched.n_windows");
_Static_assert(__builtin_offsetof(struct xpf_sched, n_dates) == 2, "sched.n_dates");
_Static_assert(__builtin_offsetof(struct xpf_sched, dates) == 8, "sched.dates");
_Static_assert(__builtin_offsetof(struct xpf_sched, windows) == 72, "sched.windows");

/* An interface. Map xpf_ifaces, key = slot * XPF_MAX_IFACES + InterfaceId. */
struct xpf_iface {
	__u8 valid;
	__u8 has_v4;
	__u8 has_v6;
	__u8 rg;       /* RedundancyGroupId (0: none) */
	__u16 zone;    /* ZoneId (0: none) */
	__u16 vlan;    /* VLAN id (0: untagged) */
	__u8 mac[6];
	__u16 pad1;
	__u32 ifindex; /* kernel ifindex for bpf_redirect (0: unknown) */
	__u8 v4[4];    /* primary IPv4 address */
	__u8 v6[16];   /* primary IPv6 address */
	__u16 filters[4]; /* FilterId + 1 (0: none): input v4, input v6, output v4, output v6 */
};
_Static_assert(sizeof(struct xpf_iface) == 48, "xpf_iface size");
_Static_assert(__builtin_offsetof(struct xpf_iface, filters) == 40, "iface.filters");
_Static_assert(__builtin_offsetof(struct xpf_iface, valid) == 0, "iface.valid");
_Static_assert(__builtin_offsetof(struct xpf_iface, has_v4) == 1, "iface.has_v4");
_Static_assert(__builtin_offsetof(struct xpf_iface, has_v6) == 2, "iface.has_v6");
_Static_assert(__builtin_offsetof(struct xpf_iface, rg) == 3, "iface.rg");
_Static_assert(__builtin_offsetof(struct xpf_iface, zone) == 4, "iface.zone");
_Static_assert(__builtin_offsetof(struct xpf_iface, vlan) == 6, "iface.vlan");
_Static_assert(__builtin_offsetof(struct xpf_iface, mac) == 8, "iface.mac");
_Static_assert(__builtin_offsetof(struct xpf_iface, ifindex) == 16, "iface.ifindex");
_Static_assert(__builtin_offsetof(struct xpf_iface, v4) == 20, "iface.v4");
_Static_assert(__builtin_offsetof(struct xpf_iface, v6) == 24, "iface.v6");

/* Stateless screens of a zone's profile (bits of xpf_zone.screens). */
#define SCR_LAND (1u << 0)
#define SCR_SYN_FIN (1u << 1)
#define SCR_TCP_NO_FLAG (1u << 2)
#define SCR_FIN_NO_ACK (1u << 3)
#define SCR_WINNUKE (1u << 4)
#define SCR_SOURCE_ROUTE (1u << 5)
#define SCR_FLOODS (1u << 6) /* the zone has flood buckets (xpf_floods) */
#define SCR_FRAGS (1u << 7)  /* the zone has fragment screens (xpf_zone.frag_screens) */

/* Fragment screens of a zone's profile (bits of xpf_zone.frag_screens). */
#define FSCR_TEAR_DROP (1u << 0)
#define FSCR_SYN_FRAG (1u << 1)
#define FSCR_PING_DEATH (1u << 2)

/* A zone. Map xpf_zones, key = slot * XPF_MAX_ZONES + ZoneId. */
struct xpf_zone {
	__u8 valid;
	__u8 tcp_rst;
	__u8 loose;
	__u8 screens; /* SCR_* of the zone's screen profile */
	__u32 host_services;  /* xpf_host_service bits */
	__u32 host_protocols; /* xpf_host_protocol bits */
	__u16 src_limit;      /* live sessions per source (0: no limit) */
	__u16 dst_limit;      /* live sessions per destination (0: no limit) */
	__u8 frag_screens;    /* FSCR_* of the zone's screen profile */
	__u8 pad0[3];
};
_Static_assert(sizeof(struct xpf_zone) == 20, "xpf_zone size");
_Static_assert(__builtin_offsetof(struct xpf_zone, frag_screens) == 16, "zone.frag_screens");
_Static_assert(__builtin_offsetof(struct xpf_zone, valid) == 0, "zone.valid");
_Static_assert(__builtin_offsetof(struct xpf_zone, tcp_rst) == 1, "zone.tcp_rst");
_Static_assert(__builtin_offsetof(struct xpf_zone, loose) == 2, "zone.loose");
_Static_assert(__builtin_offsetof(struct xpf_zone, screens) == 3, "zone.screens");
_Static_assert(__builtin_offsetof(struct xpf_zone, host_services) == 4, "zone.host_services");
_Static_assert(__builtin_offsetof(struct xpf_zone, host_protocols) == 8, "zone.host_protocols");
_Static_assert(__builtin_offsetof(struct xpf_zone, src_limit) == 12, "zone.src_limit");
_Static_assert(__builtin_offsetof(struct xpf_zone, dst_limit) == 14, "zone.dst_limit");

/* A flood-screen token bucket (SYN, ICMP, UDP per zone). Map xpf_floods,
 * key = (slot * XPF_MAX_ZONES + ZoneId) * 3 + kind (0 SYN, 1 ICMP, 2 UDP).
 * Integer arithmetic in packets x 10^9: `rate` packets per second refilled
 * for the nanoseconds elapsed, capped at `cap`; a packet takes 10^9. The
 * loader writes the buckets of a slot full (at = apply time) before the
 * flip, so every apply starts them full as the model does. */
struct xpf_flood {
	__u32 lock;  /* struct bpf_spin_lock in the program */
	__u32 rate;  /* packets per second (0: no bucket) */
	__u64 cap;   /* burst x 10^9 */
	__u64 nano;  /* tokens x 10^9 */
	__u64 at;    /* last refill, Unix ns */
};
_Static_assert(sizeof(struct xpf_flood) == 32, "xpf_flood size");
_Static_assert(__builtin_offsetof(struct xpf_flood, rate) == 4, "flood.rate");
_Static_assert(__builtin_offsetof(struct xpf_flood, cap) == 8, "flood.cap");
_Static_assert(__builtin_offsetof(struct xpf_flood, nano) == 16, "flood.nano");
_Static_assert(__builtin_offsetof(struct xpf_flood, at) == 24, "flood.at");

/* Ingress ifindex -> InterfaceId (real traffic). Map xpf_ifindex. */
struct xpf_ifindex_key {
	__u32 slot;
	__u32 ifindex;
};
_Static_assert(sizeof(struct xpf_ifindex_key) == 8, "xpf_ifindex_key size");
_Static_assert(__builtin_offsetof(struct xpf_ifindex_key, slot) == 0, "ifindex_key.slot");
_Static_assert(__builtin_offsetof(struct xpf_ifindex_key, ifindex) == 4, "ifindex_key.ifindex");

/* Zone pair -> span of its rules. Map xpf_zone_pairs. */
struct xpf_pair_key {
	__u32 slot;
	__u16 from;
	__u16 to;
};
_Static_assert(sizeof(struct xpf_pair_key) == 8, "xpf_pair_key size");
_Static_assert(__builtin_offsetof(struct xpf_pair_key, slot) == 0, "pair_key.slot");
_Static_assert(__builtin_offsetof(struct xpf_pair_key, from) == 4, "pair_key.from");
_Static_assert(__builtin_offsetof(struct xpf_pair_key, to) == 6, "pair_key.to");

struct xpf_span {
	__u32 start;
	__u32 count;
};
_Static_assert(sizeof(struct xpf_span) == 8, "xpf_span size");
_Static_assert(__builtin_offsetof(struct xpf_span, start) == 0, "span.start");
_Static_assert(__builtin_offsetof(struct xpf_span, count) == 4, "span.count");

/* Rule flags. */
#define RF_SRC_NEGATE (1u << 0)
#define RF_DST_NEGATE (1u << 1)
#define RF_LOG_INIT (1u << 2)
#define RF_LOG_CLOSE (1u << 3)
#define RF_COUNT (1u << 4)
#define RF_ANY_PROTO (1u << 5)
#define RF_HAS_ICMP_TYPE (1u << 6)
#define RF_HAS_ICMP_CODE (1u << 7)
#define RF_ANY_FROM (1u << 8)
#define RF_ANY_TO (1u << 9)
#define RA_PERMIT 0
#define RA_DENY 1
#define RA_REJECT 2

/* A compiled policy rule. Map xpf_rules, key = slot * XPF_MAX_RULES + index. */
struct xpf_rule {
	__u32 id;          /* PolicyRuleId */
	__u32 src_set;     /* AddressSetId */
	__u32 dst_set;
	__u32 timeout;     /* application inactivity timeout, s (0: default) */
	__u64 from_zones;  /* zone bit mask (global rules) */
	__u64 to_zones;
	__u16 flags;       /* RF_* */
	__u16 app;         /* AppId */
	__u8 action;       /* RA_* */
	__u8 proto;
	__u8 icmp_type;
	__u8 icmp_code;
	__u16 sport_lo;
	__u16 sport_hi;
	__u16 dport_lo;
	__u16 dport_hi;
	__u16 sched;       /* ScheduleSlot + 1 (0: no scheduler) */
	__u16 pad0[3];
};
_Static_assert(sizeof(struct xpf_rule) == 56, "xpf_rule size");
_Static_assert(__builtin_offsetof(struct xpf_rule, sched) == 48, "rule.sched");
_Static_assert(__builtin_offsetof(struct xpf_rule, id) == 0, "rule.id");
_Static_assert(__builtin_offsetof(struct xpf_rule, src_set) == 4, "rule.src_set");
_Static_assert(__builtin_offsetof(struct xpf_rule, dst_set) == 8, "rule.dst_set");
_Static_assert(__builtin_offsetof(struct xpf_rule, timeout) == 12, "rule.timeout");
_Static_assert(__builtin_offsetof(struct xpf_rule, from_zones) == 16, "rule.from_zones");
_Static_assert(__builtin_offsetof(struct xpf_rule, to_zones) == 24, "rule.to_zones");
_Static_assert(__builtin_offsetof(struct xpf_rule, flags) == 32, "rule.flags");
_Static_assert(__builtin_offsetof(struct xpf_rule, app) == 34, "rule.app");
_Static_assert(__builtin_offsetof(struct xpf_rule, action) == 36, "rule.action");
_Static_assert(__builtin_offsetof(struct xpf_rule, proto) == 37, "rule.proto");
_Static_assert(__builtin_offsetof(struct xpf_rule, icmp_type) == 38, "rule.icmp_type");
_Static_assert(__builtin_offsetof(struct xpf_rule, icmp_code) == 39, "rule.icmp_code");
_Static_assert(__builtin_offsetof(struct xpf_rule, sport_lo) == 40, "rule.sport_lo");
_Static_assert(__builtin_offsetof(struct xpf_rule, sport_hi) == 42, "rule.sport_hi");
_Static_assert(__builtin_offsetof(struct xpf_rule, dport_lo) == 44, "rule.dport_lo");
_Static_assert(__builtin_offsetof(struct xpf_rule, dport_hi) == 46, "rule.dport_hi");

/* LPM keys. `tag` (network order) is (slot << 31) | AddressSetId for address
 * sets and the slot for routes; prefixlen counts the 32 tag bits. */
/* Address-set membership of an address, for policy matching: bit `id` of
 * `bits` is set when address set `id` (< XPF_MEMBER_SETS) contains it. Maps
 * xpf_members4 / xpf_members6 (LPM tries keyed by slot tag + prefix): every
 * prefix of every such set carries the sets of all prefixes covering it, so
 * the longest match alone answers for every set, and a new session's policy
 * evaluation does one lookup per address instead of one per rule (sets with
 * larger ids are looked up in xpf_sets4/6 per rule, as before). */
#define XPF_MEMBER_SETS 1024
struct xpf_members {
	__u64 bits[XPF_MEMBER_SETS / 64];
};
_Static_assert(sizeof(struct xpf_members) == 128, "xpf_members size");

struct xpf_lpm4_key {
	__u32 prefixlen;
	__u32 tag;
	__u8 addr[4];
};
_Static_assert(sizeof(struct xpf_lpm4_key) == 12, "xpf_lpm4_key size");
_Static_assert(__builtin_offsetof(struct xpf_lpm4_key, tag) == 4, "lpm4.tag");
_Static_assert(__builtin_offsetof(struct xpf_lpm4_key, addr) == 8, "lpm4.addr");
struct xpf_lpm6_key {
	__u32 prefixlen;
	__u32 tag;
	__u8 addr[16];
};
_Static_assert(sizeof(struct xpf_lpm6_key) == 24, "xpf_lpm6_key size");
_Static_assert(__builtin_offsetof(struct xpf_lpm6_key, tag) == 4, "lpm6.tag");
_Static_assert(__builtin_offsetof(struct xpf_lpm6_key, addr) == 8, "lpm6.addr");

#define RT_NEXT_HOP 1
#define RT_CONNECTED 2
#define RT_DISCARD 3
struct xpf_route {
	__u8 kind;     /* RT_* */
	__u8 pad0;
	__u16 iface;   /* InterfaceId */
	__u8 gateway[16];
};
_Static_assert(sizeof(struct xpf_route) == 20, "xpf_route size");
_Static_assert(__builtin_offsetof(struct xpf_route, kind) == 0, "route.kind");
_Static_assert(__builtin_offsetof(struct xpf_route, iface) == 2, "route.iface");
_Static_assert(__builtin_offsetof(struct xpf_route, gateway) == 4, "route.gateway");

/* Neighbours and the firewall's own addresses: key {slot, family, addr}. */
struct xpf_addr_key {
	__u32 slot;
	__u32 family;  /* 4 or 6 */
	__u8 addr[16];
};
_Static_assert(sizeof(struct xpf_addr_key) == 24, "xpf_addr_key size");
_Static_assert(__builtin_offsetof(struct xpf_addr_key, slot) == 0, "addr_key.slot");
_Static_assert(__builtin_offsetof(struct xpf_addr_key, family) == 4, "addr_key.family");
_Static_assert(__builtin_offsetof(struct xpf_addr_key, addr) == 8, "addr_key.addr");
struct xpf_neighbour {
	__u8 mac[6];
	__u16 iface;
	__u32 id; /* index in the slot's part of xpf_nexthops (a copy of this entry) */
};
_Static_assert(sizeof(struct xpf_neighbour) == 12, "xpf_neighbour size");
_Static_assert(__builtin_offsetof(struct xpf_neighbour, mac) == 0, "neighbour.mac");
_Static_assert(__builtin_offsetof(struct xpf_neighbour, iface) == 6, "neighbour.iface");
_Static_assert(__builtin_offsetof(struct xpf_neighbour, id) == 8, "neighbour.id");

/* NAT match: up to XPF_NAT_* entries per side, counts say how many are used
 * (0 = any). */
struct xpf_prefix {
	__u8 family; /* 4 or 6 */
	__u8 len;
	__u8 pad0[2];
	__u8 addr[16];
};
_Static_assert(sizeof(struct xpf_prefix) == 20, "xpf_prefix size");
_Static_assert(__builtin_offsetof(struct xpf_prefix, len) == 1, "prefix.len");
_Static_assert(__builtin_offsetof(struct xpf_prefix, addr) == 4, "prefix.addr");

/* A firewall-filter term (xpf_dataplane CompiledTerm). Map xpf_terms, key =
 * slot * XPF_MAX_TERMS + term index (FilterTermId - 1). A list with n_* = 0
 * matches anything; ports match only packets with ports, TCP flags only TCP,
 * ICMP types only ICMP. */
#define FA_ACCEPT 0
#define FA_DISCARD 1
#define FA_REJECT 2
#define FA_NEXT 3
#define FA_LOG_ACCEPT 0
#define FA_LOG_DISCARD 1
#define FA_LOG_REJECT 2
struct xpf_term {
	__u32 id;       /* FilterTermId */
	__u32 filter;   /* FilterId */
	__u8 action;    /* FA_* */
	__u8 log;
	__u8 n_src;
	__u8 n_dst;
	__u8 n_protos;
	__u8 n_sports;
	__u8 n_dports;
	__u8 n_flags;
	__u8 n_dscp;
	__u8 n_icmp;
	__u8 policer;   /* 1: single rate, 2: two rate (buckets in xpf_policers), 0: none */
	__u8 pad0;
	__u8 protos[XPF_TERM_PROTOS];
	__u8 flags[XPF_TERM_FLAGS][2]; /* (mask, value) */
	__u8 dscp[XPF_TERM_DSCP];
	__u8 icmp[XPF_TERM_ICMP];
	__u16 sports[XPF_TERM_PORTS][2];
	__u16 dports[XPF_TERM_PORTS][2];
	struct xpf_prefix src[XPF_TERM_PREFIXES];
	struct xpf_prefix dst[XPF_TERM_PREFIXES];
};
_Static_assert(sizeof(struct xpf_term) == 240, "xpf_term size");
_Static_assert(__builtin_offsetof(struct xpf_term, filter) == 4, "term.filter");
_Static_assert(__builtin_offsetof(struct xpf_term, action) == 8, "term.action");
_Static_assert(__builtin_offsetof(struct xpf_term, log) == 9, "term.log");
_Static_assert(__builtin_offsetof(struct xpf_term, n_src) == 10, "term.n_src");
_Static_assert(__builtin_offsetof(struct xpf_term, n_icmp) == 17, "term.n_icmp");
_Static_assert(__builtin_offsetof(struct xpf_term, policer) == 18, "term.policer");
_Static_assert(__builtin_offsetof(struct xpf_term, protos) == 20, "term.protos");
_Static_assert(__builtin_offsetof(struct xpf_term, flags) == 24, "term.flags");
_Static_assert(__builtin_offsetof(struct xpf_term, dscp) == 32, "term.dscp");
_Static_assert(__builtin_offsetof(struct xpf_term, icmp) == 40, "term.icmp");
_Static_assert(__builtin_offsetof(struct xpf_term, sports) == 48, "term.sports");
_Static_assert(__builtin_offsetof(struct xpf_term, dports) == 64, "term.dports");
_Static_assert(__builtin_offsetof(struct xpf_term, src) == 80, "term.src");
_Static_assert(__builtin_offsetof(struct xpf_term, dst) == 160, "term.dst");

/* A policer token bucket in bytes x 10^9 (as xpf_flood, 64-bit rate). Map
 * xpf_policers, key = (slot * XPF_MAX_TERMS + term index) * 2 + (0
 * committed, 1 peak); full at every apply (the loader writes them). */
struct xpf_bucket {
	__u32 lock;  /* struct bpf_spin_lock in the program */
	__u32 pad0;
	__u64 rate;  /* bytes per second */
	__u64 cap;   /* burst x 10^9 */
	__u64 nano;  /* tokens x 10^9 */
	__u64 at;    /* last refill, Unix ns */
};
_Static_assert(sizeof(struct xpf_bucket) == 40, "xpf_bucket size");
_Static_assert(__builtin_offsetof(struct xpf_bucket, rate) == 8, "bucket.rate");
_Static_assert(__builtin_offsetof(struct xpf_bucket, cap) == 16, "bucket.cap");
_Static_assert(__builtin_offsetof(struct xpf_bucket, nano) == 24, "bucket.nano");
_Static_assert(__builtin_offsetof(struct xpf_bucket, at) == 32, "bucket.at");

struct xpf_nat_match {
	__u8 n_src;
	__u8 n_dst;
	__u8 n_sports;
	__u8 n_dports;
	__u8 n_protos;
	__u8 protos[XPF_NAT_PROTOS];
	__u8 pad0[3];
	__u16 sports[XPF_NAT_PORTS][2];
	__u16 dports[XPF_NAT_PORTS][2];
	struct xpf_prefix src[XPF_NAT_PREFIXES];
	struct xpf_prefix dst[XPF_NAT_PREFIXES];
};
_Static_assert(sizeof(struct xpf_nat_match) == 204, "xpf_nat_match size");
_Static_assert(__builtin_offsetof(struct xpf_nat_match, n_protos) == 4, "nat_match.n_protos");
_Static_assert(__builtin_offsetof(struct xpf_nat_match, protos) == 5, "nat_match.protos");
_Static_assert(__builtin_offsetof(struct xpf_nat_match, sports) == 12, "nat_match.sports");
_Static_assert(__builtin_offsetof(struct xpf_nat_match, dports) == 28, "nat_match.dports");
_Static_assert(__builtin_offsetof(struct xpf_nat_match, src) == 44, "nat_match.src");
_Static_assert(__builtin_offsetof(struct xpf_nat_match, dst) == 124, "nat_match.dst");

/* A NAT context: zone mask and interface mask (both zero = any). */
struct xpf_nat_ctx {
	__u64 zones;
	__u64 ifaces[XPF_MAX_IFACES / 64];
};
_Static_assert(sizeof(struct xpf_nat_ctx) == 40, "xpf_nat_ctx size");
_Static_assert(__builtin_offsetof(struct xpf_nat_ctx, ifaces) == 8, "nat_ctx.ifaces");

#define SNAT_OFF 0
#define SNAT_INTERFACE 1
#define SNAT_POOL 2
/* Source rule. Map xpf_snat, key = slot * XPF_MAX_SNAT_RULES + index. */
struct xpf_snat_rule {
	__u32 id;       /* NatRuleId */
	__u8 action;    /* SNAT_* */
	__u8 pad0;
	__u16 pool;     /* NatPoolId */
	struct xpf_nat_ctx from;
	struct xpf_nat_ctx to;
	struct xpf_nat_match m;
	__u8 pad1[4];
};
_Static_assert(sizeof(struct xpf_snat_rule) == 296, "xpf_snat_rule size");
_Static_assert(__builtin_offsetof(struct xpf_snat_rule, action) == 4, "snat.action");
_Static_assert(__builtin_offsetof(struct xpf_snat_rule, pool) == 6, "snat.pool");
_Static_assert(__builtin_offsetof(struct xpf_snat_rule, from) == 8, "snat.from");
_Static_assert(__builtin_offsetof(struct xpf_snat_rule, to) == 48, "snat.to");
_Static_assert(__builtin_offsetof(struct xpf_snat_rule, m) == 88, "snat.m");

/* Destination rule. Map xpf_dnat, key = slot * XPF_MAX_DNAT_RULES + index. */
struct xpf_dnat_rule {
	__u32 id;
	__u8 has_pool;
	__u8 has_port;
	__u16 port;
	__u8 family;
	__u8 pad0[3];
	__u8 addr[16];
	__u32 pad1;
	struct xpf_nat_ctx from;
	struct xpf_nat_match m;
	__u8 pad2[4];
};
_Static_assert(sizeof(struct xpf_dnat_rule) == 280, "xpf_dnat_rule size");
_Static_assert(__builtin_offsetof(struct xpf_dnat_rule, has_pool) == 4, "dnat.has_pool");
_Static_assert(__builtin_offsetof(struct xpf_dnat_rule, has_port) == 5, "dnat.has_port");
_Static_assert(__builtin_offsetof(struct xpf_dnat_rule, port) == 6, "dnat.port");
_Static_assert(__builtin_offsetof(struct xpf_dnat_rule, family) == 8, "dnat.family");
_Static_assert(__builtin_offsetof(struct xpf_dnat_rule, addr) == 12, "dnat.addr");
_Static_assert(__builtin_offsetof(struct xpf_dnat_rule, from) == 32, "dnat.from");
_Static_assert(__builtin_offsetof(struct xpf_dnat_rule, m) == 72, "dnat.m");

/* Static rule. Map xpf_static, key = slot * XPF_MAX_STATIC_RULES + index. */
struct xpf_static_rule {
	__u32 id;
	struct xpf_prefix public_net;
	struct xpf_prefix private_net;
	__u32 pad0;
	struct xpf_nat_ctx from;
};
_Static_assert(sizeof(struct xpf_static_rule) == 88, "xpf_static_rule size");
_Static_assert(__builtin_offsetof(struct xpf_static_rule, public_net) == 4, "static.public");
_Static_assert(__builtin_offsetof(struct xpf_static_rule, private_net) == 24, "static.private");
_Static_assert(__builtin_offsetof(struct xpf_static_rule, from) == 48, "static.from");

/* Source pool (port overloading). Map xpf_pools, key = slot * XPF_MAX_POOLS + NatPoolId.
 * Addresses are laid end to end: `first` .. `first + count - 1` of `family`
 * (a pool of several ranges uses xpf_pool_addrs for index -> address). */
#define POOL_PERSISTENT 1      /* endpoint-independent mapping reuse */
#define POOL_ADDR_PERSISTENT 2 /* one public address per internal host */
#define POOL_ADDR_ONLY 4       /* no port overloading: an address hold per host
				* (slot key proto 0xff, slot = address index) */
#define HOLD_PROTO 0xff
#define POOL_HOLD_SCOPED 8     /* with POOL_ADDR_ONLY, per session: a portless
				* protocol in a port-overloading pool or on an
				* interface holds an address for that protocol only
				* (slot key proto = the protocol, binding scope = it) */
struct xpf_pool {
	__u8 valid;
	__u8 family;
	__u16 port_low;
	__u16 port_high;
	__u8 flags;    /* POOL_* */
	__u8 pad0;
	__u32 addr_count;
	__u32 pad1;
};
_Static_assert(sizeof(struct xpf_pool) == 16, "xpf_pool size");
_Static_assert(__builtin_offsetof(struct xpf_pool, family) == 1, "pool.family");
_Static_assert(__builtin_offsetof(struct xpf_pool, port_low) == 2, "pool.port_low");
_Static_assert(__builtin_offsetof(struct xpf_pool, port_high) == 4, "pool.port_high");
_Static_assert(__builtin_offsetof(struct xpf_pool, flags) == 6, "pool.flags");
_Static_assert(__builtin_offsetof(struct xpf_pool, addr_count) == 8, "pool.addr_count");

/* Persistent mappings (docs/nat-allocation.md): (pool, protocol, internal
 * address and port) -> the slot every session of that endpoint shares, with
 * a reference count. Map xpf_persist. Shared by both configuration slots;
 * the loader rebuilds it on apply. */
struct xpf_persist_key {
	__u16 target;
	__u8 proto;
	__u8 family;
	__u16 sport;
	__u16 pad0;
	__u8 src[16];
};
_Static_assert(sizeof(struct xpf_persist_key) == 24, "xpf_persist_key size");
_Static_assert(__builtin_offsetof(struct xpf_persist_key, proto) == 2, "persist_key.proto");
_Static_assert(__builtin_offsetof(struct xpf_persist_key, family) == 3, "persist_key.family");
_Static_assert(__builtin_offsetof(struct xpf_persist_key, sport) == 4, "persist_key.sport");
_Static_assert(__builtin_offsetof(struct xpf_persist_key, src) == 8, "persist_key.src");

/* A reference-counted binding: a persistent mapping's slot, or an address-
 * persistent host's address index. */
struct xpf_binding {
	__u32 value;
	__u32 refs;
};
_Static_assert(sizeof(struct xpf_binding) == 8, "xpf_binding size");
_Static_assert(__builtin_offsetof(struct xpf_binding, refs) == 4, "binding.refs");

/* Address persistence: (pool, internal host) -> its address index. Map
 * xpf_binds (rebuilt by the loader on apply). */
struct xpf_bind_key {
	__u16 target;
	__u8 family;
	__u8 scope; /* 0: all protocols (address-only holds, address persistence);
		     * else the protocol of a POOL_HOLD_SCOPED hold */
	__u8 src[16];
};
_Static_assert(sizeof(struct xpf_bind_key) == 20, "xpf_bind_key size");
_Static_assert(__builtin_offsetof(struct xpf_bind_key, family) == 2, "bind_key.family");
_Static_assert(__builtin_offsetof(struct xpf_bind_key, scope) == 3, "bind_key.scope");
_Static_assert(__builtin_offsetof(struct xpf_bind_key, src) == 4, "bind_key.src");

/* Pool address index -> address. Map xpf_pool_addrs. */
struct xpf_pool_addr_key {
	__u32 slot;
	__u16 pool;
	__u16 pad0;
	__u32 index;
};
_Static_assert(sizeof(struct xpf_pool_addr_key) == 12, "xpf_pool_addr_key size");
_Static_assert(__builtin_offsetof(struct xpf_pool_addr_key, pool) == 4, "pool_addr_key.pool");
_Static_assert(__builtin_offsetof(struct xpf_pool_addr_key, index) == 8, "pool_addr_key.index");

/* Taken source-NAT port slots. Map xpf_slots (hash): a key exists while the
 * slot is taken. Claimed with BPF_NOEXIST (atomic across CPUs), released by
 * deleting the key. A target is a pool (its id) or an interface allocator:
 * SNAT_TARGET_IFACE | InterfaceId, plus SNAT_TARGET_V6 for the interface's
 * IPv6 address (one allocator per interface address, as the engine and the
 * model have, so IPv4 and IPv6 flows never share a port space); slots are
 * numbered as docs/nat-allocation.md says.
 * Shared by both configuration slots; the loader re-lays mappings on apply. */
#define SNAT_TARGET_IFACE 0x8000
#define SNAT_TARGET_V6 0x4000
#define SNAT_TARGET_IFACE_MASK 0x3fff
_Static_assert(XPF_MAX_IFACES <= SNAT_TARGET_IFACE_MASK + 1, "interface ids fit a target");
struct xpf_slot_key {
	__u16 target;
	__u8 proto;
	__u8 pad0;
	__u32 slot;
};
_Static_assert(sizeof(struct xpf_slot_key) == 8, "xpf_slot_key size");
_Static_assert(__builtin_offsetof(struct xpf_slot_key, proto) == 2, "slot_key.proto");
_Static_assert(__builtin_offsetof(struct xpf_slot_key, slot) == 4, "slot_key.slot");

/* Source-NAT exhaustion memo per (target, proto) (map xpf_exhausted, keyed
 * by an xpf_slot_key with slot 0). `releases` counts the slots the program
 * released; a full scan that found no free slot records the count it
 * started from, plus one, in `failed_at`. While no slot has been released
 * since (failed_at == releases + 1) the pool is still full, so the next
 * allocation is refused at once instead of probing every slot again (a
 * full 64,512-port interface pool made each new flow of a flood cost
 * milliseconds). The control plane deletes the entries whenever it frees
 * slots itself. Only scans of the whole pool are remembered. */
struct xpf_exhaust {
	__u64 releases;
	__u64 failed_at;
};
_Static_assert(sizeof(struct xpf_exhaust) == 16, "xpf_exhaust size");
_Static_assert(__builtin_offsetof(struct xpf_exhaust, failed_at) == 8, "exhaust.failed_at");

/* Session key (both directions use the same layout). */
struct xpf_sess_key {
	__u8 family; /* 4 or 6 */
	__u8 proto;
	__u16 sport;
	__u16 dport;
	__u16 pad0;
	__u8 src[16];
	__u8 dst[16];
};
_Static_assert(sizeof(struct xpf_sess_key) == 40, "xpf_sess_key size");
_Static_assert(__builtin_offsetof(struct xpf_sess_key, proto) == 1, "sess_key.proto");
_Static_assert(__builtin_offsetof(struct xpf_sess_key, sport) == 2, "sess_key.sport");
_Static_assert(__builtin_offsetof(struct xpf_sess_key, dport) == 4, "sess_key.dport");
_Static_assert(__builtin_offsetof(struct xpf_sess_key, src) == 8, "sess_key.src");
_Static_assert(__builtin_offsetof(struct xpf_sess_key, dst) == 24, "sess_key.dst");

/* One direction of the TCP tracker (van Rooij / netfilter). */
struct xpf_tcp_side {
	__u32 end;
	__u32 max_end;
	__u32 max_win;
	__u8 scale;
	__u8 scale_offered;
	__u8 fin_seen;
	__u8 fin_acked;
};
_Static_assert(sizeof(struct xpf_tcp_side) == 16, "xpf_tcp_side size");
_Static_assert(__builtin_offsetof(struct xpf_tcp_side, max_end) == 4, "tcp_side.max_end");
_Static_assert(__builtin_offsetof(struct xpf_tcp_side, max_win) == 8, "tcp_side.max_win");
_Static_assert(__builtin_offsetof(struct xpf_tcp_side, scale) == 12, "tcp_side.scale");
_Static_assert(__builtin_offsetof(struct xpf_tcp_side, scale_offered) == 13, "tcp_side.scale_offered");
_Static_assert(__builtin_offsetof(struct xpf_tcp_side, fin_seen) == 14, "tcp_side.fin_seen");
_Static_assert(__builtin_offsetof(struct xpf_tcp_side, fin_acked) == 15, "tcp_side.fin_acked");

struct xpf_tcp {
	struct xpf_tcp_side sides[2];
	__u8 state;   /* xpf_tcp_state */
	__u8 liberal;
	__u8 valid;   /* a tracker exists (TCP sessions) */
	__u8 pad0;
	__u32 version; /* bumped on every committed update */
};
_Static_assert(sizeof(struct xpf_tcp) == 40, "xpf_tcp size");
_Static_assert(__builtin_offsetof(struct xpf_tcp, state) == 32, "tcp.state");
_Static_assert(__builtin_offsetof(struct xpf_tcp, liberal) == 33, "tcp.liberal");
_Static_assert(__builtin_offsetof(struct xpf_tcp, valid) == 34, "tcp.valid");
_Static_assert(__builtin_offsetof(struct xpf_tcp, version) == 36, "tcp.version");

/* Session data (what records carry). A forward entry holds everything; a
 * reverse entry only `is_reverse`, `session_id` and `other` (the forward key).
 *
 * Field order is the established path's: what every established packet reads
 * or writes comes first (flags, interfaces, rule, last seen, counters, the
 * other key's tuple), so that with the next-hop words in front of it
 * (xpf_sess_val) and the map element's 88-byte header + key before that, an
 * established IPv4 UDP packet touches three cache lines of the element
 * (header + key, and value bytes 0-104) instead of five; the TCP tracker, the
 * id and the NAT bookkeeping follow, the control plane's fields last
 * (BENCHMARKS.md, eBPF, "Session entry layout"). */
struct xpf_sess {
	__u8 is_reverse;
	__u8 state;         /* xpf_sess_state */
	__u8 embryonic;
	__u8 rg;            /* RedundancyGroupId */
	__u8 nat_kind;      /* POOL_* flags of the source mapping's pool */
	__u8 pad0;
	__u16 flags;        /* SF_* */
	__u16 in_if;
	__u16 out_if;
	__u32 rule;         /* PolicyRuleId */
	__u64 last_seen_ns;
	__u64 fwd_packets;
	__u64 fwd_bytes;
	__u64 rev_packets;
	__u64 rev_bytes;
	struct xpf_sess_key other; /* reverse key (forward entry) / forward key (reverse entry) */
	__u64 session_id;
	struct xpf_tcp tcp;
	__u32 timeout;      /* seconds */
	__u32 app_timeout;  /* 0: none */
	__u32 nat_rule_src; /* NatRuleId */
	__u32 nat_rule_dst;
	__u32 slot;         /* port slot of the source mapping */
	__u16 app;          /* AppId */
	__u16 in_zone;
	__u16 out_zone;
	__u16 nat_pool;     /* NatPoolId */
	__u16 snat_target;  /* bitmap target of the mapping (0: none) */
	__u16 pad1;
	__u64 created_ns;
	__u64 order;
};
_Static_assert(sizeof(struct xpf_sess) == 192, "xpf_sess size");
_Static_assert(__builtin_offsetof(struct xpf_sess, state) == 1, "sess.state");
_Static_assert(__builtin_offsetof(struct xpf_sess, embryonic) == 2, "sess.embryonic");
_Static_assert(__builtin_offsetof(struct xpf_sess, rg) == 3, "sess.rg");
_Static_assert(__builtin_offsetof(struct xpf_sess, nat_kind) == 4, "sess.nat_kind");
_Static_assert(__builtin_offsetof(struct xpf_sess, flags) == 6, "sess.flags");
_Static_assert(__builtin_offsetof(struct xpf_sess, in_if) == 8, "sess.in_if");
_Static_assert(__builtin_offsetof(struct xpf_sess, out_if) == 10, "sess.out_if");
_Static_assert(__builtin_offsetof(struct xpf_sess, rule) == 12, "sess.rule");
_Static_assert(__builtin_offsetof(struct xpf_sess, last_seen_ns) == 16, "sess.last_seen_ns");
_Static_assert(__builtin_offsetof(struct xpf_sess, fwd_packets) == 24, "sess.fwd_packets");
_Static_assert(__builtin_offsetof(struct xpf_sess, fwd_bytes) == 32, "sess.fwd_bytes");
_Static_assert(__builtin_offsetof(struct xpf_sess, rev_packets) == 40, "sess.rev_packets");
_Static_assert(__builtin_offsetof(struct xpf_sess, rev_bytes) == 48, "sess.rev_bytes");
_Static_assert(__builtin_offsetof(struct xpf_sess, other) == 56, "sess.other");
_Static_assert(__builtin_offsetof(struct xpf_sess, session_id) == 96, "sess.session_id");
_Static_assert(__builtin_offsetof(struct xpf_sess, tcp) == 104, "sess.tcp");
_Static_assert(__builtin_offsetof(struct xpf_sess, timeout) == 144, "sess.timeout");
_Static_assert(__builtin_offsetof(struct xpf_sess, app_timeout) == 148, "sess.app_timeout");
_Static_assert(__builtin_offsetof(struct xpf_sess, nat_rule_src) == 152, "sess.nat_rule_src");
_Static_assert(__builtin_offsetof(struct xpf_sess, nat_rule_dst) == 156, "sess.nat_rule_dst");
_Static_assert(__builtin_offsetof(struct xpf_sess, slot) == 160, "sess.slot");
_Static_assert(__builtin_offsetof(struct xpf_sess, app) == 164, "sess.app");
_Static_assert(__builtin_offsetof(struct xpf_sess, in_zone) == 166, "sess.in_zone");
_Static_assert(__builtin_offsetof(struct xpf_sess, out_zone) == 168, "sess.out_zone");
_Static_assert(__builtin_offsetof(struct xpf_sess, nat_pool) == 170, "sess.nat_pool");
_Static_assert(__builtin_offsetof(struct xpf_sess, snat_target) == 172, "sess.snat_target");
_Static_assert(__builtin_offsetof(struct xpf_sess, created_ns) == 176, "sess.created_ns");
_Static_assert(__builtin_offsetof(struct xpf_sess, order) == 184, "sess.order");

/* Session map value: a lock serialising tracker updates, the data, then
 * per direction (0: forward, 1: reply) the cached next hop:
 * `epoch << 32 | neighbour id`, written by the first packet that resolves
 * the route and neighbour and valid only while `epoch` equals the active
 * slot's `xpf_gen_cfg.epoch` (later packets skip the route and neighbour
 * lookups). One aligned 8-byte word: read and written without the lock. */
struct xpf_sess_val {
	__u64 nh[2];
	struct xpf_sess s;
	__u32 lock;  /* struct bpf_spin_lock in the program */
	__u32 pad0;
};
_Static_assert(sizeof(struct xpf_sess_val) == 216, "xpf_sess_val size");
_Static_assert(__builtin_offsetof(struct xpf_sess_val, s) == 16, "sess_val.s");
_Static_assert(__builtin_offsetof(struct xpf_sess_val, lock) == 208, "sess_val.lock");

/* Embryonic FIFO entry (map xpf_embryonic, a queue). */
struct xpf_embryo {
	struct xpf_sess_key key;
	__u64 session_id;
};
_Static_assert(sizeof(struct xpf_embryo) == 48, "xpf_embryo size");
_Static_assert(__builtin_offsetof(struct xpf_embryo, session_id) == 40, "embryo.session_id");

/* Ring-buffer record: deltas (with the session snapshot) and deny events. */
struct xpf_record {
	__u32 kind;    /* xpf_record_kind */
	__u32 reason;  /* close reason (XR_DELTA_CLOSE) / 1 = rejected (XR_POLICY_DENY) */
	__u64 time_ns;
	struct xpf_sess_key key;  /* forward key; XR_POLICY_DENY: the packet's tuple */
	struct xpf_sess s;        /* XR_POLICY_DENY: rule, app, zones, in_if, flags=icmp type+1;
				   * XR_SCREEN_DROP: in_zone, in_if, flags=icmp type+1 */
};
_Static_assert(sizeof(struct xpf_record) == 248, "xpf_record size");
_Static_assert(__builtin_offsetof(struct xpf_record, reason) == 4, "record.reason");
_Static_assert(__builtin_offsetof(struct xpf_record, time_ns) == 8, "record.time_ns");
_Static_assert(__builtin_offsetof(struct xpf_record, key) == 16, "record.key");
_Static_assert(__builtin_offsetof(struct xpf_record, s) == 56, "record.s");

/* Per-CPU counter values. */
struct xpf_pkt_cnt {
	__u64 packets;
	__u64 bytes;
};
_Static_assert(sizeof(struct xpf_pkt_cnt) == 16, "xpf_pkt_cnt size");
_Static_assert(__builtin_offsetof(struct xpf_pkt_cnt, bytes) == 8, "pkt_cnt.bytes");
struct xpf_if_cnt {
	__u64 rx_packets;
	__u64 rx_bytes;
	__u64 tx_packets;
	__u64 tx_bytes;
	__u64 rx_dropped;
	__u64 tx_dropped;
};
_Static_assert(sizeof(struct xpf_if_cnt) == 48, "xpf_if_cnt size");
_Static_assert(__builtin_offsetof(struct xpf_if_cnt, rx_bytes) == 8, "if_cnt.rx_bytes");
_Static_assert(__builtin_offsetof(struct xpf_if_cnt, tx_packets) == 16, "if_cnt.tx_packets");
_Static_assert(__builtin_offsetof(struct xpf_if_cnt, tx_bytes) == 24, "if_cnt.tx_bytes");
_Static_assert(__builtin_offsetof(struct xpf_if_cnt, rx_dropped) == 32, "if_cnt.rx_dropped");
_Static_assert(__builtin_offsetof(struct xpf_if_cnt, tx_dropped) == 40, "if_cnt.tx_dropped");
struct xpf_zone_cnt {
	__u64 in_packets;
	__u64 in_bytes;
	__u64 eg_packets;
	__u64 eg_bytes;
	__u64 dropped;
};
_Static_assert(sizeof(struct xpf_zone_cnt) == 40, "xpf_zone_cnt size");
_Static_assert(__builtin_offsetof(struct xpf_zone_cnt, in_bytes) == 8, "zone_cnt.in_bytes");
_Static_assert(__builtin_offsetof(struct xpf_zone_cnt, eg_packets) == 16, "zone_cnt.eg_packets");
_Static_assert(__builtin_offsetof(struct xpf_zone_cnt, eg_bytes) == 24, "zone_cnt.eg_bytes");
_Static_assert(__builtin_offsetof(struct xpf_zone_cnt, dropped) == 32, "zone_cnt.dropped");

/* IP fragments (no reassembly): a datagram being followed. Map xpf_frags
 * (hash, XPF_FRAG_CAPACITY entries), key = (family, protocol,
 * identification, source, destination); the protocol of an IPv6 datagram
 * is the one after its walked chain. */
struct xpf_frag_key {
	__u8 family;
	__u8 proto;
	__u16 pad0;
	__u32 id;     /* IPv4: 16 bits, IPv6: the Fragment header's 32 bits */
	__u8 src[16];
	__u8 dst[16];
};
_Static_assert(sizeof(struct xpf_frag_key) == 40, "xpf_frag_key size");
_Static_assert(__builtin_offsetof(struct xpf_frag_key, proto) == 1, "frag_key.proto");
_Static_assert(__builtin_offsetof(struct xpf_frag_key, id) == 4, "frag_key.id");
_Static_assert(__builtin_offsetof(struct xpf_frag_key, src) == 8, "frag_key.src");
_Static_assert(__builtin_offsetof(struct xpf_frag_key, dst) == 24, "frag_key.dst");

/* One fragment's bytes of its datagram: [start, stop). */
struct xpf_frag_range {
	__u32 start;
	__u32 stop;
};
_Static_assert(sizeof(struct xpf_frag_range) == 8, "xpf_frag_range size");

/* What is known of a datagram: its recorded (pairwise disjoint) ranges,
 * their total length and largest end (they cover [0, end) without a gap
 * exactly when the total equals the largest end), the datagram's end once
 * the last fragment came, and the ports of its first fragment. */
struct xpf_frag {
	__u64 first_seen; /* ns, the first fragment seen */
	__u32 n;          /* ranges recorded */
	__u32 covered;    /* sum of the recorded ranges' lengths */
	__u32 max_stop;   /* largest recorded stop */
	__u32 end;        /* the datagram's end, when has_end */
	__u16 sport;
	__u16 dport;
	__u8 has_ports;   /* the first fragment carried the flow's ports */
	__u8 has_end;     /* the last fragment (no more-fragments) was seen */
	__u8 pad0[2];
	struct xpf_frag_range ranges[XPF_FRAG_RANGES];
};
_Static_assert(sizeof(struct xpf_frag) == 544, "xpf_frag size");
_Static_assert(__builtin_offsetof(struct xpf_frag, n) == 8, "frag.n");
_Static_assert(__builtin_offsetof(struct xpf_frag, covered) == 12, "frag.covered");
_Static_assert(__builtin_offsetof(struct xpf_frag, max_stop) == 16, "frag.max_stop");
_Static_assert(__builtin_offsetof(struct xpf_frag, end) == 20, "frag.end");
_Static_assert(__builtin_offsetof(struct xpf_frag, sport) == 24, "frag.sport");
_Static_assert(__builtin_offsetof(struct xpf_frag, dport) == 26, "frag.dport");
_Static_assert(__builtin_offsetof(struct xpf_frag, has_ports) == 28, "frag.has_ports");
_Static_assert(__builtin_offsetof(struct xpf_frag, has_end) == 29, "frag.has_end");
_Static_assert(__builtin_offsetof(struct xpf_frag, ranges) == 32, "frag.ranges");

/* Map xpf_frags value: a lock serialising a datagram's updates (its
 * fragments may arrive on several CPUs at once), then the data. */
struct xpf_frag_val {
	__u32 lock;  /* struct bpf_spin_lock in the program */
	__u32 pad0;
	struct xpf_frag f;
};
_Static_assert(sizeof(struct xpf_frag_val) == 552, "xpf_frag_val size");
_Static_assert(__builtin_offsetof(struct xpf_frag_val, f) == 8, "frag_val.f");

/* Insertion order of the datagrams (map xpf_frag_ages, a queue): when
 * xpf_frags is full the oldest still present goes, as in the model. */
struct xpf_frag_age {
	struct xpf_frag_key key;
	__u64 first_seen;
};
_Static_assert(sizeof(struct xpf_frag_age) == 48, "xpf_frag_age size");
_Static_assert(__builtin_offsetof(struct xpf_frag_age, first_seen) == 40, "frag_age.first_seen");

#endif /* XPF_SHARED_H */
