// Streaming RESP2/RESP3 reader for one direction of a Redis connection.
// Spec: https://redis.io/docs/latest/develop/reference/protocol-spec/
//
// Every value is a type byte, a line ending in CRLF, and for the blob types a payload of a length given
// on that line, followed by CRLF:
//   +<text>          simple string          -<CODE text>   simple error
//   :<int>           integer                $<len>\r\n<bytes>   bulk string ($-1 = RESP2 null)
//   *<n>             array of n values (*-1 = RESP2 null)
//   RESP3: _ null, #t/#f boolean, ,<double>, (<big number>, !<len> blob error, =<len> verbatim ("txt:..."),
//          %<n> map (2n values), ~<n> set, ><n> push, |<n> attribute (2n values, then the value it annotates)
//   streamed (RESP3): $? then ;<len> chunks ending with ;0;  *? %? ~? ended by a '.' line
// Clients send arrays of bulk strings, or "inline" commands: one line of space-separated words.
//
// The reader never buffers a value: blob payloads are skipped, and only the few bytes the parser labels
// with are kept (the first bytes of the first three top-level elements, and of an error line). So memory is
// constant whatever the message size; the bounds below only reject garbage.

import { isKnownCommand } from './commands.js'

/** RESP type bytes */
export const enum RespType {
  SimpleString = 0x2b, // +
  SimpleError = 0x2d, // -
  Integer = 0x3a, // :
  BulkString = 0x24, // $
  Array = 0x2a, // *
  Null = 0x5f, // _
  Boolean = 0x23, // #
  Double = 0x2c, // ,
  BigNumber = 0x28, // (
  BulkError = 0x21, // !
  Verbatim = 0x3d, // =
  Map = 0x25, // %
  Set = 0x7e, // ~
  Attribute = 0x7c, // |
  Push = 0x3e, // >
  StreamEnd = 0x2e, // .  ends a streamed aggregate
  StreamChunk = 0x3b, // ;  one chunk of a streamed string
}

/** nesting deeper than this is garbage: real replies (COMMAND DOCS, the deepest) nest about 7 levels */
export const MAX_DEPTH = 32
/** elements per aggregate: 2^24; Redis itself refuses client arrays above 1024*1024*1024, replies this big are not real */
export const MAX_ELEMENTS = 1 << 24
/** Redis refuses inline commands longer than 64 KiB (PROTO_INLINE_MAX_SIZE in server.h) */
export const MAX_INLINE_BYTES = 64 * 1024
/** a length or number line: sign, 20 digits, CR */
const MAX_NUMBER_LINE = 24
/** a big number or double line: arbitrary precision, but a reply is not a book */
const MAX_BIG_NUMBER_LINE = 1024
/** first bytes kept of a line (inline commands are tokenized from these) */
const LINE_KEEP = 256
/** first bytes kept of each captured element: command names, subcommands, pub/sub kinds, error codes */
export const SLOT_BYTES = 64
/** top-level elements captured: command, subcommand, third word (CLIENT REPLY OFF; pub/sub count) */
export const SLOTS = 3

const CR = 0x0d
const LF = 0x0a

const enum S {
  Start, // at the first byte of a value
  Line, // inside a RESP line (type byte consumed)
  Inline, // inside an inline command line
  Bulk, // inside a blob payload
  Cr, // expecting the CR after a blob
  Lf, // expecting the LF after a blob
  Hunt, // after a gap or a malformed value: waiting for a chunk that starts with a plausible value
}

/** One complete top-level value. Reused: valid only during the onMessage call. */
export interface RespMessage {
  /** type byte of the top-level value (attributes skipped); 0 = inline command */
  type: number
  /** element count of a top-level aggregate (maps: 2n), -1 for null or streamed */
  count: number
  /** words of an inline command (up to SLOTS), counted over its first LINE_KEEP bytes */
  inlineWords: number
  /** wire bytes, attributes included */
  bytes: number
  /** time of the chunk holding the first and the last byte */
  startUs: number
  endUs: number
}

export interface RespReaderOptions {
  /** client side: arrays of bulk strings or inline commands; server side: any RESP value */
  client: boolean
  /** the largest blob accepted (limits.maxFrameBytes); larger is taken as garbage */
  maxBulkBytes: number
  /** the longest simple string / error line accepted */
  maxLineBytes: number
  onMessage: (m: RespMessage, r: RespReader) => void
  /** a malformed value: the reader drops the chunk and hunts for a new start */
  onMalformed: (reason: string) => void
}

