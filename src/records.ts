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

let isoSecond = NaN
let isoPrefix = ''

/** 'YYYY-MM-DDTHH:MM:SS.' of a second since the epoch (throws a RangeError for a time Date cannot hold) */
function isoSecondPrefix(sec: number): string {
  if (sec !== isoSecond) {
    // one Date per second of capture time: records come in time order, so this is nearly free
    isoPrefix = new Date(sec * 1000).toISOString().slice(0, 20)
    isoSecond = sec
  }
  return isoPrefix
}

/** ISO-8601 UTC with microsecond precision: 2024-01-02T03:04:05.123456Z */
export function isoMicros(tsUs: number): string {
  const sec = Math.floor(tsUs / 1e6)
  const prefix = isoSecondPrefix(sec)
  const frac = Math.floor(tsUs - sec * 1e6)
  return prefix + (frac < 100000 ? String(frac).padStart(6, '0') : String(frac)) + 'Z'
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

/** the common case: a peer with an address only, no identity */
function addressOnly(p: Peer): boolean {
  for (const k in p) if (k !== 'ip' && k !== 'port') return false
  return true
}

function peerJson(p: Peer): string {
  // the common case without a generic stringify
  return addressOnly(p) ? `{"ip":${JSON.stringify(p.ip)},"port":${jsonNumber(p.port)}}` : JSON.stringify(p)
}

/** a number as JSON.stringify writes it (NaN and the infinities are null) */
const jsonNumber = (n: number): string => (Number.isFinite(n) ? String(n) : 'null')

/** JSON.stringify(toTraceRecord(e)), byte for byte, without building the record. */
export function traceJson(e: Exchange): string {
  const status = e.status === null ? 'null' : typeof e.status === 'number' ? jsonNumber(e.status) : JSON.stringify(e.status)
  return (
    `{"time":"${isoMicros(e.startUs)}","protocol":"${e.protocol}","tls":${e.tls},"client":${peerJson(e.client)},"server":${peerJson(e.server)},"method":${JSON.stringify(e.method)}` +
    (e.resource !== undefined ? `,"resource":${JSON.stringify(e.resource)}` : '') +
    `,"status":${status},"error":${e.error},"latency_ms":${jsonNumber(latencyMs(e))},"request_bytes":${jsonNumber(e.reqBytes)},"response_bytes":${jsonNumber(e.respBytes)}}`
  )
}

// ---- the l7_trace line as UTF-8 bytes (the JSONL hot path) ----
// encodeTrace writes what traceJson returns, byte for byte, straight into an output buffer: no
// string is built per record in the common case (ASCII text, integer counts, address-only peers);
// anything else (escapes, non-ASCII text, identity on a peer, odd numbers) goes through the same
// JSON.stringify the string form uses, for that field only. What repeats is copied as bytes made
// once: the constant names, the time up to the second (per second), protocol and tls (per
// protocol); address-only peers are written field by field on a connection's first two lines, copied
// as bytes kept per connection from its third on.

type Utf8Writable = Buffer & { utf8Write(s: string, offset: number): number }

const ascii = (s: string): Buffer => Buffer.from(s, 'latin1')
const K_RESOURCE = ascii(',"resource":')
const K_STATUS = ascii(',"status":')
const K_ERROR_FALSE = ascii(',"error":false,"latency_ms":')
const K_ERROR_TRUE = ascii(',"error":true,"latency_ms":')
const K_REQUEST = ascii(',"request_bytes":')
const K_RESPONSE = ascii(',"response_bytes":')

/** ASCII text as it is; anything else as UTF-8 */
function putText(b: Buffer, o: number, s: string): number {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c > 0x7f) return o - i + (b as Utf8Writable).utf8Write(s, o - i)
    b[o++] = c
  }
  return o
}

