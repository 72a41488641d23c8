// One direction of a TCP connection turned back into a byte stream (gopacket reassembly, packetbeat
// tcp.go): in-order segments are handed on at once as the caller's own view (zero copy); segments
// that arrive ahead of a hole are copied into a bounded buffer and handed on when the hole fills.
// A hole that cannot fill any more (the peer acknowledged past it, a buffer cap was hit, the
// connection ends) is reported as a gap of known size and delivery continues after it. A FIN alone
// does not close a hole before it: the missing segment is often retransmitted right after the FIN;
// the peer's ACK of the FIN (or RST, idle expiry, shutdown) does.
//
// Sequence space of one direction (RFC 9293 §3.4):
//
//   ISN | SYN takes one number | data bytes ... | FIN takes one number
//   ^isn  ^isn+1 = first data byte                 ^finSeq = seq + payload length of the FIN segment
//
// Stream offset: bytes delivered plus bytes declared lost (gaps of known size), counted from the
// first data byte (or from the first segment seen when the direction was joined mid-stream).
// `nextSeq` is the sequence number of the byte at offset `offset`; the two always move together.
//
// Buffer lifetime: the payload passed to segment() is borrowed for the call. In-order bytes are
// delivered from it directly; only out-of-order bytes are copied (into exactly-sized buffers, so a
// small piece never pins a larger pool slab).

import type { Limits } from '../config.js'
import { seqAdd, seqDiff } from './seq.js'

/**
 * Largest forward distance a segment or an ACK may be from the next expected byte: the largest window
 * TCP can advertise (RFC 7323 §2.3: 65535 << 14, just under 2^30). Anything further ahead is not this
 * stream (an old connection's numbers, garbage) and is dropped rather than buffered.
 */
export const MAX_WINDOW = 1 << 30

/** Why an out-of-order segment could not simply be buffered (C.tcpOooDropped label `reason`). */
export type OooDropReason = 'segments_cap' | 'bytes_cap' | 'out_of_window'

/**
 * What a Reassembler reports, synchronously, while segment()/ackedTo()/flush() run. The receiver
 * tells directions apart by the Reassembler it is given (the flow table owns two of them).
 */
export interface ReassemblyEvents {
  /** in-order bytes; `chunk` is borrowed for the call */
  onData(r: Reassembler, chunk: Buffer, tsUs: number, peerAcked: number): void
  /** lostBytes > 0: a hole of that size; -1: joined mid-stream, bytes before the first one are unknown */
  onGap(r: Reassembler, lostBytes: number, tsUs: number): void
  /** a segment carried bytes already delivered or already buffered (counted once per segment) */
  onRetransmit(r: Reassembler): void
  /** a cap forced a hole to be declared lost, or a segment was too far ahead to keep */
  onOooDrop(r: Reassembler, reason: OooDropReason): void
}

/** A buffered out-of-order piece: `len` sequence numbers from `seq`, of which `data` holds the first ones. */
interface Piece {
  seq: number
  /** sequence space covered; len > data.length when the capture cut the segment (snap length) */
  len: number
  /** private copy of the captured bytes */
  data: Buffer
  tsUs: number
  peerAcked: number
}

const EMPTY = Buffer.alloc(0)
/** the `ooo` of every direction with nothing buffered (most of them): never written to, replaced on the first insert */
const NO_PIECES: Piece[] = []

// the yes/no state of a direction, bits of one small integer (seven boolean fields cost 48 B more per
// direction, 96 B per idle flow)
/** a base sequence number is known (from a SYN or the first segment seen) */
const STARTED = 1
/** the base came from a non-SYN segment: the handler gets gap(-1) before this direction's first event */
const MIDSTREAM = 2
const SYN_SEEN = 4
const FIN_SEEN = 8
/** everything up to the FIN has been delivered or declared lost */
const FIN_DONE = 16
/** some data or gap was reported for this direction */
const EMITTED = 32
const ANNOUNCED = 64

