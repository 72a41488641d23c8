// The flow table: decoded TCP segments in, one StreamHandler per connection out (gopacket
// reassembly.Assembler + StreamPool, packetbeat tcp.go). Bounded by limits.maxFlows (least recently
// used flow is ended 'evicted'), expired by packet time (replay runs on virtual time).
//
// Per flow: roles (who is the client), two Reassemblers (c2s, s2c), the FlowInfo counters, and its
// place in an intrusive LRU list. The list is ordered by last packet, so idle expiry only looks at
// its head: advance() costs O(flows expired), and touching a flow is four pointer writes.
//
// Call order: segment() for every decoded TCP segment in capture order, advance() as often as
// convenient (every packet is fine), closeAll() once at the end. Frames are borrowed for the call.
//
// Connections that closed (FIN both ways, RST) leave a short-lived tombstone so their trailing
// packets (the last ACK, retransmitted FINs) do not start a new, empty flow; a SYN on that 4-tuple
// does start one (port reuse).

import { WELL_KNOWN_SERVER_PORTS, type Limits } from '../config.js'
import type { Frame } from '../capture/frame.js'
import { TcpFlag } from '../capture/frame.js'
import { C, type CounterSample, type Counters } from '../counters.js'
import { Reassembler, type OooDropReason, type ReassemblyEvents } from './reassembler.js'
import { seqAdd } from './seq.js'
import { Tombstones } from './tombstones.js'
import type { ClosedFlow, Dir, EndReason, Endpoint, FlowInfo, RoleSource, SegmentHook, StreamHandler, StreamHandlerFactory } from './types.js'

export interface FlowTableOptions {
  /** maxFlows, flowIdleUs, maxOutOfOrderBytes, maxOutOfOrderSegments */
  limits: Limits
  /** counted under the names in C */
  counters: Counters
  /** asked once per new flow, before any of its bytes are delivered */
  onFlow: StreamHandlerFactory
  /** after handler.end(); the FlowInfo is final (l7_link records) */
  onFlowEnd?: (flow: FlowInfo, reason: EndReason) => void
  /** names a server port when no SYN was seen; default WELL_KNOWN_SERVER_PORTS */
  isServerPort?: (port: number) => boolean
  /**
   * How long a closed (FIN/RST) 4-tuple swallows non-SYN packets. Default 10 s: the last ACK and
   * retransmitted FINs arrive within a few RTOs; longer would hide a new connection whose SYN the
   * capture missed.
   */
  closedLingerUs?: number
  /** sees every segment kept, RSTs included (TCP health, health.ts); may refuse new half-open flows */
  health?: SegmentHook
}

const DEFAULT_CLOSED_LINGER_US = 10_000_000

/** Strength of each role source: a weaker one may be overruled by a stronger one. */
const ROLE_RANK: Record<RoleSource, number> = { guess: 0, port: 1, content: 2, synack: 3, syn: 4 }
/** role sources by rank */
const ROLE_SOURCES: readonly RoleSource[] = ['guess', 'port', 'content', 'synack', 'syn']
// Flow.st
const ROLE_MASK = 7
const ENDED = 8
/** decideRoles: the first segment's source is the client (beside the rank, in ROLE_MASK) */
const SRC_IS_CLIENT = 8

/** Ports at or above this are the usual ephemeral range (Linux 32768-60999, IANA 49152-65535). */
const EPHEMERAL_PORT_MIN = 32768
/** Ports below this are the privileged, well-known range (RFC 6335 §6 "System Ports"). */
const SYSTEM_PORT_MAX = 1024

/** Label sets, built once: counting an event allocates no label object. */
const END_LABELS: Record<EndReason, Record<string, string>> = {
  fin: { reason: 'fin' },
  rst: { reason: 'rst' },
  idle: { reason: 'idle' },
  evicted: { reason: 'evicted' },
  shutdown: { reason: 'shutdown' },
}
const OOO_LABELS: Record<OooDropReason, Record<string, string>> = {
  segments_cap: { reason: 'segments_cap' },
  bytes_cap: { reason: 'bytes_cap' },
  out_of_window: { reason: 'out_of_window' },
}

let lastFlowId = 0

