// A stand-in Kubernetes API server for tests.
//
// Why a stand-in: no Kubernetes can run on the test machine (no kubelet, no container runtime, no
// etcd, no kind/k3s images to pull), yet podtap's watcher must be tested with the real client-node
// informers over the real wire protocol. This server implements that protocol, for the resources
// podtap reads, the way kube-apiserver does:
//
//   GET /api/v1/pods[?fieldSelector=spec.nodeName%3DN][&labelSelector=a%3Db][&limit=N&continue=T]
//       -> 200 {"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"42","continue":"..."},"items":[...]}
//   GET /api/v1/pods?watch=true&resourceVersion=42[&allowWatchBookmarks=true][&timeoutSeconds=S]
//       -> 200, Transfer-Encoding: chunked, one JSON event per line:
//          {"type":"ADDED"|"MODIFIED"|"DELETED","object":{...}}
//          {"type":"BOOKMARK","object":{"kind":"Pod","apiVersion":"v1","metadata":{"resourceVersion":"57"}}}
//          {"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Expired","code":410,...}}
//   also /api/v1/namespaces/NS/pods, /apis/discovery.k8s.io/v1/endpointslices, /api/v1/services,
//   /api/v1/endpoints, /api/v1/nodes, /apis/apps/v1/replicasets.
//
// One resourceVersion counter for everything (etcd's revision). Every change is kept in a history;
// a watch from an older resourceVersion replays it, one from before compact() gets the 410 ERROR
// event and the stream ends, as kube-apiserver answers "too old resource version". A change that
// moves an object out of (into) a watch's field/label selector reaches that watch as DELETED (ADDED).
// Lists page on a snapshot (limit/continue); a continue token from before compact() is answered
// 410 Expired. TLS with a CA made by openssl, bearer-token auth, 401/403/404 Status bodies.
//
// Test controls: upsert/remove objects, compact(), bookmarkAll(), dropWatches() (server hangs up),
// stop() and start() again on the same port (the server going away and coming back, state kept or
// lost), serve only some resources (404 for the others), forbid some (403), hang (accept and never
// answer), and a log of requests.

