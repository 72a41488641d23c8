// The demo's client: real HTTP requests from the root namespace to the web tier (web-tier.ts, in the
// web namespace), at a modest steady rate; the web tier calls Redis and PostgreSQL for them. The
// client's packets cross one captured veth (web's); the web tier's calls cross two (web's and the
// backend's), of which the capture keeps one copy (VethCopies, src/capture/copies.ts).
//
//   node:http, mostly over a keep-alive Agent, every 5th request on a new connection; a mix of 200
//   (cache hits and misses), 201 (an INSERT), 404 (no such user, no such page), 500 (a Redis
//   WRONGTYPE, a query on a missing table) and an occasional slow request (pg_sleep)

import { Agent, request } from 'node:http'
import type { DemoServer } from './servers.js'

export interface TrafficStats {
  /** HTTP requests whose response was read */
  http: number
  /** requests that failed on the client side (connect errors, resets, timeouts) */
  failed: number
}

export interface Traffic {
  readonly stats: TrafficStats
  /** Stops sending and waits (at most timeoutMs) for requests in flight. */
  stop(timeoutMs?: number): Promise<void>
}

const HTTP_MIX: { method: string; path: () => string; body?: () => string; weight: number }[] = [
  { method: 'GET', path: () => '/', weight: 2 },
  // users 1..10 exist; 11 and 12 are 404s
  { method: 'GET', path: () => `/api/users?id=${1 + Math.floor(Math.random() * 12)}`, weight: 10 },
  { method: 'POST', path: () => '/api/orders', body: () => JSON.stringify({ user: 1 + Math.floor(Math.random() * 10), qty: 1 + Math.floor(Math.random() * 5) }), weight: 3 },
  { method: 'GET', path: () => '/api/cart', weight: 2 },
  { method: 'GET', path: () => '/api/report', weight: 1 },
  { method: 'GET', path: () => '/missing.html', weight: 1 },
]
const SLOW = { method: 'GET', path: () => '/api/slow', weight: 0 }
/** one slow request (about 0.8 s) every this many HTTP requests */
const SLOW_EVERY = 40
const MAX_HTTP_IN_FLIGHT = 8

export function startTraffic(web: DemoServer, o: { rate: number; log: (msg: string) => void }): Traffic {
  const stats: TrafficStats = { http: 0, failed: 0 }
  const inFlight = new Set<Promise<unknown>>()
  let stopped = false
  let logged = false
  const track = <T>(p: Promise<T>): void => {
    const q = p.catch(() => undefined).finally(() => inFlight.delete(q))
    inFlight.add(q)
  }
  const agent = new Agent({ keepAlive: true, maxSockets: 4 })
  const total = HTTP_MIX.reduce((a, m) => a + m.weight, 0)
  let n = 0
  let httpInFlight = 0
  const timer = setInterval(() => {
    if (stopped || httpInFlight >= MAX_HTTP_IN_FLIGHT) return
    n++
    let pick = HTTP_MIX[0]!
    if (n % SLOW_EVERY === 0) pick = SLOW
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
    const body = pick.body?.()
    track(
      new Promise<void>((resolve) => {
        const req = request(
          {
            host: web.ip,
            port: web.port,
            method: pick.method,
            path: pick.path(),
            agent: n % 5 === 0 ? false : agent, // every 5th on its own connection
            headers: body !== undefined ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } : {},
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
          if (!logged) o.log(`demo http client: ${e.message}`)
          logged = true
          resolve()
        })
        req.end(body)
      }).finally(() => httpInFlight--),
    )
  }, Math.max(5, 1000 / o.rate))

  return {
    stats,
    async stop(timeoutMs = 4000) {
      if (stopped) return
      stopped = true
      clearInterval(timer)
      let wait: NodeJS.Timeout | undefined
      await Promise.race([Promise.all([...inFlight]), new Promise((r) => (wait = setTimeout(r, timeoutMs)))])
      clearTimeout(wait)
      agent.destroy()
    },
  }
}
