// The measuring and reporting shared by the parser micro-benchmarks (bench/micro/<protocol>.bench.ts):
// a bench file builds its workload (the request and answer bytes of N exchanges) and names the ways
// to feed it; this file cuts the bytes into segments, checks once outside the timing that every way
// gives every exchange answered, runs mitata, and prints MB/s and exchanges/s per way.

import { bench, do_not_optimize, run } from 'mitata'
import { DEFAULT_LIMITS, type Limits } from '../../src/config.js'
import type { ParsedExchange, ParserContext, ProtocolParser } from '../../src/protocols/types.js'
import type { Dir, StreamHandler } from '../../src/tcp/types.js'

/** a full-sized Ethernet TCP segment's payload: where the segmented feeds cut the bytes */
export const MSS = 1460

/** first timestamp of every run, µs */
const T0 = 1_700_000_000_000_000

export interface Workload {
  parser: ProtocolParser
  /** request i and the answer to it (one message, or one batch of messages), in connection order */
  reqs: Buffer[]
  resps: Buffer[]
  /** how many exchanges a run must give for which `answered` is true */
  exchanges: number
  /** the exchanges the check counts (login and prepare exchanges, for instance, are left out) */
  answered: (e: ParsedExchange) => boolean
  /** default DEFAULT_LIMITS */
  limits?: Limits
  /** bytes every run feeds first, one segment each, not counted in the throughput (a login, a prepare) */
  preamble?: [Dir, Buffer][]
}

/**
 * How the bytes reach the parser:
 * - per-message: request i as one segment, then its answer 150 µs later as one segment
 * - answering: the requests in MSS segments; after each, the server answers every request complete so
 *   far, in MSS segments of its own (pipelining clients: HTTP/1.x keep-alive, PostgreSQL)
 * - lockstep: one request at a time, its segments then its answer's segments (MySQL clients)
 * - pipelined: every request in MSS segments, then every answer in MSS segments (up to all outstanding)
 */
export type Feed = 'per-message' | 'answering' | 'lockstep' | 'pipelined'

export interface BenchCase {
  /** mitata's name for it, printed in the table and the summary */
  name: string
  feed: Feed
}

export interface ReportOptions {
  /**
   * 'avg' (default): the mean run. 'median-best': the median and the fastest run, since on a shared
   * machine the mean mostly measures the neighbours.
   */
  stat?: 'avg' | 'median-best'
  /** appended to the "N exchanges = X MB per run" line */
  note?: string
}

/** Checks, benchmarks and reports `cases` of workload `w`. Throws when a feed loses exchanges. */
export async function runParserBench(w: Workload, cases: BenchCase[], opts: ReportOptions = {}): Promise<void> {
  const c2sAll = Buffer.concat(w.reqs)
  const s2cAll = Buffer.concat(w.resps)
  const totalBytes = c2sAll.length + s2cAll.length
  /** c2s offset after request i, s2c offset after response i */
  const reqEnds: number[] = []
  const respEnds: number[] = []
  for (let i = 0, a = 0, b = 0; i < w.reqs.length; i++) reqEnds.push((a += w.reqs[i].length)), respEnds.push((b += w.resps[i].length))

  let emitted = 0
  const ctx: ParserContext = {
    emit: (e) => {
      emitted++
      do_not_optimize(e)
    },
    limits: w.limits ?? DEFAULT_LIMITS,
    count: () => {},
    unmatchedResponse: () => {},
  }

  const start = (t: number): StreamHandler => {
    const h = w.parser.create(ctx)
    const pre = w.preamble ?? []
    for (let k = 0; k < pre.length; k++) h.data(pre[k][0], pre[k][1], t + k, -1)
    return h
  }
  /** feeds all[from..to) as MSS segments from timestamp t; returns the next timestamp */
  const segments = (h: StreamHandler, dir: Dir, all: Buffer, from: number, to: number, t: number): number => {
    for (let off = from; off < to; off += Math.min(MSS, to - off)) h.data(dir, all.subarray(off, Math.min(off + MSS, to)), t++, -1)
    return t
  }

  const feeds: Record<Feed, () => void> = {
    'per-message': () => {
      let t = T0
      const h = start(t)
      for (let i = 0; i < w.reqs.length; i++) {
        h.data('c2s', w.reqs[i], t, -1)
        h.data('s2c', w.resps[i], t + 150, -1)
        t += 1000
      }
      h.end('fin', t)
    },
    answering: () => {
      let t = T0
      const h = start(t)
      let sOff = 0
      let done = 0
      for (let off = 0; off < c2sAll.length; off += MSS) {
        h.data('c2s', c2sAll.subarray(off, off + MSS), t++, -1)
        while (done < w.reqs.length && reqEnds[done] <= off + MSS) done++
        const to = done === 0 ? 0 : respEnds[done - 1]
        t = segments(h, 's2c', s2cAll, sOff, to, t)
        sOff = Math.max(sOff, to)
      }
      h.end('fin', t)
    },
    lockstep: () => {
      let t = T0
      const h = start(t)
      for (let i = 0; i < w.reqs.length; i++) {
        t = segments(h, 'c2s', c2sAll, i === 0 ? 0 : reqEnds[i - 1], reqEnds[i], t)
        t = segments(h, 's2c', s2cAll, i === 0 ? 0 : respEnds[i - 1], respEnds[i], t)
      }
      h.end('fin', t)
    },
    pipelined: () => {
      let t = T0
      const h = start(t)
      t = segments(h, 'c2s', c2sAll, 0, c2sAll.length, t)
      t = segments(h, 's2c', s2cAll, 0, s2cAll.length, t)
      h.end('fin', t)
    },
  }

  // every way must give every exchange, answered (checked once, outside the timing)
  {
    let answered = 0
    const emit = ctx.emit
    ctx.emit = (e) => void (w.answered(e) && answered++)
    for (const c of cases) {
      answered = 0
      feeds[c.feed]()
      if (answered !== w.exchanges) throw new Error(`${c.name}: ${answered} of ${w.exchanges} answered`)
    }
    ctx.emit = emit
  }

  for (const c of cases) bench(c.name, feeds[c.feed])
  const { benchmarks } = await run()
  console.log(`\n${w.exchanges} exchanges = ${(totalBytes / 1e6).toFixed(2)} MB per run${opts.note ? ' ' + opts.note : ''}`)
  const rate = (ns: number) => `${((totalBytes * 1e3) / ns).toFixed(0)} MB/s, ${((w.exchanges * 1e6) / ns).toFixed(0)}k exchanges/s`
  for (const b of benchmarks) {
    const s = b.runs[0]?.stats
    if (!s) continue
    if (opts.stat === 'median-best') console.log(`${b.alias}: median ${rate(s.p50)}; best ${rate(s.min)}`)
    else console.log(`${b.alias}: ${rate(s.avg)}`)
  }
  if (emitted === 0) throw new Error('nothing emitted')
}
