/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-only */
/*
 * TLS plaintext tap: uprobes on OpenSSL's SSL_write/SSL_read (and their _ex forms) copy the
 * plaintext a process hands to or gets from libssl into a ring buffer, tagged with the TCP socket's
 * 4-tuple. User space: src/tls/ (loader.ts attaches, ring.ts reads). Layouts: tls_abi.h.
 *
 *   SSL_write(ssl, buf, num) ------ entry: remember (tid -> ssl, buf)
 *     send/write on the socket ---- raw_tp sock_send_length (or fentry tcp_sendmsg): tid is inside
 *                                   SSL_*: (pid, ssl) -> the socket's 4-tuple
 *   return n > 0 ------------------ uretprobe: emit n bytes from buf, dir write, tuple of (pid, ssl)
 *
 *   SSL_read(ssl, buf, num) ------- entry: remember (tid -> ssl, buf)
 *     recv/read on the socket ----- raw_tp sock_recv_length (or fentry tcp_recvmsg): as above (absent
 *                                   when libssl answers from its buffer:
 *                                   the tuple map still has the socket from an earlier call)
 *   return n > 0 ------------------ uretprobe: emit n bytes from buf, dir read
 *
 * Memory BIOs (node: OpenSSL built into the executable or the system libssl, driven through its own
 * BIO): no socket call happens inside SSL_*, so the socket is learned around the call on the same
 * thread (node's event loop reads a socket, then SSL_reads what it got; SSL_writes, then writes the
 * socket), once per (pid, ssl) and only while it is unknown:
 *
 *   recv on the socket (ret > 0) -- raw_tp sock_recv_length outside any SSL_* call: the thread's
 *                                   last received socket, armed
 *   SSL_read returns n > 0 -------- armed: (pid, ssl) -> that socket (LEARN_READ); disarm
 *   SSL_* returns, ssl unknown ---- the thread's pending ssl (the handshake or data it produced is
 *                                   written to the socket right after)
 *   SSL_* returns, ssl known ------ no pending ssl (the next send is this one's)
 *   send on the socket (ret > 0) -- pending ssl -> that socket (LEARN_WRITE); a recv between cancels
 *   SSL_free(ssl) ----------------- (pid, ssl) forgotten, a close record sent: malloc reuses SSL *
 *
 * SSL_write_ex / SSL_read_ex return 1 on success and put the byte count in *written / *readbytes,
 * so their return probes read that pointer, saved at entry, instead of the return value. In
 * OpenSSL 1.1.1 and 3.x SSL_write and SSL_write_ex both call ssl_write_internal (the same for
 * read), never each other, so a call is seen once.
 *
 * Kernel side: raw tracepoints or fentry (see the end of the file), never kprobes (kernels built
 * without CONFIG_KPROBE_EVENTS exist); CO-RE needs CONFIG_DEBUG_INFO_BTF. Kernel structs are declared below with only the fields read, and read
 * with CO-RE relocations, so no vmlinux.h is needed and the object loads on any BTF kernel.
 *
 * License: fentry programs, bpf_probe_read_kernel and bpf_probe_read_user are GPL-only in the kernel, so the object
 * declares "GPL"; this file is dual licensed (see the SPDX line) for that reason.
 */
#include <linux/bpf.h>
#include <linux/ptrace.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "tls_abi.h"
/* kernel socket structs (CO-RE), struct tls_tuple, struct tls_event: shared with bpf/go_tls.c */
#include "tls_common.h"

/* an SSL_* call in progress on one thread */
struct tls_call {
	__u64 ssl;
	__u64 buf;
	/* SSL_*_ex: size_t *written / *readbytes; 0 for SSL_write / SSL_read */
	__u64 count_ptr;
};

struct tls_conn_key {
	__u32 pid;
	__u32 pad;
	__u64 ssl;
};

/* --- maps --- */

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, PODTAP_TLS_RINGBUF_BYTES);
} PODTAP_TLS_MAP_EVENTS SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PODTAP_TLS_CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} PODTAP_TLS_MAP_COUNTERS SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} PODTAP_TLS_MAP_CONFIG SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PODTAP_TLS_PIDS_MAX);
	__type(key, __u32);
	__type(value, __u8);
} PODTAP_TLS_MAP_PIDS SEC(".maps");

/* pid_tgid -> call; write and read apart so a read inside a write (renegotiation) keeps both */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PODTAP_TLS_CALLS_MAX);
	__type(key, __u64);
	__type(value, struct tls_call);
} tls_wr_calls SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PODTAP_TLS_CALLS_MAX);
	__type(key, __u64);
	__type(value, struct tls_call);
} tls_rd_calls SEC(".maps");

