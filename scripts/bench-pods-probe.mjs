// Preloaded into the `podtap capture --k8s` process that scripts/bench-pods.ts measures
// (node --import THIS bin/podtap.js capture --k8s ...): times what a pod added or removed costs the
// main thread, counts the busy pod's exchanges, and keeps an event-loop delay histogram per phase.
// It patches the built modules the CLI itself loads (same files, so the same module instances), and
// only the methods both capture designs have (one ring per pod before, the shared socket after), so
// one bench measures either build.
//
//   env PODTAP_BENCH_DIST  the dist/ directory of the build under test (absolute)
//       PODTAP_BENCH_OUT   where the JSON result is written at exit
//       PODTAP_BENCH_BUSY_IP  the busy pod's IP: exchanges with it as server are counted
//   SIGUSR2                the next phase (the histogram is stored and reset; off in phase 1, idle)
//
// Per pod added: the synchronous part of the veth resolution (the /proc scan; VethResolver.resolve
// until it returns its promise) and the time from the resolution's result to the pod counted as
// attached (k8s_attached): the ring opened before, the map update now. Per pod removed: the
// podDeleted() call, and the deferred close after the grace period (MultiSource.remove of its ring
// before, AfPacketSource.unwatch now).

import { writeFileSync } from 'node:fs'
import { monitorEventLoopDelay, performance } from 'node:perf_hooks'
import { pathToFileURL } from 'node:url'

const dist = process.env.PODTAP_BENCH_DIST
const outFile = process.env.PODTAP_BENCH_OUT
const busyIp = process.env.PODTAP_BENCH_BUSY_IP ?? ''
if (!dist || !outFile) throw new Error('bench-pods-probe: PODTAP_BENCH_DIST and PODTAP_BENCH_OUT are required')
const mod = (p) => import(pathToFileURL(`${dist}/${p}`).href)

const { K8sAttachment } = await mod('k8s/attach.js')
const { VethResolver } = await mod('capture/veth.js')
const { Counters } = await mod('counters.js')
const { MultiSource, AfPacketSource } = await mod('capture/af-packet.js')

let phase = 0
let stopping = false
// [phase, wall ms, CPU ms of the process]: on this shared 2-core machine a short section's wall time
// often includes being preempted by other processes; its CPU time does not
const samples = { resolveSyncMs: [], addMs: [], deleteCallMs: [], closeMs: [] }
const record = (k, ms, cpu0) => {
  if (stopping) return
  const c = process.cpuUsage(cpu0)
  samples[k].push([phase, ms, (c.user + c.system) / 1000])
}
const result = { samples, phases: [], busyExchanges: 0, exchanges: 0 }

let resolvedAt = 0
let resolvedCpu = process.cpuUsage()
const resolve = VethResolver.prototype.resolve
VethResolver.prototype.resolve = function (...args) {
  const c0 = process.cpuUsage()
  const t0 = performance.now()
  const p = resolve.apply(this, args)
  record('resolveSyncMs', performance.now() - t0, c0)
  return p.then((r) => {
    resolvedCpu = process.cpuUsage()
    resolvedAt = 'ifindex' in r ? performance.now() : 0
    return r
  })
}
const inc = Counters.prototype.inc
Counters.prototype.inc = function (name, ...rest) {
  if (name === 'k8s_attached' && resolvedAt > 0) {
    record('addMs', performance.now() - resolvedAt, resolvedCpu)
    resolvedAt = 0
  }
  return inc.call(this, name, ...rest)
}
const timed = (proto, name, key) => {
  const f = proto[name]
  proto[name] = function (...args) {
    const c0 = process.cpuUsage()
    const t0 = performance.now()
    try {
      return f.apply(this, args)
    } finally {
      record(key, performance.now() - t0, c0)
    }
  }
}
timed(K8sAttachment.prototype, 'podDeleted', 'deleteCallMs')
timed(MultiSource.prototype, 'remove', 'closeMs')
timed(AfPacketSource.prototype, 'unwatch', 'closeMs')
const exchange = K8sAttachment.prototype.exchange
K8sAttachment.prototype.exchange = function (e) {
  const keep = exchange.call(this, e)
  if (keep) {
    result.exchanges++
    if (e.server.ip === busyIp) result.busyExchanges++
  }
  return keep
}

const h = monitorEventLoopDelay({ resolution: 1 })
h.enable()
let cpu0 = process.cpuUsage()
let t0 = performance.now()
const closePhase = () => {
  const cpu = process.cpuUsage(cpu0)
  const wall = performance.now() - t0
  result.phases.push({
    phase,
    seconds: +(wall / 1000).toFixed(2),
    cpuPct: +((((cpu.user + cpu.system) / 1000) / wall) * 100).toFixed(2),
    loopDelayMs: { mean: +(h.mean / 1e6).toFixed(3), p99: +(h.percentile(99) / 1e6).toFixed(3), max: +(h.max / 1e6).toFixed(3) },
    memoryMb: Object.fromEntries(Object.entries(process.memoryUsage()).map(([k, v]) => [k, +(v / 1048576).toFixed(1)])),
  })
  h.reset()
  cpu0 = process.cpuUsage()
  t0 = performance.now()
  phase++
  // the histogram's 1 ms timer wakes the loop 1000 times a second: off while idle CPU is measured
  if (phase === 1) h.disable()
  else h.enable()
}
process.on('SIGUSR2', closePhase)
process.on('SIGINT', () => {
  if (!stopping) closePhase()
  stopping = true
})
process.on('exit', () => writeFileSync(outFile, JSON.stringify(result)))
