// The byte-split check every parser's tests run (STYLE.md "Every framed test also runs split at each
// offset and in 1-byte chunks"): the same conversation whole, cut at every offset, and one byte at a
// time must give the same result. Which parts of the result must agree is the caller's choice.

import { expect } from 'vitest'
import type { Limits } from '../../src/config.js'
import { allSplits, runParser, type RunResult, type Step } from './protocols.js'
import type { ProtocolParser } from '../../src/protocols/types.js'

export function checkSplits(
  parser: ProtocolParser,
  steps: Step[],
  limits: Partial<Limits> = {},
  compare: readonly (keyof RunResult)[] = ['exchanges', 'counts', 'unmatchedResponses'],
): RunResult {
  const whole = runParser(parser, steps, 'whole', limits)
  for (const split of allSplits(steps)) {
    const r = runParser(parser, steps, split, limits)
    for (const k of compare) expect(r[k], `${k}, split ${split}`).toEqual(whole[k])
  }
  return whole
}
