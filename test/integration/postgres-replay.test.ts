// PostgreSQL end to end: a real server (Debian package postgresql) initialised into a temp dir and
// started in a network namespace, driven from the host by real clients (node-postgres with simple,
// extended and named-statement queries, psql with COPY, pgbench in simple, extended and prepared
// modes) through the veth; tcpdump captures the host side of the veth and the file is replayed through
// podtap's pipeline, while podtap also captures the same veth live (AF_PACKET ring + socket filter).
// Both sets of exchanges are compared with what the server recorded
// (pg_stat_statements, reset just before the capture and read just after it) and with the errors the
// clients saw.
//
// pg_stat_statements counts every statement that completed (one per Execute in the extended protocol,
// one per Query here since no Query holds two statements) and never counts a failed one; podtap's
// exchanges with status OK must match it verb for verb, and its errors must be the client's errors.
//
// Needs root (network namespaces); skips with a printed reason otherwise.

import { execFileSync } from 'node:child_process'
import { appendFileSync, chownSync, copyFileSync, existsSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Counters } from '../../src/counters.js'
import { replayFilesSync } from '../../src/pipeline/replay-sync.js'
import type { Exchange } from '../../src/records.js'
import { cleanupStale, createTestHost, needRoot, runHost, waitForPort, type TestHost } from '../helpers/netns.js'
import { captureWhile, missingCommands } from './live-util.js'

/** Debian keeps initdb and postgres out of PATH, in /usr/lib/postgresql/<major>/bin */
const PG_BIN = (() => {
  const base = '/usr/lib/postgresql'
  const majors = existsSync(base) ? readdirSync(base).filter((d) => /^\d+$/.test(d)).sort((a, b) => Number(b) - Number(a)) : []
  return majors.length > 0 ? join(base, majors[0]!, 'bin') : ''
})()
const pgBin = (name: string) => (PG_BIN && existsSync(join(PG_BIN, name)) ? join(PG_BIN, name) : name)

const skip = needRoot() ?? (await missingCommands('postgresql postgresql-contrib tcpdump', pgBin('initdb'), pgBin('postgres'), 'pgbench', 'psql', 'tcpdump', 'setpriv'))
if (skip !== null) console.log(`postgres integration tests skipped: ${skip}`)

const PORT = 5432
const USER = 'app'
const PASSWORD = 'podtap-pg-s3cret'

/** runs as the postgres user (initdb and postgres refuse root) */
const asPostgres = (cmd: string[]) => ['setpriv', '--reuid=postgres', '--regid=postgres', '--init-groups', ...cmd]

function tally(xs: { key: string; n: number }[]): [string, number][] {
  const m = new Map<string, number>()
  for (const x of xs) m.set(x.key, (m.get(x.key) ?? 0) + x.n)
  return [...m.entries()].filter(([, n]) => n > 0).sort((a, b) => a[0].localeCompare(b[0]))
}

