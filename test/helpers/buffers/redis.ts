// Builders for RESP test input (pg-protocol testing/test-buffers.ts style): tests say what they send,
// not hex. Not used at run time.

const CRLF = '\r\n'

/** a value already encoded */
export type Resp = string

/** a command as a client sends it: an array of bulk strings */
export function cmd(...args: string[]): Resp {
  return arr(args.map((a) => bulk(a)))
}

/** several commands back to back (a pipeline) */
export function pipeline(...cmds: string[][]): Resp {
  return cmds.map((c) => cmd(...c)).join('')
}

export function inline(line: string): Resp {
  return line + CRLF
}

export const simple = (s: string): Resp => '+' + s + CRLF
export const err = (s: string): Resp => '-' + s + CRLF
export const int = (n: number | bigint): Resp => ':' + String(n) + CRLF
export const bulk = (s: string | null): Resp => (s === null ? '$-1' + CRLF : '$' + Buffer.byteLength(s, 'latin1') + CRLF + s + CRLF)
export const arr = (items: Resp[] | null): Resp => (items === null ? '*-1' + CRLF : '*' + items.length + CRLF + items.join(''))
export const push = (items: Resp[]): Resp => '>' + items.length + CRLF + items.join('')
export const set = (items: Resp[]): Resp => '~' + items.length + CRLF + items.join('')
export const map = (pairs: [Resp, Resp][]): Resp => '%' + pairs.length + CRLF + pairs.map(([k, v]) => k + v).join('')
export const attr = (pairs: [Resp, Resp][]): Resp => '|' + pairs.length + CRLF + pairs.map(([k, v]) => k + v).join('')
export const nul = (): Resp => '_' + CRLF
export const bool = (b: boolean): Resp => '#' + (b ? 't' : 'f') + CRLF
export const double = (d: string): Resp => ',' + d + CRLF
export const bignum = (n: string): Resp => '(' + n + CRLF
export const blobErr = (s: string): Resp => '!' + s.length + CRLF + s + CRLF
export const verbatim = (fmt: string, s: string): Resp => '=' + (s.length + 4) + CRLF + fmt + ':' + s + CRLF
/** RESP3 streamed string: $? then ;<len> chunks ending with ;0 */
export const streamedBulk = (chunks: string[]): Resp =>
  '$?' + CRLF + chunks.map((c) => ';' + c.length + CRLF + c + CRLF).join('') + ';0' + CRLF
/** RESP3 streamed aggregate: *? (or %? ~?) ... '.' */
export const streamedArr = (items: Resp[]): Resp => '*?' + CRLF + items.join('') + '.' + CRLF

/** a pub/sub confirmation as RESP2 (array) or RESP3 (push) sends it */
export function confirm(kind: string, channel: string | null, count: number, resp3 = false): Resp {
  const items = [bulk(kind), bulk(channel), int(count)]
  return resp3 ? push(items) : arr(items)
}

/** a published message */
export function message(channel: string, payload: string, resp3 = false): Resp {
  const items = [bulk('message'), bulk(channel), bulk(payload)]
  return resp3 ? push(items) : arr(items)
}

export function pmessage(pattern: string, channel: string, payload: string, resp3 = false): Resp {
  const items = [bulk('pmessage'), bulk(pattern), bulk(channel), bulk(payload)]
  return resp3 ? push(items) : arr(items)
}
