// Soak benchmark (issue 14 §8): live capture under mixed load for a long time, with pods coming and
// going and the InfluxDB sink down in the middle. Reports RSS and open fds over time, every point the
// sink dropped, and exchanges lost against what the clients completed.
//
//   sudo npx tsx scripts/soak.ts [--minutes 30] [--out DIR] [--ring-blocks 16]
//
// What runs (root; nginx, redis-server, postgresql and influxd from Debian):
//   - three long-lived "pods" (network namespaces), the demo's chain: its client (src/demo/traffic.ts)
//     sends HTTP to the web tier (src/demo/web-tier.ts) over keep-alive with every 5th request on a
//     new connection; the web tier calls Redis and PostgreSQL in their pods. The client counts the
//     HTTP responses it read, the web tier the Redis and SQL replies it read;
//   - a short-lived pod every 90 s: a namespace with nginx, 100 GETs on new connections, deleted 60 s
//     later (veths appear and vanish under --all-veth);
//   - `podtap capture --all-veth --veth-match 'pk*'` (dist/, the shipped CLI: only this soak's veths,
//     all named pk<hex>h; the other namespaces of a shared machine are left out) writing to InfluxDB 1.6
//     (Debian's influxd behind the /api/v2/write adapter of the integration tests) with l7_trace
//     points, and serving /metrics; from 40% to 40% + 5 min (or a sixth of a short run) the adapter
//     answers 503 to every write: InfluxDB is down;
//   - every 10 s: podtap's VmRSS and open fds from /proc, its V8 heap (used/total) and external
//     memory from /metrics (prom-client's process metrics), flows tracked and kernel drops so far.
// At the end: exchanges podtap reported per pod vs. requests the clients completed; l7_trace points in
// InfluxDB + podtap_sink_dropped_points_total vs. exchanges reported; RSS and fds first vs. last part.
// Figures go to stdout and DIR/soak.json.

import { spawn } from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { Agent, request } from 'node:http'
import { cleanupStale, createNetnsHost, DEMO_NS_PREFIX, startNginx, type NetnsHost } from '../src/demo/netns.js'
import { postgresBin, startPostgres, startRedis, startWebTier, type DemoServer } from '../src/demo/servers.js'
import { startTraffic } from '../src/demo/traffic.js'
import { freePort, rows, startInfluxd, startV2Adapter } from '../test/integration/influx-harness.js'

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(name)
  return i >= 0 ? process.argv[i + 1]! : def
}
const MINUTES = Number(arg('--minutes', '30'))
const OUT = arg('--out', '/tmp/podtap-soak')
/** ring size per veth in 1 MiB blocks (podtap's --ring-blocks; its --all-veth default is 4) */
const RING_BLOCKS = arg('--ring-blocks', '16')
const ROOT = path.resolve(import.meta.dirname, '..')
/** every pod of the soak has a host-side veth pk<hex>h; podtap captures only those (--veth-match) */
const VETH_PREFIX = 'pk'
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const log = (m: string) => process.stderr.write(`soak: ${new Date().toISOString().slice(11, 19)} ${m}\n`)

interface Sample {
  s: number
  rssKb: number
  fds: number
  /** from /metrics: V8 heap used and reserved, memory outside the heap (Buffers: the ring is not in it) */
  heapUsedMb?: number
  heapTotalMb?: number
  externalMb?: number
  flows?: number
  kernelDrops?: number
}

