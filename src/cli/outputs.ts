// The outputs every command shares (DESIGN.md "The command line": [outputs]): InfluxDB, Prometheus
// /metrics and --metrics-out, xlsx. The flags, their validation, and OutputHub, which feeds exchanges,
// links and RED windows (one RedAggregator for all outputs) to every output and closes them.
//
// Call order: exchange()/link() from the synchronous pipeline (outputs only queue, never block),
// tick() from a timer during live capture, close() once at the end (bounded in time: each output
// flushes what it can within its own deadline).

import * as fs from 'node:fs'
import { Command, InvalidArgumentError, Option } from 'commander'
import { limitsWith, type Limits } from '../config.js'
import { PodtapError, SinkError, UsageError } from '../errors.js'
import type { Counters } from '../counters.js'
import { contained } from '../pipeline/pipeline.js'
import { RedAggregator, type RedSnapshot } from '../metrics/red.js'
import type { LinkRecord } from '../records.js'
import type { PodSample } from '../records.js'
import type { TlsCoverageRow } from '../records.js'
import type { Exchange } from '../records.js'
// the sinks (exceljs, prom-client, the InfluxDB client) load only when a flag asks for them: exceljs
// alone adds 0.3 s to every start
import type { Endpoint } from '../tcp/types.js'
import type { TcpWindow } from '../tcp/health.js'
import { intArg } from './args.js'
import { log as logger } from '../log.js'
import { resolveOtlpConfig } from '../sinks/otlp-config.js'

export interface Output {
  readonly name: string
  /** synchronous, must not block: queue */
  onExchange?(e: Exchange): void
  onLink?(l: LinkRecord): void
  /** a closed RED window (l7_rpc series and the links that ended in it) */
  onWindow?(s: RedSnapshot): void
  /**
   * One round of pod resource samples (--k8s: the attached pods, once per window; see
   * k8s/pod-stats.ts). A pod that was in the previous round and is missing from this one is gone.
   */
  onPods?(samples: readonly PodSample[]): void
  /** a closed window of TCP health per server endpoint and client (tcp/health.ts) */
  onTcp?(w: TcpWindow): void
  /** --tls: the TLS coverage report, once a second (src/tls/coverage.ts); the latest replaces the last */
  onTlsCoverage?(rows: readonly TlsCoverageRow[]): void
  /**
   * Endpoints this output's own traffic uses, which live capture must leave out: remote servers it
   * writes to (InfluxDB) and local ports it serves (metrics; ip 0.0.0.0 or :: = any local address).
   */
  ownEndpoints?(): Endpoint[]
  /** flush what is queued (bounded time), release sockets and files */
  close(): Promise<void>
}

export interface OutputOptions {
  influxUrl?: string
  influxToken?: string
  influxTokenFile?: string
  influxOrg?: string
  influxBucket?: string
  influxTraces?: boolean
  metricsPort?: number
  metricsHost?: string
  metricsOut?: string
  xlsx?: string
  /** every ended connection as a JSON line (sinks/links.ts) */
  links?: string
  /** l7_rpc window in seconds (default 15) */
  window?: number
  /** points queued per sink before the oldest are dropped (limits.maxSinkQueue) */
  sinkQueue?: number
  /** caps (maxSinkQueue, maxMethodsPerServer, maxSeriesPerWindow) */
  limits?: Partial<Limits>
  /** environment for PODTAP_INFLUX_TOKEN (default process.env) */
  env?: NodeJS.ProcessEnv
  /** where sinks log (default stderr, prefixed "podtap: ") */
  log?: (msg: string) => void
  /** InfluxDB close deadline in ms (default 10 s) */
  influxCloseTimeoutMs?: number
  /** OpenTelemetry (sinks/otlp.ts): --otlp-endpoint, --otlp-protocol, --otlp-sample, --otlp-slow-ms */
  otlpEndpoint?: string
  otlpProtocol?: string
  otlpSample?: number
  otlpSlowMs?: number
  /** OTLP close deadline in ms (default 10 s) */
  otlpCloseTimeoutMs?: number
}

export const DEFAULT_WINDOW_SECONDS = 15