export class RespReader {
  private state: S = S.Start
  private type = 0
  // the aggregate stack: remaining elements (-1 = streamed, until '.') and whether it is an attribute
  private readonly rem = new Int32Array(MAX_DEPTH)
  private readonly isAttr = new Uint8Array(MAX_DEPTH)
  private depth = 0
  /** inside a streamed string ($?) */
  private streamStr = false
  // the line being read
  private readonly line = Buffer.alloc(LINE_KEEP)
  private lineLen = 0
  private lastLineByte = 0
  // the blob being skipped
  private bulkLeft = 0
  private capSlot = -1
  // the message being read
  private active = false
  private segStart = 0
  private curOff = 0
  private tsUs = 0
  private readonly slotBuf = Buffer.alloc(SLOT_BYTES * SLOTS)
  private readonly slotLen = new Int32Array(SLOTS)
  private readonly slotType = new Uint8Array(SLOTS)
  private readonly slotInt = new Float64Array(SLOTS)
  private readonly msg: RespMessage = { type: -1, count: -1, inlineWords: 0, bytes: 0, startUs: 0, endUs: 0 }

  constructor(private readonly o: RespReaderOptions) {}

  /** true while a value is partly read (the next bytes continue it) */
  /** start time of the message being read, Infinity between messages */
  get partialStartUs(): number {
    return this.active ? this.msg.startUs : Infinity
  }

  get midMessage(): boolean {
    return this.active || this.state === S.Hunt
  }

  get hunting(): boolean {
    return this.state === S.Hunt
  }

  /** forget the partial value and wait for a chunk that starts a plausible one (after a gap) */
  hunt(): void {
    this.state = S.Hunt
    this.depth = 0
    this.active = false
    this.streamStr = false
  }

  /** captured top-level element i as text (latin1), or undefined when it was not a string */
  str(i: number): string | undefined {
    const n = this.slotLen[i]
    if (n < 0) return undefined
    return this.slotBuf.toString('latin1', i * SLOT_BYTES, i * SLOT_BYTES + n)
  }

  /** type byte of captured top-level element i, 0 when absent */
  slotTypeOf(i: number): number {
    return this.slotType[i]
  }

  /** integer value of captured top-level element i (':' elements) */
  int(i: number): number {
    return this.slotType[i] === RespType.Integer ? this.slotInt[i] : NaN
  }

  feed(chunk: Buffer, tsUs: number): void {
    if (this.state === S.Hunt) {
      if (!plausibleStart(chunk, this.o.client)) return
      this.state = S.Start
    }
    this.tsUs = tsUs
    this.segStart = 0
    const n = chunk.length
    let off = 0
    while (off < n) {
      switch (this.state) {
        case S.Start: {
          const b = chunk[off]
          if (!this.active) this.begin(off, tsUs)
          if (this.streamStr) {
            // inside a streamed string ($?): the next thing is a ;<len> chunk header
            if (b !== RespType.StreamChunk) return void this.malformed('bad_stream_chunk')
            this.type = b
            this.lineLen = 0
            off++
            this.state = S.Line
            break
          }
          if (this.o.client && this.depth === 0 && b !== RespType.Array) {
            this.type = 0
            this.lineLen = 0
            this.state = S.Inline
            break
          }
          this.type = b
          this.lineLen = 0
          off++
          this.state = S.Line
          break
        }
        case S.Line:
        case S.Inline: {
          const nl = chunk.indexOf(LF, off)
          const end = nl < 0 ? n : nl
          if (end > off) {
            const room = LINE_KEEP - this.lineLen
            if (room > 0) copyBytes(chunk, off, Math.min(end, off + room), this.line, this.lineLen)
            this.lineLen += end - off
            this.lastLineByte = chunk[end - 1]
          }
          const max =
            this.state === S.Inline
              ? MAX_INLINE_BYTES
              : this.type === RespType.SimpleString || this.type === RespType.SimpleError
                ? this.o.maxLineBytes
                : this.type === RespType.BigNumber || this.type === RespType.Double
                  ? MAX_BIG_NUMBER_LINE
                  : MAX_NUMBER_LINE
          if (this.lineLen > max) return void this.malformed('line_too_long')
          if (nl < 0) {
            off = n
            break
          }
          off = nl + 1
          this.curOff = off
          if (!(this.state === S.Inline ? this.endInline() : this.endLine())) return
          break
        }
        case S.Bulk: {
          const take = Math.min(this.bulkLeft, n - off)
          if (this.capSlot >= 0) {
            const have = this.slotLen[this.capSlot]
            const room = SLOT_BYTES - have
            if (room > 0) {
              const k = Math.min(room, take)
              copyBytes(chunk, off, off + k, this.slotBuf, this.capSlot * SLOT_BYTES + have)
              this.slotLen[this.capSlot] = have + k
            }
          }
          this.bulkLeft -= take
          off += take
          if (this.bulkLeft === 0) this.state = S.Cr
          break
        }
        case S.Cr:
          if (chunk[off] !== CR) return void this.malformed('bulk_no_crlf')
          off++
          this.state = S.Lf
          break
        case S.Lf:
          if (chunk[off] !== LF) return void this.malformed('bulk_no_crlf')
          off++
          this.curOff = off
          this.state = S.Start
          if (!this.streamStr) this.valueDone(false)
          break
      }
    }
    if (this.active) this.msg.bytes += n - this.segStart
  }

