// HTTP/1.0 and HTTP/1.1 (RFC 9112 message syntax, RFC 9110 semantics).
//
//   HTTP-message   = start-line CRLF *( field-line CRLF ) CRLF [ message-body ]
//   request-line   = method SP request-target SP HTTP-version
//   status-line    = HTTP-version SP status-code SP [ reason-phrase ]
//   chunked-body   = *( chunk-size [ ; chunk-ext ] CRLF chunk-data CRLF ) "0" [ ; chunk-ext ] CRLF
//                    *( trailer-field CRLF ) CRLF
//
// Body length (RFC 9112 §6.3), in this order: no body for a response to HEAD, for 1xx, 204 and 304;
// a 2xx to CONNECT starts a tunnel; Transfer-Encoding with chunked last is chunked (it wins over
// Content-Length); Transfer-Encoding without chunked: a response runs to the close, a request is bad;
// a valid Content-Length; otherwise a request has no body and a response runs to the close.
//
// One explicit state machine per direction (packetbeat http_parser.go: stateStart → stateHeaders →
// stateBody / stateBodyChunked...): a `state` (bits of one integer), one `switch`, each case returns
// NEED_MORE, CONTINUE or BAD. Lines are found in the borrowed chunk; only an incomplete line is copied
// (at most maxLineBytes), bodies are counted down, never stored. Requests wait in a queue linked
// through them: HTTP/1.x answers in order, pipelining included; 1xx is not final; 101 and a 2xx to CONNECT end HTTP on the
// connection. After a gap in the responses, peerAcked tells which request the next response answers.
//
// Memory (an idle keep-alive connection is what 50k concurrent flows are made of): what only matters
// while a chunk is parsed lives in one scratch shared by every stream (F), a stream keeps what lasts
// between chunks, yes/no state and the state itself are bits of one integer, rare values (a response's
// Upgrade) sit beside the stream. docs/architecture.md "Memory per flow, third round".

import { truncateText } from '../text.js'
import type { Dir, EndReason, StreamHandler } from '../../tcp/types.js'
import type { ParsedExchange, ParserContext, ProtocolParser } from '../types.js'
import { addTraceHeader, traceHeaderKey, TRACE_HEADER_NAMES, type TraceHeaders } from '../trace-headers.js'
import * as detect from './detect.js'

// module-local copies: hot loops then read a constant, not an import binding (which a CommonJS
// transpilation, tsx outside an ESM package for one, turns into a getter call per byte)
const SP = 0x20
const HT = 0x09
const CR = 0x0d
const LF = 0x0a
const Look = detect.Look
const MAX_METHOD_BYTES = detect.MAX_METHOD_BYTES
const METHOD_CHAR = detect.METHOD_CHAR
const TCHAR = detect.TCHAR
const lookRequestLine = detect.lookRequestLine
const lookStatusLine = detect.lookStatusLine

/** step results */
const NEED_MORE = 0
const CONTINUE = 1
const BAD = 2
type Step = typeof NEED_MORE | typeof CONTINUE | typeof BAD

/** states of one direction */
const S = {
  /** expecting a start line; empty lines between messages are skipped (RFC 9112 §2.2) */
  Start: 0,
  /** field lines up to the empty line */
  Headers: 1,
  /** `remaining` bytes of a Content-Length body */
  BodyLength: 2,
  /** chunk-size [; chunk-ext] line */
  ChunkSize: 3,
  /** `remaining` bytes of chunk-data */
  ChunkData: 4,
  /** the CRLF after chunk-data */
  ChunkEnd: 5,
  /** trailer lines after the last chunk, up to the empty line */
  Trailers: 6,
  /** a response body that ends when the connection does */
  BodyClose: 7,
  /** discarding bytes until something that looks like a message start (after a gap or bad input) */
  Resync: 8,
  /** the connection switched protocols (101, CONNECT tunnel): everything is ignored */
  Dead: 9,
} as const
type State = (typeof S)[keyof typeof S]

const EMPTY = Buffer.alloc(0)
/**
 * Buffer.prototype.indexOf called through .call: `buf.indexOf` is a property load V8 does not inline
 * (Buffer.prototype is a slow-mode prototype), a LoadIC call per line (~1.5 ns of ~7)
 */
const bufIndexOf = Buffer.prototype.indexOf
const COLON = 0x3a
const SEMI = 0x3b

/** hex digit values, -1 for anything else */
const HEX = new Int8Array(256).fill(-1)
for (let c = 0; c < 10; c++) HEX[0x30 + c] = c
for (let c = 0; c < 6; c++) HEX[0x41 + c] = HEX[0x61 + c] = 10 + c

/** 13 hex digits = 2^52: the largest chunk size kept exact in a double; more is hostile */
const MAX_CHUNK_SIZE_DIGITS = 13
/** 15 decimal digits < 2^53: larger Content-Length values are hostile, not real bodies */
const MAX_CONTENT_LENGTH_DIGITS = 15

const lower = (s: string) => Buffer.from(s, 'latin1')
const F_HOST = lower('host')
const F_EXPECT = lower('expect')
const F_UPGRADE = lower('upgrade')
const F_USER_AGENT = lower('user-agent')
const F_CONTENT_LENGTH = lower('content-length')
const F_TRANSFER_ENCODING = lower('transfer-encoding')
const CHUNKED = lower('chunked')
/** traceparent, b3, x-b3-*, uber-trace-id...: [lower-case name, key] (trace-headers.ts) */
const F_TRACE = TRACE_HEADER_NAMES.map((n) => [lower(n), traceHeaderKey(n)!] as const)

/** the fields the parser reads besides framing (Authorization, Cookie... are never looked at) */
const Field = { Host: 0, UserAgent: 1, Upgrade: 2, Expect: 3 } as const
type FieldId = (typeof Field)[keyof typeof Field]
/** field() only: a trace context name length (the name is checked after the trim), Content-Length, Transfer-Encoding */
const F_IS_TRACE = 8
const F_IS_CL = 9
const F_IS_TE = 10

/** the Upgrade field of a 101 names HTTP/2 over cleartext */
function isH2c(upgradeTo: string | undefined): boolean {
  return upgradeTo !== undefined && upgradeTo.trim().toLowerCase() === 'h2c'
}

/** One request, from its start line until it is emitted. */
class Req {
  method = ''
  resource = ''
  version = ''
  host: string | undefined = undefined
  /** authority of an absolute-form or CONNECT target, the host when there is no Host field */
  authority: string | undefined = undefined
  userAgent: string | undefined = undefined
  expect: string | undefined = undefined
  /** asked to switch protocols (Upgrade field) or to open a tunnel (CONNECT) */
  upgrade = false
  startUs = 0
  /** c2s stream offsets of the first byte and after the last byte (Infinity while incomplete) */
  startOff = 0
  endOff = Infinity
  reqBytes = 0
  /** in the matcher */
  pushed = false
  /** last byte seen (or given up on) */
  done = false
  /** cut by a gap, bad input or the connection's end */
  partial = false
  /** 1xx codes seen before the final response, '100' or '100,103' */
  interim = ''
  interimBytes = 0
  answered = false
  /** its response was in a capture gap: it came, but nothing of it was read */
  lost = false
  status = 0
  respBytes = 0
  endUs = 0
  respPartial = false
  upgradeTo: string | undefined = undefined
  emitted = false
  /** trace context headers, when the request carried any */
  trace: TraceHeaders | undefined = undefined
  /** the next request in its connection's pending queue */
  nextPending: Req | null = null
}

/** a header value or path as text, cut to `max` UTF-16 units and marked '…' (records.ts truncateText) */
function text(b: Buffer, s: number, e: number, max: number): string {
  if (e - s <= max) return b.toString('utf8', s, e)
  let t = b.toString('utf8', s, s + Math.max(0, max - 1))
  if (t.charCodeAt(t.length - 1) === 0xfffd) t = t.slice(0, -1) // a UTF-8 sequence cut in half
  return truncateText(t + '…', max)
}

/**
 * `last`, the text decoded from these bytes before, when they are the same; else the bytes decoded. A
 * hit compares the bytes with the text's own characters: an ASCII text of n characters is exactly its
 * n bytes (anything else, a multi-byte or replaced character or a cut marked '…', never equals a byte
 * and is decoded again), so no copy of the bytes is kept; the caller keeps the result as its new `last`.
 */
