// Live capture benchmark: wrk against nginx in a network namespace, each round three runs in turn:
// no capture, `tcpdump -w /dev/null` on the host-side veth (the yardstick: what a capture costs
// when it only copies packets), and podtap. Needs root, nginx, wrk, tcpdump.
//
//   tsx scripts/bench-live.ts [--seconds 5] [--rounds 3] [--threads 2] [--connections 50]
//                             [--block-size 1048576] [--block-count 16] [--snaplen 262144]
//
// Prints one JSON object: wrk requests/s without capture, with tcpdump and with podtap (median of the
// rounds; this machine's neighbours make single runs noisy), each one's throughput loss and podtap's
// loss beyond tcpdump's (the goal: within 10 points), tcpdump's and podtap's CPU (% of one core)
// and RSS, packets/s, kernel drops and ring freezes, and lost requests: wrk's count minus the
// exchanges: wrk's count minus the answered exchanges podtap reported. The capture side is the real
// `podtap capture` path (src/cli/capture.ts: rings, MultiSource, batches, Pipeline with parsers and
// ordering, 1 s ticks), run in this process and stopped like SIGINT stops it.

import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { capture } from '../src/cli/capture.js'
import { cleanupStale, createTestHost, needRoot, startNginx } from '../test/helpers/netns.js'
import { sh } from '../test/integration/live-util.js'

const { values: a } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '3' },
    threads: { type: 'string', default: '2' },
    connections: { type: 'string', default: '50' },
    'block-size': { type: 'string', default: String(1 << 20) },
    'block-count': { type: 'string', default: '16' },
    snaplen: { type: 'string', default: '262144' },
  },
})
const seconds = Number(a.seconds)
const rounds = Number(a.rounds)

const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!

/** tcpdump writing every TCP packet of `iface` to /dev/null while `run` runs; its CPU % of one core */
async function underTcpdump<T>(iface: string, run: () => Promise<T>): Promise<{ result: T; cpuPct: number }> {
  const td = spawn('tcpdump', ['-i', iface, '-s', '0', '-w', '/dev/null', 'tcp'], { stdio: ['ignore', 'ignore', 'pipe'] })
  let err = ''
  await new Promise<void>((resolve, reject) => {
    td.stderr.on('data', (b: Buffer) => {
      err += b.toString()
      if (err.includes('listening on')) resolve()
    })
    td.on('exit', (code) => reject(new Error(`tcpdump exited ${code}: ${err}`)))
  })
  const stat0 = procCpuTicks(td.pid!)
  const t0 = performance.now()
  const result = await run()
  const ticks = procCpuTicks(td.pid!) - stat0
  const wall = (performance.now() - t0) / 1000
  td.kill('SIGINT')
  await new Promise((r) => td.once('exit', r))
  return { result, cpuPct: +(((ticks / 100) / wall) * 100).toFixed(1) }
}

/** utime + stime of a process, in clock ticks (USER_HZ, 100 on Linux) */
function procCpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return Number(f[11]) + Number(f[12])
}

async function main(): Promise<void> {
  const why = needRoot()
  if (why !== null) throw new Error(`bench-live needs root and BPF: ${why}`)
  cleanupStale()
  const host = await createTestHost({ name: 'bench' })
  try {
    const web = await startNginx(host)
    const wrk = async () => {
      const out = await sh('wrk', [`-t${a.threads}`, `-c${a.connections}`, `-d${seconds}s`, web.url], (seconds + 60) * 1000)
      return { rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)![1]), requests: Number(/(\d+) requests in/.exec(out)![1]) }
    }
    await wrk() // warm-up: nginx, caches, the first connections
    const without: number[] = []
    const withTcpdump: number[] = []
    const tcpdumpCpu: number[] = []
    const withCap: number[] = []
    const runs: Record<string, number>[] = []
    for (let r = 0; r < rounds; r++) {
      without.push((await wrk()).rps)
      const td = await underTcpdump(host.hostIf, wrk)
      withTcpdump.push(td.result.rps)
      tcpdumpCpu.push(td.cpuPct)
      let answered = 0
      let unanswered = 0
      const stop = new AbortController()
      const cpu0 = process.cpuUsage()
      const t0 = performance.now()
      const running = capture({
        ifaces: [host.hostIf],
        format: 'table',
        liveTable: false,
        blockSize: Number(a['block-size']),
        ringBlocks: Number(a['block-count']),
        snaplen: Number(a.snaplen),
        signal: stop.signal,
        log: (m) => console.error(`podtap: ${m}`),
        onExchange: (e) => (e.status === null ? unanswered++ : answered++),
      })
      const res = await wrk()
      // capture drains the rings for two block timeouts after the stop, as on SIGINT
      stop.abort()
      const result = await running
      const wall = (performance.now() - t0) / 1000
      const cpu = process.cpuUsage(cpu0)
      withCap.push(res.rps)
      runs.push({
        wrk_rps: Math.round(res.rps),
        wrk_requests: res.requests,
        exchanges_answered: answered,
        exchanges_unanswered: unanswered,
        lost_exchanges: Math.max(0, res.requests - answered),
        packets_per_s: Math.round(result.packets / seconds),
        kernel_drops: result.kernelDrops,
        ring_freezes: result.freezes,
        cpu_pct: +(((cpu.user + cpu.system) / 1e6 / wall) * 100).toFixed(1),
        rss_mb: Math.round(process.memoryUsage().rss / 1048576),
      })
    }
    const w = median(without)
    const t = median(withTcpdump)
    const c = median(withCap)
    const loss = (x: number) => +(((w - x) / w) * 100).toFixed(1)
    console.log(
      JSON.stringify(
        {
          config: { seconds, rounds, threads: Number(a.threads), connections: Number(a.connections), blockSize: Number(a['block-size']), blockCount: Number(a['block-count']), snaplen: Number(a.snaplen) },
          wrk_rps_without_capture: Math.round(w),
          wrk_rps_with_tcpdump: Math.round(t),
          wrk_rps_with_capture: Math.round(c),
          tcpdump_throughput_loss_pct: loss(t),
          throughput_loss_pct: loss(c),
          loss_beyond_tcpdump_points: +(loss(c) - loss(t)).toFixed(1),
          tcpdump_cpu_pct: median(tcpdumpCpu),
          podtap_cpu_pct: median(runs.map((r) => r.cpu_pct!)),
          without_runs: without.map(Math.round),
          tcpdump_runs: withTcpdump.map(Math.round),
          runs,
        },
        null,
        2,
      ),
    )
  } finally {
    await host.destroy()
  }
}

main().catch((e) => {
  console.error(e)
  process.exitCode = 1
})
