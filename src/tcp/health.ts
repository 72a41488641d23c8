// TCP connection health, from the headers alone (issue #11): connects ok / refused / unanswered and
// how long they took, active connections, resets, retransmissions, zero windows and round-trip times,
// per server endpoint and client address, for every port (a protocol podtap cannot parse is still a
// service). Fed by one call per segment from the flow table (FlowTable `health` option); nothing here
// looks at payload bytes.
//
// Memory. No object per flow: a flow's state is STRIDE numbers at the slot it carries in
// FlowInfo.tcpSlot, in Float64Array chunks of CHUNK slots added as the table grows (nothing copied;
// free slots are reused). Aggregates live per series (server ip:port, client ip), at most `maxSeries`.
// Half-open attempts (a client SYN seen, no SYN/ACK or RST yet) are listed in a fixed Int32Array of
// `maxHalfOpen` entries; a new SYN when it is full opens no flow at all (admit() says no) and is
// counted in C.tcpSynsUntracked, so a SYN flood costs a bounded table and never evicts live flows.
//
// Definitions (docs/architecture.md "TCP health" has the long form):
//   connect ok          the handshake completed: the client's ACK after the server's SYN/ACK (when the
//                       capture missed one of them, the first ACK after the other); duration = the
//                       client's first SYN to the (last) SYN/ACK before that ACK, when both were seen
//   connect refused     a RST from the server answering the client's SYN (no SYN/ACK before it)
//   connect unanswered  no completed handshake and no RST: decided `synTimeoutUs` after the first SYN
//                       (capture clock; a SYN/ACK lost after the capture point leaves it open), or
//                       earlier when the flow ends (idle, evicted, end of input) after the client had
//                       retransmitted its SYN. A single SYN cut short by the end of the capture is
//                       not counted (connect 'unknown' on its link).
//   reset               a connection ended by a RST after the handshake (or joined mid-stream), by
//                       sender: once per connection
//   RST segment         every RST segment, by sender, whatever it answered (a SYN, a closed
//                       connection): tshark's count of RST frames
//   retransmit          a segment seen again, by direction: data whose bytes the reassembler had
//                       already seen (delivered or buffered; a reordered segment filling a hole is
//                       not one, nor a keep-alive probe one byte below the highest number sent), or a
//                       SYN or FIN whose sequence number was already sent; also after the close
//                       (a FIN sent again after both FINs: the tombstone keeps each direction's
//                       highest number, ClosedFlow.end0/end1, and the count lands on the series)
//   zero window         a segment advertising window 0 (not SYN, FIN or RST), by direction of the
//                       segment (c2s: the client's receive buffer is full)
//   rtt                 per side, the round trip between the capture point and that end: the server
//                       side from SYN -> SYN/ACK and from client data -> the server's pure ACK of it,
//                       the client side from SYN/ACK -> the client's ACK and from server data -> the
//                       client's pure ACK. Karn's rule: a segment sent more than once gives no
//                       sample; one probe per direction at a time. Sum of the two sides = the path's
//                       RTT. Data samples include the receiver's delayed-ACK wait, as the kernel's own
//                       srtt does.

import type { Frame } from '../capture/frame.js'
import { TcpFlag } from '../capture/frame.js'
import { C, type CounterSample, type Counters } from '../counters.js'
import { seqDiff } from './seq.js'
import type { ClosedFlow, Endpoint, FlowInfo, SegmentHook } from './types.js'

/** Bucket upper bounds (seconds) of the connect-time and RTT histograms: 100 µs (veth) to 10 s. */
export const TCP_BUCKETS_S = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const
const NB = TCP_BUCKETS_S.length + 1 // + Inf
const BUCKETS_US = TCP_BUCKETS_S.map((s) => s * 1e6)

export type ConnectResult = 'ok' | 'refused' | 'unanswered'

/** A connection's TCP health, on its l7_link record (and the --links JSON line). */
export interface FlowTcpStats {
  /** how the connect went; 'unknown' when no SYN was seen (joined mid-stream) or the capture ended first */
  connect: ConnectResult | 'unknown'
  /** client's first SYN to the server's SYN/ACK, µs (null when either was not seen) */
  connectUs: number | null
  /** who sent the RST after establishment, if one did */
  reset: 'client' | 'server' | null
  /** read-only (the zero ones are shared by every connection that had none) */
  readonly retransmits: { readonly c2s: number; readonly s2c: number }
  readonly zeroWindows: { readonly c2s: number; readonly s2c: number }
  /** round trip capture point <-> client / <-> server: samples, min and mean (µs; null without samples) */
  readonly rttClient: RttStats
  readonly rttServer: RttStats
}

export interface RttStats {
  readonly samples: number
  readonly minUs: number | null
  readonly meanUs: number | null
}

/** what most connections have: allocated once, not per l7_link (less garbage per short connection) */
const NONE_PER_DIR: FlowTcpStats['retransmits'] = { c2s: 0, s2c: 0 }
const NO_RTT: RttStats = { samples: 0, minUs: null, meanUs: null }

