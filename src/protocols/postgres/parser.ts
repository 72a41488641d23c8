// PostgreSQL frontend/backend protocol 3.0: queries paired with their results.
// Spec: https://www.postgresql.org/docs/current/protocol-flow.html and protocol-message-formats.html
// (wire layout and codes in messages.ts).
//
// Exchanges:
//   - Simple query: one exchange per Query message, ended by ReadyForQuery. A Query may hold several
//     statements ("BEGIN; UPDATE ...; COMMIT"): the server runs them as one unit (one implicit
//     transaction, one ReadyForQuery, and an error aborts the rest), so the client sees one round trip
//     with one latency; splitting it per statement would invent timings the wire does not show.
//     resource = the whole text normalized, method = the first statement's verb, status = the first
//     error's SQLSTATE.
//   - Extended query: one exchange per Execute. Its request is every message since the previous
//     Execute/Sync (Parse, Bind, Describe...), plus the Sync right after it; its response is what the
//     server sends for them, up to CommandComplete / EmptyQueryResponse / PortalSuspended / ErrorResponse,
//     or up to ReadyForQuery when a Sync follows the Execute directly (the usual single-statement round
//     trip). Several Executes before one Sync (pipelining) are several exchanges. The statement text comes
//     from Parse: named statements are kept per connection (limits.maxStatements, oldest dropped first),
//     the unnamed one until the next unnamed Parse; portals map to statements until the transaction ends.
//     After an error the server skips everything up to Sync: skipped Executes are counted, not emitted.
//     A Parse/Bind that fails in a batch without Execute (a failed prepare) is emitted as its own error.
//   - COPY: CopyData/CopyDone/CopyFail of either side belong to the Query/Execute that started the copy.
//   - NoticeResponse, ParameterStatus: part of the current response's bytes, never a response of their
//     own; NotificationResponse (LISTEN/NOTIFY) is counted, not paired.
//   - Startup, authentication and CancelRequest are not exchanges; password and SASL messages are never
//     read. An SSLRequest answered 'S' (or GSSENCRequest answered 'G') means the rest is encrypted:
//     parsing stops and 'tls' is counted.
// When the statement is unknown (capture began after its Parse), method falls back to the verb of the
// CommandComplete tag.

import { Framer } from '../framer.js'
import { FifoMatcher } from '../match.js'
import type { ParsedExchange, ParserContext, ProtocolParser } from '../types.js'
import type { Dir, EndReason, StreamHandler } from '../../tcp/types.js'
import { confirmedMessageAt, detectPostgres } from './detect.js'
import {
  Be, CANCEL_REQUEST, Fe, GSSENC_REQUEST, MAX_STARTUP_BYTES, PROTOCOL_3_0, SSL_REQUEST, plausibleMessage,
} from './messages.js'
import { normalizeSql, scanWindow, sqlVerb, tagVerb } from './sql.js'

/** a parsed statement: only its labels are kept, never the raw text */
interface Statement {
  method: string
  resource: string | undefined
}

const UNKNOWN_STATEMENT: Statement = { method: 'unknown', resource: undefined }

const enum OpKind {
  Query,
  Execute,
  /** a Sync with no Execute right before it: closes a batch */
  Sync,
  FunctionCall,
}

interface Op {
  kind: OpKind
  stmt: Statement
  startUs: number
  reqEndUs: number
  reqBytes: number
  respBytes: number
  /** first SQLSTATE of an ErrorResponse */
  sqlstate: string | null
  /** CommandComplete (or equivalent) seen */
  done: boolean
  /** an Execute followed directly by Sync: it ends at ReadyForQuery */
  endsBatch: boolean
  /** skipped by the server after an earlier error in the batch */
  skipped: boolean
  /** verb of the first CommandComplete tag */
  tagVerb: string | undefined
}

const enum Mode {
  /** client: untyped startup-phase packets expected */
  Startup,
  Typed,
  /** server: one unframed byte answers SSLRequest ('S'/'N') or GSSENCRequest ('G'/'N') */
  EncryptionAnswer,
  /** looking for a clean message start after a gap */
  Hunt,
  /** encrypted or over: ignore everything */
  Off,
}

/** bytes kept while hunting for a message start; a candidate longer than this is not confirmed */
const HUNT_BYTES = 64 * 1024
/** statement and portal names kept (longer ones are cut: names are identifiers, 63 bytes in PostgreSQL) */
const MAX_NAME = 128
/** SQLSTATE: five digits or upper-case letters (https://www.postgresql.org/docs/current/errcodes-appendix.html) */
const SQLSTATE = /^[0-9A-Z]{5}$/

