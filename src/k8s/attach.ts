// Captures follow the pods: every local pod's host veth is watched by ONE packet socket bound to all
// interfaces (its BPF filter keeps only the ifindexes in its podtap_ifidx map: a pod is added or
// removed by one map update, microseconds; docs/architecture.md "A node of many pods"), watched
// when the pod is selected and its veth is found, unwatched when it goes, re-watched when its veth
// changes; host-network pods on the node's interfaces, one ring each with the BPF port allow-list;
// and the packet/record filter that makes same-node traffic count once. Which pod a packet belongs
// to is the ifindex of its frame (sockaddr_ll), as with one ring per veth.
//
//   informers (watch.ts) ──pod add/update/delete──> K8sAttachment ──watch/unwatch──> the shared socket
//                                                    │ VethResolver (veth.ts)       (a MultiSource member,
//                                                    │                               opened at the first pod)
//   capture loop: for each packet  accept(p)?  ──> Pipeline ──> exchange(e)? (enrich + NAT dedupe) ──> outputs
//
// Same-node traffic (docs/architecture.md "Pods on one node"):
//   * Pod A to pod B directly: the same packet passes A's veth and B's veth. Both copies are identical
//     (same 4-tuple, same bytes, microseconds apart), so which one is kept changes nothing in the
//     records; accept() keeps the copy on the listening side's veth (copyVerdict, capture/copies.ts)
//     and drops the other, with no per-flow state. A copy is dropped only when the veth it defers to
//     was capturing at the packet's time (attach time recorded), so nothing is lost while one side
//     attaches.
//   * Pod A to a Service ClusterIP whose backend is pod B on this node (kube-proxy DNAT in the host
//     namespace): A's veth shows A->ClusterIP, B's veth A->B; two different 4-tuples, one connection.
//     The server-side view is kept (it names the pod that answered): when B's veth saw A's SYN from
//     the same client ip:port within NAT_PAIR_US of A's SYN to the ClusterIP, records of A's view are
//     dropped by exchange()/link(). Connections already open when capture began (no SYN seen) are
//     reported from both sides.
//
// Lifetime: the shared socket and every node ring opened here are closed by close() (a node ring
// also when its last host-network pod goes); nothing else holds one. Pod churn of any length leaves
// the fd count flat (test/integration/k8s-churn.test.ts).

import { readFileSync } from 'node:fs'
import { networkInterfaces } from 'node:os'
import { AF_PACKET_DEFAULTS, AfPacketSource, MultiSource, openAfPacket } from '../capture/af-packet.js'
import { ringGeometry } from '../capture/ring-geometry.js'
import { readInterface } from '../capture/interfaces.js'
import { BPF_ABI } from '../capture/bpf-abi.js'
import { type Packet, type PacketSource } from '../capture/source.js'
import { copyVerdict, endpointKey, ipKey, newPeek, peek, TCP_ACK, TCP_SYN, type Owner, type Peek } from '../capture/copies.js'
import type { Counters } from '../counters.js'
import type { FlowView } from '../tcp/health.js'
import type { Endpoint } from '../tcp/types.js'
import type { LinkRecord } from '../records.js'
import type { Exchange } from '../records.js'
import type { ClusterIndex } from './identity.js'
import { keyOf, type Pod } from './objects.js'
import type { Selection } from './selection.js'
import { VethResolver, type VethMethod } from '../capture/veth.js'

export type PodCaptureState =
  | 'attached' // the pod's veth is watched by the shared socket
  | 'pending' // selected, veth not found yet (retried)
  | 'excluded' // not selected
  | 'host-network' // captured on the node's interfaces by port
  | 'not-running' // Succeeded/Failed
  | 'no-ip' // not scheduled/started yet

export interface PodView {
  namespace: string
  name: string
  ips: string[]
  state: PodCaptureState
  iface?: string
  ifindex?: number
  method?: VethMethod
  error?: string
  ports?: number[]
}

export interface IfaceView {
  name: string
  ifindex: number
  /**
   * 'pod': a pod's veth (packets: those its frames brought, before the same-node filter); 'node': a
   * node interface with host-network pods' ports (its own ring); 'shared': the socket every pod veth
   * shares (name 'any', ifindex 0), whose ring's packets and kernel drops cover all pods
   */
  role: 'pod' | 'node' | 'shared'
  pods: string[]
  packets: number
  /** kernel drops of the ring (node and shared; a pod's veth has no ring of its own) */
  dropped?: number
  ports?: number[]
}

