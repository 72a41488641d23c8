// Trace context on a live capture: a Node HTTP service in a test namespace and a client on the host,
// both instrumented with the OpenTelemetry SDK (otlp-app.cjs: sdk-trace-node, instrumentation-http,
// the OTLP/protobuf exporter), send their spans to the same stand-in OTLP receiver as `podtap capture`
// on the namespace's veth (test/helpers/otlp-receiver.ts: no Collector, Jaeger or Tempo can be
// installed here; it decodes with the official opentelemetry-proto definitions). For every request the
// client's span, the service's span and podtap's span must share one trace id, and podtap's span must
// be parented on the span id the traceparent header carried (the client's span). A request with a
// malformed traceparent gets a fresh trace with no parent and is counted. Needs root.

import * as fs from 'node:fs'
import { connect } from 'node:net'
import * as path from 'node:path'
import { spawn } from 'node:child_process'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { cleanupStale, createTestHost, needRoot, waitForPort, type TestHost } from '../helpers/netns.js'
import { OtlpReceiver, type ReceivedSpan } from '../helpers/otlp-receiver.js'
import { interrupt, killRun, READY, runPodtap, type PodtapRun } from './capture-util.js'

const skip = needRoot()
if (skip !== null) console.log(`otlp-trace-context tests skipped: ${skip}`)

const APP = path.join(import.meta.dirname, 'otlp-app.cjs')
const N = 5
const BAD = '00-not-a-trace-id-at-all-0000000000000000-00f067aa0ba902b7-01'

describe.skipIf(skip !== null)('trace context from a live OpenTelemetry-instrumented app', () => {
  let host: TestHost
  let rx: OtlpReceiver
  let run: PodtapRun | undefined
  let metricsOut = ''
  let spans: ReceivedSpan[] = []

  beforeAll(async () => {
    cleanupStale()
    rx = new OtlpReceiver()
    await rx.start(0, '0.0.0.0')
    host = await createTestHost({ name: 'otelctx' })
    metricsOut = path.join(host.tmpDir(), 'metrics.txt')
    const server = host.spawn([process.execPath, APP, 'server', `http://${host.hostIp}:${rx.port}/v1/traces`], { cwd: path.dirname(APP) })
    server.stderr?.on('data', (b: Buffer) => process.stderr.write(`app-server: ${b}`))
    await waitForPort(host.nsIp, 8080, 20_000)
    run = runPodtap(['capture', '--iface', host.hostIf, '--ports', '8080', '--format', 'jsonl', '--otlp-endpoint', rx.url, '--metrics-out', metricsOut])
    await run.waitFor(READY)
    // the instrumented client: N requests, each in a trace of its own, traceparent injected
    const client = spawn(process.execPath, [APP, 'client', `${rx.url}/v1/traces`, `http://${host.nsIp}:8080`, String(N)], { stdio: ['ignore', 'ignore', 'inherit'] })
    expect(await new Promise((r) => client.on('exit', r))).toBe(0)
    // a request with a malformed traceparent, written by hand (an instrumented client would replace it)
    await new Promise<void>((resolve, reject) => {
      const s = connect({ host: host.nsIp, port: 8080 }, () => s.write(`GET /bad HTTP/1.1\r\nHost: ${host.nsIp}\r\ntraceparent: ${BAD}\r\nConnection: close\r\n\r\n`))
      s.on('data', () => undefined)
      s.on('end', () => resolve())
      s.on('error', reject)
    })
    // the service's spans come with its SimpleSpanProcessor right away; podtap's at its exit
    await new Promise((r) => setTimeout(r, 500))
    expect((await interrupt(run)).code).toBe(0)
    await rx.waitFor(3 * N + 2, 20_000)
    spans = rx.spans
  }, 60_000)

  afterAll(async () => {
    killRun(run)
    await host?.destroy()
    await rx?.stop()
  })

  it("podtap's span joins the caller's trace, parented on the traceparent's span id (the client's span)", () => {
    const podtap = spans.filter((s) => s.scope === 'podtap')
    const client = spans.filter((s) => s.resource['service.name'] === 'app-client')
    const server = spans.filter((s) => s.resource['service.name'] === 'app-server')
    expect(client.length).toBe(N)
    expect(server.length).toBe(N + 1) // the malformed request too
    for (let i = 0; i < N; i++) {
      const p = podtap.find((s) => s.attributes['url.path'] === `/hello/${i}`)
      expect(p, `podtap span of /hello/${i}`).toBeDefined()
      const c = client.find((s) => s.traceId === p!.traceId)
      expect(c, `client span in podtap's trace ${p!.traceId}`).toBeDefined()
      expect(c!.kind).toBe(3) // CLIENT
      expect(p!.parentSpanId).toBe(c!.spanId)
      // the service's own span: same trace, same parent
      const sv = server.find((s) => s.traceId === p!.traceId)
      expect(sv, 'service span in the same trace').toBeDefined()
      expect(sv!.parentSpanId).toBe(c!.spanId)
      expect(p!.spanId).not.toBe(sv!.spanId)
      // podtap's own view of the request
      expect(p).toMatchObject({ name: 'GET /hello/{id}', kind: 2, status: { code: 0 } })
      expect(p!.attributes).toMatchObject({ 'http.request.method': 'GET', 'http.response.status_code': 200, 'server.port': 8080, 'server.address': host.nsIp })
      // podtap's span lasts no longer than the client's (it sees the request's bytes after they left)
      expect(p!.endNs - p!.startNs).toBeLessThanOrEqual(c!.endNs - c!.startNs)
    }
    expect(new Set(podtap.filter((s) => s.attributes['url.path'] !== '/bad').map((s) => s.traceId)).size).toBe(N)
  })

  it('a malformed traceparent is ignored (a fresh trace, no parent) and counted', () => {
    const p = spans.find((s) => s.scope === 'podtap' && s.attributes['url.path'] === '/bad')
    expect(p).toBeDefined()
    expect(p!.parentSpanId).toBe('')
    expect(p!.traceId).toMatch(/^[0-9a-f]{32}$/)
    expect(spans.filter((s) => s.traceId === p!.traceId)).toHaveLength(1)
    expect(p!.traceState).toBe('')
    const text = fs.readFileSync(metricsOut, 'utf8')
    expect(text).toMatch(/^podtap_trace_context_malformed_total\{header="traceparent"\} 1$/m)
    expect(text).toMatch(new RegExp(`^podtap_otlp_spans_exported_total ${N + 1}$`, 'm'))
    expect(text).toMatch(/^podtap_sink_dropped_points_total\{sink="otlp"\} 0$/m)
  })
})
