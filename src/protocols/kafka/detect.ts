// Is this the start of a Kafka request? Pure, never consumes bytes.
//
// Only requests are recognised: a response (int32 size, int32 correlation id, body) has no api key and
// nothing else that tells it from any other length-prefixed binary protocol, so the server side is
// never claimed on its own (the connection layer tries the other direction too, which also covers a
// connection whose roles were guessed the wrong way round).
//
// A request must show all of: size within bounds, an api key from the table, a version no newer than
// the table allows (plus slack), a client_id of -1 or a length that fits the size and only printable
// ASCII, the tagged-field count of a flexible header in range, and, when the next message starts in
// the bytes at hand, a plausible request header there too. Text protocols cannot pass (their first
// byte would make the size over 500 MB), nor TLS (0x16 0x03), nor PostgreSQL startup packets (protocol
// 3.0 reads as Metadata v0 and the "user" key as the correlation id, but the client_id length then
// comes from parameter text and is far too large or not printable), nor RocketMQ (JSON header length
// reads as a Produce version in the hundreds).

import type { Dir } from '../../tcp/types.js'
import { ApiKey, plausibleVersion } from './api-keys.js'
import { decodeRequest } from './bodies.js'
import { REQUEST_FIXED_BYTES, requestHeaderVersion } from './headers.js'
import { Cursor } from './wire.js'

/** a request's size is judged up to this when detecting (the detection head is small anyway) */
const DETECT_MAX_SIZE = 64 * 1024 * 1024
/** tagged fields in a request header: none are defined but client's own; more than this is not Kafka */
const MAX_HEADER_TAGS = 8

export function detectKafka(head: Buffer, dir: Dir): boolean {
  if (dir !== 'c2s') return false
  return requestAt(head, 0, head.length, DETECT_MAX_SIZE) === 1
}

/**
 * 1 when a plausible request starts at `off` and the message after it (if its header is in the bytes)
 * is plausible too, 0 when not, -1 when more bytes are needed to tell.
 */
export function requestAt(b: Buffer, off: number, end: number, maxSize: number): -1 | 0 | 1 {
  const first = requestHeaderAt(b, off, end, maxSize)
  if (first <= 0) return first === -1 ? -1 : 0
  const next = off + 4 + b.readInt32BE(off)
  if (!bodyFits(b, off, Math.min(next, end), next <= end)) return 0
  if (next >= end) return 1 // ends exactly here, or goes on past the bytes at hand: the header decides
  return requestHeaderAt(b, next, end, maxSize) === 0 ? 0 : 1
}

const cursor = new Cursor()

/**
 * A whole request of an API whose body podtap reads must decode within its size: a response with a
 * small correlation id reads as a header (id 1 = Produce v1, throttle 0 = correlation id, error 0 = empty
 * client id) but its body then does not fit. Whole or not, a Produce's acks must be -1, 0 or 1 (an
 * HTTP/2 SETTINGS frame, 00 00 12 04 ..., reads as a Produce v0 header too, with acks 100).
 */
function bodyFits(b: Buffer, off: number, end: number, whole: boolean): boolean {
  const key = b.readInt16BE(off + 4)
  const version = b.readInt16BE(off + 6)
  const hv = requestHeaderVersion(key, version)
  if (hv === 0) return true
  const c = cursor.set(b.subarray(0, end), off + 12, false)
  c.skipStr()
  c.flexible = hv === 2
  c.tags()
  const body = decodeRequest(c, key, version, 0)
  const ok = body === undefined || ((c.ok || !whole) && (body.acks === undefined || (body.acks >= -1 && body.acks <= 1)))
  cursor.clear()
  return ok
}

/** 1 when the bytes at `off` are a plausible request size + header, 0 when not, -1 when too few */
export function requestHeaderAt(b: Buffer, off: number, end: number, maxSize: number): -1 | 0 | 1 {
  if (end - off < 4 + REQUEST_FIXED_BYTES) return -1
  const size = b.readInt32BE(off)
  if (size < REQUEST_FIXED_BYTES || size > maxSize) return 0
  const key = b.readInt16BE(off + 4)
  const version = b.readInt16BE(off + 6)
  if (!plausibleVersion(key, version)) return 0
  const hv = requestHeaderVersion(key, version)
  // ControlledShutdown v0 (broker to controller) has no client_id: only its exact size tells it
  if (hv === 0 && key === ApiKey.ControlledShutdown && size === REQUEST_FIXED_BYTES + 4) return 1
  if (end - off < 14) return -1
  const idLen = b.readInt16BE(off + 12)
  if (idLen < -1 || 2 + REQUEST_FIXED_BYTES + Math.max(idLen, 0) > size) return 0
  const idEnd = off + 14 + Math.max(idLen, 0)
  if (idEnd > end) return -1
  for (let i = off + 14; i < idEnd; i++) if (b[i] < 0x20 || b[i] > 0x7e) return 0
  if (hv === 2) {
    if (idEnd >= end) return -1
    // tag count: one varint byte is all a real header needs
    if (b[idEnd] > MAX_HEADER_TAGS || idEnd + 1 > off + 4 + size) return 0
  }
  return 1
}

/**
 * 1 when a response to one of the `pending` correlation ids starts at `off` (a 32-bit id match is
 * strong), or, at `off` 0 only, when sizes chain exactly to `end` (a response whose request was not
 * seen: counted, not paired); 0 when not; -1 when more bytes are needed.
 */
export function responseAt(b: Buffer, off: number, end: number, maxSize: number, pending: (id: number) => boolean): -1 | 0 | 1 {
  if (end - off < 8) return -1
  const size = b.readInt32BE(off)
  if (size < 4 || size > maxSize) return 0
  if (pending(b.readInt32BE(off + 4))) return 1
  if (off !== 0) return 0
  let p = off
  for (let i = 0; i < 4; i++) {
    const n = p + 4 + b.readInt32BE(p)
    if (n === end) return 1
    if (n > end) return -1
    if (end - n < 4) return -1
    const s = b.readInt32BE(n)
    if (s < 4 || s > maxSize) return 0
    p = n
  }
  return 0
}
