// Who an IP address is: the index the watchers fill and the enrichers read (DESIGN.md "enrich").
//
//   local pods (Pods on this node)     ip -> pod, namespace, workload (owner chain), node, container
//   host-network pods on this node     node ip + port -> pod (they share the node's addresses)
//   EndpointSlices (whole cluster)     ip -> service by port, pod (targetRef), node (nodeName)
//     or core/v1 Endpoints (fallback)
//   Services                           cluster ip -> service, namespace
//   ReplicaSets                        ReplicaSet -> Deployment, for the workload of a pod
//   Nodes                              ip -> node
//
// Unknown stays unknown: a field is set only from an object that says so. Two services selecting
// the same pod on the same port are both true; the first by name is reported (deterministic).
//
// enrichExchange/enrichLink fill the Peer objects of a record in place: both ends, client and server.
// Cost per record: a few Map lookups by the IP string, no allocation beyond the fields set.

import type { LinkRecord } from '../records.js'
import type { Exchange, Peer } from '../records.js'
import { keyOf, SERVICE_NAME_LABEL, type EndpointSlice, type EndpointsObj, type NodeObj, type Pod, type ReplicaSet, type Service } from './objects.js'

interface EpRef {
  namespace: string
  service: string
  ports: number[]
  pod?: string
  node?: string
}

/** The identity fields of a Peer (everything but ip and port). */
export type Identity = Omit<Peer, 'ip' | 'port'>

export class ClusterIndex {
  /** this node's pods, by namespace/name */
  private readonly pods = new Map<string, Pod>()
  /** pod UID -> local pod (the TLS tap names a process's pod from its cgroup) */
  private readonly podByUid = new Map<string, Pod>()
  /** pod IP -> local pod (not host-network: those share the node's IPs) */
  private readonly podByIp = new Map<string, Pod>()
  /** port -> host-network pod of this node declaring it */
  private readonly hostNetByPort = new Map<number, Pod>()
  /** addresses of this node (Node object, hostIP of its pods, host-network pods' IPs) */
  private readonly localNodeIps = new Set<string>()
  private readonly nodeByIp = new Map<string, string>()
  private readonly nodeIps = new Map<string, string[]>()
  /** namespace/name of a ReplicaSet -> its Deployment ('' when it has none) */
  private readonly rsOwner = new Map<string, string>()
  private readonly serviceByIp = new Map<string, { namespace: string; name: string }>()
  private readonly serviceIps = new Map<string, string[]>()
  /** slice (or Endpoints) key -> what it contributed, to take back on update/delete */
  private readonly epBySource = new Map<string, { ip: string; ref: EpRef }[]>()
  private readonly epByIp = new Map<string, EpRef[]>()
  /** bumped on every change */
  version = 0
  /** bumped when a cluster IP comes or goes (attach.ts rebuilds its set of them) */
  serviceVersion = 0

  constructor(readonly nodeName: string) {}

  // -------------------------------------------------------------------------------------------------
  // updates (from the informers)

  upsertPod(p: Pod): void {
    const key = keyOf(p)
    const old = this.pods.get(key)
    if (old !== undefined) this.unindexPod(old)
    this.pods.set(key, p)
    this.indexPod(p)
    this.version++
  }

  deletePod(p: Pod): void {
    const key = keyOf(p)
    const old = this.pods.get(key)
    if (old === undefined) return
    this.pods.delete(key)
    this.unindexPod(old)
    this.version++
  }

  private indexPod(p: Pod): void {
    if (p.metadata.uid !== undefined) this.podByUid.set(p.metadata.uid, p)
    if (p.status.hostIP) this.localNodeIps.add(p.status.hostIP)
    if (p.spec.hostNetwork) {
      for (const ip of p.status.podIPs) this.localNodeIps.add(ip)
      for (const c of p.spec.containers) for (const cp of c.ports) if (protoTcp(cp.protocol)) this.hostNetByPort.set(cp.hostPort ?? cp.containerPort, p)
      return
    }
    for (const ip of p.status.podIPs) this.podByIp.set(ip, p)
  }

