// InfluxDB output: l7_rpc (per RED window), l7_link (per connection), l7_status (status codes per
// server and window) and, opt-in, l7_trace (per exchange), as line protocol through
// @influxdata/influxdb-client's WriteApi to /api/v2/write (InfluxDB 2.x and 3.x; 1.8+ takes the same
// endpoint with bucket "db/rp" and token "user:password").
//
// Nothing here blocks the capture: points go into a bounded queue (limits.maxSinkQueue lines; past it
// the oldest are dropped) and one batch at a time is sent. The WriteApi's own retry buffer is not used:
// it sends every full batch at once with no limit on requests in flight, so a slow InfluxDB would make
// memory grow with the capture rate. Here a failed batch is retried with exponential backoff (honouring
// Retry-After on 429/503) while newer points wait in the bounded queue. Every point not written is
// counted in C.sinkDropped{sink:'influx'} (podtap_sink_dropped_points_total) and logged once per
// interval, never per point.
//
// Points (tags are indexed strings; a tag that is unknown, e.g. pod before k8s enrichment, is left out):
//   l7_rpc     time = window start. tags: protocol, method, server ("ip:port"), server_ip, server_port,
//              client_ip, namespace, pod, workload, service, node, comm, tgid (server side, when known),
//              client_namespace, client_pod, client_workload, client_service, client_comm.
//              fields: DESIGN.md's req_throughput, rsp_throughput, latency, p50/p90/p99_latency,
//              error_rate, requests, errors, plus responses, request_bytes, response_bytes and the
//              latency histogram of the window as lat_le_* counts (non-cumulative, bounds in LATENCY_BUCKETS_S).
//   l7_link    time = connection end. tags: protocol, tls, role, end_reason, server..., client_ip...
//              fields: bytes_sent, bytes_received (client's view), packets_sent, packets_received,
//              retransmits, gap_bytes, duration_ms, client_port, flow_id.
//              TLS handshake seen in the packets (src/protocols/tls/): tags sni, tls_version, alpn (as
//              LinkRecord says them); fields tls_cipher, tls_handshake_ms, tls_alert (the first fatal
//              plaintext alert), tls_alerts (plaintext alerts), tls_encrypted_alerts.
//              With TCP health (tcp/health.ts): tags connect (ok, refused, unanswered, unknown) and
//              reset (client, server: who sent a RST after the handshake); fields connect_ms,
//              retransmits_c2s/_s2c, zero_windows_c2s/_s2c, rtt_client_ms/_min_ms, rtt_server_ms/_min_ms.
//   l7_tcp     time = window start: TCP health per server endpoint and client ip, every port (also
//              protocols podtap cannot parse). tags: server..., client_ip... as l7_rpc. fields (counts
//              in the window): connects_ok, connects_refused, connects_unanswered, resets_client,
//              resets_server (connections ended by a RST), rst_segments_client/_server (every RST
//              segment, tshark's count), retransmits_c2s, retransmits_s2c, zero_windows_c2s, zero_windows_s2c;
//              active (established connections open at the window's end); connect_ms/connect_max_ms
//              (mean/max of SYN -> SYN/ACK); rtt_client_* and rtt_server_* _samples, _ms (mean),
//              _min_ms, _max_ms (round trip capture point <-> that side; the sum is the path's RTT).
//   l7_status  time = window start. tags: protocol, status, status_class, server...
//              fields: count, errors.
//   podtap_health  time = window start: podtap's own counters (Counters), cumulative. tags: counter
//              (the name in metrics/counters.ts C) plus its labels (protocol, reason, sink...). field: value.
//   pod        time = sample time (--k8s, once per window, k8s/pod-stats.ts). tags: pod_name, namespace,
//              workload, node, pod_ip, container_id (when the pod has one container).
//              fields (DESIGN.md): container_cnt, cpu (% of one core over the interval), network_tx,
//              network_rx, bytes_read, bytes_write (bytes in the interval), vm, rss (bytes now), plus
//              memory_usage (bytes), processes. A value that could not be read, or an interval value
//              on a pod's first sample, is left out.
//   l7_trace   time = request start. tags: protocol, method, status_class, tls, server..., client_ip...
//              fields: status, error, latency_ms, request_bytes, response_bytes, resource, client_port, flow_id.
//
// Every point also carries tag agent (the podtap instance: node name or host name), so two podtaps
// writing the same series and window do not overwrite each other.
//
// Timestamps are written in ns. A point is identified by measurement + tags + time, so two connections
// (or two pipelined requests) with the same tags in the same microsecond would overwrite each other:
// l7_link and l7_trace get a per-sink sequence number (mod 1000) in the nanosecond digits.

