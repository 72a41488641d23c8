// Real captures replayed with the InfluxDB output on, into a real influxd (Debian's 1.6, behind the
// /api/v2/write adapter of influx-harness.ts), read back with InfluxQL and compared with the exchange
// records the pipeline produced. Then every InfluxQL query of every InfluxDB dashboard runs against
// that database and must return data.

import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildOutputs, OutputHub } from '../../src/cli/outputs.js'
import { C, Counters } from '../../src/counters.js'
import { newLatencyHistogram } from '../../src/metrics/histogram.js'
import { latencyMs, type Exchange } from '../../src/records.js'
import { LATENCY_BUCKETS_S, latencyBucketField } from '../../src/sinks/influx.js'
import { statusLabel } from '../../src/sinks/path-template.js'
import { endpoint, nearestRankUs, outputPcaps, podSample, recordedUs, redWindows, replayInto, type Replayed } from '../outputs-helpers.js'
import { influxdAvailable, rows, startInfluxd, startV2Adapter, type Adapter, type Influxd } from './influx-harness.js'

const skip = influxdAvailable()
if (skip) console.warn(`influx-replay: skipped: ${skip}`)

/** a histogram like RED's, for the precision of its buckets */
const H = newLatencyHistogram() as unknown as { lowestEquivalentValue(v: number): number; highestEquivalentValue(v: number): number }

const DB = 'podtap'
const TOKEN = 'podtap-test-token'
const WINDOW_US = 15_000_000
const DASHBOARDS = path.join(import.meta.dirname, '..', '..', 'grafana', 'provisioning', 'dashboards', 'influxdb')

