// HTTP/2 (RFC 9113) and gRPC over it: one exchange per client-initiated stream.
//
//   c2s: preface "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", then frames (frames.ts)
//   s2c: frames, SETTINGS first
//   request  = HEADERS [+ CONTINUATION...] (:method, :path, content-type) *DATA [trailers HEADERS]
//   response = [1xx HEADERS] HEADERS (:status) *DATA [trailers HEADERS (grpc-status)], END_STREAM ends it
//
// Pairing is by stream id. An exchange starts at the first byte of its request HEADERS frame and ends
// with the server's END_STREAM, or with RST_STREAM from either side (status from what was seen, error
// when there was no response), or unanswered at GOAWAY (streams above last-stream-id) or the
// connection's end. reqBytes/respBytes are the frame bytes (header included) of the stream's HEADERS,
// CONTINUATION, DATA, PUSH_PROMISE and RST_STREAM frames in each direction.
//
// gRPC (content-type application/grpc...): protocol 'grpc', method = :path ('/pkg.Svc/Method'), no
// resource, status = grpc-status (number), error when it is not 0. HTTP/2: method = :method, resource =
// :path without query, status = :status, error for 5xx.
//
// HPACK state is per direction (hpack.ts). A malformed block breaks it for the rest of the connection:
// later exchanges keep their pairing and timing but get method 'unknown'. Joined mid-stream (gap -1),
// fields that refer to dynamic entries from before the capture come out as 'unknown' too.

import { truncateText } from '../text.js'
import type { Dir, EndReason, StreamHandler } from '../../tcp/types.js'
import { Framer } from '../framer.js'
import type { ParsedExchange, ParserContext, ProtocolParser, UpgradeSeed } from '../types.js'
import { detectHttp2, isPrefacePrefix } from './detect.js'
import {
  FRAME_HEADER_BYTES, Flag, FrameType, PREFACE, Setting, errorName, frameTotalLength, plausibleHeader, streamId,
} from './frames.js'
import { GrpcWebTrailers, isGrpcContentType, isGrpcWeb, parseGrpcStatus } from './grpc.js'
import { Decoder, Result, UNKNOWN } from './hpack.js'
import { addTraceHeader, traceHeaderKey, type TraceHeaders } from '../trace-headers.js'

/** 2^24-1 payload bytes (RFC 9113 §4.1) plus the header: no frame is longer */
const MAX_WIRE_FRAME = FRAME_HEADER_BYTES + 0xffffff
/** ids remembered for promised (server push) streams and for unmatched responses */
const MAX_REMEMBERED_IDS = 1024

