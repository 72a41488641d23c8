// Shared by the output tests: replay the captures in test/pcaps/outputs through the real pipeline into
// callbacks (the way `podtap replay` feeds OutputHub), keeping what came out for the expectations.

import type { PodSample } from '../src/records.js'
import * as path from 'node:path'
import { C, Counters } from '../src/counters.js'
import type { LinkRecord } from '../src/records.js'
import { Pipeline, type PipelineOptions } from '../src/pipeline/pipeline.js'
import type { Exchange } from '../src/records.js'
import { feedCaptureFiles } from '../src/pipeline/replay-sync.js'

export const OUTPUT_PCAP_DIR = path.join(import.meta.dirname, 'pcaps', 'outputs')

/**
 * The captures of test/pcaps/outputs (HTTP/1.x and Redis; see PROVENANCE.md) in the order they were
 * recorded, 2012 to 2024, so that replaying them one after another keeps the capture clock moving forward.
 */
export function outputPcaps(): string[] {
  return [
    'zeek__methods.pcap', // 2012: scanner, many methods and 4xx
    'packetbeat__http_minitwit.pcap', // 2013: 200/304/404, HTTP/1.0 and 1.1
    'zeek__bro.org.pcap', // 2014: browser page load, 13 connections
    'suricata-verify__http-protocol-nodup__input.pcap', // 2020: 40 pipelined GETs
    'zeek__1000-requests-one-dropped-response.pcap', // 2023: 1000 requests on one connection, IPv6
    'zeek__bulk-loading.pcap', // 2024: 1000 pipelined Redis SETs
    'zeek__docker-http-upgrade.pcap', // 2024: keep-alive, 101 upgrade
    'zeek__redis-auth.pcap', // 2025: AUTH with a wrong password: Redis errors (the error panels need some)
  ].map((f) => path.join(OUTPUT_PCAP_DIR, f))
}

export interface Replayed {
  exchanges: Exchange[]
  links: LinkRecord[]
  /** the order the callbacks saw: exchanges and links interleaved as the pipeline emitted them */
  events: ({ kind: 'exchange'; e: Exchange } | { kind: 'link'; l: LinkRecord })[]
  counters: Counters
  packets: number
}

/** Replays `files` through a Pipeline whose exchanges and links go to `sink` as well. */
export function replayInto(
  files: string[],
  sink: { exchange?: (e: Exchange) => void; link?: (l: LinkRecord) => void; tcpOptions?: () => PipelineOptions['tcp'] },
  counters = new Counters(),
): Replayed {
  const out: Replayed = { exchanges: [], links: [], events: [], counters, packets: 0 }
  const pipeline = new Pipeline({
    counters,
    tcp: sink.tcpOptions?.(),
    onExchange: (e) => {
      out.exchanges.push(e)
      out.events.push({ kind: 'exchange', e })
      sink.exchange?.(e)
    },
    onLink: (l) => {
      out.links.push(l)
      out.events.push({ kind: 'link', l })
      sink.link?.(l)
    },
  })
  feedCaptureFiles(pipeline, files)
  pipeline.finish()
  // what the CLI does for the health counters (the pipeline counts packets in a field)
  counters.set(C.packets, pipeline.packets)
  out.packets = pipeline.packets
  return out
}

/** nearest-rank percentile (what an exact histogram answers), in µs as the RED histogram records them */
export function nearestRankUs(latenciesUs: number[], p: number): number {
  const s = [...latenciesUs].sort((a, b) => a - b)
  const rank = Math.max(1, Math.ceil((p / 100) * s.length))
  return s[rank - 1]
}

/** µs the RED histogram records for an exchange (records.ts latency, clamped to ≥ 1 µs) */
export function recordedUs(e: Exchange): number {
  return Math.max(1, Math.round(Math.max(0, e.endUs - e.startUs)))
}

/**
 * The RED window each exchange is counted in, following RedAggregator's rule: windows follow the
 * capture clock of exchanges (start) and links (end); a record older than the open window is counted
 * in the open window.
 */
export function redWindows(events: Replayed['events'], windowUs: number): Map<Exchange, number> {
  const m = new Map<Exchange, number>()
  let ws = -1
  const roll = (ts: number) => {
    if (ws < 0) ws = ts - (ts % windowUs)
    if (ts >= ws + windowUs) ws = ts - (ts % windowUs)
  }
  for (const ev of events) {
    if (ev.kind === 'exchange') {
      roll(ev.e.startUs)
      m.set(ev.e, ws)
    } else roll(ev.l.endUs)
  }
  return m
}

export function endpoint(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`
}

/**
 * One pod resource sample. A replay has no pods (the `pod` measurement needs --k8s, cgroups and veths:
 * test/integration/pod-stats.test.ts checks it for real); the dashboard tests feed this one so the pod
 * panels' queries have something to return.
 */
export function podSample(timeUs: number): PodSample {
  return {
    timeUs, namespace: 'shop', pod: 'web-0', uid: 'u-1', workload: 'web', node: 'node-a', podIp: '10.1.0.5',
    containerCnt: 1, processes: 2, intervalUs: 15e6, cpuPercent: 1.5, networkTx: 1000, networkRx: 2000,
    bytesRead: 0, bytesWrite: 4096, vmBytes: 1 << 20, rssBytes: 1 << 19, memoryUsageBytes: 1 << 20,
  }
}
