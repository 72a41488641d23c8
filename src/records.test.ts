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
import { traceJson } from './records.js'

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
