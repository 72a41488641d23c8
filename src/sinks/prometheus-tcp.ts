// Prometheus metrics of TCP health (tcp/health.ts, issue #11), per server endpoint and client, from the
// windows the pipeline closes (TcpWindow: each series' change over the window):
//
//   podtap_tcp_connects_total{result="ok|refused|unanswered"}
//   podtap_tcp_connect_duration_seconds      histogram, client's first SYN to the server's SYN/ACK
//   podtap_tcp_active_connections            gauge, established connections open at the window's end
//   podtap_tcp_resets_total{sender="client|server"}        connections ended by a RST (once each)
//   podtap_tcp_rst_segments_total{sender="client|server"}  every RST segment (tshark's count)
//   podtap_tcp_retransmits_total{direction="c2s|s2c"}
//   podtap_tcp_zero_windows_total{direction="c2s|s2c"}
//   podtap_tcp_rtt_seconds{side="client|server"}  histogram, round trip capture point <-> that side
//
// Labels: server ("ip:port"), namespace, pod, service (server side, when known), client (the client's
// workload, else its pod, else its address), client_namespace. Bounded: `maxServers` servers, then
// 'other'; MAX_CLIENTS_PER_SERVER clients per server, then 'other' (counted in caps_hit). Counters
// only grow (deltas are added); a label set whose active gauge reached 0 stays at 0.

import { Counter, Gauge, type Registry } from 'prom-client'
import { C, type Counters } from '../counters.js'
import type { Peer } from '../records.js'
import { TCP_BUCKETS_S, type RttRow, type TcpSeriesRow, type TcpWindow } from '../tcp/health.js'
import { CappedValues } from './path-template.js'

/** distinct client labels per server before further ones become 'other' */
const MAX_CLIENTS_PER_SERVER = 100

/** A histogram filled from bucket counts (prom-client's Histogram only takes single observations). */
class BucketHistogram {
  private readonly cells = new Map<string, { labels: Record<string, string>; counts: Float64Array; sum: number }>()

  constructor(registry: Registry, name: string, help: string) {
    const cells = this.cells
    const metric = {
      name,
      help,
      type: 'histogram',
      aggregator: 'sum',
      async get() {
        const values: { metricName: string; labels: Record<string, string | number>; value: number }[] = []
        for (const c of cells.values()) {
          let acc = 0
          for (let i = 0; i < c.counts.length; i++) {
            acc += c.counts[i] as number
            const le = i < TCP_BUCKETS_S.length ? (TCP_BUCKETS_S[i] as number) : '+Inf'
            values.push({ metricName: `${name}_bucket`, labels: { ...c.labels, le }, value: acc })
          }
          values.push({ metricName: `${name}_sum`, labels: c.labels, value: c.sum })
          values.push({ metricName: `${name}_count`, labels: c.labels, value: acc })
        }
        return { name, help, type: 'histogram', aggregator: 'sum', values }
      },
    }
    registry.registerMetric(metric as unknown as Counter<string>)
  }

  add(labels: Record<string, string>, counts: Float64Array, sumS: number): void {
    let n = 0
    for (let i = 0; i < counts.length; i++) n += counts[i] as number
    if (n === 0) return
    const key = JSON.stringify(labels)
    let c = this.cells.get(key)
    if (c === undefined) this.cells.set(key, (c = { labels, counts: new Float64Array(counts.length), sum: 0 }))
    for (let i = 0; i < counts.length; i++) (c.counts[i] as number) += counts[i] as number
    c.sum += sumS
  }
}

export class TcpMetrics {
  private readonly connects: Counter<string>
  private readonly resets: Counter<string>
  private readonly rstSegments: Counter<string>
  private readonly retransmits: Counter<string>
  private readonly zeroWindows: Counter<string>
  private readonly active: Gauge<string>
  private readonly connectTime: BucketHistogram
  private readonly rtt: BucketHistogram
  private readonly clients = new CappedValues(MAX_CLIENTS_PER_SERVER)
  /** label sets of the active gauge, by key: set to 0 when a window no longer has them */
  private readonly activeSets = new Map<string, Record<string, string>>()

