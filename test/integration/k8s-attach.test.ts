// Kubernetes mode end to end below the CLI: the real client-node informers against the stand-in API
// server (test/k8s/apiserver.ts; no Kubernetes can run here, so our own server speaks the real
// list/watch protocol), "pods" that are network namespaces with real nginx servers behind veths, the
// pod IPs routed to the host veths as Calico does (test/k8s/netpods.ts), live capture through the
// real socket filter and rings, and the real pipeline.
//
// Checks: podtap captures exactly the pods' veths (not others, not pods of other nodes), all on one
// packet socket whose BPF map holds their ifindexes; records
// carry pod/namespace/workload/service/container/node on both ends; same-node pod-to-pod traffic,
// seen on both veths, is counted once; pods added and deleted during capture are attached and
// detached; the API server going away and coming back loses nothing; selection by namespace and
// label, and changes to it at run time.

import { mkdtempSync, rmSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startK8s, type K8sSession } from '../../src/k8s/session.js'
import { cleanupStale, needRoot } from '../helpers/netns.js'
import { StandInApiServer, endpointSlice, nodeObj, pod, replicaSet, service } from '../k8s/apiserver.js'
import { startLoop, until, type Loop } from '../k8s/loop.js'
import { createNetPod, type NetPod } from '../k8s/netpods.js'

const skip = needRoot()
if (skip !== null) console.log(`k8s attach tests skipped: ${skip}`)

const NODE = 'node-a'
const FAST = { backoffInitialMs: 50, backoffMaxMs: 300, slowRetryMs: 300 }

