import { describe, expect, it } from 'vitest'
import { Tombstones } from './tombstones.js'

/** a 4-tuple per name: 10.0.0.1:<port> <-> 10.0.0.2:80 */
const port = (k: string) => 1000 + k.charCodeAt(0)
const add = (t: Tombstones, k: string, us: number) => t.add('10.0.0.1', port(k), '10.0.0.2', 80, us)
const has = (t: Tombstones, k: string) => t.has('10.0.0.1', port(k), '10.0.0.2', 80)

describe('Tombstones', () => {
  it('finds a 4-tuple in either direction, not another address on the same ports', () => {
    const t = new Tombstones(100, 10)
    t.add('10.0.0.1', 40000, '10.0.0.2', 80, 0)
    expect(t.has('10.0.0.1', 40000, '10.0.0.2', 80)).toBe(true)
    expect(t.has('10.0.0.2', 80, '10.0.0.1', 40000)).toBe(true)
    expect(t.has('10.0.0.3', 40000, '10.0.0.2', 80)).toBe(false)
    expect(t.has('10.0.0.1', 40001, '10.0.0.2', 80)).toBe(false)
    // ports 81 and 56384 hash as 80 and 40000 do ((81 << 14) ^ 56384 === (80 << 14) ^ 40000): one chain
    t.add('10.0.0.1', 81, '10.0.0.2', 56384, 0)
    expect(t.has('10.0.0.1', 40000, '10.0.0.2', 80)).toBe(true)
    expect(t.has('10.0.0.2', 56384, '10.0.0.1', 81)).toBe(true)
    t.delete('10.0.0.1', 40000, '10.0.0.2', 80)
    expect([t.has('10.0.0.1', 40000, '10.0.0.2', 80), t.has('10.0.0.1', 81, '10.0.0.2', 56384)]).toEqual([false, true])
    expect(t.size).toBe(1)
  })

  it('forgets a 4-tuple lingerUs after its close, oldest first', () => {
    const t = new Tombstones(100, 10)
    add(t, 'a', 0)
    add(t, 'b', 5)
    t.expire(10)
    expect([has(t, 'a'), has(t, 'b')]).toEqual([true, true])
    t.expire(11)
    expect([has(t, 'a'), has(t, 'b')]).toEqual([false, true])
    t.expire(16)
    expect(t.size).toBe(0)
  })

  it('a 4-tuple closed again lives from its new close time; its older entry is skipped', () => {
    const t = new Tombstones(100, 10)
    add(t, 'a', 0)
    add(t, 'b', 1)
    add(t, 'a', 8)
    t.expire(12)
    expect([has(t, 'a'), has(t, 'b')]).toEqual([true, false])
    t.expire(19)
    expect(has(t, 'a')).toBe(false)
  })

  it('holds at most max 4-tuples, dropping the oldest close', () => {
    const t = new Tombstones(3, 1e9)
    for (const [i, k] of ['a', 'b', 'c', 'd', 'e'].entries()) add(t, k, i)
    expect(['a', 'b', 'c', 'd', 'e'].map((k) => has(t, k))).toEqual([false, false, true, true, true])
    expect(t.size).toBe(3)
  })

  it('deleted 4-tuples stay deleted; the ring grows past its first size and keeps order', () => {
    const t = new Tombstones(1e6, 1000)
    for (let i = 0; i < 5000; i++) t.add('10.0.0.1', 1000 + i, '10.0.0.2', 80, i)
    t.delete('10.0.0.2', 80, '10.0.0.1', 1000 + 4999)
    expect(t.has('10.0.0.1', 1000 + 4999, '10.0.0.2', 80)).toBe(false)
    t.expire(4000)
    expect(t.size).toBe(1999) // ports 4000 to 5998 (closed at 3000 to 4998)
    expect([t.has('10.0.0.1', 1000 + 2999, '10.0.0.2', 80), t.has('10.0.0.1', 1000 + 3000, '10.0.0.2', 80)]).toEqual([false, true])
  })

  it('one 4-tuple closed over and over does not grow the ring without bound', () => {
    const t = new Tombstones(10, 1e12)
    for (let i = 0; i < 100_000; i++) add(t, 's', i)
    expect(t.size).toBe(1)
    expect((t as unknown as { ring: unknown[] }).ring.length).toBeLessThanOrEqual(2048)
    t.expire(1e12 + 99_999)
    expect(has(t, 's')).toBe(true)
    t.expire(1e12 + 100_000)
    expect(has(t, 's')).toBe(false)
  })
})