/* (pid, ssl) -> socket tuple; LRU: connections are never told to end here */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, PODTAP_TLS_CONNS_MAX);
	__type(key, struct tls_conn_key);
	__type(value, struct tls_tuple);
} tls_conns SEC(".maps");

/* per thread that made an SSL_* call: what the memory-BIO correlation needs (see the top) */
struct tls_thread {
	struct tls_tuple rd;
	/* rd is the socket received on since the last SSL_read */
	__u8 rd_armed;
	__u8 pad[7];
	/* SSL * whose socket is unknown, to be learned from the next send; 0 = none */
	__u64 wr_ssl;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, PODTAP_TLS_THREADS_MAX);
	__type(key, __u64);
	__type(value, struct tls_thread);
} tls_threads SEC(".maps");

/* one event under construction per CPU: too big for the 512-byte BPF stack */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tls_event);
} tls_scratch SEC(".maps");

/* --- helpers --- */

static __always_inline void count(__u32 idx, __u64 n)
{
	tls_count(&PODTAP_TLS_MAP_COUNTERS, idx, n);
}

static __always_inline int watched(__u32 pid)
{
	return tls_watched(&PODTAP_TLS_MAP_CONFIG, &PODTAP_TLS_MAP_PIDS, pid);
}

static __always_inline int call_enter(void *calls, __u64 ssl, __u64 buf, __u64 count_ptr)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct tls_call c = { .ssl = ssl, .buf = buf, .count_ptr = count_ptr };

	if (!watched(id >> 32))
		return 0;
	if (!bpf_map_lookup_elem(&tls_threads, &id)) {
		struct tls_thread th = {};

		bpf_map_update_elem(&tls_threads, &id, &th, BPF_NOEXIST);
	}
	if (bpf_map_update_elem(calls, &id, &c, BPF_ANY) < 0)
		count(PODTAP_TLS_CNT_CALLS_FULL, 1);
	return 0;
}

/* Copies total bytes from the user buffer into the ring (tls_common.h's pair, as bpf/go_tls.c) */
static __always_inline void emit(__u8 dir, __u64 id, __u64 ssl, __u64 buf, __u64 total)
{
	__u32 zero = 0;
	struct tls_event *ev = bpf_map_lookup_elem(&tls_scratch, &zero);
	struct tls_conn_key key = { .pid = id >> 32, .ssl = ssl };
	struct tls_tuple tuple = {};
	struct tls_tuple *t;

	if (!ev)
		return;
	/* copied, not pointed at: with "t ?: &zeroes" clang offsets the pointer before its null check,
	 * which the verifier refuses (pointer arithmetic on map_value_or_null) */
	t = bpf_map_lookup_elem(&tls_conns, &key);
	if (t)
		tuple = *t;
	else
		count(PODTAP_TLS_CNT_NO_TUPLE, 1);
	tls_event_head(ev, id, ssl, dir, &tuple);
	tls_emit(&PODTAP_TLS_MAP_EVENTS, &PODTAP_TLS_MAP_COUNTERS, ev, buf, total);
}

/* At the return of an SSL_* call on thread id (ok: it moved data): the memory-BIO rules at the top. */
static __always_inline void learn_around(__u64 id, __u64 ssl, int read, int ok)
{
	struct tls_thread *th = bpf_map_lookup_elem(&tls_threads, &id);
	struct tls_conn_key key = { .pid = id >> 32, .ssl = ssl };

	if (!th)
		return;
	if (bpf_map_lookup_elem(&tls_conns, &key)) {
		if (read)
			th->rd_armed = 0;
		/* the send that follows carries this (known) SSL's output: an SSL * left pending by an
		 * earlier call that wrote nothing must not take that socket */
		th->wr_ssl = 0;
		return;
	}
	if (read && ok && th->rd_armed) {
		th->rd_armed = 0;
		if (bpf_map_update_elem(&tls_conns, &key, &th->rd, BPF_NOEXIST) == 0) {
			count(PODTAP_TLS_CNT_LEARN_READ, 1);
			return;
		}
	}
	if (read)
		th->rd_armed = 0;
	th->wr_ssl = ssl;
}

