/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-only */
/*
 * What bpf/tls_tap.c and src/tls/abi.ts agree on: map and program names, the event record's layout,
 * the config flags and the counter indices. src/tls/abi.ts mirrors every #define below and
 * src/tls/abi.test.ts parses this file to check that it does; change both together.
 *
 * Only plain `#define NAME value` lines are mirrored (the test reads them with a regular
 * expression); keep one per line, values as decimal or hex integers or bare identifiers.
 */
#ifndef PODTAP_TLS_ABI_H
#define PODTAP_TLS_ABI_H

/* Map names (at most 15 characters: BPF_OBJ_NAME_LEN is 16 with the NUL). */
#define PODTAP_TLS_MAP_EVENTS tls_events
#define PODTAP_TLS_MAP_COUNTERS tls_counters
#define PODTAP_TLS_MAP_CONFIG tls_config
#define PODTAP_TLS_MAP_PIDS tls_pids

/* Programs, for bpf_object__find_program_by_name. Uprobes are attached by the loader to the
 * libssl symbol named in the comment; fentry programs attach to the kernel function in their SEC. */
/* SSL_write(ssl, buf, num) and SSL_write_ex(ssl, buf, num, *written): entry and return */
#define PODTAP_TLS_PROG_WRITE_ENTER tls_wr_enter
#define PODTAP_TLS_PROG_WRITE_RET tls_wr_ret
#define PODTAP_TLS_PROG_WRITE_EX_RET tls_wr_ex_ret
/* SSL_read(ssl, buf, num) and SSL_read_ex(ssl, buf, num, *readbytes): entry and return */
#define PODTAP_TLS_PROG_READ_ENTER tls_rd_enter
#define PODTAP_TLS_PROG_READ_RET tls_rd_ret
#define PODTAP_TLS_PROG_READ_EX_RET tls_rd_ex_ret
/* the socket's 4-tuple while a thread is inside SSL_*: raw_tp/sock_send_length and
 * raw_tp/sock_recv_length (Linux 6.3+), or fentry/tcp_sendmsg and fentry/tcp_recvmsg (BPF
 * trampolines); the loader keeps one pair */
#define PODTAP_TLS_PROG_SOCK_SEND tls_sock_send
#define PODTAP_TLS_PROG_SOCK_RECV tls_sock_recv
#define PODTAP_TLS_PROG_TCP_SEND tls_tcp_send
#define PODTAP_TLS_PROG_TCP_RECV tls_tcp_recv
/* SSL_free(ssl) entry: forget (pid, ssl) and send a close record (an SSL * is reused by malloc) */
#define PODTAP_TLS_PROG_FREE tls_free
/* raw_tp/sched_process_exit: a thread that dies inside an SSL_* call leaves nothing behind */
#define PODTAP_TLS_PROG_EXIT tls_exit
/* raw_tp/sched_process_exec: a record (dir TLS_DIR_EXEC) for every exec, so user space looks at a
 * new executable at once instead of at its next /proc scan (src/tls/processes.ts) */
#define PODTAP_TLS_PROG_EXEC tls_exec

/* tls_events: BPF_MAP_TYPE_RINGBUF of this many bytes (a power of 2, a multiple of the page size). */
#define PODTAP_TLS_RINGBUF_BYTES 8388608

/*
 * One ring buffer record: a header of TLS_EV_HDR_SIZE bytes, then cap_len bytes of plaintext.
 * All integers in host byte order (ports too).
 *
 *   0        8      12     16       24  25   26    28    30   32       48       64   68      72      88
 *   +--------+------+------+--------+---+----+-----+-----+----+--------+--------+----+-------+-------+----
 *   | ts_ns  | pid  | tid  | ssl    |dir|fam |lport|rport|pad | laddr  | raddr  |len |cap_len| comm  | data
 *   +--------+------+------+--------+---+----+-----+-----+----+--------+--------+----+-------+-------+----
 *
 *   ts_ns    bpf_ktime_get_ns() when the SSL_* call returned (CLOCK_MONOTONIC)
 *   pid/tid  the calling process (tgid) and thread
 *   ssl      the SSL * of the call: with pid, names the TLS connection
 *   dir      TLS_DIR_WRITE (the process sent these bytes) or TLS_DIR_READ (it received them)
 *   fam      AF_INET (2), AF_INET6 (10), or 0 when the socket was never seen (tuple all zero)
 *   l/r      local and remote address (IPv4 in the first 4 bytes) and port of the TCP socket
 *   len      plaintext bytes of the call this record stands for
 *   cap_len  bytes of data that follow (< len only when they could not be read: a gap of len - cap_len)
 *   comm     the thread's name, NUL padded
 *
 * A call moving more than TLS_CHUNK_BYTES is split into records of TLS_CHUNK_BYTES in order; past
 * TLS_CHUNKS_MAX records the rest is one record with cap_len 0 (counted as truncated).
 */
#define PODTAP_TLS_EV_OFF_TS 0
#define PODTAP_TLS_EV_OFF_PID 8
#define PODTAP_TLS_EV_OFF_TID 12
#define PODTAP_TLS_EV_OFF_SSL 16
#define PODTAP_TLS_EV_OFF_DIR 24
#define PODTAP_TLS_EV_OFF_FAMILY 25
#define PODTAP_TLS_EV_OFF_LPORT 26
#define PODTAP_TLS_EV_OFF_RPORT 28
#define PODTAP_TLS_EV_OFF_LADDR 32
#define PODTAP_TLS_EV_OFF_RADDR 48
#define PODTAP_TLS_EV_OFF_LEN 64
#define PODTAP_TLS_EV_OFF_CAP_LEN 68
#define PODTAP_TLS_EV_OFF_COMM 72
#define PODTAP_TLS_EV_HDR_SIZE 88

