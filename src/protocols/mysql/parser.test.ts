import { describe, expect, it } from 'vitest'
import type { Limits } from '../../config.js'
import { allSplits, runParser, type RunResult, type Step } from '../../../test/helpers/protocols.js'
import { Cap, Cmd, MAX_PACKET_PAYLOAD } from './constants.js'
import { mysqlParser } from './parser.js'
import { b, CLIENT_CAPS, lenenc, packet, resultSet, Script, SERVER_CAPS } from '../../../test/helpers/buffers/mysql.js'
import { checkSplits } from '../../../test/helpers/splits.js'

/**
 * Runs the steps whole, split at every offset of every step, and 1 byte at a time: every run must
 * give the same exchanges, counts and unmatched responses. Returns the whole run.
 */
function check(steps: Step[], limits: Partial<Limits> = {}): RunResult {
  return checkSplits(mysqlParser, steps, limits)
}

/** greeting, HandshakeResponse41 and the login's OK, with optional extra capability bits on both sides */
function login(s: Script, o: { caps?: number; db?: string } = {}): Script {
  const caps = o.caps ?? 0
  return s
    .at(0)
    .server(b.greeting({ caps: SERVER_CAPS | caps }))
    .client(b.handshakeResponse({ caps: CLIENT_CAPS | caps, db: o.db, user: 'app' }))
    .server(b.ok())
}

const methods = (r: RunResult) => r.exchanges.map((e) => e.method)

