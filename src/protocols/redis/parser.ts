// Redis: commands paired with replies in order (RESP2 and RESP3).
// Spec: https://redis.io/docs/latest/develop/reference/protocol-spec/ ; pub/sub:
// https://redis.io/docs/latest/develop/interact/pubsub/ ; CLIENT REPLY, MONITOR, MULTI/EXEC: the command pages.
//
// One exchange per command. Replies answer commands first in, first out (pipelining: hundreds may be
// outstanding), except what the server pushes on its own, which is never a response:
//   - pub/sub messages: RESP3 '>' pushes, and on a RESP2 connection in subscribed mode the arrays
//     ["message", channel, payload], ["pmessage", pattern, channel, payload], ["smessage", channel, payload];
//   - MONITOR lines ("+1700000000.123456 [0 127.0.0.1:1234] \"get\" \"k\"") after MONITOR's +OK;
//   - client-side caching invalidations (RESP3 pushes).
// SUBSCRIBE a b c is answered by three confirmations ["subscribe", ch, count]; the exchange ends at the
// last. UNSUBSCRIBE without arguments gets one confirmation per channel (unknown here): the first ends the
// exchange, the rest are taken as pushes.
// MULTI/EXEC: each queued command is its own exchange answered by +QUEUED (attrs.queued); EXEC is one
// exchange answered by the array of results.
// CLIENT REPLY OFF / SKIP: commands the server will not answer are emitted at once, when their last byte
// is seen, with status null and error false (attrs.reply = 'off'): the server ran them (INFO commandstats
// counts them) but their outcome is unknown. CLIENT REPLY OFF and SKIP themselves get no reply either.
//
// Labels: method is the command, upper case, with the subcommand for container commands (CONFIG GET);
// arguments are never read past the third word, so keys, values and AUTH/HELLO passwords are never kept.
// status is 'OK' for any non-error reply, else the error code (the first word of the error: ERR,
// WRONGTYPE, MOVED, NOAUTH...), with error true.

import { FifoMatcher } from '../match.js'
import type { ParserContext, ProtocolParser } from '../types.js'
import type { Dir, EndReason, StreamHandler } from '../../tcp/types.js'
import { isContainer, methodOf } from './commands.js'
import { detectRedis } from './detect.js'
import { RespReader, RespType, type RespMessage } from './resp.js'

interface PendingCommand {
  method: string
  startUs: number
  /** time of the request's last byte */
  reqEndUs: number
  reqBytes: number
  respBytes: number
  /** pub/sub confirmations still expected, and their kind ('subscribe', 'punsubscribe'...) */
  confirms: number
  pubsub: string | null
  /** c2s stream offset just past the command (gaps included); -1 when offsets are not known */
  endOff: number
}

/** pub/sub confirmation kinds: replies to (P|S)(UN)SUBSCRIBE, one per channel */
const CONFIRM_KINDS: ReadonlySet<string> = new Set([
  'subscribe', 'psubscribe', 'ssubscribe', 'unsubscribe', 'punsubscribe', 'sunsubscribe',
])

/** pushed messages and their element counts */
const MESSAGE_KINDS: ReadonlyMap<string, number> = new Map([
  ['message', 3],
  ['pmessage', 4],
  ['smessage', 3],
])

