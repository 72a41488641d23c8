// The HTTP control API (off unless --control-port is given). Documented in openapi.yaml beside this
// file, which GET /openapi.yaml serves.
//
// Access: without a token it listens on loopback only (127.0.0.1 or ::1) and refuses any peer that is
// not loopback; with a token (PODTAP_CONTROL_TOKEN or --control-token-file) it may listen anywhere and
// every request needs `Authorization: Bearer <token>` (compared in constant time).
//
//   GET    /v1/status                     informers, resolver, dedupe, switches, uptime
//   GET    /v1/pods                       local pods and what podtap does with each (attached, excluded...)
//   GET    /v1/interfaces                 open rings: interface, pods, packets, drops
//   GET    /v1/selection                  namespaces, exclusions, selector, pods named in or out
//   PUT    /v1/selection/selector         {"selector": "app=web"}
//   POST   /v1/namespaces/{ns}            observe the namespace      DELETE: stop observing it
//   POST   /v1/pods/{ns}/{pod}            observe the pod            DELETE: stop observing it
//   GET    /v1/protocols                  PUT /v1/protocols/{id} {"enabled": false}
//   GET    /v1/outputs                    PUT /v1/outputs/{name} {"enabled": false}
//   GET    /v1/tls/coverage               processes with TLS connections: which tap reads each, or why none
//   GET    /openapi.yaml

import { timingSafeEqual } from 'node:crypto'
import { readFileSync } from 'node:fs'
import * as http from 'node:http'
import { isIP } from 'node:net'
import { fileURLToPath } from 'node:url'
import { PodtapError, UsageError } from '../errors.js'
import type { ControlState } from './state.js'

/** What the API reads and changes in Kubernetes mode (K8sSession has it all). */
export interface ControlK8s {
  readonly nodeName: string
  readonly configFrom: string
  readonly selection: {
    view(): unknown
    addNamespace(ns: string): void
    removeNamespace(ns: string): void
    addPod(ref: string): void
    removePod(ref: string): void
    setSelector(text: string): void
  }
  readonly attachment: { pods(): unknown[]; interfaces(): unknown[]; readonly dedupe: unknown; readonly ringCount: number }
  readonly watch: { status(): unknown[] }
}

export interface ControlTarget {
  state: ControlState
  k8s?: ControlK8s
  /** capture totals (packets, exchanges...) for /v1/status */
  stats?: () => Record<string, number>
  /** interfaces captured on, outside Kubernetes mode */
  interfaces?: () => unknown[]
}

export interface ControlServerOptions {
  port: number
  /** default 127.0.0.1 */
  host?: string
  /** bearer token; required when host is not loopback */
  token?: string
  log?: (msg: string) => void
}

export interface ControlServer {
  readonly url: string
  readonly port: number
  close(): Promise<void>
}

const MAX_BODY = 64 * 1024

export function isLoopback(addr: string): boolean {
  const a = addr.startsWith('::ffff:') ? addr.slice(7) : addr
  return a === '::1' || a.startsWith('127.')
}

/** The control token: --control-token-file, else PODTAP_CONTROL_TOKEN; undefined when neither. */
export function resolveControlToken(file: string | undefined, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (file !== undefined) {
    let t: string
    try {
      t = readFileSync(file, 'utf8').trim()
    } catch (e) {
      throw new UsageError(`--control-token-file ${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`)
    }
    if (t.length < 16) throw new UsageError(`--control-token-file ${file}: the token is shorter than 16 characters`)
    return t
  }
  const t = env.PODTAP_CONTROL_TOKEN
  if (t === undefined || t === '') return undefined
  if (t.length < 16) throw new UsageError('PODTAP_CONTROL_TOKEN is shorter than 16 characters')
  return t
}

