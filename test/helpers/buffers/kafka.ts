// Builders for Kafka test input (after pg-protocol testing/test-buffers.ts): tests say which messages
// they send, not hex. Layouts: https://kafka.apache.org/protocol#protocol_messages. Not used at run time.

import { isFlexible } from '../../../src/protocols/kafka/api-keys.js'
import { requestHeaderVersion, responseHeaderVersion } from '../../../src/protocols/kafka/headers.js'

/** writes one body in the classic or the flexible (compact, tagged) encoding */
export class W {
  private readonly parts: Buffer[] = []
  constructor(readonly flexible: boolean) {}

  raw(b: Buffer): this {
    this.parts.push(b)
    return this
  }
  i8(n: number): this {
    const b = Buffer.alloc(1)
    b.writeInt8(n)
    return this.raw(b)
  }
  i16(n: number): this {
    const b = Buffer.alloc(2)
    b.writeInt16BE(n)
    return this.raw(b)
  }
  i32(n: number): this {
    const b = Buffer.alloc(4)
    b.writeInt32BE(n)
    return this.raw(b)
  }
  i64(n: number): this {
    const b = Buffer.alloc(8)
    b.writeBigInt64BE(BigInt(n))
    return this.raw(b)
  }
  uuid(fill = 7): this {
    return this.raw(Buffer.alloc(16, fill))
  }
  uvarint(n: number): this {
    const out: number[] = []
    do {
      let b = n & 0x7f
      n = Math.floor(n / 128)
      if (n > 0) b |= 0x80
      out.push(b)
    } while (n > 0)
    return this.raw(Buffer.from(out))
  }
  /** STRING / COMPACT_STRING, null = -1 / 0 */
  str(s: string | null): this {
    if (s === null) return this.flexible ? this.uvarint(0) : this.i16(-1)
    const b = Buffer.from(s, 'utf8')
    if (this.flexible) this.uvarint(b.length + 1)
    else this.i16(b.length)
    return this.raw(b)
  }
  /** BYTES / COMPACT_BYTES (records), null = -1 / 0 */
  bytes(b: Buffer | null): this {
    if (b === null) return this.flexible ? this.uvarint(0) : this.i32(-1)
    if (this.flexible) this.uvarint(b.length + 1)
    else this.i32(b.length)
    return this.raw(b)
  }
  /** ARRAY / COMPACT_ARRAY, null = -1 / 0 */
  arr<T>(items: T[] | null, each: (w: this, x: T) => void): this {
    if (items === null) return this.flexible ? this.uvarint(0) : this.i32(-1)
    if (this.flexible) this.uvarint(items.length + 1)
    else this.i32(items.length)
    for (const x of items) each(this, x)
    return this
  }
  /** TAG_BUFFER (flexible only); `fields` are [tag, bytes] */
  tags(fields: [number, Buffer][] = []): this {
    if (!this.flexible) return this
    this.uvarint(fields.length)
    for (const [t, b] of fields) this.uvarint(t).uvarint(b.length).raw(b)
    return this
  }
  done(): Buffer {
    return Buffer.concat(this.parts)
  }
}

const body = (key: number, v: number): W => new W(isFlexible(key, v))

/** size + request header (version from the table) + body */
export function request(key: number, v: number, corr: number, body: Buffer, clientId: string | null = 'app-1'): Buffer {
  const hv = requestHeaderVersion(key, v)
  const h = new W(false).i16(key).i16(v).i32(corr)
  if (hv >= 1) h.str(clientId)
  if (hv === 2) h.raw(Buffer.from([0]))
  const all = Buffer.concat([h.done(), body])
  return Buffer.concat([new W(false).i32(all.length).done(), all])
}

/** size + response header (version from the table) + body */
export function response(key: number, v: number, corr: number, body: Buffer): Buffer {
  const h = new W(false).i32(corr)
  if (responseHeaderVersion(key, v) === 1) h.raw(Buffer.from([0]))
  const all = Buffer.concat([h.done(), body])
  return Buffer.concat([new W(false).i32(all.length).done(), all])
}

/** a raw SASL token after SaslHandshake v0: size-prefixed, no header */
export const rawToken = (s: string): Buffer => new W(false).i32(Buffer.byteLength(s)).raw(Buffer.from(s)).done()

// ---- Produce (0) ----

export interface ProduceTopic {
  name: string
  partitions: { index: number; records?: Buffer }[]
}

export function produceReq(v: number, corr: number, topics: ProduceTopic[], acks = -1, clientId = 'producer-1'): Buffer {
  const w = body(0, v)
  if (v >= 3) w.str(null)
  w.i16(acks).i32(30000)
  w.arr(topics, (w, t) => {
    if (v >= 13) w.uuid()
    else w.str(t.name)
    w.arr(t.partitions, (w, p) => w.i32(p.index).bytes(p.records ?? Buffer.alloc(60, 1)).tags())
    w.tags()
  })
  w.tags()
  return request(0, v, corr, w.done(), clientId)
}

