// The OTLP output end to end, without root: real captures of every protocol replayed through the real
// pipeline into OtlpSink and the OpenTelemetry JS OTLP/HTTP exporters, received by a stand-in OTLP
// receiver (test/helpers/otlp-receiver.ts: no Collector, Jaeger or Tempo can be installed here; it
// decodes with the official opentelemetry-proto definitions). Every span is checked against the
// exchange it came from; one span per protocol field by field against its l7_trace golden line.

import { spawn } from 'node:child_process'
import * as path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { limitsWith } from '../src/config.js'
import { C, Counters } from '../src/counters.js'
import type { Exchange } from '../src/records.js'
import { resolveOtlpConfig, type OtlpConfig } from '../src/sinks/otlp-config.js'
import { OtlpSink, OTLP_COUNTERS, type OtlpSinkOptions } from '../src/sinks/otlp.js'
import { OtlpReceiver, type ReceivedSpan } from './helpers/otlp-receiver.js'
import { replayInto } from './outputs-helpers.js'

const PCAPS = path.join(import.meta.dirname, 'pcaps')
const SERVER = 2 // OTLP SpanKind numbers
const CLIENT = 3

let rx: OtlpReceiver
beforeAll(async () => {
  rx = new OtlpReceiver()
  await rx.start()
})
afterAll(async () => rx.stop())

function config(protocol: OtlpConfig['protocol'] = 'http/protobuf', url = `${rx.url}/v1/traces`): OtlpConfig {
  return { url, protocol, headers: {}, timeoutMs: 5000, compression: 'none' }
}

/** replays `files` into a fresh OtlpSink; returns the exchanges, their spans (by exchange) and the counters */
async function replaySpans(files: string[], o: Partial<OtlpSinkOptions> = {}) {
  const counters = new Counters()
  const sink = new OtlpSink({ config: config(), counters, limits: limitsWith({}), flushIntervalMs: 50, ...o })
  const before = rx.spans.length
  const r = replayInto(files.map((f) => path.join(PCAPS, f)), { exchange: (e) => sink.onExchange(e) }, counters)
  await sink.close()
  const got = rx.spans.slice(before)
  const byId = new Map(got.map((s) => [s.spanId, s]))
  const spanOf = (e: Exchange): ReceivedSpan | undefined => (e.span === undefined ? undefined : byId.get(e.span.spanId))
  return { exchanges: r.exchanges, spans: got, spanOf, counters, sink }
}

const us2ns = (us: number) => BigInt(Math.round(us)) * 1000n

/** what every span must say about its exchange, whatever the protocol */
function checkCommon(e: Exchange, s: ReceivedSpan | undefined): asserts s is ReceivedSpan {
  expect(s, `span of ${e.method} ${e.resource ?? ''}`).toBeDefined()
  expect(s!.traceId).toBe(e.span!.traceId)
  expect(s!.traceId).toMatch(/^[0-9a-f]{32}$/)
  expect(s!.parentSpanId).toBe('') // no trace headers in these captures: a fresh trace, no parent
  expect(s!.startNs).toBe(us2ns(e.startUs))
  expect(s!.endNs).toBe(us2ns(Math.max(e.endUs, e.startUs)))
  expect(s!.scope).toBe('podtap')
  expect(s!.attributes['server.port']).toBe(e.server.port)
  expect(s!.attributes['client.address']).toBe(e.client.ip)
  expect(s!.attributes['client.port']).toBe(e.client.port)
  const noResponse = e.status === null && e.error
  if (noResponse) expect(s!.attributes['error.type']).toBe('no_response')
}

/** a database or broker span: CLIENT, the system and operation named, ERROR exactly when the exchange failed */
function checkClientSpan(e: Exchange, s: ReceivedSpan | undefined, systemKey: string, operationKey: string): asserts s is ReceivedSpan {
  checkCommon(e, s)
  expect(s.kind).toBe(CLIENT)
  expect(s.attributes[systemKey]).toBe(e.protocol)
  expect(s.attributes[operationKey]).toBe(e.method)
  expect(s.status.code).toBe(e.error === true ? 2 : 0)
}

