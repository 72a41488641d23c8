// Prometheus output: a prom-client registry with podtap's L7 metrics (DESIGN.md names) and its own
// health counters, served on --metrics-port as /metrics (text exposition 0.0.4) with /healthz for
// probes, and written to --metrics-out at close (replay: an offline copy of the last scrape).
//
//   podtap_l7_requests_total{protocol,server,method,status_class,route,namespace,pod,service}
//   podtap_l7_request_errors_total{protocol,server,method,namespace,pod,service}   DESIGN.md "error"
//   podtap_l7_request_duration_seconds{protocol,server,method,namespace,pod,service}  histogram,
//       buckets LATENCY_BUCKETS_S (0.5 ms .. 10 s); exchanges that got a response only
//   podtap_l7_link_bytes_total{protocol,server,direction,namespace,pod}  direction client_to_server |
//       server_to_client, added when a connection ends
//   podtap_l7_connections_total{protocol,server,end_reason,namespace,pod}
//   podtap_tls_connections_total{server,sni,version,namespace,pod}  connections whose TLS handshake
//       was seen in the packets (src/protocols/tls/), read by a tap or not; sni and version empty when
//       not seen; at most 100 SNIs per server (then 'other')
//   pod resource use (--k8s, k8s/pod-stats.ts; labels namespace, pod, workload, node; a pod's series
//   are removed when it is no longer sampled):
//     podtap_pod_cpu_percent, podtap_pod_memory_rss_bytes, podtap_pod_memory_vm_bytes,
//     podtap_pod_containers (gauges, the last sample); podtap_pod_network_transmit_bytes_total,
//     podtap_pod_network_receive_bytes_total, podtap_pod_disk_read_bytes_total,
//     podtap_pod_disk_write_bytes_total (counters: the bytes of every interval since podtap began
//     sampling the pod, so they start at 0, not at the kernel's totals)
//   health, read from Counters at scrape time: podtap_capture_packets_total,
//       podtap_capture_dropped_total, podtap_flows_active, podtap_parse_errors_total{protocol,reason},
//       podtap_sink_dropped_points_total{sink}, and podtap_<name>_total for every other counter name
//   podtap_tcp_*: TCP health per server endpoint and client (prometheus-tcp.ts)
//   podtap_process_* / podtap_nodejs_*: prom-client's default process metrics
//
// Label cardinality is bounded (STYLE.md "Naming"): server is "ip:port" for at most maxServers servers
// (then 'other'); method at most limits.maxMethodsPerServer per server, route (HTTP path template,
// see path-template.ts) at most maxRoutesPerServer per server, status as a class. Values folded into
// 'other' are counted in podtap_caps_hit_total{cap}. Client addresses are never labels.

import * as fs from 'node:fs'
import * as http from 'node:http'
import type { AddressInfo } from 'node:net'
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import type { Limits } from '../config.js'
import { SinkError, UsageError } from '../errors.js'
import { C, type Counters } from '../counters.js'
import type { PodSample } from '../records.js'
import type { TlsCoverageRow } from '../records.js'
import type { LinkRecord } from '../records.js'
import type { Exchange, Peer } from '../records.js'
import type { Endpoint } from '../tcp/types.js'
import { LATENCY_BUCKETS_S } from './influx.js'
import type { TcpWindow } from '../tcp/health.js'
import { TcpMetrics } from './prometheus-tcp.js'
import { CappedValues, endpointLabel, statusClass, templatePath } from './path-template.js'

export interface PrometheusSinkOptions {
  counters: Counters
  limits: Limits
  /** serve /metrics and /healthz on this port (0 = any free port); absent = no server */
  port?: number
  /** address to listen on (default 0.0.0.0: scraped from other hosts, e.g. by an in-cluster Prometheus) */
  host?: string
  /** write the exposition text here at close */
  outFile?: string
  /** distinct server labels (default 1000) */
  maxServers?: number
  /** distinct HTTP route templates per server (default 100) */
  maxRoutesPerServer?: number
  /** prom-client's process metrics (default true) */
  processMetrics?: boolean
}

