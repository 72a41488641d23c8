// MySQL / MariaDB end to end: a real server (Debian package mariadb-server) initialised into a temp dir
// and started in a network namespace, driven from the host by real clients through the veth (mysql2:
// text queries, prepared statements with execute(), errors, LOCAL INFILE, a 17 MB statement and row,
// the compressed protocol, a failed login; mariadb-slap's mixed load); tcpdump captures the host side
// of the veth, the file is replayed through podtap's pipeline, and podtap's exchanges are compared with
// what the clients did and with the server's own counters (SHOW GLOBAL STATUS deltas, read over the
// unix socket so that they are not in the capture):
//
//   Com_select, Com_insert, Com_update, Com_delete   exchanges with that verb, text or prepared, failed
//                                                    ones included (the server counts a statement once
//                                                    it is parsed, before it runs)
//   Com_create_table + Com_create_db                 CREATE;  Com_drop_table + Com_drop_db: DROP
//   Com_load                                         LOAD
//   Com_stmt_prepare / Com_stmt_execute              STMT_PREPARE / exchanges of COM_STMT_EXECUTE
//   Com_admin_commands                               PING (the only admin command the clients send)
//   Com_change_db                                    INIT_DB, and text USE statements
//   Connections                                      LOGIN (failed logins included)
//
// A statement that fails to parse (1064) moves no Com_ counter: podtap reports it with method
// 'unknown'. A multi-statement COM_QUERY is one exchange but counts once per statement on the server.
//
// The same traffic is also captured live by podtap's own AF_PACKET ring on the veth, through the same
// pipeline: its exchanges must be the replay's (unless the ring dropped packets, which is printed).
//
// Needs root (network namespaces); skips with a printed reason otherwise.

