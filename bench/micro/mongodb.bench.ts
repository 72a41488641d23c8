// MongoDB parser throughput: N OP_MSG exchanges of an application-like mix, fed command, reply,
// command... one TCP segment per message, and the same bytes pipelined (all commands in 1460-byte
// segments, then all replies: up to N outstanding, messages cut anywhere, so most are gathered from
// pieces and read through the window rather than in place):
//   - find answered by a 10-document firstBatch (~1.3 KB)  - insert answered by {n: 1, ok: 1}
//   - update answered by {n, nModified, ok}                  - getMore answered by a 20-document nextBatch (~2.6 KB)
// Run: npx tsx bench/micro/mongodb.bench.ts    (prints mitata's table, then MB/s and exchanges/s)

import { Long, ObjectId } from 'bson'
import { limitsWith } from '../../src/config.js'
import { mongoParser } from '../../src/protocols/mongodb/parser.js'
import { cmd, reply } from '../../test/helpers/buffers/mongodb.js'
import { MSS, runParserBench } from './harness.js'

const N = 10_000
const lsid = { id: new ObjectId() }
const doc = (i: number) => ({ _id: new ObjectId(), user: 'user-' + i, email: `user${i}@example.com`, score: i * 3.5, tags: ['a', 'b', 'c'], note: 'n'.repeat(40) })
const batch = (k: number) => Array.from({ length: k }, (_, i) => doc(i))

const reqs: Buffer[] = []
const resps: Buffer[] = []
for (let i = 0; i < N; i++) {
  const id = i + 1
  const [q, a] =
    i % 4 === 0
      ? [cmd(id, 'shop', { find: 'orders', filter: { user: 'user-' + i }, limit: 10, lsid }), reply(1e6 + i, id, { cursor: { firstBatch: batch(10), id: Long.fromNumber(9000 + i), ns: 'shop.orders' }, ok: 1 })]
      : i % 4 === 1
        ? [cmd(id, 'shop', { insert: 'orders', documents: [doc(i)], ordered: true, lsid }), reply(1e6 + i, id, { n: 1, ok: 1 })]
        : i % 4 === 2
          ? [cmd(id, 'shop', { update: 'orders', updates: [{ q: { user: 'user-' + i }, u: { $inc: { score: 1 } } }], lsid }), reply(1e6 + i, id, { n: 1, nModified: 1, ok: 1 })]
          : [cmd(id, 'shop', { getMore: Long.fromNumber(9000 + i), collection: 'orders', lsid }), reply(1e6 + i, id, { cursor: { nextBatch: batch(20), id: Long.ZERO, ns: 'shop.orders' }, ok: 1 })]
  reqs.push(q)
  resps.push(a)
}

await runParserBench(
  {
    parser: mongoParser,
    reqs,
    resps,
    exchanges: N,
    answered: (e) => e.status === 'ok',
    // the pipelined run has all N outstanding
    limits: limitsWith({ maxPendingRequests: N }),
  },
  [
    { name: `mongodb ${N} exchanges, one segment per message`, feed: 'per-message' },
    { name: `mongodb ${N} exchanges pipelined in ${MSS}-byte segments`, feed: 'pipelined' },
  ],
  { stat: 'median-best' },
)
