// podtap's own health counters: packets, drops, flows, parse errors, caps hit, sink drops.
// Counted per event with a small fixed label set; never logged per packet (STYLE.md "Count, don't log").
// The Prometheus sink and the summary read them through snapshot().

export interface CounterSample {
  name: string
  labels: Record<string, string>
  value: number
}

export class Counters {
  private readonly values = new Map<string, CounterSample>()

  /** Adds n to counter `name` with `labels` (a small, bounded set: protocol, reason, side...). */
  inc(name: string, labels?: Record<string, string>, n = 1): void {
    const key = labels === undefined ? name : name + JSON.stringify(labels)
    const s = this.values.get(key)
    if (s !== undefined) s.value += n
    else this.values.set(key, { name, labels: labels ?? {}, value: n })
  }

  /** Sets a gauge-like value (flows active). */
  set(name: string, value: number, labels?: Record<string, string>): void {
    const key = labels === undefined ? name : name + JSON.stringify(labels)
    const s = this.values.get(key)
    if (s !== undefined) s.value = value
    else this.values.set(key, { name, labels: labels ?? {}, value })
  }

  /**
   * The live sample for `name`+`labels`: hot paths keep it and add to `.value` directly instead of
   * building the label key on every event.
   */
  handle(name: string, labels?: Record<string, string>): CounterSample {
    const key = labels === undefined ? name : name + JSON.stringify(labels)
    let s = this.values.get(key)
    if (s === undefined) this.values.set(key, (s = { name, labels: labels ?? {}, value: 0 }))
    return s
  }

  get(name: string, labels?: Record<string, string>): number {
    const key = labels === undefined ? name : name + JSON.stringify(labels)
    return this.values.get(key)?.value ?? 0
  }

  /** Sum over every label set of `name`. */
  total(name: string): number {
    let t = 0
    for (const s of this.values.values()) if (s.name === name) t += s.value
    return t
  }

  snapshot(): CounterSample[] {
    return [...this.values.values()].map((s) => ({ name: s.name, labels: { ...s.labels }, value: s.value }))
  }
}

/** Counter names, shared by the code that counts and the sinks that export. */
export const C = {
  packets: 'capture_packets', // labels: none (per source where live: iface)
  captureDropped: 'capture_dropped',
  decodeSkipped: 'decode_skipped', // labels: reason (not_ip, not_tcp, ip_fragment, truncated, malformed)
  flowsCreated: 'flows_created',
  flowsEnded: 'flows_ended', // labels: reason
  flowsEvicted: 'flows_evicted',
  flowsActive: 'flows_active', // gauge
  tcpRetransmits: 'tcp_retransmitted_segments',
  tcpGaps: 'tcp_gaps',
  tcpGapBytes: 'tcp_gap_bytes',
  tcpOooDropped: 'tcp_out_of_order_dropped', // labels: reason (segments_cap, bytes_cap)
  parseErrors: 'parse_errors', // labels: protocol, reason
  unmatched: 'unmatched', // labels: protocol, side (request|response)
  capsHit: 'caps_hit', // labels: cap
  detectUnknown: 'flows_unknown_protocol',
  flowsEncrypted: 'flows_encrypted', // labels: protocol, kind (tls, gssenc)
  protocolSwitches: 'protocol_switches', // labels: from, to (an h2c Upgrade: http -> http2)
  exchanges: 'exchanges', // labels: protocol
  seriesDropped: 'series_dropped',
  sinkDropped: 'sink_dropped_points', // labels: sink
  // TCP health (tcp/health.ts), all ports; per endpoint in the podtap_tcp_* metrics
  tcpConnects: 'tcp_connect_results', // labels: result (ok, refused, unanswered)
  tcpResets: 'tcp_resets_seen', // labels: sender (client, server); connections ended by a RST
  tcpRstSegments: 'tcp_rst_segments_seen', // labels: sender (client, server); every RST segment
  tcpRetransmitsSeen: 'tcp_retransmits_seen', // labels: direction (c2s, s2c)
  tcpZeroWindows: 'tcp_zero_windows_seen', // labels: direction (c2s, s2c)
  tcpSynsUntracked: 'tcp_syns_untracked', // SYNs left out because the half-open list was full
} as const
