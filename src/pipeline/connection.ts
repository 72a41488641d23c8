// One TCP connection above the reassembler: holds the first bytes until a protocol is recognised by
// content (DESIGN.md "protocol detection (by content, port only as a hint)"), then hands every byte,
// from the first one, to that protocol's parser, and turns its ParsedExchanges into Exchanges.

import type { Limits } from '../config.js'
import { C, type CounterSample, type Counters } from '../counters.js'
import { faults } from '../fault.js'
import { log } from '../log.js'
import type { Exchange, LinkRecord, Peer } from '../records.js'
import type { ParsedExchange, ParserContext, ProtocolId, ProtocolParser, UpgradeSeed } from '../protocols/types.js'
import { looksLikeSslv2Hello, looksLikeTlsHandshake, looksLikeTlsRecords } from '../protocols/tls/detect.js'
import { alpnLabel, TlsObserver, type TlsInfo } from '../protocols/tls/observer.js'
import type { FlowTcpStats } from '../tcp/health.js'
import { isPacketFlow, type PacketFlow } from '../tcp/flow-table.js'
import { flip, type Dir, type EndReason, type Endpoint, type FlowInfo, type StreamHandler } from '../tcp/types.js'


export interface ConnectionDeps {
  parsers: readonly ProtocolParser[]
  limits: Limits
  counters: Counters
  onExchange: (e: Exchange) => void
  onLink?: (l: LinkRecord, c: Connection) => void
  /**
   * false: nothing reads l7_link records, so a plaintext packet connection's is not made (onLink still
   * gets those of encrypted connections and of streams: the TLS pairing keeps them). Default true.
   */
  linksWanted?: boolean
  /** the flow's TCP health for its l7_link record (tcp/health.ts) */
  tcpStats?: (flow: FlowInfo) => FlowTcpStats | undefined
  /** called when the connection ends, before it reports what was pending */
  onEnd?: (c: Connection) => void
  /** called when the connection is found to be TLS that no parser reads (its bytes stay encrypted) */
  onEncrypted?: (c: Connection, flow: FlowInfo) => void
}

type Held =
  | { kind: 'data'; dir: Dir; buf: Buffer; tsUs: number; acked: number }
  | { kind: 'gap'; dir: Dir; n: number; tsUs: number }

const enum State {
  Detecting,
  Parsing,
  Tls, // encrypted: bytes counted, the handshake read (protocols/tls/observer.ts), nothing decrypted
  Unknown, // no parser recognised it: bytes counted, not parsed
  Failed, // the parser threw: bytes counted, not parsed (see fail())
}

/** parser faults logged in full; past this, one line per FAULT_LOG_EVERY (each is counted anyway) */
const FAULT_LOG_FIRST = 20
const FAULT_LOG_EVERY = 1000
let faultsSeen = 0

/**
 * a record's peer for a flow endpoint; what the endpoint already says of who it is comes along (the
 * TLS tap knows the process, and its pod or container), in Peer's field order
 */
function peerOf(e: Endpoint & Omit<Peer, 'ip' | 'port'>): Peer {
  const p: Peer = { ip: e.ip, port: e.port }
  if (e.pod !== undefined) p.pod = e.pod
  if (e.namespace !== undefined) p.namespace = e.namespace
  if (e.workload !== undefined) p.workload = e.workload
  if (e.service !== undefined) p.service = e.service
  if (e.node !== undefined) p.node = e.node
  if (e.container !== undefined) p.container = e.container
  if (e.pid !== undefined) p.pid = e.pid
  if (e.comm !== undefined) p.comm = e.comm
  return p
}

/** the detection order for a server port: parsers that usually live there first (see candidatesFor) */
interface Order {
  candidates: readonly ProtocolParser[]
  hinted: readonly ProtocolParser[]
}

/**
 * Detection orders, per parser list and server port, shared by every connection: a connection keeps
 * a reference, not arrays of its own (a short connection used to build two). Ports no parser names
 * share the list's default order, so at most one entry per port some parser names.
 */
