// HTTP/2 detection (RFC 9113 §3.4). Pure, never consumes bytes.
//
// c2s from connection start: the client preface "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" (a prefix of at
// least 4 bytes while it is still arriving).
// s2c from connection start: the server preface is a SETTINGS frame (type 4, stream 0, no ACK, a
// payload of 6-byte settings).
// Either side mid-stream: a run of plausible frame headers (frames.ts plausibleFrames): known types with
// only their defined flags, fixed sizes where §6 fixes them, lengths within 16384. Binary and strict,
// so it goes before the text protocols in the registry.

import type { Dir } from '../../tcp/types.js'
import { FRAME_HEADER_BYTES, Flag, FrameType, PREFACE, frameLen, plausibleFrames, plausibleHeader } from './frames.js'

/** settings a server preface carries at most: RFC 9113 defines 6, extensions a few more */
const MAX_PREFACE_SETTINGS = 32

export function isPrefacePrefix(head: Buffer): boolean {
  if (head.length < 4) return false
  const n = Math.min(head.length, PREFACE.length)
  return head.compare(PREFACE, 0, n, 0, n) === 0
}

export function isServerPreface(head: Buffer): boolean {
  if (head.length < FRAME_HEADER_BYTES) return false
  const len = frameLen(head, 0)
  return (
    head[3] === FrameType.SETTINGS &&
    head[4] === 0 &&
    head.readUInt32BE(5) === 0 &&
    len % 6 === 0 &&
    len <= 6 * MAX_PREFACE_SETTINGS
  )
}

export function detectHttp2(head: Buffer, dir: Dir): boolean {
  if (dir === 'c2s' && isPrefacePrefix(head)) return true
  if (dir === 's2c' && isServerPreface(head)) return true
  if (!plausibleFrames(head)) return dir === 'c2s' && oneRequestHeaders(head)
  // mid-stream, a header block's first field tells a request from a response when it is a
  // static-table pseudo-header (what every encoder sends first): the direction, so guessed roles
  // swap. Header blocks that all start otherwise (trailers) leave it open: wait for the next chunk.
  const side = headerSide(head)
  return side === null || side === dir
}

/**
 * 'c2s' when the first telling HEADERS frame in `head` starts with :method, :path, :scheme or
 * :authority from the static table (indexed or as a literal's name), 's2c' when with :status;
 * 'unsure' when there are HEADERS frames and none tells; null when there are none.
 */
export function headerSide(head: Buffer): Dir | 'unsure' | null {
  let off = 0
  let seen = false
  while (off + FRAME_HEADER_BYTES <= head.length) {
    const len = frameLen(head, off)
    if (head[off + 3] === FrameType.HEADERS) {
      seen = true
      const side = blockSide(head, off)
      if (side !== null) return side
    }
    off += FRAME_HEADER_BYTES + len
  }
  return seen ? 'unsure' : null
}

/**
 * Joined mid-stream where the only frames are one request's: a whole HEADERS frame (a client stream,
 * odd id) whose first field is a static-table request pseudo-header, then a DATA frame running past
 * the bytes at hand (or nothing): one whole frame is too little for plausibleFrames, but a request's
 * pseudo-header in a strict frame header is HTTP/2 enough.
 */
function oneRequestHeaders(head: Buffer): boolean {
  if (head.length < FRAME_HEADER_BYTES || head[3] !== FrameType.HEADERS || !plausibleHeader(head, 0)) return false
  if ((head.readUInt32BE(5) & 1) === 0) return false
  const next = FRAME_HEADER_BYTES + frameLen(head, 0)
  if (next > head.length || blockSide(head, 0) !== 'c2s') return false
  if (head.length - next < FRAME_HEADER_BYTES) return true
  return head[next + 3] === FrameType.DATA && plausibleHeader(head, next)
}

/** the side the first field of the HEADERS frame at `off` tells, null when it does not */
function blockSide(head: Buffer, off: number): Dir | null {
  const flags = head[off + 4]
  let p = off + FRAME_HEADER_BYTES
  if (flags & Flag.PADDED) p++
  if (flags & Flag.PRIORITY) p += 5
  // dynamic table size updates may come first (RFC 7541 §4.2): 001xxxxx, continued while the high bit is set
  while (p < head.length && (head[p] & 0xe0) === 0x20) {
    const more = (head[p] & 0x1f) === 0x1f
    p++
    if (more) {
      while (p < head.length && head[p] & 0x80) p++
      p++
    }
  }
  if (p >= head.length) return null
  const b = head[p]
  const idx = b & 0x80 ? b & 0x7f : (b & 0xc0) === 0x40 ? b & 0x3f : (b & 0xe0) === 0 ? b & 0x0f : 0
  if (idx >= 1 && idx <= 7) return 'c2s'
  if (idx >= 8 && idx <= 14) return 's2c'
  return null
}
