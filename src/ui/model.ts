// What the web UI shows, computed from the same stream as the terminal table: exchanges (l7_trace)
// and ended connections (l7_link) from the OutputHub, in request-start order.
//
//   Summary (src/metrics/summary.ts)  the table's own rows, same class, same input
//   nodes / edges / endpoints          the service map: client node -> server node per protocol, with
//                                      totals, a latency histogram and a bucketed history each
//   a ring of the newest requests      the request browser (list and detail)
//   sections                           TCP health (from l7_link), TLS coverage, podtap's counters, and
//                                      whatever addSection() registers; each only when it has rows
//
// Everything is bounded: nodes, edges and endpoints have caps (what does not fit is counted), each
// history keeps HISTORY buckets, the request ring keeps maxRequests. Synchronous and cheap per exchange
// (one Summary.add, two map lookups, two histogram records, one ring write); the JSON snapshot is built
// only when a page asks (at most once a second per connected page, see server.ts).

import type { Counters } from '../counters.js'
import { newLatencyHistogram, percentileMs, recordUs, type LatencyHistogram } from '../metrics/histogram.js'
import { MAX_CLIENTS_TRACKED, peerLabel, rowPercentiles, Summary } from '../metrics/summary.js'
import { redactAttrs, type Exchange, type LinkRecord, type Peer, type TlsCoverageRow } from '../records.js'
import { matchRequest, type RequestFilter } from './filter.js'
import type { UiBucket, UiEdge, UiEndpoint, UiHealth, UiNode, UiRequest, UiRequestDetail, UiRequestList, UiRow, UiSection, UiSnapshot, UiTcpHealth, UiTlsSeen, UiFocus } from './types.js'

export interface UiModelOptions {
  title?: string
  /** the health counters the outputs share (shown as a section) */
  counters?: Counters
  /** newest requests kept for the browser (default 5000) */
  maxRequests?: number
  maxNodes?: number
  maxEdges?: number
  maxEndpoints?: number
  /** history bucket, µs of capture time (default 10 s) */
  bucketUs?: number
  /** table rows sent to the page (default 2000, the Summary's own cap) */
  maxTableRows?: number
}

/** buckets of history kept per edge and endpoint (60 x 10 s = 10 minutes) */
const HISTORY = 60
/** the map's rate is taken over this much capture time */
const RATE_SPAN_US = 60_000_000
/** addresses remembered to name the ends of l7_link records (which carry no identity) */
const MAX_ADDRS = 65_536
/** error rate (%) from which an edge is 'warn' / 'bad' */
const WARN_ERROR_PCT = 1
const BAD_ERROR_PCT = 5

/** latencies sampled per history bucket for its p50/p99 (reservoir: uniform over the bucket) */
const BUCKET_SAMPLES = 256

/**
 * Requests, errors and latency of one edge or endpoint: totals (an hdr histogram for the percentiles)
 * plus a bucketed history, whose percentiles come from a fixed reservoir sample of the bucket's
 * latencies (computed once, when the bucket closes: recording stays a few ns).
 */
class Red {
  requests = 0
  errors = 0
  readonly hist: LatencyHistogram = newLatencyHistogram('fast')
  firstUs = -1
  /** closed buckets, oldest first */
  private readonly past: UiBucket[] = []
  private curT = -1
  private curReq = 0
  private curErr = 0
  private curSeen = 0
  private readonly sample = new Float64Array(BUCKET_SAMPLES)

  constructor(private readonly bucketUs: number) {}

  add(e: Exchange): void {
    const t = e.startUs - (e.startUs % this.bucketUs)
    if (this.firstUs < 0) this.firstUs = e.startUs
    if (this.curT < 0) this.curT = t
    // a late exchange (before the current bucket) counts in the current one
    if (t > this.curT) this.roll(t)
    this.requests++
    this.curReq++
    if (e.error) {
      this.errors++
      this.curErr++
    }
    if (e.status !== null) {
      const us = Math.max(0, e.endUs - e.startUs)
      recordUs(this.hist, us)
      const i = this.curSeen++
      if (i < BUCKET_SAMPLES) this.sample[i] = us
      else {
        const j = Math.floor(Math.random() * (i + 1))
        if (j < BUCKET_SAMPLES) this.sample[j] = us
      }
    }
  }

