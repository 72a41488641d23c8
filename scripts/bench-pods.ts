// A node of many pods under `podtap capture --k8s` (issue 13): N idle pods and one busy one, all on
// this node according to the stand-in API server (test/k8s/apiserver.ts: no Kubernetes runs here, so
// our own server speaks the list/watch protocol to the real client-node informers). Each pod is a
// network namespace behind a veth with its /32 pod IP routed to it (test/k8s/netpods.ts) and a
// `sleep` standing for its pause container (so the veth is found through the pod's namespace, as on
// a real node); the busy one runs nginx and is loaded by wrk from the host. Needs root, nginx, wrk.
//
//   npm run bench:pods -- [--pods 100] [--idle-seconds 20] [--churn 20] [--seconds 10]
//                         [--root DIR]   (another checkout, built: its dist/ is measured)
//
// The real CLI runs as a child process (whole-process RSS, fds and CPU from /proc), with
// scripts/bench-pods-probe.mjs preloaded to time pod adds and removes on its main thread and keep an
// event-loop delay histogram per phase. It runs dist/cli/main.js as tsc built it (what
// bin/podtap.js ran before the CLI was bundled into dist/run/): the probe patches those modules, which
// a bundle would hide. Phases:
//   0 start-up      every pod captured
//   1 idle          --idle-seconds with no traffic: CPU % of one core, RSS, fds
//   2 churn         --churn idle pods deleted and added again one at a time (API server -> informer ->
//                   capture): main-thread ms per add and remove, event-loop delay
//   3 busy          wrk -t2 -c50 for --seconds against the busy pod while idle pods keep being deleted
//                   and re-added: wrk's completed requests against the exchanges podtap reported, peak RSS
// Prints one JSON object.

import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import { cleanupStale, needRoot } from '../test/helpers/netns.js'
import { StandInApiServer, nodeObj, pod } from '../test/k8s/apiserver.js'
import { createNetPod, type NetPod } from '../test/k8s/netpods.js'
import { sh } from '../test/integration/live-util.js'

const { values: a } = parseArgs({
  options: {
    pods: { type: 'string', default: '100' },
    'idle-seconds': { type: 'string', default: '20' },
    churn: { type: 'string', default: '20' },
    seconds: { type: 'string', default: '10' },
    root: { type: 'string', default: join(import.meta.dirname, '..') },
  },
})
const N = Number(a.pods)
const IDLE_S = Number(a['idle-seconds'])
const CHURN = Number(a.churn)
const BUSY_S = Number(a.seconds)
const ROOT = resolve(a.root!)
const NODE = 'bench-node'
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

function procStatus(pid: number): Record<string, number> {
  const out: Record<string, number> = {}
  for (const l of readFileSync(`/proc/${pid}/status`, 'utf8').split('\n')) {
    const m = /^(VmRSS|VmHWM|Threads):\s+(\d+)/.exec(l)
    if (m) out[m[1]!] = Number(m[2])
  }
  return out
}
const fds = (pid: number) => readdirSync(`/proc/${pid}/fd`).length
function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return Number(f[11]) + Number(f[12])
}
const stats = (xs: number[]) => {
  const s = [...xs].sort((x, y) => x - y)
  const q = (p: number) => +(s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? 0).toFixed(3)
  return { n: s.length, median: q(0.5), p90: q(0.9), max: +(s[s.length - 1] ?? 0).toFixed(3) }
}

async function until(what: string, f: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms
  while (!f()) {
    if (Date.now() > end) throw new Error(`timed out waiting for: ${what}`)
    await sleep(20)
  }
}

