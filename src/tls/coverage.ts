// The TLS coverage report: every process (and its pod) with TLS connections, and which tap reads it
// ('openssl', 'node', 'go') or why none can. No other tool says what it cannot see; users ask.
//
//   const cov = new TlsCoverage({ tapOf: finder.tapOf, processes: () => watcher.list(), sources: [goTap] })
//   cov.tapped(pid, comm, 'openssl')   // a tap delivered plaintext of this process (per chunk: cheap)
//   cov.encrypted(link)                // a connection the packets showed as TLS (l7_link protocol 'tls')
//   cov.rows()                         // TlsCoverageRow[]: once a tick, for the table, metrics, API
//
// How a process is known to use TLS (TlsCoverageRow.seenBy):
//   tap         a tap read its plaintext
//   inspection  a TlsCoverageSource (the Go tap) inspected its executable: probed, or refused with a reason
//   packets     a connection whose TLS handshake the packets showed, served by it, its side unread: the
//               server endpoint -> the LISTEN socket in the netns that owns the address
//               (/proc/<pid>/net/tcp{,6} of a process of that netns) -> the process holding that socket
//               inode (/proc/<pid>/fd). The server side only: a client's ephemeral socket is gone by
//               the time the connection's l7_link is written.
// A process seen only by packets is blind: its executable and maps say why (blindReason below).
//
// Bounded: at most maxProcesses rows; pending endpoints capped; the socket lookup runs at most once
// per resolveEveryMs over the processes the watcher lists, and its answers are kept per endpoint.

import { readdirSync, readlinkSync, statSync } from 'node:fs'
import { localIpv4FromFibTrie, localIpv6FromIfInet6 } from '../capture/veth.js'
import type { LinkRecord, TlsCoverageRow } from '../records.js'
import type { Endpoint } from '../tcp/types.js'
import type { OpensslTapKind } from './binaries.js'
import { readElf } from './elf.js'
import { listeners, readText } from './listeners.js'
import type { ProcessInfo } from './processes.js'
import type { ProcessIdentity } from './sessions.js'

export type TlsTapName = TlsCoverageRow['tap']

/** What a tap says of the processes it inspected: read by it, or not and why (the Go tap implements it). */
export interface TlsCoverageSource {
  coverage(): readonly { pid: number; comm: string; tap: TlsTapName; reason?: string }[]
}

export interface TlsCoverageOptions {
  /** the OpenSSL tap's finder: 'node' for a node process */
  tapOf?: (pid: number) => OpensslTapKind | null
  /** other taps' own reports (the Go tap) */
  sources?: readonly TlsCoverageSource[]
  /** the processes to look for socket owners among (ProcessWatcher.list) */
  processes?: () => readonly Pick<ProcessInfo, 'pid' | 'comm' | 'exePath'>[]
  /** pod and namespace of a process */
  identify?: (pid: number) => ProcessIdentity | undefined
  /** default '/proc' */
  proc?: string
  /** most rows (default 4096) */
  maxProcesses?: number
  /** socket lookups at most this often (default 2000 ms) */
  resolveEveryMs?: number
}

interface Seen {
  comm: string
  tap: TlsTapName
  reason?: string
  seenBy: TlsCoverageRow['seenBy']
}

const MAX_PENDING = 1024
const MAX_ENDPOINTS = 16384

export class TlsCoverage {
  private readonly seen = new Map<number, Seen>()
  /** server endpoints of unread TLS connections whose process is not known yet */
  private readonly pending = new Map<string, Endpoint>()
  /** endpoint -> the process serving it (null: looked for, not found) */
  private readonly owners = new Map<string, number | null>()
  /** executable dev:inode -> why no tap reads it */
  private readonly reasons = new Map<string, string>()
  private readonly proc: string
  private lastResolveMs = -Infinity

  constructor(private readonly o: TlsCoverageOptions = {}) {
    this.proc = o.proc ?? '/proc'
  }

  /** A tap delivered plaintext of pid (called per chunk: a Map lookup when known). */
  tapped(pid: number, comm: string, tap: 'openssl' | 'go'): void {
    const s = this.seen.get(pid)
    if (s !== undefined && s.seenBy === 'tap') return
    if (s === undefined && this.seen.size >= (this.o.maxProcesses ?? 4096)) return
    this.seen.set(pid, { comm, tap: tap === 'openssl' && this.o.tapOf?.(pid) === 'node' ? 'node' : tap, seenBy: 'tap' })
  }

