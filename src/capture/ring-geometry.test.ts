// --ring-blocks MiB as ring blocks: 256 KiB each, 1 MiB past the 4096-block cap, a given block size kept.
// What the geometry buys (a 1.5 s pause of podtap at a pod's packet rate, no drop) is tested live in
// test/integration/capture-ring-stall.test.ts.

import { describe, expect, it } from 'vitest'
import { RING_BLOCK_BYTES, ringGeometry } from './ring-geometry.js'

describe('ringGeometry', () => {
  it('cuts the ring into 256 KiB blocks and keeps its bytes', () => {
    expect(RING_BLOCK_BYTES).toBe(262_144)
    expect(ringGeometry(16)).toEqual({ blockSize: 262_144, blockCount: 64 })
    expect(ringGeometry(2)).toEqual({ blockSize: 262_144, blockCount: 8 })
    expect(ringGeometry(1024)).toEqual({ blockSize: 262_144, blockCount: 4096 })
  })

  it('uses 1 MiB blocks past 4096 blocks, and keeps a block size given', () => {
    expect(ringGeometry(4096)).toEqual({ blockSize: 1 << 20, blockCount: 4096 })
    expect(ringGeometry(16, 1 << 20)).toEqual({ blockSize: 1 << 20, blockCount: 16 })
  })
})
