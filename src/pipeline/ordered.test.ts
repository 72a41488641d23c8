import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { StartOrderBuffer } from './ordered.js'

describe('StartOrderBuffer', () => {
  it('releases in start order once the clock passes the horizon', () => {
    const out: number[] = []
    const b = new StartOrderBuffer<{ startUs: number }>((v) => out.push(v.startUs), 10, 100)
    b.push({ startUs: 5 })
    b.push({ startUs: 3 })
    b.push({ startUs: 4 })
    b.advance(14)
    expect(out).toEqual([3, 4])
    b.advance(15)
    expect(out).toEqual([3, 4, 5])
  })

  it('keeps equal start times in arrival order', () => {
    const out: string[] = []
    const b = new StartOrderBuffer<{ startUs: number; id: string }>((v) => out.push(v.id), 10, 100)
    for (const id of ['a', 'b', 'c']) b.push({ startUs: 1, id })
    b.flush()
    expect(out).toEqual(['a', 'b', 'c'])
  })

  it('never holds more than its cap, and counts what comes too late', () => {
    const out: number[] = []
    const b = new StartOrderBuffer<{ startUs: number }>((v) => out.push(v.startUs), 1e9, 2)
    b.push({ startUs: 10 })
    b.push({ startUs: 20 })
    b.push({ startUs: 30 }) // over the cap: 10 leaves
    expect(b.size).toBe(2)
    b.push({ startUs: 5 }) // older than what already left: out at once, counted
    expect(b.late).toBe(1)
    b.flush()
    expect(out).toEqual([10, 5, 20, 30])
  })

  it('sorts any input completely when horizon and cap are large', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 1000 })), (xs) => {
        const out: number[] = []
        const b = new StartOrderBuffer<{ startUs: number }>((v) => out.push(v.startUs), 1e9, 1e9)
        for (const x of xs) b.push({ startUs: x })
        b.flush()
        expect(out).toEqual([...xs].sort((a, c) => a - c))
      }),
    )
  })
})