const orders = new WeakMap<readonly ProtocolParser[], { plain: Order; byPort: Map<number, Order> }>()

/** the last order asked for: a run of connections to one server port looks nothing up */
let lastOrder: Order | null = null
let lastOrderParsers: readonly ProtocolParser[] | null = null
let lastOrderPort = -1

function orderFor(parsers: readonly ProtocolParser[], port: number): Order {
  if (parsers === lastOrderParsers && port === lastOrderPort) return lastOrder!
  const r = orderOf(parsers, port)
  lastOrder = r
  lastOrderParsers = parsers
  lastOrderPort = port
  return r
}

function orderOf(parsers: readonly ProtocolParser[], port: number): Order {
  let o = orders.get(parsers)
  if (o === undefined) orders.set(parsers, (o = { plain: { candidates: parsers, hinted: [] }, byPort: new Map() }))
  let r = o.byPort.get(port)
  if (r === undefined) {
    const hinted = parsers.filter((p) => p.ports.includes(port))
    r = hinted.length === 0 ? o.plain : { candidates: [...hinted, ...parsers.filter((p) => !hinted.includes(p))], hinted }
    if (hinted.length > 0) o.byPort.set(port, r)
  }
  return r
}

/** exchanges{protocol} samples, per Counters, shared by every connection (no label key built per connection) */
const exchangeSamples = new WeakMap<Counters, Map<string, CounterSample>>()
/** the last sample asked for: a run of one protocol's exchanges looks nothing up (no field per connection) */
let lastSample: CounterSample | null = null
let lastSampleOf: Counters | null = null

function exchangeSample(counters: Counters, protocol: string): CounterSample {
  if (lastSampleOf === counters && lastSample!.labels.protocol === protocol) return lastSample!
  let m = exchangeSamples.get(counters)
  if (m === undefined) exchangeSamples.set(counters, (m = new Map()))
  let x = m.get(protocol)
  if (x === undefined) m.set(protocol, (x = counters.handle(C.exchanges, { protocol })))
  lastSample = x
  lastSampleOf = counters
  return x
}

const MID_C2S = 1
const MID_S2C = 2

// Connection.flags: the State in the low 3 bits, then
const STATE_MASK = 7
/** its records say tls: true (a TLS tap's plaintext, or encrypted) */
const TLS = 8
/** a packet flow (tcp/flow-table.ts isPacketFlow): its endpoints are the exchanges' peers, its counts fields */
const SHARED_PEERS = 16

/** what a connection keeps while it detects its protocol */
class Detection {
  held: Held[] = []
  heldBytes = 0
  /** per direction: bytes seen while detecting */
  seenC2s = 0
  seenS2c = 0
  /** the directions that started mid-stream: MID_C2S | MID_S2C */
  mid = 0
  /** a match held back until the other side speaks (see shouldDefer) */
  deferred: { p: ProtocolParser; swap: boolean } | null = null

  constructor(readonly order: Order) {}
}

/**
 * One connection. It is also its parser's ParserContext (emit, count, ...): methods on the class, not
 * closures per connection, so an idle connection costs one object.
 */
export class Connection implements StreamHandler, ParserContext {
  /** the state (low 3 bits) | TLS | SHARED_PEERS */
  private flags: number = State.Detecting
  private get state(): State {
    return this.flags & STATE_MASK
  }
  private set state(s: State) {
    this.flags = (this.flags & ~STATE_MASK) | s
  }
  private parser: ProtocolParser | null = null
  private inner: StreamHandler | null = null
  /** the pipeline's list of connections not yet ended (Pipeline.liveHead) */
  liveNext: Connection | null = null
  livePrev: Connection | null = null
  /**
   * Detecting: what detection keeps (dropped when a protocol is chosen: an idle parsed connection keeps
   * none of it); State.Tls, or a parser that switched to TLS: the TlsObserver; else null. One field
   * for the two, read through `dt` and `tlsObserver`.
   */
  private aux: Detection | TlsObserver | null = null
  private get dt(): Detection | null {
    const a = this.aux
    return a instanceof Detection ? a : null
  }
  /** set to null only ends detection (a TlsObserver stays) */
  private set dt(d: Detection | null) {
    if (d !== null || this.aux instanceof Detection) this.aux = d
  }
  private get tlsObserver(): TlsObserver | null {
    const a = this.aux
    return a instanceof TlsObserver ? a : null
  }
  private set tlsObserver(o: TlsObserver | null) {
    this.aux = o
  }