/* Return probe body: ret is the return value; for the _ex forms, ok (ret == 1) and *count_ptr. */
static __always_inline int call_return(void *calls, __u8 dir, long ret, int ex)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct tls_call *c = bpf_map_lookup_elem(calls, &id);
	__u64 n = 0;

	if (!c)
		return 0;
	learn_around(id, c->ssl, dir == PODTAP_TLS_DIR_READ, ex ? ret == 1 : ret > 0);
	if (ex) {
		if (ret == 1 && c->count_ptr != 0)
			bpf_probe_read_user(&n, sizeof(n), (const void *)c->count_ptr);
	} else if (ret > 0) {
		n = ret;
	}
	if (n > 0 && n < 0x80000000ULL)
		emit(dir, id, c->ssl, c->buf, n);
	else
		count(PODTAP_TLS_CNT_EMPTY_CALLS, 1);
	bpf_map_delete_elem(calls, &id);
	return 0;
}

/* --- uprobes on libssl --- */

/* SSL_write(SSL *ssl, const void *buf, int num) and SSL_write_ex(..., size_t *written):
 * the fourth argument is only read back by the _ex return probe */
SEC("uprobe")
int PODTAP_TLS_PROG_WRITE_ENTER(struct pt_regs *ctx)
{
	return call_enter(&tls_wr_calls, PT_REGS_PARM1(ctx), PT_REGS_PARM2(ctx), PT_REGS_PARM4(ctx));
}

SEC("uretprobe")
int PODTAP_TLS_PROG_WRITE_RET(struct pt_regs *ctx)
{
	return call_return(&tls_wr_calls, PODTAP_TLS_DIR_WRITE, (int)PT_REGS_RC(ctx), 0);
}

SEC("uretprobe")
int PODTAP_TLS_PROG_WRITE_EX_RET(struct pt_regs *ctx)
{
	return call_return(&tls_wr_calls, PODTAP_TLS_DIR_WRITE, (int)PT_REGS_RC(ctx), 1);
}

/* SSL_read(SSL *ssl, void *buf, int num) and SSL_read_ex(..., size_t *readbytes) */
SEC("uprobe")
int PODTAP_TLS_PROG_READ_ENTER(struct pt_regs *ctx)
{
	return call_enter(&tls_rd_calls, PT_REGS_PARM1(ctx), PT_REGS_PARM2(ctx), PT_REGS_PARM4(ctx));
}

SEC("uretprobe")
int PODTAP_TLS_PROG_READ_RET(struct pt_regs *ctx)
{
	return call_return(&tls_rd_calls, PODTAP_TLS_DIR_READ, (int)PT_REGS_RC(ctx), 0);
}

SEC("uretprobe")
int PODTAP_TLS_PROG_READ_EX_RET(struct pt_regs *ctx)
{
	return call_return(&tls_rd_calls, PODTAP_TLS_DIR_READ, (int)PT_REGS_RC(ctx), 1);
}

/* --- the socket under an SSL_* call --- */

/* A send (send = 1) or receive on socket sk that moved ret bytes (ret < 0: an error; 1 when unknown). */
static __always_inline int note_socket(struct sock *sk, int send, int ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct tls_call *c = bpf_map_lookup_elem(&tls_wr_calls, &id);
	struct tls_conn_key key = {};
	struct tls_thread *th;
	struct tls_tuple t = {};

	if (!sk)
		return 0;
	if (!c)
		c = bpf_map_lookup_elem(&tls_rd_calls, &id);
	key.pid = id >> 32;
	if (c) {
		/* inside SSL_*: libssl itself uses the socket (socket BIO) */
		key.ssl = c->ssl;
		if (tls_tuple_of_sock(sk, &t))
			bpf_map_update_elem(&tls_conns, &key, &t, BPF_ANY);
		return 0;
	}
	/* outside: only threads that make SSL_* calls, and only what the memory-BIO rules need */
	th = bpf_map_lookup_elem(&tls_threads, &id);
	if (!th || ret <= 0)
		return 0;
	if (!send) {
		th->wr_ssl = 0;
		if (tls_tuple_of_sock(sk, &th->rd))
			th->rd_armed = 1;
		return 0;
	}
	if (th->wr_ssl == 0)
		return 0;
	key.ssl = th->wr_ssl;
	th->wr_ssl = 0;
	if (tls_tuple_of_sock(sk, &t) && bpf_map_update_elem(&tls_conns, &key, &t, BPF_NOEXIST) == 0)
		count(PODTAP_TLS_CNT_LEARN_WRITE, 1);
	return 0;
}

