// libc and libbpf through koffi: the system calls live capture needs and the libbpf object loader.
//
// Conventions of these bindings:
// - Pointers are BigInt (koffi 3); NULL is null, mmap's MAP_FAILED is 2^64-1.
// - Structs passed to the kernel (sockaddr_ll, tpacket_req3, pollfd...) are plain Buffers written with
//   the layouts in af-packet.ts; koffi hands a Buffer's memory to C in place, so outputs land in it.
// - A failed libc call returns -1 and leaves errno, read at once with errno(). libbpf 1.x returns
//   -errno from int functions and NULL + errno from pointer ones.
// - Both libraries load lazily on first use, so importing this module never fails; a missing
//   libbpf.so.1 becomes CaptureError PODTAP_LIBBPF_MISSING with the install command.

import koffi, { type LibraryHandle } from 'koffi'
import { CaptureError } from '../errors.js'
import { Errno, errnoName, LIBBPF_FIX, syscallError } from './privileges.js'

type Fn<A extends unknown[], R> = ((...args: A) => R) & {
  async: (...args: [...A, (err: unknown, res: R) => void]) => void
}

export interface Libc {
  socket: Fn<[domain: number, type: number, protocol: number], number>
  setsockopt: Fn<[fd: number, level: number, name: number, value: Buffer, len: number], number>
  getsockopt: Fn<[fd: number, level: number, name: number, value: Buffer, len: Uint32Array], number>
  bind: Fn<[fd: number, addr: Buffer, len: number], number>
  sendto: Fn<[fd: number, buf: Buffer, len: number, flags: number, addr: Buffer | null, addrLen: number], number>
  mmap: Fn<[addr: bigint | null, len: number, prot: number, flags: number, fd: number, off: number], bigint | null>
  munmap: Fn<[addr: bigint, len: number], number>
  /** fds: a Buffer of struct pollfd { int fd; short events; short revents; } (8 bytes each) */
  poll: Fn<[fds: Buffer, nfds: number, timeoutMs: number], number>
  close: Fn<[fd: number], number>
  read: Fn<[fd: number, buf: Buffer, len: number], number>
  write: Fn<[fd: number, buf: Buffer, len: number], number>
  eventfd: Fn<[initval: number, flags: number], number>
  if_nametoindex: Fn<[name: string], number>
  /** fills buf (IF_NAMESIZE, 16 bytes) with the name; returns 0 (null) when there is no such interface */
  if_indextoname: Fn<[ifindex: number, buf: Buffer], number>
  strerror: Fn<[errno: number], string>
  /** ioctl with one pointer argument (SIOCETHTOOL and friends) */
  ioctlPtr(fd: number, request: number, arg: Buffer): number
}

export interface Libbpf {
  bpf_object__open_file: Fn<[path: string, opts: null], bigint | null>
  bpf_object__load: Fn<[obj: bigint], number>
  bpf_object__close: Fn<[obj: bigint], void>
  bpf_object__find_program_by_name: Fn<[obj: bigint, name: string], bigint | null>
  bpf_object__find_map_by_name: Fn<[obj: bigint, name: string], bigint | null>
  bpf_program__fd: Fn<[prog: bigint], number>
  bpf_map__fd: Fn<[map: bigint], number>
  bpf_map_update_elem: Fn<[fd: number, key: Buffer, value: Buffer, flags: number], number>
  bpf_map_lookup_elem: Fn<[fd: number, key: Buffer, value: Buffer], number>
  bpf_map_delete_elem: Fn<[fd: number, key: Buffer], number>
  bpf_map_get_next_key: Fn<[fd: number, key: Buffer | null, next: Buffer], number>
  libbpf_num_possible_cpus: Fn<[], number>
  bpf_prog_load: Fn<[type: number, name: string, license: string, insns: Buffer, count: number, opts: null], number>
  // TLS tap (src/tls/loader.ts): uprobes by symbol name, fentry programs, link teardown
  /** pid -1 = every process mapping binaryPath; returns a bpf_link or NULL + errno */
  bpf_program__attach_uprobe_opts: Fn<[prog: bigint, pid: number, binaryPath: string, funcOffset: number, opts: UprobeOpts], bigint | null>
  /** attaches by the program's SEC() (fentry/<func>); bpf_link or NULL + errno */
  bpf_program__attach: Fn<[prog: bigint], bigint | null>
  bpf_link__destroy: Fn<[link: bigint], number>
  /** before load: false keeps a program out of the kernel (one object, alternative hooks) */
  bpf_program__set_autoload: Fn<[prog: bigint, autoload: boolean], number>
  /** before load: resize a map (the TLS ring buffer) */
  bpf_map__set_max_entries: Fn<[map: bigint, maxEntries: number], number>
}