  constructor(
    private readonly flow: FlowInfo,
    private readonly d: ConnectionDeps,
    opts: { tls?: boolean } = {},
  ) {
    // plaintext from a TLS tap: its records say tls: true
    if (opts.tls === true) this.flags |= TLS
    if (isPacketFlow(flow)) this.flags |= SHARED_PEERS
    // port hint: parsers that usually live on the server's port are asked first
    this.dt = new Detection(orderFor(d.parsers, flow.server.port))
  }

  // ---- ParserContext: what the parser reports through ----

  get limits(): Limits {
    return this.d.limits
  }

  count(reason: string, n = 1): void {
    this.d.counters.inc(C.parseErrors, { protocol: this.parser?.id ?? 'unknown', reason }, n)
  }

  unmatchedResponse(n = 1): void {
    this.d.counters.inc(C.unmatched, { protocol: this.parser?.id ?? 'unknown', side: 'response' }, n)
  }

  encrypted(kind: 'tls' | 'gssenc'): void {
    this.flags |= TLS
    this.d.counters.inc(C.flowsEncrypted, { protocol: this.parser?.id ?? 'unknown', kind })
    // what follows is a TLS handshake (PostgreSQL SSLRequest, MySQL SSL request): read what it shows;
    // the parser has nothing more to parse (the connection keeps its protocol)
    if (kind === 'tls' && this.tlsObserver === null) this.tlsObserver = this.newTlsObserver()
  }

  private newTlsObserver(): TlsObserver {
    return new TlsObserver((reason) => this.d.counters.inc(C.parseErrors, { protocol: 'tls', reason }))
  }

  switchProtocol(to: ProtocolId, seed: UpgradeSeed): StreamHandler | null {
    const next = this.d.parsers.find((p) => p.id === to)
    if (next?.upgrade === undefined || this.state !== State.Parsing) return null
    this.d.counters.inc(C.protocolSwitches, { from: this.parser!.id, to })
    // the old parser is dropped as it stands: it handed over its only pending request
    this.parser = next
    this.inner = next.upgrade(this, seed)
    return this.inner
  }

  get protocol(): ProtocolId | 'tls' | 'unknown' | null {
    if (this.parser) return this.parser.id
    if (this.state === State.Tls) return 'tls'
    if (this.state === State.Unknown) return 'unknown'
    return null
  }

  /**
   * Start of the oldest request this connection may still emit: the parser's answer, the first held
   * byte while detecting, Infinity when nothing can come; -Infinity when the parser cannot tell.
   */
  oldestPendingUs(): number {
    switch (this.state) {
      case State.Parsing:
        try {
          return this.inner!.oldestPendingUs ? this.inner!.oldestPendingUs() : -Infinity
        } catch (e) {
          this.fail(e)
          return Infinity
        }
      case State.Detecting: {
        let t = Infinity
        for (const h of this.dt!.held) if (h.tsUs < t) t = h.tsUs
        return t
      }
      default:
        return Infinity
    }
  }

  // Containment: parser code (detect, create, data, gap, end) runs inside one try/catch per call, so
  // a throw ends this connection's parsing only (fail()): counted, logged, every other flow goes on.
  // V8 optimizes try/catch bodies fully; the cost is nil until something throws.

