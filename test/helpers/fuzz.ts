// The random-input arbitrary every parser's fuzz test shares: up to 30 chunks of random bytes in either
// direction, some after a gap (lost bytes, or -1: unknown, as at a mid-stream start).

import fc from 'fast-check'
import type { Step } from './protocols.js'

export function randomSteps(maxChunkBytes: number): fc.Arbitrary<Step[]> {
  return fc
    .array(
      fc.record({
        dir: fc.constantFrom('c2s' as const, 's2c' as const),
        data: fc.uint8Array({ maxLength: maxChunkBytes }),
        gap: fc.option(fc.integer({ min: -1, max: 300 }), { freq: 4 }),
      }),
      { maxLength: 30 },
    )
    .map((chunks) =>
      chunks.flatMap((x, i): Step[] => {
        const d: Step = { dir: x.dir, data: Buffer.from(x.data), tsUs: i }
        return x.gap === null ? [d] : [{ dir: x.dir, gap: x.gap, tsUs: i }, d]
      }),
    )
}
