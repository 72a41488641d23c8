// `podtap capture --all-veth`: pod-to-pod traffic on one host passes two captured veths (the client
// pod's and the server pod's), the same packet twice. One copy is kept (src/capture/copies.ts, with
// the addresses ContainerIdentities found behind each veth): each request is reported once and no
// segment is counted as a retransmission. Two namespaces with nginx (a process in each, so both are
// identified), forwarding on their veths only, curl in one to the other over one keep-alive
// connection. --veth-match keeps other test files' veths out. Needs root; skips with the reason printed.

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { cleanupStale, createTestHost, needRoot, startNginx, type TestHost } from '../helpers/netns.js'
import { capturedTotals, interrupt, killRun, READY, runPodtap, traces, type PodtapRun } from './capture-util.js'

const skip = needRoot()
if (skip !== null) console.log(`capture-veth-copies tests skipped: ${skip}`)

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

describe.skipIf(skip !== null)('podtap capture --all-veth: pod to pod', () => {
  const hosts: TestHost[] = []
  let run: PodtapRun | undefined
  const dir = mkdtempSync(join(tmpdir(), 'podtap-copies-'))

  beforeAll(() => {
    cleanupStale()
  })
  afterAll(async () => {
    killRun(run)
    for (const h of hosts) await h.destroy()
    rmSync(dir, { recursive: true, force: true })
  })

  it('reports each request once and counts no retransmission for packets seen on both veths', async () => {
    for (const name of ['cpclient', 'cpserver']) {
      const h = await createTestHost({ name, vethPrefix: 'pc' })
      hosts.push(h)
      writeFileSync(`/proc/sys/net/ipv4/conf/${h.hostIf}/forwarding`, '1')
    }
    const [client, server] = hosts as [TestHost, TestHost]
    await startNginx(client) // a process in the client's namespace: what identifies its veth
    const web = await startNginx(server)
    run = runPodtap(['capture', '--all-veth', '--veth-match', 'pc*', '--format', 'jsonl', '--frame-timeout', '20', '--metrics-out', join(dir, 'metrics.txt')])
    await run.waitFor(READY)
    // both veths identified (the line names the process behind each): their addresses are known
    for (const h of hosts) await run.waitFor(new RegExp(`capturing on ${escape(h.hostIf)} \\(ifindex ${h.hostIfindex}: pid \\d+ nginx\\)`), 15_000)

    const paths = Array.from({ length: 20 }, (_, i) => `/pp${i}`)
    await client.exec(['curl', '-s', '-o', '/dev/null', '--max-time', '20', ...paths.map((p) => `${web.url.replace(/\/$/, '')}${p}`)])

    const exit = await interrupt(run)
    expect(exit).toEqual({ code: 0, signal: null })
    const got = traces(run.stdout).filter((t) => t.server.ip === server.nsIp && t.server.port === 80)
    expect(got.map((t) => t.resource).sort()).toEqual([...paths].sort())
    expect(got.every((t) => t.client.ip === client.nsIp)).toBe(true)
    const tcp = /TCP: .*?(\d+) retransmits/.exec(run.stderr)
    expect(tcp).not.toBeNull()
    expect(Number(tcp![1])).toBe(0)
    // the second copies were left out and counted: every packet of the connection passed twice
    const second = Number(/^podtap_veth_second_copies_total (\d+)/m.exec(readFileSync(join(dir, 'metrics.txt'), 'utf8'))?.[1] ?? NaN)
    expect(second).toBeGreaterThanOrEqual(2 * paths.length)
    expect(capturedTotals(run.stderr).drops).toBe(0)
  })
})
