// The TLS plaintext tap: bpf/tls_tap.bpf.o loaded through libbpf, its uprobes attached to libssl's
// SSL_write/SSL_read (+ _ex), its fentry programs to tcp_sendmsg/tcp_recvmsg, and its ring buffer
// read in this process. What comes out is the plaintext of every SSL_write and SSL_read of every
// process using that libssl (or of the pids given), in call order per thread, with the socket's
// 4-tuple. See bpf/tls_tap.c for how the kernel half works and bpf/tls_abi.h for the record layout.
//
//   const tap = openTlsTap({ onChunk: (c) => conns.feed(c) })   // throws a CaptureError saying the fix
//   ...
//   await tap.close()                                          // detaches, drains, frees everything
//
// Wiring into the pipeline (what a consumer does with a chunk):
//   - the connection is (pid, ssl): one SSL object is one TLS session on one socket. local/remote
//     give the 4-tuple, or null while the tap has not seen the socket under an SSL_* call (the
//     handshake is not tapped; the first SSL_write/SSL_read of a session normally does a send/recv
//     and so learns it; later calls that libssl answers from its own buffer reuse it).
//   - dir 'sent' = this process wrote the bytes, 'received' = it read them. Client or server is a
//     matter of content (who sends the request), as for captured packets.
//   - chunks of one (pid, ssl) and dir arrive in order; a call longer than CHUNK_BYTES arrives as
//     several chunks in order. data.length < len marks a gap of len - data.length bytes (the copy
//     budget per call, TLS_CHUNKS_MAX x TLS_CHUNK_BYTES, was exceeded, or the user page could not be
//     read): feed the parser a gap of that size.
//   - data is BORROWED: a view into the ring buffer, valid only during onChunk. Copy what you keep.
//
// Time: tsUs is wall-clock µs. The kernel stamps with bpf_ktime_get_ns (CLOCK_MONOTONIC); one offset
// to Date.now() is taken at open, so a wall clock step (NTP) after open is not followed.

import { existsSync, statSync } from 'node:fs'
import { CaptureError } from '../errors.js'
import { ipv4String, ipv6String } from '../capture/decode.js'
import { clearLibbpfLog, errno, libbpf, libbpfLog, type Libbpf } from '../capture/libbpf.js'
import { Cap, effectiveCapabilities, errnoName, hasCap, Errno } from '../capture/privileges.js'
import { TLS_ABI, TLS_COUNTER_FIELDS, tlsObjectPath, type TlsKernelCounters } from './abi.js'
import { findLibssl } from './libssl.js'
import { RingbufReader } from './ring.js'

export interface Endpoint {
  ip: string
  port: number
}

/** One piece of plaintext one SSL_write or SSL_read moved. */
export interface TlsChunk {
  /** wall clock, µs since the epoch, when the call returned */
  tsUs: number
  pid: number
  tid: number
  /** the thread's name (comm), at most 15 characters */
  comm: string
  /** which tap read it (record byte EV_OFF_TAP); absent in chunks built by hand */
  tap?: 'openssl' | 'go'
  /** the tapped process's side of the TLS connection, when the tap knows it (Go: tls.Conn.isClient) */
  role?: 'client' | 'server'
  /** the SSL * pointer (Go tap: the *tls.Conn): with pid, the connection's identity */
  ssl: bigint
  /** 'closed': SSL_free, the connection (pid, ssl) ended (len 0, no data) */
  dir: 'sent' | 'received' | 'closed'
  /** the TCP socket's addresses; null when the socket was not seen yet (see the file comment) */
  local: Endpoint | null
  remote: Endpoint | null
  /** plaintext bytes this chunk stands for */
  len: number
  /** the bytes; shorter than len only for a gap. BORROWED: valid only during onChunk */
  data: Buffer
}