  private begin(off: number, tsUs: number): void {
    this.active = true
    this.segStart = off
    const m = this.msg
    m.type = -1
    m.count = -1
    m.inlineWords = 0
    m.bytes = 0
    m.startUs = tsUs
    for (let i = 0; i < SLOTS; i++) {
      this.slotLen[i] = -1
      this.slotType[i] = 0
    }
  }

  /** a RESP line is complete (type in this.type, content in this.line); false when malformed */
  private endLine(): boolean {
    if (this.lastLineByte !== CR || this.lineLen === 0) return this.malformed('line_no_cr')
    const len = this.lineLen - 1 // without CR
    const t = this.type
    const top = this.depth === 0
    // which top-level element this value is, when it is one worth keeping
    let slot = -1
    if (this.depth === 1 && this.isAttr[0] === 0) {
      const idx = this.msg.count - this.rem[0]
      if (this.rem[0] > 0 && idx < SLOTS) slot = idx
    }
    if (top && t !== RespType.Attribute && t !== RespType.StreamChunk) this.msg.type = t
    switch (t) {
      case RespType.SimpleString:
      case RespType.SimpleError:
        if (top) slot = 0
        if (slot >= 0) this.capture(slot, t, Math.min(len, LINE_KEEP))
        this.valueDone(false)
        return true
      case RespType.BigNumber:
        if (!isDigits(this.line, Math.min(len, LINE_KEEP))) return this.malformed('bad_big_number')
        this.valueDone(false)
        return true
      case RespType.Integer: {
        const v = parseNumber(this.line, len)
        if (Number.isNaN(v)) return this.malformed('bad_integer')
        if (slot >= 0) {
          this.slotType[slot] = t
          this.slotInt[slot] = v
        }
        this.valueDone(false)
        return true
      }
      case RespType.Double:
        if (len === 0) return this.malformed('bad_double')
        this.valueDone(false)
        return true
      case RespType.Boolean:
        if (len !== 1 || (this.line[0] !== 0x74 && this.line[0] !== 0x66)) return this.malformed('bad_boolean')
        this.valueDone(false)
        return true
      case RespType.Null:
        if (len !== 0) return this.malformed('bad_null')
        this.valueDone(false)
        return true
      case RespType.BulkString:
      case RespType.BulkError:
      case RespType.Verbatim: {
        if (t === RespType.BulkString && len === 1 && this.line[0] === 0x3f /* ? */) {
          // streamed string: ;<len> chunks until ;0
          if (this.streamStr) return this.malformed('nested_stream')
          this.streamStr = true
          this.capSlot = -1
          this.state = S.Start
          return true
        }
        const v = parseNumber(this.line, len)
        if (Number.isNaN(v) || v < -1) return this.malformed('bad_length')
        if (v === -1) {
          if (t !== RespType.BulkString) return this.malformed('bad_length')
          this.valueDone(false)
          return true
        }
        if (v > this.o.maxBulkBytes) return this.malformed('bulk_too_large')
        if (top && t === RespType.BulkError) slot = 0
        this.capSlot = slot
        if (slot >= 0) {
          this.slotType[slot] = t
          this.slotLen[slot] = 0
        }
        this.bulkLeft = v
        this.state = v === 0 ? S.Cr : S.Bulk
        return true
      }
      case RespType.StreamChunk: {
        if (!this.streamStr) return this.malformed('unexpected_chunk')
        const v = parseNumber(this.line, len)
        if (Number.isNaN(v) || v < 0 || v > this.o.maxBulkBytes) return this.malformed('bad_length')
        if (v === 0) {
          this.streamStr = false
          this.state = S.Start
          this.valueDone(false)
          return true
        }
        this.capSlot = -1
        this.bulkLeft = v
        this.state = S.Bulk
        return true
      }
      case RespType.Array:
      case RespType.Map:
      case RespType.Set:
      case RespType.Push:
      case RespType.Attribute: {
        const attr = t === RespType.Attribute ? 1 : 0
        let v: number
        if (len === 1 && this.line[0] === 0x3f /* ? */ && t !== RespType.Attribute && t !== RespType.Push) {
          v = -1
        } else {
          v = parseNumber(this.line, len)
          if (Number.isNaN(v) || v < -1) return this.malformed('bad_length')
          if (v === -1) {
            if (t !== RespType.Array) return this.malformed('bad_length')
            this.state = S.Start
            this.valueDone(false)
            return true
          }
          if (v > MAX_ELEMENTS) return this.malformed('too_many_elements')
          if (t === RespType.Map || t === RespType.Attribute) v *= 2
        }
        if (top && !attr) this.msg.count = v
        this.state = S.Start
        if (v === 0) {
          this.valueDone(attr === 1)
          return true
        }
        if (this.depth >= MAX_DEPTH) return this.malformed('too_deep')
        this.rem[this.depth] = v
        this.isAttr[this.depth] = attr
        this.depth++
        return true
      }
      case RespType.StreamEnd: {
        if (len !== 0 || this.depth === 0 || this.rem[this.depth - 1] !== -1) return this.malformed('unexpected_end')
        this.depth--
        this.state = S.Start
        this.valueDone(this.isAttr[this.depth] === 1)
        return true
      }
      default:
        return this.malformed('bad_type')
    }
  }

