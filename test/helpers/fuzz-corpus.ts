// The fuzzer behind `npm run fuzz` (scripts/fuzz.ts) and its short CI run (test/fuzz-scale.test.ts):
// every parser fed mutated real captures, and the whole pipeline fed mutated packets.
//
// Parser inputs: the TCP streams of test/pcaps/<proto>/ (decoded and reassembled by the real
// capture and TCP layers, recorded as data/gap steps per connection), a window of up to 24 steps from
// one of them, then mutated: bytes flipped, chunks split at random points, gaps inserted (lost bytes
// or -1), chunks dropped, duplicated or cut short, random bytes inserted, a stray end. Pipeline
// inputs: the packets of every capture, bytes flipped, packets dropped, duplicated and swapped.
// Every input must run without a throw, within the hang bound, and emit only records inside the caps.

import * as fs from 'node:fs'
import * as path from 'node:path'
import { decode } from '../../src/capture/decode.js'
import { newFrame } from '../../src/capture/frame.js'
import { openCaptureFile } from '../../src/capture/pcap-file.js'
import type { Packet } from '../../src/capture/source.js'
import { DEFAULT_LIMITS, type Limits } from '../../src/config.js'
import { Counters } from '../../src/counters.js'
import { Pipeline } from '../../src/pipeline/pipeline.js'
import { PARSERS } from '../../src/protocols/registry.js'
import type { ParsedExchange, ParserContext, ProtocolParser } from '../../src/protocols/types.js'
import { FlowTable } from '../../src/tcp/flow-table.js'
import type { Dir } from '../../src/tcp/types.js'

export type FuzzStep = { dir: Dir; data: Buffer; acked: number } | { dir: Dir; gap: number }

const PCAPS = path.join(import.meta.dirname, '..', 'pcaps')
/** which capture folders feed which parser */
const FOLDERS: Record<string, string[]> = {
  http: ['http1'],
  http2: ['http2', 'grpc'],
  mysql: ['mysql'],
  postgresql: ['pgsql'],
  redis: ['redis'],
  kafka: ['kafka'],
  mongodb: ['mongo'],
  rocketmq: ['rocketmq'],
}

/** small caps, so that the fuzzer reaches them */
export const FUZZ_LIMITS: Partial<Limits> = {
  maxPendingRequests: 8,
  maxLineBytes: 512,
  maxHeaderBytes: 2048,
  maxFrameBytes: 64 * 1024,
  maxTextBytes: 256,
  maxDetectBytes: 1024,
  maxHpackTableBytes: 4096,
}

/** a single input taking longer than this is a hang */
export const HANG_MS = 1000

function captures(folder: string): string[] {
  const dir = path.join(PCAPS, folder)
  if (!fs.existsSync(dir)) return []
  return fs
    .readdirSync(dir)
    .filter((f) => /\.(pcap|pcapng|cap)$/.test(f))
    .map((f) => path.join(dir, f))
}

/** every TCP connection of `files` as the steps a parser sees (real decode, flow table, reassembly) */
export function streamsOf(files: string[]): FuzzStep[][] {
  const out: FuzzStep[][] = []
  const counters = new Counters()
  const table = new FlowTable({
    limits: { ...DEFAULT_LIMITS },
    counters,
    onFlow: () => {
      const steps: FuzzStep[] = []
      out.push(steps)
      return {
        data: (dir, chunk, _ts, acked) => void steps.push({ dir, data: Buffer.from(chunk), acked }),
        gap: (dir, n) => void steps.push({ dir, gap: n }),
        end: () => {},
      }
    },
  })
  const frame = newFrame()
  let now = 0
  for (const f of files) {
    const src = openCaptureFile(f)
    for (let p = src.next(); p !== null; p = src.next()) {
      now = Math.max(now, p.tsUs)
      if (decode(p, frame) === 'ok') table.segment(frame)
    }
    src.close()
  }
  table.closeAll('shutdown', now)
  return out.filter((s) => s.some((x) => 'data' in x))
}