/** Adds the output flags to a command (replay, capture, demo), under an "Outputs" help heading. */
export function addOutputOptions(cmd: Command): Command {
  const g = 'Outputs:'
  cmd
    .addOption(new Option('--influx-url <url>', 'write l7_rpc, l7_link, l7_status (and with --influx-traces l7_trace) to InfluxDB at this URL, e.g. http://influxdb:8086 (InfluxDB 2.x/3.x, or 1.8+ through /api/v2/write)').env('PODTAP_INFLUX_URL').helpGroup(g))
    .addOption(new Option('--influx-token <token>', 'InfluxDB API token (1.8: "user:password"); visible in ps, so prefer the PODTAP_INFLUX_TOKEN environment variable or --influx-token-file').helpGroup(g))
    .addOption(new Option('--influx-token-file <file>', 'read the InfluxDB token from this file (e.g. a mounted Kubernetes secret)').helpGroup(g))
    .addOption(new Option('--influx-org <org>', 'InfluxDB organization (2.x/3.x; 1.8 ignores it)').env('PODTAP_INFLUX_ORG').helpGroup(g))
    .addOption(new Option('--influx-bucket <bucket>', 'InfluxDB bucket (1.8: "database/retention-policy" or "database")').env('PODTAP_INFLUX_BUCKET').helpGroup(g))
    .addOption(new Option('--influx-traces', 'also write one l7_trace point per request (heavy: use on short captures or low rates)').helpGroup(g))
    .addOption(new Option('--metrics-port <port>', 'serve Prometheus metrics on http://HOST:PORT/metrics (and /healthz)').argParser(intArg('--metrics-port', 0, 65_535)).helpGroup(g))
    .addOption(new Option('--metrics-host <addr>', 'address --metrics-port listens on (default 0.0.0.0, every interface)').helpGroup(g))
    .addOption(new Option('--metrics-out <file>', 'at the end, write the Prometheus exposition text to this file (for replay and offline checks)').helpGroup(g))
    .addOption(new Option('--xlsx <file>', 'write every request as a row of an Excel workbook, one sheet per protocol').helpGroup(g))
    .addOption(new Option('--links <file>', 'write every ended TCP connection as a JSON line: client, server, protocol, bytes, connect result and time, resets, retransmits, zero windows, round trips (the edges of a service map)').helpGroup(g))
    .addOption(new Option('--window <seconds>', 'l7_rpc aggregation window (rate, errors, p50/p90/p99 per window)').argParser(intArg('--window', 1, 3600)).default(DEFAULT_WINDOW_SECONDS).helpGroup(g))
    .addOption(new Option('--sink-queue <points>', 'points an output queues while its destination is slow or down; past this the oldest are dropped and counted').argParser(intArg('--sink-queue', 100, 100_000_000)).helpGroup(g))
  return addOtlpOptions(cmd, g)
}

/** The OpenTelemetry flags (capture and replay through addOutputOptions; demo on its own). */
export function addOtlpOptions(cmd: Command, g = 'OpenTelemetry:'): Command {
  for (const opt of otlpOptions(g)) cmd.addOption(opt)
  return cmd
}

/** The OpenTelemetry flags (capture, replay and demo). */
export function otlpOptions(g = 'OpenTelemetry:'): Option[] {
  return [
    new Option('--otlp-endpoint <url>', 'send every request as an OpenTelemetry span over OTLP/HTTP to this collector, Jaeger or Tempo, e.g. http://otel-collector:4318 (/v1/traces is appended); default from OTEL_EXPORTER_OTLP_TRACES_ENDPOINT / OTEL_EXPORTER_OTLP_ENDPOINT; OTEL_EXPORTER_OTLP_HEADERS, _TIMEOUT, _COMPRESSION are honoured').helpGroup(g),
    new Option('--otlp-protocol <protocol>', 'OTLP encoding (default http/protobuf, or OTEL_EXPORTER_OTLP_PROTOCOL)').choices(['http/protobuf', 'http/json']).helpGroup(g),
    new Option('--otlp-sample <ratio>', 'keep this fraction of requests as spans, 0 to 1 (default 1); failed and slow ones, and those whose caller sampled its trace, are always kept').argParser(ratioArg('--otlp-sample')).helpGroup(g),
    new Option('--otlp-slow-ms <ms>', 'with --otlp-sample: requests taking this long or longer are always kept').argParser(intArg('--otlp-slow-ms', 0, 86_400_000)).helpGroup(g),
  ]
}

function ratioArg(flag: string): (v: string) => number {
  return (v: string): number => {
    const n = Number(v)
    if (v.trim() === '' || !Number.isFinite(n) || n < 0 || n > 1) throw new InvalidArgumentError(`${flag} must be a number from 0 to 1`)
    return n
  }
}

/** InfluxDB token: --influx-token, else --influx-token-file, else PODTAP_INFLUX_TOKEN. */
export function resolveInfluxToken(o: OutputOptions): string | undefined {
  if (o.influxToken !== undefined && o.influxTokenFile !== undefined) {
    throw new UsageError('give the InfluxDB token once: --influx-token or --influx-token-file, not both')
  }
  if (o.influxToken !== undefined) return o.influxToken
  if (o.influxTokenFile !== undefined) {
    let t: string
    try {
      t = fs.readFileSync(o.influxTokenFile, 'utf8').trim()
    } catch (e) {
      throw new UsageError(`--influx-token-file ${o.influxTokenFile}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`)
    }
    if (t === '') throw new UsageError(`--influx-token-file ${o.influxTokenFile} is empty`)
    return t
  }
  const env = (o.env ?? process.env).PODTAP_INFLUX_TOKEN
  return env !== undefined && env !== '' ? env : undefined
}

