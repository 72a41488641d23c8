// The synchronous hot path: Packet -> decode -> flow table + reassembly -> detection -> parser ->
// Exchange (in request-start order) -> consumers. Nothing here awaits; sinks do (DESIGN.md data path).

import { decodeBytes } from '../capture/decode.js'
import { newFrame, type Frame } from '../capture/frame.js'
import type { Packet, RawPacket } from '../capture/source.js'
import { limitsWith, type Limits } from '../config.js'
import { C, Counters } from '../counters.js'
import { faults } from '../fault.js'
import { log } from '../log.js'
import { parsersFor } from '../protocols/registry.js'
import type { ProtocolParser } from '../protocols/types.js'
import type { Exchange } from '../records.js'
import { FlowTable } from '../tcp/flow-table.js'
import { TcpHealth, type TcpHealthOptions, type TcpWindow } from '../tcp/health.js'
import type { FlowInfo, StreamHandler } from '../tcp/types.js'
import { Connection, type ConnectionDeps } from './connection.js'
import type { LinkRecord } from '../records.js'
import { StartOrderBuffer } from './ordered.js'
import { TlsPairing } from './tls-pairing.js'

export interface PipelineOptions {
  limits?: Partial<Limits>
  /** protocol ids to parse (default: all) */
  protocols?: readonly string[]
  counters?: Counters
  /** exchanges, in order of request start (see ordered.ts for the bound on that order) */
  onExchange: (e: Exchange) => void
  /** l7_link records, one per connection at its end */
  onLink?: (l: LinkRecord) => void
  /** how long (capture time) an exchange is held to restore start order; default 60 s */
  orderHorizonUs?: number
  /** at most this many exchanges held for ordering; default 100 000 */
  orderCap?: number
  /**
   * TCP endpoints whose traffic is not analysed: podtap's own (its InfluxDB, its metrics port). An ip
   * of '0.0.0.0' or '::' matches any address on that port.
   */
  exclude?: readonly { ip: string; port: number }[]
  /** TCP health per server endpoint and client (tcp/health.ts): windows of it, and its knobs */
  tcp?: {
    onWindow?: (w: TcpWindow) => void
    /** default 15 s */
    windowUs?: number
    /** an unanswered SYN is decided after this long (capture clock; default 10 s) */
    synTimeoutUs?: number
    /** half-open attempts tracked at once (default 16 384) */
    maxHalfOpen?: number
    /** the one-copy rule for TCP health (a ClusterIP connection's client side is a copy): TcpHealthOptions.view */
    view?: TcpHealthOptions['view']
  }
  /**
   * A TLS tap feeds plaintext through openStream(): a connection seen both ways is counted once
   * (tls-pairing.ts), so an encrypted packet connection's l7_link waits up to TLS_PAIR_HOLD_US of
   * capture time for its tap stream.
   */
  tlsTap?: boolean
}

/** How long (capture time) an ended encrypted connection's link waits for its tap stream. */
export const TLS_PAIR_HOLD_US = 2_000_000

/**
 * The consumers of exchanges (summary, JSONL, outputs) behind one try/catch: a throw while formatting
 * a record loses that record only, counted in parse_errors{protocol, reason="internal"} and logged
 * the first times; the capture goes on.
 */
export function contained<T extends { protocol: string; method?: string; resource?: string }>(
  consume: (r: T) => void,
  counters: Counters,
  where = 'output',
): (r: T) => void {
  let logged = 0
  return (r) => {
    try {
      if (faults.sink !== null) faults.sink(r.resource)
      consume(r)
    } catch (err) {
      counters.inc(C.parseErrors, { protocol: r.protocol, reason: 'internal' })
      if (logged++ < 20) log.error(`record dropped: formatting it for the ${where} failed`, { protocol: r.protocol, method: r.method, err: err instanceof Error ? (err.stack ?? err.message) : String(err) })
    }
  }
}

/** How often (capture time) idle flows are expired. */
const TICK_US = 1_000_000
/** How often (capture time) held exchanges are released in start order (see release()). */
const RELEASE_US = 20_000
/** connections a release scan may ask per packet since the last, on average */
const RELEASE_SCAN_PER_PACKET = 4

