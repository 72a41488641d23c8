// Builders for TLS handshake test input (pg-protocol testing/test-buffers.ts style): tests say which
// hello they send, not hex. Not used at run time. Layouts: RFC 8446 §4.1.2-4.1.3, §5.1, §6.

const u8 = (n: number): Buffer => Buffer.from([n & 0xff])
const u16 = (n: number): Buffer => Buffer.from([(n >> 8) & 0xff, n & 0xff])
const u24 = (n: number): Buffer => Buffer.from([(n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff])
/** a vector with a length prefix of 1 or 2 bytes */
const vec = (lenBytes: 1 | 2, body: Buffer): Buffer => Buffer.concat([lenBytes === 1 ? u8(body.length) : u16(body.length), body])

export const CCS = 20
export const ALERT = 21
export const HANDSHAKE = 22
export const APP_DATA = 23

/** one record: type(1) version(2) length(2) fragment */
export function record(type: number, fragment: Buffer, version = 0x0303): Buffer {
  return Buffer.concat([u8(type), u16(version), u16(fragment.length), fragment])
}

/** one handshake message: msg_type(1) length(3) body */
export function handshake(type: number, body: Buffer): Buffer {
  return Buffer.concat([u8(type), u24(body.length), body])
}

export function extension(type: number, data: Buffer): Buffer {
  return Buffer.concat([u16(type), u16(data.length), data])
}

const sniExt = (name: string): Buffer => extension(0, vec(2, Buffer.concat([u8(0), vec(2, Buffer.from(name, 'latin1'))])))
const alpnExt = (protos: string[]): Buffer => extension(16, vec(2, Buffer.concat(protos.map((p) => vec(1, Buffer.from(p))))))

export interface ClientHelloSpec {
  sni?: string
  /** supported_versions (codes); absent: no extension */
  versions?: number[]
  alpn?: string[]
  legacyVersion?: number
  /** extra bytes of padding extension (type 21), to make a long hello */
  padding?: number
  /** leave out the extensions block entirely (TLS 1.0 clients may) */
  noExtensions?: boolean
}

export function clientHello(o: ClientHelloSpec = {}): Buffer {
  const exts: Buffer[] = []
  if (o.sni !== undefined) exts.push(sniExt(o.sni))
  if (o.versions !== undefined) exts.push(extension(43, vec(1, Buffer.concat(o.versions.map(u16)))))
  if (o.alpn !== undefined) exts.push(alpnExt(o.alpn))
  if (o.padding !== undefined) exts.push(extension(21, Buffer.alloc(o.padding)))
  const body = Buffer.concat([
    u16(o.legacyVersion ?? 0x0303),
    Buffer.alloc(32, 0x11), // random
    vec(1, Buffer.alloc(32, 0x22)), // session id
    vec(2, Buffer.concat([u16(0x1301), u16(0xc02f)])),
    vec(1, u8(0)),
    o.noExtensions ? Buffer.alloc(0) : vec(2, Buffer.concat(exts)),
  ])
  return handshake(1, body)
}

export const HRR_RANDOM = Buffer.from('cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c', 'hex')

export interface ServerHelloSpec {
  /** supported_versions (TLS 1.3) */
  version?: number
  legacyVersion?: number
  cipher?: number
  alpn?: string
  helloRetry?: boolean
}

export function serverHello(o: ServerHelloSpec = {}): Buffer {
  const exts: Buffer[] = []
  if (o.version !== undefined) exts.push(extension(43, u16(o.version)))
  if (o.alpn !== undefined) exts.push(alpnExt([o.alpn]))
  const body = Buffer.concat([
    u16(o.legacyVersion ?? 0x0303),
    o.helloRetry ? HRR_RANDOM : Buffer.alloc(32, 0x33),
    vec(1, Buffer.alloc(32, 0x22)),
    u16(o.cipher ?? 0x1301),
    u8(0),
    vec(2, Buffer.concat(exts)),
  ])
  return handshake(2, body)
}

/** an opaque handshake message (Certificate 11, ServerHelloDone 14, ...) of n bytes */
export const opaqueMessage = (type: number, n: number): Buffer => handshake(type, Buffer.alloc(n, 0x44))

export const alert = (level: number, desc: number): Buffer => record(ALERT, Buffer.from([level, desc]))
export const ccs = (): Buffer => record(CCS, Buffer.from([1]))
/** an encrypted record of n bytes (application_data, or a given type) */
export const sealed = (n: number, type = APP_DATA): Buffer => record(type, Buffer.alloc(n, 0x55))

/** SSL 2.0-format CLIENT-HELLO (RFC 5246 E.2) offering `version`, with three cipher specs */
export function sslv2Hello(version = 0x0002): Buffer {
  const specs = Buffer.from([0x01, 0x00, 0x80, 0x03, 0x00, 0x80, 0x07, 0x00, 0xc0])
  const challenge = Buffer.alloc(16, 0x66)
  const body = Buffer.concat([u8(1), u16(version), u16(specs.length), u16(0), u16(challenge.length), specs, challenge])
  return Buffer.concat([u16(0x8000 | body.length), body])
}
