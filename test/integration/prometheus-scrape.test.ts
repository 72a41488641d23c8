// Real captures replayed with the Prometheus output on: /metrics scraped over HTTP and checked with
// promtool (Debian's prometheus package), its numbers compared with the exchange records, then a real
// prometheus server scrapes podtap on loopback and every PromQL query of every Prometheus dashboard
// must return data through its HTTP API. --metrics-out must hold the final exposition after close.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildOutputs, OutputHub } from '../../src/cli/outputs.js'
import { C, Counters } from '../../src/counters.js'
import { LATENCY_BUCKETS_S } from '../../src/sinks/influx.js'
import type { PrometheusSink } from '../../src/sinks/prometheus.js'
import { endpoint, outputPcaps, podSample, replayInto, type Replayed } from '../outputs-helpers.js'
import { freePort } from './influx-harness.js'

const DASHBOARDS = path.join(import.meta.dirname, '..', '..', 'grafana', 'provisioning', 'dashboards', 'prometheus')
const promtool = spawnSync('promtool', ['--version']).status === 0
const prometheus = spawnSync('prometheus', ['--version']).status === 0
if (!promtool || !prometheus) console.warn('prometheus-scrape: promtool/prometheus not installed (apt-get install -y prometheus): those checks are skipped')

interface Sample {
  name: string
  labels: Record<string, string>
  value: number
}

/** text exposition 0.0.4 -> samples (no escapes beyond \" \\ \n are produced by prom-client) */
function parseExposition(text: string): Sample[] {
  const out: Sample[] = []
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
    if (!m) throw new Error(`unparsable exposition line: ${line}`)
    const labels: Record<string, string> = {}
    for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2].replace(/\\(.)/g, (_, c) => (c === 'n' ? '\n' : c))
    out.push({ name: m[1], labels, value: Number(m[3]) })
  }
  return out
}

const sum = (s: Sample[], name: string, f: (l: Record<string, string>) => boolean = () => true) => s.filter((x) => x.name === name && f(x.labels)).reduce((a, x) => a + x.value, 0)

function checkMetrics(text: string): string {
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' })
  return `${r.status} ${r.stdout}${r.stderr}`.trim()
}

