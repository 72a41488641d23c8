import { Binary, Long, serialize, deserialize } from 'bson'
import fc from 'fast-check'
import { execFileSync } from 'node:child_process'
import * as fs from 'node:fs'
import { randomSteps } from '../../../test/helpers/fuzz.js'
import { describe, expect, it } from 'vitest'
import { limitsWith, type Limits } from '../../config.js'
import { runParser, type RunResult, type Step } from '../../../test/helpers/protocols.js'
import type { ParsedExchange } from '../types.js'
import { checkSplits } from '../../../test/helpers/splits.js'
import { GIVE_UP, newDocInfo, walkElements } from './bson-walk.js'
import { compress as snappyCompress } from 'snappyjs'
import { decompressBody, snappyUncompress } from './compression.js'
import { detectMongo } from './detect.js'
import { mongoParser } from './parser.js'
import {
  CHECKSUM, EXHAUST_ALLOWED, MORE_TO_COME, bson, cmd, opCompressed, opDelete, opGetMore, opInsert, opKillCursors, opMsg,
  opQuery, opReply, opUpdate, reply,
  opCommand, opCommandReply,
} from '../../../test/helpers/buffers/mongodb.js'

const c = (data: Buffer, tsUs: number): Step => ({ dir: 'c2s', data, tsUs })
const s = (data: Buffer, tsUs: number): Step => ({ dir: 's2c', data, tsUs })

/** whole, at every split and byte by byte: the same exchanges, counts and unmatched replies */
function runAll(steps: Step[], limits: Partial<Limits> = {}): RunResult {
  return checkSplits(mongoParser, steps, limits)
}

const brief = (e: ParsedExchange) => [e.method, e.resource, e.status, e.error]

describe('mongodb: OP_MSG commands', () => {
  it('pairs a find with its reply: method, db.collection, status, bytes and timing', () => {
    const q = cmd(7, 'app', { find: 'users', filter: { name: 'alice' }, lsid: { id: new Binary(Buffer.alloc(16), 4) } })
    const r = reply(100, 7, { cursor: { firstBatch: [{ _id: 1, name: 'alice' }], id: Long.ZERO, ns: 'app.users' }, ok: 1 })
    const res = runAll([c(q, 1000), s(r, 1800)])
    expect(res.exchanges).toEqual([
      { method: 'find', resource: 'app.users', status: 'ok', error: false, startUs: 1000, endUs: 1800, reqBytes: q.length, respBytes: r.length },
    ])
    expect(res.unmatchedResponses).toBe(0)
    expect(res.counts).toEqual({})
  })

  it('pairs by id, not by order: replies may come back in any order', () => {
    const res = runAll([
      c(Buffer.concat([cmd(1, 'db', { insert: 'a' }), cmd(2, 'db', { count: 'b' }), cmd(3, 'db', { ping: 1 })]), 10),
      s(reply(50, 3, { ok: 1 }), 20),
      s(Buffer.concat([reply(51, 1, { n: 1, ok: 1 }), reply(52, 2, { n: 5, ok: 1.0 })]), 30),
    ])
    expect(res.exchanges.map((e) => [e.method, e.resource, e.endUs])).toEqual([
      ['ping', 'db', 20],
      ['insert', 'db.a', 30],
      ['count', 'db.b', 30],
    ])
  })

  it('status is ok, the error code, or "error" when no code is given', () => {
    const reqs = [
      cmd(1, 'db', { find: 'x' }),
      cmd(2, 'db', { insert: 'x' }),
      cmd(3, 'db', { update: 'x' }),
      cmd(4, 'db', { replSetGetStatus: 1 }),
      cmd(5, 'db', { delete: 'x' }),
      cmd(6, 'db', { insert: 'x' }),
    ]
    const reps = [
      reply(11, 1, { ok: 0, errmsg: 'unauthorized', code: 13, codeName: 'Unauthorized' }),
      reply(12, 2, { n: 0, writeErrors: [{ index: 0, code: 11000, errmsg: 'E11000 duplicate key' }], ok: 1 }),
      reply(13, 3, { n: 1, nModified: 1, writeConcernError: { code: 64, errmsg: 'waiting for replication timed out' }, ok: 1 }),
      reply(14, 4, { ok: 0, errmsg: 'not running with --replSet' }),
      reply(15, 5, { n: 0, writeErrors: [], ok: true }),
      reply(16, 6, { ok: 0, code: Long.fromNumber(50), errmsg: 'time limit' }),
    ]
    const res = runAll([c(Buffer.concat(reqs), 1), s(Buffer.concat(reps), 2)])
    expect(res.exchanges.map((e) => [e.status, e.error])).toEqual([
      [13, true],
      [11000, true],
      [64, true],
      ['error', true],
      ['ok', false],
      [50, true],
    ])
  })

  it('reads the body after a kind-1 sequence, with a checksum', () => {
    const q = opMsg(
      { insert: 'logs', ordered: true, $db: 'app' },
      { requestId: 9, flags: CHECKSUM, sequencesFirst: true, sequences: [{ id: 'documents', docs: [{ a: 1 }, { a: 2 }] }] },
    )
    const r = opMsg({ n: 2, ok: 1 }, { requestId: 90, responseTo: 9, flags: CHECKSUM })
    const res = runAll([c(q, 1), s(r, 2)])
    expect(res.exchanges.map(brief)).toEqual([['insert', 'app.logs', 'ok', false]])
  })

  it('resource: only commands on a collection name one; getMore names it in `collection`', () => {
    const res = runAll([
      c(
        Buffer.concat([
          cmd(1, 'admin', { getLog: 'global' }),
          cmd(2, 'app', { getMore: Long.fromNumber(123456), collection: 'users', batchSize: 10 }),
          cmd(3, 'admin', { createUser: 'bob', pwd: 'hunter2', roles: [] }),
          cmd(4, 'app', { findandmodify: 'jobs', query: {}, remove: true }),
          cmd(5, 'app', { ISMASTER: 1 }),
          cmd(6, 'app', { 'no such command!': 1 }),
        ]),
        1,
      ),
      s(Buffer.concat([1, 2, 3, 4, 5, 6].map((i) => reply(100 + i, i, { ok: 1 }))), 2),
    ])
    expect(res.exchanges.map((e) => [e.method, e.resource])).toEqual([
      ['getLog', 'admin'],
      ['getMore', 'app.users'],
      ['createUser', 'admin'],
      ['findAndModify', 'app.jobs'],
      ['isMaster', 'app'],
      ['unknown', 'app'],
    ])
  })

  it('never keeps SASL payloads, passwords, filters or documents', () => {
    const secret = 'n,,n=alice,r=SECRETNONCE'
    const res = runAll([
      c(cmd(1, 'admin', { saslStart: 1, mechanism: 'SCRAM-SHA-256', payload: new Binary(Buffer.from(secret)) }), 1),
      s(reply(2, 1, { conversationId: 1, done: false, payload: new Binary(Buffer.from('r=SECRETNONCEserver,s=SALTSALT')), ok: 1 }), 2),
      c(cmd(3, 'admin', { createUser: 'bob', pwd: 'hunter22', roles: [] }), 3),
      c(cmd(4, 'app', { find: 'users', filter: { ssn: '078-05-1120' } }), 4),
      s(reply(5, 4, { cursor: { firstBatch: [{ ssn: '078-05-1120', card: '4111111111111111' }], id: Long.ZERO, ns: 'app.users' }, ok: 1 }), 5),
    ])
    const text = JSON.stringify(res)
    for (const x of ['SECRETNONCE', 'SALTSALT', 'hunter22', 'bob', '078-05-1120', '4111111111111111', 'alice']) expect(text).not.toContain(x)
    expect(res.exchanges.map(brief)).toEqual([
      ['saslStart', 'admin', 'ok', false],
      ['find', 'app.users', 'ok', false],
      ['createUser', 'admin', null, true],
    ])
  })
})