/** podtap health counters with a fixed Prometheus name (DESIGN.md); others get podtap_<name>_total */
const HEALTH: Record<string, { name: string; type: 'counter' | 'gauge'; help: string }> = {
  [C.packets]: { name: 'podtap_capture_packets_total', type: 'counter', help: 'Packets captured (live) or read (replay).' },
  [C.captureDropped]: { name: 'podtap_capture_dropped_total', type: 'counter', help: 'Packets the kernel dropped before podtap could read them (ring full).' },
  [C.flowsActive]: { name: 'podtap_flows_active', type: 'gauge', help: 'TCP connections tracked now.' },
  [C.parseErrors]: { name: 'podtap_parse_errors_total', type: 'counter', help: 'Malformed or unexpected protocol messages, by protocol and reason.' },
  [C.sinkDropped]: { name: 'podtap_sink_dropped_points_total', type: 'counter', help: 'Points or rows an output could not write (queue full, sink down), by sink.' },
}
/** always exported, even before the first event, so dashboards and alerts find them */
const ALWAYS = [C.packets, C.captureDropped, C.flowsActive, C.parseErrors, C.sinkDropped]

/** a prom-client metric object that reads Counters at collection time */
interface CollectedMetric {
  name: string
  help: string
  type: 'counter' | 'gauge'
  aggregator: 'sum'
  get(): Promise<{ name: string; help: string; type: string; aggregator: 'sum'; values: { labels: Record<string, string>; value: number }[] }>
}

const L7_LABELS = ['protocol', 'server', 'method', 'namespace', 'pod', 'service'] as const

/** label sets remembered per distinct exchange shape; past this the cache starts over */
const LABEL_CACHE_ENTRIES = 16_384

interface LabelSet {
  /** labels of the duration histogram and the error counter */
  base: Record<string, string>
  /** base + status_class (+ route) for the request counter */
  request: Record<string, string>
  /** caps this shape's labels were folded by (counted per exchange) */
  folded: string[]
}

/** podtap_tls_coverage series at most (one per process kind and pod: a node runs a few hundred) */
const TLS_COVERAGE_SERIES = 2000

export class PrometheusSink {
  readonly name = 'prometheus'
  readonly registry = new Registry()
  private readonly requests: Counter<string>
  private readonly errors: Counter<string>
  private readonly duration: Histogram<string>
  private readonly linkBytes: Counter<string>
  private readonly connections: Counter<string>
  private readonly tlsConnections: Counter<string>
  /** SNI label values per server */
  private readonly snis = new CappedValues(100)
  private readonly methods: CappedValues
  private readonly routes: CappedValues
  private readonly health = new Map<string, CollectedMetric>()
  private readonly labelCache = new Map<string, LabelSet>()
  private readonly pod: PodMetrics
  private readonly tlsCoverage: Gauge<string>
  /** label set of every pod with series, by namespace/name */
  private readonly podLabels = new Map<string, Record<string, string>>()
  private server: http.Server | null = null
  /** podtap_tcp_* (prometheus-tcp.ts) */
  private readonly tcp: TcpMetrics
  private closed = false