import * as http from 'node:http'
import * as https from 'node:https'
import * as os from 'node:os'
import { HttpError, InfluxDB, Point, setLogger, type WriteApi } from '@influxdata/influxdb-client'
import type { Limits } from '../config.js'
import { UsageError } from '../errors.js'
import { C, type Counters } from '../counters.js'
import type { LatencyHistogram } from '../metrics/histogram.js'
import { l7RpcFields, type RedSeries, type RedSnapshot } from '../metrics/red.js'
import type { PodSample } from '../records.js'
import type { LinkRecord } from '../records.js'
import { latencyMs, type Exchange, type Peer } from '../records.js'
import type { FlowTcpStats, RttRow, TcpSeriesRow, TcpWindow } from '../tcp/health.js'
import type { Endpoint } from '../tcp/types.js'
import { CappedValues, endpointLabel, statusClass, statusLabel } from './path-template.js'
import { log } from '../log.js'

/**
 * Upper bounds (seconds) of the latency buckets: the same in l7_rpc's lat_le_* fields and in the
 * Prometheus histogram, 0.5 ms (loopback, cache hits) to 10 s (slow queries, timeouts).
 */
export const LATENCY_BUCKETS_S = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const

/** field name of a bucket: lat_le_0p5ms, lat_le_1ms, ..., lat_le_10s, lat_le_inf */
export function latencyBucketField(le: number): string {
  if (!Number.isFinite(le)) return 'lat_le_inf'
  const [v, unit] = le < 1 ? [le * 1000, 'ms'] : [le, 's']
  return `lat_le_${String(Math.round(v * 1000) / 1000).replace('.', 'p')}${unit}`
}

export interface InfluxSinkOptions {
  url: string
  /** API token (2.x/3.x) or "user:password" (1.8+); sent as "Authorization: Token ..." */
  token?: string
  org: string
  bucket: string
  /** also write one l7_trace point per exchange */
  traces: boolean
  counters: Counters
  limits: Limits
  /** lines per request (default 5000) */
  batchSize?: number
  /** bytes per request (default 4 MiB; InfluxDB 1.x refuses bodies over 25 MB by default) */
  maxBatchBytes?: number
  /** a partial batch is sent after this long (default 1000 ms) */
  flushIntervalMs?: number
  /** retries of one batch after its first failure (default 5), then it is dropped and counted */
  maxRetries?: number
  minRetryDelayMs?: number
  maxRetryDelayMs?: number
  /** one write request (default 10 s) */
  requestTimeoutMs?: number
  /** close() gives up writing after this long (default 10 s); what is left is counted as dropped */
  closeTimeoutMs?: number
  /** drops and write errors are logged at most once per this interval (default 30 s) */
  logIntervalMs?: number
  log?: (msg: string) => void
  /** the RED window (OutputHub's); l7_status uses it until the first window arrives (default 15 s) */
  windowUs?: number
  /** value of the 'agent' tag on every point: which podtap wrote it (default $NODE_NAME, else the host name) */
  agent?: string
}

/** distinct status values per server in l7_status before further ones become 'other' */
const MAX_STATUSES_PER_SERVER = 32
/** servers whose methods/statuses are tracked for the caps; past it they share one 'other' set */
const MAX_CAPPED_SERVERS = 10_000
/** a Retry-After longer than this is not waited for in full (a misconfigured proxy must not stall the sink) */
const MAX_RETRY_AFTER_MS = 60_000
/** default RED window when no snapshot has told us yet (DESIGN.md: 15 s) */
const DEFAULT_WINDOW_US = 15_000_000

/** Bounded FIFO of line-protocol strings; pushing onto a full queue drops the oldest line. */
class LineQueue {
  private buf: (string | undefined)[]
  private head = 0
  size = 0
  constructor(readonly cap: number) {
    this.buf = new Array(Math.min(cap, 1024))
  }
  /** true when the oldest line was dropped to make room */
  push(line: string): boolean {
    if (this.size === this.cap) {
      this.buf[this.head] = line
      this.head = (this.head + 1) % this.buf.length
      return true
    }
    if (this.size === this.buf.length) this.grow()
    this.buf[(this.head + this.size) % this.buf.length] = line
    this.size++
    return false
  }
  take(maxLines: number, maxBytes: number): string[] {
    const out: string[] = []
    let bytes = 0
    while (this.size > 0 && out.length < maxLines) {
      const l = this.buf[this.head]!
      if (out.length > 0 && bytes + l.length + 1 > maxBytes) break
      out.push(l)
      bytes += l.length + 1
      this.buf[this.head] = undefined
      this.head = (this.head + 1) % this.buf.length
      this.size--
    }
    return out
  }
  clear(): void {
    this.buf = new Array(Math.min(this.cap, 1024))
    this.head = 0
    this.size = 0
  }
  private grow(): void {
    const n = Math.min(this.cap, this.buf.length * 2)
    const next = new Array<string | undefined>(n)
    for (let i = 0; i < this.size; i++) next[i] = this.buf[(this.head + i) % this.buf.length]
    this.buf = next
    this.head = 0
  }
}

