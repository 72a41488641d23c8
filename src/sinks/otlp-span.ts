// One exchange as one OpenTelemetry span (the OTLP output, sinks/otlp.ts), named and attributed by the
// current semantic conventions (@opentelemetry/semantic-conventions 1.45):
//
//   http, http2   http.request.method (_OTHER + http.request.method_original for unknown methods),
//                 http.response.status_code, url.path, url.scheme, url.full (client spans),
//                 network.protocol.version ('1.1', '2'), user_agent.original;
//                 name "{method} {path template}" (sinks/path-template.ts), status ERROR for 5xx on
//                 SERVER spans and 4xx/5xx on CLIENT spans
//   grpc          rpc.system.name=grpc, rpc.method "pkg.Service/Method", rpc.status_code "OK",
//                 "NOT_FOUND"...; name = rpc.method; status ERROR on SERVER spans for UNKNOWN,
//                 DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE, DATA_LOSS, on CLIENT spans
//                 for any code but OK
//   postgresql, mysql, redis, mongodb
//                 db.system.name, db.operation.name, db.query.text (SQL, normalized as in l7_trace),
//                 db.collection.name and db.namespace (MongoDB db.collection; the database of the
//                 connection's startup/handshake for SQL), db.response.status_code on errors;
//                 name "{operation} {collection}" or "{operation}"; status ERROR on errors
//   kafka, rocketmq
//                 messaging.system.name (and the older messaging.system, still read by most UIs),
//                 messaging.operation.name, messaging.operation.type (send, receive, settle where
//                 the operation is one of those), messaging.destination.name (topic);
//                 name "{operation} {topic}"; status ERROR on errors
//   every span    server.address (Host/:authority host, else server ip), server.port, client.address,
//                 client.port, network.peer.address/port (the other end of the observed socket),
//                 error.type on errors, podtap.tls when read through --tls or labelled tls;
//                 no response where one was expected: status ERROR, error.type "no_response"
//
// Kind: SERVER when the server end is observed (a pod of this node, a process podtap named), else
// CLIENT when the client end is; with neither known (replay, plain interfaces) SERVER for HTTP and
// gRPC and CLIENT for databases and brokers, which is how those spans are usually seen.
// Resource: the observed end (server for SERVER spans, client for CLIENT ones): service.name =
// workload, else the process (comm), else ip:port (server) or ip (client); k8s.pod.name,
// k8s.namespace.name, k8s.deployment.name (the workload), k8s.node.name, k8s.container.name or
// container.name, process.pid, process.executable.name.

import type { Exchange, Peer } from '../records.js'
import { templatePath } from './path-template.js'
import type { SpanParent } from './trace-context.js'

/** span kinds as OTLP numbers them (opentelemetry/proto/trace/v1/trace.proto SpanKind) */
export const KIND_SERVER = 2
export const KIND_CLIENT = 3
export type SpanKindNumber = typeof KIND_SERVER | typeof KIND_CLIENT
/** Status.code (trace.proto StatusCode) */
const STATUS_UNSET = 0
const STATUS_ERROR = 2

/** attribute values podtap writes: strings, whole numbers (int_value) and booleans */
export type AttrValue = string | number | boolean
export type Attributes = Record<string, AttrValue>

export interface SpanStatus {
  code: number
  message?: string
}

/** what a span says besides ids and times */
export interface SpanFields {
  name: string
  status: SpanStatus
  attributes: Attributes
}

/** a resource: its attributes, and (filled by the encoder) its encoded Resource message */
export interface OtlpResource {
  attributes: Attributes
  encoded?: Buffer
}

export const SCOPE = { name: 'podtap', version: '0.1.0' } as const

/** gRPC status names by code (https://grpc.github.io/grpc/core/md_doc_statuscodes.html) */
const GRPC_CODES = [
  'OK', 'CANCELLED', 'UNKNOWN', 'INVALID_ARGUMENT', 'DEADLINE_EXCEEDED', 'NOT_FOUND', 'ALREADY_EXISTS',
  'PERMISSION_DENIED', 'RESOURCE_EXHAUSTED', 'FAILED_PRECONDITION', 'ABORTED', 'OUT_OF_RANGE',
  'UNIMPLEMENTED', 'INTERNAL', 'UNAVAILABLE', 'DATA_LOSS', 'UNAUTHENTICATED',
] as const
/** codes that make a SERVER span an error (semconv gRPC "Span status") */
const GRPC_SERVER_ERRORS = new Set([2, 4, 12, 13, 14, 15])

/** http.request.method values the conventions know; others are _OTHER */
const HTTP_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH', 'QUERY'])