class Flow implements FlowInfo, ReassemblyEvents {
  readonly id: number
  /** its live slot in the table's index (tombstones.ts), -1 when not indexed */
  indexSlot = -1
  client: Endpoint
  server: Endpoint
  /** the role source's rank (ROLE_SOURCES index) | ENDED: one small integer, not a string and a boolean */
  private st: number
  readonly ifindex: number
  readonly startUs: number
  lastUs: number
  // per-direction counts as plain fields (an object per pair cost 40 B and a pointer per idle flow);
  // FlowInfo's bytes/packets/gapBytes are read through getters, rarely (the l7_link at the end)
  bytesC2s = 0
  bytesS2c = 0
  packetsC2s = 0
  packetsS2c = 0
  retransmits = 0
  gapC2s = 0
  gapS2c = 0
  tcpSlot = -1

  /** the reassembler of each direction; swapped with the roles */
  c2s: Reassembler
  s2c: Reassembler
  handler: StreamHandler | null = null
  /** LRU list: prev is less recently used */
  prev: Flow | null = null
  next: Flow | null = null

  constructor(
    private readonly counters: Counters,
    limits: Limits,
    client: Endpoint,
    server: Endpoint,
    /** how the roles were decided: its ROLE_RANK */
    roleRank: number,
    ifindex: number,
    tsUs: number,
  ) {
    this.id = ++lastFlowId
    this.client = client
    this.server = server
    this.st = roleRank
    this.ifindex = ifindex
    this.startUs = tsUs
    this.lastUs = tsUs
    this.c2s = new Reassembler(this, limits)
    this.s2c = new Reassembler(this, limits)
  }

  /** how the roles were decided, as its ROLE_RANK */
  get roleRank(): number {
    return this.st & ROLE_MASK
  }

  /** how the roles were decided */
  get roleSource(): RoleSource {
    return ROLE_SOURCES[this.st & ROLE_MASK]!
  }
  set roleSource(r: RoleSource) {
    this.st = (this.st & ~ROLE_MASK) | ROLE_RANK[r]
  }

  /** finished: handler.end() was called (or is being called) */
  get ended(): boolean {
    return (this.st & ENDED) !== 0
  }
  set ended(on: boolean) {
    this.st = on ? this.st | ENDED : this.st & ~ENDED
  }

  get bytes(): { c2s: number; s2c: number } {
    return { c2s: this.bytesC2s, s2c: this.bytesS2c }
  }

  get packets(): { c2s: number; s2c: number } {
    return { c2s: this.packetsC2s, s2c: this.packetsS2c }
  }

  get gapBytes(): { c2s: number; s2c: number } {
    return { c2s: this.gapC2s, s2c: this.gapS2c }
  }

  swapRoles(source: RoleSource): void {
    // a SYN is proof; content is not allowed to overrule it
    if (this.ended || this.roleSource === 'syn') return
    this.swap(source)
  }

  /** Swaps roles unconditionally (the table's own SYN/SYN-ACK evidence). */
  swap(source: RoleSource): void {
    const c = this.client
    this.client = this.server
    this.server = c
    this.roleSource = source
    let t = this.bytesC2s
    this.bytesC2s = this.bytesS2c
    this.bytesS2c = t
    t = this.packetsC2s
    this.packetsC2s = this.packetsS2c
    this.packetsS2c = t
    t = this.gapC2s
    this.gapC2s = this.gapS2c
    this.gapS2c = t
    const r = this.c2s
    this.c2s = this.s2c
    this.s2c = r
  }

  /** Direction of a frame: from the client is c2s. */
  dirOf(f: Frame): Dir {
    return f.srcPort === this.client.port && f.src === this.client.ip ? 'c2s' : 's2c'
  }

  get finSeen(): boolean {
    return this.c2s.finSeen || this.s2c.finSeen
  }

  onData(r: Reassembler, chunk: Buffer, tsUs: number, peerAcked: number): void {
    if (this.ended) return
    let dir: Dir
    if (r === this.c2s) {
      dir = 'c2s'
      this.bytesC2s += chunk.length
    } else {
      dir = 's2c'
      this.bytesS2c += chunk.length
    }
    ;(this.handler as StreamHandler).data(dir, chunk, tsUs, peerAcked)
  }

  onGap(r: Reassembler, lostBytes: number, tsUs: number): void {
    if (this.ended) return
    const dir: Dir = r === this.c2s ? 'c2s' : 's2c'
    if (lostBytes > 0) {
      if (dir === 'c2s') this.gapC2s += lostBytes
      else this.gapS2c += lostBytes
      this.counters.inc(C.tcpGaps)
      this.counters.inc(C.tcpGapBytes, undefined, lostBytes)
    }
    ;(this.handler as StreamHandler).gap(dir, lostBytes, tsUs)
  }