export class Pipeline {
  readonly counters: Counters
  readonly limits: Limits
  readonly parsers: readonly ProtocolParser[]
  private readonly frame: Frame = newFrame()
  private readonly flows: FlowTable
  /** TCP health of every flow (connects, resets, retransmits, zero windows, RTT) */
  readonly tcp: TcpHealth
  private readonly ordered: StartOrderBuffer<Exchange>
  private nextTickUs = 0
  private nextReleaseUs = 0
  /** and not before this many packets (release()) */
  private releasePackets = 0
  private readonly deps: ConnectionDeps
  /**
   * connections not yet ended, asked for their oldest pending request to release output early: a list
   * linked through the connections (Connection.liveNext/livePrev). A Set cost an add and a delete per
   * connection, and the delete that empties it shrinks (reallocates) its table: one table per short
   * connection.
   */
  private liveHead: Connection | null = null
  /** finish() began: the list is dropped whole, connections ending from then on are not unlinked */
  private draining = false
  /** encrypted packets and tap plaintext of one connection: one link (tls-pairing.ts) */
  private readonly pairing: TlsPairing
  /** 'ip port' of excluded endpoints, and ports excluded on any address */
  private excludeEndpoints = new Set<string>()
  private excludePorts = new Set<number>()
  /** capture clock: the newest packet time seen */
  nowUs = 0
  packets = 0
  bytes = 0

  constructor(o: PipelineOptions) {
    this.counters = o.counters ?? new Counters()
    this.limits = limitsWith(o.limits)
    this.parsers = parsersFor(o.protocols)
    this.ordered = new StartOrderBuffer<Exchange>(contained(o.onExchange, this.counters), o.orderHorizonUs ?? 60_000_000, o.orderCap ?? 100_000)
    const tcp = new TcpHealth({
      counters: this.counters,
      maxSeries: this.limits.maxSeriesPerWindow,
      maxHalfOpen: o.tcp?.maxHalfOpen ?? Math.min(16_384, this.limits.maxFlows),
      synTimeoutUs: o.tcp?.synTimeoutUs,
      windowUs: o.tcp?.windowUs,
      onWindow: o.tcp?.onWindow,
      view: o.tcp?.view,
    })
    this.tcp = tcp
    const deps = {
      tcpStats: (f: FlowInfo) => tcp.stats(f),
      parsers: this.parsers,
      limits: this.limits,
      counters: this.counters,
      onExchange: (e: Exchange) => this.ordered.push(e),
      onLink: (l: LinkRecord, c: Connection) => this.pairing.link(l, c, this.nowUs),
      // no onLink: a plaintext packet connection's record would go nowhere (a short connection's
      // record, its endpoints and TCP health stats were a sixth of what it allocated)
      linksWanted: o.onLink !== undefined,
      onEncrypted: (c: Connection, flow: FlowInfo) => this.pairing.encrypted(c, flow),
      onEnd: (c: Connection) => this.unlive(c),
    }
    // l7_link records behind the same boundary as exchanges
    const onLink = o.onLink === undefined ? undefined : contained(o.onLink, this.counters)
    this.pairing = new TlsPairing(onLink === undefined ? () => {} : onLink, this.counters, o.tlsTap === true ? TLS_PAIR_HOLD_US : 0)
    this.deps = deps
    this.setExcluded(o.exclude ?? [])
    this.flows = new FlowTable({
      limits: this.limits,
      counters: this.counters,
      onFlow: (flow) => {
        const c = new Connection(flow, deps)
        this.addLive(c)
        return c
      },
      health: tcp,
      onFlowEnd: (flow) => tcp.release(flow),
    })
  }

  /** One captured packet. `p` is borrowed for the call. */
  packet(p: Packet): void {
    this.packetBytes(p.tsUs, p.ifindex, p.linkType, p.data, 0, p.data.length, p.origLen)
  }

  /** One packet read in place (a capture file's buffer). `p` is borrowed for the call. */
  packetRaw(p: RawPacket): void {
    this.packetBytes(p.tsUs, p.ifindex, p.linkType, p.buf, p.start, p.caplen, p.origLen)
  }

  private packetBytes(tsUs: number, ifindex: number, linkType: number, buf: Buffer, start: number, caplen: number, origLen: number): void {
    this.packets++
    this.bytes += caplen
    if (tsUs > this.nowUs) this.nowUs = tsUs
    const f = this.frame
    f.tsUs = tsUs
    f.ifindex = ifindex
    const r = decodeBytes(buf, start, caplen, origLen, linkType, f)
    if (r !== 'ok') this.counters.inc(C.decodeSkipped, { reason: r })
    else if (this.excludeEndpoints.size === 0 || !this.excluded(f)) this.flows.segment(f)
    if (this.nowUs >= this.nextReleaseUs && this.packets >= this.releasePackets) this.release()
    if (this.nowUs >= this.nextTickUs) this.tick(this.nowUs)
  }

