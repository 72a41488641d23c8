// The Go crypto/tls plaintext tap: bpf/go_tls.bpf.o loaded through libbpf, its uprobes placed on
// each Go executable's crypto/tls.(*Conn).Read (entry + every RET, inspect.ts) and (*Conn).Write
// (entry: the bytes are copied before they are sent),
// its ring read in this process into the same TlsChunks as the OpenSSL tap (tap: 'go', ssl = the
// *tls.Conn), so TlsSessions and the parsers take them unchanged.
//
//   const tap = openGoTlsTap({ onChunk, log })
//   tap.addProcess(p)      // a process (ProcessWatcher onStart): inspected once per executable file
//                          // (exeKey), probed once per file (uprobes hold for every process of it)
//   tap.removeProcess(p)   // onExit: its call-table entries are dropped; the file's probes go
//                          // lingerMs (60 s) after its last process does (detached off the main thread)
//   tap.coverage()         // per process: { pid, comm, tap: 'go', goVersion } or
//                          // { pid, comm, tap: 'none', reason } (a Go binary that cannot be read)
//   await tap.close()
//
// pidFilter: true (--tls-pid, --k8s): only the pids added are reported (BPF pid map); otherwise every
// process of a probed executable is (the probes are per file).
//
// A binary that is not Go, or Go without crypto/tls, is none of this tap's business (addProcess
// returns null); a Go binary it cannot read (unknown version, no .gopclntab, unexpected code, arm64)
// is logged once per executable and shown as 'none' with the reason.

import { existsSync } from 'node:fs'
import { CaptureError } from '../../errors.js'
import { clearLibbpfLog, errno, libbpf, type Libbpf } from '../../capture/libbpf.js'
import { errnoName } from '../../capture/privileges.js'
import { goTlsObjectPath, TLS_ABI } from '../abi.js'
import type { ProcessInfo } from '../processes.js'
import { RingbufReader } from '../ring.js'
import { attachError, checkTapPrivileges, logTail, TapReader, type TlsChunk, type TlsTapCounters } from '../tap.js'
import { inspectGoBinary, type GoInspection } from './inspect.js'
import { offsetsCookie } from './offsets.js'

export type GoCoverage =
  | { pid: number; comm: string; tap: 'go'; goVersion: string }
  | { pid: number; comm: string; tap: 'none'; reason: string }

export interface GoTlsTapOptions {
  onChunk: (c: TlsChunk) => void
  /** report only the pids added (default false: every process of a probed executable) */
  pidFilter?: boolean
  /** one line per executable refused or probed (default: nothing) */
  log?: (line: string) => void
  objectPath?: string
  pollTimeoutMs?: number
  /** ring size, a power of 2 of at least 64 KiB (default TLS_ABI.RINGBUF_BYTES) */
  ringBytes?: number
  /** inspections kept for executables that are not (tappable) Go (default 1024) */
  maxCachedExecutables?: number
  /**
   * how long an executable's probes stay after its last process exited (default 60 000 ms; 0: go at
   * once): a program run again meanwhile (a cron job, a CLI called in a loop) is read from its first
   * instruction, with no inspection and no attach to wait for
   */
  lingerMs?: number
}

export interface GoTlsTapCounters extends TlsTapCounters {
  /** executables with probes in now, and the uprobes they hold */
  executables: number
  uprobes: number
  /** Go executables refused (each logged once) */
  refused: number
  /** Reads in progress (entry seen, no RET yet): goroutines blocked in Read, bounded by the LRU */
  readsInFlight: number
}

export interface GoTlsTap {
  /** Inspects (once per executable) and probes a process; its coverage, or null when it is not Go with crypto/tls. */
  addProcess(p: ProcessInfo): GoCoverage | null
  removeProcess(p: ProcessInfo): void
  coverage(): GoCoverage[]
  counters(): GoTlsTapCounters
  drain(): number
  close(): Promise<void>
}

interface Probed {
  inspection: GoInspection & { ok: true }
  links: bigint[]
  pids: Set<number>
  /** when its last process exited (its probes linger), or null while one runs */
  idleSinceMs: number | null
}

/** executables whose probes linger at most (past it the longest idle go at once) */
const MAX_LINGERING = 64

