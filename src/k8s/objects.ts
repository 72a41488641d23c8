// The parts of Kubernetes objects podtap uses, and trim functions that keep only those parts.
//
// Every object from a list or a watch event is trimmed before the informer caches it: a Pod's JSON
// is several KB (managedFields, env, volumes...), podtap needs a few hundred bytes of it, and a
// DaemonSet watching every EndpointSlice and ReplicaSet of a large cluster would otherwise hold all of
// them whole. Trim functions never throw: a field of the wrong type is left out (the API server is
// trusted to be well-formed, a stand-in or a proxy may not be).
//
// Field names and meanings: https://kubernetes.io/docs/reference/kubernetes-api/ (core/v1 Pod,
// Service, Node, Endpoints; discovery.k8s.io/v1 EndpointSlice; apps/v1 ReplicaSet).

export interface OwnerRef {
  kind: string
  name: string
  controller?: boolean
}

export interface Meta {
  name: string
  namespace?: string
  uid?: string
  resourceVersion?: string
  labels?: Record<string, string>
  ownerReferences?: OwnerRef[]
  /** set once deletion has begun (graceful termination); the object is still there */
  deletionTimestamp?: string
}

export interface KObject {
  apiVersion?: string
  kind?: string
  metadata: Meta
}

export interface ContainerPort {
  containerPort: number
  hostPort?: number
  name?: string
  protocol?: string
}

export interface Container {
  name: string
  ports: ContainerPort[]
}

export interface Pod extends KObject {
  spec: { nodeName?: string; hostNetwork?: boolean; containers: Container[] }
  status: {
    phase?: string
    podIP?: string
    podIPs: string[]
    hostIP?: string
    /** container name -> runtime id ('containerd://abc...') */
    containerIDs: Record<string, string>
  }
}

export interface SliceEndpoint {
  addresses: string[]
  nodeName?: string
  /** the Pod behind the address, when there is one (kind Pod) */
  targetRef?: { kind?: string; name?: string; namespace?: string }
  ready?: boolean
}

export interface SlicePort {
  name?: string
  port?: number
  protocol?: string
}

export interface EndpointSlice extends KObject {
  addressType?: string
  endpoints: SliceEndpoint[]
  ports: SlicePort[]
}

export interface ServicePort {
  name?: string
  port: number
  protocol?: string
  targetPort?: number | string
  nodePort?: number
}

export interface Service extends KObject {
  spec: { type?: string; clusterIPs: string[]; ports: ServicePort[] }
}

export type ReplicaSet = KObject

export interface NodeObj extends KObject {
  status: { addresses: { type: string; address: string }[] }
}

export interface EndpointsSubset {
  addresses: { ip: string; nodeName?: string; targetRef?: { kind?: string; name?: string; namespace?: string } }[]
  ports: SlicePort[]
}

/** core/v1 Endpoints: the fallback for clusters without EndpointSlices (before 1.21) */
export interface EndpointsObj extends KObject {
  subsets: EndpointsSubset[]
}

/** The service an EndpointSlice belongs to (set by the EndpointSlice controller). */
export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name'

// ---------------------------------------------------------------------------------------------------

type Raw = Record<string, unknown>

function obj(v: unknown): Raw {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Raw) : {}
}
function arr(v: unknown): unknown[] {
  return Array.isArray(v) ? v : []
}
function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined
}
function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined
}

function labels(v: unknown): Record<string, string> | undefined {
  const o = obj(v)
  let out: Record<string, string> | undefined
  for (const [k, val] of Object.entries(o)) {
    if (typeof val === 'string') (out ??= {})[k] = val
  }
  return out
}

function targetRef(v: unknown): SliceEndpoint['targetRef'] {
  if (v === undefined || v === null) return undefined
  const o = obj(v)
  return { kind: str(o.kind), name: str(o.name), namespace: str(o.namespace) }
}

export function trimMeta(v: unknown): Meta {
  const m = obj(v)
  const out: Meta = { name: str(m.name) ?? '' }
  const ns = str(m.namespace)
  if (ns !== undefined) out.namespace = ns
  const uid = str(m.uid)
  if (uid !== undefined) out.uid = uid
  const rv = str(m.resourceVersion)
  if (rv !== undefined) out.resourceVersion = rv
  const l = labels(m.labels)
  if (l !== undefined) out.labels = l
  const owners = arr(m.ownerReferences)
    .map(obj)
    .filter((o) => typeof o.kind === 'string' && typeof o.name === 'string')
    .map((o) => ({ kind: o.kind as string, name: o.name as string, ...(o.controller === true ? { controller: true } : {}) }))
  if (owners.length) out.ownerReferences = owners
  // a Date when client-node's serializer made the object, a string from the wire
  const del = m.deletionTimestamp
  if (typeof del === 'string') out.deletionTimestamp = del
  else if (del instanceof Date) out.deletionTimestamp = del.toISOString()
  return out
}

