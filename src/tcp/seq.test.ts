import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { seqAdd, seqDiff, seqGt, seqGte, seqLt, seqLte, seqMax, seqMin } from './seq.js'

describe('seq arithmetic modulo 2^32', () => {
  it('diff is signed and wraps', () => {
    expect(seqDiff(5, 3)).toBe(2)
    expect(seqDiff(3, 5)).toBe(-2)
    expect(seqDiff(1, 0xffffffff)).toBe(2)
    expect(seqDiff(0xffffffff, 1)).toBe(-2)
    expect(seqDiff(0, 0x80000000)).toBe(-0x80000000) // exactly half way: taken as "before"
    expect(seqDiff(0x7fffffff, 0)).toBe(0x7fffffff)
  })

  it('add wraps to an unsigned value', () => {
    expect(seqAdd(0xffffffff, 1)).toBe(0)
    expect(seqAdd(0xfffffffe, 5)).toBe(3)
    expect(seqAdd(2, -3)).toBe(0xffffffff)
    expect(seqAdd(0, 0)).toBe(0)
  })

  it('comparisons follow the shorter way round', () => {
    expect(seqLt(0xfffffff0, 0x10)).toBe(true)
    expect(seqGt(0x10, 0xfffffff0)).toBe(true)
    expect(seqLte(7, 7)).toBe(true)
    expect(seqGte(7, 7)).toBe(true)
    expect(seqLt(7, 7)).toBe(false)
    expect(seqMax(0xfffffff0, 0x10)).toBe(0x10)
    expect(seqMin(0xfffffff0, 0x10)).toBe(0xfffffff0)
  })

  it('add then diff gives back the distance, anywhere on the circle', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: -0x7fffffff, max: 0x7fffffff }), (a, n) => {
        const b = seqAdd(a, n)
        expect(b).toBeGreaterThanOrEqual(0)
        expect(b).toBeLessThanOrEqual(0xffffffff)
        expect(seqDiff(b, a)).toBe(n)
        expect(seqLt(a, b)).toBe(n > 0)
      }),
    )
  })
})
