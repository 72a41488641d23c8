// Property tests (undici test/fuzzing/ style): random bytes and mutated conversations never make the
// parser throw and never grow its state past the limits; well-formed random conversations give the same
// exchanges however the bytes are cut.

import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { DEFAULT_LIMITS, type Limits } from '../../config.js'
import type { Dir } from '../../tcp/types.js'
import { runParser, type Step } from '../../../test/helpers/protocols.js'
import type { ParsedExchange, ParserContext } from '../types.js'
import { Cap } from './constants.js'
import { MysqlStream, mysqlParser } from './parser.js'
import { b, CLIENT_CAPS, resultSet, Script, SERVER_CAPS } from '../../../test/helpers/buffers/mysql.js'

const LIMITS: Limits = { ...DEFAULT_LIMITS, maxPendingRequests: 8, maxStatements: 4, maxFrameBytes: 4096, maxTextBytes: 64 }

/** Feeds steps, cutting each data step at the given points; checks the bounds after every call. */
function drive(steps: Step[], cuts: number[]): ParsedExchange[] {
  const out: ParsedExchange[] = []
  const ctx: ParserContext = { emit: (e) => out.push(e), limits: LIMITS, count: () => {}, unmatchedResponse: () => {} }
  const h = mysqlParser.create(ctx) as MysqlStream
  let ci = 0
  for (const s of steps) {
    if ('end' in s) h.end(s.end, s.tsUs)
    else if ('gap' in s) h.gap(s.dir, s.gap, s.tsUs)
    else {
      const data = s.data as Buffer
      let at = 0
      while (at < data.length) {
        const n = Math.max(1, cuts.length ? cuts[ci++ % cuts.length] : data.length)
        const piece = Buffer.from(data.subarray(at, at + n))
        h.data(s.dir, piece, s.tsUs, -1)
        piece.fill(0x5a)
        at += n
        const held = h.held()
        expect(held.pending).toBeLessThanOrEqual(LIMITS.maxPendingRequests)
        expect(held.statements).toBeLessThanOrEqual(LIMITS.maxStatements)
        // a frame in progress (up to maxFrameBytes) per direction, and the resync window
        expect(held.bufferedBytes).toBeLessThanOrEqual(2 * LIMITS.maxFrameBytes)
        expect(held.huntBytes).toBeLessThanOrEqual(2 * 8 * 1024)
      }
    }
  }
  h.end('fin', 0)
  for (const e of out) {
    expect(typeof e.method).toBe('string')
    expect(e.method.length).toBeGreaterThan(0)
    expect(e.method.length).toBeLessThanOrEqual(40)
    expect(e.status === null || typeof e.status === 'string').toBe(true)
    if (e.resource !== undefined) expect(e.resource.length).toBeLessThanOrEqual(LIMITS.maxTextBytes)
    expect(e.reqBytes).toBeGreaterThanOrEqual(0)
    expect(e.respBytes).toBeGreaterThanOrEqual(0)
  }
  return out
}

// ---- random well-formed conversations

type Op =
  | { k: 'query'; sql: string; rows: number; deprecate: boolean; err: boolean }
  | { k: 'ping' }
  | { k: 'initdb'; db: string }
  | { k: 'prepare'; id: number; params: number; cols: number }
  | { k: 'execute'; id: number; rows: number }
  | { k: 'close'; id: number }
  | { k: 'multi'; sets: number }

const sqlArb = fc.constantFrom(
  'SELECT * FROM t WHERE id = 1',
  "INSERT INTO t VALUES (1, 'a'), (2, 'b')",
  "UPDATE users SET name = 'x' WHERE id IN (1, 2, 3)",
  'DELETE FROM t',
  'SHOW TABLES',
  'BEGIN',
  'COMMIT',
)

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ k: fc.constant('query' as const), sql: sqlArb, rows: fc.integer({ min: 0, max: 4 }), deprecate: fc.boolean(), err: fc.boolean() }),
  fc.record({ k: fc.constant('ping' as const) }),
  fc.record({ k: fc.constant('initdb' as const), db: fc.constantFrom('shop', 'test', 'x') }),
  fc.record({ k: fc.constant('prepare' as const), id: fc.integer({ min: 1, max: 6 }), params: fc.integer({ min: 0, max: 3 }), cols: fc.integer({ min: 0, max: 3 }) }),
  fc.record({ k: fc.constant('execute' as const), id: fc.integer({ min: 1, max: 6 }), rows: fc.integer({ min: 0, max: 3 }) }),
  fc.record({ k: fc.constant('close' as const), id: fc.integer({ min: 1, max: 6 }) }),
  fc.record({ k: fc.constant('multi' as const), sets: fc.integer({ min: 1, max: 3 }) }),
)

