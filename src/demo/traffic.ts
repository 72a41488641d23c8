// The demo's client: real requests from the root namespace to the pods, at a modest steady rate, so
// every packet crosses exactly one captured veth (a client in a third namespace would put each packet
// on two veths, and the same connection would be seen twice).
//
//   HTTP   node:http, mostly over a keep-alive Agent, every 5th request on a new connection; a mix of
//          200, 201, 404, 405, 500 and an occasional slow download
//   Redis  one connection: SET/GET/INCR/LPUSH/LRANGE/HSET/HGETALL, a WRONGTYPE and an unknown command
//   SQL    one connection: SELECT, INSERT, UPDATE, and a query on a missing table (SQLSTATE 42P01)

import { Agent, request } from 'node:http'
import { PgClient, RedisClient } from './clients.js'
import { PG_DATABASE, PG_USER, type DemoServer } from './servers.js'

export interface TrafficStats {
  http: number
  redis: number
  postgresql: number
  /** requests that failed on the client side (connect errors, resets), by kind */
  failed: number
}

export interface Traffic {
  readonly stats: TrafficStats
  /** Stops sending and waits (at most timeoutMs) for requests in flight. */
  stop(timeoutMs?: number): Promise<void>
}

const HTTP_MIX: { method: string; path: string; body?: string; weight: number }[] = [
  { method: 'GET', path: '/', weight: 6 },
  { method: 'GET', path: '/api/users', weight: 8 },
  { method: 'POST', path: '/api/checkout', body: '{"cart":7}', weight: 3 },
  { method: 'GET', path: '/api/checkout', weight: 1 },
  { method: 'GET', path: '/api/cart', weight: 2 },
  { method: 'GET', path: '/missing.html', weight: 2 },
]
/** one slow download (about 2 s) every this many HTTP requests */
const SLOW_EVERY = 40
const MAX_HTTP_IN_FLIGHT = 8

const REDIS_SCRIPT: string[][] = [
  ['SET', 'demo:greeting', 'hello'],
  ['GET', 'demo:greeting'],
  ['INCR', 'demo:counter'],
  ['LPUSH', 'demo:queue', 'job'],
  ['LRANGE', 'demo:queue', '0', '9'],
  ['HSET', 'demo:user:1', 'name', 'ada', 'lang', 'en'],
  ['HGETALL', 'demo:user:1'],
  ['GET', 'demo:missing'],
  ['HGET', 'demo:counter', 'x'], // WRONGTYPE: the key holds a string
  ['LTRIM', 'demo:queue', '0', '99'],
  ['NOSUCHCOMMAND'], // ERR unknown command
]

const SQL_SETUP = 'CREATE TABLE IF NOT EXISTS items (id serial PRIMARY KEY, name text NOT NULL, qty int NOT NULL DEFAULT 0)'
const SQL_SCRIPT: string[] = [
  "INSERT INTO items (name, qty) VALUES ('widget', 3)",
  'SELECT count(*) FROM items',
  'SELECT id, name, qty FROM items ORDER BY id DESC LIMIT 5',
  'UPDATE items SET qty = qty + 1 WHERE id = 1',
  'SELECT now()',
  'SELECT * FROM orders', // 42P01: no such table
  'DELETE FROM items WHERE id % 50 = 0',
]

