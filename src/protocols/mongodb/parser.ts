// MongoDB wire protocol: commands paired with their replies by requestID <-> responseTo.
// Spec: https://www.mongodb.com/docs/manual/reference/mongodb-wire-protocol/ (layouts in wire.ts).
//
// Exchanges:
//   - OP_MSG: method = the command (the body document's first element name: find, insert, hello...),
//     resource = `$db` + "." + the first element's string value when the command acts on a collection
//     (find: "users" -> "app.users"; getMore names it in `collection`), else `$db` alone.
//   - OP_QUERY to "db.$cmd": a command, the same way (db from the namespace; a mongos `$query` wrapper is
//     looked into). OP_QUERY to any other collection is method 'find', resource the namespace: it is what
//     the server runs it as (3.2+ turns a legacy query into a find), so one collection's reads keep one
//     series when its clients move from legacy drivers to OP_MSG.
//   - OP_GET_MORE: method 'getMore', answered by an OP_REPLY.
//   - No reply ever comes for OP_INSERT / OP_UPDATE / OP_DELETE / OP_KILL_CURSORS, nor for an OP_MSG
//     request with moreToCome (unacknowledged writes): those are emitted at once, when their last byte
//     is seen, with status null and error false (nothing failed that anyone could see) and
//     attrs.reply = 'none', as the Redis parser does for CLIENT REPLY OFF.
//   - OP_COMPRESSED: the message is gathered whole (up to 4 MiB), its body decompressed (snappy, zlib,
//     zstd: compression.ts; at most 4 MiB) and read as the original message: the real command and
//     status, attrs.compressor. One over the cap or that does not decompress stays method
//     'compressed' (attrs.original_op, attrs.compressor from the clear prefix), its reply status
//     'unknown' with error null; counted ('compressed_over_cap', 'decompress_failed').
//   - Status of a command reply (DESIGN.md "MongoDB `ok` or error code"): 'ok' when ok is 1 and there
//     are no writeErrors / writeConcernError / legacy error string; else the error code (number) from
//     `code`, the first writeErrors entry or writeConcernError, or 'error' when none is given. OP_REPLY
//     with QueryFailure is an error (its `code`), CursorNotFound is 43 (the server's CursorNotFound code).
//     Replies to a non-command OP_QUERY hold data: only their flags are read.
//   - Exhaust cursors: a reply with moreToCome is followed by more replies whose responseTo is the
//     previous reply's requestID. The first reply closes the exchange; the rest are counted as
//     'streamed_reply', not as unmatched.
// Nothing but the command name, the database and the collection name goes into a record: SASL and
// authenticate payloads, filters and documents are never read.
//
// Framing: a message's bytes are never gathered whole past KEEP_BYTES. A message that arrives in one
// chunk is read in place; otherwise its first KEEP_BYTES are copied, the rest streams by, and when the
// document walk (bson-walk.ts) needs an element that lies beyond, a small probe window is taken where
// it starts (a 16 MB find reply has its `ok` after the cursor). messageLength outside [20, 48 MB] is not
// a message: the direction hunts for the next plausible header.

import { IdMatcher } from '../match.js'
import type { ParsedExchange, ParserContext, ProtocolParser } from '../types.js'
import type { Dir, EndReason, StreamHandler } from '../../tcp/types.js'
import { GIVE_UP, newDocInfo, resetDocInfo, walkElements, type DocInfo } from './bson-walk.js'
import { actsOnCollection, commandMethod, nameOk } from './commands.js'
import { decompressBody } from './compression.js'
import { detectMongo } from './detect.js'
import {
  COMPRESSORS, HEADER_BYTES, MAX_MESSAGE_BYTES, MAX_NS_BYTES, MSG_CHECKSUM_PRESENT, MSG_MORE_TO_COME, Op,
  QUERY_EXHAUST, REPLY_CURSOR_NOT_FOUND, REPLY_QUERY_FAILURE, isClientOp, isServerOp, opName,
  plausibleHeader, plausibleMessage,
} from './wire.js'