/** A node interface ring (host-network pods) a source opener gets asked for. */
export interface OpenRequest {
  iface: string
  ports?: readonly number[]
}

/** What K8sAttachment needs of a capture source (AfPacketSource has it all). */
export type CaptureSource = PacketSource & {
  readonly ifindex: number
  setPorts?(ports: readonly number[] | null): void
}

/** The one socket every pod veth shares (AfPacketSource opened with anyInterface has it all). */
export type SharedSource = PacketSource & {
  /** keep the packets of this interface from now on (a map update); throws when the map is full */
  watch(ifindex: number): void
  /** no more packets of it (those already in the ring are still delivered) */
  unwatch(ifindex: number): void
}

export interface K8sAttachmentOptions {
  multi: MultiSource
  index: ClusterIndex
  selection: Selection
  resolver?: VethResolver
  /** opens a node interface's ring for host-network pods (default openAfPacket with NODE_RING) */
  open?: (r: OpenRequest) => CaptureSource
  /** opens the socket the pod veths share, at the first pod (default openAfPacket anyInterface, SHARED_RING) */
  openShared?: () => SharedSource
  /** the shared ring: blocks of SHARED_RING.blockSize (default 16) and bytes kept per packet (--ring-blocks, --snaplen) */
  sharedRing?: { blockCount?: number; snaplen?: number }
  log?: (msg: string) => void
  counters?: Counters
  /** first retry of a pod whose veth is not found yet; doubles to retryMaxMs. Default 100 ms */
  retryInitialMs?: number
  /** default 2000 ms */
  retryMaxMs?: number
  /** attached pods are re-checked (veth gone or replaced?) this often. Default 1000 ms */
  recheckMs?: number
  /** a deleted pod's veth is watched this long more (its last packets, the same-node rule's addresses). Default 150 ms */
  detachGraceMs?: number
  /** capture host-network pods on the node's interfaces (default true) */
  hostNetwork?: boolean
  /** the node interfaces for host-network pods (default: those holding the node's addresses) */
  nodeIfaces?: readonly string[]
}

/** The ring every pod veth shares: 16 blocks of 1 MiB (as `--all-veth`'s). */
export const SHARED_RING = { blockSize: AF_PACKET_DEFAULTS.blockSize, blockCount: AF_PACKET_DEFAULTS.blockCount, frameTimeoutMs: 50 } as const
/**
 * Ring per node interface (host-network pods): 32 blocks of 256 KiB (8 MiB); GSO packets (<= 64 KiB) fit a
 * block. At pod packet rates a block leaves after frameTimeoutMs with a few packets in it, so the ring
 * rides out a pause of podtap's of 32 x 50 ms = 1.6 s (8 blocks rode out 0.4 s; ring-geometry.ts).
 */
export const NODE_RING = { blockSize: 1 << 18, blockCount: 32, frameTimeoutMs: 50 } as const

/** A client SYN to a ClusterIP and the server-side SYN of the same client ip:port closer than this are one connection. */
const NAT_PAIR_US = 1_000_000
/** how much later than its pair a SYN's other view may be read (rings are read in turns, in blocks) */
const NAT_VIEW_SLACK_US = 1_000_000
/** SYNs remembered for the ClusterIP pairing (per map); the oldest go first. */
const SYN_MEMORY = 65_536

interface Tracked {
  key: string
  pod: Pod
  state: PodCaptureState
  /** the watched veth's ifindex; 0 when none */
  ifindex: number
  /** packets its veth brought since it was watched (counted by accept) */
  packets: number
  ifname?: string
  method?: VethMethod
  error?: string
  /** bumped on every pod update: an async resolution of an older version is discarded */
  gen: number
  attempts: number
  retryTimer: NodeJS.Timeout | null
  busy: boolean
  /** the address entries its veth put in owner4/owner6 (taken back exactly on detach) */
  owners: { map: Map<number | string, Owner>; key: number | string; owner: Owner }[]
}

/** A bounded map: past `cap` entries the oldest inserted goes. */
class BoundedMap<K, V> extends Map<K, V> {
  constructor(private readonly cap: number) {
    super()
  }
  override set(k: K, v: V): this {
    if (super.has(k)) super.delete(k)
    else if (this.size >= this.cap) super.delete(this.keys().next().value as K)
    return super.set(k, v)
  }
}