/** struct bpf_uprobe_opts of libbpf 1.x (libbpf.h); sz is its size in bytes, 40 on 64-bit. */
export interface UprobeOpts {
  sz: number
  ref_ctr_offset: number
  bpf_cookie: number
  retprobe: boolean
  /** null: funcOffset is a file offset (the Go tap places probes by offset) */
  func_name: string | null
}

let libcCache: Libc | undefined
let libbpfCache: Libbpf | undefined

export function errno(): number {
  return koffi.errno()
}

export function libc(): Libc {
  if (libcCache !== undefined) return libcCache
  const lib = koffi.load('libc.so.6')
  const ioctl = lib.func('int ioctl(int fd, unsigned long request, ...)')
  libcCache = {
    socket: lib.func('int socket(int domain, int type, int protocol)'),
    setsockopt: lib.func('int setsockopt(int fd, int level, int name, const void *value, uint32_t len)'),
    getsockopt: lib.func('int getsockopt(int fd, int level, int name, void *value, void *len)'),
    bind: lib.func('int bind(int fd, const void *addr, uint32_t len)'),
    sendto: lib.func('intptr_t sendto(int fd, const void *buf, size_t len, int flags, const void *addr, uint32_t addrLen)'),
    mmap: lib.func('void *mmap(void *addr, size_t len, int prot, int flags, int fd, int64_t off)'),
    munmap: lib.func('int munmap(void *addr, size_t len)'),
    poll: lib.func('int poll(void *fds, unsigned long nfds, int timeout)'),
    close: lib.func('int close(int fd)'),
    read: lib.func('intptr_t read(int fd, void *buf, size_t len)'),
    write: lib.func('intptr_t write(int fd, const void *buf, size_t len)'),
    eventfd: lib.func('int eventfd(unsigned int initval, int flags)'),
    if_nametoindex: lib.func('unsigned int if_nametoindex(const char *name)'),
    if_indextoname: lib.func('uintptr_t if_indextoname(unsigned int ifindex, void *name)'),
    strerror: lib.func('const char *strerror(int errnum)'),
    ioctlPtr: (fd: number, request: number, arg: Buffer) => ioctl(fd, request, 'void *', arg) as number,
  } as unknown as Libc
  return libcCache
}

/** libbpf's log lines of the last open/load, newest last (the verifier log lands here on failure). */
const LOG_KEEP = 200
const logLines: string[] = []
let printHook: bigint | undefined

export function libbpfLog(): readonly string[] {
  return logLines
}

export function clearLibbpfLog(): void {
  logLines.length = 0
}

