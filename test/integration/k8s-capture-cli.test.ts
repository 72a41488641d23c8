// The final check, run exactly: a stand-in API server (test/k8s/apiserver.ts: no Kubernetes
// can run here, so a server of our own speaks the real list/watch protocol to the real client-node
// informers) announces pods on this node whose IPs live in network namespaces with real nginx
// servers; `podtap capture --k8s --kubeconfig FILE --node NAME --format jsonl` must report their
// traffic with the right pod and namespace, and stop capturing a pod once it is deleted. Then the
// control API of the same command, switching protocols and namespaces at run time.

import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { TraceRecord } from '../../src/records.js'
import { cleanupStale, createTestHost, needRoot, runHost, startNginx } from '../helpers/netns.js'
import { StandInApiServer, endpointSlice, pod, replicaSet, service } from '../k8s/apiserver.js'
import { until } from '../k8s/loop.js'
import { createNetPod, type NetPod } from '../k8s/netpods.js'

const skip = needRoot()
if (skip !== null) console.log(`k8s capture CLI tests skipped: ${skip}`)

const NODE = 'kind-worker'
const CLI = join(import.meta.dirname, 'podtap-cli.ts')

interface Run {
  child: ChildProcess
  stderr: () => string
  records: () => TraceRecord[]
  stop(): Promise<number | null>
}

function runPodtap(args: string[]): Run {
  // no KUBECONFIG or NODE_NAME from the environment: the flags alone must do
  const env = { ...process.env }
  delete env.KUBECONFIG
  delete env.NODE_NAME
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env })
  let out = ''
  let err = ''
  child.stdout!.on('data', (b: Buffer) => (out += b.toString()))
  child.stderr!.on('data', (b: Buffer) => (err += b.toString()))
  return {
    child,
    stderr: () => err,
    records: () =>
      out
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as TraceRecord),
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve(child.exitCode)
        child.once('exit', (code) => resolve(code))
        child.kill('SIGINT')
      }),
  }
}

async function curlFromHost(url: string, n: number): Promise<string[]> {
  const r = await runHost('sh', ['-c', `for i in $(seq 1 ${n}); do curl -s -o /dev/null -m 5 -w '%{http_code}\\n' ${url}; done`])
  return r.stdout.trim().split('\n').filter(Boolean)
}

