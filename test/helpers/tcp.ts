// Test helpers for the TCP layer: scripted segments in, a transcript of StreamHandler calls out
// (gopacket reassembly/tcpassembly_test.go style). Not used at run time.

import { DEFAULT_LIMITS, type Limits } from '../../src/config.js'
import { newFrame, TcpFlag, type Frame } from '../../src/capture/frame.js'
import { Counters } from '../../src/counters.js'
import { FlowTable, type FlowTableOptions } from '../../src/tcp/flow-table.js'
import type { Dir, EndReason, Endpoint, FlowInfo, StreamHandler } from '../../src/tcp/types.js'

export const CLIENT: Endpoint = { ip: '10.0.0.1', port: 40000 }
export const SERVER: Endpoint = { ip: '10.0.0.2', port: 80 }

/** One scripted segment. `from` picks the sender: 'c' is `client`, 's' is `server` (defaults above). */
export interface Seg {
  from: 'c' | 's'
  seq: number
  /** letters of S (SYN), A (ACK), F (FIN), R (RST), P (PSH); default 'A' when ack is given, else '' */
  flags?: string
  ack?: number
  /** payload text (latin1) */
  data?: string
  /** payload length on the wire when the capture cut it (> data length) */
  wireLen?: number
  tsUs?: number
  /** advertised window (default 65535) */
  window?: number
  client?: Endpoint
  server?: Endpoint
}

export function frameOf(s: Seg, f: Frame = newFrame(), tsUs = 0): Frame {
  const c = s.client ?? CLIENT
  const sv = s.server ?? SERVER
  const [src, dst] = s.from === 'c' ? [c, sv] : [sv, c]
  const flags = s.flags ?? (s.ack !== undefined ? 'A' : '')
  let bits = 0
  for (const ch of flags) {
    bits |= ch === 'S' ? TcpFlag.SYN : ch === 'A' ? TcpFlag.ACK : ch === 'F' ? TcpFlag.FIN : ch === 'R' ? TcpFlag.RST : ch === 'P' ? TcpFlag.PSH : 0
  }
  const payload = Buffer.from(s.data ?? '', 'latin1')
  f.tsUs = s.tsUs ?? tsUs
  f.src = src.ip
  f.srcPort = src.port
  f.dst = dst.ip
  f.dstPort = dst.port
  f.seq = s.seq >>> 0
  f.ack = (s.ack ?? 0) >>> 0
  f.flags = bits
  f.window = s.window ?? 65535
  f.payload = payload
  f.payloadLen = s.wireLen ?? payload.length
  return f
}

/**
 * Records handler calls as short strings: 'c2s:text', 'c2s:gap:5', 'end:fin'. peerAcked values of
 * data calls go to `acks` as 'c2s:text@N'.
 */
export class Recorder implements StreamHandler {
  readonly events: string[] = []
  readonly acks: string[] = []
  ended = 0
  constructor(readonly flow: FlowInfo) {}
  data(dir: Dir, chunk: Buffer, _tsUs: number, peerAcked: number): void {
    if (this.ended) this.events.push('AFTER-END')
    const text = chunk.toString('latin1')
    this.events.push(`${dir}:${text}`)
    this.acks.push(`${dir}:${text}@${peerAcked}`)
  }
  gap(dir: Dir, lostBytes: number): void {
    if (this.ended) this.events.push('AFTER-END')
    this.events.push(`${dir}:gap:${lostBytes}`)
  }
  end(reason: EndReason): void {
    this.ended++
    this.events.push(`end:${reason}`)
  }
}

export interface Run {
  table: FlowTable
  counters: Counters
  /** one recorder per flow, in creation order */
  flows: Recorder[]
  /** onFlowEnd calls: `${flow.id}:${reason}` */
  ended: string[]
  /** feeds more segments (timestamps continue) */
  feed(segs: Seg[]): void
  /** the virtual clock: the last timestamp used */
  nowUs: number
}

export const T0 = 1_000_000_000

export function run(
  segs: Seg[],
  o: { limits?: Partial<Limits>; opts?: Partial<FlowTableOptions>; handler?: (r: Recorder) => StreamHandler } = {},
): Run {
  const counters = new Counters()
  const flows: Recorder[] = []
  const ended: string[] = []
  const table = new FlowTable({
    limits: { ...DEFAULT_LIMITS, ...o.limits },
    counters,
    onFlow: (info) => {
      const r = new Recorder(info)
      flows.push(r)
      return o.handler ? o.handler(r) : r
    },
    onFlowEnd: (info, reason) => ended.push(`${info.id - (flows[0]?.flow.id ?? 0)}:${reason}`),
    ...o.opts,
  })
  const f = newFrame()
  const r: Run = {
    table,
    counters,
    flows,
    ended,
    nowUs: T0,
    feed(more: Seg[]) {
      for (const s of more) {
        r.nowUs = s.tsUs ?? r.nowUs + 1
        table.segment(frameOf(s, f, r.nowUs))
      }
    },
  }
  r.feed(segs)
  return r
}

/** The usual three-way handshake: client ISN `c`, server ISN `s`. */
export function handshake(c: number, s: number): Seg[] {
  return [
    { from: 'c', seq: c, flags: 'S' },
    { from: 's', seq: s, flags: 'SA', ack: (c + 1) >>> 0 },
    { from: 'c', seq: (c + 1) >>> 0, ack: (s + 1) >>> 0 },
  ]
}