/** Loads the tap (no probes yet). Throws CaptureError like openTlsTap; nothing stays loaded after a throw. */
export function openGoTlsTap(opts: GoTlsTapOptions): GoTlsTap {
  checkTapPrivileges()
  const b = libbpf()
  const path = opts.objectPath ?? goTlsObjectPath()
  clearLibbpfLog()
  const obj = b.bpf_object__open_file(path, null)
  if (obj === null || obj === 0n) {
    throw new CaptureError('PODTAP_BPF_OBJECT', `cannot open the BPF object ${path} (${errnoName(errno())}): rebuild it with \`sh scripts/build-bpf-tls.sh\`` + logTail(), 1)
  }
  let ok = false
  let reader: RingbufReader | null = null
  try {
    const ringBytes = opts.ringBytes ?? TLS_ABI.RINGBUF_BYTES
    if (ringBytes !== TLS_ABI.RINGBUF_BYTES) {
      if (!Number.isInteger(ringBytes) || ringBytes < 65536 || ringBytes > 2 ** 30 || (ringBytes & (ringBytes - 1)) !== 0) {
        throw new CaptureError('PODTAP_USAGE', `TLS ring size ${ringBytes} must be a power of 2 between 64 KiB and 1 GiB`, 2)
      }
      b.bpf_map__set_max_entries(findMap(b, obj, path, TLS_ABI.GO_MAP_EVENTS), ringBytes)
    }
    const rc = b.bpf_object__load(obj)
    if (rc < 0) {
      if (-rc === 1) throw attachError('loading the Go TLS tap', -rc)
      throw new CaptureError('PODTAP_BPF_LOAD', `the kernel refused the Go TLS tap (${errnoName(-rc)})` + logTail(), 1)
    }
    const fd = (name: string): number => b.bpf_map__fd(findMap(b, obj, path, name))
    const progs = new Map<string, bigint>()
    for (const name of [TLS_ABI.GO_PROG_READ_ENTER, TLS_ABI.GO_PROG_READ_RET, TLS_ABI.GO_PROG_WRITE_ENTER]) {
      const p = b.bpf_object__find_program_by_name(obj, name)
      if (p === null) throw new CaptureError('PODTAP_BPF_OBJECT', `${path} has no program ${name}: rebuild it`, 1)
      progs.set(name, p)
    }
    if (opts.pidFilter === true) {
      const cfg = Buffer.alloc(4)
      cfg.writeUInt32LE(TLS_ABI.CFG_PIDS)
      const r = b.bpf_map_update_elem(fd(TLS_ABI.GO_MAP_CONFIG), Buffer.alloc(4), cfg, 0)
      if (r < 0) throw new CaptureError('PODTAP_TLS_PIDS', `Go tap config update failed (${errnoName(-r)})`, 1)
    }
    reader = new RingbufReader(fd(TLS_ABI.GO_MAP_EVENTS), ringBytes)
    const maps = { pids: fd(TLS_ABI.GO_MAP_PIDS), calls: [fd(TLS_ABI.GO_MAP_RD_CALLS)] }
    const tap = new GoTap(b, obj, reader, fd(TLS_ABI.GO_MAP_COUNTERS), Math.max(1, b.libbpf_num_possible_cpus()), progs, maps, opts)
    ok = true
    return tap
  } finally {
    if (!ok) {
      if (reader !== null) void reader.close().finally(() => b.bpf_object__close(obj))
      else b.bpf_object__close(obj)
    }
  }
}

function findMap(b: Libbpf, obj: bigint, path: string, name: string): bigint {
  const m = b.bpf_object__find_map_by_name(obj, name)
  if (m === null) throw new CaptureError('PODTAP_BPF_OBJECT', `${path} has no map ${name}: rebuild it`, 1)
  return m
}

/** struct go_call_key of bpf/go_tls.c: u32 pid, u32 pad, u64 g */
const CALL_KEY_BYTES = 16