#define PODTAP_TLS_DIR_WRITE 0
#define PODTAP_TLS_DIR_READ 1
/* SSL_free: the connection (pid, ssl) ended; len and cap_len 0 */
#define PODTAP_TLS_DIR_CLOSE 2
/* not a connection's: process pid has just exec'd (comm is the new one); ssl, len, cap_len 0 */
#define PODTAP_TLS_DIR_EXEC 3

/* 16 KiB: the largest TLS record's plaintext (RFC 8446 §5.1), so one SSL_read is one record */
#define PODTAP_TLS_CHUNK_BYTES 16384
/* records per call: 16 x 16 KiB = 256 KiB copied per SSL_write/SSL_read; bounded for the verifier */
#define PODTAP_TLS_CHUNKS_MAX 16

/* tls_config: BPF_MAP_TYPE_ARRAY, one entry, value u32 flags */
/* only processes whose pid (tgid) is a key of tls_pids */
#define PODTAP_TLS_CFG_PIDS 0x1

/* tls_pids: BPF_MAP_TYPE_HASH, key u32 pid, value u8 (1 = watch). */
#define PODTAP_TLS_PIDS_MAX 4096

/* Threads inside an SSL_* call at the same time, and (pid, ssl) -> 4-tuple entries (LRU). */
#define PODTAP_TLS_CALLS_MAX 16384
#define PODTAP_TLS_CONNS_MAX 65536
/* Threads that made SSL_* calls (LRU): the socket each last received on, for memory-BIO users */
#define PODTAP_TLS_THREADS_MAX 16384

/*
 * tls_counters: BPF_MAP_TYPE_PERCPU_ARRAY of u64 per index below; user space sums the CPUs.
 */
/* records written to the ring buffer */
#define PODTAP_TLS_CNT_EVENTS 0
/* plaintext bytes moved by the SSL_* calls seen (whether or not copied) */
#define PODTAP_TLS_CNT_BYTES 1
/* records lost because the ring buffer was full (the reader is behind) */
#define PODTAP_TLS_CNT_DROP_FULL 2
/* calls longer than TLS_CHUNKS_MAX x TLS_CHUNK_BYTES: the rest is reported by length only */
#define PODTAP_TLS_CNT_TRUNCATED 3
/* bpf_probe_read_user of the buffer failed (page not present): a record with cap_len 0 */
#define PODTAP_TLS_CNT_READ_FAULT 4
/* records whose (pid, ssl) had no known socket yet: tuple all zero */
#define PODTAP_TLS_CNT_NO_TUPLE 5
/* SSL_* calls that returned nothing (<= 0: WANT_READ, errors, close) */
#define PODTAP_TLS_CNT_EMPTY_CALLS 6
/* an entry probe found the per-thread call table full: that call is not seen */
#define PODTAP_TLS_CNT_CALLS_FULL 7
/* (pid, ssl) -> socket learned around the call (memory BIOs, node): from the socket the thread
 * received on just before an SSL_read that returned data, or sent on just after an SSL_* call */
#define PODTAP_TLS_CNT_LEARN_READ 8
#define PODTAP_TLS_CNT_LEARN_WRITE 9
/* SSL_free calls seen (close records sent) */
#define PODTAP_TLS_CNT_FREES 10
#define PODTAP_TLS_CNT_MAX 11

/*
 * The Go crypto/tls tap (bpf/go_tls.c) writes the same records into its own ring, with its own maps
 * and the same counters, config flags and sizes as above. EV_OFF_TAP (the byte after rport, 0 in the
 * OpenSSL tap's records) says which tap wrote a record; "ssl" holds the *tls.Conn there.
 */
#define PODTAP_TLS_EV_OFF_TAP 30
#define PODTAP_TLS_TAP_OPENSSL 0
#define PODTAP_TLS_TAP_GO 1
/* EV_OFF_ROLE (the byte after tap): the tapped process's side of the TLS connection when the tap
 * knows it (Go: tls.Conn.isClient), else ROLE_UNKNOWN (0, the OpenSSL tap) */
#define PODTAP_TLS_EV_OFF_ROLE 31
#define PODTAP_TLS_ROLE_UNKNOWN 0
#define PODTAP_TLS_ROLE_CLIENT 1
#define PODTAP_TLS_ROLE_SERVER 2
#define PODTAP_TLS_GO_MAP_EVENTS go_tls_events
#define PODTAP_TLS_GO_MAP_COUNTERS go_tls_counters
#define PODTAP_TLS_GO_MAP_CONFIG go_tls_config
#define PODTAP_TLS_GO_MAP_PIDS go_tls_pids
/* (pid, goroutine) -> Read in progress, LRU; user space deletes a process's entries when it exits */
#define PODTAP_TLS_GO_MAP_RD_CALLS go_rd_calls
/* uprobes at the entry and at every RET of crypto/tls.(*Conn).Read, at the entry of (*Conn).Write;
 * the BPF cookie of each carries the struct offsets (src/tls/go/offsets.ts offsetsCookie) */
#define PODTAP_TLS_GO_PROG_READ_ENTER go_rd_enter
#define PODTAP_TLS_GO_PROG_READ_RET go_rd_ret
#define PODTAP_TLS_GO_PROG_WRITE_ENTER go_wr_enter

#endif /* PODTAP_TLS_ABI_H */
