// OTLP ExportTraceServiceRequest encoders for the spans of exchanges: protobuf (application/x-protobuf)
// and JSON (application/json, the OTLP/JSON mapping: hex ids, enum numbers, 64-bit integers as strings).
// Field numbers from opentelemetry-proto (collector/trace/v1/trace_service.proto, trace/v1/trace.proto,
// common/v1/common.proto, resource/v1/resource.proto):
//
//   ExportTraceServiceRequest  1 resource_spans*
//   ResourceSpans              1 resource  2 scope_spans*
//   Resource                   1 attributes*
//   ScopeSpans                 1 scope  2 spans*
//   InstrumentationScope       1 name  2 version
//   Span                       1 trace_id  2 span_id  3 trace_state  4 parent_span_id  5 name  6 kind
//                              7 start_time_unix_nano (fixed64)  8 end_time_unix_nano (fixed64)
//                              9 attributes*  15 status  16 flags (fixed32)
//   Status                     2 message  3 code
//   KeyValue                   1 key  2 value;  AnyValue 1 string  2 bool  3 int (varint)
//
// Written straight from the exchanges into one growing buffer, no object per span: the OpenTelemetry JS
// path (a ReadableSpan per exchange, then @opentelemetry/otlp-transformer) measured 7.9 µs of CPU per
// span, this 5.0 µs, beside ~8 µs for the whole replay per exchange (bench/otlp-encode.ts,
// docs/architecture.md). Resources are encoded once and reused. A test decodes both with the official
// .proto files and compares them field by field (test/otlp-encode.test.ts).

import type { Exchange } from '../records.js'
import { SCOPE, spanFields, type AttrValue, type Attributes, type OtlpResource, type SpanKindNumber } from './otlp-span.js'

/** one span to encode */
export interface SpanRecord {
  e: Exchange
  traceId: string
  spanId: string
  /** the caller's span (from the request's trace headers), or null */
  parent: { spanId: string; sampled: boolean; traceState?: string } | null
  kind: SpanKindNumber
  resource: OtlpResource
}

// W3C trace flags: sampled; OTLP span flags: bit 8 "has is_remote", bit 9 "is_remote" (of the parent)
const FLAG_SAMPLED = 0x01
const FLAG_HAS_IS_REMOTE = 0x100
const FLAG_IS_REMOTE = 0x200