class GoTap extends TapReader implements GoTlsTap {
  /** exeKey -> probes in place */
  private readonly probed = new Map<string, Probed>()
  /** exeKey -> why not (refused Go, or not Go / no TLS: reason null), bounded */
  private readonly skipped = new Map<string, { reason: string | null }>()
  /** pid -> its coverage (Go processes only) */
  private readonly procs = new Map<number, { exeKey: string; cov: GoCoverage }>()
  /** pids gone whose Read-table entries are still to be deleted (once per second, in one pass) */
  private readonly exited = new Set<number>()
  private lastSweepMs = 0
  private refused = 0
  private readonly key = Buffer.alloc(4)
  private readonly one = Buffer.from([1])
  /** links of executables whose last process exited, being destroyed in the background (detach) */
  private detaching: Promise<void> = Promise.resolve()

  constructor(
    b: Libbpf,
    obj: bigint,
    reader: RingbufReader,
    countersFd: number,
    cpus: number,
    private readonly progs: Map<string, bigint>,
    private readonly maps: { pids: number; calls: number[] },
    private readonly o: GoTlsTapOptions,
  ) {
    super(b, obj, [], reader, countersFd, cpus, o)
  }

  addProcess(p: ProcessInfo): GoCoverage | null {
    if (this.isClosing) return null
    const old = this.procs.get(p.pid)
    if (old !== undefined) {
      if (old.exeKey === p.exeKey) return old.cov
      this.removeProcess(p)
    }
    let cov: GoCoverage | null
    const probed = this.probed.get(p.exeKey)
    if (probed !== undefined) {
      probed.pids.add(p.pid)
      probed.idleSinceMs = null
      cov = { pid: p.pid, comm: p.comm, tap: 'go', goVersion: probed.inspection.goVersion }
    } else {
      const skip = this.skipped.get(p.exeKey) ?? this.inspect(p)
      if (skip === null) return this.addProcess(p) // just probed
      if (skip.reason === null) return null
      cov = { pid: p.pid, comm: p.comm, tap: 'none', reason: skip.reason }
    }
    this.procs.set(p.pid, { exeKey: p.exeKey, cov })
    if (cov.tap === 'go' && this.o.pidFilter === true) {
      this.key.writeUInt32LE(p.pid)
      this.b.bpf_map_update_elem(this.maps.pids, this.key, this.one, 0)
    }
    return cov
  }

  /** Inspects and probes p's executable: null when probed, else what to remember about it. */
  private inspect(p: ProcessInfo): { reason: string | null } | null {
    const r = inspectGoBinary(p.exePath)
    let why: { reason: string | null }
    if (r.ok) {
      const links = this.attach(p.exePath, r)
      if (typeof links !== 'string') {
        this.probed.set(p.exeKey, { inspection: r, links, pids: new Set(), idleSinceMs: null })
        this.o.log?.(`go tls: probing ${p.comm} (pid ${p.pid}, ${r.goVersion}): ${links.length} uprobes on crypto/tls.(*Conn).Read/Write`)
        return null
      }
      // the process went away while its file was being probed: try again with the next one
      if (!existsSync(p.exePath)) return { reason: null }
      why = { reason: links }
    } else {
      if (r.unreadable === true) return { reason: null } // gone meanwhile: not remembered
      why = { reason: r.go && r.noTls !== true ? r.reason : null }
    }
    if (why.reason !== null) {
      this.refused++
      this.o.log?.(`go tls: not tapping ${p.comm} (pid ${p.pid}, ${p.exePath}): ${why.reason}`)
    }
    if (this.skipped.size >= (this.o.maxCachedExecutables ?? 1024)) this.skipped.delete(this.skipped.keys().next().value!)
    this.skipped.set(p.exeKey, why)
    return why
  }

  /** Every uprobe of one executable, or the reason attaching failed (none left in then). */
  private attach(path: string, r: GoInspection & { ok: true }): bigint[] | string {
    const cookie = Number(offsetsCookie(r.offsets))
    const links: bigint[] = []
    // Read: the RETs before the entry (an entry seen without its RET probes would only wait in the
    // LRU); Write: its entry only (bpf/go_tls.c says why)
    const sites: [string, number][] = r.read.retOffsets.map((off) => [TLS_ABI.GO_PROG_READ_RET, off])
    sites.push([TLS_ABI.GO_PROG_READ_ENTER, r.read.entryOffset], [TLS_ABI.GO_PROG_WRITE_ENTER, r.write.entryOffset])
    for (const [prog, off] of sites) {
      const link = this.b.bpf_program__attach_uprobe_opts(this.progs.get(prog)!, -1, path, off, {
        sz: 40, ref_ctr_offset: 0, bpf_cookie: cookie, retprobe: false, func_name: null,
      })
      if (link === null || link === 0n) {
        const err = attachError(`attaching a uprobe at offset 0x${off.toString(16)} of ${path}`, errno())
        for (const l of links) this.b.bpf_link__destroy(l)
        return err.message
      }
      links.push(link)
    }
    return links
  }

