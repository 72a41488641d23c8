// One resource kept in sync with the API server: client-node's ListWatch (list, then watch from the
// list's resourceVersion, relist on 410 Gone) with what a long-running agent needs around it.
//
//   ResourceInformer
//     ListWatch (client-node)          cache + add/update/delete callbacks, resourceVersion, 410 -> relist
//       listFn = list()                paginated GET (limit/continue), objects trimmed (objects.ts)
//       watch  = SupervisedWatch       client-node Watch plus: allowWatchBookmarks, a server-side
//                                      timeoutSeconds, a watchdog for silent streams, ERROR events
//                                      ending the stream, objects trimmed
//     supervisor                       ListWatch stops on any error but 410 (cache.js doneHandler):
//                                      restart with exponential backoff, forever; 404 = the resource
//                                      is not served (onUnavailable), 401/403 = RBAC, said once
//
// Wire protocol (https://kubernetes.io/docs/reference/using-api/api-concepts/#efficient-detection-of-changes):
//   GET /api/v1/pods?fieldSelector=spec.nodeName%3Dn1&limit=500          -> PodList {metadata.resourceVersion, continue}
//   GET /api/v1/pods?watch=true&resourceVersion=RV&allowWatchBookmarks=true&timeoutSeconds=T
//     -> 200, chunked, one JSON event per line: {"type":"ADDED|MODIFIED|DELETED|BOOKMARK|ERROR","object":{...}}
//   a resourceVersion older than the server keeps: {"type":"ERROR","object":{"kind":"Status","code":410,...}}
//   then the server closes the stream; the client lists again.
//
// Nothing here throws into the caller once start() returned: an API server that is away, slow or
// wrong is retried, counted and reported through state/lastError and the log callback.

import * as http from 'node:http'
import * as https from 'node:https'
import { ListWatch, Watch, type KubernetesListObject, type KubernetesObject } from '@kubernetes/client-node'
import type { Counters } from '../counters.js'
import type { KObject } from './objects.js'
import type { PodtapKubeConfig } from './kubeconfig.js'

export interface ResourceSpec<T extends KObject> {
  /** for messages and counter labels: 'pods', 'endpointslices' */
  resource: string
  /** the collection path, e.g. '/api/v1/pods', '/apis/discovery.k8s.io/v1/endpointslices' */
  path: string
  fieldSelector?: string
  labelSelector?: string
  /** keeps the fields podtap uses (objects.ts); never throws */
  trim: (raw: unknown) => T
  /**
   * Client-side filter: objects it rejects are treated as absent. Repeats the fieldSelector, because
   * a proxy or a minimal server may ignore it.
   */
  keep?: (o: T) => boolean
}

export type InformerState = 'idle' | 'listing' | 'watching' | 'retrying' | 'unavailable' | 'forbidden' | 'stopped'

export interface InformerHandlers<T> {
  add?(o: T): void
  update?(o: T): void
  delete?(o: T): void
  /** the first list succeeded: the cache holds the whole collection (once per start) */
  synced?(): void
  /** the server answered 404 for the collection (an API group it does not serve) */
  unavailable?(): void
}

export interface InformerOptions {
  counters?: Counters
  /** one line per state change worth telling (not per event) */
  log?: (msg: string) => void
  /** first retry delay after an error; doubles up to backoffMaxMs (with ±20 % jitter). Default 500 ms */
  backoffInitialMs?: number
  /** default 30 s */
  backoffMaxMs?: number
  /** retry delay after 404/401/403 (configuration, not a transient fault). Default 60 s */
  slowRetryMs?: number
  /**
   * timeoutSeconds sent with each watch: the server ends the watch after this long and the informer
   * opens the next one from its resourceVersion (client-go picks 5-10 min at random so a fleet of
   * agents does not reconnect at once). Default: random in [300, 600).
   */
  watchTimeoutS?: number
  /**
   * a watch that delivers nothing (no event, no bookmark) for this long is abandoned and reopened:
   * a server that vanished without closing the TCP connection would otherwise hold it forever.
   * Default: watch timeout + 60 s.
   */
  staleMs?: number
  /** list page size (limit/continue). Default 500, as kubectl and client-go */
  pageSize?: number
  /** deadline for one list page, headers and body. Default 60 s */
  listTimeoutMs?: number
}

