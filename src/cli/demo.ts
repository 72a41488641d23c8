// `podtap demo`: podtap on real traffic in one command. Three "pods" as network namespaces with a
// veth each (src/demo/netns.ts): web (the web tier, src/demo/web-tier.ts: a node process), cache
// (redis-server), db (PostgreSQL); Redis and PostgreSQL when installed. A client in the root namespace
// sends HTTP to the web tier (src/demo/traffic.ts), which calls the cache and the db for each request,
// while `capture` runs on the host sides of the veths and shows the live table: a chain
// client -> web -> cache, web -> db.
//
//   root namespace: podtap + demo client; forwards between the demo's veths (their own sysctl only)
//     pd…h 10.213.a.1 ── veth ── web   10.213.a.2:80    node web-tier.js ──┐
//     pd…h 10.213.b.1 ── veth ── cache 10.213.b.2:6379  redis-server  <────┤ (through the root
//     pd…h 10.213.c.1 ── veth ── db    10.213.c.2:5432  postgres      <────┘  namespace)
//
// The web tier's calls pass two captured veths (web's, then the backend's): the capture keeps one copy
// of each packet, on the listening side's veth (VethCopies, the rule --k8s uses for pods of one node).
// Records are named by pod: namespace "demo", pod web/cache/db by the namespace's address, "client" for
// the host sides (the root-namespace client's source addresses).
//
// Stop (Ctrl-C, SIGTERM, --duration, or an error): the client stops and waits for its requests in
// flight, the web tier finishes its own and reports what it sent, then capture stops (draining the
// rings), then servers, namespaces and temp dirs go. An
// 'exit' hook in netns.ts removes namespaces even if the process exits another way; the next demo
// run also removes those of a demo that was killed.

import { writeFileSync } from 'node:fs'
import { VethCopies } from '../capture/copies.js'
import { CaptureError } from '../errors.js'
import { cleanupStale, createNetnsHost, DEMO_NS_PREFIX, type NetnsHost } from '../demo/netns.js'
import { PACKAGES, postgresBin, startPostgres, startRedis, startWebTier, which, type DemoServer, type WebTier } from '../demo/servers.js'
import { startTraffic, type Traffic, type TrafficStats } from '../demo/traffic.js'
import type { WebTierStats } from '../demo/web-tier.js'
import type { Peer } from '../records.js'
import { capture, checkLiveCapture, printCaptureResult, type CaptureOptions, type CaptureResult } from './capture.js'
import { log } from '../log.js'

export interface DemoOptions {
  durationS?: number
  format: 'table' | 'jsonl'
  summary?: boolean
  /** HTTP requests per second the client sends to the web tier */
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
  /** what the web tier sent to Redis and PostgreSQL (null: it did not say) */
  web: WebTierStats | null
  /** packets seen on two veths (the web tier's calls) and left out once */
  secondCopies: number
}

/** The namespace the demo's records name their ends in (pods web, cache, db, and client). */
export const DEMO_NAMESPACE = 'demo'

function defaultLog(msg: string): void {
  log.info(msg)
}

const ROOT_NEEDED =
  'podtap demo needs root: it creates network namespaces and veth pairs (ip netns, ip link) and starts ' +
  'servers inside them, which only root may do; live capture alone needs less (see podtap capture --help). ' +
  'Run it as root: sudo podtap demo'

/** Which programs are there; Redis and PostgreSQL are optional (the web tier is podtap's own node). */
function findPrograms(log: (msg: string) => void): { redis: boolean; pgBin: string | null } {
  if (which('ip') === null) throw new CaptureError('PODTAP_DEMO_MISSING', 'the ip command is missing: apt-get install -y iproute2', 1)
  const missing: string[] = []
  const redis = which('redis-server') !== null
  if (!redis) missing.push(PACKAGES['redis-server'])
  const pgBin = which('setpriv') === null ? null : postgresBin()
  if (pgBin === null) missing.push(PACKAGES.postgres)
  if (missing.length > 0) {
    log(`${missing.join(', ')} not installed: the demo runs without ${missing.map((m) => (m === 'postgresql' ? 'PostgreSQL' : 'Redis')).join(' and ')} (apt-get install -y ${missing.join(' ')})`)
  }
  return { redis, pgBin }
}