function sameText(last: string, b: Buffer, s: number, e: number, max: number): string {
  const n = e - s
  if (n === last.length && n > 0) {
    let i = 0
    while (i < n && b[s + i] === last.charCodeAt(i)) i++
    if (i === n) return last
  }
  return text(b, s, e, max)
}

/**
 * Host and User-Agent texts decoded before, shared by every connection: connections send the same few
 * values again and again, so each is decoded once and every request (and no stream) holds the one
 * string. Direct-mapped by a hash of the length and three bytes; a miss decodes and takes the slot.
 */
const SHARED_TEXTS: string[] = new Array<string>(256).fill('')

function sharedText(b: Buffer, s: number, e: number, max: number): string {
  const n = e - s
  if (n === 0) return ''
  const h = (n * 31 + b[s] * 7 + b[s + (n >> 1)] * 3 + b[e - 1]) & 255
  const t = sameText(SHARED_TEXTS[h], b, s, e, max)
  SHARED_TEXTS[h] = t
  return t
}

/** field name equality, ASCII case-insensitive; `lit` is lower case */
function eqName(b: Buffer, s: number, lit: Buffer): boolean {
  for (let k = 0; k < lit.length; k++) {
    let x = b[s + k]
    if (x >= 0x41 && x <= 0x5a) x += 32
    if (x !== lit[k]) return false
  }
  return true
}

function eqBytes(b: Buffer, s: number, lit: string): boolean {
  for (let k = 0; k < lit.length; k++) if (b[s + k] !== lit.charCodeAt(k)) return false
  return true
}

/** the usual methods as shared strings; anything else is built from its bytes */
function methodName(b: Buffer, s: number, e: number): string {
  switch (e - s) {
    case 3:
      if (eqBytes(b, s, 'GET')) return 'GET'
      if (eqBytes(b, s, 'PUT')) return 'PUT'
      break
    case 4:
      if (eqBytes(b, s, 'POST')) return 'POST'
      if (eqBytes(b, s, 'HEAD')) return 'HEAD'
      break
    case 5:
      if (eqBytes(b, s, 'PATCH')) return 'PATCH'
      if (eqBytes(b, s, 'TRACE')) return 'TRACE'
      break
    case 6:
      if (eqBytes(b, s, 'DELETE')) return 'DELETE'
      break
    case 7:
      if (eqBytes(b, s, 'OPTIONS')) return 'OPTIONS'
      if (eqBytes(b, s, 'CONNECT')) return 'CONNECT'
      break
  }
  return b.toString('latin1', s, e)
}

/** "HTTP/1." DIGIT at b[s..s+8) */
function isHttp1(b: Buffer, s: number): boolean {
  // byte by byte against constants: the request line of every message comes this way
  return (
    b[s] === 0x48 && b[s + 1] === 0x54 && b[s + 2] === 0x54 && b[s + 3] === 0x50 && b[s + 4] === 0x2f &&
    b[s + 5] === 0x31 && b[s + 6] === 0x2e && b[s + 7] >= 0x30 && b[s + 7] <= 0x39
  )
}

function versionName(b: Buffer, s: number): string {
  const d = b[s + 7]
  return d === 0x31 ? 'HTTP/1.1' : d === 0x30 ? 'HTTP/1.0' : b.toString('latin1', s, s + 8)
}

/**
 * Content-Length (RFC 9110 §8.6): 1*DIGIT, or a list of identical values ("5, 5") some proxies send.
 * Returns -1 for anything else: empty, signs, different values, more than 15 digits.
 */
function parseContentLength(b: Buffer, s: number, e: number): number {
  let n = -1
  let i = s
  for (;;) {
    let v = 0
    const d0 = i
    while (i < e && b[i] >= 0x30 && b[i] <= 0x39) v = v * 10 + (b[i++] - 0x30)
    const digits = i - d0
    if (digits === 0 || digits > MAX_CONTENT_LENGTH_DIGITS) return -1
    if (n >= 0 && v !== n) return -1
    n = v
    while (i < e && (b[i] === SP || b[i] === HT)) i++
    if (i === e) return n
    if (b[i] !== 0x2c) return -1
    i++
    while (i < e && (b[i] === SP || b[i] === HT)) i++
  }
}

/** Transfer-Encoding: is "chunked" the last coding of the list? (RFC 9112 §6.1) */
function lastCodingIsChunked(b: Buffer, s: number, e: number): boolean {
  let ts = e
  while (ts > s && b[ts - 1] !== 0x2c) ts--
  while (ts < e && (b[ts] === SP || b[ts] === HT)) ts++
  // a transfer-coding may carry parameters (";q=..."); chunked has none
  return e - ts === CHUNKED.length && eqName(b, ts, CHUNKED)
}

/** index of the (offset, tsUs, peerAcked) triple that covers position p */
function markAt(marks: number[], p: number): number {
  let k = 0
  while (k + 3 < marks.length && marks[k + 3] <= p) k += 3
  return k
}

// MessageStream.bits
/** some data was fed (a gap before any is the stream's start, not a hole) */
const SAW_DATA = 1
/** the message's Content-Length is invalid or contradicts itself */
const CL_BAD = 2
/** the message has a Transfer-Encoding field */
const TE_SEEN = 4
/** ... with chunked last */
const IS_CHUNKED = 8
/** RequestStream: the request has an Upgrade field */
const UPGRADE_SEEN = 16
/** ResponseStream: the response in progress has been matched to its request (maybe to none) */
const MATCHED = 32
/** ResponseStream: the response has an Upgrade field (its value is in upgradeValues) */
const RESP_UPGRADE = 64
/** where the state (S) sits in `bits` */
const STATE_SHIFT = 8
/** the bits a message head leaves for its body framing and upgrade (what a HeadMemo keeps) */
const HEAD_BITS = CL_BAD | TE_SEEN | IS_CHUNKED | UPGRADE_SEEN

/**
 * The last message head (start line and field lines up to the empty line) parsed on one side, and
 * what parsing it gave. Keep-alive connections send the same head again and again (a client's
 * request; a server's response headers, Date included, within the same second), so a message that
 * starts with the same bytes, under the same limits, gets the same results without its lines being
 * read again (~20 ns for the compare against ~300 for an nginx response's ten lines). Only heads that
 * counted nothing and carried nothing per message (trace context, Expect, a response's Upgrade) are
 * kept. One per side for the whole process (2 KiB), not per connection.
 */
class HeadMemo {
  readonly bytes = Buffer.alloc(MEMO_MAX_BYTES)
  /** 0: nothing kept */
  len = 0
  /**
   * Heads that differ each time (a path or query per request) would pay a compare and a copy per
   * message for nothing: after MEMO_MISSES misses in a row the memo is not tried for `skip` messages,
   * twice as many after each further miss (at most MEMO_MAX_SKIP), and a hit ends it.
   */
  misses = 0
  skip = 0
  lim: StreamLimits | null = null
  /** HEAD_BITS as the head left them */
  bits = 0
  contentLength = -1
  // response
  status = 0
  // request
  method = ''
  resource = ''
  version = ''
  authority: string | undefined = undefined
  host: string | undefined = undefined
  userAgent: string | undefined = undefined
}
/** longest head kept (an nginx response's is ~260 bytes, a browser's request ~500-800) */
const MEMO_MAX_BYTES = 1024
const MEMO_MISSES = 4
const MEMO_MAX_SKIP = 256
const REQ_MEMO = new HeadMemo()
const RESP_MEMO = new HeadMemo()
/**
 * The head being parsed is to be kept: the memo missed it (or was empty), its start line was read in
 * one chunk, nothing was counted since
 */
let headMemoOk = false
const bufCompare = Buffer.prototype.compare

/** a response's Upgrade value while it is parsed: rare, so kept beside the stream, not in a field of every one */
const upgradeValues = new WeakMap<object, string>()

/** no carried resync candidate: one shared, frozen empty list (a stream gets its own when it carries one) */
const NO_MARKS: number[] = Object.freeze([]) as unknown as number[]
/**
 * A stream's carried resync candidate: where each chunk's bytes begin in it, flat (offset, tsUs,
 * peerAcked) triples, first offset 0, so a message found inside the carry gets the time of the chunk
 * its first byte came in. Rare (a message start cut by a chunk end while resyncing): kept beside the
 * stream, not in a field of every one.
 */
const carryMarksOf = new WeakMap<object, number[]>()