export function startTraffic(servers: readonly DemoServer[], o: { rate: number; log: (msg: string) => void }): Traffic {
  const stats: TrafficStats = { http: 0, redis: 0, postgresql: 0, failed: 0 }
  const inFlight = new Set<Promise<unknown>>()
  const timers: NodeJS.Timeout[] = []
  const cleanup: (() => void)[] = []
  const logged = new Set<string>()
  let stopped = false
  const logOnce = (key: string, msg: string): void => {
    if (logged.has(key)) return
    logged.add(key)
    o.log(msg)
  }
  const track = <T>(p: Promise<T>): void => {
    const q = p.catch(() => undefined).finally(() => inFlight.delete(q))
    inFlight.add(q)
  }
  const every = (ms: number, f: () => void): void => {
    timers.push(setInterval(() => !stopped && f(), Math.max(5, ms)))
  }

  const web = servers.find((s) => s.kind === 'http')
  if (web !== undefined) {
    const agent = new Agent({ keepAlive: true, maxSockets: 4 })
    const total = HTTP_MIX.reduce((a, m) => a + m.weight, 0)
    let n = 0
    let httpInFlight = 0
    every(1000 / o.rate, () => {
      if (httpInFlight >= MAX_HTTP_IN_FLIGHT) return
      n++
      let pick = HTTP_MIX[0]!
      if (n % SLOW_EVERY === 0) pick = { method: 'GET', path: '/slow', weight: 0 }
      else {
        let r = Math.random() * total
        for (const m of HTTP_MIX) {
          r -= m.weight
          if (r < 0) {
            pick = m
            break
          }
        }
      }
      httpInFlight++
      track(
        new Promise<void>((resolve) => {
          const req = request(
            {
              host: web.ip,
              port: web.port,
              method: pick.method,
              path: pick.path,
              agent: n % 5 === 0 ? false : agent, // every 5th on its own connection
              headers: pick.body !== undefined ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(pick.body) } : {},
              timeout: 10_000,
            },
            (res) => {
              res.resume()
              res.on('end', () => {
                stats.http++
                resolve()
              })
              res.on('error', () => resolve())
            },
          )
          req.on('timeout', () => req.destroy(new Error('timeout')))
          req.on('error', (e) => {
            stats.failed++
            logOnce('http', `demo http client: ${e.message}`)
            resolve()
          })
          req.end(pick.body)
        }).finally(() => httpInFlight--),
      )
    })
    cleanup.push(() => agent.destroy())
  }

  /**
   * One client connection driven in a loop: connect when there is none, one command at a time,
   * reconnect after a failure (counted and logged once).
   */
  const drive = <Cl extends { busy: boolean; close(): void }>(
    key: string,
    label: string,
    connect: () => Promise<Cl>,
    step: (c: Cl, i: number) => Promise<unknown>,
    onDone: () => void,
  ): void => {
    let client: Cl | null = null
    let connecting = false
    let i = 0
    every(2000 / o.rate, () => {
      if (connecting || client?.busy) return
      if (client === null) {
        connecting = true
        track(
          connect()
            .then((c) => (client = c))
            .catch((e: Error) => logOnce(key, `${label}: ${e.message}`))
            .finally(() => (connecting = false)),
        )
        return
      }
      const c = client
      track(
        step(c, i++).then(onDone, (e: Error) => {
          stats.failed++
          logOnce(key, `${label}: ${e.message}`)
          client = null
        }),
      )
    })
    cleanup.push(() => client?.close())
  }

  const redis = servers.find((s) => s.kind === 'redis')
  if (redis !== undefined) {
    drive(
      'redis',
      'demo redis client',
      () => RedisClient.connect(redis.ip, redis.port),
      (c, i) => c.command(...REDIS_SCRIPT[i % REDIS_SCRIPT.length]!),
      () => stats.redis++,
    )
  }

  const pg = servers.find((s) => s.kind === 'postgresql')
  if (pg !== undefined) {
    drive(
      'pg',
      'demo postgresql client',
      async () => {
        const c = await PgClient.connect(pg.ip, pg.port, PG_USER, PG_DATABASE)
        await c.query(SQL_SETUP)
        stats.postgresql++
        return c
      },
      (c, i) => c.query(SQL_SCRIPT[i % SQL_SCRIPT.length]!),
      () => stats.postgresql++,
    )
  }

  return {
    stats,
    async stop(timeoutMs = 4000) {
      if (stopped) return
      stopped = true
      for (const t of timers) clearInterval(t)
      let timer: NodeJS.Timeout | undefined
      await Promise.race([Promise.all([...inFlight]), new Promise((r) => (timer = setTimeout(r, timeoutMs)))])
      clearTimeout(timer)
      for (const f of cleanup) f()
    },
  }
}
