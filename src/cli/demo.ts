// `podtap demo`: podtap on real traffic in one command. Three "pods" as network namespaces with a
// veth each (src/demo/netns.ts): web (nginx), cache (redis-server), db (PostgreSQL, when installed);
// a client in the root namespace drives traffic to them (src/demo/traffic.ts) while `capture` runs on
// the host sides of the veths and shows the live table.
//
//   root namespace: podtap + demo client
//     pd…h 10.213.a.1 ── veth ── web   10.213.a.2:80    nginx
//     pd…h 10.213.b.1 ── veth ── cache 10.213.b.2:6379  redis-server
//     pd…h 10.213.c.1 ── veth ── db    10.213.c.2:5432  postgres
//
// Stop (Ctrl-C, SIGTERM, --duration, or an error): the client stops and waits for its requests in
// flight, then capture stops (draining the rings), then servers, namespaces and temp dirs go. An
// 'exit' hook in netns.ts removes namespaces even if the process exits another way; the next demo
// run also removes those of a demo that was killed.

import { CaptureError } from '../errors.js'
import { cleanupStale, createNetnsHost, DEMO_NS_PREFIX, type NetnsHost } from '../demo/netns.js'
import { PACKAGES, postgresBin, startPostgres, startRedis, startWeb, which, type DemoServer } from '../demo/servers.js'
import { startTraffic, type Traffic, type TrafficStats } from '../demo/traffic.js'
import { capture, checkLiveCapture, printCaptureResult, type CaptureOptions, type CaptureResult } from './capture.js'
import { log } from '../log.js'

export interface DemoOptions {
  durationS?: number
  format: 'table' | 'jsonl'
  summary?: boolean
  /** HTTP requests per second (Redis and PostgreSQL commands: half that each) */
  rate?: number
  /** aborting stops the demo cleanly (the CLI aborts on SIGINT/SIGTERM) */
  signal?: AbortSignal
  log?: (msg: string) => void
  /** extra consumers, as for capture (outputs) */
  onExchange?: CaptureOptions['onExchange']
  onLink?: CaptureOptions['onLink']
  onTick?: CaptureOptions['onTick']
  /** health counters shared with the outputs (the web UI shows them) */
  counters?: CaptureOptions['counters']
  /** the web UI's address, shown in the live view's title */
  uiUrl?: string
}

export interface DemoResult extends CaptureResult {
  servers: { kind: string; label: string }[]
  client: TrafficStats
}

function defaultLog(msg: string): void {
  log.info(msg)
}

const ROOT_NEEDED =
  'podtap demo needs root: it creates network namespaces and veth pairs (ip netns, ip link) and starts ' +
  'servers inside them, which only root may do; live capture alone needs less (see podtap capture --help). ' +
  'Run it as root: sudo podtap demo'

/** Which programs are there; nginx is required, Redis and PostgreSQL are optional. */
function findPrograms(log: (msg: string) => void): { redis: boolean; pgBin: string | null } {
  const missing: string[] = []
  if (which('ip') === null) throw new CaptureError('PODTAP_DEMO_MISSING', 'the ip command is missing: apt-get install -y iproute2', 1)
  if (which('nginx') === null) missing.push(PACKAGES.nginx)
  const redis = which('redis-server') !== null
  if (!redis) missing.push(PACKAGES['redis-server'])
  const pgBin = postgresBin()
  if (pgBin === null || which('setpriv') === null) missing.push(PACKAGES.postgres)
  if (which('nginx') === null) {
    throw new CaptureError('PODTAP_DEMO_MISSING', `nginx is missing (the demo's web pod): apt-get install -y ${missing.join(' ')}`, 1)
  }
  if (missing.length > 0) {
    log(`${missing.join(', ')} not installed: the demo runs without ${missing.map((m) => (m === 'postgresql' ? 'PostgreSQL' : 'Redis')).join(' and ')} (apt-get install -y ${missing.join(' ')})`)
  }
  return { redis, pgBin: which('setpriv') === null ? null : pgBin }
}

