/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-only */
/*
 * What a TLS plaintext tap program needs whatever library it hooks: the socket structs it reads
 * (CO-RE), the ring buffer record (tls_abi.h layout) and how one call's plaintext becomes records.
 * Used by bpf/tls_tap.c and bpf/go_tls.c. Maps are passed in, so each object keeps its own.
 * A tuple is passed to tls_event_head by address: copy a map value into a stack tuple first (the
 * verifier refuses "lookup ?: &zeroes": clang offsets the pointer before its null check).
 */
#ifndef PODTAP_TLS_COMMON_H
#define PODTAP_TLS_COMMON_H

#include <bpf/bpf_endian.h>

/* socket families (include/linux/socket.h) */
#define AF_INET 2
#define AF_INET6 10

/* --- kernel structs, CO-RE: only the fields read; libbpf finds them by name in the kernel BTF --- */

struct in6_addr {
	__u8 s6_addr[16];
} __attribute__((preserve_access_index));

/* include/net/sock.h: the address pair and port pair sit in anonymous unions; CO-RE finds
 * fields through anonymous members, so they are declared flat here */
struct sock_common {
	__be32 skc_daddr;
	__be32 skc_rcv_saddr;
	__be16 skc_dport;
	__u16 skc_num;
	unsigned short skc_family;
	struct in6_addr skc_v6_daddr;
	struct in6_addr skc_v6_rcv_saddr;
} __attribute__((preserve_access_index));

struct sock {
	struct sock_common __sk_common;
} __attribute__((preserve_access_index));

/* --- records --- */

struct tls_tuple {
	__u8 family;
	__u8 pad;
	__u16 lport;
	__u16 rport;
	__u16 pad2;
	__u8 laddr[16];
	__u8 raddr[16];
};

struct tls_event {
	__u64 ts_ns;
	__u32 pid;
	__u32 tid;
	__u64 ssl;
	__u8 dir;
	__u8 family;
	__u16 lport;
	__u16 rport;
	__u8 tap;
	__u8 role;
	__u8 laddr[16];
	__u8 raddr[16];
	__u32 len;
	__u32 cap_len;
	char comm[16];
	__u8 data[PODTAP_TLS_CHUNK_BYTES];
};

_Static_assert(__builtin_offsetof(struct tls_event, ts_ns) == PODTAP_TLS_EV_OFF_TS, "ts_ns");
_Static_assert(__builtin_offsetof(struct tls_event, pid) == PODTAP_TLS_EV_OFF_PID, "pid");
_Static_assert(__builtin_offsetof(struct tls_event, tid) == PODTAP_TLS_EV_OFF_TID, "tid");
_Static_assert(__builtin_offsetof(struct tls_event, ssl) == PODTAP_TLS_EV_OFF_SSL, "ssl");
_Static_assert(__builtin_offsetof(struct tls_event, dir) == PODTAP_TLS_EV_OFF_DIR, "dir");
_Static_assert(__builtin_offsetof(struct tls_event, family) == PODTAP_TLS_EV_OFF_FAMILY, "family");
_Static_assert(__builtin_offsetof(struct tls_event, lport) == PODTAP_TLS_EV_OFF_LPORT, "lport");
_Static_assert(__builtin_offsetof(struct tls_event, rport) == PODTAP_TLS_EV_OFF_RPORT, "rport");
_Static_assert(__builtin_offsetof(struct tls_event, tap) == PODTAP_TLS_EV_OFF_TAP, "tap");
_Static_assert(__builtin_offsetof(struct tls_event, role) == PODTAP_TLS_EV_OFF_ROLE, "role");
_Static_assert(__builtin_offsetof(struct tls_event, laddr) == PODTAP_TLS_EV_OFF_LADDR, "laddr");
_Static_assert(__builtin_offsetof(struct tls_event, raddr) == PODTAP_TLS_EV_OFF_RADDR, "raddr");
_Static_assert(__builtin_offsetof(struct tls_event, len) == PODTAP_TLS_EV_OFF_LEN, "len");
_Static_assert(__builtin_offsetof(struct tls_event, cap_len) == PODTAP_TLS_EV_OFF_CAP_LEN, "cap_len");
_Static_assert(__builtin_offsetof(struct tls_event, comm) == PODTAP_TLS_EV_OFF_COMM, "comm");
_Static_assert(__builtin_offsetof(struct tls_event, data) == PODTAP_TLS_EV_HDR_SIZE, "data");

/* --- helpers --- */