/** One series' change over a window (what outputs write), plus its live connections now. */
export interface TcpSeriesRow {
  /** enrichment (k8s, /proc) may add identity fields in place: they are Peers above this layer */
  server: Endpoint
  /** port 0: the client's address only */
  client: Endpoint
  connects: { ok: number; refused: number; unanswered: number }
  /** connect durations (ok connects with a SYN seen): count per TCP_BUCKETS_S bucket (+Inf last), sum, max */
  connectHist: Float64Array
  connectSumUs: number
  connectMaxUs: number
  /** established connections open at the window's end */
  active: number
  /** connections ended by a RST, by sender (once per connection) */
  resets: { client: number; server: number }
  /** RST segments, by sender: every one (answering a SYN, after the first, after the close) */
  rstSegments: { client: number; server: number }
  retransmits: { c2s: number; s2c: number }
  zeroWindows: { c2s: number; s2c: number }
  /** RTT samples per side: bucket counts, sum, min, max (µs) */
  rttClient: RttRow
  rttServer: RttRow
}

export interface RttRow {
  hist: Float64Array
  sumUs: number
  minUs: number
  maxUs: number
}

export interface TcpWindow {
  windowStartUs: number
  windowUs: number
  rows: TcpSeriesRow[]
}

export interface TcpHealthOptions {
  counters: Counters
  /** half-open attempts tracked at once (default 16 384); SYNs past it open no flow and are counted */
  maxHalfOpen?: number
  /** series (server endpoint, client ip) at once (default 20 000); flows past it count only globally */
  maxSeries?: number
  /** an unanswered SYN is decided after this long on the capture clock (default 10 s) */
  synTimeoutUs?: number
  /** window of onWindow (default 15 s) */
  windowUs?: number
  /** a closed window's rows; absent = no per-series aggregation */
  onWindow?: (w: TcpWindow) => void
  /**
   * Asked when a flow opens (and again on its segments while 'maybe', last when it ends: 'maybe' is
   * then 'own'): a 'copy' counts nowhere; a 'maybe' counts aside until it is known. Absent: all own.
   */
  view?: (client: Endpoint, serverIp: string, tsUs: number) => FlowView
}

export const DEFAULT_SYN_TIMEOUT_US = 10_000_000

/**
 * Whether a flow is a connection's own view or a second view of one counted elsewhere (the one-copy
 * rule, src/capture/copies.ts): a Kubernetes pod reaching a ClusterIP whose backend is on this node
 * passes its own veth as pod -> ClusterIP and the backend's veth as pod -> backend, two 4-tuples of
 * one connection. 'maybe': not known yet (the backend's side of the pairing may still come).
 */
export type FlowView = 'own' | 'copy' | 'maybe'

// ---- per-flow state: STRIDE numbers per slot

const enum F {
  Bits, // Bit flags below
  Series, // series index, -1 none
  ClientPort, // client port when the slot was filled (a role swap flips the per-direction fields)
  HalfOpenPos, // position in the half-open list, -1 none
  SynUs, // client's first SYN
  SynLastUs, // client's last SYN
  SynCount,
  SynAckUs,
  SynAckLastUs,
  SynAckCount,
  ConnectUs, // -1 unknown
  MaxEnd0, // highest sequence number sent + 1, c2s / s2c (valid with Bit.MaxEnd0/1)
  MaxEnd1,
  ProbeEnd0, // RTT probe: sequence number the ACK must reach, c2s data / s2c data
  ProbeEnd1,
  ProbeUs0,
  ProbeUs1,
  Retrans0,
  Retrans1,
  Zw0,
  Zw1,
  RttN0, // RTT samples of the server side (c2s data / SYN) and client side (s2c data / SYN-ACK)
  RttN1,
  RttSum0,
  RttSum1,
  RttMin0,
  RttMin1,
  ServerIsn, // the SYN/ACK's sequence number (the client's handshake ACK acknowledges it + 1)
  LastRetrans, // FlowInfo.retransmits when the last segment was handed on
  LastDir, // that segment's direction (0 c2s, 1 s2c; 2: a keep-alive probe, not counted)
  STRIDE,
}

const enum Bit {
  Used = 1,
  ClientSyn = 2,
  SynAck = 4,
  Decided = 8, // connect result counted
  Active = 16, // counted in its series' active gauge
  MaxEnd0 = 32,
  MaxEnd1 = 64,
  Probe0 = 128,
  Probe1 = 256,
  HsAckDone = 512, // the client's ACK of the SYN/ACK was seen (or looked for and given up)
  ResetClient = 1024,
  ResetServer = 2048,
  Refused = 4096,
  Unanswered = 8192,
  Pending = 16384, // the view is 'maybe': counted in a shadow series (see FlowView)
}

/** F.Series of a flow that is a copy (counted nowhere); -1 is a flow past the series cap */
const COPY = -2

/** slots per chunk of the per-flow table (4096 x 240 B = 960 KB) */
const CHUNK_BITS = 12
const CHUNK = 1 << CHUNK_BITS

const SYN = TcpFlag.SYN
const ACK = TcpFlag.ACK
const RST = TcpFlag.RST
const FIN = TcpFlag.FIN

/** The counts of a series and of the global counters, by index (Series.h at CNT + K, TcpHealth.g). */
const enum K {
  Ok,
  Refused,
  Unanswered,
  ResetClient,
  ResetServer,
  RstClient,
  RstServer,
  Retrans0,
  Retrans1,
  Zw0,
  Zw1,
  N,
}

/** where a series' counts start in Series.h */
const CNT = 3 * NB + 6

/** Per series, the window's counts and the live connections (reset each window except `active`). */
class Series {
  /** live flows pointing at this series */
  refs = 0
  active = 0
  /**
   * One array for the window: connect-time buckets at 0, RTT buckets of the server side at NB and of
   * the client side at 2 NB, then per side sum, min, max at 3 NB + 3 side, then the counts at CNT + K
   */
  readonly h = new Float64Array(CNT + K.N)
  connectSumUs = 0
  connectMaxUs = 0
  /** anything counted this window */
  dirty = false
  constructor(
    readonly serverIp: string,
    readonly serverPort: number,
    readonly clientIp: string,
    /** counts of flows whose view is not known yet (or copies): not global, not emitted, merged or dropped */
    readonly shadow = false,
  ) {
    this.h[3 * NB + 1] = Infinity
    this.h[3 * NB + 4] = Infinity
  }
}

