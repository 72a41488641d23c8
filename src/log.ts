// podtap's own log (ground layer): pino. JSON lines (level, time, msg, fields) when stderr is not a
// terminal or with --log-format json, what a DaemonSet's log pipeline reads; the human lines
// "podtap: msg (key=value ...)" on a terminal. Per-packet events are counted, never logged
// (STYLE.md "Count, don't log"): what comes here is rare (start, stop, a fault, a sink going down).

import { pino, type Logger } from 'pino'

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

let current: Logger = make(process.stderr.isTTY ? 'human' : 'json', 'info', stderrSink)

/**
 * Sets the format (default: human on a terminal, JSON lines otherwise), the level (default info) and,
 * for tests, where lines go.
 */
export function configureLog(o: { format?: LogFormat; level?: LogLevel; out?: Sink } = {}): void {
  current = make(o.format ?? (process.stderr.isTTY ? 'human' : 'json'), o.level ?? 'info', o.out ?? stderrSink)
}

/** The logger: `log.warn({ flow }, 'parser fault')`. Read it at call time (configureLog replaces it). */
export const log = {
  debug: (msg: string, fields?: LogFields): void => current.debug(fields ?? {}, msg),
  info: (msg: string, fields?: LogFields): void => current.info(fields ?? {}, msg),
  warn: (msg: string, fields?: LogFields): void => current.warn(fields ?? {}, msg),
  error: (msg: string, fields?: LogFields): void => current.error(fields ?? {}, msg),
}
