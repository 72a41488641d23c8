// MySQL / MariaDB client/server protocol: one exchange per command (and one for the login).
// https://dev.mysql.com/doc/dev/mysql-server/latest/PAGE_PROTOCOL.html
//
// Packet => payload_length:int<3> sequence_id:int<1> payload      (wire.ts)
//
// Connection phase (no exchange but the login):
//   s2c Handshake v10 (seq 0) → c2s HandshakeResponse41 (seq 1) | SSLRequest (then TLS: not parsed)
//   → s2c AuthSwitchRequest 0xfe | AuthMoreData 0x01 ⇄ c2s auth data ... → s2c OK 0x00 | ERR 0xff
//   The login is reported as method 'LOGIN' (its ERR is how failed logins, 1045, show up). The auth
//   data and the password are skipped by length and never copied.
// Command phase: the client sends one command (seq 0, the command byte first); the server answers
// with seq 1, 2, ...; one command at a time, answered in order (FIFO: MariaDB connectors pipeline
// COM_STMT_PREPARE + COM_STMT_EXECUTE). Answers by command:
//   COM_QUERY, COM_STMT_EXECUTE: OK | ERR | LOCAL INFILE 0xfb (client sends the file, then OK | ERR) |
//     result set: column_count:lenenc [metadata_follows:int<1>] column_def × n [EOF] row × m
//     (EOF | OK with 0xfe header under CLIENT_DEPRECATE_EOF). The terminator's status flags carry
//     SERVER_MORE_RESULTS_EXISTS: another result follows in the same exchange (multi-statements, CALL).
//   COM_STMT_PREPARE: ERR | OK stmt_id:int<4> num_columns:int<2> num_params:int<2> filler warnings
//     [metadata_follows] then param defs [EOF] then column defs [EOF].
//   COM_FIELD_LIST: column defs until EOF/OK-0xfe | ERR.   COM_STMT_FETCH: rows until EOF | ERR.
//   COM_STATISTICS: one text packet.   COM_CHANGE_USER: like the login's auth exchange.
//   COM_QUIT, COM_STMT_CLOSE, COM_STMT_SEND_LONG_DATA: no answer, no exchange.
//   everything else: one OK | ERR | EOF packet.
//
// EOF or not: CLIENT_DEPRECATE_EOF is read from both sides' capability flags. Without the handshake
// (joined mid-stream) result sets need no knowledge: a 5-byte 0xfe packet after the column
// definitions is the classic EOF, anything else is a row or the OK that ends the set (and a row never
// starts with 0xfe unless it is a 16 MiB packet). Only COM_STMT_PREPARE's definitions can end the
// response without a marker; then the next packet decides (an EOF with the next sequence id, or
// anything else / a new command from the client meaning the response had ended).
//
// Record fields:
//   method   COM_QUERY / COM_STMT_PREPARE's SQL verb for queries (SELECT, INSERT, ...; 'unknown' for
//            text that starts with no known verb). COM_STMT_EXECUTE reports the verb of the statement
//            it executes (its prepared SQL, kept per connection by statement id), so that a prepared
//            SELECT and a text SELECT count together; when the PREPARE was not seen, 'STMT_EXECUTE'.
//            COM_STMT_PREPARE itself is 'STMT_PREPARE' (it does not run the statement). Other
//            commands: the command name without COM_ ('PING', 'INIT_DB', 'FIELD_LIST', ...).
//   resource the statement, normalized (sql.ts); the database for INIT_DB, the table for FIELD_LIST.
//   status   'OK', or the server error code as a string ('1064'). The number and not a symbolic
//            name: every code has one, MySQL and MariaDB agree on the common ones, it is what server
//            logs, status counters and tshark show; the name (ER_PARSE_ERROR) is attrs.error_name
//            when known, with attrs.sqlstate and attrs.error_message.
//   error    true for an ERR packet.

import type { Limits } from '../../config.js'
import { Framer } from '../framer.js'
import { FifoMatcher } from '../match.js'
import type { ParsedExchange, ParserContext, ProtocolParser } from '../types.js'
import type { Dir, EndReason, StreamHandler } from '../../tcp/types.js'
import { Cap, Cmd, COMMAND_NAMES, ERROR_NAMES, Hdr, MAX_PACKET_PAYLOAD, Status } from './constants.js'
import { checkCommand, checkCompressed, checkGreeting, checkHandshakeResponse, commandFits, detectMysql, type Verdict } from './detect.js'
import { normalizeSql } from './sql.js'
import {
  HEADER_BYTES,
  isText,
  payloadLength,
  readErr,
  readGreeting,
  readHandshakeResponse,
  readLenenc,
  readOk,
  terminatorStatus,
  type ErrInfo,
} from './wire.js'

/**
 * Server packets are kept whole only up to this size: the parser reads the head of a row (its first
 * byte) and small packets (OK, ERR, EOF, column definitions, greeting). Bigger ones, rows with blobs,
 * are stepped over instead of being copied together (Framer onOversize hands their first bytes).
 */
const SERVER_PACKET_KEEP_BYTES = 64 * 1024

/** Bytes collected while looking for a clean packet start after a gap; enough to judge any command head. */
const HUNT_BYTES = 8 * 1024

/**
 * First bytes of a packet too big to keep that the parser reads (the framer hands 64): waiting for all
 * of them, rather than taking what the segment happened to hold, keeps the result independent of how
 * the bytes were cut into segments.
 */
const OVERSIZE_HEAD_BYTES = 64

/** Result sets have at most 4096 columns (MySQL's limit per table; MariaDB's is the same). */
const MAX_COLUMNS = 4096

/** Column definitions start with lenenc "def", the catalog (Protocol::ColumnDefinition41). */
const COLUMN_DEF_CATALOG = 0x03

const enum Kind {
  Login,
  ChangeUser,
  Query, // text result set, OK, ERR, LOCAL INFILE
  Execute, // binary result set
  Prepare,
  FieldList,
  Fetch,
  Statistics,
  Simple, // one OK / ERR / EOF
  Binlog,
}

const enum R {
  First, // the first packet of a response, or of the next result of a multi-result response
  Columns, // column definitions still to come: remaining
  AfterColumns, // classic EOF, or the first row / terminator
  Rows,
  FieldDefs, // COM_FIELD_LIST: definitions until a terminator
  PrepParams,
  PrepCols,
  MaybeEof, // an EOF may come next (classic protocol) or not (DEPRECATE_EOF): then `then`
  Done,
}

const enum Phase {
  Start, // nothing framed yet: a greeting, a handshake response or a command will tell
  Greeted, // greeting seen: the client's HandshakeResponse comes next
  Command,
  Off, // TLS, compressed, replication stream or closed: bytes are not parsed
}

