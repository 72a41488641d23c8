import { spawnSync } from 'node:child_process'
import * as net from 'node:net'
import { describe, expect, it } from 'vitest'
import { limitsWith } from '../config.js'
import { UsageError } from '../errors.js'
import { C, Counters } from '../counters.js'
import { exchange as ex } from '../../test/helpers/records.js'
import { PrometheusSink } from './prometheus.js'

const series = (text: string, name: string) => text.split('\n').filter((l) => l.startsWith(name + '{') || l.startsWith(name + ' '))

describe('PrometheusSink label cardinality', () => {
  it('caps methods per server and routes per server; overflow goes to other and is counted', async () => {
    const counters = new Counters()
    const s = await PrometheusSink.start({ counters, limits: limitsWith({ maxMethodsPerServer: 4 }), maxRoutesPerServer: 5, processMetrics: false })
    for (let i = 0; i < 50; i++) s.onExchange(ex({ method: `M${i}`, resource: `/r${i}/x`, startUs: 1e15 + i }))
    const text = await s.exposition()
    const methods = new Set(series(text, 'podtap_l7_request_duration_seconds_count').map((l) => /method="([^"]*)"/.exec(l)![1]))
    expect(methods).toEqual(new Set(['M0', 'M1', 'M2', 'M3', 'other']))
    const routes = new Set(series(text, 'podtap_l7_requests_total').map((l) => /route="([^"]*)"/.exec(l)![1]))
    expect(routes.size).toBe(6) // 5 + other
    expect(routes.has('other')).toBe(true)
    expect(counters.get(C.capsHit, { cap: 'metrics_methods_per_server' })).toBe(46)
    expect(counters.get(C.capsHit, { cap: 'metrics_routes_per_server' })).toBe(45)
    // totals stay exact
    const total = series(text, 'podtap_l7_requests_total').reduce((a, l) => a + Number(l.split(' ').pop()), 0)
    expect(total).toBe(50)
    await s.close()
  })

  it('caps servers: a scan over many ports ends in server="other"', async () => {
    const counters = new Counters()
    const s = await PrometheusSink.start({ counters, limits: limitsWith(), maxServers: 10, processMetrics: false })
    for (let p = 1; p <= 1000; p++) s.onExchange(ex({ server: { ip: '10.0.0.1', port: p }, status: null, error: true }))
    const text = await s.exposition()
    const servers = new Set(series(text, 'podtap_l7_requests_total').map((l) => /server="([^"]*)"/.exec(l)![1]))
    expect(servers.size).toBe(11)
    expect(servers.has('other')).toBe(true)
    expect(counters.get(C.capsHit, { cap: 'metrics_servers' })).toBe(990)
    expect(series(text, 'podtap_l7_request_errors_total').reduce((a, l) => a + Number(l.split(' ').pop()), 0)).toBe(1000)
    // no response: no duration observed, status class none
    expect(series(text, 'podtap_l7_request_duration_seconds_count')).toEqual([])
    expect(text).toContain('status_class="none"')
    await s.close()
  })

  it('paths become templates; query strings, ids and client addresses never become labels', async () => {
    const s = await PrometheusSink.start({ counters: new Counters(), limits: limitsWith(), processMetrics: false })
    s.onExchange(ex({ resource: '/users/123/orders/550e8400-e29b-41d4-a716-446655440000' }))
    s.onExchange(ex({ protocol: 'redis', method: 'GET', resource: undefined, status: 'OK', server: { ip: '10.0.0.3', port: 6379 } }))
    const text = await s.exposition()
    expect(text).toContain('route="/users/{id}/orders/{uuid}"')
    expect(text).not.toContain('10.0.0.2') // the client
    expect(series(text, 'podtap_l7_requests_total').find((l) => l.includes('redis'))).not.toContain('route=')
    await s.close()
  })

  it('exports every Counters name, with the DESIGN.md names for the health basics', async () => {
    const counters = new Counters()
    counters.inc(C.parseErrors, { protocol: 'http', reason: 'bad_request_line' }, 3)
    counters.inc(C.tcpRetransmits, undefined, 7)
    counters.set(C.flowsActive, 12)
    const s = await PrometheusSink.start({ counters, limits: limitsWith(), processMetrics: false })
    counters.inc('added_later', { x: 'y' }) // a counter name that appears after start
    const text = await s.exposition()
    expect(text).toContain('podtap_parse_errors_total{protocol="http",reason="bad_request_line"} 3')
    expect(text).toContain('podtap_tcp_retransmitted_segments_total 7')
    expect(text).toContain('# TYPE podtap_flows_active gauge\npodtap_flows_active 12')
    expect(text).toContain('podtap_capture_packets_total 0')
    expect(text).toContain('podtap_added_later_total{x="y"} 1')
    if (spawnSync('promtool', ['--version']).status === 0) {
      const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' })
      expect(`${r.status} ${r.stdout}${r.stderr}`.trim()).toBe('0')
    }
    await s.close()
  })

  it('a port in use is a usage error that names the port', async () => {
    const blocker = net.createServer()
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()))
    const port = (blocker.address() as net.AddressInfo).port
    try {
      const p = PrometheusSink.start({ counters: new Counters(), limits: limitsWith(), port, host: '127.0.0.1', processMetrics: false })
      await expect(p).rejects.toBeInstanceOf(UsageError)
      await expect(p).rejects.toThrow(new RegExp(`--metrics-port ${port}.*already in use`))
    } finally {
      blocker.close()
    }
  })
})

describe('PrometheusSink exemplars (OTLP trace ids)', () => {
  it('OpenMetrics when the scraper asks: the latency buckets carry trace_id/span_id; the text format stays as it was', async () => {
    const s = await PrometheusSink.start({ counters: new Counters(), limits: limitsWith({}), port: 0, host: '127.0.0.1', processMetrics: false })
    try {
      const span = { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7' }
      s.onExchange(ex({ span }))
      s.onExchange(ex({ endUs: 1_700_000_000_300_000 })) // not exported: no exemplar
      const url = `http://127.0.0.1:${s.address!.port}/metrics`
      const om = await fetch(url, { headers: { accept: 'application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5' } })
      expect(om.headers.get('content-type')).toMatch(/^application\/openmetrics-text; version=1\.0\.0/)
      const omText = await om.text()
      expect(omText.endsWith('# EOF\n')).toBe(true)
      const withEx = omText.split('\n').filter((l) => l.includes(' # {'))
      expect(withEx).toHaveLength(1)
      expect(withEx[0]).toMatch(/^podtap_l7_request_duration_seconds_bucket\{.*le="0\.0025".*\} 1 # \{trace_id="4bf92f3577b34da6a3ce929d0e0e4736",span_id="00f067aa0ba902b7"\} 0\.002 \d+/)
      // OpenMetrics counters: TYPE without _total, samples with it, never twice
      expect(omText).toContain('# TYPE podtap_l7_requests counter')
      expect(omText).toContain('podtap_capture_packets_total 0')
      expect(omText).not.toContain('_total_total')
      // the text format afterwards: names as before, no exemplars
      const plain = await fetch(url)
      expect(plain.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/)
      const text = await plain.text()
      expect(text).not.toContain('trace_id')
      expect(text).toContain('# TYPE podtap_l7_requests_total counter')
      expect(series(text, 'podtap_l7_requests_total').length).toBe(1)
      if (spawnSync('promtool', ['--version']).status === 0) expect(spawnSync('promtool', ['check', 'metrics'], { input: text }).status).toBe(0)
    } finally {
      await s.close()
    }
  })
})