  private roll(t: number): void {
    this.past.push(this.current())
    // empty buckets between, so the history's x axis is time (at most HISTORY of them)
    for (let b = Math.max(this.curT + this.bucketUs, t - HISTORY * this.bucketUs); b < t; b += this.bucketUs) {
      this.past.push({ t: b, requests: 0, errors: 0, p50: 0, p99: 0 })
    }
    if (this.past.length > HISTORY - 1) this.past.splice(0, this.past.length - (HISTORY - 1))
    this.curT = t
    this.curReq = 0
    this.curErr = 0
    this.curSeen = 0
  }

  private current(): UiBucket {
    const n = Math.min(this.curSeen, BUCKET_SAMPLES)
    const v = this.sample.subarray(0, n).slice().sort()
    const at = (p: number): number => (n === 0 ? 0 : Math.round(v[Math.min(n - 1, Math.ceil((p / 100) * n) - 1)]!) / 1000)
    return { t: this.curT, requests: this.curReq, errors: this.curErr, p50: at(50), p99: at(99) }
  }

  timeline(): UiBucket[] {
    return this.curT < 0 ? [] : [...this.past, this.current()]
  }

  /** requests/s over the last RATE_SPAN_US ending at nowUs (or since this one appeared) */
  rate(nowUs: number): number {
    const from = nowUs - RATE_SPAN_US
    let n = this.curT + this.bucketUs > from ? this.curReq : 0
    for (const b of this.past) if (b.t + this.bucketUs > from) n += b.requests
    const spanUs = Math.max(1_000_000, Math.min(RATE_SPAN_US, nowUs - this.firstUs))
    return n / (spanUs / 1e6)
  }
}

/** What a connection's exchanges share (the same ends): looked up once per connection, not per exchange. */
interface FlowPlace {
  client: Peer
  server: Peer
  protocol: string
  c: string | null
  s: string | null
  clientName: string
  serverName: string
  ep: EndpointState | undefined
  edge: EdgeState | null
}

/** connections whose place is remembered (cleared when full, as Summary does) */
const MAX_FLOWS_CACHED = 4096

interface EdgeState {
  id: string
  source: string
  target: string
  protocol: string
  tls: boolean
  red: Red
  endpoints: Set<string>
  tcp: UiTcpHealth | null
  /** running sums behind tcp's means */
  tcpSums: { connects: number; connectUs: number; rttSamples: number; rttUs: number } | null
  /** what the TLS handshakes of its connections showed (null before one) */
  handshakes: UiTlsSeen | null
}

interface EndpointState {
  id: string
  server: string
  protocol: string
  node: string
  red: Red
}

interface NodeState {
  node: UiNode
  endpoints: Set<string>
}

interface Kept {
  brief: UiRequest
  client: Peer
  server: Peer
  attrs?: Record<string, string>
}

/** The map's node for one end of an exchange: workload, pod, service, process, else its address. */
export function nodeOf(p: Peer, role: 'client' | 'server'): Pick<UiNode, 'id' | 'label' | 'kind' | 'namespace'> {
  const ns = p.namespace
  const inNs = (n: string): string => (ns ? `${ns}/${n}` : n)
  if (p.workload !== undefined) return { id: `w:${inNs(p.workload)}`, label: inNs(p.workload), kind: 'workload', namespace: ns }
  if (p.pod !== undefined) return { id: `p:${inNs(p.pod)}`, label: inNs(p.pod), kind: 'pod', namespace: ns }
  if (p.service !== undefined) return { id: `s:${inNs(p.service)}`, label: inNs(p.service), kind: 'service', namespace: ns }
  const addr = p.ip.includes(':') ? `[${p.ip}]` : p.ip
  const name = p.container ?? p.comm
  if (name !== undefined) return { id: `c:${name}@${p.ip}`, label: `${name} (${addr})`, kind: 'process' }
  // a client's port is ephemeral: the address alone names it
  if (role === 'client') return { id: `a:${p.ip}`, label: addr, kind: 'address' }
  return { id: `a:${addr}:${p.port}`, label: `${addr}:${p.port}`, kind: 'address' }
}

