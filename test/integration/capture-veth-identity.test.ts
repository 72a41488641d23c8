// `podtap capture --all-veth` without Kubernetes names what is behind each veth: nginx runs in a
// network namespace behind a veth (a container without a runtime), curl on the host asks it a few
// times, and every record's server end carries the pid and comm of nginx's master (the oldest process
// in the namespace) while the host end carries nothing but ip and port. The log line for the veth says
// the same. No container id here: the namespace's processes sit in this test's own cgroup (the unit
// test covers the cgroup forms). Needs root; skips with the reason printed.

import { execFileSync } from 'node:child_process'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { cleanupStale, createTestHost, needRoot, runHost, startNginx, type TestHost } from '../helpers/netns.js'
import { killRun, READY, runPodtap, traces, type PodtapRun } from './capture-util.js'

const skip = needRoot()
if (skip !== null) console.log(`capture-veth-identity tests skipped: ${skip}`)

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

describe.skipIf(skip !== null)('podtap capture --all-veth: process identity per veth', () => {
  let host: TestHost | undefined
  let run: PodtapRun | undefined

  beforeAll(() => {
    cleanupStale()
  })
  afterAll(async () => {
    killRun(run)
    await host?.destroy()
  })

  it('fills pid and comm of the namespace side, nothing on the host side', async () => {
    host = await createTestHost({ name: 'vident' })
    const web = await startNginx(host)
    // `ip netns exec` execs nginx, so the spawned pid is nginx's master; its worker is a child
    const master = web.process.pid!
    const nsPids = execFileSync('ip', ['netns', 'pids', host.ns], { encoding: 'utf8' }).split('\n').filter(Boolean).map(Number)
    expect(nsPids).toContain(master)
    expect(nsPids.length).toBeGreaterThanOrEqual(2)

    run = runPodtap(['capture', '--all-veth', '--format', 'jsonl', '--duration', '12', '--frame-timeout', '20'])
    await run.waitFor(READY)
    // the veth's line names the process behind it
    const line = await run.waitFor(new RegExp(`capturing on ${escape(host.hostIf)} \\(ifindex ${host.hostIfindex}: pid (\\d+) nginx\\)`), 10_000)
    expect(Number(line[1])).toBe(master)

    const paths: string[] = []
    for (let i = 0; i < 5; i++) {
      const path = `/ident${i}`
      const r = await runHost('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', `${web.url.replace(/\/$/, '')}${path}`], { timeoutMs: 10_000 })
      expect(r.stdout).toBe('404')
      paths.push(path)
    }
    const exit = await run.exited
    expect(exit).toEqual({ code: 0, signal: null })

    const mine = traces(run.stdout).filter((t) => t.server.ip === host!.nsIp && t.server.port === web.port)
    expect(mine.map((t) => t.resource).sort()).toEqual(paths)
    for (const t of mine) {
      expect(t.server).toEqual({ ip: host.nsIp, port: web.port, pid: master, comm: 'nginx' })
      expect(nsPids).toContain(t.server.pid)
      // the host end: address only, nothing guessed
      expect(t.client).toEqual({ ip: host.hostIp, port: t.client.port })
    }
  })
})