/** Write errors and drops, summed and logged at most once per interval (the first one at once). */
export class RateLimitedReport {
  private dropped = 0
  private failures = 0
  private lastFailure = ''
  private lastDrop = ''
  private lastLogMs = -Infinity
  constructor(
    private readonly intervalMs: number,
    private readonly log: (msg: string) => void,
    /** the sink named in the log line */
    private readonly sink = 'influx',
  ) {}
  failure(err: string): void {
    this.failures++
    this.lastFailure = err
    this.maybeLog()
  }
  drop(n: number, reason: string): void {
    this.dropped += n
    this.lastDrop = reason
    this.maybeLog()
  }
  maybeLog(force = false): void {
    if (this.dropped === 0 && this.failures === 0) return
    const now = Date.now()
    if (!force && now - this.lastLogMs < this.intervalMs) return
    const parts = []
    if (this.failures) parts.push(`${this.failures} write request(s) failed (last: ${this.lastFailure}), retrying`)
    if (this.dropped) parts.push(`${this.dropped} point(s) dropped (last reason: ${this.lastDrop})`)
    this.log(`${this.sink}: ${parts.join('; ')}`)
    this.lastLogMs = now
    this.dropped = 0
    this.failures = 0
  }
}

interface StatusCell {
  tags: Record<string, string>
  count: number
  errors: number
}

let libraryLoggerSilenced = false

export class InfluxSink {
  readonly name = 'influx'
  private readonly writeApi: WriteApi
  private readonly agent: http.Agent
  private readonly queue: LineQueue
  private readonly report: RateLimitedReport
  private readonly batchSize: number
  private readonly maxBatchBytes: number
  private readonly flushIntervalMs: number
  private readonly maxRetries: number
  private readonly minRetryDelayMs: number
  private readonly maxRetryDelayMs: number
  private readonly closeTimeoutMs: number
  private readonly endpoint: Endpoint
  /** the batch being written or waiting for a retry */
  private inflight: string[] | null = null
  private attempt = 0
  /** when the batch in flight may be tried again (backoff, Retry-After) */
  private nextRetryAtMs = 0
  private sending: Promise<void> | null = null
  private timer: NodeJS.Timeout | null = null
  /** delay the pending timer was set with */
  private timerMs = -1
  private closing = false
  /** set when close() has given up: late results of a request are ignored */
  private finished = false
  private seq = 0
  private readonly methods: CappedValues
  private readonly statuses = new CappedValues(MAX_STATUSES_PER_SERVER, MAX_CAPPED_SERVERS)
  /** l7_status cells of the open window, keyed by window start then tag set */
  private statusCells = new Map<string, StatusCell>()
  private windowUs = DEFAULT_WINDOW_US
  /** timestamp of the last window written (podtap_health is refreshed there at close) */
  private lastWindowTs: string | null = null
  /** windows up to here were written: later exchanges of them count in the next window (as RED does) */
  private flushedUpToUs = -Infinity
  /** lines handed to the queue; after close(), queued = written + dropped */
  queued = 0
  /** lines written (acknowledged by InfluxDB) */
  written = 0
  /** write requests that failed (each retry counts) */
  failures = 0