import { execFileSync } from 'node:child_process'
import { chownSync, copyFileSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import mysql from 'mysql2/promise'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { replayFilesSync } from '../../src/pipeline/replay-sync.js'
import type { Exchange } from '../../src/records.js'
import { cleanupStale, createTestHost, needRoot, runHost, waitForPort, type TestHost } from '../helpers/netns.js'
import { captureWhile, missingCommands } from './live-util.js'

const skip = needRoot() ?? (await missingCommands('mariadb-server mariadb-client tcpdump', 'mariadbd', 'mariadb-install-db', 'mariadb-slap', 'tcpdump'))
if (skip !== null) console.log(`mysql integration tests skipped: ${skip}`)

const PORT = 3306
const USER = 'app'
const PASSWORD = 'podtap-my-s3cret'

type Status = Record<string, number>

function delta(before: Status, after: Status): Status {
  const d: Status = {}
  for (const k of Object.keys(after)) if (after[k] !== (before[k] ?? 0)) d[k] = after[k] - (before[k] ?? 0)
  return d
}

/** the server's counters as podtap's exchanges should reproduce them (see the top of the file) */
function podtapAsCounters(ex: Exchange[]): Status {
  const n = (f: (e: Exchange) => boolean) => ex.filter(f).length
  const out: Status = {
    Com_select: n((e) => e.method === 'SELECT'),
    Com_insert: n((e) => e.method === 'INSERT'),
    Com_update: n((e) => e.method === 'UPDATE'),
    Com_delete: n((e) => e.method === 'DELETE'),
    Com_create: n((e) => e.method === 'CREATE'),
    Com_drop: n((e) => e.method === 'DROP'),
    Com_load: n((e) => e.method === 'LOAD'),
    Com_stmt_prepare: n((e) => e.method === 'STMT_PREPARE'),
    Com_stmt_execute: n((e) => e.attrs?.command === 'STMT_EXECUTE'),
    Com_admin_commands: n((e) => e.method === 'PING'),
    Com_change_db: n((e) => e.method === 'INIT_DB' || e.method === 'USE'),
    Connections: n((e) => e.method === 'LOGIN'),
  }
  return out
}

function serverAsCounters(d: Status): Status {
  const g = (k: string) => d[k] ?? 0
  return {
    Com_select: g('Com_select'),
    Com_insert: g('Com_insert'),
    Com_update: g('Com_update'),
    Com_delete: g('Com_delete'),
    Com_create: g('Com_create_table') + g('Com_create_db'),
    Com_drop: g('Com_drop_table') + g('Com_drop_db'),
    Com_load: g('Com_load'),
    Com_stmt_prepare: g('Com_stmt_prepare'),
    Com_stmt_execute: g('Com_stmt_execute'),
    Com_admin_commands: g('Com_admin_commands'),
    Com_change_db: g('Com_change_db'),
    Connections: g('Connections'),
  }
}

describe.skipIf(skip !== null)('mysql: real MariaDB, real clients, replayed capture', () => {
  let host: TestHost
  let root: mysql.Connection // over the unix socket: not captured
  let dir: string

  const status = async (): Promise<Status> => {
    const [rows] = await root.query("SHOW GLOBAL STATUS WHERE Variable_name LIKE 'Com\\_%' OR Variable_name IN ('Connections', 'Aborted_connects')")
    return Object.fromEntries((rows as { Variable_name: string; Value: string }[]).map((r) => [r.Variable_name, Number(r.Value)]))
  }

  /**
   * Runs `drive` with tcpdump and podtap's live capture on the veth; returns podtap's MySQL exchanges
   * from the replayed file, and the status deltas. The live exchanges must be the same.
   */
  async function captured(name: string, drive: () => Promise<void>) {
    const file = join(dir, `${name}.pcap`)
    const before = await status()
    const { exchanges: live, dropped } = await captureWhile(host.hostIf, file, PORT, drive)
    const after = await status()
    if (process.env.KEEP_PCAP) copyFileSync(file, join(process.env.KEEP_PCAP, `mysql-${name}.pcap`))
    const replay = replayFilesSync([file])
    const ex = replay.exchanges.filter((e) => e.protocol === 'mysql')
    const other = replay.exchanges.filter((e) => e.protocol !== 'mysql')
    expect(other, 'exchanges of another protocol').toEqual([])
    const d = delta(before, after)
    console.log(`mysql ${name}: ${ex.length} exchanges from ${replay.packets} packets; server deltas ${JSON.stringify(d)}`)
    // per connection, in order (between concurrent connections, exchanges that start within the same
    // few microseconds may come out in either order from the ring and from tcpdump's file)
    const byConn = (xs: Exchange[]) => {
      const m = new Map<number, unknown[]>()
      for (const e of xs) m.set(e.client.port, [...(m.get(e.client.port) ?? []), [e.method, e.resource, e.status, e.reqBytes, e.respBytes]])
      return [...m.entries()].sort((x, y) => x[0] - y[0])
    }
    if (dropped > 0) console.log(`mysql ${name}: the live ring dropped ${dropped} packets; live exchanges not compared`)
    else expect(byConn(live.filter((e) => e.protocol === 'mysql')), 'live capture').toEqual(byConn(ex))
    return { ex, d, replay }
  }

  const connect = (o: Partial<mysql.ConnectionOptions> = {}) =>
    mysql.createConnection({ host: host.nsIp, port: PORT, user: USER, password: PASSWORD, database: 'shop', ...o })

  beforeAll(async () => {
    cleanupStale()
    host = await createTestHost({ name: 'mysql' })
    dir = host.tmpDir()
    const data = join(dir, 'data')
    mkdirSync(data)
    chownSync(data, idOf('mysql', '-u'), idOf('mysql', '-g'))
    const init = await runHost('mariadb-install-db', ['--no-defaults', '--user=mysql', `--datadir=${data}`, '--auth-root-authentication-method=socket', '--skip-test-db'], { timeoutMs: 120_000 })
    if (init.code !== 0) throw new Error('mariadb-install-db: ' + init.stderr)
    const sock = join(data, 'mysqld.sock') // in the datadir: mariadbd runs as mysql and must create it
    host.spawn([
      'mariadbd', '--no-defaults', '--user=mysql', `--datadir=${data}`, `--socket=${sock}`, `--pid-file=${join(data, 'mysqld.pid')}`,
      `--log-error=${join(data, 'error.log')}`, `--bind-address=${host.nsIp}`, `--port=${PORT}`, '--skip-name-resolve',
      '--innodb-buffer-pool-size=32M', '--skip-log-bin', '--performance-schema=OFF', '--local-infile=ON', '--max-allowed-packet=64M',
    ])
    await waitForPort(host.nsIp, PORT, 30_000)
    root = await mysql.createConnection({ socketPath: sock, user: 'root' })
    await root.query(`CREATE USER '${USER}'@'%' IDENTIFIED BY '${PASSWORD}'`)
    await root.query(`GRANT ALL ON *.* TO '${USER}'@'%'`)
    await root.query('CREATE DATABASE shop')
    await root.query('CREATE TABLE shop.items (id INT PRIMARY KEY, name VARCHAR(64), price DECIMAL(8,2), note LONGTEXT)')
    await root.query('SET SESSION max_recursive_iterations = 10000')
    await root.query(
      'INSERT INTO shop.items (id, name, price) WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 3000) SELECT n, CONCAT(\'item \', n), n * 1.5 FROM s',
    )
  }, 120_000)

  afterAll(async () => {
    await root?.end().catch(() => {})
    await host?.destroy()
  })

  it('mysql2: text and prepared statements, errors, LOCAL INFILE, a 3000-row result: exchanges match the server counters', async () => {
    const clientErrors: number[] = []
    const fail = (e: { errno?: number }) => void clientErrors.push(Number(e.errno))
    let sent = 0
    const { ex, d, replay } = await captured('mysql2', async () => {
      const c = await connect({ multipleStatements: true, infileStreamFactory: () => Readable.from([Buffer.from('9001,loaded,1\n9002,loaded,2\n')]) })
      for (let i = 1; i <= 10; i++) await c.query(`SELECT name, price FROM items WHERE id = ${i}`)
      await c.query("UPDATE items SET name = 'secret-literal-value' WHERE id = 1")
      for (let i = 1; i <= 10; i++) await c.execute('SELECT name FROM items WHERE id = ? AND price > ?', [i, 0])
      for (let i = 0; i < 5; i++) await c.execute('INSERT INTO items (id, name, price) VALUES (?, ?, ?)', [5000 + i, 'new', 2])
      await c.query('DELETE FROM items WHERE id >= 5000')
      const [big] = await c.query('SELECT * FROM items')
      expect((big as unknown[]).length).toBe(3000)
      await c.query('SELECT 1; SELECT 2') // one exchange, two statements for the server
      await c.query({ sql: "LOAD DATA LOCAL INFILE 'rows.csv' INTO TABLE items FIELDS TERMINATED BY ',' (id, name, price)" })
      await c.query('SELEC 1').catch(fail) // 1064: no Com_ counter moves
      await c.query('SELECT * FROM missing_table').catch(fail) // 1146
      await c.execute('INSERT INTO items (id, name, price) VALUES (?, ?, ?)', [1, 'dup', 1]).catch(fail) // 1062
      await c.query('USE no_such_db').catch(fail) // 1049, a text USE: Com_change_db
      await c.ping()
      c.unprepare('SELECT name FROM items WHERE id = ? AND price > ?') // COM_STMT_CLOSE: no exchange
      await c.execute('SELECT name FROM items WHERE id = ? AND price > ?', [2, 0]) // prepared again
      await c.end() // COM_QUIT: no exchange
      sent = 10 + 1 + 10 + 5 + 1 + 1 + 1 + 1 + 4 + 1 + 1
    })
    expect(clientErrors).toEqual([1064, 1146, 1062, 1049])
    const want = serverAsCounters(d)
    want.Com_select -= 1 // 'SELECT 1; SELECT 2' is one exchange
    const got = podtapAsCounters(ex)
    expect(got).toEqual(want)
    // every command the client sent (and the login and the two prepares) is one exchange
    expect(ex.length).toBe(sent + 1 + 2 + 1)
    expect(ex.filter((e) => e.error).map((e) => Number(e.status))).toEqual(clientErrors)
    expect(ex.find((e) => e.status === '1064')!.method).toBe('unknown')
    expect(ex.filter((e) => e.status === null)).toEqual([])
    expect(replay.counters.total('unmatched')).toBe(0)
    expect(replay.counters.total('parse_errors')).toBe(0)
    // prepared executions carry the statement's text; the LOCAL INFILE upload is part of its request
    expect(ex.filter((e) => e.resource === 'SELECT name FROM items WHERE id = ? AND price > ?' && e.method === 'SELECT')).toHaveLength(11)
    const load = ex.find((e) => e.method === 'LOAD')!
    expect(load.attrs).toMatchObject({ local_infile: 'true', affected_rows: '2' })
    const all = ex.find((e) => e.resource === 'SELECT * FROM items')!
    expect(all.attrs!.rows).toBe('3000')
    expect(all.respBytes).toBeGreaterThan(60_000)
    // no password, no literal
    const text = JSON.stringify(ex)
    expect(text).not.toContain(PASSWORD)
    expect(text).not.toContain('secret-literal-value')
  }, 60_000)

  it('a 17 MB statement and a 17 MB row: 16 MiB packet splits are one message', async () => {
    const blob = 'b'.repeat(17 * 1024 * 1024)
    const { ex, d, replay } = await captured('big', async () => {
      const c = await connect()
      await c.query('UPDATE items SET note = ? WHERE id = 7', [blob])
      const [rows] = await c.query('SELECT note FROM items WHERE id = 7')
      expect((rows as { note: string }[])[0].note.length).toBe(blob.length)
      await c.query('SELECT id FROM items WHERE id = 8')
      await c.end()
    })
    expect(podtapAsCounters(ex)).toEqual(serverAsCounters(d))
    expect(ex.map((e) => [e.method, e.status])).toEqual([
      ['LOGIN', 'OK'],
      ['UPDATE', 'OK'],
      ['SELECT', 'OK'],
      ['SELECT', 'OK'],
    ])
    expect(ex[1].reqBytes).toBeGreaterThan(blob.length)
    expect(ex[1].resource!.startsWith('UPDATE items SET note = ?')).toBe(true)
    expect(ex[2]).toMatchObject({ resource: 'SELECT note FROM items WHERE id = ?', attrs: { rows: '1' } })
    expect(ex[2].respBytes).toBeGreaterThan(blob.length)
    expect(replay.counters.total('parse_errors')).toBe(0)
  }, 60_000)

  it('mariadb-slap mixed load: exchanges per verb match the server counters', async () => {
    const { ex, d, replay } = await captured('slap', async () => {
      const r = await runHost('mariadb-slap', [
        `--host=${host.nsIp}`, `--port=${PORT}`, `--user=${USER}`, `--password=${PASSWORD}`, '--concurrency=4', '--iterations=2',
        '--number-of-queries=400', '--auto-generate-sql', '--auto-generate-sql-load-type=mixed', '--auto-generate-sql-add-autoincrement',
      ], { timeoutMs: 45_000 })
      expect(r.code, r.stderr).toBe(0)
    })
    expect(podtapAsCounters(ex)).toEqual(serverAsCounters(d))
    expect(ex.filter((e) => e.error || e.status === null)).toEqual([])
    expect(replay.counters.total('unmatched')).toBe(0)
    expect(ex.length).toBeGreaterThan(400)
  }, 60_000)

  it('the compressed protocol: the login is reported, the rest counted and not decoded; a failed login is a 1045', async () => {
    const { ex, d, replay } = await captured('compress', async () => {
      const c = await connect({ compress: true })
      for (let i = 0; i < 5; i++) await c.query(`SELECT name FROM items WHERE id = ${i + 1}`)
      await c.end()
      await connect({ password: 'wrong' }).then(
        (x) => x.end(),
        (e: { errno?: number }) => expect(e.errno).toBe(1045),
      )
    })
    expect(d.Com_select).toBe(5)
    expect(d.Aborted_connects).toBe(1)
    expect(ex.map((e) => [e.method, e.status])).toEqual([
      ['LOGIN', 'OK'],
      ['LOGIN', '1045'],
    ])
    expect(replay.counters.get('parse_errors', { protocol: 'mysql', reason: 'compressed' })).toBe(1)
    expect(JSON.stringify(ex)).not.toContain('wrong')
  }, 60_000)
})

/** numeric uid/gid of a user, from id(1) */
function idOf(user: string, flag: '-u' | '-g'): number {
  return Number(execFileSync('id', [flag, user]).toString().trim())
}