/** head of a message kept for reading (enough for every prefix, namespace and first elements) */
const KEEP_BYTES = 64 * 1024
/** probe window taken further on in a streaming message */
const PROBE_BYTES = 4 * 1024
/** bytes kept while hunting for a message start after a gap */
const HUNT_BYTES = 64 * 1024
/** exhaust replies followed at once per connection (a client runs one exhaust cursor per connection) */
const MAX_EXHAUST = 64
/** largest OP_COMPRESSED message gathered and largest body decompressed (4 MiB each) */
const MAX_INFLATED_BYTES = 4 * 1024 * 1024
/** the server's CursorNotFound error code (error_codes.yml) */
const CURSOR_NOT_FOUND_CODE = 43

const enum Mode {
  Frame,
  /** looking for a message start after a gap or a malformed header */
  Hunt,
}

const enum Phase {
  /** the opcode's fixed fields (always in the head window) */
  Prefix,
  /** OP_MSG sections, looking for the kind-0 body */
  Sections,
  /** top-level elements of the body document */
  Body,
  Done,
}

interface Req {
  method: string
  resource: string | undefined
  startUs: number
  reqEndUs: number
  reqBytes: number
  /** a command (its reply's document says ok / code), not a legacy query (its reply holds data) */
  command: boolean
  /** OP_QUERY with the Exhaust flag: its replies stream */
  exhaust: boolean
  attrs: Record<string, string> | undefined
}

/** the message being read in one direction */
class Msg {
  len = 0
  reqId = 0
  respTo = 0
  op = 0
  got = 0
  phase = Phase.Done
  /** absolute offset of what the analysis reads next */
  at = 0
  /** absolute offset of the body document's terminating NUL */
  docEnd = 0
  /** end of OP_MSG sections (before the checksum) */
  secEnd = 0
  /** OP_MSG flagBits, OP_QUERY flags or OP_REPLY responseFlags */
  flags = 0
  ns: string | undefined = undefined
  cursorNonZero = false
  numberReturned = 0
  origOp = 0
  compressor = 0
  /** an OP_COMPRESSED message whose body was decompressed: op is now the original opcode */
  inflated = false
  /** OP_COMMAND: the command name; OP_COMMAND(REPLY): the document that tells (args / ok) was read */
  cmdName: string | undefined = undefined
  legacyDoc = false
  readonly info: DocInfo = newDocInfo()
}

class Side {
  mode = Mode.Frame
  /** bytes were delivered: a later unknown-size gap lost data, not just a mid-stream join */
  seen = false
  readonly hdr = Buffer.alloc(HEADER_BYTES)
  hdrLen = 0
  inMsg = false
  msgStartUs = 0
  readonly m = new Msg()
  /** analysis window: message bytes [winBase, winBase + winLen), filled up to winCap */
  win: Buffer = Buffer.alloc(0)
  winBase = 0
  winLen = 0
  winCap = 0
  hunt: Buffer = Buffer.alloc(0)
  huntLen = 0
  huntScan = 0
  constructor(readonly dir: Dir) {}
}

export class MongoConnection implements StreamHandler {
  private readonly c2s = new Side('c2s')
  private readonly s2c = new Side('s2c')
  /** requests waiting for a reply by requestID; insertion order = age (an IdMatcher with a peek) */
  private readonly pending: IdMatcher<number, Req>
  /** requestIDs of replies sent with moreToCome: the next reply answers them */
  private readonly exhaust = new Set<number>()
  private ended = false

  constructor(private readonly ctx: ParserContext) {
    this.pending = new IdMatcher<number, Req>(Math.max(1, ctx.limits.maxPendingRequests), (r) => {
      ctx.count('pending_evicted')
      this.emitReq(r, null, true, r.reqEndUs, 0)
    })
  }

  oldestPendingUs(): number {
    let t = this.pending.oldest()?.startUs ?? Infinity
    const c = this.c2s
    if ((c.inMsg || c.hdrLen > 0) && c.msgStartUs < t) t = c.msgStartUs
    return t
  }

