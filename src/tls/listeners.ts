// TCP listening sockets of a network namespace, from /proc/<pid>/net/tcp{,6} (state 0A): which server
// owns an endpoint (coverage.ts) and whether a tapped process accepted a connection (sessions.ts: a
// socket whose local address is listening in the process's namespace is the server's end, as sure as
// a SYN; the tap itself does not know the side for memory-BIO users such as node).

import { readFileSync, readlinkSync } from 'node:fs'
import { ipv4String, ipv6String } from '../capture/decode.js'
import type { Endpoint } from '../tcp/types.js'

export interface Listener {
  ip: string
  /** bound to the any address (0.0.0.0 or ::) */
  any: boolean
  port: number
  inode: number
}

/** LISTEN sockets (state 0A) of /proc/.../net/tcp and tcp6. */
export function listeners(netDir: string): Listener[] {
  const out: Listener[] = []
  for (const [file, v6] of [['tcp', false], ['tcp6', true]] as const) {
    const text = readText(`${netDir}/${file}`)
    if (text === null) continue
    for (const line of text.split('\n')) {
      const f = line.trim().split(/\s+/)
      if (f.length < 10 || f[3] !== '0A') continue
      const [hexIp, hexPort] = f[1]!.split(':')
      const inode = Number(f[9])
      if (hexIp === undefined || hexPort === undefined || !Number.isInteger(inode) || inode === 0) continue
      const ip = procIp(hexIp, v6)
      out.push({ ip, any: /^0+$/.test(hexIp), port: parseInt(hexPort, 16), inode })
    }
  }
  return out
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
  /** a namespace's sockets are read again on a miss at most this often (default 250 ms) */
  rereadMs?: number
  now?: () => number
}

/** namespaces remembered at most (a node's pods); past it the cache starts over */
const MAX_NAMESPACES = 1024

/**
 * Is ep a listening socket in pid's network namespace? One read of the namespace's tables serves
 * every process in it; a miss (a client's ephemeral port, or a listener opened since) reads them again
 * at most once per rereadMs, so a busy client costs a few reads a second, not one per connection.
 */
export class ListeningSockets {
  private readonly byNs = new Map<string, { atMs: number; list: Listener[] }>()
  private readonly proc: string

  constructor(private readonly o: ListeningSocketsOptions = {}) {
    this.proc = o.proc ?? '/proc'
  }

  has(pid: number, ep: Endpoint): boolean {
    let ns: string
    try {
      ns = readlinkSync(`${this.proc}/${pid}/ns/net`)
    } catch {
      return false // gone, or not ours to see
    }
    const now = this.o.now?.() ?? Date.now()
    let e = this.byNs.get(ns)
    if (e !== undefined && (matches(e.list, ep) || now - e.atMs < (this.o.rereadMs ?? 250))) return matches(e.list, ep)
    e = { atMs: now, list: listeners(`${this.proc}/${pid}/net`) }
    if (this.byNs.size >= MAX_NAMESPACES) this.byNs.clear()
    this.byNs.set(ns, e)
    return matches(e.list, ep)
  }
}

function matches(list: readonly Listener[], ep: Endpoint): boolean {
  return list.some((l) => l.port === ep.port && (l.any || l.ip === ep.ip))
}
