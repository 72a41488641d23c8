// TLS tap benchmark: what reading TLS plaintext costs the traced server. Two servers, each loaded
// with and without `podtap capture --tls` (the real src/cli/capture.ts path, in this process: taps,
// ring reads, TlsSessions, parsers), the runs of a round in turn (this machine's neighbours make
// single runs noisy; medians are printed):
//   go     test/go/httpsapp (Go 1.19, stripped) on a test namespace address: wrk (HTTP/1.1 over TLS)
//          and h2load (HTTP/2 over TLS), the Go crypto/tls tap
//   nginx  nginx HTTPS (one worker) in a test namespace: wrk, the OpenSSL tap
// Needs root, golang-go, nginx, wrk, h2load (nghttp2-client).
//
//   npm run bench:tls -- [--seconds 5] [--rounds 3] [--connections 20]
//
// Prints one JSON object per server and load tool: requests/s without and with the tap (median),
// the loss, podtap's CPU (% of one core), the server's CPU per request without and with the tap,
// tapped records (one per Read/Write call that moved bytes) and the cost per tapped call: the extra
// server CPU (uprobe traps: entry, RET) plus podtap's CPU, divided by the records.

import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { capture } from '../src/cli/capture.js'
import { Counters } from '../src/counters.js'
import { goBuild, goMissing } from '../test/helpers/go.js'
import { cleanupStale, createTestHost, needRoot, type TestHost } from '../test/helpers/netns.js'
import { startNginxTls } from '../test/helpers/tls.js'
import { sh } from '../test/integration/live-util.js'

const { values: a } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '3' },
    connections: { type: 'string', default: '20' },
  },
})
const seconds = Number(a.seconds)
const rounds = Number(a.rounds)
const conns = Number(a.connections)

const median = (xs: number[]): number => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!

/** utime + stime of processes, in seconds (USER_HZ 100) */
function cpuSeconds(pids: readonly number[]): number {
  let ticks = 0
  for (const pid of pids) {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    ticks += Number(f[11]) + Number(f[12])
  }
  return ticks / 100
}

type Load = () => Promise<{ rps: number; requests: number }>

const wrk = (url: string): Load => async () => {
  const out = await sh('wrk', ['-t2', `-c${conns}`, `-d${seconds}s`, url], (seconds + 60) * 1000)
  return { rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)![1]), requests: Number(/(\d+) requests in/.exec(out)![1]) }
}

const h2load = (url: string): Load => async () => {
  const out = await sh('h2load', ['-c', String(conns), '-m', '10', '-t', '2', '-D', String(seconds), url], (seconds + 60) * 1000)
  return { rps: Number(/finished in [^,]+, ([\d.]+) req\/s/.exec(out)![1]), requests: Number(/requests: \d+ total, \d+ started, (\d+) done/.exec(out)![1]) }
}

interface Run {
  rps: number
  serverCpuPerReqUs: number
  podtapCpuPct?: number
  records?: number
  exchanges?: number
}

/** One load run, with the tap (capture --tls, only serverPids) or without. */
async function once(load: Load, serverPids: readonly number[], tap: boolean): Promise<Run> {
  const s0 = cpuSeconds(serverPids)
  if (!tap) {
    const r = await load()
    return { rps: r.rps, serverCpuPerReqUs: ((cpuSeconds(serverPids) - s0) / r.requests) * 1e6 }
  }
  const counters = new Counters()
  const stop = new AbortController()
  let exchanges = 0
  let ready!: () => void
  const isReady = new Promise<void>((r) => (ready = r))
  const running = capture({
    format: 'table',
    liveTable: false,
    tls: { pids: serverPids },
    counters,
    signal: stop.signal,
    log: (m) => {
      if (/probing|reading TLS plaintext/.test(m)) ready()
    },
    onExchange: () => exchanges++,
  })
  await Promise.race([isReady, new Promise((r) => setTimeout(r, 5000))])
  const s1 = cpuSeconds(serverPids)
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  const r = await load()
  const cpu = process.cpuUsage(cpu0)
  const wall = (performance.now() - t0) / 1000
  const server = cpuSeconds(serverPids) - s1
  stop.abort()
  await running
  void s0
  return {
    rps: r.rps,
    serverCpuPerReqUs: (server / r.requests) * 1e6,
    podtapCpuPct: ((cpu.user + cpu.system) / 1e6 / wall) * 100,
    records: counters.get('tls_chunks'),
    exchanges,
  }
}

