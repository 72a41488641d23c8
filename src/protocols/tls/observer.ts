// What an encrypted connection still tells: the TLS records of both directions, framed as they come
// (records split across segments, handshake messages split across records), the ClientHello and
// ServerHello read in the clear (hello.ts), alerts, and when the handshake ended. Nothing is
// decrypted. Knows no addresses: the connection layer (src/pipeline/connection.ts) feeds it and puts
// what it found on the l7_link record.
//
//   record => type(1) version(2) length(2) fragment          (RFC 8446 §5.1, RFC 5246 §6.2.1)
//   handshake message => msg_type(1) length(3) body          (RFC 8446 §4)
//   alert => level(1) description(1)                         (RFC 8446 §6)
//
// Encrypted from where: TLS 1.2 and lower, a direction's records after its ChangeCipherSpec; TLS 1.3,
// everything the server sends after its ServerHello travels as application_data (type 23), and a
// ChangeCipherSpec is only a middlebox courtesy (RFC 8446 §D.4: a ClientHello may follow it after a
// HelloRetryRequest). Either version: after a direction's first application_data record.
//
// Handshake time: from the ClientHello to the first record each direction sends encrypted
// (application_data, or in TLS 1.2 the Finished after ChangeCipherSpec); the later of the two. In TLS
// 1.3 that is the client's Finished, in a full TLS 1.2 handshake the server's.
//
// Bounds: per direction a 5-byte record header, a 4-byte handshake header, and only ClientHello and
// ServerHello bodies are kept, each at most MAX_HELLO_BYTES (longer ones are skipped and counted);
// no length field is trusted past what it may say (records: MAX_RECORD_BYTES).

import type { Dir } from '../../tcp/types.js'
import { ContentType, isRecordHeader, looksLikeTlsRecords } from './detect.js'
import { alertName, HandshakeType, parseClientHello, parseServerHello, versionName } from './hello.js'

/** largest ClientHello / ServerHello body kept (post-quantum key shares make them ~2 KB; 32 KiB leaves room) */
export const MAX_HELLO_BYTES = 32 * 1024
/** plaintext alerts kept per connection */
const MAX_ALERTS = 8

export interface TlsAlert {
  from: 'client' | 'server'
  /** 'warning', 'fatal', or the level number when it is neither */
  level: string
  description: string
}

/** What the handshake showed. Everything is absent that was not seen. */
export interface TlsInfo {
  /** server_name from the ClientHello */
  sni?: string
  /** versions the client offered (supported_versions, else its legacy version) */
  offeredVersions?: string[]
  /** ALPN protocols the client offered */
  alpnOffered?: string[]
  /** the version the server chose */
  version?: string
  /** the cipher suite the server chose (IANA name, else hex) */
  cipher?: string
  /** the ALPN protocol the server chose, when it says so in the clear (TLS 1.2 and lower) */
  alpnChosen?: string
  /** the server asked for another ClientHello (TLS 1.3 HelloRetryRequest) */
  helloRetry?: boolean
  /** the client sent an SSL 2.0-format hello: not parsed further than its version */
  sslv2Hello?: boolean
  /** time of the (first) ClientHello, µs */
  clientHelloUs?: number
  /** ClientHello to the end of the handshake (see top of file), µs */
  handshakeUs?: number
  /** plaintext alerts (at most MAX_ALERTS) */
  alerts: TlsAlert[]
  /** alert records sent encrypted (TLS 1.2 and lower: after ChangeCipherSpec); their content is unknown */
  encryptedAlerts: number
}

interface Side {
  /** record header being read */
  hdr: Buffer
  hdrLen: number
  /** current record: content type and body bytes still to come */
  type: number
  left: number
  /** framing lost (gap of unknown size, bytes that are not TLS): resumes at a chunk that starts with records */
  lost: boolean
  /** the first record of this direction is still to come */
  first: boolean
  ccs: boolean
  appData: boolean
  /** first encrypted record, µs; -1 before */
  doneUs: number
  /** handshake message reassembly */
  hsHdr: Buffer
  hsHdrLen: number
  msgType: number
  msgLeft: number
  msg: Buffer | null
  msgFill: number
  msgStartUs: number
  /** a gap inside plaintext handshake bytes: no more messages can be read in this direction */
  hsLost: boolean
  /** plaintext alert being read */
  alert: number[] | null
}

function side(): Side {
  return {
    hdr: Buffer.alloc(5), hdrLen: 0, type: -1, left: 0, lost: false, first: true, ccs: false, appData: false,
    doneUs: -1, hsHdr: Buffer.alloc(4), hsHdrLen: 0, msgType: 0, msgLeft: 0, msg: null, msgFill: 0,
    msgStartUs: 0, hsLost: false, alert: null,
  }
}