class Direction {
  mode: Mode
  readonly framer: Framer
  hunt: Buffer = Buffer.alloc(0)
  huntLen = 0
  huntScan = 0
  /** bytes were delivered: a later unknown-size gap lost data, not just a mid-stream join */
  seen = false
  constructor(mode: Mode, framer: (d: Direction) => Framer) {
    this.mode = mode
    this.framer = framer(this)
  }
}

export class PostgresConnection implements StreamHandler {
  private readonly ops: FifoMatcher<Op>
  private readonly c2s: Direction
  private readonly s2c: Direction
  private readonly statements = new Map<string, Statement>()
  private readonly portals = new Map<string, Statement>()
  /** messages of the extended protocol since the last Execute/Sync: they belong to the next one */
  private groupStartUs = -1
  private groupBytes = 0
  private groupStmt: Statement | undefined
  /** time of the chunk being read: a frame completed in it ends at this time */
  private nowUs = 0
  /** a completion without a request was counted since the last ReadyForQuery */
  private unmatchedSinceReady = false
  private db: string | undefined
  private ended = false

  /** start of the oldest operation not yet emitted: queued, else a batch being sent, else a frame arriving */
  oldestPendingUs(): number {
    const q = this.ops.peek()
    if (q !== undefined) return q.startUs
    if (this.groupStartUs >= 0) return this.groupStartUs
    return this.c2s.framer.partialStartUs
  }

  constructor(private readonly ctx: ParserContext) {
    const maxFrameBytes = ctx.limits.maxFrameBytes
    this.ops = new FifoMatcher<Op>(ctx.limits.maxPendingRequests, (op) => {
      ctx.count('pending_evicted')
      this.emitOp(op, null, op.reqEndUs)
    })
    this.c2s = new Direction(Mode.Startup, (d) =>
      new Framer({
        maxFrameBytes,
        frameLength: (buf, off) => this.frameLength(d, true, buf, off),
        onFrame: (f, ts) => this.onClient(f, f.length, ts),
        onOversize: (head, total, ts) => this.onClient(head, total, ts),
        onMalformed: () => this.malformed(d, 'malformed_request'),
      }),
    )
    this.s2c = new Direction(Mode.Typed, (d) =>
      new Framer({
        maxFrameBytes,
        frameLength: (buf, off) => this.frameLength(d, false, buf, off),
        onFrame: (f, ts) => this.onServer(f, f.length, ts),
        onOversize: (head, total, ts) => this.onServer(head, total, ts),
        onMalformed: () => this.malformed(d, 'malformed_response'),
      }),
    )
  }

  data(dir: Dir, chunk: Buffer, tsUs: number): void {
    if (this.ended) return
    const d = dir === 'c2s' ? this.c2s : this.s2c
    this.nowUs = tsUs
    d.seen = true
    if (d.mode === Mode.Off) return
    if (d.mode === Mode.Hunt) {
      this.huntFeed(d, dir === 'c2s', chunk, tsUs)
      return
    }
    d.framer.feed(chunk, tsUs)
  }

  gap(dir: Dir, lostBytes: number, tsUs: number): void {
    if (this.ended) return
    const d = dir === 'c2s' ? this.c2s : this.s2c
    if (d.mode === Mode.Off) return
    if (lostBytes === -1 && !d.seen) {
      // joined mid-stream: what came before this direction's first byte was never ours to pair
      this.startHunt(d)
      return
    }
    if (d.mode !== Mode.Hunt && d.framer.gap(lostBytes)) return // the gap fell inside a frame being skipped
    if (lostBytes !== -1 || d.framer.buffered > 0) this.ctx.count(dir === 'c2s' ? 'gap_request' : 'gap_response')
    this.startHunt(d)
    if (dir === 'c2s') {
      this.groupStartUs = -1
      this.groupBytes = 0
      this.groupStmt = undefined
      return
    }
    // responses were lost, how many is unknown: report what waits now instead of pairing it with the
    // wrong results later; what was read of it (an error) stays, else its status is unknown (its
    // answer may be in the gap: neither success nor failure was read)
    if (this.ops.size > 0) {
      this.ctx.count('gap_flushed', this.ops.size)
      for (const op of this.ops.drain()) if (!op.skipped) this.emitOp(op, op.sqlstate ?? 'unknown', tsUs, { response: 'lost_in_gap' })
    }
  }