export class UiModel {
  readonly title: string
  readonly summary = new Summary()
  /** bumped on every change; the server sends a snapshot only when it moved */
  seq = 0
  done = false
  private firstUs = -1
  private lastUs = -1
  private readonly bucketUs: number
  private readonly nodes = new Map<string, NodeState>()
  private readonly edges = new Map<string, EdgeState>()
  private readonly endpoints = new Map<string, EndpointState>()
  private readonly dropped = { nodes: 0, edges: 0, endpoints: 0 }
  private readonly ring: (Kept | undefined)[]
  private nextId = 1
  /** address -> node id, learned from exchanges, to place l7_link records on the map */
  private readonly serverAddr = new Map<string, string>()
  private readonly clientAddr = new Map<string, string>()
  private connections = 0
  private readonly tls = { tlsConnections: 0, encrypted: 0, plainConnections: 0, tlsRequests: 0 }
  /** per server with TLS connections: what their handshakes showed (l7_link sni, tlsVersion, alpn) */
  private readonly tlsServers = new Map<string, TlsServer>()
  private readonly extra = new Map<string, () => UiSection | null>()
  private readonly flows = new Map<number, FlowPlace>()
  private coverage: readonly TlsCoverageRow[] = []
  /** client node > server node: its first edge (where links of another protocol name go) */
  private readonly pairs = new Map<string, EdgeState>()

  constructor(private readonly o: UiModelOptions = {}) {
    this.title = o.title ?? 'podtap'
    this.bucketUs = o.bucketUs ?? 10_000_000
    this.ring = new Array(o.maxRequests ?? 5000)
  }

  /** One exchange, in request-start order (OutputHub / Pipeline onExchange). */
  readonly exchange = (e: Exchange): void => {
    this.summary.add(e)
    if (this.firstUs < 0) this.firstUs = e.startUs
    if (e.startUs > this.lastUs) this.lastUs = e.startUs
    let f = this.flows.get(e.flowId)
    // keep-alive connections repeat themselves; a reused flow id or new identity looks again
    if (f === undefined || f.client !== e.client || f.server !== e.server || f.protocol !== e.protocol) f = this.place(e)
    f.ep?.red.add(e)
    if (f.edge !== null) {
      f.edge.red.add(e)
      if (e.tls) f.edge.tls = true
    }
    if (e.tls) this.tls.tlsRequests++
    this.keep(e, f)
    this.seq++
  }

  private place(e: Exchange): FlowPlace {
    const c = this.node(e.client, 'client')
    const s = this.node(e.server, 'server')
    const serverName = peerLabel(e.server)
    const epId = `${serverName}|${e.protocol}`
    let ep = this.endpoints.get(epId)
    if (ep === undefined && s !== null) {
      if (this.endpoints.size >= (this.o.maxEndpoints ?? 1000)) this.dropped.endpoints++
      else {
        ep = { id: epId, server: serverName, protocol: e.protocol, node: s, red: new Red(this.bucketUs) }
        this.endpoints.set(epId, ep)
        this.nodes.get(s)!.endpoints.add(epId)
      }
    }
    const edge = c !== null && s !== null ? this.exchangeEdge(c, s, e.protocol) : null
    if (edge !== null && ep !== undefined && edge.endpoints.size < 64) edge.endpoints.add(epId)
    const f: FlowPlace = { client: e.client, server: e.server, protocol: e.protocol, c, s, clientName: peerLabel(e.client), serverName, ep, edge }
    if (this.flows.size >= MAX_FLOWS_CACHED) this.flows.clear()
    this.flows.set(e.flowId, f)
    return f
  }