  /** an inline command line is complete: count its words, keep its first three */
  private endInline(): boolean {
    let len = Math.min(this.lineLen, LINE_KEEP)
    if (this.lineLen <= LINE_KEEP && len > 0 && this.line[len - 1] === CR) len--
    // split on spaces and tabs; quotes only group words (the words kept are command names)
    let words = 0
    let i = 0
    while (i < len) {
      while (i < len && (this.line[i] === 0x20 || this.line[i] === 0x09)) i++
      if (i >= len) break
      const start = i
      let q = 0
      while (i < len) {
        const c = this.line[i]
        if (q !== 0) {
          if (c === q) q = 0
        } else if (c === 0x22 || c === 0x27) q = c
        else if (c === 0x20 || c === 0x09) break
        i++
      }
      if (words < SLOTS) {
        const k = Math.min(i - start, SLOT_BYTES)
        this.line.copy(this.slotBuf, words * SLOT_BYTES, start, start + k)
        this.slotLen[words] = k
        this.slotType[words] = RespType.SimpleString
      }
      words++
    }
    this.state = S.Start
    if (words === 0) {
      // an empty line: Redis skips it without a reply, so it is no command
      this.active = false
      return true
    }
    this.msg.type = 0
    this.msg.inlineWords = words
    this.complete()
    return true
  }

  private capture(slot: number, t: number, n: number): void {
    const k = Math.min(n, SLOT_BYTES)
    this.line.copy(this.slotBuf, slot * SLOT_BYTES, 0, k)
    this.slotLen[slot] = k
    this.slotType[slot] = t
  }

  /** a value is complete: count it in its parent, and close every aggregate it completes */
  private valueDone(attr: boolean): void {
    this.state = S.Start
    for (;;) {
      if (attr) return // an attribute annotates the next value: it is not an element of its own
      if (this.depth === 0) {
        this.complete()
        return
      }
      const top = this.depth - 1
      if (this.rem[top] === -1) return // streamed aggregate: ends at '.'
      if (--this.rem[top] > 0) return
      this.depth--
      attr = this.isAttr[this.depth] === 1
    }
  }

  /** in onMessage: offset in the chunk being fed just past the message */
  get endOffsetInChunk(): number {
    return this.curOff
  }

  private complete(): void {
    const m = this.msg
    m.bytes += this.curOff - this.segStart
    this.segStart = this.curOff
    m.endUs = this.tsUs
    this.active = false
    if (m.type === -1) return
    this.o.onMessage(m, this)
  }

  private malformed(reason: string): false {
    this.hunt()
    this.o.onMalformed(reason)
    return false
  }
}