  onRetransmit(): void {
    this.retransmits++
    this.counters.inc(C.tcpRetransmits)
  }

  onOooDrop(_r: Reassembler, reason: OooDropReason): void {
    this.counters.inc(C.tcpOooDropped, OOO_LABELS[reason])
  }
}

export class FlowTable {
  private readonly limits: Limits
  private readonly counters: Counters
  private readonly onFlow: StreamHandlerFactory
  private readonly onFlowEnd: ((flow: FlowInfo, reason: EndReason) => void) | undefined
  private readonly isServerPort: (port: number) => boolean
  private readonly lingerUs: number
  private readonly health: SegmentHook | null

  /** live flows */
  private live = 0
  /** least recently used first */
  private head: Flow | null = null
  private tail: Flow | null = null
  /** the flow of the previous segment: runs of one flow skip the lookup */
  private last: Flow | null = null
  /**
   * live flows by their port pair (direct-mapped, RECENT slots; a flow leaves its slot when it ends):
   * interleaved flows (many keep-alive connections at once) are found without hashing their addresses
   */
  private readonly recent: (Flow | null)[] = new Array<Flow | null>(RECENT).fill(null)
  /** counter samples, taken on first use (so a counter appears when it is first counted, as with inc) */
  private readonly count: Partial<Record<EndReason | 'created' | 'active', CounterSample>> = {}
  /** live flows and closed 4-tuples by 4-tuple, in one table (see tombstones.ts): no string key per flow */
  private readonly index: Tombstones<Flow>

  constructor(o: FlowTableOptions) {
    this.limits = o.limits
    this.counters = o.counters
    this.onFlow = o.onFlow
    this.onFlowEnd = o.onFlowEnd
    this.isServerPort = o.isServerPort ?? ((p) => WELL_KNOWN_SERVER_PORTS.has(p))
    this.lingerUs = Math.min(o.closedLingerUs ?? DEFAULT_CLOSED_LINGER_US, o.limits.flowIdleUs)
    this.index = new Tombstones<Flow>(o.limits.maxFlows, this.lingerUs)
    this.health = o.health ?? null
  }

  /** live flows */
  get size(): number {
    return this.live
  }

  /** One decoded TCP segment. `f` and `f.payload` are borrowed for the call. */
  segment(f: Frame): void {
    const flags = f.flags
    const syn = (flags & TcpFlag.SYN) !== 0
    const ack = (flags & TcpFlag.ACK) !== 0
    const rst = (flags & TcpFlag.RST) !== 0

    let flow = this.last
    if (flow === null || !sameFlow(flow, f)) {
      flow = this.recent[recentSlot(f.srcPort, f.dstPort)] as Flow | null
      if (flow === null || !sameFlow(flow, f)) flow = this.lookup(f, syn, ack, rst)
      if (flow === null) return
      this.last = flow
    }
    if (syn) {
      const half = flow.dirOf(f) === 'c2s' ? flow.c2s : flow.s2c
      if (isNewConnection(flow, half, f.seq, ack)) {
        this.finish(flow, flow.finSeen ? 'fin' : 'idle', f.tsUs)
        this.index.delete(f.src, f.srcPort, f.dst, f.dstPort)
        flow = this.create(f)
        this.last = flow
      }
      this.learnRoles(flow, f, ack)
    }

    this.touch(flow)
    if (f.tsUs > flow.lastUs) flow.lastUs = f.tsUs
    let half: Reassembler
    let other: Reassembler
    const fromClient = flow.dirOf(f) === 'c2s'
    if (fromClient) {
      flow.packetsC2s++
      half = flow.c2s
      other = flow.s2c
    } else {
      flow.packetsS2c++
      half = flow.s2c
      other = flow.c2s
    }
    if (this.health !== null) this.health.segment(flow, fromClient, f)

    if (rst) {
      this.finish(flow, 'rst', f.tsUs)
      return
    }
    if (syn) half.syn(f.seq)
    let peerAcked = -1
    if (ack) {
      other.ackedTo(f.ack, f.tsUs)
      peerAcked = other.ackOffset(f.ack)
    }
    half.segment(syn ? seqAdd(f.seq, 1) : f.seq, f.payload, f.payloadLen, (flags & TcpFlag.FIN) !== 0, f.tsUs, peerAcked)
    if (!flow.ended && flow.c2s.finDone && flow.s2c.finDone) this.finish(flow, 'fin', f.tsUs)
  }

