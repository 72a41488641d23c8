// The OpenTelemetry JS way to the same OTLP request: a ReadableSpan per exchange (sdk-trace-base's
// interface, explicit start and end times, @opentelemetry/resources) serialized by
// @opentelemetry/otlp-transformer. podtap encodes OTLP itself (src/sinks/otlp-encode.ts) because this
// path costs 1.6x the CPU per span; the tests use it as the reference the encoder must match, and
// bench/otlp-encode.ts measures both.

import type { Attributes as ApiAttributes, HrTime, SpanContext } from '@opentelemetry/api'
import { JsonTraceSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer'
import { resourceFromAttributes, type Resource } from '@opentelemetry/resources'
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base'
import type { SpanRecord } from '../../src/sinks/otlp-encode.js'
import { SCOPE, spanFields, type OtlpResource } from '../../src/sinks/otlp-span.js'

function hrTime(us: number): HrTime {
  const s = Math.floor(us / 1e6)
  return [s, Math.round((us - s * 1e6) * 1000)]
}

/** a tracestate passed through as received (the serializer only calls serialize()) */
class RawTraceState {
  constructor(private readonly raw: string) {}
  set(): RawTraceState { return this }
  unset(): RawTraceState { return this }
  get(): string | undefined { return undefined }
  serialize(): string { return this.raw }
}

const resources = new Map<OtlpResource, Resource>()

/** The ReadableSpan of one span record (OTel's SpanKind is OTLP's minus 1). */
export function readableSpan(s: SpanRecord): ReadableSpan {
  const f = spanFields(s.e, s.kind)
  let resource = resources.get(s.resource)
  if (resource === undefined) resources.set(s.resource, (resource = resourceFromAttributes(s.resource.attributes)))
  const ctx: SpanContext = { traceId: s.traceId, spanId: s.spanId, traceFlags: 1, isRemote: false }
  if (s.parent?.traceState !== undefined) ctx.traceState = new RawTraceState(s.parent.traceState)
  const end = Math.max(s.e.endUs, s.e.startUs)
  return {
    name: f.name,
    kind: s.kind - 1,
    spanContext: () => ctx,
    parentSpanContext: s.parent === null ? undefined : { traceId: s.traceId, spanId: s.parent.spanId, traceFlags: s.parent.sampled ? 1 : 0, isRemote: true },
    startTime: hrTime(s.e.startUs),
    endTime: hrTime(end),
    status: f.status,
    attributes: f.attributes as ApiAttributes,
    links: [],
    events: [],
    duration: hrTime(end - s.e.startUs),
    ended: true,
    resource,
    instrumentationScope: SCOPE,
    droppedAttributesCount: 0,
    droppedEventsCount: 0,
    droppedLinksCount: 0,
  }
}

export function referenceProtobuf(spans: SpanRecord[]): Uint8Array {
  return ProtobufTraceSerializer.serializeRequest(spans.map(readableSpan))!
}

export function referenceJson(spans: SpanRecord[]): Uint8Array {
  return JsonTraceSerializer.serializeRequest(spans.map(readableSpan))!
}