/** Checks the flags and opens every output asked for. Bad combinations are a UsageError (exit 2). */
export async function buildOutputs(o: OutputOptions, counters: Counters): Promise<Output[]> {
  const limits = limitsWith({ ...o.limits, ...(o.sinkQueue !== undefined ? { maxSinkQueue: o.sinkQueue } : {}) })
  const log = o.log ?? ((m: string) => logger.info(m))
  const influxAsked = o.influxUrl !== undefined
  if (!influxAsked) {
    const stray = (
      [
        ['--influx-bucket', o.influxBucket],
        ['--influx-org', o.influxOrg],
        ['--influx-token', o.influxToken],
        ['--influx-token-file', o.influxTokenFile],
        ['--influx-traces', o.influxTraces ? true : undefined],
      ] as const
    ).filter(([, v]) => v !== undefined)
    if (stray.length) throw new UsageError(`${stray.map(([f]) => f).join(', ')} given without --influx-url; add --influx-url http://HOST:8086`)
  } else if (!o.influxBucket) {
    throw new UsageError('--influx-url needs --influx-bucket (InfluxDB 1.8: the database name)')
  }
  if (o.metricsHost !== undefined && o.metricsPort === undefined) {
    throw new UsageError('--metrics-host needs --metrics-port')
  }
  const otlp = resolveOtlpConfig(o, o.env ?? process.env, log)
  if (otlp === null) {
    const stray = (
      [
        ['--otlp-protocol', o.otlpProtocol],
        ['--otlp-sample', o.otlpSample],
        ['--otlp-slow-ms', o.otlpSlowMs],
      ] as const
    ).filter(([, v]) => v !== undefined)
    if (stray.length) throw new UsageError(`${stray.map(([f]) => f).join(', ')} given without --otlp-endpoint; add --otlp-endpoint http://HOST:4318`)
  }
  const outs: Output[] = []
  try {
    if (otlp !== null) {
      // first: it sets Exchange.span, which the Prometheus output turns into exemplars
      const { OtlpSink } = await import('../sinks/otlp.js')
      outs.push(
        new OtlpSink({
          config: otlp,
          counters,
          limits,
          sample: o.otlpSample,
          slowMs: o.otlpSlowMs,
          localNode: process.env.NODE_NAME,
          closeTimeoutMs: o.otlpCloseTimeoutMs,
          log,
        }),
      )
    }
    if (influxAsked) {
      const { InfluxSink } = await import('../sinks/influx.js')
      outs.push(
        new InfluxSink({
          url: o.influxUrl!,
          token: resolveInfluxToken(o),
          org: o.influxOrg ?? '',
          bucket: o.influxBucket!,
          traces: Boolean(o.influxTraces),
          counters,
          limits,
          closeTimeoutMs: o.influxCloseTimeoutMs,
          windowUs: (o.window ?? DEFAULT_WINDOW_SECONDS) * 1e6,
          log,
        }),
      )
    }
    if (o.metricsPort !== undefined || o.metricsOut !== undefined) {
      if (o.metricsOut !== undefined) {
        try {
          fs.closeSync(fs.openSync(o.metricsOut, 'w'))
        } catch (e) {
          throw new UsageError(`--metrics-out ${o.metricsOut}: cannot write it: ${(e as Error).message}`)
        }
      }
      const { PrometheusSink } = await import('../sinks/prometheus.js')
      outs.push(await PrometheusSink.start({ counters, limits, port: o.metricsPort, host: o.metricsHost, outFile: o.metricsOut }))
    }
    if (o.links !== undefined) {
      const { LinksSink } = await import('../sinks/links.js')
      outs.push(new LinksSink(o.links))
    }
    if (o.xlsx !== undefined) {
      const { XlsxSink } = await import('../sinks/xlsx.js')
      outs.push(new XlsxSink({ file: o.xlsx, counters }))
    }
  } catch (e) {
    await Promise.allSettled(outs.map((x) => x.close()))
    throw e
  }
  return outs
}

/**
 * Feeds every output: exchanges and links as they come, RED windows from one shared RedAggregator
 * (only when some output wants windows). Hand exchange/link to the pipeline's onExchange/onLink.
 */
export class OutputHub {
  readonly red: RedAggregator | null
  private readonly onEx: ((e: Exchange) => void)[]
  private readonly onLk: ((l: LinkRecord) => void)[]
  private readonly onPd: ((s: readonly PodSample[]) => void)[]
  private readonly onTc: ((w: TcpWindow) => void)[]
  private readonly onCov: ((rows: readonly TlsCoverageRow[]) => void)[]
  /** the RED window, seconds (pod stats are sampled once per window) */
  readonly windowSeconds: number
  private closed = false