export interface InformerStats {
  lists: number
  relists410: number
  watches: number
  events: number
  bookmarks: number
  errors: number
}

interface HttpError extends Error {
  statusCode?: number
}

function httpError(status: number, what: string, body: string): HttpError {
  let msg = body.slice(0, 300)
  try {
    const st = JSON.parse(body) as { message?: unknown }
    if (typeof st.message === 'string') msg = st.message
  } catch {
    // not a Status object
  }
  const e: HttpError = new Error(`${what}: HTTP ${status}${msg ? `: ${msg}` : ''}`)
  e.statusCode = status
  return e
}

/** A list body larger than this is refused (a cluster's whole EndpointSlice list is a few MB). */
const MAX_LIST_BYTES = 512 * 1024 * 1024

/** GET path on the current cluster with the kubeconfig's credentials; resolves status and body text. */
export async function apiGet(kc: PodtapKubeConfig, path: string, timeoutMs: number): Promise<{ status: number; body: string }> {
  const cluster = kc.getCurrentCluster()
  if (cluster === null) throw new Error('no current cluster in the Kubernetes configuration')
  const url = new URL(cluster.server.replace(/\/+$/, '') + path)
  const opts: https.RequestOptions = { method: 'GET', headers: { Accept: 'application/json' } }
  await kc.applyToHTTPSOptions(opts)
  const mod = url.protocol === 'http:' ? http : https
  return new Promise((resolve, reject) => {
    const req = mod.request(url, opts, (res) => {
      const parts: Buffer[] = []
      let n = 0
      res.on('data', (b: Buffer) => {
        n += b.length
        if (n > MAX_LIST_BYTES) {
          req.destroy(new Error(`response to GET ${path} is larger than ${MAX_LIST_BYTES} bytes`))
          return
        }
        parts.push(b)
      })
      res.on('end', () => {
        clearTimeout(timer)
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts).toString('utf8') })
      })
      res.on('error', (e) => {
        clearTimeout(timer)
        reject(e)
      })
    })
    const timer = setTimeout(() => req.destroy(new Error(`GET ${path}: no complete answer within ${timeoutMs} ms`)), timeoutMs)
    req.on('error', (e) => {
      clearTimeout(timer)
      reject(e)
    })
    req.end()
  })
}

type WatchCallback = (phase: string, apiObj: unknown, watchObj?: unknown) => void

/**
 * client-node's Watch with bookmarks asked for, a server-side timeout, a watchdog, and ERROR events
 * ending the stream (so a 410 relists at once instead of waiting for the server to hang up).
 */
class SupervisedWatch extends Watch {
  constructor(
    kc: PodtapKubeConfig,
    private readonly owner: ResourceInformer<KObject>,
  ) {
    super(kc)
  }