/** xorshift32: fast, seeded, reproducible */
export class Rng {
  constructor(private s: number) {
    if (this.s === 0) this.s = 0x9e3779b9
  }
  next(): number {
    let x = this.s
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    this.s = x >>> 0
    return this.s
  }
  int(n: number): number {
    return this.next() % n
  }
  chance(p: number): boolean {
    return this.next() / 0x100000000 < p
  }
}

/** one mutated window of `stream` */
export function mutate(stream: FuzzStep[], r: Rng): FuzzStep[] {
  const start = r.int(stream.length)
  const window = stream.slice(start, start + 1 + r.int(24))
  const out: FuzzStep[] = []
  // a window from the middle is joined mid-stream
  if (start > 0) out.push({ dir: 'c2s', gap: -1 }, { dir: 's2c', gap: -1 })
  for (const st of window) {
    if (r.chance(0.05)) continue // dropped
    if (r.chance(0.05)) out.push({ dir: st.dir, gap: r.chance(0.3) ? -1 : 1 + r.int(3000) })
    if ('gap' in st) {
      out.push(st)
      continue
    }
    let data = st.data
    if (r.chance(0.5) && data.length > 0) {
      data = Buffer.from(data)
      const flips = 1 + r.int(8)
      for (let i = 0; i < flips; i++) {
        const at = r.int(data.length)
        data[at] = r.chance(0.5) ? r.int(256) : data[at] ^ (1 << r.int(8))
      }
    }
    if (r.chance(0.05)) data = data.subarray(0, r.int(data.length + 1)) // cut short
    if (r.chance(0.05)) {
      const junk = Buffer.alloc(1 + r.int(64))
      for (let i = 0; i < junk.length; i++) junk[i] = r.int(256)
      const at = r.int(data.length + 1)
      data = Buffer.concat([data.subarray(0, at), junk, data.subarray(at)])
    }
    // random split
    let off = 0
    while (off < data.length) {
      const n = r.chance(0.5) ? data.length - off : 1 + r.int(data.length - off)
      out.push({ dir: st.dir, data: data.subarray(off, off + n), acked: st.acked })
      off += n
    }
    if (r.chance(0.03)) out.push({ dir: st.dir, data, acked: st.acked }) // duplicated
  }
  return out
}

export interface FuzzResult {
  target: string
  inputs: number
  ms: number
  exchanges: number
  failures: string[]
}

/** what every emitted record must satisfy (the caps) */
function badRecord(e: ParsedExchange, limits: Limits): string | null {
  if (typeof e.method !== 'string' || e.method.length > limits.maxTextBytes + 64) return `method too long (${e.method.length})`
  if (e.resource !== undefined && e.resource.length > limits.maxTextBytes * 4 + 4) return `resource too long (${e.resource.length})`
  if (!(e.endUs >= e.startUs)) return `endUs before startUs: ${JSON.stringify({ ...e, client: undefined, server: undefined })}`
  if (!(e.reqBytes >= 0 && e.respBytes >= 0)) return 'negative bytes'
  if (e.status === 'unknown' && e.error === false) return "status 'unknown' with error false"
  return null
}