/** [+-]digits */
function isDigits(b: Buffer, len: number): boolean {
  let i = b[0] === 0x2d || b[0] === 0x2b ? 1 : 0
  if (i >= len) return false
  for (; i < len; i++) if (b[i] < 0x30 || b[i] > 0x39) return false
  return true
}

/** integer from ASCII digits with an optional sign; NaN when not one */
function parseNumber(b: Buffer, len: number): number {
  if (len === 0 || len > 21) return NaN
  let i = 0
  let neg = false
  if (b[0] === 0x2d || b[0] === 0x2b) {
    neg = b[0] === 0x2d
    i = 1
    if (len === 1) return NaN
  }
  let v = 0
  for (; i < len; i++) {
    const d = b[i] - 0x30
    if (d < 0 || d > 9) return NaN
    v = v * 10 + d
  }
  return neg ? -v : v
}

const SERVER_TYPES = new Set<number>([
  RespType.SimpleString, RespType.SimpleError, RespType.Integer, RespType.BulkString, RespType.Array,
  RespType.Null, RespType.Boolean, RespType.Double, RespType.BigNumber, RespType.BulkError, RespType.Verbatim,
  RespType.Map, RespType.Set, RespType.Attribute, RespType.Push,
])

/**
 * Could `buf` be the start of a value? Used to resume after a gap (at a chunk start only: a request or
 * reply usually starts a segment) and by detection. Short input that is consistent so far is plausible.
 */
export function plausibleStart(buf: Buffer, client: boolean): boolean {
  if (buf.length === 0) return false
  const t = buf[0]
  if (client) {
    if (t === RespType.Array) return plausibleCount(buf, true)
    return plausibleInline(buf)
  }
  if (!SERVER_TYPES.has(t)) return false
  const nl = buf.indexOf(LF)
  const end = nl < 0 ? Math.min(buf.length, 512) : nl
  if (nl > 0 && buf[nl - 1] !== CR) return false
  const lineEnd = nl > 0 ? nl - 1 : end
  switch (t) {
    case RespType.SimpleString:
    case RespType.SimpleError:
      for (let i = 1; i < lineEnd; i++) if (buf[i] < 0x20 && buf[i] !== 0x09) return false
      return nl > 0 || buf.length < 512
    case RespType.Null:
      return lineEnd <= 1
    case RespType.Boolean:
      return buf.length < 2 || buf[1] === 0x74 || buf[1] === 0x66
    case RespType.Double:
      return lineEnd - 1 <= 40
    default:
      return plausibleCount(buf, false)
  }
}

function plausibleCount(buf: Buffer, client: boolean): boolean {
  let i = 1
  if (buf.length > 1 && buf[1] === 0x2d) i = 2 // -1 null
  else if (buf.length > 1 && buf[1] === 0x3f && !client) return true // streamed
  const first = i
  while (i < buf.length && buf[i] >= 0x30 && buf[i] <= 0x39) i++
  if (i === buf.length) return i - first <= 20
  if (i === first || i - first > 20 || buf[i] !== CR) return false
  if (i + 1 < buf.length && buf[i + 1] !== LF) return false
  if (client && i + 2 < buf.length && buf[i + 2] !== RespType.BulkString) return false
  if (!client && buf[0] !== RespType.Integer && i + 2 < buf.length && buf[0] !== RespType.BulkString) {
    // an aggregate: the next byte starts a value
    if (!SERVER_TYPES.has(buf[i + 2])) return false
  }
  return true
}

const HTTP_TAIL = / HTTP\/\d/

function plausibleInline(buf: Buffer): boolean {
  let e = 0
  while (e < buf.length && e < 64 && buf[e] !== 0x20 && buf[e] !== CR && buf[e] !== LF) e++
  if (e === 0 || e === buf.length || e >= 64) return false
  const word = buf.toString('latin1', 0, e)
  if (!isKnownCommand(word)) return false
  // an HTTP request line starts with GET, which is also a Redis command
  const nl = buf.indexOf(LF)
  const line = buf.toString('latin1', 0, nl < 0 ? Math.min(buf.length, 512) : nl)
  return !HTTP_TAIL.test(line)
}

/**
 * src[from, to) into dst at `at`. RESP lines and captured words are a few bytes long: a byte loop
 * beats Buffer.copy's call into C++ there (it was the top cost of redis-benchmark replays).
 */
function copyBytes(src: Buffer, from: number, to: number, dst: Buffer, at: number): void {
  if (to - from > 64) {
    src.copy(dst, at, from, to)
    return
  }
  for (let i = from; i < to; i++) dst[at++] = src[i]
}