import { execFileSync } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import * as http from 'node:http'
import * as https from 'node:https'
import type { Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export type Kind = 'pods' | 'services' | 'endpoints' | 'nodes' | 'endpointslices' | 'replicasets'

interface ResourceDef {
  prefix: string
  kind: string
  apiVersion: string
  namespaced: boolean
}

const RESOURCES: Record<Kind, ResourceDef> = {
  pods: { prefix: '/api/v1', kind: 'Pod', apiVersion: 'v1', namespaced: true },
  services: { prefix: '/api/v1', kind: 'Service', apiVersion: 'v1', namespaced: true },
  endpoints: { prefix: '/api/v1', kind: 'Endpoints', apiVersion: 'v1', namespaced: true },
  nodes: { prefix: '/api/v1', kind: 'Node', apiVersion: 'v1', namespaced: false },
  endpointslices: { prefix: '/apis/discovery.k8s.io/v1', kind: 'EndpointSlice', apiVersion: 'discovery.k8s.io/v1', namespaced: true },
  replicasets: { prefix: '/apis/apps/v1', kind: 'ReplicaSet', apiVersion: 'apps/v1', namespaced: true },
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Obj = Record<string, any>

interface HistoryEntry {
  rv: number
  kind: Kind
  type: 'ADDED' | 'MODIFIED' | 'DELETED'
  obj: Obj
  old: Obj | null
}

interface WatchConn {
  kind: Kind
  ns: string | null
  field: Selector
  label: Selector
  res: http.ServerResponse
  bookmarks: boolean
  timers: NodeJS.Timeout[]
  closed: boolean
}

type Selector = (o: Obj) => boolean

export interface StandInOptions {
  /** https with a test CA (default true); false serves plain http (kubeconfig then needs insecure-skip-tls-verify) */
  tls?: boolean
  /** bearer token required on every request (default: a random one) */
  token?: string
  /** resources served; the others answer 404 (default: all) */
  serve?: Kind[]
  /** send a BOOKMARK this often to watches that asked for them (default 0: only bookmarkAll()) */
  bookmarkEveryMs?: number
  /** ignore fieldSelector (answer with every object), as a minimal server might */
  ignoreFieldSelector?: boolean
}

export interface RequestLog {
  method: string
  path: string
  query: Record<string, string>
  watch: boolean
}

function status(code: number, reason: string, message: string): Obj {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code }
}

function get(o: Obj, path: string): unknown {
  let v: unknown = o
  for (const p of path.split('.')) v = v !== null && typeof v === 'object' ? (v as Obj)[p] : undefined
  return v
}

/** fieldSelector: comma-separated field=value / field==value / field!=value */
function parseFieldSelector(s: string | undefined): Selector {
  if (!s) return () => true
  const terms = s.split(',').map((t) => {
    const m = /^([\w.]+)\s*(!=|==|=)\s*(.*)$/.exec(t.trim())
    if (!m) throw new Error(`bad fieldSelector term ${t}`)
    return { path: m[1]!, neg: m[2] === '!=', value: m[3]! }
  })
  return (o) => terms.every((t) => (String(get(o, t.path) ?? '') === t.value) !== t.neg)
}

/** labelSelector: equality terms and bare keys only (what podtap's tests send) */
function parseLabelSelector(s: string | undefined): Selector {
  if (!s) return () => true
  const terms = s.split(',').map((t) => {
    const m = /^([\w./-]+)\s*(!=|==|=)?\s*(.*)$/.exec(t.trim())
    if (!m) throw new Error(`bad labelSelector term ${t}`)
    return { key: m[1]!, op: m[2], value: m[3] ?? '' }
  })
  return (o) => {
    const labels = (o.metadata?.labels ?? {}) as Record<string, string>
    return terms.every((t) => (t.op === undefined ? t.key in labels : t.op === '!=' ? labels[t.key] !== t.value : labels[t.key] === t.value))
  }
}

function keyOf(o: Obj): string {
  return `${o.metadata?.namespace ?? ''}/${o.metadata?.name}`
}

export interface TestCerts {
  dir: string
  caPem: string
  certPem: string
  keyPem: string
}

/** A CA and a server certificate for 127.0.0.1/localhost, made with openssl (P-256: quick). */
export function makeTestCerts(): TestCerts {
  const dir = mkdtempSync(join(tmpdir(), 'podtap-apiserver-'))
  const o = (args: string[]): void => {
    execFileSync('openssl', args, { cwd: dir, stdio: 'pipe', timeout: 30_000 })
  }
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']
  o(['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=podtap-test-ca'])
  o(['req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost'])
  writeFileSync(join(dir, 'ext.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n')
  o(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.crt', '-days', '2', '-extfile', 'ext.cnf'])
  return {
    dir,
    caPem: readFileSync(join(dir, 'ca.crt'), 'utf8'),
    certPem: readFileSync(join(dir, 'server.crt'), 'utf8'),
    keyPem: readFileSync(join(dir, 'server.key'), 'utf8'),
  }
}

export class StandInApiServer {
  readonly token: string
  readonly tls: boolean
  port = 0
  /** etcd's revision: one counter for every change */
  rv = 1
  compactedRv = 0
  readonly requests: RequestLog[] = []
  /** served resources; change at will (404 for the rest) */
  serve: Set<Kind>
  /** resources answered 403 */
  forbid = new Set<Kind>()
  /** accept requests and never answer them */
  hang = false
  /** answer watches with 200 and end them at once, empty (a proxy that does not stream) */
  emptyWatches = false
  /** answer 400 to watches that ask for bookmarks or a timeout (a server older or stricter than podtap expects) */
  strictWatchParams = false
  private readonly objects = new Map<Kind, Map<string, Obj>>()
  private history: HistoryEntry[] = []
  private readonly watches = new Set<WatchConn>()
  private readonly snapshots = new Map<string, { rv: number; items: Obj[] }>()
  private server: http.Server | null = null
  private readonly sockets = new Set<Socket>()
  private certs: TestCerts | null = null
  private readonly bookmarkEveryMs: number
  private readonly ignoreFieldSelector: boolean

  constructor(opts: StandInOptions = {}) {
    this.tls = opts.tls ?? true
    this.token = opts.token ?? randomUUID()
    this.serve = new Set(opts.serve ?? (Object.keys(RESOURCES) as Kind[]))
    this.bookmarkEveryMs = opts.bookmarkEveryMs ?? 0
    this.ignoreFieldSelector = opts.ignoreFieldSelector ?? false
    for (const k of Object.keys(RESOURCES) as Kind[]) this.objects.set(k, new Map())
  }

  get url(): string {
    return `${this.tls ? 'https' : 'http'}://127.0.0.1:${this.port}`
  }

  /** Listens (again: on the same port as before, so clients reconnect to it). */
  async start(): Promise<void> {
    if (this.server !== null) return
    const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => this.handle(req, res)
    if (this.tls) {
      this.certs ??= makeTestCerts()
      this.server = https.createServer({ cert: this.certs.certPem, key: this.certs.keyPem }, handler)
    } else {
      this.server = http.createServer(handler)
    }
    this.server.on(this.tls ? 'secureConnection' : 'connection', (s: Socket) => {
      this.sockets.add(s)
      s.once('close', () => this.sockets.delete(s))
    })
    // https.Server emits 'connection' for the raw socket too: track those, so stop() cuts handshakes
    if (this.tls) {
      this.server.on('connection', (s: Socket) => {
        this.sockets.add(s)
        s.once('close', () => this.sockets.delete(s))
      })
    }
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject)
      this.server!.listen(this.port, '127.0.0.1', () => resolve())
    })
    this.port = (this.server.address() as { port: number }).port
  }

  /**
   * The server goes away: the listener closes and every connection is cut (watches see the stream
   * end abruptly). With forget=true its memory goes too: history compacted, like an API server
   * whose watch cache restarted.
   */
  async stop(opts: { forget?: boolean } = {}): Promise<void> {
    for (const w of [...this.watches]) this.endWatch(w)
    const s = this.server
    this.server = null
    for (const sock of this.sockets) sock.destroy()
    this.sockets.clear()
    if (s !== null) await new Promise<void>((resolve) => s.close(() => resolve()))
    if (opts.forget) this.compact()
  }

  /** Removes every temp file (certificates). Call after the last stop(). */
  dispose(): void {
    if (this.certs !== null) rmSync(this.certs.dir, { recursive: true, force: true })
    this.certs = null
  }

  /** A kubeconfig for this server, written to `file`; returns the path. */
  writeKubeconfig(file: string, opts: { token?: string; omitInsecureFlag?: boolean } = {}): string {
    const cluster = this.tls
      ? `    certificate-authority-data: ${Buffer.from(this.certs?.caPem ?? '').toString('base64')}\n`
      : opts.omitInsecureFlag
        ? ''
        : '    insecure-skip-tls-verify: true\n'
    writeFileSync(
      file,
      [
        'apiVersion: v1',
        'kind: Config',
        'clusters:',
        '- name: standin',
        '  cluster:',
        `    server: ${this.url}`,
        ...(cluster === '' ? [] : [cluster.trimEnd()]),
        'users:',
        '- name: podtap',
        '  user:',
        `    token: ${opts.token ?? this.token}`,
        'contexts:',
        '- name: standin',
        '  context:',
        '    cluster: standin',
        '    user: podtap',
        'current-context: standin',
        '',
      ].join('\n'),
    )
    return file
  }

  get caPem(): string {
    return this.certs?.caPem ?? ''
  }

  // -------------------------------------------------------------------------------------------------
  // state

  /** Creates or replaces an object; returns the stored copy (resourceVersion, uid set). */
  upsert(kind: Kind, o: Obj): Obj {
    const def = RESOURCES[kind]
    const obj = structuredClone(o) as Obj
    obj.apiVersion = def.apiVersion
    obj.kind = def.kind
    obj.metadata ??= {}
    if (def.namespaced) obj.metadata.namespace ??= 'default'
    else delete obj.metadata.namespace
    const map = this.objects.get(kind)!
    const old = map.get(keyOf(obj)) ?? null
    obj.metadata.uid = old?.metadata?.uid ?? obj.metadata.uid ?? randomUUID()
    obj.metadata.creationTimestamp = old?.metadata?.creationTimestamp ?? new Date().toISOString().replace(/\.\d+Z$/, 'Z')
    obj.metadata.resourceVersion = String(++this.rv)
    map.set(keyOf(obj), obj)
    this.emit({ rv: this.rv, kind, type: old === null ? 'ADDED' : 'MODIFIED', obj, old })
    return obj
  }

  /** Deletes an object (no-op when absent); returns whether it existed. */
  remove(kind: Kind, namespace: string | undefined, name: string): boolean {
    const map = this.objects.get(kind)!
    const k = `${RESOURCES[kind].namespaced ? (namespace ?? 'default') : ''}/${name}`
    const old = map.get(k)
    if (old === undefined) return false
    map.delete(k)
    const obj = structuredClone(old) as Obj
    obj.metadata.resourceVersion = String(++this.rv)
    this.emit({ rv: this.rv, kind, type: 'DELETED', obj, old })
    return true
  }

  list(kind: Kind): Obj[] {
    return [...this.objects.get(kind)!.values()]
  }

  /** Forgets the history: watches from any resourceVersion before now get 410 Gone. */
  compact(): void {
    this.compactedRv = this.rv
    this.history = []
    this.snapshots.clear()
  }

  /** The server hangs up every watch (a clean end of the chunked stream). */
  dropWatches(): void {
    for (const w of [...this.watches]) this.endWatch(w)
  }

  /** A BOOKMARK with the current resourceVersion to every watch that asked for bookmarks. */
  bookmarkAll(): number {
    let n = 0
    for (const w of this.watches) {
      if (!w.bookmarks) continue
      this.send(w, { type: 'BOOKMARK', object: { kind: RESOURCES[w.kind].kind, apiVersion: RESOURCES[w.kind].apiVersion, metadata: { resourceVersion: String(this.rv) } } })
      n++
    }
    return n
  }

  /** Open watches (of one kind). */
  watchCount(kind?: Kind): number {
    let n = 0
    for (const w of this.watches) if (kind === undefined || w.kind === kind) n++
    return n
  }

  /** Requests seen for a resource (list or watch). */
  count(kind: Kind, what: 'list' | 'watch'): number {
    return this.requests.filter((r) => r.path.endsWith(`/${kind}`) && r.watch === (what === 'watch')).length
  }

  // -------------------------------------------------------------------------------------------------
  // protocol

  private emit(e: HistoryEntry): void {
    this.history.push(e)
    if (this.history.length > 100_000) this.history.splice(0, 50_000)
    for (const w of this.watches) if (w.kind === e.kind) this.deliver(w, e)
  }

  private deliver(w: WatchConn, e: HistoryEntry): void {
    const inNs = (o: Obj | null): boolean => o !== null && (w.ns === null || o.metadata?.namespace === w.ns)
    const was = inNs(e.old) && w.field(e.old!) && w.label(e.old!)
    const is = e.type !== 'DELETED' && inNs(e.obj) && w.field(e.obj) && w.label(e.obj)
    let type: string | null = null
    if (e.type === 'DELETED') type = was ? 'DELETED' : null
    else if (is && was) type = 'MODIFIED'
    else if (is) type = 'ADDED'
    else if (was) type = 'DELETED'
    if (type !== null) this.send(w, { type, object: e.obj })
  }

  private send(w: WatchConn, ev: Obj): void {
    if (w.closed) return
    w.res.write(JSON.stringify(ev) + '\n')
  }

  private endWatch(w: WatchConn): void {
    if (w.closed) return
    w.closed = true
    for (const t of w.timers) clearTimeout(t)
    this.watches.delete(w)
    w.res.end()
  }

  private reply(res: http.ServerResponse, code: number, body: Obj): void {
    const text = JSON.stringify(body)
    res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) })
    res.end(text)
  }

  private route(path: string): { kind: Kind; ns: string | null; name: string | null } | null {
    for (const [kind, def] of Object.entries(RESOURCES) as [Kind, ResourceDef][]) {
      if (!path.startsWith(def.prefix + '/')) continue
      const rest = path.slice(def.prefix.length + 1).split('/')
      if (rest[0] === kind && rest.length <= 2) return { kind, ns: null, name: rest[1] ?? null }
      if (def.namespaced && rest[0] === 'namespaces' && rest[2] === kind && rest.length <= 4) {
        return { kind, ns: rest[1]!, name: rest[3] ?? null }
      }
    }
    return null
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x')
    const query = Object.fromEntries(url.searchParams)
    const watch = query.watch === 'true' || query.watch === '1'
    this.requests.push({ method: req.method ?? '', path: url.pathname, query, watch })
    if (this.hang) return
    if (req.headers.authorization !== `Bearer ${this.token}`) {
      this.reply(res, 401, status(401, 'Unauthorized', 'Unauthorized'))
      return
    }
    const r = this.route(url.pathname)
    if (req.method !== 'GET' || r === null || !this.serve.has(r.kind)) {
      this.reply(res, 404, status(404, 'NotFound', 'the server could not find the requested resource'))
      return
    }
    if (this.forbid.has(r.kind)) {
      this.reply(res, 403, status(403, 'Forbidden', `${r.kind} is forbidden: User "system:serviceaccount:podtap:podtap" cannot list resource "${r.kind}"`))
      return
    }
    let field: Selector
    let label: Selector
    try {
      field = parseFieldSelector(this.ignoreFieldSelector ? undefined : query.fieldSelector)
      label = parseLabelSelector(query.labelSelector)
    } catch (e) {
      this.reply(res, 400, status(400, 'BadRequest', (e as Error).message))
      return
    }
    if (r.name !== null) {
      const o = this.objects.get(r.kind)!.get(`${r.ns ?? ''}/${r.name}`)
      if (o === undefined) this.reply(res, 404, status(404, 'NotFound', `${r.kind} "${r.name}" not found`))
      else this.reply(res, 200, o)
      return
    }
    if (watch && this.strictWatchParams && (query.allowWatchBookmarks !== undefined || query.timeoutSeconds !== undefined)) {
      this.reply(res, 400, status(400, 'BadRequest', 'unknown parameters allowWatchBookmarks, timeoutSeconds'))
      return
    }
    if (watch && this.emptyWatches) {
      res.writeHead(200, { 'Content-Type': 'application/json' })
      res.end()
      return
    }
    if (watch) this.startWatch(r.kind, r.ns, field, label, query, res)
    else this.serveList(r.kind, r.ns, field, label, query, res)
  }

  private serveList(kind: Kind, ns: string | null, field: Selector, label: Selector, q: Record<string, string>, res: http.ServerResponse): void {
    const def = RESOURCES[kind]
    let snap: { rv: number; items: Obj[] }
    let start = 0
    if (q.continue) {
      let tok: { id?: string; start?: number; rv?: number }
      try {
        tok = JSON.parse(Buffer.from(q.continue, 'base64url').toString('utf8')) as typeof tok
      } catch {
        this.reply(res, 400, status(400, 'BadRequest', 'invalid continue token'))
        return
      }
      const s = tok.id !== undefined ? this.snapshots.get(tok.id) : undefined
      if (s === undefined || (tok.rv ?? 0) <= this.compactedRv) {
        this.reply(res, 410, status(410, 'Expired', 'The provided continue parameter is too old to display a consistent list result.'))
        return
      }
      snap = s
      start = tok.start ?? 0
    } else {
      const items = [...this.objects.get(kind)!.values()]
        .filter((o) => (ns === null || o.metadata.namespace === ns) && field(o) && label(o))
        .sort((a, b) => keyOf(a).localeCompare(keyOf(b)))
        .map((o) => {
          // list items carry no kind/apiVersion on the wire (the list has them)
          const { kind: _k, apiVersion: _a, ...rest } = o
          return rest
        })
      snap = { rv: this.rv, items }
    }
    const limit = q.limit ? Number(q.limit) : 0
    const end = limit > 0 ? Math.min(snap.items.length, start + limit) : snap.items.length
    const meta: Obj = { resourceVersion: String(snap.rv) }
    if (end < snap.items.length) {
      const id = randomUUID()
      this.snapshots.set(id, snap)
      if (this.snapshots.size > 100) this.snapshots.delete(this.snapshots.keys().next().value!)
      meta.continue = Buffer.from(JSON.stringify({ id, start: end, rv: snap.rv })).toString('base64url')
      meta.remainingItemCount = snap.items.length - end
    }
    this.reply(res, 200, { kind: `${def.kind}List`, apiVersion: def.apiVersion, metadata: meta, items: snap.items.slice(start, end) })
  }

  private startWatch(kind: Kind, ns: string | null, field: Selector, label: Selector, q: Record<string, string>, res: http.ServerResponse): void {
    res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked', 'Cache-Control': 'no-cache, private' })
    res.flushHeaders()
    const w: WatchConn = { kind, ns, field, label, res, bookmarks: q.allowWatchBookmarks === 'true', timers: [], closed: false }
    this.watches.add(w)
    res.on('close', () => {
      w.closed = true
      for (const t of w.timers) clearTimeout(t)
      this.watches.delete(w)
    })
    const from = q.resourceVersion ?? ''
    if (from === '' || from === '0') {
      // no resourceVersion: the current state as ADDED events, then changes
      for (const o of this.objects.get(kind)!.values()) this.deliver(w, { rv: this.rv, kind, type: 'ADDED', obj: o, old: null })
    } else {
      const rv = Number(from)
      if (!Number.isInteger(rv) || rv < this.compactedRv) {
        this.send(w, { type: 'ERROR', object: status(410, 'Expired', `too old resource version: ${from} (${this.compactedRv})`) })
        this.endWatch(w)
        return
      }
      for (const e of this.history) if (e.kind === kind && e.rv > rv) this.deliver(w, e)
    }
    const timeoutS = Number(q.timeoutSeconds ?? 0)
    if (timeoutS > 0) w.timers.push(setTimeout(() => this.endWatch(w), timeoutS * 1000))
    if (w.bookmarks && this.bookmarkEveryMs > 0) {
      const tick = (): void => {
        this.send(w, { type: 'BOOKMARK', object: { kind: RESOURCES[kind].kind, apiVersion: RESOURCES[kind].apiVersion, metadata: { resourceVersion: String(this.rv) } } })
        w.timers.push(setTimeout(tick, this.bookmarkEveryMs))
      }
      w.timers.push(setTimeout(tick, this.bookmarkEveryMs))
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// object builders

export interface PodSpecLite {
  name: string
  namespace?: string
  node: string
  ip?: string
  ips?: string[]
  labels?: Record<string, string>
  /** ownerReferences: [{kind, name}] (controller: true) */
  owner?: { kind: string; name: string }
  hostNetwork?: boolean
  containers?: { name: string; ports?: number[] }[]
  phase?: string
}

export function pod(p: PodSpecLite): Obj {
  return {
    metadata: {
      name: p.name,
      namespace: p.namespace ?? 'default',
      labels: p.labels ?? {},
      ...(p.owner ? { ownerReferences: [{ apiVersion: 'apps/v1', kind: p.owner.kind, name: p.owner.name, uid: randomUUID(), controller: true, blockOwnerDeletion: true }] } : {}),
    },
    spec: {
      nodeName: p.node,
      ...(p.hostNetwork ? { hostNetwork: true } : {}),
      containers: (p.containers ?? [{ name: 'main' }]).map((c) => ({
        name: c.name,
        image: 'nginx:stable',
        ports: (c.ports ?? []).map((port) => ({ containerPort: port, protocol: 'TCP', ...(p.hostNetwork ? { hostPort: port } : {}) })),
      })),
    },
    status: {
      phase: p.phase ?? 'Running',
      ...(p.ip ? { podIP: p.ip, podIPs: (p.ips ?? [p.ip]).map((ip) => ({ ip })) } : {}),
      hostIP: '10.0.0.1',
    },
  }
}

export function replicaSet(name: string, namespace: string, deployment?: string): Obj {
  return {
    metadata: {
      name,
      namespace,
      ...(deployment ? { ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: deployment, uid: randomUUID(), controller: true }] } : {}),
    },
    spec: { replicas: 1, selector: { matchLabels: { app: name } } },
  }
}

