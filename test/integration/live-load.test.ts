// wrk against nginx in a namespace at full speed, with and without capture on the host-side veth:
// packets/s through the ring into Node, kernel drops, ring freezes, CPU of the capturing process,
// and requests seen (GET segments decoded) against wrk's own count. Reports numbers; the only
// assertions are that the counts are sane, not that the machine is fast (no timed assertion).

import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openAfPacket, pollCount } from '../../src/capture/af-packet.js'
import { decode } from '../../src/capture/decode.js'
import { newFrame } from '../../src/capture/frame.js'
import { cleanupStale, createTestHost, needRoot, startNginx, type Nginx, type TestHost } from '../helpers/netns.js'
import { sh } from './live-util.js'

const skip = needRoot() ?? (await sh('sh', ['-c', 'command -v wrk']).then(() => null, () => 'no wrk'))
if (skip !== null) console.log(`live-load tests skipped: ${skip}`)

const SECONDS = Number(process.env.PODTAP_LOAD_SECONDS ?? 5)
const CONNECTIONS = Number(process.env.PODTAP_LOAD_CONNECTIONS ?? 10)
const THREADS = Number(process.env.PODTAP_LOAD_THREADS ?? 1)

interface WrkResult {
  requests: number
  rps: number
}

async function wrk(url: string, seconds: number): Promise<WrkResult> {
  const out = await sh('wrk', [`-t${THREADS}`, `-c${CONNECTIONS}`, `-d${seconds}s`, url], (seconds + 30) * 1000)
  const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? NaN)
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN)
  if (!Number.isFinite(requests)) throw new Error(`cannot read wrk output:\n${out}`)
  return { requests, rps }
}

describe.skipIf(skip !== null)('live capture under wrk load', () => {
  let host: TestHost
  let web: Nginx
  beforeAll(async () => {
    cleanupStale()
    host = await createTestHost({ name: 'load' })
    web = await startNginx(host)
  })
  afterAll(() => host?.destroy())

  it(`wrk ${SECONDS} s at full speed: packets/s, drops, CPU, requests seen vs wrk's count`, async () => {
    const base = await wrk(web.url, SECONDS)

    const src = openAfPacket({ iface: host.hostIf })
    const frame = newFrame()
    let gets = 0
    let stop = false
    const polls0 = pollCount()
    const cpu0 = process.cpuUsage()
    const t0 = performance.now()
    const loop = (async () => {
      for (;;) {
        let p
        while ((p = src.next()) !== null) {
          if (decode(p, frame) === 'ok' && frame.payload.length >= 4 && frame.payload[0] === 0x47 && frame.payload.readUInt32BE(0) === 0x47455420) gets++ // 'GET '
        }
        if (stop) return
        await src.wait(100)
      }
    })()
    const loaded = await wrk(web.url, SECONDS)
    await new Promise((r) => setTimeout(r, 300)) // last block retires after frameTimeoutMs
    stop = true
    await loop
    const wallS = (performance.now() - t0) / 1000
    const cpu = process.cpuUsage(cpu0)
    const st = src.stats()
    const fc = src.filterCounters()
    src.close()

    const cpuPct = ((cpu.user + cpu.system) / 1e6 / wallS) * 100
    const report = {
      wrk_rps_without_capture: Math.round(base.rps),
      wrk_rps_with_capture: Math.round(loaded.rps),
      wrk_throughput_loss_pct: +(((base.rps - loaded.rps) / base.rps) * 100).toFixed(1),
      wrk_requests: loaded.requests,
      requests_seen: gets,
      lost_requests: Math.max(0, loaded.requests - gets), // more seen than wrk counted: in flight at its stop
      packets: st.packets,
      packets_per_s: Math.round(st.packets / SECONDS),
      kernel_drops: st.dropped,
      ring_freezes: st.freezes,
      filter_seen: fc.seen,
      polls: pollCount() - polls0,
      capture_cpu_pct: +cpuPct.toFixed(1),
      rss_mb: Math.round(process.memoryUsage().rss / 1048576),
    }
    console.log('live load:', JSON.stringify(report))
    expect(st.packets).toBeGreaterThan(loaded.requests) // at least one segment per request
    // the kernel's count is what we read plus what it dropped (plus stragglers after the loop stopped)
    expect(st.kernelPackets).toBeGreaterThanOrEqual(st.packets + st.dropped)
    expect(st.kernelPackets).toBeLessThanOrEqual(st.packets + st.dropped + 50)
    // requests are lost only with dropped packets; wrk does not count the ones in flight when it stops
    if (st.dropped === 0) {
      expect(gets).toBeGreaterThanOrEqual(loaded.requests)
      expect(gets).toBeLessThanOrEqual(loaded.requests + CONNECTIONS)
    }
  })
})