export class Reassembler {
  private bits = 0
  isn = 0
  /** sequence number of the next byte to deliver */
  nextSeq = 0
  /** stream offset of nextSeq: bytes delivered + bytes declared lost */
  offset = 0
  /** sequence number the FIN occupies (one past the last data byte) */
  finSeq = 0

  private put(bit: number, on: boolean): void {
    this.bits = on ? this.bits | bit : this.bits & ~bit
  }

  get started(): boolean { return (this.bits & STARTED) !== 0 }
  set started(on: boolean) { this.put(STARTED, on) }
  get midstream(): boolean { return (this.bits & MIDSTREAM) !== 0 }
  set midstream(on: boolean) { this.put(MIDSTREAM, on) }
  get synSeen(): boolean { return (this.bits & SYN_SEEN) !== 0 }
  set synSeen(on: boolean) { this.put(SYN_SEEN, on) }
  get finSeen(): boolean { return (this.bits & FIN_SEEN) !== 0 }
  set finSeen(on: boolean) { this.put(FIN_SEEN, on) }
  get finDone(): boolean { return (this.bits & FIN_DONE) !== 0 }
  set finDone(on: boolean) { this.put(FIN_DONE, on) }
  get emitted(): boolean { return (this.bits & EMITTED) !== 0 }
  set emitted(on: boolean) { this.put(EMITTED, on) }
  private get announced(): boolean { return (this.bits & ANNOUNCED) !== 0 }
  private set announced(on: boolean) { this.put(ANNOUNCED, on) }
  /** out-of-order pieces, sorted by seq, never overlapping, all after nextSeq */
  private ooo: Piece[] = NO_PIECES
  /** captured bytes held in `ooo` */
  private oooBytes = 0

  constructor(
    private readonly events: ReassemblyEvents,
    private readonly limits: Pick<Limits, 'maxOutOfOrderBytes' | 'maxOutOfOrderSegments'>,
  ) {}

  /** out-of-order pieces and bytes held right now (tests, memory accounting) */
  get buffered(): { segments: number; bytes: number } {
    return { segments: this.ooo.length, bytes: this.oooBytes }
  }

  /**
   * A SYN from this direction with initial sequence number `isn`. The first data byte is isn + 1. A SYN
   * seen after this direction's first segment (capture reordered the handshake) still sets the base,
   * as long as nothing was reported yet.
   */
  syn(isn: number): void {
    if (this.synSeen) return
    this.synSeen = true
    this.isn = isn
    const base = seqAdd(isn, 1)
    if (!this.started || (!this.emitted && seqDiff(base, this.nextSeq) <= 0)) {
      this.started = true
      this.midstream = false
      this.nextSeq = base
    }
  }

  /**
   * One segment of this direction. `seq` is the sequence number of its first payload byte (the caller
   * adds 1 for a SYN), `payload` the captured bytes, `payloadLen` the length on the wire (greater when
   * the snap length cut it), `fin` its FIN flag. `peerAcked` is passed on with the bytes (see
   * StreamHandler.data).
   */
  segment(seq: number, payload: Buffer, payloadLen: number, fin: boolean, tsUs: number, peerAcked: number): void {
    if (!this.started) {
      this.started = true
      this.midstream = true
      this.nextSeq = seq
    }
    let len = payloadLen
    if (fin && !this.finSeen) {
      this.finSeen = true
      this.finSeq = seqAdd(seq, len)
    }
    if (this.finSeen) {
      // nothing exists after the FIN (RFC 9293 §3.10.7.4 "eighth, check the FIN bit"): clip
      const room = seqDiff(this.finSeq, seq)
      if (room < len) len = room > 0 ? room : 0
    }
    if (len > 0) this.accept(seq, payload, len, tsUs, peerAcked)
    this.checkFin()
  }

