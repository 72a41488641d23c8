// podtap's own log (ground layer): pino. JSON lines (level, time, msg, fields) when stderr is not a
// terminal or with --log-format json, what a DaemonSet's log pipeline reads; the human lines
// "podtap: msg (key=value ...)" on a terminal. Per-packet events are counted, never logged
// (STYLE.md "Count, don't log"): what comes here is rare (start, stop, a fault, a sink going down).

import { createRequire } from 'node:module'
import type { Logger } from 'pino'

// pino (CommonJS) is required on the first line logged, not at start: a replay that logs nothing
// starts ~25 ms of CPU lighter
const requirePino = (): typeof import('pino') => createRequire(import.meta.url)('pino') as typeof import('pino')

export type LogFormat = 'json' | 'human'
export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent'
export const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error', 'silent']

export type LogFields = Record<string, unknown>

interface Sink {
  write(s: string): void
}

/** a pino destination that turns each JSON line back into the human one */
function humanSink(out: Sink): Sink {
  return {
    write(line: string): void {
      const o = JSON.parse(line) as Record<string, unknown>
      const { level, time, msg, pid, hostname, ...fields } = o
      void time
      void pid
      void hostname
      const tag = level === 'warn' ? 'warning: ' : level === 'error' ? 'error: ' : ''
      const kv = Object.entries(fields).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
      out.write(`podtap: ${tag}${String(msg)}${kv.length ? ` (${kv.join(' ')})` : ''}\n`)
    },
  }
}

const stderrSink: Sink = { write: (s) => void process.stderr.write(s) }

function make(format: LogFormat, level: LogLevel, out: Sink): Logger {
  const { pino } = requirePino()
  return pino(
    {
      level,
      base: undefined, // no pid/hostname: the DaemonSet's pipeline adds the pod
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    format === 'json' ? out : humanSink(out),
  )
}

type LogConfig = { format?: LogFormat; level?: LogLevel; out?: Sink }
let config: LogConfig = {}
/** made from `config` on the first line logged */
let current: Logger | null = null

function logger(): Logger {
  if (current === null) current = make(config.format ?? (process.stderr.isTTY ? 'human' : 'json'), config.level ?? 'info', config.out ?? stderrSink)
  return current
}

/**
 * Sets the format (default: human on a terminal, JSON lines otherwise), the level (default info) and,
 * for tests, where lines go.
 */
export function configureLog(o: LogConfig = {}): void {
  config = o
  current = null
}

/** The logger: `log.warn({ flow }, 'parser fault')`. Read it at call time (configureLog replaces it). */
export const log = {
  debug: (msg: string, fields?: LogFields): void => logger().debug(fields ?? {}, msg),
  info: (msg: string, fields?: LogFields): void => logger().info(fields ?? {}, msg),
  warn: (msg: string, fields?: LogFields): void => logger().warn(fields ?? {}, msg),
  error: (msg: string, fields?: LogFields): void => logger().error(fields ?? {}, msg),
}
