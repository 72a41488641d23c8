// The InfluxDB output when InfluxDB misbehaves: down (connection refused), slow (slower than the
// request timeout, and slow but in time), answering 500, 429 with Retry-After, and 401. Real HTTP on
// loopback through the /api/v2/write adapter of influx-harness.ts (which answers by itself here, no
// influxd needed). Nothing may crash or throw, every point is either written or counted as dropped
// (queued = written + dropped), the queue stays under its cap, logging stays once per interval, and
// close() returns in bounded time.

import * as v8 from 'node:v8'
import * as vm from 'node:vm'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { limitsWith } from '../../src/config.js'
import { C, Counters } from '../../src/counters.js'
import type { Exchange } from '../../src/records.js'
import { InfluxSink, type InfluxSinkOptions } from '../../src/sinks/influx.js'
import { outputPcaps, replayInto, type Replayed } from '../outputs-helpers.js'
import { freePort, startV2Adapter, type Adapter } from './influx-harness.js'

let real: Replayed
beforeAll(() => {
  // real exchanges: the 1000 keep-alive requests (one of them unanswered) on one IPv6 connection
  real = replayInto(outputPcaps().filter((f) => f.includes('1000-requests')), {})
  expect(real.exchanges.length).toBe(1000)
})

const adapters: Adapter[] = []
afterEach(async () => {
  while (adapters.length) await adapters.pop()!.close()
})

interface Run {
  sink: InfluxSink
  counters: Counters
  logs: string[]
  closeMs: number
  maxPending: number
}

/** feeds every exchange (traces on) and link, then closes; returns what happened */
async function run(url: string, o: Partial<InfluxSinkOptions> = {}, exchanges: Exchange[] = real.exchanges, beforeClose?: () => void): Promise<Run> {
  const counters = new Counters()
  const logs: string[] = []
  const sink = new InfluxSink({
    url,
    org: 'o',
    bucket: 'b',
    traces: true,
    counters,
    limits: limitsWith({ maxSinkQueue: 500 }),
    batchSize: 200,
    flushIntervalMs: 20,
    maxRetries: 2,
    minRetryDelayMs: 20,
    maxRetryDelayMs: 100,
    requestTimeoutMs: 300,
    closeTimeoutMs: 1000,
    logIntervalMs: 60_000,
    log: (m) => logs.push(m),
    ...o,
  })
  let maxPending = 0
  // fed in slices with pauses, as a live capture would, so requests happen while points keep coming
  for (let i = 0; i < exchanges.length; i += 100) {
    for (const e of exchanges.slice(i, i + 100)) sink.onExchange(e)
    maxPending = Math.max(maxPending, sink.pending)
    await new Promise((r) => setTimeout(r, 5))
  }
  for (const l of real.links) sink.onLink(l)
  beforeClose?.()
  const t0 = Date.now()
  await sink.close()
  return { sink, counters, logs, closeMs: Date.now() - t0, maxPending }
}

function expectAccounted(r: Run): void {
  const dropped = r.counters.get(C.sinkDropped, { sink: 'influx' })
  expect(r.sink.queued).toBeGreaterThan(1000)
  expect(r.sink.written + dropped).toBe(r.sink.queued)
}