function bucketOf(us: number): number {
  let i = 0
  while (i < BUCKETS_US.length && us > (BUCKETS_US[i] as number)) i++
  return i
}

export class TcpHealth implements SegmentHook {
  /** slabs of CHUNK slots (no copy when the table grows); `s` is the one of the slot at hand */
  private readonly chunks: Float64Array[] = []
  private s: Float64Array
  private slots = 0
  private readonly free: number[] = []
  private readonly halfOpen: Int32Array
  private halfOpenN = 0
  private readonly series: (Series | null)[] = []
  /** series index by server port, server ip, client ip: three lookups, no key string built per flow */
  private readonly seriesIndex = new Map<number, Map<string, Map<string, number>>>()
  /** the last server endpoint looked up and its clients' map (most flows go to few servers) */
  private lastPort = -1
  private lastIp = ''
  private lastClients: Map<string, number> | null = null
  private seriesN = 0
  private readonly freeSeries: number[] = []
  private readonly maxSeries: number
  private readonly synTimeoutUs: number
  private readonly windowUs: number
  private windowStartUs = -1
  private readonly onWindow: ((w: TcpWindow) => void) | undefined
  // global counters (the summary's totals line, podtap_health), kept as handles: no key per event
  /** the global counters of the counts K */
  private readonly g: CounterSample[]
  private readonly cUntracked: CounterSample
  private readonly cSeriesCap: CounterSample
  /** where copies count: never emitted, never global */
  private readonly sink = new Series('', 0, '', true)
  private readonly view: TcpHealthOptions['view']

  constructor(private readonly o: TcpHealthOptions) {
    const c = o.counters
    // in the order of K
    this.g = [
      c.handle(C.tcpConnects, { result: 'ok' }),
      c.handle(C.tcpConnects, { result: 'refused' }),
      c.handle(C.tcpConnects, { result: 'unanswered' }),
      c.handle(C.tcpResets, { sender: 'client' }),
      c.handle(C.tcpResets, { sender: 'server' }),
      c.handle(C.tcpRstSegments, { sender: 'client' }),
      c.handle(C.tcpRstSegments, { sender: 'server' }),
      c.handle(C.tcpRetransmitsSeen, { direction: 'c2s' }),
      c.handle(C.tcpRetransmitsSeen, { direction: 's2c' }),
      c.handle(C.tcpZeroWindows, { direction: 'c2s' }),
      c.handle(C.tcpZeroWindows, { direction: 's2c' }),
    ]
    this.cUntracked = c.handle(C.tcpSynsUntracked)
    this.cSeriesCap = c.handle(C.capsHit, { cap: 'tcp_series' })
    this.halfOpen = new Int32Array(o.maxHalfOpen ?? 16_384)
    this.maxSeries = o.maxSeries ?? 20_000
    this.synTimeoutUs = o.synTimeoutUs ?? DEFAULT_SYN_TIMEOUT_US
    this.windowUs = o.windowUs ?? 15_000_000
    this.onWindow = o.onWindow
    this.view = o.view
    this.s = new Float64Array(0)
  }

  /** half-open attempts tracked now */
  get halfOpenCount(): number {
    return this.halfOpenN
  }

  /** live series (tests, memory accounting) */
  get seriesCount(): number {
    return this.seriesN
  }

  /** A bare SYN would open a new flow: false when the half-open list is full (the SYN is counted). */
  admit(): boolean {
    if (this.halfOpenN < this.halfOpen.length) return true
    this.cUntracked.value++
    return false
  }

