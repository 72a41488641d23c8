// The web UI's HTTP server (--ui-port): the bundled page and its data.
//
//   GET /                      index.html (dist/ui/web, built by scripts/build-ui.mjs)
//   GET /assets/app.js|.css    the bundle: preact, cytoscape and the page, nothing from elsewhere
//   GET /api/snapshot          UiSnapshot (map, table, sections, totals)
//   GET /api/requests          newest kept requests; ?protocol= &status= &pod= &text= &limit= &after=
//   GET /api/requests/{id}     one request's detail (UiRequestDetail), 404 once it left the ring
//   GET /api/focus             ?kind=edge|node&id=: the picked thing's history (UiFocus), 404 if unknown
//   GET /api/events            Server-Sent Events: 'snapshot' (when something changed, at most once a
//                              second), 'requests' (new requests since the last event, at most 200)
//
// Access, as the control API (src/control/server.ts): without a token it listens on loopback only and
// answers loopback peers only, and only requests whose Host is a loopback name (DNS rebinding); with one (PODTAP_CONTROL_TOKEN or --control-token-file) it may listen
// anywhere and every request needs it: `Authorization: Bearer <token>`, or a cookie the server sets
// when the page is opened once as /?token=<token> (browsers cannot add headers to EventSource).
//
// Memory: at most MAX_CLIENTS event streams; a stream whose socket does not drain is dropped rather
// than buffered.

import { timingSafeEqual } from 'node:crypto'
import { readFileSync } from 'node:fs'
import * as http from 'node:http'
import { isIP } from 'node:net'
import { fileURLToPath } from 'node:url'
import { isLoopback } from '../control/server.js'
import { UsageError } from '../errors.js'
import { filterFromParams } from './filter.js'
import type { UiModel } from './model.js'

export interface UiServerOptions {
  port: number
  /** default 127.0.0.1 */
  host?: string
  token?: string
  /** directory of index.html, app.js, app.css (default: dist/ui/web) */
  assetsDir?: string
  /** ms between event pushes (default 1000) */
  pushMs?: number
  log?: (msg: string) => void
}

export interface UiServer {
  readonly url: string
  readonly port: number
  close(): Promise<void>
}

const MAX_CLIENTS = 32
const MAX_PUSH_REQUESTS = 200
/** a snapshot goes out at least this often, so counters that move without requests show */
const IDLE_PUSH_MS = 5000
const COOKIE = 'podtap_ui'

const ASSETS: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/index.html': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/assets/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/assets/app.css': { file: 'app.css', type: 'text/css; charset=utf-8' },
}

/** The bundle: beside this file when built (dist/ui/web), else dist/ui/web from the sources (tsx). */
function assetsDirs(o: UiServerOptions): string[] {
  if (o.assetsDir !== undefined) return [o.assetsDir]
  return ['./web/', '../../dist/ui/web/'].map((rel) => fileURLToPath(new URL(rel, import.meta.url)))
}

function json(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body)
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-store' })
  res.end(text)
}

/** the Host header names this machine's loopback: 127.x.y.z, [::1], localhost (any port) */
function loopbackHost(host: string | undefined): boolean {
  if (host === undefined) return false
  const name = host.startsWith('[') ? host.slice(1, host.indexOf(']')) : host.replace(/:\d+$/, '')
  return name === 'localhost' || name.endsWith('.localhost') || isLoopback(name)
}

function sameSecret(got: string, want: Buffer): boolean {
  const g = Buffer.from(got)
  return g.length === want.length && timingSafeEqual(g, want)
}

function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const i = part.indexOf('=')
    if (i > 0 && part.slice(0, i).trim() === name) return decodeURIComponent(part.slice(i + 1).trim())
  }
  return undefined
}