  data(dir: Dir, chunk: Buffer, tsUs: number): void {
    if (this.ended) return
    const s = dir === 'c2s' ? this.c2s : this.s2c
    s.seen = true
    this.feed(s, chunk, tsUs)
  }

  gap(dir: Dir, lostBytes: number, tsUs: number): void {
    if (this.ended) return
    const s = dir === 'c2s' ? this.c2s : this.s2c
    if (lostBytes === -1 && !s.seen) {
      // joined mid-stream: wait for a clean message start
      this.startHunt(s)
      return
    }
    if (s.mode === Mode.Hunt) {
      // what was held is not contiguous with what follows
      s.huntLen = 0
      s.huntScan = 0
      return
    }
    const m = s.m
    if (s.inMsg && lostBytes >= 0 && m.got + lostBytes <= m.len) {
      // inside a message of known length: step over the hole, read what the message still shows
      this.ctx.count(dir === 'c2s' ? 'gap_in_request' : 'gap_in_response')
      this.closeAnalysis(s)
      m.got += lostBytes
      if (m.got === m.len) this.finish(s, tsUs)
      return
    }
    if (lostBytes !== -1 || s.inMsg || s.hdrLen > 0) this.ctx.count(dir === 'c2s' ? 'gap_request' : 'gap_response')
    this.startHunt(s)
  }

  end(_reason: EndReason, tsUs: number): void {
    if (this.ended) return
    this.ended = true
    if (this.c2s.inMsg) this.ctx.count('truncated_request')
    for (const r of this.pending.drain()) this.emitReq(r, null, true, Math.max(tsUs, r.reqEndUs), 0)
    this.exhaust.clear()
  }

  // ---- framing ----

  private feed(s: Side, chunk: Buffer, tsUs: number): void {
    if (s.mode === Mode.Hunt) this.huntFeed(s, chunk, tsUs)
    else this.frame(s, chunk, tsUs)
  }

  private frame(s: Side, chunk: Buffer, tsUs: number): void {
    let off = 0
    while (off < chunk.length) {
      if (s.mode === Mode.Hunt) {
        this.huntFeed(s, chunk.subarray(off), tsUs)
        return
      }
      if (!s.inMsg) {
        if (s.hdrLen === 0) {
          s.msgStartUs = tsUs
          if (chunk.length - off >= HEADER_BYTES) {
            if (!this.startMsg(s, chunk, off)) continue // hunting from here
            const len = s.m.len
            if (chunk.length - off >= len) {
              // the whole message is here: read it in place
              const m = s.m
              m.got = len
              this.analyze(m, chunk.subarray(off, off + len), 0)
              m.phase = Phase.Done
              off += len
              this.finish(s, tsUs)
              continue
            }
            this.openHead(s, chunk, off)
            off += HEADER_BYTES
            continue
          }
        }
        const take = Math.min(HEADER_BYTES - s.hdrLen, chunk.length - off)
        chunk.copy(s.hdr, s.hdrLen, off, off + take)
        s.hdrLen += take
        off += take
        if (s.hdrLen < HEADER_BYTES) return
        s.hdrLen = 0
        if (!this.startMsg(s, s.hdr, 0)) {
          // hunt from these header bytes too, as when the header came in one piece
          this.huntFeed(s, s.hdr, tsUs)
          continue
        }
        this.openHead(s, s.hdr, 0)
        continue
      }
      const take = Math.min(chunk.length - off, s.m.len - s.m.got)
      this.body(s, chunk, off, take)
      off += take
      if (s.m.got === s.m.len) this.finish(s, tsUs)
    }
  }

