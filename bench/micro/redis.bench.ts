// Redis parser throughput: N exchanges of a cache-like mix, fed command, reply, command... one TCP
// segment per message, and the same bytes pipelined (all commands in 1460-byte segments, then all
// replies in 1460-byte segments: up to N outstanding, messages cut anywhere):
//   - GET answered by a 100-byte bulk string      - SET answered by +OK
//   - HGETALL answered by a 10-field array (RESP2) - INCR answered by an integer
// Run: npx tsx bench/micro/redis.bench.ts    (prints mitata's table, then MB/s and exchanges/s)

import { bench, do_not_optimize, run } from 'mitata'
import { limitsWith } from '../../src/config.js'
import { redisParser } from '../../src/protocols/redis/parser.js'
import { arr, bulk, cmd, int, simple } from '../../src/protocols/redis/test-buffers.js'
import type { ParserContext } from '../../src/protocols/types.js'

const N = 10_000
const value = 'v'.repeat(100)
const hash = arr(Array.from({ length: 20 }, (_, i) => bulk(i % 2 ? 'value-' + i : 'field-' + i)))

const reqs: Buffer[] = []
const resps: Buffer[] = []
for (let i = 0; i < N; i++) {
  const k = 'user:' + i
  const [q, a] =
    i % 4 === 0 ? [cmd('GET', k), bulk(value)] : i % 4 === 1 ? [cmd('SET', k, value), simple('OK')] : i % 4 === 2 ? [cmd('HGETALL', k), hash] : [cmd('INCR', k), int(i)]
  reqs.push(Buffer.from(q, 'latin1'))
  resps.push(Buffer.from(a, 'latin1'))
}
const c2sAll = Buffer.concat(reqs)
const s2cAll = Buffer.concat(resps)
const totalBytes = c2sAll.length + s2cAll.length

let emitted = 0
const ctx: ParserContext = {
  emit: (e) => {
    emitted++
    do_not_optimize(e)
  },
  // the pipelined run has all N outstanding
  limits: limitsWith({ maxPendingRequests: N }),
  count: () => {},
  unmatchedResponse: () => {},
}

function perMessage(): void {
  const h = redisParser.create(ctx)
  let t = 1_700_000_000_000_000
  for (let i = 0; i < N; i++) {
    h.data('c2s', reqs[i], t, -1)
    h.data('s2c', resps[i], t + 150, -1)
    t += 1000
  }
  h.end('fin', t)
}

const MSS = 1460
function pipelined(): void {
  const h = redisParser.create(ctx)
  let t = 1_700_000_000_000_000
  for (let off = 0; off < c2sAll.length; off += MSS) h.data('c2s', c2sAll.subarray(off, off + MSS), t++, -1)
  for (let off = 0; off < s2cAll.length; off += MSS) h.data('s2c', s2cAll.subarray(off, off + MSS), t++, -1)
  h.end('fin', t)
}

// both ways must give every exchange, answered (checked once, outside the timing)
{
  let answered = 0
  const emit = ctx.emit
  ctx.emit = (e) => void (e.status === 'OK' && answered++)
  for (const f of [perMessage, pipelined]) {
    answered = 0
    f()
    if (answered !== N) throw new Error(`${f.name}: ${answered} of ${N} answered`)
  }
  ctx.emit = emit
}

bench(`redis ${N} exchanges, one segment per message`, perMessage)
bench(`redis ${N} exchanges pipelined in ${MSS}-byte segments`, pipelined)

const { benchmarks } = await run()
console.log(`\n${N} exchanges = ${(totalBytes / 1e6).toFixed(2)} MB per run`)
for (const b of benchmarks) {
  const s = b.runs[0]?.stats
  if (!s) continue
  const sec = s.avg / 1e9
  console.log(`${b.alias}: ${(totalBytes / 1e6 / sec).toFixed(0)} MB/s, ${(N / sec / 1e3).toFixed(0)}k exchanges/s`)
}
if (emitted === 0) throw new Error('nothing emitted')
