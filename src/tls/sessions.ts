// TLS plaintext into the pipeline: each (pid, SSL *) the tap reports is one connection, fed to the
// same Connection (detection, parsers, records) as a reassembled TCP stream, its records marked
// `tls: true` and the tapped side named by pid and comm.
//
//   TlsChunk (tap.ts) ─> session of (pid, ssl) ─> Pipeline.openStream(flow, {tls}) ─> Connection
//
// Roles: the tap's own word when it has one (Go: tls.Conn.isClient); else the tapped process is the
// server when the peer's port is not a server port and its own is (WELL_KNOWN_SERVER_PORTS, as the
// flow table guesses); else when its local address is a listening socket of its network namespace
// (listening, src/tls/listeners.ts); else the client when it speaks first, and content detection then
// swaps them when it proves the guess wrong, as for packets joined mid-stream. (Speaking first is a
// poor guess for HTTP/2: node's and Go's servers may write SETTINGS before they read the preface.)
//
// The same connection tapped on both ends (client and server on this node, both on the tapped
// libssl) would be counted twice: the first session of a 4-tuple owns it, the other end's chunks are
// counted (tls_duplicate_chunks) and left out. An SSL * reused for a new connection shows up as a new
// 4-tuple: the old session ends there, or earlier at the tap's close record (SSL_free). Sessions end when idle for limits.flowIdleUs and at close().

import { WELL_KNOWN_SERVER_PORTS, type Limits } from '../config.js'
import type { Counters } from '../counters.js'
import type { Peer } from '../records.js'
import type { Dir, EndReason, Endpoint, FlowInfo, RoleSource, StreamHandler } from '../tcp/types.js'
import type { TlsChunk } from './tap.js'

/** Who a tapped process is beyond pid and comm: pod, namespace, workload, container (--k8s, --all-veth). */
export type ProcessIdentity = Omit<Peer, 'ip' | 'port' | 'pid' | 'comm'>

/** What the sessions need of the pipeline (Pipeline implements it). */
export interface StreamOpener {
  openStream(flow: FlowInfo, opts: { tls: boolean }): StreamHandler
}

const UNKNOWN_ENDPOINT: Endpoint = { ip: '0.0.0.0', port: 0 }

class Session implements FlowInfo {
  readonly id: number
  client: Peer
  server: Peer
  roleSource: RoleSource
  readonly ifindex = 0
  readonly startUs: number
  lastUs: number
  bytes = { c2s: 0, s2c: 0 }
  packets = { c2s: 0, s2c: 0 }
  retransmits = 0
  gapBytes = { c2s: 0, s2c: 0 }
  handler: StreamHandler | null = null
  /** the tapped process is the client */
  procIsClient: boolean
  /** canonical 4-tuple key, '' while the socket is not known */
  tuple = ''

  constructor(id: number, c: TlsChunk, who: ProcessIdentity | undefined, listening: TlsSessionsOptions['listening']) {
    this.id = id
    this.startUs = this.lastUs = c.tsUs
    const local: Peer = { ...(c.local ?? UNKNOWN_ENDPOINT), pid: c.pid, comm: c.comm, ...who }
    const remote: Peer = { ...(c.remote ?? UNKNOWN_ENDPOINT) }
    if (who !== undefined && c.remote !== null && isLoopback(c.remote.ip)) {
      // the same network namespace: the same pod (a sidecar, say), though maybe another container
      const { container: _, ...pod } = who
      Object.assign(remote, pod)
    }
    const localServer = c.local !== null && WELL_KNOWN_SERVER_PORTS.has(c.local.port)
    const remoteServer = c.remote !== null && WELL_KNOWN_SERVER_PORTS.has(c.remote.port)
    if (c.role !== undefined) {
      // the tap read the TLS side from the connection itself; the TLS client is the side that
      // connected, as a SYN would tell (Go servers speak first on HTTP/2: no guessing there)
      this.procIsClient = c.role === 'client'
      this.roleSource = 'syn'
    } else if (localServer !== remoteServer) {
      this.procIsClient = remoteServer
      this.roleSource = 'port'
    } else if (c.local !== null && listening?.(c.pid, c.local) === true) {
      // the connection came in on a socket listening in the process's network namespace: it
      // accepted it, as sure as a SYN (node's HTTP/2 server may write SETTINGS before it reads the
      // preface, so "speaks first" would call it the client)
      this.procIsClient = false
      this.roleSource = 'syn'
    } else {
      // request/response protocols: the client speaks first
      this.procIsClient = c.dir === 'sent'
      this.roleSource = 'guess'
    }
    this.client = this.procIsClient ? local : remote
    this.server = this.procIsClient ? remote : local
  }

  /** direction of a chunk the tapped process sent or received */
  dirOf(c: TlsChunk): Dir {
    return (c.dir === 'sent') === this.procIsClient ? 'c2s' : 's2c'
  }

  /** the socket became known after the session began */
  learn(c: TlsChunk): void {
    if (c.local === null || c.remote === null) return
    const local = this.procIsClient ? this.client : this.server
    const remote = this.procIsClient ? this.server : this.client
    local.ip = c.local.ip
    local.port = c.local.port
    remote.ip = c.remote.ip
    remote.port = c.remote.port
  }