export class K8sAttachment {
  private readonly tracked = new Map<string, Tracked>()
  /** attached pods by the ifindex of their veth */
  private readonly byIfindex = new Map<number, Tracked>()
  /** the socket the pod veths share; opened at the first pod, closed by close() */
  private shared: SharedSource | null = null
  /** why it last failed to open, and when: pending pods retrying meanwhile are told at once */
  private sharedFailed: { atMs: number; error: Error } | null = null
  /** node-interface rings (host-network pods) by ifindex */
  private readonly nodeRings = new Map<number, CaptureSource>()
  private nodePorts = new Set<number>()
  /** addresses of attached pods -> the veth their packets are captured on */
  private readonly owner4 = new Map<number, Owner>()
  private readonly owner6 = new Map<string, Owner>()
  /** veths of deleted pods still watched for their grace period, by ifindex: ends one now */
  private readonly closing = new Map<number, () => void>()
  private readonly nodeIp4 = new Set<number>()
  private readonly nodeIp6 = new Set<string>()
  private readonly clusterIp4 = new Set<number>()
  private readonly clusterIp6 = new Set<string>()
  private serviceVersion = -1
  /** client ip:port -> time of its SYN to a ClusterIP (seen on its own veth) */
  private readonly synToVip = new BoundedMap<number | string, number>(SYN_MEMORY)
  /** client ip:port -> time its SYN reached a local pod's veth (server side) */
  private readonly synAtServer = new BoundedMap<number | string, number>(SYN_MEMORY)
  private readonly resolver: VethResolver
  private readonly open: (r: OpenRequest) => CaptureSource
  private readonly openShared: () => SharedSource
  private readonly log: (msg: string) => void
  private readonly recheck: NodeJS.Timeout
  private closed = false
  private readonly pk: Peek = newPeek()
  private inFlight = 0
  private readonly idleWaiters: (() => void)[] = []
  private saidNoNodeIface = false
  /** packets dropped as the second copy of same-node traffic; records dropped as the client view of a local ClusterIP connection */
  readonly dedupe = { packets: 0, exchanges: 0, links: 0 }

  constructor(private readonly o: K8sAttachmentOptions) {
    this.resolver = o.resolver ?? new VethResolver()
    this.log = o.log ?? (() => undefined)
    this.open =
      o.open ??
      ((r) =>
        openAfPacket({
          iface: r.iface,
          ports: r.ports,
          blockSize: NODE_RING.blockSize,
          blockCount: NODE_RING.blockCount,
          frameTimeoutMs: NODE_RING.frameTimeoutMs,
        }) as AfPacketSource)
    // --ring-blocks MiB in blocks of 256 KiB: a pause of podtap's of blocks x 50 ms is ridden out (ring-geometry.ts)
    this.openShared = o.openShared ?? (() => openAfPacket({ anyInterface: true, ...SHARED_RING, ...ringGeometry(o.sharedRing?.blockCount ?? SHARED_RING.blockCount), snaplen: o.sharedRing?.snaplen }))
    o.selection.onChange(() => this.reconcileAll())
    this.recheck = setInterval(() => this.checkAttached(), o.recheckMs ?? 1000)
    this.recheck.unref()
  }

  // -------------------------------------------------------------------------------------------------
  // pod events (the Pods informer of this node)

  podUpserted(p: Pod): void {
    if (this.closed) return
    const key = keyOf(p)
    let t = this.tracked.get(key)
    if (t === undefined) {
      t = { key, pod: p, state: 'no-ip', ifindex: 0, packets: 0, gen: 0, attempts: 0, retryTimer: null, busy: false, owners: [] }
      this.tracked.set(key, t)
    } else {
      t.pod = p
      t.gen++
    }
    this.resolver.invalidate()
    this.evaluate(t)
  }

  podDeleted(p: Pod): void {
    const key = keyOf(p)
    const t = this.tracked.get(key)
    if (t === undefined) return
    this.tracked.delete(key)
    t.gen++
    if (t.retryTimer !== null) clearTimeout(t.retryTimer)
    const was = t.state
    this.detach(t, true)
    if (was === 'attached') this.log(`kubernetes: pod ${key} deleted: capture on ${t.ifname} stopped`)
    if (was === 'host-network') this.updateNodeRings()
  }

  /** Re-decides every pod (the selection changed). */
  reconcileAll(): void {
    for (const t of this.tracked.values()) this.evaluate(t)
    this.updateNodeRings()
  }

