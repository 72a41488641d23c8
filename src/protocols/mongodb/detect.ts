// Is this the start of a MongoDB message? Pure, never consumes bytes.
//
// Both directions share one header (int32 messageLength, requestID, responseTo, opCode, little-endian),
// so the direction comes from the opcode (OP_REPLY is the server's, OP_QUERY and the other legacy ones
// the client's) and, for OP_MSG, from responseTo (0 in a request, the request's id in a reply).
// Demanded: a whole header with a length in [20, 48 MB] and an opcode of that direction, then the body's
// start: flags with only defined bits, a namespace "db.coll" where the opcode has one, and the first
// document's length (fitting the message) and first element (a BSON type, a printable name). When the
// head holds more than the message, the next header must be plausible too. HTTP text, TLS records,
// RESP, PostgreSQL and MySQL packets all fail the length or opcode test (their first four bytes read as
// a little-endian length are far too large, or their bytes 12-15 are no opcode).

import type { Dir } from '../../tcp/types.js'
import { HEADER_BYTES, MAX_MESSAGE_BYTES, plausibleHeader, plausibleMessage } from './wire.js'

export function detectMongo(head: Buffer, dir: Dir): boolean {
  const len = plausibleMessage(head, 0, dir, MAX_MESSAGE_BYTES)
  if (len <= 0) return false
  if (head.length <= len) return true
  if (head.length - len < HEADER_BYTES) return true
  return plausibleHeader(head, len, dir, MAX_MESSAGE_BYTES)
}