export async function startUiServer(model: UiModel, o: UiServerOptions): Promise<UiServer> {
  const host = o.host ?? '127.0.0.1'
  if (isIP(host) === 0 && host !== 'localhost') throw new UsageError(`--ui-address ${host} is not an IP address`)
  const loopbackOnly = o.token === undefined
  if (loopbackOnly && !(host === 'localhost' || isLoopback(host))) {
    throw new UsageError(`the web UI listens on ${host} only with a token: set PODTAP_CONTROL_TOKEN or --control-token-file (or keep --ui-address 127.0.0.1)`)
  }
  const want = o.token !== undefined ? Buffer.from(o.token) : null
  const log = o.log ?? (() => undefined)
  const dirs = assetsDirs(o)
  const assetCache = new Map<string, Buffer>()
  const asset = (file: string): Buffer | null => {
    const hit = assetCache.get(file)
    if (hit !== undefined) return hit
    for (const d of dirs) {
      try {
        const b = readFileSync(d + file)
        assetCache.set(file, b)
        return b
      } catch {
        // next
      }
    }
    return null
  }

  const clients = new Set<http.ServerResponse>()
  const pushMs = o.pushMs ?? 1000

  const allowed = (req: http.IncomingMessage, url: URL, res: http.ServerResponse): boolean => {
    if (loopbackOnly) {
      if (!isLoopback(req.socket.remoteAddress ?? '')) {
        json(res, 403, { error: 'the web UI answers loopback clients only' })
        return false
      }
      // a page of another site that got its name resolved to 127.0.0.1 (DNS rebinding) sends its own
      // name as Host: only loopback names are ours
      if (!loopbackHost(req.headers.host)) {
        json(res, 403, { error: `Host ${req.headers.host ?? '(none)'} is not a loopback name: open the page as http://127.0.0.1:PORT/ or http://localhost:PORT/` })
        return false
      }
      return true
    }
    const auth = req.headers.authorization
    if (auth !== undefined && auth.startsWith('Bearer ') && sameSecret(auth.slice(7), want!)) return true
    const c = cookieValue(req.headers.cookie, COOKIE)
    if (c !== undefined && sameSecret(c, want!)) return true
    const q = url.searchParams.get('token')
    if (q !== null && sameSecret(q, want!)) {
      // once through the address bar: keep it in a cookie and drop it from the address
      res.writeHead(303, {
        'Set-Cookie': `${COOKIE}=${encodeURIComponent(q)}; HttpOnly; SameSite=Strict; Path=/`,
        Location: url.pathname,
      })
      res.end()
      return false
    }
    res.setHeader('WWW-Authenticate', 'Bearer')
    json(res, 401, { error: 'missing or wrong token: open the page once as /?token=TOKEN, or send Authorization: Bearer TOKEN' })
    return false
  }

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://ui')
    if (!allowed(req, url, res)) return
    if (req.method !== 'GET' && req.method !== 'HEAD') return json(res, 405, { error: `${req.method} is not allowed` })
    const a = ASSETS[url.pathname]
    if (a !== undefined) {
      const b = asset(a.file)
      if (b === null) return json(res, 503, { error: `the web UI is not built (${a.file} missing): run npm run build` })
      res.writeHead(200, { 'Content-Type': a.type, 'Content-Length': b.length, 'Cache-Control': 'no-cache' })
      return res.end(b)
    }
    if (url.pathname === '/favicon.ico') {
      res.writeHead(204)
      return res.end()
    }
    if (url.pathname === '/api/snapshot') return json(res, 200, model.snapshot())
    if (url.pathname === '/api/requests') {
      const limit = Math.min(2000, Math.max(1, Number(url.searchParams.get('limit') ?? 500) || 500))
      const after = Math.max(0, Number(url.searchParams.get('after') ?? 0) || 0)
      return json(res, 200, model.requests(filterFromParams(url.searchParams), limit, after))
    }
    const m = /^\/api\/requests\/(\d+)$/.exec(url.pathname)
    if (m !== null) {
      const d = model.request(Number(m[1]))
      return d === null ? json(res, 404, { error: `request ${m[1]} is no longer kept (only the newest are)` }) : json(res, 200, d)
    }
    if (url.pathname === '/api/focus') {
      const f = model.focus(url.searchParams.get('kind') ?? '', url.searchParams.get('id') ?? '')
      return f === null ? json(res, 404, { error: 'no such node or edge (kind=node|edge, id=...)' }) : json(res, 200, f)
    }
    if (url.pathname === '/api/events') return openStream(req, res)
    json(res, 404, { error: `no such page: ${url.pathname}` })
  })

  const openStream = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    if (clients.size >= MAX_CLIENTS) return json(res, 503, { error: `too many open pages (${MAX_CLIENTS})` })
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-store', Connection: 'keep-alive' })
    clients.add(res)
    const st = { seq: -1, lastId: model.lastId, at: 0 }
    streams.set(res, st)
    // the page loads the list through /api/requests; the stream brings what is newer
    send(res, st, true)
    req.on('close', () => {
      clients.delete(res)
      streams.delete(res)
    })
  }

  const streams = new Map<http.ServerResponse, { seq: number; lastId: number; at: number }>()
  const send = (res: http.ServerResponse, st: { seq: number; lastId: number; at: number }, force: boolean): void => {
    // a page that does not read its stream is dropped, not buffered for
    if (res.writableLength > 4 * 1024 * 1024) {
      res.destroy()
      return
    }
    const now = Date.now()
    if (force || st.seq !== model.seq || now - st.at >= IDLE_PUSH_MS) {
      res.write(`event: snapshot\ndata: ${JSON.stringify(model.snapshot())}\n\n`)
      st.seq = model.seq
      st.at = now
    }
    if (model.lastId > st.lastId) {
      const list = model.requests({}, MAX_PUSH_REQUESTS, st.lastId)
      res.write(`event: requests\ndata: ${JSON.stringify(list)}\n\n`)
      st.lastId = model.lastId
    }
  }
  const timer = setInterval(() => {
    for (const [res, st] of streams) send(res, st, false)
  }, pushMs)
  timer.unref()

  server.headersTimeout = 10_000
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(new UsageError(`web UI: cannot listen on ${host}:${o.port}: ${e.code === 'EADDRINUSE' ? 'the port is in use' : e.message}`)),
    )
    server.listen(o.port, host, () => resolve())
  })
  const port = (server.address() as { port: number }).port
  const shown = host.includes(':') ? `[${host}]` : host
  const url = `http://${shown}:${port}/`
  if (asset('index.html') === null) log(`warning: the web UI is not built (no ${dirs.join(' or ')}index.html): run npm run build`)
  return {
    url,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        clearInterval(timer)
        for (const c of clients) c.end()
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