  constructor(
    readonly outputs: Output[],
    o: { counters: Counters; limits?: Partial<Limits>; windowSeconds?: number },
  ) {
    const windowed = outputs.filter((x) => x.onWindow !== undefined)
    this.red =
      windowed.length === 0
        ? null
        : new RedAggregator({
            windowUs: (o.windowSeconds ?? DEFAULT_WINDOW_SECONDS) * 1e6,
            limits: limitsWith(o.limits),
            counters: o.counters,
            onWindow: (s) => {
              for (const x of windowed) x.onWindow!(s)
            },
          })
    // each output behind its own boundary: one that fails to format a record loses only its own copy
    this.onEx = outputs.filter((x) => x.onExchange).map((x) => contained(x.onExchange!.bind(x), o.counters, x.name))
    this.onLk = outputs.filter((x) => x.onLink).map((x) => contained(x.onLink!.bind(x), o.counters, x.name))
    this.onPd = outputs.filter((x) => x.onPods).map((x) => x.onPods!.bind(x))
    this.onTc = outputs.filter((x) => x.onTcp).map((x) => x.onTcp!.bind(x))
    this.onCov = outputs.filter((x) => x.onTlsCoverage).map((x) => x.onTlsCoverage!.bind(x))
    this.windowSeconds = o.windowSeconds ?? DEFAULT_WINDOW_SECONDS
  }

  /** one exchange, in request-start order */
  readonly exchange = (e: Exchange): void => {
    if (this.closed) return
    // windows that this exchange closes go out first, so per-window counts stay in their window
    this.red?.add(e)
    for (const f of this.onEx) f(e)
  }

  /** one ended connection */
  readonly link = (l: LinkRecord): void => {
    if (this.closed) return
    this.red?.addLink(l)
    for (const f of this.onLk) f(l)
  }

  /** one round of pod samples (k8s/session.ts podStats.onPods) */
  /** a closed TCP health window (Pipeline tcp.onWindow; capture enriches its rows first) */
  readonly tcp = (w: TcpWindow): void => {
    if (this.closed) return
    for (const f of this.onTc) f(w)
  }

  /** the pipeline's TCP health options: windows to the outputs that want them, as long as RED's */
  tcpOptions(): { onWindow?: (w: TcpWindow) => void; windowUs: number } {
    return { onWindow: this.onTc.length > 0 ? this.tcp : undefined, windowUs: this.windowSeconds * 1e6 }
  }

  readonly pods = (samples: readonly PodSample[]): void => {
    if (this.closed) return
    for (const f of this.onPd) f(samples)
  }

  /** the TLS coverage report now (capture --tls) */
  readonly tlsCoverage = (rows: readonly TlsCoverageRow[]): void => {
    if (this.closed) return
    for (const f of this.onCov) f(rows)
  }

  /** the capture clock moved (live capture: call about once a second so quiet windows still close) */
  tick(nowUs: number): void {
    this.red?.advance(nowUs)
  }

  get empty(): boolean {
    return this.outputs.length === 0
  }

  /** endpoints live capture must leave out (see Output.ownEndpoints); ip may be a host name */
  ownEndpoints(): Endpoint[] {
    return this.outputs.flatMap((x) => x.ownEndpoints?.() ?? [])
  }

  /**
   * ownEndpoints() with host names resolved to every address they have (e.g. --influx-url
   * http://influxdb.monitoring:8086), for a packet filter. A name that does not resolve is left out
   * (the sink cannot reach it either, so it sends no traffic to capture).
   */
  async ownAddresses(): Promise<Endpoint[]> {
    const out: Endpoint[] = []
    // node:net and node:dns load here, not at every start
    const [net, dns] = await Promise.all([import('node:net'), import('node:dns/promises')])
    for (const ep of this.ownEndpoints()) {
      if (net.isIP(ep.ip)) out.push(ep)
      else {
        const addrs = await dns.lookup(ep.ip, { all: true }).catch(() => [])
        for (const a of addrs) out.push({ ip: a.address, port: ep.port })
      }
    }
    return out
  }

  /** Emits the last window, then closes every output; rejects with the first failure after all closed. */
  async close(): Promise<void> {
    if (this.closed) return
    this.red?.flush()
    this.closed = true
    // metrics last: its final exposition (--metrics-out) then includes what the other sinks dropped
    const last = this.outputs.filter((x) => x.name === 'prometheus')
    const results = await Promise.allSettled(this.outputs.filter((x) => !last.includes(x)).map((x) => x.close()))
    results.push(...(await Promise.allSettled(last.map((x) => x.close()))))
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')
    if (failed) throw failed.reason instanceof PodtapError ? failed.reason : new SinkError('PODTAP_OUTPUT_CLOSE', String(failed.reason), { cause: failed.reason })
  }
}
