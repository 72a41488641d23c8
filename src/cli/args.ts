// Argument parsers shared by every command's flags (commander argParser): a bad value is an
// InvalidArgumentError, which the CLI turns into a usage message and exit code 2.

import { InvalidArgumentError } from 'commander'
import { log as podtapLog } from '../log.js'

const logInfo = (m: string): void => podtapLog.info(m)

/** a whole number from min to max, named in the message by `flag` */
export function intArg(flag: string, min: number, max: number): (v: string) => number {
  return (v: string): number => {
    const n = Number(v)
    if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`${flag} must be a whole number from ${min} to ${max}`)
    return n
  }
}

/** Parses "a,b,c" into trimmed non-empty names. */
export function splitList(v: string): string[] {
  return v.split(',').map((s) => s.trim()).filter(Boolean)
}

/**
 * An AbortSignal that fires on the first SIGINT or SIGTERM (a clean stop); a second one exits at
 * once with 130 (the 'exit' hooks still run). dispose() removes the handlers.
 */
export function stopOnSignals(log: (msg: string) => void = (m) => logInfo(m)): { signal: AbortSignal; dispose(): void } {
  const ac = new AbortController()
  const handler = (sig: NodeJS.Signals): void => {
    if (ac.signal.aborted) {
      log(`${sig} again: exiting now`)
      process.exit(130)
    }
    log(`${sig}: stopping (again to exit at once)`)
    ac.abort()
  }
  process.on('SIGINT', handler)
  process.on('SIGTERM', handler)
  return {
    signal: ac.signal,
    dispose: () => {
      process.off('SIGINT', handler)
      process.off('SIGTERM', handler)
    },
  }
}