describe('mysql connection phase', () => {
  it('reports the login as LOGIN with the user, never the auth data', () => {
    const s = new Script()
    s.at(0).server(b.greeting({ version: '8.0.36' }))
    s.client(b.handshakeResponse({ user: 'shop', db: 'orders', auth: Buffer.from('HUNTER2-SCRAMBLED-XX') }))
    s.server(b.ok())
    s.command(b.ping()).server(b.ok())
    const r = check(s.end().steps)
    expect(methods(r)).toEqual(['LOGIN', 'PING'])
    const [lg] = r.exchanges
    expect(lg.status).toBe('OK')
    expect(lg.error).toBe(false)
    expect(lg.attrs).toMatchObject({ user: 'shop', db: 'orders', auth_plugin: 'mysql_native_password', server_version: '8.0.36' })
    expect(lg.reqBytes).toBe(s.steps[1] && 'data' in s.steps[1] ? (s.steps[1].data as Buffer).length : -1)
    expect(lg.respBytes).toBe(4 + b.ok().length)
    expect(lg.startUs).toBe((s.steps[1] as { tsUs: number }).tsUs)
    expect(lg.endUs).toBe((s.steps[2] as { tsUs: number }).tsUs)
    expect(JSON.stringify(r)).not.toContain('HUNTER2')
  })

  it('a failed login is an error with the server code, and the connection is not parsed further', () => {
    const s = new Script()
    s.at(0).server(b.greeting()).client(b.handshakeResponse({ user: 'nope' }))
    s.server(b.err(1045, "Access denied for user 'nope'@'10.0.0.2' (using password: YES)", '28000'))
    // bytes after a failed login are not MySQL any more (the server closed): never parsed
    s.command(b.query('SELECT 1')).server(b.ok())
    const r = check(s.end().steps)
    expect(r.exchanges).toHaveLength(1)
    expect(r.exchanges[0]).toMatchObject({ method: 'LOGIN', status: '1045', error: true })
    expect(r.exchanges[0].attrs).toMatchObject({ error_name: 'ER_ACCESS_DENIED_ERROR', sqlstate: '28000' })
  })

  it('an ERR instead of the greeting (host not allowed) is a failed LOGIN without request bytes', () => {
    const s = new Script().at(0).server(b.err(1130, "Host 'x' is not allowed to connect to this MySQL server", null)).end()
    const r = check(s.steps)
    expect(r.exchanges).toEqual([
      expect.objectContaining({ method: 'LOGIN', status: '1130', error: true, reqBytes: 0, respBytes: 4 + 3 + 55 }),
    ])
    expect(r.exchanges[0].attrs!.error_message).toBe("Host 'x' is not allowed to connect to this MySQL server")
  })

  it('auth switch and more data rounds belong to the login; caching_sha2 full auth', () => {
    const s = new Script()
    s.at(0).server(b.greeting({ plugin: 'caching_sha2_password' }))
    s.client(b.handshakeResponse({ plugin: 'caching_sha2_password' }))
    s.server(b.authSwitch('caching_sha2_password'))
    s.client(Buffer.from('SCRAMBLE-FROM-CLIENT'))
    s.server(b.authMoreData(Buffer.from([0x04]))) // perform full authentication
    s.client(Buffer.from([0x02])) // request public key
    s.server(b.authMoreData('-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----\n'))
    s.client(Buffer.alloc(256, 0x41)) // RSA-encrypted password
    s.server(b.ok())
    s.command(b.query('SELECT 1')).server(...resultSet(['1'], [['1']]))
    const r = check(s.end().steps)
    expect(methods(r)).toEqual(['LOGIN', 'SELECT'])
    expect(r.exchanges[0].status).toBe('OK')
    expect(r.exchanges[0].reqBytes).toBe([1, 3, 5, 7].reduce((n, i) => n + ((s.steps[i] as { data: Buffer }).data.length), 0))
    expect(r.counts).toEqual({})
  })

  it('a login that got no answer before the connection ended is unanswered', () => {
    const s = new Script().at(0).server(b.greeting()).client(b.handshakeResponse()).end('rst')
    const r = check(s.steps)
    expect(r.exchanges).toEqual([expect.objectContaining({ method: 'LOGIN', status: null, error: true })])
  })

  it('a greeting the client never answers (a TCP health check) is not an exchange', () => {
    const r = check(new Script().at(0).server(b.greeting()).end().steps)
    expect(r.exchanges).toEqual([])
  })

  it('SSLRequest: the rest is TLS, counted and not parsed', () => {
    const s = new Script()
    s.at(0).server(b.greeting()).client(b.sslRequest())
    s.raw('c2s', Buffer.from([0x16, 0x03, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5]))
    // even bytes that look like MySQL are not parsed once TLS started
    s.command(b.query('SELECT 1')).server(b.ok())
    const r = check(s.end().steps)
    expect(r.exchanges).toEqual([])
    expect(r.counts).toEqual({ tls: 1 })
  })

  it('CLIENT_COMPRESS negotiated: the login is reported, then the compressed stream is counted, not decoded', () => {
    const s = login(new Script(), { caps: Cap.COMPRESS })
    // a compressed frame (stored, uncompressed length 0) holding COM_QUERY
    const inner = packet(0, b.query('SELECT 1'))
    const frame = Buffer.concat([Buffer.from([inner.length, 0, 0, 0, 0, 0, 0]), inner])
    s.raw('c2s', frame)
    s.raw('s2c', Buffer.concat([Buffer.from([11, 0, 0, 0, 0, 0, 0]), packet(1, b.ok())]))
    const r = check(s.end().steps)
    expect(methods(r)).toEqual(['LOGIN'])
    expect(r.counts).toEqual({ compressed: 1 })
  })

  it('COM_CHANGE_USER goes through auth like the login and forgets prepared statements', () => {
    const s = login(new Script())
    s.command(b.stmtPrepare('SELECT ?')).server(b.prepareOk(1, 1, 1), b.columnDef('?'), b.eof(), b.columnDef('?'), b.eof())
    s.command(b.changeUser('other')).server(b.authSwitch('mysql_native_password')).client(Buffer.from('0123456789abcdefghij')).server(b.ok())
    s.command(b.stmtExecute(1)).server(b.err(1243, 'Unknown prepared statement handler (1) given to mysqld_stmt_execute', 'HY000'))
    const r = check(s.end().steps)
    expect(methods(r)).toEqual(['LOGIN', 'STMT_PREPARE', 'CHANGE_USER', 'STMT_EXECUTE'])
    expect(r.exchanges[2]).toMatchObject({ status: 'OK', attrs: { user: 'other' } })
    expect(r.exchanges[3]).toMatchObject({ status: '1243', error: true, attrs: { statement_id: '1' } })
    expect(JSON.stringify(r)).not.toContain('CHANGEUSERSECRET')
  })
})