describe('InfluxDB output under faults', () => {
  it('InfluxDB down (connection refused): everything counted as dropped, logged once, close() bounded', async () => {
    const r = await run(`http://127.0.0.1:${await freePort()}`)
    expect(r.sink.written).toBe(0)
    expectAccounted(r)
    expect(r.counters.get(C.sinkDropped, { sink: 'influx' })).toBe(r.sink.queued)
    expect(r.maxPending).toBeLessThanOrEqual(500 + 200) // queue cap + the batch in flight
    expect(r.closeMs).toBeLessThan(1000 + 500)
    expect(r.logs.length).toBeLessThanOrEqual(2) // the first failure, then the summary at close
    expect(r.logs.join('\n')).toMatch(/ECONNREFUSED/)
    expect(r.logs.at(-1)).toMatch(/point\(s\) dropped/)
  })

  it('slower than the request timeout: requests time out, points are dropped and counted, close() bounded', async () => {
    const a = await startV2Adapter(null)
    adapters.push(a)
    a.mode = { kind: 'delay', ms: 3000 }
    const r = await run(a.url)
    expect(r.sink.written).toBe(0)
    expectAccounted(r)
    expect(r.closeMs).toBeLessThan(1000 + 500)
    expect(r.logs.join('\n')).toMatch(/timed out|timeout/i)
  })

  it('slow but within the timeout: everything written, one request at a time', async () => {
    const a = await startV2Adapter(null)
    adapters.push(a)
    a.mode = { kind: 'delay', ms: 100 }
    const r = await run(a.url, { requestTimeoutMs: 2000, closeTimeoutMs: 10_000, limits: limitsWith({ maxSinkQueue: 100_000 }) })
    expect(r.counters.get(C.sinkDropped, { sink: 'influx' })).toBe(0)
    expect(r.sink.written).toBe(r.sink.queued)
    expect(a.acceptedLines).toBe(r.sink.queued)
    expect(a.maxInFlight).toBe(1)
    expect(a.requests.length).toBeGreaterThanOrEqual(Math.ceil(r.sink.queued / 200))
  })

  it('answering 500: each batch is retried maxRetries times, then dropped and counted', async () => {
    const a = await startV2Adapter(null)
    adapters.push(a)
    a.mode = { kind: 'status', status: 500 }
    const r = await run(a.url)
    expect(r.sink.written).toBe(0)
    expectAccounted(r)
    expect(a.requests.every((x) => x.status === 500)).toBe(true)
    // the first batch: its try and 2 retries, all with the same lines
    expect(a.requests.slice(0, 3).map((x) => x.lines)).toEqual([200, 200, 200])
    expect(r.closeMs).toBeLessThan(1000 + 500)
    expect(r.logs.length).toBeLessThanOrEqual(2)
    expect(r.logs.join('\n')).toMatch(/HTTP 500/)
  })

  it('answering 500 twice, then fine: the retries write everything', async () => {
    const a = await startV2Adapter(null)
    adapters.push(a)
    a.mode = { kind: 'status', status: 500, times: 2 }
    const r = await run(a.url, { closeTimeoutMs: 10_000, limits: limitsWith({ maxSinkQueue: 100_000 }) })
    expect(r.counters.get(C.sinkDropped, { sink: 'influx' })).toBe(0)
    expect(r.sink.written).toBe(r.sink.queued)
    expect(a.acceptedLines).toBe(r.sink.queued)
    expect(a.requests.slice(0, 3).map((x) => x.status)).toEqual([500, 500, 204])
  })

  it('answering 429 with Retry-After: waits as asked, then writes everything', async () => {
    const a = await startV2Adapter(null)
    adapters.push(a)
    a.mode = { kind: 'status', status: 429, retryAfter: '1', times: 1 }
    const r = await run(a.url, { closeTimeoutMs: 10_000, limits: limitsWith({ maxSinkQueue: 100_000 }) })
    expect(r.counters.get(C.sinkDropped, { sink: 'influx' })).toBe(0)
    expect(a.acceptedLines).toBe(r.sink.queued)
    expect(a.requests[0].status).toBe(429)
    expect(a.requests[1].atMs - a.requests[0].atMs).toBeGreaterThanOrEqual(950)
  })

  it('answering 401 (bad token): no retries, dropped and counted, the log says which flag to check', async () => {
    const a = await startV2Adapter(null, 'right-token')
    adapters.push(a)
    const r = await run(a.url, { token: 'wrong-token', limits: limitsWith({ maxSinkQueue: 100_000 }), closeTimeoutMs: 5000 })
    expect(r.sink.written).toBe(0)
    expectAccounted(r)
    // every line was sent exactly once (no retries) and counted as dropped
    expect(a.requests.reduce((n, x) => n + x.lines, 0)).toBe(r.sink.queued)
    expect(r.counters.get(C.sinkDropped, { sink: 'influx' })).toBe(r.sink.queued)
    expect(a.requests.every((x) => x.status === 401)).toBe(true)
    expect(r.logs.join('\n')).toMatch(/HTTP 401.*--influx-token/)
  })

  it('a burst 50x the queue cap while InfluxDB is down keeps the queue bounded', async () => {
    const many: Exchange[] = []
    for (let k = 0; k < 50; k++) for (const e of real.exchanges) many.push({ ...e, startUs: e.startUs + k * 1000, endUs: e.endUs + k * 1000 })
    // retained heap, measured after a full GC: the input exists already, so only the sink's growth counts
    v8.setFlagsFromString('--expose-gc')
    const gc = vm.runInNewContext('gc') as () => void
    gc()
    const heap0 = process.memoryUsage().heapUsed
    let heapFed = 0
    const r = await run(`http://127.0.0.1:${await freePort()}`, { limits: limitsWith({ maxSinkQueue: 1000 }), closeTimeoutMs: 300 }, many, () => {
      gc()
      heapFed = process.memoryUsage().heapUsed
    })
    expect(r.maxPending).toBeLessThanOrEqual(1000 + 200)
    expect(r.sink.queued).toBeGreaterThanOrEqual(50_000)
    expectAccounted(r)
    // 1200 queued lines of ~500 bytes and the sink's small maps; 50 000 lines would be ~25 MB
    console.log(`influx burst: retained heap growth ${((heapFed - heap0) / 1e6).toFixed(1)} MB with ${r.sink.queued} points fed`)
    expect(heapFed - heap0).toBeLessThan(8 * 1024 * 1024)
  })
})
