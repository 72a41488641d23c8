// Test helpers shared by every parser's tests: feed a scripted conversation to a parser whole, split at
// every offset, and one byte at a time (pg-protocol "split buffer" tests). Not used at run time.

import { DEFAULT_LIMITS, type Limits } from '../../src/config.js'
import type { Dir, EndReason } from '../../src/tcp/types.js'
import type { ParsedExchange, ParserContext, ProtocolParser } from '../../src/protocols/types.js'

export type Step =
  | { dir: Dir; data: Buffer | string; tsUs: number; peerAcked?: number }
  | { dir: Dir; gap: number; tsUs: number }
  | { end: EndReason; tsUs: number }

export interface RunResult {
  exchanges: ParsedExchange[]
  counts: Record<string, number>
  unmatchedResponses: number
}

/** how each data step is cut: 'whole', 'bytes' (1 byte a time), or a number: cut once at that offset */
export type Split = 'whole' | 'bytes' | number

export function runParser(
  parser: ProtocolParser,
  steps: Step[],
  split: Split = 'whole',
  limits: Partial<Limits> = {},
): RunResult {
  const exchanges: ParsedExchange[] = []
  const counts: Record<string, number> = {}
  let unmatchedResponses = 0
  const ctx: ParserContext = {
    emit: (e) => exchanges.push(structuredClone(e)),
    limits: { ...DEFAULT_LIMITS, ...limits },
    count: (reason, n = 1) => {
      counts[reason] = (counts[reason] ?? 0) + n
    },
    unmatchedResponse: (n = 1) => {
      unmatchedResponses += n
    },
  }
  const h = parser.create(ctx)
  let ended = false
  for (const s of steps) {
    if ('end' in s) {
      h.end(s.end, s.tsUs)
      ended = true
      continue
    }
    if ('gap' in s) {
      h.gap(s.dir, s.gap, s.tsUs)
      continue
    }
    const buf = typeof s.data === 'string' ? Buffer.from(s.data, 'latin1') : s.data
    const acked = s.peerAcked ?? -1
    for (const piece of cut(buf, split)) {
      // hand the parser a private copy it must not keep: then scribble over it, so a parser that
      // keeps a borrowed chunk past the call shows up as corrupted output
      const copy = Buffer.from(piece)
      h.data(s.dir, copy, s.tsUs, acked)
      copy.fill(0x5a)
    }
  }
  if (!ended) h.end('fin', steps.length ? (steps[steps.length - 1] as { tsUs: number }).tsUs : 0)
  return { exchanges, counts, unmatchedResponses }
}

function cut(buf: Buffer, split: Split): Buffer[] {
  if (split === 'whole' || buf.length <= 1) return [buf]
  if (split === 'bytes') {
    const out: Buffer[] = []
    for (let i = 0; i < buf.length; i++) out.push(buf.subarray(i, i + 1))
    return out
  }
  const k = Math.min(Math.max(split, 0), buf.length)
  return k === 0 || k === buf.length ? [buf] : [buf.subarray(0, k), buf.subarray(k)]
}

/** Every split of every step: whole, at each offset up to the longest step, and 1 byte at a time. */
export function allSplits(steps: Step[]): Split[] {
  let longest = 0
  for (const s of steps) if ('data' in s) longest = Math.max(longest, typeof s.data === 'string' ? s.data.length : s.data.length)
  const out: Split[] = ['whole', 'bytes']
  for (let k = 1; k < longest; k++) out.push(k)
  return out
}
