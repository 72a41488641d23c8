// The parent of a podtap span, read from the trace headers a request carried (protocols/trace-headers.ts).
//
//   W3C traceparent  version "-" trace-id (32 hex) "-" parent-id (16 hex) "-" trace-flags (2 hex)
//                    https://www.w3.org/TR/trace-context/#traceparent-header ; lower case only, all-zero
//                    ids invalid, version ff invalid, a later version may append "-..." fields.
//                    tracestate is kept as sent, only beside a valid traceparent (§3.3).
//   B3 single        {TraceId}-{SpanId}[-{SamplingState}[-{ParentSpanId}]]; TraceId 16 or 32 hex
//   B3 multi         X-B3-TraceId, X-B3-SpanId, X-B3-Sampled
//   uber-trace-id    {trace-id}:{span-id}:{parent-span-id}:{flags} (hex, leading zeros may be left out;
//                    ':' may come URL-encoded as %3A)
//
// W3C wins when several are present and valid. A malformed header is ignored (never propagated) and
// reported, and the next format is tried; with none valid the span starts a fresh trace with no parent.

import type { TraceHeaders } from '../protocols/trace-headers.js'

export interface SpanParent {
  /** 32 lower-case hex digits, not all zero */
  traceId: string
  /** 16 lower-case hex digits, not all zero: the caller's span, which becomes the parent */
  spanId: string
  /** the caller recorded this trace (W3C sampled flag, B3 1 or d, Jaeger flag bit 0) */
  sampled: boolean
  /** W3C tracestate as sent */
  traceState?: string
  format: 'w3c' | 'b3' | 'jaeger'
}

export type TraceHeaderFormat = 'traceparent' | 'b3' | 'uber-trace-id'

export interface ParentResult {
  parent: SpanParent | null
  /** formats that were present but malformed (ignored) */
  malformed: TraceHeaderFormat[]
}

const ZERO32 = '00000000000000000000000000000000'

/** n lower-case hex digits exactly */
function isHex(s: string, n: number): boolean {
  if (s.length !== n) return false
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i)
    if (!((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66))) return false
  }
  return true
}

function isZero(s: string): boolean {
  return ZERO32.startsWith(s)
}

/** W3C traceparent, or null when malformed */
export function parseTraceparent(v: string): Omit<SpanParent, 'format'> | null {
  const t = v.trim()
  if (t.length < 55 || t.charCodeAt(2) !== 0x2d || t.charCodeAt(35) !== 0x2d || t.charCodeAt(52) !== 0x2d) return null
  const version = t.slice(0, 2)
  if (!isHex(version, 2) || version === 'ff') return null
  // version 00 is exactly 55 characters; a later version may add fields after another '-'
  if (version === '00' ? t.length !== 55 : t.length > 55 && t.charCodeAt(55) !== 0x2d) return null
  const traceId = t.slice(3, 35)
  const spanId = t.slice(36, 52)
  const flags = t.slice(53, 55)
  if (!isHex(traceId, 32) || !isHex(spanId, 16) || !isHex(flags, 2) || isZero(traceId) || isZero(spanId)) return null
  return { traceId, spanId, sampled: (parseInt(flags, 16) & 1) === 1 }
}

/** a B3 or Jaeger id: `n` or fewer hex digits (either case), left-padded to `n`; null when not an id */
function paddedId(s: string, max: number, min: number): string | null {
  const l = s.toLowerCase()
  if (l.length < min || l.length > max || !isHex(l, l.length) || isZero(l)) return null
  return l.padStart(max, '0')
}

function b3Sampled(s: string | undefined): boolean {
  return s === '1' || s === 'd' || s === 'true'
}

/** B3 single header; undefined when it carries only a sampling decision (no context, not malformed) */
export function parseB3(v: string): Omit<SpanParent, 'format'> | null | undefined {
  const t = v.trim()
  if (t === '0' || t === '1' || t === 'd') return undefined
  const parts = t.split('-')
  if (parts.length < 2 || parts.length > 4) return null
  if (parts[0].length !== 16 && parts[0].length !== 32) return null
  const traceId = paddedId(parts[0], 32, 16)
  const spanId = parts[1].length === 16 ? paddedId(parts[1], 16, 16) : null
  if (traceId === null || spanId === null) return null
  if (parts.length >= 3 && !['0', '1', 'd'].includes(parts[2])) return null
  return { traceId, spanId, sampled: b3Sampled(parts[2]) }
}

/** Jaeger uber-trace-id */
export function parseUber(v: string): Omit<SpanParent, 'format'> | null {
  const parts = v.trim().replace(/%3a/gi, ':').split(':')
  if (parts.length !== 4) return null
  const traceId = paddedId(parts[0], 32, 1)
  const spanId = paddedId(parts[1], 16, 1)
  const flags = parseInt(parts[3], 16)
  if (traceId === null || spanId === null || !/^[0-9a-fA-F]{1,2}$/.test(parts[3])) return null
  return { traceId, spanId, sampled: (flags & 1) === 1 }
}

/** The span's parent from the request's trace headers (see the file comment for the order). */
export function parentFrom(t: TraceHeaders): ParentResult {
  const malformed: TraceHeaderFormat[] = []
  if (t.traceparent !== undefined) {
    const p = parseTraceparent(t.traceparent)
    if (p !== null) {
      const ts = t.tracestate?.trim()
      return { parent: { ...p, ...(ts ? { traceState: ts } : {}), format: 'w3c' }, malformed }
    }
    malformed.push('traceparent')
  }
  if (t.b3 !== undefined) {
    const p = parseB3(t.b3)
    if (p === null) malformed.push('b3')
    else if (p !== undefined) return { parent: { ...p, format: 'b3' }, malformed }
  } else if (t.b3TraceId !== undefined || t.b3SpanId !== undefined) {
    const traceId = t.b3TraceId !== undefined && (t.b3TraceId.length === 16 || t.b3TraceId.length === 32) ? paddedId(t.b3TraceId.trim(), 32, 16) : null
    const spanId = t.b3SpanId !== undefined ? paddedId(t.b3SpanId.trim(), 16, 16) : null
    if (traceId !== null && spanId !== null) return { parent: { traceId, spanId, sampled: b3Sampled(t.b3Sampled?.trim()), format: 'b3' }, malformed }
    malformed.push('b3')
  }
  if (t.uberTraceId !== undefined) {
    const p = parseUber(t.uberTraceId)
    if (p !== null) return { parent: { ...p, format: 'jaeger' }, malformed }
    malformed.push('uber-trace-id')
  }
  return { parent: null, malformed }
}