/** the limits a message stream reads, derived once per Limits object and shared by every stream */
interface StreamLimits {
  readonly maxLineBytes: number
  readonly maxHeaderBytes: number
  readonly maxTextBytes: number
  /** requests waiting for a response, per connection; past it the oldest is given up (unanswered) */
  readonly maxPending: number
}
const streamLimitsOf = new WeakMap<ParserContext['limits'], StreamLimits>()
/** the last Limits asked for and what was derived from it (every connection of a run has the same) */
let lastLimits: ParserContext['limits'] | null = null
let lastStreamLimits: StreamLimits | null = null
function streamLimits(limits: ParserContext['limits']): StreamLimits {
  if (limits === lastLimits) return lastStreamLimits!
  let l = streamLimitsOf.get(limits)
  if (l === undefined) {
    const maxLineBytes = Math.max(64, limits.maxLineBytes)
    l = {
      maxLineBytes,
      maxHeaderBytes: Math.max(maxLineBytes, limits.maxHeaderBytes),
      maxTextBytes: Math.max(1, limits.maxTextBytes),
      maxPending: Math.max(1, limits.maxPendingRequests),
    }
    streamLimitsOf.set(limits, l)
  }
  lastLimits = limits
  lastStreamLimits = l
  return l
}

/**
 * The chunk being parsed and its current line. They only mean something while a feed() runs, so every
 * stream of the module shares this one scratch (nine fields, two of them boxed doubles, were ~90 B per
 * idle stream). `owner` is the stream whose chunk it is (null between feeds).
 */
interface Scratch {
  owner: MessageStream | null
  /** the chunk: borrowed for the feed() call */
  buf: Buffer
  off: number
  end: number
  /** the current line: a view into buf, or into the owner's tail when it spanned chunks */
  line: Buffer
  ls: number
  le: number
  /** bytes the line took, its CRLF included */
  lineBytes: number
  tsUs: number
  peerAcked: number
  /** the owner's limits (read per line: taken once per feed) */
  lim: StreamLimits
}
const F: Scratch = { owner: null, buf: EMPTY, off: 0, end: 0, line: EMPTY, ls: 0, le: 0, lineBytes: 0, tsUs: 0, peerAcked: -1, lim: null as unknown as StreamLimits }
/** scratch states of feeds that were interrupted by a nested one, 11 values each */
const saved: unknown[] = []

function releaseScratch(): void {
  F.owner = null
  F.buf = EMPTY
  F.line = EMPTY
  F.off = F.end = 0
}

function restoreScratch(): void {
  F.lim = saved.pop() as StreamLimits
  F.peerAcked = saved.pop() as number
  F.tsUs = saved.pop() as number
  F.lineBytes = saved.pop() as number
  F.le = saved.pop() as number
  F.ls = saved.pop() as number
  F.line = saved.pop() as Buffer
  F.end = saved.pop() as number
  F.off = saved.pop() as number
  F.buf = saved.pop() as Buffer
  F.owner = saved.pop() as MessageStream
}

/**
 * One direction of a connection: lines, fields, body framing, resync. The request and response
 * sides add what their start lines mean and what to do when a message is done.
 */
abstract class MessageStream {
  /** the state, bits 8-11 of `bits` (S.Start is 0) */
  get state(): State {
    return ((this.bits >> STATE_SHIFT) & 15) as State
  }
  set state(st: State) {
    this.bits = (this.bits & ~(15 << STATE_SHIFT)) | (st << STATE_SHIFT)
  }
  protected abstract get isRequest(): boolean

  // the chunk being parsed and its current line are in the shared scratch F (valid while this stream
  // is F.owner); the stream keeps only what lasts between chunks
  /** stream offset of F.buf[0] (gaps included); outside feed() the offset of the next byte */
  protected base = 0
  /** last byte of the previous chunk, -1 after a gap or before any data */
  private lastByte = -1

  /**
   * bytes carried to the next chunk (at most maxLineBytes): an incomplete line, or in Resync a possible
   * message start cut by the end of a chunk (never both: entering and leaving Resync empties it)
   */
  private tail: Buffer = EMPTY
  private tailLen = 0

  // resync: where the carried candidate's chunks began, and the byte before the next position
  /** where each chunk's bytes begin in a carried resync candidate: carryMarks (beside the stream) */
  private get carryMarks(): number[] {
    return carryMarksOf.get(this) ?? NO_MARKS
  }
  private set carryMarks(m: number[]) {
    if (m === NO_MARKS) carryMarksOf.delete(this)
    else carryMarksOf.set(this, m)
  }
  private prevByte = -1

  // the message being parsed
  /** stream offset, time and peerAcked of the message's first byte; -1 when no message has begun */
  protected msgStartOff = -1
  protected msgStartUs = 0
  protected msgPeerAcked = -1
  private hdrBytes = 0
  protected remaining = 0
  protected contentLength = -1
  /** the yes/no state (SAW_DATA, CL_BAD, TE_SEEN, IS_CHUNKED, ...) and the state as bits of one integer: five fields less per stream */
  protected bits = 0

  /** the connection: its ParserContext and limits are read through it (two fields less per stream) */
  constructor(protected readonly conn: Http1Handler) {}


  /** a start line b[ls, le) (terminator not included): parse it, set the next state */
  protected abstract startLine(b: Buffer, ls: number, le: number): Step
  /** the empty line after the fields: choose the body framing */
  protected abstract headersDone(): Step
  /** the message's last byte was consumed; set the next state */
  protected abstract onDone(): void
  /** the message cannot be finished (bad input, gap, end): report what is known of it */
  protected abstract abandon(): void
  protected abstract onField(id: FieldId, b: Buffer, vs: number, ve: number): void
  /** the start line's results (request or status) into `m` / from `m` (see HeadMemo) */
  protected abstract toMemo(m: HeadMemo): void
  protected abstract fromMemo(m: HeadMemo): void
  /** trace context fields are read on this side (requests only: responses skip the name checks) */
  protected get readsTrace(): boolean {
    return false
  }
  /** a trace context field (requests only) */
  protected onTraceField(_key: keyof TraceHeaders, _b: Buffer, _vs: number, _ve: number): void {}

  /** stream offset of the next unparsed byte */
  pos(): number {
    return F.owner === this ? this.base + F.off : this.base
  }

  /** bytes held between calls (an incomplete line or resync candidate) */
  get bufferedBytes(): number {
    return this.tailLen
  }

  feed(chunk: Buffer, tsUs: number, peerAcked: number): void {
    if (chunk.length === 0) return
    // a feed inside another stream's feed (nothing does this today) gets the scratch back as it was
    const outer = F.owner
    if (outer !== null) saved.push(outer, F.buf, F.off, F.end, F.line, F.ls, F.le, F.lineBytes, F.tsUs, F.peerAcked, F.lim)
    F.owner = this
    F.lim = this.conn.lim
    F.buf = chunk
    F.off = 0
    F.end = chunk.length
    F.tsUs = tsUs
    F.peerAcked = peerAcked
    this.bits |= SAW_DATA
    try {
      this.run()
    } catch {
      // a bug, not bad input (bad input is counted and skipped); never let it escape to capture
      this.conn.ctx.count('parser_exception')
      try {
        this.abandon()
      } catch {
        // already counted
      }
      this.resetMessage()
      this.enterResync(-1)
    }
    this.lastByte = F.end > 0 ? F.buf[F.end - 1] : this.lastByte
    this.base += F.end
    if (outer !== null) restoreScratch()
    else releaseScratch()
  }

  /** done() outside feed (a gap ate a body's last byte, the connection ended): no chunk, time tsUs */
  protected doneAt(tsUs: number): void {
    const outer = F.owner
    if (outer !== null) saved.push(outer, F.buf, F.off, F.end, F.line, F.ls, F.le, F.lineBytes, F.tsUs, F.peerAcked, F.lim)
    F.owner = this
    F.lim = this.conn.lim
    F.buf = EMPTY
    F.off = F.end = 0
    F.tsUs = tsUs
    F.peerAcked = -1
    try {
      this.done()
    } finally {
      if (outer !== null) restoreScratch()
      else releaseScratch()
    }
  }