const DB_SYSTEMS: Record<string, string> = { postgresql: 'postgresql', mysql: 'mysql', redis: 'redis', mongodb: 'mongodb' }

/** the ids a span gets (from its parent's trace or fresh) */
export interface SpanIds {
  traceId: string
  spanId: string
  parent: SpanParent | null
}

/** The kind of the span of `e` (see the file comment); `localNode` is this podtap's k8s node. */
export function spanKind(e: Exchange, localNode: string | undefined): SpanKindNumber {
  if (observed(e.server, localNode)) return KIND_SERVER
  if (observed(e.client, localNode)) return KIND_CLIENT
  return e.protocol === 'http' || e.protocol === 'http2' || e.protocol === 'grpc' ? KIND_SERVER : KIND_CLIENT
}

function observed(p: Peer, localNode: string | undefined): boolean {
  if (p.pid !== undefined || p.comm !== undefined) return true
  if (p.pod === undefined) return false
  // pods of other nodes are known through EndpointSlices, but not captured here
  return localNode === undefined || p.node === undefined || p.node === localNode
}

/** Resources by identity: spans of one service share one resource (and its encoding). */
export class ResourceCache {
  private readonly byKey = new Map<string, OtlpResource>()
  constructor(private readonly max = 4096) {}

  of(p: Peer, isServer: boolean): OtlpResource {
    const key = `${p.workload ?? ''}|${p.namespace ?? ''}|${p.pod ?? ''}|${p.node ?? ''}|${p.container ?? ''}|${p.pid ?? ''}|${p.comm ?? ''}|${p.ip}|${isServer ? p.port : ''}`
    let r = this.byKey.get(key)
    if (r === undefined) {
      if (this.byKey.size >= this.max) this.byKey.clear()
      r = { attributes: resourceAttributes(p, isServer) }
      this.byKey.set(key, r)
    }
    return r
  }
}

export function resourceAttributes(p: Peer, isServer: boolean): Attributes {
  const a: Attributes = {
    'service.name': p.workload ?? p.comm ?? (isServer ? (p.ip.includes(':') ? `[${p.ip}]:${p.port}` : `${p.ip}:${p.port}`) : p.ip),
  }
  if (p.namespace !== undefined) a['k8s.namespace.name'] = p.namespace
  if (p.pod !== undefined) a['k8s.pod.name'] = p.pod
  if (p.workload !== undefined && p.pod !== undefined) a['k8s.deployment.name'] = p.workload
  if (p.node !== undefined) a['k8s.node.name'] = p.node
  if (p.container !== undefined) a[p.pod !== undefined ? 'k8s.container.name' : 'container.name'] = p.container
  if (p.pid !== undefined) a['process.pid'] = p.pid
  if (p.comm !== undefined) a['process.executable.name'] = p.comm
  return a
}

/** The name, status and attributes of the span of `e` (see the file comment). */
export function spanFields(e: Exchange, kind: SpanKindNumber): SpanFields {
  const attributes: Attributes = {}
  const { name, status } = describe(e, kind, attributes)
  return { name, status, attributes }
}

