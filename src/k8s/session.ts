// `podtap capture --k8s`: everything Kubernetes mode adds to a capture, started in one call.
//
//   const k8s = await startK8s(multi, { kubeconfig, node, namespaces, selector, log, counters })
//   capture loop:  if (!k8s.accept(p)) continue; pipeline.packet(p)
//   exchanges:     if (!k8s.exchange(e)) return; ...outputs   (identity filled in place)
//   links:         if (!k8s.link(l)) return; ...
//   at the end:    await k8s.close()
//   pod stats:     startK8s(multi, { ..., podStats: { onPods: hub.pods, intervalMs: hub.windowSeconds * 1000 } })
//                  samples the attached pods' cgroups, /proc and veths every interval (pod-stats.ts)
//
// startK8s never waits for the API server longer than syncTimeoutMs: if it is away, capture starts
// with what is known (nothing) and attaches pods as soon as the informers get through.

import type { MultiSource } from '../capture/af-packet.js'
import type { Packet } from '../capture/source.js'
import type { Counters } from '../counters.js'
import type { LinkRecord } from '../records.js'
import type { Exchange } from '../records.js'
import { K8sAttachment, type CaptureSource, type OpenRequest, type SharedSource } from './attach.js'
import { ClusterIndex } from './identity.js'
import type { InformerOptions } from './informers.js'
import { loadKubeConfig, resolveNodeName } from './kubeconfig.js'
import { bareContainerId, PodStatsSampler, type PodStatsSamplerOptions, type PodTarget } from './pod-stats.js'
import { Selection } from './selection.js'
import { VethResolver, type VethResolverOptions } from '../capture/veth.js'
import { K8sWatch } from './watch.js'

export interface K8sCaptureOptions {
  /** --kubeconfig */
  kubeconfig?: string
  /** --node */
  node?: string
  /** environment (KUBECONFIG, NODE_NAME, KUBERNETES_SERVICE_HOST); default process.env */
  env?: NodeJS.ProcessEnv
  namespaces?: readonly string[]
  excludeNamespaces?: readonly string[]
  selector?: string
  /** capture host-network pods on the node's interfaces (default true) */
  hostNetwork?: boolean
  nodeIfaces?: readonly string[]
  /** how long startK8s waits for the first list of pods (default 10 s) */
  syncTimeoutMs?: number
  counters?: Counters
  log?: (msg: string) => void
  informer?: InformerOptions
  resolver?: VethResolverOptions
  /** node interface ring opener (tests); default openAfPacket with NODE_RING */
  open?: (r: OpenRequest) => CaptureSource
  /** opener of the socket every pod veth shares (tests); default openAfPacket anyInterface with SHARED_RING */
  openShared?: () => SharedSource
  /** that socket's ring size in MiB (blocks of 256 KiB, src/capture/ring-geometry.ts; default 16) and snaplen: --ring-blocks, --snaplen */
  sharedRing?: { blockCount?: number; snaplen?: number }
  /** a deleted pod's veth is captured this long more (default 150 ms) */
  detachGraceMs?: number
  /** in-cluster token path prefix (tests) */
  inClusterPrefix?: string
  /** sample the attached pods' resource use (the `pod` measurement) every intervalMs into onPods */
  podStats?: PodStatsSamplerOptions
}

export interface K8sSession {
  readonly nodeName: string
  /** where the configuration came from ('--kubeconfig FILE', 'KUBECONFIG=...', 'the in-cluster ServiceAccount') */
  readonly configFrom: string
  readonly index: ClusterIndex
  readonly selection: Selection
  readonly attachment: K8sAttachment
  readonly watch: K8sWatch
  /** the pod stats sampler, when options.podStats was given (stopped by close()) */
  readonly podStats?: PodStatsSampler
  accept(p: Packet): boolean
  exchange(e: Exchange): boolean
  link(l: LinkRecord): boolean
  close(): Promise<void>
}