describe('mongodb: requests without a reply, exhaust replies', () => {
  it('an OP_MSG with moreToCome is emitted at once: status null, no error', () => {
    const w = cmd(1, 'app', { insert: 'events', documents: [{ x: 1 }], writeConcern: { w: 0 } }, MORE_TO_COME)
    const res = runAll([c(w, 5), c(cmd(2, 'app', { ping: 1 }), 6), s(reply(3, 2, { ok: 1 }), 7)])
    expect(res.exchanges).toEqual([
      { method: 'insert', resource: 'app.events', status: null, error: false, startUs: 5, endUs: 5, reqBytes: w.length, respBytes: 0, attrs: { reply: 'none' } },
      { method: 'ping', resource: 'app', status: 'ok', error: false, startUs: 6, endUs: 7, reqBytes: cmd(2, 'app', { ping: 1 }).length, respBytes: reply(3, 2, { ok: 1 }).length },
    ])
    expect(res.unmatchedResponses).toBe(0)
  })

  it('exhaust: the first reply closes the getMore, later moreToCome replies are streamed, not unmatched', () => {
    const batch = (id: number, to: number, more: boolean) =>
      reply(id, to, { cursor: { nextBatch: [{ v: id }], id: Long.fromNumber(more ? 77 : 0), ns: 'db.c' }, ok: 1 }, more ? MORE_TO_COME : 0)
    const res = runAll([
      c(cmd(1, 'db', { getMore: Long.fromNumber(77), collection: 'c' }, EXHAUST_ALLOWED), 1),
      s(batch(10, 1, true), 2),
      s(Buffer.concat([batch(11, 10, true), batch(12, 11, true)]), 3),
      s(batch(13, 12, false), 4),
      c(cmd(2, 'db', { ping: 1 }), 5),
      s(reply(14, 2, { ok: 1 }), 6),
    ])
    expect(res.exchanges.map((e) => [e.method, e.resource, e.status, e.endUs])).toEqual([
      ['getMore', 'db.c', 'ok', 2],
      ['ping', 'db', 'ok', 6],
    ])
    expect(res.counts).toEqual({ streamed_reply: 3 })
    expect(res.unmatchedResponses).toBe(0)
  })

  it('legacy writes are emitted at once; legacy getMore waits for its OP_REPLY', () => {
    const res = runAll([
      c(Buffer.concat([opInsert(1, 'shop.orders', [{ a: 1 }]), opUpdate(2, 'shop.orders', { a: 1 }, { $set: { b: 2 } }), opDelete(3, 'shop.orders', { a: 1 })]), 1),
      c(Buffer.concat([opGetMore(4, 'shop.orders', 99n), opKillCursors(5, [99n, 100n])]), 2),
      s(opReply([{ a: 1 }], { requestId: 40, responseTo: 4, cursorId: 99n }), 3),
    ])
    expect(res.exchanges.map((e) => [e.method, e.resource, e.status, e.error, e.attrs?.op])).toEqual([
      ['insert', 'shop.orders', null, false, 'OP_INSERT'],
      ['update', 'shop.orders', null, false, 'OP_UPDATE'],
      ['delete', 'shop.orders', null, false, 'OP_DELETE'],
      ['killCursors', undefined, null, false, 'OP_KILL_CURSORS'],
      ['getMore', 'shop.orders', 'ok', false, 'OP_GET_MORE'],
    ])
  })
})

