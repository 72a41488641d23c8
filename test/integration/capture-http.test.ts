// `podtap capture` as a process on the host side of a veth, nginx in the namespace, a node http client
// on the host with known requests: every exchange counted exactly, statuses exact, each latency within
// what the client measured; --pcap-out read back by tshark with podtap's own packet count; SIGINT
// right after the last response loses nothing and ends with the summary and exit 0.
//
// Each request has its own path (/s200/7, /s404/3...), so every exchange is matched to the request
// that made it. Needs root; skips with the reason printed otherwise.

import { existsSync } from 'node:fs'
import { Agent } from 'node:http'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { TraceRecord } from '../../src/records.js'
import { cleanupStale, createTestHost, needRoot, startNginx, type Nginx, type TestHost } from '../helpers/netns.js'
import { capturedTotals, get, interrupt, killRun, many, READY, runPodtap, traces, type ClientResult, type PodtapRun } from './capture-util.js'
import { sh } from './live-util.js'

const skip = needRoot() ?? (existsSync('/usr/bin/tshark') ? null : 'tshark not installed (apt-get install tshark)')
if (skip !== null) console.log(`capture-http tests skipped: ${skip}`)

/** nginx answers /s<code>/anything with that code */
const LOCATIONS = [
  'location /s200/ { default_type text/plain; return 200 "fine\\n"; }',
  'location /s404/ { return 404; }',
  'location /s500/ { return 500; }',
]

describe.skipIf(skip !== null)('podtap capture on a veth with nginx', () => {
  let host: TestHost
  let web: Nginx
  let run: PodtapRun | undefined

  beforeAll(async () => {
    cleanupStale()
    host = await createTestHost({ name: 'caphttp' })
    web = await startNginx(host, { locations: LOCATIONS })
  })
  afterAll(async () => {
    killRun(run)
    await host?.destroy()
  })

  describe('jsonl with --pcap-out and --duration', () => {
    let sent: ClientResult[] = []
    let got: TraceRecord[] = []
    let pcap = ''
    let exit: { code: number | null }

    beforeAll(async () => {
      pcap = join(host.tmpDir(), 'out.pcap')
      run = runPodtap(['capture', '--iface', host.hostIf, '--format', 'jsonl', '--duration', '12', '--pcap-out', pcap])
      await run.waitFor(READY)
      // 60 requests, 3 at a time over keep-alive connections made after capture started, plus 12 on
      // connections of their own: 48 x 200, 12 x 404, 12 x 500 in a fixed interleaving
      const agent = new Agent({ keepAlive: true, maxSockets: 3 })
      const code = (i: number) => [200, 200, 404, 200, 500, 200][i % 6]!
      sent = await many(60, 3, (i) => get(agent, `${web.url}s${code(i)}/${i}`))
      sent.push(...(await many(12, 2, (i) => get(false, `${web.url}s${code(i + 60)}/${i + 60}`))))
      agent.destroy()
      exit = await run.exited
      got = traces(run.stdout)
    }, 60_000)

    it('reports each request exactly once, with its status and a latency within the client-measured one', () => {
      expect(exit.code).toBe(0)
      expect(sent).toHaveLength(72)
      const byPath = new Map<string, TraceRecord[]>()
      for (const t of got) byPath.set(t.resource ?? '', [...(byPath.get(t.resource ?? '') ?? []), t])
      expect(got).toHaveLength(72)
      const statuses = { 200: 0, 404: 0, 500: 0 } as Record<number, number>
      for (const s of sent) {
        const ts = byPath.get(s.path) ?? []
        expect(ts, s.path).toHaveLength(1)
        const t = ts[0]!
        expect(t).toMatchObject({
          protocol: 'http',
          method: 'GET',
          status: s.status,
          error: s.status >= 500,
          client: { ip: host.hostIp },
          server: { ip: host.nsIp, port: 80 },
        })
        // podtap's clock starts when the request passes the veth (after the client wrote it) and stops
        // when the response passes it (before the client read it): never longer than the client saw
        expect(t.latency_ms).toBeGreaterThan(0)
        expect(t.latency_ms).toBeLessThanOrEqual(s.ms + 0.5)
        statuses[s.status]!++
      }
      expect(statuses).toEqual({ 200: 48, 404: 12, 500: 12 })
      // request-start order (held 2 s for ordering, then written)
      const times = got.map((t) => t.time)
      expect(times).toEqual([...times].sort())
    })

    it('ends with the totals: no kernel drops, every packet in the pcap', () => {
      const tot = capturedTotals(run!.stderr)
      expect(tot.drops).toBe(0)
      expect(tot.freezes).toBe(0)
      expect(tot.packets).toBeGreaterThan(72 * 4)
      expect(tot.pcap).toBe(tot.packets)
      expect(run!.stderr).toMatch(/72 exchanges on 1 server endpoints: 12 errors, 0 without response/)
    })

    it('--pcap-out is a pcap tshark reads, with podtap\'s packet count and every request in it', async () => {
      const tot = capturedTotals(run!.stderr)
      const frames = (await sh('tshark', ['-r', pcap, '-T', 'fields', '-e', 'frame.number'])).trim().split('\n')
      expect(frames).toHaveLength(tot.packets)
      const requests = (await sh('tshark', ['-r', pcap, '-Y', 'http.request', '-T', 'fields', '-e', 'http.request.uri'])).trim().split('\n')
      expect(requests.sort()).toEqual(sent.map((s) => s.path).sort())
      const linkType = await sh('tshark', ['-r', pcap, '-c', '1', '-T', 'fields', '-e', 'frame.encap_type'])
      expect(linkType.trim()).toBe('1') // Ethernet
    })
  })

  it('SIGINT right after the last response: nothing lost, the summary table, exit 0', async () => {
    // a 1 s block timeout: the block holding the last packets is surely still being filled when the
    // signal comes, so only reading on for a block timeout after it gets them
    run = runPodtap(['capture', '--iface', host.hostIf, '--frame-timeout', '1000'])
    await run.waitFor(READY)
    const agent = new Agent({ keepAlive: true, maxSockets: 2 })
    const sent = await many(10, 2, (i) => get(agent, `${web.url}s${i % 5 === 4 ? 500 : 200}/sig${i}`))
    agent.destroy()
    // no pause: the last packets sit in a ring block the kernel hands over up to 1 s later
    const exit = await interrupt(run)
    expect(exit).toEqual({ code: 0, signal: null })
    expect(run.stderr).toMatch(/SIGINT: stopping/)
    const out = run.stdout
    // the table (stdout is a pipe: printed once, at the end), then the totals
    expect(out).toMatch(/│ server\s+│ proto\s+│ method/)
    const rows = out.split('\n').filter((l) => l.includes(`${host.nsIp}:80`))
    const count = (status: number) =>
      rows.filter((l) => new RegExp(`│\\s+${status} │`).test(l)).reduce((a, l) => a + Number(l.split('│')[6]!.trim()), 0)
    expect(count(200)).toBe(sent.filter((s) => s.status === 200).length)
    expect(count(500)).toBe(2)
    expect(out).toMatch(/10 exchanges on 1 server endpoints: 2 errors, 0 without response/)
    expect(capturedTotals(out).drops).toBe(0)
  })
})