/*
 * Two ways to see the socket, the loader picks one (src/tls/tap.ts) and disables the other's autoload:
 *
 * raw tracepoints sock:sock_send_length / sock:sock_recv_length (Linux 6.3+, net/socket.c), fired
 * by every sendmsg/recvmsg (write/read/send/recv) on a socket with TP_PROTO(struct sock *sk, int ret,
 * int flags) (ret: bytes moved or -errno). BPF_PROG_TYPE_RAW_TRACEPOINT needs no BPF trampoline, so it works on kernels built
 * without them (this machine's: `bpftool feature probe` says "program_type tracing is NOT available").
 */
SEC("raw_tp/sock_send_length")
int PODTAP_TLS_PROG_SOCK_SEND(struct bpf_raw_tracepoint_args *ctx)
{
	return note_socket((struct sock *)ctx->args[0], 1, (int)ctx->args[1]);
}

SEC("raw_tp/sock_recv_length")
int PODTAP_TLS_PROG_SOCK_RECV(struct bpf_raw_tracepoint_args *ctx)
{
	return note_socket((struct sock *)ctx->args[0], 0, (int)ctx->args[1]);
}

/* fentry (BTF trampolines, Linux 5.5+), for kernels older than 6.3:
 * int tcp_sendmsg(struct sock *sk, struct msghdr *msg, size_t size)
 * int tcp_recvmsg(struct sock *sk, struct msghdr *msg, size_t len, int flags, int *addr_len) */
SEC("fentry/tcp_sendmsg")
int BPF_PROG(PODTAP_TLS_PROG_TCP_SEND, struct sock *sk)
{
	return note_socket(sk, 1, 1);
}

SEC("fentry/tcp_recvmsg")
int BPF_PROG(PODTAP_TLS_PROG_TCP_RECV, struct sock *sk)
{
	return note_socket(sk, 0, 1);
}

/* --- end of a connection, end of a thread --- */

/* a record without data (close, exec): header only, no socket */
static __always_inline void emit_mark(__u8 dir, __u64 id, __u64 ssl)
{
	__u32 zero = 0;
	struct tls_event *ev = bpf_map_lookup_elem(&tls_scratch, &zero);

	if (!ev)
		return;
	__builtin_memset(ev, 0, PODTAP_TLS_EV_HDR_SIZE);
	ev->ts_ns = bpf_ktime_get_ns();
	ev->pid = id >> 32;
	ev->tid = (__u32)id;
	ev->ssl = ssl;
	ev->dir = dir;
	bpf_get_current_comm(ev->comm, sizeof(ev->comm));
	if (bpf_ringbuf_output(&PODTAP_TLS_MAP_EVENTS, ev, PODTAP_TLS_EV_HDR_SIZE, 0) < 0)
		count(PODTAP_TLS_CNT_DROP_FULL, 1);
	else
		count(PODTAP_TLS_CNT_EVENTS, 1);
}

/* SSL_free(SSL *ssl): node and others free an SSL object when its connection closes; the next
 * SSL_new may get the same address for another connection */
SEC("uprobe")
int PODTAP_TLS_PROG_FREE(struct pt_regs *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct tls_conn_key key = { .pid = id >> 32, .ssl = PT_REGS_PARM1(ctx) };

	if (key.ssl == 0 || !watched(key.pid))
		return 0;
	bpf_map_delete_elem(&tls_conns, &key);
	count(PODTAP_TLS_CNT_FREES, 1);
	emit_mark(PODTAP_TLS_DIR_CLOSE, id, key.ssl);
	return 0;
}

/* sched_process_exec(struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm) runs in the
 * process that has just exec'd (its only thread now, so pid == tgid; /proc/PID/exe is the new file):
 * user space looks at it at once (ProcessWatcher.check) and probes a new node or Go executable
 * before the program is far into its start, instead of at the next /proc scan up to 0.5 s later.
 * Every exec on the host is one record: the pid filter is user space's (a --k8s pod's new process is
 * not in tls_pids yet). */
SEC("raw_tp/sched_process_exec")
int PODTAP_TLS_PROG_EXEC(struct bpf_raw_tracepoint_args *ctx)
{
	emit_mark(PODTAP_TLS_DIR_EXEC, bpf_get_current_pid_tgid(), 0);
	return 0;
}

/* sched_process_exit(struct task_struct *p) runs in the exiting thread: its call and thread
 * entries go (a thread killed inside SSL_read never returns to the uretprobe) */
SEC("raw_tp/sched_process_exit")
int PODTAP_TLS_PROG_EXIT(struct bpf_raw_tracepoint_args *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();

	bpf_map_delete_elem(&tls_wr_calls, &id);
	bpf_map_delete_elem(&tls_rd_calls, &id);
	bpf_map_delete_elem(&tls_threads, &id);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