  private run(): void {
    for (;;) {
      let r: Step
      switch (this.state) {
        case S.Start:
          r = this.stepStart()
          break
        case S.Headers:
          r = this.stepHeaders()
          break
        case S.BodyLength:
          r = this.stepBodyLength()
          break
        case S.ChunkSize:
          r = this.stepChunkSize()
          break
        case S.ChunkData:
          r = this.stepChunkData()
          break
        case S.ChunkEnd:
          r = this.stepChunkEnd()
          break
        case S.Trailers:
          r = this.stepTrailers()
          break
        case S.BodyClose:
          F.off = F.end
          r = NEED_MORE
          break
        case S.Resync:
          r = this.stepResync()
          break
        default: // S.Dead
          F.off = F.end
          r = NEED_MORE
      }
      if (r === NEED_MORE) return
      if (r === BAD) {
        this.abandon()
        this.resetMessage()
        this.enterResync(F.off > 0 ? F.buf[F.off - 1] : this.lastByte)
      }
    }
  }

  /** counts `reason` and fails the step; run() then salvages the message and resyncs */
  protected bad(reason: string): Step {
    this.conn.ctx.count(reason)
    return BAD
  }

  // ---- lines

  /**
   * Reads one line into line/ls/le (terminator not included, a CR before the LF dropped).
   * 1: a line; 0: need more (the partial line is kept in `tail`); -1: longer than maxLineBytes.
   */
  private readLine(): number {
    const buf = F.buf
    const off = F.off
    const end = F.end
    const room = F.lim.maxLineBytes - this.tailLen
    const stop = end - off > room + 1 ? off + room + 1 : end
    let i = bufIndexOf.call(buf, LF, off)
    if (i < 0 || i >= stop) i = stop
    if (i === stop) {
      if (stop < end || i - off > room) {
        this.tailLen = 0
        F.off = stop
        return -1
      }
      this.stash(buf, off, end)
      F.off = end
      return 0
    }
    if (this.tailLen > 0) {
      this.stash(buf, off, i)
      F.line = this.tail
      F.ls = 0
      F.le = this.tailLen
      F.lineBytes = this.tailLen + 1
      this.tailLen = 0
    } else {
      // stored only when it changes: F is old, the chunk young, and each such store is a write-barrier call
      if (F.line !== buf) F.line = buf
      F.ls = off
      F.le = i
      F.lineBytes = i + 1 - off
    }
    if (F.le > F.ls && F.line[F.le - 1] === CR) F.le--
    F.off = i + 1
    return 1
  }

  private stash(b: Buffer, s: number, e: number): void {
    const need = this.tailLen + (e - s)
    if (need > this.tail.length) {
      const nb = Buffer.allocUnsafe(Math.min(Math.max(need, this.tail.length * 2, 128), F.lim.maxLineBytes + 1))
      this.tail.copy(nb, 0, 0, this.tailLen)
      this.tail = nb
    }
    b.copy(this.tail, this.tailLen, s, e)
    this.tailLen = need
  }

  private mark(): void {
    this.msgStartOff = this.base + F.off
    this.msgStartUs = F.tsUs
    this.msgPeerAcked = F.peerAcked
  }

  // ---- states

  private stepStart(): Step {
    // the common case, no line carried from the previous chunk: as in stepHeaders()
    if (this.tailLen === 0) {
      const buf = F.buf
      const end = F.end
      const room = F.lim.maxLineBytes
      let off = F.off
      for (;;) {
        if (off === end) return NEED_MORE
        if (this.msgStartOff < 0) this.mark() // F.off === off
        const m = this.isRequest ? REQ_MEMO : RESP_MEMO
        const n = m.len
        let keep = true
        if (m.skip > 0) {
          m.skip--
          keep = false
        } else if (n !== 0 && end - off >= n && m.lim === F.lim) {
          if (bufCompare.call(m.bytes, buf, off, off + n, 0, n) === 0) {
            // the head parsed last on this side, byte for byte: its results, then the framing
            m.misses = 0
            F.off = off + n
            this.hdrBytes = n
            this.contentLength = m.contentLength
            this.bits = (this.bits & ~HEAD_BITS) | m.bits
            this.fromMemo(m)
            this.state = S.Headers
            return this.headersDone()
          }
          if (m.misses < 16) m.misses++
          if (m.misses >= MEMO_MISSES) m.skip = Math.min(MEMO_MAX_SKIP, 1 << (m.misses - MEMO_MISSES))
        }
        const stop = end - off > room + 1 ? off + room + 1 : end
        const i = bufIndexOf.call(buf, LF, off)
        if (i < 0 || i >= stop) break // cut by the chunk's end, or too long: readLine() decides
        let le = i
        if (le > off && buf[le - 1] === CR) le--
        const ls = off
        off = F.off = i + 1
        if (le === ls) {
          // an empty line between messages (RFC 9112 §2.2): not part of either
          this.msgStartOff = -1
          continue
        }
        this.hdrBytes = i + 1 - ls
        headMemoOk = keep
        return this.startLine(buf, ls, le)
      }
    }
    for (;;) {
      if (this.tailLen === 0) {
        if (F.off === F.end) return NEED_MORE
        if (this.msgStartOff < 0) this.mark()
      }
      const r = this.readLine()
      if (r === 0) return NEED_MORE
      if (r < 0) return this.bad('line_too_long')
      if (F.le === F.ls) {
        // an empty line between messages (RFC 9112 §2.2): not part of either
        this.msgStartOff = -1
        continue
      }
      this.hdrBytes = F.lineBytes
      headMemoOk = false
      return this.startLine(F.line, F.ls, F.le)
    }
  }

  private stepHeaders(): Step {
    // the common case, no line carried from the previous chunk: the lines of this chunk are read with
    // the chunk and offsets in locals (readLine() below does the same for one line, through F)
    if (this.tailLen === 0) {
      const buf = F.buf
      const end = F.end
      const room = F.lim.maxLineBytes
      const maxHdr = F.lim.maxHeaderBytes
      let off = F.off
      let hdr = this.hdrBytes
      for (;;) {
        const stop = end - off > room + 1 ? off + room + 1 : end
        const i = bufIndexOf.call(buf, LF, off)
        if (i < 0 || i >= stop) break // a line cut by the chunk's end, or too long: readLine() decides
        let le = i
        if (le > off && buf[le - 1] === CR) le--
        hdr += i + 1 - off
        const ls = off
        off = i + 1
        // field() reads neither F.off nor hdrBytes: both are stored when the loop is left
        if (hdr > maxHdr || le === ls) {
          F.off = off
          this.hdrBytes = hdr
          if (hdr > maxHdr) return this.bad('headers_too_large')
          // a head read whole from this chunk by these fast paths: kept for the next message
          const hs = this.msgStartOff - this.base
          if (headMemoOk && hs >= 0 && hs + hdr === off && hdr <= MEMO_MAX_BYTES) this.memoize(buf, hs, hdr)
          return this.headersDone()
        }
        if (!this.field(buf, ls, le)) {
          F.off = off
          this.hdrBytes = hdr
          return this.bad('bad_header')
        }
      }
      F.off = off
      this.hdrBytes = hdr
    }
    headMemoOk = false
    for (;;) {
      const r = this.readLine()
      if (r === 0) return NEED_MORE
      if (r < 0) return this.bad('line_too_long')
      this.hdrBytes += F.lineBytes
      if (this.hdrBytes > F.lim.maxHeaderBytes) return this.bad('headers_too_large')
      if (F.le === F.ls) return this.headersDone()
      if (!this.field(F.line, F.ls, F.le)) return this.bad('bad_header')
    }
  }

  /** keeps the head at buf[hs, hs + len), just parsed, and its results (see HeadMemo) */
  private memoize(buf: Buffer, hs: number, len: number): void {
    const m = this.isRequest ? REQ_MEMO : RESP_MEMO
    buf.copy(m.bytes, 0, hs, hs + len)
    m.len = len
    m.lim = F.lim
    m.bits = this.bits & HEAD_BITS
    m.contentLength = this.contentLength
    this.toMemo(m)
  }

  private stepBodyLength(): Step {
    const avail = F.end - F.off
    if (avail < this.remaining) {
      this.remaining -= avail
      F.off = F.end
      return NEED_MORE
    }
    F.off += this.remaining
    this.remaining = 0
    return this.done()
  }

  private stepChunkSize(): Step {
    const r = this.readLine()
    if (r === 0) return NEED_MORE
    if (r < 0) return this.bad('line_too_long')
    const b = F.line
    const le = F.le
    let i = F.ls
    let size = 0
    while (i < le && HEX[b[i]] >= 0) size = size * 16 + HEX[b[i++]]
    const digits = i - F.ls
    if (digits === 0 || digits > MAX_CHUNK_SIZE_DIGITS) return this.bad('bad_chunk')
    // BWS before a chunk-ext (RFC 9112 §7.1.1); the extension itself is ignored
    while (i < le && (b[i] === SP || b[i] === HT)) i++
    if (i < le && b[i] !== SEMI) return this.bad('bad_chunk')
    if (size === 0) {
      this.hdrBytes = 0
      this.state = S.Trailers
    } else {
      this.remaining = size
      this.state = S.ChunkData
    }
    return CONTINUE
  }

