// Synchronous replay of capture files into arrays: for tests, goldens and benchmarks. The CLI uses
// cli/replay.ts, which streams instead of collecting.

import { openCaptureFile } from '../capture/pcap-file.js'
import type { Limits } from '../config.js'
import { Counters } from '../counters.js'
import type { Exchange } from '../records.js'
import type { LinkRecord } from '../records.js'
import { Pipeline } from './pipeline.js'

export interface ReplayCollected {
  exchanges: Exchange[]
  links: LinkRecord[]
  counters: Counters
  packets: number
}

export function replayFilesSync(files: string[], o: { limits?: Partial<Limits>; protocols?: string[] } = {}): ReplayCollected {
  const exchanges: Exchange[] = []
  const links: LinkRecord[] = []
  const counters = new Counters()
  const pipeline = new Pipeline({ counters, limits: o.limits, protocols: o.protocols, onExchange: (e) => exchanges.push(e), onLink: (l) => links.push(l) })
  feedCaptureFiles(pipeline, files)
  pipeline.finish()
  return { exchanges, links, counters, packets: pipeline.packets }
}

/** Every packet of `files`, in order, into `pipeline` (synchronously; finish() is the caller's). */
export function feedCaptureFiles(pipeline: Pipeline, files: string[]): void {
  for (const f of files) {
    const src = openCaptureFile(f)
    try {
      let p
      while ((p = src.nextRaw()) !== null) pipeline.packetRaw(p)
    } finally {
      src.close()
    }
  }
}
