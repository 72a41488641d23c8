// RocketMQ remoting protocol (name server 9876, broker 10911/10909): requests paired with responses
// by `opaque`. Wire layout in header.ts; codes in codes.ts. Spec: apache/rocketmq RemotingCommand.java
// (https://github.com/apache/rocketmq/blob/develop/docs/en/Design_Remoting.md).
//
// Exchanges:
//   - A request (flag bit 0 clear) waits for the response with the same opaque in the other direction.
//     Responses come in any order (async sends, long-polling pulls answered 15 s later), so pairing is
//     by id, never by order. method = request code name (SEND_MESSAGE_V2), resource = topic from
//     extFields ("topic", or "b" in SendMessageRequestHeaderV2), status = response code name
//     (SUCCESS, PULL_NOT_FOUND...), error = code != 0 (DESIGN.md: "RocketMQ response code not 0")
//     except the codes that are normal answers (codes.ts isFailure: empty long-polls, transaction checks).
//   - A oneway request (flag bit 1: UPDATE_CONSUMER_OFFSET, NOTIFY_CONSUMER_IDS_CHANGED...) gets no
//     response: it is emitted when its last byte is seen, status null, error false, attrs.reply = 'none'
//     (every parser's way of saying "no response, by design"), no response bytes.
//   - The broker also sends requests to clients on the same connection (GET_CONSUMER_RUNNING_INFO,
//     CONSUME_MESSAGE_DIRECTLY; CHECK_TRANSACTION_STATE is oneway): paired the same way with the
//     client's response, emitted with attrs.initiator = 'server'.
//   - reqBytes/respBytes = whole frames (length field included); a response ends at its last body byte.
// Bodies are never buffered or read: once a header is decoded the body is counted down as it passes
// (so a gap of known size inside a body is stepped over, and a 4 MiB message costs no memory).
// Headers longer than MAX_HEADER_BYTES are skipped with their frame and counted.
//
// Gaps and mid-stream joins: the direction hunts for a whole, well-formed header (header.ts
// messageStartAt: plausible length, serialize type, a header that decodes) and restarts there.
// Requests still waiting when response bytes are lost stay waiting: their opaque still pairs them if
// the response came after the gap, and the connection's end reports them unanswered otherwise.
// TODO: a request whose response was lost waits until the connection ends (RocketMQ connections live
// for hours): its exchange comes late, and the output ordering falls back on its horizon meanwhile.
// A per-request timeout (the client's own is 3 s for sends, suspendTimeoutMillis + 15 s for pulls)
// would report it sooner.

import { IdMatcher } from '../match.js'
import type { Dir, EndReason, StreamHandler } from '../../tcp/types.js'
import type { ParsedExchange, ParserContext, ProtocolParser } from '../types.js'
import { isFailure, requestName, responseName } from './codes.js'
import { detectRocketmq, knownCode } from './detect.js'
import {
  Flag, MAX_HEADER_BYTES, PREFIX_BYTES, decodeHeader, frameBytesAt, headerLengthAt, messageStartAt, serializeAt,
} from './header.js'

/** bytes kept while hunting: room for a candidate with the largest header, twice (half is kept when full) */
const HUNT_BYTES = 2 * (PREFIX_BYTES + MAX_HEADER_BYTES)

const enum Stage {
  /** collecting a frame's length prefix and header */
  Head,
  /** counting down the body of a decoded frame */
  Body,
  /** looking for a clean frame start after a gap */
  Hunt,
}

const enum Kind {
  Request,
  Oneway,
  Response,
  /** a frame that belongs to no exchange (unmatched response, oversize header) */
  Skip,
}

/** a request, from its header until it is emitted */
interface Pending {
  method: string
  resource: string | undefined
  startUs: number
  reqBytes: number
  /** sent by the server (a broker callback to the client) */
  fromServer: boolean
}

