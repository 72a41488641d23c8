// RED aggregation (DESIGN.md l7_rpc): per window (default 15 s) and per series — server endpoint,
// client IP, protocol, method — request and response counts, errors and a latency histogram. The
// client's ephemeral port is left out of the key on purpose: it would make one series per connection.
// Windows follow the capture clock (packet time), so replay and live capture aggregate alike.

import type { Limits } from '../config.js'
import type { LinkRecord } from '../records.js'
import type { Exchange, Peer } from '../records.js'
import { C, type Counters } from '../counters.js'
import { newLatencyHistogram, percentileMs, recordUs, type LatencyHistogram } from './histogram.js'

export interface RedSeries {
  server: Peer
  client: Peer
  protocol: string
  method: string
  requests: number
  /** exchanges that got a response */
  responses: number
  errors: number
  latencySumUs: number
  /** request + response L7 bytes */
  reqBytes: number
  respBytes: number
  /** latency of exchanges that got a response */
  hist: LatencyHistogram
}

/** One closed window: what every sink writes (l7_rpc series and the l7_link records that ended in it). */
export interface RedSnapshot {
  windowStartUs: number
  windowUs: number
  series: RedSeries[]
  links: LinkRecord[]
}

/** Derived l7_rpc fields for a series in a window (DESIGN.md names). */
export interface L7RpcFields {
  req_throughput: number
  rsp_throughput: number
  latency: number
  p50_latency: number
  p90_latency: number
  p99_latency: number
  error_rate: number
  requests: number
  errors: number
}

export function l7RpcFields(s: RedSeries, windowUs: number): L7RpcFields {
  const secs = windowUs / 1e6
  return {
    req_throughput: s.requests / secs,
    rsp_throughput: s.responses / secs,
    latency: s.responses ? s.latencySumUs / s.responses / 1000 : 0,
    p50_latency: percentileMs(s.hist, 50),
    p90_latency: percentileMs(s.hist, 90),
    p99_latency: percentileMs(s.hist, 99),
    error_rate: s.requests ? (100 * s.errors) / s.requests : 0,
    requests: s.requests,
    errors: s.errors,
  }
}

export interface RedOptions {
  windowUs: number
  limits: Limits
  counters: Counters
  onWindow: (s: RedSnapshot) => void
}

export class RedAggregator {
  private windowStartUs = -1
  private series = new Map<string, RedSeries>()
  private links: LinkRecord[] = []
  /** per server endpoint: methods seen this window (to cap method cardinality) */
  private methods = new Map<string, Set<string>>()

  constructor(private readonly o: RedOptions) {}

  add(e: Exchange): void {
    this.roll(e.startUs)
    const serverKey = `${e.server.ip}|${e.server.port}`
    let method = e.method
    let ms = this.methods.get(serverKey)
    if (!ms) this.methods.set(serverKey, (ms = new Set()))
    if (!ms.has(method)) {
      if (ms.size >= this.o.limits.maxMethodsPerServer) {
        method = 'other'
        this.o.counters.inc(C.capsHit, { cap: 'methods_per_server' })
      } else ms.add(method)
    }
    const key = `${serverKey}|${e.client.ip}|${e.protocol}|${method}`
    let s = this.series.get(key)
    if (!s) {
      if (this.series.size >= this.o.limits.maxSeriesPerWindow) {
        this.o.counters.inc(C.seriesDropped)
        return
      }
      s = {
        server: { ...e.server },
        client: { ...e.client, port: 0 },
        protocol: e.protocol,
        method,
        requests: 0,
        responses: 0,
        errors: 0,
        latencySumUs: 0,
        reqBytes: 0,
        respBytes: 0,
        hist: newLatencyHistogram(),
      }
      this.series.set(key, s)
    }
    s.requests++
    if (e.error) s.errors++
    s.reqBytes += e.reqBytes
    s.respBytes += e.respBytes
    if (e.status !== null) {
      s.responses++
      const us = Math.max(0, e.endUs - e.startUs)
      s.latencySumUs += us
      recordUs(s.hist, us)
    }
  }

  addLink(l: LinkRecord): void {
    this.roll(l.endUs)
    this.links.push(l)
  }

  /** The capture clock moved: close the window if its end has passed. */
  advance(nowUs: number): void {
    if (this.windowStartUs >= 0 && nowUs >= this.windowStartUs + this.o.windowUs) this.close()
  }

  flush(): void {
    if (this.windowStartUs >= 0 && (this.series.size > 0 || this.links.length > 0)) this.close()
  }

  private roll(tsUs: number): void {
    if (this.windowStartUs < 0) this.windowStartUs = tsUs - (tsUs % this.o.windowUs)
    // a late record (before the current window) is counted in the current window
    while (tsUs >= this.windowStartUs + this.o.windowUs) {
      this.close()
      this.windowStartUs = tsUs - (tsUs % this.o.windowUs)
    }
  }

  private close(): void {
    const snap: RedSnapshot = {
      windowStartUs: this.windowStartUs,
      windowUs: this.o.windowUs,
      series: [...this.series.values()],
      links: this.links,
    }
    this.series = new Map()
    this.links = []
    this.methods = new Map()
    this.windowStartUs += this.o.windowUs
    if (snap.series.length > 0 || snap.links.length > 0) this.o.onWindow(snap)
  }
}
