import fc from 'fast-check'
import { randomSteps } from '../../../test/helpers/fuzz.js'
import { describe, expect, it } from 'vitest'
import { limitsWith, type Limits } from '../../config.js'
import { allSplits, runParser, type RunResult, type Step } from '../../../test/helpers/protocols.js'
import type { ParsedExchange } from '../types.js'
import { detectPostgres } from './detect.js'
import { postgresParser } from './parser.js'
import { normalizeSql, sqlVerb } from './sql.js'
import * as pg from '../../../test/helpers/buffers/postgres.js'
import { checkSplits } from '../../../test/helpers/splits.js'

const c = (data: Buffer, tsUs: number): Step => ({ dir: 'c2s', data, tsUs })
const s = (data: Buffer, tsUs: number): Step => ({ dir: 's2c', data, tsUs })
const { cat } = pg

/** runs the steps whole, at every split and byte by byte: all must give the same exchanges */
function runAll(steps: Step[], limits: Partial<Limits> = {}): RunResult {
  return checkSplits(postgresParser, steps, limits, ['exchanges', 'unmatchedResponses'])
}

const brief = (e: ParsedExchange) => [e.method, e.status, e.error]
const connect = (t0 = 1): Step[] => [c(pg.startup({ user: 'app', database: 'shop' }), t0), s(pg.startupOk(), t0 + 1)]

describe('postgres: simple query', () => {
  it('one exchange per Query, normalized text, bytes and timing; startup is no exchange', () => {
    const q = pg.query("SELECT name FROM users WHERE id = 42 AND email = 'a@b.c'")
    const rep = cat(pg.selectResult(['name'], [['alice']]), pg.readyForQuery())
    const r = runAll([...connect(), c(q, 10), s(rep, 15), c(pg.terminate(), 20)])
    expect(r.exchanges).toEqual([
      {
        method: 'SELECT',
        resource: 'SELECT name FROM users WHERE id = ? AND email = ?',
        status: 'OK',
        error: false,
        startUs: 10,
        endUs: 15,
        reqBytes: q.length,
        respBytes: rep.length,
        attrs: { db: 'shop' },
      },
    ])
    expect(r.unmatchedResponses).toBe(0)
  })

  it('an error carries its SQLSTATE; a NOTICE is part of the response, not one', () => {
    const r = runAll([
      ...connect(),
      c(pg.query('DROP TABLE IF EXISTS t'), 10),
      s(cat(pg.notice('00000', 'table "t" does not exist, skipping'), pg.commandComplete('DROP TABLE'), pg.readyForQuery()), 11),
      c(pg.query('INSERT INTO missing VALUES (1)'), 12),
      s(cat(pg.errorResponse('42P01', 'relation "missing" does not exist'), pg.readyForQuery()), 13),
    ])
    expect(r.exchanges.map(brief)).toEqual([
      ['DROP', 'OK', false],
      ['INSERT', '42P01', true],
    ])
    expect(r.unmatchedResponses).toBe(0)
  })

  it('a multi-statement Query is one exchange: first verb, whole text, first error', () => {
    const r = runAll([
      ...connect(),
      c(pg.query("BEGIN; UPDATE acct SET bal = bal - 10 WHERE id = 1; SELECT 1/0; COMMIT"), 10),
      s(cat(pg.commandComplete('BEGIN'), pg.commandComplete('UPDATE 1'), pg.errorResponse('22012', 'division by zero'), pg.readyForQuery('E')), 11),
    ])
    expect(r.exchanges).toHaveLength(1)
    expect(r.exchanges[0]).toMatchObject({
      method: 'BEGIN',
      resource: 'BEGIN; UPDATE acct SET bal = bal - ? WHERE id = ?; SELECT ?/?; COMMIT',
      status: '22012',
      error: true,
    })
  })

  it('an empty query is EMPTY; a notification between queries is not a response', () => {
    const r = runAll([
      ...connect(),
      c(pg.query('LISTEN jobs'), 10),
      s(cat(pg.commandComplete('LISTEN'), pg.readyForQuery()), 11),
      s(pg.notification(99, 'jobs', 'job 7 done'), 12),
      c(pg.query(''), 13),
      s(cat(pg.emptyQuery(), pg.readyForQuery()), 14),
    ])
    expect(r.exchanges.map(brief)).toEqual([
      ['LISTEN', 'OK', false],
      ['EMPTY', 'OK', false],
    ])
    expect(r.unmatchedResponses).toBe(0)
  })
})

