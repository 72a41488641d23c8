// Pod churn: thousands of pods added and deleted through the stand-in API server (test/k8s/apiserver.ts;
// no Kubernetes can run here, so our own server speaks the list/watch protocol to the real
// client-node informers), each one's real veth added to the shared packet socket's BPF map and
// removed again. The process's open file descriptors must stay flat: no socket, ring or BPF fd
// leaks, no map entry left behind. Also: a veth replaced under a live pod is found again.

import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startK8s } from '../../src/k8s/session.js'
import { cleanupStale, needRoot, runHost } from '../helpers/netns.js'
import { StandInApiServer, pod } from '../k8s/apiserver.js'
import { startLoop, until } from '../k8s/loop.js'
import { createNetPod, type NetPod } from '../k8s/netpods.js'

const skip = needRoot()
if (skip !== null) console.log(`k8s churn tests skipped: ${skip}`)

const NODE = 'churn-node'
// x 4 pods per round. An attach or detach is a map update now; what a round costs is the informer's
// watch events and the veth resolution (/proc) of each pod (PODTAP_CHURN_ROUNDS=1000 for 4000)
const ROUNDS = Number(process.env.PODTAP_CHURN_ROUNDS ?? 200)

function fdCount(): number {
  return readdirSync('/proc/self/fd').length
}

function mapCount(): number {
  return readFileSync('/proc/self/maps', 'utf8').split('\n').length
}

describe.skipIf(skip !== null)('pod churn against the stand-in API server', () => {
  let api: StandInApiServer
  let dir: string
  let kubeconfig: string
  let hosts: NetPod[]

  beforeAll(async () => {
    cleanupStale()
    api = new StandInApiServer()
    await api.start()
    dir = mkdtempSync(join(tmpdir(), 'podtap-churn-'))
    kubeconfig = api.writeKubeconfig(join(dir, 'kubeconfig'))
    hosts = await Promise.all(['ch0', 'ch1', 'ch2', 'ch3'].map((n) => createNetPod(n)))
  })
  afterAll(async () => {
    await Promise.all((hosts ?? []).map((h) => h.destroy()))
    await api?.stop()
    api?.dispose()
    rmSync(dir, { recursive: true, force: true })
  })

  it(`${ROUNDS * 4} pods added and deleted: every veth unwatched, file descriptors flat`, async () => {
    const loop = startLoop()
    const s = await startK8s(loop.multi, { kubeconfig, node: NODE, env: {}, informer: { backoffInitialMs: 50 }, counters: loop.counters, detachGraceMs: 10 })
    loop.use(s)
    const round = async (r: number): Promise<void> => {
      const names = hosts.map((h, i) => {
        const name = `churn-${r}-${i}`
        api.upsert('pods', pod({ name, namespace: 'churn', node: NODE, ip: h.ip }))
        return name
      })
      await until(`round ${r} attached`, () => s.attachment.ringCount === 4, 10_000, 2)
      for (const n of names) api.remove('pods', 'churn', n)
      await until(`round ${r} detached`, () => s.attachment.ringCount === 0 && s.attachment.watchedVeths === 0, 10_000, 2)
    }
    try {
      await round(-1) // warm-up: lazily opened fds (ethtool socket, poller eventfd, TLS to the API server)
      const fds0 = fdCount()
      const maps0 = mapCount()
      const t0 = performance.now()
      for (let r = 0; r < ROUNDS; r++) await round(r)
      const ms = performance.now() - t0
      const fds1 = fdCount()
      console.log(
        `churn: ${ROUNDS * 4} attach/detach in ${(ms / 1000).toFixed(1)} s (${(ms / (ROUNDS * 4)).toFixed(2)} ms each); ` +
          `fds ${fds0} -> ${fds1}; memory maps ${maps0} -> ${mapCount()}; rss ${(process.memoryUsage().rss / 1e6).toFixed(0)} MB`,
      )
      expect(fds1).toBe(fds0)
      expect(loop.counters.get('k8s_attached')).toBe((ROUNDS + 1) * 4)
      expect(loop.counters.get('k8s_detached')).toBe((ROUNDS + 1) * 4)
      expect(s.attachment.pods()).toEqual([])
    } finally {
      await s.close()
      await loop.stop()
    }
  }, Math.max(120_000, ROUNDS * 4 * 150))

  it('a veth replaced under a live pod is found again (re-attached on the new one)', async () => {
    const loop = startLoop()
    const s = await startK8s(loop.multi, { kubeconfig, node: NODE, env: {}, counters: loop.counters })
    loop.use(s)
    const h = hosts[0]!
    try {
      api.upsert('pods', pod({ name: 'moving', namespace: 'churn', node: NODE, ip: h.ip }))
      await until('attached', () => s.attachment.pods()[0]?.state === 'attached')
      const first = s.attachment.pods()[0]!
      expect(first.iface).toBe(h.host.hostIf)
      // the CNI re-creates the pod's network: a new veth pair, the pod IP routed through it
      const newIf = `pt${h.host.hostIf.slice(2, 8)}r`
      await runHost('ip', ['link', 'add', newIf, 'type', 'veth', 'peer', 'name', `${newIf.slice(0, -1)}q`])
      try {
        await runHost('ip', ['link', 'set', `${newIf.slice(0, -1)}q`, 'netns', h.host.ns])
        await runHost('ip', ['link', 'set', newIf, 'up'])
        await runHost('ip', ['link', 'del', h.host.hostIf])
        await runHost('ip', ['route', 'add', `${h.ip}/32`, 'dev', newIf])
        await until('re-attached', () => s.attachment.pods()[0]?.state === 'attached' && s.attachment.pods()[0]?.iface === newIf, 10_000)
        expect(s.attachment.ringCount).toBe(1)
        expect(s.attachment.watchedVeths).toBe(1)
        expect(s.attachment.interfaces().filter((i) => i.role === 'pod').map((i) => i.name)).toEqual([newIf])
      } finally {
        await runHost('ip', ['link', 'del', newIf])
      }
    } finally {
      api.remove('pods', 'churn', 'moving')
      await s.close()
      await loop.stop()
    }
  })
})
