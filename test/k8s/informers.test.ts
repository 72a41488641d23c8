// The informers (client-node ListWatch + podtap's supervision) against the stand-in API server
// (test/k8s/apiserver.ts: no Kubernetes can run here, so a server of our own speaks the real
// list/watch wire protocol): pagination, events, bookmarks, 410 Gone, disconnects, the server going
// away and coming back, 404/403, a server that never answers, a watch that goes silent.

import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { ResourceInformer, type InformerOptions } from '../../src/k8s/informers.js'
import { loadKubeConfig, type PodtapKubeConfig } from '../../src/k8s/kubeconfig.js'
import { trimPod, trimEndpointSlice, type Pod, type KObject } from '../../src/k8s/objects.js'
import { StandInApiServer, pod, endpointSlice, type Kind } from './apiserver.js'

function haveOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}
const skip = haveOpenssl() ? null : 'openssl not installed (the stand-in API server needs it for its TLS certificate)'
if (skip !== null) console.log(`informer tests skipped: ${skip}`)

const FAST: InformerOptions = { backoffInitialMs: 30, backoffMaxMs: 200, slowRetryMs: 200, watchTimeoutS: 30 }

async function until(what: string, f: () => boolean, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs
  while (!f()) {
    if (Date.now() > end) throw new Error(`timed out waiting for: ${what}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

/** name -> resourceVersion of every object the informer has, as the server has it */
function state(objs: KObject[]): Record<string, string> {
  return Object.fromEntries(objs.map((o) => [`${o.metadata.namespace}/${o.metadata.name}`, o.metadata.resourceVersion ?? '']).sort())
}

describe.skipIf(skip !== null)('ResourceInformer against the stand-in API server', () => {
  let api: StandInApiServer
  let dir: string
  let kc: PodtapKubeConfig
  const running: ResourceInformer<KObject>[] = []

  beforeAll(async () => {
    api = new StandInApiServer()
    await api.start()
    dir = mkdtempSync(join(tmpdir(), 'podtap-inf-'))
    kc = loadKubeConfig({ file: api.writeKubeconfig(join(dir, 'kubeconfig')), env: {} }).kc
  })
  afterEach(async () => {
    for (const i of running.splice(0)) await i.stop()
    await api.start() // a test may have stopped it
    // the stand-in notices an aborted stream a moment later: start the next test with none open
    await until('watches closed', () => api.watchCount() === 0)
    api.hang = false
    api.forbid.clear()
    api.serve = new Set(['pods', 'services', 'endpoints', 'nodes', 'endpointslices', 'replicasets'])
    for (const k of ['pods', 'endpointslices'] as Kind[]) for (const o of api.list(k)) api.remove(k, o.metadata.namespace, o.metadata.name)
  })
  afterAll(async () => {
    await api?.stop()
    api?.dispose()
    rmSync(dir, { recursive: true, force: true })
  })

  function podInformer(node: string, opts: InformerOptions = FAST) {
    const events: string[] = []
    const inf = new ResourceInformer<Pod>(
      kc,
      { resource: 'pods', path: '/api/v1/pods', fieldSelector: `spec.nodeName=${node}`, trim: trimPod, keep: (p) => p.spec.nodeName === node },
      {
        add: (p) => events.push(`add ${p.metadata.name}`),
        update: (p) => events.push(`update ${p.metadata.name}`),
        delete: (p) => events.push(`delete ${p.metadata.name}`),
        unavailable: () => events.push('unavailable'),
      },
      opts,
    )
    running.push(inf as unknown as ResourceInformer<KObject>)
    return { inf, events }
  }

  function serverPods(node: string): Record<string, string> {
    return state(api.list('pods').filter((p) => p.spec.nodeName === node) as unknown as KObject[])
  }

  it('lists in pages, then delivers add/update/delete from the watch; other nodes are not seen', async () => {
    for (let i = 0; i < 5; i++) api.upsert('pods', pod({ name: `p${i}`, node: 'n1', ip: `10.1.0.${i + 1}` }))
    api.upsert('pods', pod({ name: 'elsewhere', node: 'n2', ip: '10.2.0.1' }))
    const listsBefore = api.count('pods', 'list')
    const { inf, events } = podInformer('n1', { ...FAST, pageSize: 2 })
    inf.start()
    expect(await inf.waitSynced(5000)).toBe(true)
    expect(api.count('pods', 'list') - listsBefore).toBe(3) // 2 + 2 + 1 items
    expect(inf.list().map((p) => p.metadata.name).sort()).toEqual(['p0', 'p1', 'p2', 'p3', 'p4'])
    await until('watch open', () => api.watchCount('pods') === 1)
    expect(api.requests.filter((r) => r.watch).at(-1)?.query).toMatchObject({ fieldSelector: 'spec.nodeName=n1', allowWatchBookmarks: 'true', timeoutSeconds: '30' })

    api.upsert('pods', pod({ name: 'p5', node: 'n1', ip: '10.1.0.6' }))
    api.upsert('pods', { ...pod({ name: 'p0', node: 'n1', ip: '10.1.0.1' }), metadata: { name: 'p0', namespace: 'default', labels: { v: '2' } } })
    api.remove('pods', 'default', 'p1')
    api.upsert('pods', pod({ name: 'other', node: 'n2' }))
    await until('events', () => events.length >= 8)
    await new Promise((r) => setTimeout(r, 100)) // and nothing more (the n2 pod)
    expect(events.slice(5)).toEqual(['add p5', 'update p0', 'delete p1'])
    expect(events).not.toContain('add other')
    expect(inf.get('p0', 'default')?.metadata.labels).toEqual({ v: '2' })
    expect(state(inf.list())).toEqual(serverPods('n1'))
    expect(inf.state).toBe('watching')
  })

  it('bookmarks move the resourceVersion forward without events', async () => {
    const { inf, events } = podInformer('n1')
    inf.start()
    await inf.waitSynced(5000)
    await until('watch open', () => api.watchCount('pods') === 1)
    // changes on another node advance the server's revision; the n1 watch sees none of them
    for (let i = 0; i < 3; i++) api.upsert('pods', pod({ name: `o${i}`, node: 'n2' }))
    const rv = String(api.rv)
    expect(inf.latestResourceVersion()).not.toBe(rv)
    expect(api.bookmarkAll()).toBe(1)
    await until('bookmark', () => inf.latestResourceVersion() === rv)
    expect(inf.stats.bookmarks).toBe(1)
    expect(events).toEqual([])
    // a reconnect now starts from the bookmark: the old revision would be too old after a compaction
    api.compact()
    api.dropWatches()
    await until('rewatch', () => inf.stats.watches >= 2 && api.watchCount('pods') === 1)
    expect(inf.stats.relists410).toBe(0)
  })

  it('a watch the server ends is reopened from its resourceVersion: changes in between arrive, no relist', async () => {
    api.upsert('pods', pod({ name: 'a', node: 'n1' }))
    const { inf, events } = podInformer('n1')
    inf.start()
    await inf.waitSynced(5000)
    await until('watch open', () => api.watchCount('pods') === 1)
    const lists = inf.stats.lists
    for (let round = 0; round < 5; round++) {
      api.dropWatches()
      api.upsert('pods', pod({ name: `r${round}`, node: 'n1' }))
      await until('rewatch', () => api.watchCount('pods') === 1)
    }
    await until('all adds', () => events.filter((e) => e.startsWith('add r')).length === 5)
    expect(inf.stats.lists).toBe(lists)
    expect(inf.stats.watches).toBeGreaterThanOrEqual(6)
    expect(state(inf.list())).toEqual(serverPods('n1'))
  })

  it('410 Gone: relists, and what changed while the history was lost is reconciled (deletes included)', async () => {
    for (const n of ['keep', 'gone', 'changed']) api.upsert('pods', pod({ name: n, node: 'n1' }))
    const { inf, events } = podInformer('n1')
    inf.start()
    await inf.waitSynced(5000)
    await until('watch open', () => api.watchCount('pods') === 1)
    // the informer is disconnected while changes happen and the history is compacted away
    await api.stop()
    api.remove('pods', 'default', 'gone')
    api.upsert('pods', { ...pod({ name: 'changed', node: 'n1' }), metadata: { name: 'changed', namespace: 'default', labels: { x: 'y' } } })
    api.upsert('pods', pod({ name: 'new', node: 'n1' }))
    api.compact()
    await api.start()
    await until('relisted', () => inf.stats.relists410 >= 1 && inf.state === 'watching' && api.watchCount('pods') === 1, 10_000)
    expect(events).toEqual(expect.arrayContaining(['delete gone', 'update changed', 'add new']))
    expect(state(inf.list())).toEqual(serverPods('n1'))
  })

  it('the API server away for a while: no crash, backoff, and nothing lost once it is back', async () => {
    api.upsert('pods', pod({ name: 'before', node: 'n1' }))
    const { inf, events } = podInformer('n1')
    inf.start()
    await inf.waitSynced(5000)
    await until('watch open', () => api.watchCount('pods') === 1)
    await api.stop()
    await until('retrying', () => inf.state === 'retrying')
    const errorsAtStop = inf.stats.errors
    api.upsert('pods', pod({ name: 'during', node: 'n1' }))
    api.remove('pods', 'default', 'before')
    // sampled on every tick while it is away: a retry in flight still says 'retrying' (a status
    // page that flips to 'listing' between attempts would hide the outage)
    const states = new Set<string>()
    const sampler = setInterval(() => states.add(inf.state), 1)
    await new Promise((r) => setTimeout(r, 600))
    clearInterval(sampler)
    expect([...states]).toEqual(['retrying'])
    // several attempts, spaced by a growing backoff (30 ms doubling to 200 ms): not a tight loop
    expect(inf.stats.errors - errorsAtStop).toBeGreaterThanOrEqual(2)
    expect(inf.stats.errors - errorsAtStop).toBeLessThan(15)
    expect(inf.lastError).toMatch(/ECONNREFUSED/)
    await api.start()
    await until('back', () => inf.state === 'watching' && api.watchCount('pods') === 1, 10_000)
    await until('events', () => events.includes('delete before') && events.includes('add during'))
    // resumed from its resourceVersion: the history replayed, no relist needed
    expect(inf.stats.relists410).toBe(0)
    expect(state(inf.list())).toEqual(serverPods('n1'))
  })

  it('404 (resource not served) calls unavailable once and keeps retrying slowly; it works once served', async () => {
    api.serve.delete('endpointslices')
    const seen: string[] = []
    const inf = new ResourceInformer(
      kc,
      { resource: 'endpointslices', path: '/apis/discovery.k8s.io/v1/endpointslices', trim: trimEndpointSlice },
      { unavailable: () => seen.push('unavailable'), add: (s) => seen.push(`add ${s.metadata.name}`) },
      FAST,
    )
    running.push(inf as unknown as ResourceInformer<KObject>)
    inf.start()
    await until('unavailable', () => inf.state === 'unavailable')
    await new Promise((r) => setTimeout(r, 500))
    expect(seen).toEqual(['unavailable'])
    const tries = api.count('endpointslices', 'list')
    expect(tries).toBeGreaterThanOrEqual(2)
    expect(tries).toBeLessThan(6) // slowRetryMs 200 over ~500 ms
    api.upsert('endpointslices', endpointSlice('web', 'default', [{ ip: '10.1.0.1', pod: 'web-1' }], [{ port: 80 }]))
    api.serve.add('endpointslices')
    await until('served', () => seen.includes('add web-abcde'), 5000)
    expect(inf.state).toBe('watching')
  })

  it('403 is reported as forbidden, with the fix, once', async () => {
    api.forbid.add('pods')
    const logs: string[] = []
    const { inf } = podInformer('n1', { ...FAST, log: (m) => logs.push(m) })
    inf.start()
    await until('forbidden', () => inf.state === 'forbidden')
    await new Promise((r) => setTimeout(r, 500))
    expect(logs.filter((l) => l.includes('not allowed'))).toHaveLength(1)
    expect(logs[0]).toMatch(/grant get\/list\/watch/)
    api.forbid.delete('pods')
    await until('allowed', () => inf.state === 'watching', 5000)
  })

  it('a server that accepts and never answers: the request times out and is retried', async () => {
    kc.requestTimeoutMs = 300
    try {
      api.hang = true
      const { inf } = podInformer('n1', { ...FAST, listTimeoutMs: 300 })
      inf.start()
      await until('a failed attempt', () => inf.stats.errors >= 2, 5000)
      expect(inf.lastError).toMatch(/no complete answer within 300 ms/)
      api.hang = false
      api.upsert('pods', pod({ name: 'late', node: 'n1' }))
      expect(await inf.waitSynced(5000)).toBe(true)
      expect(inf.list().map((p) => p.metadata.name)).toContain('late')
    } finally {
      kc.requestTimeoutMs = 15_000
    }
  })

  it('a server that ends every watch at once, empty: reconnects are spaced out, not a tight loop', async () => {
    api.emptyWatches = true
    try {
      const { inf } = podInformer('n1', { ...FAST, backoffMaxMs: 400 })
      inf.start()
      await inf.waitSynced(5000)
      const w0 = api.count('pods', 'watch')
      await new Promise((r) => setTimeout(r, 1500))
      const n = api.count('pods', 'watch') - w0
      // 250 ms, then 400 ms apart: a handful, where a tight loop makes hundreds
      expect(n).toBeGreaterThanOrEqual(3)
      expect(n).toBeLessThan(10)
      api.emptyWatches = false
      api.upsert('pods', pod({ name: 'later', node: 'n1' }))
      await until('streaming again', () => inf.get('later', 'default') !== undefined, 5000)
    } finally {
      api.emptyWatches = false
    }
  })

  it('a server that refuses bookmarks and timeoutSeconds (400): watched without them', async () => {
    api.strictWatchParams = true
    try {
      const { inf, events } = podInformer('n1')
      inf.start()
      await inf.waitSynced(5000)
      await until('watch open', () => api.watchCount('pods') === 1, 5000)
      expect(inf.plainWatch).toBe(true)
      api.upsert('pods', pod({ name: 'seen', node: 'n1' }))
      await until('event', () => events.includes('add seen'))
    } finally {
      api.strictWatchParams = false
    }
  })

  it('a watch that goes silent (no event, no bookmark) is abandoned and reopened', async () => {
    const { inf } = podInformer('n1', { ...FAST, staleMs: 300 })
    inf.start()
    await inf.waitSynced(5000)
    await until('watch open', () => api.watchCount('pods') === 1)
    const w = inf.stats.watches
    await until('reopened', () => inf.stats.watches >= w + 2, 5000)
    // the stand-in sees each abandoned stream close: only one stays open
    await until('one open', () => api.watchCount('pods') === 1)
  })
})