  /**
   * An ended connection: when the packets showed it as TLS (read by nobody, or by a tap on one side
   * only: src/pipeline/tls-pairing.ts gives such a link the plaintext's protocol), its server is looked
   * for; a server no tap read is blind.
   */
  encrypted(l: LinkRecord): void {
    if (!l.tls && l.protocol !== 'tls') return
    const key = `${l.server.ip}|${l.server.port}`
    const owner = this.owners.get(key)
    if (owner !== undefined) {
      if (owner !== null) this.blind(owner)
      return
    }
    if (this.pending.size < MAX_PENDING) this.pending.set(key, { ip: l.server.ip, port: l.server.port })
  }

  exited(pid: number): void {
    this.seen.delete(pid)
    for (const [k, v] of this.owners) if (v === pid) this.owners.delete(k)
  }

  /** The report now: one row per process, taps first. */
  rows(nowMs = Date.now()): TlsCoverageRow[] {
    if (this.pending.size > 0 && nowMs - this.lastResolveMs >= (this.o.resolveEveryMs ?? 2000)) {
      this.lastResolveMs = nowMs
      this.resolve()
    }
    const rows = new Map<number, TlsCoverageRow>()
    for (const [pid, s] of this.seen) rows.set(pid, { pid, comm: s.comm, tap: s.tap, ...(s.reason !== undefined ? { reason: s.reason } : {}), seenBy: s.seenBy })
    for (const src of this.o.sources ?? []) {
      for (const c of src.coverage()) {
        const had = rows.get(c.pid)
        if (had !== undefined && had.tap !== 'none') continue
        rows.set(c.pid, { pid: c.pid, comm: c.comm, tap: c.tap, ...(c.reason !== undefined ? { reason: c.reason } : {}), seenBy: had?.seenBy ?? 'inspection' })
      }
    }
    const out = [...rows.values()]
    for (const r of out) {
      const who = this.o.identify?.(r.pid)
      if (who?.pod !== undefined) r.pod = who.pod
      if (who?.namespace !== undefined) r.namespace = who.namespace
    }
    const order: Record<TlsTapName, number> = { openssl: 0, node: 1, go: 2, none: 3 }
    return out.sort((a, b) => order[a.tap] - order[b.tap] || a.pid - b.pid)
  }

  /** pid serves TLS nobody reads: a row with the reason (unless a tap reads it after all). */
  private blind(pid: number): void {
    if (this.seen.has(pid) || this.seen.size >= (this.o.maxProcesses ?? 4096)) return
    const comm = readText(`${this.proc}/${pid}/comm`)?.trim()
    if (comm === undefined) return // gone
    const tap = this.o.tapOf?.(pid) ?? null
    this.seen.set(pid, tap !== null ? { comm, tap, seenBy: 'packets' } : { comm, tap: 'none', reason: this.reasonFor(pid), seenBy: 'packets' })
  }

  private reasonFor(pid: number): string {
    let key: string
    try {
      const st = statSync(`${this.proc}/${pid}/exe`)
      key = `${st.dev}:${st.ino}`
    } catch {
      return 'executable not readable'
    }
    let r = this.reasons.get(key)
    if (r === undefined) {
      r = blindReason(`${this.proc}/${pid}/exe`, readText(`${this.proc}/${pid}/maps`) ?? '')
      if (this.reasons.size < MAX_ENDPOINTS) this.reasons.set(key, r)
    }
    return r
  }

