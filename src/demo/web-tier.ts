// The demo's web tier: a small HTTP server, run as its own process inside the web namespace
// (`ip netns exec <web> node dist/demo/web-tier.js '<config json>'`, started by startWebTier in
// servers.ts), that serves every request from Redis and PostgreSQL through the demo's own clients
// (clients.ts). So the captured map is a chain: client -> web -> cache and web -> db.
//
//   GET  /                 200 text, no backend
//   GET  /api/users?id=N   Redis GET user:<id>; hit: 200; miss: SELECT in PostgreSQL, then
//                          SET user:<id> EX 3 and 200, or 404 when no such user (ids 1..10 exist)
//   POST /api/orders       INSERT ... RETURNING id, then INCR orders:count: 201
//   GET  /api/cart         INCR cart:views, then HGETALL on that string key: WRONGTYPE, 500
//   GET  /api/report       SELECT from a table that does not exist: SQLSTATE 42P01, 500
//   GET  /api/slow         SELECT pg_sleep(0.8): a slow 200, for the p99 columns
//   anything else          404, no backend
// A backend that is not there (the demo runs without Redis or PostgreSQL when they are not
// installed) is skipped (the cache) or answers 503 (the database).
//
// The tables are made and filled at start, on a connection closed before the server listens (so
// before the demo's capture starts); the pools connect on first use. On SIGTERM: stop accepting,
// wait for the requests in flight (at most 3 s), close the pools, write one line of JSON with the
// commands sent to each backend (a reply was read for each) to stdout, exit 0.

import { realpathSync } from 'node:fs'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { fileURLToPath } from 'node:url'
import { PgClient, RedisClient, type Reply } from './clients.js'

export interface WebTierConfig {
  host: string
  port: number
  redis?: { host: string; port: number }
  pg?: { host: string; port: number; user: string; database: string }
}

/** What the web tier says at exit (one JSON line on stdout). */
export interface WebTierStats {
  /** HTTP requests answered */
  http: number
  /** Redis commands and SQL queries whose reply was read */
  redis: number
  postgresql: number
  /** commands that got no reply (connection lost) */
  failed: number
}

/** Connections per backend: enough for the demo's rate with a slow query in flight. */
const POOL_SIZE = 4
const USERS = 10
const CACHE_TTL_S = 3

const SETUP = [
  'CREATE TABLE IF NOT EXISTS users (id int PRIMARY KEY, name text NOT NULL)',
  `INSERT INTO users SELECT g, 'user' || g FROM generate_series(1, ${USERS}) g ON CONFLICT DO NOTHING`,
  'CREATE TABLE IF NOT EXISTS orders (id serial PRIMARY KEY, user_id int NOT NULL, qty int NOT NULL)',
]

/** A few connections made on first use, one command at a time each; a failed one is dropped. */
class Pool<C extends { close(): void }> {
  private readonly idle: C[] = []
  private open = 0
  private readonly waiters: (() => void)[] = []

  constructor(private readonly connect: () => Promise<C>) {}

  async use<T>(f: (c: C) => Promise<T>): Promise<T> {
    const c = await this.acquire()
    try {
      const r = await f(c)
      this.idle.push(c)
      return r
    } catch (e) {
      c.close()
      this.open--
      throw e
    } finally {
      this.waiters.shift()?.()
    }
  }

  private async acquire(): Promise<C> {
    for (;;) {
      const c = this.idle.pop()
      if (c !== undefined) return c
      if (this.open < POOL_SIZE) {
        this.open++
        try {
          return await this.connect()
        } catch (e) {
          this.open--
          this.waiters.shift()?.()
          throw e
        }
      }
      await new Promise<void>((r) => this.waiters.push(r))
    }
  }

  close(): void {
    for (const c of this.idle.splice(0)) c.close()
  }
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message)
  }
}