describe('mysql text protocol', () => {
  it('COM_QUERY with a result set, classic EOFs: SQL verb, normalized SQL, timing and bytes', () => {
    const s = login(new Script())
    s.command(b.query("SELECT id, name FROM users WHERE email = 'a@b.c' AND age > 30"))
    const rs = resultSet(['id', 'name'], [['1', 'ann'], ['2', null], ['3', 'cy']])
    s.server(...rs)
    const r = check(s.end().steps)
    const q = r.exchanges[1]
    expect(q).toMatchObject({
      method: 'SELECT',
      resource: 'SELECT id, name FROM users WHERE email = ? AND age > ?',
      status: 'OK',
      error: false,
      attrs: { command: 'QUERY', rows: '3' },
    })
    const req = s.steps[3] as { data: Buffer; tsUs: number }
    const resp = s.steps[4] as { data: Buffer; tsUs: number }
    expect(q.reqBytes).toBe(req.data.length)
    expect(q.respBytes).toBe(resp.data.length)
    expect(q.startUs).toBe(req.tsUs)
    expect(q.endUs).toBe(resp.tsUs)
  })

  it('result sets under CLIENT_DEPRECATE_EOF (no EOF after the columns, OK with 0xfe at the end)', () => {
    const s = login(new Script(), { caps: Cap.DEPRECATE_EOF })
    s.command(b.query('SELECT a FROM t')).server(...resultSet(['a'], [['x'], ['y']], { deprecateEof: true }))
    s.command(b.query('SELECT a FROM t WHERE 0')).server(...resultSet(['a'], [], { deprecateEof: true }))
    s.command(b.ping()).server(b.ok())
    const r = check(s.end().steps)
    expect(methods(r)).toEqual(['LOGIN', 'SELECT', 'SELECT', 'PING'])
    expect(r.exchanges.map((e) => e.attrs?.rows)).toEqual([undefined, '2', '0', undefined])
  })

  it('result set rows whose first column starts with 0xfe-looking bytes are rows, not terminators', () => {
    const s = login(new Script(), { caps: Cap.DEPRECATE_EOF })
    // a NULL first column (0xfb) and an empty string (0x00) are rows
    s.command(b.query('SELECT a, b FROM t')).server(...resultSet(['a', 'b'], [[null, 'x'], ['', 'y']], { deprecateEof: true }))
    s.command(b.ping()).server(b.ok())
    const r = check(s.end().steps)
    expect(r.exchanges[1].attrs!.rows).toBe('2')
    expect(methods(r)).toEqual(['LOGIN', 'SELECT', 'PING'])
  })

  it('OK with affected rows, and ERR with code, SQLSTATE and name', () => {
    const s = login(new Script())
    s.command(b.query("INSERT INTO t (a, b) VALUES (1, 'x'), (2, 'y')")).server(b.ok({ affected: 2, insertId: 7 }))
    s.command(b.query('SELEC 1')).server(b.err(1064, "You have an error in your SQL syntax near 'SELEC 1'", '42000'))
    s.command(b.query("INSERT INTO t VALUES (1, 'x')")).server(b.err(1062, "Duplicate entry '1' for key 'PRIMARY'", '23000'))
    const r = check(s.end().steps)
    expect(r.exchanges.slice(1)).toEqual([
      expect.objectContaining({ method: 'INSERT', resource: 'INSERT INTO t (a, b) VALUES (...), ...', status: 'OK', error: false, attrs: { command: 'QUERY', affected_rows: '2' } }),
      expect.objectContaining({ method: 'unknown', resource: 'SELEC ?', status: '1064', error: true }),
      expect.objectContaining({ method: 'INSERT', status: '1062', error: true }),
    ])
    expect(r.exchanges[2].attrs).toEqual({
      command: 'QUERY',
      error_message: "You have an error in your SQL syntax near 'SELEC 1'",
      sqlstate: '42000',
      error_name: 'ER_PARSE_ERROR',
    })
  })

  it('multi-statement and CALL: every result of one command is one exchange', () => {
    const s = login(new Script())
    s.command(b.query('SELECT 1; SELECT 2; UPDATE t SET a = 1'))
    s.server(...resultSet(['1'], [['1']], { more: true }), ...resultSet(['2'], [['2']], { more: true }), b.ok({ affected: 3 }))
    s.command(b.query('CALL p(1)')).server(...resultSet(['x'], [['1'], ['2']], { more: true }), b.ok({ status: 0x0002 }))
    // an error in the second statement ends the answer
    s.command(b.query('SELECT 1; SELEC 2')).server(...resultSet(['1'], [['1']], { more: true }), b.err(1064, 'syntax', '42000'))
    s.command(b.ping()).server(b.ok())
    const r = check(s.end().steps)
    expect(methods(r)).toEqual(['LOGIN', 'SELECT', 'CALL', 'SELECT', 'PING'])
    expect(r.exchanges[1]).toMatchObject({ status: 'OK', attrs: { rows: '2', affected_rows: '3' } })
    expect(r.exchanges[2]).toMatchObject({ status: 'OK', attrs: { rows: '2' } })
    expect(r.exchanges[3]).toMatchObject({ status: '1064', error: true })
  })

  it('multi-results under DEPRECATE_EOF', () => {
    const s = login(new Script(), { caps: Cap.DEPRECATE_EOF })
    s.command(b.query('CALL p()')).server(...resultSet(['x'], [['1']], { more: true, deprecateEof: true }), ...resultSet(['y'], [], { more: true, deprecateEof: true }), b.ok())
    s.command(b.ping()).server(b.ok())
    const r = check(s.end().steps)
    expect(methods(r)).toEqual(['LOGIN', 'CALL', 'PING'])
    expect(r.exchanges[1].attrs!.rows).toBe('1')
  })

  it('LOCAL INFILE: the file the client sends is part of the request; one exchange', () => {
    const s = login(new Script())
    s.command(b.query("LOAD DATA LOCAL INFILE '/tmp/x.csv' INTO TABLE t")).server(b.localInfile('/tmp/x.csv'))
    s.client(Buffer.from('1,a\n2,b\n'), Buffer.from('3,c\n'))
    s.client(Buffer.alloc(0)) // empty packet: end of file
    s.server(b.ok({ affected: 3 }))
    s.command(b.ping()).server(b.ok())
    const r = check(s.end().steps)
    expect(methods(r)).toEqual(['LOGIN', 'LOAD', 'PING'])
    const q = r.exchanges[1]
    expect(q).toMatchObject({ status: 'OK', attrs: { local_infile: 'true', affected_rows: '3' } })
    expect(q.reqBytes).toBe([3, 5, 6].reduce((n, i) => n + (s.steps[i] as { data: Buffer }).data.length, 0))
    expect(r.counts).toEqual({})
  })

  it('INIT_DB, PING, STATISTICS, FIELD_LIST, SET_OPTION, RESET_CONNECTION; QUIT is no exchange', () => {
    const s = login(new Script())
    s.command(b.initDb('shop')).server(b.ok())
    s.command(b.initDb('nope')).server(b.err(1049, "Unknown database 'nope'", '42000'))
    s.command(b.ping()).server(b.ok())
    s.command(b.statistics()).server(Buffer.from('Uptime: 5  Threads: 1  Questions: 9'))
    s.command(b.fieldList('users')).server(b.columnDef('id', 'users'), b.columnDef('name', 'users'), b.eof())
    s.command(b.setOption(true)).server(b.eof())
    s.command(b.resetConnection()).server(b.ok())
    s.command(b.quit())
    const r = check(s.end().steps)
    expect(r.exchanges.slice(1).map((e) => [e.method, e.resource, e.status])).toEqual([
      ['INIT_DB', 'shop', 'OK'],
      ['INIT_DB', 'nope', '1049'],
      ['PING', undefined, 'OK'],
      ['STATISTICS', undefined, 'OK'],
      ['FIELD_LIST', 'users', 'OK'],
      ['SET_OPTION', undefined, 'OK'],
      ['RESET_CONNECTION', undefined, 'OK'],
    ])
    expect(r.unmatchedResponses).toBe(0)
    expect(r.counts).toEqual({})
  })

  it('COM_QUERY with query attributes (CLIENT_QUERY_ATTRIBUTES), negotiated or inferred', () => {
    const withCaps = login(new Script(), { caps: Cap.QUERY_ATTRIBUTES })
    withCaps.command(b.queryWithAttrs('SELECT 1')).server(...resultSet(['1'], [['1']]))
    expect(check(withCaps.end().steps).exchanges[1]).toMatchObject({ method: 'SELECT', resource: 'SELECT ?' })
    // mid-stream: no handshake, the 00 01 prefix is recognized by its first byte
    const mid = new Script().gap('c2s', -1).gap('s2c', -1)
    mid.command(b.queryWithAttrs('UPDATE t SET a = 2')).server(b.ok({ affected: 1 }))
    expect(check(mid.end().steps).exchanges).toEqual([expect.objectContaining({ method: 'UPDATE', resource: 'UPDATE t SET a = ?' })])
    // with one attribute: count 1, set count 1, null bitmap, bind flag, type + name, value
    const attr = Buffer.concat([Buffer.from([1, 1, 0, 1, 0xfd, 0]), Buffer.from([5]), Buffer.from('trace'), Buffer.from([3]), Buffer.from('abc'), Buffer.from('DELETE FROM t')])
    const one = login(new Script(), { caps: Cap.QUERY_ATTRIBUTES })
    one.command(b.command(Cmd.Query, attr)).server(b.ok())
    expect(check(one.end().steps).exchanges[1]).toMatchObject({ method: 'DELETE', resource: 'DELETE FROM t' })
  })
})

