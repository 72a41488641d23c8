// A real InfluxDB for the output tests: Debian's influxd (1.6) started on loopback with a temporary
// directory, plus a small HTTP adapter in front of it.
//
// The adapter is a stand-in for the /api/v2/write endpoint that InfluxDB 1.8+, 2.x and 3.x serve and
// podtap writes to: Debian 12 ships InfluxDB 1.6, whose HTTP API only has /write?db=&rp=&precision=.
// It maps POST /api/v2/write?org=O&bucket=DB[/RP]&precision=ns to /write?db=DB&rp=RP&precision=n
// (the line protocol body is the same), checks the "Authorization: Token ..." header like 2.x does,
// and can misbehave on request (slow, 500, 429, refuse) for the fault tests.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import * as fs from 'node:fs'
import * as http from 'node:http'
import * as net from 'node:net'
import * as os from 'node:os'
import * as path from 'node:path'
import * as zlib from 'node:zlib'

export function influxdAvailable(): string | null {
  const r = spawnSync('influxd', ['version'], { encoding: 'utf8' })
  return r.status === 0 ? null : 'influxd not installed (apt-get install -y influxdb influxdb-client)'
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port
      s.close(() => resolve(port))
    })
  })
}

export interface Influxd {
  url: string
  query(q: string, db?: string): Promise<InfluxQueryResult[]>
  stop(): Promise<void>
}

export interface InfluxSeries {
  name: string
  tags?: Record<string, string>
  columns: string[]
  values: unknown[][]
}
export interface InfluxQueryResult {
  statement_id: number
  series?: InfluxSeries[]
  error?: string
}

export async function startInfluxd(): Promise<Influxd> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'podtap-influxd-'))
  const httpPort = await freePort()
  const rpcPort = await freePort()
  const conf = path.join(dir, 'influxdb.conf')
  fs.writeFileSync(
    conf,
    [
      'reporting-disabled = true',
      `bind-address = "127.0.0.1:${rpcPort}"`,
      '[meta]',
      `  dir = "${dir}/meta"`,
      '[data]',
      `  dir = "${dir}/data"`,
      `  wal-dir = "${dir}/wal"`,
      '  query-log-enabled = false',
      '[http]',
      `  bind-address = "127.0.0.1:${httpPort}"`,
      '  log-enabled = false',
      '[monitor]',
      '  store-enabled = false',
      '[continuous_queries]',
      '  enabled = false',
      '[subscriber]',
      '  enabled = false',
      '[logging]',
      '  level = "error"',
      '',
    ].join('\n'),
  )
  const child: ChildProcess = spawn('influxd', ['-config', conf], { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr!.on('data', (b: Buffer) => (stderr = (stderr + b.toString()).slice(-4000)))
  const url = `http://127.0.0.1:${httpPort}`
  const stop = async () => {
    if (child.exitCode === null) {
      const exited = new Promise<void>((r) => child.once('exit', () => r()))
      child.kill('SIGTERM')
      const t = setTimeout(() => child.kill('SIGKILL'), 5000)
      await exited
      clearTimeout(t)
    }
    fs.rmSync(dir, { recursive: true, force: true })
  }
  const deadline = Date.now() + 15_000
  for (;;) {
    try {
      const r = await fetch(`${url}/ping`)
      if (r.status === 204) break
    } catch {
      // not listening yet
    }
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop()
      throw new Error(`influxd did not start: ${stderr}`)
    }
    await new Promise((r) => setTimeout(r, 50))
  }
  const query = async (q: string, db?: string): Promise<InfluxQueryResult[]> => {
    const body = new URLSearchParams({ q, ...(db ? { db } : {}) })
    const r = await fetch(`${url}/query`, { method: 'POST', body })
    const j = (await r.json()) as { results?: InfluxQueryResult[]; error?: string }
    if (!j.results) throw new Error(`InfluxQL ${q}: ${j.error ?? r.status}`)
    return j.results
  }
  return { url, query, stop }
}

export type AdapterMode =
  | { kind: 'forward' } // to influxd
  | { kind: 'accept' } // 204 without storing (fault tests without influxd)
  | { kind: 'status'; status: number; retryAfter?: string; times?: number } // answer this `times` times, then behave as `then`
  | { kind: 'delay'; ms: number }

