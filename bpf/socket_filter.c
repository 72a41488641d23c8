// SPDX-License-Identifier: Apache-2.0
/*
 * podtap's socket filter: attached with SO_ATTACH_BPF to one AF_PACKET socket per interface, it
 * decides per packet whether the ring gets it and how many bytes.
 *
 *   keep:  IPv4 or IPv6 TCP, behind up to PODTAP_VLAN_MAX VLAN tags in the data (a tag the driver
 *          already moved into skb->vlan_tci is not in the data at all), through up to
 *          PODTAP_IPV6_EXT_MAX IPv6 extension headers; when PODTAP_CFG_PORTS is set, only segments
 *          whose source or destination port is in podtap_ports
 *          when PODTAP_CFG_IFINDEXES is set, only packets of an interface listed in podtap_ifidx
 *          (one socket bound to every interface, the node's pod veths in the map): checked first,
 *          so the node's other traffic costs one array and one hash lookup per packet
 *   return the number of bytes to keep (snaplen, the whole packet when shorter), 0 to drop
 *
 * No L7 logic here: everything above TCP happens in user space.
 *
 * For SOCK_RAW packet sockets the kernel runs the filter with skb->data at the link-layer header
 * (net/packet/af_packet.c, packet_rcv/tpacket_rcv push back to the MAC header before run_filter),
 * so offsets below start at the Ethernet header; ARPHRD_NONE devices have none (PODTAP_CFG_RAW_IP).
 *
 * Build: npm run build:bpf (scripts/build-bpf.sh). clang 14 must be given -mcpu=v3: its default
 * (v1) code for this program is rejected by the verifier.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "abi.h"

/* ethertypes (IEEE 802 numbers, include/uapi/linux/if_ether.h) */
#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define ETH_P_8021Q 0x8100
#define ETH_P_8021AD 0x88A8
#define ETH_HLEN 14
#define VLAN_HLEN 4

/* IP protocol / IPv6 next-header numbers (IANA protocol-numbers) */
#define IPPROTO_HOPOPTS 0
#define IPPROTO_TCP 6
#define IPPROTO_ROUTING 43
#define IPPROTO_FRAGMENT 44
#define IPPROTO_AH 51
#define IPPROTO_DSTOPTS 60

/* skb->pkt_type of a copy of a packet this host sends (include/uapi/linux/if_packet.h) */
#define PACKET_OUTGOING 4

struct podtap_filter_config {
	__u32 snaplen; /* bytes kept per packet; 0 = the whole packet */
	__u32 flags;   /* PODTAP_CFG_* */
};

_Static_assert(sizeof(struct podtap_filter_config) == PODTAP_CONFIG_SIZE, "config size");
_Static_assert(__builtin_offsetof(struct podtap_filter_config, snaplen) == PODTAP_CONFIG_OFF_SNAPLEN, "snaplen");
_Static_assert(__builtin_offsetof(struct podtap_filter_config, flags) == PODTAP_CONFIG_OFF_FLAGS, "flags");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct podtap_filter_config);
} PODTAP_MAP_CONFIG SEC(".maps");

/* BPF_F_NO_PREALLOC: a preallocated hash of PODTAP_PORTS_MAX entries costs ~300 KiB of kernel memory
 * per interface even when the list is empty; only user space inserts, so on-demand is fine */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, PODTAP_PORTS_MAX);
	__type(key, __u16);
	__type(value, __u8);
} PODTAP_MAP_PORTS SEC(".maps");

/* as podtap_ports: filled by user space as interfaces come and go */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, PODTAP_IFINDEXES_MAX);
	__type(key, __u32);
	__type(value, __u8);
} PODTAP_MAP_IFINDEXES SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PODTAP_CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} PODTAP_MAP_COUNTERS SEC(".maps");

static __always_inline void count(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&PODTAP_MAP_COUNTERS, &idx);
	if (v)
		__sync_fetch_and_add(v, 1);
}

static __always_inline int drop(__u32 reason)
{
	count(PODTAP_CNT_DROPPED);
	count(reason);
	return 0;
}

static __always_inline int port_listed(__u16 port)
{
	return bpf_map_lookup_elem(&PODTAP_MAP_PORTS, &port) != 0;
}

