// Trace context headers a request carries, kept raw for the OTLP output (sinks/trace-context.ts
// parses them). Only these few names are looked at, and only requests that carry one of them pay for
// an object: no header map is built.
//
//   W3C Trace Context   traceparent, tracestate            https://www.w3.org/TR/trace-context/
//   Zipkin B3           b3 (single), X-B3-TraceId / X-B3-SpanId / X-B3-Sampled (multi)
//                                                          https://github.com/openzipkin/b3-propagation
//   Jaeger              uber-trace-id                      https://www.jaegertracing.io/docs/client-libraries/#propagation-format
//
// The same names travel as HTTP/1 header fields, HTTP/2 header fields and gRPC metadata.

export interface TraceHeaders {
  traceparent?: string
  tracestate?: string
  b3?: string
  b3TraceId?: string
  b3SpanId?: string
  b3Sampled?: string
  uberTraceId?: string
}

/** W3C asks vendors to propagate at least 512 characters of tracestate; longer values are not kept */
export const MAX_TRACE_HEADER_CHARS = 1024

/** lower-case header name -> TraceHeaders key */
const KEYS: Record<string, keyof TraceHeaders> = {
  traceparent: 'traceparent',
  tracestate: 'tracestate',
  b3: 'b3',
  'x-b3-traceid': 'b3TraceId',
  'x-b3-spanid': 'b3SpanId',
  'x-b3-sampled': 'b3Sampled',
  'uber-trace-id': 'uberTraceId',
}

/** The TraceHeaders key of a lower-case header name, or undefined when it is not a trace header. */
export function traceHeaderKey(lowerName: string): keyof TraceHeaders | undefined {
  return Object.prototype.hasOwnProperty.call(KEYS, lowerName) ? KEYS[lowerName] : undefined
}

/** Lower-case names of every trace header, for parsers that match names by length first. */
export const TRACE_HEADER_NAMES: readonly string[] = Object.keys(KEYS)

/**
 * Adds one header value (the first of a repeated field wins, except tracestate, whose repeated fields
 * form one list, W3C §3.3.1.1). Returns the object to keep (created on the first trace header).
 */
export function addTraceHeader(t: TraceHeaders | undefined, key: keyof TraceHeaders, value: string): TraceHeaders {
  const o = t ?? {}
  const old = o[key]
  if (value.length > MAX_TRACE_HEADER_CHARS) return o // no well-formed value is this long
  if (old === undefined) o[key] = value
  else if (key === 'tracestate' && old.length + value.length < MAX_TRACE_HEADER_CHARS) o[key] = `${old},${value}`
  return o
}
