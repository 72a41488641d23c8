// The short CI run of `npm run fuzz` (scripts/fuzz.ts, test/helpers/fuzz-corpus.ts): every parser
// and the whole pipeline with mutated real captures (flipped bytes, random splits, gaps, drops,
// duplicates, junk); no throw, no hang, every record inside the caps. The seed is printed, so a
// failure can be replayed with `npm run fuzz -- --seed S --runs N --only T`.

import { describe, expect, it } from 'vitest'
import { fuzzParser, fuzzPipeline, PARSERS } from './helpers/fuzz-corpus.js'

const SEED = Number(process.env.FUZZ_SEED ?? (Date.now() % 0xffffffff))

describe(`fuzz at scale, short run (seed ${SEED})`, () => {
  for (const p of PARSERS) {
    it(`${p.id}: 1000 mutated inputs`, () => {
      const r = fuzzParser(p, 1000, SEED)
      expect(r.failures).toEqual([])
      expect(r.exchanges).toBeGreaterThan(0)
    })
  }
  it('pipeline: 300 mutated captures', () => {
    const r = fuzzPipeline(300, SEED)
    expect(r.failures).toEqual([])
    expect(r.exchanges).toBeGreaterThan(0)
  }, 30_000)
})