interface Req {
  cmd: number // -1 for the login
  kind: Kind
  method: string
  resource?: string
  /** COM_STMT_PREPARE: the verb of its SQL, for the COM_STMT_EXECUTEs of the statement */
  verb: string
  stmtId: number // -1 when none
  startUs: number
  endUs: number
  reqBytes: number
  respBytes: number
  /** sequence id the next packet of this exchange carries, either direction */
  nextSeq: number
  state: R
  started: boolean
  remaining: number
  prepCols: number
  then: R
  cursor: boolean
  rows: number
  resultSets: number
  affectedRows: number
  warnings: number
  err?: ErrInfo
  /** bytes of the response were lost (a gap): what was seen is reported, marked partial */
  partial: boolean
  infile: boolean
  /** MysqlStream.s2cLosses when the command was sent */
  epoch: number
  attrs?: Record<string, string>
}

interface Statement {
  verb: string
  text: string
}

interface Side {
  framer: Framer
  /** true until a clean packet start is found (start of capture, after a gap) */
  hunting: boolean
  hunt: Buffer
  huntLen: number
  /** offsets in `hunt` where a chunk began: the candidate packet starts, oldest first */
  marks: number[]
  /** the last packet had 0xffffff payload bytes: the next one continues the same message */
  cont: boolean
  /** capture time of the chunk being fed (the time a frame cut from it ended) */
  nowUs: number
  /** inside framer.feed(): losing the framing must stop() it rather than reset() it */
  feeding: boolean
}

const lenenc = [0]

function newReq(cmd: number, kind: Kind, method: string, startUs: number, bytes: number, seq: number): Req {
  return {
    cmd, kind, method, resource: undefined, verb: '', stmtId: -1, startUs, endUs: startUs, reqBytes: bytes, respBytes: 0,
    nextSeq: (seq + 1) & 0xff, state: R.First, started: false, remaining: 0, prepCols: 0, then: R.Done,
    cursor: false, rows: 0, resultSets: 0, affectedRows: 0, warnings: 0, err: undefined, partial: false,
    infile: false, epoch: 0, attrs: undefined,
  }
}

function kindOf(cmd: number): Kind {
  switch (cmd) {
    case Cmd.Query:
    case Cmd.ProcessInfo:
      return Kind.Query
    case Cmd.StmtExecute:
    case Cmd.StmtBulkExecute:
      return Kind.Execute
    case Cmd.StmtPrepare:
      return Kind.Prepare
    case Cmd.FieldList:
      return Kind.FieldList
    case Cmd.StmtFetch:
      return Kind.Fetch
    case Cmd.Statistics:
      return Kind.Statistics
    case Cmd.ChangeUser:
      return Kind.ChangeUser
    case Cmd.BinlogDump:
    case Cmd.BinlogDumpGtid:
      return Kind.Binlog
    default:
      return Kind.Simple
  }
}

export class MysqlStream implements StreamHandler {
  private phase = Phase.Start
  private readonly c2s: Side
  private readonly s2c: Side
  private readonly pending: FifoMatcher<Req>
  private readonly statements = new Map<number, Statement>() // insertion order = age
  private lastPreparedId = -1
  private serverCaps = -1 // -1: greeting not seen
  /** times the server side lost its framing */
  private s2cLosses = 0
  /** a run of rows was found after a gap inside a result set: the sequence id it goes on from (accept) */
  private resumeSeq = -1
  /** ... and how many bytes of the candidate start it lies after (the rest of a cut row) */
  private resumeSkip = 0
  /** CLIENT_DEPRECATE_EOF: from the handshake, else learned from result sets; undefined = not known */
  private deprecateEof: boolean | undefined
  private queryAttrs: boolean | undefined
  private compress = false
  private serverVersion: string | undefined
  private quitSent = false
  /** a server packet with no command to answer was counted; not again until the next command */
  private orphanCounted = false
  private readonly rawSqlBytes: number

  /**
   * Start of the oldest command not yet emitted (one at a time, in order): queued, else a packet
   * arriving. Before the command phase the login's start is not tracked here: -Infinity (unknown).
   */
  oldestPendingUs(): number {
    if (this.phase !== Phase.Command) return this.phase === Phase.Off ? Infinity : -Infinity
    const q = this.pending.peek()
    return q !== undefined ? q.startUs : this.c2s.framer.partialStartUs
  }

  constructor(private readonly ctx: ParserContext) {
    const lim: Limits = ctx.limits
    this.rawSqlBytes = Math.max(4096, lim.maxTextBytes * 8)
    this.pending = new FifoMatcher<Req>(lim.maxPendingRequests, (r) => {
      ctx.count('pending_evicted')
      this.emitUnanswered(r, r.endUs)
    })
    this.c2s = this.side('c2s', lim.maxFrameBytes)
    this.s2c = this.side('s2c', Math.min(lim.maxFrameBytes, SERVER_PACKET_KEEP_BYTES))
  }

  private side(dir: Dir, maxFrameBytes: number): Side {
    const s: Side = {
      framer: new Framer({
        maxFrameBytes,
        // a packet's total length; with the first payload byte in hand (the parser needs it even when
        // the packet is too big to keep)
        frameLength: (buf, off) => {
          if (buf.length - off < HEADER_BYTES) return -1
          const total = HEADER_BYTES + payloadLength(buf, off)
          const need = total > maxFrameBytes ? Math.min(total, OVERSIZE_HEAD_BYTES) : HEADER_BYTES + 1
          return buf.length - off < Math.min(need, total) ? -1 : total
        },
        onFrame: (frame, startUs) => this.packet(dir, frame, frame.length, startUs),
        onOversize: (head, total, startUs) => {
          if (total > this.ctx.limits.maxFrameBytes) this.ctx.count('frame_too_large')
          this.packet(dir, head, total, startUs)
        },
      }),
      hunting: true,
      hunt: Buffer.alloc(0),
      huntLen: 0,
      marks: [],
      cont: false,
      nowUs: 0,
      feeding: false,
    }
    return s
  }

  // ---- StreamHandler --------------------------------------------------------------------------------

  data(dir: Dir, chunk: Buffer, tsUs: number, _peerAcked: number): void {
    if (this.phase === Phase.Off || chunk.length === 0) return
    const s = dir === 'c2s' ? this.c2s : this.s2c
    s.nowUs = tsUs
    // Framing and resync alternate: when the framing is lost inside a chunk (a command byte that does
    // not exist, a sequence id out of place) the rest of it is searched for a clean start exactly as if
    // it had arrived as a segment of its own, so results do not depend on how bytes were cut.
    let buf: Buffer | undefined = chunk
    while (buf !== undefined && buf.length > 0 && !this.isOff()) {
      buf = s.hunting ? this.hunt(dir, s, buf) : this.feed(s, buf, tsUs)
    }
  }