describe('OTLP spans from replayed real captures (stand-in receiver, official OTLP protobuf definitions)', () => {
  it('HTTP/1.x: one SERVER span per exchange; 5xx and unanswered are ERROR, 4xx is not', async () => {
    const { exchanges, spans, spanOf } = await replaySpans(['http1/01-get.pcap', 'http1/06-methods-scanner.pcap', 'http1/10-one-dropped-response.pcap'])
    expect(spans.length).toBe(exchanges.length)
    expect(exchanges.length).toBeGreaterThan(1000)
    for (const e of exchanges) {
      const s = spanOf(e)
      checkCommon(e, s)
      expect(s.kind).toBe(SERVER)
      const code = typeof e.status === 'number' ? e.status : 0
      expect(s.status.code, `${e.method} ${e.status}`).toBe((e.status === null && e.error === true) || code >= 500 ? 2 : 0)
      if (code > 0) expect(s.attributes['http.response.status_code']).toBe(code)
      expect(s.attributes['url.path']).toBe(e.resource)
    }
    // the golden line {"method":"GET","resource":"/download/CHANGES.bro-aux.txt","status":200,...}
    const first = exchanges[0]
    expect(spanOf(first)).toMatchObject({
      name: 'GET /download/CHANGES.bro-aux.txt',
      kind: SERVER,
      status: { code: 0 },
      resource: { 'service.name': '192.150.187.43:80' },
    })
    expect(spanOf(first)!.attributes).toEqual({
      'http.request.method': 'GET',
      'http.response.status_code': 200,
      'url.path': '/download/CHANGES.bro-aux.txt',
      'url.scheme': 'http',
      'server.address': 'bro.org',
      'server.port': 80,
      'client.address': '141.142.228.5',
      'client.port': 59856,
      'network.peer.address': '141.142.228.5',
      'network.peer.port': 59856,
      'network.protocol.version': '1.1',
      'user_agent.original': 'Wget/1.14 (darwin12.2.0)',
    })
    // methods the conventions do not know are _OTHER with the original kept
    const odd = exchanges.find((e) => !['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH'].includes(e.method))!
    expect(spanOf(odd)!.attributes).toMatchObject({ 'http.request.method': '_OTHER', 'http.request.method_original': odd.method })
    expect(spanOf(odd)!.name).toBe('HTTP')
    // a 4xx on a SERVER span is not an error (semconv), a missing response is
    expect(exchanges.some((e) => e.status === 405 && spanOf(e)!.status.code === 0)).toBe(true)
    // a response whose status could not be read (lost in a gap) is neither: UNSET, no status code
    const unread = exchanges.find((e) => e.status === 'unknown')!
    expect(spanOf(unread)!.status.code).toBe(0)
    expect(spanOf(unread)!.attributes['http.response.status_code']).toBeUndefined()
  })

  it('HTTP/2 and gRPC: version 2, :authority, rpc.method and rpc.status_code', async () => {
    const { exchanges, spans, spanOf } = await replaySpans(['http2/02-four-concurrent-streams.pcap', 'grpc/06-grpc-web-http2-two-unary.pcapng', 'grpc/03-server-streaming.pcapng'])
    expect(spans.length).toBe(exchanges.length)
    for (const e of exchanges) checkCommon(e, spanOf(e))
    const h2 = exchanges.find((e) => e.protocol === 'http2' && e.resource === '/robots.txt')!
    expect(spanOf(h2)!.name).toBe('GET /robots.txt')
    expect(spanOf(h2)!.attributes).toMatchObject({ 'http.request.method': 'GET', 'http.response.status_code': 200, 'url.path': '/robots.txt', 'network.protocol.version': '2', 'server.port': 443 })
    const g = exchanges.find((e) => e.protocol === 'grpc' && e.method === '/greet.Greeter/SayHello')!
    const gs = spanOf(g)!
    expect(gs).toMatchObject({ name: 'greet.Greeter/SayHello', kind: SERVER, status: { code: 0 }, resource: { 'service.name': '[::1]:57228' } })
    expect(gs.attributes).toMatchObject({ 'rpc.system.name': 'grpc', 'rpc.method': 'greet.Greeter/SayHello', 'rpc.status_code': 'OK', 'server.address': expect.any(String), 'server.port': 57228 })
    expect(gs.attributes['http.request.method']).toBeUndefined()
  })

  it('PostgreSQL, MySQL, Redis, MongoDB: CLIENT spans, db.* attributes, errors with their codes', async () => {
    const files = ['pgsql/01-syntax-error-midstream.pcap', 'pgsql/08-app-transactions.pcap', 'mysql/05-init-db-error.pcap', 'redis/03-list-ops-wrongtype.pcap', 'mongo/04-insert-duplicate-key.pcap']
    const { exchanges, spans, spanOf } = await replaySpans(files)
    expect(spans.length).toBe(exchanges.length)
    for (const e of exchanges) {
      const s = spanOf(e)
      checkClientSpan(e, s, 'db.system.name', 'db.operation.name')
      if (e.error && e.status !== null) expect(s.attributes['db.response.status_code']).toBe(String(e.status))
      // the resource of a CLIENT span is the client: its ip without the ephemeral port
      expect(s.resource['service.name']).toBe(e.client.ip)
    }
    const pgErr = exchanges.find((e) => e.protocol === 'postgresql' && e.status === '42601')!
    expect(spanOf(pgErr)!.attributes).toMatchObject({ 'db.query.text': 'asdsdfdsf;', 'db.response.status_code': '42601', 'error.type': '42601' })
    const pgSel = exchanges.find((e) => e.protocol === 'postgresql' && e.method === 'SELECT')!
    expect(spanOf(pgSel)!.attributes['db.query.text']).toBe(pgSel.resource)
    expect(spanOf(pgSel)!.name).toBe('SELECT')
    const my = exchanges.find((e) => e.protocol === 'mysql' && e.method === 'INIT_DB')!
    expect(spanOf(my)).toMatchObject({ status: { code: 2, message: '1049' }, attributes: { 'db.response.status_code': '1049', 'db.query.text': 'abcd', 'server.address': '172.20.1.128', 'server.port': 20130 } })
    const rd = exchanges.find((e) => e.protocol === 'redis' && e.error)!
    expect(spanOf(rd)!.attributes).toMatchObject({ 'db.system.name': 'redis', 'db.operation.name': rd.method, 'db.response.status_code': 'ERR', 'error.type': 'ERR' })
    expect(spanOf(rd)!.attributes['db.query.text']).toBeUndefined() // arguments may be secrets: never kept
    const mg = exchanges.find((e) => e.protocol === 'mongodb' && e.method === 'insert')!
    expect(spanOf(mg)).toMatchObject({
      name: 'insert restaurants',
      status: { code: 2 },
      attributes: { 'db.system.name': 'mongodb', 'db.namespace': 'test', 'db.collection.name': 'restaurants', 'db.response.status_code': '11000' },
    })
  })

  it('Kafka and RocketMQ: messaging.* with the operation type and topic', async () => {
    const files = ['kafka/03-produce-v9-flexible.pcap', 'kafka/04-fetch-v12-flexible.pcap', 'kafka/05-join-group-v7-error.pcap', 'kafka/13-list-offsets-vlan-no-response.pcap', 'rocketmq/04-send-message-v2.pcap', 'rocketmq/05-pull-gaps-out-of-order.pcap']
    const { exchanges, spans, spanOf } = await replaySpans(files)
    expect(spans.length).toBe(exchanges.length)
    for (const e of exchanges) {
      const s = spanOf(e)
      checkClientSpan(e, s, 'messaging.system.name', 'messaging.operation.name')
      if (e.resource !== undefined) expect(s.attributes['messaging.destination.name']).toBe(e.resource)
    }
    const produce = exchanges.find((e) => e.method === 'Produce')!
    expect(spanOf(produce)).toMatchObject({ name: 'Produce zqy-test', attributes: { 'messaging.operation.type': 'send', 'messaging.destination.name': 'zqy-test', 'messaging.system': 'kafka' } })
    expect(spanOf(exchanges.find((e) => e.method === 'Fetch')!)!.attributes['messaging.operation.type']).toBe('receive')
    const join = exchanges.find((e) => e.method === 'JoinGroup')!
    expect(spanOf(join)).toMatchObject({ status: { code: 2 }, attributes: { 'error.type': 'UNKNOWN_SERVER_ERROR' } })
    expect(spanOf(join)!.attributes['messaging.operation.type']).toBeUndefined()
    const send = exchanges.find((e) => e.method === 'SEND_MESSAGE_V2')!
    expect(spanOf(send)).toMatchObject({ name: 'SEND_MESSAGE_V2 TopicTest', attributes: { 'messaging.system.name': 'rocketmq', 'messaging.operation.type': 'send', 'messaging.destination.name': 'TopicTest' } })
    expect(spanOf(exchanges.find((e) => e.method === 'PULL_MESSAGE')!)!.attributes['messaging.operation.type']).toBe('receive')
    // a request whose response never came
    const lost = exchanges.find((e) => e.status === null && e.error === true)!
    expect(spanOf(lost)).toMatchObject({ status: { code: 2, message: 'no response' }, attributes: { 'error.type': 'no_response' } })
  })

  it('http/json carries the same spans as http/protobuf', async () => {
    const files = ['http1/01-get.pcap', 'grpc/01-unary.pcapng', 'mongo/04-insert-duplicate-key.pcap']
    const a = await replaySpans(files)
    const b = await replaySpans(files, { config: config('http/json') })
    expect(rx.requests.at(-1)!.contentType).toContain('application/json')
    const strip = (s: ReceivedSpan) => ({ ...s, traceId: '', spanId: '' })
    expect(b.spans.map(strip)).toEqual(a.spans.map(strip))
    expect(a.spans.length).toBe(a.exchanges.length)
  })
})