/** a MONITOR line: "<unix seconds>.<micros> [<db> <addr>] ..." */
const MONITOR_LINE = /^\d{9,}\.\d+ \[/

/** error codes are one upper-case word (https://redis.io/docs/latest/develop/reference/protocol-spec/#simple-errors) */
const ERROR_CODE = /^[A-Z][A-Z0-9_-]{0,31}$/

export class RedisConnection implements StreamHandler {
  private readonly pending: FifoMatcher<PendingCommand>
  private readonly c2s: RespReader
  private readonly s2c: RespReader
  /** RESP2 subscribed mode: message arrays are pushes */
  private subscribed = false
  private monitoring = false
  /** CLIENT REPLY OFF is in force */
  private replyOff = false
  /** CLIENT REPLY SKIP: the next command gets no reply */
  private skipNext = false
  private ended = false
  /** a direction has delivered bytes: a later unknown-size gap lost data, not just a mid-stream join */
  private readonly seen = { c2s: false, s2c: false }
  /** c2s stream offset of the chunk being fed (gaps included); -1 once a gap of unknown size hid it */
  private c2sBase = 0
  /**
   * Commands were lost in a c2s gap that ended at this offset: their replies still come, first. A
   * reply sent before the server had acknowledged the first command after the gap (peerAcked) cannot
   * answer it: it answers a lost command. -1: no such gap pending.
   */
  private lostUntil = -1
  /** peerAcked of the s2c chunk being fed: c2s bytes the server had acknowledged when sending it */
  private s2cAcked = -1

  constructor(private readonly ctx: ParserContext) {
    this.pending = new FifoMatcher<PendingCommand>(ctx.limits.maxPendingRequests, (r) => {
      ctx.count('pending_evicted')
      this.unanswered(r, r.reqEndUs)
    })
    const maxLineBytes = Math.max(ctx.limits.maxLineBytes, ctx.limits.maxFrameBytes)
    this.c2s = new RespReader({
      client: true,
      maxBulkBytes: ctx.limits.maxFrameBytes,
      maxLineBytes,
      onMessage: (m, r) => this.onCommand(m, r),
      onMalformed: (reason) => ctx.count('malformed_request_' + reason),
    })
    this.s2c = new RespReader({
      client: false,
      maxBulkBytes: ctx.limits.maxFrameBytes,
      maxLineBytes,
      onMessage: (m, r) => this.onReply(m, r),
      onMalformed: (reason) => ctx.count('malformed_reply_' + reason),
    })
  }

  /** start of the oldest command not yet emitted (replies come in order): queued, else arriving */
  oldestPendingUs(): number {
    const q = this.pending.peek()
    return q !== undefined ? q.startUs : this.c2s.partialStartUs
  }

  data(dir: Dir, chunk: Buffer, tsUs: number, peerAcked = -1): void {
    if (this.ended) return
    this.seen[dir] = true
    if (dir === 'c2s') {
      this.c2s.feed(chunk, tsUs)
      if (this.c2sBase >= 0) this.c2sBase += chunk.length
    } else {
      this.s2cAcked = peerAcked
      this.s2c.feed(chunk, tsUs)
    }
  }

  gap(dir: Dir, lostBytes: number, tsUs: number): void {
    if (this.ended) return
    if (lostBytes === -1 && !this.seen[dir]) {
      // joined mid-stream: what came before this direction's first byte was never ours to pair
      ;(dir === 'c2s' ? this.c2s : this.s2c).hunt()
      return
    }
    if (dir === 'c2s') {
      // commands were lost: their replies will still come, before those of later commands. What the
      // server had acknowledged when it sent a reply (peerAcked) tells a reply to a lost command from
      // one to a command after the gap (onReply); in a pipeline whose commands were all acknowledged
      // before the replies left, it cannot, and pairing stays FIFO.
      if (lostBytes !== -1 || this.c2s.midMessage) this.ctx.count('gap_request')
      this.c2s.hunt()
      if (lostBytes > 0 && this.c2sBase >= 0) {
        this.c2sBase += lostBytes
        this.lostUntil = this.c2sBase
      } else this.c2sBase = -1 // an unknown amount: offsets and peerAcked no longer line up
      return
    }
    // replies were lost, how many is unknown: every command sent so far may have lost its reply, so
    // report them now, status unknown (their replies may be in the gap: nothing was read, neither
    // success nor failure), rather than pair them with the wrong replies later
    if (lostBytes !== -1 || this.s2c.midMessage) this.ctx.count('gap_reply')
    this.s2c.hunt()
    // replies to commands lost on the other side may have been in this gap too: stop looking for them
    this.lostUntil = -1
    if (this.pending.size > 0) {
      this.ctx.count('gap_flushed', this.pending.size)
      for (const r of this.pending.drain()) this.emit(r, 'unknown', null, Math.max(tsUs, r.reqEndUs), { response: 'lost_in_gap' })
    }
  }

  end(_reason: EndReason, tsUs: number): void {
    if (this.ended) return
    this.ended = true
    for (const r of this.pending.drain()) this.unanswered(r, tsUs)
  }

  private onCommand(m: RespMessage, r: RespReader): void {
    let words: number
    if (m.type === RespType.Array) {
      // *0 and *-1 are skipped by Redis without a reply (processMultibulkBuffer)
      if (m.count <= 0) return
      words = m.count
    } else {
      words = m.inlineWords
    }
    const name = r.str(0)
    const sub = words > 1 && name !== undefined && isContainer(name.toUpperCase()) ? r.str(1) : undefined
    const method = methodOf(name, sub)
    const cmd: PendingCommand = {
      method,
      startUs: m.startUs,
      reqEndUs: m.endUs,
      reqBytes: m.bytes,
      respBytes: 0,
      confirms: 0,
      pubsub: null,
      endOff: this.c2sBase >= 0 ? this.c2sBase + r.endOffsetInChunk : -1,
    }
    if (method === 'CLIENT REPLY') {
      const mode = words > 2 ? r.str(2)?.toUpperCase() : undefined
      if (mode === 'OFF' || mode === 'SKIP') {
        this.replyOff = mode === 'OFF'
        this.skipNext = mode === 'SKIP'
        this.noReply(cmd)
        return
      }
      if (mode === 'ON') {
        this.replyOff = false
        this.skipNext = false
      }
    } else if (this.replyOff || this.skipNext) {
      this.skipNext = false
      this.noReply(cmd)
      return
    }
    switch (method) {
      case 'SUBSCRIBE':
      case 'PSUBSCRIBE':
      case 'SSUBSCRIBE':
        // one confirmation per channel; with no channel the reply is an error, which ends it anyway
        cmd.pubsub = method.toLowerCase()
        cmd.confirms = Math.max(1, words - 1)
        break
      case 'UNSUBSCRIBE':
      case 'PUNSUBSCRIBE':
      case 'SUNSUBSCRIBE':
        cmd.pubsub = method.toLowerCase()
        cmd.confirms = Math.max(1, words - 1)
        break
    }
    this.pending.push(cmd)
  }

  private onReply(m: RespMessage, r: RespReader): void {
    const t = m.type
    const head = this.pending.peek()
    if (t === RespType.Push || (t === RespType.Array && m.count >= 3)) {
      const kind = pubsubKind(r)
      if (kind !== undefined && CONFIRM_KINDS.has(kind) && m.count === 3) {
        // ["subscribe", channel, subscriptions now]: RESP2 leaves subscribed mode at 0
        const now = r.int(2)
        this.subscribed = Number.isNaN(now) ? !kind.endsWith('unsubscribe') : now > 0
        if (head !== undefined && head.pubsub === kind) {
          head.respBytes += m.bytes
          if (--head.confirms <= 0) {
            this.pending.shift()
            this.emit(head, 'OK', false, m.endUs)
          }
        }
        // else: a further confirmation of an UNSUBSCRIBE without arguments, or one from before the
        // capture: not a reply to anything
        return
      }
      if (kind !== undefined && MESSAGE_KINDS.get(kind) === m.count) {
        if (t === RespType.Push || this.subscribed || head === undefined) {
          // a published message: pushed, not a reply (a RESP2 connection seen mid-stream shows it too)
          if (t === RespType.Array) this.subscribed = true
          return
        }
      }
    }
    if (t === RespType.Push) {
      // other pushes (client-side caching "invalidate", ...) are never replies
      return
    }
    if (this.monitoring && t === RespType.SimpleString) {
      const s = r.str(0)
      if (s !== undefined && MONITOR_LINE.test(s)) return
    }
    if (this.lostUntil >= 0 && head !== undefined && head.endOff > this.lostUntil && this.s2cAcked >= 0) {
      if (this.s2cAcked < head.endOff) {
        // the server had not yet received the head command when it sent this: a lost command's reply
        this.ctx.count('reply_to_lost_command')
        this.ctx.unmatchedResponse()
        return
      }
      this.lostUntil = -1
    }
    const cmd = this.pending.shift()
    if (cmd === undefined) {
      this.ctx.unmatchedResponse()
      return
    }
    cmd.respBytes += m.bytes
    if (t === RespType.SimpleError || t === RespType.BulkError) {
      this.emit(cmd, errorCode(r.str(0)), true, m.endUs)
      return
    }
    switch (cmd.method) {
      case 'MONITOR':
        this.monitoring = true
        break
      case 'RESET':
        // RESET leaves pub/sub and MONITOR modes and turns replies back on
        this.monitoring = false
        this.subscribed = false
        break
    }
    let attrs: Record<string, string> | undefined
    if (t === RespType.SimpleString && r.str(0) === 'QUEUED') attrs = { queued: 'true' }
    this.emit(cmd, 'OK', false, m.endUs, attrs)
  }

  private noReply(cmd: PendingCommand): void {
    this.ctx.emit({
      method: cmd.method,
      status: null,
      error: false,
      startUs: cmd.startUs,
      endUs: cmd.reqEndUs,
      reqBytes: cmd.reqBytes,
      respBytes: 0,
      attrs: { reply: 'off' },
    })
  }

  private unanswered(cmd: PendingCommand, atUs: number): void {
    this.ctx.emit({
      method: cmd.method,
      status: null,
      error: true,
      startUs: cmd.startUs,
      endUs: Math.max(atUs, cmd.reqEndUs),
      reqBytes: cmd.reqBytes,
      respBytes: cmd.respBytes,
    })
  }

  private emit(cmd: PendingCommand, status: string, error: boolean | null, endUs: number, attrs?: Record<string, string>): void {
    const e = {
      method: cmd.method,
      status,
      error,
      startUs: cmd.startUs,
      endUs,
      reqBytes: cmd.reqBytes,
      respBytes: cmd.respBytes,
    }
    this.ctx.emit(attrs === undefined ? e : { ...e, attrs })
  }
}

/** first element of a top-level array or push, lower case, when it is a short string */
function pubsubKind(r: RespReader): string | undefined {
  const t = r.slotTypeOf(0)
  if (t !== RespType.BulkString && t !== RespType.SimpleString && t !== RespType.Verbatim) return undefined
  const s = r.str(0)
  return s === undefined || s.length > 12 ? undefined : s.toLowerCase()
}

/** the error code of an error reply: its first word when upper case, else the generic ERR */
function errorCode(text: string | undefined): string {
  if (text === undefined) return 'ERR'
  const sp = text.indexOf(' ')
  const word = sp < 0 ? text : text.slice(0, sp)
  return ERROR_CODE.test(word) ? word : 'ERR'
}

export const redisParser: ProtocolParser = {
  id: 'redis',
  ports: [6379, 6380, 26379],
  detect: detectRedis,
  create: (ctx: ParserContext) => new RedisConnection(ctx),
}
