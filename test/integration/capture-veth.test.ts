// `podtap capture --all-veth` while veths come and go: a pod (namespace + veth) created after the
// capture started is attached and its traffic reported; a pod deleted during the capture is dropped
// with a log line and the capture goes on. Other test files create and delete veths (pt*) at the same
// time, a hundred at once in some: --veth-match 'pv*' keeps them out (the totals line names 64
// interfaces at most). Needs root; skips with the reason printed.

import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { cleanupStale, createTestHost, needRoot, startNginx, type TestHost } from '../helpers/netns.js'
import { capturedTotals, get, interrupt, killRun, many, READY, runPodtap, traces, type PodtapRun } from './capture-util.js'

const skip = needRoot()
if (skip !== null) console.log(`capture-veth tests skipped: ${skip}`)

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

describe.skipIf(skip !== null)('podtap capture --all-veth', () => {
  let early: TestHost | undefined
  let late: TestHost | undefined
  let run: PodtapRun | undefined

  beforeAll(() => {
    cleanupStale()
  })
  afterAll(async () => {
    killRun(run)
    await early?.destroy()
    await late?.destroy()
  })

  it('attaches a veth that appears, drops one that vanishes with a log line, and keeps capturing', async () => {
    early = await createTestHost({ name: 'vearly', vethPrefix: 'pv' })
    const earlyWeb = await startNginx(early)
    run = runPodtap(['capture', '--all-veth', '--veth-match', 'pv*', '--format', 'jsonl', '--frame-timeout', '20'])
    await run.waitFor(READY)
    // the veths present at the start are attached before "capturing on" is printed
    expect(run.stderr).not.toMatch(/cannot capture/)

    // a pod that appears now: the watcher (1 s scan) attaches its host-side veth
    late = await createTestHost({ name: 'vlate', vethPrefix: 'pv' })
    await run.waitFor(new RegExp(`capturing on ${escape(late.hostIf)} \\(ifindex ${late.hostIfindex}\\)`), 10_000)
    const lateWeb = await startNginx(late)

    const earlyBefore = await many(10, 2, (i) => get(false, `${earlyWeb.url}e${i}`))
    const lateFirst = await many(10, 2, (i) => get(false, `${lateWeb.url}l${i}`))

    // the early pod goes away: its veth vanishes, podtap says so and carries on
    await early.destroy()
    await run.waitFor(new RegExp(`interface ${escape(early.hostIf)} .*disappeared.*capture on it stopped`), 10_000)
    const lateSecond = await many(10, 2, (i) => get(false, `${lateWeb.url}l${i + 10}`))
    expect(run.child.exitCode).toBeNull()

    const exit = await interrupt(run)
    expect(exit).toEqual({ code: 0, signal: null })
    const got = traces(run.stdout)
    const at = (ip: string) => got.filter((t) => t.server.ip === ip && t.server.port === 80)
    // nginx answers 404 for /e0..., which is fine: these count exchanges, not successes
    expect(at(early.nsIp).map((t) => t.resource).sort()).toEqual(earlyBefore.map((r) => r.path).sort())
    expect(at(late.nsIp).map((t) => t.resource).sort()).toEqual([...lateFirst, ...lateSecond].map((r) => r.path).sort())
    expect(at(late.nsIp).every((t) => t.status === 404 && t.client.ip === late!.hostIp)).toBe(true)
    // both veths are in the totals line; the ring of the vanished one was counted before it closed
    const tot = capturedTotals(run.stderr)
    expect(run.stderr).toMatch(new RegExp(`captured \\d+ packets on \\d+ interfaces \\(.*${escape(early.hostIf)}.*\\)`))
    expect(run.stderr).toMatch(new RegExp(`captured \\d+ packets on \\d+ interfaces \\(.*${escape(late.hostIf)}.*\\)`))
    expect(tot.drops).toBe(0)
  })

  it('--iface whose only interface vanishes: logs it and finishes cleanly with exit 0', async () => {
    const h = await createTestHost({ name: 'vonly' })
    try {
      const web = await startNginx(h)
      run = runPodtap(['capture', '--iface', h.hostIf, '--format', 'jsonl', '--frame-timeout', '20'])
      await run.waitFor(READY)
      const sent = await many(5, 1, (i) => get(false, `${web.url}only${i}`))
      await h.destroy()
      const exit = await run.exited
      expect(exit).toEqual({ code: 0, signal: null })
      expect(run.stderr).toMatch(new RegExp(`interface ${escape(h.hostIf)} .*disappeared`))
      expect(run.stderr).toMatch(/no interface left to capture on: stopping/)
      // what the ring held when the veth went is still reported
      expect(traces(run.stdout).map((t) => t.resource)).toEqual(sent.map((s) => s.path))
    } finally {
      await h.destroy()
    }
  })
})