describe('OTLP sampling', () => {
  const files = ['http1/10-one-dropped-response.pcap', 'http1/06-methods-scanner.pcap']

  it('--otlp-sample 0 keeps only failed and slow exchanges; the rest are counted', async () => {
    const slowMs = 5
    const { exchanges, spans, spanOf, counters } = await replaySpans(files, { sample: 0, slowMs })
    const keep = exchanges.filter((e) => e.error || e.endUs - e.startUs >= slowMs * 1000)
    expect(keep.length).toBeGreaterThan(0)
    expect(keep.length).toBeLessThan(exchanges.length)
    expect(spans.length).toBe(keep.length)
    for (const e of keep) expect(spanOf(e)).toBeDefined()
    for (const e of exchanges) if (!keep.includes(e)) expect(e.span).toBeUndefined()
    expect(counters.snapshot().find((c) => c.name === OTLP_COUNTERS.sampledOut)!.value).toBe(exchanges.length - keep.length)
  })

  it('--otlp-sample 0.5 keeps about half, decided on the trace id', async () => {
    const { exchanges, spans } = await replaySpans(files, { sample: 0.5 })
    const failed = exchanges.filter((e) => e.error).length
    const n = exchanges.length - failed
    // binomial(n, 0.5): ±6 standard deviations
    expect(Math.abs(spans.length - failed - n / 2)).toBeLessThan(3 * Math.sqrt(n))
    for (const s of spans) {
      const r = parseInt(s.traceId.slice(24), 16) / 2 ** 32
      if (s.status.code !== 2) expect(r).toBeLessThan(0.5)
    }
  })
})

