// Terminal rendering of the summary (cli-table3): one row per server, protocol, method, resource, status,
// with how many distinct clients (addresses, or pods) it had.

import Table from 'cli-table3'
import type { Counters } from '../counters.js'
import { C } from '../counters.js'
import { MAX_CLIENTS_TRACKED, rowPercentiles, type Summary } from '../metrics/summary.js'

function ms(v: number): string {
  if (v === 0) return '-'
  return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)
}

/** request + response bytes (tls rows: the connection's encrypted bytes), decimal units */
function bytes(n: number): string {
  if (n < 1000) return String(n)
  const [v, u] = n < 1e6 ? [n / 1e3, 'k'] : n < 1e9 ? [n / 1e6, 'M'] : [n / 1e9, 'G']
  return (v >= 100 ? v.toFixed(0) : v.toFixed(1)) + u
}

export function renderSummary(summary: Summary, opts: { maxRows?: number; width?: number } = {}): string {
  const rows = summary.sortedRows()
  const maxRows = opts.maxRows ?? 200
  // the other columns take about 140 characters (more with long pod names); the resource gets the rest
  const resWidth = Math.max(16, Math.min(60, (opts.width ?? 200) - 140))
  const t = new Table({
    head: ['server', 'proto', 'method', 'resource', 'status', 'count', 'clients', 'errors', 'bytes', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms'],
    style: { head: [], border: [], compact: true },
    colAligns: ['left', 'left', 'left', 'left', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'right'],
  })
  for (const r of rows.slice(0, maxRows)) {
    const p = rowPercentiles(r)
    const res = r.resource.length > resWidth ? r.resource.slice(0, resWidth - 1) + '…' : r.resource
    const clients = r.clients.size >= MAX_CLIENTS_TRACKED ? `${MAX_CLIENTS_TRACKED}+` : r.clients.size
    t.push([r.server, r.protocol, r.method, res, r.status, r.count, clients, r.errors, bytes(r.reqBytes + r.respBytes), ms(p.p50), ms(p.p90), ms(p.p99), ms(p.max)])
  }
  let out = t.toString() + '\n'
  if (rows.length > maxRows) out += `… ${rows.length - maxRows} more rows (use --format jsonl for every exchange)\n`
  return out
}

export function renderTotals(summary: Summary, counters: Counters, extra: { packets: number; bytes: number; seconds: number }): string {
  const t = summary.totals
  const parseErrors = counters.total(C.parseErrors)
  const unmatched = sumWhere(counters, C.unmatched, 'side', 'response')
  const lines = [
    `${t.exchanges} exchanges on ${t.servers} server endpoints: ${t.errors} errors, ${t.unanswered} without response` +
      (t.tlsConnections > 0 ? `; ${t.tlsConnections} TLS connections not decrypted (proto tls: SNI as resource, version as method, handshake time as latency)` : ''),
    `${extra.packets} packets, ${(extra.bytes / 1e6).toFixed(1)} MB, ${counters.get(C.flowsCreated)} TCP connections` +
      ` (${counters.total(C.detectUnknown)} of unrecognised protocol), ${counters.get(C.tcpGaps)} gaps` +
      `, ${unmatched} responses without request, ${parseErrors} parse errors` +
      (extra.seconds > 0 ? `, in ${extra.seconds.toFixed(2)} s` : ''),
    tcpTotalsLine(counters),
  ]
  return lines.join('\n') + '\n'
}

/** TCP health of every connection, whatever its protocol (tcp/health.ts). */
export function tcpTotalsLine(counters: Counters): string {
  const by = (name: string, label: string, value: string): number => counters.get(name, { [label]: value })
  const ok = by(C.tcpConnects, 'result', 'ok')
  const refused = by(C.tcpConnects, 'result', 'refused')
  const unanswered = by(C.tcpConnects, 'result', 'unanswered')
  const untracked = counters.get(C.tcpSynsUntracked)
  return (
    `TCP: ${ok + refused + unanswered} connects (${ok} ok, ${refused} refused, ${unanswered} unanswered)` +
    `, ${counters.total(C.tcpResets)} resets (${by(C.tcpResets, 'sender', 'client')} by clients, ${by(C.tcpResets, 'sender', 'server')} by servers)` +
    `, ${counters.total(C.tcpRstSegments)} RST segments` +
    `, ${counters.total(C.tcpRetransmitsSeen)} retransmits (${by(C.tcpRetransmitsSeen, 'direction', 'c2s')} client to server, ${by(C.tcpRetransmitsSeen, 'direction', 's2c')} back)` +
    `, ${counters.total(C.tcpZeroWindows)} zero windows` +
    (untracked > 0 ? `, ${untracked} SYNs not tracked (half-open cap)` : '')
  )
}

function sumWhere(c: Counters, name: string, label: string, value: string): number {
  let n = 0
  for (const s of c.snapshot()) if (s.name === name && s.labels[label] === value) n += s.value
  return n
}
