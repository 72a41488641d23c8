// K8sAttachment without root: a fake shared socket, fake node rings and a scripted resolver, real
// ClusterIndex and Selection. Pod lifecycle -> veths watched/unwatched on the one shared socket;
// host-network pods -> node rings with the port allow-list;
// and the same-node filters on crafted packets: one copy of pod-to-pod packets, the server-side view
// of a ClusterIP connection to a local pod.

import { describe, expect, it } from 'vitest'
import { MultiSource } from '../../src/capture/af-packet.js'
import { LinkType, type Packet, type PacketSource } from '../../src/capture/source.js'
import { K8sAttachment, type CaptureSource, type OpenRequest, type SharedSource } from '../../src/k8s/attach.js'
import { ClusterIndex } from '../../src/k8s/identity.js'
import { trimPod, trimService, type Pod } from '../../src/k8s/objects.js'
import { Selection } from '../../src/k8s/selection.js'
import { VethResolver, type PodNetRef, type VethResult } from '../../src/capture/veth.js'
import type { Exchange } from '../../src/records.js'
import { ethIpv4Tcp, ethIpv6Tcp } from '../helpers/packets.js'
import { pod, service } from './apiserver.js'
import { until } from './loop.js'

const NODE = 'n1'

class FakeRing implements CaptureSource {
  closed = false
  ports: readonly number[] | null | undefined
  ended = false
  constructor(
    readonly name: string,
    readonly ifindex: number,
    ports?: readonly number[],
  ) {
    this.ports = ports
  }
  next(): Packet | null {
    return null
  }
  stats() {
    return { packets: 0, bytes: 0, dropped: 0, truncated: 0 }
  }
  close(): void {
    this.closed = true
  }
  setPorts(p: readonly number[] | null): void {
    this.ports = p
  }
}

/** the socket every pod veth shares: which ifindexes its filter map holds, and every change in order */
class FakeShared extends FakeRing implements SharedSource {
  readonly watching = new Set<number>()
  readonly changes: string[] = []
  constructor() {
    super('any', 0)
  }
  override close(): void {
    super.close()
    this.ended = true
  }
  watch(ifindex: number): void {
    if (ifindex === 13) throw new Error('map full')
    this.watching.add(ifindex)
    this.changes.push(`+${ifindex}`)
  }
  unwatch(ifindex: number): void {
    this.watching.delete(ifindex)
    this.changes.push(`-${ifindex}`)
  }
}

/** resolves pod IPs from a table; an IP mapped to a string fails with that error */
class ScriptedResolver extends VethResolver {
  calls = 0
  constructor(readonly table: Map<string, { ifindex: number; name: string } | string>) {
    super({ netns: false, route: false })
  }
  override async resolve(p: PodNetRef): Promise<VethResult> {
    this.calls++
    await new Promise((r) => setTimeout(r, 1))
    const v = this.table.get(p.ips[0] ?? '')
    if (v === undefined) return { error: 'unknown' }
    if (typeof v === 'string') return { error: v }
    return { ...v, method: 'route' }
  }
}

