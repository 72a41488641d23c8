// `npx tsx bench/otlp.ts FILE.pcap [protobuf|json]`: spans/s of the OTLP output end to end.
//   1. replay alone (the pipeline into a no-op consumer): exchanges/s
//   2. replay into OtlpSink.onExchange (sampling decision, ids, queue): the cost on the capture path
//   3. the same until every span is acknowledged by a receiver in another process that reads each
//      request body whole and answers 200 (counting spans would need decoding: it counts requests and
//      bytes; the sink counts acknowledged spans). Queue and close deadline are large so nothing drops.
// Prints exchanges, seconds and rates for each, and the exporter's share.

import { fork } from 'node:child_process'
import * as path from 'node:path'
import { limitsWith } from '../src/config.js'
import { Counters } from '../src/counters.js'
import { Pipeline } from '../src/pipeline/pipeline.js'
import { feedCaptureFiles } from '../src/pipeline/replay-sync.js'
import type { Exchange } from '../src/records.js'
import { OtlpSink } from '../src/sinks/otlp.js'

if (process.argv[2] === '--receiver') {
  const http = await import('node:http')
  let reqs = 0
  let bytes = 0
  const s = http.createServer((req, res) => {
    req.on('data', (c: Buffer) => (bytes += c.length))
    req.on('end', () => {
      reqs++
      res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end()
    })
  })
  s.listen(0, '127.0.0.1', () => process.send!({ port: (s.address() as { port: number }).port }))
  process.on('message', () => process.send!({ reqs, bytes }))
} else {
  const file = path.resolve(process.argv[2] ?? 'bench/out/http-keepalive.pcap')
  const protocol = process.argv[3] === 'json' ? 'http/json' : 'http/protobuf'
  const replay = (onExchange: (e: Exchange) => void) => {
    const t0 = process.hrtime.bigint()
    const p = new Pipeline({ counters: new Counters(), onExchange })
    feedCaptureFiles(p, [file])
    p.finish()
    return Number(process.hrtime.bigint() - t0) / 1e9
  }
  let n = 0
  const t1 = replay(() => n++)
  console.log(`replay alone: ${n} exchanges in ${t1.toFixed(2)} s = ${Math.round(n / t1)} exchanges/s`)

  const rx = fork(import.meta.filename, ['--receiver'], { execArgv: ['--import', 'tsx'] })
  const { port } = await new Promise<{ port: number }>((r) => rx.once('message', (m) => r(m as { port: number })))
  const sink = new OtlpSink({
    config: { url: `http://127.0.0.1:${port}/v1/traces`, protocol, headers: {}, timeoutMs: 30_000, compression: 'none' },
    counters: new Counters(), limits: limitsWith({ maxSinkQueue: 10_000_000 }), closeTimeoutMs: 600_000, batchSize: Number(process.env.BATCH ?? 1024),
  })
  const t0 = process.hrtime.bigint()
  const t2 = replay((e) => sink.onExchange(e))
  await sink.close()
  const t3 = Number(process.hrtime.bigint() - t0) / 1e9
  rx.send('stats')
  const st = await new Promise<{ reqs: number; bytes: number }>((r) => rx.once('message', (m) => r(m as { reqs: number; bytes: number })))
  rx.kill()
  console.log(`replay + onExchange (${protocol}): ${t2.toFixed(2)} s (+${(t2 - t1).toFixed(2)} s on the capture path)`)
  console.log(`until all exported: ${t3.toFixed(2)} s, ${sink.exported} spans acknowledged = ${Math.round(sink.exported / t3)} spans/s end to end; export alone ${Math.round(sink.exported / (t3 - t2))} spans/s after the replay; ${st.reqs} requests, ${(st.bytes / sink.exported).toFixed(0)} bytes/span`)
}
