import { SHARED_PCAPS } from '../../../test/helpers/shared.js'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { describe, expect, it } from 'vitest'
import { replayFilesSync } from '../../pipeline/replay-sync.js'
import { Cap, Cmd } from './constants.js'
import { detectMysql } from './detect.js'
import { b, packet } from '../../../test/helpers/buffers/mysql.js'

const c2s = (buf: Buffer) => detectMysql(buf, 'c2s')
const s2c = (buf: Buffer) => detectMysql(buf, 's2c')

describe('mysql detect: accepts', () => {
  it('a v10 greeting (MySQL 5.x, 8.x, MariaDB)', () => {
    for (const version of ['5.0.54', '5.7.16-log', '8.0.36', '5.5.5-10.11.6-MariaDB-0+deb12u1', '11.4.2-MariaDB'])
      expect(s2c(packet(0, b.greeting({ version }))), version).toBe(true)
  })

  it('an ERR sent instead of the greeting', () => {
    expect(s2c(packet(0, b.err(1130, "Host '10.1.2.3' is not allowed to connect to this MySQL server", null)))).toBe(true)
    expect(s2c(packet(0, b.err(1040, 'Too many connections', null)))).toBe(true)
  })

  it('command packets of every common kind', () => {
    const cmds = [
      b.query('SELECT 1'),
      b.query('  /* app */ select * from t'),
      b.query('(SELECT 1) UNION (SELECT 2)'),
      b.queryWithAttrs('SELECT 1'),
      b.query('set autocommit=1'),
      b.initDb('shop'),
      b.ping(),
      b.quit(),
      b.statistics(),
      b.fieldList('users'),
      b.stmtPrepare('INSERT INTO t VALUES (?)'),
      b.stmtExecute(7, [1, 2]),
      b.stmtClose(7),
      b.stmtReset(7),
      b.stmtFetch(7, 100),
      b.setOption(true),
      b.resetConnection(),
      b.changeUser('other'),
    ]
    for (const c of cmds) expect(c2s(packet(0, c)), c.toString('latin1')).toBe(true)
  })

  it('a query cut by the segment, judged on its first words', () => {
    const whole = packet(0, b.query('SELECT ' + 'x, '.repeat(1000) + 'y FROM t'))
    expect(c2s(whole.subarray(0, 40))).toBe(true)
  })

  it('two commands in one segment (COM_STMT_CLOSE then COM_QUERY)', () => {
    expect(c2s(Buffer.concat([packet(0, b.stmtClose(3)), packet(0, b.query('SELECT 1'))]))).toBe(true)
  })

  it('HandshakeResponse41 and SSLRequest (seq 1)', () => {
    expect(c2s(packet(1, b.handshakeResponse({ user: 'app', db: 'shop' })))).toBe(true)
    expect(c2s(packet(1, b.sslRequest()))).toBe(true)
  })

  it('a compressed-protocol frame carrying a command', () => {
    const inner = packet(0, b.query('SELECT * FROM `process` WHERE `deleted_at` IS NULL'))
    expect(c2s(Buffer.concat([Buffer.from([inner.length, 0, 0, 0, 0, 0, 0]), inner]))).toBe(true)
  })
})