/** builds the conversation; returns it and how many exchanges it must give */
function conversation(ops: Op[], deprecateEof: boolean): { steps: Step[]; want: number } {
  const caps = deprecateEof ? Cap.DEPRECATE_EOF : 0
  const s = new Script()
  s.at(0).server(b.greeting({ caps: SERVER_CAPS | caps })).client(b.handshakeResponse({ caps: CLIENT_CAPS | caps })).server(b.ok())
  let want = 1
  const d = { deprecateEof }
  for (const op of ops) {
    switch (op.k) {
      case 'query':
        s.command(b.query(op.sql))
        if (op.err) s.server(b.err(1146, "Table 'x' doesn't exist", '42S02'))
        else if (op.rows === 0) s.server(b.ok({ affected: 1 }))
        else s.server(...resultSet(['a', 'b'], Array.from({ length: op.rows }, (_, i) => [String(i), 'v']), d))
        want++
        break
      case 'ping':
        s.command(b.ping()).server(b.ok())
        want++
        break
      case 'initdb':
        s.command(b.initDb(op.db)).server(b.ok())
        want++
        break
      case 'prepare': {
        const pk = [b.prepareOk(op.id, op.cols, op.params)]
        for (let i = 0; i < op.params; i++) pk.push(b.columnDef('?'))
        if (op.params && !deprecateEof) pk.push(b.eof())
        for (let i = 0; i < op.cols; i++) pk.push(b.columnDef('c' + i))
        if (op.cols && !deprecateEof) pk.push(b.eof())
        s.command(b.stmtPrepare('SELECT c FROM t WHERE a = ?')).server(...pk)
        want++
        break
      }
      case 'execute':
        s.command(b.stmtExecute(op.id)).server(...resultSet(['c'], Array.from({ length: op.rows }, () => ['x']), { ...d, binary: true }))
        want++
        break
      case 'close':
        s.command(b.stmtClose(op.id))
        break
      case 'multi': {
        const pk: Buffer[] = []
        for (let i = 0; i < op.sets; i++) pk.push(...resultSet(['n'], [[String(i)]], { ...d, more: true }))
        pk.push(b.ok())
        s.command(b.query('CALL p()')).server(...pk)
        want++
        break
      }
    }
  }
  s.command(b.quit()).end()
  return { steps: s.steps, want }
}

const cutsArb = fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 16 })

describe('mysql fuzz', () => {
  it('random bytes in both directions, cut anywhere, with gaps: never throws, stays bounded', () => {
    const stepArb: fc.Arbitrary<Step> = fc.oneof(
      { weight: 8, arbitrary: fc.record({ dir: fc.constantFrom<Dir>('c2s', 's2c'), data: fc.uint8Array({ maxLength: 600 }).map((u) => Buffer.from(u)), tsUs: fc.nat() }) },
      { weight: 1, arbitrary: fc.record({ dir: fc.constantFrom<Dir>('c2s', 's2c'), gap: fc.integer({ min: -1, max: 5000 }), tsUs: fc.nat() }) },
    )
    fc.assert(fc.property(fc.array(stepArb, { maxLength: 30 }), cutsArb, (steps, cuts) => {
      drive(steps, cuts)
    }), { numRuns: 400 })
  })

  it('random bytes that start like MySQL packets (seq 0, known command bytes): never throws, stays bounded', () => {
    const pk = fc.record({ len: fc.integer({ min: 0, max: 300 }), seq: fc.integer({ min: 0, max: 3 }), body: fc.uint8Array({ maxLength: 300 }), first: fc.constantFrom(0, 1, 3, 0x0e, 0x16, 0x17, 0x19, 0xfe, 0xff, 0xfb, 10) })
      .map(({ len, seq, body, first }) => Buffer.concat([Buffer.from([len & 0xff, len >> 8, 0, seq, first]), Buffer.from(body)]))
    const stepArb = fc.record({ dir: fc.constantFrom<Dir>('c2s', 's2c'), data: fc.array(pk, { maxLength: 6 }).map((a) => Buffer.concat(a)), tsUs: fc.nat() })
    fc.assert(fc.property(fc.array(stepArb, { maxLength: 40 }), cutsArb, (steps, cuts) => {
      drive(steps, cuts)
    }), { numRuns: 400 })
  })

  it('mutated real conversations (bytes flipped, cut out, inserted, whole steps dropped): never throws, stays bounded', () => {
    const mutation = fc.record({
      step: fc.nat(),
      at: fc.nat(),
      kind: fc.constantFrom('flip', 'delete', 'insert', 'drop'),
      len: fc.integer({ min: 1, max: 40 }),
      byte: fc.integer({ min: 0, max: 255 }),
    })
    fc.assert(fc.property(fc.array(opArb, { maxLength: 12 }), fc.boolean(), fc.array(mutation, { minLength: 1, maxLength: 6 }), cutsArb, (ops, dep, muts, cuts) => {
      const steps = conversation(ops, dep).steps.map((s) => ('data' in s ? { ...s, data: Buffer.from(s.data as Buffer) } : s))
      for (const m of muts) {
        const i = m.step % steps.length
        const s = steps[i]
        if (!('data' in s)) continue
        const d = s.data as Buffer
        const at = d.length ? m.at % d.length : 0
        if (m.kind === 'flip' && d.length) d[at] ^= m.byte || 1
        else if (m.kind === 'delete') s.data = Buffer.concat([d.subarray(0, at), d.subarray(at + m.len)])
        else if (m.kind === 'insert') s.data = Buffer.concat([d.subarray(0, at), Buffer.alloc(m.len, m.byte), d.subarray(at)])
        else if (m.kind === 'drop') steps.splice(i, 1, { dir: s.dir, gap: d.length, tsUs: s.tsUs })
      }
      drive(steps, cuts)
    }), { numRuns: 500 })
  })

  it('well-formed random conversations: one exchange per answered command, the same however the bytes are cut', () => {
    fc.assert(fc.property(fc.array(opArb, { maxLength: 15 }), fc.boolean(), cutsArb, (ops, dep, cuts) => {
      const { steps, want } = conversation(ops, dep)
      const whole = runParser(mysqlParser, steps, 'whole', LIMITS)
      expect(whole.exchanges).toHaveLength(want)
      expect(whole.unmatchedResponses).toBe(0)
      expect(whole.exchanges.every((e) => e.status !== null)).toBe(true)
      const cut = drive(steps, cuts).map((e) => structuredClone(e))
      expect(cut).toEqual(whole.exchanges)
    }), { numRuns: 300 })
  })
})