  end(_reason: EndReason, tsUs: number): void {
    if (this.ended) return
    this.ended = true
    for (const op of this.ops.drain()) {
      if (op.skipped) continue
      // a request whose completion or error was seen but whose ReadyForQuery was not is still answered
      // ("partial is not failed")
      if (op.done) this.emitOp(op, op.sqlstate ?? 'OK', op.reqEndUs > tsUs ? op.reqEndUs : tsUs)
      else this.emitOp(op, null, tsUs)
    }
  }

  // ---- framing ----

  private frameLength(d: Direction, client: boolean, buf: Buffer, off: number): number {
    const avail = buf.length - off
    if (d.mode === Mode.Startup) {
      if (avail < 8) return -1
      const len = buf.readUInt32BE(off)
      const code = buf.readUInt32BE(off + 4)
      if (code === SSL_REQUEST || code === GSSENC_REQUEST || code === CANCEL_REQUEST || code >>> 16 === PROTOCOL_3_0 >>> 16) {
        return len >= 8 && len <= MAX_STARTUP_BYTES ? len : -2
      }
      // no startup packet: a connection seen from its middle without a gap; read typed messages
      if (plausibleMessage(buf, off, client, this.ctx.limits.maxFrameBytes) > 0) {
        d.mode = Mode.Typed
      } else {
        return -2
      }
    }
    if (d.mode === Mode.EncryptionAnswer) {
      // one byte, unless an old server answers with an ErrorResponse
      if (buf[off] !== Be.ErrorResponse) return 1
      d.mode = Mode.Typed
    }
    if (avail < 5) return -1
    const len = buf.readUInt32BE(off + 1)
    return len < 4 ? -2 : len + 1
  }

  private malformed(d: Direction, reason: string): void {
    this.ctx.count(reason)
    this.startHunt(d)
  }

  private startHunt(d: Direction): void {
    d.mode = Mode.Hunt
    d.huntLen = 0
    d.huntScan = 0
    d.framer.reset()
  }

  /** collect bytes until a confirmed message start appears, then hand the rest to the framer */
  private huntFeed(d: Direction, client: boolean, chunk: Buffer, tsUs: number): void {
    let chunkAt = 0
    while (chunkAt < chunk.length) {
      const take = Math.min(chunk.length - chunkAt, HUNT_BYTES - d.huntLen)
      if (d.hunt.length < d.huntLen + take) {
        const nb = Buffer.allocUnsafe(Math.min(HUNT_BYTES, Math.max(d.huntLen + take, d.hunt.length * 2, 1024)))
        d.hunt.copy(nb, 0, 0, d.huntLen)
        d.hunt = nb
      }
      chunk.copy(d.hunt, d.huntLen, chunkAt, chunkAt + take)
      d.huntLen += take
      chunkAt += take
      const buf = d.hunt.subarray(0, d.huntLen)
      let p = d.huntScan
      for (; p < buf.length; p++) {
        const r = confirmedMessageAt(buf, p, client, HUNT_BYTES)
        if (r === -1) break
        if (r === 1) {
          d.mode = Mode.Typed
          d.framer.reset()
          d.framer.feed(buf.subarray(p), tsUs)
          d.huntLen = 0
          d.huntScan = 0
          if (chunkAt < chunk.length) this.data(client ? 'c2s' : 's2c', chunk.subarray(chunkAt), tsUs)
          return
        }
      }
      d.huntScan = p
      if (d.huntLen === HUNT_BYTES) {
        // full without a confirmed start: keep only what is still undecided
        const keep = Math.min(d.huntLen - p, HUNT_BYTES / 2)
        d.hunt.copy(d.hunt, 0, d.huntLen - keep, d.huntLen)
        d.huntLen = keep
        d.huntScan = 0
      }
    }
  }

  // ---- client messages ----

