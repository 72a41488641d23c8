// A stand-in OTLP/HTTP trace receiver for tests. No OpenTelemetry Collector, Jaeger or Tempo can be
// installed here, so this plays their part: it accepts POST /v1/traces in protobuf
// (application/x-protobuf) and JSON (application/json), decodes protobuf with the official OTLP
// definitions (test/fixtures/otlp-proto: opentelemetry-proto's trace_service.proto, trace.proto,
// common.proto, resource.proto, loaded by protobufjs) and JSON as the OTLP/JSON mapping says (hex ids,
// enum numbers, 64-bit integers as strings), and keeps every span with its resource.

import * as http from 'node:http'
import * as path from 'node:path'
import * as zlib from 'node:zlib'
import type { AddressInfo } from 'node:net'
import protobuf from 'protobufjs'

const PROTO_ROOT = path.resolve(import.meta.dirname, '..', 'fixtures', 'otlp-proto')

export type AttrValue = string | number | boolean | AttrValue[] | null

export interface ReceivedSpan {
  traceId: string
  spanId: string
  /** '' when the span has no parent */
  parentSpanId: string
  traceState: string
  name: string
  /** 1 INTERNAL, 2 SERVER, 3 CLIENT (OTLP's SpanKind numbers) */
  kind: number
  startNs: bigint
  endNs: bigint
  attributes: Record<string, AttrValue>
  /** 0 UNSET, 1 OK, 2 ERROR */
  status: { code: number; message: string }
  resource: Record<string, AttrValue>
  scope: string
  flags: number
}

export interface ReceivedRequest {
  contentType: string
  headers: http.IncomingHttpHeaders
  path: string
  spans: number
}

let requestType: protobuf.Type | null = null

async function exportRequestType(): Promise<protobuf.Type> {
  if (requestType !== null) return requestType
  const root = new protobuf.Root()
  root.resolvePath = (_origin, target) => path.join(PROTO_ROOT, target)
  await root.load('opentelemetry/proto/collector/trace/v1/trace_service.proto', { keepCase: false })
  requestType = root.lookupType('opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest')
  return requestType
}

function anyValue(v: Record<string, unknown> | undefined): AttrValue {
  if (v === undefined || v === null) return null
  if ('stringValue' in v) return v.stringValue as string
  if ('boolValue' in v) return v.boolValue as boolean
  if ('intValue' in v) return Number(v.intValue)
  if ('doubleValue' in v) return Number(v.doubleValue)
  if ('arrayValue' in v) return ((v.arrayValue as { values?: Record<string, unknown>[] }).values ?? []).map(anyValue)
  return null
}

function attrs(list: { key: string; value?: Record<string, unknown> }[] | undefined): Record<string, AttrValue> {
  const out: Record<string, AttrValue> = {}
  for (const kv of list ?? []) out[kv.key] = anyValue(kv.value)
  return out
}

/** bytes (protobuf, decoded to Buffer) or hex (OTLP/JSON) to lower-case hex */
function hexId(v: unknown): string {
  if (v === undefined || v === null) return ''
  if (typeof v === 'string') return v.toLowerCase()
  return Buffer.from(v as Uint8Array).toString('hex')
}

/** a decoded ExportTraceServiceRequest (protobufjs toObject or OTLP/JSON) into flat spans */
function flatten(req: { resourceSpans?: unknown[] }): ReceivedSpan[] {
  const out: ReceivedSpan[] = []
  for (const rs of (req.resourceSpans ?? []) as Record<string, unknown>[]) {
    const resource = attrs((rs.resource as { attributes?: [] } | undefined)?.attributes)
    for (const ss of (rs.scopeSpans ?? []) as Record<string, unknown>[]) {
      const scope = (ss.scope as { name?: string } | undefined)?.name ?? ''
      for (const s of (ss.spans ?? []) as Record<string, unknown>[]) {
        const st = (s.status ?? {}) as { code?: number | string; message?: string }
        out.push({
          traceId: hexId(s.traceId),
          spanId: hexId(s.spanId),
          parentSpanId: hexId(s.parentSpanId),
          traceState: (s.traceState as string | undefined) ?? '',
          name: s.name as string,
          kind: Number(s.kind ?? 0),
          startNs: BigInt(String(s.startTimeUnixNano ?? 0)),
          endNs: BigInt(String(s.endTimeUnixNano ?? 0)),
          attributes: attrs(s.attributes as []),
          status: { code: Number(st.code ?? 0), message: st.message ?? '' },
          resource,
          scope,
          flags: Number(s.flags ?? 0),
        })
      }
    }
  }
  return out
}

/** An ExportTraceServiceRequest body (protobuf, or JSON when `json`) as flat spans. */
export async function decodeExportRequest(body: Uint8Array, json: boolean): Promise<ReceivedSpan[]> {
  if (json) return flatten(JSON.parse(Buffer.from(body).toString('utf8')))
  const type = await exportRequestType()
  return flatten(type.toObject(type.decode(body), { longs: String, enums: Number, bytes: Buffer, defaults: false }) as { resourceSpans?: unknown[] })
}

export class OtlpReceiver {
  readonly spans: ReceivedSpan[] = []
  readonly requests: ReceivedRequest[] = []
  /** answer every request with this status (e.g. 503) instead of 200 */
  failWith: number | null = null
  private server: http.Server | null = null
  private waiters: { n: number; resolve: () => void }[] = []
  port = 0

  /** starts listening on 127.0.0.1 (a fixed port to come back on after stop(), or any free one) */
  async start(port = 0, host = '127.0.0.1'): Promise<void> {
    const type = await exportRequestType()
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = []
      req.on('data', (c: Buffer) => chunks.push(c))
      req.on('end', () => {
        let body = Buffer.concat(chunks)
        if (req.headers['content-encoding'] === 'gzip') body = zlib.gunzipSync(body)
        const ct = req.headers['content-type'] ?? ''
        if (this.failWith !== null) {
          res.writeHead(this.failWith).end()
          return
        }
        let spans: ReceivedSpan[]
        try {
          spans = ct.includes('json')
            ? flatten(JSON.parse(body.toString('utf8')))
            : flatten(type.toObject(type.decode(body), { longs: String, enums: Number, bytes: Buffer, defaults: false }) as { resourceSpans?: unknown[] })
        } catch (e) {
          res.writeHead(400, { 'content-type': 'text/plain' }).end(String(e))
          return
        }
        this.spans.push(...spans)
        this.requests.push({ contentType: ct, headers: req.headers, path: req.url ?? '', spans: spans.length })
        // an empty ExportTraceServiceResponse
        if (ct.includes('json')) res.writeHead(200, { 'content-type': 'application/json' }).end('{}')
        else res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end()
        this.waiters = this.waiters.filter((w) => {
          if (this.spans.length < w.n) return true
          w.resolve()
          return false
        })
      })
    })
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(port, host, () => resolve())
    })
    this.server = server
    this.port = (server.address() as AddressInfo).port
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`
  }

  /** resolves when at least n spans have arrived, rejects after timeoutMs */
  waitFor(n: number, timeoutMs = 20_000): Promise<void> {
    if (this.spans.length >= n) return Promise.resolve()
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`OTLP receiver: ${this.spans.length} of ${n} spans after ${timeoutMs} ms`)), timeoutMs)
      this.waiters.push({ n, resolve: () => (clearTimeout(t), resolve()) })
    })
  }

  async stop(): Promise<void> {
    const s = this.server
    this.server = null
    if (s === null) return
    s.closeAllConnections()
    await new Promise<void>((r) => s.close(() => r()))
  }
}