describe('mysql prepared statements', () => {
  it('PREPARE / EXECUTE / RESET / CLOSE: execute reports the verb and SQL of its statement', () => {
    const s = login(new Script())
    s.command(b.stmtPrepare('SELECT name FROM users WHERE id = ? AND org = ?'))
    s.server(b.prepareOk(9, 1, 2), b.columnDef('?'), b.columnDef('?'), b.eof(), b.columnDef('name'), b.eof())
    s.command(b.stmtExecute(9, [1, 2])).server(...resultSet(['name'], [['ann'], ['bo']], { binary: true }))
    s.command(b.stmtReset(9)).server(b.ok())
    s.command(b.stmtSendLongData(9, 0, 'long value')) // no answer
    s.command(b.stmtExecute(9, [3, 4])).server(...resultSet(['name'], [], { binary: true }))
    s.command(b.stmtClose(9)) // no answer, no exchange
    s.command(b.stmtExecute(9, [1, 2])).server(b.err(1243, 'Unknown prepared statement handler', 'HY000'))
    const r = check(s.end().steps)
    expect(r.exchanges.slice(1).map((e) => [e.method, e.resource, e.status, e.attrs?.rows])).toEqual([
      ['STMT_PREPARE', 'SELECT name FROM users WHERE id = ? AND org = ?', 'OK', undefined],
      ['SELECT', 'SELECT name FROM users WHERE id = ? AND org = ?', 'OK', '2'],
      ['STMT_RESET', undefined, 'OK', undefined],
      ['SELECT', 'SELECT name FROM users WHERE id = ? AND org = ?', 'OK', '0'],
      // closed: the statement is forgotten
      ['STMT_EXECUTE', undefined, '1243', undefined],
    ])
    expect(r.exchanges[2].attrs).toMatchObject({ command: 'STMT_EXECUTE', statement_id: '9' })
  })

  it('PREPARE under DEPRECATE_EOF, and without knowing it (mid-stream): EOF or not decided by what follows', () => {
    const known = login(new Script(), { caps: Cap.DEPRECATE_EOF })
    known.command(b.stmtPrepare('INSERT INTO t VALUES (?, ?)')).server(b.prepareOk(1, 0, 2), b.columnDef('?'), b.columnDef('?'))
    known.command(b.stmtExecute(1, [1, 2])).server(b.ok({ affected: 1 }))
    expect(methods(check(known.end().steps))).toEqual(['LOGIN', 'STMT_PREPARE', 'INSERT'])

    // mid-stream, classic: the EOF after the parameters arrives with the next sequence id
    const classic = new Script().gap('c2s', -1).gap('s2c', -1)
    classic.command(b.stmtPrepare('INSERT INTO t VALUES (?, ?)')).server(b.prepareOk(1, 0, 2), b.columnDef('?'), b.columnDef('?'))
    classic.server(b.eof())
    classic.command(b.stmtExecute(1, [1, 2])).server(b.ok({ affected: 1 }))
    const c = check(classic.end().steps)
    expect(methods(c)).toEqual(['STMT_PREPARE', 'INSERT'])
    expect(c.exchanges[0].endUs).toBe((classic.steps[4] as { tsUs: number }).tsUs) // the EOF's time
    expect(c.exchanges[0].respBytes).toBe(4 + 12 + 2 * (4 + b.columnDef('?').length) + 4 + 5)

    // mid-stream, DEPRECATE_EOF: the client's next command says the answer had ended
    const dep = new Script().gap('c2s', -1).gap('s2c', -1)
    dep.command(b.stmtPrepare('INSERT INTO t VALUES (?, ?)')).server(b.prepareOk(1, 0, 2), b.columnDef('?'), b.columnDef('?'))
    dep.command(b.stmtExecute(1, [1, 2])).server(b.ok({ affected: 1 }))
    dep.command(b.stmtPrepare('SELECT ?')).server(b.prepareOk(2, 1, 1), b.columnDef('?'), b.columnDef('?'))
    dep.command(b.stmtExecute(2, [5])).server(...resultSet(['?'], [['5']], { binary: true, deprecateEof: true }))
    const d = check(dep.end().steps)
    expect(methods(d)).toEqual(['STMT_PREPARE', 'INSERT', 'STMT_PREPARE', 'SELECT'])
    expect(d.exchanges[0].endUs).toBe((dep.steps[3] as { tsUs: number }).tsUs)
    expect(d.counts).toEqual({})
  })

  it('MariaDB pipelined PREPARE + EXECUTE with statement id 0xffffffff', () => {
    const s = login(new Script())
    // both commands in one segment, before any answer
    s.raw('c2s', Buffer.concat([packet(0, b.stmtPrepare('DELETE FROM t WHERE id = ?')), packet(0, b.stmtExecute(0xffffffff, [3]))]))
    s.at(1).server(b.prepareOk(12, 0, 1), b.columnDef('?'), b.eof())
    s.at(1).server(b.ok({ affected: 1 }))
    const r = check(s.end().steps)
    expect(r.exchanges.slice(1).map((e) => [e.method, e.resource, e.attrs?.statement_id])).toEqual([
      ['STMT_PREPARE', 'DELETE FROM t WHERE id = ?', '12'],
      ['DELETE', 'DELETE FROM t WHERE id = ?', '12'],
    ])
  })

  it('pipelined PREPARE + EXECUTE seen mid-stream, before the server side is in step: both answered', () => {
    const s = new Script().gap('c2s', -1).gap('s2c', -1)
    s.raw('s2c', b.textRow(['tail of an earlier answer'])) // the server side starts inside something
    s.raw('c2s', Buffer.concat([packet(0, b.stmtPrepare('DELETE FROM t WHERE id = ?')), packet(0, b.stmtExecute(0xffffffff, [3]))]))
    s.at(1).server(b.prepareOk(12, 0, 1), b.columnDef('?'), b.eof())
    s.at(1).server(b.ok({ affected: 1 }))
    const r = check(s.end().steps)
    expect(r.exchanges.map((e) => [e.method, e.status])).toEqual([
      ['STMT_PREPARE', 'OK'],
      ['DELETE', 'OK'],
    ])
  })

  it('execute with a cursor, then COM_STMT_FETCH', () => {
    const s = login(new Script())
    s.command(b.stmtPrepare('SELECT a FROM t')).server(b.prepareOk(3, 1, 0), b.columnDef('a'), b.eof())
    // CURSOR_TYPE_READ_ONLY: column definitions and an EOF with SERVER_STATUS_CURSOR_EXISTS, no rows
    s.command(b.stmtExecute(3, [], 1)).server(b.columnCount(1), b.columnDef('a'), b.eof(0x0002 | 0x0040))
    s.command(b.stmtFetch(3, 2)).server(b.binaryRow(['x']), b.binaryRow(['y']), b.eof(0x0002 | 0x0040))
    s.command(b.stmtFetch(3, 2)).server(b.binaryRow(['z']), b.eof(0x0002 | 0x0080))
    const r = check(s.end().steps)
    expect(r.exchanges.slice(1).map((e) => [e.method, e.attrs?.rows])).toEqual([
      ['STMT_PREPARE', undefined],
      ['SELECT', '0'],
      ['STMT_FETCH', '2'],
      ['STMT_FETCH', '1'],
    ])
  })

  it('statements per connection are capped at limits.maxStatements (oldest forgotten, counted)', () => {
    const s = login(new Script())
    for (let i = 1; i <= 3; i++) s.command(b.stmtPrepare(`SELECT ${i}`)).server(b.prepareOk(i, 1, 0), b.columnDef('x'), b.eof())
    s.command(b.stmtExecute(1)).server(b.ok())
    s.command(b.stmtExecute(3)).server(b.ok())
    const r = check(s.end().steps, { maxStatements: 2 })
    expect(r.exchanges.slice(4).map((e) => [e.method, e.resource])).toEqual([
      ['STMT_EXECUTE', undefined],
      ['SELECT', 'SELECT ?'],
    ])
    expect(r.counts).toEqual({ statements_evicted: 1 })
  })
})