  /** (a method, so that TypeScript does not narrow `phase` across the calls that change it) */
  private isOff(): boolean {
    return this.phase === Phase.Off
  }

  /** frames from `buf`; returns a copy of what follows the packet where the framing was lost, if it was */
  private feed(s: Side, buf: Buffer, tsUs: number): Buffer | undefined {
    s.feeding = true
    let rest: Buffer | undefined
    try {
      rest = s.framer.feed(buf, tsUs)
    } finally {
      s.feeding = false
    }
    return rest !== undefined && rest.length > 0 && !this.isOff() ? Buffer.from(rest) : undefined
  }

  gap(dir: Dir, lostBytes: number, tsUs: number): void {
    if (this.phase === Phase.Off) return
    const s = dir === 'c2s' ? this.c2s : this.s2c
    if (lostBytes > 0 && !s.hunting && s.framer.gap(lostBytes)) {
      // the hole fell inside a packet being stepped over: framing is intact
      const r = dir === 'c2s' ? this.pending.last() : this.pending.peek()
      if (r !== undefined) {
        if (dir === 'c2s') r.reqBytes += lostBytes
        else if (r.started) {
          r.respBytes += lostBytes
          r.partial = true
        }
      }
      return
    }
    if (lostBytes !== 0) this.lose(dir, s, lostBytes, tsUs)
  }

  end(_reason: EndReason, tsUs: number): void {
    for (let r = this.pending.shift(); r !== undefined; r = this.pending.shift()) {
      if (this.mayBeDone(r)) this.emitDone(r)
      else this.emitUnanswered(r, tsUs)
    }
    this.statements.clear()
    this.c2s.framer.reset()
    this.s2c.framer.reset()
    this.phase = Phase.Off
  }

  // ---- gaps and resync ------------------------------------------------------------------------------

  /** bytes of `dir` are lost: stop trusting the framing there and look for a clean start again */
  private lose(dir: Dir, s: Side, lostBytes: number, _tsUs: number): void {
    if (s.feeding) s.framer.stop()
    else s.framer.reset()
    s.hunting = true
    s.huntLen = 0
    s.marks.length = 0
    s.cont = false
    if (dir === 's2c') {
      this.s2cLosses++
      const head = this.pending.peek()
      if (head !== undefined && head.started) {
        head.partial = true
        if (lostBytes > 0) head.respBytes += lostBytes
      }
    } else {
      const last = this.pending.last()
      if (last !== undefined && lostBytes > 0) last.reqBytes += lostBytes
    }
    if (this.phase === Phase.Start || this.phase === Phase.Greeted) this.phase = Phase.Command
  }

  /**
   * Look for a clean packet start. Candidates are the starts of the chunks received since the gap
   * (segments begin with a packet far more often than not); each is judged by detect.ts's checks on as
   * many bytes as it needs, up to HUNT_BYTES. Returns the bytes to frame from, once a start is found.
   */
  private hunt(dir: Dir, s: Side, chunk: Buffer): Buffer | undefined {
    // the common case: the first chunk after the gap starts cleanly and decides alone, no copy
    if (s.huntLen === 0) {
      const v = this.judge(dir, chunk, 0, chunk.length)
      if (v === 'yes') {
        const skip = this.takeSkip()
        this.accept(dir, s)
        return skip > 0 ? chunk.subarray(skip) : chunk
      }
      if (this.isOff()) return undefined
      if (v === 'no') {
        this.huntMiss(dir, chunk.length)
        return undefined
      }
    }
    const take = Math.min(HUNT_BYTES - s.huntLen, chunk.length)
    if (s.hunt.length < s.huntLen + take) {
      const nb = Buffer.allocUnsafe(Math.min(HUNT_BYTES, Math.max(256, (s.huntLen + take) * 2)))
      s.hunt.copy(nb, 0, 0, s.huntLen)
      s.hunt = nb
    }
    chunk.copy(s.hunt, s.huntLen, 0, take)
    s.marks.push(s.huntLen)
    s.huntLen += take
    const full = s.huntLen >= HUNT_BYTES
    while (s.marks.length > 0) {
      const at = s.marks[0]
      let v = this.judge(dir, s.hunt, at, s.huntLen)
      if (this.isOff()) return undefined
      if (v === 'more' && full) v = 'no'
      if (v === 'more') return undefined
      if (v === 'yes') {
        const held = s.hunt.subarray(at + this.takeSkip(), s.huntLen)
        const out = take < chunk.length ? Buffer.concat([held, chunk.subarray(take)]) : Buffer.from(held)
        this.accept(dir, s)
        s.huntLen = 0
        s.marks.length = 0
        return out
      }
      s.marks.shift()
    }
    this.huntMiss(dir, s.huntLen)
    s.huntLen = 0
    return undefined
  }

  /** the bytes before a resync point inside a row (counted into the answer's bytes), once */
  private takeSkip(): number {
    const n = this.resumeSkip
    this.resumeSkip = 0
    const head = this.pending.peek()
    if (n > 0 && head !== undefined) head.respBytes += n
    return n
  }

  private huntMiss(dir: Dir, n: number): void {
    if (this.phase === Phase.Off) return
    this.ctx.count('resync_skipped_bytes', n)
    if (dir === 's2c') {
      const head = this.pending.peek()
      if (head !== undefined && head.started) {
        // the rest of the oldest command's answer, after a gap inside it (a long result set)
        head.respBytes += n
        head.endUs = this.s2c.nowUs
      } else if (!this.orphanCounted && !this.quitSent) {
        // an answer to a command never seen (the capture began mid-stream): counted, not invented
        this.orphanCounted = true
        this.ctx.unmatchedResponse()
      }
    }
  }

  /** For tests and debugging: what this connection holds right now. */
  held(): { pending: number; statements: number; bufferedBytes: number; huntBytes: number } {
    return {
      pending: this.pending.size,
      statements: this.statements.size,
      bufferedBytes: this.c2s.framer.buffered + this.s2c.framer.buffered,
      huntBytes: this.c2s.huntLen + this.s2c.huntLen,
    }
  }

