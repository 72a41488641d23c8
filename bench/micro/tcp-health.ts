// What the TCP health hook (src/tcp/health.ts) costs per connection, in one process: the frames of a
// bench/make-flows.ts capture are decoded once into memory, then fed to a bare FlowTable (no-op
// stream handlers: no parser, no output) in interleaved rounds: without the hook, with it (no
// windows: what a replay without TCP outputs runs), and with it and windows of rows (Prometheus,
// InfluxDB, the UI). CPU per round from process.cpuUsage(); medians printed, and per connection the
// hook's cost as the difference of the medians.
//
// Run: npx tsx bench/micro/tcp-health.ts [short|concurrent] [N] [rounds] [mode]   (default short 50000 7)
// With a mode (off, hook, rows) only that one runs, `rounds` times: for an instruction count of each,
// e.g. under valgrind --tool=callgrind (the hook's instructions = hook's total - off's total).

import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { openCaptureFile } from '../../src/capture/pcap-file.js'
import { decode } from '../../src/capture/decode.js'
import { newFrame, type Frame } from '../../src/capture/frame.js'
import { DEFAULT_LIMITS } from '../../src/config.js'
import { Counters } from '../../src/counters.js'
import { FlowTable } from '../../src/tcp/flow-table.js'
import { TcpHealth } from '../../src/tcp/health.js'
import type { StreamHandler } from '../../src/tcp/types.js'

const kind = process.argv[2] ?? 'short'
const n = Number(process.argv[3] ?? 50_000)
const rounds = Number(process.argv[4] ?? 7)
const out = join(import.meta.dirname, '..', 'out')
mkdirSync(out, { recursive: true })
const file = join(out, `${kind}${n}.pcap`)
if (!existsSync(file)) {
  const r = spawnSync(process.execPath, [...process.execArgv, join(import.meta.dirname, '..', 'make-flows.ts'), kind, String(n), file], { stdio: 'inherit' })
  if (r.status !== 0) throw new Error('make-flows failed')
}

// every frame decoded once, payload copied (the decoder's frame and buffers are borrowed)
const frames: Frame[] = []
{
  const src = openCaptureFile(file)
  let p
  while ((p = src.next()) !== null) {
    const f = newFrame()
    if (decode(p, f) !== 'ok') continue
    frames.push({ ...f, vlans: [], payload: Buffer.from(f.payload) })
  }
  src.close()
}

const NOOP: StreamHandler = { data: () => undefined, gap: () => undefined, end: () => undefined }
type Mode = 'off' | 'hook' | 'rows'

function round(mode: Mode): number {
  const counters = new Counters()
  let rows = 0
  const tcp = mode === 'off' ? undefined : new TcpHealth({ counters, onWindow: mode === 'rows' ? (w) => (rows += w.rows.length) : undefined })
  const table = new FlowTable({
    limits: DEFAULT_LIMITS,
    counters,
    onFlow: () => NOOP,
    onFlowEnd: tcp === undefined ? undefined : (f) => (tcp.stats(f), tcp.release(f)),
    health: tcp,
  })
  const t0 = process.cpuUsage()
  let last = 0
  for (let i = 0; i < frames.length; i++) {
    const f = frames[i] as Frame
    table.segment(f)
    if (f.tsUs - last >= 1_000_000) {
      last = f.tsUs
      table.advance(last)
      tcp?.advance(last)
    }
  }
  table.closeAll('shutdown', last)
  tcp?.flush(last)
  const t = process.cpuUsage(t0)
  if (mode === 'rows' && rows === 0) throw new Error('no rows')
  return (t.user + t.system) / 1000
}

const ms: Record<Mode, number[]> = { off: [], hook: [], rows: [] }
const only = process.argv[5] as Mode | undefined
if (only !== undefined) {
  for (let r = 0; r < rounds; r++) round(only)
  process.exit(0)
}
const modes: Mode[] = ['off', 'hook', 'rows']
for (const m of modes) round(m) // warm-up
for (let r = 0; r < rounds; r++) for (const m of modes) ms[m].push(round(m))
const median = (a: number[]): number => [...a].sort((x, y) => x - y)[a.length >> 1] as number
const min = (a: number[]): number => Math.min(...a)
console.log(`${kind} ${n}: ${frames.length} frames, ${rounds} interleaved rounds, CPU ms per round: median, fastest (the machine is shared: the fastest is the least disturbed)`)
for (const m of modes) {
  const row = [median, min].map((stat) => {
    const v = stat(ms[m])
    const off = stat(ms.off)
    return `${v.toFixed(1).padStart(7)} ms` + (m === 'off' ? '' : ` (+${(((v - off) * 1000) / n).toFixed(2)} µs/conn)`)
  })
  console.log(`  ${m.padEnd(5)} ${row.join('   ')}`)
}