  constructor(private readonly o: InfluxSinkOptions) {
    let u: URL
    try {
      u = new URL(o.url)
    } catch {
      throw new UsageError(`--influx-url ${o.url} is not a URL; expected e.g. http://influxdb:8086`)
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') {
      throw new UsageError(`--influx-url ${o.url}: only http:// and https:// are supported`)
    }
    const port = u.port ? Number(u.port) : u.protocol === 'https:' ? 443 : 80
    this.endpoint = { ip: u.hostname.replace(/^\[|\]$/g, ''), port }
    this.batchSize = o.batchSize ?? 5000
    this.maxBatchBytes = o.maxBatchBytes ?? 4 * 1024 * 1024
    this.flushIntervalMs = o.flushIntervalMs ?? 1000
    this.maxRetries = o.maxRetries ?? 5
    this.minRetryDelayMs = o.minRetryDelayMs ?? 500
    this.maxRetryDelayMs = o.maxRetryDelayMs ?? 30_000
    this.closeTimeoutMs = o.closeTimeoutMs ?? 10_000
    this.queue = new LineQueue(Math.max(1, o.limits.maxSinkQueue))
    this.report = new RateLimitedReport(o.logIntervalMs ?? 30_000, o.log ?? ((m) => log.info(m)))
    this.methods = new CappedValues(o.limits.maxMethodsPerServer, MAX_CAPPED_SERVERS)
    this.windowUs = o.windowUs ?? DEFAULT_WINDOW_US
    // the client library logs every failed write on the console; this sink reports instead
    if (!libraryLoggerSilenced) {
      setLogger({ error: () => undefined, warn: () => undefined })
      libraryLoggerSilenced = true
    }
    // own agent: close() destroys it, which ends a request that InfluxDB never answers
    this.agent = u.protocol === 'https:' ? new https.Agent({ keepAlive: true, maxSockets: 2 }) : new http.Agent({ keepAlive: true, maxSockets: 2 })
    const client = new InfluxDB({
      url: o.url,
      token: o.token,
      timeout: o.requestTimeoutMs ?? 10_000,
      transportOptions: { agent: this.agent },
    })
    this.writeApi = client.getWriteApi(o.org, o.bucket, 'ns', {
      // batching, timing and retries happen in this class (see the file comment); the WriteApi sends
      // exactly the batch handed to it when flush() is called
      batchSize: this.batchSize + 1,
      maxBatchBytes: Number.POSITIVE_INFINITY,
      flushInterval: 0,
      maxRetries: 0,
      maxBufferLines: 1,
      gzipThreshold: 64 * 1024,
    })
    this.writeApi.useDefaultTags({ agent: o.agent || process.env.NODE_NAME || os.hostname() })
    // a sample at 0 so the exported counter exists before the first drop
    o.counters.inc(C.sinkDropped, { sink: 'influx' }, 0)
  }

  /** The InfluxDB host and port this sink sends to (live capture must not capture this traffic). */
  ownEndpoints(): Endpoint[] {
    return [this.endpoint]
  }

  /** lines waiting (queued plus the batch in flight) */
  get pending(): number {
    return this.queue.size + (this.inflight?.length ?? 0)
  }

  onExchange(e: Exchange): void {
    if (this.closing) {
      if (this.o.traces) this.drop(1, 'exchange after close()')
      return
    }
    this.countStatus(e)
    if (this.o.traces) this.enqueue(this.tracePoint(e))
  }

  onLink(l: LinkRecord): void {
    if (this.closing) {
      this.drop(1, 'link after close()')
      return
    }
    this.enqueue(this.linkPoint(l))
  }

  onWindow(s: RedSnapshot): void {
    if (this.closing) {
      this.drop(s.series.length, 'window after close()')
      return
    }
    this.windowUs = s.windowUs
    const ts = nsTime(s.windowStartUs, 0)
    for (const series of s.series) this.enqueue(this.rpcPoint(series, s.windowUs, ts))
    this.flushStatus(s.windowStartUs + s.windowUs)
    this.lastWindowTs = ts
    this.writeHealth(ts)
  }

  /** l7_tcp: one point per series (server endpoint, client) of a closed TCP health window */
  onTcp(w: TcpWindow): void {
    if (this.closing) {
      this.drop(w.rows.length, 'TCP window after close()')
      return
    }
    const ts = nsTime(w.windowStartUs, 0)
    for (const row of w.rows) this.enqueue(tcpPoint(row, ts, this.writeApi))
  }

  onPods(samples: readonly PodSample[]): void {
    if (this.closing) {
      this.drop(samples.length, 'pod samples after close()')
      return
    }
    for (const x of samples) this.enqueue(podPoint(x, this.writeApi))
  }

  /** podtap_health: every counter's current value, stamped with the window (a later write of the
   * same window replaces the values, so close() can refresh the last one) */
  private writeHealth(ts: string): void {
    const snap = this.o.counters.snapshot()
    // the unlabelled basics exist from the start (0 until counted), so dashboards always find them
    for (const name of [C.packets, C.captureDropped, C.flowsActive]) {
      if (!snap.some((c) => c.name === name)) snap.push({ name, labels: {}, value: 0 })
    }
    for (const c of snap) {
      const p = new Point('podtap_health').tag('counter', c.name)
      for (const k in c.labels) if (k !== 'counter' && k !== 'agent') p.tag(k, c.labels[k])
      this.enqueue(p.floatField('value', c.value).timestamp(ts).toLineProtocol(this.writeApi))
    }
  }

  // ---- points