  /**
   * One segment of `flow`, its direction known (`fromClient`), before reassembly. `f` is borrowed.
   * Called for every segment the flow table keeps, RSTs included (the table ends the flow after).
   */
  segment(flow: FlowInfo, fromClient: boolean, f: Frame): void {
    let slot = flow.tcpSlot as number
    if (slot < 0) slot = this.open(flow, f.tsUs)
    const b = this.base(slot)
    const s = this.s
    if (s[b + F.ClientPort] !== flow.client.port) this.swapped(flow, b)
    if (((s[b + F.Bits] as number) & Bit.Pending) !== 0) this.resolve(flow, b, f.tsUs, false)
    if (flow.retransmits !== s[b + F.LastRetrans]) this.dataRetransmits(flow, b)
    const flags = f.flags
    const tsUs = f.tsUs
    let bits = s[b + F.Bits] as number
    const d = fromClient ? 0 : 1
    s[b + F.LastDir] = d

    if ((flags & RST) !== 0) {
      this.bump(this.seriesOf(b), fromClient ? K.RstClient : K.RstServer, 1)
      if ((bits & (Bit.SynAck | Bit.ClientSyn)) === Bit.ClientSyn) {
        // no SYN/ACK yet: a RST from the server answers the SYN (refused); one from the client is
        // the client giving up, decided at the end like any unanswered attempt
        if (!fromClient && (bits & Bit.Decided) === 0) bits = this.decide(b, bits, Bit.Refused, tsUs)
      } else if ((bits & (Bit.ResetClient | Bit.ResetServer)) === 0) {
        bits |= fromClient ? Bit.ResetClient : Bit.ResetServer
        this.bump(this.seriesOf(b), fromClient ? K.ResetClient : K.ResetServer, 1)
      }
      s[b + F.Bits] = bits
      return
    }

    const syn = (flags & SYN) !== 0
    const ack = (flags & ACK) !== 0
    if (syn) {
      if (!ack) {
        if (fromClient) {
          if ((bits & Bit.ClientSyn) === 0) {
            bits |= Bit.ClientSyn
            s[b + F.SynUs] = tsUs
            if ((bits & (Bit.SynAck | Bit.Decided)) === 0) this.addHalfOpen(b, slot)
          }
          s[b + F.SynLastUs] = tsUs
          s[b + F.SynCount]++
        }
      } else if (!fromClient) {
        if ((bits & Bit.SynAck) === 0) {
          bits |= Bit.SynAck
          s[b + F.SynAckUs] = tsUs
          s[b + F.ServerIsn] = f.seq
          // Karn: the server side's round trip only when the SYN went out once
          if ((bits & Bit.ClientSyn) !== 0 && s[b + F.SynCount] === 1) this.rtt(b, 0, tsUs - (s[b + F.SynLastUs] as number))
        }
        s[b + F.SynAckLastUs] = tsUs
        s[b + F.SynAckCount]++
      }
    } else if ((bits & Bit.Active) === 0 && ((bits & (Bit.ClientSyn | Bit.SynAck)) === 0 || ack)) {
      // joined mid-stream (established as far as anyone can tell), or the first ACK after the
      // handshake's SYN or SYN/ACK: the handshake completed (the client's ACK of the SYN/ACK; when
      // the capture missed one of them, whatever comes next with an ACK). A SYN/ACK alone is not
      // enough: lost after the capture point, the client never got it and keeps sending its SYN.
      if ((bits & Bit.Decided) === 0 && (bits & (Bit.ClientSyn | Bit.SynAck)) !== 0) {
        if ((bits & (Bit.ClientSyn | Bit.SynAck)) === (Bit.ClientSyn | Bit.SynAck)) {
          s[b + F.ConnectUs] = (s[b + F.SynAckLastUs] as number) - (s[b + F.SynUs] as number)
        }
        bits = this.decide(b, bits, 0, tsUs)
      }
      bits = this.establish(b, bits)
    }

    // the client's ACK of the SYN/ACK: the client side's handshake round trip (Karn: SYN/ACK sent once)
    if (fromClient && ack && !syn && (bits & (Bit.SynAck | Bit.HsAckDone)) === Bit.SynAck) {
      bits |= Bit.HsAckDone
      if (s[b + F.SynAckCount] === 1 && f.ack === ((s[b + F.ServerIsn] as number) + 1) >>> 0) {
        this.rtt(b, 1, tsUs - (s[b + F.SynAckUs] as number))
      }
    }

    // retransmissions, and arming this direction's RTT probe on new data
    const payloadLen = f.payloadLen
    const len = payloadLen + (syn ? 1 : 0) + ((flags & FIN) !== 0 ? 1 : 0)
    if (len > 0) {
      const seq = f.seq
      const endSeq = (seq + len) >>> 0
      const haveMax = (bits & (d === 0 ? Bit.MaxEnd0 : Bit.MaxEnd1)) !== 0
      const maxEnd = s[b + F.MaxEnd0 + d] as number
      if (haveMax && seqDiff(seq, maxEnd) < 0) {
        if (payloadLen === 0) {
          // a SYN or FIN sent again (the reassembler judges data: bytes it had seen before)
          this.retransmitted(b, d, 1)
        } else if (payloadLen <= 1 && endSeq === maxEnd && !syn && (flags & FIN) === 0) {
          // a keep-alive probe (one byte below the highest number sent) is not a retransmission
          s[b + F.LastDir] = 2
        }
        // Karn: a probe whose bytes may have gone out again gives no sample
        const pb = d === 0 ? Bit.Probe0 : Bit.Probe1
        if ((bits & pb) !== 0 && seqDiff(seq, s[b + F.ProbeEnd0 + d] as number) < 0) bits &= ~pb
        if (seqDiff(endSeq, maxEnd) > 0) s[b + F.MaxEnd0 + d] = endSeq
      } else {
        s[b + F.MaxEnd0 + d] = endSeq
        bits |= d === 0 ? Bit.MaxEnd0 : Bit.MaxEnd1
        const pb = d === 0 ? Bit.Probe0 : Bit.Probe1
        if (payloadLen > 0 && (bits & pb) === 0) {
          bits |= pb
          s[b + F.ProbeEnd0 + d] = endSeq
          s[b + F.ProbeUs0 + d] = tsUs
        }
      }
    }

    // an ACK for the other direction's probe; only a pure ACK gives a sample (an ACK riding on data
    // waited for the application)
    if (ack) {
      const o = 1 - d
      const pb = o === 0 ? Bit.Probe0 : Bit.Probe1
      if ((bits & pb) !== 0 && seqDiff(f.ack, s[b + F.ProbeEnd0 + o] as number) >= 0) {
        bits &= ~pb
        if (len === 0) this.rtt(b, o, tsUs - (s[b + F.ProbeUs0 + o] as number))
      }
    }

    if (f.window === 0 && (flags & (SYN | FIN)) === 0) {
      s[b + F.Zw0 + d]++
      this.bump(this.seriesOf(b), K.Zw0 + d, 1)
    }
    s[b + F.Bits] = bits
  }

