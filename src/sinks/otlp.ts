// OpenTelemetry output: every exchange as one span (sinks/otlp-span.ts) over OTLP/HTTP, protobuf by
// default or JSON, to a collector, Jaeger (4318) or Tempo. Requests go through the OpenTelemetry JS
// exporter transport (@opentelemetry/otlp-exporter-base: headers, gzip, timeout, retries on 429 and
// 502-504 and network errors with backoff and Retry-After); the request bodies are encoded here
// (otlp-encode.ts): the OpenTelemetry span objects and serializer cost 1.6x the CPU of that encoder
// (7.9 vs 5.0 µs per span; end to end 9.5 vs 7.6 µs, and 60 MB more on a 100k-span replay; see
// docs/architecture.md).
//
// Configuration (otlp-config.ts resolveOtlpConfig) follows the OTel exporter spec
// (https://opentelemetry.io/docs/specs/otel/protocol/exporter/): --otlp-endpoint, else
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (used as is), else OTEL_EXPORTER_OTLP_ENDPOINT (+ /v1/traces);
// --otlp-protocol, else OTEL_EXPORTER_OTLP_TRACES_PROTOCOL / OTEL_EXPORTER_OTLP_PROTOCOL (http/protobuf,
// http/json; grpc is refused with a hint); OTEL_EXPORTER_OTLP_HEADERS and _TRACES_HEADERS (the
// signal's own win per key), _TIMEOUT, _COMPRESSION (gzip|none).
//
// Trace context: a request that carried traceparent (else b3, else uber-trace-id) gets a span in that
// trace whose parent is the header's span id, tracestate kept; a malformed header is ignored and
// counted in podtap_trace_context_malformed_total{header}. Without context a fresh trace id, no parent.
//
// Sampling (decided in onExchange, synchronously, so the Prometheus output can attach the ids as an
// exemplar): kept when the exchange failed, when it took --otlp-slow-ms or more, when its caller's
// trace context says sampled (the rest of that trace is recorded, so podtap's span belongs in it),
// or else with probability --otlp-sample decided on the trace id (the same trace is kept or left out
// by every podtap).
//
// Nothing here blocks the capture: kept exchanges wait in a bounded queue (limits.maxSinkQueue; past
// it the oldest are dropped), one batch at a time is exported; the exporter retries retryable failures
// (429, 502-504, network errors) with its own backoff within the request timeout, and after a batch
// fails for good the next waits a growing pause (1 s doubling to 30 s). Every span not delivered is
// counted in podtap_sink_dropped_points_total{sink="otlp"} and logged at most once per interval, as
// the InfluxDB output does.

import { randomFillSync } from 'node:crypto'
import { convertLegacyHttpOptions, createOtlpHttpExportDelegate } from '@opentelemetry/otlp-exporter-base/node-http'
import type { Limits } from '../config.js'
import { C, type Counters } from '../counters.js'
import { log } from '../log.js'
import type { Exchange } from '../records.js'
import type { Endpoint } from '../tcp/types.js'
import { raceDeadline, RateLimitedReport } from './influx.js'
import { encodeJson, encodeProtobuf, type SpanRecord } from './otlp-encode.js'
import { KIND_SERVER, ResourceCache, spanKind } from './otlp-span.js'
import type { OtlpConfig } from './otlp-config.js'
import { parentFrom } from './trace-context.js'

/** counter names of this output (exported as podtap_<name>_total) */
export const OTLP_COUNTERS = {
  /** spans exporters acknowledged */
  exported: 'otlp_spans_exported',
  /** exchanges left out by --otlp-sample */
  sampledOut: 'otlp_spans_sampled_out',
  /** labels: header (traceparent, b3, uber-trace-id) */
  malformed: 'trace_context_malformed',
} as const

export interface OtlpSinkOptions {
  config: OtlpConfig
  counters: Counters
  limits: Limits
  /** probability of keeping an exchange that is neither failed, slow nor sampled by its caller (default 1) */
  sample?: number
  /** exchanges this slow or slower are always kept (default: none) */
  slowMs?: number
  /** this podtap's Kubernetes node (span kind: a pod of another node is not observed here) */
  localNode?: string
  /** spans per export request (default 1024) */
  batchSize?: number
  /** a partial batch is sent after this long (default 1000 ms) */
  flushIntervalMs?: number
  minRetryDelayMs?: number
  maxRetryDelayMs?: number
  /** close() gives up after this long (default 10 s); what is left is counted as dropped */
  closeTimeoutMs?: number
  logIntervalMs?: number
  log?: (msg: string) => void
  /** where batches go (tests); default OTLP/HTTP to config.url */
  exporter?: BatchExporter
}