let openapiText: string | null = null
function openapi(): string | null {
  if (openapiText !== null) return openapiText
  // src/control/openapi.yaml, from src/control (tsx) and from dist/control (built)
  for (const rel of ['./openapi.yaml', '../../src/control/openapi.yaml']) {
    try {
      openapiText = readFileSync(fileURLToPath(new URL(rel, import.meta.url)), 'utf8')
      return openapiText
    } catch {
      // next
    }
  }
  return null
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message)
  }
}

function send(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body, null, 1) + '\n'
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-store' })
  res.end(text)
}

function readBody(req: http.IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = []
    let n = 0
    req.on('data', (b: Buffer) => {
      n += b.length
      if (n > MAX_BODY) {
        reject(new HttpError(413, `request body over ${MAX_BODY} bytes`))
        req.destroy()
        return
      }
      parts.push(b)
    })
    req.on('end', () => {
      const text = Buffer.concat(parts).toString('utf8').trim()
      if (text === '') return resolve({})
      try {
        resolve(JSON.parse(text))
      } catch {
        reject(new HttpError(400, 'the body is not JSON'))
      }
    })
    req.on('error', reject)
  })
}

function enabledFlag(body: unknown): boolean {
  const v = (body as { enabled?: unknown } | null)?.enabled
  if (typeof v !== 'boolean') throw new HttpError(400, 'body must be {"enabled": true|false}')
  return v
}

