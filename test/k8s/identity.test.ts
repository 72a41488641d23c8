// ClusterIndex: who an IP is, from trimmed objects (as the informers deliver them). Unknown stays
// unknown; both ends of a record are filled in place.

import { describe, expect, it } from 'vitest'
import { ClusterIndex } from '../../src/k8s/identity.js'
import { trimEndpoints, trimEndpointSlice, trimNode, trimPod, trimReplicaSet, trimService } from '../../src/k8s/objects.js'
import type { Exchange } from '../../src/records.js'
import type { LinkRecord } from '../../src/records.js'
import { endpointSlice, nodeObj, pod, replicaSet, service } from './apiserver.js'

const NODE = 'n1'

function index(): ClusterIndex {
  const x = new ClusterIndex(NODE)
  x.upsertReplicaSet(trimReplicaSet(replicaSet('web-6f7', 'shop', 'web')))
  x.upsertReplicaSet(trimReplicaSet(replicaSet('bare-rs', 'shop')))
  x.upsertPod(trimPod(pod({ name: 'web-6f7-a', namespace: 'shop', node: NODE, ip: '10.1.0.5', owner: { kind: 'ReplicaSet', name: 'web-6f7' }, containers: [{ name: 'nginx', ports: [8080] }, { name: 'envoy', ports: [15001] }] })))
  x.upsertPod(trimPod(pod({ name: 'db-0', namespace: 'data', node: NODE, ip: '10.1.0.6', owner: { kind: 'StatefulSet', name: 'db' }, containers: [{ name: 'pg', ports: [5432] }] })))
  x.upsertPod(trimPod(pod({ name: 'lonely', namespace: 'shop', node: NODE, ip: '10.1.0.7' })))
  x.upsertPod(trimPod(pod({ name: 'agent-x', namespace: 'kube-system', node: NODE, ip: '192.0.2.10', hostNetwork: true, owner: { kind: 'DaemonSet', name: 'agent' }, containers: [{ name: 'agent', ports: [9100] }] })))
  x.upsertNode(trimNode(nodeObj(NODE, '192.0.2.10')))
  x.upsertNode(trimNode(nodeObj('n2', '192.0.2.11')))
  x.upsertService(trimService(service('web', 'shop', '10.96.0.10', [{ port: 80, targetPort: 8080 }])))
  x.upsertEndpointSlice(trimEndpointSlice(endpointSlice('web', 'shop', [{ ip: '10.1.0.5', pod: 'web-6f7-a', node: NODE }, { ip: '10.2.0.9', pod: 'web-6f7-z', node: 'n2' }], [{ port: 8080 }])))
  x.upsertEndpointSlice(trimEndpointSlice(endpointSlice('web-admin', 'shop', [{ ip: '10.1.0.5', pod: 'web-6f7-a', node: NODE }], [{ port: 15001 }], 'web-admin-1')))
  return x
}