  private rpcPoint(s: RedSeries, windowUs: number, ts: string): string | undefined {
    const p = new Point('l7_rpc').tag('protocol', s.protocol).tag('method', s.method)
    serverTags(p, s.server)
    clientTags(p, s.client)
    const f = l7RpcFields(s, windowUs)
    p.floatField('req_throughput', f.req_throughput)
      .floatField('rsp_throughput', f.rsp_throughput)
      .floatField('latency', f.latency)
      .floatField('p50_latency', f.p50_latency)
      .floatField('p90_latency', f.p90_latency)
      .floatField('p99_latency', f.p99_latency)
      .floatField('error_rate', f.error_rate)
      .intField('requests', f.requests)
      .intField('errors', f.errors)
      .intField('responses', s.responses)
      .intField('request_bytes', s.reqBytes)
      .intField('response_bytes', s.respBytes)
    const counts = bucketCounts(s.hist)
    for (let i = 0; i < counts.length; i++) p.intField(BUCKET_FIELDS[i], counts[i])
    return p.timestamp(ts).toLineProtocol(this.writeApi)
  }

  private linkPoint(l: LinkRecord): string | undefined {
    const p = new Point('l7_link')
      .tag('protocol', l.protocol)
      .tag('tls', String(l.tls))
      .tag('role', 'client')
      .tag('end_reason', l.endReason)
    serverTags(p, l.server)
    clientTags(p, l.client)
    p.intField('bytes_sent', l.bytesSent)
      .intField('bytes_received', l.bytesReceived)
      .intField('packets_sent', l.packetsSent)
      .intField('packets_received', l.packetsReceived)
      .intField('retransmits', l.retransmits)
      .intField('gap_bytes', l.gapBytes)
      .floatField('duration_ms', Math.max(0, l.endUs - l.startUs) / 1000)
      .intField('client_port', l.client.port)
      .intField('flow_id', l.flowId)
    const h = l.tlsHandshake
    if (h !== undefined) {
      if (l.sni !== undefined) p.tag('sni', l.sni)
      if (l.tlsVersion !== undefined) p.tag('tls_version', l.tlsVersion)
      if (l.alpn !== undefined) p.tag('alpn', l.alpn)
      if (h.cipher !== undefined) p.stringField('tls_cipher', h.cipher)
      if (h.handshakeUs !== undefined) p.floatField('tls_handshake_ms', h.handshakeUs / 1000)
      const fatal = h.alerts.find((a) => a.level === 'fatal')
      if (fatal !== undefined) p.stringField('tls_alert', fatal.description)
      p.intField('tls_alerts', h.alerts.length).intField('tls_encrypted_alerts', h.encryptedAlerts)
    }
    if (l.tcp !== undefined) linkTcpFields(p, l.tcp)
    return p.timestamp(nsTime(l.endUs, this.nextSeq())).toLineProtocol(this.writeApi)
  }

  private tracePoint(e: Exchange): string | undefined {
    const server = endpointLabel(e.server.ip, e.server.port)
    const p = new Point('l7_trace')
      .tag('protocol', e.protocol)
      .tag('method', this.methods.value(this.methods.owner(server), e.method))
      .tag('status_class', statusClass(e.protocol, e.status, e.error))
      .tag('tls', String(e.tls))
    serverTags(p, e.server)
    clientTags(p, e.client)
    // error null (a status that could not be read) writes no error field: neither true nor false
    if (e.error !== null) p.booleanField('error', e.error)
    p.stringField('status', e.status === null ? '' : String(e.status))
      .floatField('latency_ms', latencyMs(e))
      .intField('request_bytes', e.reqBytes)
      .intField('response_bytes', e.respBytes)
      .intField('client_port', e.client.port)
      .intField('flow_id', e.flowId)
    if (e.resource !== undefined) p.stringField('resource', e.resource)
    return p.timestamp(nsTime(e.startUs, this.nextSeq())).toLineProtocol(this.writeApi)
  }

  private countStatus(e: Exchange): void {
    let w = e.startUs - (e.startUs % this.windowUs)
    if (w < this.flushedUpToUs) w = this.flushedUpToUs
    const server = this.statuses.owner(endpointLabel(e.server.ip, e.server.port))
    const status = this.statuses.value(server, statusLabel(e.status))
    const cls = statusClass(e.protocol, e.status, e.error)
    const key = `${w}|${e.server.ip}|${e.server.port}|${e.protocol}|${status}|${cls}`
    let c = this.statusCells.get(key)
    if (c === undefined) {
      if (this.statusCells.size >= this.o.limits.maxSeriesPerWindow) {
        this.o.counters.inc(C.seriesDropped)
        return
      }
      const tags: Record<string, string> = { protocol: e.protocol, status, status_class: cls }
      peerTags(tags, e.server)
      c = { tags, count: 0, errors: 0 }
      this.statusCells.set(key, c)
    }
    c.count++
    if (e.error) c.errors++
  }