  override async watch(
    path: string,
    query: Record<string, string | number | boolean | undefined>,
    callback: WatchCallback,
    done: (err: unknown) => void,
  ): Promise<AbortController> {
    const o = this.owner
    // a server that ends watches at once without an event (a proxy that does not stream, a
    // misbehaving server) would have ListWatch reconnect in a tight loop: space those out
    const pause = o.watchPauseMs()
    if (pause > 0) await new Promise((r) => setTimeout(r, pause).unref())
    if (o.stopped) return new AbortController()
    const timeoutS = o.watchTimeoutS()
    const staleMs = o.opts.staleMs ?? (timeoutS + 60) * 1000
    // bookmarks and a server-side timeout, unless this server refused them once (HTTP 400)
    const q = o.plainWatch ? query : { ...query, allowWatchBookmarks: true, timeoutSeconds: timeoutS }
    let finished = false
    let ctrl: AbortController | undefined
    let last = Date.now()
    const startedAt = last
    let delivered = 0
    let timer: NodeJS.Timeout | undefined
    const finish = (err: unknown): void => {
      if (finished) return
      finished = true
      o.live.delete(finish)
      if (timer !== undefined) clearInterval(timer)
      o.watchEnded(err, delivered === 0 && Date.now() - startedAt < 1000)
      ctrl?.abort()
      done(err)
    }
    const cb: WatchCallback = (phase, apiObj, watchObj) => {
      if (finished) return
      last = Date.now()
      delivered++
      if (phase === 'ERROR') {
        callback(phase, apiObj, watchObj)
        const st = (apiObj ?? {}) as { code?: unknown; message?: unknown }
        const code = typeof st.code === 'number' ? st.code : 500
        const e: HttpError = new Error(`watch ${o.spec.resource}: ${typeof st.message === 'string' ? st.message : `ERROR event, code ${code}`}`)
        e.statusCode = code
        finish(e)
        return
      }
      if (phase === 'BOOKMARK') {
        o.stats.bookmarks++
        o.healthy()
        callback(phase, apiObj, watchObj)
        return
      }
      if (phase !== 'ADDED' && phase !== 'MODIFIED' && phase !== 'DELETED') return
      o.stats.events++
      o.healthy()
      const t = o.spec.trim(apiObj)
      if (t.metadata.name === '') return
      if (o.spec.keep !== undefined && !o.spec.keep(t)) {
        // out of the selection: absent to us (a cached copy, if any, goes)
        if (phase === 'ADDED') return
        callback('DELETED', t, watchObj)
        return
      }
      callback(phase, t, watchObj)
    }
    o.stats.watches++
    o.live.add(finish)
    ctrl = await super.watch(path, q, cb, finish)
    if (finished) ctrl.abort()
    else if (o.stopped) finish(null)
    else {
      timer = setInterval(() => {
        if (Date.now() - last > staleMs) {
          const e: HttpError = new Error(`watch ${o.spec.resource}: nothing received for ${Math.round(staleMs / 1000)} s; reconnecting`)
          finish(e)
        }
      }, Math.min(5000, Math.max(50, staleMs / 4)))
      timer.unref()
    }
    return ctrl
  }
}

/**
 * One resource, listed and watched for as long as it runs. start() returns at once; handlers are
 * called on the event loop, and an exception from one is counted and logged, never lost in the
 * watch's line reader.
 */
export class ResourceInformer<T extends KObject> {
  state: InformerState = 'idle'
  lastError: string | null = null
  readonly stats: InformerStats = { lists: 0, relists410: 0, watches: 0, events: 0, bookmarks: 0, errors: 0 }
  /** true once a list succeeded since start() */
  hasSynced = false
  private readonly lw: ListWatch<KubernetesObject>
  private stopping = true
  private backoffMs: number
  private retryTimer: NodeJS.Timeout | null = null
  private saidSlow = false
  private saidRetrying = false
  /** watches in a row the server ended at once with nothing in them */
  private quickEnds = 0
  /** @internal watch without allowWatchBookmarks/timeoutSeconds (the server answered 400 to them) */
  plainWatch = false
  private readonly log: (msg: string) => void
  private readonly syncWaiters: (() => void)[] = []
  /** @internal ends each open watch (SupervisedWatch registers them) */
  readonly live = new Set<(err: unknown) => void>()

  constructor(
    private readonly kc: PodtapKubeConfig,
    readonly spec: ResourceSpec<T>,
    private readonly handlers: InformerHandlers<T>,
    readonly opts: InformerOptions = {},
  ) {
    this.backoffMs = opts.backoffInitialMs ?? 500
    this.log = opts.log ?? (() => undefined)
    const watch = new SupervisedWatch(kc, this as unknown as ResourceInformer<KObject>)
    this.lw = new ListWatch<KubernetesObject>(
      spec.path,
      watch,
      () => this.fetchAll(),
      false,
      spec.labelSelector,
      spec.fieldSelector,
    )
    this.lw.on('add', (o) => this.call('add', o))
    this.lw.on('update', (o) => this.call('update', o))
    this.lw.on('delete', (o) => this.call('delete', o))
    this.lw.on('error', (err) => this.onError(err))
  }

  /** Begins listing and watching; never throws. */
  start(): void {
    if (!this.stopping) return
    this.stopping = false
    this.run()
  }

