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

import { readFileSync, readlinkSync, statSync } from 'node:fs'
import type { BinaryAttach } from './tap.js'
import { readElf } from './elf.js'
import type { ProcessInfo } from './processes.js'

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

export interface SslBinaryFinderOptions {
  tap: BinaryAttacher
  /** default '/proc' */
  procRoot?: string
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
  /** the process runs or maps a tapped file; 'node' when that is node's executable or libnode */
  tap: OpensslTapKind | null
}

const LIBSSL_PATH = /\/lib(ssl|node)\.so[.\d]*$/

export class SslBinaryFinder {
  private readonly files = new Map<string, FileVerdict>()
  private readonly procs = new Map<number, ProcState>()
  private readonly root: string

  constructor(private readonly o: SslBinaryFinderOptions) {
    this.root = o.procRoot ?? '/proc'
  }

  /**
   * A process started (or exec'd): its executable and the libssl/libnode files it maps are looked at,
   * those exporting SSL_read/SSL_write tapped. Returns the files attached now.
   */
  started(p: Pick<ProcessInfo, 'pid' | 'exePath'>): string[] {
    const attached: string[] = []
    this.procs.set(p.pid, this.look(p.pid, p.exePath, attached))
    return attached
  }

  exited(pid: number): void {
    this.procs.delete(pid)
  }

  /** Which probes read this process's TLS: its executable's own OpenSSL (node) or a libssl it maps. */
  tapOf(pid: number): OpensslTapKind | null {
    return this.procs.get(pid)?.tap ?? null
  }

  private look(pid: number, exePath: string, attached: string[]): ProcState {
    const state: ProcState = { tap: null }
    const v = this.verdict(exePath, attached)
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

/** /proc/PID/root/usr/bin/node as "/usr/bin/node (/proc/PID/root/...)", for log lines */
function describe(path: string): string {
  const m = /^\/proc\/\d+\/root(\/.*)$/.exec(path)
  if (m !== null) return `${m[1]} (${path})`
  try {
    return path.endsWith('/exe') ? `${readlinkSync(path)} (${path})` : path
  } catch {
    return path
  }
}