class Side {
  stage = Stage.Head
  /** prefix and header bytes of the frame being read, when they came in pieces */
  acc: Buffer = Buffer.alloc(0)
  accLen = 0
  /** bytes of prefix + header wanted in acc: PREFIX_BYTES until the prefix is known */
  need = PREFIX_BYTES
  /** time of the current frame's first byte */
  startUs = 0
  bodyLeft = 0
  frameBytes = 0
  kind = Kind.Skip
  /** Request/Oneway: the request itself; Response: the request it answers */
  pending: Pending | null = null
  status = ''
  error = false
  hunt: Buffer = Buffer.alloc(0)
  huntLen = 0
  huntScan = 0
  /** the hunt dropped bytes (buffer full): the start found is after skipped bytes even at offset 0 */
  huntDropped = false
  /** bytes were delivered: a later unknown-size gap lost data, not just a mid-stream join */
  seen = false
  constructor(readonly dir: Dir) {}
}

export class RocketmqConnection implements StreamHandler {
  private readonly c2s = new Side('c2s')
  private readonly s2c = new Side('s2c')
  /** requests the client sent, answered from s2c */
  private readonly clientReqs: IdMatcher<number, Pending>
  /** requests the server sent, answered from c2s */
  private readonly serverReqs: IdMatcher<number, Pending>
  private ended = false

  constructor(private readonly ctx: ParserContext) {
    const evict = (p: Pending): void => {
      ctx.count('pending_evicted')
      this.emit(p, null, true, p.startUs, 0)
    }
    this.clientReqs = new IdMatcher<number, Pending>(ctx.limits.maxPendingRequests, evict)
    this.serverReqs = new IdMatcher<number, Pending>(ctx.limits.maxPendingRequests, evict)
  }

  /** requests waiting in either direction, for tests */
  get pendingCount(): number {
    return this.clientReqs.size + this.serverReqs.size
  }

  /** bytes held for headers and hunting, for tests */
  get bufferedBytes(): number {
    return this.c2s.accLen + this.s2c.accLen + this.c2s.huntLen + this.s2c.huntLen
  }

  oldestPendingUs(): number {
    let t = Math.min(this.clientReqs.oldest()?.startUs ?? Infinity, this.serverReqs.oldest()?.startUs ?? Infinity)
    for (const s of [this.c2s, this.s2c]) {
      if (s.stage === Stage.Body && s.pending !== null && s.pending.startUs < t) t = s.pending.startUs
      else if (s.stage === Stage.Head && s.accLen > 0 && s.startUs < t) t = s.startUs
    }
    return t
  }

  data(dir: Dir, chunk: Buffer, tsUs: number, _peerAcked?: number): void {
    if (this.ended) return
    const s = dir === 'c2s' ? this.c2s : this.s2c
    s.seen = true
    this.feed(s, chunk, tsUs)
  }

  gap(dir: Dir, lostBytes: number, tsUs: number): void {
    if (this.ended) return
    const s = dir === 'c2s' ? this.c2s : this.s2c
    if (lostBytes === -1 && !s.seen) {
      // joined mid-stream: wait for a clean frame start
      this.startHunt(s)
      return
    }
    if (s.stage === Stage.Body) {
      if (lostBytes >= 0 && lostBytes <= s.bodyLeft) {
        // inside a body whose length is known: step over it
        this.ctx.count('gap_in_body')
        s.bodyLeft -= lostBytes
        if (s.bodyLeft === 0) this.finish(s, tsUs)
        return
      }
      // the frame ended somewhere in the gap: its header was read, so it still counts ("partial is
      // not failed"); what follows the gap is hunted for
      this.finish(s, tsUs)
    }
    this.ctx.count(dir === 'c2s' ? 'gap_request' : 'gap_response')
    this.startHunt(s)
  }

  end(_reason: EndReason, tsUs: number): void {
    if (this.ended) return
    this.ended = true
    for (const s of [this.c2s, this.s2c]) if (s.stage === Stage.Body) this.finish(s, tsUs)
    for (const p of this.clientReqs.drain()) this.emit(p, null, true, tsUs, 0)
    for (const p of this.serverReqs.drain()) this.emit(p, null, true, tsUs, 0)
  }

  // ---- framing ----