describe('mysql framing limits', () => {
  it('a 16 MiB query: continuation packets belong to it, the SQL is cut with …, nothing else is buffered past limits', () => {
    const sql = 'INSERT INTO blobs VALUES (' + "'" + 'x'.repeat(MAX_PACKET_PAYLOAD + 100) + "'" + ')'
    const payload = Buffer.concat([Buffer.from([Cmd.Query]), Buffer.from(sql)])
    const first = packet(0, payload.subarray(0, MAX_PACKET_PAYLOAD))
    const second = packet(1, payload.subarray(MAX_PACKET_PAYLOAD))
    const s = login(new Script())
    s.raw('c2s', Buffer.concat([first, second]))
    s.at(2).server(b.ok({ affected: 1 })) // the answer continues the sequence after both packets
    s.command(b.ping()).server(b.ok())
    const steps = s.end().steps
    for (const split of ['whole', 1000, MAX_PACKET_PAYLOAD + 2] as const) {
      const r = runParser(mysqlParser, steps, split)
      expect(methods(r)).toEqual(['LOGIN', 'INSERT', 'PING'])
      expect(r.exchanges[1].resource).toBe('INSERT INTO blobs VALUES (?…')
      expect(r.exchanges[1].reqBytes).toBe(first.length + second.length)
      expect(r.counts).toEqual({})
    }
  })

  it('a row split over 16 MiB packets is one row; its first packet is never taken for a terminator', () => {
    // a row whose first column is a 16 MiB string: lenenc 0xfe + 8 bytes, i.e. a row starting with 0xfe
    const value = Buffer.alloc(MAX_PACKET_PAYLOAD + 10, 0x61)
    const row = Buffer.concat([lenenc(value.length), value])
    const s = login(new Script(), { caps: Cap.DEPRECATE_EOF })
    s.command(b.query('SELECT big FROM t'))
    s.server(b.columnCount(1), b.columnDef('big'))
    s.server(row.subarray(0, MAX_PACKET_PAYLOAD), row.subarray(MAX_PACKET_PAYLOAD), b.ok({ header: 0xfe }))
    s.command(b.ping()).server(b.ok())
    const steps = s.end().steps
    for (const split of ['whole', 3, 70_000] as const) {
      const r = runParser(mysqlParser, steps, split)
      expect(methods(r)).toEqual(['LOGIN', 'SELECT', 'PING'])
      expect(r.exchanges[1].attrs!.rows).toBe('1')
    }
  })

  it('packets larger than limits.maxFrameBytes are stepped over and counted', () => {
    const s = login(new Script())
    s.command(b.query('SELECT ' + 'a, '.repeat(200) + 'b FROM t')).server(b.ok())
    s.command(b.ping()).server(b.ok())
    const r = check(s.end().steps, { maxFrameBytes: 128 })
    expect(methods(r)).toEqual(['LOGIN', 'SELECT', 'PING'])
    expect(r.exchanges[1].resource!.endsWith('…')).toBe(true)
    expect(r.counts).toEqual({ frame_too_large: 1 })
  })

  it('pending commands are capped at limits.maxPendingRequests: the oldest is reported unanswered', () => {
    const s = login(new Script())
    s.raw('c2s', Buffer.concat([1, 2, 3].map((i) => packet(0, b.query(`SELECT ${i}`)))))
    const r = check(s.end().steps, { maxPendingRequests: 2 })
    expect(r.exchanges.slice(1).map((e) => [e.method, e.status, e.error])).toEqual([
      ['SELECT', null, true],
      ['SELECT', null, true],
      ['SELECT', null, true],
    ])
    expect(r.counts).toEqual({ pending_evicted: 1 })
  })

  it('the resource is cut to limits.maxTextBytes', () => {
    const s = login(new Script())
    s.command(b.query('SELECT ' + Array.from({ length: 100 }, (_, i) => `col${i}`).join(', ') + ' FROM t')).server(b.ok())
    const r = check(s.end().steps, { maxTextBytes: 40 })
    expect(r.exchanges[1].resource).toBe('SELECT col0, col1, col2, col3, col4, co…')
    expect(r.exchanges[1].resource!.length).toBe(40)
  })
})

