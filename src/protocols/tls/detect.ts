// Is this the start of a TLS connection, or TLS records joined mid-stream? Pure checks of a direction's
// first bytes (the connection layer asks them; they never consume bytes).
//
// TLSPlaintext (RFC 8446 §5.1, RFC 5246 §6.2.1):  type(1) legacy_record_version(2) length(2) fragment
// SSL 2.0 CLIENT-HELLO, as TLS 1.0-1.2 clients may send it for compatibility (RFC 5246 appendix E.2):
//   msg_length(2, high bit set) msg_type(1) = 1 version(2) cipher_spec_length(2) session_id_length(2)
//   challenge_length(2) cipher_specs session_id challenge

export const enum ContentType {
  ChangeCipherSpec = 20,
  Alert = 21,
  Handshake = 22,
  ApplicationData = 23,
  Heartbeat = 24, // RFC 6520
}

/** Largest record length accepted: 2^14 + 2048 (TLSCiphertext in TLS 1.2, RFC 5246 §6.2.3) */
export const MAX_RECORD_BYTES = 16384 + 2048

/** a plausible record header at b[off]: known type, version 3.x with x <= 4, length within bounds */
export function isRecordHeader(b: Buffer, off: number): boolean {
  const t = b[off]!
  if (t < ContentType.ChangeCipherSpec || t > ContentType.Heartbeat || b[off + 1] !== 0x03 || b[off + 2]! > 0x04) return false
  const len = b.readUInt16BE(off + 3)
  return len > 0 && len <= MAX_RECORD_BYTES
}

/** TLS record header of a handshake: content type 22, version 3.x (SSL 3.0 to TLS 1.3 all use 0x03) */
export function looksLikeTlsHandshake(b: Buffer): boolean {
  return b.length >= 3 && b[0] === ContentType.Handshake && b[1] === 0x03 && b[2]! <= 0x04
}

/**
 * An SSL 2.0-format CLIENT-HELLO (2-byte header with the high bit set, msg_type 1, version 0.2 or 3.x).
 * The fixed part is 9 bytes after the length; cipher specs come in 3-byte entries.
 */
export function looksLikeSslv2Hello(b: Buffer): boolean {
  if (b.length < 11 || (b[0]! & 0x80) === 0 || b[2] !== 1) return false
  const version = b.readUInt16BE(3)
  if (version !== 0x0002 && (b[3] !== 0x03 || b[4]! > 0x04)) return false
  const len = ((b[0]! & 0x7f) << 8) | b[1]!
  const specs = b.readUInt16BE(5)
  return specs > 0 && specs % 3 === 0 && len >= 9 + specs
}

/**
 * A chunk that starts with TLS records (change_cipher_spec 20, alert 21, handshake 22, application
 * data 23; version 3.x; a length within 2^14 + 2048, RFC 8446 §5.2), every whole record followed by
 * another such header: an encrypted connection joined mid-stream. Asked only after every parser said no.
 */
export function looksLikeTlsRecords(b: Buffer): boolean {
  let off = 0
  let records = 0
  while (off + 5 <= b.length) {
    if (b[off] === ContentType.Heartbeat || !isRecordHeader(b, off)) return false
    records++
    off += 5 + b.readUInt16BE(off + 3)
  }
  return records > 0
}
