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