describe('OTLP collector down', () => {
  it('spans queue bounded, drops are counted in sink_dropped_points{sink=otlp}, nothing blocks; delivery resumes when it is back', async () => {
    const down = new OtlpReceiver()
    await down.start()
    const port = down.port
    await down.stop() // connection refused from now on
    const counters = new Counters()
    const sink = new OtlpSink({
      config: { ...config('http/protobuf', `http://127.0.0.1:${port}/v1/traces`), timeoutMs: 300 },
      counters, limits: limitsWith({ maxSinkQueue: 200 }), flushIntervalMs: 20, batchSize: 100, minRetryDelayMs: 50, maxRetryDelayMs: 200, closeTimeoutMs: 3000, log: () => undefined,
    })
    let maxPending = 0
    const r = replayInto([path.join(PCAPS, 'http1/10-one-dropped-response.pcap')], { exchange: (e) => { sink.onExchange(e); maxPending = Math.max(maxPending, sink.pending) } }, counters)
    expect(maxPending).toBeLessThanOrEqual(200 + 100)
    const dropped = () => counters.snapshot().find((c) => c.name === C.sinkDropped && c.labels.sink === 'otlp')!.value
    // the whole capture was handed over at once: all but the queue is dropped already
    expect(dropped()).toBe(r.exchanges.length - sink.pending)
    await new Promise((res) => setTimeout(res, 1000)) // failed exports, backing off
    expect(sink.exported).toBe(0)
    // the collector comes back on the same port: what is queued now gets through
    const back = new OtlpReceiver()
    await back.start(port)
    try {
      const more = replayInto([path.join(PCAPS, 'http1/01-get.pcap')], { exchange: (e) => sink.onExchange(e) }, counters)
      await back.waitFor(1, 15_000)
      await sink.close()
      expect(sink.exported).toBeGreaterThan(0)
      expect(back.spans.length).toBe(sink.exported)
      // every span is accounted for: exported or dropped
      expect(sink.exported + dropped()).toBe(r.exchanges.length + more.exchanges.length)
      expect(counters.snapshot().find((c) => c.name === OTLP_COUNTERS.exported)!.value).toBe(sink.exported)
    } finally {
      await back.stop()
    }
  }, 30_000)
})