  private constructor(private readonly o: PrometheusSinkOptions) {
    const r = [this.registry]
    this.requests = new Counter({ name: 'podtap_l7_requests_total', help: 'L7 requests seen, by server endpoint, method and status class.', labelNames: [...L7_LABELS, 'status_class', 'route'], registers: r })
    this.errors = new Counter({ name: 'podtap_l7_request_errors_total', help: 'L7 requests that failed: HTTP 5xx, gRPC status not 0, SQL/Redis/Kafka/MongoDB/RocketMQ error, or no response.', labelNames: [...L7_LABELS], registers: r })
    // exemplars: the trace and span id of an exchange the OTLP output exported (Exchange.span).
    // prom-client refuses exemplars on a registry of the text format at construction, so the
    // histogram is registered after; the text format leaves exemplars out, OpenMetrics prints them
    this.duration = new Histogram({ name: 'podtap_l7_request_duration_seconds', help: "Time from a request's first byte to its response's last byte.", labelNames: [...L7_LABELS], buckets: [...LATENCY_BUCKETS_S], registers: [], enableExemplars: true })
    this.registry.registerMetric(this.duration)
    this.linkBytes = new Counter({ name: 'podtap_l7_link_bytes_total', help: 'TCP payload bytes of ended connections, by direction.', labelNames: ['protocol', 'server', 'direction', 'namespace', 'pod'], registers: r })
    this.connections = new Counter({ name: 'podtap_l7_connections_total', help: 'TCP connections that ended, by how they ended.', labelNames: ['protocol', 'server', 'end_reason', 'namespace', 'pod'], registers: r })
    this.tlsConnections = new Counter({ name: 'podtap_tls_connections_total', help: 'TCP connections whose TLS handshake was seen in the packets, by server, SNI (server_name) and the version the server chose.', labelNames: ['server', 'sni', 'version', 'namespace', 'pod'], registers: r })
    const pl = ['namespace', 'pod', 'workload', 'node']
    const gauge = (name: string, help: string) => new Gauge({ name, help, labelNames: pl, registers: r })
    const counter = (name: string, help: string) => new Counter({ name, help, labelNames: pl, registers: r })
    this.pod = {
      cpu: gauge('podtap_pod_cpu_percent', "CPU the pod's cgroup used over the last sample interval, in % of one core."),
      rss: gauge('podtap_pod_memory_rss_bytes', "Anonymous memory of the pod's cgroup (v1 total_rss, v2 anon)."),
      vm: gauge('podtap_pod_memory_vm_bytes', "Virtual memory of the pod's processes (sum of VmSize)."),
      containers: gauge('podtap_pod_containers', "Containers of the pod (its containers' cgroups)."),
      tx: counter('podtap_pod_network_transmit_bytes_total', 'Bytes the pod sent over its veth since podtap began sampling it.'),
      rx: counter('podtap_pod_network_receive_bytes_total', 'Bytes the pod received over its veth since podtap began sampling it.'),
      rd: counter('podtap_pod_disk_read_bytes_total', "Block device bytes read by the pod's cgroup since podtap began sampling it."),
      wr: counter('podtap_pod_disk_write_bytes_total', "Block device bytes written by the pod's cgroup since podtap began sampling it."),
    }
    this.tlsCoverage = new Gauge({
      name: 'podtap_tls_coverage',
      help: "Processes with TLS connections, by which tap reads them (tap: openssl, node, go) or none (tap=\"none\", reason says why: Java/JSSE, statically linked BoringSSL, rustls, a Go binary the Go tap cannot read).",
      labelNames: ['pod', 'namespace', 'comm', 'tap', 'reason'],
      registers: r,
    })
    this.methods = new CappedValues(o.limits.maxMethodsPerServer, o.maxServers ?? 1000)
    this.routes = new CappedValues(o.maxRoutesPerServer ?? 100, Number.POSITIVE_INFINITY)
    if (o.processMetrics !== false) {
      collectDefaultMetrics({ register: this.registry, prefix: 'podtap_' })
      // prom-client names these gauges *_total, which Prometheus reserves for counters (promtool lint)
      for (const n of ['active_handles_total', 'active_requests_total', 'active_resources_total']) this.registry.removeSingleMetric(`podtap_nodejs_${n}`)
    }
    for (const name of ALWAYS) this.healthMetric(name)
    this.tcp = new TcpMetrics(this.registry, o.counters, (p) => this.serverLabel(p))
  }

  /** A closed window of TCP health (podtap_tcp_*, see prometheus-tcp.ts). */
  onTcp(w: TcpWindow): void {
    if (!this.closed) this.tcp.onWindow(w)
  }

  /** Creates the sink and, with a port, starts the HTTP server (rejects when the port is taken). */
  static async start(o: PrometheusSinkOptions): Promise<PrometheusSink> {
    const s = new PrometheusSink(o)
    if (o.port !== undefined) await s.listen(o.port, o.host ?? '0.0.0.0')
    return s
  }

  /** where /metrics is served, when it is */
  get address(): { host: string; port: number } | null {
    const a = this.server?.address() as AddressInfo | null | undefined
    return a ? { host: a.address, port: a.port } : null
  }

