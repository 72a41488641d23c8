// The records every output agrees on (DESIGN.md "The records"). An Exchange is a ParsedExchange plus
// where it happened; toTraceRecord() gives the l7_trace JSON exactly as `replay --format jsonl` prints.

import type { ParsedExchange, ProtocolId } from './protocols/types.js'
import type { TlsInfo } from './protocols/tls/observer.js'
import { truncateText } from './protocols/text.js'
export { truncateText }
import type { FlowTcpStats } from './tcp/health.js'
import type { EndReason, Endpoint } from './tcp/types.js'

/** An endpoint plus whatever identity enrichment knows (k8s, /proc). Unknown stays absent. */
export interface Peer extends Endpoint {
  pod?: string
  namespace?: string
  workload?: string
  service?: string
  node?: string
  container?: string
  pid?: number
  comm?: string
}

export interface Exchange extends ParsedExchange {
  protocol: ProtocolId
  tls: boolean
  client: Peer
  server: Peer
  /** FlowInfo.id of the connection */
  flowId: number
  /**
   * Set by the OTLP output (sinks/otlp.ts) when it exports this exchange as a span, before later
   * outputs see it: the Prometheus latency histogram attaches these ids as an exemplar.
   */
  span?: { traceId: string; spanId: string }
}

/** attr keys whose values are credentials (Authorization, Cookie, tokens, passwords, API keys, sessions) */
export const SECRET_ATTR_KEY = /auth|cookie|token|secret|passw|pwd|api[-_]?key|session|credential/i
export const REDACTED = '[redacted]'

/** A copy of attrs with every credential-named value replaced by REDACTED (xlsx, the web UI). */
export function redactAttrs(attrs: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {}
  for (const k in attrs) out[k] = SECRET_ATTR_KEY.test(k) ? REDACTED : attrs[k]!
  return out
}

/** The l7_trace record: field order and names as DESIGN.md defines them. */
export interface TraceRecord {
  time: string
  protocol: ProtocolId
  tls: boolean
  client: Peer
  server: Peer
  method: string
  resource?: string
  status: number | string | null
  /** null: a response came but its status could not be read (status 'unknown') */
  error: boolean | null
  latency_ms: number
  request_bytes: number
  response_bytes: number
}

/** ISO-8601 UTC with microsecond precision: 2024-01-02T03:04:05.123456Z */
let isoSecond = NaN
let isoPrefix = ''
export function isoMicros(tsUs: number): string {
  const sec = Math.floor(tsUs / 1e6)
  if (sec !== isoSecond) {
    // one Date per second of capture time: records come in time order, so this is nearly free
    isoSecond = sec
    isoPrefix = new Date(sec * 1000).toISOString().slice(0, 20) // 'YYYY-MM-DDTHH:MM:SS.'
  }
  const frac = Math.floor(tsUs - sec * 1e6)
  return isoPrefix + (frac < 100000 ? String(frac).padStart(6, '0') : String(frac)) + 'Z'
}

/** Latency in ms with µs resolution (captures carry µs timestamps; more digits would be noise). */
export function latencyMs(e: { startUs: number; endUs: number }): number {
  return Math.round(Math.max(0, e.endUs - e.startUs)) / 1000
}

export function toTraceRecord(e: Exchange): TraceRecord {
  const r: TraceRecord = {
    time: isoMicros(e.startUs),
    protocol: e.protocol,
    tls: e.tls,
    client: e.client,
    server: e.server,
    method: e.method,
    status: e.status,
    error: e.error,
    latency_ms: latencyMs(e),
    request_bytes: e.reqBytes,
    response_bytes: e.respBytes,
  }
  if (e.resource !== undefined) {
    // keep DESIGN.md's field order: resource after method
    return {
      time: r.time, protocol: r.protocol, tls: r.tls, client: r.client, server: r.server,
      method: r.method, resource: e.resource, status: r.status, error: r.error,
      latency_ms: r.latency_ms, request_bytes: r.request_bytes, response_bytes: r.response_bytes,
    }
  }
  return r
}