export function service(name: string, namespace: string, clusterIP: string, ports: { port: number; targetPort?: number; name?: string }[]): Obj {
  return {
    metadata: { name, namespace },
    spec: { type: 'ClusterIP', clusterIP, clusterIPs: [clusterIP], ports: ports.map((p) => ({ protocol: 'TCP', targetPort: p.port, ...p })) },
  }
}

export function endpointSlice(
  service: string,
  namespace: string,
  endpoints: { ip: string; pod?: string; node?: string }[],
  ports: { port: number; name?: string }[],
  name = `${service}-abcde`,
): Obj {
  return {
    metadata: { name, namespace, labels: { 'kubernetes.io/service-name': service } },
    addressType: 'IPv4',
    endpoints: endpoints.map((e) => ({
      addresses: [e.ip],
      conditions: { ready: true, serving: true, terminating: false },
      ...(e.node ? { nodeName: e.node } : {}),
      ...(e.pod ? { targetRef: { kind: 'Pod', name: e.pod, namespace } } : {}),
    })),
    ports: ports.map((p) => ({ protocol: 'TCP', ...p })),
  }
}

export function nodeObj(name: string, internalIP: string): Obj {
  return { metadata: { name, labels: { 'kubernetes.io/hostname': name } }, status: { addresses: [{ type: 'InternalIP', address: internalIP }, { type: 'Hostname', address: name }] } }
}