/**
 * What the demo plugs into the capture: one copy of each packet between two of its pods (the web
 * tier's calls pass two captured veths), and both ends of each record named by pod.
 */
function demoAttachment(hosts: readonly NetnsHost[], copies: VethCopies): CaptureOptions['attach'] {
  const pods = new Map<string, string>()
  for (const h of hosts) {
    copies.own(h.nsIp, h.hostIfindex)
    copies.own(h.nsIp6, h.hostIfindex)
    for (const ip of [h.nsIp, h.nsIp6]) pods.set(ip, h.name)
    for (const ip of [h.hostIp, h.hostIp6]) pods.set(ip, 'client')
  }
  const name = (p: Peer): void => {
    const pod = pods.get(p.ip)
    if (pod === undefined) return
    p.namespace = DEMO_NAMESPACE
    p.pod = pod
  }
  return async () => ({
    accept: (p) => copies.accept(p),
    exchange: (e) => {
      name(e.client)
      name(e.server)
      return true
    },
    link: (l) => {
      name(l.client as Peer)
      name(l.server as Peer)
      return true
    },
    peers: (c, s) => {
      name(c)
      name(s)
    },
    close: async () => undefined,
  })
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
  let web: WebTier | null = null
  let traffic: Traffic | null = null
  const stopCapture = new AbortController()
  let stopping: Promise<void> | null = null
  // client first, then the web tier, so their last requests complete and are captured; then the
  // capture drains and ends
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      await traffic?.stop()
      await web?.stop()
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
      // the web tier reaches the other pods through the root namespace: forwarding on the demo's
      // own veths only (nothing else on the machine changes; it goes with the veth)
      writeFileSync(`/proc/sys/net/ipv4/conf/${h.hostIf}/forwarding`, '1')
      return h
    }
    const webHost = await pod('web')
    const cache = programs.redis ? await startRedis(await pod('cache')) : undefined
    if (cache !== undefined) servers.push(cache)
    let db: DemoServer | undefined
    if (programs.pgBin !== null) {
      try {
        db = await startPostgres(await pod('db'), programs.pgBin)
        servers.push(db)
      } catch (e) {
        log(`PostgreSQL did not start, the demo runs without it: ${(e as Error).message}`)
      }
    }
    const w = (web = await startWebTier(webHost, { redis: cache, pg: db }))
    servers.unshift(w)
    const title = 'podtap demo: ' + servers.map((s) => `${s.host.name} ${s.ip}:${s.port} (${s.kind})`).join(', ') + (o.uiUrl !== undefined ? ` | web UI ${o.uiUrl}` : '')
    log(`pods: ${servers.map((s) => `${s.host.name} = ${s.label} behind ${s.host.hostIf}`).join('; ')}`)
    if (o.signal?.aborted) void stop()
    const copies = new VethCopies()
    const result = await capture({
      ifaces: servers.map((s) => s.host.hostIf),
      attach: demoAttachment(servers.map((s) => s.host), copies),
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
        traffic = startTraffic(w, { rate: o.rate ?? 20, log })
        if (o.durationS !== undefined) duration = setTimeout(() => void stop(), o.durationS * 1000)
        log(`capturing on ${servers.map((s) => s.host.hostIf).join(', ')}; ${o.durationS !== undefined ? `for ${o.durationS} s` : 'Ctrl-C to stop'}`)
      },
    })
    return {
      ...result,
      servers: servers.map((s) => ({ kind: s.kind, label: s.label })),
      client: traffic !== null ? (traffic as Traffic).stats : { http: 0, failed: 0 },
      web: web !== null ? (web as WebTier).stats() : null,
      secondCopies: copies.dropped,
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
  const w = r.web
  process.stderr.write(
    `podtap: demo client sent ${c.http} HTTP requests` +
      (c.failed > 0 ? ` (${c.failed} failed on the client side)` : '') +
      (w !== null ? `; the web tier sent ${w.redis} Redis commands, ${w.postgresql} SQL queries` + (w.failed > 0 ? ` (${w.failed} got no reply)` : '') : '') +
      `; ${r.secondCopies} packets passed two veths and were kept once` +
      '; every namespace, process and temp directory of the demo is removed\n',
  )
}
