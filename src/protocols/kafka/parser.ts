// Kafka wire protocol: requests paired with responses by correlation id.
// Spec: https://kafka.apache.org/protocol (headers in headers.ts, API table in api-keys.ts, the body
// fields read in bodies.ts).
//
//   message  => size(int32) header body           (size counts header + body)
//
// Exchanges:
//   - One per request, paired with the response carrying its correlation id (a client pipelines many
//     in flight; the response does not repeat the api key, so the request's key and version are kept).
//     method = API name ('unknown' for a key outside api-keys.ts, with attrs.api_key = the number);
//     resource = topic names of Produce/Fetch/ListOffsets/Metadata/OffsetCommit/OffsetFetch ("a,b",
//     cut at limits.maxTextBytes); absent when the request names topics by id (Fetch v13+, Produce
//     v13+) or names none (Metadata for all topics).
//   - status = Kafka error name (bodies.ts responseError: a top-level error_code where the response has
//     one, else the first non-zero partition/topic one); error = code != 0. A response podtap does not
//     decode (an API without a decoder here, a version newer than the decoders, a body that does not
//     parse) has status 'unknown', error null, and is counted ('response_not_decoded').
//   - Produce with acks=0 gets no response: it is emitted at once, status null, error false, respBytes
//     0, attrs.acks '0' and attrs.reply 'none' (every parser's way of saying "no response, by design";
//     null with error true is the unanswered request).
//   - A request with no response by end() is emitted then: status null, error true.
//   - SaslHandshake v0 answered NONE is followed by raw SASL tokens, size-prefixed but with no Kafka
//     header: they are skipped (and zeroed) until the client sends a real request header again.
//     SaslAuthenticate frames are zeroed after their header/error code are read: auth bytes are never
//     kept or reported.
//
// Framing: each direction reads the int32 size, keeps at most HEAD_BYTES of the message (all that the
// header and the fields above need) and streams over the rest, so a Fetch response of many megabytes is
// never held; a size above limits.maxFrameBytes is counted ('frame_too_large') and streamed the same
// way. Errors past the kept head are not seen (a multi-partition Fetch answer with an error only in a
// later partition after megabytes of records reads as NONE).
// Gaps: a known-size gap inside a message is stepped over (the head keeps what came before it); any
// other gap, or a size that cannot be, makes the direction hunt for the next message start: a request
// header that passes detect.ts's checks, or a response whose correlation id is pending.

import { IdMatcher } from '../match.js'
import type { ParsedExchange, ParserContext, ProtocolParser } from '../types.js'
import type { Dir, EndReason, StreamHandler } from '../../tcp/types.js'
import { ApiKey, apiName, knownApi, plausibleVersion } from './api-keys.js'
import { NOT_DECODED, decodeRequest, responseError } from './bodies.js'
import { detectKafka, requestAt, responseAt } from './detect.js'
import { errorName } from './error-codes.js'
import { REQUEST_FIXED_BYTES, requestHeaderVersion, responseHeaderVersion } from './headers.js'
import { Cursor } from './wire.js'

/** bytes of each message kept for decoding: headers, topic names, the first partitions' error codes */
const HEAD_BYTES = 16 * 1024
/** bytes held while hunting for a message start */
const HUNT_BYTES = 16 * 1024

interface Req {
  key: number
  version: number
  corr: number
  method: string
  resource: string | undefined
  clientId: string | null
  startUs: number
  reqEndUs: number
  reqBytes: number
}

const enum Mode {
  Frame,
  Hunt,
}

/** one direction's reader: int32 size, then the message, of which the first HEAD_BYTES are kept */
class Side {
  mode = Mode.Frame
  /** bytes of the size field read so far (a size split across chunks) */
  sizeHave = 0
  readonly sizeBuf = Buffer.alloc(4)
  inFrame = false
  /** message length after the size field */
  frameLen = 0
  bodyHave = 0
  head: Buffer = Buffer.alloc(0)
  headLen = 0
  /** a gap fell inside the kept head: what follows it is not kept */
  holed = false
  startUs = 0
  lastUs = 0
  hunt: Buffer = Buffer.alloc(0)
  huntLen = 0
  huntScan = 0
  huntStartUs = 0
  /** bytes were delivered (an unknown-size gap after that lost data; before it, it is a mid-stream join) */
  seen = false
  constructor(readonly client: boolean) {}

  reset(): void {
    this.sizeHave = 0
    this.inFrame = false
    this.frameLen = this.bodyHave = this.headLen = 0
    this.holed = false
  }
}

