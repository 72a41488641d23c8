// OP_COMPRESSED decompression cost per codec (src/protocols/mongodb/compression.ts): a 100 kB BSON
// find reply compressed by each codec, decompressed 2000 times, 5 interleaved rounds, medians.
import { execFileSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import * as zlib from 'node:zlib'
import { serialize } from 'bson'
import { compress } from 'snappyjs'
import { decompressBody } from '../../src/protocols/mongodb/compression.js'

const doc = Buffer.from(serialize({ cursor: { id: 0n, ns: 'shop.orders', firstBatch: Array.from({ length: 1500 }, (_, i) => ({ _id: i, status: i % 3 ? 'open' : 'done', item: `sku-${i}`, qty: i * 7 })) }, ok: 1 }))
const TMP = path.join(os.tmpdir(), `podtap-bench-${process.pid}.bson`)
const bodies: [string, number, Buffer][] = [
  ['snappy (own)', 1, Buffer.from(compress(doc))],
  ['zlib (node:zlib)', 2, zlib.deflateSync(doc)],
  // from a file, as the drivers' one-shot compress writes it: single segment, content size in the header
  ['zstd (zstddec wasm)', 3, (fs.writeFileSync(TMP, doc), execFileSync('zstd', ['-q', '-c', '-3', TMP]))],
  ['zstd, streamed', 3, execFileSync('zstd', ['-q', '-c', '-3'], { input: doc })],
]
const N = 1000
const times = new Map<string, number[]>()
for (let round = 0; round < 5; round++) {
  for (const [name, id, body] of bodies) {
    const t0 = performance.now()
    for (let i = 0; i < N; i++) if (decompressBody(id, body, doc.length, 4 << 20) === null) throw new Error(name)
    const ms = performance.now() - t0
    times.set(name, [...(times.get(name) ?? []), ms])
  }
}
fs.rmSync(TMP, { force: true })
for (const [name, , body] of bodies) {
  const t = times.get(name)!.sort((a, b) => a - b)[2]!
  console.log(`${name.padEnd(18)} ${(body.length / 1024).toFixed(1)} kB -> ${(doc.length / 1024).toFixed(1)} kB: ${((t * 1000) / N).toFixed(0)} µs per message, ${((doc.length * N) / (t / 1000) / 1e6).toFixed(0)} MB/s out`)
}