  private onClient(f: Buffer, total: number, tsUs: number): void {
    const d = this.c2s
    if (d.mode === Mode.Startup) {
      this.onStartupPacket(f)
      return
    }
    const t = f[0]
    switch (t) {
      case Fe.Query: {
        this.closeGroup()
        const stmt = this.statement(f, 5)
        this.pushOp(OpKind.Query, stmt, tsUs, total)
        return
      }
      case Fe.Parse: {
        const name = cstr(f, 5, MAX_NAME)
        const stmt = this.statement(f, name.next)
        if (name.s === '') this.statements.delete('')
        else if (!this.statements.has(name.s) && this.statements.size >= this.ctx.limits.maxStatements) {
          const oldest = this.statements.keys().next().value as string
          this.statements.delete(oldest)
          this.ctx.count('statements_evicted')
        }
        this.statements.set(name.s, stmt)
        this.groupStmt = stmt
        this.addToGroup(tsUs, total)
        return
      }
      case Fe.Bind: {
        const portal = cstr(f, 5, MAX_NAME)
        const name = cstr(f, portal.next, MAX_NAME)
        const stmt = this.statements.get(name.s) ?? UNKNOWN_STATEMENT
        if (!this.portals.has(portal.s) && this.portals.size >= this.ctx.limits.maxStatements) {
          this.portals.delete(this.portals.keys().next().value as string)
          this.ctx.count('portals_evicted')
        }
        this.portals.set(portal.s, stmt)
        if (this.groupStmt === undefined) this.groupStmt = stmt
        this.addToGroup(tsUs, total)
        return
      }
      case Fe.Execute: {
        const portal = cstr(f, 5, MAX_NAME)
        const stmt = this.portals.get(portal.s) ?? UNKNOWN_STATEMENT
        const startUs = this.groupStartUs >= 0 ? this.groupStartUs : tsUs
        const bytes = this.groupBytes + total
        this.groupStartUs = -1
        this.groupBytes = 0
        this.groupStmt = undefined
        this.pushOp(OpKind.Execute, stmt, startUs, bytes)
        return
      }
      case Fe.Sync: {
        const last = this.ops.last()
        if (this.groupStartUs < 0 && last !== undefined && last.kind === OpKind.Execute && !last.endsBatch && !last.skipped) {
          last.endsBatch = true
          last.reqBytes += total
          last.reqEndUs = this.nowUs
          return
        }
        const startUs = this.groupStartUs >= 0 ? this.groupStartUs : tsUs
        const bytes = this.groupBytes + total
        const stmt = this.groupStmt ?? UNKNOWN_STATEMENT
        this.groupStartUs = -1
        this.groupBytes = 0
        this.groupStmt = undefined
        this.pushOp(OpKind.Sync, stmt, startUs, bytes)
        return
      }
      case Fe.Close: {
        const name = cstr(f, 6, MAX_NAME)
        if (f[5] === 0x53 /* S */) this.statements.delete(name.s)
        else this.portals.delete(name.s)
        this.addToGroup(tsUs, total)
        return
      }
      case Fe.Describe:
      case Fe.Flush:
        this.addToGroup(tsUs, total)
        return
      case Fe.FunctionCall:
        this.closeGroup()
        this.pushOp(OpKind.FunctionCall, { method: 'FUNCTION CALL', resource: undefined }, tsUs, total)
        return
      case Fe.CopyData:
      case Fe.CopyDone:
      case Fe.CopyFail: {
        // COPY FROM STDIN data: part of the Query/Execute that is copying
        const last = this.ops.last()
        if (last !== undefined) {
          last.reqBytes += total
          last.reqEndUs = this.nowUs
        }
        return
      }
      case Fe.Password:
        // PasswordMessage, SASLInitialResponse, SASLResponse, GSSResponse: secrets, never read
        return
      case Fe.Terminate:
        return
      default:
        this.ctx.count('unknown_request_type')
    }
  }

  private onStartupPacket(f: Buffer): void {
    const code = f.readUInt32BE(4)
    switch (code) {
      case SSL_REQUEST:
      case GSSENC_REQUEST:
        this.s2c.mode = Mode.EncryptionAnswer
        return
      case CANCEL_REQUEST:
        // asks the server to cancel a query running on another connection; the server just closes
        this.c2s.mode = Mode.Off
        return
    }
    // StartupMessage: user, database, options... as name\0value\0 pairs; only the database is kept
    let off = 8
    while (off < f.length && f[off] !== 0) {
      const k = cstr(f, off, 64)
      const v = cstr(f, k.next, 64)
      if (k.s === 'database') this.db = v.s
      off = v.next
    }
    this.c2s.mode = Mode.Typed
    this.startupReady = true
  }

  private statement(f: Buffer, at: number): Statement {
    const max = this.ctx.limits.maxTextBytes
    let end = f.indexOf(0, at)
    if (end < 0) end = f.length
    const raw = f.toString('utf8', at, Math.min(end, at + scanWindow(max)))
    const resource = normalizeSql(end - at > scanWindow(max) ? raw + ' ' : raw, max)
    if (resource === '') return { method: 'EMPTY', resource: undefined }
    return { method: sqlVerb(resource), resource }
  }

