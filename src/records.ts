// The records every output agrees on (DESIGN.md "The records"). An Exchange is a ParsedExchange plus
// where it happened; toTraceRecord() gives the l7_trace JSON exactly as `replay --format jsonl` prints.

import type { ParsedExchange, ProtocolId } from './protocols/types.js'
import type { Endpoint } from './tcp/types.js'

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
  error: boolean
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

/** Cuts text to `max` UTF-16 units, marking a cut with '…' (coroot l7/postgres.go). */
export function truncateText(s: string, max: number): string {
  return s.length <= max ? s : s.slice(0, Math.max(0, max - 1)) + '…'
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