describe('ClusterIndex', () => {
  it('a local pod: pod, namespace, workload through ReplicaSet to Deployment, node, container by port, service by port', () => {
    const x = index()
    expect(x.lookup('10.1.0.5', 8080, true)).toEqual({ pod: 'web-6f7-a', namespace: 'shop', workload: 'web', node: NODE, container: 'nginx', service: 'web' })
    expect(x.lookup('10.1.0.5', 15001, true)).toEqual({ pod: 'web-6f7-a', namespace: 'shop', workload: 'web', node: NODE, container: 'envoy', service: 'web-admin' })
    // a port nothing declares: no container among two, no service on the server side
    expect(x.lookup('10.1.0.5', 9999, true)).toEqual({ pod: 'web-6f7-a', namespace: 'shop', workload: 'web', node: NODE })
    // client side (ephemeral port): the pod's services, first by name; container unknown among two
    expect(x.lookup('10.1.0.5', 43210, false)).toEqual({ pod: 'web-6f7-a', namespace: 'shop', workload: 'web', node: NODE, service: 'web' })
  })

  it('a pod by UID (the TLS tap, from a process\'s cgroup): container by runtime id, else the only one', () => {
    const x = new ClusterIndex(NODE)
    const two = pod({ name: 'web-1', namespace: 'shop', node: NODE, ip: '10.1.1.5', containers: [{ name: 'app' }, { name: 'envoy' }] })
    two.metadata.uid = 'aaaaaaaa-0000-4000-8000-000000000001'
    ;(two.status as Record<string, unknown>).containerStatuses = [
      { name: 'app', containerID: 'containerd://' + 'a'.repeat(64) },
      { name: 'envoy', containerID: 'containerd://' + 'e'.repeat(64) },
    ]
    const one = pod({ name: 'solo', namespace: 'shop', node: NODE, ip: '10.1.1.6', owner: { kind: 'StatefulSet', name: 'solo' } })
    one.metadata.uid = 'aaaaaaaa-0000-4000-8000-000000000002'
    x.upsertPod(trimPod(two))
    x.upsertPod(trimPod(one))
    expect(x.identityOfPodUid('aaaaaaaa-0000-4000-8000-000000000001', 'e'.repeat(64))).toEqual({ pod: 'web-1', namespace: 'shop', node: NODE, container: 'envoy' })
    // a container id the status does not list (yet): no container among two
    expect(x.identityOfPodUid('aaaaaaaa-0000-4000-8000-000000000001', 'b'.repeat(64))).toEqual({ pod: 'web-1', namespace: 'shop', node: NODE })
    expect(x.identityOfPodUid('aaaaaaaa-0000-4000-8000-000000000002')).toEqual({ pod: 'solo', namespace: 'shop', node: NODE, workload: 'solo', container: 'main' })
    expect(x.identityOfPodUid('aaaaaaaa-0000-4000-8000-000000000003')).toBeUndefined()
    x.deletePod(trimPod(one))
    expect(x.identityOfPodUid('aaaaaaaa-0000-4000-8000-000000000002')).toBeUndefined()
  })

  it('other owners: a StatefulSet, a bare ReplicaSet, none; a ReplicaSet not known yet is reported as itself', () => {
    const x = index()
    expect(x.lookup('10.1.0.6', 5432, true)).toMatchObject({ pod: 'db-0', workload: 'db', container: 'pg' })
    expect(x.lookup('10.1.0.7', 80, true)).toEqual({ pod: 'lonely', namespace: 'shop', node: NODE, container: 'main' })
    x.upsertPod(trimPod(pod({ name: 'b', namespace: 'shop', node: NODE, ip: '10.1.0.8', owner: { kind: 'ReplicaSet', name: 'bare-rs' } })))
    expect(x.lookup('10.1.0.8', 1, false).workload).toBe('bare-rs')
    x.upsertPod(trimPod(pod({ name: 'c', namespace: 'shop', node: NODE, ip: '10.1.0.9', owner: { kind: 'ReplicaSet', name: 'api-55d' } })))
    expect(x.lookup('10.1.0.9', 1, false).workload).toBe('api-55d')
    x.upsertReplicaSet(trimReplicaSet(replicaSet('api-55d', 'shop', 'api')))
    expect(x.lookup('10.1.0.9', 1, false).workload).toBe('api')
  })

  it('a pod on another node, known from an EndpointSlice: pod, namespace, node, service; no workload (not guessed)', () => {
    const x = index()
    expect(x.lookup('10.2.0.9', 8080, true)).toEqual({ pod: 'web-6f7-z', namespace: 'shop', node: 'n2', service: 'web' })
    expect(x.lookup('10.2.0.9', 8081, true)).toEqual({ pod: 'web-6f7-z', namespace: 'shop', node: 'n2' })
  })

  it('a ClusterIP, a node IP, a host-network pod by port, and an unknown IP', () => {
    const x = index()
    expect(x.lookup('10.96.0.10', 80, true)).toEqual({ service: 'web', namespace: 'shop' })
    expect(x.lookup('192.0.2.11', 10250, true)).toEqual({ node: 'n2' })
    expect(x.lookup('192.0.2.10', 9100, true)).toEqual({ node: NODE, pod: 'agent-x', namespace: 'kube-system', workload: 'agent', container: 'agent' })
    expect(x.lookup('192.0.2.10', 22, true)).toEqual({ node: NODE })
    expect(x.lookup('192.0.2.10', 9100, false)).toEqual({ node: NODE }) // a client's port names no pod
    expect(x.lookup('203.0.113.1', 443, true)).toEqual({})
  })

  it('deletes take back exactly what the object gave; an IP reused by a newer pod stays with it', () => {
    const x = index()
    x.deleteEndpointSlice(trimEndpointSlice(endpointSlice('web', 'shop', [], [])))
    expect(x.lookup('10.2.0.9', 8080, true)).toEqual({})
    expect(x.lookup('10.1.0.5', 8080, true).service).toBeUndefined()
    expect(x.lookup('10.1.0.5', 15001, true).service).toBe('web-admin')
    x.deleteService(trimService(service('web', 'shop', '10.96.0.10', [])))
    expect(x.lookup('10.96.0.10', 80, true)).toEqual({})
    // the old pod terminates while a new one already has its IP
    x.upsertPod(trimPod(pod({ name: 'db-1', namespace: 'data', node: NODE, ip: '10.1.0.6' })))
    expect(x.lookup('10.1.0.6', 5432, true).pod).toBe('db-1')
    x.deletePod(trimPod(pod({ name: 'db-1', namespace: 'data', node: NODE, ip: '10.1.0.6' })))
    expect(x.lookup('10.1.0.6', 5432, true).pod).toBe('db-0')
    x.deletePod(trimPod(pod({ name: 'db-0', namespace: 'data', node: NODE, ip: '10.1.0.6' })))
    expect(x.lookup('10.1.0.6', 5432, true)).toEqual({})
  })

  it('core/v1 Endpoints as the fallback source of services', () => {
    const x = new ClusterIndex(NODE)
    x.upsertEndpoints(
      trimEndpoints({
        metadata: { name: 'redis', namespace: 'cache' },
        subsets: [{ addresses: [{ ip: '10.3.0.2', nodeName: 'n3', targetRef: { kind: 'Pod', name: 'redis-0', namespace: 'cache' } }], notReadyAddresses: [], ports: [{ port: 6379, protocol: 'TCP' }] }],
      }),
    )
    expect(x.lookup('10.3.0.2', 6379, true)).toEqual({ pod: 'redis-0', namespace: 'cache', node: 'n3', service: 'redis' })
  })

  it('enrichExchange and enrichLink fill both ends in place and leave ip/port alone', () => {
    const x = index()
    const e = { client: { ip: '10.1.0.7', port: 50000 }, server: { ip: '10.1.0.5', port: 8080 } } as unknown as Exchange
    x.enrichExchange(e)
    expect(e.client).toEqual({ ip: '10.1.0.7', port: 50000, pod: 'lonely', namespace: 'shop', node: NODE, container: 'main' })
    expect(e.server).toEqual({ ip: '10.1.0.5', port: 8080, pod: 'web-6f7-a', namespace: 'shop', workload: 'web', node: NODE, container: 'nginx', service: 'web' })
    const l = { client: { ip: '203.0.113.9', port: 1 }, server: { ip: '10.96.0.10', port: 80 } } as unknown as LinkRecord
    x.enrichLink(l)
    expect(l.client).toEqual({ ip: '203.0.113.9', port: 1 })
    expect(l.server).toEqual({ ip: '10.96.0.10', port: 80, service: 'web', namespace: 'shop' })
  })

  it('trim functions keep what podtap uses and survive malformed objects', () => {
    expect(trimPod(null)).toMatchObject({ metadata: { name: '' }, spec: { containers: [] }, status: { podIPs: [] } })
    expect(trimPod({ metadata: { name: 7, labels: { a: 1, b: 'x' } }, spec: { containers: 'no' }, status: { podIPs: [{ ip: 3 }, { ip: '10.0.0.1' }] } })).toMatchObject({
      metadata: { name: '', labels: { b: 'x' } },
      status: { podIPs: ['10.0.0.1'] },
    })
    const p = trimPod({ ...pod({ name: 'x', node: 'n', ip: '10.0.0.2' }), metadata: { name: 'x', managedFields: [{ big: 'x'.repeat(1000) }], deletionTimestamp: new Date(0) } })
    expect(JSON.stringify(p)).not.toContain('managedFields')
    expect(p.metadata.deletionTimestamp).toBe('1970-01-01T00:00:00.000Z')
    expect(trimService({ spec: { clusterIP: 'None', ports: [{ port: 'x' }] } }).spec).toEqual({ type: undefined, clusterIPs: [], ports: [] })
  })
})