/** a gRPC method path: /package.Service/Method (the package may be absent) */
const GRPC_PATH = /^\/[^/?#\s]+\/[^/?#\s]+$/
/** a gRPC message longer than this is not believed (grpc-go and grpc-java default to 4 MiB) */
const MAX_GRPC_MESSAGE = 1 << 28

/**
 * Does a DATA frame's payload start like a gRPC length-prefixed message (compressed flag 0 or 1, a
 * 4-byte length that fills the frame or runs on into the next)? null when too short to tell.
 */
function grpcFramed(f: Buffer, total: number, flags: number): boolean | null {
  let off = FRAME_HEADER_BYTES
  let end = total
  if (flags & Flag.PADDED) {
    if (f.length <= off) return null
    end -= f[off] + 1
    off++
  }
  if (end - off < 5 || f.length < off + 5) return end - off === 0 ? null : false
  if (f[off] > 1) return false
  const len = f.readUInt32BE(off + 1)
  return len + 5 === end - off || (len + 5 > end - off && len <= MAX_GRPC_MESSAGE)
}

/** One client-initiated stream, from its request HEADERS until it is emitted. */
class Stream {
  method: string | null = null
  path: string | null = null
  reqContentType = ''
  respContentType = ''
  host: string | undefined = undefined
  userAgent: string | undefined = undefined
  /** request headers could not be decoded (broken or partial HPACK) */
  reqUnknown = false
  /** a response header block (headers or trailers) could not be decoded entirely */
  respUnknown = false
  status: number | null = null
  grpcStatus: number | null = null
  grpcWeb: GrpcWebTrailers | null = null
  respHeaders = false
  reqBytes = 0
  respBytes = 0
  reqEnded = false
  rst: string | undefined = undefined
  goaway = false
  /** the request came over HTTP/1.1 and asked for this protocol (Upgrade: h2c) */
  upgrade: string | undefined = undefined
  /**
   * gRPC framing of the first DATA frame per direction (5-byte length-prefixed message: flag 0/1,
   * length that fits the frame or runs on): null not seen yet, then true or false
   */
  reqFramed: boolean | null = null
  respFramed: boolean | null = null
  /** response DATA seen; a header block after it (trailers); the response was one HEADERS block with END_STREAM */
  respData = false
  trailers = false
  trailersOnly = false
  /** trace context headers / gRPC metadata, when the request carried any */
  trace: TraceHeaders | undefined = undefined

  constructor(
    readonly id: number,
    readonly startUs: number,
  ) {}
}

/** the fields one header block gave */
class Fields {
  method: string | null = null
  path: string | null = null
  status: number | null = null
  contentType: string | null = null
  grpcStatus: number | null = null
  authority: string | undefined = undefined
  userAgent: string | undefined = undefined
  unknown = false
  trace: TraceHeaders | undefined = undefined

  reset(): void {
    this.method = this.path = this.contentType = null
    this.status = this.grpcStatus = null
    this.authority = this.userAgent = this.trace = undefined
    this.unknown = false
  }
}

/** One direction: framing, HPACK decoder, header block assembly. */
class Side {
  readonly framer: Framer
  readonly dec: Decoder
  /** c2s: preface bytes still expected */
  prefaceLeft: number
  /** false after a gap: waiting for a chunk that starts with a plausible frame header */
  synced = true
  /** time of the chunk being fed (a frame's last byte arrived then) */
  curUs = 0
  /** a header block being assembled from HEADERS/PUSH_PROMISE + CONTINUATION; 0 = none */
  blockStream = 0
  blockType = FrameType.HEADERS
  blockEndStream = false
  blockStartUs = 0
  blockPromised = 0
  blockBytes = 0
  blockBuf: Buffer = Buffer.alloc(0)
  blockLen = 0
  /** after a gap: the first bytes of a candidate frame start shorter than a frame header */
  readonly resyncHead = Buffer.alloc(FRAME_HEADER_BYTES)
  resyncLen = 0
  /** the block outgrew maxHeaderBytes: the rest is skipped, the block is not decoded */
  blockCut = false

  constructor(
    readonly dir: Dir,
    h: Http2Handler,
    maxFrameBytes: number,
    limits: { maxHpackTableBytes: number; maxHeaderBytes: number },
  ) {
    this.prefaceLeft = dir === 'c2s' ? PREFACE.length : 0
    this.dec = new Decoder(limits.maxHpackTableBytes, limits.maxHeaderBytes)
    this.framer = new Framer({
      maxFrameBytes,
      frameLength: frameTotalLength,
      onFrame: (f, startUs) => h.onFrame(this, f, f.length, startUs),
      onOversize: (head, total, startUs) => h.onFrame(this, head, total, startUs),
    })
  }
}

export class Http2Handler implements StreamHandler {
  private readonly c2s: Side
  private readonly s2c: Side
  /** pending streams by id; insertion order = start order */
  private readonly streams = new Map<number, Stream>()
  private readonly promised = new Set<number>()
  private readonly unmatched = new Set<number>()
  private readonly f = new Fields()
  private readonly maxPending: number
  private readonly maxText: number
  private readonly maxHeaderBytes: number
  private ended = false
  private nowUs = 0

  constructor(
    private readonly ctx: ParserContext,
    seed?: UpgradeSeed,
  ) {
    const l = ctx.limits
    const maxFrame = Math.max(FRAME_HEADER_BYTES + 16384, Math.min(l.maxFrameBytes, MAX_WIRE_FRAME))
    this.c2s = new Side('c2s', this, maxFrame, l)
    this.s2c = new Side('s2c', this, maxFrame, l)
    this.maxPending = Math.max(1, l.maxPendingRequests)
    this.maxText = l.maxTextBytes
    this.maxHeaderBytes = l.maxHeaderBytes
    if (seed !== undefined) this.seedUpgraded(seed)
  }

  /**
   * After HTTP/1.1 `Upgrade: h2c` and 101: the upgrade request is stream 1, half-closed by the client,
   * and its response comes as HTTP/2 frames on stream 1 (RFC 9113 §3.2). The client's preface and both
   * sides' SETTINGS follow as on any new connection.
   */
  private seedUpgraded(seed: UpgradeSeed): void {
    const s = new Stream(1, seed.startUs)
    s.method = seed.method
    s.path = seed.target
    s.host = seed.host === undefined ? undefined : truncateText(seed.host, this.maxText)
    s.userAgent = seed.userAgent === undefined ? undefined : truncateText(seed.userAgent, this.maxText)
    s.trace = seed.trace
    s.reqBytes = seed.reqBytes
    s.respBytes = seed.respBytes
    s.reqEnded = true
    s.upgrade = seed.upgrade
    this.streams.set(1, s)
  }

  /** pending streams, for tests */
  get pendingStreams(): number {
    return this.streams.size
  }

  /** bytes held between calls (framing tails and header blocks), both directions */
  get bufferedBytes(): number {
    return this.c2s.framer.buffered + this.s2c.framer.buffered + this.c2s.blockLen + this.s2c.blockLen
  }

  /** HPACK dynamic table bytes, both directions */
  get hpackBytes(): number {
    return this.c2s.dec.tableBytes + this.s2c.dec.tableBytes
  }

  oldestPendingUs(): number {
    let t = Infinity
    for (const s of this.streams.values()) {
      t = s.startUs
      break
    }
    if (this.c2s.blockStream !== 0 && this.c2s.blockStartUs < t) t = this.c2s.blockStartUs
    const p = this.c2s.framer.partialStartUs
    return p < t ? p : t
  }

  data(dir: Dir, chunk: Buffer, tsUs: number, _peerAcked: number): void {
    if (this.ended) return
    if (tsUs > this.nowUs) this.nowUs = tsUs
    const side = dir === 'c2s' ? this.c2s : this.s2c
    let i = 0
    while (side.prefaceLeft > 0 && i < chunk.length) {
      if (chunk[i] !== PREFACE[PREFACE.length - side.prefaceLeft]) {
        // not a preface: frames from the first byte on (or garbage the framing will show)
        if (side.prefaceLeft !== PREFACE.length) this.ctx.count('bad_preface')
        side.prefaceLeft = 0
        break
      }
      side.prefaceLeft--
      i++
    }
    if (i === chunk.length) return
    let rest = i === 0 ? chunk : chunk.subarray(i)
    if (!side.synced) {
      // after a gap, a segment usually begins with a frame: wait for a chunk whose first 9 bytes look
      // like a frame header (a chunk shorter than that is held, at most 9 bytes, and judged with the next)
      if (side.resyncLen + rest.length < FRAME_HEADER_BYTES) {
        rest.copy(side.resyncHead, side.resyncLen)
        side.resyncLen += rest.length
        return
      }
      if (side.resyncLen > 0) {
        rest = Buffer.concat([side.resyncHead.subarray(0, side.resyncLen), rest])
        side.resyncLen = 0
      }
      if (side.dir === 'c2s' && isPrefacePrefix(rest)) {
        // the connection starts here after all (no SYN seen): a clean HPACK state, preface first
        side.synced = true
        side.dec.reset()
        side.prefaceLeft = PREFACE.length
        this.data(dir, rest, tsUs, _peerAcked)
        return
      }
      if (!plausibleHeader(rest, 0, Math.min(this.ctx.limits.maxFrameBytes, 0xffffff))) {
        this.ctx.count('resync_skipped')
        return
      }
      side.synced = true
    }
    side.curUs = tsUs
    side.framer.feed(rest, tsUs)
  }

  gap(dir: Dir, lostBytes: number, tsUs: number): void {
    if (this.ended) return
    if (tsUs > this.nowUs) this.nowUs = tsUs
    const side = dir === 'c2s' ? this.c2s : this.s2c
    // a frame may have been cut and a header block lost: framing restarts at a plausible frame, and the
    // HPACK table is unknown from now on (a lost block may have added entries)
    this.ctx.count(lostBytes < 0 ? 'mid_stream' : 'gap')
    side.prefaceLeft = 0
    side.framer.reset()
    side.synced = false
    side.resyncLen = 0
    this.dropBlock(side)
    side.dec.joinMidStream()
  }

  end(_reason: EndReason, tsUs: number): void {
    if (this.ended) return
    this.ended = true
    for (const s of [...this.streams.values()]) this.finish(s, Math.max(tsUs, s.startUs), false)
  }

  /** one whole frame (`f` = the frame), or the head of an oversize one (`total` = its real length) */
  onFrame(side: Side, f: Buffer, total: number, startUs: number): void {
    const type = f[3]
    const flags = f[4]
    const sid = streamId(f, 0)
    const whole = f.length === total
    if (side.blockStream !== 0 && type !== FrameType.CONTINUATION) {
      // RFC 9113 §6.10: nothing may come between a header block's frames
      this.ctx.count('continuation_missing')
      this.blockLost(side)
    }
    const isC2s = side.dir === 'c2s'
    switch (type) {
      case FrameType.DATA: {
        const s = this.streams.get(sid)
        if (s === undefined) break
        if (isC2s ? s.reqFramed === null : s.respFramed === null) {
          const framed = grpcFramed(f, total, flags)
          if (framed !== null) {
            if (isC2s) s.reqFramed = framed
            else s.respFramed = framed
          }
        }
        if (!isC2s) s.respData = true
        if (isC2s) {
          s.reqBytes += total
          if (flags & Flag.END_STREAM) s.reqEnded = true
        } else {
          s.respBytes += total
          if (s.grpcWeb !== null && whole) {
            let off = FRAME_HEADER_BYTES
            let end = f.length
            if (flags & Flag.PADDED) {
              const pad = f.length > off ? f[off] : 0
              off++
              end -= pad
            }
            if (end > off) s.grpcWeb.feed(f, off, end)
          }
          if (flags & Flag.END_STREAM) this.finish(s, side.curUs, true)
        }
        break
      }
      case FrameType.HEADERS:
      case FrameType.PUSH_PROMISE: {
        side.blockStream = sid === 0 ? -1 : sid
        side.blockType = type
        side.blockEndStream = type === FrameType.HEADERS && (flags & Flag.END_STREAM) !== 0
        side.blockStartUs = startUs
        side.blockBytes = total
        side.blockLen = 0
        side.blockCut = !whole
        side.blockPromised = 0
        if (!whole) {
          this.ctx.count('header_block_too_large')
        } else {
          let off = FRAME_HEADER_BYTES
          let end = f.length
          if (flags & Flag.PADDED) {
            end -= f.length > off ? f[off] : 0
            off++
          }
          if (type === FrameType.HEADERS && flags & Flag.PRIORITY) off += 5
          if (type === FrameType.PUSH_PROMISE) {
            if (end - off >= 4) side.blockPromised = f.readUInt32BE(off) & 0x7fffffff
            off += 4
          }
          if (end < off) {
            this.ctx.count('bad_padding')
            side.blockCut = true
          } else if (flags & Flag.END_HEADERS) {
            this.blockDone(side, f, off, end)
            break
          } else this.append(side, f, off, end)
        }
        if (flags & Flag.END_HEADERS) this.blockDone(side, f, 0, 0)
        break
      }
      case FrameType.CONTINUATION: {
        if (side.blockStream === 0 || sid !== side.blockStream) {
          this.ctx.count('unexpected_continuation')
          if (side.blockStream !== 0) this.blockLost(side)
          break
        }
        side.blockBytes += total
        if (!whole) {
          if (!side.blockCut) this.ctx.count('header_block_too_large')
          side.blockCut = true
        } else this.append(side, f, FRAME_HEADER_BYTES, f.length)
        if (flags & Flag.END_HEADERS) {
          if (side.blockCut) this.blockDone(side, f, 0, 0)
          else this.blockDone(side, side.blockBuf, 0, side.blockLen)
        }
        break
      }
      case FrameType.RST_STREAM: {
        const s = this.streams.get(sid)
        if (s === undefined) break
        if (isC2s) s.reqBytes += total
        else s.respBytes += total
        s.rst = whole && f.length >= 13 ? errorName(f.readUInt32BE(FRAME_HEADER_BYTES)) : 'unknown'
        this.finish(s, side.curUs, s.respHeaders)
        break
      }
      case FrameType.SETTINGS: {
        if (flags & Flag.ACK || !whole) break
        // the sender's HEADER_TABLE_SIZE bounds the table of the header blocks it receives
        const other = isC2s ? this.s2c : this.c2s
        for (let off = FRAME_HEADER_BYTES; off + 6 <= f.length; off += 6) {
          if (f.readUInt16BE(off) === Setting.HEADER_TABLE_SIZE) other.dec.setAllowed(f.readUInt32BE(off + 2))
        }
        break
      }
      case FrameType.GOAWAY: {
        if (!whole || f.length < 17) break
        this.ctx.count('goaway')
        if (isC2s) break
        // streams above last-stream-id were not processed by the server (RFC 9113 §6.8)
        const last = f.readUInt32BE(FRAME_HEADER_BYTES) & 0x7fffffff
        for (const s of [...this.streams.values()]) {
          if (s.id > last) {
            s.goaway = true
            this.finish(s, side.curUs, false)
          }
        }
        break
      }
      // PRIORITY, PING, WINDOW_UPDATE and unknown types (which must be ignored, §4.1) say nothing here
    }
  }

  private append(side: Side, b: Buffer, s: number, e: number): void {
    if (side.blockCut) return
    const need = side.blockLen + (e - s)
    if (need > this.maxHeaderBytes) {
      // a hostile endless CONTINUATION run: stop keeping it (the HPACK state is lost with it)
      this.ctx.count('header_block_too_large')
      side.blockCut = true
      side.blockLen = 0
      return
    }
    if (need > side.blockBuf.length) {
      const nb = Buffer.allocUnsafe(Math.min(this.maxHeaderBytes, Math.max(need, side.blockBuf.length * 2, 1024)))
      side.blockBuf.copy(nb, 0, 0, side.blockLen)
      side.blockBuf = nb
    }
    b.copy(side.blockBuf, side.blockLen, s, e)
    side.blockLen = need
  }

  /** a header block is complete: decode it (unless cut) and apply it to its stream */
  private blockDone(side: Side, b: Buffer, s: number, e: number): void {
    const f = this.f
    f.reset()
    const cut = side.blockCut
    if (!cut && e - s > this.maxHeaderBytes) {
      this.ctx.count('header_block_too_large')
      side.blockCut = true
    }
    if (side.blockCut) {
      // undecodable: the peer's encoder may have added entries we did not see; relearn from here
      side.dec.joinMidStream()
      this.ctx.count('hpack_broken')
      f.unknown = true
    } else {
      const r = side.dec.decode(b, s, e, (n, v) => this.field(n, v))
      if (r === Result.Bad) {
        // what was decoded before the fault cannot be trusted either; the decoder relearns the table
        f.reset()
        f.unknown = true
        this.ctx.count(side.dec.lastBad ?? 'hpack_malformed')
        this.ctx.count('hpack_broken')
      } else if (r === Result.Partial) {
        f.unknown = true
        this.ctx.count('hpack_unknown_entry')
      }
    }
    const sid = side.blockStream
    const type = side.blockType
    const endStream = side.blockEndStream
    const bytes = side.blockBytes
    const startUs = side.blockStartUs
    const promised = side.blockPromised
    side.blockStream = 0
    side.blockLen = 0
    side.blockCut = false
    if (side.blockBuf.length > 64 * 1024) side.blockBuf = Buffer.alloc(0)
    if (sid <= 0) return
    if (side.dir === 'c2s') {
      if (type !== FrameType.HEADERS) {
        this.ctx.count('push_promise_from_client')
        return
      }
      this.requestHeaders(sid, startUs, bytes, endStream)
    } else if (type === FrameType.PUSH_PROMISE) {
      // a promised stream is the server's own: its response is not an answer to a request
      this.ctx.count('push_promise')
      const s = this.streams.get(sid)
      if (s !== undefined) s.respBytes += bytes
      if (promised !== 0) this.remember(this.promised, promised)
    } else this.responseHeaders(sid, bytes, endStream, side.curUs)
  }

  /** the block being assembled cannot be finished: its stream still counts, its HPACK state is lost */
  private blockLost(side: Side): void {
    side.blockCut = true
    this.blockDone(side, side.blockBuf, 0, 0)
  }

  /** after a gap: the block in progress is gone (the decoder is reset by the caller) */
  private dropBlock(side: Side): void {
    side.blockStream = 0
    side.blockLen = 0
    side.blockCut = false
  }

  private field(name: string, value: string): void {
    const f = this.f
    if (name === UNKNOWN) {
      f.unknown = true
      return
    }
    switch (name) {
      case ':method':
        f.method = value === UNKNOWN ? null : value
        break
      case ':path':
        f.path = value === UNKNOWN ? null : value
        break
      case ':status':
        if (value !== UNKNOWN && value.length === 3) {
          const n = Number(value)
          if (Number.isInteger(n)) f.status = n
        }
        break
      case 'content-type':
        if (value !== UNKNOWN) f.contentType = value
        break
      case 'grpc-status':
        if (value !== UNKNOWN) f.grpcStatus = parseGrpcStatus(value)
        break
      case ':authority':
        if (value !== UNKNOWN) f.authority = value
        break
      case 'user-agent':
        if (value !== UNKNOWN) f.userAgent = value
        break
      default: {
        const key = value !== UNKNOWN && name.length <= 13 ? traceHeaderKey(name) : undefined
        if (key !== undefined) f.trace = addTraceHeader(f.trace, key, value)
      }
    }
  }

  private requestHeaders(sid: number, startUs: number, bytes: number, endStream: boolean): void {
    const f = this.f
    let s = this.streams.get(sid)
    if (s !== undefined) {
      // trailers from the client (client streaming ends with them, or a second block)
      s.reqBytes += bytes
      if (endStream) s.reqEnded = true
      return
    }
    if (sid % 2 === 0) {
      // even ids are the server's (RFC 9113 §5.1.1): not a request
      this.ctx.count('even_stream_request')
      return
    }
    if (this.streams.size >= this.maxPending) {
      const oldest = this.streams.values().next().value as Stream
      this.ctx.count('pending_evicted')
      this.finish(oldest, this.nowUs, false)
    }
    s = new Stream(sid, startUs)
    s.method = f.method
    s.path = f.path
    s.reqContentType = f.contentType ?? ''
    s.host = f.authority === undefined ? undefined : truncateText(f.authority, this.maxText)
    s.userAgent = f.userAgent === undefined ? undefined : truncateText(f.userAgent, this.maxText)
    s.reqUnknown = f.unknown
    s.trace = f.trace
    s.reqBytes = bytes
    s.reqEnded = endStream
    if (isGrpcWeb(s.reqContentType)) s.grpcWeb = new GrpcWebTrailers()
    this.streams.set(sid, s)
  }

  private responseHeaders(sid: number, bytes: number, endStream: boolean, tsUs: number): void {
    const f = this.f
    const s = this.streams.get(sid)
    if (s === undefined) {
      if (this.promised.has(sid)) {
        if (endStream) this.promised.delete(sid)
      } else if (!this.unmatched.has(sid)) {
        // capture began after this stream's request: counted, not invented
        this.remember(this.unmatched, sid)
        this.ctx.unmatchedResponse()
      }
      return
    }
    s.respBytes += bytes
    if (f.unknown) s.respUnknown = true
    // 1xx is not final (RFC 9113 §8.1): it neither answers nor carries anything we report
    if (f.status !== null && f.status < 200 && !endStream) return
    if (f.status !== null && f.status >= 200) s.status = f.status
    if (f.contentType !== null) s.respContentType = f.contentType
    if (f.grpcStatus !== null) s.grpcStatus = f.grpcStatus
    if (s.respHeaders || s.respData) s.trailers = true
    else if (endStream) s.trailersOnly = true
    // a final response or trailers, even when HPACK could not read them
    s.respHeaders = true
    if (endStream) this.finish(s, tsUs, true)
  }

  private remember(set: Set<number>, id: number): void {
    if (set.size >= MAX_REMEMBERED_IDS) set.delete(set.values().next().value as number)
    set.add(id)
  }

  /** emits a stream: answered = the server's response (or what was seen of it) closes it */
  private finish(s: Stream, endUs: number, answered: boolean): void {
    if (!this.streams.delete(s.id)) return
    // gRPC by its content-type or grpc-status; or, when HPACK could not read those (joined after the
    // table was built), by its framing (length-prefixed messages) with a /Service/Method path, or an
    // unreadable path on a POST answered with trailers
    const framed = (s.reqFramed === true || s.respFramed === true) && s.reqFramed !== false && s.respFramed !== false
    const grpc =
      isGrpcContentType(s.reqContentType) ||
      isGrpcContentType(s.respContentType) ||
      s.grpcStatus !== null ||
      (framed &&
        (s.path !== null
          ? GRPC_PATH.test(s.path)
          : (s.method === null || s.method === 'POST') && (s.trailers || s.trailersOnly)))
    const attrs: Record<string, string> = { version: 'HTTP/2', stream: String(s.id) }
    if (s.host !== undefined) attrs.host = s.host
    if (s.userAgent !== undefined) attrs.user_agent = s.userAgent
    if (s.rst !== undefined) attrs.rst_stream = s.rst
    if (s.goaway) attrs.goaway = 'true'
    if (s.upgrade !== undefined) attrs.upgrade = s.upgrade
    if (s.reqUnknown) attrs.hpack = 'undecodable'
    if (s.respUnknown) attrs.response_hpack = 'undecodable'
    let status: number | string | null
    let error: boolean | null
    let method: string
    let resource: string | undefined
    // Never a success that was not read: an answer whose status could not be decoded is status
    // 'unknown' with error null (neither success nor failure), unless what was read (a reset, a
    // non-200 HTTP status) says failure
    if (grpc) {
      method = s.path === null ? 'unknown' : this.text(s.path)
      status = s.grpcStatus ?? s.grpcWeb?.status ?? null
      if (s.status !== null) attrs.http_status = String(s.status)
      if (s.trailersOnly) attrs.response = 'trailers-only'
      if (!answered) {
        status = null
        error = true
      } else if (status !== null) error = status !== 0
      else {
        status = 'unknown'
        // no grpc-status read: a reset, or a non-200 HTTP status (gRPC maps it to a code), is a failure
        error = s.rst !== undefined || (s.status !== null && s.status !== 200) ? true : null
      }
    } else {
      method = s.method === null ? 'unknown' : truncateText(s.method, 32)
      if (s.path !== null) {
        const q = s.path.search(/[?#]/)
        resource = this.text(q >= 0 ? s.path.slice(0, q) : s.path)
      }
      status = answered ? (s.status ?? 'unknown') : null
      if (!answered) error = true
      else if (typeof status === 'number') error = status >= 500
      else error = s.rst !== undefined ? true : null
    }
    const e: ParsedExchange = {
      method,
      status,
      error,
      startUs: s.startUs,
      endUs: Math.max(endUs, s.startUs),
      reqBytes: s.reqBytes,
      respBytes: s.respBytes,
      attrs,
    }
    if (grpc) e.protocol = 'grpc'
    if (resource !== undefined) e.resource = resource
    if (s.trace !== undefined) e.trace = s.trace
    this.ctx.emit(e)
  }

  /** HPACK strings are latin1 bytes: paths are UTF-8 on the wire */
  private text(s: string): string {
    const t = /[\u0080-\u00ff]/.test(s) ? Buffer.from(s, 'latin1').toString('utf8') : s
    return truncateText(t, this.maxText)
  }
}

export const http2Parser: ProtocolParser = {
  id: 'http2',
  // h2c prior knowledge and gRPC's usual ports; detection is by content
  ports: [50051, 8443, 9090, 2379],
  detect: detectHttp2,
  create: (ctx) => new Http2Handler(ctx),
  upgrade: (ctx, seed) => new Http2Handler(ctx, seed),
}