  private unindexPod(p: Pod): void {
    if (p.metadata.uid !== undefined && this.podByUid.get(p.metadata.uid) === p) this.podByUid.delete(p.metadata.uid)
    if (p.spec.hostNetwork) {
      for (const [port, q] of this.hostNetByPort) if (q === p) this.hostNetByPort.delete(port)
      // another host-network pod may declare the same port: let it have it
      for (const q of this.pods.values()) if (q.spec.hostNetwork && q !== p) for (const c of q.spec.containers) for (const cp of c.ports) {
        const port = cp.hostPort ?? cp.containerPort
        if (protoTcp(cp.protocol) && !this.hostNetByPort.has(port)) this.hostNetByPort.set(port, q)
      }
      return
    }
    for (const ip of p.status.podIPs) {
      if (this.podByIp.get(ip) !== p) continue
      this.podByIp.delete(ip)
      // an IP reused by a newer pod while the old one terminates: the other pod keeps it
      for (const q of this.pods.values()) if (q !== p && !q.spec.hostNetwork && q.status.podIPs.includes(ip)) this.podByIp.set(ip, q)
    }
  }

  upsertReplicaSet(rs: ReplicaSet): void {
    const owners = rs.metadata.ownerReferences ?? []
    const d = (owners.find((o) => o.controller) ?? owners[0])
    this.rsOwner.set(keyOf(rs), d !== undefined && d.kind === 'Deployment' ? d.name : '')
    this.version++
  }

  deleteReplicaSet(rs: ReplicaSet): void {
    this.rsOwner.delete(keyOf(rs))
    this.version++
  }

  upsertService(s: Service): void {
    this.deleteService(s)
    const key = keyOf(s)
    const ref = { namespace: s.metadata.namespace ?? '', name: s.metadata.name }
    for (const ip of s.spec.clusterIPs) this.serviceByIp.set(ip, ref)
    this.serviceIps.set(key, s.spec.clusterIPs)
    this.version++
    this.serviceVersion++
  }

  deleteService(s: Service): void {
    const key = keyOf(s)
    for (const ip of this.serviceIps.get(key) ?? []) {
      const cur = this.serviceByIp.get(ip)
      if (cur !== undefined && `${cur.namespace}/${cur.name}` === key) this.serviceByIp.delete(ip)
    }
    this.serviceIps.delete(key)
    this.version++
    this.serviceVersion++
  }

  upsertNode(n: NodeObj): void {
    this.deleteNode(n)
    const ips = n.status.addresses.filter((a) => a.type === 'InternalIP' || a.type === 'ExternalIP').map((a) => a.address)
    for (const ip of ips) this.nodeByIp.set(ip, n.metadata.name)
    this.nodeIps.set(n.metadata.name, ips)
    if (n.metadata.name === this.nodeName) for (const ip of ips) this.localNodeIps.add(ip)
    this.version++
  }

  deleteNode(n: NodeObj): void {
    for (const ip of this.nodeIps.get(n.metadata.name) ?? []) if (this.nodeByIp.get(ip) === n.metadata.name) this.nodeByIp.delete(ip)
    this.nodeIps.delete(n.metadata.name)
    this.version++
  }

  upsertEndpointSlice(s: EndpointSlice): void {
    const service = s.metadata.labels?.[SERVICE_NAME_LABEL]
    const contrib: { ip: string; ref: EpRef }[] = []
    if (service !== undefined) {
      const ports = s.ports.filter((p) => p.port !== undefined && protoTcp(p.protocol)).map((p) => p.port!)
      for (const e of s.endpoints) {
        const ref: EpRef = { namespace: s.metadata.namespace ?? '', service, ports }
        if (e.targetRef?.kind === 'Pod' && e.targetRef.name) ref.pod = e.targetRef.name
        if (e.nodeName) ref.node = e.nodeName
        for (const ip of e.addresses) contrib.push({ ip, ref })
      }
    }
    this.replaceEndpoints(`slice:${keyOf(s)}`, contrib)
  }

  deleteEndpointSlice(s: EndpointSlice): void {
    this.replaceEndpoints(`slice:${keyOf(s)}`, [])
  }