export class KafkaConnection implements StreamHandler {
  /** pending requests by correlation id; insertion order = age (IdMatcher semantics, plus oldest()) */
  private readonly pending: IdMatcher<number, Req>
  /** when an eviction happens: the time of the request that caused it */
  private evictUs = 0
  private readonly c2s = new Side(true)
  private readonly s2c = new Side(false)
  private readonly cur = new Cursor()
  /** after a successful SaslHandshake v0: raw SASL tokens until the client sends a request again */
  private saslRaw = false
  private ended = false
  private readonly isPending = (id: number): boolean => this.pending.has(id)

  constructor(private readonly ctx: ParserContext) {
    this.pending = new IdMatcher<number, Req>(Math.max(1, ctx.limits.maxPendingRequests), (r) => {
      ctx.count('pending_evicted')
      this.emit(r, null, true, this.evictUs, 0, undefined)
    })
  }

  oldestPendingUs(): number {
    let t = this.pending.oldest()?.startUs ?? Infinity
    const s = this.c2s
    if (s.mode === Mode.Frame && (s.inFrame || s.sizeHave > 0) && s.startUs < t) t = s.startUs
    if (s.mode === Mode.Hunt && s.huntLen > 0 && s.huntStartUs < t) t = s.huntStartUs
    return t
  }

  data(dir: Dir, chunk: Buffer, tsUs: number, _peerAcked = -1): void {
    if (this.ended || chunk.length === 0) return
    const s = dir === 'c2s' ? this.c2s : this.s2c
    s.seen = true
    this.feed(s, chunk, tsUs)
  }

  gap(dir: Dir, lostBytes: number, tsUs: number): void {
    if (this.ended) return
    const s = dir === 'c2s' ? this.c2s : this.s2c
    if (lostBytes === -1 && !s.seen) {
      // joined mid-stream: wait for a clean message start
      this.startHunt(s, tsUs)
      return
    }
    if (s.mode === Mode.Frame && s.inFrame && lostBytes >= 0 && lostBytes <= s.frameLen - s.bodyHave) {
      // inside a message of known length: step over it
      if (s.headLen < Math.min(s.frameLen, HEAD_BYTES)) s.holed = true
      s.bodyHave += lostBytes
      if (s.bodyHave === s.frameLen) this.frameDone(s, tsUs)
      return
    }
    if (lostBytes !== 0 || s.inFrame || s.sizeHave > 0) {
      if (lostBytes !== 0) this.ctx.count(s.client ? 'gap_request' : 'gap_response')
      this.startHunt(s, tsUs)
    }
  }

  end(_reason: EndReason, tsUs: number): void {
    if (this.ended) return
    // a message cut by the end still counts when its header was read ("partial is not failed"):
    // a request whose header arrived is reported unanswered, a response whose correlation id arrived
    // closes its exchange
    for (const s of [this.c2s, this.s2c]) if (s.mode === Mode.Frame && s.inFrame && s.headLen > 0) this.frameDone(s, s.lastUs, true)
    this.ended = true
    for (const r of this.pending.drain()) this.emit(r, null, true, Math.max(tsUs, r.reqEndUs), 0, undefined)
  }

  // ---- framing ----

  private feed(s: Side, chunk: Buffer, tsUs: number): void {
    let off = 0
    const n = chunk.length
    s.lastUs = tsUs
    while (off < n) {
      if (s.mode === Mode.Hunt) {
        this.huntFeed(s, chunk.subarray(off), tsUs)
        return
      }
      if (!s.inFrame) {
        let size: number
        if (s.sizeHave === 0 && n - off >= 4) {
          size = chunk.readInt32BE(off)
          s.startUs = tsUs
          off += 4
          // fast path: the whole message is in this chunk, hand out a view
          if (size >= 0 && size <= n - off && size <= HEAD_BYTES && this.sizeOk(s, size)) {
            this.message(s, chunk.subarray(off, off + size), size, tsUs, tsUs, false)
            off += size
            continue
          }
        } else {
          if (s.sizeHave === 0) s.startUs = tsUs
          while (s.sizeHave < 4 && off < n) s.sizeBuf[s.sizeHave++] = chunk[off++]
          if (s.sizeHave < 4) return
          size = s.sizeBuf.readInt32BE(0)
        }
        s.sizeHave = 0
        if (!this.sizeOk(s, size)) {
          this.ctx.count(s.client ? 'malformed_request' : 'malformed_response')
          this.startHunt(s, tsUs)
          continue
        }
        if (size > this.ctx.limits.maxFrameBytes) this.ctx.count('frame_too_large')
        s.inFrame = true
        s.frameLen = size
        s.bodyHave = s.headLen = 0
        s.holed = false
        if (size === 0) {
          this.frameDone(s, tsUs)
          continue
        }
      }
      const take = Math.min(s.frameLen - s.bodyHave, n - off)
      const want = Math.min(s.frameLen, HEAD_BYTES)
      if (!s.holed && s.headLen < want) {
        const k = Math.min(take, want - s.headLen)
        if (s.head.length < want) {
          const nb = Buffer.allocUnsafe(Math.min(HEAD_BYTES, Math.max(want, s.head.length * 2, 256)))
          s.head.copy(nb, 0, 0, s.headLen)
          s.head = nb
        }
        chunk.copy(s.head, s.headLen, off, off + k)
        s.headLen += k
      }
      s.bodyHave += take
      off += take
      if (s.bodyHave === s.frameLen) this.frameDone(s, tsUs)
    }
  }