describe('OTLP configuration from flags and OTEL_EXPORTER_OTLP_* (OTel exporter spec)', () => {
  const log = () => undefined
  it('endpoints: the flag as a base, the traces variable as is, the base variable + /v1/traces', () => {
    expect(resolveOtlpConfig({}, {}, log)).toBeNull()
    expect(resolveOtlpConfig({ otlpEndpoint: 'http://c:4318' }, {}, log)!.url).toBe('http://c:4318/v1/traces')
    expect(resolveOtlpConfig({ otlpEndpoint: 'http://c:4318/' }, {}, log)!.url).toBe('http://c:4318/v1/traces')
    expect(resolveOtlpConfig({ otlpEndpoint: 'http://c:4318/v1/traces' }, {}, log)!.url).toBe('http://c:4318/v1/traces')
    expect(resolveOtlpConfig({}, { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318/otlp/' }, log)!.url).toBe('http://c:4318/otlp/v1/traces')
    const env = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://base:4318', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://t:9999/custom' }
    expect(resolveOtlpConfig({}, env, log)!.url).toBe('http://t:9999/custom')
    expect(resolveOtlpConfig({ otlpEndpoint: 'http://flag:4318' }, env, log)!.url).toBe('http://flag:4318/v1/traces')
    expect(resolveOtlpConfig({}, { ...env, OTEL_SDK_DISABLED: 'true' }, log)).toBeNull()
    expect(() => resolveOtlpConfig({ otlpEndpoint: 'collector:4318' }, {}, log)).toThrow(/not a URL|only http/)
  })

  it('protocol, headers (signal-specific win, percent-decoded, bad entries skipped), timeout, compression', () => {
    const logged: string[] = []
    const c = resolveOtlpConfig({}, {
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318',
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_EXPORTER_OTLP_HEADERS: 'api-key=a%20b,tenant=one,broken',
      OTEL_EXPORTER_OTLP_TRACES_HEADERS: 'tenant=two',
      OTEL_EXPORTER_OTLP_TIMEOUT: '2500',
      OTEL_EXPORTER_OTLP_COMPRESSION: 'gzip',
    }, (m) => logged.push(m))!
    expect(c).toEqual({ url: 'http://c:4318/v1/traces', protocol: 'http/json', headers: { 'api-key': 'a b', tenant: 'two' }, timeoutMs: 2500, compression: 'gzip' })
    expect(logged.join()).toContain('broken')
    expect(resolveOtlpConfig({ otlpEndpoint: 'http://c', otlpProtocol: 'http/protobuf' }, { OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json' }, log)!.protocol).toBe('http/protobuf')
    expect(() => resolveOtlpConfig({}, { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }, log)).toThrow(/gRPC is not supported/)
    expect(() => resolveOtlpConfig({}, { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c', OTEL_EXPORTER_OTLP_TIMEOUT: 'soon' }, log)).toThrow(/OTEL_EXPORTER_OTLP_TIMEOUT/)
  })

  it('podtap replay with only OTEL_EXPORTER_OTLP_* set: path, headers, content type, gzip, as the environment says', async () => {
    const run = (env: Record<string, string>) =>
      new Promise<number>((resolve) => {
        const p = spawn(process.execPath, [path.join(import.meta.dirname, '..', 'bin', 'podtap.js'), 'replay', path.join(PCAPS, 'http1/01-get.pcap')], { env: { ...process.env, ...env }, stdio: 'ignore' })
        p.on('exit', (code) => resolve(code ?? -1))
      })
    const n = rx.requests.length
    expect(await run({ OTEL_EXPORTER_OTLP_ENDPOINT: rx.url, OTEL_EXPORTER_OTLP_HEADERS: 'authorization=Bearer%20t0k' })).toBe(0)
    expect(await run({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${rx.url}/v1/traces`, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_EXPORTER_OTLP_COMPRESSION: 'gzip' })).toBe(0)
    const [pb, js] = rx.requests.slice(n)
    expect(pb).toMatchObject({ path: '/v1/traces', contentType: 'application/x-protobuf', spans: 1 })
    expect(pb.headers.authorization).toBe('Bearer t0k')
    expect(js).toMatchObject({ path: '/v1/traces', contentType: 'application/json', spans: 1 })
    expect(js.headers['content-encoding']).toBe('gzip')
    // a bad flag value is a usage error (exit 2), with no endpoint the OTLP flags are refused
    expect(await new Promise<number>((resolve) => {
      const p = spawn(process.execPath, [path.join(import.meta.dirname, '..', 'bin', 'podtap.js'), 'replay', path.join(PCAPS, 'http1/01-get.pcap'), '--otlp-sample', '0.1'], { env: { ...process.env, OTEL_EXPORTER_OTLP_ENDPOINT: '', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: '' }, stdio: 'ignore' })
      p.on('exit', (code) => resolve(code ?? -1))
    })).toBe(2)
  }, 30_000)
})

describe('OTLP trace context', () => {
  it('a request with traceparent gets a span in that trace, parented on its span id, tracestate kept; kept when the caller sampled even at --otlp-sample 0; a malformed one is counted and ignored', async () => {
    const tid = '4bf92f3577b34da6a3ce929d0e0e4736'
    const heads = [
      { traceparent: `00-${tid}-00f067aa0ba902b7-01`, tracestate: 'rojo=00f067aa0ba902b7' },
      { traceparent: `00-${tid}-00f067aa0ba902b7-00` }, // not sampled by the caller, --otlp-sample 0: left out
      { traceparent: '00-xyz-00f067aa0ba902b7-01', b3: `${tid}-1111111111111111-1` }, // malformed: the b3 header is used
      { traceparent: 'nonsense' }, // malformed, nothing else: a fresh trace (but sampled out)
    ]
    const counters = new Counters()
    const sink = new OtlpSink({ config: config(), counters, limits: limitsWith({}), flushIntervalMs: 20, sample: 0 })
    const before = rx.spans.length
    let i = 0
    const r = replayInto([path.join(PCAPS, 'http1/11-pipelining.pcap')], { exchange: (e) => { if (i < heads.length) e.trace = heads[i++]; sink.onExchange(e) } }, counters)
    await sink.close()
    const got = rx.spans.slice(before)
    expect(r.exchanges.length).toBeGreaterThanOrEqual(4)
    const [a, b, c, d] = r.exchanges
    expect(got.find((s) => s.spanId === a.span!.spanId)).toMatchObject({ traceId: tid, parentSpanId: '00f067aa0ba902b7', traceState: 'rojo=00f067aa0ba902b7' })
    expect(b.span).toBeUndefined()
    expect(got.find((s) => s.spanId === c.span!.spanId)).toMatchObject({ traceId: tid, parentSpanId: '1111111111111111', traceState: '' })
    expect(d.span).toBeUndefined()
    expect(counters.snapshot().filter((x) => x.name === OTLP_COUNTERS.malformed)).toEqual([{ name: OTLP_COUNTERS.malformed, labels: { header: 'traceparent' }, value: 2 }])
    // nothing of the malformed header travels on
    expect(got.some((s) => s.traceId.includes('xyz') || s.traceState.includes('nonsense'))).toBe(false)
  })
})
