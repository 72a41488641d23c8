// The plaintext handshake messages podtap reads: ClientHello and ServerHello (RFC 8446 §4.1.2-4.1.3,
// RFC 5246 §7.4.1), and the names of versions, cipher suites and alerts. Every length is checked
// against what is there; a message that does not add up is reported as bad, never read past.
//
//   ClientHello => legacy_version(2) random(32) session_id<0..32> cipher_suites<2..2^16-2>
//                  compression_methods<1..2^8-1> extensions<0..2^16-1> (absent before TLS 1.0 ext.)
//   ServerHello => legacy_version(2) random(32) session_id<0..32> cipher_suite(2) compression(1)
//                  extensions<0..2^16-1>
//   Extension   => type(2) length(2) data
//     server_name (0, RFC 6066 §3)            => list<2> of name_type(1) host_name<2>
//     application_layer_protocol_negotiation (16, RFC 7301) => list<2> of protocol<1>
//     supported_versions (43, RFC 8446 §4.2.1) => ClientHello: versions<1> of (2); ServerHello: (2)

export const enum HandshakeType {
  ClientHello = 1,
  ServerHello = 2,
}

const enum Ext {
  ServerName = 0,
  Alpn = 16,
  SupportedVersions = 43,
}

/** HelloRetryRequest is a ServerHello whose random is SHA-256("HelloRetryRequest") (RFC 8446 §4.1.3) */
const HRR_RANDOM = Buffer.from('cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c', 'hex')

/** names kept at most this long (a DNS name is at most 253 characters) */
const MAX_NAME_CHARS = 253
/** ALPN protocols kept from one ClientHello */
const MAX_ALPN = 8

export interface ClientHello {
  /** server_name host_name, printable ASCII only (others shown as '?') */
  sni?: string
  /** supported_versions without GREASE, else the legacy version alone */
  versions: string[]
  alpn: string[]
}

export interface ServerHello {
  /** supported_versions when present (TLS 1.3), else legacy_version */
  version: string
  cipher: string
  /** the protocol the server chose (TLS 1.2 and lower; TLS 1.3 sends it encrypted) */
  alpn?: string
  helloRetry: boolean
}

/** 'TLS1.2', 'SSL3.0', 'TLS1.3-draft28', or the hex code */
export function versionName(v: number): string {
  switch (v) {
    case 0x0002:
      return 'SSL2.0'
    case 0x0300:
      return 'SSL3.0'
    case 0x0301:
      return 'TLS1.0'
    case 0x0302:
      return 'TLS1.1'
    case 0x0303:
      return 'TLS1.2'
    case 0x0304:
      return 'TLS1.3'
  }
  if (v >> 8 === 0x7f) return `TLS1.3-draft${v & 0xff}`
  return hex4(v)
}

function hex4(v: number): string {
  return '0x' + v.toString(16).padStart(4, '0')
}

/** GREASE values (RFC 8701): 0x?A?A with both bytes equal */
function isGrease(v: number): boolean {
  return (v & 0x0f0f) === 0x0a0a && v >> 8 === (v & 0xff)
}