describe('mongodb: legacy OP_QUERY / OP_REPLY', () => {
  it('$cmd queries are commands; other namespaces are finds whose reply documents are data', () => {
    const res = runAll([
      c(opQuery(1, 'admin.$cmd', { isMaster: 1, client: { driver: { name: 'x' } } }), 1),
      s(opReply([{ ismaster: true, maxWireVersion: 8, ok: 1 }], { requestId: 10, responseTo: 1 }), 2),
      // a document that happens to hold ok: 0 and code is data, not a failure
      c(opQuery(2, 'shop.orders', { status: 'open' }), 3),
      s(opReply([{ ok: 0, code: 5, status: 'open' }], { requestId: 11, responseTo: 2, cursorId: 5n }), 4),
      c(opQuery(3, 'test.$cmd', { $query: { count: 'orders' }, $readPreference: { mode: 'secondary' } }), 5),
      s(opReply([{ n: 3, ok: 1 }], { requestId: 12, responseTo: 3 }), 6),
    ])
    expect(res.exchanges.map(brief)).toEqual([
      ['isMaster', 'admin', 'ok', false],
      ['find', 'shop.orders', 'ok', false],
      ['count', 'test.orders', 'ok', false],
    ])
  })

  it('QueryFailure and CursorNotFound are errors; getLastError err strings are errors', () => {
    const res = runAll([
      c(Buffer.concat([opQuery(1, 'shop.orders', { $where: 'x(' }), opGetMore(2, 'shop.orders', 5n), opQuery(3, 'shop.$cmd', { getLastError: 1 })]), 1),
      s(opReply([{ $err: 'SyntaxError', code: 16722 }], { requestId: 10, responseTo: 1, flags: 2 }), 2),
      s(opReply([], { requestId: 11, responseTo: 2, flags: 1 }), 3),
      s(opReply([{ connectionId: 3, err: 'E11000 duplicate key error', code: 11000, n: 0, ok: 1 }], { requestId: 12, responseTo: 3 }), 4),
    ])
    expect(res.exchanges.map(brief)).toEqual([
      ['find', 'shop.orders', 16722, true],
      ['getMore', 'shop.orders', 43, true],
      ['getLastError', 'shop', 11000, true],
    ])
  })

  it.each([
    [0, 'noop'],
    [1, 'snappy'],
    [2, 'zlib'],
  ])('OP_COMPRESSED with compressor %i (%s): the command inside and its status are reported', (id, name) => {
    const q = opCompressed(cmd(1, 'app', { find: 'users', filter: { a: 'x'.repeat(300) } }), id)
    const r = opCompressed(reply(2, 1, { ok: 0, code: 13, errmsg: 'not authorized' }), id)
    const w = opCompressed(opInsert(3, 'a.b', [{ x: 1 }]), id)
    const res = runAll([c(q, 1), s(r, 2), c(w, 3)])
    expect(res.exchanges.map((e) => [e.method, e.resource, e.status, e.error, e.reqBytes, e.respBytes, e.attrs?.compressor])).toEqual([
      ['find', 'app.users', 13, true, q.length, r.length, name],
      ['insert', 'a.b', null, false, w.length, 0, name],
    ])
    expect(res.counts).toEqual({})
  })

  it('OP_COMPRESSED split over many chunks is gathered whole, then read', () => {
    const big = { insert: 'logs', documents: Array.from({ length: 400 }, (_, i) => ({ i, msg: `line ${i} `.repeat(20) })) }
    const q = opCompressed(cmd(7, 'app', big), 2)
    const r = opCompressed(reply(8, 7, { ok: 1, n: 400 }), 1)
    const steps: Step[] = []
    for (let off = 0; off < q.length; off += 97) steps.push(c(q.subarray(off, off + 97), 1 + off))
    steps.push(s(r.subarray(0, 5), 90_000), s(r.subarray(5), 90_001))
    const res = runAll(steps)
    expect(res.exchanges.map((e) => [e.method, e.resource, e.status, e.error, e.attrs?.compressor])).toEqual([['insert', 'app.logs', 'ok', false, 'zlib']])
  })

  it('OP_COMPRESSED with zstd (libzstd: node:zlib or zstddec wasm) is read: command, collection, status', () => {
    const [fetchBefore, instantiateBefore] = [globalThis.fetch, WebAssembly.instantiate]
    const res = runAll([c(opCompressed(cmd(1, 'app', { find: 'users' }), 3), 1), s(opCompressed(reply(2, 1, { ok: 0, code: 13, errmsg: 'no' }), 3), 2)])
    expect(res.exchanges.map((e) => [e.method, e.resource, e.status, e.error, e.attrs?.compressor])).toEqual([['find', 'app.users', 13, true, 'zstd']])
    expect(res.counts).toEqual({})
    // the wasm decoder is made on the first zstd message, synchronously; what it borrowed is put back
    expect([globalThis.fetch, WebAssembly.instantiate]).toEqual([fetchBefore, instantiateBefore])
  })

  it('OP_COMPRESSED with a corrupt zstd frame (the 44 bytes on which fzstd never returned): counted, not a hang', () => {
    const frame = fs.readFileSync(new URL('../../../test/pcaps/mongo/zstd-hang.bin', import.meta.url))
    const q = opCompressed(cmd(1, 'app', { find: 'users' }), 3)
    const bad = Buffer.concat([q.subarray(0, 25), frame])
    bad.writeInt32LE(bad.length, 0)
    const res = runAll([c(bad, 1), s(opCompressed(reply(2, 1, { ok: 1 }), 3), 2)])
    expect(res.exchanges.map((e) => [e.method, e.status, e.error, e.attrs?.compressor])).toEqual([['compressed', 'ok', false, 'zstd']])
    expect(res.counts).toMatchObject({ zstd_not_decoded: 1 })
  })

  it('OP_COMPRESSED that does not decompress, or announces more than the cap: compressed, status unknown, counted', () => {
    const corrupt = opCompressed(cmd(1, 'app', { find: 'users' }), 2, { raw: true })
    const r1 = opCompressed(reply(2, 1, { ok: 1 }), 2, { raw: true })
    // a zlib body that inflates past the size it announces (a bomb) is refused, not inflated
    const bomb = opCompressed(cmd(3, 'app', { find: 'x', pad: 'y'.repeat(100_000) }), 2, { size: 1000 })
    const overCap = opCompressed(cmd(5, 'app', { find: 'z' }), 1, { size: 64 * 1024 * 1024 })
    const res = runAll([c(corrupt, 1), s(r1, 2), c(bomb, 3), c(overCap, 4)])
    expect(res.exchanges.map((e) => [e.method, e.status, e.error, e.attrs?.original_op])).toEqual([
      ['compressed', 'unknown', null, 'OP_MSG'],
      ['compressed', null, true, 'OP_MSG'],
      ['compressed', null, true, 'OP_MSG'],
    ])
    expect(res.counts).toMatchObject({ decompress_failed: 3, compressed_over_cap: 1 })
  })
})