  /** can a packet (or, for the compressed protocol, a frame) start at buf[off]? */
  private judge(dir: Dir, buf: Buffer, off: number, end: number): Verdict {
    if (this.phase === Phase.Off) return 'no'
    if (dir === 'c2s') {
      const a = checkCommand(buf, off, end)
      if (a === 'yes') return 'yes'
      let b: Verdict = 'no'
      if (this.phase === Phase.Start || this.phase === Phase.Greeted) b = checkHandshakeResponse(buf, off, end)
      if (b === 'yes') return 'yes'
      const c = checkCompressed(buf, off, end)
      if (c === 'yes' && a === 'no' && b === 'no' && this.compressedFrameAt(buf, off, end)) {
        this.goOff('compressed')
        return 'no'
      }
      return a === 'more' || b === 'more' || c === 'more' ? 'more' : 'no'
    }
    const head = this.pending.peek()
    if (head !== undefined && head.started && head.state === R.Rows) {
      // inside a long result set the rows go on after the gap, but a segment starts anywhere in a row:
      // look for a run of rows from each byte of the first RESYNC_SCAN
      let more = false
      for (let p = off; p < Math.min(end, off + RESYNC_SCAN); p++) {
        const v = rowRun(buf, p, end)
        if (v === 'more') more = true
        else if (v >= 0) {
          this.resumeSeq = v
          this.resumeSkip = p - off
          return 'yes'
        }
      }
      if (more) return 'more'
    }
    const next = this.firstUnanswered()
    if (next === undefined) return this.phase === Phase.Start ? checkGreeting(buf, off, end) : 'no'
    return this.checkResponseStart(next, buf, off, end)
  }

  /** the oldest command whose answer has not started */
  private firstUnanswered(): Req | undefined {
    for (let i = 0; i < this.pending.size; i++) {
      const r = this.pending.at(i)!
      if (!r.started) return r
    }
    return undefined
  }

  /**
   * A clean start was found in `dir`. For the server side it is the answer to the oldest unanswered
   * command: older commands whose answers were under way when the framing was lost are over.
   */
  private accept(dir: Dir, s: Side): void {
    s.hunting = false
    if (dir === 'c2s') return
    if (this.resumeSeq >= 0) {
      // the result set goes on: its rows (and its end, which then tells the status) are read again
      this.pending.peek()!.nextSeq = this.resumeSeq
      this.resumeSeq = -1
      this.ctx.count('resync_in_result_set')
      return
    }
    for (let h = this.pending.peek(); h !== undefined && h.started; h = this.pending.peek()) {
      this.pending.shift()
      h.partial = !this.mayBeDone(h)
      this.emitDone(h)
    }
  }

  /** a compressed frame that is whole (or cut) in buf, holding a command when stored */
  private compressedFrameAt(buf: Buffer, off: number, end: number): boolean {
    const clen = payloadLength(buf, off)
    if (payloadLength(buf, off + 4) === 0) return checkCommand(buf, off + 7, Math.min(end, off + 7 + clen)) === 'yes' || this.pending.size > 0
    return true
  }

  /** the first packet of `head`'s response at buf[off]: the next sequence id and a fitting first byte */
  private checkResponseStart(head: Req, buf: Buffer, off: number, end: number): Verdict {
    if (end - off < HEADER_BYTES + 1) return 'more'
    const len = payloadLength(buf, off)
    if (buf[off + 3] !== head.nextSeq || len === 0) return 'no'
    const h = buf[off + 4]
    if (h === Hdr.Err) {
      if (end - off < 7) return 'more'
      return buf.readUInt16LE(off + 5) >= 1000 ? 'yes' : 'no'
    }
    switch (head.kind) {
      case Kind.Query:
      case Kind.Execute:
        if (h === Hdr.Ok) return len >= 7 ? 'yes' : 'no'
        if (h === Hdr.LocalInfile) return head.kind === Kind.Query ? 'yes' : 'no'
        // column count: lenenc 1..4096, maybe a metadata_follows byte
        if (h === 0 || h > 0xfc || len > 4) return 'no'
        return 'yes'
      case Kind.Prepare:
        return h === Hdr.Ok && len >= 12 ? 'yes' : 'no'
      case Kind.FieldList:
        return h === COLUMN_DEF_CATALOG || h === Hdr.Eof ? 'yes' : 'no'
      case Kind.Fetch:
        return h === Hdr.Ok || h === Hdr.Eof ? 'yes' : 'no'
      case Kind.Statistics:
        return isText(buf, off + 4, Math.min(end, off + 4 + len)) ? 'yes' : 'no'
      case Kind.Login:
      case Kind.ChangeUser:
        return h === Hdr.Ok || h === Hdr.Eof || h === Hdr.AuthMoreData ? 'yes' : 'no'
      default:
        return h === Hdr.Ok || h === Hdr.Eof ? 'yes' : 'no'
    }
  }

  private goOff(reason: 'tls' | 'compressed' | 'replication' | 'closed'): void {
    if (this.phase === Phase.Off) return
    this.phase = Phase.Off
    if (reason !== 'closed') this.ctx.count(reason)
    if (reason === 'tls') this.ctx.encrypted?.('tls')
    for (const side of [this.c2s, this.s2c]) {
      // called from inside a packet callback, the side being fed must stop, not just forget its tail
      if (side.feeding) side.framer.stop()
      else side.framer.reset()
      side.huntLen = 0
    }
  }

  // ---- packets --------------------------------------------------------------------------------------

  /**
   * One packet of `dir`: `pkt` holds its header and payload, or only the first bytes of a packet too
   * big to keep (`total` is then larger than pkt.length). A view, valid during the call.
   */
  private packet(dir: Dir, pkt: Buffer, total: number, startUs: number): void {
    if (this.phase === Phase.Off) return
    const len = total - HEADER_BYTES
    const seq = pkt[3]
    const s = dir === 'c2s' ? this.c2s : this.s2c
    const wasCont = s.cont
    s.cont = len === MAX_PACKET_PAYLOAD
    if (dir === 'c2s') this.clientPacket(pkt, len, total, seq, startUs, wasCont)
    else this.serverPacket(pkt, len, total, seq, wasCont)
  }

  private clientPacket(pkt: Buffer, len: number, total: number, seq: number, startUs: number, cont: boolean): void {
    const p = HEADER_BYTES
    const pEnd = pkt.length
    if (cont || seq !== 0) {
      // the rest of a 16 MiB message, the handshake response, auth data, LOCAL INFILE contents
      if (!cont && seq === 1 && (this.phase === Phase.Start || this.phase === Phase.Greeted)) {
        this.handshakeResponse(pkt, p, pEnd, len, total, startUs)
        return
      }
      const last = this.pending.last()
      if (last !== undefined && last.state !== R.Done && (cont || seq === last.nextSeq)) {
        last.reqBytes += total
        last.nextSeq = (seq + 1) & 0xff
        return
      }
      this.ctx.count('unexpected_client_packet')
      return
    }
    if (this.phase !== Phase.Command) this.phase = Phase.Command
    if (len === 0) {
      this.ctx.count('unexpected_client_packet')
      return
    }
    this.command(pkt, p, pEnd, len, total, startUs)
  }