/** A protobuf writer over one buffer that grows; nested messages get their length after the fact. */
class Writer {
  buf = Buffer.allocUnsafe(64 * 1024)
  pos = 0

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return
    let size = this.buf.length * 2
    while (size < this.pos + n) size *= 2
    const next = Buffer.allocUnsafe(size)
    this.buf.copy(next, 0, 0, this.pos)
    this.buf = next
  }

  varint(v: number): void {
    this.ensure(10)
    // v < 2^53: split so no 32-bit operator truncates it
    while (v >= 0x80) {
      this.buf[this.pos++] = (v % 0x80) | 0x80
      v = Math.floor(v / 0x80)
    }
    this.buf[this.pos++] = v
  }

  tag(field: number, wire: number): void {
    this.varint((field << 3) | wire)
  }

  string(field: number, s: string): void {
    this.tag(field, 2)
    const n = utf8Length(s)
    this.varint(n)
    this.text(s, n)
  }

  /** the UTF-8 bytes of `s` (n of them): short ASCII strings in a loop, cheaper than a Buffer.write call */
  private text(s: string, n: number): void {
    this.ensure(n)
    if (n === s.length && n <= 64) {
      const b = this.buf
      let p = this.pos
      for (let i = 0; i < n; i++) b[p++] = s.charCodeAt(i)
      this.pos = p
    } else this.pos += this.buf.write(s, this.pos, 'utf8')
  }

  hex(field: number, hex: string): void {
    this.tag(field, 2)
    this.varint(hex.length / 2)
    this.ensure(hex.length / 2)
    this.pos += this.buf.write(hex, this.pos, 'hex')
  }

  bytes(field: number, b: Buffer): void {
    this.tag(field, 2)
    this.varint(b.length)
    this.raw(b)
  }

  raw(b: Buffer): void {
    this.ensure(b.length)
    b.copy(this.buf, this.pos)
    this.pos += b.length
  }

  fixed64Us(field: number, us: number): void {
    // µs since the epoch as ns: past 2^53, so through BigInt (once per timestamp, at batch time)
    this.tag(field, 1)
    this.ensure(8)
    const whole = Math.floor(us)
    this.buf.writeBigUInt64LE(BigInt(whole) * 1000n + BigInt(Math.round((us - whole) * 1000)), this.pos)
    this.pos += 8
  }

  fixed32(field: number, v: number): void {
    this.tag(field, 5)
    this.ensure(4)
    this.buf.writeUInt32LE(v >>> 0, this.pos)
    this.pos += 4
  }

  /** starts a length-delimited field; returns where its body starts (5 bytes are kept for the length) */
  begin(field: number): number {
    this.tag(field, 2)
    this.ensure(5)
    this.pos += 5
    return this.pos
  }

  /** ends the field begun at `start`: writes the minimal length varint and moves the body up to it */
  end(start: number): void {
    const len = this.pos - start
    const n = varintLength(len)
    const at = start - 5
    if (n < 5) this.buf.copy(this.buf, at + n, start, this.pos)
    let v = len
    for (let i = 0; i < n; i++) {
      this.buf[at + i] = i === n - 1 ? v : (v % 0x80) | 0x80
      v = Math.floor(v / 0x80)
    }
    this.pos = at + n + len
  }

  /** KeyValue { key, AnyValue }: sizes worked out first, so nothing is moved after */
  keyValue(field: number, key: string, value: AttrValue): void {
    const keyLen = utf8Length(key)
    let valLen: number
    let avLen: number
    if (typeof value === 'string') {
      valLen = utf8Length(value)
      avLen = 1 + varintLength(valLen) + valLen
    } else if (typeof value === 'boolean') {
      valLen = 0
      avLen = 2
    } else if (Number.isInteger(value) && value >= 0) {
      valLen = 0
      avLen = 1 + varintLength(value)
    } else {
      valLen = 0
      avLen = 9
    }
    this.tag(field, 2)
    this.varint(1 + varintLength(keyLen) + keyLen + 1 + varintLength(avLen) + avLen)
    this.tag(1, 2)
    this.varint(keyLen)
    this.text(key, keyLen)
    this.tag(2, 2)
    this.varint(avLen)
    if (typeof value === 'string') {
      this.tag(1, 2)
      this.varint(valLen)
      this.text(value, valLen)
    } else if (typeof value === 'boolean') {
      this.tag(2, 0)
      this.varint(value ? 1 : 0)
    } else if (Number.isInteger(value) && value >= 0) {
      this.tag(3, 0)
      this.varint(value)
    } else {
      // negative or fractional: podtap writes none today; a double keeps the value
      this.tag(4, 1)
      this.ensure(8)
      this.buf.writeDoubleLE(value, this.pos)
      this.pos += 8
    }
  }

  attributes(field: number, a: Attributes): void {
    for (const k in a) this.keyValue(field, k, a[k])
  }

  take(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.pos))
  }
}

/** UTF-8 length: the string's length when it is ASCII (nearly always), else Buffer.byteLength */
function utf8Length(s: string): number {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) >= 0x80) return Buffer.byteLength(s)
  return s.length
}

function varintLength(v: number): number {
  let n = 1
  while (v >= 0x80) {
    v = Math.floor(v / 0x80)
    n++
  }
  return n
}

/** spans grouped by resource object, in first-seen order */
function byResource(spans: readonly SpanRecord[]): Map<OtlpResource, SpanRecord[]> {
  const m = new Map<OtlpResource, SpanRecord[]>()
  for (const s of spans) {
    const l = m.get(s.resource)
    if (l === undefined) m.set(s.resource, [s])
    else l.push(s)
  }
  return m
}

