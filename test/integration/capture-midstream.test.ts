// Capture that starts on connections already open: keep-alive connections to nginx are opened and
// used before `podtap capture` starts, then more requests go over the same connections. podtap sees
// no SYN for them, so roles come from the port hint (80 names the server); every request sent after
// the capture started is reported, with the right client and server, and nothing from before is
// invented. Needs root; skips with the reason printed otherwise.

import { Agent } from 'node:http'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { cleanupStale, createTestHost, needRoot, startNginx, type Nginx, type TestHost } from '../helpers/netns.js'
import { capturedTotals, get, interrupt, killRun, many, READY, runPodtap, traces, type PodtapRun } from './capture-util.js'

const skip = needRoot()
if (skip !== null) console.log(`capture-midstream tests skipped: ${skip}`)

// a body of their own: nginx's built-in error page for 500 closes the connection (keepalive off for
// 400, 413, 414, 500, 501 in ngx_http_special_response_handler), `return 500 "text"` keeps it
const LOCATIONS = [
  'location /s200/ { default_type text/plain; return 200 "fine\\n"; }',
  'location /s404/ { default_type text/plain; return 404 "none\\n"; }',
  'location /s500/ { default_type text/plain; return 500 "boom\\n"; }',
]

describe.skipIf(skip !== null)('podtap capture joining keep-alive connections mid-stream', () => {
  let host: TestHost
  let web: Nginx
  let run: PodtapRun | undefined

  beforeAll(async () => {
    cleanupStale()
    host = await createTestHost({ name: 'capmid' })
    web = await startNginx(host, { locations: LOCATIONS })
  })
  afterAll(async () => {
    killRun(run)
    await host?.destroy()
  })

  it('reports every request sent after the start on connections opened before it, roles right', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 3, keepAliveMsecs: 60_000 })
    try {
      // three connections, opened and used before podtap runs
      const before = await many(9, 3, (i) => get(agent, `${web.url}s200/before${i}`))
      expect(before.every((r) => r.status === 200)).toBe(true)
      const ports = new Set(Object.values(agent.freeSockets).flat().map((s) => s!.localPort))
      expect(ports.size).toBe(3)

      run = runPodtap(['capture', '--iface', host.hostIf, '--format', 'jsonl', '--frame-timeout', '20'])
      await run.waitFor(READY)
      const code = (i: number) => [200, 404, 200, 500][i % 4]!
      const after = await many(40, 3, (i) => get(agent, `${web.url}s${code(i)}/after${i}`))
      // the same three connections carried them (no new connection, so no SYN for podtap to see)
      expect(after.filter((r) => !r.reusedSocket).map((r) => r.path)).toEqual([])
      expect(new Set(Object.values(agent.freeSockets).flat().map((s) => s!.localPort))).toEqual(ports)

      const exit = await interrupt(run)
      expect(exit.code).toBe(0)
      const got = traces(run.stdout)
      expect(got.map((t) => t.resource).sort()).toEqual(after.map((r) => r.path).sort())
      for (const t of got) {
        const sent = after.find((r) => r.path === t.resource)!
        expect(t).toMatchObject({ protocol: 'http', method: 'GET', status: sent.status, error: sent.status >= 500 })
        expect(t.server).toEqual({ ip: host.nsIp, port: 80 })
        expect(t.client.ip).toBe(host.hostIp)
        expect(ports.has(t.client.port)).toBe(true)
        expect(t.latency_ms).toBeGreaterThan(0)
        expect(t.latency_ms).toBeLessThanOrEqual(sent.ms + 0.5)
      }
      expect(got.filter((t) => t.status === 404)).toHaveLength(10)
      expect(got.filter((t) => t.status === 500)).toHaveLength(10)
      // the connections were still open at the stop: ended there, with nothing left unanswered
      expect(run.stderr).toMatch(/40 exchanges on 1 server endpoints: 10 errors, 0 without response/)
      expect(run.stderr).toMatch(/3 TCP connections/)
      expect(capturedTotals(run.stderr).drops).toBe(0)
    } finally {
      agent.destroy()
    }
  })
})
