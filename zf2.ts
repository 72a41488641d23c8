import { execFileSync } from 'node:child_process'
import * as fs from 'node:fs'
import { serialize } from 'bson'
import { decompressBody } from './src/protocols/mongodb/compression.js'
import { Rng } from './test/helpers/fuzz-corpus.js'
const doc = Buffer.from(serialize({ cursor: { firstBatch: Array.from({ length: 300 }, (_, i) => ({ _id: `status-${i}`, n: i })) }, ok: 1 }))
fs.writeFileSync('/tmp/harden/d.bin', doc)
for (const [name, z] of [['stdin', execFileSync('zstd', ['-q', '-c', '-19'], { input: doc })], ['file', execFileSync('zstd', ['-q', '-c', '-19', '/tmp/harden/d.bin'])]] as const) {
  const r = new Rng(7)
  let worst = 0, total = 0
  for (let i = 0; i < 10000; i++) {
    const b = Buffer.from(z)
    for (let k = 0, n = 1 + r.int(4); k < n; k++) b[r.int(b.length)] = r.int(256)
    const size = r.chance(0.5) ? doc.length : r.int(4 << 20)
    const t0 = performance.now()
    decompressBody(3, b, size, 4 << 20)
    const ms = performance.now() - t0
    total += ms
    worst = Math.max(worst, ms)
  }
  console.log(name, 'worst', worst.toFixed(1), 'ms, mean', (total / 10000).toFixed(2), 'ms')
}
