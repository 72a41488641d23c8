// Where the OTLP output sends spans and how (sinks/otlp.ts), from the flags and the environment, as
// the OTel exporter spec says (https://opentelemetry.io/docs/specs/otel/protocol/exporter/). Kept apart
// from the output so that checking the flags loads no exporter.

import { UsageError } from '../errors.js'

export type OtlpProtocol = 'http/protobuf' | 'http/json'

export interface OtlpConfig {
  /** the traces URL requests go to (…/v1/traces) */
  url: string
  protocol: OtlpProtocol
  headers: Record<string, string>
  timeoutMs: number
  compression: 'gzip' | 'none'
}

export interface OtlpFlags {
  otlpEndpoint?: string
  otlpProtocol?: string
  otlpSample?: number
  otlpSlowMs?: number
}

/** the OpenTelemetry environment variables this configuration reads (a deployment may set them) */
export const OTLP_ENV_VARS = [
  'OTEL_EXPORTER_OTLP_ENDPOINT', 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', 'OTEL_EXPORTER_OTLP_PROTOCOL', 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL',
  'OTEL_EXPORTER_OTLP_HEADERS', 'OTEL_EXPORTER_OTLP_TRACES_HEADERS', 'OTEL_EXPORTER_OTLP_TIMEOUT', 'OTEL_EXPORTER_OTLP_TRACES_TIMEOUT',
  'OTEL_EXPORTER_OTLP_COMPRESSION', 'OTEL_EXPORTER_OTLP_TRACES_COMPRESSION', 'OTEL_SDK_DISABLED',
] as const

const TRACES_PATH = '/v1/traces'

/** base endpoint + /v1/traces, as the spec says for OTEL_EXPORTER_OTLP_ENDPOINT */
function tracesUrl(base: string): string {
  return base.endsWith('/') ? base + TRACES_PATH.slice(1) : base + TRACES_PATH
}

/**
 * The OTLP configuration from the flags and the environment, or null when no endpoint is set anywhere
 * (or OTEL_SDK_DISABLED=true and no flag). Bad values are a UsageError naming the flag or variable.
 */
export function resolveOtlpConfig(f: OtlpFlags, env: NodeJS.ProcessEnv, log: (m: string) => void): OtlpConfig | null {
  const nonEmpty = (k: string) => (env[k] !== undefined && env[k]!.trim() !== '' ? env[k]!.trim() : undefined)
  let url: string
  let source: string
  if (f.otlpEndpoint !== undefined) {
    source = '--otlp-endpoint'
    url = f.otlpEndpoint.replace(/\/+$/, '').endsWith(TRACES_PATH) ? f.otlpEndpoint : tracesUrl(f.otlpEndpoint)
  } else {
    if (nonEmpty('OTEL_SDK_DISABLED')?.toLowerCase() === 'true') return null
    const t = nonEmpty('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT')
    const b = nonEmpty('OTEL_EXPORTER_OTLP_ENDPOINT')
    if (t !== undefined) [url, source] = [t, 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT']
    else if (b !== undefined) [url, source] = [tracesUrl(b), 'OTEL_EXPORTER_OTLP_ENDPOINT']
    else return null
  }
  let u: URL
  try {
    u = new URL(url)
  } catch {
    throw new UsageError(`${source} ${url} is not a URL; expected e.g. http://otel-collector:4318`)
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new UsageError(`${source} ${url}: only http:// and https:// are supported (OTLP/HTTP)`)
  const p = f.otlpProtocol ?? nonEmpty('OTEL_EXPORTER_OTLP_TRACES_PROTOCOL') ?? nonEmpty('OTEL_EXPORTER_OTLP_PROTOCOL') ?? 'http/protobuf'
  if (p === 'grpc') throw new UsageError('OTLP over gRPC is not supported: use http/protobuf (the collector\'s port 4318) or http/json')
  if (p !== 'http/protobuf' && p !== 'http/json') throw new UsageError(`OTLP protocol ${p}: expected http/protobuf or http/json`)
  const headers = {
    ...parseHeaders(env.OTEL_EXPORTER_OTLP_HEADERS, 'OTEL_EXPORTER_OTLP_HEADERS', log),
    ...parseHeaders(env.OTEL_EXPORTER_OTLP_TRACES_HEADERS, 'OTEL_EXPORTER_OTLP_TRACES_HEADERS', log),
  }
  const timeoutVar = nonEmpty('OTEL_EXPORTER_OTLP_TRACES_TIMEOUT') !== undefined ? 'OTEL_EXPORTER_OTLP_TRACES_TIMEOUT' : 'OTEL_EXPORTER_OTLP_TIMEOUT'
  const timeoutRaw = nonEmpty(timeoutVar)
  const timeoutMs = timeoutRaw === undefined ? 10_000 : Number(timeoutRaw)
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new UsageError(`${timeoutVar}=${timeoutRaw}: expected milliseconds > 0`)
  const comp = (nonEmpty('OTEL_EXPORTER_OTLP_TRACES_COMPRESSION') ?? nonEmpty('OTEL_EXPORTER_OTLP_COMPRESSION') ?? 'none').toLowerCase()
  if (comp !== 'gzip' && comp !== 'none') throw new UsageError(`OTLP compression ${comp}: expected gzip or none`)
  return { url, protocol: p, headers, timeoutMs, compression: comp }
}

/** W3C Baggage-style list "k1=v1,k2=v2" with percent-encoded values; bad entries are logged and skipped */
export function parseHeaders(v: string | undefined, name: string, log: (m: string) => void): Record<string, string> {
  const out: Record<string, string> = {}
  if (v === undefined) return out
  for (const part of v.split(',')) {
    if (part.trim() === '') continue
    const eq = part.indexOf('=')
    const k = eq > 0 ? part.slice(0, eq).trim() : ''
    let val: string
    try {
      val = decodeURIComponent(part.slice(eq + 1).trim())
    } catch {
      val = ''
    }
    if (k === '' || !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(k) || val === '') {
      log(`${name}: ignoring "${part.trim().slice(0, 40)}" (expected key=value)`)
      continue
    }
    out[k] = val
  }
  return out
}