  swapRoles(source: RoleSource): void {
    ;[this.client, this.server] = [this.server, this.client]
    this.procIsClient = !this.procIsClient
    this.bytes = { c2s: this.bytes.s2c, s2c: this.bytes.c2s }
    this.packets = { c2s: this.packets.s2c, s2c: this.packets.c2s }
    this.gapBytes = { c2s: this.gapBytes.s2c, s2c: this.gapBytes.c2s }
    this.roleSource = source
  }
}

function isLoopback(ip: string): boolean {
  return ip.startsWith('127.') || ip === '::1'
}

function tupleKey(c: TlsChunk): string {
  if (c.local === null || c.remote === null) return ''
  const a = `${c.local.ip} ${c.local.port}`
  const b = `${c.remote.ip} ${c.remote.port}`
  return a < b ? `${a}|${b}` : `${b}|${a}`
}

export interface TlsSessionsOptions {
  pipeline: StreamOpener
  limits: Pick<Limits, 'flowIdleUs' | 'maxFlows'>
  counters: Counters
  /** the pod/container of a tapped process, asked once per session (undefined: nothing known) */
  identify?: (pid: number) => ProcessIdentity | undefined
  /**
   * local is a listening socket in pid's network namespace (ListeningSockets.has): asked once per
   * session when the ports do not say who is the server
   */
  listening?: (pid: number, local: Endpoint) => boolean
}

export class TlsSessions {
  private readonly sessions = new Map<string, Session>()
  /** 4-tuple -> the key of the session that owns it */
  private readonly owners = new Map<string, string>()
  private nextId = 1
  private nowUs = 0
  private readonly selfPid = process.pid

  constructor(private readonly o: TlsSessionsOptions) {}

  get size(): number {
    return this.sessions.size
  }

  /** One chunk from the tap (data borrowed for the call). */
  chunk(c: TlsChunk): void {
    if (c.tsUs > this.nowUs) this.nowUs = c.tsUs
    // podtap runs on node: its own TLS (an HTTPS sink) would feed itself
    if (c.pid === this.selfPid) return
    const key = `${c.pid}:${c.ssl}`
    let s = this.sessions.get(key)
    if (c.dir === 'closed') {
      // SSL_free: the next connection may get the same SSL * (and so the same key)
      if (s !== undefined) this.end(key, s, 'fin', c.tsUs)
      return
    }
    const tuple = tupleKey(c)
    if (s !== undefined && tuple !== '' && s.tuple !== '' && s.tuple !== tuple) {
      // the SSL object was freed and reused for another connection
      this.end(key, s, 'fin', c.tsUs)
      s = undefined
    }
    if (s === undefined) {
      const owner = tuple === '' ? undefined : this.owners.get(tuple)
      if (owner !== undefined && owner !== key) {
        this.o.counters.inc('tls_duplicate_chunks')
        return
      }
      if (this.sessions.size >= this.o.limits.maxFlows) {
        this.o.counters.inc('tls_sessions_dropped')
        return
      }
      s = new Session(this.nextId++, c, this.o.identify?.(c.pid), this.o.listening)
      this.sessions.set(key, s)
      this.o.counters.inc('tls_sessions')
      s.handler = this.o.pipeline.openStream(s, { tls: true })
    }
    if (s.tuple === '' && tuple !== '') {
      if (this.owners.has(tuple)) {
        // the other end of this connection was tapped first under its own key: it keeps it
        this.o.counters.inc('tls_duplicate_chunks')
        return
      }
      s.tuple = tuple
      this.owners.set(tuple, key)
      s.learn(c)
    }
    s.lastUs = Math.max(s.lastUs, c.tsUs)
    const dir = s.dirOf(c)
    s.packets[dir]++
    if (c.data.length > 0) {
      s.bytes[dir] += c.data.length
      s.handler!.data(dir, c.data, c.tsUs, -1)
    }
    // the tap copied less than the call moved: the rest is a gap of known size
    if (c.data.length < c.len) {
      s.gapBytes[dir] += c.len - c.data.length
      s.handler!.gap(dir, c.len - c.data.length, c.tsUs)
    }
  }

  /** Ends sessions idle for longer than flowIdleUs (call once a second with the wall clock). */
  advance(nowUs: number): void {
    if (nowUs > this.nowUs) this.nowUs = nowUs
    const before = this.nowUs - this.o.limits.flowIdleUs
    for (const [key, s] of this.sessions) if (s.lastUs < before) this.end(key, s, 'idle', this.nowUs)
  }

  /** Ends every session (capture stops): requests still waiting are reported unanswered. */
  closeAll(): void {
    for (const [key, s] of [...this.sessions]) this.end(key, s, 'shutdown', this.nowUs)
  }

  private end(key: string, s: Session, reason: EndReason, tsUs: number): void {
    this.sessions.delete(key)
    if (s.tuple !== '' && this.owners.get(s.tuple) === key) this.owners.delete(s.tuple)
    s.handler?.end(reason, Math.max(tsUs, s.lastUs))
  }
}