  /** reads the header at b[off]; false (and hunting) when it is not one of this direction */
  private startMsg(s: Side, b: Buffer, off: number): boolean {
    const len = b.readInt32LE(off)
    const op = b.readInt32LE(off + 12)
    if (len < HEADER_BYTES + 4 || len > MAX_MESSAGE_BYTES || !(s.dir === 'c2s' ? isClientOp(op) : isServerOp(op))) {
      this.ctx.count(s.dir === 'c2s' ? 'malformed_request' : 'malformed_response')
      this.startHunt(s)
      return false
    }
    // memory does not depend on the length (only KEEP_BYTES are held), so a message over the cap is
    // still read; it is counted
    if (len > this.ctx.limits.maxFrameBytes) this.ctx.count('frame_over_max_frame_bytes')
    const m = s.m
    m.len = len
    m.reqId = b.readInt32LE(off + 4)
    m.respTo = b.readInt32LE(off + 8)
    m.op = op
    m.got = HEADER_BYTES
    m.phase = Phase.Prefix
    m.at = HEADER_BYTES
    m.flags = 0
    m.ns = undefined
    m.cursorNonZero = false
    m.numberReturned = 0
    m.origOp = 0
    m.compressor = 0
    m.inflated = false
    m.cmdName = undefined
    m.legacyDoc = false
    resetDocInfo(m.info)
    s.inMsg = true
    return true
  }

  /** the message continues past this chunk: its head is gathered in the window */
  private openHead(s: Side, b: Buffer, off: number): void {
    s.winBase = 0
    // a compressed message is gathered whole (up to the cap): its body is read only once decompressed
    s.winCap = Math.min(s.m.len, s.m.op === Op.Compressed ? MAX_INFLATED_BYTES : KEEP_BYTES)
    // the window grows with what arrives (a compressed message's up to its cap), not to its cap at once
    this.ensureWin(s, Math.min(s.winCap, KEEP_BYTES))
    b.copy(s.win, 0, off, off + HEADER_BYTES)
    s.winLen = HEADER_BYTES
  }

  private ensureWin(s: Side, n: number): void {
    if (s.win.length >= n) return
    const nb = Buffer.allocUnsafe(Math.min(Math.max(KEEP_BYTES + PROBE_BYTES, s.winCap), Math.max(n, s.win.length * 2, 1024)))
    s.win.copy(nb, 0, 0, s.winLen)
    s.win = nb
  }

  /** message bytes [got, got + take) are chunk[off, off + take) */
  private body(s: Side, chunk: Buffer, off: number, take: number): void {
    const m = s.m
    const pos = m.got
    const endPos = pos + take
    while (m.phase !== Phase.Done) {
      const a = Math.max(pos, s.winBase + s.winLen)
      const b = Math.min(endPos, s.winBase + s.winCap)
      if (b <= a) break
      this.ensureWin(s, s.winLen + (b - a))
      chunk.copy(s.win, s.winLen, off + (a - pos), off + (b - pos))
      s.winLen += b - a
      if (s.winLen < s.winCap) break
      this.runWindow(s)
    }
    m.got = endPos
  }

  /** the window is full: read it; when the analysis needs bytes further on, move the window there */
  private runWindow(s: Side): void {
    const m = s.m
    for (;;) {
      this.analyze(m, s.win.subarray(0, s.winLen), s.winBase)
      if (m.phase === Phase.Done) return
      const winEnd = s.winBase + s.winLen
      if (winEnd >= m.len || m.at <= s.winBase || m.at >= m.len) {
        m.phase = Phase.Done
        return
      }
      if (m.at < winEnd) {
        s.win.copy(s.win, 0, m.at - s.winBase, s.winLen)
        s.winLen = winEnd - m.at
      } else {
        s.winLen = 0
      }
      s.winBase = m.at
      s.winCap = Math.min(m.len - m.at, s.winLen + PROBE_BYTES)
      this.ensureWin(s, s.winCap)
      if (s.winLen < s.winCap) return
    }
  }

  /** a gap inside the message: what the window holds is all the analysis gets */
  private closeAnalysis(s: Side): void {
    const m = s.m
    if (m.phase === Phase.Done) return
    if (s.winBase + s.winLen > m.at || m.phase === Phase.Prefix) this.analyze(m, s.win.subarray(0, s.winLen), s.winBase)
    m.phase = Phase.Done
  }

  // ---- reading a message ----