  private handshakeResponse(pkt: Buffer, p: number, pEnd: number, len: number, total: number, startUs: number): void {
    const hr = readHandshakeResponse(pkt, p, Math.min(pEnd, p + len))
    if (hr === undefined) {
      this.ctx.count('malformed_handshake')
      this.phase = Phase.Command
      return
    }
    if (hr.ssl) {
      this.goOff('tls')
      return
    }
    this.phase = Phase.Command
    const both = this.serverCaps < 0 ? hr.capabilities : hr.capabilities & this.serverCaps
    const known = this.serverCaps >= 0
    if (!(hr.capabilities & Cap.DEPRECATE_EOF)) this.deprecateEof = false
    else if (known) this.deprecateEof = !!(both & Cap.DEPRECATE_EOF)
    if (!(hr.capabilities & Cap.QUERY_ATTRIBUTES)) this.queryAttrs = false
    else if (known) this.queryAttrs = !!(both & Cap.QUERY_ATTRIBUTES)
    this.compress = known && !!(both & (Cap.COMPRESS | Cap.ZSTD_COMPRESSION))
    const r = newReq(-1, Kind.Login, 'LOGIN', startUs, total, 1)
    r.epoch = this.s2cLosses
    const attrs: Record<string, string> = { command: 'HANDSHAKE' }
    if (hr.user !== undefined) attrs.user = hr.user.slice(0, this.ctx.limits.maxTextBytes)
    if (hr.db !== undefined) attrs.db = hr.db.slice(0, this.ctx.limits.maxTextBytes)
    if (hr.authPlugin !== undefined) attrs.auth_plugin = hr.authPlugin
    if (this.serverVersion !== undefined) attrs.server_version = this.serverVersion
    r.attrs = attrs
    this.pending.push(r)
  }

  private command(pkt: Buffer, p: number, pEnd: number, len: number, total: number, startUs: number): void {
    const cmd = pkt[p]
    const name = COMMAND_NAMES.get(cmd)
    if (name === undefined || !commandFits(cmd, len)) {
      // no such command (or a server-internal one, COM_SLEEP...), or a size it cannot have: the
      // framing is off; look for a clean start
      this.ctx.count(name === undefined ? 'unknown_command' : 'malformed_command')
      this.lose('c2s', this.c2s, -1, startUs)
      return
    }
    // The client only sends a new command once it has read the whole previous answer (unless it
    // pipelines, and then the previous answer has not started): answers that may have ended, or
    // lost their end to a gap, are over now.
    if (this.s2c.hunting) {
      // the server side lost its framing after these commands were sent: whatever answers they had
      // are behind us (commands sent since, pipelined, still wait for theirs)
      for (let h = this.pending.peek(); h !== undefined && h.epoch < this.s2cLosses; h = this.pending.peek()) {
        this.pending.shift()
        if (this.mayBeDone(h)) this.emitDone(h)
        else this.emitUnanswered(h, startUs)
      }
    }
    for (let h = this.pending.peek(); h !== undefined && h.started; h = this.pending.peek()) {
      if (this.mayBeDone(h)) {
        if (h.state === R.MaybeEof && h.kind === Kind.Prepare) this.deprecateEof = true
        this.pending.shift()
        this.emitDone(h)
      } else if (h.partial) {
        this.pending.shift()
        this.emitDone(h)
      } else break
    }
    this.orphanCounted = false
    this.quitSent = false
    const lim = this.ctx.limits
    switch (cmd) {
      case Cmd.Quit:
        this.quitSent = true // the server closes the connection: no answer, no exchange
        return
      case Cmd.StmtClose: {
        if (pEnd - p >= 5) this.statements.delete(pkt.readUInt32LE(p + 1))
        return
      }
      case Cmd.StmtSendLongData:
        return // parameter data for a later COM_STMT_EXECUTE; no answer
    }
    const r = newReq(cmd, kindOf(cmd), name, startUs, total, 0)
    r.epoch = this.s2cLosses
    const attrs: Record<string, string> = { command: name }
    r.attrs = attrs
    switch (cmd) {
      case Cmd.Query:
      case Cmd.StmtPrepare: {
        let t = p + 1
        if (cmd === Cmd.Query) t = this.skipQueryAttributes(pkt, t, pEnd)
        if (t < 0) {
          r.method = 'unknown'
          this.ctx.count('malformed_query_attributes')
          break
        }
        const want = Math.min(pEnd, t + this.rawSqlBytes)
        const cut = want < p + len || len === MAX_PACKET_PAYLOAD
        const sql = normalizeSql(pkt.toString('utf8', t, want), lim.maxTextBytes, cut)
        r.resource = sql.text
        if (cmd === Cmd.Query) r.method = sql.verb
        else r.verb = sql.verb
        break
      }
      case Cmd.StmtExecute:
      case Cmd.StmtBulkExecute: {
        if (pEnd - p < 5) break
        let id = pkt.readUInt32LE(p + 1)
        // MariaDB: statement id 0xffffffff means "the statement prepared last" (pipelined prepare+execute)
        if (id === 0xffffffff && !this.prepareUnderway() && this.lastPreparedId >= 0) id = this.lastPreparedId
        r.stmtId = id
        attrs.statement_id = String(id)
        if (cmd === Cmd.StmtExecute && pEnd - p >= 6) r.cursor = (pkt[p + 5] & 0x07) !== 0
        this.resolveStatement(r)
        break
      }
      case Cmd.StmtReset:
      case Cmd.StmtFetch:
        if (pEnd - p >= 5) {
          r.stmtId = pkt.readUInt32LE(p + 1)
          attrs.statement_id = String(r.stmtId)
        }
        break
      case Cmd.InitDb:
      case Cmd.CreateDb:
      case Cmd.DropDb:
        r.resource = pkt.toString('utf8', p + 1, Math.min(pEnd, p + 1 + lim.maxTextBytes))
        break
      case Cmd.FieldList: {
        const nul = pkt.indexOf(0, p + 1)
        const e = nul < 0 || nul >= pEnd ? pEnd : nul
        r.resource = pkt.toString('utf8', p + 1, Math.min(e, p + 1 + lim.maxTextBytes))
        break
      }
      case Cmd.ChangeUser: {
        const nul = pkt.indexOf(0, p + 1)
        if (nul > p + 1 && nul < pEnd && nul - p - 1 <= 128) attrs.user = pkt.toString('utf8', p + 1, nul)
        break
      }
    }
    this.pending.push(r)
  }