/** attributes into `a`; returns the span name and status */
function describe(e: Exchange, kind: SpanKindNumber, a: Attributes): { name: string; status: SpanStatus } {
  const host = e.attrs?.host
  a['server.address'] = host !== undefined ? hostOnly(host) : e.server.ip
  a['server.port'] = e.server.port
  a['client.address'] = e.client.ip
  a['client.port'] = e.client.port
  const peer = kind === KIND_SERVER ? e.client : e.server
  a['network.peer.address'] = peer.ip
  a['network.peer.port'] = peer.port
  if (e.tls) a['podtap.tls'] = true
  const noResponse = e.status === null && e.error === true
  let name: string
  let failed: boolean
  let errorType: string | undefined
  switch (e.protocol) {
    case 'http':
    case 'http2': {
      const m = HTTP_METHODS.has(e.method) ? e.method : '_OTHER'
      a['http.request.method'] = m
      if (m === '_OTHER') a['http.request.method_original'] = e.method
      if (typeof e.status === 'number') a['http.response.status_code'] = e.status
      const scheme = e.tls ? 'https' : 'http'
      a['url.scheme'] = scheme
      if (e.resource !== undefined) {
        a['url.path'] = e.resource
        if (kind === KIND_CLIENT) a['url.full'] = `${scheme}://${host ?? hostPort(e.server.ip, e.server.port)}${e.resource}`
      }
      const v = e.protocol === 'http2' ? '2' : e.attrs?.version?.startsWith('HTTP/') ? e.attrs.version.slice(5) : undefined
      if (v !== undefined) a['network.protocol.version'] = v
      if (e.attrs?.user_agent !== undefined) a['user_agent.original'] = e.attrs.user_agent
      name = m === '_OTHER' ? 'HTTP' : e.resource !== undefined ? `${m} ${templatePath(e.resource)}` : m
      const code = typeof e.status === 'number' ? e.status : 0
      failed = noResponse || code >= 500 || (kind === KIND_CLIENT && code >= 400)
      if (failed && !noResponse && code > 0) errorType = String(code)
      break
    }
    case 'grpc': {
      const method = e.method.startsWith('/') ? e.method.slice(1) : e.method
      a['rpc.system.name'] = 'grpc'
      a['rpc.method'] = method
      const code = typeof e.status === 'number' ? e.status : -1
      const codeName = code >= 0 ? (GRPC_CODES[code] ?? String(code)) : undefined
      if (codeName !== undefined) a['rpc.status_code'] = codeName
      name = method
      failed = noResponse || (code > 0 && (kind === KIND_CLIENT || GRPC_SERVER_ERRORS.has(code))) || (code < 0 && e.error === true)
      if (failed && codeName !== undefined) errorType = codeName
      break
    }
    case 'postgresql':
    case 'mysql':
    case 'redis':
    case 'mongodb': {
      a['db.system.name'] = DB_SYSTEMS[e.protocol]
      a['db.operation.name'] = e.method
      let collection: string | undefined
      let namespace = e.attrs?.db
      if (e.protocol === 'mongodb' && e.resource !== undefined) {
        const dot = e.resource.indexOf('.')
        namespace = dot < 0 ? e.resource : e.resource.slice(0, dot)
        if (dot >= 0) collection = e.resource.slice(dot + 1)
      } else if ((e.protocol === 'postgresql' || e.protocol === 'mysql') && e.resource !== undefined) {
        a['db.query.text'] = e.resource
      }
      if (collection !== undefined) a['db.collection.name'] = collection
      if (namespace !== undefined && namespace !== '') a['db.namespace'] = namespace
      name = collection !== undefined ? `${e.method} ${collection}` : e.method
      failed = e.error === true
      if (failed && e.status !== null) {
        a['db.response.status_code'] = String(e.status)
        errorType = String(e.status)
      }
      break
    }
    case 'kafka':
    case 'rocketmq': {
      a['messaging.system.name'] = e.protocol
      a['messaging.system'] = e.protocol
      a['messaging.operation.name'] = e.method
      const t = messagingOperationType(e.protocol, e.method)
      if (t !== undefined) a['messaging.operation.type'] = t
      if (e.resource !== undefined) a['messaging.destination.name'] = e.resource
      name = e.resource !== undefined ? `${e.method} ${e.resource}` : e.method
      failed = e.error === true
      if (failed && e.status !== null) errorType = String(e.status)
      break
    }
  }
  if (failed) a['error.type'] = noResponse ? 'no_response' : (errorType ?? '_OTHER')
  const status: SpanStatus = failed
    ? { code: STATUS_ERROR, message: noResponse ? 'no response' : e.status === null ? undefined : String(e.status) }
    : { code: STATUS_UNSET }
  return { name, status }
}

/** messaging.operation.type for the operations that are one of the conventions' types */
function messagingOperationType(protocol: string, method: string): string | undefined {
  if (protocol === 'kafka') {
    if (method === 'Produce') return 'send'
    if (method === 'Fetch' || method === 'ShareFetch') return 'receive'
    if (method === 'OffsetCommit' || method === 'ShareAcknowledge') return 'settle'
    return undefined
  }
  if (method.startsWith('SEND_') || method === 'SEND_MESSAGE') return 'send'
  if (method === 'PULL_MESSAGE' || method === 'POP_MESSAGE' || method === 'LITE_PULL_MESSAGE') return 'receive'
  if (method === 'ACK_MESSAGE' || method === 'UPDATE_CONSUMER_OFFSET' || method === 'CONSUMER_SEND_MSG_BACK' || method === 'CHANGE_MESSAGE_INVISIBLETIME') return 'settle'
  return undefined
}

/** host of a Host / :authority value (port and IPv6 brackets removed) */
function hostOnly(h: string): string {
  if (h.startsWith('[')) {
    const e = h.indexOf(']')
    return e > 0 ? h.slice(1, e) : h
  }
  const c = h.lastIndexOf(':')
  return c > 0 && h.indexOf(':') === c ? h.slice(0, c) : h
}

function hostPort(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`
}