export function produceResp(v: number, corr: number, topics: { name: string; partitions: { index: number; error?: number }[] }[]): Buffer {
  const w = body(0, v)
  w.arr(topics, (w, t) => {
    if (v >= 13) w.uuid()
    else w.str(t.name)
    w.arr(t.partitions, (w, p) => {
      w.i32(p.index).i16(p.error ?? 0).i64(100)
      if (v >= 2) w.i64(-1)
      if (v >= 5) w.i64(0)
      if (v >= 8) w.arr([], () => {}).str(null)
      w.tags()
    })
    w.tags()
  })
  if (v >= 1) w.i32(0)
  w.tags()
  return response(0, v, corr, w.done())
}

// ---- Fetch (1) ----

export function fetchReq(v: number, corr: number, topics: { name: string; partitions: number[] }[]): Buffer {
  const w = body(1, v)
  if (v <= 14) w.i32(-1)
  w.i32(500).i32(1)
  if (v >= 3) w.i32(52428800)
  if (v >= 4) w.i8(0)
  if (v >= 7) w.i32(0).i32(-1)
  w.arr(topics, (w, t) => {
    if (v >= 13) w.uuid()
    else w.str(t.name)
    w.arr(t.partitions, (w, p) => {
      w.i32(p)
      if (v >= 9) w.i32(-1)
      w.i64(0)
      if (v >= 12) w.i32(-1)
      if (v >= 5) w.i64(-1)
      w.i32(1048576)
      w.tags()
    })
    w.tags()
  })
  if (v >= 7) w.arr([], () => {})
  if (v >= 11) w.str('')
  w.tags()
  return request(1, v, corr, w.done(), 'consumer-1')
}

export interface FetchPartition {
  index: number
  error?: number
  records?: Buffer | null
}

export function fetchResp(v: number, corr: number, topics: { name: string; partitions: FetchPartition[] }[], topError = 0): Buffer {
  const w = body(1, v)
  if (v >= 1) w.i32(0)
  if (v >= 7) w.i16(topError).i32(0)
  w.arr(topics, (w, t) => {
    if (v >= 13) w.uuid()
    else w.str(t.name)
    w.arr(t.partitions, (w, p) => {
      w.i32(p.index).i16(p.error ?? 0).i64(42)
      if (v >= 4) w.i64(42)
      if (v >= 5) w.i64(0)
      if (v >= 4) w.arr([{ pid: 1, off: 2 }], (w, a) => w.i64(a.pid).i64(a.off).tags())
      if (v >= 11) w.i32(-1)
      w.bytes(p.records === undefined ? Buffer.alloc(80, 2) : p.records)
      w.tags()
    })
    w.tags()
  })
  w.tags()
  return response(1, v, corr, w.done())
}

// ---- ListOffsets (2) ----

export function listOffsetsReq(v: number, corr: number, topics: string[]): Buffer {
  const w = body(2, v)
  w.i32(-1)
  if (v >= 2) w.i8(0)
  w.arr(topics, (w, t) =>
    w
      .str(t)
      .arr([0, 1], (w, p) => {
        w.i32(p)
        if (v >= 4) w.i32(-1)
        w.i64(-1)
        if (v === 0) w.i32(1)
        w.tags()
      })
      .tags(),
  )
  w.tags()
  return request(2, v, corr, w.done())
}

export function listOffsetsResp(v: number, corr: number, topics: { name: string; errors: number[] }[]): Buffer {
  const w = body(2, v)
  if (v >= 2) w.i32(0)
  w.arr(topics, (w, t) =>
    w
      .str(t.name)
      .arr(t.errors, (w, e) => {
        w.i32(0).i16(e)
        if (v === 0) w.arr([5, 6], (w, o) => w.i64(o))
        else w.i64(-1).i64(7)
        if (v >= 4) w.i32(0)
        w.tags()
      })
      .tags(),
  )
  w.tags()
  return response(2, v, corr, w.done())
}

// ---- Metadata (3) ----

export function metadataReq(v: number, corr: number, topics: string[] | null): Buffer {
  const w = body(3, v)
  w.arr(topics, (w, t) => {
    if (v >= 10) w.uuid(0)
    w.str(t)
    w.tags()
  })
  if (v >= 4) w.i8(1)
  if (v >= 8 && v <= 10) w.i8(0)
  if (v >= 8) w.i8(0)
  w.tags()
  return request(3, v, corr, w.done())
}

export function metadataResp(v: number, corr: number, topics: { name: string; error?: number }[]): Buffer {
  const w = body(3, v)
  if (v >= 3) w.i32(0)
  w.arr([{ id: 1, host: 'broker-1', port: 9092 }], (w, b) => {
    w.i32(b.id).str(b.host).i32(b.port)
    if (v >= 1) w.str(null)
    w.tags()
  })
  if (v >= 2) w.str('cluster-x')
  if (v >= 1) w.i32(1)
  w.arr(topics, (w, t) => {
    w.i16(t.error ?? 0).str(t.name)
    if (v >= 10) w.uuid()
    if (v >= 1) w.i8(0)
    w.arr([0, 1], (w, p) => {
      w.i16(0).i32(p).i32(1)
      if (v >= 7) w.i32(0)
      w.arr([1], (w, n) => w.i32(n))
      w.arr([1], (w, n) => w.i32(n))
      if (v >= 5) w.arr([], () => {})
      w.tags()
    })
    if (v >= 8) w.i32(0)
    w.tags()
  })
  if (v >= 8 && v <= 10) w.i32(0)
  w.tags()
  return response(3, v, corr, w.done())
}