  /**
   * COM_QUERY under CLIENT_QUERY_ATTRIBUTES (MySQL 8.0.23+):
   *   parameter_count:lenenc parameter_set_count:lenenc(=1) [null_bitmap new_params_bind_flag:int<1>
   *   (param_type:int<2> parameter_name:lenenc_str) × n  parameter_values] query:string<EOF>
   * Returns where the query text starts, or -1. Without the handshake, the prefix is recognized by its
   * first byte: SQL text never starts with a control character.
   */
  private skipQueryAttributes(b: Buffer, t: number, end: number): number {
    let has = this.queryAttrs
    if (has === undefined) has = t + 1 < end && b[t] < 0x20 && b[t] !== 0x09 && b[t] !== 0x0a && b[t] !== 0x0d && b[t + 1] === 1
    if (!has) return t
    let o = readLenenc(b, t, end, lenenc)
    const n = lenenc[0]
    if (o < 0) return -1
    o = readLenenc(b, o, end, lenenc)
    if (o < 0 || n === 0) return o
    if (n > 0xffff) return -1
    const bitmapAt = o
    o += (n + 7) >> 3
    if (o >= end || b[o] !== 1) return -1 // new_params_bind_flag: types and names follow
    o++
    const typesAt = o
    for (let i = 0; i < n; i++) {
      if (o + 2 > end) return -1
      o += 2
      o = readLenenc(b, o, end, lenenc)
      if (o < 0) return -1
      o += lenenc[0]
    }
    // values of the non-NULL parameters, by type; names were skipped in between, so walk types again
    let tp = typesAt
    for (let i = 0; i < n; i++) {
      const type = b[tp]
      tp += 2
      tp = readLenenc(b, tp, end, lenenc)
      tp += lenenc[0]
      const isNull = (b[bitmapAt + (i >> 3)] >> (i & 7)) & 1
      if (!isNull) {
        o = skipBinaryValue(type, b, o, end)
        if (o < 0) return -1
      }
    }
    return o <= end ? o : -1
  }

  private prepareUnderway(): boolean {
    for (let i = 0; i < this.pending.size; i++) if (this.pending.at(i)!.kind === Kind.Prepare) return true
    return false
  }

  private resolveStatement(r: Req): void {
    const st = this.statements.get(r.stmtId)
    if (st !== undefined) {
      r.method = st.verb
      r.resource = st.text
    }
  }

  // ---- server packets -------------------------------------------------------------------------------

  private serverPacket(pkt: Buffer, len: number, total: number, seq: number, cont: boolean): void {
    const endUs = this.s2c.nowUs
    const p = HEADER_BYTES
    const pEnd = pkt.length
    if (cont) {
      // the rest of a 16 MiB row
      const head = this.pending.peek()
      if (head !== undefined && head.started) {
        head.respBytes += total
        head.endUs = endUs
        head.nextSeq = (seq + 1) & 0xff
      }
      return
    }
    if (this.phase === Phase.Start || this.phase === Phase.Greeted) {
      if (seq === 0 && len > 0 && this.pending.size === 0) {
        this.greetingOrRefusal(pkt, p, pEnd, len, total, endUs)
        return
      }
    }
    let head = this.pending.peek()
    // an answer that may already have ended (see R.MaybeEof): this packet decides
    while (head !== undefined && this.mayBeDone(head)) {
      if (seq === head.nextSeq && len === 5 && pkt[p] === Hdr.Eof) break
      if (head.state === R.MaybeEof && head.kind === Kind.Prepare) this.deprecateEof = true
      this.pending.shift()
      this.emitDone(head)
      head = this.pending.peek()
    }
    if (head === undefined) {
      if (!this.quitSent && !this.orphanCounted) {
        this.orphanCounted = true
        this.ctx.unmatchedResponse()
      }
      // without the command, its answer cannot be read; wait for the next command's answer
      this.lose('s2c', this.s2c, -1, endUs)
      return
    }
    if (seq !== head.nextSeq) {
      this.ctx.count('sequence_mismatch')
      const next = head.started ? this.pending.at(1) : undefined
      if (next === undefined || next.started || seq !== next.nextSeq) {
        this.lose('s2c', this.s2c, -1, endUs)
        return
      }
      // the end of the head's answer was missed, and this packet starts the next command's answer
      this.pending.shift()
      head.partial = true
      this.emitDone(head)
      head = next
    }
    head.started = true
    head.respBytes += total
    head.endUs = endUs
    head.nextSeq = (seq + 1) & 0xff
    this.answer(head, pkt, p, pEnd, len)
    if (head.state === R.Done) {
      this.pending.shift()
      this.emitDone(head)
    }
  }

  private greetingOrRefusal(pkt: Buffer, p: number, pEnd: number, len: number, total: number, endUs: number): void {
    if (pkt[p] === Hdr.Err) {
      // the server refused the connection before any handshake (1130 host not allowed, 1040 too many
      // connections): reported as a failed LOGIN without request bytes
      const r = newReq(-1, Kind.Login, 'LOGIN', endUs, 0, 0)
      r.respBytes = total
      r.started = true
      r.attrs = { command: 'HANDSHAKE' }
      r.err = readErr(pkt, p, pEnd, this.ctx.limits.maxTextBytes)
      r.state = R.Done
      this.emitDone(r)
      this.goOff('closed')
      return
    }
    const g = readGreeting(pkt, p, Math.min(pEnd, p + len))
    if (g === undefined) {
      this.ctx.count('malformed_greeting')
      this.phase = Phase.Command
      return
    }
    this.serverCaps = g.capabilities
    this.serverVersion = g.version.slice(0, 64)
    this.phase = Phase.Greeted
  }