describe('postgres: startup, encryption, auth, cancel', () => {
  it('SSLRequest refused, then password auth: the password is never kept', () => {
    const r = runAll([
      c(pg.sslRequest(), 1),
      s(pg.sslAnswer('N'), 2),
      c(pg.startup({ user: 'bob', database: 'db1' }), 3),
      s(pg.authMd5(), 4),
      c(pg.password('md5c0ffeeSecretHash'), 5),
      s(pg.startupOk(), 6),
      c(pg.query('SELECT 1'), 7),
      s(cat(pg.selectResult(['?column?'], [['1']]), pg.readyForQuery()), 8),
    ])
    expect(r.exchanges.map(brief)).toEqual([['SELECT', 'OK', false]])
    expect(JSON.stringify(r)).not.toContain('SecretHash')
  })

  it('SCRAM auth messages are skipped, their content never kept', () => {
    const r = runAll([
      c(pg.startup({ user: 'u', database: 'd' }), 1),
      s(pg.authSasl(['SCRAM-SHA-256']), 2),
      c(pg.saslInitialResponse('SCRAM-SHA-256', 'n,,n=u,r=clientNonceSECRET'), 3),
      s(pg.authSaslContinue('r=clientNonceSECRETserver,s=salt,i=4096'), 4),
      c(pg.password('c=biws,r=...,p=proofSECRET'), 5),
      s(cat(pg.authSaslFinal('v=sig'), pg.startupOk()), 6),
      c(pg.query('SHOW server_version'), 7),
      s(cat(pg.selectResult(['server_version'], [['15.5']]), pg.readyForQuery()), 8),
    ])
    expect(r.exchanges.map(brief)).toEqual([['SHOW', 'OK', false]])
    expect(JSON.stringify(r)).not.toContain('SECRET')
  })

  it('SSLRequest answered S: nothing more is parsed, tls is counted', () => {
    const tlsJunk = Buffer.from([0x16, 0x03, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5])
    const r = runAll([c(pg.sslRequest(), 1), s(pg.sslAnswer('S'), 2), c(tlsJunk, 3), s(tlsJunk, 4), c(pg.query('SELECT 1'), 5)])
    expect(r.exchanges).toEqual([])
    expect(r.counts.tls).toBe(1)
    expect(r.unmatchedResponses).toBe(0)
  })

  it('GSSENCRequest refused, then SSLRequest refused, then startup', () => {
    const r = runAll([
      c(pg.gssencRequest(), 1),
      s(pg.sslAnswer('N'), 2),
      c(pg.sslRequest(), 3),
      s(pg.sslAnswer('N'), 4),
      ...connect(5),
      c(pg.query('SELECT 1'), 10),
      s(cat(pg.selectResult(['x'], [['1']]), pg.readyForQuery()), 11),
    ])
    expect(r.exchanges.map(brief)).toEqual([['SELECT', 'OK', false]])
  })

  it('a CancelRequest is not an exchange; the cancelled query gets 57014', () => {
    const cancel = runAll([c(pg.cancelRequest(1234, 5678), 1), c(pg.query('SELECT 1'), 2), { end: 'fin', tsUs: 3 }])
    expect(cancel.exchanges).toEqual([])
    expect(cancel.counts).toEqual({})
    const victim = runAll([
      ...connect(),
      c(pg.query('SELECT pg_sleep(10)'), 10),
      s(cat(pg.rowDescription(['pg_sleep']), pg.errorResponse('57014', 'canceling statement due to user request'), pg.readyForQuery()), 20),
    ])
    expect(victim.exchanges.map(brief)).toEqual([['SELECT', '57014', true]])
  })

  it('a failed login is not an exchange', () => {
    const r = runAll([c(pg.startup({ user: 'x', database: 'y' }), 1), s(pg.errorResponse('28P01', 'password authentication failed', 'FATAL'), 2)])
    expect(r.exchanges).toEqual([])
    expect(r.counts.startup_error).toBe(1)
  })
})