  /** a size this direction can carry: at least a request header / a correlation id, never negative */
  private sizeOk(s: Side, size: number): boolean {
    return size >= (s.client ? REQUEST_FIXED_BYTES : 4)
  }

  private frameDone(s: Side, tsUs: number, cut = false): void {
    s.inFrame = false
    const head = s.head.subarray(0, s.headLen)
    this.message(s, head, s.frameLen, s.startUs, tsUs, s.holed || cut)
    s.headLen = 0
  }

  private startHunt(s: Side, tsUs: number): void {
    s.reset()
    s.mode = Mode.Hunt
    s.huntLen = 0
    s.huntScan = 0
    s.huntStartUs = tsUs
  }

  /** collects bytes until a message start is found, then reads from there */
  private huntFeed(s: Side, chunk: Buffer, tsUs: number): void {
    const maxSize = Math.max(this.ctx.limits.maxFrameBytes, HEAD_BYTES)
    let at = 0
    while (at < chunk.length) {
      const take = Math.min(chunk.length - at, HUNT_BYTES - s.huntLen)
      if (s.huntLen === 0) s.huntStartUs = tsUs
      if (s.hunt.length < s.huntLen + take) {
        const nb = Buffer.allocUnsafe(Math.min(HUNT_BYTES, Math.max(s.huntLen + take, s.hunt.length * 2, 1024)))
        s.hunt.copy(nb, 0, 0, s.huntLen)
        s.hunt = nb
      }
      chunk.copy(s.hunt, s.huntLen, at, at + take)
      s.huntLen += take
      at += take
      const buf = s.hunt.subarray(0, s.huntLen)
      const full = s.huntLen === HUNT_BYTES
      let p = s.huntScan
      for (; p < buf.length; p++) {
        const r = s.client ? requestAt(buf, p, buf.length, maxSize) : responseAt(buf, p, buf.length, maxSize, this.isPending)
        if (r === -1 && !full) break
        if (r === 1) {
          if (p > 0) this.ctx.count('resync')
          const rest = Buffer.from(buf.subarray(p)) // the hunt buffer is reused by what follows
          s.mode = Mode.Frame
          s.reset()
          s.huntLen = s.huntScan = 0
          this.feed(s, rest, s.huntStartUs)
          if (at < chunk.length) this.feed(s, chunk.subarray(at), tsUs)
          return
        }
      }
      s.huntScan = p
      if (full) {
        // nothing found in a full buffer: keep only the last bytes, a header may straddle the cut
        const keep = Math.min(s.huntLen - p, 16)
        s.hunt.copy(s.hunt, 0, s.huntLen - keep, s.huntLen)
        s.huntLen = keep
        s.huntScan = 0
        s.huntStartUs = tsUs
      }
    }
  }

  // ---- messages ----

  /**
   * One whole message (or its kept head): `head` is a view valid only during the call, `size` the
   * length after the size field, `partial` when head misses bytes before its end that it should hold.
   */
  private message(s: Side, head: Buffer, size: number, startUs: number, endUs: number, partial: boolean): void {
    if (s.client) this.onRequest(head, size, startUs, endUs)
    else this.onResponse(head, size, endUs, partial)
  }

