// The informers podtap runs, and where their events go:
//
//   Pods of this node        fieldSelector spec.nodeName=NODE   -> ClusterIndex (local pods) + K8sAttachment
//   EndpointSlices           discovery.k8s.io/v1, whole cluster -> ClusterIndex (service, remote pods)
//     core/v1 Endpoints      only when EndpointSlices answer 404 (clusters before 1.21)
//   Services                 whole cluster                      -> ClusterIndex (cluster IPs)
//   ReplicaSets              apps/v1, whole cluster             -> ClusterIndex (ReplicaSet -> Deployment)
//   Nodes                    whole cluster                      -> ClusterIndex (node IPs, this node's addresses)
//
// Each runs on its own: one the API server does not serve or RBAC forbids does not hold up the
// others (the pods alone are enough to capture; the rest only adds identity).

import type { Counters } from '../counters.js'
import type { ClusterIndex } from './identity.js'
import { ResourceInformer, type InformerOptions, type InformerState } from './informers.js'
import type { PodtapKubeConfig } from './kubeconfig.js'
import {
  trimEndpoints,
  trimEndpointSlice,
  trimNode,
  trimPod,
  trimReplicaSet,
  trimService,
  type EndpointSlice,
  type EndpointsObj,
  type KObject,
  type NodeObj,
  type Pod,
  type ReplicaSet,
  type Service,
} from './objects.js'

export interface PodListener {
  podUpserted(p: Pod): void
  podDeleted(p: Pod): void
}

export interface K8sWatchOptions {
  kc: PodtapKubeConfig
  nodeName: string
  index: ClusterIndex
  pods?: PodListener
  counters?: Counters
  log?: (msg: string) => void
  informer?: InformerOptions
  /** which identity sources to watch (default all true) */
  endpointSlices?: boolean
  services?: boolean
  replicaSets?: boolean
  nodes?: boolean
}

export interface ResourceStatus {
  resource: string
  state: InformerState
  synced: boolean
  objects: number
  lastError: string | null
  resourceVersion: string
}

export class K8sWatch {
  readonly pods: ResourceInformer<Pod>
  private readonly informers: ResourceInformer<KObject>[] = []
  private endpoints: ResourceInformer<EndpointsObj> | null = null
  private started = false

  constructor(private readonly o: K8sWatchOptions) {
    const idx = o.index
    const opts: InformerOptions = { counters: o.counters, log: o.log, ...o.informer }
    const node = o.nodeName
    this.pods = new ResourceInformer<Pod>(
      o.kc,
      {
        resource: 'pods',
        path: '/api/v1/pods',
        fieldSelector: `spec.nodeName=${node}`,
        trim: trimPod,
        keep: (p) => p.spec.nodeName === node,
      },
      {
        add: (p) => {
          idx.upsertPod(p)
          o.pods?.podUpserted(p)
        },
        update: (p) => {
          idx.upsertPod(p)
          o.pods?.podUpserted(p)
        },
        delete: (p) => {
          o.pods?.podDeleted(p)
          idx.deletePod(p)
        },
      },
      opts,
    )
    this.add(this.pods)
    if (o.endpointSlices !== false) {
      this.add(
        new ResourceInformer<EndpointSlice>(
          o.kc,
          { resource: 'endpointslices', path: '/apis/discovery.k8s.io/v1/endpointslices', trim: trimEndpointSlice },
          {
            add: (s) => idx.upsertEndpointSlice(s),
            update: (s) => idx.upsertEndpointSlice(s),
            delete: (s) => idx.deleteEndpointSlice(s),
            unavailable: () => this.startEndpointsFallback(),
          },
          opts,
        ),
      )
    }
    if (o.services !== false) {
      this.add(
        new ResourceInformer<Service>(
          o.kc,
          { resource: 'services', path: '/api/v1/services', trim: trimService },
          { add: (s) => idx.upsertService(s), update: (s) => idx.upsertService(s), delete: (s) => idx.deleteService(s) },
          opts,
        ),
      )
    }
    if (o.replicaSets !== false) {
      this.add(
        new ResourceInformer<ReplicaSet>(
          o.kc,
          { resource: 'replicasets', path: '/apis/apps/v1/replicasets', trim: trimReplicaSet },
          { add: (r) => idx.upsertReplicaSet(r), update: (r) => idx.upsertReplicaSet(r), delete: (r) => idx.deleteReplicaSet(r) },
          opts,
        ),
      )
    }
    if (o.nodes !== false) {
      this.add(
        new ResourceInformer<NodeObj>(
          o.kc,
          { resource: 'nodes', path: '/api/v1/nodes', trim: trimNode },
          { add: (n) => idx.upsertNode(n), update: (n) => idx.upsertNode(n), delete: (n) => idx.deleteNode(n) },
          opts,
        ),
      )
    }
  }

  private add<T extends KObject>(i: ResourceInformer<T>): void {
    this.informers.push(i as unknown as ResourceInformer<KObject>)
  }

  private startEndpointsFallback(): void {
    if (this.endpoints !== null) return
    const idx = this.o.index
    this.o.log?.('kubernetes: no EndpointSlices here: reading core/v1 Endpoints instead')
    this.endpoints = new ResourceInformer<EndpointsObj>(
      this.o.kc,
      { resource: 'endpoints', path: '/api/v1/endpoints', trim: trimEndpoints },
      { add: (e) => idx.upsertEndpoints(e), update: (e) => idx.upsertEndpoints(e), delete: (e) => idx.deleteEndpoints(e) },
      { counters: this.o.counters, log: this.o.log, ...this.o.informer },
    )
    this.add(this.endpoints)
    if (this.started) this.endpoints.start()
  }

  /**
   * Starts every informer. ReplicaSets, Services and Nodes go first, so a pod's workload and node
   * addresses are known by the time the pods arrive (they still fill in later if not).
   */
  start(): void {
    this.started = true
    for (const i of this.informers) if (i !== (this.pods as unknown as ResourceInformer<KObject>)) i.start()
    this.pods.start()
  }

  /**
   * Resolves when the pods have been listed (true), or after timeoutMs (false); then gives the
   * identity sources up to `othersMs` more to catch up (they fill in records later if they are slow).
   */
  async waitSynced(timeoutMs: number, othersMs = 2000): Promise<boolean> {
    const t0 = Date.now()
    const ok = await this.pods.waitSynced(timeoutMs)
    const left = Math.max(0, Math.min(othersMs, timeoutMs - (Date.now() - t0)))
    const others = this.informers.filter((i) => i !== (this.pods as unknown as ResourceInformer<KObject>))
    await Promise.all(others.map((i) => i.waitSynced(left)))
    return ok
  }

  async stop(): Promise<void> {
    await Promise.all(this.informers.map((i) => i.stop()))
  }

  status(): ResourceStatus[] {
    return this.informers.map((i) => ({
      resource: i.spec.resource,
      state: i.state,
      synced: i.hasSynced,
      objects: i.list().length,
      lastError: i.lastError,
      resourceVersion: i.latestResourceVersion(),
    }))
  }
}