  /** advance `r`'s answer by one packet (payload pkt[p..pEnd), `len` bytes on the wire) */
  private answer(r: Req, pkt: Buffer, p: number, pEnd: number, len: number): void {
    const h = len > 0 ? pkt[p] : -1
    for (;;) {
      switch (r.state) {
        case R.First:
          this.first(r, pkt, p, pEnd, len, h)
          return
        case R.Columns:
          if (h === Hdr.Err) return this.fail(r, pkt, p, pEnd)
          if (--r.remaining <= 0) r.state = R.AfterColumns
          return
        case R.AfterColumns:
          if (h === Hdr.Eof && len === 5) {
            // the classic EOF after the column definitions
            if (this.deprecateEof === undefined) this.deprecateEof = false
            const st = terminatorStatus(pkt, p, pEnd, len)
            r.state = r.kind === Kind.Execute && st & Status.CURSOR_EXISTS ? R.Done : R.Rows
            return
          }
          if (h === Hdr.Eof && len < MAX_PACKET_PAYLOAD && r.cursor) {
            r.state = R.Done
            return
          }
          if (h !== Hdr.Err && this.deprecateEof === undefined) this.deprecateEof = true
          r.state = R.Rows
          continue
        case R.Rows:
          if (h === Hdr.Eof && len < MAX_PACKET_PAYLOAD) {
            const st = terminatorStatus(pkt, p, pEnd, len)
            if (len > 5 && this.deprecateEof === undefined) this.deprecateEof = true
            this.more(r, st)
            return
          }
          if (h === Hdr.Err) return this.fail(r, pkt, p, pEnd)
          r.rows++
          return
        case R.FieldDefs:
          if (h === Hdr.Eof && len < MAX_PACKET_PAYLOAD) r.state = R.Done
          else if (h === Hdr.Err) this.fail(r, pkt, p, pEnd)
          return
        case R.PrepParams:
        case R.PrepCols:
          if (--r.remaining > 0) return
          if (r.state === R.PrepParams && r.prepCols > 0) {
            r.then = R.PrepCols
            r.remaining = r.prepCols
          } else r.then = R.Done
          r.state = this.deprecateEof === true ? r.then : R.MaybeEof
          return
        case R.MaybeEof:
          if (h === Hdr.Eof && len === 5) {
            this.deprecateEof = false
            r.state = r.then
            return
          }
          // no EOF: a definition of the next block
          this.deprecateEof = true
          r.state = r.then
          if (r.state === R.Done) return
          continue
        default:
          return
      }
    }
  }

  private first(r: Req, pkt: Buffer, p: number, pEnd: number, len: number, h: number): void {
    if (h === Hdr.Err) return this.fail(r, pkt, p, pEnd)
    switch (r.kind) {
      case Kind.Login:
      case Kind.ChangeUser:
        if (h === Hdr.Ok) {
          r.state = R.Done
          if (r.kind === Kind.ChangeUser) this.statements.clear() // a new session: statements are gone
        }
        // else AuthSwitchRequest 0xfe / AuthMoreData 0x01 / AuthNextFactor 0x02: the client answers
        return
      case Kind.Prepare: {
        if (h !== Hdr.Ok || pEnd - p < 12) {
          this.ctx.count('malformed_prepare_ok')
          r.state = R.Done
          return
        }
        const id = pkt.readUInt32LE(p + 1)
        const cols = pkt.readUInt16LE(p + 5)
        const params = pkt.readUInt16LE(p + 7)
        r.stmtId = id
        r.attrs!.statement_id = String(id)
        this.remember(id, r)
        // metadata_follows (CLIENT_OPTIONAL_RESULTSET_METADATA): 0 = no definitions are sent
        const meta = len >= 13 && pEnd - p >= 13 ? pkt[p + 12] : 1
        if (meta === 0 || (params === 0 && cols === 0)) r.state = R.Done
        else if (params > 0) {
          r.state = R.PrepParams
          r.remaining = params
          r.prepCols = cols
        } else {
          r.state = R.PrepCols
          r.remaining = cols
        }
        return
      }
      case Kind.FieldList:
        r.state = h === Hdr.Eof ? R.Done : R.FieldDefs
        return
      case Kind.Fetch:
        if (h === Hdr.Eof && len < MAX_PACKET_PAYLOAD) r.state = R.Done
        else {
          r.rows++
          r.state = R.Rows
        }
        return
      case Kind.Query:
      case Kind.Execute:
        this.resultStart(r, pkt, p, pEnd, len, h)
        return
      default:
        // Simple, Statistics (a text packet), Binlog (the first event or EOF)
        if (h === Hdr.Ok && r.kind === Kind.Simple) this.okInfo(r, pkt, p, pEnd)
        r.state = R.Done
        return
    }
  }

  /** the first packet of one result: OK, LOCAL INFILE, or a column count */
  private resultStart(r: Req, pkt: Buffer, p: number, pEnd: number, len: number, h: number): void {
    if (h === Hdr.Ok) {
      const ok = this.okInfo(r, pkt, p, pEnd)
      this.more(r, ok)
      return
    }
    if (h === Hdr.LocalInfile && r.kind === Kind.Query) {
      // LOCAL INFILE request: the client sends the file's contents (seq+1...) and an empty packet; the
      // server's OK or ERR follows
      r.infile = true
      return
    }
    if (h === Hdr.Eof) {
      r.state = R.Done
      return
    }
    const o = readLenenc(pkt, p, pEnd, lenenc)
    const n = lenenc[0]
    if (o < 0 || n === 0 || n > MAX_COLUMNS) {
      this.ctx.count('malformed_column_count')
      r.state = R.Done
      return
    }
    r.resultSets++
    // metadata_follows after the count (MySQL CLIENT_OPTIONAL_RESULTSET_METADATA, MariaDB
    // MARIADB_CLIENT_CACHE_METADATA for COM_STMT_EXECUTE): 0 = the definitions are not resent
    const meta = o < p + len && o < pEnd ? pkt[o] : 1
    if (meta === 0) r.state = R.AfterColumns
    else {
      r.state = R.Columns
      r.remaining = n
    }
  }

  private okInfo(r: Req, pkt: Buffer, p: number, pEnd: number): number {
    const ok = readOk(pkt, p, pEnd)
    if (ok === undefined) return 0
    r.affectedRows += ok.affectedRows
    r.warnings += ok.warnings
    return ok.status
  }

  /** a result ended with status flags `st`: another follows, or the answer is complete */
  private more(r: Req, st: number): void {
    r.state = st & Status.MORE_RESULTS_EXISTS ? R.First : R.Done
  }

  private fail(r: Req, pkt: Buffer, p: number, pEnd: number): void {
    r.err = readErr(pkt, p, pEnd, this.ctx.limits.maxTextBytes) ?? { code: 0, message: '' }
    r.state = R.Done
  }

  private remember(id: number, r: Req): void {
    const text = r.resource ?? ''
    const verb = r.verb || 'unknown'
    this.lastPreparedId = id
    if (!this.statements.has(id) && this.statements.size >= this.ctx.limits.maxStatements) {
      const oldest = this.statements.keys().next().value as number
      this.statements.delete(oldest)
      this.ctx.count('statements_evicted')
    }
    this.statements.delete(id) // re-insert: newest
    this.statements.set(id, { verb, text })
    // a pipelined COM_STMT_EXECUTE of this statement (MariaDB id 0xffffffff) waiting behind
    for (let i = 1; i < this.pending.size; i++) {
      const q = this.pending.at(i)!
      if (q.kind === Kind.Execute && q.stmtId === 0xffffffff) {
        q.stmtId = id
        q.attrs!.statement_id = String(id)
      }
      if (q.kind === Kind.Execute && q.stmtId === id && q.method === 'STMT_EXECUTE') this.resolveStatement(q)
    }
  }