  private stepChunkData(): Step {
    const avail = F.end - F.off
    if (avail < this.remaining) {
      this.remaining -= avail
      F.off = F.end
      return NEED_MORE
    }
    F.off += this.remaining
    this.remaining = 0
    this.state = S.ChunkEnd
    return CONTINUE
  }

  private stepChunkEnd(): Step {
    // fast path: CRLF right there
    if (F.end - F.off >= 2 && F.buf[F.off] === CR && F.buf[F.off + 1] === LF && this.tailLen === 0) {
      F.off += 2
      this.state = S.ChunkSize
      return CONTINUE
    }
    const r = this.readLine()
    if (r === 0) return NEED_MORE
    if (r < 0 || F.le !== F.ls) return this.bad('bad_chunk')
    this.state = S.ChunkSize
    return CONTINUE
  }

  private stepTrailers(): Step {
    for (;;) {
      const r = this.readLine()
      if (r === 0) return NEED_MORE
      if (r < 0) return this.bad('line_too_long')
      this.hdrBytes += F.lineBytes
      if (this.hdrBytes > F.lim.maxHeaderBytes) return this.bad('headers_too_large')
      // trailer fields (grpc-status, checksums...) carry nothing the records need
      if (F.le === F.ls) return this.done()
    }
  }

  /**
   * Looks for a message start from off on, carrying a cut candidate over chunk boundaries so that
   * where the chunks were cut does not change what is found. Candidates: for responses every "HTTP/1."
   * (bodies often lack a final LF, so the next status line starts mid-line); for requests a line start
   * (after LF, or after a gap) that detect() accepts, or mid-line an upper-case method right after a
   * byte that cannot be part of one ("}POST /x HTTP/1.1").
   */
  private stepResync(): Step {
    let buf = F.buf
    let p = F.off
    let end = F.end
    if (p === end) return NEED_MORE
    let marks: number[] | null = null
    if (this.tailLen > 0) {
      // rare: join the carried candidate and this chunk into one buffer we own
      const carried = this.tailLen
      const joined = Buffer.allocUnsafe(carried + end - p)
      this.tail.copy(joined, 0, 0, carried)
      buf.copy(joined, carried, p, end)
      marks = this.carryMarks
      this.carryMarks = NO_MARKS
      marks.push(carried, F.tsUs, F.peerAcked)
      this.base += p - carried
      F.buf = buf = joined
      F.off = p = 0
      F.end = end = joined.length
      this.tailLen = 0
    }
    let prev = this.prevByte
    for (; p < end; prev = buf[p], p++) {
      const c = buf[p]
      let r: number
      if (this.isRequest) {
        if (METHOD_CHAR[c] !== 1) continue
        const lineStart = prev === LF || prev < 0
        if (!lineStart && (METHOD_CHAR[prev] === 1 || c < 0x41 || c > 0x5a)) continue
        r = lookRequestLine(buf, p, end, !lineStart)
      } else {
        if (c !== 0x48) continue // 'H'
        r = lookStatusLine(buf, p, end)
      }
      if (r === Look.NO) continue
      const k = marks === null ? -1 : markAt(marks, p)
      if (r === Look.YES) {
        F.off = p
        this.msgStartOff = this.base + p
        this.msgStartUs = k < 0 ? F.tsUs : marks![k + 1]
        this.msgPeerAcked = k < 0 ? F.peerAcked : marks![k + 2]
        this.state = S.Start
        return CONTINUE
      }
      // valid up to the end of the bytes: keep it and decide when more arrive
      if (end - p > F.lim.maxLineBytes) continue
      if (end - p > this.tail.length) this.tail = Buffer.allocUnsafe(Math.max(end - p, 64))
      buf.copy(this.tail, 0, p, end)
      this.tailLen = end - p
      if (k < 0) this.carryMarks = [0, F.tsUs, F.peerAcked]
      else {
        const nm = [0, marks![k + 1], marks![k + 2]]
        for (let j = k + 3; j < marks!.length; j += 3) nm.push(marks![j] - p, marks![j + 1], marks![j + 2])
        this.carryMarks = nm
      }
      this.prevByte = prev
      F.off = end
      return NEED_MORE
    }
    this.prevByte = prev
    F.off = end
    return NEED_MORE
  }

  // ---- fields and framing

  /** one field line, b[ls, le): framing fields are read here, the few others go to onField */
  private field(b: Buffer, ls: number, le: number): boolean {
    if (b[ls] === SP || b[ls] === HT) {
      // obs-fold (RFC 9112 §5.2): continues a field we do not need
      this.conn.ctx.count('obs_fold')
      headMemoOk = false
      return true
    }
    let c = ls
    while (c < le && b[c] !== COLON) c++
    if (c === le || c === ls) return false
    const nlen = c - ls
    // the fields of interest are 2 (b3) to 17 bytes long; the name decides, then the value is trimmed
    // (most lines are none of them: Date, Server, Content-Type... are not trimmed at all)
    // the first letter, lower-cased (any byte | 0x20: only a filter, eqName() decides), turns most
    // lines of a known length down without a call (Date and ETag are 4 bytes long, like Host)
    const c0 = b[ls] | 0x20
    let id = -1
    switch (nlen) {
      case 4:
        if (c0 === 0x68 && eqName(b, ls, F_HOST)) id = Field.Host
        break
      case 6:
        if (c0 === 0x65 && eqName(b, ls, F_EXPECT)) id = Field.Expect
        break
      case 7:
        if (c0 === 0x75 && eqName(b, ls, F_UPGRADE)) id = Field.Upgrade
        break
      case 10:
        id = c0 === 0x75 && eqName(b, ls, F_USER_AGENT) ? Field.UserAgent : this.readsTrace ? F_IS_TRACE : -1
        break
      case 2:
      case 11:
      case 12:
      case 13:
        if (this.readsTrace) id = F_IS_TRACE
        break
      case 14:
        if (c0 === 0x63 && eqName(b, ls, F_CONTENT_LENGTH)) id = F_IS_CL
        break
      case 17:
        if (c0 === 0x74 && eqName(b, ls, F_TRANSFER_ENCODING)) id = F_IS_TE
        break
    }
    if (id < 0) return true
    let vs = c + 1
    let ve = le
    while (vs < ve && (b[vs] === SP || b[vs] === HT)) vs++
    while (ve > vs && (b[ve - 1] === SP || b[ve - 1] === HT)) ve--
    if (id === F_IS_CL) {
      const n = parseContentLength(b, vs, ve)
      if (n < 0 || (this.contentLength >= 0 && n !== this.contentLength)) this.bits |= CL_BAD
      else this.contentLength = n
    } else if (id === F_IS_TE) {
      // several Transfer-Encoding lines form one list: the last one holds the final coding
      this.bits = lastCodingIsChunked(b, vs, ve) ? this.bits | TE_SEEN | IS_CHUNKED : (this.bits | TE_SEEN) & ~IS_CHUNKED
    } else if (id === F_IS_TRACE) this.traceField(b, ls, nlen, vs, ve)
    else this.onField(id as FieldId, b, vs, ve)
    return true
  }

  private traceField(b: Buffer, ls: number, nlen: number, vs: number, ve: number): void {
    for (const [name, key] of F_TRACE) {
      if (name.length === nlen && eqName(b, ls, name)) return this.onTraceField(key, b, vs, ve)
    }
  }

  /** Transfer-Encoding beside Content-Length: a smuggling sign (RFC 9112 §6.3 rule 3), counted */
  protected checkTeAndCl(): void {
    if (this.contentLength >= 0 || (this.bits & CL_BAD) !== 0) this.conn.ctx.count('te_and_cl')
  }

  protected bodyByLength(n: number): Step {
    if (n === 0) return this.done()
    this.remaining = n
    this.state = S.BodyLength
    return CONTINUE
  }

  protected bodyChunked(): Step {
    this.state = S.ChunkSize
    return CONTINUE
  }

  protected bodyUntilClose(): Step {
    this.state = S.BodyClose
    return CONTINUE
  }