function setup(opts: { selection?: Selection; table?: [string, { ifindex: number; name: string } | string][]; detachGraceMs?: number; sharedFails?: number } = {}) {
  const multi = new MultiSource()
  const index = new ClusterIndex(NODE)
  const selection = opts.selection ?? new Selection()
  const rings: FakeRing[] = []
  const shareds: FakeShared[] = []
  let opens = 0
  const resolver = new ScriptedResolver(
    new Map(opts.table ?? [
      ['10.0.0.1', { ifindex: 10, name: 'vethA' }],
      ['10.0.0.2', { ifindex: 11, name: 'vethB' }],
      ['10.0.0.3', { ifindex: 12, name: 'vethC' }],
    ]),
  )
  const logs: string[] = []
  const att = new K8sAttachment({
    multi,
    index,
    selection,
    resolver,
    open: (r: OpenRequest) => {
      const ifindex = r.iface === 'eth0' ? 2 : Number(/\d+$/.exec(r.iface)?.[0] ?? 0) || ({ vethA: 10, vethB: 11, vethC: 12 } as Record<string, number>)[r.iface]!
      const ring = new FakeRing(r.iface, ifindex, r.ports)
      rings.push(ring)
      return ring
    },
    openShared: () => {
      opens++
      if (opens <= (opts.sharedFails ?? 0)) throw new Error('PODTAP_PERMISSION: no CAP_BPF')
      const s = new FakeShared()
      shareds.push(s)
      return s
    },
    log: (m) => logs.push(m),
    detachGraceMs: opts.detachGraceMs ?? 0,
    retryInitialMs: 5,
    retryMaxMs: 20,
    nodeIfaces: ['eth0'],
  })
  const add = (p: Pod): void => {
    index.upsertPod(p)
    att.podUpserted(p)
  }
  const del = (p: Pod): void => {
    att.podDeleted(p)
    index.deletePod(p)
  }
  const shared = (): FakeShared => shareds[0]!
  return { multi, index, selection, att, rings, shareds, shared, resolver, logs, add, del, opens: () => opens }
}

const podA = trimPod(pod({ name: 'a', namespace: 'ns', node: NODE, ip: '10.0.0.1', labels: { app: 'a' } }))
const podB = trimPod(pod({ name: 'b', namespace: 'ns', node: NODE, ip: '10.0.0.2', labels: { app: 'b' } }))

function pkt(ifindex: number, tsUs: number, src: string, sport: number, dst: string, dport: number, flags = 'PA'): Packet {
  const data = src.includes(':') ? ethIpv6Tcp({ src, dst, sport, dport, flags, payload: 'x' }) : ethIpv4Tcp({ src, dst, sport, dport, flags, payload: flags.includes('S') ? undefined : 'x' })
  return { tsUs, ifindex, linkType: LinkType.ETHERNET, data, origLen: data.length }
}