export interface Adapter {
  url: string
  port: number
  mode: AdapterMode
  /** after a 'status' mode used up its `times` */
  then: AdapterMode
  token: string | null
  requests: { atMs: number; lines: number; status: number }[]
  /** lines answered with 2xx */
  acceptedLines: number
  inFlight: number
  maxInFlight: number
  close(): Promise<void>
}

export async function startV2Adapter(influxdUrl: string | null, token: string | null = null): Promise<Adapter> {
  const a: Adapter = {
    url: '',
    port: 0,
    mode: influxdUrl ? { kind: 'forward' } : { kind: 'accept' },
    then: influxdUrl ? { kind: 'forward' } : { kind: 'accept' },
    token,
    requests: [],
    acceptedLines: 0,
    inFlight: 0,
    maxInFlight: 0,
    close: async () => undefined,
  }
  const server = http.createServer(async (req, res) => {
    a.inFlight++
    a.maxInFlight = Math.max(a.maxInFlight, a.inFlight)
    try {
      const chunks: Buffer[] = []
      for await (const c of req) chunks.push(c as Buffer)
      let body = Buffer.concat(chunks)
      if (req.headers['content-encoding'] === 'gzip') body = zlib.gunzipSync(body)
      const lines = body.toString('utf8').split('\n').filter((l) => l !== '').length
      const u = new URL(req.url ?? '/', 'http://x')
      const answer = (status: number, text = '', headers: Record<string, string> = {}) => {
        a.requests.push({ atMs: Date.now(), lines, status })
        if (status >= 200 && status < 300) a.acceptedLines += lines
        res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(text)
      }
      if (req.method !== 'POST' || u.pathname !== '/api/v2/write') return answer(404, '{"code":"not found","message":"path not found"}')
      if (a.token !== null && req.headers.authorization !== `Token ${a.token}`) return answer(401, '{"code":"unauthorized","message":"unauthorized access"}')
      let mode = a.mode
      if (mode.kind === 'status') {
        if (mode.times !== undefined && mode.times <= 0) mode = a.mode = a.then
        else {
          if (mode.times !== undefined) mode.times--
          return answer(mode.status, `{"code":"test","message":"adapter answers ${mode.status}"}`, mode.retryAfter ? { 'retry-after': mode.retryAfter } : {})
        }
      }
      if (mode.kind === 'delay') {
        await new Promise((r) => setTimeout(r, mode.ms))
        if (res.destroyed) return // the client gave up
        return answer(204)
      }
      if (mode.kind === 'accept') return answer(204)
      // forward: bucket "db/rp" -> db, rp; precision ns -> n (1.x names)
      const [db, rp] = (u.searchParams.get('bucket') ?? '').split('/')
      const precision = { ns: 'n', us: 'u', ms: 'ms', s: 's' }[u.searchParams.get('precision') ?? 'ns'] ?? 'n'
      const q = new URLSearchParams({ db, precision, ...(rp ? { rp } : {}) })
      const r = await fetch(`${influxdUrl}/write?${q}`, { method: 'POST', body })
      answer(r.status, await r.text())
    } catch (e) {
      if (!res.headersSent) res.writeHead(500).end(String(e))
    } finally {
      a.inFlight--
    }
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
  a.port = (server.address() as net.AddressInfo).port
  a.url = `http://127.0.0.1:${a.port}`
  a.close = () =>
    new Promise<void>((r) => {
      server.closeAllConnections()
      server.close(() => r())
    })
  return a
}

/** rows of the first series of the first statement, as objects */
export function rows(res: InfluxQueryResult[], i = 0): Record<string, unknown>[] {
  const r = res[i]
  if (r.error) throw new Error(r.error)
  const out: Record<string, unknown>[] = []
  for (const s of r.series ?? []) {
    for (const v of s.values) {
      const o: Record<string, unknown> = { ...(s.tags ?? {}) }
      s.columns.forEach((c, j) => (o[c] = v[j]))
      out.push(o)
    }
  }
  return out
}
