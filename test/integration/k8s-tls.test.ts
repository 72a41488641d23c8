// TLS tied to pods: `podtap capture --k8s --tls` names the pod, namespace, workload, service and
// container of a tapped process from its cgroup (pod UID and container id in kubelet's cgroup path),
// as packet records get them from the pod IP. A stand-in API server (test/k8s/apiserver.ts: no
// Kubernetes runs here) announces the pods; their processes are node 20 peers in network-namespace
// "pods" (test/k8s/netpods.ts), moved before they start into kubepods-shaped v1 memory cgroups this
// test makes (the server's in the cgroupfs driver's layout, the clients' in the systemd driver's),
// under a parent of its own (as kubelet --cgroup-root would put them).
// Three clients: one in another pod over the pod IP (HTTPS and HTTP/2), one on the host, and a
// "sidecar" container of the server's own pod over 127.0.0.1, where the address alone names nobody.
// Needs root and the cgroup v1 memory hierarchy; skips with the reason printed otherwise.

import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { TraceRecord } from '../../src/records.js'
import { parseCgroupMounts } from '../../src/k8s/pod-stats.js'
import { CgroupDirs } from '../helpers/cgroup-dirs.js'
import { cleanupStale, needRoot } from '../helpers/netns.js'
import { inCgroups, inNetns, node20, runNodeClient, startNodeServer, type NodeClientRun, type NodeServer } from '../helpers/node-tls.js'
import { StandInApiServer, endpointSlice, pod, replicaSet, service } from '../k8s/apiserver.js'
import { until } from '../k8s/loop.js'
import { createNetPod, type NetPod } from '../k8s/netpods.js'
import { interrupt, killRun, runPodtap, traces, type PodtapRun } from './capture-util.js'

const NODE = 'kind-worker'
const CONNS = 8
const PER_CONN = 2
const memoryRoot = parseCgroupMounts(readFileSync('/proc/self/mounts', 'utf8')).memory

const skip = needRoot() ?? (memoryRoot === undefined ? 'no cgroup v1 memory hierarchy (this test moves real processes into v1 cgroups)' : null)
if (skip !== null) console.log(`k8s TLS tests skipped: ${skip}`)

const hex = (n: number) => randomBytes(n).toString('hex')