  /** writes the l7_status cells of windows that start before `beforeUs` */
  private flushStatus(beforeUs: number): void {
    if (beforeUs > this.flushedUpToUs) this.flushedUpToUs = beforeUs
    if (this.statusCells.size === 0) return
    const keep = new Map<string, StatusCell>()
    for (const [key, c] of this.statusCells) {
      const w = Number(key.slice(0, key.indexOf('|')))
      if (w >= beforeUs) {
        keep.set(key, c)
        continue
      }
      const p = new Point('l7_status')
      for (const k in c.tags) p.tag(k, c.tags[k])
      p.intField('count', c.count).intField('errors', c.errors)
      this.enqueue(p.timestamp(nsTime(w, 0)).toLineProtocol(this.writeApi))
    }
    this.statusCells = keep
  }

  private nextSeq(): number {
    this.seq = (this.seq + 1) % 1000
    return this.seq
  }

  // ---- queue and sending

  private enqueue(line: string | undefined): void {
    if (line === undefined) return
    this.queued++
    if (this.finished) {
      this.drop(1, 'sink closed')
      return
    }
    if (this.queue.push(line)) this.drop(1, `queue full (${this.queue.cap} points): InfluxDB is slower than the capture`)
    if (this.sending !== null || (this.inflight !== null && this.timer !== null)) return // busy or waiting to retry
    if (this.queue.size >= this.batchSize) {
      if (this.timerMs !== 0) this.schedule(0)
    } else if (this.timer === null) this.schedule(this.flushIntervalMs)
  }

  private schedule(ms: number): void {
    if (this.timer !== null) clearTimeout(this.timer)
    this.timerMs = ms
    this.timer = setTimeout(() => {
      this.timer = null
      this.timerMs = -1
      if (this.sending === null) this.sending = this.sendOne().finally(() => (this.sending = null))
    }, ms)
    this.timer.unref()
  }

  private async sendOne(): Promise<void> {
    if (this.inflight === null) {
      if (this.queue.size === 0) return
      this.inflight = this.queue.take(this.batchSize, this.maxBatchBytes)
      this.attempt = 0
    }
    const batch = this.inflight
    let err: unknown = null
    try {
      this.writeApi.writeRecords(batch)
      await this.writeApi.flush()
    } catch (e) {
      err = e
    }
    if (this.finished) return
    if (err === null) {
      this.written += batch.length
      this.inflight = null
    } else {
      this.failures++
      const retry = isRetryable(err) && this.attempt < this.maxRetries
      if (!retry) {
        this.inflight = null
        this.drop(batch.length, `${describe(err)}${this.attempt > 0 ? ` (after ${this.attempt + 1} tries)` : ""}`)
      } else {
        this.attempt++
        this.report.failure(describe(err))
        const delay = this.retryDelayMs(err)
        this.nextRetryAtMs = Date.now() + delay
        if (!this.closing) this.schedule(delay)
        return
      }
    }
    if (this.closing) return
    if (this.queue.size >= this.batchSize) this.schedule(0)
    else if (this.queue.size > 0) this.schedule(this.flushIntervalMs)
  }

  private retryDelayMs(err: unknown): number {
    // exponential backoff with 20 % jitter; Retry-After (seconds) when InfluxDB sends one
    let ms = Math.min(this.maxRetryDelayMs, this.minRetryDelayMs * 2 ** (this.attempt - 1))
    ms *= 1 + Math.random() * 0.2
    if (err instanceof HttpError && err.retryAfter() > 0) ms = Math.max(ms, Math.min(err.retryAfter() * 1000, MAX_RETRY_AFTER_MS))
    return Math.round(ms)
  }

  private drop(n: number, reason: string): void {
    this.o.counters.inc(C.sinkDropped, { sink: 'influx' }, n)
    this.report.drop(n, reason)
  }