/** IANA names of the cipher suites seen in practice (checked against `openssl ciphers -V -stdname`) */
export const CIPHER_NAMES: ReadonlyMap<number, string> = new Map([
  [0x1301, 'TLS_AES_128_GCM_SHA256'],
  [0x1302, 'TLS_AES_256_GCM_SHA384'],
  [0x1303, 'TLS_CHACHA20_POLY1305_SHA256'],
  [0x1304, 'TLS_AES_128_CCM_SHA256'],
  [0xc02b, 'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256'],
  [0xc02c, 'TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384'],
  [0xc02f, 'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256'],
  [0xc030, 'TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384'],
  [0xcca8, 'TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256'],
  [0xcca9, 'TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256'],
  [0xccaa, 'TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256'],
  [0x009c, 'TLS_RSA_WITH_AES_128_GCM_SHA256'],
  [0x009d, 'TLS_RSA_WITH_AES_256_GCM_SHA384'],
  [0x009e, 'TLS_DHE_RSA_WITH_AES_128_GCM_SHA256'],
  [0x009f, 'TLS_DHE_RSA_WITH_AES_256_GCM_SHA384'],
  [0xc009, 'TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA'],
  [0xc00a, 'TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA'],
  [0xc013, 'TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA'],
  [0xc014, 'TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA'],
  [0xc023, 'TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256'],
  [0xc024, 'TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384'],
  [0xc027, 'TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256'],
  [0xc028, 'TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384'],
  [0x002f, 'TLS_RSA_WITH_AES_128_CBC_SHA'],
  [0x0035, 'TLS_RSA_WITH_AES_256_CBC_SHA'],
  [0x003c, 'TLS_RSA_WITH_AES_128_CBC_SHA256'],
  [0x003d, 'TLS_RSA_WITH_AES_256_CBC_SHA256'],
  [0x0033, 'TLS_DHE_RSA_WITH_AES_128_CBC_SHA'],
  [0x0039, 'TLS_DHE_RSA_WITH_AES_256_CBC_SHA'],
  [0x000a, 'TLS_RSA_WITH_3DES_EDE_CBC_SHA'],
  [0x0004, 'TLS_RSA_WITH_RC4_128_MD5'],
  [0x0005, 'TLS_RSA_WITH_RC4_128_SHA'],
])

export function cipherName(v: number): string {
  return CIPHER_NAMES.get(v) ?? hex4(v)
}

/** AlertDescription names (RFC 8446 §6, RFC 5246 §7.2) */
const ALERTS: Record<number, string> = {
  0: 'close_notify', 10: 'unexpected_message', 20: 'bad_record_mac', 21: 'decryption_failed',
  22: 'record_overflow', 30: 'decompression_failure', 40: 'handshake_failure', 41: 'no_certificate',
  42: 'bad_certificate', 43: 'unsupported_certificate', 44: 'certificate_revoked',
  45: 'certificate_expired', 46: 'certificate_unknown', 47: 'illegal_parameter', 48: 'unknown_ca',
  49: 'access_denied', 50: 'decode_error', 51: 'decrypt_error', 60: 'export_restriction',
  70: 'protocol_version', 71: 'insufficient_security', 80: 'internal_error', 86: 'inappropriate_fallback',
  90: 'user_canceled', 100: 'no_renegotiation', 109: 'missing_extension', 110: 'unsupported_extension',
  111: 'certificate_unobtainable', 112: 'unrecognized_name', 113: 'bad_certificate_status_response',
  114: 'bad_certificate_hash_value', 115: 'unknown_psk_identity', 116: 'certificate_required',
  120: 'no_application_protocol',
}

export function alertName(desc: number): string {
  return ALERTS[desc] ?? `alert_${desc}`
}

/** printable ASCII of b[start, end), others as '?', cut at MAX_NAME_CHARS */
function printable(b: Buffer, start: number, end: number): string {
  const n = Math.min(end - start, MAX_NAME_CHARS)
  let s = ''
  for (let i = 0; i < n; i++) {
    const c = b[start + i]!
    s += c > 0x20 && c < 0x7f ? String.fromCharCode(c) : '?'
  }
  return s
}

/**
 * Walks the extensions block b[off, end): calls `on(type, start, end)` for each one that fits.
 * Returns false when a length runs past the block.
 */
function walkExtensions(b: Buffer, off: number, end: number, on: (type: number, start: number, stop: number) => void): boolean {
  if (off === end) return true // no extensions (TLS 1.0-1.2 allow that)
  if (off + 2 > end) return false
  const total = b.readUInt16BE(off)
  off += 2
  if (off + total > end) return false
  const stop = off + total
  while (off + 4 <= stop) {
    const type = b.readUInt16BE(off)
    const len = b.readUInt16BE(off + 2)
    off += 4
    if (off + len > stop) return false
    on(type, off, off + len)
    off += len
  }
  return off === stop
}