  /** states in which the answer may be complete already, with no end marker to wait for */
  private mayBeDone(r: Req): boolean {
    return (r.state === R.MaybeEof && r.then === R.Done) || (r.state === R.AfterColumns && r.cursor)
  }

  // ---- records --------------------------------------------------------------------------------------

  private emitDone(r: Req): void {
    // its end (OK, EOF or ERR) was read, or none is due
    const endRead = r.state === R.Done || this.mayBeDone(r)
    r.state = R.Done
    if (r.kind === Kind.Execute && r.method === 'STMT_EXECUTE') this.resolveStatement(r)
    const attrs = r.attrs ?? {}
    let status: string
    let error: boolean | null = false
    if (r.err !== undefined) {
      status = String(r.err.code)
      error = true
      attrs.error_message = r.err.message
      if (r.err.sqlState !== undefined) attrs.sqlstate = r.err.sqlState
      const name = ERROR_NAMES.get(r.err.code)
      if (name !== undefined) attrs.error_name = name
    } else if (r.partial && !endRead) {
      // its end (OK, EOF or an ERR in the middle of the rows) was not read: neither success nor failure
      status = 'unknown'
      error = null
    } else status = 'OK'
    if (r.resultSets > 0 || r.kind === Kind.Fetch) attrs.rows = String(r.rows)
    if (r.affectedRows > 0) attrs.affected_rows = String(r.affectedRows)
    if (r.warnings > 0) attrs.warnings = String(r.warnings)
    if (r.infile) attrs.local_infile = 'true'
    if (r.partial) attrs.partial = 'true'
    this.ctx.emit(this.record(r, status, error, r.endUs, attrs))
    if (r.kind === Kind.Login) {
      if (error) this.goOff('closed') // the server closes the connection after a failed login
      else if (this.compress) this.goOff('compressed') // every packet after the login OK is compressed
    } else if (r.kind === Kind.Binlog && !error) this.goOff('replication')
    else if (r.cmd === Cmd.ResetConnection && !error) this.statements.clear()
  }

  /**
   * A command whose answer never came (connection ended, pending cap) is reported with status null and
   * error true. One whose answer started but was cut short (capture gap, end of the capture inside a
   * result set) keeps what was seen: its ERR, else status 'unknown' (error null) marked partial.
   */
  private emitUnanswered(r: Req, tsUs: number): void {
    if (r.started && r.kind !== Kind.Login && r.kind !== Kind.ChangeUser) {
      r.partial = true
      this.emitDone(r)
      return
    }
    const attrs = r.attrs ?? {}
    this.ctx.emit(this.record(r, null, true, Math.max(tsUs, r.endUs), attrs))
  }

  private record(r: Req, status: string | null, error: boolean | null, endUs: number, attrs: Record<string, string>): ParsedExchange {
    const e: ParsedExchange = {
      method: r.method,
      status,
      error,
      startUs: r.startUs,
      endUs,
      reqBytes: r.reqBytes,
      respBytes: r.respBytes,
      attrs,
    }
    if (r.resource !== undefined) e.resource = r.resource
    return e
  }
}

/**
 * Skips one binary-protocol value of MySQL type `type` at b[o] (ProtocolBinary::*), returning the
 * offset after it or -1. https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_binary_resultset.html
 */
function skipBinaryValue(type: number, b: Buffer, o: number, end: number): number {
  let n: number
  switch (type) {
    case 6: // NULL
      n = 0
      break
    case 1: // TINY
    case 244: // BOOL
      n = 1
      break
    case 2: // SHORT
    case 13: // YEAR
      n = 2
      break
    case 3: // LONG
    case 9: // INT24
    case 4: // FLOAT
      n = 4
      break
    case 5: // DOUBLE
    case 8: // LONGLONG
      n = 8
      break
    case 7: // TIMESTAMP
    case 10: // DATE
    case 11: // TIME
    case 12: // DATETIME
    case 14: // NEWDATE
    case 17: // TIMESTAMP2
    case 18: // DATETIME2
    case 19: // TIME2
      if (o >= end) return -1
      n = 1 + b[o]
      break
    default: {
      // strings, decimals, blobs, JSON, BIT, ENUM, SET, GEOMETRY: length-encoded
      const v = readLenenc(b, o, end, lenenc)
      if (v < 0) return -1
      return v + lenenc[0] <= end ? v + lenenc[0] : -1
    }
  }
  return o + n <= end ? o + n : -1
}

export const mysqlParser: ProtocolParser = {
  id: 'mysql',
  // 3306 MySQL/MariaDB, 3307 a common second instance, 6033 ProxySQL's client port, 4000 TiDB
  ports: [3306, 3307, 6033, 4000],
  detect: (head, dir) => detectMysql(head, dir),
  create: (ctx) => new MysqlStream(ctx),
}

/** rows read one after another from a resync point before it is believed (3 packets or the terminator) */
const ROW_RUN = 3
/** a row packet longer than this is not believed while resyncing (text rows are lines of a table) */
const MAX_RESYNC_ROW = 64 * 1024
/** bytes of a candidate start looked at for a row boundary */
const RESYNC_SCAN = 4096

/**
 * A run of result-set row packets at buf[off]: headers whose sequence ids go up by one, lengths within
 * reason, ROW_RUN of them, or fewer ending with the set's terminator (0xfe, shorter than 9 bytes: EOF,
 * or the OK that replaces it). Returns the first packet's sequence id, -1 when not a run, 'more' when
 * the bytes run out first.
 */
function rowRun(buf: Buffer, off: number, end: number): number | 'more' {
  let p = off
  let seq = -1
  for (let k = 0; k < ROW_RUN; k++) {
    if (end - p < HEADER_BYTES + 1) return 'more'
    const len = payloadLength(buf, p)
    const sq = buf[p + 3]
    if (len === 0 || len > MAX_RESYNC_ROW) return -1
    if (k > 0 && sq !== ((seq + k) & 0xff)) return -1
    if (k === 0) seq = sq
    if (buf[p + 4] === Hdr.Eof && len < 9) return k > 0 ? seq : -1
    p += HEADER_BYTES + len
  }
  return seq
}