export interface TlsTapOptions {
  /** called for every chunk, synchronously, in ring order; data is borrowed */
  onChunk: (c: TlsChunk) => void
  /**
   * called with the pid of every process on the host that has just exec'd (raw_tp
   * sched_process_exec), in ring order: ProcessWatcher.check(pid) looks at it at once
   */
  onExec?: (pid: number) => void
  /** libssl files to attach to (default: findLibssl(), the usual Debian/RHEL/Alpine paths) */
  libssl?: readonly string[]
  /** only these processes (tgids); default every process using the libssl files */
  pids?: readonly number[]
  /** the object to load (default bpf/tls_tap.bpf.o) */
  objectPath?: string
  /** longest park in poll(2) between drains (default 100 ms) */
  pollTimeoutMs?: number
  /**
   * ring buffer size in bytes, a power of 2 of at least 64 KiB (default TLS_ABI.RINGBUF_BYTES, 8 MiB).
   * Measured: 8 MiB drops records at ~200 MB/s of plaintext on 2 busy cores; size for the burst the
   * reader may lag behind.
   */
  ringBytes?: number
  /** which kernel hook finds the socket (default 'auto': raw_tp, else fentry) */
  socketHook?: SocketHook | 'auto'
}

export interface AttachedProbe {
  binary: string
  symbol: string
  kind: 'uprobe' | 'uretprobe' | 'raw_tp' | 'fentry'
}

/** What tapping one more binary found (TlsTap.attachBinary). */
export interface BinaryAttach {
  binary: string
  /** probes attached now, [] when the binary was already tapped */
  probes: readonly AttachedProbe[]
}

export interface TlsTapCounters extends TlsKernelCounters {
  /** chunks handed to onChunk, and their data bytes */
  delivered: number
  deliveredBytes: number
  /** records too short for their header or claiming more data than they hold (never expected) */
  malformed: number
  /** onChunk threw (the tap keeps going) */
  handlerErrors: number
}

export interface TlsTap {
  /** the socket hook in use */
  readonly socketHook: SocketHook
  /** what was attached, for logs and tests */
  readonly probes: readonly AttachedProbe[]
  /** libssl files tapped */
  readonly libssl: readonly string[]
  /**
   * Attaches the same SSL_* probes to one more file exporting them (an executable with OpenSSL built
   * in, such as node's). Uprobes attach to the file's inode: every process running it is tapped,
   * those started later too. Attaching a file already tapped (same dev:inode) does nothing.
   * Throws CaptureError PODTAP_TLS_ATTACH when SSL_write or SSL_read cannot be probed there.
   */
  attachBinary(path: string): BinaryAttach
  /** the file (by dev:inode) has the SSL_* probes */
  tapped(path: string): boolean
  /**
   * Entries of the per-thread kernel tables now: SSL_* calls in progress (tls_wr_calls + tls_rd_calls)
   * and threads known to the memory-BIO correlation (tls_threads). A thread that exits, even inside
   * a call, leaves none behind (raw_tp sched_process_exit). Walks the maps: for tests and diagnostics.
   */
  inFlight(): { calls: number; threads: number }
  /** Kernel counters (summed over CPUs) and the reader's own. */
  counters(): TlsTapCounters
  /** Hands out what is in the ring now (also done by the read loop); returns the chunks delivered. */
  drain(): number
  /** Detaches every probe, delivers what is left in the ring, unmaps it and closes the object. Idempotent. */
  close(): Promise<void>
}

export const TLS_PERMISSION_FIX =
  'run as root, or grant CAP_BPF and CAP_PERFMON (CAP_SYS_ADMIN on kernels before 5.8): uprobes and fentry programs need both'

export const TLS_BTF_FIX =
  'the TLS tap needs a kernel with BTF (CONFIG_DEBUG_INFO_BTF=y, /sys/kernel/btf/vmlinux) and BPF trampolines ' +
  '(fentry, x86-64 or arm64, Linux 5.5+; every major distribution kernel since 2021 has both)'

/** uprobe symbols: [symbol, entry program, return program, required] */
const UPROBES: readonly (readonly [string, string, string, boolean])[] = [
  ['SSL_write', TLS_ABI.PROG_WRITE_ENTER, TLS_ABI.PROG_WRITE_RET, true],
  ['SSL_read', TLS_ABI.PROG_READ_ENTER, TLS_ABI.PROG_READ_RET, true],
  // OpenSSL 1.1.1+; absent from 1.1.0
  ['SSL_write_ex', TLS_ABI.PROG_WRITE_ENTER, TLS_ABI.PROG_WRITE_EX_RET, false],
  ['SSL_read_ex', TLS_ABI.PROG_READ_ENTER, TLS_ABI.PROG_READ_EX_RET, false],
]