  /**
   * The other direction acknowledged every byte of this one before `ack`. Bytes before it that were
   * never seen will not be sent again, so the hole is reported lost and buffered data after it flows.
   */
  ackedTo(ack: number, tsUs: number): void {
    if (!this.started) return
    if (this.finSeen && seqDiff(ack, this.finSeq) > 0) ack = this.finSeq // the FIN's own number
    const d = seqDiff(ack, this.nextSeq)
    if (d <= 0 || d > MAX_WINDOW) return
    while (seqDiff(ack, this.nextSeq) > 0) {
      const first = this.ooo[0]
      this.skipTo(first !== undefined && seqDiff(first.seq, ack) < 0 ? first.seq : ack, tsUs)
      this.drain()
    }
    this.checkFin()
  }

  /**
   * Stream offset that an ACK number from the other direction stands for, or -1 when unknown (no
   * base yet, the ACK is before the base, or implausibly far ahead).
   */
  ackOffset(ack: number): number {
    if (!this.started) return -1
    if (this.finSeen && seqDiff(ack, this.finSeq) > 0) ack = this.finSeq
    const d = seqDiff(ack, this.nextSeq)
    if (d > MAX_WINDOW) return -1
    const off = this.offset + d
    return off < 0 ? -1 : off
  }

  /**
   * The connection is ending: every hole is lost, everything buffered is delivered, and when the FIN
   * was seen, bytes still missing before it are one last gap.
   */
  flush(tsUs: number): void {
    while (this.ooo.length > 0) {
      this.skipTo((this.ooo[0] as Piece).seq, tsUs)
      this.drain()
    }
    if (this.finSeen && seqDiff(this.finSeq, this.nextSeq) > 0) this.skipTo(this.finSeq, tsUs)
    this.checkFin()
  }

  private accept(seq: number, payload: Buffer, len: number, tsUs: number, peerAcked: number): void {
    let counted = false
    let capHit = false
    for (;;) {
      let rel = seqDiff(seq, this.nextSeq)
      if (rel < 0) {
        // starts before the next expected byte: a retransmission, whole or overlapping
        if (!counted) {
          counted = true
          this.events.onRetransmit(this)
        }
        if (rel + len <= 0) return
        const k = -rel
        payload = k >= payload.length ? EMPTY : payload.subarray(k)
        seq = this.nextSeq
        len -= k
        rel = 0
      }
      if (rel === 0) {
        const first = this.ooo[0]
        if (!counted && first !== undefined && seqDiff(seqAdd(seq, len), first.seq) > 0) {
          counted = true
          this.events.onRetransmit(this) // covers bytes already buffered; drain() trims them
        }
        this.deliver(payload, len, tsUs, peerAcked)
        this.drain()
        return
      }
      if (rel > MAX_WINDOW) {
        this.events.onOooDrop(this, 'out_of_window')
        return
      }
      const refused = this.insert(seq, payload, len, tsUs, peerAcked, counted)
      if (refused === null) return
      if (!capHit) {
        capHit = true
        this.events.onOooDrop(this, refused)
      }
      // a cap is hit: declare the first hole lost (up to the first buffered piece or to this
      // segment, whichever comes first), deliver what follows it, and try again
      const first = this.ooo[0]
      this.skipTo(first !== undefined && seqDiff(first.seq, seq) < 0 ? first.seq : seq, tsUs)
      this.drain()
    }
  }

