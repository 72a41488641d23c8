// Whole-run summary for `podtap replay` (and the live table): one row per server endpoint, protocol,
// method, resource and status, with counts and latency percentiles. Rows are capped; what does not fit
// is folded into an '(other)' row of its server so totals stay exact.

import type { Exchange, LinkRecord, Peer } from '../records.js'
import { newLatencyHistogram, percentileMs, recordUs, type LatencyHistogram } from './histogram.js'

export interface SummaryRow {
  server: string
  protocol: string
  method: string
  resource: string
  status: string
  /** the status as the exchange carried it (for the per-connection row cache) */
  statusRaw: number | string | null
  count: number
  /** distinct client addresses seen (up to MAX_CLIENTS_TRACKED, then '+') */
  clients: Set<string>
  errors: number
  /** exchanges without response */
  unanswered: number
  hist: LatencyHistogram
  reqBytes: number
  respBytes: number
}

/** distinct clients counted per row; past this the row shows "N+" (bounded memory) */
export const MAX_CLIENTS_TRACKED = 100

/** how an endpoint is named in the table: namespace/pod, else ip:port with the process, else ip:port */
export function peerLabel(p: Exchange['server']): string {
  const addr = p.ip.includes(':') ? `[${p.ip}]:${p.port}` : `${p.ip}:${p.port}`
  if (p.pod !== undefined) return `${p.namespace ? p.namespace + '/' : ''}${p.pod}:${p.port}`
  if (p.container !== undefined) return `${addr} (${p.container})`
  if (p.comm !== undefined) return `${addr} (${p.comm})`
  return addr
}

export interface SummaryTotals {
  exchanges: number
  errors: number
  unanswered: number
  servers: number
  /** encrypted connections no parser read (the tls rows) */
  tlsConnections: number
}

export class Summary {
  private rows = new Map<string, SummaryRow>()
  readonly totals: SummaryTotals = { exchanges: 0, errors: 0, unanswered: 0, servers: 0, tlsConnections: 0 }
  private servers = new Set<string>()

  constructor(private readonly maxRows = 2000) {}

  /** per connection: the row its last exchange went to (keep-alive connections repeat themselves) */
  private lastByFlow = new Map<number, SummaryRow>()

  add(e: Exchange): void {
    const last = this.lastByFlow.get(e.flowId)
    if (last !== undefined && last.statusRaw === e.status && last.method === e.method && last.resource === (e.resource ?? '') && last.protocol === e.protocol) {
      this.count(last, e)
      return
    }
    const r = this.row(peerLabel(e.server), e.protocol, e.method, e.resource ?? '', e.status === null ? '-' : String(e.status), e.status)
    if (this.lastByFlow.size >= 4096) this.lastByFlow.clear()
    this.lastByFlow.set(e.flowId, r)
    this.count(r, e)
  }

  /**
   * One ended connection (l7_link). An encrypted one that no parser read (protocol 'tls') is counted in
   * a row of its server with protocol tls, the TLS version as method, the SNI as resource ('(no SNI)'),
   * a fatal alert as status (else '-') and error; its bytes, and its handshake time as latency. Other
   * links add nothing: their exchanges are the rows.
   */
  addLink(l: LinkRecord): void {
    if (l.protocol !== 'tls') return
    const h = l.tlsHandshake
    let fatal: string | null = null
    if (h !== undefined) for (const a of h.alerts) if (a.level === 'fatal') { fatal = a.description; break }
    const r = this.row(peerLabel(l.server as Peer), 'tls', l.tlsVersion ?? '-', l.sni ?? '(no SNI)', fatal ?? '-', fatal)
    r.count++
    const client = l.client as Peer
    if (r.clients.size < MAX_CLIENTS_TRACKED) r.clients.add(client.pod !== undefined ? `${client.namespace}/${client.pod}` : client.ip)
    r.reqBytes += l.bytesSent
    r.respBytes += l.bytesReceived
    if (fatal !== null) r.errors++
    if (h?.handshakeUs !== undefined) recordUs(r.hist, h.handshakeUs)
    this.totals.tlsConnections++
  }

  /** the row of this shape; past maxRows, its server's '(other)' row */
  private row(server: string, protocol: string, method: string, resource: string, status: string, statusRaw: number | string | null): SummaryRow {
    let key = `${server}\0${protocol}\0${method}\0${resource}\0${status}`
    let r = this.rows.get(key)
    if (!r && this.rows.size >= this.maxRows) {
      method = '(other)'
      resource = ''
      key = `${server}\0${protocol}\0(other)\0\0${status}`
      r = this.rows.get(key)
    }
    if (!r) {
      r = { server, protocol, method, resource, status, statusRaw, count: 0, clients: new Set(), errors: 0, unanswered: 0, hist: newLatencyHistogram('fast'), reqBytes: 0, respBytes: 0 }
      this.rows.set(key, r)
      if (!this.servers.has(server)) {
        this.servers.add(server)
        this.totals.servers++
      }
    }
    return r
  }

  private count(r: SummaryRow, e: Exchange): void {
    r.count++
    if (r.clients.size < MAX_CLIENTS_TRACKED) r.clients.add(e.client.pod !== undefined ? `${e.client.namespace}/${e.client.pod}` : e.client.ip)
    r.reqBytes += e.reqBytes
    r.respBytes += e.respBytes
    if (e.error) r.errors++
    // status null: no response; with error false, none was expected (Redis CLIENT REPLY OFF, MongoDB
    // moreToCome, RocketMQ oneway, Kafka acks=0): neither unanswered nor a latency
    if (e.status === null) {
      if (e.error) r.unanswered++
    } else recordUs(r.hist, e.endUs - e.startUs)
    this.totals.exchanges++
    if (e.error) this.totals.errors++
    if (e.status === null && e.error) this.totals.unanswered++
  }

  /** rows sorted by server, then count (descending) */
  sortedRows(): SummaryRow[] {
    return [...this.rows.values()].sort((a, b) => (a.server < b.server ? -1 : a.server > b.server ? 1 : b.count - a.count))
  }
}

export function rowPercentiles(r: SummaryRow): { p50: number; p90: number; p99: number; max: number } {
  return {
    p50: percentileMs(r.hist, 50),
    p90: percentileMs(r.hist, 90),
    p99: percentileMs(r.hist, 99),
    max: r.hist.totalCount ? r.hist.maxValue / 1000 : 0,
  }
}
