// The capture loop of `podtap capture --k8s`, for tests that drive the k8s modules directly: packets
// from the MultiSource through K8sSession.accept into a Pipeline; exchanges and links through
// K8sSession.exchange/link into arrays.

import { MultiSource } from '../../src/capture/af-packet.js'
import type { Packet } from '../../src/capture/source.js'
import { Counters } from '../../src/counters.js'
import type { LinkRecord } from '../../src/records.js'
import { Pipeline } from '../../src/pipeline/pipeline.js'
import type { Exchange } from '../../src/records.js'

export interface Loop {
  multi: MultiSource
  pipeline: Pipeline
  counters: Counters
  exchanges: Exchange[]
  links: LinkRecord[]
  /** packets the accept filter refused */
  refused: number
  /** packets per ifindex that reached the pipeline */
  perIfindex: Map<number, number>
  /** sets the filters (the session exists only after the multi source does) */
  use(f: { accept(p: Packet): boolean; exchange(e: Exchange): boolean; link(l: LinkRecord): boolean }): void
  /** releases held exchanges (ends idle flows) up to now */
  flush(): void
  /** stops reading, ends every flow, closes the rings */
  stop(): Promise<void>
}

export function startLoop(): Loop {
  const counters = new Counters()
  const multi = new MultiSource()
  const exchanges: Exchange[] = []
  const links: LinkRecord[] = []
  let f: Parameters<Loop['use']>[0] | null = null
  const pipeline = new Pipeline({
    counters,
    orderHorizonUs: 500_000,
    onExchange: (e) => {
      if (f === null || f.exchange(e)) exchanges.push(e)
    },
    onLink: (l) => {
      if (f === null || f.link(l)) links.push(l)
    },
  })
  const loop: Loop = {
    multi,
    pipeline,
    counters,
    exchanges,
    links,
    refused: 0,
    perIfindex: new Map(),
    use: (x) => {
      f = x
    },
    flush: () => {
      drain()
      pipeline.tick(Date.now() * 1000)
    },
    stop: async () => {
      stopping = true
      await running
      drain()
      pipeline.finish()
      multi.close()
    },
  }
  const drain = (): void => {
    let p: Packet | null
    while ((p = multi.next()) !== null) {
      if (f !== null && !f.accept(p)) {
        loop.refused++
        continue
      }
      loop.perIfindex.set(p.ifindex, (loop.perIfindex.get(p.ifindex) ?? 0) + 1)
      pipeline.packet(p)
    }
  }
  let stopping = false
  const running = (async () => {
    while (!stopping) {
      drain()
      pipeline.tick(Date.now() * 1000)
      await multi.wait(50)
    }
  })()
  return loop
}

export async function until(what: string, f: () => boolean, timeoutMs = 10_000, everyMs = 20): Promise<void> {
  const end = Date.now() + timeoutMs
  while (!f()) {
    if (Date.now() > end) throw new Error(`timed out waiting for: ${what}`)
    await new Promise((r) => setTimeout(r, everyMs))
  }
}
