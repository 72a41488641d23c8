// Argument parsers shared by every command's flags (commander argParser): a bad value is an
// InvalidArgumentError, which the CLI turns into a usage message and exit code 2.

import { InvalidArgumentError } from 'commander'

/** a whole number from min to max, named in the message by `flag` */
export function intArg(flag: string, min: number, max: number): (v: string) => number {
  return (v: string): number => {
    const n = Number(v)
    if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`${flag} must be a whole number from ${min} to ${max}`)
    return n
  }
}
