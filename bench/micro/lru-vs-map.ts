// IdMatcher (insertion-ordered Map, FIFO eviction) against lru-cache LRUCache doing the same work:
// put, take 8 later, look at the oldest every 16th; 2M operations, 7 interleaved rounds, medians.
import { LRUCache } from 'lru-cache'
import { IdMatcher } from '../../src/protocols/match.js'
const N = 2_000_000
function mapRun(): number {
  const m = new IdMatcher<number, object>(1024, () => {})
  const t0 = performance.now()
  let x = 0
  for (let i = 0; i < N; i++) {
    m.put(i, { i })
    if (i >= 8) x += m.take(i - 8) ? 1 : 0
    if ((i & 15) === 0) m.oldest()
  }
  return performance.now() - t0 + x * 0
}
function lruRun(): number {
  const m = new LRUCache<number, object>({ max: 1024, dispose: () => {} })
  const t0 = performance.now()
  let x = 0
  for (let i = 0; i < N; i++) {
    m.set(i, { i })
    if (i >= 8) { const r = m.get(i - 8); if (r) { m.delete(i - 8); x++ } }
    if ((i & 15) === 0) { for (const v of m.rvalues()) break }
  }
  return performance.now() - t0 + x * 0
}
const a: number[] = [], b: number[] = []
for (let k = 0; k < 7; k++) { a.push(mapRun()); b.push(lruRun()) }
a.sort((x, y) => x - y); b.sort((x, y) => x - y)
console.log(`IdMatcher (Map)  median ${a[3].toFixed(0)} ms per ${N} put+take  (${(a[3] * 1e6 / N).toFixed(0)} ns/op)`)
console.log(`LRUCache         median ${b[3].toFixed(0)} ms per ${N} put+take  (${(b[3] * 1e6 / N).toFixed(0)} ns/op)`)
