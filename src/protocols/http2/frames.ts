// HTTP/2 framing (RFC 9113 §4.1, https://www.rfc-editor.org/rfc/rfc9113#section-4.1).
//
//   HTTP Frame {
//     Length (24),                 payload length; > SETTINGS_MAX_FRAME_SIZE (16384 by default) only when
//                                  the receiver raised it, 2^24-1 at most
//     Type (8),
//     Flags (8),
//     Reserved (1), Stream Identifier (31),
//     Frame Payload (..),
//   }
//
// Client connection preface (§3.4): "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", then a SETTINGS frame.

export const FRAME_HEADER_BYTES = 9
/** SETTINGS_MAX_FRAME_SIZE initial value (RFC 9113 §6.5.2); detection does not accept more */
export const DEFAULT_MAX_FRAME_SIZE = 16384

export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1')

export const enum FrameType {
  DATA = 0x0,
  HEADERS = 0x1,
  PRIORITY = 0x2,
  RST_STREAM = 0x3,
  SETTINGS = 0x4,
  PUSH_PROMISE = 0x5,
  PING = 0x6,
  GOAWAY = 0x7,
  WINDOW_UPDATE = 0x8,
  CONTINUATION = 0x9,
}

export const enum Flag {
  END_STREAM = 0x1, // DATA, HEADERS
  ACK = 0x1, // SETTINGS, PING
  END_HEADERS = 0x4, // HEADERS, PUSH_PROMISE, CONTINUATION
  PADDED = 0x8, // DATA, HEADERS, PUSH_PROMISE
  PRIORITY = 0x20, // HEADERS
}

export const enum Setting {
  HEADER_TABLE_SIZE = 0x1,
}

/** flags each known type defines; others must be ignored by receivers, detection rejects them */
const DEFINED_FLAGS = [0x09, 0x2d, 0x00, 0x00, 0x01, 0x0c, 0x01, 0x00, 0x00, 0x04]

/** RFC 9113 §7 error codes, for attrs */
export const ERROR_CODES = [
  'NO_ERROR', 'PROTOCOL_ERROR', 'INTERNAL_ERROR', 'FLOW_CONTROL_ERROR', 'SETTINGS_TIMEOUT', 'STREAM_CLOSED',
  'FRAME_SIZE_ERROR', 'REFUSED_STREAM', 'CANCEL', 'COMPRESSION_ERROR', 'CONNECT_ERROR', 'ENHANCE_YOUR_CALM',
  'INADEQUATE_SECURITY', 'HTTP_1_1_REQUIRED',
]

export function errorName(code: number): string {
  return code < ERROR_CODES.length ? ERROR_CODES[code] : '0x' + code.toString(16)
}

export function frameLen(b: Buffer, off: number): number {
  return (b[off] << 16) | (b[off + 1] << 8) | b[off + 2]
}

export function streamId(b: Buffer, off: number): number {
  return b.readUInt32BE(off + 5) & 0x7fffffff
}

/** Framer frameLength: the whole frame, header included; -1 until the header is in */
export function frameTotalLength(b: Buffer, off: number): number {
  if (b.length - off < FRAME_HEADER_BYTES) return -1
  return FRAME_HEADER_BYTES + frameLen(b, off)
}

/**
 * Does b[off..off+9) look like a frame header a peer would send? Strict (detection and resync): a known
 * type, only its defined flags, the reserved bit clear, a stream id where the type needs one (and none
 * where it must not), the fixed payload sizes of §6, and a length within the default maximum.
 */
export function plausibleHeader(b: Buffer, off: number, maxLen = DEFAULT_MAX_FRAME_SIZE): boolean {
  const len = frameLen(b, off)
  const type = b[off + 3]
  const flags = b[off + 4]
  if (type > FrameType.CONTINUATION || (flags & ~DEFINED_FLAGS[type]) !== 0) return false
  if (b[off + 5] & 0x80) return false
  if (len > maxLen) return false
  const sid = streamId(b, off)
  switch (type) {
    case FrameType.DATA:
    case FrameType.HEADERS:
    case FrameType.CONTINUATION:
      return sid !== 0 && (type !== FrameType.HEADERS || len > 0)
    case FrameType.PRIORITY:
      return sid !== 0 && len === 5
    case FrameType.RST_STREAM:
      return sid !== 0 && len === 4
    case FrameType.PUSH_PROMISE:
      return sid !== 0 && len >= 4
    case FrameType.SETTINGS:
      return sid === 0 && len % 6 === 0 && ((flags & Flag.ACK) === 0 || len === 0)
    case FrameType.PING:
      return sid === 0 && len === 8
    case FrameType.GOAWAY:
      return sid === 0 && len >= 8
    case FrameType.WINDOW_UPDATE:
      return len === 4
  }
  return false
}

/**
 * A run of plausible frame headers from b[0]: true when it covers the bytes exactly, or when at least
 * two whole frames are plausible and what follows them is a plausible start (or too short to judge).
 */
export function plausibleFrames(b: Buffer): boolean {
  let off = 0
  let whole = 0
  while (b.length - off >= FRAME_HEADER_BYTES) {
    if (!plausibleHeader(b, off)) return false
    const next = off + FRAME_HEADER_BYTES + frameLen(b, off)
    if (next > b.length) return whole >= 2
    whole++
    off = next
    if (off === b.length) return true
  }
  return whole >= 2
}