  constructor(
    r: Registry,
    private readonly counters: Counters,
    /** the sink's server label (capped with the L7 metrics' servers) */
    private readonly serverLabel: (p: Peer) => string,
  ) {
    const labelNames = ['server', 'namespace', 'pod', 'service', 'client', 'client_namespace']
    const registers = [r]
    this.connects = new Counter({ name: 'podtap_tcp_connects_total', help: 'TCP connection attempts by result: ok (handshake completed), refused (RST answering the SYN), unanswered (no answer within the SYN timeout, or SYN retransmitted and given up).', labelNames: [...labelNames, 'result'], registers })
    this.resets = new Counter({ name: 'podtap_tcp_resets_total', help: 'Connections ended by a RST after the handshake (or joined mid-stream), once per connection, by who sent it.', labelNames: [...labelNames, 'sender'], registers })
    this.rstSegments = new Counter({ name: 'podtap_tcp_rst_segments_total', help: 'RST segments, every one (answering a SYN, after the first, after the close), by who sent them.', labelNames: [...labelNames, 'sender'], registers })
    this.retransmits = new Counter({ name: 'podtap_tcp_retransmits_total', help: 'TCP segments seen again (sequence space already sent), by direction (c2s: sent by the client).', labelNames: [...labelNames, 'direction'], registers })
    this.zeroWindows = new Counter({ name: 'podtap_tcp_zero_windows_total', help: 'Segments advertising a zero receive window, by direction (c2s: the client cannot take more).', labelNames: [...labelNames, 'direction'], registers })
    this.active = new Gauge({ name: 'podtap_tcp_active_connections', help: 'Established TCP connections open (at the end of the last window).', labelNames, registers })
    this.connectTime = new BucketHistogram(r, 'podtap_tcp_connect_duration_seconds', "Time from the client's first SYN to the server's SYN/ACK, as seen at the capture point.")
    this.rtt = new BucketHistogram(r, 'podtap_tcp_rtt_seconds', 'Round trip between the capture point and one side (client or server): handshake and data/ACK pairs (Karn). client + server = the path.')
  }

  onWindow(w: TcpWindow): void {
    const activeNow = new Map<string, { labels: Record<string, string>; n: number }>()
    for (const row of w.rows) {
      const l = this.labels(row)
      // every label set gets all its series at once (0 until counted): dashboards find them
      const add = (c: Counter<string>, extra: Record<string, string>, v: number): void => {
        c.inc({ ...l, ...extra }, v)
      }
      add(this.connects, { result: 'ok' }, row.connects.ok)
      add(this.connects, { result: 'refused' }, row.connects.refused)
      add(this.connects, { result: 'unanswered' }, row.connects.unanswered)
      add(this.resets, { sender: 'client' }, row.resets.client)
      add(this.resets, { sender: 'server' }, row.resets.server)
      add(this.rstSegments, { sender: 'client' }, row.rstSegments.client)
      add(this.rstSegments, { sender: 'server' }, row.rstSegments.server)
      add(this.retransmits, { direction: 'c2s' }, row.retransmits.c2s)
      add(this.retransmits, { direction: 's2c' }, row.retransmits.s2c)
      add(this.zeroWindows, { direction: 'c2s' }, row.zeroWindows.c2s)
      add(this.zeroWindows, { direction: 's2c' }, row.zeroWindows.s2c)
      this.connectTime.add(l, row.connectHist, row.connectSumUs / 1e6)
      this.rttAdd(l, 'client', row.rttClient)
      this.rttAdd(l, 'server', row.rttServer)
      const key = JSON.stringify(l)
      const a = activeNow.get(key)
      if (a === undefined) activeNow.set(key, { labels: l, n: row.active })
      else a.n += row.active
    }
    for (const [key, a] of activeNow) {
      this.active.set(a.labels, a.n)
      this.activeSets.set(key, a.labels)
    }
    for (const [key, labels] of this.activeSets) {
      if (activeNow.has(key)) continue
      this.active.set(labels, 0)
      this.activeSets.delete(key) // set once to 0; a later window brings it back if needed
    }
  }

  private rttAdd(l: Record<string, string>, side: string, r: RttRow): void {
    this.rtt.add({ ...l, side }, r.hist, r.sumUs / 1e6)
  }

  private labels(row: TcpSeriesRow): Record<string, string> {
    const s = row.server as Peer
    const c = row.client as Peer
    const server = this.serverLabel(s)
    const who = c.workload ?? c.pod ?? c.ip
    const client = this.clients.value(server, who)
    if (client !== who) this.counters.inc(C.capsHit, { cap: 'metrics_tcp_clients_per_server' })
    const l: Record<string, string> = { server }
    if (s.namespace) l.namespace = s.namespace
    if (s.pod) l.pod = s.pod
    if (s.service) l.service = s.service
    l.client = client
    if (c.namespace) l.client_namespace = c.namespace
    return l
  }
}