  /**
   * Writes what is queued (l7_status cells of the open window included), retrying as time allows;
   * after closeTimeoutMs what is left is counted as dropped, the connection is destroyed and close()
   * returns. Never rejects.
   */
  async close(): Promise<void> {
    if (this.closing) return
    this.flushStatus(Number.POSITIVE_INFINITY)
    if (this.lastWindowTs !== null) this.writeHealth(this.lastWindowTs)
    this.closing = true
    if (this.timer !== null) clearTimeout(this.timer)
    this.timer = null
    this.timerMs = -1
    const deadline = Date.now() + this.closeTimeoutMs
    while (this.pending > 0 && Date.now() < deadline) {
      if (this.sending === null) {
        // a batch waiting for its retry keeps its backoff (and Retry-After), as far as the deadline allows
        const wait = this.inflight !== null ? this.nextRetryAtMs - Date.now() : 0
        if (wait > 0) await sleep(Math.min(wait, deadline - Date.now()))
        if (Date.now() >= deadline) break
        this.sending = this.sendOne().finally(() => (this.sending = null))
      }
      await raceDeadline(this.sending, deadline)
    }
    this.finished = true
    const left = this.pending
    if (left > 0) this.drop(left, `InfluxDB did not take them within ${this.closeTimeoutMs} ms of shutdown`)
    this.queue.clear()
    this.inflight = null
    this.writeApi.dispose()
    this.agent.destroy()
    this.report.maybeLog(true)
  }
}

/** The l7_tcp point of one series row (see the file comment). */
function tcpPoint(r: TcpSeriesRow, ts: string, api: WriteApi): string | undefined {
  const p = new Point('l7_tcp')
  serverTags(p, r.server as Peer)
  clientTags(p, r.client as Peer)
  p.intField('connects_ok', r.connects.ok)
    .intField('connects_refused', r.connects.refused)
    .intField('connects_unanswered', r.connects.unanswered)
    .intField('active', r.active)
    .intField('resets_client', r.resets.client)
    .intField('resets_server', r.resets.server)
    .intField('rst_segments_client', r.rstSegments.client)
    .intField('rst_segments_server', r.rstSegments.server)
    .intField('retransmits_c2s', r.retransmits.c2s)
    .intField('retransmits_s2c', r.retransmits.s2c)
    .intField('zero_windows_c2s', r.zeroWindows.c2s)
    .intField('zero_windows_s2c', r.zeroWindows.s2c)
  let n = 0
  for (const c of r.connectHist) n += c
  if (n > 0) p.floatField('connect_ms', r.connectSumUs / n / 1000).floatField('connect_max_ms', r.connectMaxUs / 1000)
  rttFields(p, 'rtt_client', r.rttClient)
  rttFields(p, 'rtt_server', r.rttServer)
  return p.timestamp(ts).toLineProtocol(api)
}

function rttFields(p: Point, name: string, r: RttRow): void {
  let n = 0
  for (const c of r.hist) n += c
  if (n === 0) return
  p.intField(`${name}_samples`, n)
    .floatField(`${name}_ms`, r.sumUs / n / 1000)
    .floatField(`${name}_min_ms`, r.minUs / 1000)
    .floatField(`${name}_max_ms`, r.maxUs / 1000)
}

/** l7_link's TCP health fields (see the file comment) */
function linkTcpFields(p: Point, t: FlowTcpStats): void {
  p.tag('connect', t.connect)
  if (t.connectUs !== null) p.floatField('connect_ms', t.connectUs / 1000)
  if (t.reset !== null) p.tag('reset', t.reset)
  p.intField('retransmits_c2s', t.retransmits.c2s)
    .intField('retransmits_s2c', t.retransmits.s2c)
    .intField('zero_windows_c2s', t.zeroWindows.c2s)
    .intField('zero_windows_s2c', t.zeroWindows.s2c)
  if (t.rttClient.meanUs !== null) p.floatField('rtt_client_ms', t.rttClient.meanUs / 1000).floatField('rtt_client_min_ms', (t.rttClient.minUs as number) / 1000)
  if (t.rttServer.meanUs !== null) p.floatField('rtt_server_ms', t.rttServer.meanUs / 1000).floatField('rtt_server_min_ms', (t.rttServer.minUs as number) / 1000)
}

/** The `pod` point of one sample (see the file comment). */
function podPoint(x: PodSample, api: WriteApi): string | undefined {
  const p = new Point('pod').tag('pod_name', x.pod).tag('namespace', x.namespace)
  if (x.workload) p.tag('workload', x.workload)
  if (x.node) p.tag('node', x.node)
  if (x.podIp) p.tag('pod_ip', x.podIp)
  if (x.containerId) p.tag('container_id', x.containerId)
  p.intField('container_cnt', x.containerCnt).intField('processes', x.processes)
  if (x.cpuPercent !== null) p.floatField('cpu', x.cpuPercent)
  const ints: [string, number | null][] = [
    ['network_tx', x.networkTx],
    ['network_rx', x.networkRx],
    ['bytes_read', x.bytesRead],
    ['bytes_write', x.bytesWrite],
    ['vm', x.vmBytes],
    ['rss', x.rssBytes],
    ['memory_usage', x.memoryUsageBytes],
  ]
  for (const [k, v] of ints) if (v !== null) p.intField(k, v)
  return p.timestamp(nsTime(x.timeUs, 0)).toLineProtocol(api)
}

