// SPDX-License-Identifier: MIT OR Apache-2.0
//
// xpf-bench traffic programs (compiled at run time by xpf-bench with
// `clang -O2 -g -target bpf`).
//
// xpf_bench_gen: the traffic generator. xpf-bench runs it with
// BPF_PROG_RUN in live-frames mode (BPF_F_TEST_XDP_LIVE_FRAMES) on the
// client's veth: the program writes the first 48 bytes of the frame from
// TEMPLATE (Ethernet, IPv4 and UDP headers of a 60-byte frame: the kernel
// initialises a page from data_in only once and recycles it, and whoever
// received the frame may have rewritten it — a forwarding firewall
// decrements the TTL and writes new MACs in place), rewrites the flow
// fields and returns XDP_TX, so the frame leaves through the client's veth
// towards the firewall. A per-CPU counter picks the flow of every frame:
//   MODE 0 (established flows): flow i = n % NFLOWS, client address
//          FLOW_BASE_ADDR + i, client port FLOW_BASE_PORT + i (unique ports,
//          so a masquerading firewall keeps them unchanged).
//   MODE 1 (every packet a new flow): client address NEW_BASE_ADDR +
//          ((n >> 15) & 0x3fff), client port 1024 + (n & 0x7fff): 2^29
//          distinct flows before the sequence repeats.
// PACE > 1 sends one frame in PACE and drops the others (XDP_DROP is a few
// tens of ns): a paced stream from one BPF_PROG_RUN call, used to establish
// flows and fill session tables without overflowing the firewall's ring
// (every call sets up a page pool, so many small calls are slow).
// REPLY 0 rewrites the source (client -> server frames); REPLY 1 rewrites
// the destination (server -> client frames, used to establish the flows),
// to REPLY_ADDR when it is non-zero (the masquerade address).
//
// xpf_bench_sink: attached (XDP, driver mode) to the client's and the
// server's veth so the frames that reach them are dropped at the cheapest
// point instead of costing a socket lookup and an ICMP error; everything
// that is not UDP (TCP for the bulk transfer) passes.
//
// xpf_bench_fwd: the floor of any XDP forwarder, the "xdp-forward"
// configuration: attached to the firewall's two veths, it looks up the
// egress port of the ingress device (FWD_PORTS, filled by xpf-bench),
// decrements the TTL (incremental checksum), rewrites both MACs and
// redirects. No policy, no state, no counters: what an XDP firewall costs
// beyond this is its own work.

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

volatile const __u32 NFLOWS = 10000;
volatile const __u32 MODE = 0;
volatile const __u32 REPLY = 0;
volatile const __u32 FLOW_BASE_ADDR = 0;
volatile const __u32 FLOW_BASE_PORT = 10000;
volatile const __u32 NEW_BASE_ADDR = 0;
volatile const __u32 REPLY_ADDR = 0;
volatile const __u32 PACE = 1;
/* Ethernet + IPv4 + UDP headers and 6 payload bytes, as 6 native u64. */
volatile const __u64 TEMPLATE[6] = {};

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, __u32);
} gen_counter SEC(".maps");

SEC("xdp")
int xpf_bench_gen(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    struct ethhdr *eth = data;
    struct iphdr *ip = (void *)(eth + 1);
    struct udphdr *udp = (void *)(ip + 1);
    __u64 *words = data;
    if ((void *)(words + 6) > data_end)
        return XDP_ABORTED;
#pragma unroll
    for (int k = 0; k < 6; k++)
        words[k] = TEMPLATE[k];

    __u32 key = 0;
    __u32 *ctr = bpf_map_lookup_elem(&gen_counter, &key);
    if (!ctr)
        return XDP_ABORTED;
    __u32 n = *ctr;
    *ctr = n + 1;
    if (PACE > 1) {
        if (n % PACE)
            return XDP_DROP;
        n /= PACE;
    }

    __u32 addr;
    __u32 port;
    if (MODE == 0) {
        __u32 flows = NFLOWS ? NFLOWS : 1;
        __u32 i = n % flows;
        addr = FLOW_BASE_ADDR + i;
        port = FLOW_BASE_PORT + i;
    } else {
        addr = NEW_BASE_ADDR + ((n >> 15) & 0x3fff);
        port = 1024 + (n & 0x7fff);
    }

    if (REPLY) {
        ip->daddr = bpf_htonl(REPLY_ADDR ? REPLY_ADDR : addr);
        udp->dest = bpf_htons((__u16)port);
    } else {
        ip->saddr = bpf_htonl(addr);
        udp->source = bpf_htons((__u16)port);
    }
    udp->check = 0;

    ip->check = 0;
    __u32 sum = 0;
    __u16 *w = (__u16 *)ip;
#pragma unroll
    for (int k = 0; k < 10; k++)
        sum += w[k];
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    ip->check = (__u16)~sum;
    return XDP_TX;
}

SEC("xdp.frags")
int xpf_bench_sink(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    struct ethhdr *eth = data;
    struct iphdr *ip = (void *)(eth + 1);
    if ((void *)(ip + 1) > data_end)
        return XDP_PASS;
    if (eth->h_proto != bpf_htons(ETH_P_IP))
        return XDP_PASS;
    if (ip->protocol == IPPROTO_UDP)
        return XDP_DROP;
    return XDP_PASS;
}

/* The egress of frames arriving on an ifindex. */
struct fwd_port {
    __u32 ifindex;
    __u8 dmac[6];
    __u8 smac[6];
};

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 4);
    __type(key, __u32);
    __type(value, struct fwd_port);
} FWD_PORTS SEC(".maps");

SEC("xdp")
int xpf_bench_fwd(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    struct ethhdr *eth = data;
    struct iphdr *ip = (void *)(eth + 1);
    if ((void *)(ip + 1) > data_end)
        return XDP_PASS;
    if (eth->h_proto != bpf_htons(ETH_P_IP) || ip->ttl <= 1)
        return XDP_PASS;
    __u32 key = ctx->ingress_ifindex;
    struct fwd_port *p = bpf_map_lookup_elem(&FWD_PORTS, &key);
    if (!p)
        return XDP_PASS;
    /* RFC 1624: TTL is the high byte of the 16-bit word at offset 8. */
    __u32 sum = (__u32)ip->check + (__u32)bpf_htons(0x0100);
    ip->check = (__u16)(sum + (sum >= 0xFFFF));
    ip->ttl--;
    __builtin_memcpy(eth->h_dest, p->dmac, 6);
    __builtin_memcpy(eth->h_source, p->smac, 6);
    return bpf_redirect(p->ifindex, 0);
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