export function libbpf(): Libbpf {
  if (libbpfCache !== undefined) return libbpfCache
  let lib: LibraryHandle
  try {
    lib = koffi.load('libbpf.so.1')
  } catch (e) {
    throw new CaptureError('PODTAP_LIBBPF_MISSING', `libbpf.so.1 could not be loaded: ${LIBBPF_FIX}`, 1, { cause: e })
  }
  // struct bpf_uprobe_opts (libbpf.h): size_t sz; size_t ref_ctr_offset; __u64 bpf_cookie;
  // bool retprobe; const char *func_name; (40 bytes on 64-bit, func_name at 32)
  koffi.struct('podtap_bpf_uprobe_opts', {
    sz: 'size_t',
    ref_ctr_offset: 'size_t',
    bpf_cookie: 'uint64_t',
    retprobe: 'bool',
    func_name: 'const char *',
  })
  const b = {
    bpf_object__open_file: lib.func('void *bpf_object__open_file(const char *path, const void *opts)'),
    bpf_object__load: lib.func('int bpf_object__load(void *obj)'),
    bpf_object__close: lib.func('void bpf_object__close(void *obj)'),
    bpf_object__find_program_by_name: lib.func('void *bpf_object__find_program_by_name(void *obj, const char *name)'),
    bpf_object__find_map_by_name: lib.func('void *bpf_object__find_map_by_name(void *obj, const char *name)'),
    bpf_program__fd: lib.func('int bpf_program__fd(void *prog)'),
    bpf_map__fd: lib.func('int bpf_map__fd(void *map)'),
    bpf_map_update_elem: lib.func('int bpf_map_update_elem(int fd, const void *key, const void *value, uint64_t flags)'),
    bpf_map_lookup_elem: lib.func('int bpf_map_lookup_elem(int fd, const void *key, void *value)'),
    bpf_map_delete_elem: lib.func('int bpf_map_delete_elem(int fd, const void *key)'),
    bpf_map_get_next_key: lib.func('int bpf_map_get_next_key(int fd, const void *key, void *next)'),
    libbpf_num_possible_cpus: lib.func('int libbpf_num_possible_cpus(void)'),
    bpf_prog_load: lib.func(
      'int bpf_prog_load(int type, const char *name, const char *license, const void *insns, size_t count, const void *opts)',
    ),
    bpf_program__attach_uprobe_opts: lib.func(
      'void *bpf_program__attach_uprobe_opts(void *prog, int pid, const char *binary_path, size_t func_offset, const podtap_bpf_uprobe_opts *opts)',
    ),
    bpf_program__attach: lib.func('void *bpf_program__attach(void *prog)'),
    bpf_link__destroy: lib.func('int bpf_link__destroy(void *link)'),
    bpf_program__set_autoload: lib.func('int bpf_program__set_autoload(void *prog, bool autoload)'),
    bpf_map__set_max_entries: lib.func('int bpf_map__set_max_entries(void *map, uint32_t max_entries)'),
  } as unknown as Libbpf
  installPrintHook(lib)
  libbpfCache = b
  return b
}

/**
 * libbpf prints warnings and the verifier log to stderr by default. Route them into logLines
 * instead: the callback gets (level, fmt, va_list) and formats with libc's vsnprintf (a va_list is
 * passed as a pointer on x86-64 and, being a >16-byte struct, by reference on arm64 too).
 */
function installPrintHook(lib: LibraryHandle): void {
  if (printHook !== undefined) return
  const c = koffi.load('libc.so.6')
  const vsnprintf = c.func('int vsnprintf(void *buf, size_t n, const char *fmt, void *ap)')
  const PrintFn = koffi.proto('int podtap_libbpf_print_fn(int level, const char *fmt, void *ap)')
  const setPrint = lib.func('void *libbpf_set_print(void *fn)')
  // the verifier log comes as ONE message (up to libbpf's log buffer, 16 MiB at most) and a va_list
  // can be formatted only once: a 4 KiB buffer cut the line that says why. Pages of this buffer are
  // only made resident when a message is that long.
  const buf = Buffer.allocUnsafeSlow(16 << 20)
  // every level (LIBBPF_WARN 0, INFO 1, DEBUG 2) is kept; errors show the tail
  printHook = koffi.register((_level: number, fmt: string, ap: bigint) => {
    try {
      const n = vsnprintf(buf, buf.length, fmt, ap) as number
      const text = buf.toString('utf8', 0, Math.max(0, Math.min(n, buf.length - 1)))
      for (const line of text.split('\n')) {
        if (line === '') continue
        logLines.push(line)
        if (logLines.length > LOG_KEEP) logLines.shift()
      }
    } catch {
      // a log line we cannot format is not worth failing a load for
    }
    return 0
  }, koffi.pointer(PrintFn))
  setPrint(printHook)
}

/** mmap's MAP_FAILED ((void *)-1) as koffi returns it. */
export const MAP_FAILED = 0xffff_ffff_ffff_ffffn

/** Throws the CaptureError for a libc call that returned < 0, reading errno. */
export function check(ret: number, what: string, code?: string): number {
  if (ret < 0) throw syscallError(what, errno(), code)
  return ret
}