  removeProcess(p: ProcessInfo): void {
    const e = this.procs.get(p.pid)
    if (e === undefined) return
    this.procs.delete(p.pid)
    if (e.cov.tap !== 'go') return
    this.exited.add(p.pid)
    if (this.o.pidFilter === true) {
      this.key.writeUInt32LE(p.pid)
      this.b.bpf_map_delete_elem(this.maps.pids, this.key)
    }
    const probed = this.probed.get(e.exeKey)
    if (probed === undefined) return
    probed.pids.delete(p.pid)
    if (probed.pids.size === 0) {
      probed.idleSinceMs = Date.now()
      this.expire(probed.idleSinceMs)
    }
  }

  /** Detaches executables idle for lingerMs, and the longest idle past MAX_LINGERING. */
  private expire(now: number): void {
    const linger = this.o.lingerMs ?? 60_000
    let lingering = 0
    for (const p of this.probed.values()) if (p.idleSinceMs !== null) lingering++
    // Map order is probe order, which is about idle order for short-lived programs
    for (const [key, p] of this.probed) {
      if (p.idleSinceMs === null) continue
      if (now - p.idleSinceMs < linger && lingering <= MAX_LINGERING) continue
      this.detach(p.links)
      this.probed.delete(key)
      lingering--
    }
  }

  /**
   * Destroys links one after another on a libuv worker thread: the kernel unregisters a uprobe
   * slowly (measured ~100 ms each on this loaded VM, ~1 s for one executable's 9), and done here on
   * the main thread that stalled the ring readers and the exec handling for as long.
   */
  private detach(links: readonly bigint[]): void {
    for (const l of links) {
      this.detaching = this.detaching.then(() => new Promise<void>((done) => this.b.bpf_link__destroy.async(l, () => done())))
    }
  }

  coverage(): GoCoverage[] {
    return [...this.procs.values()].map((e) => e.cov)
  }

  override counters(): GoTlsTapCounters {
    let uprobes = 0
    for (const p of this.probed.values()) uprobes += p.links.length
    return { ...super.counters(), executables: this.probed.size, uprobes, refused: this.refused, readsInFlight: this.readsInFlight() }
  }

  private readsInFlight(): number {
    let n = 0
    const key = Buffer.alloc(CALL_KEY_BYTES)
    const next = Buffer.alloc(CALL_KEY_BYTES)
    for (const fd of this.maps.calls) {
      let have = this.b.bpf_map_get_next_key(fd, null, next) === 0
      while (have && n < TLS_ABI.CALLS_MAX) {
        n++
        next.copy(key)
        have = this.b.bpf_map_get_next_key(fd, key, next) === 0
      }
    }
    return n
  }

  /** Deletes the call-table entries of exited processes, one pass per map, at most once a second. */
  protected override tick(): void {
    const now = Date.now()
    if (now - this.lastSweepMs < 1000) return
    this.lastSweepMs = now
    this.expire(now)
    if (this.exited.size === 0) return
    const key = Buffer.alloc(CALL_KEY_BYTES)
    const next = Buffer.alloc(CALL_KEY_BYTES)
    for (const fd of this.maps.calls) {
      const doomed: Buffer[] = []
      let have = this.b.bpf_map_get_next_key(fd, null, next) === 0
      while (have) {
        next.copy(key)
        if (this.exited.has(key.readUInt32LE(0))) doomed.push(Buffer.from(key))
        have = this.b.bpf_map_get_next_key(fd, key, next) === 0
      }
      for (const k of doomed) this.b.bpf_map_delete_elem(fd, k)
    }
    this.exited.clear()
  }

  override close(): Promise<void> {
    for (const p of this.probed.values()) for (const l of p.links) this.b.bpf_link__destroy(l)
    this.probed.clear()
    const closed = super.close()
    return this.detaching.then(() => closed)
  }
}