  data(dir: Dir, chunk: Buffer, tsUs: number, peerAcked: number): void {
    if (this.state === State.Parsing) {
      try {
        if (faults.parser !== null) faults.parser(this.parser!.id, chunk)
        if (this.tlsObserver !== null) this.tlsObserver.data(dir, chunk, tsUs) // switched to TLS
        else this.inner!.data(dir, chunk, tsUs, peerAcked)
      } catch (e) {
        this.fail(e)
      }
      return
    }
    if (this.state === State.Tls) {
      try {
        this.tlsObserver!.data(dir, chunk, tsUs)
      } catch (e) {
        this.fail(e)
      }
      return
    }
    if (this.state !== State.Detecting) return
    try {
      this.detectOn(dir, chunk, tsUs, peerAcked)
    } catch (e) {
      this.fail(e)
    }
  }

  gap(dir: Dir, lostBytes: number, tsUs: number): void {
    if (this.state === State.Parsing) {
      try {
        if (this.tlsObserver !== null) this.tlsObserver.gap(dir, lostBytes)
        else this.inner!.gap(dir, lostBytes, tsUs)
      } catch (e) {
        this.fail(e)
      }
      return
    }
    if (this.state === State.Tls) {
      try {
        this.tlsObserver!.gap(dir, lostBytes)
      } catch (e) {
        this.fail(e)
      }
      return
    }
    if (this.state !== State.Detecting) return
    if (lostBytes < 0 || this.seenOf(dir) > 0) {
      // joined mid-stream, or a hole before detection: what came before is useless for detection
      this.dt!.mid |= dir === 'c2s' ? MID_C2S : MID_S2C
      this.dropHeld(dir)
    }
    this.dt!.held.push({ kind: 'gap', dir, n: lostBytes, tsUs })
  }

  end(reason: EndReason, tsUs: number): void {
    this.d.onEnd?.(this)
    try {
      const deferred = this.dt?.deferred
      if (deferred) this.start(deferred.p, deferred.swap)
      if (this.state === State.Parsing) this.inner!.end(reason, tsUs)
      else if (this.state === State.Detecting) {
        if (this.dt!.seenC2s + this.dt!.seenS2c > 0) this.d.counters.inc(C.detectUnknown)
        this.state = State.Unknown
        this.dt = null
      }
    } catch (e) {
      this.fail(e)
    }
    if (this.d.onLink !== undefined && (this.d.linksWanted !== false || (this.flags & (TLS | SHARED_PEERS)) !== SHARED_PEERS)) {
      this.d.onLink(this.link(reason, tsUs), this)
    }
  }

  /**
   * The parser threw: its state can no longer be trusted, so this connection is parsed no further
   * (what it had pending is lost; its link record still comes at the end). Counted in
   * parse_errors{protocol, reason="internal"}, logged once for the connection.
   */
  private fail(err: unknown): void {
    const protocol = this.parser?.id ?? (this.state === State.Tls ? 'tls' : 'unknown')
    this.state = State.Failed
    this.inner = null
    this.dt = null
    this.d.counters.inc(C.parseErrors, { protocol, reason: 'internal' })
    faultsSeen++
    if (faultsSeen <= FAULT_LOG_FIRST || faultsSeen % FAULT_LOG_EVERY === 0) {
      const f = this.flow
      log.error('parser fault: this connection is no longer parsed, every other one goes on', {
        protocol,
        client: `${f.client.ip}:${f.client.port}`,
        server: `${f.server.ip}:${f.server.port}`,
        faults: faultsSeen,
        err: err instanceof Error ? (err.stack ?? err.message) : String(err),
      })
    }
  }