/** pseudo content type of an SSL 2.0 hello's body: skipped */
const SSLV2_BODY = -2

export class TlsObserver {
  readonly info: TlsInfo = { alerts: [], encryptedAlerts: 0 }
  private readonly sides = { c2s: side(), s2c: side() }

  /** `count(reason)`: a malformed or oversize part (counted as a parse error of protocol tls) */
  constructor(private readonly count: (reason: string) => void = () => {}) {}

  /** one direction's bytes, in order; `chunk` is borrowed for the call */
  data(dir: Dir, chunk: Buffer, tsUs: number): void {
    const s = this.sides[dir]
    let off = 0
    while (off < chunk.length) {
      if (s.lost) {
        // framing can only restart at a record boundary: a chunk that starts with whole records
        if (off !== 0 || !looksLikeTlsRecords(chunk)) return
        s.lost = false
        s.hdrLen = 0
      }
      if (s.hdrLen < 5) {
        const n = Math.min(5 - s.hdrLen, chunk.length - off)
        chunk.copy(s.hdr, s.hdrLen, off, off + n)
        s.hdrLen += n
        off += n
        if (s.hdrLen === 5) this.record(dir, s, tsUs)
        continue
      }
      const n = Math.min(s.left, chunk.length - off)
      this.body(dir, s, chunk, off, off + n, tsUs)
      off += n
      s.left -= n
      if (s.left === 0) this.endRecord(s)
    }
  }

  /** `lostBytes` of `dir` never came (-1: unknown) */
  gap(dir: Dir, lostBytes: number): void {
    const s = this.sides[dir]
    if (s.lost) return
    if (lostBytes >= 0 && s.hdrLen === 5 && lostBytes < s.left) {
      // inside one record: its end is still known
      s.left -= lostBytes
      if (s.type === ContentType.Handshake && !this.encrypted(s)) this.loseHandshake(s)
      s.alert = null
      return
    }
    if (lostBytes >= 0 && s.hdrLen === 5 && lostBytes === s.left) {
      s.left = 0
      if (s.type === ContentType.Handshake && !this.encrypted(s)) this.loseHandshake(s)
      this.endRecord(s)
      return
    }
    s.lost = true
    if (!this.encrypted(s)) this.loseHandshake(s)
    s.alert = null
  }

  /** the version chosen is TLS 1.3 (or one of its drafts) */
  private get is13(): boolean {
    return this.info.version !== undefined && this.info.version.startsWith('TLS1.3')
  }

  /** records of this direction are encrypted from here on */
  private encrypted(s: Side): boolean {
    return s.appData || (s.ccs && !this.is13)
  }

  private record(dir: Dir, s: Side, tsUs: number): void {
    const h = s.hdr
    const first = s.first
    s.first = false
    if (!isRecordHeader(h, 0)) {
      if (first && dir === 'c2s' && (h[0]! & 0x80) !== 0 && h[2] === 1 && (h[3] === 0x03 || h.readUInt16BE(3) === 0x0002)) {
        // SSL 2.0-format CLIENT-HELLO: 2-byte length (high bit set), then 3 of the 5 bytes read
        const len = ((h[0]! & 0x7f) << 8) | h[1]!
        if (len >= 9) {
          this.info.sslv2Hello = true
          this.info.offeredVersions = [versionName(h.readUInt16BE(3))]
          this.info.clientHelloUs = tsUs
          this.count('sslv2_hello')
          s.type = SSLV2_BODY
          s.left = len - 3
          return
        }
      }
      this.count('not_tls_record')
      s.lost = true
      s.hdrLen = 0
      return
    }
    s.type = h[0]!
    s.left = h.readUInt16BE(3)
    switch (s.type) {
      case ContentType.ChangeCipherSpec:
        s.ccs = true
        break
      case ContentType.ApplicationData:
        s.appData = true
        if (s.doneUs < 0) s.doneUs = tsUs
        break
      case ContentType.Handshake:
        // TLS 1.2: the Finished after ChangeCipherSpec is the first encrypted record
        if (this.encrypted(s) && s.doneUs < 0) s.doneUs = tsUs
        break
      case ContentType.Alert:
        if (s.left === 2 && !this.encrypted(s)) s.alert = []
        else this.info.encryptedAlerts++
        break
    }
  }

  private endRecord(s: Side): void {
    s.hdrLen = 0
    s.type = -1
    s.alert = null
  }

