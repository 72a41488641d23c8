import { describe, expect, it } from 'vitest'
import { limitsWith } from '../config.js'
import type { Exchange } from '../records.js'
import { Counters } from '../counters.js'
import { l7RpcFields, RedAggregator, type RedSnapshot } from './red.js'
import { Summary, rowPercentiles } from './summary.js'

function ex(startUs: number, latencyUs: number, o: Partial<Exchange> = {}): Exchange {
  return {
    protocol: 'http', tls: false, flowId: 1, method: 'GET', resource: '/', status: 200, error: false,
    client: { ip: '10.0.0.1', port: 40000 + (startUs % 1000) }, server: { ip: '10.0.0.2', port: 80 },
    startUs, endUs: startUs + latencyUs, reqBytes: 100, respBytes: 200, ...o,
  }
}

describe('RedAggregator', () => {
  it('computes rate, errors and percentiles per window and series', () => {
    const snaps: RedSnapshot[] = []
    const agg = new RedAggregator({ windowUs: 15e6, limits: limitsWith(), counters: new Counters(), onWindow: (s) => snaps.push(s) })
    const t0 = 1_700_000_010_000_000 // inside the window that starts at ..._000_000 (15 s aligned)
    // 100 requests with latencies 1..100 ms, every 10th a 500, one without response
    for (let i = 1; i <= 100; i++) agg.add(ex(t0 + i * 1000, i * 1000, i % 10 === 0 ? { status: 500, error: true } : {}))
    agg.add(ex(t0 + 200_000, 0, { status: null, error: true }))
    agg.add(ex(t0 + 30e6, 5000)) // next window: closes the first
    expect(snaps).toHaveLength(1)
    const s = snaps[0]
    expect(s.windowStartUs % 15e6).toBe(0)
    expect(s.series).toHaveLength(1)
    const f = l7RpcFields(s.series[0], s.windowUs)
    expect(f.requests).toBe(101)
    expect(f.errors).toBe(11)
    expect(f.req_throughput).toBeCloseTo(101 / 15)
    expect(f.rsp_throughput).toBeCloseTo(100 / 15)
    expect(f.error_rate).toBeCloseTo((100 * 11) / 101)
    expect(f.latency).toBeCloseTo(50.5)
    expect(f.p50_latency).toBeCloseTo(50, 0)
    expect(f.p90_latency).toBeCloseTo(90, 0)
    expect(f.p99_latency).toBeCloseTo(99, 0)
    agg.flush()
    expect(snaps).toHaveLength(2)
  })

  it('caps methods per server and series per window, counting both', () => {
    const counters = new Counters()
    const snaps: RedSnapshot[] = []
    const agg = new RedAggregator({ windowUs: 15e6, limits: limitsWith({ maxMethodsPerServer: 2, maxSeriesPerWindow: 3 }), counters, onWindow: (s) => snaps.push(s) })
    for (const m of ['GET', 'POST', 'PUT', 'DELETE']) agg.add(ex(1e6, 10, { method: m }))
    for (const ip of ['10.0.0.5', '10.0.0.6']) agg.add(ex(1e6, 10, { client: { ip, port: 1 } }))
    agg.flush()
    const methods = snaps[0].series.map((s) => s.method).sort()
    expect(methods).toEqual(['GET', 'POST', 'other'])
    expect(counters.total('caps_hit')).toBe(2)
    expect(counters.get('series_dropped')).toBe(2)
  })
})

describe('Summary', () => {
  it('groups by server, method, resource and status with exact counts', () => {
    const s = new Summary()
    for (let i = 1; i <= 10; i++) s.add(ex(i * 1e6, i * 1000))
    s.add(ex(20e6, 0, { status: 404, resource: '/x' }))
    s.add(ex(21e6, 0, { status: null, error: true }))
    expect(s.totals).toEqual({ exchanges: 12, errors: 1, unanswered: 1, servers: 1, tlsConnections: 0 })
    const rows = s.sortedRows()
    expect(rows.map((r) => [r.status, r.count])).toEqual([['200', 10], ['404', 1], ['-', 1]])
    const p = rowPercentiles(rows[0])
    expect(p.p50).toBeCloseTo(5, 1)
    expect(p.max).toBeCloseTo(10, 1)
  })
})

describe('Summary labels and clients', () => {
  it('names servers by pod (else process, else address) and counts distinct clients, bounded', async () => {
    const { peerLabel, MAX_CLIENTS_TRACKED } = await import('./summary.js')
    expect(peerLabel({ ip: '10.0.0.2', port: 80, pod: 'web-1', namespace: 'shop' })).toBe('shop/web-1:80')
    expect(peerLabel({ ip: '10.0.0.2', port: 80, comm: 'nginx' })).toBe('10.0.0.2:80 (nginx)')
    expect(peerLabel({ ip: 'fe80::1', port: 443 })).toBe('[fe80::1]:443')
    const s = new Summary()
    for (let i = 0; i < 150; i++) s.add(ex(1e6 + i, 10, { flowId: i, client: { ip: `10.1.0.${i}`, port: 1000 } }))
    s.add(ex(2e6, 10, { flowId: 999, client: { ip: '10.9.9.9', port: 1, pod: 'c', namespace: 'ns' } }))
    const rows = s.sortedRows()
    expect(rows).toHaveLength(1)
    expect(rows[0].count).toBe(151)
    expect(rows[0].clients.size).toBe(MAX_CLIENTS_TRACKED)
    const t = new Summary()
    for (const ip of ['10.1.0.1', '10.1.0.1', '10.1.0.2']) t.add(ex(1e6, 10, { client: { ip, port: 5 } }))
    expect(t.sortedRows()[0].clients.size).toBe(2)
  })
})