/** JSON.stringify(s) for a string: written as is when nothing in it needs an escape or UTF-8 */
function putJsonString(b: Buffer, o: number, s: string): number {
  const start = o
  b[o++] = 0x22
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 0x20 || c === 0x22 || c === 0x5c || c > 0x7f) return start + (b as Utf8Writable).utf8Write(JSON.stringify(s), start)
    b[o++] = c
  }
  b[o++] = 0x22
  return o
}

/** the decimal digits of an integer 0 <= n < 1e15 (int32 arithmetic below 2^31) */
function putUint(b: Buffer, o: number, n: number): number {
  if (n > 0x7fffffff) {
    let end = o + 1
    for (let t = n; t >= 10; t = Math.floor(t / 10)) end++
    for (let p = end - 1; p >= o; p--) {
      const q = Math.floor(n / 10)
      b[p] = 0x30 + n - q * 10
      n = q
    }
    return end
  }
  let v = n | 0
  const end = o + (v < 10 ? 1 : v < 100 ? 2 : v < 1000 ? 3 : v < 10000 ? 4 : v < 100000 ? 5 : v < 1000000 ? 6 : v < 10000000 ? 7 : v < 100000000 ? 8 : v < 1000000000 ? 9 : 10)
  for (let p = end - 1; p >= o; p--) {
    const q = (v / 10) | 0
    b[p] = 0x30 + v - q * 10
    v = q
  }
  return end
}

/** a number as JSON.stringify writes it */
function putNumber(b: Buffer, o: number, n: number): number {
  return Number.isInteger(n) && n >= 0 && n < 1e15 ? putUint(b, o, n) : putText(b, o, jsonNumber(n))
}

/** '{"time":"YYYY-MM-DDTHH:MM:SS.' of the last second written */
let headSec = NaN
let head: Buffer = Buffer.alloc(0)

/** 'Z","protocol":"http","tls":false,"client":' per protocol and tls */
const protoBytes = new Map<string, Buffer>()
let lastProto = ''
let lastTls = false
let lastProtoBytes: Buffer = Buffer.alloc(0)

function protocolPart(protocol: string, tls: boolean): Buffer {
  if (protocol === lastProto && tls === lastTls) return lastProtoBytes
  const key = tls + protocol
  let v = protoBytes.get(key)
  if (v === undefined) {
    v = Buffer.from(`Z","protocol":"${protocol}","tls":${tls},"client":`)
    if (protoBytes.size < 64) protoBytes.set(key, v)
  }
  lastProto = protocol
  lastTls = tls
  lastProtoBytes = v
  return v
}

const K_IP = ascii('{"ip":')
const K_PORT = ascii(',"port":')
const K_SERVER = ascii('},"server":{"ip":')
const K_METHOD = ascii('},"method":')

/**
 * '},"server":{"ip":...,"port":...},"method":' per server endpoint, in a small cache (slot by port,
 * checked against the address and port): many connections go to few servers, so a short connection's
 * line writes its client and copies its server
 */
interface ServerBytes {
  ip: string
  port: number
  bytes: Buffer
}
const SERVER_SLOTS = 64
const serverCache: ServerBytes[] = Array.from({ length: SERVER_SLOTS }, () => ({ ip: '', port: -1, bytes: Buffer.alloc(0) }))

/** '{"ip":...,"port":...},"server":{...},"method":' of two address-only peers with text addresses */
function putPeers(b: Buffer, o: number, c: Peer, s: Peer): number {
  b.set(K_IP, o)
  o = putJsonString(b, o + K_IP.length, c.ip)
  b.set(K_PORT, o)
  o = putNumber(b, o + K_PORT.length, c.port)
  const slot = serverCache[s.port & (SERVER_SLOTS - 1)]
  if (slot !== undefined && slot.port === s.port && slot.ip === s.ip) {
    b.set(slot.bytes, o)
    return o + slot.bytes.length
  }
  const start = o
  b.set(K_SERVER, o)
  o = putJsonString(b, o + K_SERVER.length, s.ip)
  b.set(K_PORT, o)
  o = putNumber(b, o + K_PORT.length, s.port)
  b.set(K_METHOD, o)
  o += K_METHOD.length
  // kept for integer ports (the slot is by port); a server seen once costs one Buffer
  if (slot !== undefined && Number.isInteger(s.port)) {
    slot.ip = s.ip
    slot.port = s.port
    slot.bytes = Buffer.from(b.subarray(start, o))
  }
  return o
}

