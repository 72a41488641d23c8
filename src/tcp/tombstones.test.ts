import { describe, expect, it } from 'vitest'
import { Tombstones } from './tombstones.js'

describe('Tombstones', () => {
  it('forgets a key lingerUs after its close, oldest first', () => {
    const t = new Tombstones(100, 10)
    t.add('a', 0)
    t.add('b', 5)
    t.expire(10)
    expect([t.has('a'), t.has('b')]).toEqual([true, true])
    t.expire(11)
    expect([t.has('a'), t.has('b')]).toEqual([false, true])
    t.expire(16)
    expect(t.size).toBe(0)
  })

  it('a key closed again lives from its new close time; its older entry is skipped', () => {
    const t = new Tombstones(100, 10)
    t.add('a', 0)
    t.add('b', 1)
    t.add('a', 8)
    t.expire(12)
    expect([t.has('a'), t.has('b')]).toEqual([true, false])
    t.expire(19)
    expect(t.has('a')).toBe(false)
  })

  it('holds at most max keys, dropping the oldest close', () => {
    const t = new Tombstones(3, 1e9)
    for (const [i, k] of ['a', 'b', 'c', 'd', 'e'].entries()) t.add(k, i)
    expect(['a', 'b', 'c', 'd', 'e'].map((k) => t.has(k))).toEqual([false, false, true, true, true])
    expect(t.size).toBe(3)
  })

  it('deleted keys stay deleted; the ring grows past its first size and keeps order', () => {
    const t = new Tombstones(1e6, 1000)
    for (let i = 0; i < 5000; i++) t.add(`k${i}`, i)
    t.delete('k4999')
    expect(t.has('k4999')).toBe(false)
    t.expire(4000)
    expect(t.size).toBe(1999) // k3000 to k4998
    expect([t.has('k2999'), t.has('k3000')]).toEqual([false, true])
  })

  it('one key closed over and over does not grow the ring without bound', () => {
    const t = new Tombstones(10, 1e12)
    for (let i = 0; i < 100_000; i++) t.add('same', i)
    expect(t.size).toBe(1)
    expect((t as unknown as { keys: unknown[] }).keys.length).toBeLessThanOrEqual(2048)
    t.expire(1e12 + 99_999)
    expect(t.has('same')).toBe(true)
    t.expire(1e12 + 100_000)
    expect(t.has('same')).toBe(false)
  })
})