describe('mongodb: Snappy decoder (compression.ts)', () => {
  it('decodes what snappyjs encodes, at every size class', () => {
    for (const n of [0, 1, 59, 60, 61, 255, 256, 65_536, 70_000]) {
      const plain = Buffer.from(Array.from({ length: n }, (_, i) => (i * 7919) % 251 < 120 ? 97 + (i % 5) : i & 0xff))
      expect(snappyUncompress(Buffer.from(snappyCompress(plain)), n)).toEqual(plain)
    }
  })

  it('refuses corrupt input at once: a literal longer than the input, a copy before the start, a wrong size', () => {
    // size 10, a literal whose 4-byte length says 4 GB (snappyjs loops on this for seconds)
    expect(snappyUncompress(Buffer.from([10, 0xfc, 0xff, 0xff, 0xff, 0xff, 1, 2]), 10)).toBeNull()
    // size 8, a 1-byte-offset copy with offset 5 before anything was written
    expect(snappyUncompress(Buffer.from([8, 0x01, 0x05]), 8)).toBeNull()
    expect(snappyUncompress(Buffer.from(snappyCompress(Buffer.from('hello hello hello'))), 16)).toBeNull()
  })
})

describe('mongodb: zstd decoder (compression.ts)', () => {
  it('decodes what the zstd tool encodes; refuses a wrong announced size', () => {
    const plain = Buffer.from(serialize({ find: 'users', filter: { name: 'x'.repeat(3000) } }))
    const z = execFileSync('zstd', ['-q', '-c', '-19'], { input: plain })
    expect(decompressBody(3, z, plain.length, 4 << 20)).toEqual(plain)
    expect(decompressBody(3, z, plain.length - 1, 4 << 20)).toBeNull()
    expect(decompressBody(3, z, plain.length + 1, 4 << 20)).toBeNull()
    expect(decompressBody(3, z, 0, 4 << 20)).toBeNull()
  })

  it('returns null (never hangs, never throws) on the fzstd hang frame and on corrupted or random frames', () => {
    const hang = fs.readFileSync(new URL('../../../test/pcaps/mongo/zstd-hang.bin', import.meta.url))
    for (const size of [1, 100, 65_536, 4 << 20]) expect(decompressBody(3, hang, size, 4 << 20)).toBeNull()
    const plain = Buffer.from(serialize({ insert: 'logs', documents: Array.from({ length: 50 }, (_, i) => ({ i, msg: `line ${i}` })) }))
    const z = execFileSync('zstd', ['-q', '-c', '-3'], { input: plain })
    fc.assert(
      fc.property(
        fc.oneof(
          fc.array(fc.tuple(fc.nat(z.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }).map((edits) => {
            const b = Buffer.from(z)
            for (const [at, v] of edits) b[at] = v
            return b
          }),
          fc.uint8Array({ minLength: 0, maxLength: 300 }).map((a) => Buffer.concat([z.subarray(0, 4), Buffer.from(a)])),
        ),
        fc.integer({ min: 0, max: 4 << 20 }),
        (frame, size) => {
          const out = decompressBody(3, frame, size, 4 << 20)
          // a corruption in a skippable spot may still decode: then only to exactly the announced size
          if (out !== null) expect(out.length).toBe(size)
        },
      ),
      { numRuns: 3000 },
    )
  })
})

describe('mongodb: legacy OP_COMMAND / OP_COMMANDREPLY (3.2 to 4.0)', () => {
  it.each([false, true])('pairs them: command, database.collection, status (metadata first: %s)', (metadataFirst) => {
    const o = { metadataFirst, metadata: { $replData: 1, $gleStats: { lastOpTime: 0 } } }
    const steps = [
      c(opCommand(1, 'shop', { find: 'orders', filter: { qty: { $gt: 1 } } }, o), 1),
      s(opCommandReply(2, 1, { cursor: { id: 0n, ns: 'shop.orders', firstBatch: [] }, ok: 1 }, o), 2),
      c(opCommand(3, 'shop', { insert: 'orders', documents: [{ _id: 1 }] }, o), 3),
      s(opCommandReply(4, 3, { n: 0, writeErrors: [{ index: 0, code: 11000, errmsg: 'dup' }], ok: 1 }, o), 4),
      c(opCommand(5, 'admin', { isMaster: 1 }, o), 5),
      s(opCommandReply(6, 5, { ok: 0, errmsg: 'no such cmd', code: 59 }, o), 6),
    ]
    const res = runAll(steps)
    expect(res.exchanges.map((e) => [e.method, e.resource, e.status, e.error, e.attrs?.op])).toEqual([
      ['find', 'shop.orders', 'ok', false, 'OP_COMMAND'],
      ['insert', 'shop.orders', 11000, true, 'OP_COMMAND'],
      ['isMaster', 'admin', 59, true, 'OP_COMMAND'],
    ])
    expect(res.counts).toEqual({})
    expect(detectMongo(opCommand(1, 'shop', { find: 'x' }, o), 'c2s')).toBe(true)
    expect(detectMongo(opCommandReply(2, 1, { ok: 1 }, o), 's2c')).toBe(true)
    expect(detectMongo(opCommandReply(2, 1, { ok: 1 }, o), 'c2s')).toBe(false)
  })

  it('a reply in which no document holds ok: status unknown, not ok', () => {
    const res = runAll([c(opCommand(1, 'shop', { ping: 1 }), 1), s(opCommandReply(2, 1, { pong: true }, { metadata: { x: 1 } }), 2)])
    expect(res.exchanges.map((e) => [e.method, e.status, e.error])).toEqual([['ping', 'unknown', null]])
  })
})

describe('mongodb: unanswered, unmatched, caps', () => {
  it('a request without reply is reported at end; a reply without request is counted', () => {
    const q = cmd(5, 'db', { find: 'c' })
    const res = runAll([s(reply(1, 99, { ok: 1 }), 1), c(q, 2), { end: 'rst', tsUs: 50 }])
    expect(res.exchanges).toEqual([
      { method: 'find', resource: 'db.c', status: null, error: true, startUs: 2, endUs: 50, reqBytes: q.length, respBytes: 0 },
    ])
    expect(res.unmatchedResponses).toBe(1)
  })

  it('caps pending requests: the oldest are reported unanswered', () => {
    const reqs = Array.from({ length: 12 }, (_, i) => cmd(i + 1, 'db', { ping: 1 }))
    const r = runParser(mongoParser, [c(Buffer.concat(reqs), 1), s(reply(100, 12, { ok: 1 }), 2)], 'whole', { maxPendingRequests: 4 })
    expect(r.counts.pending_evicted).toBe(8)
    expect(r.exchanges).toHaveLength(12)
    expect(r.exchanges.filter((e) => e.status === 'ok')).toHaveLength(1)
  })

  it('streams a reply larger than the kept head, reads `ok` and `code` after a 2 MB batch', () => {
    const firstBatch = Array.from({ length: 2000 }, (_, i) => ({ _id: i, blob: 'x'.repeat(1000) }))
    const big = reply(100, 1, { cursor: { firstBatch, id: Long.ZERO, ns: 'db.big' }, ok: 0, code: 292, codeName: 'QueryExceededMemoryLimitNoDiskUseAllowed' })
    const ok = reply(101, 2, { cursor: { firstBatch, id: Long.ZERO, ns: 'db.big' }, ok: 1 })
    expect(big.length).toBeGreaterThan(2_000_000)
    const steps = [c(cmd(1, 'db', { aggregate: 'big' }), 1), s(big, 2), c(cmd(2, 'db', { find: 'big' }), 3), s(ok, 4)]
    for (const split of ['whole', 1, 1460, 65_535, 65_536, 1_000_000, big.length - 3] as const) {
      const r = runParser(mongoParser, steps, split)
      expect(r.exchanges.map((e) => [e.method, e.status, e.respBytes]), `split ${split}`).toEqual([
        ['aggregate', 292, big.length],
        ['find', 'ok', ok.length],
      ])
    }
    // in 1460-byte segments: nothing near the message's size is held
    const h = mongoParser.create({ emit: () => {}, limits: limitsWith(), count: () => {}, unmatchedResponse: () => {} })
    h.data('c2s', cmd(1, 'db', { aggregate: 'big' }), 1, -1)
    for (let i = 0; i < big.length; i += 1460) h.data('s2c', big.subarray(i, i + 1460), 2, -1)
    const side = (h as unknown as { s2c: { win: Buffer; hunt: Buffer } }).s2c
    expect(side.win.length).toBeLessThanOrEqual(68 * 1024)
    expect(side.hunt.length).toBe(0)
  })
})

describe('mongodb: gaps and mid-stream starts', () => {
  it('joins mid-stream: skips the tail of a message, then pairs normally', () => {
    const r1 = reply(100, 1, { cursor: { firstBatch: [{ a: 'y'.repeat(300) }], id: Long.ZERO, ns: 'db.c' }, ok: 1 })
    const q = cmd(2, 'db', { find: 'c' })
    const res = runAll([
      { dir: 'c2s', gap: -1, tsUs: 0 },
      { dir: 's2c', gap: -1, tsUs: 0 },
      s(r1.subarray(150), 1),
      c(q.subarray(20), 2),
      c(q, 3),
      s(reply(101, 2, { ok: 1 }), 4),
    ])
    expect(res.exchanges.map((e) => [e.method, e.status, e.startUs, e.endUs])).toEqual([['find', 'ok', 3, 4]])
    expect(res.unmatchedResponses).toBe(0)
  })

  it('a capture that starts with a reply counts it unmatched', () => {
    const res = runAll([
      { dir: 'c2s', gap: -1, tsUs: 0 },
      { dir: 's2c', gap: -1, tsUs: 0 },
      s(opReply([{ ok: 1 }], { requestId: 9, responseTo: 8 }), 1),
      c(opQuery(3, 'admin.$cmd', { buildinfo: 1 }), 2),
      s(opReply([{ version: '7.0', ok: 1 }], { requestId: 10, responseTo: 3 }), 3),
    ])
    expect(res.exchanges.map(brief)).toEqual([['buildInfo', 'admin', 'ok', false]])
    expect(res.unmatchedResponses).toBe(1)
  })

  it('steps over a gap of known size inside a reply: the exchange still closes', () => {
    const r1 = reply(100, 1, { cursor: { firstBatch: [{ a: 'z'.repeat(5000) }], id: Long.ZERO, ns: 'db.c' }, ok: 1 })
    const r = runParser(mongoParser, [
      c(cmd(1, 'db', { find: 'c' }), 1),
      s(r1.subarray(0, 1000), 2),
      { dir: 's2c', gap: 3000, tsUs: 3 },
      s(r1.subarray(4000), 4),
      c(cmd(2, 'db', { ping: 1 }), 5),
      s(reply(101, 2, { ok: 1 }), 6),
    ])
    expect(r.exchanges.map((e) => [e.method, e.endUs, e.respBytes])).toEqual([
      ['find', 4, r1.length],
      ['ping', 6, reply(101, 2, { ok: 1 }).length],
    ])
    expect(r.counts.gap_in_response).toBe(1)
  })

  it('a gap past the message end resyncs; the lost reply leaves its request unanswered', () => {
    const r = runParser(mongoParser, [
      c(Buffer.concat([cmd(1, 'db', { find: 'c' }), cmd(2, 'db', { find: 'd' })]), 1),
      s(reply(100, 1, { ok: 1 }).subarray(0, 10), 2),
      { dir: 's2c', gap: 500, tsUs: 3 },
      s(Buffer.from('tail of something'), 4),
      s(reply(101, 2, { ok: 1 }), 5),
      { end: 'fin', tsUs: 9 },
    ])
    expect(r.exchanges.map((e) => [e.resource, e.status, e.endUs])).toEqual([
      ['db.d', 'ok', 5],
      ['db.c', null, 9],
    ])
    expect(r.counts.gap_response).toBe(1)
  })

  it('a malformed header makes the direction hunt for the next message', () => {
    const junk = Buffer.alloc(40, 0xff)
    const res = runAll([c(Buffer.concat([junk, cmd(1, 'db', { ping: 1 })]), 1), s(reply(100, 1, { ok: 1 }), 2)])
    expect(res.exchanges.map(brief)).toEqual([['ping', 'db', 'ok', false]])
    expect(res.counts.malformed_request).toBe(1)
  })
})

describe('mongodb: detect', () => {
  it('accepts real starts, in their direction only', () => {
    const q = cmd(1, 'app', { find: 'users' })
    const r = reply(2, 1, { ok: 1 })
    expect(detectMongo(q, 'c2s')).toBe(true)
    expect(detectMongo(q, 's2c')).toBe(false)
    expect(detectMongo(r, 's2c')).toBe(true)
    expect(detectMongo(r, 'c2s')).toBe(false)
    expect(detectMongo(opQuery(0, 'admin.$cmd', { isMaster: 1 }), 'c2s')).toBe(true)
    expect(detectMongo(opQuery(4, 'test.restaurants', {}, 0, -1), 'c2s')).toBe(true)
    expect(detectMongo(opReply([{ ok: 1 }], { requestId: 3, responseTo: 0 }), 's2c')).toBe(true)
    expect(detectMongo(opInsert(1, 'a.b', [{ x: 1 }]), 'c2s')).toBe(true)
    expect(detectMongo(opKillCursors(1, [5n]), 'c2s')).toBe(true)
    expect(detectMongo(opCompressed(q, 1), 'c2s')).toBe(true)
    // a head cut inside the body, past the first element name
    expect(detectMongo(q.subarray(0, 40), 'c2s')).toBe(true)
    // pipelined: the next header must be plausible too
    expect(detectMongo(Buffer.concat([q, cmd(2, 'app', { ping: 1 })]), 'c2s')).toBe(true)
    expect(detectMongo(Buffer.concat([q, Buffer.from('GET / HTTP/1.1\r\n\r\n')]), 'c2s')).toBe(false)
  })

  it('rejects other protocols, short heads and bad bodies', () => {
    const b = (x: string) => Buffer.from(x, 'latin1')
    for (const dir of ['c2s', 's2c'] as const) {
      expect(detectMongo(b('GET / HTTP/1.1\r\nHost: x\r\n\r\n'), dir)).toBe(false)
      expect(detectMongo(b('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'), dir)).toBe(false)
      expect(detectMongo(b('*2\r\n$3\r\nGET\r\n$1\r\nk\r\n'), dir)).toBe(false)
      expect(detectMongo(b('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), dir)).toBe(false)
      expect(detectMongo(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03, ...Buffer.alloc(40)]), dir)).toBe(false)
      expect(detectMongo(Buffer.from([0, 0, 0, 8, 4, 0xd2, 0x16, 0x2f]), dir)).toBe(false) // PG SSLRequest
      expect(detectMongo(Buffer.from([0x4a, 0, 0, 0, 0x0a, 0x35, 0x2e, 0x37, 0x2e, 0x33, 0x30, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]), dir)).toBe(false) // MySQL greeting
    }
    const q = cmd(1, 'app', { find: 'users' })
    expect(detectMongo(q.subarray(0, 15), 'c2s')).toBe(false)
    expect(detectMongo(q.subarray(0, 22), 'c2s')).toBe(false) // unsure: too short
    const badFlags = Buffer.from(q)
    badFlags.writeUInt32LE(0x8, 16)
    expect(detectMongo(badFlags, 'c2s')).toBe(false)
    const badType = Buffer.from(q)
    badType[25] = 0x55
    expect(detectMongo(badType, 'c2s')).toBe(false)
    const tooLong = Buffer.from(q)
    tooLong.writeInt32LE(48_000_001, 0)
    expect(detectMongo(tooLong, 'c2s')).toBe(false)
    // the nDPI false-positive sample's first bytes: an "OP_REPLY" header with nonsense flags, client side
    const fp = Buffer.from('4b450000020601550000039e01000000' + '8fe0a8cf6b86210100aa049ac3859588' + '5b26e5356c8a3d8194f23dfbb311ee81', 'hex')
    expect(detectMongo(fp, 'c2s')).toBe(false)
    expect(detectMongo(fp, 's2c')).toBe(false)
  })
})

describe('mongodb: bson walker against the bson package', () => {
  const value = fc.oneof(
    fc.integer(),
    fc.double({ noNaN: true }),
    fc.string({ maxLength: 20 }),
    fc.boolean(),
    fc.constant(null),
    fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map((n) => Long.fromBigInt(n)),
    fc.uint8Array({ maxLength: 20 }).map((a) => new Binary(Buffer.from(a))),
    fc.array(fc.integer(), { maxLength: 3 }),
    fc.dictionary(fc.string({ minLength: 1, maxLength: 5 }), fc.integer(), { maxKeys: 3 }),
  )
  const key = fc.oneof(fc.constantFrom('ok', 'code', '$db', 'collection', 'find', 'cursor'), fc.stringMatching(/^[a-z]{1,8}$/))

  it('finds the first element, $db, ok and code as bson.deserialize sees them, in any window', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(key, value), { maxLength: 8 }), fc.integer({ min: 0, max: 400 }), (pairs, cutAt) => {
        const doc: Record<string, unknown> = {}
        for (const [k, v] of pairs) doc[k] = v
        const raw = Buffer.from(serialize(doc))
        const back = deserialize(raw, { promoteLongs: true, promoteValues: true, promoteBuffers: true })
        const keys = Object.keys(back)
        // whole document
        const info = newDocInfo()
        expect(walkElements(raw, 0, 4, raw.length - 1, info)).toBe(raw.length - 1)
        expect(info.elements).toBe(keys.length)
        expect(info.first).toBe(keys[0])
        if (typeof back[keys[0]] === 'string') expect(info.firstStr).toBe(back[keys[0]])
        const num = (x: unknown) => (typeof x === 'number' ? x : typeof x === 'boolean' ? Number(x) : x instanceof Long ? x.toNumber() : undefined)
        expect(info.ok).toBe('ok' in back ? num(back.ok) : undefined)
        expect(info.code).toBe('code' in back ? num(back.code) : undefined)
        expect(info.db).toBe(typeof back.$db === 'string' ? back.$db : undefined)
        // from a window that ends early: it stops at an element start (or the end), never beyond
        const cut = Math.min(cutAt, raw.length)
        const part = newDocInfo()
        const next = walkElements(raw.subarray(0, cut), 0, 4, raw.length - 1, part)
        expect(next === GIVE_UP || (next >= 4 && next <= raw.length - 1)).toBe(true)
        if (next !== GIVE_UP && next < raw.length - 1) {
          // and resuming there with the rest finishes with the same answers
          const rest = walkElements(raw.subarray(next), next, next, raw.length - 1, part)
          expect(rest).toBe(raw.length - 1)
          expect(part.elements).toBe(keys.length)
          expect(part.ok).toBe(info.ok)
          expect(part.code).toBe(info.code)
          expect(part.db).toBe(info.db)
        }
      }),
      { numRuns: 400 },
    )
  })

  it('reads the first writeErrors / writeConcernError code', () => {
    const raw = bson({ n: 0, writeErrors: [{ index: 3, code: 11000, errmsg: 'dup' }, { index: 4, code: 2 }], writeConcernError: { code: 64 }, ok: 1 })
    const info = newDocInfo()
    walkElements(raw, 0, 4, raw.length - 1, info)
    expect([info.writeErrors, info.writeConcernError, info.ok]).toEqual([11000, 64, 1])
  })
})

