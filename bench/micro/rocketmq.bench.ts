// RocketMQ parser throughput: N exchanges of a producer/consumer mix with JSON headers as the Java
// client sends them, fed request, response, request... one TCP segment per message, and the same bytes
// pipelined (all requests in 1460-byte segments, then all responses: up to N outstanding, cut anywhere):
//   - SEND_MESSAGE_V2 with a 200-byte body answered by SUCCESS with msgId/queueOffset extFields
//   - PULL_MESSAGE answered by SUCCESS with a 1 KiB body of messages
//   - PULL_MESSAGE answered by PULL_NOT_FOUND (no body)
//   - HEART_BEAT with a 600-byte body answered by SUCCESS
// Run: npx tsx bench/micro/rocketmq.bench.ts    (prints mitata's table, then MB/s and exchanges/s)

import { limitsWith } from '../../src/config.js'
import { rocketmqParser } from '../../src/protocols/rocketmq/parser.js'
import { jsonFrame, pull, request, response, sendV2 } from '../../test/helpers/buffers/rocketmq.js'
import { MSS, runParserBench } from './harness.js'

const N = 10_000
const messageBody = Buffer.alloc(200, 0x61)
const pulled = Buffer.alloc(1024, 0x62)
const heartbeat = Buffer.alloc(600, 0x63)

const reqs: Buffer[] = []
const resps: Buffer[] = []
for (let i = 0; i < N; i++) {
  switch (i % 4) {
    case 0:
      reqs.push(sendV2(i, 'orders', messageBody))
      resps.push(jsonFrame({ code: 0, opaque: i, flag: 1, extFields: { msgId: '0A0000B400002A9F00000000002EAF62', queueId: '1', queueOffset: String(i) } }))
      break
    case 1:
      reqs.push(pull(i, 'orders'))
      resps.push(jsonFrame({ code: 0, opaque: i, flag: 1, remark: 'FOUND', extFields: { nextBeginOffset: String(i + 1), minOffset: '0', maxOffset: String(i + 1) } }, pulled))
      break
    case 2:
      reqs.push(pull(i, 'audit'))
      resps.push(response(19, i, '', 'OFFSET_OVERFLOW_ONE'))
      break
    default:
      reqs.push(request(34, i, undefined, heartbeat))
      resps.push(response(0, i))
  }
}

await runParserBench(
  {
    parser: rocketmqParser,
    reqs,
    resps,
    exchanges: N,
    answered: (e) => e.status !== null,
    // the pipelined run has all N outstanding
    limits: limitsWith({ maxPendingRequests: N }),
  },
  [
    { name: `rocketmq ${N} exchanges, one segment per message`, feed: 'per-message' },
    { name: `rocketmq ${N} exchanges pipelined in ${MSS}-byte segments`, feed: 'pipelined' },
  ],
)