  /** the message's last byte was consumed */
  protected done(): Step {
    this.state = S.Start
    this.onDone()
    this.resetMessage()
    return CONTINUE
  }

  protected resetMessage(): void {
    this.msgStartOff = -1
    this.hdrBytes = 0
    this.remaining = 0
    this.contentLength = -1
    this.bits &= ~(CL_BAD | TE_SEEN | IS_CHUNKED)
  }

  /** drop what is buffered and look for the next message start; prev = the byte before off */
  protected enterResync(prev: number): void {
    this.state = S.Resync
    this.tailLen = 0
    this.prevByte = prev
  }

  kill(): void {
    this.state = S.Dead
    this.tailLen = 0
  }

  /**
   * `n` bytes of this direction are lost (-1: unknown). Inside a body of known remaining length the
   * gap is stepped over and the message kept (packetbeat eatBody); otherwise the message is given up
   * and the direction resyncs. Returns true when the gap forced a resync.
   */
  gap(n: number, tsUs: number): boolean {
    if (this.state === S.Dead || n === 0) return false
    if (n > 0 && this.tailLen === 0) {
      if ((this.state === S.BodyLength || this.state === S.ChunkData) && n <= this.remaining) {
        this.base += n
        this.remaining -= n
        this.lastByte = -1
        if (this.remaining === 0) {
          if (this.state === S.ChunkData) this.state = S.ChunkEnd
          else {
            // the body's last byte was lost: it was sent before tsUs
            this.doneAt(tsUs)
          }
        }
        return false
      }
    }
    if (this.state === S.BodyClose) {
      // runs to the close whatever is lost; an unknown size only makes the byte count short
      if (n > 0) this.base += n
      return false
    }
    if (n < 0 && (this.bits & SAW_DATA) === 0) {
      // joined mid-stream: wait for a clean message start, nothing is lost that we knew of
      this.enterResync(-1)
      return false
    }
    this.conn.ctx.count('gap_resync')
    this.abandon()
    this.resetMessage()
    if (n > 0) this.base += n
    this.lastByte = -1
    this.enterResync(-1)
    return true
  }
}

/** The client side: request lines, Host/User-Agent, request bodies. */
class RequestStream extends MessageStream {
  protected get isRequest(): boolean {
    return true
  }
  /** the request being parsed, from its start line until its last byte */
  cur: Req | null = null

  protected startLine(b: Buffer, ls: number, le: number): Step {
    let i = ls
    while (i < le && TCHAR[b[i]] === 1) i++
    const mEnd = i
    if (mEnd === ls || mEnd - ls > MAX_METHOD_BYTES || mEnd === le || b[mEnd] !== SP) return this.bad('bad_request_line')
    // method SP target SP HTTP/1.x: the version is the last 8 bytes, the target what lies between
    let ts = mEnd + 1
    let te: number
    let version: string
    const vs = le - 8
    if (vs - 1 > ts && b[vs - 1] === SP && isHttp1(b, vs)) {
      te = vs - 1
      version = versionName(b, vs)
    } else {
      // a broken or missing version ("GET / HTTP/1.", "GET /HTTP/1.1" from scanners, HTTP/0.9's
      // "GET /path"): servers answer these, mostly with 400, so they are requests; counted
      let sp = le
      while (sp > ts && b[sp - 1] !== SP) sp--
      if (sp > ts) {
        if (le - sp < 5 || !eqBytes(b, sp, 'HTTP/')) return this.bad('bad_request_line')
        te = sp - 1
        version = b.toString('latin1', sp, Math.min(le, sp + 16))
      } else {
        te = le
        version = 'HTTP/0.9'
      }
      while (ts < te && b[ts] === SP) ts++
      if (ts === te || (b[ts] !== 0x2f && b[ts] !== 0x2a)) return this.bad('bad_request_line')
      this.conn.ctx.count('bad_version')
      headMemoOk = false
    }
    while (ts < te && b[ts] === SP) ts++
    while (te > ts && b[te - 1] === SP) te--
    if (ts === te) return this.bad('bad_request_line')
    const req = new Req()
    req.method = methodName(b, ls, mEnd)
    req.version = version
    this.target(req, b, ts, te)
    req.startUs = this.msgStartUs
    req.startOff = this.msgStartOff
    this.cur = req
    this.bits &= ~UPGRADE_SEEN
    this.state = S.Headers
    return CONTINUE
  }

  /** resource = the path without query or fragment; absolute-form and CONNECT also give an authority */
  private target(req: Req, b: Buffer, ts: number, te: number): void {
    let ps = ts
    const c = b[ts]
    if (c !== 0x2f && c !== 0x2a) {
      if (req.method === 'CONNECT') {
        // authority-form: host:port
        req.resource = req.authority = text(b, ts, te, F.lim.maxTextBytes)
        return
      }
      // absolute-form: scheme "://" authority [ path-abempty ] [ "?" query ]
      let s = ts
      while (s + 2 < te && !(b[s] === COLON && b[s + 1] === 0x2f && b[s + 2] === 0x2f)) s++
      if (s + 2 < te) {
        const as = s + 3
        let ae = as
        while (ae < te && b[ae] !== 0x2f && b[ae] !== 0x3f && b[ae] !== 0x23) ae++
        if (ae > as) req.authority = text(b, as, ae, F.lim.maxTextBytes)
        ps = ae
        if (ps === te || b[ps] !== 0x2f) {
          req.resource = '/'
          return
        }
      }
    }
    let pe = ps
    while (pe < te && b[pe] !== 0x3f && b[pe] !== 0x23) pe++
    req.resource = pe - ps === 1 && b[ps] === 0x2f ? '/' : pe > ps ? text(b, ps, pe, F.lim.maxTextBytes) : '/'
  }

  protected onField(id: FieldId, b: Buffer, vs: number, ve: number): void {
    const req = this.cur!
    switch (id) {
      case Field.Host:
        if (req.host === undefined) req.host = sharedText(b, vs, ve, F.lim.maxTextBytes)
        break
      case Field.UserAgent:
        if (req.userAgent === undefined) req.userAgent = sharedText(b, vs, ve, F.lim.maxTextBytes)
        break
      case Field.Expect:
        req.expect = text(b, vs, ve, F.lim.maxTextBytes)
        headMemoOk = false
        break
      case Field.Upgrade:
        this.bits |= UPGRADE_SEEN
        break
    }
  }

  protected override get readsTrace(): boolean {
    return true
  }

  protected override onTraceField(key: keyof TraceHeaders, b: Buffer, vs: number, ve: number): void {
    const req = this.cur!
    req.trace = addTraceHeader(req.trace, key, b.toString('latin1', vs, ve))
    headMemoOk = false // an object per request
  }

  protected toMemo(m: HeadMemo): void {
    const req = this.cur!
    m.method = req.method
    m.resource = req.resource
    m.version = req.version
    m.authority = req.authority
    m.host = req.host
    m.userAgent = req.userAgent
  }

  /** what startLine() and the fields did, from the memo */
  protected fromMemo(m: HeadMemo): void {
    const req = new Req()
    req.method = m.method
    req.version = m.version
    req.resource = m.resource
    req.authority = m.authority
    req.startUs = this.msgStartUs
    req.startOff = this.msgStartOff
    req.host = m.host
    req.userAgent = m.userAgent
    this.cur = req
  }

  protected headersDone(): Step {
    const req = this.cur!
    req.upgrade = (this.bits & UPGRADE_SEEN) !== 0 || req.method === 'CONNECT'
    // in the matcher from now on: a server may answer before the body is in (100-continue, 413)
    this.conn.push(req)
    if ((this.bits & TE_SEEN) !== 0) {
      this.checkTeAndCl()
      return (this.bits & IS_CHUNKED) !== 0 ? this.bodyChunked() : this.bad('bad_transfer_encoding')
    }
    if ((this.bits & CL_BAD) !== 0) return this.bad('bad_content_length')
    // no Content-Length and no Transfer-Encoding: a request has no body (RFC 9112 §6.3 rule 7)
    return this.bodyByLength(this.contentLength > 0 ? this.contentLength : 0)
  }

  protected onDone(): void {
    const req = this.cur!
    this.cur = null
    this.finish(req, this.pos())
    // after an Upgrade or CONNECT request, what follows is another protocol unless the server declines
    // (then a new request line shows up and resync finds it without counting anything)
    if (req.upgrade && !req.answered) this.enterResync(-1)
  }

