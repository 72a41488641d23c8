// `podtap replay FILE...`: capture files through the same pipeline live capture uses.

import { openCaptureFile } from '../capture/pcap-file.js'
import type { Limits } from '../config.js'
import { C, Counters } from '../counters.js'
import type { Summary } from '../metrics/summary.js'
import { Pipeline, type PipelineOptions } from '../pipeline/pipeline.js'
import type { Exchange } from '../records.js'
import { JsonlWriter } from '../sinks/jsonl.js'
import type * as TableModule from './table.js'
import type { LinkRecord } from '../records.js'
import { log } from '../log.js'

export interface ReplayOptions {
  format: 'table' | 'jsonl'
  summary: boolean
  protocols?: string[]
  /** also write every exchange as JSONL to this file */
  jsonlFile?: string
  limits?: Partial<Limits>
  progress: boolean
  /** extra consumers (outputs: InfluxDB, Prometheus, xlsx...) */
  onExchange?: (e: Exchange) => void
  onLink?: (l: LinkRecord) => void
  /** TCP health windows and knobs (Pipeline tcp) */
  tcp?: PipelineOptions['tcp']
  /** the health counters the outputs export (default: a fresh set) */
  counters?: Counters
}

export interface ReplayResult {
  /** null when nothing prints it (--format jsonl without --summary) */
  summary: Summary | null
  counters: Counters
  packets: number
  bytes: number
  seconds: number
  warnings: string[]
  pipeline: Pipeline
  /** the table renderer (cli-table3), loaded only when a summary is printed */
  table: typeof TableModule | null
}

/** packets between yields to the event loop (progress bar, async sinks) */
const BATCH = 20_000

export async function replay(files: string[], o: ReplayOptions): Promise<ReplayResult> {
  const t0 = performance.now()
  // the summary (hdr-histogram-js, cli-table3 behind it) only when something prints it
  const summary = o.format === 'table' || o.summary ? new (await import('../metrics/summary.js')).Summary() : null
  const table = summary !== null ? await import('./table.js') : null
  const counters = o.counters ?? new Counters()
  const stdoutJsonl = o.format === 'jsonl' ? new JsonlWriter('-') : null
  const fileJsonl = o.jsonlFile ? new JsonlWriter(o.jsonlFile) : null
  const warnings: string[] = []
  const pipeline = new Pipeline({
    counters,
    limits: o.limits,
    protocols: o.protocols,
    tcp: o.tcp,
    onExchange: (e) => {
      summary?.add(e)
      stdoutJsonl?.write(e)
      fileJsonl?.write(e)
      o.onExchange?.(e)
    },
    onLink: (l) => {
      summary?.addLink(l) // encrypted connections no parser read are rows of their own (proto tls)
      o.onLink?.(l)
    },
  })
  // open every file first: a bad file name fails before any output
  const sources = files.map((f) => openCaptureFile(f, { readAhead: true }))
  const totalBytes = sources.reduce((a, s) => a + s.bytesTotal, 0)
  const bar =
    o.progress && totalBytes > 8 * 1024 * 1024
      ? new (await import('cli-progress')).SingleBar({ format: 'replay [{bar}] {percentage}% | {value}/{total} MB | {exchanges} exchanges | eta {eta}s', stream: process.stderr, hideCursor: true, clearOnComplete: true }, undefined)
      : null
  bar?.start(Math.ceil(totalBytes / 1e6), 0, { exchanges: 0 })
  let doneBytes = 0
  try {
    for (const src of sources) {
      try {
        for (;;) {
          let n = 0
          let p
          while (n < BATCH && (p = src.nextRaw()) !== null) {
            pipeline.packetRaw(p)
            n++
          }
          bar?.update(Math.floor((doneBytes + src.bytesRead) / 1e6), { exchanges: pipeline.counters.total(C.exchanges) })
          // the next chunk was read meanwhile on the thread pool (pcap-file.ts read-ahead)
          if (src.needsRefill) {
            await src.refill()
            continue
          }
          if (n < BATCH) break
          await new Promise<void>((r) => setImmediate(r))
        }
        const tail = src.truncatedTail
        if (tail !== null) warnings.push(`${src.name}: the last record is cut short at byte offset ${tail}; everything before it was replayed`)
      } finally {
        doneBytes += src.bytesTotal
        src.close()
      }
    }
  } finally {
    bar?.stop()
    pipeline.finish()
    counters.set(C.packets, pipeline.packets)
  }
  await stdoutJsonl?.close()
  await fileJsonl?.close()
  const seconds = (performance.now() - t0) / 1000
  return { summary, counters, packets: pipeline.packets, bytes: pipeline.bytes, seconds, warnings, pipeline, table }
}

export function printReplayResult(r: ReplayResult, o: ReplayOptions): void {
  if (r.summary !== null && r.table !== null && (o.format === 'table' || o.summary)) {
    const out = o.format === 'table' ? process.stdout : process.stderr
    out.write(r.table.renderSummary(r.summary, { width: process.stdout.columns }))
    out.write(r.table.renderTotals(r.summary, r.counters, r))
  }
  for (const w of r.warnings) log.warn(w)
}