describe('postgres: extended protocol', () => {
  it('Parse/Bind/Describe/Execute/Sync is one exchange from Parse to ReadyForQuery', () => {
    const req = pg.extended('SELECT * FROM items WHERE id = $1', ['7'])
    const rep = cat(pg.parseComplete(), pg.bindComplete(), pg.rowDescription(['id']), pg.dataRow(['7']), pg.commandComplete('SELECT 1'), pg.readyForQuery())
    const r = runAll([...connect(), c(req, 10), s(rep, 12)])
    expect(r.exchanges).toEqual([
      {
        method: 'SELECT',
        resource: 'SELECT * FROM items WHERE id = $1',
        status: 'OK',
        error: false,
        startUs: 10,
        endUs: 12,
        reqBytes: req.length,
        respBytes: rep.length,
        attrs: { db: 'shop' },
      },
    ])
  })

  it('named statements are remembered; Bind+Execute alone reuses the text', () => {
    const r = runAll([
      ...connect(),
      c(cat(pg.parse('S_1', 'UPDATE t SET v = $1 WHERE k = $2'), pg.describe('S', 'S_1'), pg.sync()), 10),
      s(cat(pg.parseComplete(), pg.parameterDescription([25, 25]), pg.noData(), pg.readyForQuery()), 11),
      c(cat(pg.bind('', 'S_1', ['a', 'b']), pg.execute(), pg.sync()), 12),
      s(cat(pg.bindComplete(), pg.commandComplete('UPDATE 1'), pg.readyForQuery()), 13),
      c(cat(pg.bind('', 'S_1', ['c', 'd']), pg.execute(), pg.sync()), 14),
      s(cat(pg.bindComplete(), pg.commandComplete('UPDATE 0'), pg.readyForQuery()), 15),
      c(cat(pg.close('S', 'S_1'), pg.sync()), 16),
      s(cat(pg.closeComplete(), pg.readyForQuery()), 17),
    ])
    expect(r.exchanges.map((e) => [e.method, e.resource, e.status, e.startUs, e.endUs])).toEqual([
      ['UPDATE', 'UPDATE t SET v = $1 WHERE k = $2', 'OK', 12, 13],
      ['UPDATE', 'UPDATE t SET v = $1 WHERE k = $2', 'OK', 14, 15],
    ])
    expect(r.unmatchedResponses).toBe(0)
  })

  it('pipelined Executes before one Sync are one exchange each; after an error the rest are skipped', () => {
    const req = cat(
      pg.parse('', 'INSERT INTO a VALUES ($1)'), pg.bind('', '', ['1']), pg.execute(),
      pg.parse('', 'INSERT INTO b VALUES ($1)'), pg.bind('', '', ['x']), pg.execute(),
      pg.parse('', 'INSERT INTO c VALUES ($1)'), pg.bind('', '', ['3']), pg.execute(),
      pg.sync(),
    )
    const rep = cat(
      pg.parseComplete(), pg.bindComplete(), pg.commandComplete('INSERT 0 1'),
      pg.parseComplete(), pg.bindComplete(), pg.errorResponse('22P02', 'invalid input syntax for type integer'),
      pg.readyForQuery(),
    )
    const r = runAll([...connect(), c(req, 10), s(rep, 11), c(pg.query('SELECT 1'), 12), s(cat(pg.selectResult(['x'], [['1']]), pg.readyForQuery()), 13)])
    expect(r.exchanges.map((e) => [e.method, e.resource, e.status])).toEqual([
      ['INSERT', 'INSERT INTO a VALUES ($1)', 'OK'],
      ['INSERT', 'INSERT INTO b VALUES ($1)', '22P02'],
      ['SELECT', 'SELECT ?', 'OK'],
    ])
  })

  it('a Parse error in a batch with Execute fails that Execute', () => {
    const r = runAll([
      ...connect(),
      c(pg.extended('SELEC oops'), 10),
      s(cat(pg.errorResponse('42601', 'syntax error at or near "SELEC"'), pg.readyForQuery()), 11),
    ])
    expect(r.exchanges.map(brief)).toEqual([['unknown', '42601', true]])
    expect(r.exchanges[0].resource).toBe('SELEC oops')
  })

  it('a failed prepare (Parse/Describe/Sync, no Execute) is its own error exchange', () => {
    const r = runAll([
      ...connect(),
      c(cat(pg.parse('S_9', 'SELECT * FROM nope'), pg.describe('S', 'S_9'), pg.sync()), 10),
      s(cat(pg.errorResponse('42P01'), pg.readyForQuery()), 11),
    ])
    expect(r.exchanges.map((e) => [e.method, e.status, e.attrs?.phase])).toEqual([['SELECT', '42P01', 'prepare']])
  })

  it('PortalSuspended ends an Execute with a row limit; the next Execute continues the portal', () => {
    const r = runAll([
      ...connect(),
      c(cat(pg.parse('', 'SELECT n FROM big'), pg.bind('cur', ''), pg.execute('cur', 2), pg.flush()), 10),
      s(cat(pg.parseComplete(), pg.bindComplete(), pg.dataRow(['1']), pg.dataRow(['2']), pg.portalSuspended()), 11),
      c(cat(pg.execute('cur', 2), pg.sync()), 12),
      s(cat(pg.dataRow(['3']), pg.commandComplete('SELECT 1'), pg.readyForQuery('T')), 13),
    ])
    expect(r.exchanges.map((e) => [e.method, e.status, e.endUs])).toEqual([
      ['SELECT', 'OK', 11],
      ['SELECT', 'OK', 13],
    ])
  })

  it('statement cache is capped; an evicted statement falls back to the CommandComplete verb', () => {
    const steps: Step[] = [...connect()]
    let t = 10
    for (const name of ['a', 'b', 'c']) {
      steps.push(c(cat(pg.parse(name, `DELETE FROM t_${name} WHERE x = $1`), pg.sync()), t++))
      steps.push(s(cat(pg.parseComplete(), pg.readyForQuery()), t++))
    }
    steps.push(c(cat(pg.bind('', 'a', ['1']), pg.execute(), pg.sync()), t++))
    steps.push(s(cat(pg.bindComplete(), pg.commandComplete('DELETE 3'), pg.readyForQuery()), t++))
    steps.push(c(cat(pg.bind('', 'c', ['1']), pg.execute(), pg.sync()), t++))
    steps.push(s(cat(pg.bindComplete(), pg.commandComplete('DELETE 0'), pg.readyForQuery()), t++))
    const r = runAll(steps, { maxStatements: 2 })
    expect(r.counts.statements_evicted).toBe(1)
    expect(r.exchanges.map((e) => [e.method, e.resource])).toEqual([
      ['DELETE', undefined],
      ['DELETE', 'DELETE FROM t_c WHERE x = $1'],
    ])
  })
})