  private finish(req: Req, endOff: number): void {
    req.done = true
    req.endOff = endOff
    req.reqBytes = endOff - req.startOff
    if (req.answered) this.conn.emit(req)
  }

  protected abandon(): void {
    const req = this.cur
    if (req === null) return
    // what we know of it (method, target) still pairs with its response
    this.cur = null
    req.partial = true
    if (!req.pushed) this.conn.push(req)
    this.finish(req, this.pos())
  }

  /** the connection ended: the request being parsed is as complete as it will get */
  finishAtEnd(): void {
    if (this.cur !== null && this.state !== S.Dead) this.abandon()
  }
}

/** The server side: status lines, response bodies, pairing with requests. */
class ResponseStream extends MessageStream {
  protected get isRequest(): boolean {
    return false
  }
  private status = 0
  private req: Req | null = null
  /** the Upgrade field of the response in progress */
  private get upgradeTo(): string | undefined {
    return (this.bits & RESP_UPGRADE) !== 0 ? upgradeValues.get(this) : undefined
  }
  private set upgradeTo(v: string | undefined) {
    if (v === undefined) {
      if ((this.bits & RESP_UPGRADE) === 0) return
      this.bits &= ~RESP_UPGRADE
      upgradeValues.delete(this)
    } else {
      this.bits |= RESP_UPGRADE
      upgradeValues.set(this, v)
    }
  }
  /** time of the last chunk fed (the request side keeps none: only a response is finished at the end) */
  lastDataUs = 0

  protected startLine(b: Buffer, ls: number, le: number): Step {
    // "HTTP/1.x NNN" then SP reason-phrase, or nothing (the SP is often missing in the wild)
    if (le - ls < 12 || lookStatusLine(b, ls, le) !== Look.YES || (le - ls > 12 && b[ls + 12] !== SP)) {
      return this.bad('bad_status_line')
    }
    const st = (b[ls + 9] - 0x30) * 100 + (b[ls + 10] - 0x30) * 10 + (b[ls + 11] - 0x30)
    if (st < 100) return this.bad('bad_status_line')
    this.status = st
    this.req = null
    this.bits &= ~MATCHED
    this.upgradeTo = undefined
    this.state = S.Headers
    return CONTINUE
  }

  protected toMemo(m: HeadMemo): void {
    m.status = this.status
  }

  /** what startLine() did, from the memo (a kept head has no Upgrade field) */
  protected fromMemo(m: HeadMemo): void {
    this.status = m.status
    this.req = null
    this.bits &= ~MATCHED
    this.upgradeTo = undefined
  }

  protected onField(id: FieldId, b: Buffer, vs: number, ve: number): void {
    if (id === Field.Upgrade) {
      this.upgradeTo = text(b, vs, ve, F.lim.maxTextBytes)
      headMemoOk = false
    }
  }

  /** the request the response in progress answers (already out of the pending queue) */
  get answering(): Req | null {
    return this.req
  }

  /** the request this response answers, decided once per response */
  private match(): Req | null {
    if ((this.bits & MATCHED) === 0) {
      this.bits |= MATCHED
      this.req = this.conn.selectRequest(this.msgPeerAcked, this.msgStartUs)
      if (this.req === null) this.conn.ctx.unmatchedResponse()
    }
    return this.req
  }

  protected headersDone(): Step {
    const req = this.match()
    const st = this.status
    // no body: 1xx (101 included), 204, 304, any response to HEAD, a 2xx to CONNECT (RFC 9112 §6.3 rules 1-2)
    if (st < 200 || st === 204 || st === 304) return this.done()
    if (req !== null && (req.method === 'HEAD' || (req.method === 'CONNECT' && st < 300))) return this.done()
    if ((this.bits & TE_SEEN) !== 0) {
      this.checkTeAndCl()
      // a transfer coding other than chunked last: the body runs to the close (rule 4)
      return (this.bits & IS_CHUNKED) !== 0 ? this.bodyChunked() : this.bodyUntilClose()
    }
    if ((this.bits & CL_BAD) !== 0) return this.bad('bad_content_length')
    if (this.contentLength >= 0) return this.bodyByLength(this.contentLength)
    return this.bodyUntilClose()
  }

  protected onDone(): void {
    const st = this.status
    const req = this.req
    const bytes = this.pos() - this.msgStartOff
    this.status = 0
    this.req = null
    this.bits &= ~MATCHED
    if (st < 200 && st !== 101) {
      // 1xx is not final (RFC 9110 §15.2): the request keeps waiting for its answer
      if (req !== null) {
        if (req.interim.split(',').length <= 8) req.interim = req.interim === '' ? String(st) : req.interim + ',' + st
        req.interimBytes += bytes
      }
      return
    }
    // h2c (RFC 9113 §3.2): the 101 is not the answer; the request's response comes as HTTP/2 stream 1
    if (st === 101 && req !== null && isH2c(this.upgradeTo) && this.conn.handOver(req, bytes, F.off)) return
    this.conn.answer(req, st, bytes, F.tsUs, false, this.upgradeTo)
    // 101 Switching Protocols, or a tunnel after CONNECT: what follows is not HTTP/1.x
    if (st === 101 || (req !== null && req.method === 'CONNECT' && st < 300)) this.conn.kill()
  }

  protected abandon(): void {
    const st = this.status
    if (st === 0) return
    this.status = 0
    if (st < 200 && st !== 101) {
      this.req = null
      this.bits &= ~MATCHED
      return
    }
    // the status is known: "partial" is not "failed"
    const req = this.match()
    this.req = null
    this.bits &= ~MATCHED
    this.conn.answer(req, st, this.pos() - this.msgStartOff, this.lastDataUs, true, this.upgradeTo)
  }

  /** the connection ended: a close-delimited body is complete, anything else is cut short */
  finishAtEnd(): void {
    if (this.state === S.BodyClose) {
      this.doneAt(this.lastDataUs)
    } else if (this.state !== S.Dead) {
      this.abandon()
    }
  }
}

/** One connection: both directions, the pending requests, and what is emitted. */
/**
 * The parser that took over in the chunk being fed (h2c), and where in it: set by handOver() during
 * the feed, taken right after it by the same handler's data() (shared: two fields less per connection)
 */
const handoff: { from: Http1Handler | null; to: StreamHandler | null; at: number } = { from: null, to: null, at: 0 }

// Http1Handler.flags
/** a gap in the responses, not yet resolved by the next response start */
const S2C_GAP = 1
/** c2s stream offsets cannot be trusted for peerAcked pairing (after an unknown-size gap) */
const C2S_OFFSETS_UNKNOWN = 2
/** switched protocols (101, CONNECT tunnel): nothing more is parsed */
const DEAD = 4
const ENDED = 8

export class Http1Handler implements StreamHandler {
  private readonly reqSide: RequestStream
  private readonly respSide: ResponseStream
  /**
   * Requests waiting for their response, oldest first: a list linked through Req.nextPending (HTTP/1.x
   * answers in order), capped at lim.maxPending. Three fields instead of a FifoMatcher and its ring
   * (~145 B per idle connection).
   */
  private first: Req | null = null
  private last: Req | null = null
  private pendingN = 0
  /** S2C_GAP | C2S_OFFSETS_UNKNOWN | DEAD | ENDED (four boolean fields cost 24 B more per connection) */
  private flags = 0
  private nowUs = 0

  /** the limits its message streams read (derived from ctx.limits once per Limits object) */
  get lim(): StreamLimits {
    const l = this.ctx.limits
    // the last one asked for, checked here: streamLimits() is not inlined into feed()
    return l === lastLimits ? lastStreamLimits! : streamLimits(l)
  }

  constructor(readonly ctx: ParserContext) {
    this.reqSide = new RequestStream(this)
    this.respSide = new ResponseStream(this)
  }

  /** the oldest pending request, taken out of the queue */
  private shift(): Req | null {
    const r = this.first
    if (r !== null) {
      this.first = r.nextPending
      if (this.first === null) this.last = null
      r.nextPending = null
      this.pendingN--
    }
    return r
  }

  /** every pending request is reported unanswered, oldest first */
  private drainUnanswered(tsUs: number): void {
    for (let r = this.shift(); r !== null; r = this.shift()) this.emitUnanswered(r, tsUs)
  }