/** entry-only uprobes: [symbol, program] (optional: a build without them loses only close records) */
const ENTRY_UPROBES: readonly (readonly [string, string])[] = [['SSL_free', TLS_ABI.PROG_FREE]]

/**
 * How the tap learns the socket under an SSL_* call (bpf/tls_tap.c, end of file):
 *   'raw_tp'  raw tracepoints sock:sock_send_length / sock_recv_length: Linux 6.3+, no trampolines
 *   'fentry'  fentry on tcp_sendmsg / tcp_recvmsg: Linux 5.5+ with BPF trampolines
 * 'auto' (default) tries raw_tp, then fentry when the tracepoints do not exist.
 */
export type SocketHook = 'raw_tp' | 'fentry'

const SOCKET_HOOKS: Record<SocketHook, readonly (readonly [string, string])[]> = {
  raw_tp: [
    ['sock:sock_send_length', TLS_ABI.PROG_SOCK_SEND],
    ['sock:sock_recv_length', TLS_ABI.PROG_SOCK_RECV],
  ],
  fentry: [
    ['tcp_sendmsg', TLS_ABI.PROG_TCP_SEND],
    ['tcp_recvmsg', TLS_ABI.PROG_TCP_RECV],
  ],
}

/** thrown inside openWith when the hook is missing from this kernel, so 'auto' tries the next */
class HookMissing extends Error {
  constructor(readonly inner: CaptureError) {
    super(inner.message)
  }
}

/** Checks before loading anything, each with its fix. */
function preflight(libsslPaths: readonly string[]): void {
  if (libsslPaths.length === 0) {
    throw new CaptureError(
      'PODTAP_TLS_NO_LIBSSL',
      'no libssl.so.3 or libssl.so.1.1 found in /usr/lib/<arch>-linux-gnu, /usr/lib64, /usr/lib, /lib: ' +
        'install OpenSSL (`apt-get install libssl3`), or pass the library path (a container\'s copy is under /proc/<pid>/root/)',
      1,
    )
  }
  for (const p of libsslPaths) {
    if (!existsSync(p)) throw new CaptureError('PODTAP_TLS_NO_LIBSSL', `libssl ${p} does not exist: pass an existing path`, 1)
  }
  checkTapPrivileges()
}

/** CAP_BPF + CAP_PERFMON (or CAP_SYS_ADMIN) and kernel BTF, each with its fix; for every TLS tap. */
export function checkTapPrivileges(): void {
  let capEff = 0n
  try {
    capEff = effectiveCapabilities()
  } catch {
    // no /proc: the load below reports what fails
  }
  const sysAdmin = hasCap(capEff, Cap.SYS_ADMIN)
  const missing: string[] = []
  if (!hasCap(capEff, Cap.BPF) && !sysAdmin) missing.push('CAP_BPF')
  if (!hasCap(capEff, Cap.PERFMON) && !sysAdmin) missing.push('CAP_PERFMON')
  if (missing.length > 0) throw new CaptureError('PODTAP_PERMISSION', `TLS tap: missing ${missing.join(', ')}: ${TLS_PERMISSION_FIX}`, 1)
  if (!existsSync('/sys/kernel/btf/vmlinux')) throw new CaptureError('PODTAP_TLS_NO_BTF', `no /sys/kernel/btf/vmlinux: ${TLS_BTF_FIX}`, 1)
}

export function logTail(): string {
  const tail = libbpfLog().slice(-15)
  return tail.length === 0 ? '' : '\nlibbpf said:\n  ' + tail.join('\n  ')
}

export function attachError(what: string, err: number): CaptureError {
  if (err === Errno.EPERM || err === Errno.EACCES) {
    return new CaptureError('PODTAP_PERMISSION', `${what}: permission denied (${errnoName(err)}): ${TLS_PERMISSION_FIX}`, 1)
  }
  if (err === Errno.ENOTSUP || err === 524 /* ENOTSUPP, kernel-internal */ || err === Errno.EINVAL || err === Errno.ENOSYS) {
    return new CaptureError('PODTAP_TLS_NO_BTF', `${what} failed (${errnoName(err)}): ${TLS_BTF_FIX}` + logTail(), 1)
  }
  return new CaptureError('PODTAP_TLS_ATTACH', `${what} failed (${errnoName(err)})` + logTail(), 1)
}