  /** reads what it can of message `m` from window `w` (message bytes from absolute offset `base`) */
  private analyze(m: Msg, w: Buffer, base: number): void {
    for (;;) {
      switch (m.phase) {
        case Phase.Prefix:
          if (base !== 0) {
            m.phase = Phase.Done
            return
          }
          this.prefix(m, w)
          break
        case Phase.Sections: {
          if (m.at >= m.secEnd) {
            m.phase = Phase.Done
            return
          }
          const p = m.at - base
          if (p + 5 > w.length) return
          const kind = w[p]
          const n = w.readInt32LE(p + 1)
          if (kind === 0) {
            if (n < 5 || m.at + 1 + n > m.secEnd) {
              m.phase = Phase.Done
              return
            }
            m.docEnd = m.at + n // the NUL: section start + kind byte + n - 1
            m.at += 5
            m.phase = Phase.Body
          } else if (kind === 1 && n >= 4) {
            m.at += 1 + n
          } else {
            m.phase = Phase.Done
            return
          }
          break
        }
        case Phase.Body: {
          const r = walkElements(w, base, m.at, m.docEnd, m.info)
          if (r === GIVE_UP || r >= m.docEnd) {
            m.phase = Phase.Done
            return
          }
          m.at = r
          return
        }
        case Phase.Done:
          return
      }
    }
  }

  /** the opcode's fixed fields, from the message's head (w starts at the header) */
  private prefix(m: Msg, w: Buffer): void {
    m.phase = Phase.Done
    const at = HEADER_BYTES
    if (w.length < at + 4) return
    switch (m.op) {
      case Op.Msg:
        m.flags = w.readUInt32LE(at)
        m.secEnd = m.len - (m.flags & MSG_CHECKSUM_PRESENT ? 4 : 0)
        m.at = at + 4
        m.phase = Phase.Sections
        return
      case Op.Query: {
        m.flags = w.readUInt32LE(at)
        const nsEnd = this.namespace(m, w, at + 4)
        if (nsEnd > 0) this.openDoc(m, w, nsEnd + 8)
        return
      }
      case Op.Reply:
        if (w.length < at + 20) return
        m.flags = w.readUInt32LE(at)
        m.cursorNonZero = w.readInt32LE(at + 4) !== 0 || w.readInt32LE(at + 8) !== 0
        m.numberReturned = w.readInt32LE(at + 16)
        if (m.numberReturned > 0) this.openDoc(m, w, at + 20)
        return
      case Op.Insert:
      case Op.Update:
      case Op.Delete:
      case Op.GetMore:
        // Insert: int32 flags first; the others: int32 ZERO
        this.namespace(m, w, at + 4)
        return
      case Op.Compressed:
        if (w.length < at + 9) return
        m.origOp = w.readInt32LE(at)
        m.compressor = w[at + 8]
        this.inflate(m, w)
        return
      case Op.Command:
      case Op.CommandReply:
        this.legacyCommand(m, w)
        return
    }
  }

  /**
   * OP_COMPRESSED whose whole message is in `w`: decompress the body (compression.ts, at most
   * MAX_INFLATED_BYTES) and read the original message as if it had come as such. Its wire length stays
   * m.len; what cannot be decompressed stays 'compressed' (counted).
   */
  private inflate(m: Msg, w: Buffer): void {
    const at = HEADER_BYTES
    const size = w.readInt32LE(at + 4)
    if (w.length < m.len || size > MAX_INFLATED_BYTES) {
      this.ctx.count('compressed_over_cap')
      return
    }
    const body = decompressBody(m.compressor, w.subarray(at + 9, m.len), size, MAX_INFLATED_BYTES)
    if (body === null) {
      this.ctx.count(m.compressor === 3 ? 'zstd_not_decoded' : 'decompress_failed')
      return
    }
    const inner = Buffer.allocUnsafe(HEADER_BYTES + body.length)
    w.copy(inner, 0, 0, 12)
    inner.writeInt32LE(inner.length, 0)
    inner.writeInt32LE(m.origOp, 12)
    body.copy(inner, HEADER_BYTES)
    const wireLen = m.len
    m.op = m.origOp
    m.len = inner.length
    m.inflated = true
    m.phase = Phase.Prefix
    m.at = HEADER_BYTES
    this.analyze(m, inner, 0)
    // everything of the original message was in `inner`: nothing more to read from the wire bytes
    m.phase = Phase.Done
    m.len = wireLen
  }