/** sends one batch; the callback gets code 0 on success */
export interface BatchExporter {
  export(batch: SpanRecord[], done: (r: { code: number; error?: Error }) => void): void
  shutdown(): Promise<void>
}

/** random ids from a pooled buffer (one randomFillSync per 4096 ids) */
class IdSource {
  private buf = Buffer.alloc(64 * 1024)
  private off = this.buf.length
  private take(n: number): string {
    if (this.off + n > this.buf.length) {
      randomFillSync(this.buf)
      this.off = 0
    }
    const s = this.buf.toString('hex', this.off, this.off + n)
    this.off += n
    return s
  }
  traceId(): string {
    return this.take(16)
  }
  spanId(): string {
    const s = this.take(8)
    return s === '0000000000000000' ? this.spanId() : s
  }
}

export class OtlpSink {
  readonly name = 'otlp'
  private readonly exporter: BatchExporter
  private readonly endpoint: Endpoint
  private readonly resources = new ResourceCache()
  private readonly ids = new IdSource()
  private readonly report: RateLimitedReport
  private readonly sample: number
  private readonly slowUs: number
  private readonly batchSize: number
  private readonly flushIntervalMs: number
  private readonly minRetryDelayMs: number
  private readonly maxRetryDelayMs: number
  private readonly closeTimeoutMs: number
  private readonly cap: number
  /** queue: items from `head` on; compacted when the consumed prefix grows */
  private q: SpanRecord[] = []
  private head = 0
  private inflight = 0
  private sending: Promise<void> | null = null
  private timer: NodeJS.Timeout | null = null
  private failuresInARow = 0
  private closing = false
  private finished = false
  private readonly dropped: { value: number }
  private readonly exportedCount: { value: number }
  private readonly sampledOut: { value: number }
  /** spans handed to the queue / acknowledged / dropped (tests and close()) */
  queued = 0
  exported = 0

  constructor(private readonly o: OtlpSinkOptions) {
    const u = new URL(o.config.url)
    this.endpoint = { ip: u.hostname.replace(/^\[|\]$/g, ''), port: u.port ? Number(u.port) : u.protocol === 'https:' ? 443 : 80 }
    this.sample = o.sample ?? 1
    this.slowUs = o.slowMs === undefined ? Number.POSITIVE_INFINITY : o.slowMs * 1000
    this.batchSize = o.batchSize ?? 1024
    this.flushIntervalMs = o.flushIntervalMs ?? 1000
    this.minRetryDelayMs = o.minRetryDelayMs ?? 1000
    this.maxRetryDelayMs = o.maxRetryDelayMs ?? 30_000
    this.closeTimeoutMs = o.closeTimeoutMs ?? 10_000
    this.cap = Math.max(1, o.limits.maxSinkQueue)
    this.report = new RateLimitedReport(o.logIntervalMs ?? 30_000, o.log ?? ((m) => log.info(m)), 'otlp')
    this.exporter = o.exporter ?? newExporter(o.config)
    // samples at 0, so the exported counters exist before the first event
    this.dropped = o.counters.handle(C.sinkDropped, { sink: 'otlp' })
    this.exportedCount = o.counters.handle(OTLP_COUNTERS.exported)
    this.sampledOut = o.counters.handle(OTLP_COUNTERS.sampledOut)
  }

  /** The collector's host and port (live capture must not capture this traffic). */
  ownEndpoints(): Endpoint[] {
    return [this.endpoint]
  }

  /** spans waiting (queued plus the batch in flight) */
  get pending(): number {
    return this.q.length - this.head + this.inflight
  }

  onExchange(e: Exchange): void {
    if (this.closing) {
      this.drop(1, 'exchange after close()')
      return
    }
    let parent = null
    if (e.trace !== undefined) {
      const r = parentFrom(e.trace)
      parent = r.parent
      for (const h of r.malformed) this.o.counters.inc(OTLP_COUNTERS.malformed, { header: h })
    }
    const traceId = parent?.traceId ?? this.ids.traceId()
    const keep =
      e.error === true || e.endUs - e.startUs >= this.slowUs || parent?.sampled === true || this.sample >= 1 || (this.sample > 0 && ratioOf(traceId) < this.sample)
    if (!keep) {
      this.sampledOut.value++
      return
    }
    const spanId = this.ids.spanId()
    e.span = { traceId, spanId }
    const kind = spanKind(e, this.o.localNode)
    this.enqueue({ e, traceId, spanId, parent, kind, resource: this.resources.of(kind === KIND_SERVER ? e.server : e.client, kind === KIND_SERVER) })
  }

