// --links FILE: every ended connection as one JSON line (its l7_link record with TCP health), so a
// service map has its edges: who connected to whom, how the connect went, how long it lived, what
// it carried, and what TCP saw on the way (resets, retransmissions, zero windows, round trips).
//
//   {"time":"<end, ISO>","start":"<ISO>","flow_id":7,"client":{"ip":..,"port":..,"pod":..},"server":{..},
//    "protocol":"http","tls":false,"end_reason":"fin","duration_ms":12.3,"bytes_sent":..,"bytes_received":..,
//    "packets_sent":..,"packets_received":..,"connect":"ok","connect_ms":0.08,"reset":null,
//    "retransmits":{"c2s":0,"s2c":1},"zero_windows":{"c2s":0,"s2c":0},
//    "rtt_client_ms":{"samples":3,"min":0.05,"mean":0.06},"rtt_server_ms":{...}}
//
// connect: ok | refused | unanswered | unknown (joined mid-stream, or the capture ended first);
// reset: who sent a RST after the handshake, else null. Fields without TCP health (connections of
// the TLS plaintext tap) are left out. Identity fields (pod, namespace, workload...) are there when
// enrichment knows them (--k8s, --all-veth).

import { isoMicros, type LinkRecord } from '../records.js'
import type { RttStats } from '../tcp/health.js'
import { JsonlWriter } from './jsonl.js'

function ms(us: number): number {
  return Math.round(us) / 1000
}

function rtt(r: RttStats): { samples: number; min: number; mean: number } | null {
  return r.samples === 0 ? null : { samples: r.samples, min: ms(r.minUs as number), mean: ms(r.meanUs as number) }
}

/** The JSON line of one ended connection (without the newline). */
export function linkJson(l: LinkRecord): string {
  const t = l.tcp
  const o: Record<string, unknown> = {
    time: isoMicros(l.endUs),
    start: isoMicros(l.startUs),
    flow_id: l.flowId,
    client: l.client,
    server: l.server,
    protocol: l.protocol,
    tls: l.tls,
    end_reason: l.endReason,
    duration_ms: ms(Math.max(0, l.endUs - l.startUs)),
    bytes_sent: l.bytesSent,
    bytes_received: l.bytesReceived,
    packets_sent: l.packetsSent,
    packets_received: l.packetsReceived,
  }
  if (t !== undefined) {
    o.connect = t.connect
    o.connect_ms = t.connectUs === null ? null : ms(t.connectUs)
    o.reset = t.reset
    o.retransmits = t.retransmits
    o.zero_windows = t.zeroWindows
    o.rtt_client_ms = rtt(t.rttClient)
    o.rtt_server_ms = rtt(t.rttServer)
  }
  if (l.sni !== undefined) o.sni = l.sni
  return JSON.stringify(o)
}

/** The --links output: one line per ended connection, written in blocks (JsonlWriter). */
export class LinksSink {
  readonly name = 'links'
  private readonly w: JsonlWriter
  constructor(file: string) {
    this.w = new JsonlWriter(file)
  }
  get lines(): number {
    return this.w.lines
  }
  onLink(l: LinkRecord): void {
    this.w.writeLine(linkJson(l))
  }
  async close(): Promise<void> {
    await this.w.close()
  }
}
