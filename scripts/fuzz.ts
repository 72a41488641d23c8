// npm run fuzz -- --runs N [--only http,redis,pipeline] [--seed S] [--input K: only input K of that run]
// Every parser and the whole pipeline with N mutated real-capture inputs each (test/helpers/fuzz-corpus.ts);
// prints inputs/s per target; exits 1 on any throw, hang or record outside the caps.

import { fuzzParser, fuzzPipeline, PARSERS, type FuzzResult } from '../test/helpers/fuzz-corpus.js'

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name)
  return i >= 0 ? process.argv[i + 1] : undefined
}

const runs = Number(arg('--runs') ?? 10_000)
const seed = Number(arg('--seed') ?? Date.now() % 0xffffffff)
const only = arg('--only')?.split(',')
/** replays one input of a run (its index, as a failure names it), for a parser target */
const input = arg('--input') === undefined ? undefined : Number(arg('--input'))
if (!Number.isInteger(runs) || runs < 1) {
  process.stderr.write('fuzz: --runs must be a positive integer\n')
  process.exit(2)
}
const targets = [...PARSERS.map((p) => p.id as string), 'pipeline'].filter((t) => only === undefined || only.includes(t))
let failed = false
process.stdout.write(`fuzz: ${runs} inputs per target, seed ${seed}\n`)
for (const t of targets) {
  const r: FuzzResult = t === 'pipeline' ? fuzzPipeline(runs, seed) : fuzzParser(PARSERS.find((p) => p.id === t)!, runs, seed, undefined, input)
  const rate = (r.inputs / r.ms) * 1000
  process.stdout.write(`${t.padEnd(10)} ${String(r.inputs).padStart(9)} inputs  ${(r.ms / 1000).toFixed(1).padStart(7)} s  ${Math.round(rate).toString().padStart(7)} inputs/s  ${r.exchanges} exchanges  ${r.failures.length ? `${r.failures.length}+ FAILURES` : 'ok'}\n`)
  for (const f of r.failures) process.stdout.write(`  ${f}\n`)
  if (r.failures.length) failed = true
}
process.exit(failed ? 1 : 0)