  private detectOn(dir: Dir, chunk: Buffer, tsUs: number, acked: number): void {
    const lim = this.d.limits.maxDetectBytes
    const firstOfDir = this.seenOf(dir) === 0
    if (dir === 'c2s') this.dt!.seenC2s += chunk.length
    else this.dt!.seenS2c += chunk.length
    // A clean start: the direction's head is everything held so far. Mid-stream: every chunk start is
    // a chance of a message start (segments usually begin with one), so each is tried alone.
    const head = this.midStreamOn(dir) || firstOfDir ? chunk : this.headOf(dir, chunk)
    if (!this.midStreamOn(dir) && !this.dt!.deferred && (looksLikeTlsHandshake(head) || looksLikeSslv2Hello(head))) {
      // a ClientHello (or, when its direction was missed, a ServerHello): encrypted from the start
      this.startTls(dir, head, tsUs, false)
      return
    }
    const m = this.match(head, dir)
    if (m) {
      if (firstOfDir && !this.midStreamOn(dir) && this.dt!.held.length === 0 && !this.shouldDefer(m.p, dir, chunk.length)) {
        // nothing held (the usual first request): the parser starts on this chunk, no Held record made
        this.start(m.p, m.swap, dir, chunk, tsUs, acked)
        return
      }
      // held as the borrowed chunk itself: start() below replays it within this call; only a match
      // held back past this call needs its own copy
      this.holdMatched(dir, chunk, tsUs, acked, head === chunk, true)
      if (this.shouldDefer(m.p, dir, this.dt!.heldBytes)) {
        const last = this.dt!.held[this.dt!.held.length - 1] as Held & { kind: 'data' }
        last.buf = Buffer.from(chunk)
        this.dt!.deferred = m
        return
      }
      this.start(m.p, m.swap)
      return
    }
    if (this.dt!.deferred) {
      if (firstOfDir && !this.midStreamOn(dir)) {
        // the other side's clean first bytes contradict the earlier match: neither protocol
        this.dt!.deferred = null
      } else {
        // nothing clean to judge by (mid-stream): take the earlier match
        this.holdMatched(dir, chunk, tsUs, acked, false, true) // started at once: borrowed
        const d = this.dt!.deferred
        this.start(d.p, d.swap)
        return
      }
    }
    if (this.midStreamOn(dir) && looksLikeTlsRecords(chunk)) {
      // an encrypted connection joined mid-stream: label it, follow its records, parse nothing
      this.startTls(dir, chunk, tsUs, true)
      return
    }
    // not recognised yet: hold a copy (the chunk is borrowed for this call only)
    if (this.midStreamOn(dir) || this.dt!.heldBytes + chunk.length > lim) {
      // the head of this direction was not a message start: forget it, the parser will resync
      this.dropHeld(dir)
      this.dt!.held.push({ kind: 'gap', dir, n: -1, tsUs })
    } else {
      this.dt!.held.push({ kind: 'data', dir, buf: Buffer.from(chunk), tsUs, acked })
      this.dt!.heldBytes += chunk.length
    }
    if (this.dt!.seenC2s + this.dt!.seenS2c >= lim * 4 || this.dt!.heldBytes >= lim) {
      this.state = State.Unknown
      this.dt = null
      this.d.counters.inc(C.detectUnknown)
    }
  }

  /**
   * The connection is TLS: from here on its records go to a TlsObserver. `head` is this direction's
   * bytes from its first one (or, mid-stream, from a record boundary). A ClientHello sent by the side
   * guessed to be the server proves the guess wrong.
   */
  private seenOf(dir: Dir): number {
    return dir === 'c2s' ? this.dt!.seenC2s : this.dt!.seenS2c
  }

  private midStreamOn(dir: Dir): boolean {
    return (this.dt!.mid & (dir === 'c2s' ? MID_C2S : MID_S2C)) !== 0
  }

  private startTls(dir: Dir, head: Buffer, tsUs: number, midStream: boolean): void {
    const roleKnown = this.flow.roleSource === 'syn' || this.flow.roleSource === 'synack'
    const clientHello = head[0] === 0x16 ? head[5] === 1 : !midStream // SSL 2.0 hellos are client hellos
    // what the other side said before is not known to start at a record: follow it from its next
    // chunk that does (asked before a swap renames the directions)
    const otherSpoke = midStream || this.midStreamOn(flip(dir)) || this.seenOf(flip(dir)) > 0
    if (dir === 's2c' && clientHello && !roleKnown && head.length > 5) {
      this.flow.swapRoles('content')
      dir = 'c2s'
    } else if (this.flow.roleSource === 'guess' || this.flow.roleSource === 'port') this.flow.roleSource = 'content'
    this.state = State.Tls
    this.flags |= TLS
    const other = flip(dir)
    const obs = this.newTlsObserver()
    this.tlsObserver = obs
    if (otherSpoke) obs.gap(other, -1)
    this.dt = null
    obs.data(dir, head, tsUs)
    this.d.onEncrypted?.(this, this.flow)
  }

