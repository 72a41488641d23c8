// Containment during live capture (issue 14 §1): `podtap capture` on a veth with nginx, the test-only
// fault hook armed (PODTAP_TEST_FAULT=parser=<marker>): the request carrying the marker makes the HTTP
// parser throw. That connection is parsed no further; every other connection, before and after, is
// reported exactly; the process keeps capturing, exits 0, logs the fault once (JSON lines: stderr is
// not a terminal) and exports podtap_parse_errors_total{protocol="http",reason="internal"} 1.
// Needs root; skips with the reason printed otherwise.

import { readFileSync } from 'node:fs'
import { Agent } from 'node:http'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { TraceRecord } from '../../src/records.js'
import { cleanupStale, createTestHost, needRoot, startNginx, type Nginx, type TestHost } from '../helpers/netns.js'
import { get, killRun, many, READY, runPodtap, traces, type ClientResult, type PodtapRun } from './capture-util.js'

const skip = needRoot()
if (skip !== null) console.log(`containment tests skipped: ${skip}`)

describe.skipIf(skip !== null)('a parser fault during live capture', () => {
  let host: TestHost
  let web: Nginx
  let run: PodtapRun | undefined
  let before: ClientResult[] = []
  let faulted: ClientResult[] = []
  let after: ClientResult[] = []
  let got: TraceRecord[] = []
  let exit: { code: number | null }
  let metrics = ''

  beforeAll(async () => {
    cleanupStale()
    host = await createTestHost({ name: 'contain' })
    web = await startNginx(host, { locations: ['location / { default_type text/plain; return 200 "fine\\n"; }'] })
    const out = join(host.tmpDir(), 'metrics.prom')
    run = runPodtap(['capture', '--iface', host.hostIf, '--format', 'jsonl', '--duration', '10', '--metrics-out', out], {
      env: { ...process.env, PODTAP_TEST_FAULT: 'parser=/boom/', PODTAP_LOG_FORMAT: 'json' },
    })
    await run.waitFor(READY)
    before = await many(10, 2, (i) => get(false, `${web.url}before/${i}`))
    // one keep-alive connection: two requests, the marked one, two more (lost with the connection)
    const agent = new Agent({ keepAlive: true, maxSockets: 1 })
    for (const p of ['k/1', 'k/2', 'boom/3', 'k/4', 'k/5']) faulted.push(await get(agent, `${web.url}${p}`))
    agent.destroy()
    after = await many(10, 2, (i) => get(false, `${web.url}after/${i}`))
    exit = await run.exited
    got = traces(run.stdout)
    metrics = readFileSync(out, 'utf8')
  }, 90_000)

  afterAll(async () => {
    killRun(run)
    await host?.destroy()
  })

  it('reports every other connection exactly, and the faulted one up to the fault', () => {
    expect(exit.code).toBe(0)
    expect(faulted.every((r) => r.reusedSocket || r.path === '/k/1')).toBe(true)
    const paths = got.map((t) => t.resource).sort()
    expect(paths).toEqual([...before, ...after].map((r) => r.path).concat(['/k/1', '/k/2']).sort())
    expect(got.every((t) => t.status === 200 && t.protocol === 'http')).toBe(true)
  })

  it('counts the fault and logs it once with the connection', () => {
    expect(metrics).toMatch(/^podtap_parse_errors_total\{protocol="http",reason="internal"\} 1$/m)
    const faults = run!.stderr.split('\n').filter((l) => l.includes('parser fault')).map((l) => JSON.parse(l) as Record<string, string>)
    expect(faults).toHaveLength(1)
    expect(faults[0]).toMatchObject({ level: 'error', protocol: 'http', server: `${host.nsIp}:80` })
    expect(faults[0]!.err).toMatch(/injected parser fault/)
  })
})
