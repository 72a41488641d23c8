import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { endpointFirst, flowKey, flowKeyOf, parseFlowKey } from './flow-key.js'

describe('flowKey', () => {
  it('is the same for both directions', () => {
    expect(flowKey('10.0.0.1', 40000, '10.0.0.2', 80)).toBe(flowKey('10.0.0.2', 80, '10.0.0.1', 40000))
    expect(flowKey('10.0.0.1', 40000, '10.0.0.2', 80)).toBe('10.0.0.1 40000 10.0.0.2 80')
  })

  it('tells apart tuples that differ in one field only', () => {
    const base = flowKey('10.0.0.1', 1, '10.0.0.2', 2)
    expect(flowKey('10.0.0.1', 1, '10.0.0.2', 3)).not.toBe(base)
    expect(flowKey('10.0.0.1', 3, '10.0.0.2', 2)).not.toBe(base)
    expect(flowKey('10.0.0.3', 1, '10.0.0.2', 2)).not.toBe(base)
    // same address both ends (loopback): ports decide the order
    expect(flowKey('127.0.0.1', 5000, '127.0.0.1', 40000)).toBe(flowKey('127.0.0.1', 40000, '127.0.0.1', 5000))
    expect(flowKey('127.0.0.1', 5000, '127.0.0.1', 40000)).not.toBe(flowKey('127.0.0.1', 5001, '127.0.0.1', 40000))
  })

  it('keeps IPv6 text intact and parses back', () => {
    const k = flowKey('2001:db8::2', 443, '2001:db8::1', 50000)
    expect(parseFlowKey(k)).toEqual([
      { ip: '2001:db8::1', port: 50000 },
      { ip: '2001:db8::2', port: 443 },
    ])
    expect(flowKeyOf({ ip: '2001:db8::1', port: 50000 }, { ip: '2001:db8::2', port: 443 })).toBe(k)
  })

  it('is symmetric and injective on random tuples', () => {
    const ep = fc.tuple(fc.ipV4(), fc.integer({ min: 0, max: 65535 }))
    fc.assert(
      fc.property(ep, ep, ep, ep, ([a, ap], [b, bp], [c, cp], [d, dp]) => {
        expect(flowKey(a, ap, b, bp)).toBe(flowKey(b, bp, a, ap))
        const same = (a === c && ap === cp && b === d && bp === dp) || (a === d && ap === dp && b === c && bp === cp)
        expect(flowKey(a, ap, b, bp) === flowKey(c, cp, d, dp)).toBe(same)
        expect(endpointFirst(a, ap, b, bp) || endpointFirst(b, bp, a, ap)).toBe(true)
      }),
    )
  })
})