export async function runWebTier(cfg: WebTierConfig): Promise<void> {
  const stats: WebTierStats = { http: 0, redis: 0, postgresql: 0, failed: 0 }
  const pg = cfg.pg
  if (pg !== undefined) {
    const c = await PgClient.connect(pg.host, pg.port, pg.user, pg.database)
    for (const sql of SETUP) {
      const r = await c.query(sql)
      if (r.error !== null) throw new Error(`${sql}: ${r.error}`)
    }
    c.close()
  }
  const redisPool = cfg.redis !== undefined ? new Pool(() => RedisClient.connect(cfg.redis!.host, cfg.redis!.port)) : null
  const pgPool = pg !== undefined ? new Pool(() => PgClient.connect(pg.host, pg.port, pg.user, pg.database)) : null

  /** Sends one command; counts it once its reply is in (or as failed). */
  const counted = async (kind: 'redis' | 'postgresql', send: () => Promise<Reply>): Promise<Reply> => {
    try {
      const r = await send()
      stats[kind]++
      return r
    } catch (e) {
      stats.failed++
      throw new HttpError(502, `${kind}: ${(e as Error).message}`)
    }
  }
  const redis = async (...args: string[]): Promise<Reply | null> => {
    if (redisPool === null) return null
    const r = await redisPool.use((c) => counted('redis', () => c.command(...args)))
    if (r.error !== null) throw new HttpError(500, `redis ${args[0]}: ${r.error}`)
    return r
  }
  const sql = async (q: string): Promise<Reply> => {
    if (pgPool === null) throw new HttpError(503, 'no database')
    const r = await pgPool.use((c) => counted('postgresql', () => c.query(q)))
    if (r.error !== null) throw new HttpError(500, `SQLSTATE ${r.error}`)
    return r
  }

  const route = async (method: string, url: URL, body: string): Promise<[number, string]> => {
    const path = url.pathname
    const query = url.searchParams
    if (method === 'GET' && path === '/') return [200, 'hello from the web tier\n']
    if (method === 'GET' && path === '/api/users') {
      const id = Number(query.get('id')) | 0
      const hit = await redis('GET', `user:${id}`)
      if (hit?.value != null) return [200, hit.value]
      const row = (await sql(`SELECT id, name FROM users WHERE id = ${id}`)).rows?.[0]
      if (row === undefined) throw new HttpError(404, `no user ${id}`)
      const json = JSON.stringify({ id: Number(row[0]), name: row[1] })
      await redis('SET', `user:${id}`, json, 'EX', String(CACHE_TTL_S))
      return [200, json]
    }
    if (method === 'POST' && path === '/api/orders') {
      const o = JSON.parse(body || '{}') as { user?: number; qty?: number }
      const r = await sql(`INSERT INTO orders (user_id, qty) VALUES (${Number(o.user) | 0}, ${Number(o.qty) | 0}) RETURNING id`)
      await redis('INCR', 'orders:count')
      return [201, JSON.stringify({ id: Number(r.rows?.[0]?.[0]) })]
    }
    if (method === 'GET' && path === '/api/cart') {
      await redis('INCR', 'cart:views')
      await redis('HGETALL', 'cart:views') // a string key: WRONGTYPE
      return [200, '{}']
    }
    if (method === 'GET' && path === '/api/report') {
      await sql('SELECT day, sum(total) FROM sales GROUP BY day') // no such table: 42P01
      return [200, '[]']
    }
    if (method === 'GET' && path === '/api/slow') {
      await sql('SELECT pg_sleep(0.8), count(*) FROM orders')
      return [200, '{"slow":true}']
    }
    throw new HttpError(404, 'not found')
  }

  let inFlight = 0
  let drained: (() => void) | null = null
  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    inFlight++
    const chunks: Buffer[] = []
    req.on('data', (d: Buffer) => chunks.push(d))
    req.on('end', () => {
      route(req.method ?? 'GET', new URL(req.url ?? '/', 'http://web'), Buffer.concat(chunks).toString())
        .catch((e: Error): [number, string] => [e instanceof HttpError ? e.status : 500, `${e.message}\n`])
        .then(([status, text]) => {
          res.writeHead(status, { 'content-type': text.startsWith('{') ? 'application/json' : 'text/plain' })
          res.end(text)
          stats.http++
        })
        .finally(() => {
          if (--inFlight === 0) drained?.()
        })
    })
  }
  const server = createServer({ keepAliveTimeout: 30_000 }, handle)
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(cfg.port, cfg.host, resolve)
  })

  process.once('SIGTERM', () => {
    server.close()
    server.closeIdleConnections()
    let once = false
    const done = (): void => {
      if (once) return
      once = true
      redisPool?.close()
      pgPool?.close()
      server.closeAllConnections()
      process.stdout.write(JSON.stringify(stats) + '\n', () => process.exit(0))
    }
    if (inFlight === 0) return done()
    drained = done
    setTimeout(done, 3000).unref()
  })
}

// run as a program: node web-tier.js '<WebTierConfig as JSON>'
if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === realpathSync(process.argv[1])) {
  runWebTier(JSON.parse(process.argv[2] ?? '{}') as WebTierConfig).catch((e: Error) => {
    process.stderr.write(`web tier: ${e.message}\n`)
    process.exit(1)
  })
}