describe('mysql detect: refuses', () => {
  const ascii = (s: string) => Buffer.from(s, 'latin1')
  it.each([
    ['HTTP/1.1 request', ascii('GET / HTTP/1.1\r\nHost: x\r\n\r\n')],
    ['HTTP/1.1 response', ascii('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n')],
    ['HTTP/2 preface', ascii('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n')],
    ['Redis command', ascii('*1\r\n$4\r\nPING\r\n')],
    ['Redis inline', ascii('PING\r\n')],
    ['Redis reply', ascii('+OK\r\n')],
    ['PostgreSQL startup', Buffer.from([0, 0, 0, 8, 4, 0xd2, 0x16, 0x2f])],
    ['PostgreSQL query', Buffer.concat([ascii('Q'), Buffer.from([0, 0, 0, 13]), ascii('SELECT 1\0')])],
    ['PostgreSQL parse', Buffer.concat([ascii('P'), Buffer.from([0, 0, 0, 0x16]), ascii('\0SELECT $1\0'), Buffer.alloc(2)])],
    ['Kafka request', Buffer.from([0, 0, 0, 20, 0, 3, 0, 9, 0, 0, 0, 1, 0, 4, 0x61, 0x62, 0x63, 0x64, 0, 0, 0, 0, 0, 0])],
    ['MongoDB OP_MSG', Buffer.concat([Buffer.from([0x3a, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0xdd, 0x07, 0, 0]), Buffer.alloc(42)])],
    ['TLS ClientHello', Buffer.from([0x16, 0x03, 0x01, 0x00, 0xc8, 0x01, 0x00, 0x00, 0xc4, 0x03, 0x03])],
    ['empty', Buffer.alloc(0)],
    ['a header alone', Buffer.from([1, 0, 0, 0])],
  ])('%s', (_name, buf) => {
    expect(c2s(buf)).toBe(false)
    expect(s2c(buf)).toBe(false)
  })

  it('command-shaped packets whose fields disagree', () => {
    expect(c2s(packet(1, b.query('SELECT 1')))).toBe(false) // sequence id not 0
    expect(c2s(packet(0, b.query('hello world')))).toBe(false) // no statement verb
    expect(c2s(packet(0, b.query('SELECTED 1')))).toBe(false)
    expect(c2s(packet(0, Buffer.concat([b.ping(), Buffer.from('x')])))).toBe(false) // PING is 1 byte
    expect(c2s(packet(0, b.command(Cmd.Sleep)))).toBe(false) // server-internal command
    expect(c2s(packet(0, b.command(0x42, 'abc')))).toBe(false) // no such command
    expect(c2s(packet(0, b.initDb('bad\x01name')))).toBe(false)
    const exec = b.stmtExecute(7)
    exec[6] = 2 // iteration count must be 1
    expect(c2s(packet(0, exec))).toBe(false)
    // a whole command followed by bytes that are not a command
    expect(c2s(Buffer.concat([packet(0, b.ping()), Buffer.from('garbage!')]))).toBe(false)
  })

  it('server packets other than the greeting (a mid-stream server side is found through its commands)', () => {
    expect(s2c(packet(1, b.ok()))).toBe(false)
    expect(s2c(packet(2, b.eof()))).toBe(false)
    expect(s2c(packet(0, b.greeting()).subarray(0, 30))).toBe(false) // not whole yet
    expect(s2c(packet(0, Buffer.concat([Buffer.from([10]), Buffer.from('not a version\0'), Buffer.alloc(30)])))).toBe(false)
  })

  it('a greeting is not a command and a command is not a greeting', () => {
    expect(c2s(packet(0, b.greeting()))).toBe(false)
    expect(s2c(packet(0, b.query('SELECT 1')))).toBe(false)
    expect(c2s(packet(1, b.handshakeResponse({ caps: Cap.PROTOCOL_41 })).subarray(0, 20))).toBe(false)
  })
})

// Every other protocol's real captures, through the real pipeline with only the MySQL parser: MySQL
// claims none of them (and does claim the MySQL session that runs on PostgreSQL's port).
const SHARED = SHARED_PCAPS
const haveShared = fs.existsSync(path.join(SHARED, 'ground_truth.json'))
if (!haveShared) console.log(`skipping the MySQL-claims-nothing-else corpus test: ${SHARED} is not on this machine`)

describe.runIf(haveShared)('mysql detect over the shared corpus', () => {
  const files: string[] = []
  if (haveShared) {
    for (const dir of fs.readdirSync(SHARED, { withFileTypes: true })) {
      if (!dir.isDirectory() || dir.name === 'mysql' || dir.name === 'tools') continue
      for (const f of fs.readdirSync(path.join(SHARED, dir.name))) if (/\.(pcap|pcapng|cap)$/.test(f)) files.push(`${dir.name}/${f}`)
    }
  }
  it.each(files)('%s', (file) => {
    const r = replayFilesSync([path.join(SHARED, file)], { protocols: ['mysql'] })
    const mysql = r.exchanges.filter((e) => e.protocol === 'mysql')
    if (file === 'pgsql/zeek__mysql-on-port-5432.pcap') expect(mysql.length).toBeGreaterThan(0)
    else expect(mysql.map((e) => `${e.method} ${e.resource ?? ''}`)).toEqual([])
  })
})