  private enqueue(p: SpanRecord): void {
    this.queued++
    if (this.q.length - this.head >= this.cap) {
      this.head++
      this.drop(1, `queue full (${this.cap} spans): the collector is slower than the capture or down`)
    }
    this.q.push(p)
    if (this.head > 4096 && this.head * 2 > this.q.length) {
      this.q = this.q.slice(this.head)
      this.head = 0
    }
    if (this.sending !== null || this.timer !== null) return
    this.schedule(this.q.length - this.head >= this.batchSize ? 0 : this.flushIntervalMs)
  }

  private schedule(ms: number): void {
    if (this.timer !== null) clearTimeout(this.timer)
    this.timer = setTimeout(() => {
      this.timer = null
      if (this.sending === null) this.sending = this.sendOne().finally(() => (this.sending = null))
    }, ms)
    this.timer.unref()
  }

  private takeBatch(): SpanRecord[] {
    const n = Math.min(this.batchSize, this.q.length - this.head)
    const b = this.q.slice(this.head, this.head + n)
    this.head += n
    if (this.head === this.q.length) {
      this.q = []
      this.head = 0
    }
    return b
  }

  private async sendOne(): Promise<void> {
    const batch = this.takeBatch()
    if (batch.length === 0) return
    this.inflight = batch.length
    const err = await new Promise<Error | null>((resolve) => {
      try {
        this.exporter.export(batch, (r) => resolve(r.code === 0 ? null : (r.error ?? new Error('export failed'))))
      } catch (e) {
        resolve(e as Error)
      }
    })
    this.inflight = 0
    if (this.finished) return
    if (err === null) {
      this.exported += batch.length
      this.exportedCount.value += batch.length
      this.failuresInARow = 0
    } else {
      this.failuresInARow++
      this.report.failure(describe(err))
      this.drop(batch.length, describe(err))
    }
    if (this.closing) return
    const left = this.q.length - this.head
    if (left === 0) return
    if (err !== null) {
      const ms = Math.min(this.maxRetryDelayMs, this.minRetryDelayMs * 2 ** (this.failuresInARow - 1)) * (1 + Math.random() * 0.2)
      this.schedule(Math.round(ms))
    } else this.schedule(left >= this.batchSize ? 0 : this.flushIntervalMs)
  }

  private drop(n: number, reason: string): void {
    this.dropped.value += n
    this.report.drop(n, reason)
  }

  /** Exports what is queued within closeTimeoutMs; the rest is counted as dropped. Never rejects. */
  async close(): Promise<void> {
    if (this.closing) return
    this.closing = true
    if (this.timer !== null) clearTimeout(this.timer)
    this.timer = null
    const deadline = Date.now() + this.closeTimeoutMs
    while (this.pending > 0 && Date.now() < deadline) {
      if (this.sending === null) this.sending = this.sendOne().finally(() => (this.sending = null))
      await raceDeadline(this.sending, deadline)
      // a batch that failed at close is not retried: the deadline would pass in the backoff
    }
    this.finished = true
    const left = this.pending
    if (left > 0) this.drop(left, `the collector did not take them within ${this.closeTimeoutMs} ms of shutdown`)
    this.q = []
    this.head = 0
    this.inflight = 0
    await raceDeadline(this.exporter.shutdown().catch(() => undefined), Date.now() + 1000)
    this.report.maybeLog(true)
  }
}

/** OTLP/HTTP through the OpenTelemetry exporter transport, with podtap's encoders */
function newExporter(c: OtlpConfig): BatchExporter {
  const json = c.protocol === 'http/json'
  const options = convertLegacyHttpOptions(
    { url: c.url, headers: c.headers, timeoutMillis: c.timeoutMs, compression: c.compression as never, concurrencyLimit: 2 },
    'TRACES',
    'v1/traces',
    { 'Content-Type': json ? 'application/json' : 'application/x-protobuf' },
  )
  const serializer = {
    serializeRequest: (batch: SpanRecord[]) => (json ? encodeJson(batch) : encodeProtobuf(batch)),
    // partial success (rejected spans) is not reported per span; an empty answer is the usual one
    deserializeResponse: () => ({}),
  }
  return createOtlpHttpExportDelegate(options, serializer, 'podtap_otlp_span_exporter', { name: 'span', countItems: (b: SpanRecord[]) => b.length }, undefined)
}

/** a trace id's place in [0, 1): its last 8 hex digits (random in every format podtap reads) */
function ratioOf(traceId: string): number {
  return parseInt(traceId.slice(24), 16) / 0x1_0000_0000
}

function describe(err: Error): string {
  const e = err as Error & { code?: number | string; data?: string }
  return `${e.code !== undefined ? `${e.code} ` : ''}${e.message ?? String(err)}`.slice(0, 200)
}