  private onRequest(head: Buffer, size: number, startUs: number, endUs: number): void {
    if (head.length < REQUEST_FIXED_BYTES) {
      this.ctx.count('malformed_request')
      return
    }
    const key = head.readInt16BE(0)
    const version = head.readInt16BE(2)
    const corr = head.readInt32BE(4)
    if (this.saslRaw) {
      // a raw SASL token, unless it is a plausible request again (the exchange is over)
      if (!plausibleVersion(key, version) || requestAt(frameWithSize(size, head), 0, 4 + head.length, Infinity) !== 1) {
        head.fill(0)
        return
      }
      this.saslRaw = false
    }
    const hv = requestHeaderVersion(key, version)
    const c = this.cur.set(head, REQUEST_FIXED_BYTES, false)
    let clientId: string | null = null
    if (hv >= 1) clientId = c.str(this.ctx.limits.maxTextBytes)
    c.flexible = hv === 2
    c.tags()
    let resource: string | undefined
    let acks = -1
    if (c.ok) {
      const body = decodeRequest(c, key, version, this.ctx.limits.maxTextBytes)
      if (body !== undefined) {
        if (body.topics.length > 0) resource = cut(body.topics.join(','), this.ctx.limits.maxTextBytes)
        if (body.acks !== undefined && c.ok) acks = body.acks
      }
    } else this.ctx.count('malformed_request')
    this.cur.clear()
    if (key === ApiKey.SaslAuthenticate) head.fill(0)
    const req: Req = {
      key,
      version,
      corr,
      method: knownApi(key) ? apiName(key) : 'unknown',
      resource,
      clientId,
      startUs,
      reqEndUs: endUs,
      reqBytes: size + 4,
    }
    if (key === ApiKey.Produce && acks === 0) {
      // acks=0: the broker never answers (see the top of this file for the status)
      this.emit(req, null, false, endUs, 0, { acks: '0', reply: 'none' })
      return
    }
    // the same id again before an answer, or the cap: the older request is lost (evicted as unanswered)
    this.evictUs = endUs
    this.pending.put(corr, req)
  }

  private onResponse(head: Buffer, size: number, endUs: number, partial: boolean): void {
    if (this.saslRaw) {
      head.fill(0)
      return
    }
    if (head.length < 4) {
      this.ctx.count('malformed_response')
      return
    }
    const corr = head.readInt32BE(0)
    const req = this.pending.take(corr)
    if (req === undefined) {
      this.ctx.unmatchedResponse()
      return
    }
    const truncated = partial || head.length < size
    const c = this.cur.set(head, 4, false)
    if (responseHeaderVersion(req.key, req.version) === 1) {
      c.flexible = true
      c.tags()
    }
    c.flexible = requestHeaderVersion(req.key, req.version) === 2
    let code = c.ok ? responseError(c, req.key, req.version) : NOT_DECODED
    // a body that ran out: fine when only a head of it was kept (what was seen counts), not otherwise
    if (!c.ok && !truncated) code = NOT_DECODED
    this.cur.clear()
    if (req.key === ApiKey.SaslAuthenticate) head.fill(0)
    if (code === NOT_DECODED) {
      this.ctx.count('response_not_decoded')
      this.emit(req, 'unknown', null, endUs, size + 4, undefined)
      return
    }
    if (req.key === ApiKey.SaslHandshake && req.version === 0 && code === 0) this.saslRaw = true
    this.emit(req, errorName(code), code !== 0, endUs, size + 4, undefined)
  }

  private emit(r: Req, status: string | null, error: boolean | null, endUs: number, respBytes: number, extra: Record<string, string> | undefined): void {
    const attrs: Record<string, string> = { api_version: String(r.version) }
    if (r.method === 'unknown') attrs.api_key = String(r.key)
    if (r.clientId !== null && r.clientId !== '') attrs.client_id = r.clientId
    if (extra) Object.assign(attrs, extra)
    const e: ParsedExchange = {
      method: r.method,
      status,
      error,
      startUs: r.startUs,
      endUs: endUs < r.startUs ? r.startUs : endUs,
      reqBytes: r.reqBytes,
      respBytes,
      attrs,
    }
    if (r.resource !== undefined) e.resource = r.resource
    this.ctx.emit(e)
  }
}

/** `head` with its size field in front again, for the request checks of detect.ts */
function frameWithSize(size: number, head: Buffer): Buffer {
  const b = Buffer.allocUnsafe(4 + head.length)
  b.writeInt32BE(size, 0)
  head.copy(b, 4)
  return b
}

function cut(s: string, max: number): string {
  return s.length <= max ? s : s.slice(0, Math.max(0, max - 1)) + '…'
}

export const kafkaParser: ProtocolParser = {
  id: 'kafka',
  ports: [9092, 9093, 9094],
  detect: detectKafka,
  create: (ctx) => new KafkaConnection(ctx),
}