  /** One ended connection (l7_link): TCP health per edge, TLS coverage. */
  readonly link = (l: LinkRecord): void => {
    this.summary.addLink(l)
    this.connections++
    if (l.protocol === 'tls') this.tls.encrypted++
    else if (l.tls) this.tls.tlsConnections++
    else this.tls.plainConnections++
    if (l.tls || l.protocol === 'tls' || l.tlsVersion !== undefined) this.tlsServer(l)
    const sAddr = addrKey(l.server.ip, l.server.port)
    let s = this.serverAddr.get(sAddr) ?? null
    let c = this.clientAddr.get(l.client.ip) ?? null
    const failedConnect = l.tcp !== undefined && (l.tcp.connect === 'refused' || l.tcp.connect === 'unanswered')
    if (l.protocol === 'unknown' && (s === null || c === null) && !failedConnect) {
      // a connection nothing was recognised on, between ends no request named: not on the map
      this.seq++
      return
    }
    s ??= this.node({ ip: l.server.ip, port: l.server.port }, 'server')
    c ??= this.node({ ip: l.client.ip, port: l.client.port }, 'client')
    if (s === null || c === null) return
    // a link joins its protocol's edge; else (unrecognised content, or http2 whose exchanges were
    // grpc) the first edge between its ends; an encrypted one keeps an edge of its own
    let edge: EdgeState | null | undefined = this.edges.get(edgeKey(c, s, l.protocol))
    if (edge === undefined && l.protocol !== 'tls') edge = this.pairs.get(`${c}>${s}`)
    if (edge === undefined) {
      // a connect refused or never answered is on the map (a client that cannot reach its server)
      if (l.protocol === 'unknown' && !failedConnect) return
      edge = this.edge(c, s, l.protocol === 'unknown' ? 'tcp' : l.protocol)
    }
    if (edge === null) return
    if (l.tls || l.protocol === 'tls') edge.tls = true
    if (l.tlsVersion !== undefined || l.sni !== undefined || l.tlsHandshake !== undefined) {
      const h = (edge.handshakes ??= { versions: [], snis: [], fatalAlerts: 0 })
      if (l.tlsVersion !== undefined && !h.versions.includes(l.tlsVersion) && h.versions.length < 4) h.versions.push(l.tlsVersion)
      if (l.sni !== undefined && !h.snis.includes(l.sni) && h.snis.length < 4) h.snis.push(l.sni)
      if (l.tlsHandshake?.alerts.some((a) => a.level === 'fatal')) h.fatalAlerts++
    }
    const t = (edge.tcp ??= { connections: 0, resets: 0, retransmits: 0, packets: 0, gapBytes: 0, refused: 0, unanswered: 0, connectMs: 0, zeroWindows: 0, rttServerMs: 0 })
    const sums = (edge.tcpSums ??= { connects: 0, connectUs: 0, rttSamples: 0, rttUs: 0 })
    t.connections++
    if (l.endReason === 'rst') t.resets++
    t.retransmits += l.retransmits
    t.packets += l.packetsSent + l.packetsReceived
    t.gapBytes += l.gapBytes
    const h = l.tcp
    if (h !== undefined) {
      if (h.connect === 'refused') t.refused++
      else if (h.connect === 'unanswered') t.unanswered++
      if (h.connectUs !== null) {
        sums.connects++
        sums.connectUs += h.connectUs
        t.connectMs = sums.connectUs / sums.connects / 1000
      }
      t.zeroWindows += h.zeroWindows.c2s + h.zeroWindows.s2c
      if (h.rttServer.meanUs !== null && h.rttServer.samples > 0) {
        sums.rttSamples += h.rttServer.samples
        sums.rttUs += h.rttServer.meanUs * h.rttServer.samples
        t.rttServerMs = sums.rttUs / sums.rttSamples / 1000
      }
    }
    this.seq++
  }

  private tlsServer(l: LinkRecord): void {
    const key = addrKey(l.server.ip, l.server.port)
    let t = this.tlsServers.get(key)
    if (t === undefined) {
      if (this.tlsServers.size >= MAX_TLS_SERVERS) return
      t = { server: l.server, connections: 0, read: 0, encrypted: 0, versions: new Set(), snis: new Set(), alpns: new Set(), alerts: 0 }
      this.tlsServers.set(key, t)
    }
    t.connections++
    if (l.protocol === 'tls') t.encrypted++
    else t.read++
    if (l.tlsVersion !== undefined && t.versions.size < 4) t.versions.add(l.tlsVersion)
    if (l.sni !== undefined && t.snis.size < 4) t.snis.add(l.sni)
    if (l.alpn !== undefined && t.alpns.size < 4) t.alpns.add(l.alpn)
    if (l.tlsHandshake?.alerts.some((a) => a.level === 'fatal')) t.alerts++
  }

  /** The TLS coverage report now (capture --tls: each process using TLS and the tap that reads it). */
  readonly tlsCoverage = (rows: readonly TlsCoverageRow[]): void => {
    this.coverage = rows.slice(0, MAX_COVERAGE_ROWS)
    this.seq++
  }

  /** The input ended (replay read its files, capture stopped). */
  finish(): void {
    this.done = true
    this.seq++
  }

  /**
   * A table the page shows when `build` returns one with rows (e.g. a later part's own health view).
   * Called at most once a second per page; must be cheap and bounded.
   */
  addSection(id: string, build: () => UiSection | null): void {
    this.extra.set(id, build)
  }

