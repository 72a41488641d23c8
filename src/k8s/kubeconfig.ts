// Where podtap finds its cluster: --kubeconfig FILE, else $KUBECONFIG (colon-separated files, merged as
// kubectl does), else the in-cluster ServiceAccount (a DaemonSet pod: KUBERNETES_SERVICE_HOST and the
// mounted token), else ~/.kube/config. And which node it runs on: --node, else $NODE_NAME (the
// DaemonSet sets it through the downward API), else the host name (kubelet's default node name).
//
// PodtapKubeConfig adds one thing to client-node's KubeConfig: a deadline for the response headers
// of every watch request. client-node's Watch sets no timeout of its own (its 30 s AbortSignal is
// overwritten by the abort controller on the next line, watch.js), so an API server that accepts the
// connection and never answers would stall an informer forever.

import { existsSync } from 'node:fs'
import { hostname, homedir } from 'node:os'
import { join } from 'node:path'
import type { RequestOptions } from 'node:https'
import { KubeConfig } from '@kubernetes/client-node'
import { UsageError } from '../errors.js'

/** Default deadline for an API response's headers (list and watch). */
export const DEFAULT_REQUEST_TIMEOUT_MS = 15_000

const SA_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token'

export class PodtapKubeConfig extends KubeConfig {
  requestTimeoutMs = DEFAULT_REQUEST_TIMEOUT_MS

  // node-fetch 2 (what Watch uses) honours a `timeout` in RequestInit until the response headers
  // arrive; the body (the watch stream) is not affected, the informer watchdog covers that
  override async applyToFetchOptions(opts: RequestOptions): ReturnType<KubeConfig['applyToFetchOptions']> {
    const init = await super.applyToFetchOptions(opts)
    const withTimeout = init as typeof init & { timeout?: number }
    if (!withTimeout.timeout) withTimeout.timeout = this.requestTimeoutMs
    return init
  }
}

export interface KubeConfigSource {
  /** --kubeconfig */
  file?: string
  /** process.env by default */
  env?: NodeJS.ProcessEnv
  /** in-cluster token path prefix, for tests (client-node's loadFromCluster pathPrefix) */
  inClusterPrefix?: string
}

/** Loads the configuration; throws a UsageError naming what was tried when nothing fits. */
export function loadKubeConfig(src: KubeConfigSource = {}): { kc: PodtapKubeConfig; from: string } {
  const env = src.env ?? process.env
  const kc = new PodtapKubeConfig()
  const load = (what: string, f: () => void): { kc: PodtapKubeConfig; from: string } => {
    try {
      f()
    } catch (e) {
      throw new UsageError(`cannot load the Kubernetes configuration from ${what}: ${(e as Error).message}`, 'PODTAP_K8S_CONFIG')
    }
    const cluster = kc.getCurrentCluster()
    if (cluster === null) {
      throw new UsageError(`${what} names no current cluster (set current-context)`, 'PODTAP_K8S_CONFIG')
    }
    // a plain-http server (kubectl proxy, a local stand-in) has no TLS to verify; client-node refuses
    // http unless insecure-skip-tls-verify is set, kubectl does not: accept it as kubectl does
    if (cluster.server.startsWith('http:') && !cluster.skipTLSVerify) (cluster as { skipTLSVerify: boolean }).skipTLSVerify = true
    return { kc, from: what }
  }
  if (src.file !== undefined) {
    if (!existsSync(src.file)) throw new UsageError(`--kubeconfig ${src.file}: no such file`, 'PODTAP_K8S_CONFIG')
    return load(src.file, () => kc.loadFromFile(src.file!))
  }
  const kubeconfigEnv = env.KUBECONFIG
  if (kubeconfigEnv !== undefined && kubeconfigEnv !== '') {
    const files = kubeconfigEnv.split(':').filter(Boolean)
    return load(`KUBECONFIG=${kubeconfigEnv}`, () => {
      kc.loadFromFile(files[0]!)
      for (const f of files.slice(1)) {
        const more = new KubeConfig()
        more.loadFromFile(f)
        kc.mergeConfig(more, true)
      }
    })
  }
  const prefix = src.inClusterPrefix ?? ''
  if (env.KUBERNETES_SERVICE_HOST && existsSync(prefix + SA_TOKEN)) {
    // loadFromCluster reads the host and port from process.env
    return load('the in-cluster ServiceAccount', () => {
      const saved = { host: process.env.KUBERNETES_SERVICE_HOST, port: process.env.KUBERNETES_SERVICE_PORT }
      process.env.KUBERNETES_SERVICE_HOST = env.KUBERNETES_SERVICE_HOST
      process.env.KUBERNETES_SERVICE_PORT = env.KUBERNETES_SERVICE_PORT
      try {
        kc.loadFromCluster(prefix)
      } finally {
        restoreEnv('KUBERNETES_SERVICE_HOST', saved.host)
        restoreEnv('KUBERNETES_SERVICE_PORT', saved.port)
      }
    })
  }
  const home = join(env.HOME ?? homedir(), '.kube', 'config')
  if (existsSync(home)) return load(home, () => kc.loadFromFile(home))
  throw new UsageError(
    'no Kubernetes configuration found: give --kubeconfig FILE, set KUBECONFIG, run in a pod with a ServiceAccount, or create ~/.kube/config',
    'PODTAP_K8S_CONFIG',
  )
}

function restoreEnv(k: string, v: string | undefined): void {
  if (v === undefined) delete process.env[k]
  else process.env[k] = v
}

/** --node, else NODE_NAME, else the host name. */
export function resolveNodeName(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  const n = flag ?? env.NODE_NAME ?? hostname().toLowerCase()
  if (n === '' || !/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(n) || n.length > 253) {
    throw new UsageError(`node name "${n}" is not a valid Kubernetes node name (lower-case DNS subdomain); give --node NAME`)
  }
  return n
}