  /**
   * A connection's health so far (final once its flow ended: call before release()). Undefined for
   * flows the hook never saw (the TLS plaintext tap's).
   */
  stats(flow: FlowInfo): FlowTcpStats | undefined {
    const slot = flow.tcpSlot
    if (slot === undefined || slot < 0) return undefined
    const b = this.base(slot)
    this.finalize(b)
    const s = this.s
    if (flow.retransmits !== s[b + F.LastRetrans]) this.dataRetransmits(flow, b)
    const bits = s[b + F.Bits] as number
    const connect: FlowTcpStats['connect'] =
      (bits & Bit.Decided) === 0 ? 'unknown' : (bits & Bit.Refused) !== 0 ? 'refused' : (bits & Bit.Unanswered) !== 0 ? 'unanswered' : 'ok'
    const cu = s[b + F.ConnectUs] as number
    return {
      connect,
      connectUs: cu >= 0 ? cu : null,
      reset: (bits & Bit.ResetClient) !== 0 ? 'client' : (bits & Bit.ResetServer) !== 0 ? 'server' : null,
      retransmits: perDir(s, b + F.Retrans0),
      zeroWindows: perDir(s, b + F.Zw0),
      rttClient: rttStats(s, b, 1),
      rttServer: rttStats(s, b, 0),
    }
  }

  /** The flow ended (FlowTable onFlowEnd): its last decision is made and its slot freed. */
  release(flow: FlowInfo): void {
    const slot = flow.tcpSlot
    if (slot === undefined || slot < 0) return
    const b = this.base(slot)
    this.finalize(b)
    const s = this.s
    if (flow.retransmits !== s[b + F.LastRetrans]) this.dataRetransmits(flow, b)
    if (((s[b + F.Bits] as number) & Bit.Pending) !== 0) this.resolve(flow, b, flow.lastUs, true)
    const bits = s[b + F.Bits] as number
    this.dropHalfOpen(b)
    const sr = this.seriesOf(b)
    if (sr !== null && !sr.shadow) {
      if ((bits & Bit.Active) !== 0) {
        sr.active--
        sr.dirty = true
      }
      sr.refs--
    }
    s[b + F.Bits] = 0 // the rest is set again by open()
    flow.tcpSlot = -1
    this.free.push(slot)
  }

  /** The flow closed (FIN/RST) leaving tombstone `t`: each direction's highest sequence number goes in it. */
  closed(flow: FlowInfo, t: ClosedFlow): void {
    const slot = flow.tcpSlot
    if (slot === undefined || slot < 0) return
    const b = this.base(slot)
    const s = this.s
    if (s[b + F.ClientPort] !== flow.client.port) this.swapped(flow, b)
    if (((s[b + F.Bits] as number) & Bit.Pending) !== 0) this.resolve(flow, b, flow.lastUs, true)
    if (s[b + F.Series] === COPY) {
      t.end0 = t.end1 = COPY // its trailing segments count nowhere either
      return
    }
    const bits = s[b + F.Bits] as number
    t.end0 = (bits & Bit.MaxEnd0) !== 0 ? (s[b + F.MaxEnd0] as number) : -1
    t.end1 = (bits & Bit.MaxEnd1) !== 0 ? (s[b + F.MaxEnd1] as number) : -1
  }

  /**
   * A segment of a connection that is over (its tombstone `t` swallowed it): a FIN or data sent again
   * is a retransmission, a RST one more RST segment, as on the live connection. They count on the
   * connection's series (looked up again: the flow's slot is gone) and globally; its l7_link record
   * was already written.
   */
  afterClose(t: ClosedFlow, f: Frame): void {
    if (t.end0 === COPY) return
    const flags = f.flags
    const payloadLen = f.payloadLen
    const fin = (flags & FIN) !== 0
    const len = payloadLen + (fin ? 1 : 0)
    const zw = f.window === 0 && (flags & (SYN | FIN)) === 0
    // the usual trailing segment, the last ACK, counts nothing: no series looked up for it
    if ((flags & RST) === 0 && len === 0 && !zw) return
    const fromClient = f.srcPort === t.aPort && f.src === t.aIp
    const sr = this.closedSeries(t)
    if ((flags & RST) !== 0) {
      this.bump(sr, fromClient ? K.RstClient : K.RstServer, 1)
      return
    }
    const d = fromClient ? 0 : 1
    if (len > 0) {
      const end = d === 0 ? t.end0 : t.end1
      const endSeq = (f.seq + len) >>> 0
      if (end >= 0 && seqDiff(f.seq, end) < 0) {
        // sent before; a keep-alive probe (one byte below the highest number) is not a retransmission
        if (!(payloadLen <= 1 && !fin && endSeq === end)) this.bump(sr, K.Retrans0 + d, 1)
      }
      if (end < 0 || seqDiff(endSeq, end) > 0) {
        if (d === 0) t.end0 = endSeq
        else t.end1 = endSeq
      }
    }
    if (zw) this.bump(sr, K.Zw0 + d, 1)
  }

  /** a closed connection's series (made again if it was dropped), null without windows or past the cap */
  private closedSeries(t: ClosedFlow): Series | null {
    if (this.onWindow === undefined) return null
    const si = this.seriesAt(t.bIp, t.bPort, t.aIp)
    return si < 0 ? null : (this.series[si] as Series)
  }

