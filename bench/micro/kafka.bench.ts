// Kafka parser throughput: N exchanges of a client mix, fed request, answer, request... one TCP segment
// per message, and the same bytes pipelined (every request in 1460-byte segments, then every answer:
// up to N in flight, as a producer with many in-flight batches; messages cut anywhere):
//   - Produce v9 (flexible), 1 topic, a 1 KiB record batch, answered NONE
//   - Fetch v11 (classic), 1 topic / 2 partitions, answered with 4 KiB of records
//   - Metadata v12 (flexible) for 2 topics, answered with 1 broker and 2 topics
//   - Heartbeat v4 (flexible), answered with a top-level error_code
// Run: npx tsx bench/micro/kafka.bench.ts    (prints mitata's table, then MB/s and exchanges/s)

import { limitsWith } from '../../src/config.js'
import { kafkaParser } from '../../src/protocols/kafka/parser.js'
import * as k from '../../test/helpers/buffers/kafka.js'
import { MSS, runParserBench } from './harness.js'

const N = 10_000
const batch = Buffer.alloc(1024, 0x61)
const records = Buffer.alloc(2048, 0x62)

const reqs: Buffer[] = []
const resps: Buffer[] = []
for (let i = 0; i < N; i++) {
  const topic = 'orders-' + (i % 8)
  let q: Buffer
  let a: Buffer
  switch (i % 4) {
    case 0:
      q = k.produceReq(9, i, [{ name: topic, partitions: [{ index: 0, records: batch }] }])
      a = k.produceResp(9, i, [{ name: topic, partitions: [{ index: 0 }] }])
      break
    case 1:
      q = k.fetchReq(11, i, [{ name: topic, partitions: [0, 1] }])
      a = k.fetchResp(11, i, [{ name: topic, partitions: [{ index: 0, records }, { index: 1, records }] }])
      break
    case 2:
      q = k.metadataReq(12, i, [topic, 'payments'])
      a = k.metadataResp(12, i, [{ name: topic }, { name: 'payments' }])
      break
    default:
      q = k.heartbeatReq(4, i)
      a = k.heartbeatResp(4, i)
  }
  reqs.push(q)
  resps.push(a)
}

await runParserBench(
  {
    parser: kafkaParser,
    reqs,
    resps,
    exchanges: N,
    answered: (e) => e.status === 'NONE',
    // the pipelined run has all N in flight
    limits: limitsWith({ maxPendingRequests: N }),
  },
  [
    { name: `kafka ${N} exchanges, one segment per message`, feed: 'per-message' },
    { name: `kafka ${N} exchanges pipelined in ${MSS}-byte segments`, feed: 'pipelined' },
  ],
)
