// `podtap capture --all-veth --veth-match`: only veths whose name matches are captured, now and as
// they appear. Three pods (namespaces with nginx): one whose veth matches at the start, one that
// does not match and carries traffic all along, one that matches and appears after the capture
// started. Other test files create veths (pt*) at the same time: the pattern leaves them out too,
// and every interface podtap names must match. Needs root; skips with the reason printed.

import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { cleanupStale, createTestHost, needRoot, startNginx, type TestHost } from '../helpers/netns.js'
import { capturedTotals, get, interrupt, killRun, many, READY, runPodtap, traces, type PodtapRun } from './capture-util.js'

const skip = needRoot()
if (skip !== null) console.log(`capture-veth-match tests skipped: ${skip}`)

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

describe.skipIf(skip !== null)('podtap capture --all-veth --veth-match', () => {
  const hosts: TestHost[] = []
  let run: PodtapRun | undefined

  beforeAll(() => {
    cleanupStale()
  })
  afterAll(async () => {
    killRun(run)
    for (const h of hosts) await h.destroy()
  })

  it('captures the matching veths, one added later too, and leaves a non-matching one with traffic out', async () => {
    const host = async (name: string, vethPrefix: string) => {
      const h = await createTestHost({ name, vethPrefix })
      hosts.push(h)
      return h
    }
    const early = await host('mearly', 'pm')
    const other = await host('mother', 'pn')
    const earlyWeb = await startNginx(early)
    const otherWeb = await startNginx(other)
    run = runPodtap(['capture', '--all-veth', '--veth-match', 'pm*, pq*', '--format', 'jsonl', '--frame-timeout', '20'])
    await run.waitFor(READY)
    await run.waitFor(new RegExp(`capturing on ${escape(early.hostIf)} \\(ifindex ${early.hostIfindex}\\b`), 10_000)

    // a matching pod that appears now: the watcher (1 s scan) attaches it
    const late = await host('mlate', 'pq')
    await run.waitFor(new RegExp(`capturing on ${escape(late.hostIf)} \\(ifindex ${late.hostIfindex}\\b`), 10_000)
    const lateWeb = await startNginx(late)

    const sent = {
      early: await many(10, 2, (i) => get(false, `${earlyWeb.url}e${i}`)),
      other: await many(10, 2, (i) => get(false, `${otherWeb.url}o${i}`)),
      late: await many(10, 2, (i) => get(false, `${lateWeb.url}l${i}`)),
    }
    // the non-matching pod is served all the same: its traffic exists, podtap does not see it
    expect(sent.other.every((r) => r.status === 404)).toBe(true)

    const exit = await interrupt(run)
    expect(exit).toEqual({ code: 0, signal: null })
    const got = traces(run.stdout)
    const at = (ip: string) => got.filter((t) => t.server.ip === ip && t.server.port === 80).map((t) => t.resource).sort()
    expect(at(early.nsIp)).toEqual(sent.early.map((r) => r.path).sort())
    expect(at(late.nsIp)).toEqual(sent.late.map((r) => r.path).sort())
    expect(at(other.nsIp)).toEqual([])
    expect(got.filter((t) => t.server.ip === other.nsIp || t.client.ip === other.nsIp)).toEqual([])
    expect(run.stderr).not.toContain(other.hostIf)
    // every interface podtap captured on matches the pattern (other tests' veths are left out too)
    const m = /captured \d+ packets on \d+ interfaces? \(([^)]*)\)/.exec(run.stderr)
    expect(m).not.toBeNull()
    const ifs = m![1]!.split(', ')
    expect(ifs).toContain(early.hostIf)
    expect(ifs).toContain(late.hostIf)
    expect(ifs.filter((n) => !/^p[mq]/.test(n))).toEqual([])
    expect(capturedTotals(run.stderr).drops).toBe(0)
  })

  it('refuses an invalid pattern with exit 2 and the reason, before capturing anything', async () => {
    run = runPodtap(['capture', '--all-veth', '--veth-match', 'cali[0-9'])
    expect((await run.exited).code).toBe(2)
    expect(run.stderr).toMatch(/^podtap: --veth-match cali\[0-9: '\[' at 5 has no closing '\]'/)
    run = runPodtap(['capture', '--all-veth', '--veth-match', '/(cali/'])
    expect((await run.exited).code).toBe(2)
    expect(run.stderr).toMatch(/^podtap: --veth-match \/\(cali\/: not a valid regular expression/)
    run = runPodtap(['capture', '--iface', 'lo', '--veth-match', 'cali*'])
    expect((await run.exited).code).toBe(2)
    expect(run.stderr).toBe('podtap: --veth-match narrows --all-veth: give --all-veth too\n')
  })
})