  /**
   * The capture clock moved (Pipeline.tick, about once a second): unanswered SYNs older than the
   * timeout are decided, and a window that ended is handed to onWindow.
   */
  advance(nowUs: number): void {
    for (let i = 0; i < this.halfOpenN; i++) {
      const slot = this.halfOpen[i] as number
      const b = this.base(slot)
      const s = this.s
      const bits = s[b + F.Bits] as number
      if ((bits & Bit.Decided) === 0 && nowUs - (s[b + F.SynUs] as number) >= this.synTimeoutUs) {
        s[b + F.Bits] = this.decide(b, bits, Bit.Unanswered, nowUs)
      }
    }
    if (this.onWindow === undefined) return
    if (this.windowStartUs < 0) this.windowStartUs = nowUs - (nowUs % this.windowUs)
    if (nowUs >= this.windowStartUs + this.windowUs) {
      this.emit()
      this.windowStartUs = nowUs - (nowUs % this.windowUs)
    }
  }

  /** End of input: the window in progress goes out (call after the flow table's closeAll). */
  flush(nowUs: number): void {
    if (this.onWindow === undefined) return
    if (this.windowStartUs < 0) this.windowStartUs = nowUs - (nowUs % this.windowUs)
    this.emit()
  }

  // ---- internals

  /** the offset of `slot` in its chunk, which becomes `this.s` */
  private base(slot: number): number {
    this.s = this.chunks[slot >> CHUNK_BITS] as Float64Array
    return (slot & (CHUNK - 1)) * F.STRIDE
  }

  private open(flow: FlowInfo, tsUs: number): number {
    let slot = this.free.pop()
    if (slot === undefined) {
      slot = this.slots++
      if (slot >> CHUNK_BITS >= this.chunks.length) this.chunks.push(new Float64Array(CHUNK * F.STRIDE))
    }
    const b = this.base(slot)
    const s = this.s
    // a reused slot keeps its last flow's numbers: set here is every field read before it is written
    // (the others are read only under a bit of Bits saying they were written: SynUs, MaxEnd0, ...)
    s[b + F.Bits] = Bit.Used
    s[b + F.ClientPort] = flow.client.port
    s[b + F.HalfOpenPos] = -1
    s[b + F.ConnectUs] = -1
    s[b + F.LastRetrans] = flow.retransmits
    s[b + F.LastDir] = 0
    s[b + F.SynCount] = 0
    s[b + F.SynAckCount] = 0
    s[b + F.Retrans0] = 0
    s[b + F.Retrans1] = 0
    s[b + F.Zw0] = 0
    s[b + F.Zw1] = 0
    s[b + F.RttN0] = 0
    s[b + F.RttN1] = 0
    s[b + F.RttSum0] = 0
    s[b + F.RttSum1] = 0
    s[b + F.RttMin0] = Infinity
    s[b + F.RttMin1] = Infinity
    const v = this.view === undefined ? 'own' : this.view(flow.client, flow.server.ip, tsUs)
    if (v === 'own') s[b + F.Series] = this.attach(flow.server, flow.client.ip)
    else if (v === 'copy') s[b + F.Series] = COPY
    else {
      // counted aside until the view is known (a shadow: no index entry, not emitted, not capped:
      // at most one per flow)
      const i = this.freeSeries.pop() ?? this.series.length
      this.series[i] = new Series('', 0, '', true)
      s[b + F.Series] = i
      s[b + F.Bits] = Bit.Used | Bit.Pending
    }
    flow.tcpSlot = slot
    return slot
  }

  /** the series of a server endpoint and client address (created when missing), one more flow on it; -1 past the cap */
  private attach(server: Endpoint, clientIp: string): number {
    // no windows, no rows: nothing per series is kept (the global counters are)
    if (this.onWindow === undefined) return -1
    const i = this.seriesAt(server.ip, server.port, clientIp)
    if (i >= 0) (this.series[i] as Series).refs++
    return i
  }

  /** the series' index (created when missing, with no flow on it yet); -1 past the cap */
  private seriesAt(serverIp: string, serverPort: number, clientIp: string): number {
    let byClient = this.lastClients
    if (serverPort !== this.lastPort || serverIp !== this.lastIp || byClient === null) {
      let byIp = this.seriesIndex.get(serverPort)
      if (byIp === undefined) this.seriesIndex.set(serverPort, (byIp = new Map()))
      byClient = byIp.get(serverIp) ?? null
      if (byClient === null) byIp.set(serverIp, (byClient = new Map()))
      this.lastPort = serverPort
      this.lastIp = serverIp
      this.lastClients = byClient
    }
    let i = byClient.get(clientIp)
    if (i === undefined) {
      if (this.seriesN >= this.maxSeries) {
        this.cSeriesCap.value++
        return -1
      }
      i = this.freeSeries.pop() ?? this.series.length
      this.series[i] = new Series(serverIp, serverPort, clientIp)
      byClient.set(clientIp, i)
      this.seriesN++
    }
    return i
  }

  private seriesOf(b: number): Series | null {
    const i = this.s[b + F.Series] as number
    return i >= 0 ? (this.series[i] as Series) : i === COPY ? this.sink : null
  }

  /**
   * A flow counted aside (view 'maybe') asks again: a copy's counts are dropped; its own are added to
   * its series and the global counters. `final` (the flow ends): 'maybe' is 'own'.
   */
  private resolve(flow: FlowInfo, b: number, tsUs: number, final: boolean): void {
    const v = (this.view as NonNullable<TcpHealthOptions['view']>)(flow.client, flow.server.ip, tsUs)
    if (v === 'maybe' && !final) return
    const s = this.s
    const si = s[b + F.Series] as number
    const sh = this.series[si] as Series
    s[b + F.Bits] = (s[b + F.Bits] as number) & ~Bit.Pending
    this.series[si] = null
    this.freeSeries.push(si)
    if (v === 'copy') {
      s[b + F.Series] = COPY
      return
    }
    const ri = this.attach(flow.server, flow.client.ip)
    s[b + F.Series] = ri
    this.merge(sh, ri < 0 ? null : (this.series[ri] as Series))
  }

