// Builders for HTTP/2 test input (pg-protocol testing/test-buffers.ts style): frames and header blocks
// made of HPACK literals and static indexes only, so a test never depends on the decoder it checks.
// Not used at run time.

import { FrameType, PREFACE } from '../../../src/protocols/http2/frames.js'
import { huffmanCodes } from '../../../src/protocols/http2/hpack.js'

export { PREFACE }

export function frame(type: number, flags: number, sid: number, payload: Buffer | string = Buffer.alloc(0)): Buffer {
  const p = typeof payload === 'string' ? Buffer.from(payload, 'latin1') : payload
  const h = Buffer.alloc(9)
  h[0] = (p.length >> 16) & 0xff
  h[1] = (p.length >> 8) & 0xff
  h[2] = p.length & 0xff
  h[3] = type
  h[4] = flags
  h.writeUInt32BE(sid >>> 0, 5)
  return Buffer.concat([h, p])
}

/** HPACK integer with an N-bit prefix, `first` holding the pattern bits (RFC 7541 §5.1) */
export function hpackInt(prefix: number, first: number, v: number): Buffer {
  const max = (1 << prefix) - 1
  if (v < max) return Buffer.from([first | v])
  const out = [first | max]
  v -= max
  while (v >= 128) {
    out.push((v & 0x7f) | 0x80)
    v = Math.floor(v / 128)
  }
  out.push(v)
  return Buffer.from(out)
}

export function huffmanEncode(s: Buffer): Buffer {
  const codes = huffmanCodes()
  const out: number[] = []
  let acc = 0n
  let bits = 0
  for (const c of s) {
    acc = (acc << BigInt(codes[c].bits)) | BigInt(codes[c].code)
    bits += codes[c].bits
    while (bits >= 8) {
      out.push(Number((acc >> BigInt(bits - 8)) & 0xffn))
      bits -= 8
    }
  }
  if (bits > 0) out.push(Number(((acc << BigInt(8 - bits)) | ((1n << BigInt(8 - bits)) - 1n)) & 0xffn))
  return Buffer.from(out)
}

export function hpackStr(s: string, huffman = false): Buffer {
  const raw = Buffer.from(s, 'latin1')
  const b = huffman ? huffmanEncode(raw) : raw
  return Buffer.concat([hpackInt(7, huffman ? 0x80 : 0, b.length), b])
}

export type Mode = 'without' | 'incremental' | 'never'
const MODE_BITS = { without: [4, 0x00], incremental: [6, 0x40], never: [4, 0x10] } as const

/** a literal field with a new name */
export function lit(name: string, value: string, mode: Mode = 'without', huffman = false): Buffer {
  const [p, f] = MODE_BITS[mode]
  return Buffer.concat([hpackInt(p, f, 0), hpackStr(name, huffman), hpackStr(value, huffman)])
}

/** a literal field whose name is table entry `idx` */
export function litIdx(idx: number, value: string, mode: Mode = 'without', huffman = false): Buffer {
  const [p, f] = MODE_BITS[mode]
  return Buffer.concat([hpackInt(p, f, idx), hpackStr(value, huffman)])
}

/** an indexed field */
export function idx(i: number): Buffer {
  return hpackInt(7, 0x80, i)
}

export function sizeUpdate(n: number): Buffer {
  return hpackInt(5, 0x20, n)
}

/** a header block from [name, value] pairs: static full matches indexed, the rest literals */
export function block(fields: [string, string][], huffman = false): Buffer {
  const parts: Buffer[] = []
  for (const [n, v] of fields) {
    if (n === ':method' && v === 'GET') parts.push(idx(2))
    else if (n === ':method' && v === 'POST') parts.push(idx(3))
    else if (n === ':status' && v === '200') parts.push(idx(8))
    else if (n === ':scheme' && v === 'http') parts.push(idx(6))
    else parts.push(lit(n, v, 'without', huffman))
  }
  return Buffer.concat(parts)
}

export function settings(pairs: [number, number][] = [], ack = false): Buffer {
  const p = Buffer.alloc(pairs.length * 6)
  pairs.forEach(([id, v], i) => {
    p.writeUInt16BE(id, i * 6)
    p.writeUInt32BE(v, i * 6 + 2)
  })
  return frame(FrameType.SETTINGS, ack ? 1 : 0, 0, p)
}

export function headers(sid: number, fields: [string, string][], endStream = false): Buffer {
  return frame(FrameType.HEADERS, 0x4 | (endStream ? 1 : 0), sid, block(fields))
}

export function data(sid: number, payload: Buffer | string, endStream = false): Buffer {
  return frame(FrameType.DATA, endStream ? 1 : 0, sid, payload)
}

export function rst(sid: number, code: number): Buffer {
  const p = Buffer.alloc(4)
  p.writeUInt32BE(code)
  return frame(FrameType.RST_STREAM, 0, sid, p)
}

export function goaway(last: number, code = 0): Buffer {
  const p = Buffer.alloc(8)
  p.writeUInt32BE(last)
  p.writeUInt32BE(code, 4)
  return frame(FrameType.GOAWAY, 0, 0, p)
}

/** one gRPC Length-Prefixed-Message */
export function grpcMessage(body: Buffer | string, flag = 0): Buffer {
  const b = typeof body === 'string' ? Buffer.from(body, 'latin1') : body
  const h = Buffer.alloc(5)
  h[0] = flag
  h.writeUInt32BE(b.length, 1)
  return Buffer.concat([h, b])
}

export function req(path: string, method = 'GET', extra: [string, string][] = []): [string, string][] {
  return [[':method', method], [':scheme', 'http'], [':path', path], [':authority', 'example.com'], ...extra]
}

export function grpcReq(path: string): [string, string][] {
  return req(path, 'POST', [['content-type', 'application/grpc'], ['te', 'trailers']])
}