  /** Stops watching and every retry; the cache stays readable. */
  async stop(): Promise<void> {
    this.stopping = true
    this.state = 'stopped'
    if (this.retryTimer !== null) clearTimeout(this.retryTimer)
    this.retryTimer = null
    await this.lw.stop()
    // ListWatch.stop() aborts only the watch it holds: one still being opened (its fetch awaiting
    // the headers) would be stored after the stop and never aborted; SupervisedWatch ends those
    for (const f of [...this.live]) f(null)
    for (const w of this.syncWaiters.splice(0)) w()
  }

  /** @internal */
  get stopped(): boolean {
    return this.stopping
  }

  /**
   * Resolves after the first successful list (true); false after timeoutMs, when stopped, or at once
   * when the server says the resource is not served or not allowed (404/401/403).
   */
  waitSynced(timeoutMs: number): Promise<boolean> {
    if (this.hasSynced) return Promise.resolve(true)
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        const i = this.syncWaiters.indexOf(done)
        if (i >= 0) this.syncWaiters.splice(i, 1)
        resolve(false)
      }, timeoutMs)
      const done = (): void => {
        clearTimeout(t)
        resolve(this.hasSynced)
      }
      this.syncWaiters.push(done)
    })
  }

  /** The cached objects (of one namespace). */
  list(namespace?: string): T[] {
    return this.lw.list(namespace) as unknown as T[]
  }

  get(name: string, namespace?: string): T | undefined {
    return this.lw.get(name, namespace) as unknown as T | undefined
  }

  latestResourceVersion(): string {
    return this.lw.latestResourceVersion()
  }

  /** @internal SupervisedWatch: the server-side timeout for the next watch */
  watchTimeoutS(): number {
    return this.opts.watchTimeoutS ?? 300 + Math.floor(Math.random() * 300)
  }

  /** @internal a list or an event arrived: the connection works */
  healthy(): void {
    this.backoffMs = this.opts.backoffInitialMs ?? 500
    if (this.state !== 'watching') {
      if (this.state === 'retrying' || this.state === 'unavailable' || this.state === 'forbidden') {
        this.log(`kubernetes: ${this.spec.resource}: connected again`)
      }
      this.state = 'watching'
      this.lastError = null
      this.saidSlow = false
      this.saidRetrying = false
    }
  }

  /** @internal how long to wait before opening the next watch */
  watchPauseMs(): number {
    // one quick end is a server restarting or rebalancing: reconnect at once; a run of them is not
    return this.quickEnds <= 1 ? 0 : Math.min(250 * 2 ** (this.quickEnds - 2), this.opts.backoffMaxMs ?? 30_000)
  }

  /**
   * @internal a watch ended (err null: the server closed it, e.g. timeoutSeconds); `empty`: within a
   * second and without a single event
   */
  watchEnded(err: unknown, empty: boolean): void {
    this.quickEnds = empty && err === null ? this.quickEnds + 1 : 0
    const code = (err as HttpError | null)?.statusCode
    if (code === 400 && !this.plainWatch) {
      this.plainWatch = true
      this.log(`kubernetes: ${this.spec.resource}: the server refused a watch with bookmarks and a timeout; watching without them`)
    }
    if (code === 410) {
      this.stats.relists410++
      this.opts.counters?.inc('k8s_relists', { resource: this.spec.resource, reason: 'gone' })
    }
  }

  private run(): void {
    if (this.stopping) return
    this.retryTimer = null
    // 'listing' only before the first answer: a retry in flight keeps saying why it is retrying
    // (retrying/unavailable/forbidden) until healthy() says the connection works again
    if (this.state === 'idle' || this.state === 'stopped') this.state = 'listing'
    // ListWatch.start() lists when it has no resourceVersion (first start, after a 410), else
    // watches from the one it has: a restart after an outage resumes where it left off
    this.lw.start().catch((e: unknown) => this.onError(e))
  }

  private async fetchAll(): Promise<KubernetesListObject<KubernetesObject>> {
    const items: T[] = []
    let cont: string | undefined
    let rv = ''
    let restarted = false
    const pageSize = this.opts.pageSize ?? 500
    for (;;) {
      const q = new URLSearchParams()
      if (this.spec.fieldSelector !== undefined) q.set('fieldSelector', this.spec.fieldSelector)
      if (this.spec.labelSelector !== undefined) q.set('labelSelector', this.spec.labelSelector)
      q.set('limit', String(pageSize))
      if (cont !== undefined) q.set('continue', cont)
      const res = await apiGet(this.kc, `${this.spec.path}?${q}`, this.opts.listTimeoutMs ?? 60_000)
      if (res.status === 410 && cont !== undefined && !restarted) {
        // the continue token expired between pages (etcd compacted): list again from the start
        restarted = true
        items.length = 0
        cont = undefined
        continue
      }
      if (res.status !== 200) throw httpError(res.status, `list ${this.spec.resource}`, res.body)
      let body: { items?: unknown; metadata?: { resourceVersion?: unknown; continue?: unknown } }
      try {
        body = JSON.parse(res.body) as typeof body
      } catch {
        throw httpError(502, `list ${this.spec.resource}: the answer is not JSON`, '')
      }
      for (const raw of Array.isArray(body.items) ? body.items : []) {
        const t = this.spec.trim(raw)
        if (t.metadata.name === '') continue
        if (this.spec.keep === undefined || this.spec.keep(t)) items.push(t)
      }
      rv = typeof body.metadata?.resourceVersion === 'string' ? body.metadata.resourceVersion : ''
      cont = typeof body.metadata?.continue === 'string' && body.metadata.continue !== '' ? body.metadata.continue : undefined
      if (cont === undefined) break
    }
    this.stats.lists++
    this.opts.counters?.inc('k8s_lists', { resource: this.spec.resource })
    this.healthy()
    if (!this.hasSynced) {
      // ListWatch.doneHandler fills the cache from this list synchronously after its await of it
      // resumes, a microtask after this returns: a macrotask later the cache is whole
      setImmediate(() => {
        if (this.hasSynced) return
        this.hasSynced = true
        this.safe(() => this.handlers.synced?.())
        for (const w of this.syncWaiters.splice(0)) w()
      })
    }
    return { metadata: { resourceVersion: rv }, items: items as unknown as KubernetesObject[] }
  }

  private onError(err: unknown): void {
    if (this.stopping) return
    this.stats.errors++
    const e = err as HttpError
    const code = e?.statusCode
    const msg = e?.message ?? String(err)
    this.lastError = msg
    this.opts.counters?.inc('k8s_api_errors', { resource: this.spec.resource, code: String(code ?? 'network') })
    let delay: number
    if (code === 404 || code === 401 || code === 403) {
      delay = this.opts.slowRetryMs ?? 60_000
      for (const w of this.syncWaiters.splice(0)) w()
      const first = !this.saidSlow
      this.saidSlow = true
      if (code === 404) {
        this.state = 'unavailable'
        if (first) {
          this.log(`kubernetes: ${this.spec.resource} is not served by this API server (404); retrying every ${Math.round(delay / 1000)} s`)
          this.safe(() => this.handlers.unavailable?.())
        }
      } else {
        this.state = 'forbidden'
        if (first) {
          this.log(
            `kubernetes: not allowed to list/watch ${this.spec.resource} (HTTP ${code}): grant get/list/watch on it ` +
              `(deploy/rbac.yaml has the ClusterRole podtap needs)`,
          )
        }
      }
    } else {
      this.state = 'retrying'
      delay = this.backoffMs * (0.8 + 0.4 * Math.random())
      this.backoffMs = Math.min(this.backoffMs * 2, this.opts.backoffMaxMs ?? 30_000)
      // said once per outage; healthy() says when it is over
      if (!this.saidRetrying) this.log(`kubernetes: ${this.spec.resource}: ${msg}; retrying with backoff`)
      this.saidRetrying = true
    }
    if (this.retryTimer !== null) clearTimeout(this.retryTimer)
    this.retryTimer = setTimeout(() => this.run(), delay)
    this.retryTimer.unref()
  }

  private call(kind: 'add' | 'update' | 'delete', o: KubernetesObject): void {
    const h = this.handlers[kind]
    if (h !== undefined) this.safe(() => h(o as unknown as T))
  }

  private safe(f: () => void): void {
    try {
      f()
    } catch (e) {
      this.opts.counters?.inc('k8s_handler_errors', { resource: this.spec.resource })
      this.log(`kubernetes: ${this.spec.resource}: handler failed: ${(e as Error)?.stack ?? String(e)}`)
    }
  }
}