  /** a shadow series' counts into the global counters and series `to` */
  private merge(sh: Series, to: Series | null): void {
    const h = sh.h
    for (let k = 0; k < K.N; k++) (this.g[k] as CounterSample).value += h[CNT + k] as number
    if (to === null) return
    to.active += sh.active
    to.connectSumUs += sh.connectSumUs
    if (sh.connectMaxUs > to.connectMaxUs) to.connectMaxUs = sh.connectMaxUs
    const a = to.h
    for (let i = 0; i < 3 * NB; i++) (a[i] as number) += h[i] as number
    for (let side = 0; side < 2; side++) {
      const at = 3 * NB + 3 * side
      ;(a[at] as number) += h[at] as number
      if ((h[at + 1] as number) < (a[at + 1] as number)) a[at + 1] = h[at + 1] as number
      if ((h[at + 2] as number) > (a[at + 2] as number)) a[at + 2] = h[at + 2] as number
    }
    for (let k = 0; k < K.N; k++) (a[CNT + k] as number) += h[CNT + k] as number
    to.dirty = true
  }

  /**
   * The reassembler found bytes it had already seen (FlowInfo.retransmits grew) while the flow's
   * previous segment was handed on: that segment was a retransmission of its direction.
   */
  private dataRetransmits(flow: FlowInfo, b: number): void {
    const s = this.s
    const n = flow.retransmits - (s[b + F.LastRetrans] as number)
    s[b + F.LastRetrans] = flow.retransmits
    const d = s[b + F.LastDir] as number
    if (n > 0 && d !== 2) this.retransmitted(b, d, n)
  }

  private retransmitted(b: number, d: number, n: number): void {
    this.s[b + F.Retrans0 + d] += n
    this.bump(this.seriesOf(b), K.Retrans0 + d, n)
  }

  /** count k grows by n: globally (unless sr is a shadow: counted when it is resolved) and on series sr */
  private bump(sr: Series | null, k: K, n: number): void {
    if (sr === null || !sr.shadow) (this.g[k] as CounterSample).value += n
    if (sr !== null) {
      ;(sr.h[CNT + k] as number) += n
      sr.dirty = true
    }
  }

  /** the flow table swapped client and server after content proved its guess wrong */
  private swapped(flow: FlowInfo, b: number): void {
    const s = this.s
    for (const [x, y] of SWAP_PAIRS) {
      const t = s[b + x] as number
      s[b + x] = s[b + y] as number
      s[b + y] = t
    }
    let bits = s[b + F.Bits] as number
    const flip = (p: number, q: number): void => {
      const hp = (bits & p) !== 0
      const hq = (bits & q) !== 0
      bits &= ~(p | q)
      if (hp) bits |= q
      if (hq) bits |= p
    }
    flip(Bit.MaxEnd0, Bit.MaxEnd1)
    flip(Bit.Probe0, Bit.Probe1)
    flip(Bit.ResetClient, Bit.ResetServer)
    s[b + F.ClientPort] = flow.client.port
    if ((s[b + F.LastDir] as number) < 2) s[b + F.LastDir] = 1 - (s[b + F.LastDir] as number)
    const old = this.seriesOf(b)
    if (old !== null && old.shadow) {
      // a copy or a flow counted aside: its series is chosen (by the new roles) when it is resolved
      s[b + F.Bits] = bits
      return
    }
    if (old !== null) {
      old.refs--
      if ((bits & Bit.Active) !== 0) old.active--
      old.dirty = true
    }
    const i = this.attach(flow.server, flow.client.ip)
    s[b + F.Series] = i
    if (i >= 0 && (bits & Bit.Active) !== 0) (this.series[i] as Series).active++
    s[b + F.Bits] = bits
  }

  private establish(b: number, bits: number): number {
    const sr = this.seriesOf(b)
    if (sr !== null) {
      sr.active++
      sr.dirty = true
    }
    return bits | Bit.Active
  }

  /** counts the connect result (0 = ok) once; returns the new bits */
  private decide(b: number, bits: number, result: number, _tsUs: number): number {
    const sr = this.seriesOf(b)
    this.bump(sr, result === Bit.Refused ? K.Refused : result === Bit.Unanswered ? K.Unanswered : K.Ok, 1)
    if (result === 0 && sr !== null) {
      const cu = this.s[b + F.ConnectUs] as number
      if (cu >= 0) {
        sr.h[bucketOf(cu)]++
        sr.connectSumUs += cu
        if (cu > sr.connectMaxUs) sr.connectMaxUs = cu
      }
    }
    // an unanswered attempt stays listed: its flow holds a place in the table until it ends
    if (result !== Bit.Unanswered) this.dropHalfOpen(b)
    return bits | Bit.Decided | result
  }

  /** at the flow's end: an attempt whose SYN went out again and got nothing is unanswered */
  private finalize(b: number): void {
    const s = this.s
    const bits = s[b + F.Bits] as number
    if ((bits & (Bit.ClientSyn | Bit.Decided)) === Bit.ClientSyn && (s[b + F.SynCount] as number) >= 2) {
      s[b + F.Bits] = this.decide(b, bits, Bit.Unanswered, 0)
    }
  }