describe('postgres: COPY', () => {
  it('COPY FROM STDIN: the data belongs to the Query', () => {
    const data = cat(pg.copyData('1\tone\n'), pg.copyData('2\ttwo\n'), pg.copyDone())
    const q = pg.query('COPY t (id, name) FROM STDIN')
    const r = runAll([
      ...connect(),
      c(q, 10),
      s(pg.copyInResponse(2), 11),
      c(data, 12),
      s(cat(pg.commandComplete('COPY 2'), pg.readyForQuery()), 13),
    ])
    expect(r.exchanges).toHaveLength(1)
    expect(r.exchanges[0]).toMatchObject({ method: 'COPY', status: 'OK', startUs: 10, endUs: 13, reqBytes: q.length + data.length })
  })

  it('COPY TO STDOUT and a CopyFail', () => {
    const r = runAll([
      ...connect(),
      c(pg.query('COPY t TO STDOUT'), 10),
      s(cat(pg.copyOutResponse(2), pg.copyData('1\tone\n'), pg.copyData('2\ttwo\n'), pg.copyDone(), pg.commandComplete('COPY 2'), pg.readyForQuery()), 11),
      c(pg.query('COPY t FROM STDIN'), 12),
      s(pg.copyInResponse(2), 13),
      c(pg.copyFail('client gave up'), 14),
      s(cat(pg.errorResponse('57014', 'COPY from stdin failed: client gave up'), pg.readyForQuery()), 15),
    ])
    expect(r.exchanges.map(brief)).toEqual([
      ['COPY', 'OK', false],
      ['COPY', '57014', true],
    ])
  })
})

