// `podtap capture` refusing to start, each time with one clear message and the documented exit code:
// not root and no capabilities (uid 65534 through setpriv) -> 1 with the capabilities and the fix;
// an unknown interface, no interface, a bad port -> 2. And the other side of the permission message:
// as uid 65534 with exactly CAP_BPF + CAP_NET_RAW (what --help documents), capture runs and reports.
// Needs root (to drop privileges, and for the namespace); skips with the reason printed otherwise.

import { spawnSync } from 'node:child_process'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { PERMISSION_FIX } from '../../src/capture/privileges.js'
import { cleanupStale, createTestHost, needRoot, startNginx, type Nginx, type TestHost } from '../helpers/netns.js'
import { capturedTotals, get, killRun, many, READY, runPodtap, traces, type PodtapRun } from './capture-util.js'

const setpriv = spawnSync('sh', ['-c', 'command -v setpriv']).status === 0
const skip = needRoot() ?? (setpriv ? null : 'setpriv not installed (util-linux)')
if (skip !== null) console.log(`capture-errors tests skipped: ${skip}`)

/** uid/gid 65534 (nobody), no supplementary groups, and only these capabilities ('' = none) */
const asNobody = (caps: string) => [
  'setpriv', '--reuid=65534', '--regid=65534', '--clear-groups',
  ...(caps === '' ? [] : [`--inh-caps=${caps}`, `--ambient-caps=${caps}`]),
]

describe.skipIf(skip !== null)('podtap capture: refusals and the least privilege it needs', () => {
  let host: TestHost
  let web: Nginx
  let run: PodtapRun | undefined

  beforeAll(async () => {
    cleanupStale()
    host = await createTestHost({ name: 'caperr' })
    web = await startNginx(host)
  })
  afterAll(async () => {
    killRun(run)
    await host?.destroy()
  })

  it('not root, no capabilities: exit 1, names what is missing and how to fix it, prints nothing else', async () => {
    run = runPodtap(['capture', '--iface', host.hostIf, '--duration', '5'], { prefix: asNobody('') })
    const exit = await run.exited
    expect(exit.code).toBe(1)
    expect(run.stderr).toBe(`podtap: missing CAP_NET_RAW, CAP_BPF: ${PERMISSION_FIX}\n`)
    expect(run.stdout).toBe('')
  })

  it('CAP_NET_RAW alone: exit 1 naming CAP_BPF', async () => {
    run = runPodtap(['capture', '--iface', host.hostIf, '--duration', '5'], { prefix: asNobody('+net_raw') })
    expect((await run.exited).code).toBe(1)
    expect(run.stderr).toBe(`podtap: missing CAP_BPF: ${PERMISSION_FIX}\n`)
  })

  it('CAP_BPF + CAP_NET_RAW as uid 65534 is enough: capture runs, reports, exits 0', async () => {
    run = runPodtap(['capture', '--iface', host.hostIf, '--format', 'jsonl', '--duration', '3', '--frame-timeout', '20'], {
      prefix: asNobody('+bpf,+net_raw'),
    })
    await run.waitFor(READY)
    const sent = await many(5, 1, (i) => get(false, `${web.url}${i === 0 ? '' : `nobody${i}`}`))
    const exit = await run.exited
    expect(exit.code).toBe(0)
    const got = traces(run.stdout)
    expect(got.map((t) => [t.resource, t.status])).toEqual(sent.map((s) => [s.path, s.status]))
    expect(capturedTotals(run.stderr).drops).toBe(0)
  })

  it('an unknown interface: exit 2 with the interface named', async () => {
    run = runPodtap(['capture', '--iface', `${host.hostIf},nosuch0`, '--duration', '5'])
    expect((await run.exited).code).toBe(2)
    expect(run.stderr).toBe('podtap: interface nosuch0 not found: see `ip link`\n')
  })

  it('no interface, both kinds, a bad port: exit 2 with the usage', async () => {
    run = runPodtap(['capture', '--duration', '5'])
    expect((await run.exited).code).toBe(2)
    expect(run.stderr).toBe('podtap: give the interfaces to capture on: --iface NAME[,NAME...], --all-veth, or --k8s (every pod of this node); or --tls alone for TLS plaintext only\n')
    run = runPodtap(['capture', '--iface', host.hostIf, '--all-veth'])
    expect((await run.exited).code).toBe(2)
    expect(run.stderr).toBe('podtap: give --iface or --all-veth, not both\n')
    run = runPodtap(['capture', '--iface', host.hostIf, '--ports', '80,70000'])
    expect((await run.exited).code).toBe(2)
    expect(run.stderr).toMatch(/port 70000 is not 1\.\.65535/)
  })

  it('--help documents the capabilities', async () => {
    run = runPodtap(['capture', '--help'])
    expect((await run.exited).code).toBe(0)
    expect(run.stdout).toMatch(/CAP_BPF and CAP_NET_RAW/)
    expect(run.stdout).toMatch(/--ambient-caps=\+bpf,\+net_raw/)
  })
})