  /**
   * Start of the oldest request not yet emitted (Infinity: none). Requests are answered in order, so
   * it is the one being answered, else the oldest queued, else the one still arriving.
   */
  oldestPendingUs(): number {
    const a = this.respSide.answering
    if (a !== null && !a.emitted) return a.startUs
    const q = this.first
    if (q !== null) return q.startUs
    const c = this.reqSide.cur
    if (c !== null && !c.emitted) return c.startUs
    return Infinity
  }

  /** requests waiting for a response, for tests and health */
  get pendingRequests(): number {
    return this.pendingN
  }

  /** bytes held between calls, both directions */
  get bufferedBytes(): number {
    return this.reqSide.bufferedBytes + this.respSide.bufferedBytes
  }

  data(dir: Dir, chunk: Buffer, tsUs: number, peerAcked: number): void {
    if ((this.flags & (DEAD | ENDED)) !== 0) return
    if (tsUs > this.nowUs) this.nowUs = tsUs
    if (dir === 'c2s') this.reqSide.feed(chunk, tsUs, peerAcked)
    else {
      if (chunk.length > 0) this.respSide.lastDataUs = tsUs
      this.respSide.feed(chunk, tsUs, peerAcked)
      // switched in this chunk: what followed the 101 is the new protocol's
      if (handoff.from === this) {
        const next = handoff.to!
        const at = handoff.at
        handoff.from = handoff.to = null
        if (at < chunk.length) next.data('s2c', chunk.subarray(at), tsUs, peerAcked)
      }
    }
  }

  /** the parser that took over in the chunk being fed, and where in it */

  /**
   * The server accepted `Upgrade: h2c`: hands `req` (answered so far by a 101 of `bytes`) to the HTTP/2
   * parser, which reports it with its stream 1 response. False when HTTP/2 is not being parsed.
   */
  handOver(req: Req, bytes: number, offInChunk: number): boolean {
    if (this.ctx.switchProtocol === undefined || req.emitted || !req.done) return false
    const next = this.ctx.switchProtocol('http2', {
      upgrade: 'h2c',
      method: req.method,
      target: req.resource,
      host: req.host ?? req.authority,
      userAgent: req.userAgent,
      trace: req.trace,
      startUs: req.startUs,
      reqBytes: req.reqBytes,
      respBytes: req.interimBytes + bytes,
    })
    if (next === null) return false
    if (this.first === req) this.shift()
    req.emitted = true // reported by the new parser
    // requests behind it cannot exist (a client waits for the 101); any there were get no answer here
    this.drainUnanswered(this.nowUs)
    this.kill()
    this.flags |= ENDED
    handoff.from = this
    handoff.to = next
    handoff.at = offInChunk
    return true
  }

  gap(dir: Dir, lostBytes: number, tsUs: number): void {
    if ((this.flags & (DEAD | ENDED)) !== 0) return
    if (tsUs > this.nowUs) this.nowUs = tsUs
    if (dir === 'c2s') {
      if (lostBytes < 0 && this.reqSide.pos() > 0) this.flags |= C2S_OFFSETS_UNKNOWN
      this.reqSide.gap(lostBytes, tsUs)
    } else if (this.respSide.gap(lostBytes, tsUs)) {
      this.flags |= S2C_GAP
    }
  }

  end(_reason: EndReason, tsUs: number): void {
    if ((this.flags & ENDED) !== 0) return
    if ((this.flags & DEAD) === 0) {
      this.respSide.finishAtEnd()
      this.reqSide.finishAtEnd()
    }
    this.flags |= ENDED
    this.drainUnanswered(tsUs)
  }

  push(req: Req): void {
    req.pushed = true
    if (this.pendingN >= this.lim.maxPending) {
      // the oldest is given up on: reported unanswered
      this.ctx.count('pending_evicted')
      this.emitUnanswered(this.shift()!, this.nowUs)
    }
    if (this.last === null) this.first = req
    else this.last.nextPending = req
    this.last = req
    this.pendingN++
  }

  /**
   * The request a response starting now answers. Plain FIFO, except right after a gap in the
   * responses: then the requests that ended at or before the c2s offset the server had acknowledged
   * when it sent this response are the candidates; the newest of them is answered, the older ones
   * lost their responses in the gap. null: no request is waiting (counted as an unmatched response).
   */
  selectRequest(peerAcked: number, respStartUs: number): Req | null {
    if ((this.flags & S2C_GAP) !== 0) {
      this.flags &= ~S2C_GAP
      if (peerAcked >= 0 && (this.flags & C2S_OFFSETS_UNKNOWN) === 0) {
        let k = -1
        for (let r = this.first, i = 0; r !== null && r.endOff <= peerAcked; r = r.nextPending, i++) k = i
        // answered inside the gap (the server went on past them): status unknown, not unanswered
        for (let i = 0; i < k; i++) this.emitUnanswered(this.shift()!, this.nowUs, true)
      }
    }
    const req = this.first
    // a response cannot answer a request that began after it did
    return req === null || req.startUs > respStartUs ? null : req
  }

  /** a final response (or what is known of it) for `req`; null when no request was pending */
  answer(req: Req | null, status: number, bytes: number, endUs: number, partial: boolean, upgradeTo: string | undefined): void {
    if (req === null) return
    if (this.first === req) this.shift()
    if (req.emitted) return // given up on as unanswered meanwhile (pending cap)
    req.answered = true
    req.status = status
    req.respBytes = req.interimBytes + bytes
    req.endUs = endUs
    req.respPartial = partial
    req.upgradeTo = upgradeTo
    // a request whose body is still coming is emitted when its last byte is in
    if (req.done) this.emit(req)
  }

  kill(): void {
    this.flags |= DEAD
    this.reqSide.kill()
    this.respSide.kill()
  }

  private emitUnanswered(req: Req, tsUs: number, lost = false): void {
    if (req.emitted) return
    req.lost = lost
    if (!req.done) req.reqBytes = this.reqSide.pos() - req.startOff
    req.answered = false
    req.endUs = Math.max(tsUs, req.startUs)
    this.emit(req)
  }

  emit(req: Req): void {
    if (req.emitted) return
    req.emitted = true
    const host = req.host ?? req.authority
    const attrs = attrsOf(req, host)
    const answered = req.answered
    // one object per exchange in the Exchange's final shape (added to a 10-field literal, the
    // connection's five fields cost map transitions and a property store beside the object); trace is
    // undefined when absent (every reader tests `!== undefined`)
    const e = {
      method: req.method,
      resource: req.resource,
      // a response lost in a gap was not read: its status is unknown, neither success nor failure
      status: answered ? req.status : req.lost ? 'unknown' : null,
      error: answered ? req.status >= 500 : req.lost ? null : true,
      startUs: req.startUs,
      endUs: req.endUs,
      reqBytes: req.reqBytes,
      respBytes: answered ? req.respBytes : 0,
      attrs,
      trace: req.trace,
      // the connection's fields, undefined until it sets them (in place: no map transition, no
      // property store beside the object)
      protocol: undefined,
      tls: undefined,
      client: undefined,
      server: undefined,
      flowId: undefined,
    }
    this.ctx.emit(e as ParsedExchange)
  }
}

/**
 * An exchange's attrs. The usual ones (version and host, maybe user_agent) as literals of one shape
 * each; anything more is added key by key in the order the records have always had.
 */
function attrsOf(req: Req, host: string | undefined): Record<string, string> {
  if (
    req.expect === undefined &&
    req.interim === '' &&
    (req.upgradeTo === undefined || !req.answered || req.status !== 101) &&
    !req.partial &&
    !req.respPartial &&
    !req.lost &&
    host !== undefined
  ) {
    return req.userAgent === undefined ? { version: req.version, host } : { version: req.version, host, user_agent: req.userAgent }
  }
  const attrs: Record<string, string> = { version: req.version }
  if (host !== undefined) attrs.host = host
  if (req.userAgent !== undefined) attrs.user_agent = req.userAgent
  if (req.expect !== undefined) attrs.expect = req.expect
  if (req.interim !== '') attrs.interim = req.interim
  if (req.upgradeTo !== undefined && req.answered && req.status === 101) attrs.upgrade = req.upgradeTo
  if (req.partial || req.respPartial) attrs.partial = 'true'
  if (req.lost) attrs.response = 'lost_in_gap'
  return attrs
}

export const http1Parser: ProtocolParser = {
  id: 'http',
  ports: [80, 81, 591, 3000, 5000, 8000, 8008, 8080, 8081, 8088, 8888, 9000],
  detect: detect.detectHttp1,
  create: (ctx) => new Http1Handler(ctx),
}
