// HTTP/1.x parser on the replay bench's keep-alive traffic (bench/out/http-keepalive.pcap: wrk or curl
// against nginx serving a small static page): a 38-byte GET, a 9-field nginx response with an 811-byte
// body, one TCP segment per message.
// Run: npx tsx bench/micro/http1-nginx.bench.ts

import { http1Parser } from '../../src/protocols/http1/parser.js'
import { runParserBench } from './harness.js'

const N = 20_000

const req = 'GET / HTTP/1.1\r\nHost: 10.213.250.2\r\n\r\n'
const body = 'x'.repeat(811)
const resp =
  'HTTP/1.1 200 OK\r\n' +
  'Server: nginx/1.22.1\r\n' +
  'Date: Mon, 07 Dec 2026 21:47:11 GMT\r\n' +
  'Content-Type: text/html\r\n' +
  `Content-Length: ${body.length}\r\n` +
  'Last-Modified: Mon, 07 Dec 2026 21:47:10 GMT\r\n' +
  'Connection: keep-alive\r\n' +
  'ETag: "6b17295e-32b"\r\n' +
  'Accept-Ranges: bytes\r\n' +
  '\r\n' +
  body

const reqs = Array.from({ length: N }, () => Buffer.from(req, 'latin1'))
const resps = Array.from({ length: N }, () => Buffer.from(resp, 'latin1'))

await runParserBench(
  { parser: http1Parser, reqs, resps, exchanges: N, answered: (e) => e.status === 200 },
  [{ name: `http1 ${N} nginx keep-alive exchanges, one segment per message`, feed: 'per-message' }],
  { stat: 'median-best', note: `(request ${req.length} B, response ${resp.length} B)` },
)