export async function startK8s(multi: MultiSource, o: K8sCaptureOptions = {}): Promise<K8sSession> {
  const env = o.env ?? process.env
  // bad flags fail before anything starts
  const selection = new Selection({ namespaces: o.namespaces, excludeNamespaces: o.excludeNamespaces, selector: o.selector })
  const nodeName = resolveNodeName(o.node, env)
  const { kc, from } = loadKubeConfig({ file: o.kubeconfig, env, inClusterPrefix: o.inClusterPrefix })
  const log = o.log ?? (() => undefined)
  const index = new ClusterIndex(nodeName)
  const attachment = new K8sAttachment({
    multi,
    index,
    selection,
    resolver: new VethResolver(o.resolver),
    open: o.open,
    openShared: o.openShared,
    sharedRing: o.sharedRing,
    log,
    counters: o.counters,
    hostNetwork: o.hostNetwork,
    nodeIfaces: o.nodeIfaces,
    detachGraceMs: o.detachGraceMs,
  })
  const watch = new K8sWatch({ kc, nodeName, index, pods: attachment, counters: o.counters, log, informer: o.informer })
  log(`kubernetes: node ${nodeName}, API server ${kc.getCurrentCluster()?.server} (configuration from ${from})`)
  watch.start()
  const synced = await watch.waitSynced(o.syncTimeoutMs ?? 10_000)
  if (!synced) {
    const st = watch.status().find((s) => s.resource === 'pods')
    log(`kubernetes: pods not listed yet (${st?.lastError ?? st?.state}); capturing as soon as the API server answers`)
  } else {
    await Promise.race([attachment.idle(), new Promise((r) => setTimeout(r, 2000).unref())])
    const n = watch.pods.list().length
    const c = attachment.ringCount
    log(`kubernetes: ${n} pod${n === 1 ? '' : 's'} on node ${nodeName}, capturing on ${c} interface${c === 1 ? '' : 's'}`)
  }
  let podStats: PodStatsSampler | undefined
  if (o.podStats !== undefined) {
    podStats = new PodStatsSampler(() => attachedPodTargets(attachment, index, nodeName), { counters: o.counters, log, ...o.podStats })
    podStats.start()
  }
  let closed = false
  return {
    nodeName,
    configFrom: from,
    index,
    selection,
    attachment,
    watch,
    podStats,
    accept: (p) => attachment.accept(p),
    exchange: (e) => attachment.exchange(e),
    link: (l) => attachment.link(l),
    close: async () => {
      if (closed) return
      closed = true
      podStats?.stop()
      await watch.stop()
      attachment.close()
    },
  }
}

/** UIDs of this node's selected pods (captured, pending or host-network): whose processes the TLS taps read. */
export function selectedPodUids(attachment: K8sAttachment, index: ClusterIndex): Set<string> {
  const out = new Set<string>()
  for (const v of attachment.pods()) {
    if (v.state === 'excluded' || v.state === 'not-running') continue
    const uid = index.getPod(v.namespace, v.name)?.metadata.uid
    if (uid !== undefined && uid !== '') out.add(uid)
  }
  return out
}

/** The pods captured on their own veth, as pod-stats.ts samples them. */
export function attachedPodTargets(attachment: K8sAttachment, index: ClusterIndex, nodeName: string): PodTarget[] {
  const out: PodTarget[] = []
  for (const v of attachment.pods()) {
    if (v.state !== 'attached') continue
    const p = index.getPod(v.namespace, v.name)
    const uid = p?.metadata.uid
    if (p === undefined || uid === undefined || uid === '') continue
    const t: PodTarget = {
      uid,
      namespace: v.namespace,
      name: v.name,
      node: nodeName,
      containerIds: Object.values(p.status.containerIDs).map(bareContainerId),
    }
    const w = index.workloadOf(p)
    if (w !== undefined) t.workload = w
    if (v.ips[0] !== undefined) t.ip = v.ips[0]
    if (v.iface !== undefined) t.veth = v.iface
    out.push(t)
  }
  return out
}
