/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-only */
/*
 * Go crypto/tls plaintext tap: uprobes on crypto/tls.(*Conn).Read and (*Conn).Write in Go
 * executables (amd64, Go >= 1.17 register ABI), one at the entry and one at EVERY RET instruction
 * of each (found by src/tls/go/ with a real x86-64 decoder). Never a uretprobe: Go moves goroutine
 * stacks, and the return address a uretprobe rewrites makes the runtime abort.
 *
 *   (*Conn).Read(c, b []byte) (n int, err error)     register ABI: RAX = c, RBX = b.ptr, RCX = b.len;
 *   (*Conn).Write(c, b []byte) (n int, err error)    returns n in RAX; R14 = g (the goroutine)
 *
 *   Read entry --- (pid, g) -> { c, b.ptr, b.len, socket 4-tuple, role }   tuple from c's fd (below)
 *   Read RET ----- (pid, g) found: n = RAX; n > 0: emit n bytes of b.ptr
 *   Write entry -- emit b.len bytes of b.ptr at once (why not at the RET: see the program)
 *   records in the tls_abi.h layout, tap = TLS_TAP_GO, ssl = c
 *
 * Matched per goroutine, not per thread: a Read that blocks parks its goroutine, which may resume on
 * another OS thread; g (R14) stays the same. The call maps are LRU (a goroutine that never returns,
 * a process killed mid-call) and user space deletes a process's entries when it exits. Only Read
 * has RET probes (src/tls/go/inspect.ts finds Write's too, which the decoder check covers).
 *
 * The socket: c.conn (net.Conn: itab, data) -> *net.TCPConn -> conn.fd (*netFD) -> pfd.Sysfd, with
 * the offsets of the binary's Go version in the uprobe's BPF cookie (one byte each, see
 * src/tls/go/offsets.ts); then fd -> current->files->fdt->fd[fd] -> file->private_data (struct
 * socket, checked by its back pointer socket->file == file, and SOCK_STREAM) -> sk -> 4-tuple, read
 * with CO-RE. c.isClient (cookie byte 5) gives the record's role: the Go tap never guesses who is
 * the client (a Go HTTP/2 server writes its SETTINGS before it reads the client's preface). No kprobe, no fentry: uprobes only (this kernel has neither of the others).
 *
 * License: bpf_probe_read_kernel/user are GPL-only; see bpf/tls_tap.c.
 */
#include <linux/bpf.h>
#include <linux/ptrace.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

#include "tls_abi.h"
#include "tls_common.h"

#if !defined(__TARGET_ARCH_x86)
#error "bpf/go_tls.c reads the Go amd64 register ABI: build it with -D__TARGET_ARCH_x86"
#endif

/* Go ABIInternal on amd64 (uapi struct pt_regs names) */
#define GO_ARG1(ctx) ((ctx)->rax)
#define GO_ARG2(ctx) ((ctx)->rbx)
#define GO_ARG3(ctx) ((ctx)->rcx)
#define GO_RET1(ctx) ((ctx)->rax)
#define GO_G(ctx) ((ctx)->r14)

#define SOCK_STREAM 1

/* --- kernel structs for fd -> socket (CO-RE, only the fields read) --- */

struct file {
	void *private_data;
} __attribute__((preserve_access_index));

struct fdtable {
	unsigned int max_fds;
	struct file **fd;
} __attribute__((preserve_access_index));

struct files_struct {
	struct fdtable *fdt;
} __attribute__((preserve_access_index));

struct task_struct {
	struct files_struct *files;
} __attribute__((preserve_access_index));

struct socket {
	short type;
	struct file *file;
	struct sock *sk;
} __attribute__((preserve_access_index));

/* --- maps --- */

struct go_call_key {
	__u32 pid;
	__u32 pad;
	__u64 g;
};

struct go_call {
	__u64 conn;
	__u64 buf;
	__u64 len;
	struct tls_tuple t;
	__u8 role;
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, PODTAP_TLS_RINGBUF_BYTES);
} PODTAP_TLS_GO_MAP_EVENTS SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PODTAP_TLS_CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} PODTAP_TLS_GO_MAP_COUNTERS SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} PODTAP_TLS_GO_MAP_CONFIG SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PODTAP_TLS_PIDS_MAX);
	__type(key, __u32);
	__type(value, __u8);
} PODTAP_TLS_GO_MAP_PIDS SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, PODTAP_TLS_CALLS_MAX);
	__type(key, struct go_call_key);
	__type(value, struct go_call);
} PODTAP_TLS_GO_MAP_RD_CALLS SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct go_call);
} go_wr_scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tls_event);
} go_tls_scratch SEC(".maps");

/* --- the socket of a *tls.Conn --- */

/* one byte of the cookie: offset i of src/tls/go/offsets.ts offsetsCookie */
static __always_inline __u64 cookie_off(__u64 cookie, int i)
{
	return (cookie >> (8 * i)) & 0xff;
}

/* c -> fd through user memory; -1 when a pointer on the way does not read */
static __always_inline long conn_fd(__u64 conn, __u64 cookie)
{
	__u64 data = 0, netfd = 0;
	long fd = -1;

	/* c.conn.data: the *net.TCPConn */
	if (bpf_probe_read_user(&data, sizeof(data), (void *)(conn + cookie_off(cookie, 0) + cookie_off(cookie, 1))) < 0 || !data)
		return -1;
	if (bpf_probe_read_user(&netfd, sizeof(netfd), (void *)(data + cookie_off(cookie, 2))) < 0 || !netfd)
		return -1;
	if (bpf_probe_read_user(&fd, sizeof(fd), (void *)(netfd + cookie_off(cookie, 3) + cookie_off(cookie, 4))) < 0)
		return -1;
	return fd;
}

