// A small HTTP service and client instrumented with the OpenTelemetry SDK (sdk-trace-node,
// instrumentation-http, the OTLP/protobuf exporter), for otlp-trace-context.test.ts. CommonJS, so that
// instrumentation-http can patch `http` when it is required.
//
//   node otlp-app.cjs server OTLP_URL          listens on :8080, answers every request "ok"
//   node otlp-app.cjs client OTLP_URL BASE N   GET BASE/hello/0 .. N-1 one after another (a new trace
//                                              each), then exits after flushing its spans

'use strict'
const { NodeTracerProvider, SimpleSpanProcessor } = require('@opentelemetry/sdk-trace-node')
const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-proto')
const { registerInstrumentations } = require('@opentelemetry/instrumentation')
const { HttpInstrumentation } = require('@opentelemetry/instrumentation-http')
const { resourceFromAttributes } = require('@opentelemetry/resources')

const [role, otlpUrl, base, count] = process.argv.slice(2)
const provider = new NodeTracerProvider({
  resource: resourceFromAttributes({ 'service.name': `app-${role}` }),
  spanProcessors: [new SimpleSpanProcessor(new OTLPTraceExporter({ url: otlpUrl }))],
})
provider.register()
registerInstrumentations({ instrumentations: [new HttpInstrumentation()] })
const http = require('http')

if (role === 'server') {
  const server = http.createServer((req, res) => {
    req.resume()
    req.on('end', () => res.end('ok\n'))
  })
  server.listen(8080, '0.0.0.0', () => process.stdout.write('listening\n'))
  process.on('SIGTERM', () => {
    server.close()
    provider.forceFlush().then(() => process.exit(0))
  })
} else {
  const get = (url) =>
    new Promise((resolve, reject) => {
      http
        .get(url, { agent: false }, (res) => {
          res.resume()
          res.on('end', () => resolve(res.statusCode))
        })
        .on('error', reject)
    })
  ;(async () => {
    for (let i = 0; i < Number(count); i++) await get(`${base}/hello/${i}`)
    await provider.forceFlush()
    await provider.shutdown()
  })().catch((e) => {
    console.error(e)
    process.exit(1)
  })
}