export function trimPod(v: unknown): Pod {
  const o = obj(v)
  const spec = obj(o.spec)
  const status = obj(o.status)
  const containers: Container[] = arr(spec.containers).map((c) => {
    const co = obj(c)
    return {
      name: str(co.name) ?? '',
      ports: arr(co.ports)
        .map(obj)
        .filter((p) => num(p.containerPort) !== undefined)
        .map((p) => {
          const cp: ContainerPort = { containerPort: p.containerPort as number }
          const hp = num(p.hostPort)
          if (hp !== undefined) cp.hostPort = hp
          const name = str(p.name)
          if (name !== undefined) cp.name = name
          const proto = str(p.protocol)
          if (proto !== undefined) cp.protocol = proto
          return cp
        }),
    }
  })
  const podIP = str(status.podIP)
  const podIPs = arr(status.podIPs)
    .map((x) => str(obj(x).ip))
    .filter((x): x is string => x !== undefined && x !== '')
  if (podIPs.length === 0 && podIP) podIPs.push(podIP)
  const containerIDs: Record<string, string> = {}
  for (const cs of arr(status.containerStatuses).map(obj)) {
    const n = str(cs.name)
    const id = str(cs.containerID)
    if (n !== undefined && id !== undefined) containerIDs[n] = id
  }
  const pod: Pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: trimMeta(o.metadata),
    spec: { containers },
    status: { podIPs, containerIDs },
  }
  const nodeName = str(spec.nodeName)
  if (nodeName !== undefined) pod.spec.nodeName = nodeName
  if (spec.hostNetwork === true) pod.spec.hostNetwork = true
  const phase = str(status.phase)
  if (phase !== undefined) pod.status.phase = phase
  if (podIP) pod.status.podIP = podIP
  const hostIP = str(status.hostIP)
  if (hostIP) pod.status.hostIP = hostIP
  return pod
}

export function trimEndpointSlice(v: unknown): EndpointSlice {
  const o = obj(v)
  const s: EndpointSlice = {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: trimMeta(o.metadata),
    endpoints: arr(o.endpoints).map((e) => {
      const eo = obj(e)
      const ep: SliceEndpoint = { addresses: arr(eo.addresses).filter((a): a is string => typeof a === 'string') }
      const nodeName = str(eo.nodeName)
      if (nodeName !== undefined) ep.nodeName = nodeName
      const t = targetRef(eo.targetRef)
      if (t !== undefined) ep.targetRef = t
      const ready = obj(eo.conditions).ready
      if (typeof ready === 'boolean') ep.ready = ready
      return ep
    }),
    ports: arr(o.ports).map((p) => {
      const po = obj(p)
      return { name: str(po.name), port: num(po.port), protocol: str(po.protocol) }
    }),
  }
  const at = str(o.addressType)
  if (at !== undefined) s.addressType = at
  return s
}

export function trimService(v: unknown): Service {
  const o = obj(v)
  const spec = obj(o.spec)
  const ips = arr(spec.clusterIPs).filter((x): x is string => typeof x === 'string')
  const one = str(spec.clusterIP)
  if (ips.length === 0 && one !== undefined) ips.push(one)
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: trimMeta(o.metadata),
    spec: {
      type: str(spec.type),
      // "None" marks a headless service: no virtual IP
      clusterIPs: ips.filter((ip) => ip !== '' && ip !== 'None'),
      ports: arr(spec.ports)
        .map(obj)
        .filter((p) => num(p.port) !== undefined)
        .map((p) => ({
          name: str(p.name),
          port: p.port as number,
          protocol: str(p.protocol),
          targetPort: typeof p.targetPort === 'number' || typeof p.targetPort === 'string' ? p.targetPort : undefined,
          nodePort: num(p.nodePort),
        })),
    },
  }
}

export function trimReplicaSet(v: unknown): ReplicaSet {
  return { apiVersion: 'apps/v1', kind: 'ReplicaSet', metadata: trimMeta(obj(v).metadata) }
}

export function trimNode(v: unknown): NodeObj {
  const o = obj(v)
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: trimMeta(o.metadata),
    status: {
      addresses: arr(obj(o.status).addresses)
        .map(obj)
        .filter((a) => typeof a.type === 'string' && typeof a.address === 'string')
        .map((a) => ({ type: a.type as string, address: a.address as string })),
    },
  }
}

export function trimEndpoints(v: unknown): EndpointsObj {
  const o = obj(v)
  return {
    apiVersion: 'v1',
    kind: 'Endpoints',
    metadata: trimMeta(o.metadata),
    subsets: arr(o.subsets).map((s) => {
      const so = obj(s)
      return {
        // not-ready addresses still belong to their pods (identity, not load balancing)
        addresses: [...arr(so.addresses), ...arr(so.notReadyAddresses)]
          .map(obj)
          .filter((a) => typeof a.ip === 'string')
          .map((a) => ({ ip: a.ip as string, nodeName: str(a.nodeName), targetRef: targetRef(a.targetRef) })),
        ports: arr(so.ports).map((p) => {
          const po = obj(p)
          return { name: str(po.name), port: num(po.port), protocol: str(po.protocol) }
        }),
      }
    }),
  }
}

/** 'namespace/name' (cluster-scoped objects: 'name'). */
export function keyOf(o: KObject): string {
  return o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : o.metadata.name
}