describe('K8sAttachment: pods to veths on the shared socket', () => {
  it('watches each selected pod\'s veth on one shared socket, unwatches it when the pod goes, and reports what it does', async () => {
    const { att, multi, rings, shareds, shared, add, del, logs } = setup()
    expect(shareds).toHaveLength(0) // opened at the first pod
    add(podA)
    add(podB)
    await att.idle()
    expect(shareds).toHaveLength(1)
    expect(rings).toHaveLength(0)
    expect([...shared().watching]).toEqual([10, 11])
    expect(multi.sources.map((s) => s.name)).toEqual(['any'])
    expect(att.pods()).toEqual([
      { namespace: 'ns', name: 'a', ips: ['10.0.0.1'], state: 'attached', iface: 'vethA', ifindex: 10, method: 'route' },
      { namespace: 'ns', name: 'b', ips: ['10.0.0.2'], state: 'attached', iface: 'vethB', ifindex: 11, method: 'route' },
    ])
    // packets per pod veth, counted as they pass the filter; the shared ring's own counts beside them
    const now = Date.now() * 1000 + 1_000_000
    att.accept(pkt(10, now, '10.0.0.1', 40000, '10.0.0.9', 80))
    att.accept(pkt(10, now, '10.0.0.9', 80, '10.0.0.1', 40000))
    expect(att.interfaces()).toEqual([
      { name: 'any', ifindex: 0, role: 'shared', pods: ['ns/a', 'ns/b'], packets: 0, dropped: 0 },
      { name: 'vethA', ifindex: 10, role: 'pod', pods: ['ns/a'], packets: 2 },
      { name: 'vethB', ifindex: 11, role: 'pod', pods: ['ns/b'], packets: 0 },
    ])
    expect(att.ringCount).toBe(2)
    // an update that changes nothing that matters keeps the veth watched
    add(trimPod(pod({ name: 'a', namespace: 'ns', node: NODE, ip: '10.0.0.1', labels: { app: 'a', v: '2' } })))
    await att.idle()
    expect(shared().changes).toEqual(['+10', '+11'])
    del(podA)
    expect([...shared().watching]).toEqual([11])
    expect(multi.sources.map((s) => s.name)).toEqual(['any'])
    expect(logs).toContain('kubernetes: pod ns/a deleted: capture on vethA stopped')
    // the last pod gone: the socket stays open (the next pod is a map update again)
    del(podB)
    expect(shared().watching.size).toBe(0)
    expect(shared().closed).toBe(false)
    expect(att.interfaces()).toEqual([])
    att.close()
    expect(shared().closed).toBe(true)
    expect(multi.sources).toHaveLength(0)
  })

  it('the shared socket failing to open: pods pending with the reason, one open attempt a second for all of them', async () => {
    const { att, add, opens, shareds, resolver } = setup({ sharedFails: 1 })
    add(podA)
    add(podB)
    await until('both tried', () => att.pods().every((p) => p.error !== undefined), 2000, 2)
    expect(att.pods().map((p) => p.error)).toEqual(['cannot capture on vethA: PODTAP_PERMISSION: no CAP_BPF', 'cannot capture on vethB: PODTAP_PERMISSION: no CAP_BPF'])
    // the pods retry every 20 ms here; the socket is not opened again for each of them
    await until('retries', () => resolver.calls >= 12, 2000, 2)
    expect(opens()).toBeLessThanOrEqual(2)
    // a second after the failure the next retry opens it and every pod is captured
    await until('attached', () => att.pods().every((p) => p.state === 'attached'), 5000, 10)
    expect(opens()).toBe(2)
    expect([...shareds[0]!.watching].sort()).toEqual([10, 11])
    att.close()
  })

  it('a veth the shared socket cannot take (its map full) leaves the pod pending with the reason, retried', async () => {
    const { att, add, shared } = setup({ table: [['10.0.0.1', { ifindex: 13, name: 'veth13' }]] })
    add(podA)
    await att.idle()
    expect(att.pods()[0]).toMatchObject({ state: 'pending', error: 'cannot capture on veth13: map full' })
    expect(shared().watching.size).toBe(0)
    att.close()
  })

  it('a deleted pod\'s veth is watched for a grace period; a new pod on the same veth ends it at once and keeps its own address entries', async () => {
    const { att, shared, add, del } = setup({ detachGraceMs: 60_000 })
    add(podA)
    add(podB)
    await att.idle()
    del(podA)
    expect([...shared().watching]).toEqual([10, 11]) // still watched: packets on their way
    const podA2 = trimPod(pod({ name: 'a2', namespace: 'ns', node: NODE, ip: '10.0.0.1' }))
    add(podA2)
    await att.idle()
    // the old grace ended (unwatch) before the new pod watched the veth again: it stays watched
    expect(shared().changes).toEqual(['+10', '+11', '-10', '+10'])
    expect([...shared().watching].sort()).toEqual([10, 11])
    // the new pod's address still counts as captured on vethA: same-node dedupe goes on working
    const now = Date.now() * 1000 + 1_000_000
    expect(att.accept(pkt(11, now, '10.0.0.1', 40000, '10.0.0.2', 80))).toBe(true)
    expect(att.accept(pkt(10, now, '10.0.0.1', 40000, '10.0.0.2', 80))).toBe(false)
    att.close()
    expect(shared().closed).toBe(true)
  })

  it('a pod whose veth is not there yet is retried with backoff until it is', async () => {
    const { att, shareds, add, resolver } = setup({ table: [['10.0.0.1', 'no veth yet']] })
    add(podA)
    await until('a few tries', () => resolver.calls >= 3, 2000, 2)
    expect(att.pods()[0]).toMatchObject({ state: 'pending', error: 'no veth yet' })
    expect(shareds).toHaveLength(0)
    resolver.table.set('10.0.0.1', { ifindex: 10, name: 'vethA' })
    await until('attached', () => att.pods()[0]?.state === 'attached', 2000, 2)
    att.close()
  })

  it('not selected, not running, no IP yet: not captured; selection changes attach and detach at once', async () => {
    const sel = new Selection({ excludeNamespaces: ['ns'] })
    const { att, shareds, shared, add } = setup({ selection: sel })
    add(podA)
    add(trimPod(pod({ name: 'done', namespace: 'other', node: NODE, ip: '10.0.0.3', phase: 'Succeeded' })))
    add(trimPod(pod({ name: 'new', namespace: 'other', node: NODE })))
    await att.idle()
    expect(Object.fromEntries(att.pods().map((p) => [p.name, p.state]))).toEqual({ a: 'excluded', done: 'not-running', new: 'no-ip' })
    expect(shareds).toHaveLength(0)
    sel.addNamespace('ns')
    await att.idle()
    expect(att.pods().find((p) => p.name === 'a')?.state).toBe('attached')
    expect([...shared().watching]).toEqual([10])
    sel.removePod('ns/a')
    expect(att.pods().find((p) => p.name === 'a')?.state).toBe('excluded')
    expect(shared().watching.size).toBe(0)
    att.close()
  })

  it('host-network pods: one ring on the node interface with their ports; ports follow the pods', async () => {
    const { att, rings, add, del, index } = setup()
    const hp = (name: string, ports: number[]) => trimPod(pod({ name, namespace: 'kube-system', node: NODE, ip: '192.0.2.10', hostNetwork: true, containers: [{ name: 'c', ports }] }))
    add(hp('exporter', [9100]))
    expect(rings.map((r) => [r.name, r.ports])).toEqual([['eth0', [9100]]])
    add(hp('dns', [53, 9153]))
    expect(rings[0]!.ports).toEqual([53, 9100, 9153])
    expect(att.pods().find((p) => p.name === 'dns')).toMatchObject({ state: 'host-network', ports: [53, 9100, 9153] })
    // accepted on the node ring: a host-network pod's port on a node address; nothing else
    expect(index.isLocalNodeIp('192.0.2.10')).toBe(true)
    expect(att.accept(pkt(2, 1, '198.51.100.7', 40000, '192.0.2.10', 9100))).toBe(true)
    expect(att.accept(pkt(2, 1, '192.0.2.10', 9153, '198.51.100.7', 40000))).toBe(true)
    expect(att.accept(pkt(2, 1, '198.51.100.7', 40000, '192.0.2.10', 22))).toBe(false)
    expect(att.accept(pkt(2, 1, '10.9.0.1', 40000, '10.9.0.2', 9100))).toBe(false) // routed through, not for this node
    del(hp('exporter', [9100]))
    expect(rings[0]!.ports).toEqual([53, 9153])
    del(hp('dns', [53, 9153]))
    expect(rings[0]!.closed).toBe(true)
    att.close()
  })
})

