// The HTTP/1 parser alone: one keep-alive exchange (wrk GET / against nginx, as in bench-data/http-keepalive.pcap)
// fed N times with a fresh Buffer view per chunk, as the pipeline gives them; ns per exchange per round.
// `node --max-semi-space-size=8 --import tsx bench/h1-micro.ts`
import { http1Parser } from '../src/protocols/http1/parser.js'
import { DEFAULT_LIMITS } from '../src/config.js'
const req = Buffer.from('GET / HTTP/1.1\r\nHost: 10.213.250.2\r\n\r\n')
const body = 'x'.repeat(811)
const resp = Buffer.from('HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Mon, 07 Dec 2026 21:47:11 GMT\r\nContent-Type: text/html\r\nContent-Length: 811\r\nLast-Modified: Mon, 07 Dec 2026 21:47:10 GMT\r\nConnection: keep-alive\r\nETag: "6b17295e-32b"\r\nAccept-Ranges: bytes\r\n\r\n' + body)
let n = 0
const ctx = { emit: (_e: unknown) => { n++ }, limits: DEFAULT_LIMITS, count() {}, unmatchedResponse() {} }
const h = http1Parser.create(ctx as never)
let t = 1_700_000_000_000_000
const N = 1_000_000
for (let round = 0; round < 5; round++) {
  const t0 = process.hrtime.bigint()
  for (let i = 0; i < N; i++) {
    // fresh views per packet as the pipeline gives them
    h.data('c2s', req.subarray(0), t, -1)
    t += 50
    h.data('s2c', resp.subarray(0), t, -1)
    t += 50
  }
  console.log(Number(process.hrtime.bigint() - t0) / N, 'ns/exchange', n)
}
