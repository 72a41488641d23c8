// Which files the OpenSSL probes go on, found from the running processes rather than from fixed
// paths: an executable that exports SSL_read and SSL_write itself (node from nodesource and the
// official builds: OpenSSL is linked in statically and exported for native addons), and a libssl a
// process maps from its own filesystem (a container's copy, reached through /proc/PID/root).
// Found by the exported symbols, never by the name: a renamed node is tapped, a script called
// "node" is not.
//
//   const finder = new SslBinaryFinder({ tap })
//   finder.scan()                    // at start, then once a second: new processes, new files
//   finder.tapOf(pid)                // 'node' | 'openssl' | null, for the coverage report
//
// Uprobes attach to an inode: one file tapped covers every process running it, later ones too. Each
// file is read once (by dev:inode); a process is looked at once per executable (again after an
// exec; a libssl it loads later with dlopen is not seen, unless it is the host's). Processes come from a ProcessLister:
// /proc by default.

import { readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs'
import type { BinaryAttach } from './tap.js'
import { readElf } from './elf.js'

/** The symbols that make a file an OpenSSL to tap, and the one that says the file is node. */
const SSL_SYMBOLS = ['SSL_read', 'SSL_write'] as const
const NODE_SYMBOL = 'napi_module_register'

export type OpensslTapKind = 'node' | 'openssl'

/** What the finder needs of the tap. */
export interface BinaryAttacher {
  attachBinary(path: string): BinaryAttach
  /** the file (by dev:inode) already has the probes */
  tapped(path: string): boolean
}

/** The pids to look at; the default lists /proc. */
export type ProcessLister = () => Iterable<number>

export interface SslBinaryFinderOptions {
  tap: BinaryAttacher
  /** only these processes (--tls-pid) */
  pids?: readonly number[]
  /** default '/proc' */
  procRoot?: string
  /** default: every numeric entry of procRoot */
  list?: ProcessLister
  /** also tap libssl copies the processes map (default true; false when the user named the libssl files) */
  mappedLibs?: boolean
  /** one line per file tapped or refused */
  log?: (line: string) => void
}

interface FileVerdict {
  /** exports SSL_read and SSL_write */
  ssl: boolean
  /** node: exports the N-API */
  node: boolean
  /** the attach failed: why (logged once) */
  error?: string
}

interface ProcState {
  /** what /proc/PID/exe pointed to when looked at: an exec makes it look again */
  exe: string
  /** the process runs or maps a tapped file; 'node' when that is node's executable or libnode */
  tap: OpensslTapKind | null
}

const LIBSSL_PATH = /\/lib(ssl|node)\.so[.\d]*$/

export class SslBinaryFinder {
  private readonly files = new Map<string, FileVerdict>()
  private readonly procs = new Map<number, ProcState>()
  private readonly root: string
  private readonly only: Set<number> | null

  constructor(private readonly o: SslBinaryFinderOptions) {
    this.root = o.procRoot ?? '/proc'
    this.only = o.pids === undefined ? null : new Set(o.pids)
  }

  /** Looks at processes not seen before, forgets those gone. Returns the files attached now. */
  scan(): string[] {
    const attached: string[] = []
    const alive = new Set<number>()
    for (const pid of this.o.list?.() ?? this.listProc()) {
      if (this.only !== null && !this.only.has(pid)) continue
      alive.add(pid)
      const exe = this.exeOf(pid)
      if (exe === null) continue
      if (this.procs.get(pid)?.exe !== exe) this.procs.set(pid, this.look(pid, exe, attached))
    }
    for (const pid of this.procs.keys()) if (!alive.has(pid)) this.procs.delete(pid)
    return attached
  }

  /** Which probes read this process's TLS: its executable's own OpenSSL (node) or a libssl it maps. */
  tapOf(pid: number): OpensslTapKind | null {
    return this.procs.get(pid)?.tap ?? null
  }

  private listProc(): number[] {
    const out: number[] = []
    let names: string[]
    try {
      names = readdirSync(this.root)
    } catch {
      return out
    }
    for (const n of names) {
      const pid = Number(n)
      if (Number.isInteger(pid) && pid > 0) out.push(pid)
    }
    return out
  }

  private exeOf(pid: number): string | null {
    try {
      return readlinkSync(`${this.root}/${pid}/exe`)
    } catch {
      return null // gone, or a kernel thread
    }
  }

  private look(pid: number, exe: string, attached: string[]): ProcState {
    const state: ProcState = { exe, tap: null }
    const v = this.verdict(`${this.root}/${pid}/exe`, attached)
    if (v?.ssl === true && v.error === undefined) state.tap = v.node ? 'node' : 'openssl'
    // mapped libssl / libnode: a container's own copy, or Debian's node (libnode -> libssl)
    let maps: string
    try {
      maps = readFileSync(`${this.root}/${pid}/maps`, 'latin1')
    } catch {
      return state
    }
    let isNode = v?.node === true
    const seen = new Set<string>()
    const attach = this.o.mappedLibs !== false
    for (const line of maps.split('\n')) {
      const at = line.indexOf('/')
      if (at < 0) continue
      const path = line.slice(at)
      if (!LIBSSL_PATH.test(path) || seen.has(path)) continue
      seen.add(path)
      const lv = this.verdict(`${this.root}/${pid}/root${path}`, attached, attach)
      if (lv === null) continue
      if (lv.node) isNode = true
      if (lv.ssl && lv.error === undefined && state.tap === null) state.tap = 'openssl'
    }
    if (state.tap !== null && isNode) state.tap = 'node'
    return state
  }

  /** The file's verdict, attaching it the first time it is seen exporting SSL_*; null if unreadable. */
  private verdict(path: string, attached: string[], attach = true): FileVerdict | null {
    let key: string
    try {
      const st = statSync(path)
      key = `${st.dev}:${st.ino}`
    } catch {
      return null
    }
    const known = this.files.get(key)
    if (known !== undefined) return known
    if (!attach) return this.o.tap.tapped(path) ? { ssl: true, node: false } : null
    const elf = readElf(path, [...SSL_SYMBOLS, NODE_SYMBOL])
    const v: FileVerdict = {
      ssl: elf !== null && SSL_SYMBOLS.every((s) => elf.exports.has(s)),
      node: elf?.exports.has(NODE_SYMBOL) === true,
    }
    if (v.ssl) {
      const shown = describe(path)
      try {
        const got = this.o.tap.attachBinary(path)
        if (got.probes.length > 0) {
          attached.push(path)
          this.o.log?.(`TLS tap: OpenSSL probes on ${shown} (${v.node ? 'node' : 'exports SSL_read/SSL_write'})`)
        }
      } catch (e) {
        v.error = (e as Error).message
        this.o.log?.(`TLS tap: cannot probe ${shown}: ${v.error}`)
      }
    }
    this.files.set(key, v)
    return v
  }
}

/** /proc/PID/exe as the file it points to, for log lines */
function describe(path: string): string {
  try {
    return path.endsWith('/exe') ? `${readlinkSync(path)} (${path})` : path
  } catch {
    return path
  }
}
