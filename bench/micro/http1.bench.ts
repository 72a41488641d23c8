// HTTP/1.x parser throughput: N small keep-alive exchanges (a curl-like GET, a JSON response) fed
// request, response, request... as one TCP segment each, from one buffer per direction.
// Also the same bytes fed in 1460-byte segments (messages cut anywhere: the partial-line path).
// Run: npx tsx bench/micro/http1.bench.ts    (prints mitata's table, then MB/s and exchanges/s)

import { bench, do_not_optimize, run } from 'mitata'
import { DEFAULT_LIMITS } from '../../src/config.js'
import { http1Parser } from '../../src/protocols/http1/parser.js'
import type { ParserContext } from '../../src/protocols/types.js'

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
const totalBytes = c2sAll.length + s2cAll.length

let emitted = 0
const ctx: ParserContext = {
  emit: (e) => {
    emitted++
    do_not_optimize(e)
  },
  limits: DEFAULT_LIMITS,
  count: () => {},
  unmatchedResponse: () => {},
}

function perMessage(): void {
  const h = http1Parser.create(ctx)
  let t = 1_700_000_000_000_000
  for (let i = 0; i < N; i++) {
    h.data('c2s', reqs[i], t, -1)
    h.data('s2c', resps[i], t + 150, -1)
    t += 1000
  }
  h.end('fin', t)
}

const MSS = 1460
/** c2s offset after request i, s2c offset after response i */
const reqEnds: number[] = []
const respEnds: number[] = []
for (let i = 0, a = 0, b = 0; i < N; i++) reqEnds.push((a += reqs[i].length)), respEnds.push((b += resps[i].length))

function segments(): void {
  const h = http1Parser.create(ctx)
  let t = 1_700_000_000_000_000
  let sOff = 0
  let done = 0
  for (let off = 0; off < c2sAll.length; off += MSS) {
    h.data('c2s', c2sAll.subarray(off, off + MSS), t++, -1)
    // the server answers every request that is complete so far, in segments of its own
    while (done < N && reqEnds[done] <= off + MSS) done++
    const to = done === 0 ? 0 : respEnds[done - 1]
    for (; sOff < to; sOff += Math.min(MSS, to - sOff)) h.data('s2c', s2cAll.subarray(sOff, Math.min(sOff + MSS, to)), t++, -1)
  }
  h.end('fin', t)
}

// both ways must give every exchange, answered (checked once, outside the timing)
{
  let answered = 0
  const emit = ctx.emit
  ctx.emit = (e) => void (e.status === 200 && answered++)
  for (const f of [perMessage, segments]) {
    answered = 0
    f()
    if (answered !== N) throw new Error(`${f.name}: ${answered} of ${N} answered`)
  }
  ctx.emit = emit
}

bench(`http1 ${N} keep-alive exchanges, one segment per message`, perMessage)
bench(`http1 ${N} exchanges in ${MSS}-byte segments`, segments)

const { benchmarks } = await run()
console.log(`\n${N} exchanges = ${(totalBytes / 1e6).toFixed(2)} MB per run (request ${reqs[0].length} B, response ${resp.length} B)`)
for (const b of benchmarks) {
  const s = b.runs[0]?.stats
  if (!s) continue
  // the median and the best run: on a shared machine the mean mostly measures the neighbours
  const rate = (ns: number) => `${((totalBytes * 1e3) / ns).toFixed(0)} MB/s, ${((N * 1e6) / ns).toFixed(0)}k exchanges/s`
  console.log(`${b.alias}: median ${rate(s.p50)}; best ${rate(s.min)}`)
}
if (emitted === 0) throw new Error('nothing emitted')
