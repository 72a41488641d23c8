import { describe, expect, it } from 'vitest'
import { isoMicros, latencyMs, toTraceRecord, truncateText } from './records.js'

describe('records', () => {
  it('formats times as ISO-8601 UTC with microseconds', () => {
    expect(isoMicros(1_700_000_000_123_456)).toBe('2023-11-14T22:13:20.123456Z')
    expect(isoMicros(0)).toBe('1970-01-01T00:00:00.000000Z')
    expect(isoMicros(1_000_001)).toBe('1970-01-01T00:00:01.000001Z')
  })
  it('gives latency in fractional ms', () => {
    expect(latencyMs({ startUs: 10, endUs: 1_510 })).toBe(1.5)
    expect(latencyMs({ startUs: 10, endUs: 5 })).toBe(0)
  })
  it('keeps DESIGN.md field order and omits an absent resource', () => {
    const base = { protocol: 'redis' as const, tls: false, flowId: 1, client: { ip: 'a', port: 1 }, server: { ip: 'b', port: 2 },
      method: 'GET', status: 'OK', error: false, startUs: 0, endUs: 1000, reqBytes: 1, respBytes: 2 }
    expect(Object.keys(toTraceRecord(base))).toEqual(['time', 'protocol', 'tls', 'client', 'server', 'method', 'status', 'error', 'latency_ms', 'request_bytes', 'response_bytes'])
    expect(Object.keys(toTraceRecord({ ...base, resource: '/x' }))).toContain('resource')
    expect(Object.keys(toTraceRecord({ ...base, resource: '/x' })).indexOf('resource')).toBe(6)
  })
  it('truncates text with an ellipsis', () => {
    expect(truncateText('abcdef', 4)).toBe('abc…')
    expect(truncateText('abc', 4)).toBe('abc')
  })
})

import fc from 'fast-check'
import { encodeTrace, traceJson, type Exchange, type Peer } from './records.js'

describe('traceJson', () => {
  it('is byte for byte JSON.stringify(toTraceRecord(e))', () => {
    const peer = fc.record({ ip: fc.oneof(fc.ipV4(), fc.ipV6()), port: fc.integer({ min: 0, max: 65535 }) }, { requiredKeys: ['ip', 'port'] })
    const richPeer = fc.tuple(peer, fc.option(fc.string(), { nil: undefined })).map(([p, pod]) => (pod === undefined ? p : { ...p, pod, namespace: 'ns"\\' }))
    fc.assert(
      fc.property(
        fc.record({
          protocol: fc.constantFrom('http' as const, 'redis' as const, 'mysql' as const),
          tls: fc.boolean(), flowId: fc.nat(), client: richPeer, server: peer,
          method: fc.string(), resource: fc.option(fc.string(), { nil: undefined }),
          status: fc.oneof(fc.constant(null), fc.integer({ min: 100, max: 599 }), fc.string()),
          error: fc.boolean(), startUs: fc.integer({ min: 0, max: 4e15 }), dur: fc.integer({ min: -5, max: 1e9 }),
          reqBytes: fc.nat(), respBytes: fc.nat(),
        }),
        (r) => {
          const { dur, resource, ...rest } = r
          const e = { ...rest, endUs: r.startUs + dur, ...(resource === undefined ? {} : { resource }) }
          expect(traceJson(e)).toBe(JSON.stringify(toTraceRecord(e)))
        },
      ),
      { numRuns: 2000 },
    )
  })
})

