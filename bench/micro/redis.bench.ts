// Redis parser throughput: N exchanges of a cache-like mix, fed command, reply, command... one TCP
// segment per message, and the same bytes pipelined (all commands in 1460-byte segments, then all
// replies in 1460-byte segments: up to N outstanding, messages cut anywhere):
//   - GET answered by a 100-byte bulk string      - SET answered by +OK
//   - HGETALL answered by a 10-field array (RESP2) - INCR answered by an integer
// Run: npx tsx bench/micro/redis.bench.ts    (prints mitata's table, then MB/s and exchanges/s)

import { limitsWith } from '../../src/config.js'
import { redisParser } from '../../src/protocols/redis/parser.js'
import { arr, bulk, cmd, int, simple } from '../../test/helpers/buffers/redis.js'
import { MSS, runParserBench } from './harness.js'

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

await runParserBench(
  {
    parser: redisParser,
    reqs,
    resps,
    exchanges: N,
    answered: (e) => e.status === 'OK',
    // the pipelined run has all N outstanding
    limits: limitsWith({ maxPendingRequests: N }),
  },
  [
    { name: `redis ${N} exchanges, one segment per message`, feed: 'per-message' },
    { name: `redis ${N} exchanges pipelined in ${MSS}-byte segments`, feed: 'pipelined' },
  ],
)