  /**
   * Local endpoint scrapers connect to: live capture should not count Prometheus scrapes of podtap
   * itself (ip 0.0.0.0 / :: means any local address on that port).
   */
  ownEndpoints(): Endpoint[] {
    const a = this.address
    return a ? [{ ip: a.host, port: a.port }] : []
  }

  onExchange(e: Exchange): void {
    const cls = statusClass(e.protocol, e.status, e.error)
    // label decisions are stable (caps only ever fold new values), so they are worked out once per
    // distinct exchange shape; caps_hit still counts every exchange that was folded
    const key = `${e.protocol}\0${e.server.ip}\0${e.server.port}\0${e.method}\0${cls}\0${e.resource ?? ''}\0${e.server.namespace ?? ''}\0${e.server.pod ?? ''}\0${e.server.service ?? ''}`
    let ls = this.labelCache.get(key)
    if (ls === undefined) {
      ls = this.labelsFor(e, cls)
      if (this.labelCache.size >= LABEL_CACHE_ENTRIES) this.labelCache.clear()
      this.labelCache.set(key, ls)
    }
    for (const cap of ls.folded) this.o.counters.inc(C.capsHit, { cap })
    this.requests.inc(ls.request)
    if (e.error) this.errors.inc(ls.base)
    if (e.status !== null) {
      const seconds = Math.max(0, e.endUs - e.startUs) / 1e6
      // with exemplars enabled prom-client takes only the object form
      if (e.span === undefined) this.duration.observe({ labels: ls.base, value: seconds })
      else this.duration.observe({ labels: ls.base, value: seconds, exemplarLabels: { trace_id: e.span.traceId, span_id: e.span.spanId } })
    }
  }

  private labelsFor(e: Exchange, cls: string): LabelSet {
    const folded: string[] = []
    const ep = endpointLabel(e.server.ip, e.server.port)
    const server = this.methods.owner(ep)
    if (server !== ep) folded.push('metrics_servers')
    const method = this.methods.value(server, e.method)
    if (method !== e.method) folded.push('metrics_methods_per_server')
    const base = peerLabels(e.protocol, server, e.server)
    base.method = method
    const request: Record<string, string> = { ...base, status_class: cls }
    if ((e.protocol === 'http' || e.protocol === 'http2') && e.resource !== undefined) {
      const t = templatePath(e.resource)
      request.route = this.routes.value(server, t)
      if (request.route !== t) folded.push('metrics_routes_per_server')
    }
    return { base, request, folded }
  }

  onLink(k: LinkRecord): void {
    const server = this.serverLabel(k.server)
    const base: Record<string, string> = { protocol: k.protocol, server }
    const sp: Peer = k.server // enrichment may add pod/namespace to link endpoints too
    if (sp.namespace) base.namespace = sp.namespace
    if (sp.pod) base.pod = sp.pod
    if (k.bytesSent > 0) this.linkBytes.inc({ ...base, direction: 'client_to_server' }, k.bytesSent)
    if (k.bytesReceived > 0) this.linkBytes.inc({ ...base, direction: 'server_to_client' }, k.bytesReceived)
    this.connections.inc({ ...base, end_reason: k.endReason })
    if (k.tlsHandshake !== undefined) {
      const tls: Record<string, string> = { server, sni: '', version: k.tlsVersion ?? '' }
      if (k.sni !== undefined) {
        tls.sni = this.snis.value(server, k.sni)
        if (tls.sni !== k.sni) this.o.counters.inc(C.capsHit, { cap: 'metrics_sni_per_server' })
      }
      if (base.namespace) tls.namespace = base.namespace
      if (base.pod) tls.pod = base.pod
      this.tlsConnections.inc(tls)
    }
  }

  /** The TLS coverage report now: one series per (pod, namespace, comm, tap, reason), valued by processes. */
  onTlsCoverage(rows: readonly TlsCoverageRow[]): void {
    if (this.closed) return
    const n = new Map<string, { labels: Record<string, string>; count: number }>()
    for (const x of rows) {
      const labels = { pod: x.pod ?? '', namespace: x.namespace ?? '', comm: x.comm, tap: x.tap, reason: x.reason ?? '' }
      const key = Object.values(labels).join('\0')
      const had = n.get(key)
      if (had !== undefined) had.count++
      else if (n.size < TLS_COVERAGE_SERIES) n.set(key, { labels, count: 1 })
    }
    this.tlsCoverage.reset()
    for (const { labels, count } of n.values()) this.tlsCoverage.set(labels, count)
  }