const BUCKET_FIELDS = [...LATENCY_BUCKETS_S, Number.POSITIVE_INFINITY].map(latencyBucketField)

/**
 * Non-cumulative counts of the histogram in LATENCY_BUCKETS_S (+Inf last). Values are walked with the
 * histogram's recorded-values iterator; each value's bucket is decided by the lowest value of its
 * histogram bucket (so a latency exactly on a bound counts as ≤ bound, as in Prometheus); a latency
 * just above a bound, within the histogram's precision (metrics/histogram.ts), counts as ≤ that bound.
 */
export function bucketCounts(h: LatencyHistogram): number[] {
  const counts = new Array<number>(LATENCY_BUCKETS_S.length + 1).fill(0)
  if (h.totalCount === 0) return counts
  const js = h as unknown as { recordedValuesIterator?: RecordedIter; lowestEquivalentValue?: (v: number) => number }
  const it = js.recordedValuesIterator
  if (it === undefined || js.lowestEquivalentValue === undefined) {
    // a WebAssembly histogram has no iterator: put everything in +Inf rather than invent a distribution
    counts[counts.length - 1] = h.totalCount
    return counts
  }
  it.reset()
  let b = 0
  while (it.hasNext()) {
    const v = it.next()
    const sec = js.lowestEquivalentValue.call(h, v.valueIteratedTo) / 1e6
    while (b < LATENCY_BUCKETS_S.length && sec > LATENCY_BUCKETS_S[b]) b++
    counts[b] += v.countAtValueIteratedTo
  }
  return counts
}

interface RecordedIter {
  reset(): void
  hasNext(): boolean
  next(): { valueIteratedTo: number; countAtValueIteratedTo: number }
}

function peerTags(t: Record<string, string>, s: Peer): void {
  t.server = endpointLabel(s.ip, s.port)
  t.server_ip = s.ip
  t.server_port = String(s.port)
  if (s.namespace) t.namespace = s.namespace
  if (s.pod) t.pod = s.pod
  if (s.workload) t.workload = s.workload
  if (s.service) t.service = s.service
  if (s.node) t.node = s.node
  if (s.comm) t.comm = s.comm
  if (s.pid !== undefined) t.tgid = String(s.pid)
}

function serverTags(p: Point, s: Peer): void {
  const t: Record<string, string> = {}
  peerTags(t, s)
  for (const k in t) p.tag(k, t[k])
}

function clientTags(p: Point, c: Peer): void {
  p.tag('client_ip', c.ip)
  if (c.namespace) p.tag('client_namespace', c.namespace)
  if (c.pod) p.tag('client_pod', c.pod)
  if (c.workload) p.tag('client_workload', c.workload)
  if (c.service) p.tag('client_service', c.service)
  if (c.comm) p.tag('client_comm', c.comm)
}

/** µs since the epoch plus 0-999 ns, as the decimal string of a ns timestamp (beyond 2^53 as a number) */
function nsTime(us: number, ns: number): string {
  return String(Math.floor(us)) + String(ns).padStart(3, '0')
}

function isRetryable(err: unknown): boolean {
  // 429 and 5xx are InfluxDB asking to come back later; other 4xx (bad token, unknown bucket, bad
  // line) will fail the same way again. Anything else is the network: refused, reset, timed out.
  if (err instanceof HttpError) return err.statusCode === 429 || err.statusCode === 408 || err.statusCode >= 500
  return true
}

function describe(err: unknown): string {
  if (err instanceof HttpError) {
    const hint =
      err.statusCode === 401 || err.statusCode === 403
        ? ' (check --influx-token / PODTAP_INFLUX_TOKEN)'
        : err.statusCode === 404
          ? ' (check --influx-org and --influx-bucket)'
          : ''
    return `HTTP ${err.statusCode}${hint}: ${String(err.body ?? err.message).slice(0, 200)}`
  }
  const e = err as { code?: string; message?: string }
  return `${e?.code ? e.code + ' ' : ''}${e?.message ?? String(err)}`.slice(0, 200)
}

/** a pause inside close(): a referenced timer, so the process waits for close() to finish */
function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms))
}

/** waits for `p`, or until `deadline` (ms since the epoch), whichever comes first */
export async function raceDeadline(p: Promise<unknown>, deadline: number): Promise<void> {
  let t: NodeJS.Timeout | undefined
  await Promise.race([p, new Promise<void>((r) => (t = setTimeout(r, Math.max(0, deadline - Date.now()))))])
  clearTimeout(t)
}
