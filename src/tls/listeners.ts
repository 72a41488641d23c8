// TCP listening sockets of a network namespace, from /proc/<pid>/net/tcp{,6} (state 0A): which server
// owns an endpoint (coverage.ts) and whether a tapped process accepted a connection (sessions.ts: a
// socket whose local address is listening in the process's namespace is the server's end, as sure as
// a SYN; the tap itself does not know the side for memory-BIO users such as node).

import { closeSync, openSync, readFileSync, readlinkSync, readSync } from 'node:fs'
import { ipv4String, ipv6String } from '../capture/decode.js'
import type { Endpoint } from '../tcp/types.js'

export interface Listener {
  ip: string
  /** bound to the any address (0.0.0.0 or ::) */
  any: boolean
  port: number
  inode: number
}

/**
 * LISTEN sockets (state 0A) of /proc/.../net/tcp and tcp6. The kernel lists the listening hash
 * first, then walks the whole established hash (most of a full read: ~12 ms for a 100-line file on
 * this VM, ~1.5 ms for its first 4 KiB): the file is read 4 KiB at a time and left at the first
 * line that is not LISTEN.
 */
export function listeners(netDir: string): Listener[] {
  const out: Listener[] = []
  for (const [file, v6] of [['tcp', false], ['tcp6', true]] as const) {
    forLeadingListenLines(`${netDir}/${file}`, (line) => {
      const f = line.trim().split(/\s+/)
      const [hexIp, hexPort] = f[1]!.split(':')
      const inode = Number(f[9])
      if (f.length < 10 || hexIp === undefined || hexPort === undefined || !Number.isInteger(inode) || inode === 0) return
      out.push({ ip: procIp(hexIp, v6), any: /^0+$/.test(hexIp), port: parseInt(hexPort, 16), inode })
    })
  }
  return out
}

const CHUNK = 4096

/** Calls on(line) for each LISTEN line at the head of a /proc/net/tcp{,6} file (header skipped). */
function forLeadingListenLines(path: string, on: (line: string) => void): void {
  let fd: number
  try {
    fd = openSync(path, 'r')
  } catch {
    return
  }
  try {
    const buf = Buffer.allocUnsafe(CHUNK)
    let rest = ''
    let header = true
    for (;;) {
      const n = readSync(fd, buf, 0, CHUNK, null)
      if (n <= 0) return
      const lines = (rest + buf.toString('latin1', 0, n)).split('\n')
      rest = lines.pop()!
      for (const line of lines) {
        if (header) {
          header = false
          continue
        }
        // "  sl  local_address rem_address   st ...": the state is the 4th field
        const f = line.trim().split(/\s+/, 4)
        if (f[3] !== '0A') return
        on(line)
      }
    }
  } catch {
    // vanished while read: what was read stands
  } finally {
    closeSync(fd)
  }
}

/** An address as /proc/net/tcp{,6} writes it (32-bit words in host byte order) in the records' form. */
function procIp(hex: string, v6: boolean): string {
  const b = Buffer.alloc(v6 ? 16 : 4)
  for (let w = 0; w < b.length / 4; w++) b.writeUInt32LE(parseInt(hex.slice(w * 8, w * 8 + 8), 16) >>> 0, w * 4)
  if (!v6) return ipv4String(b.readUInt32BE(0))
  // IPv4-mapped (::ffff:a.b.c.d) shown as IPv4, as the records do
  if (b.readUInt32BE(0) === 0 && b.readUInt32BE(4) === 0 && b.readUInt32BE(8) === 0xffff) return ipv4String(b.readUInt32BE(12))
  return ipv6String(b, 0)
}

export function readText(path: string): string | null {
  try {
    return readFileSync(path, 'latin1')
  } catch {
    return null
  }
}

export interface ListeningSocketsOptions {
  /** default '/proc' */
  proc?: string
  /** a namespace's sockets are read again on a miss at most this often (default 1000 ms) */
  rereadMs?: number
  /** first port of the ephemeral range (default: the host's ip_local_port_range, else 32768) */
  ephemeralFrom?: number
  now?: () => number
}

/** namespaces remembered at most (a node's pods); past it the cache starts over */
const MAX_NAMESPACES = 1024

/**
 * Is ep a listening socket in pid's network namespace? A port in the ephemeral range is a client's
 * (connect() takes its port from there): no, without reading anything (a server listening up there
 * is missed, and the sessions guess as they did before). Otherwise one read of the namespace's
 * tables serves every process in it, read again on a miss (a listener opened since) at most once per
 * rereadMs. A read costs ~2-15 ms on this VM (the kernel walks its hash tables; tcp6 even when empty),
 * so it must stay rare: it is asked only for sessions whose ports did not decide.
 */
export class ListeningSockets {
  private readonly byNs = new Map<string, { atMs: number; list: Listener[] }>()
  private readonly proc: string

  /** first port of the host's ephemeral range (ip_local_port_range; Linux's default 32768) */
  private readonly ephemeralFrom: number

  constructor(private readonly o: ListeningSocketsOptions = {}) {
    this.proc = o.proc ?? '/proc'
    const range = Number(readText(`${this.proc}/sys/net/ipv4/ip_local_port_range`)?.trim().split(/\s+/)[0])
    this.ephemeralFrom = o.ephemeralFrom ?? (Number.isInteger(range) && range > 0 ? range : 32768)
  }

  has(pid: number, ep: Endpoint): boolean {
    // a port the kernel hands out to connect(): a client's side, not worth a read of the tables
    if (ep.port >= this.ephemeralFrom) return false
    let ns: string
    try {
      ns = readlinkSync(`${this.proc}/${pid}/ns/net`)
    } catch {
      return false // gone, or not ours to see
    }
    const now = this.o.now?.() ?? Date.now()
    let e = this.byNs.get(ns)
    if (e !== undefined && (matches(e.list, ep) || now - e.atMs < (this.o.rereadMs ?? 1000))) return matches(e.list, ep)
    e = { atMs: now, list: listeners(`${this.proc}/${pid}/net`) }
    if (this.byNs.size >= MAX_NAMESPACES) this.byNs.clear()
    this.byNs.set(ns, e)
    return matches(e.list, ep)
  }
}

function matches(list: readonly Listener[], ep: Endpoint): boolean {
  return list.some((l) => l.port === ep.port && (l.any || l.ip === ep.ip))
}