/* fd of the current process -> its TCP socket's tuple; 0 when fd is not a stream socket */
static __always_inline int fd_tuple(long fd, struct tls_tuple *t)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	struct file **fds;
	struct file *f = 0;
	struct socket *sock;

	if (!fdt || fd < 0 || fd >= BPF_CORE_READ(fdt, max_fds))
		return 0;
	fds = BPF_CORE_READ(fdt, fd);
	if (bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]) < 0 || !f)
		return 0;
	sock = BPF_CORE_READ(f, private_data);
	/* private_data of a non-socket file is something else: a socket points back at its file */
	if (!sock || BPF_CORE_READ(sock, file) != f || BPF_CORE_READ(sock, type) != SOCK_STREAM)
		return 0;
	return tls_tuple_of_sock(BPF_CORE_READ(sock, sk), t);
}

/* --- probes --- */

/* the call's connection: socket tuple and role, from the *tls.Conn in RAX */
static __always_inline void go_conn(struct pt_regs *ctx, struct go_call *c)
{
	__u64 cookie = bpf_get_attach_cookie(ctx);
	__u8 is_client = 0;
	long fd;

	c->conn = GO_ARG1(ctx);
	c->buf = GO_ARG2(ctx);
	c->len = GO_ARG3(ctx);
	fd = conn_fd(c->conn, cookie);
	if (fd >= 0)
		fd_tuple(fd, &c->t);
	/* c.isClient: which side of the connection this process is, so no guessing from who spoke first */
	if (bpf_probe_read_user(&is_client, 1, (void *)(c->conn + cookie_off(cookie, 5))) == 0)
		c->role = is_client ? PODTAP_TLS_ROLE_CLIENT : PODTAP_TLS_ROLE_SERVER;
}

/* n bytes of the call's buffer into the ring */
static __always_inline void go_emit(__u64 id, struct go_call *c, __u8 dir, long n)
{
	__u32 zero = 0;
	struct tls_event *ev = bpf_map_lookup_elem(&go_tls_scratch, &zero);

	if (!ev)
		return;
	tls_event_head(ev, id, c->conn, dir, &c->t);
	ev->tap = PODTAP_TLS_TAP_GO;
	ev->role = c->role;
	if (!c->t.family)
		tls_count(&PODTAP_TLS_GO_MAP_COUNTERS, PODTAP_TLS_CNT_NO_TUPLE, 1);
	tls_emit(&PODTAP_TLS_GO_MAP_EVENTS, &PODTAP_TLS_GO_MAP_COUNTERS, ev, c->buf, n);
}

/* (*Conn).Read entry: remember the call for its RET */
SEC("uprobe")
int PODTAP_TLS_GO_PROG_READ_ENTER(struct pt_regs *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct go_call_key key = { .pid = id >> 32, .g = GO_G(ctx) };
	struct go_call c = {};

	if (!tls_watched(&PODTAP_TLS_GO_MAP_CONFIG, &PODTAP_TLS_GO_MAP_PIDS, key.pid))
		return 0;
	go_conn(ctx, &c);
	if (bpf_map_update_elem(&PODTAP_TLS_GO_MAP_RD_CALLS, &key, &c, BPF_ANY) < 0)
		tls_count(&PODTAP_TLS_GO_MAP_COUNTERS, PODTAP_TLS_CNT_CALLS_FULL, 1);
	return 0;
}

/* every RET of (*Conn).Read: n = RAX bytes were read into the buffer */
SEC("uprobe")
int PODTAP_TLS_GO_PROG_READ_RET(struct pt_regs *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct go_call_key key = { .pid = id >> 32, .g = GO_G(ctx) };
	struct go_call *c = bpf_map_lookup_elem(&PODTAP_TLS_GO_MAP_RD_CALLS, &key);
	long n = (long)GO_RET1(ctx);

	if (!c)
		return 0;
	if (n > 0 && (__u64)n <= c->len && n < 0x80000000L)
		go_emit(id, c, PODTAP_TLS_DIR_READ, n);
	else
		tls_count(&PODTAP_TLS_GO_MAP_COUNTERS, PODTAP_TLS_CNT_EMPTY_CALLS, 1);
	bpf_map_delete_elem(&PODTAP_TLS_GO_MAP_RD_CALLS, &key);
	return 0;
}

/*
 * (*Conn).Write entry: the whole buffer, copied before it is sent. Not at the RET: the peer's answer
 * can be read (and reported by a Read RET on another thread) before this goroutine reaches its RET,
 * and a response ahead of its request breaks the pairing. (*Conn).Write sends all of b or fails; a
 * failing write is reported all the same (the connection is broken then).
 */
SEC("uprobe")
int PODTAP_TLS_GO_PROG_WRITE_ENTER(struct pt_regs *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 zero = 0;
	struct go_call *c;

	if (!tls_watched(&PODTAP_TLS_GO_MAP_CONFIG, &PODTAP_TLS_GO_MAP_PIDS, id >> 32))
		return 0;
	/* the per-CPU scratch call: a go_call on the stack next to the event would not fit */
	c = bpf_map_lookup_elem(&go_wr_scratch, &zero);
	if (!c)
		return 0;
	__builtin_memset(c, 0, sizeof(*c));
	go_conn(ctx, c);
	if (c->len > 0 && c->len < 0x80000000ULL)
		go_emit(id, c, PODTAP_TLS_DIR_WRITE, c->len);
	else
		tls_count(&PODTAP_TLS_GO_MAP_COUNTERS, PODTAP_TLS_CNT_EMPTY_CALLS, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