describe('postgres: replication', () => {
  it('START_REPLICATION streams CopyBoth until the end: one answered exchange', () => {
    const r = runAll([
      ...connect(),
      c(pg.query('IDENTIFY_SYSTEM'), 10),
      s(cat(pg.selectResult(['systemid', 'timeline', 'xlogpos', 'dbname'], [['7', '1', '0/16B3748', null]]), pg.readyForQuery()), 11),
      c(pg.query('START_REPLICATION SLOT s1 LOGICAL 0/0'), 12),
      s(cat(pg.copyBothResponse(), pg.copyData('w-wal-1')), 13),
      c(pg.copyData('r-status'), 14),
      s(pg.copyData('w-wal-2'), 15),
      { end: 'fin', tsUs: 20 },
    ])
    expect(r.exchanges.map((e) => [e.method, e.status, e.error, e.endUs])).toEqual([
      ['IDENTIFY_SYSTEM', 'OK', false, 11],
      ['START_REPLICATION', 'OK', false, 20],
    ])
  })
})

describe('postgres: gaps and mid-stream starts', () => {
  it('joins mid-stream: finds a clean start on both sides, counts what has no request', () => {
    const oldRows = cat(pg.dataRow(['x'.repeat(300)]), pg.dataRow(['y']), pg.commandComplete('SELECT 2'), pg.readyForQuery())
    const r = runAll([
      { dir: 'c2s', gap: -1, tsUs: 0 },
      { dir: 's2c', gap: -1, tsUs: 0 },
      s(oldRows.subarray(100), 1), // tail of a result whose query was not captured
      c(cat(pg.bind('', 'S_3', ['5']), pg.execute(), pg.sync()), 2), // a statement parsed before the capture
      s(cat(pg.bindComplete(), pg.dataRow(['5']), pg.commandComplete('SELECT 1'), pg.readyForQuery()), 3),
      c(pg.query('SELECT now()'), 4),
      s(cat(pg.selectResult(['now'], [['2024']]), pg.readyForQuery()), 5),
    ])
    expect(r.exchanges.map((e) => [e.method, e.resource, e.status, e.startUs])).toEqual([
      ['SELECT', undefined, 'OK', 2],
      ['SELECT', 'SELECT now()', 'OK', 4],
    ])
    expect(r.unmatchedResponses).toBe(1)
  })

  it('a capture without startup and without gap notice reads typed messages', () => {
    const r = runAll([c(pg.query('SELECT 1'), 1), s(cat(pg.errorResponse('42601'), pg.readyForQuery()), 2)])
    expect(r.exchanges.map(brief)).toEqual([['SELECT', '42601', true]])
  })

  it('a lost response segment reports what waits with status unknown (its answer may be in the gap), then resyncs', () => {
    const rows = pg.selectResult(['v'], Array.from({ length: 50 }, (_, i) => ['row' + i]))
    const r = runParser(postgresParser, [
      ...connect(),
      c(pg.query('SELECT v FROM t'), 10),
      s(rows.subarray(0, 200), 11),
      { dir: 's2c', gap: 300, tsUs: 12 },
      s(cat(rows.subarray(500), pg.readyForQuery()), 13),
      c(pg.query('SELECT 2'), 14),
      s(cat(pg.selectResult(['x'], [['2']]), pg.readyForQuery()), 15),
    ])
    expect(r.exchanges.map(brief)).toEqual([
      ['SELECT', 'unknown', null],
      ['SELECT', 'OK', false],
    ])
    expect(r.counts.gap_flushed).toBe(1)
  })

  it('a DataRow larger than maxFrameBytes is skipped over, the exchange still completes', () => {
    const big = pg.dataRow(['z'.repeat(5000)])
    const r = runAll([...connect(), c(pg.query('SELECT blob FROM t'), 10), s(cat(pg.rowDescription(['blob']), big, pg.commandComplete('SELECT 1'), pg.readyForQuery()), 11)], {
      maxFrameBytes: 1024,
    })
    expect(r.exchanges.map(brief)).toEqual([['SELECT', 'OK', false]])
    expect(r.exchanges[0].respBytes).toBe(pg.rowDescription(['blob']).length + big.length + 14 + 6)
  })

  it('pending requests are capped', () => {
    const qs = Array.from({ length: 20 }, (_, i) => pg.query('SELECT ' + i))
    const r = runParser(postgresParser, [...connect(), c(cat(...qs), 10)], 'whole', { maxPendingRequests: 8 })
    expect(r.counts.pending_evicted).toBe(12)
    expect(r.exchanges).toHaveLength(20)
    expect(r.exchanges.every((e) => e.status === null && e.error)).toBe(true)
  })
})