  private addToGroup(tsUs: number, bytes: number): void {
    if (this.groupStartUs < 0) this.groupStartUs = tsUs
    this.groupBytes += bytes
  }

  /** Parse/Bind/... left without Execute or Sync before a Query: no exchange of their own; forget them */
  private closeGroup(): void {
    if (this.groupStartUs < 0) return
    this.groupStartUs = -1
    this.groupBytes = 0
    this.groupStmt = undefined
  }

  private pushOp(kind: OpKind, stmt: Statement, startUs: number, reqBytes: number): void {
    this.ops.push({
      kind, stmt, startUs, reqEndUs: this.nowUs, reqBytes, respBytes: 0, sqlstate: null, done: false,
      endsBatch: false, skipped: false, tagVerb: undefined,
    })
  }

  // ---- server messages ----

  private onServer(f: Buffer, total: number, _tsUs: number): void {
    const d = this.s2c
    if (d.mode === Mode.EncryptionAnswer) {
      const b = f[0]
      if (b === 0x53 /* S */ || b === 0x47 /* G */) {
        // TLS or GSSAPI encryption from here on: nothing more is readable
        this.ctx.count(b === 0x53 ? 'tls' : 'gssenc')
        this.ctx.encrypted?.(b === 0x53 ? 'tls' : 'gssenc')
        this.c2s.mode = Mode.Off
        this.s2c.mode = Mode.Off
        return
      }
      d.mode = Mode.Typed
      if (b !== 0x4e /* N */) this.ctx.count('bad_encryption_answer')
      return
    }
    const head = this.firstLive()
    switch (f[0]) {
      case Be.ReadyForQuery:
        this.onReady(f, total)
        return
      case Be.CommandComplete:
        this.onComplete(head, total, cstr(f, 5, 64).s)
        return
      case Be.EmptyQueryResponse:
      case Be.PortalSuspended:
        this.onComplete(head, total, undefined)
        return
      case Be.ErrorResponse:
        this.onError(head, f, total)
        return
      case Be.NotificationResponse:
        return
      case Be.NoticeResponse:
        if (head !== undefined) head.respBytes += total
        return
      case Be.Authentication:
      case Be.BackendKeyData:
      case Be.NegotiateProtocolVersion:
        return
      case Be.CopyInResponse:
      case Be.CopyOutResponse:
      case Be.CopyBothResponse:
        // the server accepted the COPY: from here the request is answered, even if the copy (a
        // replication stream with CopyBoth) runs until the connection ends
        if (head !== undefined) {
          head.respBytes += total
          head.done = true
        }
        return
      case Be.ParameterStatus:
      case Be.ParseComplete:
      case Be.BindComplete:
      case Be.CloseComplete:
      case Be.ParameterDescription:
      case Be.RowDescription:
      case Be.NoData:
      case Be.DataRow:
      case Be.CopyData:
      case Be.CopyDone:
      case Be.FunctionCallResponse:
        if (head !== undefined) head.respBytes += total
        return
      default:
        this.ctx.count('unknown_response_type')
    }
  }

  /** the oldest op the server has not skipped */
  private firstLive(): Op | undefined {
    for (let i = 0; i < this.ops.size; i++) {
      const op = this.ops.at(i)!
      if (!op.skipped) return op
    }
    return undefined
  }

  private onComplete(head: Op | undefined, total: number, tag: string | undefined): void {
    if (head === undefined) {
      this.unmatched()
      return
    }
    head.respBytes += total
    if (head.tagVerb === undefined && tag !== undefined) head.tagVerb = tagVerb(tag)
    if (head.kind === OpKind.Execute) {
      head.done = true
      if (!head.endsBatch) this.finish(head)
    } else if (head.kind === OpKind.Sync) {
      this.ctx.count('unexpected_completion')
    } else {
      head.done = true
    }
  }

  private onError(head: Op | undefined, f: Buffer, total: number): void {
    const code = errorCode(f)
    if (head === undefined) {
      // a FATAL outside any request: authentication failure, admin shutdown, idle timeout
      this.ctx.count(this.startupReady ? 'startup_error' : 'error_without_request')
      return
    }
    head.respBytes += total
    if (head.sqlstate === null) head.sqlstate = code
    if (head.kind !== OpKind.Execute) {
      // answered, even if its ReadyForQuery is never seen
      if (head.kind !== OpKind.Sync) head.done = true
      return
    }
    head.done = true
    // the server now skips every message up to Sync: later Executes of this batch will get nothing
    if (!head.endsBatch) {
      let i = 0
      while (i < this.ops.size && this.ops.at(i) !== head) i++
      for (i++; i < this.ops.size; i++) {
        const op = this.ops.at(i)!
        if (op.kind !== OpKind.Execute) break
        op.skipped = true
        if (op.endsBatch) break
      }
      this.finish(head)
    }
  }