  private body(dir: Dir, s: Side, b: Buffer, off: number, end: number, tsUs: number): void {
    if (s.type === ContentType.Handshake) {
      if (!s.hsLost && !this.encrypted(s)) this.handshake(dir, s, b, off, end, tsUs)
    } else if (s.type === ContentType.Alert && s.alert !== null) {
      for (let i = off; i < end && s.alert.length < 2; i++) s.alert.push(b[i]!)
      if (s.alert.length === 2) {
        const [level, desc] = s.alert
        s.alert = null
        if (this.info.alerts.length < MAX_ALERTS) {
          this.info.alerts.push({
            from: dir === 'c2s' ? 'client' : 'server',
            level: level === 1 ? 'warning' : level === 2 ? 'fatal' : String(level),
            description: alertName(desc!),
          })
        }
      }
    }
  }

  /** plaintext handshake bytes b[off, end): cuts messages, keeps the hellos */
  private handshake(dir: Dir, s: Side, b: Buffer, off: number, end: number, tsUs: number): void {
    while (off < end) {
      if (s.hsHdrLen < 4) {
        if (s.hsHdrLen === 0) s.msgStartUs = tsUs
        const n = Math.min(4 - s.hsHdrLen, end - off)
        b.copy(s.hsHdr, s.hsHdrLen, off, off + n)
        s.hsHdrLen += n
        off += n
        if (s.hsHdrLen < 4) return
        s.msgType = s.hsHdr[0]!
        s.msgLeft = s.hsHdr.readUIntBE(1, 3)
        s.msgFill = 0
        const hello = s.msgType === HandshakeType.ClientHello || s.msgType === HandshakeType.ServerHello
        if (hello && s.msgLeft > MAX_HELLO_BYTES) this.count('hello_too_large')
        s.msg = hello && s.msgLeft <= MAX_HELLO_BYTES ? Buffer.allocUnsafe(s.msgLeft) : null
        if (s.msgLeft === 0) this.message(dir, s)
        continue
      }
      const n = Math.min(s.msgLeft, end - off)
      if (s.msg !== null) b.copy(s.msg, s.msgFill, off, off + n)
      s.msgFill += n
      s.msgLeft -= n
      off += n
      if (s.msgLeft === 0) this.message(dir, s)
    }
  }

  private message(dir: Dir, s: Side): void {
    const body = s.msg
    s.msg = null
    s.hsHdrLen = 0
    if (body === null) return
    if (s.msgType === HandshakeType.ClientHello) {
      if (dir !== 'c2s') return this.count('hello_wrong_direction')
      const ch = parseClientHello(body)
      if (ch === null) return this.count('bad_client_hello')
      const i = this.info
      // after a HelloRetryRequest the second ClientHello repeats the first; the first one's time counts
      if (i.clientHelloUs === undefined) i.clientHelloUs = s.msgStartUs
      if (ch.sni !== undefined) i.sni = ch.sni
      i.offeredVersions = ch.versions
      if (ch.alpn.length > 0) i.alpnOffered = ch.alpn
    } else {
      if (dir !== 's2c') return this.count('hello_wrong_direction')
      const sh = parseServerHello(body)
      if (sh === null) return this.count('bad_server_hello')
      const i = this.info
      i.version = sh.version
      i.cipher = sh.cipher
      if (sh.helloRetry) i.helloRetry = true
      if (sh.alpn !== undefined) i.alpnChosen = sh.alpn
    }
  }

  private loseHandshake(s: Side): void {
    s.hsLost = true
    s.msg = null
    s.hsHdrLen = 0
  }

  /** ClientHello to the first encrypted record of both directions (µs), when all three were seen */
  handshakeUs(): number | undefined {
    const c = this.sides.c2s.doneUs
    const v = this.sides.s2c.doneUs
    const t0 = this.info.clientHelloUs
    if (t0 === undefined || c < 0 || v < 0) return undefined
    return Math.max(0, Math.max(c, v) - t0)
  }

  /** the info with handshakeUs filled in */
  result(): TlsInfo {
    const h = this.handshakeUs()
    if (h !== undefined) this.info.handshakeUs = h
    return this.info
  }
}

/**
 * The ALPN to report: the one the server chose; when it was not seen in the clear (TLS 1.3 sends it
 * encrypted), what the client offered, marked "(offered)".
 */
export function alpnLabel(i: TlsInfo): string | undefined {
  if (i.alpnChosen !== undefined) return i.alpnChosen
  if (i.alpnOffered !== undefined && i.alpnOffered.length > 0) return `${i.alpnOffered.join(',')} (offered)`
  return undefined
}