  /** Ends flows with no packet for longer than limits.flowIdleUs, least recently used first. */
  advance(nowUs: number): void {
    const idleUs = this.limits.flowIdleUs
    while (this.head !== null && nowUs - this.head.lastUs > idleUs) {
      const f = this.head
      // a half-closed connection that went quiet ended with its FIN
      this.finish(f, f.finSeen ? 'fin' : 'idle', nowUs)
    }
    this.index.expire(nowUs)
  }

  /** End of replay or shutdown: deliver what is buffered, then end every flow with `reason`. */
  closeAll(reason: EndReason, nowUs: number): void {
    // the index goes first and whole: no entry taken out one by one
    this.index.clear()
    while (this.head !== null) this.finish(this.head, reason, nowUs)
    this.index.clear()
  }

  /**
   * The live flow of a segment not found in `recent`: one lookup in the index finds it, a closed
   * 4-tuple, or neither. Null when the segment is swallowed (trailing packets of a closed connection:
   * the health hook still counts them, a FIN sent again, RSTs after the first; a lone RST on an
   * unknown 4-tuple carries nothing to report; a SYN past the half-open cap); a SYN reopens a closed
   * 4-tuple.
   */
  private lookup(f: Frame, syn: boolean, ack: boolean, rst: boolean): Flow | null {
    const b = this.index.find(f.src, f.srcPort, f.dst, f.dstPort)
    const flow = b < 0 ? null : this.index.liveAt(b)
    if (flow !== null) {
      this.recent[recentSlot(f.srcPort, f.dstPort)] = flow
      return flow
    }
    if (!syn) {
      if (b >= 0) {
        if (this.health !== null) this.health.afterClose(this.index.closedAt(b) as ClosedFlow, f)
        return null
      }
      if (rst) return null
    } else {
      if (!ack && this.health !== null && !this.health.admit()) return null
      if (b >= 0) this.index.deleteClosedAt(b)
    }
    return this.create(f)
  }

  private create(f: Frame): Flow {
    const src: Endpoint = { ip: f.src, port: f.srcPort }
    const dst: Endpoint = { ip: f.dst, port: f.dstPort }
    const roles = this.decideRoles(f)
    const flow =
      (roles & SRC_IS_CLIENT) !== 0
        ? new Flow(this.counters, this.limits, src, dst, roles & ROLE_MASK, f.ifindex, f.tsUs)
        : new Flow(this.counters, this.limits, dst, src, roles & ROLE_MASK, f.ifindex, f.tsUs)
    // the handler first: if the factory throws, the table holds no flow without one
    flow.handler = this.onFlow(flow)
    if (this.live >= this.limits.maxFlows && this.head !== null) {
      this.counters.inc(C.flowsEvicted)
      this.finish(this.head, 'evicted', f.tsUs)
    }
    this.live++
    this.index.addLive(flow)
    this.recent[recentSlot(f.srcPort, f.dstPort)] = flow
    this.append(flow)
    this.count.created ??= this.counters.handle(C.flowsCreated)
    this.count.created.value++
    this.setActive()
    return flow
  }

  /** Who is the client, from the first segment of a flow: SRC_IS_CLIENT | how we know (its ROLE_RANK), no tuple made. */
  private decideRoles(f: Frame): number {
    if ((f.flags & TcpFlag.SYN) !== 0) {
      return (f.flags & TcpFlag.ACK) === 0 ? SRC_IS_CLIENT | ROLE_RANK.syn : ROLE_RANK.synack
    }
    const srcServer = this.isServerPort(f.srcPort)
    const dstServer = this.isServerPort(f.dstPort)
    if (dstServer && !srcServer) return SRC_IS_CLIENT | ROLE_RANK.port
    if (srcServer && !dstServer) return ROLE_RANK.port
    const lo = Math.min(f.srcPort, f.dstPort)
    const hi = Math.max(f.srcPort, f.dstPort)
    if (lo !== hi && (lo < SYSTEM_PORT_MAX || hi >= EPHEMERAL_PORT_MIN)) return (f.dstPort === lo ? SRC_IS_CLIENT : 0) | ROLE_RANK.port
    return SRC_IS_CLIENT | ROLE_RANK.guess
  }