  /**
   * Buffers the parts of an out-of-order segment not already buffered. Returns null when done (or
   * nothing was new), or the cap that refused it (nothing buffered then).
   */
  private insert(
    seq: number,
    payload: Buffer,
    len: number,
    tsUs: number,
    peerAcked: number,
    counted: boolean,
  ): OooDropReason | null {
    const cap = payload.length < len ? payload.length : len
    // uncovered ranges [from, to) relative to seq, found by walking the sorted pieces
    let ranges: number[] | undefined
    let at = 0 // where the first range goes in `ooo`
    let cur = 0
    for (let i = 0; i < this.ooo.length && cur < len; i++) {
      const p = this.ooo[i] as Piece
      const ps = seqDiff(p.seq, seq)
      const pe = ps + p.len
      if (pe <= cur) {
        at = i + 1
        continue
      }
      if (ps >= len) break
      if (ps > cur) (ranges ??= []).push(cur, ps)
      cur = pe
    }
    if (cur < len) (ranges ??= []).push(cur, len)
    if (ranges === undefined) {
      if (!counted) this.events.onRetransmit(this)
      return null
    }
    let bytes = 0
    for (let i = 0; i < ranges.length; i += 2) {
      bytes += Math.min(ranges[i + 1] as number, cap) - Math.min(ranges[i] as number, cap)
    }
    if (this.ooo.length + ranges.length / 2 > this.limits.maxOutOfOrderSegments) return 'segments_cap'
    if (this.oooBytes + bytes > this.limits.maxOutOfOrderBytes) return 'bytes_cap'
    const covered = ranges.length > 2 || ranges[0] !== 0 || ranges[1] !== len
    if (covered && !counted) this.events.onRetransmit(this)
    for (let i = 0; i < ranges.length; i += 2) {
      const from = ranges[i] as number
      const to = ranges[i + 1] as number
      const a = Math.min(from, cap)
      const b = Math.min(to, cap)
      const data = b > a ? Buffer.allocUnsafeSlow(b - a) : EMPTY
      if (b > a) payload.copy(data, 0, a, b)
      const piece: Piece = { seq: seqAdd(seq, from), len: to - from, data, tsUs, peerAcked }
      // ranges are in order and lie between existing pieces: find each one's slot from `at` on
      while (at < this.ooo.length && seqDiff((this.ooo[at] as Piece).seq, piece.seq) < 0) at++
      if (this.ooo === NO_PIECES) this.ooo = []
      this.ooo.splice(at, 0, piece)
      at++
    }
    this.oooBytes += bytes
    return null
  }

  /** Hands on buffered pieces that now start at or before nextSeq. */
  private drain(): void {
    while (this.ooo.length > 0) {
      const p = this.ooo[0] as Piece
      const rel = seqDiff(p.seq, this.nextSeq)
      if (rel > 0) return
      this.ooo.shift()
      if (this.ooo.length === 0) this.ooo = NO_PIECES // the array's backing store goes with it
      this.oooBytes -= p.data.length
      if (rel + p.len <= 0) continue // delivered meanwhile by an overlapping in-order segment
      let data = p.data
      let len = p.len
      if (rel < 0) {
        data = -rel >= data.length ? EMPTY : data.subarray(-rel)
        len += rel
      }
      this.deliver(data, len, p.tsUs, p.peerAcked)
    }
  }

  /** `len` sequence numbers at nextSeq, of which `payload` holds the first (the rest were cut by snaplen). */
  private deliver(payload: Buffer, len: number, tsUs: number, peerAcked: number): void {
    const cap = payload.length < len ? payload.length : len
    this.nextSeq = seqAdd(this.nextSeq, len)
    this.offset += len
    if (cap > 0) {
      this.announce(tsUs)
      this.emitted = true
      this.events.onData(this, cap === payload.length ? payload : payload.subarray(0, cap), tsUs, peerAcked)
    }
    if (cap < len) this.gap(len - cap, tsUs)
  }

  /** Declares the bytes from nextSeq up to `target` lost. */
  private skipTo(target: number, tsUs: number): void {
    const n = seqDiff(target, this.nextSeq)
    if (n <= 0) return
    this.nextSeq = target
    this.offset += n
    this.gap(n, tsUs)
  }

  private gap(n: number, tsUs: number): void {
    this.announce(tsUs)
    this.emitted = true
    this.events.onGap(this, n, tsUs)
  }

  private announce(tsUs: number): void {
    if (this.midstream && !this.announced) {
      this.announced = true
      this.events.onGap(this, -1, tsUs)
    }
  }

  private checkFin(): void {
    if (this.finSeen && !this.finDone && seqDiff(this.nextSeq, this.finSeq) >= 0) this.finDone = true
  }
}