describe('K8sAttachment: same-node traffic counted once', () => {
  async function twoPods() {
    const s = setup()
    s.add(podA)
    s.add(podB)
    await s.att.idle()
    return s
  }

  it('pod to pod: each packet passes both veths; the copy on the listening side is kept, the other dropped', async () => {
    const { att } = await twoPods()
    const now = Date.now() * 1000 + 1_000_000
    // A:40000 -> B:80 and back, seen on vethA (10) and vethB (11)
    for (const [src, sp, dst, dp] of [['10.0.0.1', 40000, '10.0.0.2', 80], ['10.0.0.2', 80, '10.0.0.1', 40000]] as const) {
      expect(att.accept(pkt(11, now, src, sp, dst, dp))).toBe(true)
      expect(att.accept(pkt(10, now, src, sp, dst, dp))).toBe(false)
    }
    expect(att.dedupe.packets).toBe(2)
    // equal ports: the lower ifindex
    expect(att.accept(pkt(10, now, '10.0.0.1', 5000, '10.0.0.2', 5000))).toBe(true)
    expect(att.accept(pkt(11, now, '10.0.0.1', 5000, '10.0.0.2', 5000))).toBe(false)
    // traffic with a pod that is not captured, or outside the node: kept where it is seen
    expect(att.accept(pkt(10, now, '10.0.0.1', 40001, '10.0.0.9', 80))).toBe(true)
    expect(att.accept(pkt(10, now, 'fd00::1', 40001, '2001:db8::1', 80))).toBe(true)
    // an interface podtap does not manage (not k8s): always kept
    expect(att.accept(pkt(99, now, '10.0.0.1', 40000, '10.0.0.2', 80))).toBe(true)
    att.close()
  })

  it('a packet from before the kept side\'s ring opened is kept on the other side (nothing lost while attaching)', async () => {
    const { att } = await twoPods()
    const before = Date.now() * 1000 - 60_000_000
    expect(att.accept(pkt(10, before, '10.0.0.1', 40000, '10.0.0.2', 80))).toBe(true)
    att.close()
  })

  it('a ClusterIP connection to a pod on this node: both views pass as packets, the client-side records are dropped', async () => {
    const { att, index } = await twoPods()
    index.upsertService(trimService(service('b', 'ns', '10.96.0.10', [{ port: 80 }])))
    const t = Date.now() * 1000 + 1_000_000
    // the client's veth: A -> ClusterIP (before DNAT); the server's veth: A -> B:8080 (after).
    // The server port (9000) is above the client port (1000): without the pairing, the port rule
    // would keep the copy on A's veth, which never carries this 4-tuple.
    expect(att.accept(pkt(10, t, '10.0.0.1', 1000, '10.96.0.10', 80, 'S'))).toBe(true)
    expect(att.accept(pkt(11, t + 30, '10.0.0.1', 1000, '10.0.0.2', 9000, 'S'))).toBe(true)
    expect(att.accept(pkt(11, t + 60, '10.0.0.2', 9000, '10.0.0.1', 1000, 'SA'))).toBe(true)
    expect(att.accept(pkt(11, t + 90, '10.0.0.1', 1000, '10.0.0.2', 9000))).toBe(true)
    expect(att.accept(pkt(10, t + 20, '10.0.0.1', 1000, '10.96.0.10', 80))).toBe(true)
    const ex = (client: [string, number], server: [string, number]) =>
      ({ protocol: 'http', client: { ip: client[0], port: client[1] }, server: { ip: server[0], port: server[1] } }) as unknown as Exchange
    // the client-side view of that connection is dropped, the server side kept (with identity)
    expect(att.exchange(ex(['10.0.0.1', 1000], ['10.96.0.10', 80]))).toBe(false)
    const server = ex(['10.0.0.1', 1000], ['10.0.0.2', 9000])
    expect(att.exchange(server)).toBe(true)
    expect(server.server).toMatchObject({ pod: 'b', namespace: 'ns' })
    expect(server.client).toMatchObject({ pod: 'a', namespace: 'ns' })
    // another connection through the ClusterIP whose backend is elsewhere: kept
    expect(att.accept(pkt(10, t + 5000, '10.0.0.1', 1001, '10.96.0.10', 80, 'S'))).toBe(true)
    expect(att.exchange(ex(['10.0.0.1', 1001], ['10.96.0.10', 80]))).toBe(true)
    expect(att.dedupe.exchanges).toBe(1)
    // the same client port later opening a direct connection is no longer "behind a ClusterIP"
    // (both veths carry it: the port rule applies again, the lower port's side keeps it)
    expect(att.accept(pkt(10, t + 9000, '10.0.0.1', 1000, '10.0.0.2', 9000, 'S'))).toBe(true)
    expect(att.accept(pkt(11, t + 9000, '10.0.0.1', 1000, '10.0.0.2', 9000, 'S'))).toBe(false)
    att.close()
  })

  it('filter() wraps a source so that next() skips refused packets', async () => {
    const { att } = await twoPods()
    const now = Date.now() * 1000 + 1_000_000
    const queue = [pkt(10, now, '10.0.0.1', 40000, '10.0.0.2', 80), pkt(11, now, '10.0.0.1', 40000, '10.0.0.2', 80)]
    const inner: PacketSource = { name: 'x', ended: false, next: () => queue.shift() ?? null, stats: () => ({ packets: 0, bytes: 0, dropped: 0, truncated: 0 }), close: () => undefined }
    const f = att.filter(inner)
    expect(f.next()?.ifindex).toBe(11)
    expect(f.next()).toBeNull()
    att.close()
  })
})