  /**
   * OP_COMMAND (database, commandName, then two documents) and OP_COMMANDREPLY (two documents), read
   * from the message's head: the server reads commandArgs / commandReply first, the wire protocol
   * page lists metadata first, so the second document is read when the first is not the one: a
   * request's document whose first element is the command, a reply's document with `ok`.
   */
  private legacyCommand(m: Msg, w: Buffer): void {
    let at = HEADER_BYTES
    if (m.op === Op.Command) {
      const dbEnd = w.indexOf(0, at)
      if (dbEnd < 0 || dbEnd - at > MAX_NS_BYTES) return
      m.ns = w.toString('utf8', at, dbEnd)
      const nameEnd = w.indexOf(0, dbEnd + 1)
      if (nameEnd < 0 || nameEnd - dbEnd - 1 > MAX_NS_BYTES) return
      m.cmdName = w.toString('utf8', dbEnd + 1, nameEnd)
      at = nameEnd + 1
    }
    const end = Math.min(w.length, m.len)
    for (let doc = 0; doc < 2 && at + 5 <= end; doc++) {
      const n = w.readInt32LE(at)
      if (n < 5 || at + n > m.len) return
      resetDocInfo(m.info)
      walkElements(w, 0, at + 4, Math.min(at + n - 1, end), m.info)
      const found = m.op === Op.Command ? m.info.first?.toLowerCase() === m.cmdName?.toLowerCase() : m.info.ok !== undefined
      if (found) {
        m.legacyDoc = true
        return
      }
      at += n
    }
  }

  /** the cstring namespace at w[at]: kept in m.ns; returns the offset after its NUL, 0 when unreadable */
  private namespace(m: Msg, w: Buffer, at: number): number {
    const nul = w.indexOf(0, at)
    if (nul < 0 || nul - at > MAX_NS_BYTES) return 0
    m.ns = w.toString('utf8', at, nul)
    return nul + 1
  }

  private openDoc(m: Msg, w: Buffer, docAt: number): void {
    if (docAt + 4 > w.length) return
    const n = w.readInt32LE(docAt)
    if (n < 5 || docAt + n > m.len) return
    m.docEnd = docAt + n - 1
    m.at = docAt + 4
    m.phase = Phase.Body
  }

  // ---- exchanges ----

  private finish(s: Side, tsUs: number): void {
    s.inMsg = false
    // a window grown for a compressed message is not kept past it
    if (s.win.length > KEEP_BYTES + PROBE_BYTES) s.win = Buffer.alloc(0)
    if (s.dir === 'c2s') this.onRequest(s.m, s.msgStartUs, tsUs)
    else this.onReply(s.m, tsUs)
  }