// ---- OffsetCommit (8) ----

export function offsetCommitReq(v: number, corr: number, group: string, topics: string[]): Buffer {
  const w = body(8, v)
  w.str(group)
  if (v >= 1) w.i32(3).str('member-1')
  if (v >= 7) w.str(null)
  if (v >= 2 && v <= 4) w.i64(-1)
  w.arr(topics, (w, t) =>
    w
      .str(t)
      .arr([0], (w, p) => {
        w.i32(p).i64(10)
        if (v >= 6) w.i32(-1)
        if (v === 1) w.i64(0)
        w.str('')
        w.tags()
      })
      .tags(),
  )
  w.tags()
  return request(8, v, corr, w.done())
}

export function offsetCommitResp(v: number, corr: number, topics: { name: string; errors: number[] }[]): Buffer {
  const w = body(8, v)
  if (v >= 3) w.i32(0)
  w.arr(topics, (w, t) => w.str(t.name).arr(t.errors, (w, e) => w.i32(0).i16(e).tags()).tags())
  w.tags()
  return response(8, v, corr, w.done())
}

// ---- OffsetFetch (9) ----

export function offsetFetchReq(v: number, corr: number, group: string, topics: string[] | null): Buffer {
  const w = body(9, v)
  const topicsOf = (w: W): void => {
    w.arr(topics, (w, t) => w.str(t).arr([0, 1], (w, p) => w.i32(p)).tags())
  }
  if (v >= 8) {
    w.arr([group], (w, g) => {
      w.str(g)
      if (v >= 9) w.str(null).i32(-1)
      topicsOf(w)
      w.tags()
    })
  } else {
    w.str(group)
    topicsOf(w)
  }
  if (v >= 7) w.i8(0)
  w.tags()
  return request(9, v, corr, w.done())
}

export function offsetFetchResp(v: number, corr: number, topics: { name: string; errors: number[] }[], topError = 0): Buffer {
  const w = body(9, v)
  if (v >= 3) w.i32(0)
  const topicsOf = (w: W): void => {
    w.arr(topics, (w, t) =>
      w
        .str(t.name)
        .arr(t.errors, (w, e) => {
          w.i32(0).i64(10)
          if (v >= 5) w.i32(-1)
          w.str('').i16(e).tags()
        })
        .tags(),
    )
  }
  if (v >= 8) {
    w.arr(['g'], (w, g) => {
      w.str(g)
      topicsOf(w)
      w.i16(topError).tags()
    })
  } else {
    topicsOf(w)
    if (v >= 2) w.i16(topError)
  }
  w.tags()
  return response(9, v, corr, w.done())
}

// ---- APIs with a top-level error_code ----

export function apiVersionsReq(v: number, corr: number): Buffer {
  const w = body(18, v)
  if (v >= 3) w.str('podtap-test').str('1.0').tags()
  return request(18, v, corr, w.done())
}

export function apiVersionsResp(v: number, corr: number, error = 0): Buffer {
  const w = body(18, v)
  w.i16(error).arr([[0, 0, 9], [1, 0, 12], [18, 0, 3]], (w, [k, lo, hi]) => w.i16(k).i16(lo).i16(hi).tags())
  if (v >= 1) w.i32(0)
  w.tags()
  return response(18, v, corr, w.done())
}

export function heartbeatReq(v: number, corr: number, group = 'group-1'): Buffer {
  const w = body(12, v)
  w.str(group).i32(1).str('member-1')
  if (v >= 3) w.str(null)
  w.tags()
  return request(12, v, corr, w.done())
}

export function heartbeatResp(v: number, corr: number, error = 0): Buffer {
  const w = body(12, v)
  if (v >= 1) w.i32(0)
  w.i16(error).tags()
  return response(12, v, corr, w.done())
}

export function saslHandshakeReq(v: number, corr: number, mechanism: string): Buffer {
  return request(17, v, corr, new W(false).str(mechanism).done())
}

export function saslHandshakeResp(v: number, corr: number, error = 0): Buffer {
  return response(17, v, corr, new W(false).i16(error).arr(['PLAIN', 'SCRAM-SHA-256'], (w, m) => w.str(m)).done())
}

export function saslAuthenticateReq(v: number, corr: number, authBytes: string): Buffer {
  const w = body(36, v)
  w.bytes(Buffer.from(authBytes)).tags()
  return request(36, v, corr, w.done())
}

export function saslAuthenticateResp(v: number, corr: number, error: number, authBytes: string): Buffer {
  const w = body(36, v)
  w.i16(error).str(error ? 'Authentication failed' : null).bytes(Buffer.from(authBytes))
  if (v >= 1) w.i64(0)
  w.tags()
  return response(36, v, corr, w.done())
}

export const cat = (...b: Buffer[]): Buffer => Buffer.concat(b)