async function main(): Promise<void> {
  const why = needRoot()
  if (why !== null) throw new Error(`bench-pods needs root and BPF: ${why}`)
  cleanupStale()
  const dir = mkdtempSync(join(tmpdir(), 'podtap-bench-pods-'))
  const api = new StandInApiServer()
  const pods: NetPod[] = []
  let child: ChildProcess | null = null
  try {
    await api.start()
    const kubeconfig = api.writeKubeconfig(join(dir, 'kubeconfig'))
    for (let i = 0; i < N; i += 10) {
      const batch = await Promise.all(Array.from({ length: Math.min(10, N - i) }, (_, j) => createNetPod(`bp${i + j}`)))
      for (const p of batch) p.host.spawn(['sleep', 'infinity'])
      pods.push(...batch)
    }
    const busy = await createNetPod('bpbusy', { web: true })
    pods.push(busy)
    api.upsert('nodes', nodeObj(NODE, '192.0.2.10'))
    const idlePod = (i: number) => pod({ name: `idle-${i}`, namespace: 'idle', node: NODE, ip: pods[i]!.ip, owner: { kind: 'StatefulSet', name: 'idle' } })
    for (let i = 0; i < N; i++) api.upsert('pods', idlePod(i))
    api.upsert('pods', pod({ name: 'web-0', namespace: 'shop', node: NODE, ip: busy.ip, owner: { kind: 'StatefulSet', name: 'web' }, containers: [{ name: 'nginx', ports: [80] }] }))

    const outFile = join(dir, 'probe.json')
    const dist = join(ROOT, 'dist')
    const env: NodeJS.ProcessEnv = { ...process.env, PODTAP_BENCH_DIST: dist, PODTAP_BENCH_OUT: outFile, PODTAP_BENCH_BUSY_IP: busy.ip }
    // bin/podtap.js's launcher (and its node flag), on the unbundled modules
    const launcher = join(dir, 'podtap.mjs')
    writeFileSync(launcher, `import(${JSON.stringify(pathToFileURL(join(dist, 'cli', 'main.js')).href)}).then((m) => m.main(process.argv))\n`)
    delete env.KUBECONFIG
    delete env.NODE_NAME
    const probe = join(import.meta.dirname, 'bench-pods-probe.mjs')
    const c = spawn(process.execPath, ['--max-semi-space-size=8', '--import', probe, launcher, 'capture', '--k8s', '--kubeconfig', kubeconfig, '--node', NODE, '--no-host-network', '--format', 'table'], { stdio: ['ignore', 'pipe', 'pipe'], env })
    child = c
    let err = ''
    let out = ''
    c.stderr!.on('data', (b: Buffer) => (err += b.toString()))
    c.stdout!.on('data', (b: Buffer) => (out += b.toString()))
    const exited = new Promise<void>((r) => c.once('exit', () => r()))
    const count = (re: RegExp) => (err.match(re) ?? []).length
    const pid = c.pid!
    const t0 = performance.now()
    await until(`${N + 1} pods captured`, () => count(/capturing pod /g) >= N + 1, 180_000)
    const startS = (performance.now() - t0) / 1000
    await sleep(3000)

    // 1 idle
    c.kill('SIGUSR2')
    const ticks0 = cpuTicks(pid)
    const w0 = performance.now()
    await sleep(IDLE_S * 1000)
    const idleCpu = ((cpuTicks(pid) - ticks0) / 100 / ((performance.now() - w0) / 1000)) * 100
    const idle = { rss_mb: +(procStatus(pid).VmRSS! / 1024).toFixed(1), fds: fds(pid), threads: procStatus(pid).Threads, cpu_pct_of_core: +idleCpu.toFixed(2) }

    // 2 churn: one idle pod at a time deleted, then added again
    c.kill('SIGUSR2')
    const churnOne = async (i: number): Promise<void> => {
      const added = count(/capturing pod /g)
      api.remove('pods', 'idle', `idle-${i}`)
      await until(`idle-${i} deleted`, () => err.includes(`pod idle/idle-${i} deleted`), 20_000)
      await sleep(300) // past the 150 ms grace: the deferred close has run
      err = err.split(`pod idle/idle-${i} deleted`).join('(seen)') // so the next round waits for its own line
      api.upsert('pods', idlePod(i))
      await until(`idle-${i} captured again`, () => count(/capturing pod /g) > added, 20_000)
      await sleep(200)
    }
    for (let k = 0; k < CHURN; k++) await churnOne(k % N)

    // 3 busy, with churn beside it
    c.kill('SIGUSR2')
    let churning = true
    const churnLoop = (async () => {
      for (let k = 0; churning; k++) await churnOne((CHURN + k) % N)
    })()
    const wrkOut = await sh('wrk', ['-t2', '-c50', `-d${BUSY_S}s`, `http://${busy.ip}/`], (BUSY_S + 60) * 1000)
    churning = false
    await churnLoop
    await sleep(3000) // exchanges leave the 2 s order buffer
    const busyFds = fds(pid)
    const st = procStatus(pid)
    c.kill('SIGINT')
    await exited
    child = null
    const probe_ = JSON.parse(readFileSync(outFile, 'utf8')) as {
      samples: Record<string, number[][]>
      phases: { phase: number; seconds: number; cpuPct: number; loopDelayMs: Record<string, number> }[]
      busyExchanges: number
    }
    // wall time and the process's CPU time of each timed section (wall includes preemption by the
    // machine's other processes)
    const inPhase = (k: string, ph: number[]) => {
      const xs = probe_.samples[k]!.filter(([p]) => ph.includes(p))
      return { wall: stats(xs.map((x) => x[1]!)), cpu: stats(xs.map((x) => x[2]!)) }
    }
    const wrkRequests = Number(/(\d+) requests in/.exec(wrkOut)![1])
    const drops = /(\d+) kernel drops/.exec(out + err)
    console.log(
      JSON.stringify(
        {
          config: { root: ROOT, idlePods: N, idleSeconds: IDLE_S, churn: CHURN, busySeconds: BUSY_S },
          start_s: +startS.toFixed(1),
          idle,
          add_ms: { resolve_sync: inPhase('resolveSyncMs', [2]), attach: inPhase('addMs', [2]) },
          remove_ms: { pod_deleted_call: inPhase('deleteCallMs', [2]), deferred_close: inPhase('closeMs', [2]) },
          add_ms_under_load: { resolve_sync: inPhase('resolveSyncMs', [3]), attach: inPhase('addMs', [3]) },
          remove_ms_under_load: { pod_deleted_call: inPhase('deleteCallMs', [3]), deferred_close: inPhase('closeMs', [3]) },
          first_attach_ms: inPhase('addMs', [0]),
          phases: probe_.phases,
          busy: {
            wrk_requests: wrkRequests,
            wrk_rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(wrkOut)![1]),
            exchanges_seen: probe_.busyExchanges,
            lost: Math.max(0, wrkRequests - probe_.busyExchanges),
            kernel_drops: drops ? Number(drops[1]) : null,
            fds: busyFds,
            rss_mb: +(st.VmRSS! / 1024).toFixed(1),
          },
          peak_rss_mb: +(st.VmHWM! / 1024).toFixed(1),
        },
        null,
        2,
      ),
    )
  } finally {
    if (child !== null) {
      child.kill('SIGKILL')
      await new Promise((r) => child!.once('exit', r))
    }
    await Promise.all(pods.map((p) => p.destroy()))
    await api.stop()
    api.dispose()
    rmSync(dir, { recursive: true, force: true })
  }
}

main().catch((e) => {
  console.error(e)
  process.exitCode = 1
})