  private onRequest(m: Msg, startUs: number, tsUs: number): void {
    const info = m.info
    let method: string
    let resource: string | undefined
    let command = false
    let oneway = false
    let attrs: Record<string, string> | undefined
    switch (m.op) {
      case Op.Msg:
        method = commandMethod(info.first)
        resource = this.commandResource(method, info.db, info)
        command = true
        oneway = (m.flags & MSG_MORE_TO_COME) !== 0
        break
      case Op.Query: {
        const ns = m.ns ?? ''
        const dot = ns.indexOf('.')
        if (dot > 0 && ns.slice(dot + 1) === '$cmd') {
          method = commandMethod(info.first)
          resource = this.commandResource(method, ns.slice(0, dot), info)
          command = true
        } else {
          method = 'find'
          resource = this.ns(m.ns)
        }
        attrs = { op: 'OP_QUERY' }
        break
      }
      case Op.GetMore:
        method = 'getMore'
        resource = this.ns(m.ns)
        attrs = { op: 'OP_GET_MORE' }
        break
      case Op.Command:
        method = commandMethod(m.cmdName)
        resource = m.legacyDoc ? this.commandResource(method, m.ns, info) : nameOk(m.ns) ? this.cut(m.ns!) : undefined
        command = true
        attrs = { op: 'OP_COMMAND' }
        break
      case Op.Insert:
      case Op.Update:
      case Op.Delete:
        method = m.op === Op.Insert ? 'insert' : m.op === Op.Update ? 'update' : 'delete'
        resource = this.ns(m.ns)
        oneway = true
        attrs = { op: opName(m.op) }
        break
      case Op.KillCursors:
        method = 'killCursors'
        oneway = true
        attrs = { op: 'OP_KILL_CURSORS' }
        break
      case Op.Compressed:
        method = 'compressed'
        this.ctx.count('compressed')
        oneway = m.origOp === Op.Insert || m.origOp === Op.Update || m.origOp === Op.Delete || m.origOp === Op.KillCursors
        attrs = { op: 'OP_COMPRESSED', original_op: opName(m.origOp), compressor: COMPRESSORS[m.compressor] ?? 'unknown' }
        break
      default:
        method = 'unknown'
    }
    if (m.inflated) attrs = { ...attrs, compressor: COMPRESSORS[m.compressor] ?? 'unknown' }
    const req: Req = {
      method, resource, startUs, reqEndUs: tsUs, reqBytes: m.len, command,
      exhaust: m.op === Op.Query && (m.flags & QUERY_EXHAUST) !== 0, attrs,
    }
    if (oneway) {
      req.attrs = { ...attrs, reply: 'none' }
      this.emitReq(req, null, false, tsUs, 0)
      return
    }
    // the same id reused before an answer, or the cap: the older request is lost (evicted as unanswered)
    this.pending.put(m.reqId, req)
  }

  private onReply(m: Msg, tsUs: number): void {
    const req = this.pending.take(m.respTo)
    const streams = (m.op === Op.Msg && (m.flags & MSG_MORE_TO_COME) !== 0) || (m.op === Op.Reply && m.cursorNonZero)
    if (req === undefined) {
      if (this.exhaust.delete(m.respTo)) {
        this.ctx.count('streamed_reply')
        if (streams) this.addExhaust(m.reqId)
      } else {
        this.ctx.unmatchedResponse()
      }
      return
    }
    const status = this.replyStatus(m, req)
    this.emitReq(req, status, status === 'unknown' ? null : status !== 'ok', tsUs, m.len)
    if (streams && (m.op === Op.Msg || req.exhaust)) this.addExhaust(m.reqId)
  }

  private addExhaust(id: number): void {
    if (this.exhaust.size >= MAX_EXHAUST) this.exhaust.delete(this.exhaust.values().next().value as number)
    this.exhaust.add(id)
  }

  private replyStatus(m: Msg, req: Req): number | string {
    const info = m.info
    switch (m.op) {
      case Op.Compressed:
        return 'unknown'
      case Op.Reply:
        if (m.flags & REPLY_QUERY_FAILURE) return codeOr(info.code)
        if (m.flags & REPLY_CURSOR_NOT_FOUND) return CURSOR_NOT_FOUND_CODE
        if (!req.command || m.numberReturned === 0) return 'ok'
        break
      case Op.CommandReply:
        // neither document held `ok`: nothing tells success
        if (!m.legacyDoc) return 'unknown'
        break
    }
    if (info.ok !== undefined && !(info.ok >= 1)) return codeOr(info.code)
    if (info.writeErrors !== undefined) return codeOr(info.writeErrors)
    if (info.writeConcernError !== undefined) return codeOr(info.writeConcernError)
    if (info.errText) return codeOr(info.code)
    return 'ok'
  }

  /** db.collection for a command, db alone when it names no collection */
  private commandResource(method: string, db: string | undefined, info: DocInfo): string | undefined {
    if (!nameOk(db)) return undefined
    const coll = method === 'getMore' ? info.collection : actsOnCollection(method) ? info.firstStr : undefined
    return nameOk(coll) ? this.cut(db + '.' + coll) : this.cut(db)
  }

  private ns(ns: string | undefined): string | undefined {
    return nameOk(ns) ? this.cut(ns) : undefined
  }