  /** A SYN (client) or SYN-ACK (server) proves roles weaker evidence guessed. */
  private learnRoles(flow: Flow, f: Frame, ack: boolean): void {
    const source: RoleSource = ack ? 'synack' : 'syn'
    // ranks compared as numbers (no string-keyed lookup per SYN)
    if (flow.roleRank >= (ack ? ROLE_RANK.synack : ROLE_RANK.syn)) return
    const fromClient = flow.dirOf(f) === 'c2s'
    // SYN comes from the client, SYN-ACK from the server
    if (fromClient === !ack) flow.roleSource = source
    else flow.swap(source)
  }

  private finish(flow: Flow, reason: EndReason, tsUs: number): void {
    if (flow.ended) return
    // deliver what is buffered before saying goodbye; holes left now are lost
    flow.c2s.flush(tsUs)
    flow.s2c.flush(tsUs)
    flow.ended = true
    this.live--
    this.unlink(flow)
    if (this.last === flow) this.last = null
    const rs = recentSlot(flow.client.port, flow.server.port)
    if (this.recent[rs] === flow) this.recent[rs] = null
    if (reason === 'fin' || reason === 'rst') {
      // its index entry becomes its tombstone in place (one not indexed, after closeAll's clear, gets one)
      const t = this.index.closeLive(flow, tsUs) ?? this.index.add(flow.client.ip, flow.client.port, flow.server.ip, flow.server.port, tsUs)
      if (this.health !== null) this.health.closed(flow, t)
    } else this.index.removeLive(flow)
    const ended = (this.count[reason] ??= this.counters.handle(C.flowsEnded, END_LABELS[reason]))
    ended.value++
    this.setActive()
    ;(flow.handler as StreamHandler).end(reason, tsUs)
    flow.handler = null
    this.onFlowEnd?.(flow, reason)
  }

  /** flows_active, through its sample (no key lookup per flow) */
  private setActive(): void {
    ;(this.count.active ??= this.counters.handle(C.flowsActive)).value = this.live
  }

  private append(flow: Flow): void {
    flow.prev = this.tail
    flow.next = null
    if (this.tail !== null) this.tail.next = flow
    else this.head = flow
    this.tail = flow
  }

  private unlink(flow: Flow): void {
    if (flow.prev !== null) flow.prev.next = flow.next
    else this.head = flow.next
    if (flow.next !== null) flow.next.prev = flow.prev
    else this.tail = flow.prev
    flow.prev = null
    flow.next = null
  }

  private touch(flow: Flow): void {
    if (this.tail === flow) return
    this.unlink(flow)
    this.append(flow)
  }
}

/**
 * A flow of this table: its endpoints are plain {ip, port} objects made when the flow opened, whose ip
 * and port never change (a role swap exchanges the objects), so records may share them as peers.
 */
export function isPacketFlow(f: FlowInfo): f is PacketFlow {
  return f instanceof Flow
}

/** a flow of this table: its per-direction counts readable as plain fields (no object per getter call) */
export interface PacketFlow extends FlowInfo {
  readonly bytesC2s: number
  readonly bytesS2c: number
  readonly packetsC2s: number
  readonly packetsS2c: number
  readonly gapC2s: number
  readonly gapS2c: number
}

/** slots of FlowTable.recent */
const RECENT = 1024

/** a port pair's slot in FlowTable.recent, the same both ways */
function recentSlot(a: number, b: number): number {
  return (a ^ b) & (RECENT - 1)
}

function sameFlow(flow: Flow, f: Frame): boolean {
  const c = flow.client
  const s = flow.server
  if (f.srcPort === c.port && f.dstPort === s.port) return f.src === c.ip && f.dst === s.ip
  if (f.srcPort === s.port && f.dstPort === c.port) return f.src === s.ip && f.dst === c.ip
  return false
}

/**
 * A SYN or SYN-ACK on a live flow: retransmitted (same ISN), late but of this very connection (the
 * capture reordered the handshake; a SYN-ACK after Fast Open data in the SYN), or a new connection
 * reusing the 4-tuple.
 */
function isNewConnection(flow: Flow, half: Reassembler, isn: number, synAck: boolean): boolean {
  // after a FIN no SYN of the old connection can come any more, whatever its ISN
  if (flow.finSeen) return true
  if (half.synSeen) return half.isn !== isn
  // a SYN-ACK only has to be first in its own direction; a SYN opens the whole connection
  return synAck ? half.emitted : flow.c2s.emitted || flow.s2c.emitted
}