  /** Resolves once no resolution is in flight (tests, and the CLI before it says "ready"). */
  idle(): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve()
    return new Promise((r) => this.idleWaiters.push(r))
  }

  private desired(p: Pod): PodCaptureState | 'veth' {
    if (p.status.phase === 'Succeeded' || p.status.phase === 'Failed') return 'not-running'
    if (!this.o.selection.matches(p)) return 'excluded'
    if (p.spec.hostNetwork) return 'host-network'
    if (p.status.podIPs.length === 0) return 'no-ip'
    return 'veth'
  }

  private evaluate(t: Tracked): void {
    const want = this.desired(t.pod)
    if (want !== 'veth') {
      const wasHostNet = t.state === 'host-network'
      if (t.state === 'attached') this.log(`kubernetes: pod ${t.key} ${want}: capture on ${t.ifname} stopped`)
      this.detach(t, false)
      t.state = want
      t.error = undefined
      if (wasHostNet || want === 'host-network') this.updateNodeRings()
      return
    }
    if (t.state === 'host-network') {
      t.state = 'pending'
      this.updateNodeRings()
    }
    if (t.state === 'attached') {
      // still the same addresses? (an update may have changed nothing that matters)
      if (this.ownsIps(t)) return
      this.detach(t, false)
    }
    if (t.state !== 'pending') t.attempts = 0
    t.state = 'pending'
    void this.resolveAndAttach(t)
  }

  private ownsIps(t: Tracked): boolean {
    if (t.ifindex === 0) return false
    return t.pod.status.podIPs.every((ip) => {
      const k = ipKey(ip)
      const o = typeof k === 'number' ? this.owner4.get(k) : this.owner6.get(k)
      return o !== undefined && o.ifindex === t.ifindex
    })
  }

  private async resolveAndAttach(t: Tracked): Promise<void> {
    if (t.busy) {
      // a resolution is running: it rechecks the generation when it ends
      return
    }
    if (t.retryTimer !== null) {
      clearTimeout(t.retryTimer)
      t.retryTimer = null
    }
    t.busy = true
    this.inFlight++
    try {
      for (;;) {
        const gen = t.gen
        const r = await this.resolver.resolve({ uid: t.pod.metadata.uid, ips: t.pod.status.podIPs })
        if (this.closed || this.tracked.get(t.key) !== t) return
        if (gen !== t.gen) {
          // the pod changed meanwhile: decide again
          if (this.desired(t.pod) !== 'veth') return this.evaluate(t)
          continue
        }
        if (t.state !== 'pending') return
        if ('error' in r) {
          t.error = r.error
          t.attempts++
          if (t.attempts === 8) this.log(`kubernetes: pod ${t.key}: no veth to capture on yet: ${r.error}`)
          const delay = Math.min((this.o.retryInitialMs ?? 100) * 2 ** (t.attempts - 1), this.o.retryMaxMs ?? 2000)
          t.retryTimer = setTimeout(() => {
            t.retryTimer = null
            if (t.state === 'pending' && this.tracked.get(t.key) === t) void this.resolveAndAttach(t)
          }, delay)
          t.retryTimer.unref()
          return
        }
        const other = this.byIfindex.get(r.ifindex)
        if (other !== undefined && other !== t) {
          // two pods resolved to one veth (an IP reused before the old pod's sandbox went): the
          // newer claim wins, the other is resolved again
          this.detach(other, false)
          other.state = 'pending'
          void this.resolveAndAttach(other)
        }
        try {
          this.attachVeth(t, r.ifindex, r.name, r.method)
        } catch (e) {
          t.error = `cannot capture on ${r.name}: ${(e as Error).message}`
          t.attempts++
          this.o.counters?.inc('k8s_attach_errors')
          t.retryTimer = setTimeout(() => {
            t.retryTimer = null
            if (t.state === 'pending' && this.tracked.get(t.key) === t) void this.resolveAndAttach(t)
          }, Math.min((this.o.retryInitialMs ?? 100) * 2 ** t.attempts, this.o.retryMaxMs ?? 2000))
          t.retryTimer.unref()
          return
        }
        return
      }
    } finally {
      t.busy = false
      this.inFlight--
      if (this.inFlight === 0) for (const w of this.idleWaiters.splice(0)) w()
    }
  }

  /** The shared socket, opened (and added to the MultiSource) at the first pod. Throws when it cannot open. */
  private sharedSource(): SharedSource {
    if (this.shared !== null) return this.shared
    // one attempt per second, not one per pending pod (an open loads and verifies the filter: ~30 ms)
    if (this.sharedFailed !== null && performance.now() - this.sharedFailed.atMs < 1000) throw this.sharedFailed.error
    let s: SharedSource
    try {
      s = this.openShared()
    } catch (e) {
      this.sharedFailed = { atMs: performance.now(), error: e as Error }
      throw e
    }
    this.sharedFailed = null
    this.shared = s
    this.o.multi.add(s)
    const ring = s instanceof AfPacketSource ? `, a ${(s.blockSize * s.blockCount) / 1048576} MiB ring` : ''
    this.log(`kubernetes: one packet socket for every pod veth${ring} (each added and removed by a BPF map update)`)
    return s
  }

  /** Watches the pod's veth on the shared socket (one map update) and owns its addresses. Throws when it cannot. */
  private attachVeth(t: Tracked, ifindex: number, ifname: string, method: VethMethod): void {
    const shared = this.sharedSource()
    // a deleted pod still watched on the same veth (its IP reused at once) ends its grace now, so
    // its address entries and its unwatch cannot outlive it into this pod's time
    this.closing.get(ifindex)?.()
    shared.watch(ifindex)
    const sinceUs = Date.now() * 1000
    t.ifindex = ifindex
    t.packets = 0
    t.ifname = ifname
    t.method = method
    t.state = 'attached'
    t.error = undefined
    t.attempts = 0
    this.byIfindex.set(ifindex, t)
    t.owners = t.pod.status.podIPs.map((ip) => {
      const key = ipKey(ip)
      const map = (typeof key === 'number' ? this.owner4 : this.owner6) as Map<number | string, Owner>
      const owner: Owner = { ifindex, sinceUs }
      map.set(key, owner)
      return { map, key, owner }
    })
    this.o.counters?.inc('k8s_attached')
    this.log(`kubernetes: capturing pod ${t.key} on ${ifname} (ifindex ${ifindex}, found by ${method})`)
  }

  /**
   * Stops capturing the pod's veth: one map update (after a grace period when `grace`, so packets
   * on their way are still taken and the same-node rule still knows its addresses).
   */
  private detach(t: Tracked, grace: boolean): void {
    const ifindex = t.ifindex
    if (ifindex === 0) return
    t.ifindex = 0
    const owners = t.owners
    t.owners = []
    if (this.byIfindex.get(ifindex) === t) this.byIfindex.delete(ifindex)
    const ms = grace ? (this.o.detachGraceMs ?? 150) : 0
    let timer: NodeJS.Timeout | null = null
    let done = false
    const finish = (): void => {
      if (done) return
      done = true
      if (timer !== null) clearTimeout(timer)
      if (this.closing.get(ifindex) === finish) this.closing.delete(ifindex)
      // only the entries this veth made: a newer pod with the same address keeps its own
      for (const { map, key, owner } of owners) if (map.get(key) === owner) map.delete(key)
      // a pod that took the veth meanwhile keeps it watched
      if (!this.byIfindex.has(ifindex)) this.shared?.unwatch(ifindex)
      this.o.counters?.inc('k8s_detached')
    }
    if (ms > 0 && !this.closed) {
      this.closing.get(ifindex)?.()
      this.closing.set(ifindex, finish)
      timer = setTimeout(finish, ms)
      timer.unref()
    } else finish()
  }

  /** Attached pods whose veth is gone or was replaced are resolved again (all of them if the shared socket ended). */
  private checkAttached(): void {
    const sharedEnded = this.shared?.ended === true
    if (sharedEnded) {
      this.log('kubernetes: the shared packet socket ended; opening it again')
      this.o.multi.remove(this.shared!)
      this.shared = null
    }
    for (const t of this.tracked.values()) {
      if (t.state !== 'attached' || t.ifindex === 0) continue
      const ifindex = t.ifname !== undefined ? ifindexOf(t.ifname) : 0
      if (!sharedEnded && ifindex === t.ifindex) continue
      this.log(`kubernetes: pod ${t.key}: veth ${t.ifname} ${ifindex === 0 ? 'is gone' : 'was replaced'}; looking for its new one`)
      this.detach(t, false)
      t.state = 'pending'
      t.attempts = 0
      this.resolver.invalidate()
      void this.resolveAndAttach(t)
    }
    for (const [ifindex, src] of this.nodeRings) {
      if (!src.ended) continue
      this.nodeRings.delete(ifindex)
      this.o.multi.remove(src)
      src.close()
      this.updateNodeRings()
    }
  }

  // -------------------------------------------------------------------------------------------------
  // host-network pods: the node's interfaces, with the port allow-list

  private hostNetPorts(): Set<number> {
    const ports = new Set<number>()
    for (const t of this.tracked.values()) {
      if (t.state !== 'host-network') continue
      for (const c of t.pod.spec.containers) {
        for (const cp of c.ports) if (cp.protocol === undefined || cp.protocol === 'TCP') ports.add(cp.hostPort ?? cp.containerPort)
      }
    }
    return ports
  }

  /** Node interfaces: given, or those that hold one of the node's addresses. */
  private nodeIfaceNames(): string[] {
    if (this.o.nodeIfaces !== undefined) return [...this.o.nodeIfaces]
    const addrs = new Set(this.o.index.nodeAddresses)
    const out: string[] = []
    for (const [name, list] of Object.entries(networkInterfaces())) {
      if ((list ?? []).some((a) => addrs.has(a.address))) out.push(name)
    }
    return out
  }

  private updateNodeRings(): void {
    if (this.closed || this.o.hostNetwork === false) return
    const ports = this.hostNetPorts()
    this.nodePorts = ports
    this.nodeIp4.clear()
    this.nodeIp6.clear()
    for (const ip of this.o.index.nodeAddresses) {
      const k = ipKey(ip)
      if (typeof k === 'number') this.nodeIp4.add(k)
      else this.nodeIp6.add(k)
    }
    if (ports.size === 0) {
      for (const [i, src] of this.nodeRings) {
        this.nodeRings.delete(i)
        this.o.multi.remove(src)
        src.close()
        this.log(`kubernetes: no host-network pod ports left: capture on ${src.name} stopped`)
      }
      return
    }
    // more ports than the kernel map holds: every TCP port passes, accept() filters by port
    const list = ports.size <= BPF_ABI.PORTS_MAX ? [...ports].sort((a, b) => a - b) : null
    const names = this.nodeIfaceNames()
    if (names.length === 0) {
      if (!this.saidNoNodeIface) this.log('kubernetes: host-network pods present, but no interface holds the node address yet')
      this.saidNoNodeIface = true
      return
    }
    for (const src of this.nodeRings.values()) src.setPorts?.(list)
    const open = new Set([...this.nodeRings.values()].map((s) => s.name))
    for (const name of names) {
      if (open.has(name) || readInterface(name) === undefined) continue
      try {
        const src = this.open({ iface: name, ports: list ?? undefined })
        this.nodeRings.set(src.ifindex, src)
        this.o.multi.add(src)
        this.log(`kubernetes: capturing host-network pods on ${name}, ports ${list?.join(',') ?? 'all'}`)
      } catch (e) {
        this.log(`kubernetes: cannot capture host-network pods on ${name}: ${(e as Error).message}`)
      }
    }
  }

  // -------------------------------------------------------------------------------------------------
  // the packet and record filters

  private refreshClusterIps(): void {
    const v = this.o.index.serviceVersion
    if (v === this.serviceVersion) return
    this.serviceVersion = v
    this.clusterIp4.clear()
    this.clusterIp6.clear()
    for (const ip of this.o.index.clusterIps()) {
      const k = ipKey(ip)
      if (typeof k === 'number') this.clusterIp4.add(k)
      else this.clusterIp6.add(k)
    }
  }

  /**
   * Whether the capture loop should pass this packet to the pipeline. Called for every packet, in
   * capture order, with the packet borrowed for the call. No allocation for IPv4.
   */
  accept(p: Packet): boolean {
    const pod = this.byIfindex.get(p.ifindex)
    if (pod === undefined) {
      return this.nodeRings.has(p.ifindex) ? this.acceptNode(p) : true
    }
    pod.packets++
    const k = this.pk
    peek(p, k)
    if (k.v === 0) return true
    const src = k.v === 4 ? this.owner4.get(k.src4) : this.owner6.get(k.src6)
    const dst = k.v === 4 ? this.owner4.get(k.dst4) : this.owner6.get(k.dst6)
    const syn = k.flags >= 0 && (k.flags & (TCP_SYN | TCP_ACK)) === TCP_SYN
    if (src !== undefined && dst !== undefined && src.ifindex !== dst.ifindex) {
      // both ends are pods captured on their own veths
      if (p.ifindex !== src.ifindex && p.ifindex !== dst.ifindex) return true
      // a client port opening a direct connection is no longer the one that went to a ClusterIP
      if (syn && p.ifindex === src.ifindex && this.synToVip.size > 0) this.synToVip.delete(endpointKey(k, true))
      if (this.synToVip.size > 0 && k.flags >= 0 && (this.synToVip.has(endpointKey(k, true)) || this.synToVip.has(endpointKey(k, false)))) {
        // the client reached this pod through a ClusterIP: its own veth shows another 4-tuple, so
        // this is the only copy of this one
        if (syn && p.ifindex === dst.ifindex) this.synAtServer.set(endpointKey(k, true), p.tsUs)
        return true
      }
      // the same packet passes both veths: keep the copy on the listening side's veth (copyVerdict,
      // src/capture/copies.ts). A wrong guess costs nothing here: both copies are identical. It
      // matters for a ClusterIP connection whose client SYN was not seen yet: the server side then
      // still has its only copy.
      const verdict = copyVerdict(p, k, src, dst)
      if (verdict === 'drop') {
        this.dedupe.packets++
        return false
      }
      if (verdict === 'keep' && syn && p.ifindex === dst.ifindex) this.synAtServer.set(endpointKey(k, true), p.tsUs)
      return true
    }
    if (syn && src !== undefined && p.ifindex === src.ifindex && dst === undefined) {
      // a local pod opening a connection to a service IP: remember it for the ClusterIP pairing
      this.refreshClusterIps()
      if (k.v === 4 ? this.clusterIp4.has(k.dst4) : this.clusterIp6.has(k.dst6)) this.synToVip.set(endpointKey(k, true), p.tsUs)
    }
    return true
  }

  /** Node interface: only packets to or from a host-network pod's port on a node address. */
  private acceptNode(p: Packet): boolean {
    const k = this.pk
    peek(p, k)
    if (k.v === 0 || k.flags < 0) return false
    const srcNode = k.v === 4 ? this.nodeIp4.has(k.src4) : this.nodeIp6.has(k.src6)
    const dstNode = k.v === 4 ? this.nodeIp4.has(k.dst4) : this.nodeIp6.has(k.dst6)
    return (srcNode && this.nodePorts.has(k.sport)) || (dstNode && this.nodePorts.has(k.dport))
  }

  /** Wraps a source so that next() skips what accept() refuses (for loops that cannot call accept). */
  filter(inner: PacketSource): PacketSource {
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const self = this
    return {
      get name() {
        return inner.name
      },
      get ended() {
        return inner.ended
      },
      next(): Packet | null {
        for (;;) {
          const p = inner.next()
          if (p === null || self.accept(p)) return p
        }
      },
      wait: inner.wait?.bind(inner),
      stats: () => inner.stats(),
      close: () => inner.close(),
    }
  }

  /**
   * Enriches the exchange with both ends' identity, in place; false when it is the client-side copy
   * of a connection whose server side is also captured (ClusterIP to a pod on this node).
   */
  exchange(e: Exchange): boolean {
    if (this.isNatClientView(e.client.ip, e.client.port, e.server.ip)) {
      this.dedupe.exchanges++
      return false
    }
    this.o.index.enrichExchange(e)
    return true
  }

  /** As exchange(), for l7_link records. */
  link(l: LinkRecord): boolean {
    if (this.isNatClientView(l.client.ip, l.client.port, l.server.ip)) {
      this.dedupe.links++
      return false
    }
    this.o.index.enrichLink(l)
    return true
  }

  /**
   * TCP health's view of a flow (src/tcp/health.ts FlowView), by the rule of exchange()/link():
   * 'copy' when it is the client side of a ClusterIP connection whose server side is captured too;
   * 'maybe' while that cannot be known yet (a SYN to a ClusterIP seen, its backend's SYN not yet, for
   * up to NAT_PAIR_US + NAT_VIEW_SLACK_US: the other ring may be read later); else 'own'.
   */
  tcpView(client: Endpoint, serverIp: string, tsUs: number): FlowView {
    if (this.synToVip.size === 0) return 'own'
    const ip = ipKey(client.ip)
    const key = typeof ip === 'number' ? ip * 65536 + client.port : `${ip}:${client.port}`
    const a = this.synToVip.get(key)
    if (a === undefined || this.o.index.serviceOfClusterIp(serverIp) === undefined) return 'own'
    const b = this.synAtServer.get(key)
    if (b !== undefined && Math.abs(a - b) <= NAT_PAIR_US) return 'copy'
    return tsUs - a <= NAT_PAIR_US + NAT_VIEW_SLACK_US ? 'maybe' : 'own'
  }

  private isNatClientView(clientIp: string, clientPort: number, serverIp: string): boolean {
    if (this.synToVip.size === 0 || this.o.index.serviceOfClusterIp(serverIp) === undefined) return false
    const ip = ipKey(clientIp)
    const key = typeof ip === 'number' ? ip * 65536 + clientPort : `${ip}:${clientPort}`
    const a = this.synToVip.get(key)
    const b = this.synAtServer.get(key)
    return a !== undefined && b !== undefined && Math.abs(a - b) <= NAT_PAIR_US
  }

  // -------------------------------------------------------------------------------------------------
  // views (control API) and shutdown

  pods(): PodView[] {
    const out: PodView[] = []
    for (const t of this.tracked.values()) {
      const v: PodView = {
        namespace: t.pod.metadata.namespace ?? '',
        name: t.pod.metadata.name,
        ips: [...t.pod.status.podIPs],
        state: t.state,
      }
      if (t.state === 'attached' && t.ifindex !== 0) {
        v.iface = t.ifname
        v.ifindex = t.ifindex
        v.method = t.method
      }
      if (t.state === 'host-network') v.ports = [...this.hostNetPorts()].sort((a, b) => a - b)
      if (t.error !== undefined && t.state === 'pending') v.error = t.error
      out.push(v)
    }
    return out.sort((a, b) => (a.namespace + '/' + a.name < b.namespace + '/' + b.name ? -1 : 1))
  }

  interfaces(): IfaceView[] {
    const out: IfaceView[] = []
    for (const t of this.byIfindex.values()) out.push({ name: t.ifname ?? '', ifindex: t.ifindex, role: 'pod', pods: [t.key], packets: t.packets })
    if (this.shared !== null && this.byIfindex.size > 0) {
      const st = this.shared.stats()
      out.push({ name: this.shared.name, ifindex: 0, role: 'shared', pods: [...this.byIfindex.values()].map((t) => t.key).sort(), packets: st.packets, dropped: st.dropped })
    }
    const hostPods = [...this.tracked.values()].filter((t) => t.state === 'host-network').map((t) => t.key)
    for (const src of this.nodeRings.values()) {
      const st = src.stats()
      out.push({ name: src.name, ifindex: src.ifindex, role: 'node', pods: hostPods, packets: st.packets, dropped: st.dropped, ports: [...this.nodePorts].sort((a, b) => a - b) })
    }
    return out.sort((a, b) => a.ifindex - b.ifindex)
  }

  /** Interfaces captured right now: pod veths (on the shared socket) and node interfaces (a ring each). */
  get ringCount(): number {
    return this.byIfindex.size + this.nodeRings.size
  }

  /** Pod veths the shared socket's filter keeps now (tests: none left behind). */
  get watchedVeths(): number {
    return (this.shared as { watching?: ReadonlySet<number> } | null)?.watching?.size ?? this.byIfindex.size
  }

  /** Closes the shared socket and every ring this attachment opened and stops its timers. Idempotent. */
  close(): void {
    if (this.closed) return
    this.closed = true
    clearInterval(this.recheck)
    for (const t of this.tracked.values()) {
      if (t.retryTimer !== null) clearTimeout(t.retryTimer)
      this.detach(t, false)
    }
    for (const src of this.nodeRings.values()) {
      this.o.multi.remove(src)
      src.close()
    }
    this.nodeRings.clear()
    for (const f of [...this.closing.values()]) f()
    if (this.shared !== null) this.o.multi.remove(this.shared) // closes it
    this.shared = null
    for (const w of this.idleWaiters.splice(0)) w()
  }
}

/** The interface's ifindex from sysfs, 0 when it does not exist (one small read, every second per pod). */
function ifindexOf(name: string): number {
  try {
    return Number(readFileSync(`/sys/class/net/${name}/ifindex`, 'utf8')) || 0
  } catch {
    return 0
  }
}
