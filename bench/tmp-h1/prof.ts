import { DEFAULT_LIMITS } from '../../src/config.js'
import { http1Parser } from '../../src/protocols/http1/parser.js'
const N = 10000
const req = (i: number) => `GET /api/v1/items/${i}?fields=name,price HTTP/1.1\r\nHost: shop.internal:8080\r\nUser-Agent: Go-http-client/1.1\r\nAccept: application/json\r\nAccept-Encoding: gzip\r\nAuthorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.ZRrHA1JJJW8opsbCGfG_HACGpVUMN_a9IV7pAx_Zmeo\r\n\r\n`
const body = '{"id":12345,"name":"widget","price":9.99,"tags":["a","b"]}'
const resp = 'HTTP/1.1 200 OK\r\nServer: nginx/1.25.3\r\nDate: Tue, 02 Jan 2024 03:04:05 GMT\r\nContent-Type: application/json\r\n' + `Content-Length: ${body.length}\r\nConnection: keep-alive\r\n\r\n` + body
const reqs = Array.from({ length: N }, (_, i) => Buffer.from(req(i)))
const resps = Array.from({ length: N }, () => Buffer.from(resp))
let n = 0
const ctx = { emit: (e: any) => { n++ }, limits: DEFAULT_LIMITS, count: () => {}, unmatchedResponse: () => {} }
let bytes = 0
for (const b of reqs) bytes += b.length
for (const b of resps) bytes += b.length
function once() {
  const h = http1Parser.create(ctx)
  let t = 1
  for (let i = 0; i < N; i++) { h.data('c2s', reqs[i], t, -1); h.data('s2c', resps[i], t + 1, -1); t += 2 }
  h.end('fin', t)
}
for (let k = 0; k < 50; k++) once()
const t0 = process.hrtime.bigint()
const R = 200
for (let k = 0; k < R; k++) once()
const ns = Number(process.hrtime.bigint() - t0)
console.log((bytes * R / 1e6 / (ns / 1e9)).toFixed(0), 'MB/s', n)
