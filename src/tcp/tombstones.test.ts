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
    // the same ports between other addresses: told apart by address
    t.add('10.0.0.3', 40000, '10.0.0.2', 80, 0)
    expect(t.has('10.0.0.1', 40000, '10.0.0.2', 80)).toBe(true)
    expect(t.has('10.0.0.2', 80, '10.0.0.3', 40000)).toBe(true)
    t.delete('10.0.0.1', 40000, '10.0.0.2', 80)
    expect([t.has('10.0.0.1', 40000, '10.0.0.2', 80), t.has('10.0.0.3', 40000, '10.0.0.2', 80)]).toEqual([false, true])
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

  it('at the cap the ring does not grow: the oldest close makes room (the same 4-tuples remembered)', () => {
    const t = new Tombstones(1024, 1e9)
    for (let i = 0; i < 5000; i++) t.add('10.0.0.1', 1000 + i, '10.0.0.2', 80, i)
    expect((t as unknown as { c: { n: number } }).c.n).toBe(1024)
    expect(t.size).toBe(1024)
    expect([t.has('10.0.0.1', 1000 + 3975, '10.0.0.2', 80), t.has('10.0.0.1', 1000 + 3976, '10.0.0.2', 80), t.has('10.0.0.1', 1000 + 4999, '10.0.0.2', 80)]).toEqual([false, true, true])
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
    expect((t as unknown as { c: { n: number } }).c.n).toBeLessThanOrEqual(2048)
    t.expire(1e12 + 99_999)
    expect(has(t, 's')).toBe(true)
    t.expire(1e12 + 100_000)
    expect(has(t, 's')).toBe(false)
  })

  it('agrees with a plain Map model through adds, deletes, expiry and the cap (few ports: many collisions)', () => {
    const t = new Tombstones(300, 50)
    const model = new Map<string, number>() // 4-tuple -> close time, in close order
    let seed = 7
    const rnd = (n: number) => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0
      return (seed >>> 8) % n
    }
    const ips = ['10.0.0.1', '10.0.0.2', '10.0.0.3']
    const key = (a: string, p: number, b: string, q: number) => `${a}:${p}-${b}:${q}`
    for (let now = 0; now < 20_000; now++) {
      const a = ips[rnd(3)] as string
      const b = ips[rnd(3)] as string
      const p = 1000 + rnd(40)
      const q = 80 + rnd(3)
      const op = rnd(10)
      const k = model.has(key(b, q, a, p)) ? key(b, q, a, p) : key(a, p, b, q)
      if (op < 6) {
        model.delete(k)
        model.set(key(a, p, b, q), now)
        while (model.size > 300) model.delete(model.keys().next().value as string)
        t.add(a, p, b, q, now)
      } else if (op < 8) {
        model.delete(k)
        t.delete(b, q, a, p)
      } else {
        for (const [mk, us] of model) {
          if (now - us <= 50) break
          model.delete(mk)
        }
        t.expire(now)
      }
      expect(t.size).toBe(model.size)
      expect(t.has(a, p, b, q)).toBe(model.has(key(a, p, b, q)) || model.has(key(b, q, a, p)))
    }
    for (const mk of model.keys()) {
      const [x, y] = mk.split('-') as [string, string]
      const [xi, xp] = x.split(':') as [string, string]
      const [yi, yp] = y.split(':') as [string, string]
      expect(t.has(yi, Number(yp), xi, Number(xp))).toBe(true)
    }
  })

  it('holds live connections beside closed ones: one find for either, a close turns the entry into a tombstone in place', () => {
    type Conn = { client: { ip: string; port: number }; server: { ip: string; port: number }; indexSlot: number }
    const t = new Tombstones<Conn>(200, 40)
    const live = new Map<string, Conn>()
    const closed = new Map<string, number>() // 4-tuple -> close time, in close order
    let seed = 11
    const rnd = (n: number) => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0
      return (seed >>> 8) % n
    }
    const ips = ['10.0.0.1', '10.0.0.2', '10.0.0.3', 'fd00::1']
    const key = (a: string, p: number, b: string, q: number) => (a + p < b + q ? `${a}:${p}-${b}:${q}` : `${b}:${q}-${a}:${p}`)
    for (let now = 0; now < 30_000; now++) {
      const a = ips[rnd(4)] as string
      const b = ips[rnd(4)] as string
      const p = 1000 + rnd(60)
      const q = 80 + rnd(2)
      const k = key(a, p, b, q)
      const op = rnd(10)
      // looked up from either side
      const at = rnd(2) === 0 ? t.find(a, p, b, q) : t.find(b, q, a, p)
      expect(at >= 0 ? t.liveAt(at) : null).toBe(live.get(k) ?? null)
      expect(at >= 0 && t.closedAt(at) !== null).toBe(closed.has(k))
      const c = live.get(k)
      if (op < 4 && c === undefined) {
        // a SYN: opens the 4-tuple (again)
        if (at >= 0) t.deleteClosedAt(at)
        closed.delete(k)
        const x: Conn = { client: { ip: a, port: p }, server: { ip: b, port: q }, indexSlot: -1 }
        t.addLive(x)
        live.set(k, x)
      } else if (op < 7 && c !== undefined) {
        // FIN/RST: closed at `now`
        const r = t.closeLive(c, now)
        expect(r).toMatchObject({ aIp: c.client.ip, aPort: c.client.port, bIp: c.server.ip, bPort: c.server.port })
        expect(c.indexSlot).toBe(-1)
        live.delete(k)
        closed.set(k, now)
        while (closed.size > 200) closed.delete(closed.keys().next().value as string)
      } else if (op < 8 && c !== undefined) {
        // idle, evicted
        t.removeLive(c)
        live.delete(k)
      } else if (op === 9) {
        for (const [mk, us] of closed) {
          if (now - us <= 40) break
          closed.delete(mk)
        }
        t.expire(now)
      }
      expect(t.size).toBe(closed.size)
    }
    for (const [k, c] of live) {
      const at = t.find(c.server.ip, c.server.port, c.client.ip, c.client.port)
      expect([k, t.liveAt(at)]).toEqual([k, c])
    }
    t.clear()
    expect([...live.values()].every((c) => c.indexSlot === -1)).toBe(true)
    expect(t.find('10.0.0.1', 1000, '10.0.0.2', 80)).toBe(-1)
  })

  it('keeps live entries through the growth of the ring and of the live slots', () => {
    type Conn = { client: { ip: string; port: number }; server: { ip: string; port: number }; indexSlot: number }
    for (const max of [1e6, 500]) {
      // 500: the ring's head moves (the cap drops the oldest closes) before the live slots grow
      const t = new Tombstones<Conn>(max, 1e9)
      const conns: Conn[] = []
      const closeOrder: Conn[] = []
      for (let i = 0; i < 6000; i++) {
        const x: Conn = { client: { ip: `10.1.${i >> 8}.${i & 255}`, port: 1024 + (i % 7) }, server: { ip: '10.0.0.80', port: 80 }, indexSlot: -1 }
        t.addLive(x)
        conns.push(x)
        if (i % 3 === 0) {
          t.closeLive(conns[i >> 1] as Conn, i)
          closeOrder.push(conns[i >> 1] as Conn)
        }
      }
      const remembered = new Set(closeOrder.slice(-max))
      for (const [i, x] of conns.entries()) {
        const at = t.find(x.server.ip, x.server.port, x.client.ip, x.client.port)
        if (x.indexSlot >= 0) expect(t.liveAt(at), `conn ${i}`).toBe(x)
        else if (remembered.has(x)) expect(t.closedAt(at), `conn ${i}`).toMatchObject({ aIp: x.client.ip, aPort: x.client.port })
        else expect(at, `conn ${i}`).toBe(-1)
      }
      expect(t.size).toBe(remembered.size)
    }
  })
})
