// Latency histograms: HdrHistogram (hdr-histogram-js) in microseconds, 2 significant digits (values
// within 1 %, as DDSketch-style tools report), 1 µs to 1 hour. Mergeable (add) and resettable, so
// windows and summaries share the code. Two layouts: 'fast' (32-bit buckets, ~14 KB, ~0.1 µs a
// record) for the few whole-run summary rows, 'compact' (packed, ~5 KB, ~0.5 µs a record) for the
// many series of aggregation windows, where memory matters more.

import type * as hdr from 'hdr-histogram-js'
// The two classes, not the package's index: the index also loads its WebAssembly build (a base64
// blob decoded at import), 15 MB of RSS in every podtap process for a build podtap never uses.
import { createRequire } from 'node:module'

export type LatencyHistogram = hdr.Histogram

const require = createRequire(import.meta.url)
// loaded with the first histogram (a replay to JSON lines makes none: ~12 CommonJS files less at start)
let classes: { Int32Histogram: typeof import('hdr-histogram-js/dist/Int32Histogram.js').default; PackedHistogram: typeof import('hdr-histogram-js/dist/PackedHistogram.js').default } | null = null
function histogramClasses(): NonNullable<typeof classes> {
  classes ??= {
    Int32Histogram: (require('hdr-histogram-js/dist/Int32Histogram.js') as typeof import('hdr-histogram-js/dist/Int32Histogram.js')).default,
    PackedHistogram: (require('hdr-histogram-js/dist/PackedHistogram.js') as typeof import('hdr-histogram-js/dist/PackedHistogram.js')).default,
  }
  return classes
}

const HOUR_US = 3_600_000_000

export function newLatencyHistogram(layout: 'fast' | 'compact' = 'compact'): LatencyHistogram {
  // what hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: HOUR_US,
  // numberOfSignificantValueDigits: 2, bitBucketSize: 32 | 'packed' }) makes, autoResize its default
  const { Int32Histogram, PackedHistogram } = histogramClasses()
  const h = layout === 'fast' ? new Int32Histogram(1, HOUR_US, 2) : new PackedHistogram(1, HOUR_US, 2)
  h.autoResize = true
  return h
}

/** Records a latency in µs, clamped to the histogram's range (0 → 1 µs, > 1 h → 1 h). */
export function recordUs(h: LatencyHistogram, us: number): void {
  h.recordValue(Math.min(HOUR_US, Math.max(1, Math.round(us))))
}

/** The p-th percentile (0-100) in milliseconds, 0 for an empty histogram. */
export function percentileMs(h: LatencyHistogram, p: number): number {
  // HdrHistogram answers with the top of the value's bucket; never report more than the true maximum
  return h.totalCount === 0 ? 0 : Math.min(h.getValueAtPercentile(p), h.maxValue) / 1000
}