/**
 * Loads the tap and starts reading. Throws CaptureError: PODTAP_TLS_NO_LIBSSL, PODTAP_PERMISSION,
 * PODTAP_TLS_NO_BTF, PODTAP_BPF_OBJECT, PODTAP_BPF_LOAD, PODTAP_TLS_ATTACH; nothing stays loaded
 * after a throw.
 */
export function openTlsTap(opts: TlsTapOptions): TlsTap {
  const libssl = opts.libssl ?? findLibssl()
  preflight(libssl)
  const want = opts.socketHook ?? 'auto'
  const hooks: SocketHook[] = want === 'auto' ? ['raw_tp', 'fentry'] : [want]
  const missing: CaptureError[] = []
  for (const hook of hooks) {
    try {
      return openWith(opts, libssl, hook)
    } catch (e) {
      if (!(e instanceof HookMissing)) throw e
      missing.push(e.inner)
    }
  }
  throw new CaptureError(
    'PODTAP_TLS_NO_BTF',
    `no socket hook works on this kernel: ${TLS_BTF_FIX}\n` + missing.map((m) => '  ' + m.message).join('\n'),
    1,
  )
}

function openWith(opts: TlsTapOptions, libssl: readonly string[], hook: SocketHook): TlsTap {
  const b = libbpf()
  const path = opts.objectPath ?? tlsObjectPath()
  clearLibbpfLog()
  const obj = b.bpf_object__open_file(path, null)
  if (obj === null || obj === 0n) {
    throw new CaptureError('PODTAP_BPF_OBJECT', `cannot open the BPF object ${path} (${errnoName(errno())}): rebuild it with \`sh scripts/build-bpf-tls.sh\`` + logTail(), 1)
  }
  const links: bigint[] = []
  let reader: RingbufReader | null = null
  let ok = false
  try {
    const prog = (name: string): bigint => {
      const p = b.bpf_object__find_program_by_name(obj, name)
      if (p === null) throw new CaptureError('PODTAP_BPF_OBJECT', `${path} has no program ${name}: rebuild it`, 1)
      return p
    }
    // only this hook's pair goes into the kernel: the other may not load here (fentry without trampolines)
    for (const [h, pairs] of Object.entries(SOCKET_HOOKS)) {
      if (h !== hook) for (const [, name] of pairs) b.bpf_program__set_autoload(prog(name), false)
    }
    const ringBytes = opts.ringBytes ?? TLS_ABI.RINGBUF_BYTES
    if (ringBytes !== TLS_ABI.RINGBUF_BYTES) {
      if (!Number.isInteger(ringBytes) || ringBytes < 65536 || ringBytes > 2 ** 30 || (ringBytes & (ringBytes - 1)) !== 0) {
        throw new CaptureError('PODTAP_USAGE', `TLS ring size ${ringBytes} must be a power of 2 between 64 KiB and 1 GiB`, 2)
      }
      const m = b.bpf_object__find_map_by_name(obj, TLS_ABI.MAP_EVENTS)
      if (m === null) throw new CaptureError('PODTAP_BPF_OBJECT', `${path} has no map ${TLS_ABI.MAP_EVENTS}: rebuild it`, 1)
      b.bpf_map__set_max_entries(m, ringBytes)
    }
    const rc = b.bpf_object__load(obj)
    if (rc < 0) {
      const err = -rc
      // root (preflight passed) and still EPERM/ENOTSUPP on an fentry program: no trampolines
      if (hook === 'fentry' && (err === Errno.EPERM || err === Errno.ENOTSUP || err === 524)) {
        throw new HookMissing(new CaptureError('PODTAP_TLS_NO_BTF', `fentry programs do not load (${errnoName(err)})`, 1))
      }
      if (err === Errno.EPERM) throw attachError('loading the TLS tap', err)
      throw new CaptureError('PODTAP_BPF_LOAD', `the kernel refused the TLS tap (${errnoName(err)})` + logTail(), 1)
    }
    const mapFd = (name: string): number => {
      const m = b.bpf_object__find_map_by_name(obj, name)
      if (m === null) throw new CaptureError('PODTAP_BPF_OBJECT', `${path} has no map ${name}: rebuild it`, 1)
      return b.bpf_map__fd(m)
    }
    const countersFd = mapFd(TLS_ABI.MAP_COUNTERS)
    const cpus = Math.max(1, b.libbpf_num_possible_cpus())
    if (opts.pids !== undefined) setPids(b, mapFd(TLS_ABI.MAP_CONFIG), mapFd(TLS_ABI.MAP_PIDS), opts.pids)

    const probes: AttachedProbe[] = []
    // socket hooks first: a uprobe firing before them would only miss a tuple, but a missing
    // tracepoint is the likelier failure and cheaper to find before the uprobes are in
    for (const [fn, name] of SOCKET_HOOKS[hook]) {
      const link = b.bpf_program__attach(prog(name))
      if (link === null || link === 0n) {
        const err = errno()
        if (hook === 'raw_tp' && err === Errno.ENOENT) {
          throw new HookMissing(new CaptureError('PODTAP_TLS_NO_BTF', `tracepoint ${fn} not in this kernel (Linux 6.3+)`, 1))
        }
        throw attachError(`attaching ${hook} to ${fn}`, err)
      }
      links.push(link)
      probes.push({ binary: 'vmlinux', symbol: fn, kind: hook })
    }
    // thread exits clean the per-thread maps (a thread killed inside SSL_read never returns)
    const exit = b.bpf_program__attach(prog(TLS_ABI.PROG_EXIT))
    if (exit === null || exit === 0n) throw attachError('attaching raw_tp to sched_process_exit', errno())
    links.push(exit)
    probes.push({ binary: 'vmlinux', symbol: 'sched_process_exit', kind: 'raw_tp' })
    // execs reported at once (opts.onExec); without them the callers' /proc scans still find new processes
    if (opts.onExec !== undefined) {
      const exec = b.bpf_program__attach(prog(TLS_ABI.PROG_EXEC))
      if (exec !== null && exec !== 0n) {
        links.push(exec)
        probes.push({ binary: 'vmlinux', symbol: 'sched_process_exec', kind: 'raw_tp' })
      }
    }
    for (const lib of libssl) {
      const got = attachSslProbes(b, prog, lib)
      links.push(...got.links)
      probes.push(...got.probes)
    }
    reader = new RingbufReader(mapFd(TLS_ABI.MAP_EVENTS), ringBytes)
    const tap = new Tap(b, obj, links, reader, countersFd, cpus, hook, probes, libssl, opts)
    ok = true
    return tap
  } finally {
    if (!ok) {
      for (const l of links) b.bpf_link__destroy(l)
      if (reader !== null) void reader.close().finally(() => b.bpf_object__close(obj))
      else b.bpf_object__close(obj)
    }
  }
}