  /** One round of pod samples: gauges set, counters advanced; series of pods not in it removed. */
  onPods(samples: readonly PodSample[]): void {
    if (this.closed) return
    const now = new Set<string>()
    for (const x of samples) {
      const key = `${x.namespace}/${x.pod}`
      now.add(key)
      const labels: Record<string, string> = { namespace: x.namespace, pod: x.pod }
      if (x.workload) labels.workload = x.workload
      if (x.node) labels.node = x.node
      const old = this.podLabels.get(key)
      if (old !== undefined && !sameLabels(old, labels)) this.removePod(old) // workload known only now
      this.podLabels.set(key, labels)
      const m = this.pod
      m.containers.set(labels, x.containerCnt)
      if (x.cpuPercent !== null) m.cpu.set(labels, x.cpuPercent)
      if (x.rssBytes !== null) m.rss.set(labels, x.rssBytes)
      if (x.vmBytes !== null) m.vm.set(labels, x.vmBytes)
      // inc(0) on the first sample: the series exist from the start
      m.tx.inc(labels, x.networkTx ?? 0)
      m.rx.inc(labels, x.networkRx ?? 0)
      m.rd.inc(labels, x.bytesRead ?? 0)
      m.wr.inc(labels, x.bytesWrite ?? 0)
    }
    for (const [key, labels] of this.podLabels) {
      if (now.has(key)) continue
      this.removePod(labels)
      this.podLabels.delete(key)
    }
  }

  private removePod(labels: Record<string, string>): void {
    for (const m of Object.values(this.pod)) m.remove(labels)
  }

  /** The exposition text, as a scrape of /metrics would return it now. */
  async exposition(): Promise<string> {
    this.syncHealth()
    return this.registry.metrics()
  }

  private omChain: Promise<unknown> = Promise.resolve()

  /**
   * The OpenMetrics text (with the latency exemplars), for scrapers that ask for it. prom-client
   * renames counters for OpenMetrics in place (drops _total), so the names are put back after, and
   * OpenMetrics scrapes run one at a time.
   */
  async openMetrics(): Promise<string> {
    const run = async (): Promise<string> => {
      this.syncHealth()
      const counters = this.registry.getMetricsAsArray().filter((m) => String(m.type) === 'counter')
      const names = counters.map((m) => m.name)
      this.registry.setContentType(Registry.OPENMETRICS_CONTENT_TYPE as never)
      try {
        return await this.registry.metrics()
      } finally {
        this.registry.setContentType(Registry.PROMETHEUS_CONTENT_TYPE as never)
        counters.forEach((m, i) => ((m as { name: string }).name = names[i]))
      }
    }
    const p = this.omChain.then(run, run)
    this.omChain = p.catch(() => undefined)
    return p
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    let err: unknown = null
    if (this.o.outFile !== undefined) {
      try {
        fs.writeFileSync(this.o.outFile, await this.exposition())
      } catch (e) {
        err = new SinkError('PODTAP_METRICS_OUT', `cannot write --metrics-out ${this.o.outFile}: ${(e as Error).message}`, { cause: e })
      }
    }
    if (this.server !== null) {
      const s = this.server
      this.server = null
      s.closeAllConnections()
      await new Promise<void>((r) => s.close(() => r()))
    }
    this.registry.clear()
    if (err) throw err
  }

  // ---- internals

  private serverLabel(p: Peer): string {
    const ep = endpointLabel(p.ip, p.port)
    const label = this.methods.owner(ep)
    if (label !== ep) this.o.counters.inc(C.capsHit, { cap: 'metrics_servers' })
    return label
  }