  /** what the TLS handshake showed, when the connection is encrypted and read by no parser */
  get tlsInfo(): TlsInfo | null {
    return this.tlsObserver?.result() ?? null
  }

  /** the first candidate that recognises `head`, in its direction or (roles only guessed) the other */
  private match(head: Buffer, dir: Dir): { p: ProtocolParser; swap: boolean } | null {
    const roleKnown = this.flow.roleSource === 'syn' || this.flow.roleSource === 'synack'
    for (const p of this.dt!.order.candidates) {
      if (p.detect(head, dir) && this.confirmed(p, dir, false)) return { p, swap: false }
      if (!roleKnown && p.detect(head, flip(dir)) && this.confirmed(p, dir, true)) return { p, swap: true }
    }
    return null
  }

  /**
   * A parser that does not usually live on the server's port, when one that does exists, must not be
   * contradicted by what the other side already said: a Redis inline command is not one when port 80
   * answered with HTML first.
   */
  private confirmed(p: ProtocolParser, dir: Dir, swap: boolean): boolean {
    if (this.dt!.order.hinted.length === 0 || this.dt!.order.hinted.includes(p)) return true
    const other = flip(dir)
    if (this.midStreamOn(other)) return true
    let otherHead: Buffer | null = null
    for (const h of this.dt!.held) if (h.kind === 'data' && h.dir === other) { otherHead = h.buf; break }
    if (otherHead === null) return true
    return p.detect(otherHead, swap ? dir : other)
  }

  /**
   * Port as a tie-break: when a parser that does not usually live on the server's port recognises one
   * side, and one that does is waiting, let the other side speak first (a scanner's malformed request
   * to port 80 is not a Redis inline command when the server answers "HTTP/1.0 400").
   */
  private shouldDefer(p: ProtocolParser, dir: Dir, heldBytes: number): boolean {
    if (this.dt!.order.hinted.length === 0 || this.dt!.order.hinted.includes(p)) return false
    // `dir` spoke and matched (heldBytes: what is held with its bytes); wait while the other side has said nothing
    return this.seenOf(flip(dir)) === 0 && heldBytes < this.d.limits.maxDetectBytes
  }

  /** holds `chunk` (copied) for replay into the parser; a mid-stream head drops what came before it */
  private holdMatched(dir: Dir, chunk: Buffer, tsUs: number, acked: number, headIsChunk: boolean, borrow = false): void {
    if (headIsChunk && (this.seenOf(dir) > chunk.length || this.midStreamOn(dir))) {
      this.dropHeld(dir)
      this.dt!.held.push({ kind: 'gap', dir, n: -1, tsUs })
    }
    this.dt!.held.push({ kind: 'data', dir, buf: borrow ? chunk : Buffer.from(chunk), tsUs, acked })
    this.dt!.heldBytes += chunk.length
  }

  /** everything held for `dir` since its last gap, then `chunk` */
  private headOf(dir: Dir, chunk: Buffer): Buffer {
    const parts: Buffer[] = []
    for (const h of this.dt!.held) if (h.kind === 'data' && h.dir === dir) parts.push(h.buf)
    if (parts.length === 0) return chunk
    parts.push(chunk)
    return Buffer.concat(parts)
  }

  private dropHeld(dir: Dir): void {
    const keep: Held[] = []
    for (const h of this.dt!.held) {
      if (h.dir !== dir) keep.push(h)
      else if (h.kind === 'data') this.dt!.heldBytes -= h.buf.length
    }
    this.dt!.held = keep
  }