  upsertEndpoints(ep: EndpointsObj): void {
    const contrib: { ip: string; ref: EpRef }[] = []
    for (const sub of ep.subsets) {
      const ports = sub.ports.filter((p) => p.port !== undefined && protoTcp(p.protocol)).map((p) => p.port!)
      for (const a of sub.addresses) {
        const ref: EpRef = { namespace: ep.metadata.namespace ?? '', service: ep.metadata.name, ports }
        if (a.targetRef?.kind === 'Pod' && a.targetRef.name) ref.pod = a.targetRef.name
        if (a.nodeName) ref.node = a.nodeName
        contrib.push({ ip: a.ip, ref })
      }
    }
    this.replaceEndpoints(`ep:${keyOf(ep)}`, contrib)
  }

  deleteEndpoints(ep: EndpointsObj): void {
    this.replaceEndpoints(`ep:${keyOf(ep)}`, [])
  }

  private replaceEndpoints(source: string, contrib: { ip: string; ref: EpRef }[]): void {
    for (const { ip, ref } of this.epBySource.get(source) ?? []) {
      const list = this.epByIp.get(ip)
      if (list === undefined) continue
      const i = list.indexOf(ref)
      if (i >= 0) list.splice(i, 1)
      if (list.length === 0) this.epByIp.delete(ip)
    }
    if (contrib.length === 0) this.epBySource.delete(source)
    else this.epBySource.set(source, contrib)
    for (const { ip, ref } of contrib) {
      const list = this.epByIp.get(ip)
      if (list === undefined) this.epByIp.set(ip, [ref])
      else {
        list.push(ref)
        list.sort((a, b) => (a.service < b.service ? -1 : a.service > b.service ? 1 : 0))
      }
    }
    this.version++
  }

  // -------------------------------------------------------------------------------------------------
  // queries

  /** The local pod (not host-network) with this IP. */
  localPodByIp(ip: string): Pod | undefined {
    return this.podByIp.get(ip)
  }

  /**
   * Identity of a process of this node's pod `uid` (from the process's cgroup path): pod, namespace,
   * workload, node, and container: the one whose runtime id is containerId (also from the cgroup),
   * else the pod's only container. undefined when no pod of this node has that UID.
   */
  identityOfPodUid(uid: string, containerId?: string): Identity | undefined {
    const p = this.podByUid.get(uid)
    if (p === undefined) return undefined
    const out: Identity = { pod: p.metadata.name, node: p.spec.nodeName ?? this.nodeName }
    if (p.metadata.namespace !== undefined) out.namespace = p.metadata.namespace
    const w = this.workloadOf(p)
    if (w !== undefined) out.workload = w
    const byId = containerId === undefined ? undefined : Object.entries(p.status.containerIDs).find(([, id]) => id.endsWith(`://${containerId}`) || id === containerId)
    if (byId !== undefined) out.container = byId[0]
    else if (p.spec.containers.length === 1) out.container = p.spec.containers[0]!.name
    return out
  }

  localPods(): IterableIterator<Pod> {
    return this.pods.values()
  }

  getPod(namespace: string, name: string): Pod | undefined {
    return this.pods.get(`${namespace}/${name}`)
  }

  isLocalNodeIp(ip: string): boolean {
    return this.localNodeIps.has(ip)
  }

  get nodeAddresses(): string[] {
    return [...this.localNodeIps]
  }

  /** Every service cluster IP. */
  clusterIps(): IterableIterator<string> {
    return this.serviceByIp.keys()
  }

  /** The service a cluster IP belongs to. */
  serviceOfClusterIp(ip: string): { namespace: string; name: string } | undefined {
    return this.serviceByIp.get(ip)
  }

  /**
   * The pod's workload: its controller, with a ReplicaSet followed to its Deployment. A ReplicaSet
   * not (yet) known is reported as itself; a pod without owner has none.
   */
  workloadOf(p: Pod): string | undefined {
    const owners = p.metadata.ownerReferences ?? []
    const ref = owners.find((o) => o.controller) ?? owners[0]
    if (ref === undefined) return undefined
    if (ref.kind === 'ReplicaSet') {
      const d = this.rsOwner.get(`${p.metadata.namespace ?? ''}/${ref.name}`)
      return d !== undefined && d !== '' ? d : ref.name
    }
    return ref.name
  }

