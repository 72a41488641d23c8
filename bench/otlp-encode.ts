// `perf stat -e instructions:u npx tsx bench/otlp-encode.ts FILE MODE`: the cost of turning exchanges
// into OTLP request bodies, by instruction count (timings are noise on a shared machine).
//   MODE none         replay the capture and build the span records only (the baseline)
//        fields       + name, status and attributes of each span (otlp-span.ts spanFields), shared by all
//        otel         + a ReadableSpan each and @opentelemetry/otlp-transformer's protobuf serializer
//        otel-json    + the same with its JSON serializer
//        podtap       + src/sinks/otlp-encode.ts encodeProtobuf
//        podtap-json  + encodeJson
// (MODE - none) / spans = instructions per span. Batches of 1024 spans, as OtlpSink sends them.

import { Counters } from '../src/counters.js'
import { Pipeline } from '../src/pipeline/pipeline.js'
import { feedCaptureFiles } from '../src/pipeline/replay-sync.js'
import { encodeJson, encodeProtobuf, type SpanRecord } from '../src/sinks/otlp-encode.js'
import { KIND_SERVER, ResourceCache, spanFields } from '../src/sinks/otlp-span.js'
import { referenceJson, referenceProtobuf } from '../test/helpers/otlp-reference.js'

const [file, mode = 'none'] = process.argv.slice(2)
const recs: SpanRecord[] = []
const rc = new ResourceCache()
let n = 0
const p = new Pipeline({
  counters: new Counters(),
  onExchange: (e) => {
    n++
    recs.push({ e, traceId: (n * 7919).toString(16).padStart(32, '0'), spanId: n.toString(16).padStart(16, '1'), parent: null, kind: KIND_SERVER, resource: rc.of(e.server, true) })
  },
})
feedCaptureFiles(p, [file])
p.finish()
const fieldsOnly = (batch: SpanRecord[]) => {
  let n = 0
  for (const r of batch) n += spanFields(r.e, r.kind).name.length
  return { length: n }
}
const enc = { none: null, fields: fieldsOnly, otel: referenceProtobuf, 'otel-json': referenceJson, podtap: encodeProtobuf, 'podtap-json': encodeJson }[mode]
if (enc === undefined) throw new Error(`mode ${mode}?`)
let bytes = 0
if (enc !== null) for (let i = 0; i < recs.length; i += 1024) bytes += enc(recs.slice(i, i + 1024)).length
console.log(`${mode}: ${recs.length} spans, ${bytes} bytes`)