  /** starts parser `p` on what is held, then on `chunk` of `dir` when one is given (borrowed: not held) */
  private start(p: ProtocolParser, swap: boolean, dir?: Dir, chunk?: Buffer, tsUs = 0, acked = -1): void {
    if (swap) this.flow.swapRoles('content')
    else if (this.flow.roleSource === 'guess' || this.flow.roleSource === 'port') this.flow.roleSource = 'content'
    this.parser = p
    this.inner = p.create(this)
    this.state = State.Parsing
    const events = this.dt!.held
    this.dt = null
    for (const h of events) {
      const d = swap ? flip(h.dir) : h.dir
      if (h.kind === 'data') {
        if (faults.parser !== null) faults.parser(p.id, h.buf)
        this.inner.data(d, h.buf, h.tsUs, h.acked)
      } else this.inner.gap(d, h.n, h.tsUs)
    }
    if (chunk !== undefined) {
      if (faults.parser !== null) faults.parser(p.id, chunk)
      this.inner.data(swap ? flip(dir!) : dir!, chunk, tsUs, acked)
    }
  }

  emit(e: ParsedExchange): void {
    const protocol = e.protocol ?? this.parser!.id
    exchangeSample(this.d.counters, protocol).value++
    // no response: unanswered when one was expected (error); a request that gets none by design
    // (one-way, CLIENT REPLY OFF, moreToCome, acks=0) comes with error false and is not counted
    if (e.status === null && e.error) this.d.counters.inc(C.unmatched, { protocol, side: 'request' })
    const x = e as Exchange
    // packet times can step back (rings merged, a clock adjusted): a latency is never negative
    if (x.endUs < x.startUs) x.endUs = x.startUs
    x.protocol = protocol
    x.tls = (this.flags & TLS) !== 0
    // a packet flow's own endpoints are the exchanges' peers (no Peer pair per connection): plain
    // {ip, port} that never change, and enrichment filling them in place is harmless (the flow table
    // reads ip and port only; link() copies just those two). Other flows' endpoints (the TLS tap's:
    // they carry who they are, and learn their address late) give new Peers, in Peer's field order.
    const f = this.flow
    if ((this.flags & SHARED_PEERS) !== 0) {
      x.client = f.client
      x.server = f.server
    } else {
      x.client = peerOf(f.client)
      x.server = peerOf(f.server)
    }
    x.flowId = this.flow.id
    this.d.onExchange(x)
  }

  private link(reason: EndReason, tsUs: number): LinkRecord {
    const f = this.flow
    const tcp = this.d.tcpStats?.(f)
    // a packet flow's counts are read as fields: FlowInfo's getters make an object per call
    const pf = (this.flags & SHARED_PEERS) !== 0 ? (f as PacketFlow) : null
    const bytes = pf === null ? f.bytes : null
    const packets = pf === null ? f.packets : null
    const gaps = pf === null ? f.gapBytes : null
    const l: LinkRecord = {
      flowId: f.id,
      client: pf !== null ? { ip: f.client.ip, port: f.client.port } : { ...f.client },
      server: pf !== null ? { ip: f.server.ip, port: f.server.port } : { ...f.server },
      protocol: this.protocol ?? 'unknown',
      tls: (this.flags & TLS) !== 0,
      startUs: f.startUs,
      endUs: Math.max(f.lastUs, f.startUs),
      bytesSent: pf !== null ? pf.bytesC2s : bytes!.c2s,
      bytesReceived: pf !== null ? pf.bytesS2c : bytes!.s2c,
      packetsSent: pf !== null ? pf.packetsC2s : packets!.c2s,
      packetsReceived: pf !== null ? pf.packetsS2c : packets!.s2c,
      retransmits: f.retransmits,
      gapBytes: pf !== null ? pf.gapC2s + pf.gapS2c : gaps!.c2s + gaps!.s2c,
      endReason: reason,
    }
    const t = this.tlsInfo
    if (t !== null) {
      if (t.sni !== undefined) l.sni = t.sni
      if (t.version !== undefined) l.tlsVersion = t.version
      const alpn = alpnLabel(t)
      if (alpn !== undefined) l.alpn = alpn
      l.tlsHandshake = t
    }
    if (tcp !== undefined) l.tcp = tcp
    return l
  }
}