  /** Identity of ip:port; `server` says whether port is the listening side (used for container and service). */
  lookup(ip: string, port: number, server: boolean): Identity {
    const out: Identity = {}
    this.fill(out, ip, port, server)
    return out
  }

  /** Sets the identity fields of `peer` (in place) that are known; leaves the others as they are. */
  enrichPeer(peer: Peer, server: boolean): void {
    this.fill(peer, peer.ip, peer.port, server)
  }

  /** Both ends of an exchange, in place. */
  readonly enrichExchange = (e: Exchange): void => {
    this.fill(e.client, e.client.ip, e.client.port, false)
    this.fill(e.server, e.server.ip, e.server.port, true)
  }

  /** Both ends of an l7_link record, in place. */
  readonly enrichLink = (l: LinkRecord): void => {
    this.enrichPair(l.client as Peer, l.server as Peer)
  }

  /** A client and a server, in place (links, TCP health rows). */
  enrichPair(client: Peer, server: Peer): void {
    this.fill(client, client.ip, client.port, false)
    this.fill(server, server.ip, server.port, true)
  }

  private fill(out: Identity, ip: string, port: number, server: boolean): void {
    const p = this.podByIp.get(ip)
    if (p !== undefined) {
      this.fillPod(out, p, port, server)
      const svc = this.serviceOf(ip, port, server)
      if (svc !== undefined) out.service = svc
      return
    }
    if (this.localNodeIps.has(ip)) {
      out.node = this.nodeName
      // host-network pods share the node's addresses: the listening port tells which one
      const hp = server ? this.hostNetByPort.get(port) : undefined
      if (hp !== undefined) {
        this.fillPod(out, hp, port, server)
        const svc = this.serviceOf(ip, port, server)
        if (svc !== undefined) out.service = svc
      }
      return
    }
    const refs = this.epByIp.get(ip)
    if (refs !== undefined) {
      // a pod elsewhere in the cluster, known from the services it backs
      const ref = refs.find((r) => r.pod !== undefined) ?? refs[0]!
      out.namespace = ref.namespace
      if (ref.pod !== undefined) out.pod = ref.pod
      if (ref.node !== undefined) out.node = ref.node
      const svc = this.serviceOf(ip, port, server)
      if (svc !== undefined) out.service = svc
      return
    }
    const svc = this.serviceByIp.get(ip)
    if (svc !== undefined) {
      out.service = svc.name
      out.namespace = svc.namespace
      return
    }
    const node = this.nodeByIp.get(ip)
    if (node !== undefined) out.node = node
  }

  private fillPod(out: Identity, p: Pod, port: number, server: boolean): void {
    out.pod = p.metadata.name
    if (p.metadata.namespace !== undefined) out.namespace = p.metadata.namespace
    const w = this.workloadOf(p)
    if (w !== undefined) out.workload = w
    out.node = p.spec.nodeName ?? this.nodeName
    const cs = p.spec.containers
    if (server) {
      const c = cs.find((c) => c.ports.some((cp) => cp.containerPort === port || cp.hostPort === port))
      if (c !== undefined) out.container = c.name
      else if (cs.length === 1) out.container = cs[0]!.name
    } else if (cs.length === 1) out.container = cs[0]!.name
  }

  /**
   * The service of an endpoint address. Server side: the service whose EndpointSlice lists this
   * port (a pod answering on a port no service exposes was not reached as that service). Client
   * side: the service the pod backs (first by name when several).
   */
  private serviceOf(ip: string, port: number, server: boolean): string | undefined {
    const refs = this.epByIp.get(ip)
    if (refs === undefined) return undefined
    if (!server) return refs[0]!.service
    return refs.find((r) => r.ports.includes(port))?.service
  }
}

function protoTcp(p: string | undefined): boolean {
  return p === undefined || p === 'TCP'
}