  private node(p: Peer, role: 'client' | 'server'): string | null {
    const n = nodeOf(p, role)
    let st = this.nodes.get(n.id)
    if (st === undefined) {
      if (this.nodes.size >= (this.o.maxNodes ?? 500)) {
        this.dropped.nodes++
        return null
      }
      st = { node: { ...n, server: false, client: false, endpoints: [] }, endpoints: new Set() }
      this.nodes.set(n.id, st)
    }
    const addrs = role === 'server' ? this.serverAddr : this.clientAddr
    const key = role === 'server' ? addrKey(p.ip, p.port) : p.ip
    if (addrs.get(key) !== n.id) {
      if (addrs.size >= MAX_ADDRS) addrs.clear()
      addrs.set(key, n.id)
    }
    st.node[role] = true
    return n.id
  }

  /**
   * The edge an exchange counts on. A connection's link can come before its exchanges (they wait for
   * request-start order): an edge that only links made, of another protocol (http2 for grpc
   * exchanges), takes the exchanges' protocol instead of standing beside a second edge.
   */
  private exchangeEdge(c: string, s: string, protocol: string): EdgeState | null {
    const pair = this.pairs.get(`${c}>${s}`)
    if (pair !== undefined && pair.protocol !== protocol && pair.red.requests === 0 && pair.protocol !== 'tls' && !this.edges.has(edgeKey(c, s, protocol))) {
      this.edges.delete(pair.id)
      pair.id = edgeKey(c, s, protocol)
      pair.protocol = protocol
      this.edges.set(pair.id, pair)
    }
    return this.edge(c, s, protocol)
  }

  private edge(c: string, s: string, protocol: string): EdgeState | null {
    const id = edgeKey(c, s, protocol)
    let edge = this.edges.get(id)
    if (edge === undefined) {
      if (this.edges.size >= (this.o.maxEdges ?? 1000)) {
        this.dropped.edges++
        return null
      }
      edge = { id, source: c, target: s, protocol, tls: false, red: new Red(this.bucketUs), endpoints: new Set(), tcp: null, tcpSums: null, handshakes: null }
      this.edges.set(id, edge)
      if (!this.pairs.has(`${c}>${s}`)) this.pairs.set(`${c}>${s}`, edge)
    }
    return edge
  }

  private keep(e: Exchange, f: FlowPlace): void {
    const id = this.nextId++
    const brief: UiRequest = {
      id,
      t: e.startUs,
      protocol: e.protocol,
      tls: e.tls,
      clientNode: f.c ?? '',
      serverNode: f.s ?? '',
      client: f.clientName,
      server: f.serverName,
      method: e.method,
      resource: e.resource ?? '',
      status: e.status === null ? '-' : String(e.status),
      error: e.error,
      latencyMs: e.status === null ? 0 : Math.round(Math.max(0, e.endUs - e.startUs)) / 1000,
      reqBytes: e.reqBytes,
      respBytes: e.respBytes,
    }
    this.ring[id % this.ring.length] = { brief, client: e.client, server: e.server, attrs: e.attrs }
  }

  /** The newest kept requests matching `f`, newest first, at most `limit`; `afterId` only newer ones. */
  requests(f: RequestFilter, limit = 500, afterId = 0): UiRequestList {
    const out: UiRequest[] = []
    let matched = 0
    const oldest = Math.max(1, this.nextId - this.ring.length, afterId + 1)
    for (let id = this.nextId - 1; id >= oldest; id--) {
      const k = this.ring[id % this.ring.length]!
      if (!matchRequest(k.brief, f)) continue
      matched++
      if (out.length < limit) out.push(k.brief)
    }
    return { requests: out, matched, kept: this.kept() }
  }

  /** A kept request with both ends' identity and its attributes (secrets redacted); null once dropped. */
  request(id: number): UiRequestDetail | null {
    if (!Number.isInteger(id) || id < 1 || id >= this.nextId || id < this.nextId - this.ring.length) return null
    const k = this.ring[id % this.ring.length]!
    return { ...k.brief, clientPeer: { ...k.client }, serverPeer: { ...k.server }, attrs: k.attrs ? redactAttrs(k.attrs) : {} }
  }

  /** The history of a picked edge (its own and its endpoints') or node (the endpoints it serves); null: no such one. */
  focus(kind: string, id: string): UiFocus | null {
    const eps = (ids: Iterable<string>): Record<string, UiBucket[]> => {
      const out: Record<string, UiBucket[]> = {}
      for (const x of ids) {
        const ep = this.endpoints.get(x)
        if (ep !== undefined) out[x] = ep.red.timeline()
      }
      return out
    }
    if (kind === 'edge') {
      const e = this.edges.get(id)
      return e === undefined ? null : { edge: e.red.timeline(), endpoints: eps(e.endpoints) }
    }
    if (kind === 'node') {
      const n = this.nodes.get(id)
      return n === undefined ? null : { endpoints: eps(n.endpoints) }
    }
    return null
  }