describe('postgres: SQL text', () => {
  it('normalizes literals, comments and whitespace, keeps identifiers and parameters', () => {
    expect(normalizeSql("select  *\n from t1 where a = 'it''s' and b=12.5e3 -- trailing\n and c = $2", 512)).toBe(
      'select * from t1 where a = ? and b=? and c = $2',
    )
    expect(normalizeSql("/* a /* nested */ comment */ INSERT INTO x VALUES (E'a\\'b', X'1F', 0x1F, -7, $tag$ body $ $tag$)", 512)).toBe(
      'INSERT INTO x VALUES (?, ?, ?, -?, ?)',
    )
    expect(normalizeSql('SELECT "Weird ""Name""" , col2 FROM "T 1"', 512)).toBe('SELECT "Weird ""Name""" , col2 FROM "T 1"')
    expect(normalizeSql('SELECT 1', 512)).toBe('SELECT ?')
  })

  it('cuts long text to maxTextBytes with …, with bounded work', () => {
    const long = 'SELECT ' + Array.from({ length: 10_000 }, (_, i) => 'col' + i).join(', ') + ' FROM t'
    const out = normalizeSql(long, 64)
    expect(out).toHaveLength(64)
    expect(out.endsWith('…')).toBe(true)
    const lit = "INSERT INTO t VALUES ('" + 'x'.repeat(1_000_000) + "')"
    expect(normalizeSql(lit, 512)).toBe('INSERT INTO t VALUES (?…')
  })

  it('verb: the command keyword, the main verb of WITH, unknown otherwise', () => {
    expect(sqlVerb('select ?')).toBe('SELECT')
    expect(sqlVerb('(SELECT ?) UNION (SELECT ?)')).toBe('SELECT')
    expect(sqlVerb('WITH x AS (SELECT ? FROM t) DELETE FROM u USING x')).toBe('DELETE')
    expect(sqlVerb('WITH RECURSIVE r(n) AS (VALUES (?) UNION ALL SELECT n+? FROM r) SELECT * FROM r')).toBe('SELECT')
    expect(sqlVerb('frobnicate everything')).toBe('unknown')
    expect(sqlVerb('')).toBe('EMPTY')
  })
})

