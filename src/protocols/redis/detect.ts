// Is this the start of a Redis conversation? Pure, never consumes bytes (deepflow check_payload style).
//
// Client: an array of bulk strings whose first element is a known command (*<n>\r\n$<len>\r\n<NAME>\r\n),
// or an inline command line that starts with a known command and is not an HTTP request line (GET is a
// Redis command too). Server: one complete, well-formed RESP line. Loose by nature (a reply can be "+OK"),
// so the registry puts Redis after every protocol with a stricter signature.

import type { Dir } from '../../tcp/types.js'
import { isKnownCommand } from './commands.js'
import { plausibleStart, RespType } from './resp.js'

const CR = 0x0d
const LF = 0x0a

export function detectRedis(head: Buffer, dir: Dir): boolean {
  if (head.length < 3) return false
  if (dir === 'c2s') return head[0] === RespType.Array ? detectArrayCommand(head) : detectInline(head)
  return detectReply(head)
}

/** *<n>\r\n$<len>\r\n<name>\r\n with a known command name */
function detectArrayCommand(b: Buffer): boolean {
  const n = readNumberLine(b, 1)
  if (n === null || n.value < 1 || n.value > 1 << 20) return false
  if (b[n.next] !== RespType.BulkString) return false
  const len = readNumberLine(b, n.next + 1)
  if (len === null || len.value < 1 || len.value > 48) return false
  const end = len.next + len.value
  if (b.length < end + 2 || b[end] !== CR || b[end + 1] !== LF) return false
  return isKnownCommand(b.toString('latin1', len.next, end))
}

function detectInline(b: Buffer): boolean {
  const nl = b.indexOf(LF)
  if (nl < 0) return false
  return plausibleStart(b.subarray(0, nl + 1), true)
}

function detectReply(b: Buffer): boolean {
  const nl = b.indexOf(LF)
  if (nl < 2 || b[nl - 1] !== CR) return false
  if (!plausibleStart(b, false)) return false
  if (b[0] === RespType.SimpleError) {
    // errors start with an upper-case code: ERR, WRONGTYPE, NOAUTH, MOVED...
    const c = b[1]
    return c >= 0x41 && c <= 0x5a
  }
  return true
}

/** digits (optional '-') at `at` ending in CRLF; null when not */
function readNumberLine(b: Buffer, at: number): { value: number; next: number } | null {
  let i = at
  let neg = false
  if (b[i] === 0x2d) {
    neg = true
    i++
  }
  const first = i
  let v = 0
  while (i < b.length && b[i] >= 0x30 && b[i] <= 0x39 && i - first < 12) v = v * 10 + (b[i++] - 0x30)
  if (i === first || i + 1 >= b.length || b[i] !== CR || b[i + 1] !== LF) return null
  return { value: neg ? -v : v, next: i + 2 }
}