  private async listen(port: number, host: string): Promise<void> {
    const server = http.createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0]
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { allow: 'GET, HEAD' }).end()
        return
      }
      if (path === '/metrics') {
        const om = wantsOpenMetrics(req.headers.accept)
        ;(om ? this.openMetrics() : this.exposition()).then(
          (text) => {
            res.writeHead(200, { 'content-type': om ? Registry.OPENMETRICS_CONTENT_TYPE : Registry.PROMETHEUS_CONTENT_TYPE })
            res.end(req.method === 'HEAD' ? undefined : text)
          },
          (e: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`podtap: ${e.message}\n`),
        )
      } else if (path === '/healthz') {
        res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n')
      } else {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('podtap: try /metrics or /healthz\n')
      }
    })
    server.keepAliveTimeout = 65_000 // longer than Prometheus' default scrape interval keeps one connection
    await new Promise<void>((resolve, reject) => {
      const onError = (e: NodeJS.ErrnoException) => {
        reject(
          e.code === 'EADDRINUSE'
            ? new UsageError(`--metrics-port ${port}: ${host}:${port} is already in use; pick another port`)
            : e.code === 'EACCES'
              ? new UsageError(`--metrics-port ${port}: not allowed to listen on ${host}:${port} (ports below 1024 need root)`)
              : new SinkError('PODTAP_METRICS_LISTEN', `cannot listen on ${host}:${port}: ${e.message}`, { cause: e }),
        )
      }
      server.once('error', onError)
      server.listen(port, host, () => {
        server.off('error', onError)
        resolve()
      })
    })
    server.unref() // the metrics endpoint alone does not keep podtap running
    this.server = server
  }

  /** registers a collected metric for every counter name that has none yet */
  private syncHealth(): void {
    for (const s of this.o.counters.snapshot()) if (!this.health.has(s.name)) this.healthMetric(s.name)
  }

  private healthMetric(counterName: string): void {
    const known = HEALTH[counterName]
    const def = known ?? {
      name: `podtap_${counterName.replace(/[^a-zA-Z0-9_]/g, '_')}_total`,
      type: 'counter' as const,
      help: `podtap internal counter ${counterName}.`,
    }
    const counters = this.o.counters
    const m: CollectedMetric = {
      name: def.name,
      help: def.help,
      type: def.type,
      aggregator: 'sum',
      async get() {
        const values = counters
          .snapshot()
          .filter((s) => s.name === counterName)
          .map((s) => ({ labels: s.labels, value: s.value }))
        // an unlabelled metric is 0 until counted; a labelled one has no sample until then
        if (values.length === 0 && !(counterName in LABELLED)) values.push({ labels: {}, value: 0 })
        // m.name: OpenMetrics exposition renames counters in place (see openMetrics())
        return { name: m.name, help: def.help, type: def.type, aggregator: 'sum', values }
      },
    }
    this.health.set(counterName, m)
    this.registry.registerMetric(m as unknown as Counter<string>)
  }
}

interface PodMetrics {
  cpu: Gauge<string>
  rss: Gauge<string>
  vm: Gauge<string>
  containers: Gauge<string>
  tx: Counter<string>
  rx: Counter<string>
  rd: Counter<string>
  wr: Counter<string>
}

function sameLabels(a: Record<string, string>, b: Record<string, string>): boolean {
  const ka = Object.keys(a)
  return ka.length === Object.keys(b).length && ka.every((k) => a[k] === b[k])
}

/** health counters that carry labels (no unlabelled 0 sample for them) */
const LABELLED: Record<string, true> = { [C.parseErrors]: true, [C.sinkDropped]: true }

/** Accept asks for OpenMetrics (Prometheus sends application/openmetrics-text first when it wants exemplars) */
function wantsOpenMetrics(accept: string | undefined): boolean {
  return accept !== undefined && accept.includes('application/openmetrics-text')
}

/** labels of the server side; unknown ones are left out (an empty label is no label in Prometheus) */
function peerLabels(protocol: string, server: string, p: Peer): Record<string, string> {
  const l: Record<string, string> = { protocol, server }
  if (p.namespace) l.namespace = p.namespace
  if (p.pod) l.pod = p.pod
  if (p.service) l.service = p.service
  return l
}