/** runs `runs` mutated inputs through one parser */
export function fuzzParser(parser: ProtocolParser, runs: number, seed: number, streams?: FuzzStep[][], only?: number): FuzzResult {
  const corpus = streams ?? streamsOf((FOLDERS[parser.id] ?? []).flatMap(captures))
  const limits = { ...DEFAULT_LIMITS, ...FUZZ_LIMITS }
  const r = new Rng(seed)
  const failures: string[] = []
  let exchanges = 0
  let bad: string | null = null
  const ctx: ParserContext = {
    emit: (e) => {
      exchanges++
      bad ??= badRecord(e, limits)
    },
    limits,
    count: () => {},
    unmatchedResponse: () => {},
    encrypted: () => {},
    switchProtocol: () => null,
  }
  const t0 = performance.now()
  for (let i = 0; i < runs; i++) {
    const input = mutate(corpus[r.int(corpus.length)]!, r)
    if (only !== undefined && i !== only) continue
    const s0 = performance.now()
    bad = null
    try {
      const h = parser.create(ctx)
      let ts = 1
      for (const st of input) {
        if ('gap' in st) h.gap(st.dir, st.gap, ts++)
        else h.data(st.dir, st.data, ts++, st.acked)
        h.oldestPendingUs?.()
      }
      h.end('fin', ts)
    } catch (e) {
      bad = `throw: ${(e as Error).stack ?? String(e)}`
    }
    const ms = performance.now() - s0
    if (ms > HANG_MS) bad ??= `hang: ${ms.toFixed(0)} ms`
    if (bad !== null && failures.length < 10) failures.push(`input ${i} (seed ${seed}): ${bad}`)
  }
  return { target: parser.id, inputs: runs, ms: performance.now() - t0, exchanges, failures }
}

interface RawPacket {
  tsUs: number
  linkType: number
  data: Buffer
}

/** runs `runs` mutated captures (one capture file each, mutated packets) through the whole pipeline */
export function fuzzPipeline(runs: number, seed: number): FuzzResult {
  const files = Object.values(FOLDERS).flat().flatMap(captures).concat(captures('odd'), captures('tcp'))
  const corpus: RawPacket[][] = files.map((f) => {
    const src = openCaptureFile(f)
    const pk: RawPacket[] = []
    for (let p = src.next(); p !== null && pk.length < 400; p = src.next()) pk.push({ tsUs: p.tsUs, linkType: p.linkType, data: Buffer.from(p.data) })
    src.close()
    return pk
  })
  const limits = { ...FUZZ_LIMITS, maxFlows: 16, maxOutOfOrderBytes: 8192, maxOutOfOrderSegments: 8 }
  const r = new Rng(seed)
  const failures: string[] = []
  let exchanges = 0
  const pkt: Packet = { tsUs: 0, ifindex: 0, linkType: 1, data: Buffer.alloc(0), origLen: 0 }
  const t0 = performance.now()
  for (let i = 0; i < runs; i++) {
    const src = corpus[r.int(corpus.length)]!
    const start = r.int(src.length)
    const window = src.slice(start, start + 1 + r.int(60))
    let bad: string | null = null
    const full = Math.max(limits.maxFlows, 1)
    const s0 = performance.now()
    try {
      const pl = new Pipeline({
        limits,
        orderCap: 32,
        onExchange: (e) => {
          exchanges++
          bad ??= badRecord(e, { ...DEFAULT_LIMITS, ...limits })
        },
      })
      for (let k = 0; k < window.length; k++) {
        if (r.chance(0.05)) continue
        let w = window[k]!
        if (r.chance(0.05) && k + 1 < window.length) w = window[k + 1]! // swapped in
        let data = w.data
        if (r.chance(0.3)) {
          data = Buffer.from(data)
          for (let j = 0, n = 1 + r.int(4); j < n; j++) data[r.int(data.length)] = r.int(256)
        }
        pkt.tsUs = w.tsUs
        pkt.linkType = w.linkType
        pkt.data = data
        pkt.origLen = data.length
        pl.packet(pkt)
        if (r.chance(0.03)) pl.packet(pkt)
        if (pl.flowsActive > full) bad ??= `flows ${pl.flowsActive} over the cap ${full}`
      }
      pl.finish()
    } catch (e) {
      bad = `throw: ${(e as Error).stack ?? String(e)}`
    }
    const ms = performance.now() - s0
    if (ms > HANG_MS) bad ??= `hang: ${ms.toFixed(0)} ms`
    if (bad !== null && failures.length < 10) failures.push(`input ${i} (seed ${seed}): ${bad}`)
  }
  return { target: 'pipeline', inputs: runs, ms: performance.now() - t0, exchanges, failures }
}

export { PARSERS }