async function bench(name: string, load: Load, serverPids: readonly number[]): Promise<Record<string, unknown>> {
  await load() // warm-up: connections, caches
  const off: Run[] = []
  const on: Run[] = []
  for (let r = 0; r < rounds; r++) {
    off.push(await once(load, serverPids, false))
    on.push(await once(load, serverPids, true))
  }
  const rpsOff = median(off.map((x) => x.rps))
  const rpsOn = median(on.map((x) => x.rps))
  const cpuOff = median(off.map((x) => x.serverCpuPerReqUs))
  const cpuOn = median(on.map((x) => x.serverCpuPerReqUs))
  const pct = median(on.map((x) => x.podtapCpuPct!))
  // per tapped call: the server's extra CPU per request and podtap's CPU per request, over the
  // records per request (one record per Read/Write call that moved bytes)
  const perCall = on.map((x) => {
    const reqs = (x.rps * seconds)
    const recPerReq = x.records! / reqs
    const podtapPerReqUs = ((x.podtapCpuPct! / 100) * seconds * 1e6) / reqs
    return { recPerReq, serverUs: (x.serverCpuPerReqUs - cpuOff) / recPerReq, podtapUs: podtapPerReqUs / recPerReq }
  })
  return {
    bench: name,
    rps_without_tap: Math.round(rpsOff),
    rps_with_tap: Math.round(rpsOn),
    loss_pct: +(((rpsOff - rpsOn) / rpsOff) * 100).toFixed(1),
    podtap_cpu_pct: +pct.toFixed(1),
    server_cpu_us_per_request_without: +cpuOff.toFixed(1),
    server_cpu_us_per_request_with: +cpuOn.toFixed(1),
    tapped_records_per_request: +median(perCall.map((c) => c.recPerReq)).toFixed(2),
    server_extra_us_per_tapped_call: +median(perCall.map((c) => c.serverUs)).toFixed(2),
    podtap_us_per_tapped_call: +median(perCall.map((c) => c.podtapUs)).toFixed(2),
    exchanges_per_run: on.map((x) => x.exchanges),
    rps_runs_without: off.map((x) => Math.round(x.rps)),
    rps_runs_with: on.map((x) => Math.round(x.rps)),
  }
}

/** The Go HTTPS server in the namespace; its pid and port. */
function goServer(host: TestHost, bin: string): Promise<{ child: ChildProcess; port: number }> {
  const child = host.spawn([bin, 'server', `${host.nsIp}:0`], { stdio: ['ignore', 'pipe', 'inherit'] })
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`go server exited ${code}`)))
    child.stdout!.once('data', (b: Buffer) => resolve({ child, port: Number(/listening (\d+)/.exec(b.toString())![1]) }))
  })
}

async function main(): Promise<void> {
  const why = needRoot() ?? goMissing()
  if (why !== null) throw new Error(`bench-tls needs root, BPF and Go: ${why}`)
  cleanupStale()
  const host = await createTestHost({ name: 'benchtls' })
  const out: Record<string, unknown>[] = []
  try {
    const go = await goServer(host, goBuild('httpsapp', { stripped: true }))
    const goUrl = `https://${host.nsIp}:${go.port}/a`
    out.push(await bench('go crypto/tls, wrk HTTP/1.1', wrk(goUrl), [go.child.pid!]))
    out.push(await bench('go crypto/tls, h2load HTTP/2', h2load(goUrl), [go.child.pid!]))
    go.child.kill()
    const web = await startNginxTls(host, { 'a.txt': 'hello over tls\n' })
    out.push(await bench('nginx OpenSSL, wrk HTTP/1.1', wrk(`${web.url}a.txt`), [web.workerPid]))
    await web.stop()
  } finally {
    await host.destroy()
  }
  console.log(JSON.stringify({ config: { seconds, rounds, connections: conns }, results: out }, null, 2))
}

main().catch((e) => {
  console.error(e)
  process.exitCode = 1
})