describe.skipIf(skip !== null)('podtap capture --k8s (the CLI, against a stand-in API server)', () => {
  let api: StandInApiServer
  let dir: string
  let kubeconfig: string
  let web: NetPod
  let client: NetPod
  let db: NetPod
  let run: Run | null = null

  beforeAll(async () => {
    cleanupStale()
    api = new StandInApiServer()
    await api.start()
    dir = mkdtempSync(join(tmpdir(), 'podtap-k8s-cli-'))
    kubeconfig = api.writeKubeconfig(join(dir, 'kubeconfig'))
    ;[web, client, db] = await Promise.all([createNetPod('cweb', { web: true }), createNetPod('ccli'), createNetPod('cdb', { web: true })])
  })
  afterAll(async () => {
    await run?.stop()
    await Promise.all([web, client, db].map((p) => p?.destroy()))
    await api?.stop()
    api?.dispose()
    rmSync(dir, { recursive: true, force: true })
  })

  it('reports the pods\' traffic with pod and namespace, and stops capturing a pod once it is deleted', async () => {
    api.upsert('replicasets', replicaSet('web-5c8d7', 'shop', 'web'))
    api.upsert('pods', pod({ name: 'web-5c8d7-x2x9q', namespace: 'shop', node: NODE, ip: web.ip, owner: { kind: 'ReplicaSet', name: 'web-5c8d7' }, containers: [{ name: 'nginx', ports: [80] }] }))
    api.upsert('pods', pod({ name: 'client', namespace: 'tools', node: NODE, ip: client.ip }))
    api.upsert('pods', pod({ name: 'web-other-node', namespace: 'shop', node: 'kind-worker2', ip: '10.244.9.9' }))
    api.upsert('services', service('web', 'shop', '10.96.7.7', [{ port: 80 }]))
    api.upsert('endpointslices', endpointSlice('web', 'shop', [{ ip: web.ip, pod: 'web-5c8d7-x2x9q', node: NODE }], [{ port: 80 }]))

    run = runPodtap(['capture', '--k8s', '--kubeconfig', kubeconfig, '--node', NODE, '--format', 'jsonl'])
    await until('both pods attached', () => /capturing pod shop\/web-5c8d7-x2x9q on/.test(run!.stderr()) && /capturing pod tools\/client on/.test(run!.stderr()), 30_000)
    expect(run.stderr()).toMatch(new RegExp(`capturing pod shop/web-5c8d7-x2x9q on ${web.host.hostIf}`))
    expect(run.stderr()).not.toMatch(/web-other-node/)

    expect(await curlFromHost(`http://${web.ip}/`, 5)).toEqual(Array(5).fill('200'))
    expect(await client.curl(`http://${web.ip}/`, 5)).toEqual(Array(5).fill('200'))
    await until('10 records', () => run!.records().length >= 10, 15_000)

    // deleted: the capture on its veth stops (and, as Kubernetes does, its endpoint leaves the slice)
    api.remove('pods', 'shop', 'web-5c8d7-x2x9q')
    api.upsert('endpointslices', endpointSlice('web', 'shop', [], [{ port: 80 }]))
    await until('detached', () => /pod shop\/web-5c8d7-x2x9q deleted: capture on/.test(run!.stderr()), 10_000)
    await new Promise((r) => setTimeout(r, 300)) // the ring's grace period
    expect(await curlFromHost(`http://${web.ip}/`, 4)).toEqual(Array(4).fill('200'))
    expect(await client.curl(`http://${web.ip}/`, 3)).toEqual(Array(3).fill('200'))

    // added during capture
    api.upsert('pods', pod({ name: 'db-0', namespace: 'data', node: NODE, ip: db.ip }))
    await until('db attached', () => /capturing pod data\/db-0 on/.test(run!.stderr()), 10_000)
    expect(await curlFromHost(`http://${db.ip}/`, 2)).toEqual(Array(2).fill('200'))
    await until('15 records', () => run!.records().length >= 15, 15_000)
    await new Promise((r) => setTimeout(r, 2500)) // anything late would show now

    expect(await run.stop()).toBe(0)
    const recs = run.records()
    const toWeb = recs.filter((r) => r.server.ip === web.ip)
    const fromHost = toWeb.filter((r) => r.client.ip !== client.ip)
    const fromClient = toWeb.filter((r) => r.client.ip === client.ip)
    // host -> web: 5 while the pod existed, none of the 4 after (only its veth carried them)
    expect(fromHost).toHaveLength(5)
    for (const r of fromHost) {
      expect(r.server).toMatchObject({ ip: web.ip, port: 80, pod: 'web-5c8d7-x2x9q', namespace: 'shop', workload: 'web', service: 'web', node: NODE })
      expect(r.status).toBe(200)
    }
    // client pod -> web: the client's veth is still captured; once web is gone it is no longer a known pod
    expect(fromClient).toHaveLength(8)
    for (const r of fromClient.slice(0, 5)) {
      expect(r.client).toMatchObject({ ip: client.ip, pod: 'client', namespace: 'tools' })
      expect(r.server).toMatchObject({ pod: 'web-5c8d7-x2x9q', namespace: 'shop' })
    }
    for (const r of fromClient.slice(5)) {
      expect(r.client).toMatchObject({ pod: 'client', namespace: 'tools' })
      expect(r.server.pod).toBeUndefined()
    }
    const toDb = recs.filter((r) => r.server.ip === db.ip)
    expect(toDb).toHaveLength(2)
    for (const r of toDb) expect(r.server).toMatchObject({ pod: 'db-0', namespace: 'data', node: NODE })
    expect(recs).toHaveLength(15)
    run = null
  })

  it('the control API: lists pods and interfaces, switches a protocol and a namespace at run time', async () => {
    api.upsert('pods', pod({ name: 'web-5c8d7-x2x9q', namespace: 'shop', node: NODE, ip: web.ip, owner: { kind: 'ReplicaSet', name: 'web-5c8d7' } }))
    run = runPodtap(['capture', '--k8s', '--kubeconfig', kubeconfig, '--node', NODE, '--format', 'jsonl', '--control-port', '0', '--exclude-namespace', 'tools', '--ring-blocks', '4'])
    await until('control API up', () => /control API on (http:\/\/\S+)\/v1\//.test(run!.stderr()), 30_000)
    const base = /control API on (http:\/\/\S+)\/v1\//.exec(run.stderr())![1]!
    await until('attached', () => /capturing pod data\/db-0 on/.test(run!.stderr()) && /capturing pod shop\/web/.test(run!.stderr()), 10_000)
    expect(run.stderr()).toContain('one packet socket for every pod veth, a 4 MiB ring') // --ring-blocks 4
    const get = async (p: string): Promise<Record<string, unknown>> => (await (await fetch(base + p)).json()) as Record<string, unknown>
    const call = async (method: string, p: string, body?: unknown): Promise<Response> =>
      fetch(base + p, { method, headers: { 'Content-Type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) })

    const pods = (await get('/v1/pods')).pods as { name: string; state: string; iface?: string }[]
    expect(Object.fromEntries(pods.map((p) => [p.name, p.state]))).toEqual({ 'web-5c8d7-x2x9q': 'attached', 'db-0': 'attached', client: 'excluded' })
    expect(pods.find((p) => p.name === 'db-0')!.iface).toBe(db.host.hostIf)
    const ifs = (await get('/v1/interfaces')).interfaces as { name: string; role: string; pods: string[] }[]
    expect(ifs.filter((i) => i.role === 'pod').map((i) => i.name).sort()).toEqual([web.host.hostIf, db.host.hostIf].sort())
    // both veths on one packet socket
    expect(ifs.filter((i) => i.role === 'shared')).toMatchObject([{ name: 'any', ifindex: 0, pods: ['data/db-0', 'shop/web-5c8d7-x2x9q'] }])
    const status = await get('/v1/status')
    expect((status.kubernetes as { node: string }).node).toBe(NODE)

    // http off: requests made now are not reported
    expect((await call('PUT', '/v1/protocols/http', { enabled: false })).status).toBe(200)
    expect(await curlFromHost(`http://${web.ip}/`, 3)).toEqual(Array(3).fill('200'))
    await new Promise((r) => setTimeout(r, 2500))
    expect(run.records()).toHaveLength(0)
    expect((await call('PUT', '/v1/protocols/http', { enabled: true })).status).toBe(200)
    expect(await curlFromHost(`http://${web.ip}/`, 2)).toEqual(Array(2).fill('200'))
    await until('2 records', () => run!.records().length === 2, 10_000)

    // the tools namespace on: the client pod is attached; shop off: web is detached
    expect((await call('POST', '/v1/namespaces/tools')).status).toBe(200)
    expect((await call('DELETE', '/v1/namespaces/shop')).status).toBe(200)
    await until('client attached', () => /capturing pod tools\/client on/.test(run!.stderr()), 10_000)
    const after = (await get('/v1/pods')).pods as { name: string; state: string }[]
    expect(Object.fromEntries(after.map((p) => [p.name, p.state]))).toMatchObject({ 'web-5c8d7-x2x9q': 'excluded', client: 'attached' })
    // errors are JSON with a reason
    const bad = await call('PUT', '/v1/protocols/gopher', { enabled: true })
    expect(bad.status).toBe(404)
    expect(((await bad.json()) as { error: string }).error).toMatch(/no protocol "gopher"/)
    expect((await call('POST', '/v1/namespaces/Not_Valid')).status).toBe(400)
    const spec = await fetch(base + '/openapi.yaml')
    expect(spec.status).toBe(200)
    expect(await spec.text()).toMatch(/^openapi: 3\.0\.3/)
    expect(await run.stop()).toBe(0)
    run = null
  })

  it('a minimal API server: plain http, pods only (404 for the rest), no fieldSelector support', async () => {
    const mini = new StandInApiServer({ tls: false, serve: ['pods'], ignoreFieldSelector: true })
    await mini.start()
    try {
      // a pod of another node too: podtap filters by spec.nodeName itself
      mini.upsert('pods', pod({ name: 'web', namespace: 'mini', node: NODE, ip: web.ip }))
      mini.upsert('pods', pod({ name: 'db', namespace: 'mini', node: 'other-node', ip: db.ip }))
      const kc = mini.writeKubeconfig(join(dir, 'mini-kubeconfig'), { omitInsecureFlag: true })
      run = runPodtap(['capture', '--k8s', '--kubeconfig', kc, '--node', NODE, '--format', 'jsonl'])
      await until('web attached', () => /capturing pod mini\/web on/.test(run!.stderr()), 30_000)
      expect(await curlFromHost(`http://${web.ip}/`, 3)).toEqual(Array(3).fill('200'))
      expect(await curlFromHost(`http://${db.ip}/`, 2)).toEqual(Array(2).fill('200'))
      await until('3 records', () => run!.records().length >= 3, 15_000)
      await new Promise((r) => setTimeout(r, 2500))
      expect(await run.stop()).toBe(0)
      const recs = run.records()
      expect(recs).toHaveLength(3) // db's node is another one: not captured
      for (const r of recs) expect(r.server).toMatchObject({ ip: web.ip, pod: 'web', namespace: 'mini' })
      expect(run.stderr()).not.toMatch(/capturing pod mini\/db/)
      expect(run.stderr()).toMatch(/endpointslices is not served by this API server \(404\)/)
      run = null
    } finally {
      await mini.stop()
      mini.dispose()
    }
  })

  it('a pod whose IP is simply the far end of a /30 on its veth (no per-pod route): found and named', async () => {
    // the plainest test-host layout: `ip addr add 10.213.n.1/30 dev <host veth>`, the pod at .2; the
    // node's connected route and the namespace both lead to the veth
    const plain = await createTestHost({ name: 'cplain' })
    const nginx = await startNginx(plain)
    const api2 = new StandInApiServer()
    await api2.start()
    try {
      api2.upsert('pods', pod({ name: 'plain-web', namespace: 'lab', node: NODE, ip: plain.nsIp, containers: [{ name: 'nginx', ports: [80] }] }))
      const kc = api2.writeKubeconfig(join(dir, 'plain-kubeconfig'))
      run = runPodtap(['capture', '--k8s', '--kubeconfig', kc, '--node', NODE, '--format', 'jsonl'])
      await until('attached', () => /capturing pod lab\/plain-web on/.test(run!.stderr()), 30_000)
      expect(run.stderr()).toMatch(new RegExp(`capturing pod lab/plain-web on ${plain.hostIf}`))
      expect(await curlFromHost(nginx.url, 4)).toEqual(Array(4).fill('200'))
      await until('4 records', () => run!.records().length >= 4, 15_000)
      expect(await run.stop()).toBe(0)
      const recs = run.records()
      expect(recs).toHaveLength(4)
      for (const r of recs) expect(r.server).toMatchObject({ ip: plain.nsIp, port: 80, pod: 'plain-web', namespace: 'lab', node: NODE })
      run = null
    } finally {
      await api2.stop()
      api2.dispose()
      await plain.destroy()
    }
  })
})