/**
 * The SSL_* probes on one file: entry and return of every UPROBES symbol (a half pair is undone),
 * the ENTRY_UPROBES entries. On a throw nothing of this file stays attached.
 */
function attachSslProbes(b: Libbpf, prog: (name: string) => bigint, lib: string): { links: bigint[]; probes: AttachedProbe[] } {
  const links: bigint[] = []
  const probes: AttachedProbe[] = []
  const attach = (name: string, sym: string, retprobe: boolean): bigint | null => {
    const link = b.bpf_program__attach_uprobe_opts(prog(name), -1, lib, 0, {
      sz: 40, ref_ctr_offset: 0, bpf_cookie: 0, retprobe, func_name: sym,
    })
    return link === null || link === 0n ? null : link
  }
  try {
    for (const [sym, enter, ret, required] of UPROBES) {
      const pair: bigint[] = []
      for (const [name, retprobe] of [[enter, false], [ret, true]] as const) {
        const link = attach(name, sym, retprobe)
        if (link === null) {
          const err = errno()
          if (!required && err === Errno.ENOENT) break // symbol not in this OpenSSL version
          throw attachError(`attaching ${retprobe ? 'uretprobe' : 'uprobe'} to ${sym} in ${lib}`, err)
        }
        pair.push(link)
      }
      // an entry probe without its return probe would fill the call table: drop a half pair
      if (pair.length === 1) b.bpf_link__destroy(pair[0]!)
      if (pair.length === 2) {
        links.push(...pair)
        probes.push({ binary: lib, symbol: sym, kind: 'uprobe' }, { binary: lib, symbol: sym, kind: 'uretprobe' })
      }
    }
    for (const [sym, name] of ENTRY_UPROBES) {
      const link = attach(name, sym, false)
      if (link === null) continue
      links.push(link)
      probes.push({ binary: lib, symbol: sym, kind: 'uprobe' })
    }
    return { links, probes }
  } catch (e) {
    for (const l of links) b.bpf_link__destroy(l)
    throw e
  }
}