function peerJson(p: Peer): string {
  // the common case, address only, without a generic stringify (addresses need no escaping)
  for (const k in p) if (k !== 'ip' && k !== 'port') return JSON.stringify(p)
  return `{"ip":"${p.ip}","port":${p.port}}`
}

/** JSON.stringify(toTraceRecord(e)), byte for byte, without building the record (the JSONL hot path). */
export function traceJson(e: Exchange): string {
  const status = e.status === null ? 'null' : typeof e.status === 'number' ? String(e.status) : JSON.stringify(e.status)
  return (
    `{"time":"${isoMicros(e.startUs)}","protocol":"${e.protocol}","tls":${e.tls},"client":${peerJson(e.client)},"server":${peerJson(e.server)},"method":${JSON.stringify(e.method)}` +
    (e.resource !== undefined ? `,"resource":${JSON.stringify(e.resource)}` : '') +
    `,"status":${status},"error":${e.error},"latency_ms":${latencyMs(e)},"request_bytes":${e.reqBytes},"response_bytes":${e.respBytes}}`
  )
}

/** l7_link: one per connection, at its end (DESIGN.md "The records"). Roles as seen from the client. */
export interface LinkRecord {
  flowId: number
  client: Endpoint
  server: Endpoint
  protocol: ProtocolId | 'tls' | 'unknown'
  tls: boolean
  startUs: number
  endUs: number
  /** client to server payload bytes, and back */
  bytesSent: number
  bytesReceived: number
  packetsSent: number
  packetsReceived: number
  retransmits: number
  gapBytes: number
  endReason: EndReason
  /**
   * From the TLS handshake in the packets (src/protocols/tls/), when one was seen: the ClientHello's
   * server_name, the version the server chose, and the ALPN protocol it chose, or, when that was not
   * in the clear (TLS 1.3), what the client offered followed by " (offered)".
   */
  sni?: string
  tlsVersion?: string
  alpn?: string
  /** everything the handshake showed (offered versions, cipher, handshake time, alerts) */
  tlsHandshake?: TlsInfo
  /** TCP health of the connection (absent for the TLS tap's connections, which have no packets) */
  tcp?: FlowTcpStats
}

/** One pod's values at one sample (the `pod` InfluxDB point, podtap_pod_* in Prometheus). */
export interface PodSample {
  /** wall clock of the sample, µs since the epoch */
  timeUs: number
  namespace: string
  pod: string
  uid: string
  workload?: string
  node?: string
  podIp?: string
  /** the container's id (without scheme) when the pod has exactly one */
  containerId?: string
  containerCnt: number
  /** processes found in the pod's cgroups */
  processes: number
  /** µs since this pod's previous sample; null on its first */
  intervalUs: number | null
  /** CPU used over the interval, % of one core (200 = two cores busy) */
  cpuPercent: number | null
  /** bytes the pod sent / received over its veth in the interval */
  networkTx: number | null
  networkRx: number | null
  /** block I/O bytes read / written by the pod's cgroup in the interval */
  bytesRead: number | null
  bytesWrite: number | null
  /** sum of VmSize of the pod's processes, bytes */
  vmBytes: number | null
  /** anonymous memory of the pod's cgroup (v1 total_rss, v2 anon), bytes */
  rssBytes: number | null
  /** the cgroup's whole memory charge (page cache included), bytes */
  memoryUsageBytes: number | null
}

/**
 * One process with TLS connections and which tap reads them (the TLS coverage report, src/tls/coverage.ts):
 * 'openssl' (libssl uprobes), 'node' (node's built-in OpenSSL), 'go' (crypto/tls), or 'none' with the
 * reason no tap can (Java/JSSE, statically linked BoringSSL, rustls, a Go binary the Go tap cannot read).
 */
export interface TlsCoverageRow {
  pid: number
  comm: string
  tap: 'openssl' | 'node' | 'go' | 'none'
  reason?: string
  pod?: string
  namespace?: string
  /** how the process was found to use TLS: a tap read it, a tap inspected it, or packets to or from it */
  seenBy: 'tap' | 'inspection' | 'packets'
}
