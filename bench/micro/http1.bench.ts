// HTTP/1.x parser throughput: N small keep-alive exchanges (a curl-like GET, a JSON response) fed
// request, response, request... as one TCP segment each, from one buffer per direction.
// Also the same bytes fed in 1460-byte segments (messages cut anywhere: the partial-line path).
// Run: npx tsx bench/micro/http1.bench.ts    (prints mitata's table, then MB/s and exchanges/s)

import { http1Parser } from '../../src/protocols/http1/parser.js'
import { MSS, runParserBench } from './harness.js'

const N = 10_000

const req = (i: number) =>
  `GET /api/v1/items/${i}?fields=name,price HTTP/1.1\r\n` +
  'Host: shop.internal:8080\r\n' +
  'User-Agent: Go-http-client/1.1\r\n' +
  'Accept: application/json\r\n' +
  'Accept-Encoding: gzip\r\n' +
  'Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.ZRrHA1JJJW8opsbCGfG_HACGpVUMN_a9IV7pAx_Zmeo\r\n' +
  '\r\n'
const body = '{"id":12345,"name":"widget","price":9.99,"tags":["a","b"]}'
const resp =
  'HTTP/1.1 200 OK\r\n' +
  'Server: nginx/1.25.3\r\n' +
  'Date: Tue, 02 Jan 2024 03:04:05 GMT\r\n' +
  'Content-Type: application/json\r\n' +
  `Content-Length: ${body.length}\r\n` +
  'Connection: keep-alive\r\n' +
  '\r\n' +
  body

const reqs: Buffer[] = []
const resps: Buffer[] = []
const c2sAll = Buffer.from(Array.from({ length: N }, (_, i) => req(i)).join(''), 'latin1')
const s2cAll = Buffer.from(resp.repeat(N), 'latin1')
for (let i = 0, a = 0, b = 0; i < N; i++) {
  const ql = Buffer.byteLength(req(i))
  reqs.push(c2sAll.subarray(a, a + ql))
  resps.push(s2cAll.subarray(b, b + resp.length))
  a += ql
  b += resp.length
}

await runParserBench(
  { parser: http1Parser, reqs, resps, exchanges: N, answered: (e) => e.status === 200 },
  [
    { name: `http1 ${N} keep-alive exchanges, one segment per message`, feed: 'per-message' },
    { name: `http1 ${N} exchanges in ${MSS}-byte segments`, feed: 'answering' },
  ],
  { stat: 'median-best', note: `(request ${reqs[0].length} B, response ${resp.length} B)` },
)