describe.skipIf(skip !== null)('podtap capture --k8s --tls: TLS records name the tapped process\'s pod', () => {
  let api: StandInApiServer
  let dir: string
  let web: NetPod
  let cli: NetPod
  let run: PodtapRun | undefined
  let server: NodeServer | undefined
  const cgroups = new CgroupDirs()
  let fromPod: NodeClientRun
  let fromHost: NodeClientRun
  let sidecar: NodeClientRun
  let got: TraceRecord[] = []
  let webIds = { uid: '', app: '', side: '' }
  let cliIds = { uid: '', main: '' }

  const mk = (rel: string): string => cgroups.mk(memoryRoot!, rel)

  beforeAll(async () => {
    cleanupStale()
    api = new StandInApiServer()
    await api.start()
    dir = mkdtempSync(join(tmpdir(), 'podtap-k8s-tls-'))
    const kubeconfig = api.writeKubeconfig(join(dir, 'kubeconfig'))
    ;[web, cli] = await Promise.all([createNetPod('ktweb'), createNetPod('ktcli')])

    webIds = { uid: '', app: hex(32), side: hex(32) }
    cliIds = { uid: '', main: hex(32) }
    api.upsert('replicasets', replicaSet('web-6f7c9', 'shop', 'web'))
    const w = pod({ name: 'web-6f7c9-abcde', namespace: 'shop', node: NODE, ip: web.ip, owner: { kind: 'ReplicaSet', name: 'web-6f7c9' }, containers: [{ name: 'app', ports: [443, 8443] }, { name: 'sidecar' }] })
    ;(w.status as Record<string, unknown>).containerStatuses = [
      { name: 'app', containerID: `containerd://${webIds.app}` },
      { name: 'sidecar', containerID: `containerd://${webIds.side}` },
    ]
    webIds.uid = (api.upsert('pods', w).metadata as { uid: string }).uid
    const c = pod({ name: 'loadgen-0', namespace: 'tools', node: NODE, ip: cli.ip, owner: { kind: 'StatefulSet', name: 'loadgen' }, containers: [{ name: 'main' }] })
    cliIds.uid = (api.upsert('pods', c).metadata as { uid: string }).uid
    api.upsert('services', service('websvc', 'shop', '10.96.8.8', [{ port: 443 }, { port: 8443 }]))
    api.upsert('endpointslices', endpointSlice('websvc', 'shop', [{ ip: web.ip, pod: 'web-6f7c9-abcde', node: NODE }], [{ port: 443 }, { port: 8443 }]))

    // cgroupfs driver for the server's pod, systemd driver for the client's
    const base = `podtap-k8stls-${hex(4)}`
    const appDir = mk(`${base}/kubepods/burstable/pod${webIds.uid}/${webIds.app}`)
    const sideDir = mk(`${base}/kubepods/burstable/pod${webIds.uid}/${webIds.side}`)
    const u = cliIds.uid.replace(/-/g, '_')
    const cliDir = mk(`${base}/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${u}.slice/cri-containerd-${cliIds.main}.scope`)

    run = runPodtap(['capture', '--k8s', '--kubeconfig', kubeconfig, '--node', NODE, '--tls', '--format', 'jsonl'])
    await run.waitFor(/capturing pod shop\/web-6f7c9-abcde on/)
    await run.waitFor(/reading TLS plaintext through/)
    server = await startNodeServer(web.host, node20, 443, 8443, { listen: '0.0.0.0', cgroups: [appDir] })
    // the clients stay 2 s after their last request, as pods' processes do: podtap reads a process's
    // cgroup when it sees it start (within ~0.5 s) or at its first TLS session; one gone before both
    // (a loaded machine delays the reader) keeps pid and comm but no pod
    const linger = { lingerMs: 2000 }
    ;[fromPod, fromHost, sidecar] = await Promise.all([
      runNodeClient(inCgroups(inNetns(node20, cli.host.ns), [cliDir]), web.ip, server, CONNS, PER_CONN, 'frompod', linger),
      runNodeClient(node20, web.ip, server, CONNS, PER_CONN, 'fromhost', linger),
      runNodeClient(inCgroups(inNetns(node20, web.host.ns), [sideDir]), '127.0.0.1', server, CONNS, PER_CONN, 'sidecar', linger),
    ])
    await new Promise((r) => setTimeout(r, 1500))
    await server.stop()
    await interrupt(run)
    got = traces(run.stdout).filter((t) => /\/(frompod|fromhost|sidecar)\//.test(t.resource ?? ''))
  }, 60_000)

  afterAll(async () => {
    killRun(run)
    await server?.stop()
    await Promise.all([web, cli].map((p) => p?.destroy()))
    cgroups.removeAll() // the processes are gone: the directories are empty
    await api?.stop()
    api?.dispose()
    rmSync(dir, { recursive: true, force: true })
  })

  const of = (tag: string) => got.filter((t) => t.resource!.includes(`/${tag}/`))
  const tapped = (t: TraceRecord) => [t.client, t.server].filter((p) => p.pid !== undefined)

  it('every request of the three clients is one TLS exchange', () => {
    for (const [tag, r] of [['frompod', fromPod], ['fromhost', fromHost], ['sidecar', sidecar]] as const) {
      expect(r.code, r.stderr).toBe(0)
      const want = r.responses.map((x) => `${x.proto === 'h2' ? 'http2' : 'http'} ${x.path} ${x.status}`).sort()
      expect(want).toHaveLength(CONNS * PER_CONN * 2)
      expect(of(tag).map((t) => `${t.protocol} ${t.resource} ${t.status}`).sort()).toEqual(want)
      for (const t of of(tag)) {
        expect(t.tls).toBe(true)
        expect(tapped(t)).toHaveLength(1)
      }
    }
  })

  it('pod to pod: both ends carry pod, namespace, workload; the server its service; the tapped side its container', () => {
    for (const t of of('frompod')) {
      expect(t.server).toMatchObject({ ip: web.ip, pod: 'web-6f7c9-abcde', namespace: 'shop', workload: 'web', service: 'websvc', node: NODE })
      expect(t.client).toMatchObject({ ip: cli.ip, pod: 'loadgen-0', namespace: 'tools', workload: 'loadgen' })
      const side = tapped(t)[0]!
      expect(side.container).toBe(side === t.server ? 'app' : 'main')
    }
  })

  it('host to pod: the server is the pod, the host client is no pod', () => {
    for (const t of of('fromhost')) {
      expect(t.server).toMatchObject({ ip: web.ip, pod: 'web-6f7c9-abcde', namespace: 'shop', workload: 'web', service: 'websvc' })
      expect(t.client.pod).toBeUndefined()
    }
  })

  it('sidecar over 127.0.0.1: both ends are the server\'s pod, known only from the cgroup; the tapped container named', () => {
    for (const t of of('sidecar')) {
      expect(t.client).toMatchObject({ ip: '127.0.0.1', pod: 'web-6f7c9-abcde', namespace: 'shop', workload: 'web' })
      expect(t.server).toMatchObject({ ip: '127.0.0.1', port: t.resource!.includes('/h2/') ? 8443 : 443, pod: 'web-6f7c9-abcde', namespace: 'shop', workload: 'web' })
      const side = tapped(t)[0]!
      expect(side.container).toBe(side === t.server ? 'app' : 'sidecar')
    }
  })
})