describe('Prometheus output', () => {
  let r: Replayed
  let counters: Counters
  let hub: OutputHub
  let sink: PrometheusSink
  let base: string
  let tmp: string
  let metricsOut: string

  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'podtap-prom-'))
    metricsOut = path.join(tmp, 'metrics.txt')
    counters = new Counters()
    const outs = await buildOutputs({ metricsPort: 0, metricsHost: '127.0.0.1', metricsOut, xlsx: path.join(tmp, 'x.xlsx') }, counters)
    hub = new OutputHub(outs, { counters })
    sink = outs.find((o) => o.name === 'prometheus') as unknown as PrometheusSink
    base = `http://127.0.0.1:${sink.address!.port}`
    expect(hub.ownEndpoints()).toContainEqual({ ip: '127.0.0.1', port: sink.address!.port })
    r = replayInto(outputPcaps(), hub, counters)
    hub.pods([podSample(r.exchanges.at(-1)!.startUs)])
  })

  afterAll(async () => {
    await hub?.close().catch(() => undefined)
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true })
  })

  it('/metrics passes promtool and its counts equal the exchange records', async () => {
    const res = await fetch(`${base}/metrics`)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/)
    const text = await res.text()
    if (promtool) expect(checkMetrics(text)).toBe('0')
    const s = parseExposition(text)

    expect(sum(s, 'podtap_l7_requests_total')).toBe(r.exchanges.length)
    expect(sum(s, 'podtap_l7_request_errors_total')).toBe(r.exchanges.filter((e) => e.error).length)
    const answered = r.exchanges.filter((e) => e.status !== null)
    expect(sum(s, 'podtap_l7_request_duration_seconds_count')).toBe(answered.length)
    // cumulative buckets: exactly the exchanges at or under each bound
    for (const le of LATENCY_BUCKETS_S) {
      const want = answered.filter((e) => Math.max(0, e.endUs - e.startUs) / 1e6 <= le).length
      expect(sum(s, 'podtap_l7_request_duration_seconds_bucket', (l) => Number(l.le) === le), `le=${le}`).toBe(want)
    }
    expect(sum(s, 'podtap_l7_request_duration_seconds_bucket', (l) => l.le === '+Inf')).toBe(answered.length)
    const sumS = answered.reduce((a, e) => a + Math.max(0, e.endUs - e.startUs) / 1e6, 0)
    expect(sum(s, 'podtap_l7_request_duration_seconds_sum')).toBeCloseTo(sumS, 6)

    // per server, protocol and method
    const want = new Map<string, number>()
    for (const e of r.exchanges) {
      const k = `${endpoint(e.server.ip, e.server.port)}|${e.protocol}|${e.method}`
      want.set(k, (want.get(k) ?? 0) + 1)
    }
    const got = new Map<string, number>()
    for (const x of s.filter((x) => x.name === 'podtap_l7_requests_total')) {
      const k = `${x.labels.server}|${x.labels.protocol}|${x.labels.method}`
      got.set(k, (got.get(k) ?? 0) + x.value)
    }
    expect(got).toEqual(want)
    // status classes: HTTP by hundreds, the rest ok/error, none when unanswered
    expect(sum(s, 'podtap_l7_requests_total', (l) => l.status_class === '4xx')).toBe(r.exchanges.filter((e) => e.protocol === 'http' && typeof e.status === 'number' && e.status >= 400 && e.status < 500).length)
    expect(sum(s, 'podtap_l7_requests_total', (l) => l.status_class === 'none')).toBe(r.exchanges.filter((e) => e.status === null).length)
    expect(sum(s, 'podtap_l7_requests_total', (l) => l.protocol === 'redis' && l.status_class === 'ok')).toBe(r.exchanges.filter((e) => e.protocol === 'redis' && e.status !== null && !e.error).length)
    // no client addresses, raw paths or keys as labels
    for (const x of s.filter((x) => x.name.startsWith('podtap_l7_'))) {
      expect(Object.keys(x.labels)).not.toContain('client_ip')
      if (x.labels.route !== undefined) expect(x.labels.route).not.toMatch(/\?|\/\d+(\/|$)/)
    }

    expect(sum(s, 'podtap_l7_link_bytes_total', (l) => l.direction === 'client_to_server')).toBe(r.links.reduce((a, k) => a + k.bytesSent, 0))
    expect(sum(s, 'podtap_l7_link_bytes_total', (l) => l.direction === 'server_to_client')).toBe(r.links.reduce((a, k) => a + k.bytesReceived, 0))
    expect(sum(s, 'podtap_l7_connections_total')).toBe(r.links.length)

    // health, read from Counters at scrape time
    expect(sum(s, 'podtap_capture_packets_total')).toBe(r.packets)
    expect(s.find((x) => x.name === 'podtap_capture_dropped_total')?.value).toBe(0)
    expect(s.find((x) => x.name === 'podtap_flows_active')?.value).toBe(counters.get(C.flowsActive))
    expect(sum(s, 'podtap_parse_errors_total')).toBe(counters.total(C.parseErrors))
    expect(sum(s, 'podtap_parse_errors_total')).toBeGreaterThan(0)
    expect(s.find((x) => x.name === 'podtap_sink_dropped_points_total' && x.labels.sink === 'xlsx')?.value).toBe(0)
    expect(sum(s, 'podtap_flows_created_total')).toBe(counters.get(C.flowsCreated))
    expect(s.some((x) => x.name === 'podtap_process_resident_memory_bytes')).toBe(true)
  })

  it('/healthz answers for probes; other paths and methods do not serve metrics', async () => {
    expect((await fetch(`${base}/healthz`)).status).toBe(200)
    expect((await fetch(`${base}/nope`)).status).toBe(404)
    expect((await fetch(`${base}/metrics`, { method: 'POST' })).status).toBe(405)
  })

  it.skipIf(!prometheus)('a real prometheus scrapes podtap, and every dashboard query returns data', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'podtap-prometheus-'))
    const port = await freePort()
    fs.writeFileSync(
      path.join(dir, 'prometheus.yml'),
      `global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: podtap\n    static_configs:\n      - targets: ['127.0.0.1:${sink.address!.port}']\n`,
    )
    const child: ChildProcess = spawn('prometheus', [`--config.file=${dir}/prometheus.yml`, `--storage.tsdb.path=${dir}/data`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=error'], { stdio: 'ignore' })
    const api = `http://127.0.0.1:${port}/api/v1`
    const query = async (q: string) => {
      const res = await fetch(`${api}/query`, { method: 'POST', body: new URLSearchParams({ query: q }) })
      const j = (await res.json()) as { status: string; error?: string; data?: { resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] } }
      if (j.status !== 'success') throw new Error(`${q}: ${j.error}`)
      return j.data!.result
    }
    try {
      // wait for a few scrapes: rate() needs two samples in its range
      const deadline = Date.now() + 30_000
      let scrapes = 0
      while (Date.now() < deadline) {
        try {
          const up = await query('count_over_time(up{job="podtap"}[1m])')
          scrapes = up.length ? Number(up[0].value[1]) : 0
          if (scrapes >= 4) break
        } catch {
          // not ready yet
        }
        await new Promise((res) => setTimeout(res, 250))
      }
      expect(scrapes).toBeGreaterThanOrEqual(4)
      expect(Number((await query('sum(podtap_l7_requests_total)'))[0].value[1])).toBe(r.exchanges.length)
      expect(Number((await query('sum(podtap_l7_request_duration_seconds_count)'))[0].value[1])).toBe(r.exchanges.filter((e) => e.status !== null).length)

      const vars: [RegExp, string][] = [
        [/\$__rate_interval/g, '20s'],
        [/\$__range/g, '1m'],
        [/\$(namespace|pod|protocol|server)\b/g, '.*'],
      ]
      const subst = (s: string) => vars.reduce((a, [re, v]) => a.replace(re, v), s)
      const files = fs.readdirSync(DASHBOARDS).filter((f) => f.endsWith('.json'))
      expect(files.length).toBeGreaterThanOrEqual(3)
      let n = 0
      for (const f of files) {
        const d = JSON.parse(fs.readFileSync(path.join(DASHBOARDS, f), 'utf8'))
        for (const v of d.templating.list) {
          // label_values(METRIC{...}, LABEL) is Grafana's: the label values API with a matcher
          const m = /^label_values\((.+), (\w+)\)$/.exec(v.query.query)
          expect(m, `${f} variable ${v.name}`).not.toBeNull()
          const res = await fetch(`${api}/label/${m![2]}/values?${new URLSearchParams({ 'match[]': subst(m![1]) })}`)
          const j = (await res.json()) as { status: string; data: string[] }
          expect(j.status, `${f} variable ${v.name}`).toBe('success')
          if (v.name === 'protocol') expect(j.data.sort()).toEqual(['http', 'redis'])
        }
        for (const p of d.panels) {
          for (const t of p.targets) {
            expect(t.datasource.uid).toBe('podtap-prometheus')
            const res = await query(subst(t.expr))
            expect(res.length, `${f} "${p.title}": ${t.expr}`).toBeGreaterThan(0)
            n++
          }
        }
      }
      expect(n).toBeGreaterThan(20)
    } finally {
      const exited = new Promise<void>((res) => child.once('exit', () => res()))
      child.kill('SIGTERM')
      await exited
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })

  it('close() writes --metrics-out with the final numbers and stops serving', async () => {
    await hub.close()
    const text = fs.readFileSync(metricsOut, 'utf8')
    if (promtool) expect(checkMetrics(text)).toBe('0')
    const s = parseExposition(text)
    expect(sum(s, 'podtap_l7_requests_total')).toBe(r.exchanges.length)
    expect(sum(s, 'podtap_capture_packets_total')).toBe(r.packets)
    await expect(fetch(`${base}/metrics`)).rejects.toThrow()
  })
})