  private cut(s: string): string {
    const max = this.ctx.limits.maxTextBytes
    return s.length > max ? s.slice(0, max) + '…' : s
  }

  private emitReq(r: Req, status: number | string | null, error: boolean | null, endUs: number, respBytes: number): void {
    const e: ParsedExchange = {
      method: r.method,
      status,
      error,
      startUs: r.startUs,
      endUs: Math.max(endUs, r.startUs),
      reqBytes: r.reqBytes,
      respBytes,
    }
    if (r.resource !== undefined) e.resource = r.resource
    if (r.attrs !== undefined) e.attrs = r.attrs
    this.ctx.emit(e)
  }

  // ---- resync ----

  private startHunt(s: Side): void {
    s.mode = Mode.Hunt
    s.inMsg = false
    s.hdrLen = 0
    s.huntLen = 0
    s.huntScan = 0
  }

  /** collects bytes until a plausible message start appears, then frames from there */
  private huntFeed(s: Side, chunk: Buffer, tsUs: number): void {
    let chunkAt = 0
    while (chunkAt < chunk.length) {
      const take = Math.min(chunk.length - chunkAt, HUNT_BYTES - s.huntLen)
      if (s.hunt.length < s.huntLen + take) {
        const nb = Buffer.allocUnsafe(Math.min(HUNT_BYTES, Math.max(s.huntLen + take, s.hunt.length * 2, 1024)))
        s.hunt.copy(nb, 0, 0, s.huntLen)
        s.hunt = nb
      }
      chunk.copy(s.hunt, s.huntLen, chunkAt, chunkAt + take)
      s.huntLen += take
      chunkAt += take
      const full = s.huntLen === HUNT_BYTES
      const buf = s.hunt.subarray(0, s.huntLen)
      let p = s.huntScan
      for (; p < buf.length; p++) {
        const r = this.candidate(buf, p, s.dir, full)
        if (r === -1) break
        if (r === 1) {
          if (p > 0) this.ctx.count('resync_skipped_bytes', p)
          // frame from the held bytes; the hunt buffer is handed over, so a new hunt cannot write into it
          const held = s.hunt
          s.hunt = Buffer.alloc(0)
          s.huntLen = 0
          s.huntScan = 0
          s.mode = Mode.Frame
          this.frame(s, held.subarray(p, buf.length), tsUs)
          if (s.hunt.length === 0) s.hunt = held
          if (chunkAt < chunk.length) this.feed(s, chunk.subarray(chunkAt), tsUs)
          return
        }
      }
      s.huntScan = p
      if (full) {
        // full without a start: keep only what is still undecided
        const keep = Math.min(s.huntLen - p, HUNT_BYTES / 2)
        this.ctx.count('resync_skipped_bytes', s.huntLen - keep)
        s.hunt.copy(s.hunt, 0, s.huntLen - keep, s.huntLen)
        s.huntLen = keep
        s.huntScan = 0
      }
    }
  }

  /**
   * 1 when a message starts at `p`: plausible header and body start, confirmed by the next header, by
   * ending exactly where the held bytes end, or (a long message, held bytes full) by its body alone.
   * 0 when not, -1 when more bytes are needed to tell.
   */
  private candidate(buf: Buffer, p: number, dir: Dir, full: boolean): -1 | 0 | 1 {
    const len = plausibleMessage(buf, p, dir, MAX_MESSAGE_BYTES)
    if (len === 0) return 0
    if (len === -1) return -1
    const next = p + len
    if (next === buf.length) return 1
    if (next > buf.length) return full ? 1 : -1
    if (buf.length - next < HEADER_BYTES) return full ? 1 : -1
    return plausibleHeader(buf, next, dir, MAX_MESSAGE_BYTES) ? 1 : 0
  }
}

function codeOr(code: number | null | undefined): number | string {
  return typeof code === 'number' && Number.isFinite(code) ? code : 'error'
}

export const mongoParser: ProtocolParser = {
  id: 'mongodb',
  ports: [27017, 27018, 27019],
  detect: detectMongo,
  create: (ctx: ParserContext) => new MongoConnection(ctx),
}
