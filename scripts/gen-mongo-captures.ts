// Generates two MongoDB goldens into DIR (no MongoDB server is available here to record them):
//
// 09-op-compressed-snappy-zlib-zstd.pcap: one driver-shaped MongoDB
// session (hello uncompressed offering compression, the server agreeing, then commands and replies in
// OP_COMPRESSED with snappy, zlib and zstd, as `compressors=snappy,zlib,zstd` drivers send them). No
// MongoDB server is available here, so the messages are built with the `bson` package and compressed
// by the real codecs (snappyjs, node:zlib, the zstd command line tool); the TCP segments by
// test/helpers/packets.ts. Truth is the script itself (commands, statuses) and `bson.deserialize`.
//
// 10-op-command-legacy.pcap: a 3.2-era shell session in OP_COMMAND / OP_COMMANDREPLY (isMaster,
// find, an insert with a duplicate key, a command the server does not know), the commandArgs first as
// the 3.2 server reads them, then the same with metadata first as the wire protocol page lists them.
//
//   npx tsx scripts/gen-mongo-captures.ts test/pcaps/mongo

import * as path from 'node:path'
import { cmd, opCommand, opCommandReply, opCompressed, reply } from '../test/helpers/buffers/mongodb.js'
import { TcpConversation, writePcap } from '../test/helpers/packets.js'

const dir = process.argv[2]!
const t = new TcpConversation({ client: { ip: '10.1.0.5', port: 51544 }, server: { ip: '10.1.0.9', port: 27017 }, stepUs: 300 })
t.handshake()
let id = 100
/** one command and its reply, compressed with `comp` (null: plain OP_MSG) */
function call(db: string, command: Record<string, unknown>, answer: Record<string, unknown>, comp: number | null): void {
  const q = cmd(++id, db, command)
  const r = reply(1000 + id, id, answer)
  t.send('c2s', comp === null ? q : opCompressed(q, comp)).wait(800)
  t.send('s2c', comp === null ? r : opCompressed(r, comp)).wait(2000)
}
call('admin', { hello: 1, compression: ['snappy', 'zlib', 'zstd'], client: { driver: { name: 'nodejs', version: '6.10.0' } } }, { isWritablePrimary: true, compression: ['snappy', 'zlib', 'zstd'], maxWireVersion: 21, ok: 1 }, null)
call('shop', { find: 'orders', filter: { status: 'open' }, limit: 50 }, { cursor: { id: 0n, ns: 'shop.orders', firstBatch: Array.from({ length: 50 }, (_, i) => ({ _id: i, status: 'open', item: `sku-${i}`.repeat(10) })) }, ok: 1 }, 1)
call('shop', { insert: 'orders', documents: [{ _id: 51, status: 'open' }], ordered: true }, { n: 0, writeErrors: [{ index: 0, code: 11000, errmsg: 'E11000 duplicate key error' }], ok: 1 }, 2)
call('shop', { aggregate: 'orders', pipeline: [{ $group: { _id: '$status', n: { $sum: 1 } } }], cursor: {} }, { cursor: { id: 0n, ns: 'shop.orders', firstBatch: Array.from({ length: 2000 }, (_, i) => ({ _id: `status-${i}`, n: i })) }, ok: 1 }, 3)
call('shop', { update: 'orders', updates: [{ q: { _id: 1 }, u: { $set: { status: 'done' } } }] }, { n: 1, nModified: 1, ok: 1 }, 3)
call('admin', { dropDatabase: 1 }, { ok: 0, errmsg: 'not authorized on admin to execute command', code: 13, codeName: 'Unauthorized' }, 1)
call('shop', { count: 'orders', query: {} }, { n: 51, ok: 1 }, 2)
t.fin('c2s').fin('s2c')
writePcap(path.join(dir, '09-op-compressed-snappy-zlib-zstd.pcap'), t.packets)

const l = new TcpConversation({ client: { ip: '10.1.0.7', port: 40112 }, server: { ip: '10.1.0.9', port: 27017 }, stepUs: 250 })
l.handshake()
let lid = 1
for (const metadataFirst of [false, true]) {
  const o = { metadataFirst, metadata: { $replData: 1 } }
  const legacy = (db: string, args: Record<string, unknown>, answer: Record<string, unknown>): void => {
    const q = ++lid
    l.send('c2s', opCommand(q, db, args, o)).wait(600)
    l.send('s2c', opCommandReply(++lid, q, answer, o)).wait(1500)
  }
  legacy('admin', { isMaster: 1 }, { ismaster: true, maxWireVersion: 4, ok: 1 })
  legacy('test', { find: 'people', filter: { age: { $gt: 30 } } }, { cursor: { id: 0n, ns: 'test.people', firstBatch: [{ _id: 1, age: 31 }] }, ok: 1 })
  legacy('test', { insert: 'people', documents: [{ _id: 1 }] }, { n: 0, writeErrors: [{ index: 0, code: 11000, errmsg: 'E11000 duplicate key error' }], ok: 1 })
  legacy('test', { frobnicate: 1 }, { ok: 0, errmsg: "no such command: 'frobnicate'", code: 59 })
}
l.fin('c2s').fin('s2c')
writePcap(path.join(dir, '10-op-command-legacy.pcap'), l.packets)