describe.skipIf(skip !== null)('InfluxDB output against a real influxd', () => {
  let influxd: Influxd
  let adapter: Adapter
  let r: Replayed
  let counters: Counters
  const logs: string[] = []
  let tmp: string

  beforeAll(async () => {
    influxd = await startInfluxd()
    await influxd.query(`CREATE DATABASE "${DB}"`)
    adapter = await startV2Adapter(influxd.url, TOKEN)
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'podtap-influx-replay-'))
    const tokenFile = path.join(tmp, 'token')
    fs.writeFileSync(tokenFile, TOKEN + '\n') // a mounted secret often ends with a newline
    counters = new Counters()
    const outs = await buildOutputs(
      { influxUrl: adapter.url, influxOrg: 'podtap', influxBucket: DB, influxTokenFile: tokenFile, influxTraces: true, log: (m) => logs.push(m) },
      counters,
    )
    const hub = new OutputHub(outs, { counters, windowSeconds: WINDOW_US / 1e6 })
    expect(hub.ownEndpoints()).toEqual([{ ip: '127.0.0.1', port: adapter.port }])
    r = replayInto(outputPcaps(), hub, counters)
    hub.pods([podSample(r.exchanges.at(-1)!.startUs)])
    const t0 = Date.now()
    await hub.close()
    expect(Date.now() - t0).toBeLessThan(10_000)
  }, 60_000)

  afterAll(async () => {
    await adapter?.close()
    await influxd?.stop()
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true })
  })

  const q = async (query: string) => rows(await influxd.query(query, DB))
  const qUs = async (query: string) => {
    const body = new URLSearchParams({ q: query, db: DB, epoch: 'u' })
    const res = await fetch(`${influxd.url}/query`, { method: 'POST', body })
    return rows(((await res.json()) as { results: never[] }).results)
  }

  it('writes everything: no drops, no failed requests, nothing logged', () => {
    expect(r.exchanges.length).toBeGreaterThan(2000)
    expect(new Set(r.exchanges.map((e) => e.protocol))).toEqual(new Set(['http', 'redis']))
    expect(counters.get(C.sinkDropped, { sink: 'influx' })).toBe(0)
    expect(adapter.requests.length).toBeGreaterThan(0)
    expect(adapter.requests.every((x) => x.status === 204)).toBe(true)
    expect(adapter.maxInFlight).toBe(1)
    expect(logs).toEqual([])
  })

  it('l7_rpc totals and per-series counts equal the exchange records', async () => {
    const [tot] = await q('SELECT sum("requests") AS n, sum("errors") AS err, sum("responses") AS rsp FROM "l7_rpc"')
    expect(tot.n).toBe(r.exchanges.length)
    expect(tot.err).toBe(r.exchanges.filter((e) => e.error).length)
    expect(tot.rsp).toBe(r.exchanges.filter((e) => e.status !== null).length)

    const want = new Map<string, { n: number; err: number; reqB: number; respB: number }>()
    for (const e of r.exchanges) {
      const k = `${endpoint(e.server.ip, e.server.port)}|${e.protocol}|${e.method}|${e.client.ip}`
      const w = want.get(k) ?? { n: 0, err: 0, reqB: 0, respB: 0 }
      w.n++
      if (e.error) w.err++
      w.reqB += e.reqBytes
      w.respB += e.respBytes
      want.set(k, w)
    }
    const got = new Map<string, { n: number; err: number; reqB: number; respB: number }>()
    for (const x of await q('SELECT sum("requests") AS n, sum("errors") AS err, sum("request_bytes") AS reqB, sum("response_bytes") AS respB FROM "l7_rpc" GROUP BY "server", "protocol", "method", "client_ip"')) {
      got.set(`${x.server}|${x.protocol}|${x.method}|${x.client_ip}`, { n: x.n as number, err: x.err as number, reqB: x.reqB as number, respB: x.respB as number })
    }
    expect(got).toEqual(want)
  })

  it('l7_rpc percentiles per window match the exact percentiles of the exchanges (within the histogram precision)', async () => {
    const win = redWindows(r.events, WINDOW_US)
    const lat = new Map<string, number[]>()
    const count = new Map<string, number>()
    for (const e of r.exchanges) {
      const k = `${win.get(e)}|${endpoint(e.server.ip, e.server.port)}|${e.protocol}|${e.method}|${e.client.ip}`
      count.set(k, (count.get(k) ?? 0) + 1)
      if (e.status !== null) lat.set(k, [...(lat.get(k) ?? []), recordedUs(e)])
    }
    const points = await qUs('SELECT "requests", "responses", "p50_latency", "p90_latency", "p99_latency" FROM "l7_rpc" GROUP BY "server", "protocol", "method", "client_ip"')
    expect(points.length).toBe(count.size)
    let checked = 0
    let big = 0
    for (const p of points) {
      const k = `${p.time}|${p.server}|${p.protocol}|${p.method}|${p.client_ip}`
      expect(p.requests, k).toBe(count.get(k))
      const l = lat.get(k) ?? []
      expect(p.responses, k).toBe(l.length)
      if (l.length === 0) continue
      for (const [pct, field] of [[50, 'p50_latency'], [90, 'p90_latency'], [99, 'p99_latency']] as const) {
        const exact = nearestRankUs(l, pct)
        const got = p[field] as number
        // HdrHistogram answers a value of the exact percentile's bucket (never above the window's maximum)
        expect(got * 1000, `${k} ${field} (exact ${exact} µs)`).toBeGreaterThanOrEqual(H.lowestEquivalentValue(exact) - 1e-6)
        expect(got * 1000, `${k} ${field} (exact ${exact} µs)`).toBeLessThanOrEqual(Math.min(H.highestEquivalentValue(exact), Math.max(...l)) + 1e-6)
        checked++
      }
      if (l.length >= 900) big++
    }
    expect(checked).toBeGreaterThan(30)
    expect(big).toBeGreaterThanOrEqual(2) // the 1000-request HTTP connection and the 1000 Redis SETs
  })

  it('l7_rpc latency buckets add up to the responses and follow the exact latencies', async () => {
    const fields = [...LATENCY_BUCKETS_S, Infinity].map(latencyBucketField)
    const [b] = await q(`SELECT ${fields.map((f) => `sum("${f}") AS "${f}"`).join(', ')} FROM "l7_rpc"`)
    const answered = r.exchanges.filter((e) => e.status !== null)
    expect(fields.reduce((a, f) => a + (b[f] as number), 0)).toBe(answered.length)
    let cum = 0
    LATENCY_BUCKETS_S.forEach((le, i) => {
      cum += b[fields[i]] as number
      const leUs = le * 1e6
      // exact up to the histogram's precision: a latency counts as <= le when its histogram bucket starts there
      expect(cum, `le ${le}`).toBe(answered.filter((e) => H.lowestEquivalentValue(recordedUs(e)) <= leUs).length)
      const exact = answered.filter((e) => recordedUs(e) <= leUs).length
      expect(cum - exact, `le ${le}`).toBeLessThanOrEqual(answered.filter((e) => recordedUs(e) > leUs && recordedUs(e) <= leUs * 1.01).length)
    })
  })

  it('l7_trace has one point per exchange, pipelined requests in the same microsecond included', async () => {
    const [t] = await q('SELECT count("latency_ms") AS n, sum("latency_ms") AS lat, sum("request_bytes") AS reqB FROM "l7_trace"')
    expect(t.n).toBe(r.exchanges.length)
    const sumLat = r.exchanges.reduce((a, e) => a + latencyMs(e), 0)
    expect(t.lat as number).toBeCloseTo(sumLat, 3)
    expect(t.reqB).toBe(r.exchanges.reduce((a, e) => a + e.reqBytes, 0))
    const sameUs = r.exchanges.length - new Set(r.exchanges.map((e) => `${e.flowId}|${e.startUs}`)).size
    expect(sameUs).toBeGreaterThan(0) // the capture really has requests starting in the same µs
    // resource and status come back per exchange
    const one = r.exchanges.find((e) => e.resource !== undefined && e.status !== null) as Exchange
    const [p] = await qUs(`SELECT "resource", "status", "method" FROM "l7_trace" WHERE time >= ${one.startUs}u AND time < ${one.startUs + 1}u AND "flow_id" = ${one.flowId}`)
    expect(p.resource).toBe(one.resource)
    expect(p.status).toBe(String(one.status))
  })

  it('l7_status counts every exchange by protocol and status', async () => {
    const want = new Map<string, number>()
    for (const e of r.exchanges) {
      const k = `${e.protocol}|${statusLabel(e.status)}`
      want.set(k, (want.get(k) ?? 0) + 1)
    }
    const got = new Map<string, number>()
    for (const x of await q('SELECT sum("count") AS n FROM "l7_status" GROUP BY "protocol", "status"')) got.set(`${x.protocol}|${x.status}`, x.n as number)
    expect(got).toEqual(want)
  })

  it('l7_link has one point per connection with its bytes', async () => {
    const [l] = await q('SELECT count("bytes_sent") AS n, sum("bytes_sent") AS sent, sum("bytes_received") AS recv FROM "l7_link"')
    expect(l.n).toBe(r.links.length)
    expect(l.sent).toBe(r.links.reduce((a, k) => a + k.bytesSent, 0))
    expect(l.recv).toBe(r.links.reduce((a, k) => a + k.bytesReceived, 0))
  })

  it('podtap_health holds the final counter values', async () => {
    const got = new Map<string, number>()
    for (const x of await q(`SELECT last("value") AS v FROM "podtap_health" WHERE "counter" = 'exchanges' GROUP BY "protocol"`)) got.set(x.protocol as string, x.v as number)
    expect(got.get('http')).toBe(counters.get(C.exchanges, { protocol: 'http' }))
    expect(got.get('redis')).toBe(counters.get(C.exchanges, { protocol: 'redis' }))
    const [p] = await q(`SELECT last("value") AS v FROM "podtap_health" WHERE "counter" = 'capture_packets'`)
    expect(p.v).toBe(r.packets)
  })

  it('every query of every InfluxDB dashboard returns data', async () => {
    const ts = [...r.exchanges.map((e) => e.startUs), ...r.links.map((l) => l.endUs)]
    const fromMs = Math.floor(Math.min(...ts) / 1000) - 3_600_000
    const toMs = Math.ceil(Math.max(...ts) / 1000) + 3_600_000
    // as Grafana does: about 1000 points over the range, never below the panel's 15 s minimum
    const intervalS = Math.max(15, Math.ceil((toMs - fromMs) / 1000 / 1000))
    const vars: [RegExp, string][] = [
      [/\$timeFilter/g, `time >= ${fromMs}ms and time <= ${toMs}ms`],
      [/\$__interval_ms/g, String(intervalS * 1000)],
      [/\$__interval/g, `${intervalS}s`],
      [/\$__range_s/g, String(Math.round((toMs - fromMs) / 1000))],
      [/\$(namespace|pod|protocol|server|agent)\b/g, '.*'], // the "All" value of every variable
    ]
    const subst = (s: string) => vars.reduce((a, [re, v]) => a.replace(re, v), s)
    const files = fs.readdirSync(DASHBOARDS).filter((f) => f.endsWith('.json'))
    expect(files.length).toBeGreaterThanOrEqual(3)
    let panels = 0
    for (const f of files) {
      const d = JSON.parse(fs.readFileSync(path.join(DASHBOARDS, f), 'utf8'))
      for (const v of d.templating.list) {
        const res = await influxd.query(subst(v.query), DB)
        expect(res[0].error, `${f} variable ${v.name}`).toBeUndefined()
      }
      for (const p of d.panels) {
        for (const t of p.targets) {
          expect(t.datasource.uid, `${f} ${p.title}`).toBe('podtap-influxdb')
          expect(t.query, `${f} ${p.title}`).not.toMatch(/\$(?!timeFilter|__interval|__range_s|namespace|pod|protocol|server|agent)\w/)
          const res = await influxd.query(subst(t.query), DB)
          expect(res[0].error, `${f} "${p.title}": ${t.query}`).toBeUndefined()
          const values = (res[0].series ?? []).flatMap((s) => s.values.map((row) => row.slice(1)))
          expect(values.flat().some((x) => x !== null), `${f} "${p.title}" returned no data`).toBe(true)
          panels++
        }
      }
    }
    expect(panels).toBeGreaterThan(20)
  })

  it('the protocol variable lists the protocols written', async () => {
    const res = rows(await influxd.query('SHOW TAG VALUES FROM "l7_rpc" WITH KEY = "protocol"', DB))
    expect(res.map((x) => x.value).sort()).toEqual(['http', 'redis'])
  })
})
