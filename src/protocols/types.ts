// The contract between the TCP layer, protocol parsers and everything that consumes exchanges.
// A protocol is detected apart from parsed (deepflow check_payload / parse_payload).

import type { Limits } from '../config.js'
import type { Counters } from '../counters.js'
import type { Dir, StreamHandler } from '../tcp/types.js'
import type { TraceHeaders } from './trace-headers.js'

export type ProtocolId =
  | 'http'
  | 'http2'
  | 'grpc'
  | 'mysql'
  | 'postgresql'
  | 'redis'
  | 'kafka'
  | 'mongodb'
  | 'rocketmq'

/**
 * One request paired with its response, as a parser sees it: no addresses (the connection layer adds
 * client, server, protocol and tls to make an Exchange, see records.ts).
 */
export interface ParsedExchange {
  /** set only when the parser reports another protocol than its own (http2 -> grpc) */
  protocol?: ProtocolId
  /** bounded: 'GET', 'SELECT', 'Produce', '/pkg.Svc/Method'; 'unknown' when not decodable */
  method: string
  /** path without query, normalized SQL, topic, db.collection; undefined where DESIGN.md says absent */
  resource?: string
  /** HTTP status, gRPC status, SQL error code or 'OK', Redis 'OK' or error prefix, ...; null when no response */
  status: number | string | null
  /**
   * server-side failure (DESIGN.md "error"), or no response before the connection ended; null when a
   * response came but its status could not be read (status 'unknown'): neither success nor failure
   */
  error: boolean | null
  /** request's first byte, µs since epoch */
  startUs: number
  /** response's last byte, µs since epoch; when there was no response, the time it was given up */
  endUs: number
  /** L7 bytes of the request and the response (body included, framing included) */
  reqBytes: number
  respBytes: number
  /** extra detail for traces and xlsx (HTTP version, host, user-agent...); secrets never stored */
  attrs?: Record<string, string>
  /** trace context headers of the request (HTTP/1, HTTP/2, gRPC metadata), only when it carried any */
  trace?: TraceHeaders
}

export type ExchangeSink = (e: ParsedExchange) => void

/** What a parser instance gets: where to send exchanges, the caps, and where to count problems. */
export interface ParserContext {
  emit: ExchangeSink
  limits: Limits
  /** count a malformed frame, a cap hit, an unmatched response: reason is a short snake_case word */
  count(reason: string, n?: number): void
  /** count a response whose request was never seen (capture began mid-stream): counted, not invented */
  unmatchedResponse(n?: number): void
  /**
   * The rest of the connection is encrypted (PostgreSQL SSLRequest answered 'S', MySQL SSL request):
   * the connection is labelled tls in l7_link and counted in flows_encrypted; nothing more is parsed.
   */
  encrypted?(kind: 'tls' | 'gssenc'): void
  /**
   * The connection switches to another protocol in the middle (HTTP/1.1 `Upgrade: h2c` answered 101,
   * RFC 9113 §3.2): the connection layer creates that protocol's parser through its `upgrade()`,
   * which answers `seed` as its first exchange, and sends it every later byte. Returns the new parser
   * so the caller can hand it the rest of the chunk it is in; null when that protocol is not enabled
   * (then the caller stops parsing, as for any other switch).
   */
  switchProtocol?(to: ProtocolId, seed: UpgradeSeed): StreamHandler | null
}

/** The request that asked for a protocol switch, handed to the new protocol's parser to answer. */
export interface UpgradeSeed {
  /** the Upgrade token the server accepted ('h2c') */
  upgrade: string
  method: string
  /** request-target as sent (path and query) */
  target: string
  host?: string
  userAgent?: string
  /** trace context headers of the upgrade request */
  trace?: TraceHeaders
  /** request's first byte, µs since epoch */
  startUs: number
  reqBytes: number
  /** bytes of the interim answers (the 101 and any 1xx before it), counted into the response */
  respBytes: number
}

export interface ProtocolParser {
  readonly id: ProtocolId
  /** ports where this protocol is usual: a hint for detection order only */
  readonly ports: readonly number[]
  /**
   * Pure check of a direction's first bytes: does `head` look like the start of this protocol's
   * client message (dir 'c2s') or server message (dir 's2c')? `head` may be short; answer false
   * when unsure. Detection never consumes bytes.
   */
  detect(head: Buffer, dir: Dir): boolean
  /** A fresh parser for one connection. It receives every byte from the first one detection saw. */
  create(ctx: ParserContext): StreamHandler
  /** A parser for a connection that switched to this protocol mid-way (see ParserContext.switchProtocol). */
  upgrade?(ctx: ParserContext, seed: UpgradeSeed): StreamHandler
}
