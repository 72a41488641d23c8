// InfluxSink's points as they arrive at a /api/v2/write endpoint (a node http server standing in for
// InfluxDB here; test/integration/influx-*.test.ts use a real influxd).

import fc from 'fast-check'
import * as http from 'node:http'
import type { AddressInfo } from 'node:net'
import * as zlib from 'node:zlib'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { limitsWith } from '../config.js'
import { Counters } from '../counters.js'
import { newLatencyHistogram, recordUs } from '../metrics/histogram.js'
import { RedAggregator } from '../metrics/red.js'
import type { LinkRecord } from '../records.js'
import type { Exchange } from '../records.js'
import { bucketCounts, InfluxSink, LATENCY_BUCKETS_S, latencyBucketField } from './influx.js'

let server: http.Server
let url: string
const bodies: { path: string; auth?: string; lines: string[] }[] = []

beforeAll(async () => {
  server = http.createServer(async (req, res) => {
    const chunks: Buffer[] = []
    for await (const c of req) chunks.push(c as Buffer)
    let b = Buffer.concat(chunks)
    if (req.headers['content-encoding'] === 'gzip') b = zlib.gunzipSync(b)
    bodies.push({ path: req.url ?? '', auth: req.headers.authorization, lines: b.toString('utf8').split('\n') })
    res.writeHead(204).end()
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})
afterAll(() => new Promise<void>((r) => server.close(() => r())))

const T0 = 1_700_000_000_000_000 // µs, 2023-11-14T22:13:20Z: a window start for 15 s windows? (T0 % 15e6 = 5e6)

function ex(over: Partial<Exchange> = {}): Exchange {
  return {
    protocol: 'http',
    tls: false,
    client: { ip: '10.0.0.2', port: 40000 },
    server: { ip: '2001:db8::1', port: 8080, namespace: 'shop', pod: 'cart-7d9f' },
    flowId: 7,
    method: 'GET',
    resource: '/a b,"c"',
    status: 200,
    error: false,
    startUs: T0,
    endUs: T0 + 1500,
    reqBytes: 100,
    respBytes: 200,
    ...over,
  }
}

describe('InfluxSink points', () => {
  it('writes l7_trace, l7_rpc, l7_status, l7_link and podtap_health lines with escaped tags and unique times', async () => {
    bodies.length = 0
    const counters = new Counters()
    const sink = new InfluxSink({ url, token: 'tok', org: 'o', bucket: 'b', traces: true, counters, limits: limitsWith(), agent: 'node-1', flushIntervalMs: 10 })
    const red = new RedAggregator({ windowUs: 15_000_000, limits: limitsWith(), counters, onWindow: (s) => sink.onWindow(s) })
    // three pipelined requests starting in the same µs, one odd method, one unanswered
    const xs = [ex(), ex({ endUs: T0 + 2500 }), ex({ method: 'M E,T=X', status: null, error: true, endUs: T0 + 9000 })]
    for (const e of xs) {
      red.add(e)
      sink.onExchange(e)
    }
    const link: LinkRecord = { flowId: 7, client: xs[0].client, server: xs[0].server, protocol: 'http', tls: false, startUs: T0 - 1000, endUs: T0 + 10_000, bytesSent: 300, bytesReceived: 400, packetsSent: 3, packetsReceived: 4, retransmits: 1, gapBytes: 0, endReason: 'fin' }
    red.addLink(link)
    sink.onLink(link)
    red.flush()
    await sink.close()

    expect(bodies.every((b) => b.path.startsWith('/api/v2/write?org=o&bucket=b&precision=ns') && b.auth === 'Token tok')).toBe(true)
    const lines = bodies.flatMap((b) => b.lines)
    const of = (m: string) => lines.filter((l) => l.startsWith(m + ','))
    expect(lines.every((l) => /(^|,)agent=node-1(,| )/.test(l))).toBe(true)

    const traces = of('l7_trace')
    expect(traces).toHaveLength(3)
    const times = traces.map((l) => l.split(' ').pop()!)
    expect(new Set(times).size).toBe(3) // same µs, different ns digits
    for (const t of times) expect(t.slice(0, 16)).toBe(String(T0))
    expect(traces[2]).toContain('method=M\\ E\\,T\\=X')
    expect(traces[2]).toContain('status_class=none')
    expect(traces[0]).toContain('resource="/a b,\\"c\\""')
    expect(traces[0]).toContain('server=[2001:db8::1]:8080')
    expect(traces[0]).toMatch(/namespace=shop,.*pod=cart-7d9f/)
    expect(traces[0]).toContain('latency_ms=1.5')

    const rpc = of('l7_rpc')
    expect(rpc).toHaveLength(2) // GET and the odd method
    const get = rpc.find((l) => l.includes('method=GET'))!
    expect(get).toContain('requests=2i')
    expect(get).toContain('lat_le_2p5ms=2i')
    expect(get).toContain('lat_le_inf=0i')
    expect(get.split(' ').pop()).toBe(String(T0 - (T0 % 15_000_000)) + '000') // window start, ns

    const status = of('l7_status')
    expect(status.map((l) => /status=(\w+)/.exec(l)![1]).sort()).toEqual(['200', 'none'])
    expect(status.find((l) => l.includes('status=200'))).toContain('count=2i')

    const links = of('l7_link')
    expect(links).toHaveLength(1)
    expect(links[0]).toMatch(/bytes_sent=300i.*client_port=40000i/)
    expect(links[0]).toContain('end_reason=fin')

    expect(of('podtap_health').some((l) => l.includes('counter=capture_packets'))).toBe(true)
  })

  it('a sink that writes nothing opens no connection and closes at once', async () => {
    bodies.length = 0
    const sink = new InfluxSink({ url, org: 'o', bucket: 'b', traces: false, counters: new Counters(), limits: limitsWith() })
    const t0 = Date.now()
    await sink.close()
    expect(Date.now() - t0).toBeLessThan(100)
    expect(bodies).toEqual([])
  })

  it('rejects URLs it cannot write to', () => {
    const o = { org: 'o', bucket: 'b', traces: false, counters: new Counters(), limits: limitsWith() }
    expect(() => new InfluxSink({ ...o, url: 'influx:8086' })).toThrow(/only http/)
    expect(() => new InfluxSink({ ...o, url: 'not a url' })).toThrow(/not a URL/)
    expect(new InfluxSink({ ...o, url: 'https://[::1]/' }).ownEndpoints()).toEqual([{ ip: '::1', port: 443 }])
  })
})

describe('latency buckets', () => {
  it('names fields after their bound', () => {
    expect([...LATENCY_BUCKETS_S, Infinity].map(latencyBucketField)).toEqual([
      'lat_le_0p5ms', 'lat_le_1ms', 'lat_le_2p5ms', 'lat_le_5ms', 'lat_le_10ms', 'lat_le_25ms', 'lat_le_50ms', 'lat_le_100ms',
      'lat_le_250ms', 'lat_le_500ms', 'lat_le_1s', 'lat_le_2p5s', 'lat_le_5s', 'lat_le_10s', 'lat_le_inf',
    ])
  })

  it('counts every recorded latency once, in its bucket: exact up to the histogram precision', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 30_000_000 }), { maxLength: 300 }), (us) => {
        const h = newLatencyHistogram()
        for (const v of us) recordUs(h, v)
        const c = bucketCounts(h)
        expect(c.reduce((a, b) => a + b, 0)).toBe(us.length)
        // a value counts as <= bound when the lowest value of its histogram bucket is
        const low = (v: number) => (h as unknown as { lowestEquivalentValue(v: number): number }).lowestEquivalentValue(Math.max(1, v))
        let cum = 0
        LATENCY_BUCKETS_S.forEach((le, i) => {
          cum += c[i]
          const bound = le * 1e6
          expect(cum).toBe(us.filter((v) => low(v) <= bound).length)
          // and that differs from the exact count only by values within one histogram bucket above the bound
          expect(cum - us.filter((v) => Math.max(1, v) <= bound).length).toBe(us.filter((v) => Math.max(1, v) > bound && low(v) <= bound).length)
        })
      }),
    )
  })
})
