// Is this the start of a RocketMQ remoting conversation? Pure, never consumes bytes.
//
// Demands a whole frame header: a length within the broker's 16 MiB frame cap, serialize type 0 (JSON)
// or 1 (ROCKETMQ), a header length that fits inside the frame, and a header that decodes: a JSON
// object starting {" with integer code/opaque/flag, or a binary header whose remark and extFields
// lengths add up to the header length exactly with a known code. Flag bit 0 tells the direction: a
// request (0) is a client message, a response (1) a server message. A head shorter than the header
// is not enough to tell (false: the connection layer holds it and asks again with more bytes).
//
// Why it steals nothing: HTTP/1.x, Redis, TLS and MongoDB (little-endian length) heads read as lengths
// far above 16 MiB; a PostgreSQL startup packet has header length 0x030000 > its length, an SSLRequest
// serialize type 4; MySQL and HTTP/2 frame headers, Kafka request headers would need '{"' or an exact
// binary header behind them.

import type { Dir } from '../../tcp/types.js'
import { isKnownRequest, isKnownResponse } from './codes.js'
import { Flag, messageStartAt, type Header } from './header.js'

export function knownCode(code: number, response: boolean): boolean {
  return response ? isKnownResponse(code) : isKnownRequest(code)
}

export function detectRocketmq(head: Buffer, dir: Dir): boolean {
  const out: { header: Header | null } = { header: null }
  if (messageStartAt(head, 0, knownCode, out) !== 1) return false
  const response = (out.header!.flag & Flag.Response) !== 0
  return dir === 's2c' ? response : !response
}