  private feed(s: Side, input: Buffer, tsUs: number): void {
    let chunk = input
    let off = 0
    while (off < chunk.length) {
      if (s.stage === Stage.Hunt) {
        // a loop, not recursion: input that resyncs again and again must not grow the stack
        const found = this.huntFeed(s, chunk.subarray(off), tsUs)
        if (found === null) return
        chunk = found
        off = 0
        continue
      }
      if (s.stage === Stage.Body) {
        const n = Math.min(s.bodyLeft, chunk.length - off)
        s.bodyLeft -= n
        off += n
        if (s.bodyLeft === 0) this.finish(s, tsUs)
        continue
      }
      if (s.accLen === 0) {
        s.startUs = tsUs
        // fast path: prefix and a well-formed header whole in this chunk, read in place. Anything
        // else (pieces, errors) takes the copying path below, which decides the same way at any split.
        const avail = chunk.length - off
        if (avail >= PREFIX_BYTES) {
          const fb = frameBytesAt(chunk, off)
          const hl = headerLengthAt(chunk, off)
          if (fb > 0 && hl <= MAX_HEADER_BYTES && avail >= PREFIX_BYTES + hl) {
            const h = chunk.subarray(off + PREFIX_BYTES, off + PREFIX_BYTES + hl)
            if (this.onHeader(s, h, serializeAt(chunk, off), fb, tsUs)) {
              off += PREFIX_BYTES + hl
              continue
            }
          }
        }
      }
      const take = Math.min(s.need - s.accLen, chunk.length - off)
      if (s.acc.length < s.accLen + take) {
        const nb = Buffer.allocUnsafe(Math.max(s.accLen + take, Math.min(s.need, s.acc.length * 2), 256))
        s.acc.copy(nb, 0, 0, s.accLen)
        s.acc = nb
      }
      chunk.copy(s.acc, s.accLen, off, off + take)
      s.accLen += take
      off += take
      if (s.accLen < s.need) return
      if (s.need === PREFIX_BYTES) {
        const fb = frameBytesAt(s.acc, 0)
        if (fb < 0) {
          const resume = this.malformed(s, 'malformed_frame', tsUs)
          if (resume !== null) {
            chunk = Buffer.concat([resume, chunk.subarray(off)])
            off = 0
          }
          continue
        }
        const hl = headerLengthAt(s.acc, 0)
        if (hl > MAX_HEADER_BYTES) {
          // too long to parse: skip the frame (its request, if it is a response, stays waiting)
          this.ctx.count('header_too_large')
          s.accLen = 0
          s.kind = Kind.Skip
          s.pending = null
          s.bodyLeft = fb - PREFIX_BYTES
          s.stage = Stage.Body
          continue
        }
        s.need = PREFIX_BYTES + hl
        if (s.accLen < s.need) continue
      }
      const ok = this.onHeader(s, s.acc.subarray(PREFIX_BYTES, s.need), serializeAt(s.acc, 0), frameBytesAt(s.acc, 0), tsUs)
      if (!ok) {
        const resume = this.malformed(s, 'malformed_header', tsUs)
        if (resume !== null) {
          chunk = Buffer.concat([resume, chunk.subarray(off)])
          off = 0
        }
        continue
      }
      s.accLen = 0
      s.need = PREFIX_BYTES
    }
  }

  /**
   * A frame start that is not one, seen while in sync: hunt from the byte after it (the bytes already
   * copied to acc first, so the outcome does not depend on how the bytes were cut).
   */
  private malformed(s: Side, reason: string, tsUs: number): Buffer | null {
    this.ctx.count(reason)
    const rest = Buffer.from(s.acc.subarray(1, s.accLen))
    this.startHunt(s)
    return rest.length > 0 ? this.huntFeed(s, rest, tsUs) : null
  }

  /** a decoded header: start or answer an exchange, then count the body down. false = not a header */
  private onHeader(s: Side, h: Buffer, ser: number, frameBytes: number, tsUs: number): boolean {
    const hdr = decodeHeader(h, ser, this.ctx.limits.maxTextBytes)
    if (hdr === null) return false
    if (frameBytes > this.ctx.limits.maxFrameBytes) this.ctx.count('frame_too_large') // streamed over, never held
    s.frameBytes = frameBytes
    s.bodyLeft = frameBytes - PREFIX_BYTES - h.length
    s.stage = Stage.Body
    if ((hdr.flag & Flag.Response) === 0) {
      const p: Pending = {
        method: requestName(hdr.code), resource: hdr.topic, startUs: s.startUs, reqBytes: frameBytes, fromServer: s.dir === 's2c',
      }
      s.pending = p
      if ((hdr.flag & Flag.Oneway) !== 0) s.kind = Kind.Oneway
      else {
        s.kind = Kind.Request
        ;(s.dir === 'c2s' ? this.clientReqs : this.serverReqs).put(hdr.opaque, p)
      }
    } else {
      const p = (s.dir === 's2c' ? this.clientReqs : this.serverReqs).take(hdr.opaque)
      if (p === undefined) {
        this.ctx.unmatchedResponse()
        s.kind = Kind.Skip
        s.pending = null
      } else {
        s.kind = Kind.Response
        s.pending = p
        s.status = responseName(hdr.code)
        s.error = isFailure(hdr.code)
      }
    }
    if (s.bodyLeft === 0) this.finish(s, tsUs)
    return true
  }