/** ALPN protocol_name_list in b[off, end) */
function alpnList(b: Buffer, off: number, end: number, max: number): string[] {
  const out: string[] = []
  if (off + 2 > end) return out
  const stop = Math.min(end, off + 2 + b.readUInt16BE(off))
  off += 2
  while (off < stop && out.length < max) {
    const len = b[off]!
    if (len === 0 || off + 1 + len > stop) break
    out.push(printable(b, off + 1, off + 1 + len))
    off += 1 + len
  }
  return out
}

/** skips legacy_version, random and session_id; returns the offset after them, or -1 */
function afterSessionId(b: Buffer): number {
  if (b.length < 35) return -1
  const sid = b[34]!
  if (sid > 32 || 35 + sid > b.length) return -1
  return 35 + sid
}

/** A ClientHello body (after the 4-byte handshake header); null when it does not add up. */
export function parseClientHello(b: Buffer): ClientHello | null {
  let off = afterSessionId(b)
  if (off < 0 || off + 2 > b.length) return null
  const suites = b.readUInt16BE(off)
  off += 2 + suites
  if (off + 1 > b.length) return null
  off += 1 + b[off]!
  if (off > b.length) return null
  const hello: ClientHello = { versions: [], alpn: [] }
  let supported: string[] | null = null
  const ok = walkExtensions(b, off, b.length, (type, s, e) => {
    if (type === Ext.ServerName) {
      // server_name_list<2>: name_type(1) = 0 host_name, host_name<2>
      let o = s + 2
      const stop = Math.min(e, s + 2 + (e - s >= 2 ? b.readUInt16BE(s) : 0))
      while (o + 3 <= stop) {
        const kind = b[o]!
        const len = b.readUInt16BE(o + 1)
        if (o + 3 + len > stop) break
        if (kind === 0 && hello.sni === undefined && len > 0) hello.sni = printable(b, o + 3, o + 3 + len)
        o += 3 + len
      }
    } else if (type === Ext.Alpn) {
      hello.alpn = alpnList(b, s, e, MAX_ALPN)
    } else if (type === Ext.SupportedVersions && e > s) {
      supported = []
      const stop = Math.min(e, s + 1 + b[s]!)
      for (let o = s + 1; o + 2 <= stop; o += 2) {
        const v = b.readUInt16BE(o)
        if (!isGrease(v) && supported.length < 8) supported.push(versionName(v))
      }
    }
  })
  if (!ok) return null
  hello.versions = supported ?? [versionName(b.readUInt16BE(0))]
  return hello
}

/** A ServerHello body (after the 4-byte handshake header); null when it does not add up. */
export function parseServerHello(b: Buffer): ServerHello | null {
  let off = afterSessionId(b)
  if (off < 0 || off + 3 > b.length) return null
  const hello: ServerHello = {
    version: versionName(b.readUInt16BE(0)),
    cipher: cipherName(b.readUInt16BE(off)),
    helloRetry: b.subarray(2, 34).equals(HRR_RANDOM),
  }
  off += 3
  const ok = walkExtensions(b, off, b.length, (type, s, e) => {
    if (type === Ext.SupportedVersions && e - s >= 2) hello.version = versionName(b.readUInt16BE(s))
    else if (type === Ext.Alpn) {
      const a = alpnList(b, s, e, 1)
      if (a.length > 0) hello.alpn = a[0]
    }
  })
  return ok ? hello : null
}

/** The SSL 2.0 CLIENT-HELLO's version (see detect.ts looksLikeSslv2Hello): offered, nothing more. */
export function sslv2HelloVersion(b: Buffer): string {
  return versionName(b.readUInt16BE(3))
}