describe('postgres: detect', () => {
  it('accepts startup packets and confirmed mid-stream messages', () => {
    expect(detectPostgres(pg.startup({ user: 'a', database: 'b' }), 'c2s')).toBe(true)
    expect(detectPostgres(pg.sslRequest(), 'c2s')).toBe(true)
    expect(detectPostgres(pg.gssencRequest(), 'c2s')).toBe(true)
    expect(detectPostgres(pg.cancelRequest(1, 2), 'c2s')).toBe(true)
    expect(detectPostgres(pg.query('SELECT 1'), 'c2s')).toBe(true)
    expect(detectPostgres(cat(pg.bind('', 'S_1'), pg.execute(), pg.sync()), 'c2s')).toBe(true)
    expect(detectPostgres(cat(pg.authOk(), pg.parameterStatus('a', 'b')), 's2c')).toBe(true)
    expect(detectPostgres(cat(pg.commandComplete('SELECT 1'), pg.readyForQuery()), 's2c')).toBe(true)
  })
  it('rejects other protocols', () => {
    // MySQL server greeting: 3-byte length, sequence 0, protocol 10, "5.7.1"
    expect(detectPostgres(Buffer.from([0x4a, 0, 0, 0, 0x0a, 0x35, 0x2e, 0x37, 0x2e, 0x31, 0]), 's2c')).toBe(false)
    // MySQL handshake response from the client
    expect(detectPostgres(Buffer.from([0x55, 0, 0, 1, 0x85, 0xa6, 0xff, 0x01, 0, 0, 0, 1, 0x21]), 'c2s')).toBe(false)
    expect(detectPostgres(Buffer.from('GET / HTTP/1.1\r\n\r\n'), 'c2s')).toBe(false)
    expect(detectPostgres(Buffer.from('*1\r\n$4\r\nPING\r\n'), 'c2s')).toBe(false)
    expect(detectPostgres(Buffer.from('+OK\r\n'), 's2c')).toBe(false)
    expect(detectPostgres(Buffer.from([0x16, 3, 1, 0, 0xa5, 1, 0, 0, 0xa1, 3, 3]), 'c2s')).toBe(false)
  })
})

describe('postgres: fuzz', () => {
  const limits = limitsWith({ maxPendingRequests: 32, maxStatements: 8, maxFrameBytes: 4096 })

  it('random bytes at random splits never throw', () => {
    fc.assert(
      fc.property(
        randomSteps(200),
        fc.boolean(),
        fc.integer({ min: 1, max: 50 }),
        (steps, midStream, split) => {
          if (midStream) steps.unshift({ dir: 'c2s', gap: -1, tsUs: 0 }, { dir: 's2c', gap: -1, tsUs: 0 })
          const r = runParser(postgresParser, steps, split, limits)
          for (const e of r.exchanges) expect(e.endUs).toBeGreaterThanOrEqual(e.startUs)
        },
      ),
      { numRuns: 300 },
    )
  })

  it('mutated conversations never throw; pending and caches stay bounded', () => {
    const conv: [('c2s' | 's2c'), Buffer][] = [
      ['c2s', pg.startup({ user: 'u', database: 'd' })],
      ['s2c', pg.startupOk()],
      ['c2s', cat(pg.extended('SELECT $1', ['1'], 'S1'), pg.parse('S2', 'INSERT INTO t VALUES (1)'), pg.bind('p', 'S2'), pg.execute('p'), pg.sync())],
      ['s2c', cat(pg.parseComplete(), pg.bindComplete(), pg.dataRow(['1']), pg.commandComplete('SELECT 1'), pg.readyForQuery(), pg.errorResponse('23505'), pg.readyForQuery())],
      ['c2s', cat(pg.query('COPY t FROM STDIN'), pg.copyData('abc'), pg.copyDone())],
      ['s2c', cat(pg.copyInResponse(), pg.commandComplete('COPY 1'), pg.readyForQuery(), pg.notification(1, 'c', 'p'))],
    ]
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(), fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }),
        fc.integer({ min: 1, max: 40 }),
        (mutations, split) => {
          const steps = conv.map(([dir, b]) => ({ dir, data: Buffer.from(b) }))
          for (const [si, off, byte] of mutations) {
            const st = steps[si % steps.length]
            st.data[off % st.data.length] = byte
          }
          const h = postgresParser.create({ emit: () => {}, limits, count: () => {}, unmatchedResponse: () => {} })
          steps.forEach((st, i) => {
            for (let k = 0; k < st.data.length; k += split) h.data(st.dir, st.data.subarray(k, k + split), i, -1)
          })
          const inner = h as unknown as { ops: { size: number }; statements: Map<string, unknown>; portals: Map<string, unknown> }
          expect(inner.ops.size).toBeLessThanOrEqual(limits.maxPendingRequests)
          expect(inner.statements.size).toBeLessThanOrEqual(limits.maxStatements)
          expect(inner.portals.size).toBeLessThanOrEqual(limits.maxStatements)
          h.end('fin', 100)
        },
      ),
      { numRuns: 300 },
    )
  })
})
