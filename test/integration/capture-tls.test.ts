// `podtap capture --tls`: the OpenSSL uprobe tap feeding the pipeline. nginx serves HTTPS inside a
// network namespace, curl fetches from the host; both use Debian's libssl, so both ends of every
// connection are tapped: each request must still be one exchange (the first end seen owns the
// connection), with method, path and status as curl saw them, tls: true, the socket's addresses,
// and the tapped process named. Needs root; skips with the reason printed otherwise.

import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { TraceRecord } from '../../src/records.js'
import { curlGets, startNginxTls, type NginxTls } from '../helpers/tls.js'
import { findLibssl } from '../../src/tls/libssl.js'
import { cleanupStale, createTestHost, needRoot, type TestHost } from '../helpers/netns.js'
import { READY, killRun, runPodtap, traces, type PodtapRun } from './capture-util.js'

const skip = needRoot() ?? (findLibssl().length > 0 ? null : 'no libssl.so.3 / libssl.so.1.1 found')
if (skip !== null) console.log(`capture-tls tests skipped: ${skip}`)

describe.skipIf(skip !== null)('podtap capture --tls (OpenSSL uprobes, nginx HTTPS, curl)', () => {
  let host: TestHost
  let web: NginxTls
  let run: PodtapRun | undefined
  let got: TraceRecord[] = []
  const sent: { path: string; status: number }[] = []
  let exitCode: number | null = null
  let stderr = ''

  beforeAll(async () => {
    cleanupStale()
    host = await createTestHost({ name: 'captls' })
    web = await startNginxTls(host, { 'a.txt': 'hello over tls\n', 'big.bin': Buffer.alloc(300_000, 7) })
    run = runPodtap(['capture', '--tls', '--format', 'jsonl', '--duration', '6'])
    await run.waitFor(READY)
    const base = `https://${host.nsIp}:${web.port}`
    const one = async (paths: string[]): Promise<void> => {
      sent.push(...(await curlGets(base, paths)))
    }
    await one(['/a.txt'])
    await one(['/missing'])
    await one(['/a.txt', '/big.bin', '/nope']) // keep-alive: one connection, three requests
    const exit = await run.exited
    exitCode = exit.code
    stderr = run.stderr
    // the tap sees every TLS user on this machine (other tests' node and curl too): keep this test's server
    got = traces(run.stdout).filter((t) => t.server.ip === host.nsIp || t.client.ip === host.nsIp)
  }, 60_000)

  afterAll(async () => {
    killRun(run)
    await host?.destroy()
  })

  it('the clients got what the server has', () => {
    expect(exitCode).toBe(0)
    expect(sent).toEqual([
      { path: '/a.txt', status: 200 },
      { path: '/missing', status: 404 },
      { path: '/a.txt', status: 200 },
      { path: '/big.bin', status: 200 },
      { path: '/nope', status: 404 },
    ])
    expect(stderr).toMatch(/reading TLS plaintext through \d+ probes/)
  })

  it('each request is one exchange, parsed from the plaintext, in order, with tls: true', () => {
    expect(got.map((t) => [t.protocol, t.tls, t.method, t.resource, t.status])).toEqual(sent.map((s) => ['http', true, 'GET', s.path, s.status]))
    for (const t of got) {
      expect(t.client.ip).toBe(host.hostIp)
      expect(t.server).toMatchObject({ ip: host.nsIp, port: web.port })
      expect(t.latency_ms).toBeGreaterThan(0)
    }
    // the three keep-alive requests share one connection (one client port), the others have their own
    const ports = got.map((t) => t.client.port)
    expect(new Set(ports.slice(2)).size).toBe(1)
    expect(new Set(ports).size).toBe(3)
    // the 300 kB body arrived whole through the tap
    expect(got[3]!.response_bytes).toBeGreaterThan(300_000)
  })

  it('names the tapped process on its side of each exchange', () => {
    for (const t of got) {
      const named = [t.client, t.server].filter((p) => p.pid !== undefined)
      expect(named).toHaveLength(1)
      const p = named[0]!
      if (p === t.client) expect(p.comm).toBe('curl')
      else expect(p).toMatchObject({ pid: web.workerPid, comm: 'nginx' })
    }
  })
})