static __always_inline void tls_count(void *counters, __u32 idx, __u64 n)
{
	__u64 *v = bpf_map_lookup_elem(counters, &idx);

	if (v)
		*v += n; /* per-CPU slot: no other writer */
}

/* the pid passes the tap's pid filter (PODTAP_TLS_CFG_PIDS), or there is none */
static __always_inline int tls_watched(void *config, void *pids, __u32 pid)
{
	__u32 zero = 0;
	__u32 *flags = bpf_map_lookup_elem(config, &zero);

	if (!flags || !(*flags & PODTAP_TLS_CFG_PIDS))
		return 1;
	return bpf_map_lookup_elem(pids, &pid) != 0;
}

/* an IPv4/IPv6 socket's addresses and ports (host order) into t; 0 for other families */
static __always_inline int tls_tuple_of_sock(struct sock *sk, struct tls_tuple *t)
{
	if (!sk)
		return 0;
	t->family = BPF_CORE_READ(sk, __sk_common.skc_family);
	t->lport = BPF_CORE_READ(sk, __sk_common.skc_num);
	t->rport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	if (t->family == AF_INET) {
		__be32 a = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
		__be32 b = BPF_CORE_READ(sk, __sk_common.skc_daddr);

		__builtin_memcpy(t->laddr, &a, 4);
		__builtin_memcpy(t->raddr, &b, 4);
		return 1;
	}
	if (t->family == AF_INET6) {
		BPF_CORE_READ_INTO(&t->laddr, sk, __sk_common.skc_v6_rcv_saddr);
		BPF_CORE_READ_INTO(&t->raddr, sk, __sk_common.skc_v6_daddr);
		return 1;
	}
	t->family = 0;
	return 0;
}

/* the record header of a call: who, which connection, which way, the socket (t->family 0: unknown) */
static __always_inline void tls_event_head(struct tls_event *ev, __u64 id, __u64 ssl, __u8 dir, const struct tls_tuple *t)
{
	ev->ts_ns = bpf_ktime_get_ns();
	ev->pid = id >> 32;
	ev->tid = (__u32)id;
	ev->ssl = ssl;
	ev->dir = dir;
	ev->tap = PODTAP_TLS_TAP_OPENSSL;
	ev->role = PODTAP_TLS_ROLE_UNKNOWN;
	ev->family = t->family;
	ev->lport = t->lport;
	ev->rport = t->rport;
	__builtin_memcpy(ev->laddr, t->laddr, 16);
	__builtin_memcpy(ev->raddr, t->raddr, 16);
	bpf_get_current_comm(ev->comm, sizeof(ev->comm));
}

/* Copies total bytes from the user buffer into the ring, in records of at most TLS_CHUNK_BYTES
 * (header already filled by tls_event_head); past TLS_CHUNKS_MAX records, one record of the rest's
 * length with no data. */
static __always_inline void tls_emit(void *ring, void *counters, struct tls_event *ev, __u64 buf, __u64 total)
{
	__u64 off = 0;
	int i;

	tls_count(counters, PODTAP_TLS_CNT_BYTES, total);
	for (i = 0; i < PODTAP_TLS_CHUNKS_MAX; i++) {
		__u64 n = total - off;

		if (n > PODTAP_TLS_CHUNK_BYTES)
			n = PODTAP_TLS_CHUNK_BYTES;
		ev->len = n;
		ev->cap_len = n;
		if (bpf_probe_read_user(ev->data, n, (const void *)(buf + off)) < 0) {
			ev->cap_len = 0;
			n = 0;
			tls_count(counters, PODTAP_TLS_CNT_READ_FAULT, 1);
		}
		if (bpf_ringbuf_output(ring, ev, PODTAP_TLS_EV_HDR_SIZE + n, 0) < 0)
			tls_count(counters, PODTAP_TLS_CNT_DROP_FULL, 1);
		else
			tls_count(counters, PODTAP_TLS_CNT_EVENTS, 1);
		off += ev->len;
		if (off >= total)
			return;
	}
	ev->len = total - off;
	ev->cap_len = 0;
	tls_count(counters, PODTAP_TLS_CNT_TRUNCATED, 1);
	if (bpf_ringbuf_output(ring, ev, PODTAP_TLS_EV_HDR_SIZE, 0) < 0)
		tls_count(counters, PODTAP_TLS_CNT_DROP_FULL, 1);
	else
		tls_count(counters, PODTAP_TLS_CNT_EVENTS, 1);
}

#endif /* PODTAP_TLS_COMMON_H */
