// Exemplars from p99 to the trace: real captures replayed with the OTLP output (to the stand-in OTLP
// receiver, test/helpers/otlp-receiver.ts: no Collector, Jaeger or Tempo can be installed here) and the
// Prometheus output on, a real prometheus (Debian's, --enable-feature=exemplar-storage) scraping podtap
// over OpenMetrics: the exemplars it stores on podtap_l7_request_duration_seconds_bucket carry trace
// ids of spans the receiver got, and the Grafana Prometheus datasource sends them to the provisioned
// Jaeger datasource from the latency panels.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildOutputs, OutputHub } from '../../src/cli/outputs.js'
import { Counters } from '../../src/counters.js'
import type { PrometheusSink } from '../../src/sinks/prometheus.js'
import { OtlpReceiver } from '../helpers/otlp-receiver.js'
import { outputPcaps, replayInto, type Replayed } from '../outputs-helpers.js'
import { freePort } from './influx-harness.js'

const PROV = path.join(import.meta.dirname, '..', '..', 'grafana', 'provisioning')
const prometheus = spawnSync('prometheus', ['--version']).status === 0
if (!prometheus) console.warn('otlp-exemplars: prometheus not installed (apt-get install -y prometheus): the scrape check is skipped')

describe('latency exemplars link to exported traces', () => {
  let rx: OtlpReceiver
  let hub: OutputHub
  let sink: PrometheusSink
  let r: Replayed

  beforeAll(async () => {
    rx = new OtlpReceiver()
    await rx.start()
    const counters = new Counters()
    // --otlp-sample 0 with --otlp-slow-ms 20: only failed and slow exchanges become spans
    const outs = await buildOutputs({ metricsPort: 0, metricsHost: '127.0.0.1', otlpEndpoint: rx.url, otlpSample: 0, otlpSlowMs: 20, otlpCloseTimeoutMs: 10_000, env: {} }, counters)
    expect(outs.map((o) => o.name)).toEqual(['otlp', 'prometheus']) // OTLP first: it sets the ids the histogram uses
    hub = new OutputHub(outs, { counters })
    sink = outs.find((o) => o.name === 'prometheus') as unknown as PrometheusSink
    r = replayInto(outputPcaps(), hub, counters)
  })

  afterAll(async () => {
    await hub?.close().catch(() => undefined)
    await rx?.stop()
  })

  it.skipIf(!prometheus)('prometheus stores exemplars whose trace ids are spans the collector received', async () => {
    const exported = r.exchanges.filter((e) => e.span !== undefined)
    expect(exported.length).toBeGreaterThan(0)
    expect(exported.length).toBeLessThan(r.exchanges.filter((e) => e.status !== null).length)
    await rx.waitFor(exported.length)
    const received = new Set(rx.spans.map((s) => s.traceId))

    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'podtap-exemplars-'))
    const port = await freePort()
    fs.writeFileSync(
      path.join(dir, 'prometheus.yml'),
      `global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: podtap\n    static_configs:\n      - targets: ['127.0.0.1:${sink.address!.port}']\n`,
    )
    const child: ChildProcess = spawn('prometheus', [`--config.file=${dir}/prometheus.yml`, `--storage.tsdb.path=${dir}/data`, `--web.listen-address=127.0.0.1:${port}`, '--enable-feature=exemplar-storage', '--log.level=error'], { stdio: 'ignore' })
    try {
      type Ex = { seriesLabels: Record<string, string>; exemplars: { labels: Record<string, string>; value: string }[] }
      let got: Ex[] = []
      const deadline = Date.now() + 30_000
      while (Date.now() < deadline) {
        const now = Date.now() / 1000
        const q = new URLSearchParams({ query: 'podtap_l7_request_duration_seconds_bucket', start: String(now - 600), end: String(now + 60) })
        try {
          const j = (await (await fetch(`http://127.0.0.1:${port}/api/v1/query_exemplars?${q}`)).json()) as { status: string; data: Ex[] }
          got = j.status === 'success' ? j.data : []
        } catch {
          // not up yet
        }
        if (got.length > 0) break
        await new Promise((res) => setTimeout(res, 300))
      }
      const ids = got.flatMap((s) => s.exemplars.map((e) => e.labels.trace_id))
      expect(ids.length).toBeGreaterThan(0)
      for (const id of ids) expect(received.has(id), id).toBe(true)
      for (const s of got) for (const e of s.exemplars) {
        // an exemplar's value lies in its bucket, and it is one of the exported (slow or failed) requests
        expect(Number(e.value)).toBeLessThanOrEqual(s.seriesLabels.le === '+Inf' ? Infinity : Number(s.seriesLabels.le))
        expect(exported.some((x) => x.span!.traceId === e.labels.trace_id && x.span!.spanId === e.labels.span_id)).toBe(true)
      }
    } finally {
      const exited = new Promise<void>((res) => child.once('exit', () => res()))
      child.kill('SIGTERM')
      await exited
      fs.rmSync(dir, { recursive: true, force: true })
    }
  }, 60_000)

  it('Grafana: the Prometheus datasource links trace_id exemplars to the provisioned Jaeger datasource; latency panels ask for exemplars', () => {
    const prom = fs.readFileSync(path.join(PROV, 'datasources/podtap-prometheus.yaml'), 'utf8')
    expect(prom).toMatch(/exemplarTraceIdDestinations:\n\s+- name: trace_id\n\s+datasourceUid: podtap-jaeger/)
    const jaeger = fs.readFileSync(path.join(PROV, 'datasources/podtap-jaeger.yaml'), 'utf8')
    expect(jaeger).toMatch(/uid: podtap-jaeger\n\s+type: jaeger\n/)
    let latencyTargets = 0
    for (const f of ['podtap-endpoint-red.json', 'podtap-overview.json']) {
      const d = JSON.parse(fs.readFileSync(path.join(PROV, 'dashboards/prometheus', f), 'utf8'))
      for (const p of d.panels) for (const t of p.targets ?? []) {
        if (!/histogram_quantile\(.*rate\(podtap_l7_request_duration_seconds_bucket/.test(t.expr) || !t.range) continue
        expect(t.exemplar, `${f} "${p.title}" ${t.refId}`).toBe(true)
        latencyTargets++
      }
    }
    expect(latencyTargets).toBeGreaterThanOrEqual(4)
  })
})