/**
 * The peers' bytes of a connection's lines, per connection in a small cache (slot by flow id), kept
 * while the same Peer objects still hold the same address. A connection's first line writes them in
 * place and notes only its flow id (a number: storing the peers into the old-generation slot cost a
 * write barrier each and kept them alive); its second writes them again and keeps them in the slot with
 * a copy of the bytes, which its later lines copy. A short connection (one line) makes no string, no
 * Buffer and no reference; a long one copies its peers as one block.
 */
interface PeerBytes {
  client: Peer | null
  server: Peer | null
  cip: string
  cport: number
  sip: string
  sport: number
  bytes: Buffer
}
const PEER_SLOTS = 1024
const peerCache: PeerBytes[] = Array.from({ length: PEER_SLOTS }, () => ({ client: null, server: null, cip: '', cport: 0, sip: '', sport: 0, bytes: Buffer.alloc(0) }))
/** per slot, the flow id of the last line written through it */
const peerSeen = new Float64Array(PEER_SLOTS).fill(-1)

/** putPeers for an exchange whose peers are both address-only with text addresses (the caller checked) */
function putPeersOf(b: Buffer, o: number, e: Exchange): number {
  const c = e.client
  const s = e.server
  const i = e.flowId & (PEER_SLOTS - 1)
  const slot = peerCache[i] as PeerBytes
  if (slot.client === c && slot.server === s && slot.cip === c.ip && slot.cport === c.port && slot.sip === s.ip && slot.sport === s.port) {
    b.set(slot.bytes, o)
    return o + slot.bytes.length
  }
  const end = putPeers(b, o, c, s)
  if (peerSeen[i] !== e.flowId) {
    peerSeen[i] = e.flowId
    return end
  }
  slot.client = c
  slot.server = s
  slot.cip = c.ip
  slot.cport = c.port
  slot.sip = s.ip
  slot.sport = s.port
  slot.bytes = Buffer.from(b.subarray(o, end))
  return end
}

/** ',"status":200,"error":false,"latency_ms":' per status and error, for status null or a number */
const statusBytes = new Map<string | number, Buffer>()
let lastStatus: number | null = NaN
let lastError: boolean | null = false
let lastStatusBytes: Buffer = Buffer.alloc(0)

function statusPart(status: number | string | null, error: boolean | null): Buffer | null {
  if (status === lastStatus && error === lastError) return lastStatusBytes
  if (typeof status === 'string') return null
  const key = status !== null && error === false ? status : `${error} ${status}` // few distinct pairs: the map stays small
  let v = statusBytes.get(key)
  if (v === undefined) {
    v = Buffer.from(`,"status":${status === null ? 'null' : jsonNumber(status)},"error":${error},"latency_ms":`)
    if (statusBytes.size < 4096) statusBytes.set(key, v)
  }
  lastStatus = status
  lastError = error
  lastStatusBytes = v
  return v
}

/** bytes a JSON string of s takes at most: 6 per UTF-16 unit (\uXXXX; UTF-8 needs at most 3) */
const jsonBound = (s: string): number => 6 * s.length + 2

/**
 * traceJson(e) and a newline, UTF-8, written into b at `at`. Returns the offset after the newline, or
 * -1 when the line might not fit in b.length - at, or when a field is not of its declared type (the
 * caller then writes traceJson(e) itself). Throws where traceJson throws (a time Date cannot hold).
 */
