// Heap per idle keep-alive flow (issue 13): replays the first phase of a `make-flows.ts concurrent N`
// capture (every flow's handshake and first exchange: 5 packets a flow, none closed), then reads
// process.memoryUsage().heapUsed after a forced GC, against the same reading before the replay. The
// flows are idle parsed HTTP/1 connections at that point; the difference over N is bytes per flow.
// A benchmark print, not a test (memory goals are not asserted in CI).
//
//   usage: node --expose-gc --import tsx bench/flow-mem.ts capture.pcap N [--snapshot out.heapsnapshot]
//   (or on the build: node --expose-gc dist/... is not needed: tsx compiles the same sources)

import { writeHeapSnapshot } from 'node:v8'
import { openCaptureFile } from '../src/capture/pcap-file.js'
import { Pipeline } from '../src/pipeline/pipeline.js'

const gc = (globalThis as { gc?: () => void }).gc
if (gc === undefined) {
  console.error('run with node --expose-gc')
  process.exit(2)
}
const [path, nArg, flag, snapPath] = process.argv.slice(2)
const n = Number(nArg)
if (!path || !Number.isInteger(n) || n <= 0) {
  console.error('usage: node --expose-gc --import tsx bench/flow-mem.ts capture.pcap N [--snapshot out.heapsnapshot]')
  process.exit(2)
}

let exchanges = 0
const pipeline = new Pipeline({ onExchange: () => exchanges++ })
const src = openCaptureFile(path)
// warm up: the first flow's allocations (parsers, shared tables, code) are not per flow
let p = src.next()
for (let i = 0; i < 5 && p !== null; i++, p = src.next()) pipeline.packet(p)
gc()
gc()
const before = process.memoryUsage().heapUsed
let packets = 0
for (; p !== null && packets < 5 * (n - 1); p = src.next()) {
  pipeline.packet(p)
  packets++
}
gc()
gc()
const after = process.memoryUsage().heapUsed
// the pipeline is read after the measurement: otherwise it may be collected before it
const live = (pipeline as unknown as { flows: { size: number } }).flows.size
console.log(`${live} idle flows, ${exchanges} exchanges: ${((after - before) / (n - 1)).toFixed(0)} B heap per idle flow; rss ${(process.memoryUsage().rss / 1e6).toFixed(1)} MB`)
if (flag === '--snapshot' && snapPath) console.log('snapshot', writeHeapSnapshot(snapPath))
src.close()