/** dev:inode of a file (uprobes attach to inodes), or the path when it cannot be stat'ed */
function fileKey(path: string): string {
  try {
    const st = statSync(path)
    return `${st.dev}:${st.ino}`
  } catch {
    return path
  }
}

function setPids(b: Libbpf, configFd: number, pidsFd: number, pids: readonly number[]): void {
  if (pids.length > TLS_ABI.PIDS_MAX) throw new CaptureError('PODTAP_TLS_PIDS', `at most ${TLS_ABI.PIDS_MAX} pids, got ${pids.length}`, 2)
  const key = Buffer.alloc(4)
  const one = Buffer.from([1])
  for (const pid of pids) {
    key.writeUInt32LE(pid >>> 0)
    const rc = b.bpf_map_update_elem(pidsFd, key, one, 0)
    if (rc < 0) throw new CaptureError('PODTAP_TLS_PIDS', `pid allow-list update failed (${errnoName(-rc)})`, 1)
  }
  const cfg = Buffer.alloc(4)
  cfg.writeUInt32LE(TLS_ABI.CFG_PIDS)
  const rc = b.bpf_map_update_elem(configFd, Buffer.alloc(4), cfg, 0)
  if (rc < 0) throw new CaptureError('PODTAP_TLS_PIDS', `tap config update failed (${errnoName(-rc)})`, 1)
}

/**
 * The user-space half every TLS tap shares: the ring read loop (records decoded to TlsChunks and
 * handed to onChunk), the counters, and the orderly close. The OpenSSL tap (Tap below) and the Go
 * tap (go/tap.ts) extend it with how they attach.
 */
export class TapReader {
  private closing: Promise<void> | null = null
  private readonly offsetUs: number
  private readonly user = { delivered: 0, deliveredBytes: 0, malformed: 0, handlerErrors: 0 }
  private readonly onRecord: (rec: Buffer) => void
  private readonly loop: Promise<void>

  constructor(
    protected readonly b: Libbpf,
    protected readonly obj: bigint,
    protected readonly links: bigint[],
    private readonly reader: RingbufReader,
    private readonly countersFd: number,
    private readonly cpus: number,
    private readonly opts: Pick<TlsTapOptions, 'onChunk' | 'onExec' | 'pollTimeoutMs'>,
  ) {
    // bpf_ktime_get_ns and process.hrtime are both CLOCK_MONOTONIC
    this.offsetUs = Date.now() * 1000 - Number(process.hrtime.bigint() / 1000n)
    this.onRecord = (rec) => this.record(rec)
    // started after the subclass constructor has run (tick() may use its fields)
    this.loop = Promise.resolve().then(() => this.run())
  }

  protected get isClosing(): boolean {
    return this.closing !== null
  }

  private async run(): Promise<void> {
    const timeoutMs = this.opts.pollTimeoutMs ?? 100
    while (this.closing === null) {
      this.reader.drain(this.onRecord)
      this.tick()
      await this.reader.wait(timeoutMs)
    }
  }

  /** Called after every drain of the read loop (housekeeping of subclasses). */
  protected tick(): void {}

  drain(): number {
    const before = this.user.delivered
    this.reader.drain(this.onRecord)
    return this.user.delivered - before
  }