  /** id of the newest request (0 before the first) */
  get lastId(): number {
    return this.nextId - 1
  }

  private kept(): number {
    return Math.min(this.nextId - 1, this.ring.length)
  }

  snapshot(): UiSnapshot {
    const now = this.lastUs
    const edges: UiEdge[] = [...this.edges.values()].map((x) => {
      const errorRate = x.red.requests ? (100 * x.red.errors) / x.red.requests : 0
      const e: UiEdge = {
        id: x.id,
        source: x.source,
        target: x.target,
        protocol: x.protocol,
        tls: x.tls,
        requests: x.red.requests,
        errors: x.red.errors,
        errorRate,
        rate: x.red.requests ? x.red.rate(now) : 0,
        p50: percentileMs(x.red.hist, 50),
        p99: percentileMs(x.red.hist, 99),
        health: health(x.red.requests, errorRate, x.tcp, x.handshakes),
        endpoints: [...x.endpoints],
      }
      if (x.tcp !== null) e.tcp = { ...x.tcp }
      if (x.handshakes !== null) e.handshakes = { ...x.handshakes, versions: [...x.handshakes.versions], snis: [...x.handshakes.snis] }
      return e
    })
    const endpoints: UiEndpoint[] = [...this.endpoints.values()].map((x) => ({
      id: x.id,
      server: x.server,
      protocol: x.protocol,
      node: x.node,
      requests: x.red.requests,
      errors: x.red.errors,
      p50: percentileMs(x.red.hist, 50),
      p99: percentileMs(x.red.hist, 99),
    }))
    const nodes: UiNode[] = [...this.nodes.values()].map((n) => ({ ...n.node, endpoints: [...n.endpoints] }))
    const rows = this.summary.sortedRows()
    const maxRows = this.o.maxTableRows ?? 2000
    const t = this.summary.totals
    return {
      seq: this.seq,
      title: this.title,
      done: this.done,
      firstUs: this.firstUs,
      lastUs: this.lastUs,
      bucketUs: this.bucketUs,
      totals: { exchanges: t.exchanges, errors: t.errors, unanswered: t.unanswered, servers: t.servers, connections: this.connections, requestsKept: this.kept() },
      nodes,
      edges,
      endpoints,
      table: rows.slice(0, maxRows).map(tableRow),
      tableMore: Math.max(0, rows.length - maxRows),
      sections: this.sections(edges),
      dropped: { ...this.dropped },
    }
  }