  private onReady(f: Buffer, total: number): void {
    if (f.length > 5 && f[5] === 0x49 /* I: idle, no transaction */) this.portals.clear()
    if (this.ops.size === 0) {
      // the first ReadyForQuery after startup answers nothing; later ones answer requests not seen
      if (this.startupReady) this.startupReady = false
      else if (!this.unmatchedSinceReady) this.ctx.unmatchedResponse()
      this.unmatchedSinceReady = false
      return
    }
    this.startupReady = false
    this.unmatchedSinceReady = false
    // ReadyForQuery answers the oldest Sync / Query / FunctionCall: everything before it is over
    for (;;) {
      const op = this.ops.shift()
      if (op === undefined) return
      if (op.skipped) {
        if (op.endsBatch) return
        continue
      }
      const closes = op.kind !== OpKind.Execute || op.endsBatch
      if (closes) op.respBytes += total
      switch (op.kind) {
        case OpKind.Execute:
          if (op.done) this.emitOp(op, op.sqlstate ?? 'OK', this.nowUs)
          else {
            this.ctx.count('missing_completion')
            this.emitOp(op, op.sqlstate, this.nowUs)
          }
          break
        case OpKind.Sync:
          // a batch without Execute: only a failure (a Parse or Bind error) is worth an exchange
          if (op.sqlstate !== null) this.emitOp(op, op.sqlstate, this.nowUs, { phase: 'prepare' })
          break
        default:
          this.emitOp(op, op.sqlstate ?? 'OK', this.nowUs)
      }
      if (closes) return
    }
  }

  /** a StartupMessage was seen: the next ReadyForQuery ends the startup, it answers no request */
  private startupReady = false

  private unmatched(): void {
    if (!this.unmatchedSinceReady) this.ctx.unmatchedResponse()
    this.unmatchedSinceReady = true
  }

  /** emits an Execute that completed before its batch's end */
  private finish(op: Op): void {
    // it is the oldest live op: drop it (and skipped ones before it) from the queue
    while (this.ops.size > 0) {
      const x = this.ops.shift()!
      if (x === op) break
    }
    this.emitOp(op, op.sqlstate ?? 'OK', this.nowUs)
  }

  private emitOp(op: Op, status: string | null, endUs: number, attrs?: Record<string, string>): void {
    let method = op.stmt.method
    if (method === 'unknown' && op.tagVerb !== undefined) method = op.tagVerb
    const e: ParsedExchange = {
      method,
      status,
      error: status === 'unknown' ? null : status === null || status !== 'OK',
      startUs: op.startUs,
      endUs: Math.max(endUs, op.startUs),
      reqBytes: op.reqBytes,
      respBytes: op.respBytes,
    }
    if (op.stmt.resource !== undefined) e.resource = op.stmt.resource
    if (attrs !== undefined || this.db !== undefined) e.attrs = { ...(this.db !== undefined ? { db: this.db } : {}), ...attrs }
    this.ctx.emit(e)
  }
}

/** a NUL-terminated string at `off` (cut at `max` chars); a missing NUL ends at the buffer's end */
function cstr(b: Buffer, off: number, max: number): { s: string; next: number } {
  let end = b.indexOf(0, off)
  if (end < 0) end = b.length
  return { s: b.toString('utf8', off, Math.min(end, off + max)), next: end + 1 }
}

/** the SQLSTATE ('C' field) of an ErrorResponse; 'XX000' (internal_error) when absent or malformed */
function errorCode(f: Buffer): string {
  let off = 5
  while (off < f.length && f[off] !== 0) {
    const field = f[off]
    const v = cstr(f, off + 1, 16)
    if (field === 0x43 /* C */) return SQLSTATE.test(v.s) ? v.s : 'XX000'
    off = v.next
  }
  return 'XX000'
}

export const postgresParser: ProtocolParser = {
  id: 'postgresql',
  ports: [5432, 6432],
  detect: detectPostgres,
  create: (ctx: ParserContext) => new PostgresConnection(ctx),
}