  /** writes out every held exchange that no pending request can precede */
  private release(): void {
    if (this.ordered.size === 0) {
      // nothing held: no need to ask every connection (O(connections)) for its watermark
      this.nextReleaseUs = this.nowUs + RELEASE_US
      return
    }
    let w = Infinity
    let n = 0
    for (let c = this.liveHead; c !== null; c = c.liveNext) {
      n++
      const t = c.oldestPendingUs()
      if (t < w) w = t
      if (w === -Infinity) break
    }
    this.ordered.advance(this.nowUs, w)
    this.nextReleaseUs = this.nowUs + RELEASE_US
    // the scan asked n connections: the next one waits for n / RELEASE_SCAN_PER_PACKET packets too, so
    // with many open connections it costs a bounded share per packet (50k keep-alive connections: a
    // scan every 20 ms was ~10 % of the replay); tick() still releases once a second of capture time
    this.releasePackets = this.packets + Math.floor(n / RELEASE_SCAN_PER_PACKET)
  }

  /**
   * A connection whose bytes come from elsewhere than packets (the TLS plaintext tap, src/tls/): the
   * same detection, parsers, ordering and records. The caller owns `flow` and calls end() on the
   * handler when the connection is over; `tls` marks its records and link.
   */
  openStream(flow: FlowInfo, opts: { tls: boolean }): StreamHandler {
    const c = new Connection(flow, this.deps, opts)
    this.addLive(c)
    // the same 4-tuple may also come as encrypted packets: counted once (tls-pairing.ts)
    return this.pairing.tapStream(c, flow)
  }

  private addLive(c: Connection): void {
    const h = this.liveHead
    c.liveNext = h
    if (h !== null) h.livePrev = c
    this.liveHead = c
  }

  private unlive(c: Connection): void {
    if (this.draining) return
    const p = c.livePrev
    const n = c.liveNext
    if (p !== null) p.liveNext = n
    else if (this.liveHead === c) this.liveHead = n
    if (n !== null) n.livePrev = p
    c.livePrev = c.liveNext = null
  }

  /** Replaces the excluded endpoints (see PipelineOptions.exclude). */
  setExcluded(eps: readonly { ip: string; port: number }[]): void {
    this.excludeEndpoints = new Set(eps.map((e) => `${e.ip} ${e.port}`))
    this.excludePorts = new Set(eps.filter((e) => e.ip === '0.0.0.0' || e.ip === '::').map((e) => e.port))
  }

  private excluded(f: Frame): boolean {
    if (this.excludePorts.has(f.dstPort) || this.excludePorts.has(f.srcPort)) {
      this.counters.inc('own_traffic_packets')
      return true
    }
    if (this.excludeEndpoints.has(`${f.dst} ${f.dstPort}`) || this.excludeEndpoints.has(`${f.src} ${f.srcPort}`)) {
      this.counters.inc('own_traffic_packets')
      return true
    }
    return false
  }

  /** Moves the capture clock (live capture calls it from a timer when no packets come). */
  tick(nowUs: number): void {
    if (nowUs > this.nowUs) this.nowUs = nowUs
    this.flows.advance(this.nowUs)
    this.tcp.advance(this.nowUs)
    this.pairing.release(this.nowUs)
    this.release()
    this.counters.set(C.flowsActive, this.flows.size)
    this.nextTickUs = this.nowUs + TICK_US
  }

  /** End of input: end every flow (reporting unanswered requests) and release every exchange. */
  finish(): void {
    // nothing is released from here on (release() runs per packet): the live list is dropped whole, and
    // connections ending below are not unlinked one by one (draining)
    this.draining = true
    this.liveHead = null
    this.flows.closeAll('shutdown', this.nowUs)
    this.tcp.flush(this.nowUs)
    this.pairing.release(Infinity)
    this.ordered.flush()
    this.counters.set(C.flowsActive, this.flows.size)
    this.counters.set('exchanges_out_of_order', this.ordered.late)
  }

  get flowsActive(): number {
    return this.flows.size
  }
}