  private sections(edges: UiEdge[]): UiSection[] {
    const out: UiSection[] = []
    const tcp = edges.filter((e) => e.tcp !== undefined)
    if (tcp.length > 0) {
      out.push({
        id: 'tcp',
        title: 'TCP health',
        note: 'from the connections that ended (l7_link): connects refused or unanswered and their time, resets, retransmitted segments, zero windows, round trip capture point <-> server, bytes lost to capture gaps',
        columns: ['client', 'server', 'proto', 'connections', 'refused', 'unanswered', 'connect ms', 'resets', 'retransmits', 'retransmit %', 'zero windows', 'server RTT ms', 'gap bytes'],
        rows: tcp.map((e) => {
          const t = e.tcp!
          return [
            this.label(e.source), this.label(e.target), e.protocol, t.connections, t.refused, t.unanswered, round2(t.connectMs), t.resets,
            t.retransmits, t.packets ? round2((100 * t.retransmits) / t.packets) : 0, t.zeroWindows, round2(t.rttServerMs), t.gapBytes,
          ]
        }),
      })
    }
    const tl = this.tls
    if (tl.tlsConnections + tl.encrypted + tl.tlsRequests > 0) {
      const total = tl.tlsConnections + tl.encrypted + tl.plainConnections
      out.push({
        id: 'tls',
        title: 'TLS coverage',
        note: 'connections that ended: plaintext on the wire, TLS read through the OpenSSL tap, TLS left encrypted (not parsed)',
        columns: ['connections', 'plaintext', 'TLS, read', 'TLS, encrypted', 'TLS requests read'],
        rows: [[total, tl.plainConnections, tl.tlsConnections, tl.encrypted, tl.tlsRequests]],
      })
    }
    if (this.tlsServers.size > 0) {
      out.push({
        id: 'tls-servers',
        title: 'TLS by server',
        note: 'from the handshakes seen in the packets (SNI, chosen version and ALPN) and the OpenSSL tap',
        columns: ['server', 'connections', 'read (tap)', 'encrypted', 'versions', 'SNI', 'ALPN', 'fatal alerts'],
        rows: [...this.tlsServers.values()].map((t) => [
          this.label(this.serverAddr.get(addrKey(t.server.ip, t.server.port)) ?? '') || peerLabel(t.server),
          t.connections, t.read, t.encrypted, [...t.versions].join(', '), [...t.snis].join(', '), [...t.alpns].join(', '), t.alerts,
        ]),
      })
    }
    if (this.coverage.length > 0) {
      out.push({
        id: 'tls-coverage',
        title: 'TLS coverage by process',
        note: 'processes seen using TLS (capture --tls): which tap reads them, and why not when none does',
        columns: ['pid', 'process', 'pod', 'tap', 'seen by', 'why not read'],
        rows: this.coverage.map((r) => [r.pid, r.comm, r.pod !== undefined ? `${r.namespace ?? ''}/${r.pod}` : '', r.tap, r.seenBy, r.reason ?? '']),
      })
    }
    for (const [id, build] of this.extra) {
      const s = build()
      if (s !== null && s.rows.length > 0) out.push({ ...s, id })
    }
    const c = this.o.counters?.snapshot().filter((x) => x.value !== 0)
    if (c !== undefined && c.length > 0) {
      out.push({
        id: 'counters',
        title: 'podtap health counters',
        columns: ['counter', 'labels', 'value'],
        rows: c.map((x) => [x.name, Object.entries(x.labels).map(([k, v]) => `${k}=${v}`).join(' '), x.value]),
      })
    }
    return out
  }

  private label(nodeId: string): string {
    return this.nodes.get(nodeId)?.node.label ?? nodeId
  }
}

interface TlsServer {
  server: { ip: string; port: number }
  connections: number
  /** plaintext read through the tap */
  read: number
  /** left encrypted (protocol tls) */
  encrypted: number
  versions: Set<string>
  snis: Set<string>
  alpns: Set<string>
  alerts: number
}

/** processes kept from the TLS coverage report */
const MAX_COVERAGE_ROWS = 500

/** servers kept in the TLS-by-server section */
const MAX_TLS_SERVERS = 500

function edgeKey(c: string, s: string, protocol: string): string {
  return `${c}>${s}|${protocol}`
}

function addrKey(ip: string, port: number): string {
  return `${ip}|${port}`
}

function round2(v: number): number {
  return Math.round(v * 100) / 100
}

function health(requests: number, errorRate: number, tcp: UiTcpHealth | null, tls: UiTlsSeen | null): UiHealth {
  // a fatal TLS alert: the handshake failed, the client got nothing
  if (tls !== null && tls.fatalAlerts > 0) return 'bad'
  // connects refused or never answered: the client cannot reach its server
  if (tcp !== null && tcp.refused + tcp.unanswered > 0) return requests === 0 || tcp.refused + tcp.unanswered >= tcp.connections / 20 ? 'bad' : 'warn'
  if (requests === 0) return tcp !== null && tcp.resets > 0 ? 'warn' : 'idle'
  if (errorRate >= BAD_ERROR_PCT) return 'bad'
  if (errorRate >= WARN_ERROR_PCT) return 'warn'
  // more than 1 % of packets retransmitted: the network, not the server, is in trouble
  if (tcp !== null && tcp.packets > 0 && tcp.retransmits / tcp.packets > 0.01) return 'warn'
  return 'ok'
}

function tableRow(r: ReturnType<Summary['sortedRows']>[number]): UiRow {
  const p = rowPercentiles(r)
  return {
    server: r.server,
    protocol: r.protocol,
    method: r.method,
    resource: r.resource,
    status: r.status,
    count: r.count,
    clients: Math.min(r.clients.size, MAX_CLIENTS_TRACKED),
    errors: r.errors,
    unanswered: r.unanswered,
    p50: p.p50,
    p90: p.p90,
    p99: p.p99,
    max: p.max,
    reqBytes: r.reqBytes,
    respBytes: r.respBytes,
  }
}