export async function startControlServer(target: ControlTarget, o: ControlServerOptions): Promise<ControlServer> {
  const host = o.host ?? '127.0.0.1'
  if (isIP(host) === 0 && host !== 'localhost') throw new UsageError(`--control-host ${host} is not an IP address`)
  const loopbackOnly = o.token === undefined
  if (loopbackOnly && !(host === 'localhost' || isLoopback(host))) {
    throw new UsageError(
      `the control API listens on ${host} only with a token: set PODTAP_CONTROL_TOKEN or --control-token-file (or keep --control-host 127.0.0.1)`,
    )
  }
  const want = o.token !== undefined ? Buffer.from(`Bearer ${o.token}`) : null
  const log = o.log ?? (() => undefined)

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    if (loopbackOnly && !isLoopback(req.socket.remoteAddress ?? '')) throw new HttpError(403, 'the control API answers loopback clients only')
    if (want !== null) {
      const got = Buffer.from(req.headers.authorization ?? '')
      if (got.length !== want.length || !timingSafeEqual(got, want)) {
        res.setHeader('WWW-Authenticate', 'Bearer')
        throw new HttpError(401, 'missing or wrong bearer token')
      }
    }
    const url = new URL(req.url ?? '/', 'http://control')
    const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent)
    const method = req.method ?? 'GET'
    const k8s = target.k8s
    const needK8s = (): ControlK8s => {
      if (k8s === undefined) throw new HttpError(409, 'podtap is not running with --k8s: there are no pods or namespaces to select')
      return k8s
    }
    const route = `${method} /${parts.join('/')}`
    switch (route) {
      case 'GET /openapi.yaml': {
        const t = openapi()
        if (t === null) throw new HttpError(404, 'openapi.yaml is not installed with this build')
        res.writeHead(200, { 'Content-Type': 'application/yaml' })
        res.end(t)
        return
      }
      case 'GET /v1/status':
        return send(res, 200, {
          uptimeSeconds: Math.round((Date.now() - target.state.startedAt) / 1000),
          capture: target.stats?.() ?? {},
          protocols: target.state.protocols.view(),
          outputs: target.state.outputs.view(),
          kubernetes:
            k8s === undefined
              ? null
              : { node: k8s.nodeName, configFrom: k8s.configFrom, rings: k8s.attachment.ringCount, dedupe: k8s.attachment.dedupe, informers: k8s.watch.status() },
        })
      case 'GET /v1/pods':
        return send(res, 200, { pods: needK8s().attachment.pods() })
      case 'GET /v1/tls/coverage': {
        const rows = target.state.tlsCoverage
        if (rows === null) throw new HttpError(404, 'no TLS tap in this run: start podtap capture with --tls')
        return send(res, 200, { processes: rows })
      }
      case 'GET /v1/interfaces':
        return send(res, 200, { interfaces: k8s !== undefined ? k8s.attachment.interfaces() : (target.interfaces?.() ?? []) })
      case 'GET /v1/selection':
        return send(res, 200, needK8s().selection.view())
      case 'PUT /v1/selection/selector': {
        const body = (await readBody(req)) as { selector?: unknown }
        if (typeof body.selector !== 'string') throw new HttpError(400, 'body must be {"selector": "key=value,..."}')
        needK8s().selection.setSelector(body.selector)
        log(`control: selector set to "${body.selector}"`)
        return send(res, 200, needK8s().selection.view())
      }
    }
    // routes with a name in the path
    if (parts[0] === 'v1' && parts[1] === 'namespaces' && parts.length === 3 && (method === 'POST' || method === 'DELETE')) {
      const sel = needK8s().selection
      if (method === 'POST') sel.addNamespace(parts[2]!)
      else sel.removeNamespace(parts[2]!)
      log(`control: namespace ${parts[2]} ${method === 'POST' ? 'observed' : 'no longer observed'}`)
      return send(res, 200, sel.view())
    }
    if (parts[0] === 'v1' && parts[1] === 'pods' && parts.length === 4 && (method === 'POST' || method === 'DELETE')) {
      const sel = needK8s().selection
      const ref = `${parts[2]}/${parts[3]}`
      if (method === 'POST') sel.addPod(ref)
      else sel.removePod(ref)
      log(`control: pod ${ref} ${method === 'POST' ? 'observed' : 'no longer observed'}`)
      return send(res, 200, sel.view())
    }
    if (parts[0] === 'v1' && (parts[1] === 'protocols' || parts[1] === 'outputs')) {
      const sw = parts[1] === 'protocols' ? target.state.protocols : target.state.outputs
      if (parts.length === 2 && method === 'GET') return send(res, 200, { [parts[1]]: sw.view() })
      if (parts.length === 3 && method === 'PUT') {
        const on = enabledFlag(await readBody(req))
        if (!sw.has(parts[2]!)) throw new HttpError(404, `no ${parts[1].slice(0, -1)} "${parts[2]}"; known: ${sw.view().map((v) => v.name).join(', ')}`)
        sw.set(parts[2]!, on)
        log(`control: ${parts[1].slice(0, -1)} ${parts[2]} switched ${on ? 'on' : 'off'}`)
        return send(res, 200, { [parts[1]]: sw.view() })
      }
    }
    const known = ['/v1/status', '/v1/pods', '/v1/interfaces', '/v1/selection', '/v1/namespaces/', '/v1/pods/', '/v1/protocols', '/v1/outputs', '/v1/tls/coverage', '/openapi.yaml']
    if (known.some((k) => url.pathname === k || (k.endsWith('/') && url.pathname.startsWith(k)) || url.pathname.startsWith(k + '/'))) {
      throw new HttpError(405, `${method} is not allowed on ${url.pathname}`)
    }
    throw new HttpError(404, `no such endpoint: ${url.pathname} (GET /openapi.yaml lists them)`)
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      if (res.headersSent) return res.destroy()
      if (e instanceof HttpError) return send(res, e.status, { error: e.message })
      if (e instanceof PodtapError) return send(res, e.exitCode === 2 ? 400 : 500, { error: e.message })
      send(res, 500, { error: (e as Error)?.message ?? String(e) })
    })
  })
  server.headersTimeout = 10_000
  server.requestTimeout = 30_000
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(new UsageError(`control API: cannot listen on ${host}:${o.port}: ${e.code === 'EADDRINUSE' ? 'the port is in use' : e.message}`)),
    )
    server.listen(o.port, host, () => resolve())
  })
  const port = (server.address() as { port: number }).port
  const shown = host.includes(':') ? `[${host}]` : host
  log(`control API on http://${shown}:${port}/v1/ (${loopbackOnly ? 'loopback only' : 'bearer token required'})`)
  return {
    url: `http://${shown}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