const metric = (text: string, name: string): number | undefined => {
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+-]+)`, 'm').exec(text)
  return m === null ? undefined : Number(m[1])
}
const mb = (b: number | undefined): number | undefined => (b === undefined ? undefined : Math.round(b / 1048576))

async function sample(pid: number, t0: number, metricsUrl: string): Promise<Sample | null> {
  try {
    const st = fs.readFileSync(`/proc/${pid}/status`, 'utf8')
    const rss = Number(/VmRSS:\s+(\d+)/.exec(st)?.[1] ?? NaN)
    const out: Sample = { s: Math.round((Date.now() - t0) / 1000), rssKb: rss, fds: fs.readdirSync(`/proc/${pid}/fd`).length }
    const m = await fetch(metricsUrl, { signal: AbortSignal.timeout(5000) }).then((r) => r.text()).catch(() => '')
    out.heapUsedMb = mb(metric(m, 'podtap_nodejs_heap_size_used_bytes'))
    out.heapTotalMb = mb(metric(m, 'podtap_nodejs_heap_size_total_bytes'))
    out.externalMb = mb(metric(m, 'podtap_nodejs_external_memory_bytes'))
    out.flows = metric(m, 'podtap_flows_active')
    out.kernelDrops = metric(m, 'podtap_capture_dropped_total')
    return out
  } catch {
    return null
  }
}

/** n GETs on new connections to `ip`; resolves with how many completed */
async function shortGets(ip: string, n: number): Promise<number> {
  let ok = 0
  for (let i = 0; i < n; i++) {
    ok += await new Promise<number>((resolve) => {
      const req = request({ host: ip, port: 80, path: `/eph/${i}`, agent: new Agent({ keepAlive: false }) }, (res) => {
        res.resume()
        res.on('end', () => resolve(1))
      })
      req.on('error', () => resolve(0))
      req.end()
    })
    await sleep(50)
  }
  return ok
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('the soak needs root (namespaces, live capture)')
  fs.mkdirSync(OUT, { recursive: true })
  cleanupStale(false, DEMO_NS_PREFIX)
  const hosts: NetnsHost[] = []
  const pod = async (name: string) => {
    const h = await createNetnsHost({ name, prefix: DEMO_NS_PREFIX, vethPrefix: VETH_PREFIX })
    hosts.push(h)
    // the web tier reaches the other pods through the root namespace (as in `podtap demo`)
    fs.writeFileSync(`/proc/sys/net/ipv4/conf/${h.hostIf}/forwarding`, '1')
    return h
  }
  const webHost = await pod('web')
  const cache = await startRedis(await pod('cache'))
  const pg = postgresBin()
  const db = pg !== null ? await startPostgres(await pod('db'), pg) : undefined
  const web = await startWebTier(webHost, { redis: cache, pg: db })
  const servers: DemoServer[] = [web, cache, ...(db !== undefined ? [db] : [])]
  const influxd = await startInfluxd()
  await influxd.query('CREATE DATABASE soak')
  const adapter = await startV2Adapter(influxd.url)
  const metricsPort = await freePort()
  const jsonl = path.join(OUT, 'exchanges.jsonl')
  const podtap = spawn(
    process.execPath,
    [path.join(ROOT, 'bin/podtap.js'), 'capture', '--all-veth', '--veth-match', `${VETH_PREFIX}*`, '--format', 'jsonl', '--influx-url', adapter.url, '--influx-bucket', 'soak', '--influx-traces',
      '--window', '5', '--sink-queue', '20000', '--ring-blocks', RING_BLOCKS, '--metrics-port', String(metricsPort), '--metrics-host', '127.0.0.1', '--log-format', 'json'],
    { stdio: ['ignore', fs.openSync(jsonl, 'w'), fs.openSync(path.join(OUT, 'podtap.log'), 'w')] },
  )
  const t0 = Date.now()
  await sleep(3000)
  const traffic = startTraffic(web, { rate: 30, log })
  const metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`
  const samples: Sample[] = []
  const eph: { ip: string; sent: number }[] = []
  const ephemeral: Promise<void>[] = []
  const endAt = t0 + MINUTES * 60_000
  const downFrom = t0 + MINUTES * 60_000 * 0.4
  const downFor = Math.min(5 * 60_000, (MINUTES * 60_000) / 6)
  let down = false
  let downDone = false
  let nextPod = t0 + 30_000
  let podN = 0
  log(`running ${MINUTES} min; podtap pid ${podtap.pid}; InfluxDB down from ${Math.round((downFrom - t0) / 1000)} s for ${downFor / 1000} s`)
  while (Date.now() < endAt && podtap.exitCode === null) {
    const s = await sample(podtap.pid!, t0, metricsUrl)
    if (s !== null) samples.push(s)
    if (!down && !downDone && Date.now() >= downFrom) {
      adapter.mode = { kind: 'status', status: 503 }
      down = true
      log('InfluxDB down (503 to every write)')
    } else if (down && Date.now() >= downFrom + downFor) {
      adapter.mode = { kind: 'forward' }
      down = false
      downDone = true
      log('InfluxDB back')
    }
    if (Date.now() >= nextPod && Date.now() < endAt - 120_000) {
      nextPod += 90_000
      const name = `eph${podN++ % 100}`
      ephemeral.push(
        (async () => {
          const h = await createNetnsHost({ name, prefix: DEMO_NS_PREFIX, vethPrefix: VETH_PREFIX })
          try {
            await startNginx(h, { locations: ['location /eph/ { default_type text/plain; return 200 "ok\\n"; }'] })
            await sleep(2000) // podtap attaches the new veth
            const sent = await shortGets(h.nsIp, 100)
            eph.push({ ip: h.nsIp, sent })
            await sleep(60_000)
          } finally {
            await h.destroy()
          }
        })().catch((e) => log(`ephemeral pod ${name}: ${(e as Error).message}`)),
      )
    }
    await sleep(10_000)
  }
  // the client stops, then the web tier (its calls in flight complete; it says what it sent)
  await traffic.stop()
  await web.stop()
  await Promise.all(ephemeral)
  await sleep(3000)
  const metrics = await fetch(metricsUrl).then((r) => r.text()).catch(() => '')
  podtap.kill('SIGINT')
  await new Promise((r) => podtap.once('close', r))
  const wall = (Date.now() - t0) / 1000

  // exchanges per server ip vs. the clients
  // only our pods' veths are captured (--veth-match); a short-lived pod's address may be reused by a
  // later one, so only its /eph/ paths count
  const lines = fs.readFileSync(jsonl, 'utf8').split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { server: { ip: string }; protocol: string; resource?: string })
  const byIp = new Map<string, number>()
  const ephByIp = new Map<string, number>()
  for (const l of lines) {
    byIp.set(l.server.ip, (byIp.get(l.server.ip) ?? 0) + 1)
    if (l.resource?.startsWith('/eph/')) ephByIp.set(l.server.ip, (ephByIp.get(l.server.ip) ?? 0) + 1)
  }
  const podtapLog = fs.readFileSync(path.join(OUT, 'podtap.log'), 'utf8')
  const totals = /(\d+) kernel drops, (\d+) ring freezes/.exec(podtapLog)
  // the web tier's calls pass two captured veths: one copy kept, so no retransmission is made up
  const retransmits = Number(/^TCP: .*?(\d+) retransmits/m.exec(podtapLog)?.[1] ?? NaN)
  const stats = traffic.stats
  const tier = web.stats()
  if (tier === null) log('the web tier said nothing at exit: Redis and SQL counts unknown')
  const want: Record<string, number> = { http: stats.http, redis: tier?.redis ?? NaN, postgresql: db !== undefined ? (tier?.postgresql ?? NaN) : 0 }
  const got: Record<string, number> = {}
  for (const s of servers) got[s.kind] = byIp.get(s.ip) ?? 0
  const ephSent = eph.reduce((n, e) => n + e.sent, 0)
  const ephGot = [...new Set(eph.map((e) => e.ip))].reduce((n, ip) => n + (ephByIp.get(ip) ?? 0), 0)
  const lost = Object.keys(want).reduce((n, k) => n + Math.max(0, (want[k] ?? 0) - (got[k] ?? 0)), 0) + Math.max(0, ephSent - ephGot)
  // reported more often than the clients completed (a copy counted twice): as wrong as a loss
  const extra = Object.keys(want).reduce((n, k) => n + Math.max(0, (got[k] ?? 0) - (want[k] ?? 0)), 0) + Math.max(0, ephGot - ephSent)
  // points: l7_trace in InfluxDB + dropped vs. exchanges reported
  const traceRows = rows(await influxd.query('SELECT count(latency_ms) FROM l7_trace', 'soak'))
  const tracePoints = Number(traceRows[0]?.count ?? 0)
  const dropped = Number(/^podtap_sink_dropped_points_total\{sink="influx"\} (\d+)/m.exec(metrics)?.[1] ?? NaN)
  type Num = 'rssKb' | 'fds' | 'heapUsedMb' | 'heapTotalMb' | 'externalMb'
  const vals = (xs: Sample[], k: Num) => xs.map((x) => x[k]).filter((v): v is number => typeof v === 'number' && Number.isFinite(v)).sort((a, b) => a - b)
  const q = (xs: Sample[], k: Num) => vals(xs, k)[Math.floor(vals(xs, k).length / 2)] ?? NaN
  const quarter = Math.max(1, Math.floor(samples.length / 4))
  const first = samples.slice(1, 1 + quarter)
  const last = samples.slice(-quarter)
  // first/last quarter median, min and max over the run (after the first sample: start-up)
  const spread = (k: Num, div = 1) => {
    const all = vals(samples.slice(1), k)
    return { firstQuarterMedian: q(first, k) / div, lastQuarterMedian: q(last, k) / div, min: (all[0] ?? NaN) / div, max: (all[all.length - 1] ?? NaN) / div }
  }
  const result = {
    minutes: MINUTES,
    wallSeconds: wall,
    clients: { ...want, failed: stats.failed, webTierFailed: tier?.failed ?? NaN, ephemeralPods: eph.length, ephemeralSent: ephSent },
    podtap: { ...got, ephemeral: ephGot, allExchanges: lines.length },
    lostExchanges: lost,
    extraExchanges: extra,
    capture: {
      kernelDrops: Number(totals?.[1] ?? NaN),
      ringFreezes: Number(totals?.[2] ?? NaN),
      ringBlocks: Number(RING_BLOCKS),
      vethMatch: `${VETH_PREFIX}*`,
      retransmits,
      secondCopiesLeftOut: metric(metrics, 'podtap_veth_second_copies_total') ?? NaN,
    },
    influx: {
      tracePointsStored: tracePoints,
      droppedPointsCounted: dropped,
      // l7_trace points written and not stored: each must be among the dropped points counted (the
      // rest of those are l7_rpc/l7_link/... points); negative = a point lost without being counted
      traceMissing: lines.length - tracePoints,
      droppedUnaccounted: Math.max(0, lines.length - tracePoints - dropped),
      adapterAcceptedLines: adapter.acceptedLines,
      downSeconds: downFor / 1000,
    },
    rssMb: spread('rssKb', 1024),
    heapUsedMb: spread('heapUsedMb'),
    heapTotalMb: spread('heapTotalMb'),
    externalMb: spread('externalMb'),
    fds: spread('fds'),
    samples,
  }
  fs.writeFileSync(path.join(OUT, 'soak.json'), JSON.stringify(result, null, 2))
  const { samples: _s, ...brief } = result
  void _s
  process.stdout.write(JSON.stringify(brief, null, 2) + '\n')
  await adapter.close()
  await influxd.stop()
  for (const s of servers) await s.stop()
  for (const h of hosts) await h.destroy()
}

main().catch((e) => {
  process.stderr.write(`soak: ${(e as Error).stack ?? String(e)}\n`)
  process.exit(1)
})