describe('mysql mid-stream, gaps and endings', () => {
  it('joined mid-stream: waits for a clean command; the tail of an earlier answer is counted, not invented', () => {
    const s = new Script().gap('c2s', -1).gap('s2c', -1)
    // the end of a result set whose query was before the capture
    s.at(7).server(b.textRow(['9', 'zed']), b.eof())
    s.command(b.query('SELECT 1')).server(...resultSet(['1'], [['1']]))
    s.command(b.ping()).server(b.ok())
    const r = check(s.end().steps)
    expect(methods(r)).toEqual(['SELECT', 'PING'])
    expect(r.unmatchedResponses).toBe(1)
    expect(r.exchanges.every((e) => e.status === 'OK')).toBe(true)
  })

  it('joined in the middle of a long query: its tail is skipped, the next command found', () => {
    const s = new Script().gap('c2s', -1).gap('s2c', -1)
    s.raw('c2s', Buffer.from("ue', 'more literal text', 42)"))
    s.at(1).server(b.ok({ affected: 1 }))
    s.command(b.query('SELECT 2')).server(...resultSet(['2'], [['2']]))
    const r = runParser(mysqlParser, s.end().steps)
    expect(methods(r)).toEqual(['SELECT'])
    expect(r.exchanges[0].status).toBe('OK')
  })

  it('a gap inside a result set: the rows are found again after it, the end read, rows counted as seen', () => {
    const s = login(new Script())
    s.command(b.query('SELECT * FROM big'))
    const rows = Array.from({ length: 20 }, (_, i) => [String(i), 'some text in a row'])
    const rs = resultSet(['id', 'v'], rows)
    s.server(...rs.slice(0, 8))
    s.gap('s2c', 500)
    s.at(60).server(...rs.slice(15)) // after the hole (sequence ids as the server counted them)
    s.command(b.query('SELECT 2')).server(...resultSet(['2'], [['2']]))
    const r = check(s.end().steps)
    expect(methods(r)).toEqual(['LOGIN', 'SELECT', 'SELECT'])
    // 4 rows before the hole, 9 after it (rows 11-19), then the EOF: the status is read
    expect(r.exchanges[1]).toMatchObject({ status: 'OK', error: false, attrs: { partial: 'true', rows: '13' } })
    const afterGap = s.steps[s.steps.findIndex((x) => 'gap' in x) + 1] as { tsUs: number }
    expect(r.exchanges[1].endUs).toBe(afterGap.tsUs)
    expect(r.counts.resync_in_result_set).toBe(1)
    expect(r.exchanges[2]).toMatchObject({ status: 'OK', attrs: { rows: '1' } })
  })

  it('a gap in the client direction loses that command; later commands are found again', () => {
    const s = login(new Script())
    s.command(b.query('SELECT 1 FROM dual')).gap('c2s', 10)
    s.server(...resultSet(['1'], [['1']]))
    s.command(b.ping()).server(b.ok())
    const r = check(s.end().steps)
    expect(methods(r)).toEqual(['LOGIN', 'SELECT', 'PING'])
  })

  it('commands without an answer at the end: unanswered (status null, error); an answer cut short: partial, status unknown', () => {
    const s = login(new Script())
    s.command(b.query('SELECT SLEEP(10)'))
    const cut = login(new Script())
    cut.command(b.query('SELECT a FROM t')).server(b.columnCount(1), b.columnDef('a'), b.eof(), b.textRow(['1']))
    const r1 = check(s.end('rst').steps)
    const r2 = check(cut.end('fin').steps)
    expect(r1.exchanges[1]).toMatchObject({ method: 'SELECT', status: null, error: true, respBytes: 0 })
    expect(r1.exchanges[1].endUs).toBe((s.steps[s.steps.length - 1] as { tsUs: number }).tsUs)
    expect(r2.exchanges[1]).toMatchObject({ method: 'SELECT', status: 'unknown', error: null, attrs: { partial: 'true', rows: '1' } })
  })

  it('COM_BINLOG_DUMP: one exchange, then the replication stream is not parsed', () => {
    const s = login(new Script())
    s.command(b.binlogDump()).server(Buffer.concat([Buffer.from([0]), Buffer.alloc(30, 7)]), Buffer.concat([Buffer.from([0]), Buffer.alloc(30, 8)]))
    const r = check(s.end().steps)
    expect(methods(r)).toEqual(['LOGIN', 'BINLOG_DUMP'])
    expect(r.counts).toEqual({ replication: 1 })
  })

  it('an answer to nothing (no command pending) is counted once', () => {
    const s = login(new Script())
    s.at(1).server(b.ok(), b.ok())
    s.command(b.ping()).server(b.ok())
    const r = check(s.end().steps)
    expect(methods(r)).toEqual(['LOGIN', 'PING'])
    expect(r.unmatchedResponses).toBe(1)
  })

  it('a server answer with a wrong sequence id is not taken for the answer', () => {
    const s = login(new Script())
    s.command(b.ping()).at(5).server(b.ok())
    s.command(b.ping()).server(b.ok())
    const r = check(s.end().steps)
    expect(r.exchanges.slice(1).map((e) => e.status)).toEqual([null, 'OK'])
    expect(r.counts).toMatchObject({ sequence_mismatch: 1 })
  })

  it('a server that answers COM_QUIT with OK is not an unmatched answer', () => {
    const s = login(new Script())
    s.command(b.quit()).server(b.ok())
    const r = check(s.end().steps)
    expect(methods(r)).toEqual(['LOGIN'])
    expect(r.unmatchedResponses).toBe(0)
  })
})

describe('mysql parser hygiene', () => {
  it('keeps no reference to the chunks it was handed (runParser scribbles over them)', () => {
    const s = login(new Script())
    s.command(b.query('SELECT name FROM a_rather_long_table_name WHERE x = 1')).server(...resultSet(['name'], [['v']]))
    const r = runParser(mysqlParser, s.end().steps, 'bytes')
    expect(r.exchanges[1].resource).toBe('SELECT name FROM a_rather_long_table_name WHERE x = ?')
  })

  it('exchanges carry only the documented fields', () => {
    const s = login(new Script())
    s.command(b.query('SELECT 1')).server(...resultSet(['1'], [['1']]))
    const r = runParser(mysqlParser, s.end().steps)
    for (const e of r.exchanges) {
      expect(Object.keys(e).sort()).toEqual(
        ['attrs', 'endUs', 'error', 'method', 'reqBytes', 'respBytes', 'startUs', 'status', ...(e.resource === undefined ? [] : ['resource'])].sort(),
      )
    }
  })
})