  private record(rec: Buffer): void {
    if (rec.length >= TLS_ABI.EV_HDR_SIZE && rec[TLS_ABI.EV_OFF_DIR] === TLS_ABI.DIR_EXEC) {
      try {
        this.opts.onExec?.(rec.readUInt32LE(TLS_ABI.EV_OFF_PID))
      } catch {
        this.user.handlerErrors++
      }
      return
    }
    const chunk = decodeRecord(rec, this.offsetUs)
    if (chunk === null) {
      this.user.malformed++
      return
    }
    this.user.delivered++
    this.user.deliveredBytes += chunk.data.length
    try {
      this.opts.onChunk(chunk)
    } catch {
      this.user.handlerErrors++
    }
  }

  counters(): TlsTapCounters {
    // once closed the map is gone: the kernel counters as they were when the probes went away
    return { ...(this.finalKernel ?? readCounters(this.b, this.countersFd, this.cpus)), ...this.user }
  }

  /** kernel counters read at close (after it, the maps no longer exist) */
  private finalKernel: TlsKernelCounters | null = null

  close(): Promise<void> {
    if (this.closing !== null) return this.closing
    for (const l of this.links) this.b.bpf_link__destroy(l)
    this.links.length = 0
    this.finalKernel = readCounters(this.b, this.countersFd, this.cpus)
    // what was submitted before the probes went away is delivered before the ring is unmapped
    this.reader.drain(this.onRecord)
    this.closing = (async () => {
      await this.reader.close() // ends the parked poll; the read loop sees closing and returns
      await this.loop
      this.b.bpf_object__close(this.obj)
    })()
    return this.closing
  }
}

class Tap extends TapReader implements TlsTap {
  /** dev:inode of every file with SSL_* probes */
  private readonly files = new Set<string>()

  constructor(
    b: Libbpf,
    obj: bigint,
    links: bigint[],
    reader: RingbufReader,
    countersFd: number,
    cpus: number,
    readonly socketHook: SocketHook,
    private readonly attached: AttachedProbe[],
    readonly libssl: readonly string[],
    opts: TlsTapOptions,
  ) {
    super(b, obj, links, reader, countersFd, cpus, opts)
    for (const l of libssl) this.files.add(fileKey(l))
  }

  get probes(): readonly AttachedProbe[] {
    return this.attached
  }

  tapped(path: string): boolean {
    return this.files.has(fileKey(path))
  }

  inFlight(): { calls: number; threads: number } {
    const size = (name: string): number => {
      const m = this.b.bpf_object__find_map_by_name(this.obj, name)
      if (m === null) return 0
      const fd = this.b.bpf_map__fd(m)
      const cur = Buffer.alloc(8)
      const next = Buffer.alloc(8)
      let n = 0
      // bounded: the tables hold at most CALLS_MAX / THREADS_MAX entries
      for (let k: Buffer | null = null; n <= TLS_ABI.CALLS_MAX + TLS_ABI.THREADS_MAX && this.b.bpf_map_get_next_key(fd, k, next) === 0; k = cur) {
        next.copy(cur)
        n++
      }
      return n
    }
    // map names as bpf/tls_tap.c declares them (internal tables, not part of tls_abi.h)
    return { calls: size('tls_wr_calls') + size('tls_rd_calls'), threads: size('tls_threads') }
  }

  attachBinary(path: string): BinaryAttach {
    if (this.isClosing) throw new CaptureError('PODTAP_TLS_ATTACH', 'the TLS tap is closed', 1)
    const key = fileKey(path)
    if (this.files.has(key)) return { binary: path, probes: [] }
    const prog = (name: string): bigint => {
      const p = this.b.bpf_object__find_program_by_name(this.obj, name)
      if (p === null) throw new CaptureError('PODTAP_BPF_OBJECT', `the TLS tap object has no program ${name}: rebuild it`, 1)
      return p
    }
    clearLibbpfLog()
    const got = attachSslProbes(this.b, prog, path)
    this.files.add(key)
    this.links.push(...got.links)
    this.attached.push(...got.probes)
    return { binary: path, probes: got.probes }
  }
}

