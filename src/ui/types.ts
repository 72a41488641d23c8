// What the web UI's server sends to the page (JSON over /api/* and Server-Sent Events). Types only:
// shared by src/ui/model.ts (node) and src/ui/web/ (the page, bundled by esbuild), so neither side
// can drift from the other.

import type { Peer } from '../records.js'

/** One time bucket of an edge's or endpoint's RED history (capture clock). */
export interface UiBucket {
  /** bucket start, µs since the epoch */
  t: number
  requests: number
  errors: number
  /** ms; 0 when nothing in the bucket got a response */
  p50: number
  p99: number
}

export type UiHealth = 'ok' | 'warn' | 'bad' | 'idle'

/** A box on the service map: a workload, pod, service, process, or an address when that is all we know. */
export interface UiNode {
  id: string
  label: string
  kind: 'workload' | 'pod' | 'service' | 'process' | 'address'
  namespace?: string
  /** it answered requests / it sent requests */
  server: boolean
  client: boolean
  /** endpoint ids (UiEndpoint.id) this node serves */
  endpoints: string[]
}

/** client node -> server node, one per protocol */
export interface UiEdge {
  id: string
  source: string
  target: string
  /** a protocol id, or 'tls' for connections whose content is encrypted */
  protocol: string
  /** some connection of this edge was TLS (plaintext read through the OpenSSL tap, or encrypted) */
  tls: boolean
  requests: number
  errors: number
  /** % of requests */
  errorRate: number
  /** requests/s over the last minute of capture time (or since the edge appeared) */
  rate: number
  p50: number
  p99: number
  health: UiHealth
  /** endpoint ids (UiEndpoint.id) the client called on the server node */
  endpoints: string[]
  /** from the connections that ended (l7_link); absent before the first one ends */
  tcp?: UiTcpHealth
  /** from the TLS handshakes in its connections' packets (l7_link sni, tlsVersion, alerts) */
  handshakes?: UiTlsSeen
}

export interface UiTlsSeen {
  /** chosen versions and SNIs seen (the first 4 of each) */
  versions: string[]
  snis: string[]
  /** connections whose handshake ended in a fatal alert */
  fatalAlerts: number
}

export interface UiTcpHealth {
  connections: number
  resets: number
  retransmits: number
  packets: number
  gapBytes: number
  /** from l7_link tcp (src/tcp/health.ts), where the capture had packets: connects refused (RST to the
   * SYN) or unanswered, mean connect time (ms, 0 without samples), zero windows, mean RTT between the
   * capture point and the server (ms, 0 without samples) */
  refused: number
  unanswered: number
  connectMs: number
  zeroWindows: number
  rttServerMs: number
}

/** A server endpoint as the table names it (its server column) and a protocol. */
export interface UiEndpoint {
  id: string
  server: string
  protocol: string
  node: string
  requests: number
  errors: number
  p50: number
  p99: number
}

/**
 * The history of what the page has picked on the map (GET /api/focus?kind=edge|node&id=): an edge's
 * own buckets and those of the endpoints it calls, or the endpoints a node serves. Asked only while
 * the picked thing is shown, so snapshots stay small however many edges there are.
 */
export interface UiFocus {
  /** the edge's own history (kind edge) */
  edge?: UiBucket[]
  /** endpoint id -> its history */
  endpoints: Record<string, UiBucket[]>
}

/** A row of the terminal table (src/metrics/summary.ts SummaryRow, src/cli/table.ts). */
export interface UiRow {
  server: string
  protocol: string
  method: string
  resource: string
  status: string
  count: number
  /** distinct clients; 100 means "100+" */
  clients: number
  errors: number
  unanswered: number
  p50: number
  p90: number
  p99: number
  max: number
  reqBytes: number
  respBytes: number
}

/**
 * Extra tables shown when their data exists (TCP health, TLS coverage, podtap's own counters, and
 * whatever later parts register through UiModel.addSection): the page renders any of them as is.
 */
export interface UiSection {
  id: string
  title: string
  note?: string
  columns: string[]
  rows: (string | number)[][]
}

export interface UiTotals {
  exchanges: number
  errors: number
  unanswered: number
  servers: number
  connections: number
  /** requests the browser can still open (the newest, bounded) */
  requestsKept: number
}

export interface UiSnapshot {
  seq: number
  title: string
  /** the input is over (replay read its files, capture stopped): numbers no longer change */
  done: boolean
  /** capture clock: first and latest request start seen, µs */
  firstUs: number
  lastUs: number
  bucketUs: number
  totals: UiTotals
  nodes: UiNode[]
  edges: UiEdge[]
  endpoints: UiEndpoint[]
  table: UiRow[]
  /** rows of the table left out of `table` (cap) */
  tableMore: number
  sections: UiSection[]
  /** what did not fit (nodes, edges, endpoints past their caps) */
  dropped: { nodes: number; edges: number; endpoints: number }
}

/** an end of a request with whatever identity enrichment knows (src/records.ts Peer) */
export type UiPeer = Peer

/** One request in the browser's list. */
export interface UiRequest {
  id: number
  /** request start, µs */
  t: number
  protocol: string
  tls: boolean
  /** node ids of both ends (the map's) and the table's names */
  clientNode: string
  serverNode: string
  client: string
  server: string
  method: string
  resource: string
  status: string
  /** null: the status could not be read (neither success nor failure) */
  error: boolean | null
  latencyMs: number
  reqBytes: number
  respBytes: number
}

/** A request opened in the browser: both ends with identity, and the parser's attributes (secrets redacted). */
export interface UiRequestDetail extends UiRequest {
  clientPeer: UiPeer
  serverPeer: UiPeer
  attrs: Record<string, string>
}

export interface UiRequestList {
  requests: UiRequest[]
  /** how many of the kept requests matched (the list stops at `limit`) */
  matched: number
  kept: number
}
