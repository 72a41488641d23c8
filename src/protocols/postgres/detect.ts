// Is this the start of a PostgreSQL conversation? Pure, never consumes bytes.
//
// Client, from connection start: a startup-phase packet (Int32 length, Int32 code): StartupMessage with
// protocol 3.x, SSLRequest, GSSENCRequest or CancelRequest, whose length fits the code.
// Either side joined mid-stream: a typed message of that direction with a sane length, confirmed by the
// message after it (or ending exactly where the bytes end). Binary lengths make this strict enough to go
// before the text protocols in the registry.

import type { Dir } from '../../tcp/types.js'
import {
  CANCEL_REQUEST, GSSENC_REQUEST, MAX_STARTUP_BYTES, PROTOCOL_3_0, SSL_REQUEST, plausibleMessage,
} from './messages.js'

/** open-ended messages are judged up to this size when detecting (a detection head is small anyway) */
const DETECT_MAX_LEN = 1 << 20

export function detectPostgres(head: Buffer, dir: Dir): boolean {
  if (dir === 'c2s' && isStartupPacket(head)) return true
  return confirmedMessageAt(head, 0, dir === 'c2s', DETECT_MAX_LEN) === 1
}

/** a startup-phase packet at the start of `b` (complete or not) */
export function isStartupPacket(b: Buffer): boolean {
  if (b.length < 8) return false
  const len = b.readUInt32BE(0)
  const code = b.readUInt32BE(4)
  if (code === SSL_REQUEST || code === GSSENC_REQUEST) return len === 8
  if (code === CANCEL_REQUEST) return len === 16
  if (code >>> 16 !== PROTOCOL_3_0 >>> 16) return false
  if (len < 8 + 1 || len > MAX_STARTUP_BYTES) return false
  // parameters are name\0value\0 pairs ending with an extra \0
  if (b.length >= len && b[len - 1] !== 0) return false
  return b.length <= 8 || b[8] !== 0 || len === 9
}

/**
 * 1 when a message of this direction starts at `off` and the next one is also valid (or the bytes end
 * exactly after it), 0 when not, -1 when more bytes are needed to tell.
 */
export function confirmedMessageAt(b: Buffer, off: number, client: boolean, maxLen: number): -1 | 0 | 1 {
  const first = plausibleMessage(b, off, client, maxLen)
  if (first <= 0) return first === -1 ? -1 : 0
  const next = off + first
  if (next === b.length) return 1
  if (next > b.length) return -1
  const second = plausibleMessage(b, next, client, maxLen)
  if (second === -1) return -1
  return second > 0 ? 1 : 0
}
