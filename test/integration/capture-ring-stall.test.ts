// A pause of podtap's (the scheduler on a loaded node, a long GC) at the packet rate of a pod: the
// kernel hands a ring block over frameTimeoutMs (50 ms) after its first packet, so each block leaves
// with a few packets and the ring rides out blocks x 50 ms, whatever its bytes
// (src/capture/ring-geometry.ts). Requests every 10 ms over keep-alive to nginx in a namespace,
// podtap stopped (SIGSTOP) for 1.5 s: the 16 MiB ring as 16 blocks of 1 MiB dropped ~110 packets (0.8 s), as 64
// blocks of 256 KiB it drops none and every request is reported. Needs root; skips with the reason.

import { Agent } from 'node:http'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { cleanupStale, createTestHost, needRoot, startNginx, type TestHost } from '../helpers/netns.js'
import { capturedTotals, get, interrupt, killRun, READY, runPodtap, sleep, traces, type ClientResult, type PodtapRun } from './capture-util.js'

const skip = needRoot()
if (skip !== null) console.log(`capture-ring-stall tests skipped: ${skip}`)

describe.skipIf(skip !== null)('podtap capture: a pause of podtap at a low packet rate', () => {
  let host: TestHost | undefined
  let run: PodtapRun | undefined

  beforeAll(() => {
    cleanupStale()
  })
  afterAll(async () => {
    if (run !== undefined && run.child.pid !== undefined && run.child.exitCode === null) run.child.kill('SIGCONT')
    killRun(run)
    await host?.destroy()
  })

  it('loses nothing when podtap stops for 1.5 s while a request comes every 10 ms', async () => {
    host = await createTestHost({ name: 'stall' })
    const web = await startNginx(host)
    run = runPodtap(['capture', '--iface', host.hostIf, '--format', 'jsonl'])
    await run.waitFor(READY)
    const agent = new Agent({ keepAlive: true, maxSockets: 1 })
    const sent: ClientResult[] = []
    let stop = false
    const client = (async () => {
      for (let i = 0; !stop; i++) {
        sent.push(await get(agent, `${web.url}s${i}`))
        await sleep(10)
      }
    })()
    await sleep(1000)
    run.child.kill('SIGSTOP')
    await sleep(1500)
    run.child.kill('SIGCONT')
    await sleep(1000)
    stop = true
    await client
    agent.destroy()
    const exit = await interrupt(run)
    expect(exit).toEqual({ code: 0, signal: null })
    expect(capturedTotals(run.stderr).drops).toBe(0)
    const got = traces(run.stdout).filter((t) => t.server.ip === host!.nsIp)
    expect(got.map((t) => t.resource).sort()).toEqual(sent.map((r) => r.path).sort())
    expect(sent.length).toBeGreaterThan(100)
  })
})