describe.skipIf(skip !== null)('postgres: real server, real clients, replayed capture', () => {
  let host: TestHost
  let control: pg.Client
  let data: string

  beforeAll(async () => {
    cleanupStale()
    host = await createTestHost({ name: 'pg' })
    const dir = host.tmpDir()
    chownSync(dir, idOf('postgres', '-u'), idOf('postgres', '-g'))
    data = join(dir, 'data')
    const pwfile = join(dir, 'pw')
    writeFileSync(pwfile, PASSWORD + '\n')
    chownSync(pwfile, idOf('postgres', '-u'), idOf('postgres', '-g'))
    const initdb = asPostgres([
      pgBin('initdb'), '-D', data, '-U', USER, '--pwfile', pwfile, '--auth-host', 'scram-sha-256', '--auth-local', 'trust', '-E', 'UTF8', '--no-sync',
    ])
    const init = await runHost(initdb[0]!, initdb.slice(1), { timeoutMs: 60_000 })
    if (init.code !== 0) throw new Error('initdb: ' + init.stderr)
    appendFileSync(
      join(data, 'postgresql.conf'),
      [
        `listen_addresses = '${host.nsIp}'`,
        `port = ${PORT}`,
        `unix_socket_directories = '${dir}'`,
        `shared_preload_libraries = 'pg_stat_statements'`,
        `pg_stat_statements.track = 'top'`,
        `pg_stat_statements.track_utility = on`,
        'fsync = off',
        'ssl = off',
        '',
      ].join('\n'),
    )
    appendFileSync(join(data, 'pg_hba.conf'), 'host all all 10.213.0.0/16 scram-sha-256\n')
    host.spawn(asPostgres([pgBin('postgres'), '-D', data]))
    await waitForPort(host.nsIp, PORT, 20_000)
    process.env.PGPASSWORD = PASSWORD
    // the port opens before recovery ends ("the database system is starting up"): retry
    for (let i = 0; ; i++) {
      control = new pg.Client({ host: host.nsIp, port: PORT, user: USER, password: PASSWORD, database: 'postgres' })
      try {
        await control.connect()
        break
      } catch (e) {
        await control.end().catch(() => {})
        if (i >= 100) throw e
        await new Promise((r) => setTimeout(r, 100))
      }
    }
    await control.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements')
    await control.query('CREATE TABLE items (id int PRIMARY KEY, name text, price numeric)')
    await control.query("INSERT INTO items SELECT g, 'item ' || g, g * 1.5 FROM generate_series(1, 100) g")
    const r = await runHost('pgbench', ['-i', '-s', '1', '-q', '-h', host.nsIp, '-p', String(PORT), '-U', USER, 'postgres'], { timeoutMs: 60_000 })
    if (r.code !== 0) throw new Error('pgbench -i: ' + r.stderr)
  }, 120_000)

  afterAll(async () => {
    await control?.end().catch(() => {})
    await host?.destroy()
  })

  it('completed statements match pg_stat_statements verb for verb; errors match what clients saw', async () => {
    const file = join(host.tmpDir(), 'pg.pcap')
    await control.query('SELECT pg_stat_statements_reset()')
    const clientErrors: string[] = []
    const benchTx: Record<string, number> = {}
    const pgb = ['-h', host.nsIp, '-p', String(PORT), '-U', USER, '-n', '-c', '2', '-t', '15', 'postgres']
    const liveRun = await captureWhile(host.hostIf, file, PORT, async () => {
      const a = new pg.Client({ host: host.nsIp, port: PORT, user: USER, password: PASSWORD, database: 'postgres' })
      await a.connect()
      // simple protocol (no parameters)
      for (let i = 0; i < 10; i++) await a.query(`SELECT name FROM items WHERE id = ${i + 1}`)
      await a.query("UPDATE items SET name = 'secret-literal-value' WHERE id = 1")
      // extended protocol, unnamed statement
      for (let i = 0; i < 10; i++) await a.query('SELECT price FROM items WHERE id = $1', [i + 1])
      // named statements: Parse once, then Bind/Execute
      for (let i = 0; i < 10; i++) await a.query({ name: 'by-id', text: 'SELECT * FROM items WHERE id = $1', values: [i + 1] })
      // a transaction
      await a.query('BEGIN')
      for (let i = 0; i < 5; i++) await a.query('INSERT INTO items VALUES ($1, $2, $3)', [1000 + i, 'new', 1])
      await a.query('COMMIT')
      // errors: simple (42P01), extended at Bind (22P02), in a transaction (23505 then 25P02)
      for (const q of [
        () => a.query('SELECT * FROM missing_table'),
        () => a.query('SELECT $1::int', ['not a number']),
        () => a.query('INSERT INTO items VALUES ($1, $2, $3)', [1, 'dup', 1]),
      ]) {
        await q().catch((e: { code?: string }) => clientErrors.push(String(e.code)))
      }
      await a.end()

      // psql: COPY FROM STDIN
      const csv = join(host.tmpDir(), 'rows.csv')
      writeFileSync(csv, Array.from({ length: 50 }, (_, i) => `${2000 + i},copied,${i}`).join('\n') + '\n')
      const copy = await runHost('psql', ['-h', host.nsIp, '-p', String(PORT), '-U', USER, '-d', 'postgres', '-v', 'ON_ERROR_STOP=1', '-c', `\\copy items FROM '${csv}' WITH (FORMAT csv)`])
      expect(copy.code, copy.stderr).toBe(0)

      // pgbench, the TPC-B-like script, in each query mode
      for (const mode of ['simple', 'extended', 'prepared']) {
        const r = await runHost('pgbench', ['-M', mode, ...pgb], { timeoutMs: 30_000 })
        expect(r.code, r.stderr).toBe(0)
        const n = /number of transactions actually processed: (\d+)/.exec(r.stdout)
        benchTx[mode] = Number(n?.[1])
      }
    })
    expect(liveRun.dropped).toBe(0)

    const stmts = await control.query<{ query: string; calls: string }>('SELECT query, calls FROM pg_stat_statements')
    const server = tally(
      stmts.rows
        .filter((r) => !r.query.includes('pg_stat_statements'))
        .map((r) => ({ key: (/^\s*([A-Za-z]+)/.exec(r.query)?.[1] ?? '?').toUpperCase(), n: Number(r.calls) })),
    )

    // KEEP_PCAP=<path> keeps the capture (a real redis-benchmark/pgbench trace, for benchmarks or debugging)
    if (process.env.KEEP_PCAP) copyFileSync(file, process.env.KEEP_PCAP)
    const replay = replayFilesSync([file])
    // what pgbench reports: each TPC-B-like transaction is BEGIN, 5 statements, END
    const tx = benchTx.simple + benchTx.extended + benchTx.prepared
    expect(tx).toBe(90)
    expect(clientErrors.sort()).toEqual(['22P02', '23505', '42P01'])
    // pg_stat_statements (PostgreSQL 15) does not count re-executions of a named prepared utility
    // statement: in -M prepared, BEGIN and END are counted once per connection (at their first
    // Execute after Parse), not once per transaction. Every other verb it counts exactly.
    const uncounted = benchTx.prepared - 2
    const serverFixed = server.map(([k, n]): [string, number] => [k, k === 'BEGIN' || k === 'END' ? n + uncounted : n])
    const runs: [string, Exchange[], Counters][] = [
      ['replay', replay.exchanges, replay.counters],
      ['live', liveRun.exchanges, liveRun.counters],
    ]
    for (const [how, all, counters] of runs) {
      const ex = all.filter((e) => e.protocol === 'postgresql')
      console.log(`postgresql ${how}: ${ex.length} exchanges; pg_stat_statements calls ${server.reduce((s, [, n]) => s + n, 0)}`)
      const ok = new Map(tally(ex.filter((e) => !e.error).map((e) => ({ key: e.method, n: 1 }))))
      expect(ok.get('END'), how).toBe(tx)
      expect(ok.get('BEGIN'), how).toBe(tx + 1) // + the node-postgres transaction
      expect([...ok.entries()].sort((a, b) => a[0].localeCompare(b[0])), how).toEqual(serverFixed)
      expect(ex.filter((e) => e.status === null), how).toEqual([])
      expect(counters.total('unmatched'), how).toBe(0)
      expect(ex.filter((e) => e.error).map((e) => String(e.status)).sort(), how).toEqual(clientErrors)
      // named statements keep their Parse text on every execution
      expect(ex.filter((e) => e.resource === 'SELECT * FROM items WHERE id = $1'), how).toHaveLength(10)
      // no password, no literal
      const text = JSON.stringify(ex)
      expect(text, how).not.toContain(PASSWORD)
      expect(text, how).not.toContain('secret-literal-value')
    }
  }, 90_000)
})

/** numeric uid/gid of a user, from id(1) */
function idOf(user: string, flag: '-u' | '-g'): number {
  return Number(execFileSync('id', [flag, user]).toString().trim())
}