function flagsOf(s: SpanRecord): number {
  return FLAG_SAMPLED | FLAG_HAS_IS_REMOTE | (s.parent !== null ? FLAG_IS_REMOTE : 0)
}

let writer: Writer | null = null

/** The ExportTraceServiceRequest of `spans`, protobuf-encoded. */
export function encodeProtobuf(spans: readonly SpanRecord[]): Buffer {
  const w = (writer ??= new Writer())
  w.pos = 0
  for (const [resource, list] of byResource(spans)) {
    const rs = w.begin(1)
    if (resource.encoded === undefined) {
      const rw = new Writer()
      rw.attributes(1, resource.attributes)
      resource.encoded = rw.take()
    }
    w.bytes(1, resource.encoded)
    const ss = w.begin(2)
    const sc = w.begin(1)
    w.string(1, SCOPE.name)
    w.string(2, SCOPE.version)
    w.end(sc)
    for (const s of list) {
      const f = spanFields(s.e, s.kind)
      const sp = w.begin(2)
      w.hex(1, s.traceId)
      w.hex(2, s.spanId)
      if (s.parent?.traceState !== undefined) w.string(3, s.parent.traceState)
      if (s.parent !== null) w.hex(4, s.parent.spanId)
      w.string(5, f.name)
      w.tag(6, 0)
      w.varint(s.kind)
      w.fixed64Us(7, s.e.startUs)
      w.fixed64Us(8, Math.max(s.e.endUs, s.e.startUs))
      w.attributes(9, f.attributes)
      const st = w.begin(15)
      if (f.status.message !== undefined && f.status.message !== '') w.string(2, f.status.message)
      if (f.status.code !== 0) {
        w.tag(3, 0)
        w.varint(f.status.code)
      }
      w.end(st)
      w.fixed32(16, flagsOf(s))
      w.end(sp)
    }
    w.end(ss)
    w.end(rs)
  }
  const out = w.take()
  // a writer grown by one huge batch is not kept
  if (w.buf.length > 4 * 1024 * 1024) writer = null
  return out
}

/** µs since the epoch as the decimal string of ns */
function nsString(us: number): string {
  const whole = Math.floor(us)
  const frac = Math.round((us - whole) * 1000)
  return String(whole) + String(frac).padStart(3, '0')
}

function jsonAttributes(a: Attributes): { key: string; value: Record<string, unknown> }[] {
  const out: { key: string; value: Record<string, unknown> }[] = []
  for (const key in a) {
    const v = a[key]
    out.push({
      key,
      value: typeof v === 'string' ? { stringValue: v } : typeof v === 'boolean' ? { boolValue: v } : Number.isInteger(v) ? { intValue: String(v) } : { doubleValue: v },
    })
  }
  return out
}

/** The ExportTraceServiceRequest of `spans` in OTLP/JSON. */
export function encodeJson(spans: readonly SpanRecord[]): Buffer {
  const resourceSpans = []
  for (const [resource, list] of byResource(spans)) {
    resourceSpans.push({
      resource: { attributes: jsonAttributes(resource.attributes) },
      scopeSpans: [
        {
          scope: { name: SCOPE.name, version: SCOPE.version },
          spans: list.map((s) => {
            const f = spanFields(s.e, s.kind)
            return {
              traceId: s.traceId,
              spanId: s.spanId,
              ...(s.parent?.traceState !== undefined ? { traceState: s.parent.traceState } : {}),
              ...(s.parent !== null ? { parentSpanId: s.parent.spanId } : {}),
              name: f.name,
              kind: s.kind,
              startTimeUnixNano: nsString(s.e.startUs),
              endTimeUnixNano: nsString(Math.max(s.e.endUs, s.e.startUs)),
              attributes: jsonAttributes(f.attributes),
              status: f.status.message !== undefined && f.status.message !== '' ? { code: f.status.code, message: f.status.message } : { code: f.status.code },
              flags: flagsOf(s),
            }
          }),
        },
      ],
    })
  }
  return Buffer.from(JSON.stringify({ resourceSpans }))
}
