/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What bpf/socket_filter.c and src/capture/bpf-abi.ts agree on: map names, the config record's
 * layout and flags, the counter indices. src/capture/bpf-abi.ts mirrors every #define below and
 * src/capture/bpf-abi.test.ts parses this file to check that it does; change both together.
 *
 * Only plain `#define NAME value` lines are mirrored (the test reads them with a regular
 * expression); keep one per line, values as decimal or hex integers or bare identifiers.
 */
#ifndef PODTAP_ABI_H
#define PODTAP_ABI_H

/* Map names, as libbpf sees them (bpf_object__find_map_by_name). At most 15 characters: the kernel
 * keeps BPF_OBJ_NAME_LEN (16) bytes including the NUL. */
#define PODTAP_MAP_CONFIG podtap_config
#define PODTAP_MAP_PORTS podtap_ports
#define PODTAP_MAP_COUNTERS podtap_counters
#define PODTAP_MAP_IFINDEXES podtap_ifidx
/* The program, for bpf_object__find_program_by_name. */
#define PODTAP_PROG_FILTER podtap_filter

/*
 * podtap_config: BPF_MAP_TYPE_ARRAY, one entry (key 0), value struct podtap_filter_config.
 * User space writes it after load and before the program is attached; it may be rewritten at any
 * time (the program reads it per packet).
 *
 *   0       4       8
 *   +-------+-------+
 *   |snaplen| flags |
 *   +-------+-------+   both u32, host byte order
 */
#define PODTAP_CONFIG_SIZE 8
#define PODTAP_CONFIG_OFF_SNAPLEN 0
#define PODTAP_CONFIG_OFF_FLAGS 4

/* flags */
/* keep only TCP segments whose source or destination port is a key of podtap_ports */
#define PODTAP_CFG_PORTS 0x1
/* drop PACKET_OUTGOING copies: on loopback every packet is seen leaving and arriving */
#define PODTAP_CFG_SKIP_OUTGOING 0x2
/* no link-layer header: data starts at the IP header (ARPHRD_NONE devices such as tun, wireguard) */
#define PODTAP_CFG_RAW_IP 0x4
/* keep only packets of the interfaces that are keys of podtap_ifidx: one socket bound to every
 * interface serves many (a node's pod veths), each added or removed by a map update */
#define PODTAP_CFG_IFINDEXES 0x8

/* podtap_ports: BPF_MAP_TYPE_HASH, key u16 port (host byte order), value u8 (1 = keep). */
#define PODTAP_PORTS_MAX 4096

/* podtap_ifidx: BPF_MAP_TYPE_HASH, key u32 ifindex, value u8 (1 = keep). */
#define PODTAP_IFINDEXES_MAX 16384

/*
 * podtap_counters: BPF_MAP_TYPE_PERCPU_ARRAY of u64, one entry per index below. User space sums
 * the per-CPU values. seen = kept + dropped; dropped = the sum of the DROP_ reasons.
 */
#define PODTAP_CNT_SEEN 0
#define PODTAP_CNT_KEPT 1
#define PODTAP_CNT_DROPPED 2
/* not IPv4/IPv6, or not TCP */
#define PODTAP_CNT_DROP_NOT_TCP 3
/* TCP, but neither port in the allow-list (or a non-first fragment while the list is in use) */
#define PODTAP_CNT_DROP_PORT 4
/* a PACKET_OUTGOING copy while PODTAP_CFG_SKIP_OUTGOING is set */
#define PODTAP_CNT_DROP_OUTGOING 5
/* headers cut short or more IPv6 extension headers than PODTAP_IPV6_EXT_MAX */
#define PODTAP_CNT_DROP_MALFORMED 6
/* kept, but longer than snaplen: the ring holds the first snaplen bytes */
#define PODTAP_CNT_TRUNCATED 7
/* kept packets that carried a VLAN tag (in the data or offloaded to skb->vlan_tci) */
#define PODTAP_CNT_VLAN 8
#define PODTAP_CNT_MAX 9

/* IPv6 extension headers walked before giving up (hop-by-hop, routing, fragment, destination, AH) */
#define PODTAP_IPV6_EXT_MAX 6
/* VLAN tags walked in the packet data (802.1Q 0x8100, 802.1ad 0x88a8); an offloaded one is extra */
#define PODTAP_VLAN_MAX 2

#endif /* PODTAP_ABI_H */
