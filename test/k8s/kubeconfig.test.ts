// Where the cluster configuration comes from: --kubeconfig, KUBECONFIG (merged), the in-cluster
// ServiceAccount (checked end to end against the stand-in API server: token file and CA as a pod
// mounts them), ~/.kube/config; and the node name.

import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { hostname, tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { UsageError } from '../../src/errors.js'
import { ResourceInformer } from '../../src/k8s/informers.js'
import { loadKubeConfig, resolveNodeName } from '../../src/k8s/kubeconfig.js'
import { trimPod } from '../../src/k8s/objects.js'
import { StandInApiServer, pod } from './apiserver.js'

function kubeconfig(server: string, ctx = 'c1', extra = ''): string {
  return `apiVersion: v1
kind: Config
clusters:
- name: ${ctx}
  cluster:
    server: ${server}
${extra}users:
- name: u-${ctx}
  user:
    token: t-${ctx}
contexts:
- name: ${ctx}
  context:
    cluster: ${ctx}
    user: u-${ctx}
current-context: ${ctx}
`
}

describe('loadKubeConfig', () => {
  let dir = ''
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'podtap-kc-'))
  })
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  it('--kubeconfig FILE first, whatever the environment says', () => {
    const f = join(dir, 'a.yaml')
    writeFileSync(f, kubeconfig('https://10.0.0.1:6443'))
    const { kc, from } = loadKubeConfig({ file: f, env: { KUBECONFIG: '/nonexistent', KUBERNETES_SERVICE_HOST: '1.2.3.4' } })
    expect(from).toBe(f)
    expect(kc.getCurrentCluster()?.server).toBe('https://10.0.0.1:6443')
    expect(() => loadKubeConfig({ file: join(dir, 'missing.yaml'), env: {} })).toThrow(/--kubeconfig .*missing\.yaml: no such file/)
  })

  it('KUBECONFIG with several files: merged, the first one\'s current context wins', () => {
    const a = join(dir, 'k1.yaml')
    const b = join(dir, 'k2.yaml')
    writeFileSync(a, kubeconfig('https://a:6443', 'first'))
    writeFileSync(b, kubeconfig('https://b:6443', 'second'))
    const { kc, from } = loadKubeConfig({ env: { KUBECONFIG: `${a}:${b}` } })
    expect(from).toBe(`KUBECONFIG=${a}:${b}`)
    expect(kc.getCurrentCluster()?.server).toBe('https://a:6443')
    expect(kc.getContexts().map((c) => c.name)).toEqual(['first', 'second'])
  })

  it('~/.kube/config when nothing else is set; a clear error when there is nothing at all', () => {
    const home = join(dir, 'home')
    mkdirSync(join(home, '.kube'), { recursive: true })
    writeFileSync(join(home, '.kube', 'config'), kubeconfig('https://home:6443'))
    expect(loadKubeConfig({ env: { HOME: home } }).kc.getCurrentCluster()?.server).toBe('https://home:6443')
    const err = (() => {
      try {
        loadKubeConfig({ env: { HOME: join(dir, 'nowhere') } })
      } catch (e) {
        return e
      }
    })()
    expect(err).toBeInstanceOf(UsageError)
    expect((err as Error).message).toMatch(/give --kubeconfig FILE, set KUBECONFIG, run in a pod with a ServiceAccount/)
  })

  it('a plain-http server is accepted as kubectl accepts it; a file without a current context is refused', () => {
    const f = join(dir, 'http.yaml')
    writeFileSync(f, kubeconfig('http://127.0.0.1:8001'))
    expect(loadKubeConfig({ file: f, env: {} }).kc.getCurrentCluster()?.skipTLSVerify).toBe(true)
    const g = join(dir, 'nocontext.yaml')
    writeFileSync(g, kubeconfig('https://x:1').replace(/current-context: .*/, ''))
    expect(() => loadKubeConfig({ file: g, env: {} })).toThrow(/names no current cluster/)
  })
})

describe('resolveNodeName', () => {
  it('--node, else NODE_NAME, else the host name (lower case)', () => {
    expect(resolveNodeName('n1', { NODE_NAME: 'n2' })).toBe('n1')
    expect(resolveNodeName(undefined, { NODE_NAME: 'n2' })).toBe('n2')
    expect(resolveNodeName(undefined, {})).toBe(hostname().toLowerCase())
    expect(() => resolveNodeName('Bad_Name', {})).toThrow(UsageError)
  })
})

function haveOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

describe.skipIf(!haveOpenssl())('in-cluster configuration against the stand-in API server', () => {
  it('KUBERNETES_SERVICE_HOST/PORT and the mounted token and CA: the informer lists and watches', async () => {
    const api = new StandInApiServer()
    await api.start()
    const prefix = mkdtempSync(join(tmpdir(), 'podtap-sa-'))
    const sa = join(prefix, 'var/run/secrets/kubernetes.io/serviceaccount')
    mkdirSync(sa, { recursive: true })
    writeFileSync(join(sa, 'token'), api.token)
    writeFileSync(join(sa, 'ca.crt'), api.caPem)
    writeFileSync(join(sa, 'namespace'), 'podtap')
    const envBefore = process.env.KUBERNETES_SERVICE_HOST
    try {
      api.upsert('pods', pod({ name: 'p', node: 'n1', ip: '10.0.0.1' }))
      const { kc, from } = loadKubeConfig({ env: { KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: String(api.port) }, inClusterPrefix: prefix })
      expect(from).toBe('the in-cluster ServiceAccount')
      expect(kc.getCurrentCluster()?.server).toBe(`https://127.0.0.1:${api.port}`)
      expect(process.env.KUBERNETES_SERVICE_HOST).toBe(envBefore) // borrowed, then put back
      const inf = new ResourceInformer(kc, { resource: 'pods', path: '/api/v1/pods', trim: trimPod }, {}, { watchTimeoutS: 30 })
      inf.start()
      expect(await inf.waitSynced(5000)).toBe(true)
      expect(inf.list().map((p) => p.metadata.name)).toEqual(['p'])
      await inf.stop()
      // a wrong token is refused by the server: forbidden state, not a crash
      writeFileSync(join(sa, 'token'), 'wrong')
      const bad = new ResourceInformer(loadKubeConfig({ env: { KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: String(api.port) }, inClusterPrefix: prefix }).kc, { resource: 'pods', path: '/api/v1/pods', trim: trimPod }, {}, { slowRetryMs: 100 })
      bad.start()
      expect(await bad.waitSynced(3000)).toBe(false)
      expect(bad.state).toBe('forbidden')
      await bad.stop()
    } finally {
      await api.stop()
      api.dispose()
      rmSync(prefix, { recursive: true, force: true })
    }
  })
})