  /** one RTT sample of side `side` (0 server, 1 client) */
  private rtt(b: number, side: number, us: number): void {
    if (us < 0) return
    const s = this.s
    s[b + F.RttN0 + side]++
    s[b + F.RttSum0 + side] += us
    if (us < (s[b + F.RttMin0 + side] as number)) s[b + F.RttMin0 + side] = us
    const sr = this.seriesOf(b)
    if (sr === null) return
    const h = sr.h
    h[(1 + side) * NB + bucketOf(us)]++
    const at = 3 * NB + 3 * side
    h[at] += us
    if (us < (h[at + 1] as number)) h[at + 1] = us
    if (us > (h[at + 2] as number)) h[at + 2] = us
    sr.dirty = true
  }

  private addHalfOpen(b: number, slot: number): void {
    // admit() keeps the list from overflowing for new flows; a SYN on an existing flow may still find
    // it full: then that attempt is only decided at the flow's end
    if (this.halfOpenN >= this.halfOpen.length) return
    this.s[b + F.HalfOpenPos] = this.halfOpenN
    this.halfOpen[this.halfOpenN++] = slot
  }

  private dropHalfOpen(b: number): void {
    const s = this.s
    const pos = s[b + F.HalfOpenPos] as number
    if (pos < 0) return
    const last = this.halfOpen[--this.halfOpenN] as number
    this.halfOpen[pos] = last
    ;(this.chunks[last >> CHUNK_BITS] as Float64Array)[(last & (CHUNK - 1)) * F.STRIDE + F.HalfOpenPos] = pos
    s[b + F.HalfOpenPos] = -1
  }

  private unindex(sr: Series): void {
    const byIp = this.seriesIndex.get(sr.serverPort)
    const byClient = byIp?.get(sr.serverIp)
    if (byIp === undefined || byClient === undefined) return
    byClient.delete(sr.clientIp)
    if (byClient.size === 0) {
      byIp.delete(sr.serverIp)
      if (byClient === this.lastClients) this.lastClients = null
    }
    if (byIp.size === 0) this.seriesIndex.delete(sr.serverPort)
    this.seriesN--
  }

  private emit(): void {
    const rows: TcpSeriesRow[] = []
    for (let i = 0; i < this.series.length; i++) {
      const sr = this.series[i]
      if (sr === null || sr === undefined || sr.shadow) continue
      if (sr.dirty || sr.active > 0) rows.push(rowOf(sr))
      reset(sr)
      if (sr.refs === 0 && sr.active === 0) {
        this.series[i] = null
        this.unindex(sr)
        this.freeSeries.push(i)
      }
    }
    reset(this.sink)
    const w: TcpWindow = { windowStartUs: this.windowStartUs, windowUs: this.windowUs, rows }
    this.windowStartUs += this.windowUs
    if (rows.length > 0) (this.onWindow as (w: TcpWindow) => void)(w)
  }
}

const SWAP_PAIRS: [number, number][] = [
  [F.MaxEnd0, F.MaxEnd1],
  [F.ProbeEnd0, F.ProbeEnd1],
  [F.ProbeUs0, F.ProbeUs1],
  [F.Retrans0, F.Retrans1],
  [F.Zw0, F.Zw1],
  [F.RttN0, F.RttN1],
  [F.RttSum0, F.RttSum1],
  [F.RttMin0, F.RttMin1],
]

function rttStats(s: Float64Array, b: number, side: number): RttStats {
  const n = s[b + F.RttN0 + side] as number
  return n === 0 ? NO_RTT : { samples: n, minUs: s[b + F.RttMin0 + side] as number, meanUs: (s[b + F.RttSum0 + side] as number) / n }
}

/** the two directions' numbers at s[i], s[i + 1] (c2s, s2c) */
function perDir(s: Float64Array, i: number): FlowTcpStats['retransmits'] {
  const c2s = s[i] as number
  const s2c = s[i + 1] as number
  return c2s === 0 && s2c === 0 ? NONE_PER_DIR : { c2s, s2c }
}

function rowOf(sr: Series): TcpSeriesRow {
  const n = (k: K): number => sr.h[CNT + k] as number
  return {
    server: { ip: sr.serverIp, port: sr.serverPort },
    client: { ip: sr.clientIp, port: 0 },
    connects: { ok: n(K.Ok), refused: n(K.Refused), unanswered: n(K.Unanswered) },
    connectHist: sr.h.slice(0, NB),
    connectSumUs: sr.connectSumUs,
    connectMaxUs: sr.connectMaxUs,
    active: sr.active,
    resets: { client: n(K.ResetClient), server: n(K.ResetServer) },
    rstSegments: { client: n(K.RstClient), server: n(K.RstServer) },
    retransmits: { c2s: n(K.Retrans0), s2c: n(K.Retrans1) },
    zeroWindows: { c2s: n(K.Zw0), s2c: n(K.Zw1) },
    rttServer: rttRow(sr.h, 0),
    rttClient: rttRow(sr.h, 1),
  }
}

function rttRow(h: Float64Array, side: number): RttRow {
  const at = 3 * NB + 3 * side
  return { hist: h.slice((1 + side) * NB, (2 + side) * NB), sumUs: h[at] as number, minUs: h[at + 1] as number, maxUs: h[at + 2] as number }
}

function reset(sr: Series): void {
  sr.h.fill(0)
  sr.connectSumUs = sr.connectMaxUs = 0
  for (let i = 0; i < 2; i++) {
    sr.h[3 * NB + 3 * i + 1] = Infinity
  }
  sr.dirty = false
}
