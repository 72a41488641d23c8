import { describe, expect, it } from 'vitest'
import { parentFrom, parseB3, parseTraceparent, parseUber } from './trace-context.js'

const TID = '4bf92f3577b34da6a3ce929d0e0e4736'
const SID = '00f067aa0ba902b7'

describe('W3C traceparent (https://www.w3.org/TR/trace-context/#traceparent-header)', () => {
  it('reads version 00 and later versions; sampled from bit 0 of the flags', () => {
    expect(parseTraceparent(`00-${TID}-${SID}-01`)).toEqual({ traceId: TID, spanId: SID, sampled: true })
    expect(parseTraceparent(` 00-${TID}-${SID}-00 `)).toEqual({ traceId: TID, spanId: SID, sampled: false })
    expect(parseTraceparent(`01-${TID}-${SID}-03-what-comes-later`)).toEqual({ traceId: TID, spanId: SID, sampled: true })
  })

  it('refuses what the spec calls invalid', () => {
    for (const bad of [
      '', 'garbage', `00-${TID}-${SID}`, `00-${TID}-${SID}-1`, `00-${TID.toUpperCase()}-${SID}-01`, `00-${'0'.repeat(32)}-${SID}-01`,
      `00-${TID}-${'0'.repeat(16)}-01`, `ff-${TID}-${SID}-01`, `00-${TID}-${SID}-01-extra`, `01-${TID}-${SID}-01x`, `0x-${TID}-${SID}-01`,
      `00_${TID}_${SID}_01`, `00-${TID.slice(1)}g-${SID}-01`,
    ]) expect(parseTraceparent(bad), bad).toBeNull()
  })
})

describe('B3 and Jaeger', () => {
  it('b3 single: 128- and 64-bit trace ids, the sampling state; a sampling-only header is no context', () => {
    expect(parseB3(`${TID}-${SID}-1`)).toEqual({ traceId: TID, spanId: SID, sampled: true })
    expect(parseB3(`a3ce929d0e0e4736-${SID}-d-${SID}`)).toEqual({ traceId: '0000000000000000a3ce929d0e0e4736', spanId: SID, sampled: true })
    expect(parseB3(`${TID}-${SID}`)).toEqual({ traceId: TID, spanId: SID, sampled: false })
    expect(parseB3('1')).toBeUndefined()
    expect(parseB3('0')).toBeUndefined()
    for (const bad of [`${TID}`, `${TID}-abc`, `${TID}-${SID}-x`, `${TID.slice(2)}-${SID}-1`, `${'0'.repeat(32)}-${SID}-1`]) expect(parseB3(bad), bad).toBeNull()
  })

  it('uber-trace-id: short ids padded, flags bit 0, URL-encoded colons', () => {
    expect(parseUber(`${TID}:${SID}:0:1`)).toEqual({ traceId: TID, spanId: SID, sampled: true })
    expect(parseUber('abc%3Adef%3A0%3A0')).toEqual({ traceId: '00000000000000000000000000000abc', spanId: '0000000000000def', sampled: false })
    for (const bad of ['abc:def:0', 'xyz:def:0:1', `${TID}:${SID}:0:zz`, `0:${SID}:0:1`]) expect(parseUber(bad), bad).toBeNull()
  })
})

describe('parentFrom', () => {
  it('W3C first with its tracestate; a malformed header is reported and the next format tried', () => {
    expect(parentFrom({ traceparent: `00-${TID}-${SID}-01`, tracestate: ' rojo=1,congo=2 ', b3: `${'1'.repeat(32)}-${'2'.repeat(16)}-1` })).toEqual({
      parent: { traceId: TID, spanId: SID, sampled: true, traceState: 'rojo=1,congo=2', format: 'w3c' },
      malformed: [],
    })
    expect(parentFrom({ traceparent: 'bogus', tracestate: 'rojo=1', uberTraceId: `${TID}:${SID}:0:1` })).toEqual({
      parent: { traceId: TID, spanId: SID, sampled: true, format: 'jaeger' },
      malformed: ['traceparent'],
    })
    expect(parentFrom({ b3TraceId: TID, b3SpanId: SID, b3Sampled: '1' }).parent).toEqual({ traceId: TID, spanId: SID, sampled: true, format: 'b3' })
    expect(parentFrom({ traceparent: `00-${TID}-${SID}-0`, b3TraceId: TID, uberTraceId: 'x' })).toEqual({ parent: null, malformed: ['traceparent', 'b3', 'uber-trace-id'] })
    expect(parentFrom({ tracestate: 'rojo=1' })).toEqual({ parent: null, malformed: [] })
  })
})