// ---------------------------------------------------------------------------------------------------
// The filter object

export interface LoadedFilter {
  /** bpf_object pointer, closed by close() */
  readonly obj: bigint
  readonly progFd: number
  readonly configFd: number
  readonly portsFd: number
  readonly countersFd: number
  /** the interface allow-list (PODTAP_CFG_IFINDEXES); -1 in an object without it */
  readonly ifindexesFd: number
  readonly possibleCpus: number
  close(): void
}

/**
 * Opens and loads the socket filter object and finds its program and maps by the names in
 * bpf-abi.ts. Errors: object file missing or unreadable (PODTAP_BPF_OBJECT), load refused
 * (PODTAP_PERMISSION for EPERM, else PODTAP_BPF_LOAD with libbpf's last log lines, the verifier's
 * complaint among them).
 */
export function loadFilter(path: string, names: { prog: string; config: string; ports: string; counters: string; ifindexes?: string }): LoadedFilter {
  const b = libbpf()
  clearLibbpfLog()
  const obj = b.bpf_object__open_file(path, null)
  if (obj === null || obj === 0n) {
    const e = errno()
    throw new CaptureError(
      'PODTAP_BPF_OBJECT',
      `cannot open the BPF object ${path} (errno ${e}): reinstall podtap, or rebuild it with \`npm run build:bpf\`` + logTail(),
      1,
    )
  }
  let ok = false
  try {
    const rc = b.bpf_object__load(obj)
    if (rc < 0) {
      const err = -rc
      // EPERM: no CAP_BPF. EACCES is the verifier refusing the program, not a permission problem
      if (err === Errno.EPERM) throw syscallError('loading the BPF socket filter', err)
      throw new CaptureError('PODTAP_BPF_LOAD', `the kernel refused the BPF socket filter (${errnoName(err)})` + logTail(), 1)
    }
    const prog = b.bpf_object__find_program_by_name(obj, names.prog)
    if (prog === null) throw new CaptureError('PODTAP_BPF_OBJECT', `${path} has no program ${names.prog}: rebuild it`, 1)
    const mapFd = (name: string): number => {
      const m = b.bpf_object__find_map_by_name(obj, name)
      if (m === null) throw new CaptureError('PODTAP_BPF_OBJECT', `${path} has no map ${name}: rebuild it`, 1)
      return b.bpf_map__fd(m)
    }
    const loaded: LoadedFilter = {
      obj,
      progFd: b.bpf_program__fd(prog),
      configFd: mapFd(names.config),
      portsFd: mapFd(names.ports),
      countersFd: mapFd(names.counters),
      ifindexesFd: names.ifindexes === undefined ? -1 : mapFd(names.ifindexes),
      possibleCpus: Math.max(1, b.libbpf_num_possible_cpus()),
      close: once(() => b.bpf_object__close(obj)),
    }
    ok = true
    return loaded
  } finally {
    if (!ok) b.bpf_object__close(obj)
  }
}

function logTail(): string {
  const tail = logLines.slice(-20)
  return tail.length === 0 ? '' : '\nlibbpf said:\n  ' + tail.join('\n  ')
}

function once(f: () => void): () => void {
  let done = false
  return () => {
    if (done) return
    done = true
    f()
  }
}

/**
 * Loads the 2-instruction socket filter `r0 = 0; exit` straight through bpf_prog_load: the cheapest
 * proof that this process may load BPF programs. Throws the same CaptureErrors loadFilter would.
 */
export function probeBpf(): void {
  const b = libbpf()
  // BPF_ALU64|BPF_MOV|BPF_K r0 = 0 (0xb7); BPF_JMP|BPF_EXIT (0x95)
  const insns = Buffer.from([0xb7, 0, 0, 0, 0, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0])
  const BPF_PROG_TYPE_SOCKET_FILTER = 1
  const fd = b.bpf_prog_load(BPF_PROG_TYPE_SOCKET_FILTER, 'podtap_probe', 'GPL', insns, 2, null)
  if (fd < 0) throw syscallError('loading a BPF socket filter (bpf syscall)', -fd, 'PODTAP_NO_BPF')
  libc().close(fd)
}