  /** The pending server endpoints -> the processes listening on them (see the file comment). */
  private resolve(): void {
    const want = new Map(this.pending)
    this.pending.clear()
    const byNs = new Map<string, number[]>()
    for (const p of this.o.processes?.() ?? []) {
      try {
        const ns = readlinkSync(`${this.proc}/${p.pid}/ns/net`)
        const list = byNs.get(ns)
        if (list === undefined) byNs.set(ns, [p.pid])
        else list.push(p.pid)
      } catch {
        // gone
      }
    }
    for (const pids of byNs.values()) {
      if (want.size === 0) break
      const rep = pids[0]!
      const listen = listeners(`${this.proc}/${rep}/net`)
      if (listen.length === 0) continue
      const local = new Set([
        ...localIpv4FromFibTrie(readText(`${this.proc}/${rep}/net/fib_trie`) ?? ''),
        ...localIpv6FromIfInet6(readText(`${this.proc}/${rep}/net/if_inet6`) ?? ''),
      ])
      const need = new Map<number, string[]>()
      for (const [key, e] of want) {
        const l = listen.find((x) => x.port === e.port && (x.ip === e.ip || (x.any && (local.has(e.ip) || e.ip.startsWith('127.')))))
        if (l === undefined) continue
        need.set(l.inode, [...(need.get(l.inode) ?? []), key])
      }
      if (need.size === 0) continue
      for (const pid of pids) {
        for (const inode of socketInodes(`${this.proc}/${pid}/fd`, need)) {
          for (const key of need.get(inode)!) {
            want.delete(key)
            if (this.owners.size < MAX_ENDPOINTS) this.owners.set(key, pid)
            this.blind(pid)
          }
          need.delete(inode)
        }
        if (need.size === 0) break
      }
    }
    for (const key of want.keys()) if (this.owners.size < MAX_ENDPOINTS) this.owners.set(key, null)
  }
}

/**
 * The live table's footer line: "TLS: 4 processes read (openssl 1, node 2, go 1); blind: java[812]
 * shop/pay-0 (Java (JSSE...)), envoy[90] (statically linked BoringSSL ...)".
 */
export function coverageLine(rows: readonly TlsCoverageRow[]): string {
  if (rows.length === 0) return 'TLS: no process with TLS connections seen yet'
  const read = rows.filter((r) => r.tap !== 'none')
  const per = new Map<string, number>()
  for (const r of read) per.set(r.tap, (per.get(r.tap) ?? 0) + 1)
  const blind = rows.filter((r) => r.tap === 'none')
  const name = (r: TlsCoverageRow) => `${r.comm}[${r.pid}]${r.pod !== undefined ? ` ${r.namespace ?? ''}/${r.pod}` : ''}`
  return (
    `TLS: ${read.length} process${read.length === 1 ? '' : 'es'} read` +
    (per.size > 0 ? ` (${[...per].map(([t, n]) => `${t} ${n}`).join(', ')})` : '') +
    (blind.length > 0 ? `; blind: ${blind.map((r) => `${name(r)} (${r.reason})`).join(', ')}` : '')
  )
}

/**
 * Why no tap reads a process that serves TLS, from its executable (path) and its /proc/PID/maps text.
 * Exported for tests.
 */
export function blindReason(exePath: string, maps: string): string {
  if (/\/libjvm\.so(\s|$)/m.test(maps) || /\/java$/.test(safeReadlink(exePath))) return 'Java (JSSE: TLS inside the JVM, no native library to probe)'
  const lib = /\s(\/\S*\/lib(?:ssl|node)\.so[.\d]*)$/m.exec(maps)?.[1]
  if (lib !== undefined) return `maps ${lib}, which is not tapped (--tls-libssl leaves it out, or it could not be probed)`
  const elf = readElf(exePath, ['SSL_read', 'SSL_write'], ['BoringSSL', 'rustls'])
  if (elf === null) return 'executable not readable'
  if (elf.exports.has('SSL_read')) return 'exports SSL_read/SSL_write but could not be probed'
  if (elf.sections.has('.gopclntab') || elf.sections.has('.go.buildinfo')) return 'Go binary the Go tap does not read (not running, or refused: see its log)'
  if (elf.strings.has('BoringSSL')) return 'statically linked BoringSSL (no exported SSL_ symbols)'
  if (elf.strings.has('rustls')) return 'rustls (Rust TLS, no exported symbols to probe)'
  if (elf.sections.size === 0) return 'executable without section headers (stripped): TLS library unknown'
  return 'TLS library unknown to podtap (statically linked, no exported SSL_ symbols)'
}

/** Those of the wanted socket inodes a process holds open. */
function socketInodes(fdDir: string, want: Map<number, unknown>): number[] {
  const out: number[] = []
  let fds: string[]
  try {
    fds = readdirSync(fdDir)
  } catch {
    return out
  }
  for (const fd of fds) {
    const l = safeReadlink(`${fdDir}/${fd}`)
    if (!l.startsWith('socket:[')) continue
    const inode = Number(l.slice(8, -1))
    if (want.has(inode)) out.push(inode)
  }
  return out
}

function safeReadlink(path: string): string {
  try {
    return readlinkSync(path)
  } catch {
    return ''
  }
}
