// gRPC over HTTP/2 (https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md).
//
//   Request  → HEADERS (:method POST, :path /pkg.Service/Method, content-type application/grpc[+proto|+json])
//              *DATA (Length-Prefixed-Message)
//   Response → HEADERS (:status 200) *DATA trailers HEADERS (grpc-status, grpc-message) END_STREAM
//              or Trailers-Only: one HEADERS with :status and grpc-status, END_STREAM
//   Length-Prefixed-Message = Compressed-Flag (1 byte) Message-Length (4 bytes, big endian) Message
//
// gRPC-Web (https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-WEB.md) over HTTP/2 carries the
// trailers in the body instead: a message whose flag byte has the MSB set (0x80) holds
// "grpc-status:0\r\ngrpc-message:...\r\n" as text. GrpcWebTrailers finds grpc-status there.

/** content-type application/grpc, application/grpc+proto, application/grpc-web+proto, ... */
export function isGrpcContentType(ct: string): boolean {
  return ct.length >= 16 && ct.slice(0, 16).toLowerCase() === 'application/grpc'
}

export function isGrpcWeb(ct: string): boolean {
  return ct.length >= 20 && ct.slice(0, 20).toLowerCase() === 'application/grpc-web'
}

/** grpc-status text → number; null when it is not a decimal code */
export function parseGrpcStatus(v: string): number | null {
  const t = v.trim()
  if (t.length === 0 || t.length > 3) return null
  let n = 0
  for (let i = 0; i < t.length; i++) {
    const c = t.charCodeAt(i) - 0x30
    if (c < 0 || c > 9) return null
    n = n * 10 + c
  }
  return n
}

/** trailer text kept per gRPC-Web response (grpc-status comes first in practice) */
const MAX_TRAILER_TEXT = 256
const MSG_HEADER_BYTES = 5

/**
 * Walks the Length-Prefixed-Messages of a gRPC-Web response body across DATA frames, keeping only
 * the 5-byte prefix being read and the start of a trailer message. Bounded, never throws.
 */
export class GrpcWebTrailers {
  private hdr = new Uint8Array(MSG_HEADER_BYTES)
  private hdrLen = 0
  private remaining = 0
  private inTrailer = false
  private text = ''
  status: number | null = null

  feed(b: Buffer, s: number, e: number): void {
    let i = s
    while (i < e) {
      if (this.remaining > 0) {
        const n = Math.min(this.remaining, e - i)
        if (this.inTrailer && this.text.length < MAX_TRAILER_TEXT) {
          this.text += b.toString('latin1', i, i + Math.min(n, MAX_TRAILER_TEXT - this.text.length))
        }
        this.remaining -= n
        i += n
        if (this.remaining === 0 && this.inTrailer) this.trailerDone()
        continue
      }
      this.hdr[this.hdrLen++] = b[i++]
      if (this.hdrLen < MSG_HEADER_BYTES) continue
      this.hdrLen = 0
      this.inTrailer = (this.hdr[0] & 0x80) !== 0
      this.text = ''
      this.remaining = ((this.hdr[1] << 24) >>> 0) + (this.hdr[2] << 16) + (this.hdr[3] << 8) + this.hdr[4]
      if (this.remaining === 0 && this.inTrailer) this.trailerDone()
    }
  }

  private trailerDone(): void {
    this.inTrailer = false
    for (const line of this.text.split('\r\n')) {
      const colon = line.indexOf(':')
      if (colon > 0 && line.slice(0, colon).trim().toLowerCase() === 'grpc-status') {
        const st = parseGrpcStatus(line.slice(colon + 1))
        if (st !== null) this.status = st
      }
    }
    this.text = ''
  }
}