export function encodeTrace(e: Exchange, b: Buffer, at: number): number {
  const { method, resource, status, protocol, tls } = e
  if (typeof method !== 'string' || (resource !== undefined && typeof resource !== 'string')) return -1
  if (status !== null && typeof status !== 'number' && typeof status !== 'string') return -1
  if (typeof protocol !== 'string' || typeof tls !== 'boolean') return -1
  const client = e.client
  const server = e.server
  // address-only peers with a text address are written in place; others as peerJson makes them
  const plain = typeof client.ip === 'string' && typeof server.ip === 'string' && addressOnly(client) && addressOnly(server)
  const peers = plain ? null : Buffer.from(`${peerJson(client)},"server":${peerJson(server)},"method":`)
  const need =
    512 + // names, punctuation, time, protocol, booleans and numbers, two address-only peers but their addresses (about 400 bytes at most)
    3 * protocol.length + (peers === null ? jsonBound(client.ip) + jsonBound(server.ip) : peers.length) +
    jsonBound(method) + (resource !== undefined ? jsonBound(resource) : 0) + (typeof status === 'string' ? jsonBound(status) : 0)
  if (at + need > b.length) return -1
  let o = at
  const sec = Math.floor(e.startUs / 1e6)
  const frac = Math.floor(e.startUs - sec * 1e6)
  if (frac >= 0 && frac < 1e6) {
    if (sec !== headSec) {
      head = Buffer.from('{"time":"' + isoSecondPrefix(sec))
      headSec = sec
    }
    b.set(head, o)
    o += head.length
    let f = frac | 0
    for (let i = o + 5; i >= o; i--) {
      const q = (f / 10) | 0
      b[i] = 0x30 + f - q * 10
      f = q
    }
    o += 6
  } else {
    // throws as traceJson does (no Date holds this time), or writes what isoMicros writes
    o = putText(b, o, '{"time":"' + isoMicros(e.startUs).slice(0, -1))
  }
  const pp = protocolPart(protocol, tls)
  b.set(pp, o)
  o += pp.length
  if (peers === null) o = putPeersOf(b, o, e)
  else {
    b.set(peers, o)
    o += peers.length
  }
  o = putJsonString(b, o, method)
  if (resource !== undefined) {
    b.set(K_RESOURCE, o)
    o = putJsonString(b, o + K_RESOURCE.length, resource)
  }
  const se = statusPart(status, e.error)
  if (se !== null) {
    b.set(se, o)
    o += se.length
  } else {
    b.set(K_STATUS, o)
    o = putJsonString(b, o + K_STATUS.length, status as string)
    const ke = e.error === false ? K_ERROR_FALSE : e.error === true ? K_ERROR_TRUE : Buffer.from(`,"error":${e.error},"latency_ms":`)
    b.set(ke, o)
    o += ke.length
  }
  // latencyMs(e): k/1000 for an integer k of µs, whose shortest form is k's digits with the point
  // moved three places (exact below 1e15: fewer than 16 significant digits)
  const k = Math.round(Math.max(0, e.endUs - e.startUs))
  if (Number.isInteger(k) && k < 1e15) {
    const ms = Math.floor(k / 1000)
    const f = k - ms * 1000
    o = putUint(b, o, ms)
    if (f !== 0) {
      // '.' and the three digits, less their trailing zeros
      const d1 = (f / 100) | 0
      const d2 = ((f / 10) | 0) - d1 * 10
      const d3 = f - ((f / 10) | 0) * 10
      b[o] = 0x2e
      b[o + 1] = 0x30 + d1
      b[o + 2] = 0x30 + d2
      b[o + 3] = 0x30 + d3
      o += d3 !== 0 ? 4 : d2 !== 0 ? 3 : 2
    }
  } else o = putText(b, o, jsonNumber(k / 1000))
  b.set(K_REQUEST, o)
  o = putNumber(b, o + K_REQUEST.length, e.reqBytes)
  b.set(K_RESPONSE, o)
  o = putNumber(b, o + K_RESPONSE.length, e.respBytes)
  b[o++] = 0x7d // }
  b[o++] = 0x0a
  return o
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