describe('encodeTrace', () => {
  // any text: ASCII, escapes, non-ASCII, lone surrogates
  const text = fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.string({ unit: 'grapheme' }), fc.constantFrom('/', 'GET', '/a"b\\c', 'x\u0000\u001f\u007f', 'é', '\ud800'))
  const num = fc.oneof(fc.nat(), fc.integer({ min: -1e6, max: 1e6 }), fc.maxSafeNat(), fc.constantFrom(2 ** 31 - 1, 2 ** 31, 1e15 - 1, 1e15, 2 ** 60, -0), fc.double())
  const peer = fc.record({ ip: fc.oneof(fc.ipV4(), fc.ipV6(), text), port: num }, { requiredKeys: ['ip', 'port'] })
  const richPeer = fc.tuple(peer, fc.option(text, { nil: undefined }), fc.option(fc.nat(), { nil: undefined })).map(([p, pod, pid]) => ({ ...p, ...(pod === undefined ? {} : { pod, namespace: 'ns"\\' }), ...(pid === undefined ? {} : { pid }) }))
  const exchange = fc
    .record({
      protocol: fc.constantFrom('http' as const, 'redis' as const, 'mysql' as const),
      tls: fc.boolean(), flowId: fc.nat(), client: richPeer, server: richPeer,
      method: text, resource: fc.option(text, { nil: undefined }),
      status: fc.oneof(fc.constant(null), fc.integer({ min: 100, max: 599 }), num, text),
      error: fc.oneof(fc.boolean(), fc.constant(null)), startUs: fc.oneof(fc.integer({ min: 0, max: 4e15 }), fc.double({ min: 0, max: 4e15, noNaN: true })),
      dur: fc.oneof(fc.integer({ min: -5, max: 1e9 }), fc.double({ min: -5, max: 1e12, noNaN: true }), fc.constant(1e18)),
      reqBytes: num, respBytes: num,
    })
    .map(({ dur, resource, ...rest }) => ({ ...rest, endUs: rest.startUs + dur, ...(resource === undefined ? {} : { resource }) }) as unknown as Exchange)

  it('writes the bytes of traceJson(e) and a newline, wherever in the buffer it starts', () => {
    const b = Buffer.alloc(1 << 16)
    fc.assert(
      fc.property(exchange, fc.nat(4096), (e, at) => {
        const end = encodeTrace(e, b, at)
        expect(end).toBeGreaterThan(at)
        expect(b.toString('utf8', at, end)).toBe(JSON.stringify(toTraceRecord(e)) + '\n')
      }),
      { numRuns: 5000 },
    )
  })

  it('a connection\'s peers, kept per connection, follow the Peer objects: shared, colliding slots, changed in place', () => {
    const b = Buffer.alloc(1 << 16)
    const conns = [0, 1, 1024, 2048, 5].map((flowId) => ({ flowId, client: { ip: `10.0.0.${flowId % 250}`, port: 40_000 + flowId } as Peer, server: { ip: '10.9.9.9', port: 80 } as Peer }))
    const got: string[] = []
    const want: string[] = []
    for (let i = 0; i < 200; i++) {
      const k = conns[(i * 7) % conns.length]!
      if (i === 60) k.client.port = 1 // an address changed in place
      if (i === 90) k.server.pod = 'web-0' // identity added in place
      if (i === 120) k.client = { ip: k.client.ip, port: k.client.port } // new Peer objects, same address
      const e = { protocol: 'http', tls: false, flowId: k.flowId, client: k.client, server: k.server, method: 'GET', resource: `/${i}`, status: 200, error: false, startUs: 1e15 + i, endUs: 1e15 + 2 * i, reqBytes: i, respBytes: i } as Exchange
      const end = encodeTrace(e, b, 0)
      got.push(b.toString('utf8', 0, end))
      want.push(JSON.stringify(toTraceRecord(e)) + '\n')
    }
    expect(got).toEqual(want)
  })

  it('declines (-1) a line that may not fit what is left of the buffer, writing nothing past it', () => {
    const e = { protocol: 'http', tls: false, flowId: 1, client: { ip: '10.0.0.1', port: 1 }, server: { ip: '10.0.0.2', port: 80 }, method: 'GET', resource: '/'.repeat(5000), status: 200, error: false, startUs: 1, endUs: 2, reqBytes: 1, respBytes: 2 } as Exchange
    const b = Buffer.alloc(8192)
    expect(encodeTrace(e, b, 0)).toBe(-1)
    expect(b.every((x) => x === 0)).toBe(true)
    const big = Buffer.alloc(1 << 16)
    const end = encodeTrace(e, big, 10)
    expect(big.toString('utf8', 10, end)).toBe(traceJson(e) + '\n')
  })

  it('throws where traceJson throws: a time no Date can hold', () => {
    const e = { protocol: 'http', tls: false, flowId: 1, client: { ip: '10.0.0.1', port: 1 }, server: { ip: '10.0.0.2', port: 80 }, method: 'GET', status: 200, error: false, startUs: NaN, endUs: 2, reqBytes: 1, respBytes: 2 } as Exchange
    expect(() => traceJson(e)).toThrow(RangeError)
    expect(() => encodeTrace(e, Buffer.alloc(4096), 0)).toThrow(RangeError)
  })
})