describe('mongodb: fuzz', () => {
  const limits = { maxPendingRequests: 16, maxFrameBytes: 4096 }

  it('random bytes at random splits never throw', () => {
    fc.assert(
      fc.property(
        randomSteps(300),
        fc.integer({ min: 1, max: 50 }),
        (steps, split) => {
          const r = runParser(mongoParser, steps, split, limits)
          for (const e of r.exchanges) expect(e.endUs).toBeGreaterThanOrEqual(e.startUs)
        },
      ),
      { numRuns: 300 },
    )
  })

  it('mutated conversations never throw; pending and buffers stay bounded', () => {
    const conv: { dir: 'c2s' | 's2c'; data: Buffer; tsUs: number }[] = [
      { dir: 'c2s', data: Buffer.concat([opQuery(1, 'admin.$cmd', { isMaster: 1 }), cmd(2, 'db', { find: 'c' }), cmd(3, 'db', { insert: 'c' }, MORE_TO_COME)]), tsUs: 1 },
      { dir: 's2c', data: Buffer.concat([opReply([{ ok: 1 }], { requestId: 9, responseTo: 1 }), reply(10, 2, { cursor: { firstBatch: [{ a: 'q'.repeat(200) }] }, ok: 1 }, MORE_TO_COME)]), tsUs: 2 },
      { dir: 's2c', data: reply(11, 10, { ok: 0, code: 1, writeErrors: [{ code: 2 }] }), tsUs: 3 },
      { dir: 'c2s', data: Buffer.concat([opGetMore(4, 'db.c', 7n), opCompressed(cmd(5, 'db', { ping: 1 }), 2), opKillCursors(6, [1n])]), tsUs: 4 },
    ]
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(), fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }),
        fc.integer({ min: 1, max: 40 }),
        (mutations, split) => {
          const steps = conv.map((x) => ({ ...x, data: Buffer.from(x.data) }))
          for (const [si, off, byte] of mutations) {
            const st = steps[si % steps.length]
            st.data[off % st.data.length] = byte
          }
          const h = mongoParser.create({ emit: () => {}, limits: limitsWith(limits), count: () => {}, unmatchedResponse: () => {} })
          for (const st of steps) for (let i = 0; i < st.data.length; i += split) h.data(st.dir, st.data.subarray(i, i + split), st.tsUs, -1)
          const x = h as unknown as { pending: Map<number, unknown>; exhaust: Set<number>; c2s: { win: Buffer; hunt: Buffer }; s2c: { win: Buffer; hunt: Buffer } }
          expect(x.pending.size).toBeLessThanOrEqual(limits.maxPendingRequests)
          expect(x.exhaust.size).toBeLessThanOrEqual(64)
          for (const d of [x.c2s, x.s2c]) {
            // 68 KiB, or what a compressed message in flight brought (gathered whole up to 4 MiB)
            expect(d.win.length).toBeLessThanOrEqual(Math.max(68 * 1024, 2 * steps.reduce((n, st) => n + st.data.length, 0)))
            expect(d.hunt.length).toBeLessThanOrEqual(64 * 1024)
          }
          h.end('fin', 10)
        },
      ),
      { numRuns: 300 },
    )
  })
})