  /** the current frame's last byte was seen (or lost) at tsUs */
  private finish(s: Side, tsUs: number): void {
    s.stage = Stage.Head
    s.accLen = 0
    s.need = PREFIX_BYTES
    const p = s.pending
    s.pending = null
    if (p === null) return
    if (s.kind === Kind.Oneway) this.emit(p, null, false, tsUs, 0)
    else if (s.kind === Kind.Response) this.emit(p, s.status, s.error, tsUs, s.frameBytes)
  }

  private startHunt(s: Side): void {
    s.stage = Stage.Hunt
    s.accLen = 0
    s.need = PREFIX_BYTES
    s.huntLen = 0
    s.huntScan = 0
    s.huntDropped = false
    s.pending = null
  }

  /**
   * Collects bytes until a whole well-formed header appears. Returns null while still hunting, or the
   * bytes to read frames from (a copy: from the header found to the end of `chunk`); the side is then
   * back in sync.
   */
  private huntFeed(s: Side, chunk: Buffer, _tsUs: number): Buffer | null {
    let at = 0
    while (at < chunk.length) {
      const take = Math.min(chunk.length - at, HUNT_BYTES - s.huntLen)
      if (s.hunt.length < s.huntLen + take) {
        const nb = Buffer.allocUnsafe(Math.min(HUNT_BYTES, Math.max(s.huntLen + take, s.hunt.length * 2, 1024)))
        s.hunt.copy(nb, 0, 0, s.huntLen)
        s.hunt = nb
      }
      chunk.copy(s.hunt, s.huntLen, at, at + take)
      s.huntLen += take
      at += take
      const buf = s.hunt.subarray(0, s.huntLen)
      let p = s.huntScan
      for (; p < buf.length; p++) {
        const r = messageStartAt(buf, p, knownCode)
        if (r === -1) break
        if (r === 1) {
          if (p > 0 || s.huntDropped) this.ctx.count('resync_skipped')
          // a copy: reading frames may start another hunt, which reuses the hunt buffer
          const rest = Buffer.concat([buf.subarray(p), chunk.subarray(at)])
          s.huntLen = 0
          s.huntScan = 0
          s.stage = Stage.Head
          return rest
        }
      }
      s.huntScan = p
      if (s.huntLen === HUNT_BYTES) {
        // full without a confirmed start: keep only what is still undecided
        const keep = Math.min(s.huntLen - p, HUNT_BYTES / 2)
        s.hunt.copy(s.hunt, 0, s.huntLen - keep, s.huntLen)
        s.huntLen = keep
        s.huntScan = 0
        s.huntDropped = true
      }
    }
    return null
  }

  private emit(p: Pending, status: string | null, error: boolean, endUs: number, respBytes: number): void {
    const e: ParsedExchange = {
      method: p.method,
      status,
      error,
      startUs: p.startUs,
      endUs: Math.max(endUs, p.startUs),
      reqBytes: p.reqBytes,
      respBytes,
    }
    if (p.resource !== undefined) e.resource = p.resource
    if (p.fromServer) e.attrs = { initiator: 'server' }
    if (status === null && !error) e.attrs = { ...e.attrs, reply: 'none' }
    this.ctx.emit(e)
  }
}

export const rocketmqParser: ProtocolParser = {
  id: 'rocketmq',
  ports: [9876, 10909, 10911, 10912],
  detect: detectRocketmq,
  create: (ctx: ParserContext) => new RocketmqConnection(ctx),
}