describe.skipIf(skip !== null)('podtap --k8s: informers, veths, identity (stand-in API server, pods in namespaces)', () => {
  let api: StandInApiServer
  let dir: string
  let kubeconfig: string
  let web: NetPod
  let client: NetPod
  let db: NetPod
  let stray: NetPod
  const logs: string[] = []

  beforeAll(async () => {
    cleanupStale()
    api = new StandInApiServer()
    await api.start()
    dir = mkdtempSync(join(tmpdir(), 'podtap-k8s-'))
    kubeconfig = api.writeKubeconfig(join(dir, 'kubeconfig'))
    ;[web, client, db, stray] = await Promise.all([
      createNetPod('kweb', { web: true }),
      createNetPod('kcli'),
      createNetPod('kdb', { web: true }),
      createNetPod('kstray', { web: true }),
    ])
    api.upsert('nodes', nodeObj(NODE, '192.0.2.10'))
    api.upsert('replicasets', replicaSet('web-7d9f8', 'shop', 'web'))
    api.upsert('pods', pod({ name: 'web-7d9f8-abcde', namespace: 'shop', node: NODE, ip: web.ip, owner: { kind: 'ReplicaSet', name: 'web-7d9f8' }, labels: { app: 'web' }, containers: [{ name: 'nginx', ports: [80] }, { name: 'sidecar', ports: [9901] }] }))
    api.upsert('pods', pod({ name: 'client-0', namespace: 'shop', node: NODE, ip: client.ip, owner: { kind: 'StatefulSet', name: 'client' }, labels: { app: 'client' } }))
    // a pod of another node whose IP happens to be routed here: never attached
    api.upsert('pods', pod({ name: 'elsewhere', namespace: 'shop', node: 'node-b', ip: stray.ip }))
    api.upsert('services', service('web', 'shop', '10.96.0.10', [{ port: 80 }]))
    api.upsert('endpointslices', endpointSlice('web', 'shop', [{ ip: web.ip, pod: 'web-7d9f8-abcde', node: NODE }], [{ port: 80 }]))
  })
  afterAll(async () => {
    await Promise.all([web, client, db, stray].map((p) => p?.destroy()))
    await api?.stop()
    api?.dispose()
    rmSync(dir, { recursive: true, force: true })
  })

  const podIfaces = (s: K8sSession): string[] =>
    s.attachment
      .interfaces()
      .filter((i) => i.role === 'pod')
      .map((i) => i.name)
      .sort()

  async function session(loop: Loop, extra: Parameters<typeof startK8s>[1] = {}): Promise<K8sSession> {
    const s = await startK8s(loop.multi, { kubeconfig, node: NODE, env: {}, informer: FAST, log: (m) => logs.push(m), counters: loop.counters, ...extra })
    loop.use(s)
    return s
  }

  it('attaches to exactly the local pods\' veths; same-node traffic is counted once with identity on both ends', async () => {
    const loop = startLoop()
    const s = await session(loop)
    try {
      await until('both local pods attached', () => s.attachment.pods().filter((p) => p.state === 'attached').length === 2)
      const attached = Object.fromEntries(s.attachment.pods().map((p) => [p.name, p]))
      expect(attached['web-7d9f8-abcde']).toMatchObject({ state: 'attached', iface: web.host.hostIf, ifindex: web.host.hostIfindex })
      expect(attached['client-0']).toMatchObject({ state: 'attached', iface: client.host.hostIf, ifindex: client.host.hostIfindex })
      expect(attached.elsewhere).toBeUndefined()
      expect(podIfaces(s)).toEqual([web.host.hostIf, client.host.hostIf].sort())
      // one socket for both pods: the veths are entries of its filter's map
      expect(loop.multi.sources.map((m) => m.name)).toEqual(['any'])
      expect(s.attachment.watchedVeths).toBe(2)

      // pod to pod on this node: every packet passes both veths
      const codes = await client.curl(`http://${web.ip}/`, 20)
      expect(codes).toEqual(Array(20).fill('200'))
      await until('20 exchanges', () => {
        loop.flush()
        return loop.exchanges.length >= 20
      })
      await new Promise((r) => setTimeout(r, 700))
      loop.flush()
      const ex = loop.exchanges.filter((e) => e.server.ip === web.ip)
      expect(ex).toHaveLength(20) // not 40: the second copy of each packet was left out
      // both veths saw the packets; one copy went on
      expect(loop.perIfindex.get(web.host.hostIfindex) ?? 0).toBeGreaterThan(0)
      expect(s.attachment.dedupe.packets).toBeGreaterThanOrEqual(20 * 6)
      expect(loop.counters.get('tcp_retransmitted_segments')).toBe(0)
      for (const e of ex) {
        expect(e.client).toEqual({ ip: client.ip, port: e.client.port, pod: 'client-0', namespace: 'shop', workload: 'client', node: NODE, container: 'main' })
        expect(e.server).toEqual({ ip: web.ip, port: 80, pod: 'web-7d9f8-abcde', namespace: 'shop', workload: 'web', service: 'web', node: NODE, container: 'nginx' })
        expect(e.status).toBe(200)
      }
    } finally {
      await s.close()
      await loop.stop()
    }
    expect(loop.multi.sources).toHaveLength(0)
  })

  it('pods added and deleted during capture are attached and detached; the API server away and back loses nothing', async () => {
    const loop = startLoop()
    const s = await session(loop)
    try {
      await until('attached', () => s.attachment.ringCount === 2)
      // added during capture
      api.upsert('pods', pod({ name: 'db-0', namespace: 'data', node: NODE, ip: db.ip, owner: { kind: 'StatefulSet', name: 'db' }, containers: [{ name: 'pg', ports: [80] }] }))
      await until('db attached', () => s.attachment.pods().find((p) => p.name === 'db-0')?.state === 'attached')
      expect(await client.curl(`http://${db.ip}/`, 5)).toEqual(Array(5).fill('200'))
      await until('db exchanges', () => {
        loop.flush()
        return loop.exchanges.filter((e) => e.server.pod === 'db-0').length === 5
      })

      // deleted during capture: its ring closes
      const dbIf = db.host.hostIfindex
      api.remove('pods', 'data', 'db-0')
      await until('db detached', () => !s.attachment.interfaces().some((i) => i.ifindex === dbIf) && s.attachment.watchedVeths === 2)
      expect(s.attachment.pods().map((p) => p.name)).not.toContain('db-0')
      expect(logs.some((l) => l.includes('pod data/db-0 deleted'))).toBe(true)
      const before = loop.perIfindex.get(dbIf) ?? 0
      // traffic to it now is seen only from the client's veth, and the server is no longer a known pod
      expect(await client.curl(`http://${db.ip}/`, 3)).toEqual(Array(3).fill('200'))
      await new Promise((r) => setTimeout(r, 600))
      loop.flush()
      expect(loop.perIfindex.get(dbIf) ?? 0).toBe(before)
      const late = loop.exchanges.filter((e) => e.server.ip === db.ip && e.server.pod === undefined)
      expect(late).toHaveLength(3)

      // the API server goes away; meanwhile db-0 comes back and the web pod is deleted
      await api.stop()
      api.upsert('pods', pod({ name: 'db-0', namespace: 'data', node: NODE, ip: db.ip }))
      const webPod = api.list('pods').find((p) => p.metadata.name === 'web-7d9f8-abcde')!
      api.remove('pods', 'shop', 'web-7d9f8-abcde')
      try {
        await until('pods informer retrying', () => s.watch.status().find((x) => x.resource === 'pods')?.state === 'retrying')
        await new Promise((r) => setTimeout(r, 500)) // several retries while it is away
        expect(s.watch.status().find((x) => x.resource === 'pods')?.state).toBe('retrying')
        expect(s.attachment.ringCount).toBe(2) // nothing changed while it was away (and nothing crashed)
      } finally {
        await api.start() // the later tests need it, whatever happened here
      }
      await until('caught up', () => {
        const st = Object.fromEntries(s.attachment.pods().map((p) => [p.name, p.state]))
        return st['db-0'] === 'attached' && st['web-7d9f8-abcde'] === undefined
      })
      expect(podIfaces(s)).toEqual([client.host.hostIf, db.host.hostIf].sort())
      api.upsert('pods', webPod)
      await until('web back', () => s.attachment.ringCount === 3)
    } finally {
      await s.close()
      await loop.stop()
    }
  })

  it('selection: --namespace / --exclude-namespace / --selector, and changes at run time', async () => {
    const loop = startLoop()
    const s = await session(loop, { namespaces: ['shop'], selector: 'app in (web,api)' })
    try {
      await until('web attached', () => s.attachment.pods().some((p) => p.name === 'web-7d9f8-abcde' && p.state === 'attached'))
      await s.attachment.idle()
      const st = () => Object.fromEntries(s.attachment.pods().map((p) => [p.name, p.state]))
      expect(st()).toMatchObject({ 'web-7d9f8-abcde': 'attached', 'client-0': 'excluded', 'db-0': 'excluded' })
      expect(s.attachment.ringCount).toBe(1)
      // traffic between an observed and an unobserved pod is still seen once, on the observed side
      expect(await client.curl(`http://${web.ip}/`, 4)).toEqual(Array(4).fill('200'))
      await until('4 exchanges', () => {
        loop.flush()
        return loop.exchanges.length === 4
      })
      expect(loop.exchanges[0]!.client.pod).toBe('client-0') // identity of unselected pods is still known

      s.selection.addPod('shop/client-0')
      await until('client attached', () => st()['client-0'] === 'attached')
      s.selection.addNamespace('data')
      s.selection.setSelector('')
      await until('db attached', () => st()['db-0'] === 'attached')
      s.selection.removeNamespace('shop')
      await until('shop detached', () => st()['web-7d9f8-abcde'] === 'excluded')
      expect(st()['client-0']).toBe('attached') // named pods stay
      expect(s.attachment.ringCount).toBe(2)
    } finally {
      await s.close()
      await loop.stop()
    }
  })

  it('host-network pods: captured on the node interface on their ports only, ports following the pods, attributed by port', async () => {
    // the "node": the host side of the client pod's veth, with its address as the node's InternalIP;
    // the host-network pods: HTTP servers of this process on that address
    const nodeIf = client.host.hostIf
    const nodeIp = client.host.hostIp
    const servers: Server[] = []
    const listen = (port: number): Promise<void> =>
      new Promise((resolve) => {
        const srv = createServer((_, res) => res.end('host'))
        servers.push(srv)
        srv.listen(port, nodeIp, () => resolve())
      })
    await listen(18080)
    await listen(18081)
    api.upsert('nodes', nodeObj(NODE, nodeIp))
    api.upsert('pods', pod({ name: 'exporter', namespace: 'monitoring', node: NODE, ip: nodeIp, hostNetwork: true, owner: { kind: 'DaemonSet', name: 'exporter' }, containers: [{ name: 'exporter', ports: [18080] }] }))
    const loop = startLoop()
    const s = await session(loop, { nodeIfaces: [nodeIf], selector: '', namespaces: ['monitoring'] })
    try {
      await until('node ring', () => s.attachment.interfaces().some((i) => i.role === 'node'))
      expect(s.attachment.interfaces().find((i) => i.role === 'node')).toMatchObject({ name: nodeIf, ports: [18080], pods: ['monitoring/exporter'] })
      const curl = (port: number, n: number) => client.host.exec(['sh', '-c', `for i in $(seq 1 ${n}); do curl -s -o /dev/null -m 5 http://${nodeIp}:${port}/; done`])
      await curl(18080, 3)
      await curl(18081, 2) // no pod declares it: not captured
      await until('3 exchanges', () => {
        loop.flush()
        return loop.exchanges.length >= 3
      })
      await new Promise((r) => setTimeout(r, 600))
      loop.flush()
      expect(loop.exchanges.map((e) => e.server.port)).toEqual([18080, 18080, 18080])
      for (const e of loop.exchanges) expect(e.server).toMatchObject({ ip: nodeIp, pod: 'exporter', namespace: 'monitoring', workload: 'exporter', node: NODE, container: 'exporter' })
      // a second host-network pod: its port joins the allow-list at once
      api.upsert('pods', pod({ name: 'agent', namespace: 'monitoring', node: NODE, ip: nodeIp, hostNetwork: true, containers: [{ name: 'agent', ports: [18081] }] }))
      await until('ports', () => JSON.stringify(s.attachment.interfaces().find((i) => i.role === 'node')?.ports) === '[18080,18081]')
      await curl(18081, 2)
      await until('agent exchanges', () => {
        loop.flush()
        return loop.exchanges.filter((e) => e.server.pod === 'agent').length === 2
      })
      // both gone: the node ring closes
      api.remove('pods', 'monitoring', 'exporter')
      api.remove('pods', 'monitoring', 'agent')
      await until('node ring closed', () => !s.attachment.interfaces().some((i) => i.role === 'node'))
    } finally {
      await s.close()
      await loop.stop()
      for (const srv of servers) srv.close()
    }
  })
})