export function readCounters(b: Libbpf, fd: number, cpus: number): TlsKernelCounters {
  const key = Buffer.alloc(4)
  // a per-CPU value is rounded up to 8 bytes per CPU (u64 already)
  const val = Buffer.alloc(8 * cpus)
  const out = {} as TlsKernelCounters
  TLS_COUNTER_FIELDS.forEach((field, i) => {
    key.writeUInt32LE(i)
    let sum = 0
    if (b.bpf_map_lookup_elem(fd, key, val) === 0) for (let c = 0; c < cpus; c++) sum += Number(val.readBigUInt64LE(8 * c))
    out[field] = sum
  })
  return out
}

const AF_INET = 2
const AF_INET6 = 10
const ROLES: Record<number, { role?: 'client' | 'server' }> = { [TLS_ABI.ROLE_CLIENT]: { role: 'client' }, [TLS_ABI.ROLE_SERVER]: { role: 'server' } }
const DIRS: Record<number, TlsChunk['dir']> = { [TLS_ABI.DIR_WRITE]: 'sent', [TLS_ABI.DIR_READ]: 'received', [TLS_ABI.DIR_CLOSE]: 'closed' }

/**
 * One ring record (header layout in bpf/tls_abi.h) as a TlsChunk whose data views rec; null when the
 * record is too short for what it claims. Exported for tests.
 */
export function decodeRecord(rec: Buffer, offsetUs: number): TlsChunk | null {
  const H = TLS_ABI.EV_HDR_SIZE
  if (rec.length < H) return null
  const len = rec.readUInt32LE(TLS_ABI.EV_OFF_LEN)
  const capLen = rec.readUInt32LE(TLS_ABI.EV_OFF_CAP_LEN)
  if (capLen > len || H + capLen > rec.length) return null
  const tsNs = rec.readUInt32LE(TLS_ABI.EV_OFF_TS + 4) * 4294967296 + rec.readUInt32LE(TLS_ABI.EV_OFF_TS)
  const family = rec[TLS_ABI.EV_OFF_FAMILY]!
  let local: Endpoint | null = null
  let remote: Endpoint | null = null
  if (family === AF_INET || family === AF_INET6) {
    local = { ip: addr(rec, TLS_ABI.EV_OFF_LADDR, family), port: rec.readUInt16LE(TLS_ABI.EV_OFF_LPORT) }
    remote = { ip: addr(rec, TLS_ABI.EV_OFF_RADDR, family), port: rec.readUInt16LE(TLS_ABI.EV_OFF_RPORT) }
  }
  let commEnd = TLS_ABI.EV_OFF_COMM
  while (commEnd < TLS_ABI.EV_OFF_COMM + 16 && rec[commEnd] !== 0) commEnd++
  return {
    tsUs: offsetUs + Math.floor(tsNs / 1000),
    pid: rec.readUInt32LE(TLS_ABI.EV_OFF_PID),
    tid: rec.readUInt32LE(TLS_ABI.EV_OFF_TID),
    comm: rec.toString('latin1', TLS_ABI.EV_OFF_COMM, commEnd),
    tap: rec[TLS_ABI.EV_OFF_TAP] === TLS_ABI.TAP_GO ? 'go' : 'openssl',
    ...ROLES[rec[TLS_ABI.EV_OFF_ROLE]!],
    ssl: rec.readBigUInt64LE(TLS_ABI.EV_OFF_SSL),
    dir: DIRS[rec[TLS_ABI.EV_OFF_DIR]!] ?? 'sent',
    local,
    remote,
    len,
    data: rec.subarray(H, H + capLen),
  }
}

/** The address at rec[off]: IPv4 in its first 4 bytes, or 16 bytes of IPv6 (IPv4-mapped shown as IPv4). */
function addr(rec: Buffer, off: number, family: number): string {
  if (family === AF_INET) return ipv4String(rec.readUInt32BE(off))
  if (rec.readUInt32BE(off) === 0 && rec.readUInt32BE(off + 4) === 0 && rec.readUInt32BE(off + 8) === 0xffff) {
    return ipv4String(rec.readUInt32BE(off + 12))
  }
  return ipv6String(rec, off)
}
