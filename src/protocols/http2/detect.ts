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
import { FRAME_HEADER_BYTES, FrameType, PREFACE, frameLen, plausibleFrames } from './frames.js'

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
  return plausibleFrames(head)
}
