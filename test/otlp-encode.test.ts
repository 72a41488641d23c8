// podtap's OTLP encoders (src/sinks/otlp-encode.ts) against the OpenTelemetry JS serializers
// (@opentelemetry/otlp-transformer, fed ReadableSpans: test/helpers/otlp-reference.ts) on the exchanges
// of real captures of every protocol: both bodies decoded with the official opentelemetry-proto
// definitions (protobuf) or as JSON must give the same spans, field by field.

import * as path from 'node:path'
import * as semconv from '@opentelemetry/semantic-conventions/incubating'
import { describe, expect, it } from 'vitest'
import type { Exchange } from '../src/records.js'
import { encodeJson, encodeProtobuf, type SpanRecord } from '../src/sinks/otlp-encode.js'
import { KIND_CLIENT, KIND_SERVER, ResourceCache } from '../src/sinks/otlp-span.js'
import { decodeExportRequest } from './helpers/otlp-receiver.js'
import { referenceJson, referenceProtobuf } from './helpers/otlp-reference.js'
import { replayInto } from './outputs-helpers.js'

const PCAPS = path.join(import.meta.dirname, 'pcaps')
const FILES = [
  'http1/09-page-load-gap-in-body.pcap', 'http1/06-methods-scanner.pcap', 'http2/04-doh-34-posts-goaway.pcap', 'grpc/04-bidi-streaming.pcapng',
  'pgsql/11-errors-notice-scram.pcap', 'mysql/01-session.pcap', 'redis/04-resp3-attributes.pcap', 'mongo/03-legacy-shell-session.pcap',
  'kafka/09-librdkafka-nine-conns.pcapng', 'rocketmq/09-consumer-otel-gaps.pcap',
]

function records(): SpanRecord[] {
  const r = replayInto(FILES.map((f) => path.join(PCAPS, f)), {})
  const rc = new ResourceCache()
  return r.exchanges.map((e: Exchange, i) => {
    const kind = i % 3 === 0 ? KIND_CLIENT : KIND_SERVER
    const traceId = (i * 104729 + 1).toString(16).padStart(32, '0')
    const spanId = (i + 1).toString(16).padStart(16, 'a')
    // every fourth span has a parent from a request header, every eighth also a tracestate
    const parent = i % 4 === 0 ? { spanId: 'f'.repeat(15) + (i % 10), sampled: i % 8 === 0, ...(i % 8 === 0 ? { traceState: `rojo=${i},congo=t61` } : {}) } : null
    return { e, traceId, spanId, parent, kind, resource: rc.of(kind === KIND_SERVER ? e.server : { ...e.client, pod: i % 5 === 0 ? 'p-1' : undefined }, kind === KIND_SERVER) }
  })
}

describe('OTLP encoding matches the OpenTelemetry JS serializers', () => {
  const recs = records()

  it('covers every protocol', () => {
    expect(new Set(recs.map((r) => r.e.protocol))).toEqual(new Set(['http', 'http2', 'grpc', 'postgresql', 'mysql', 'redis', 'mongodb', 'kafka', 'rocketmq']))
    expect(recs.length).toBeGreaterThan(100)
  })

  it('every attribute name is one the semantic conventions define (@opentelemetry/semantic-conventions 1.45), except podtap.tls', async () => {
    const known = new Set(Object.entries(semconv).filter(([k]) => k.startsWith('ATTR_')).map(([, v]) => v as string))
    const spans = await decodeExportRequest(encodeProtobuf(recs), false)
    const names = new Set(spans.flatMap((s) => [...Object.keys(s.attributes), ...Object.keys(s.resource)]))
    expect(names.size).toBeGreaterThan(30)
    expect([...names].filter((n) => !known.has(n) && n !== 'podtap.tls')).toEqual([])
  })

  it('protobuf: the same spans, resources, ids, parents, times, flags, attributes and status', async () => {
    for (let i = 0; i < recs.length; i += 100) {
      const batch = recs.slice(i, i + 100)
      const ours = await decodeExportRequest(encodeProtobuf(batch), false)
      const ref = await decodeExportRequest(referenceProtobuf(batch), false)
      expect(ours.length).toBe(batch.length)
      expect(ours).toEqual(ref)
    }
  })

  it('JSON: the same spans', async () => {
    for (let i = 0; i < recs.length; i += 100) {
      const batch = recs.slice(i, i + 100)
      const ours = await decodeExportRequest(encodeJson(batch), true)
      const ref = await decodeExportRequest(referenceJson(batch), true)
      expect(ours).toEqual(ref)
    }
  })

  it('protobuf and JSON carry the same spans', async () => {
    const batch = recs.slice(0, 200)
    expect(await decodeExportRequest(encodeJson(batch), true)).toEqual(await decodeExportRequest(encodeProtobuf(batch), false))
  })

  it('a batch larger than the writer grows it; non-ASCII text and long values survive', async () => {
    const big = Array.from({ length: 3000 }, (_, i) => ({ ...recs[i % recs.length], e: { ...recs[i % recs.length].e, resource: i % 2 ? `/päth/${'x'.repeat(300 + i)}` : recs[i % recs.length].e.resource } }))
    const ours = await decodeExportRequest(encodeProtobuf(big), false)
    expect(ours).toEqual(await decodeExportRequest(referenceProtobuf(big), false))
  })
})