SEC("socket")
int PODTAP_PROG_FILTER(struct __sk_buff *skb)
{
	__u32 zero = 0;
	struct podtap_filter_config *cfg = bpf_map_lookup_elem(&PODTAP_MAP_CONFIG, &zero);
	if (!cfg)
		return 0; /* an array map always has key 0; the verifier wants the check */
	__u32 flags = cfg->flags;
	__u32 snaplen = cfg->snaplen;

	if (flags & PODTAP_CFG_IFINDEXES) {
		/* before anything else, counters included: other interfaces' packets are not ours to count */
		__u32 ifindex = skb->ifindex;
		if (!bpf_map_lookup_elem(&PODTAP_MAP_IFINDEXES, &ifindex))
			return 0;
	}

	count(PODTAP_CNT_SEEN);
	if ((flags & PODTAP_CFG_SKIP_OUTGOING) && skb->pkt_type == PACKET_OUTGOING)
		return drop(PODTAP_CNT_DROP_OUTGOING);

	int vlan = skb->vlan_present != 0;
	__u32 off = 0;
	__u16 proto;

	if (flags & PODTAP_CFG_RAW_IP) {
		__u8 v;
		if (bpf_skb_load_bytes(skb, 0, &v, 1) < 0)
			return drop(PODTAP_CNT_DROP_MALFORMED);
		if ((v >> 4) == 4)
			proto = ETH_P_IP;
		else if ((v >> 4) == 6)
			proto = ETH_P_IPV6;
		else
			return drop(PODTAP_CNT_DROP_NOT_TCP);
	} else {
		/* Ethernet: dst[6] src[6] type[2]; then per VLAN tag: tci[2] type[2] */
		__be16 type;
		if (bpf_skb_load_bytes(skb, 12, &type, 2) < 0)
			return drop(PODTAP_CNT_DROP_MALFORMED);
		proto = bpf_ntohs(type);
		off = ETH_HLEN;
#pragma unroll
		for (int i = 0; i < PODTAP_VLAN_MAX; i++) {
			if (proto != ETH_P_8021Q && proto != ETH_P_8021AD)
				break;
			if (bpf_skb_load_bytes(skb, off + 2, &type, 2) < 0)
				return drop(PODTAP_CNT_DROP_MALFORMED);
			proto = bpf_ntohs(type);
			off += VLAN_HLEN;
			vlan = 1;
		}
	}

	__u32 l4; /* offset of the TCP header */
	int later_fragment = 0;

	if (proto == ETH_P_IP) {
		/* IPv4 (RFC 791): ver/ihl[1] tos[1] total_len[2] id[2] flags/frag_off[2] ttl[1] proto[1] ... */
		__u8 ip[10];
		if (bpf_skb_load_bytes(skb, off, ip, sizeof(ip)) < 0)
			return drop(PODTAP_CNT_DROP_MALFORMED);
		__u32 ihl = (ip[0] & 0x0f) * 4;
		if ((ip[0] >> 4) != 4 || ihl < 20)
			return drop(PODTAP_CNT_DROP_MALFORMED);
		if (ip[9] != IPPROTO_TCP)
			return drop(PODTAP_CNT_DROP_NOT_TCP);
		/* fragment offset: low 13 bits of bytes 6-7; only the first fragment holds the TCP header */
		later_fragment = (((ip[6] & 0x1f) << 8) | ip[7]) != 0;
		l4 = off + ihl;
	} else if (proto == ETH_P_IPV6) {
		/* IPv6 (RFC 8200): ver/tc/flow[4] payload_len[2] next_header[1] hop_limit[1] src[16] dst[16] */
		__u8 nh;
		if (bpf_skb_load_bytes(skb, off + 6, &nh, 1) < 0)
			return drop(PODTAP_CNT_DROP_MALFORMED);
		l4 = off + 40;
#pragma unroll
		for (int i = 0; i < PODTAP_IPV6_EXT_MAX; i++) {
			/* the rest of a later fragment is payload, not headers */
			if (nh == IPPROTO_TCP || later_fragment)
				break;
			/* every extension header starts next_header[1] len[1] */
			__u8 ext[4];
			if (nh == IPPROTO_HOPOPTS || nh == IPPROTO_ROUTING || nh == IPPROTO_DSTOPTS) {
				if (bpf_skb_load_bytes(skb, l4, ext, 2) < 0)
					return drop(PODTAP_CNT_DROP_MALFORMED);
				nh = ext[0];
				l4 += ((__u32)ext[1] + 1) * 8; /* len in 8-octet units, not counting the first 8 */
			} else if (nh == IPPROTO_FRAGMENT) {
				/* next[1] reserved[1] offset(13 bits)/res(2)/M(1)[2] id[4]: 8 octets */
				if (bpf_skb_load_bytes(skb, l4, ext, 4) < 0)
					return drop(PODTAP_CNT_DROP_MALFORMED);
				nh = ext[0];
				later_fragment = (((__u32)ext[2] << 8 | ext[3]) & 0xfff8) != 0;
				l4 += 8;
			} else if (nh == IPPROTO_AH) {
				if (bpf_skb_load_bytes(skb, l4, ext, 2) < 0)
					return drop(PODTAP_CNT_DROP_MALFORMED);
				nh = ext[0];
				l4 += ((__u32)ext[1] + 2) * 4; /* RFC 4302: len in 4-octet units, minus 2 */
			} else {
				return drop(PODTAP_CNT_DROP_NOT_TCP); /* UDP, ICMPv6, ESP, no next header... */
			}
		}
		if (nh != IPPROTO_TCP) {
			/* a later fragment of something else, or more extension headers than we walk */
			return drop(later_fragment ? PODTAP_CNT_DROP_NOT_TCP : PODTAP_CNT_DROP_MALFORMED);
		}
	} else {
		return drop(PODTAP_CNT_DROP_NOT_TCP);
	}

	if (flags & PODTAP_CFG_PORTS) {
		/* a later fragment has no TCP header, so its ports are unknown: it cannot pass a port list */
		if (later_fragment)
			return drop(PODTAP_CNT_DROP_PORT);
		/* TCP (RFC 9293): sport[2] dport[2] ... */
		__be16 ports[2];
		if (bpf_skb_load_bytes(skb, l4, ports, sizeof(ports)) < 0)
			return drop(PODTAP_CNT_DROP_MALFORMED);
		if (!port_listed(bpf_ntohs(ports[0])) && !port_listed(bpf_ntohs(ports[1])))
			return drop(PODTAP_CNT_DROP_PORT);
	}

	count(PODTAP_CNT_KEPT);
	if (vlan)
		count(PODTAP_CNT_VLAN);
	if (snaplen == 0 || snaplen >= skb->len)
		return skb->len;
	count(PODTAP_CNT_TRUNCATED);
	return snaplen;
}

/* no GPL-only helper is used, so the kernel needs no GPL-compatible license string */
char LICENSE[] SEC("license") = "Apache-2.0";