export async function demo(o: DemoOptions): Promise<DemoResult> {
  const log = o.log ?? defaultLog
  if (process.getuid?.() !== 0) throw new CaptureError('PODTAP_PERMISSION', ROOT_NEEDED, 1)
  const programs = findPrograms(log)
  checkLiveCapture()
  const stale = cleanupStale(false, DEMO_NS_PREFIX)
  if (stale.length > 0) log(`removed what an earlier demo left: ${stale.join(', ')}`)

  const hosts: NetnsHost[] = []
  const servers: DemoServer[] = []
  let traffic: Traffic | null = null
  const stopCapture = new AbortController()
  let stopping: Promise<void> | null = null
  // client first, so its last requests complete and are captured; then the capture drains and ends
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      await traffic?.stop()
      stopCapture.abort()
    })())
  const onAbort = (): void => void stop()
  let duration: NodeJS.Timeout | undefined
  try {
    if (o.signal?.aborted) throw new CaptureError('PODTAP_DEMO_ABORTED', 'stopped before the demo started', 1)
    o.signal?.addEventListener('abort', onAbort)
    const pod = async (name: string): Promise<NetnsHost> => {
      const h = await createNetnsHost({ name, prefix: DEMO_NS_PREFIX, vethPrefix: 'pd' })
      hosts.push(h)
      return h
    }
    servers.push(await startWeb(await pod('web')))
    if (programs.redis) servers.push(await startRedis(await pod('cache')))
    if (programs.pgBin !== null) {
      try {
        servers.push(await startPostgres(await pod('db'), programs.pgBin))
      } catch (e) {
        log(`PostgreSQL did not start, the demo runs without it: ${(e as Error).message}`)
      }
    }
    const title = 'podtap demo: ' + servers.map((s) => `${s.host.name} ${s.ip}:${s.port} (${s.kind})`).join(', ') + (o.uiUrl !== undefined ? ` | web UI ${o.uiUrl}` : '')
    log(`pods: ${servers.map((s) => `${s.host.name} = ${s.label} behind ${s.host.hostIf}`).join('; ')}`)
    if (o.signal?.aborted) void stop()
    const result = await capture({
      ifaces: servers.map((s) => s.host.hostIf),
      format: o.format,
      summary: o.summary,
      frameTimeoutMs: 20,
      title,
      signal: stopCapture.signal,
      log,
      onExchange: o.onExchange,
      onLink: o.onLink,
      onTick: o.onTick,
      counters: o.counters,
      onReady: () => {
        if (stopping !== null) return
        traffic = startTraffic(servers, { rate: o.rate ?? 20, log })
        if (o.durationS !== undefined) duration = setTimeout(() => void stop(), o.durationS * 1000)
        log(`capturing on ${servers.map((s) => s.host.hostIf).join(', ')}; ${o.durationS !== undefined ? `for ${o.durationS} s` : 'Ctrl-C to stop'}`)
      },
    })
    return {
      ...result,
      servers: servers.map((s) => ({ kind: s.kind, label: s.label })),
      client: traffic !== null ? (traffic as Traffic).stats : { http: 0, redis: 0, postgresql: 0, failed: 0 },
    }
  } finally {
    clearTimeout(duration)
    o.signal?.removeEventListener('abort', onAbort)
    await (traffic as Traffic | null)?.stop()
    await Promise.allSettled(servers.map((s) => s.stop()))
    await Promise.allSettled(hosts.map((h) => h.destroy()))
  }
}

export function printDemoResult(r: DemoResult, o: Pick<DemoOptions, 'format' | 'summary'>): void {
  printCaptureResult(r, o)
  const c = r.client
  process.stderr.write(
    `podtap: demo client sent ${c.http} HTTP requests, ${c.redis} Redis commands, ${c.postgresql} SQL queries` +
      (c.failed > 0 ? ` (${c.failed} failed on the client side)` : '') +
      '; every namespace, process and temp directory of the demo is removed\n',
  )
}
