// MySQL packet layout and the few server/client messages podtap reads fields from.
// https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_basic_packets.html
//
// Packet => payload_length:int<3> (little-endian) sequence_id:int<1> payload:string<payload_length>
// A payload of exactly 0xffffff bytes means the message continues in the next packet; a message whose
// length is a multiple of 0xffffff ends with an empty packet.
//
// Every reader here is bounds-checked and returns -1 / null / undefined on short or bad input: wire
// data never throws.

import { Cap, HANDSHAKE_V10 } from './constants.js'

export const HEADER_BYTES = 4

/** payload length of the packet at buf[off] (needs 3 bytes) */
export function payloadLength(buf: Buffer, off: number): number {
  return buf[off] | (buf[off + 1] << 8) | (buf[off + 2] << 16)
}

/**
 * Length-encoded integer at buf[off], within buf[..end).
 * https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_basic_dt_integers.html
 *   < 0xfb: 1 byte; 0xfc: 2 more; 0xfd: 3 more; 0xfe: 8 more. 0xfb is NULL (text rows), 0xff is invalid.
 * Writes the value to out[0] and returns the offset after it, or -1. Values above 2^53 lose precision,
 * which only matters for row counts no server reaches.
 */
export function readLenenc(buf: Buffer, off: number, end: number, out: number[]): number {
  if (off >= end) return -1
  const b = buf[off]
  if (b < 0xfb) {
    out[0] = b
    return off + 1
  }
  if (b === 0xfc) {
    if (off + 3 > end) return -1
    out[0] = buf[off + 1] | (buf[off + 2] << 8)
    return off + 3
  }
  if (b === 0xfd) {
    if (off + 4 > end) return -1
    out[0] = buf[off + 1] | (buf[off + 2] << 8) | (buf[off + 3] << 16)
    return off + 4
  }
  if (b === 0xfe) {
    if (off + 9 > end) return -1
    out[0] = buf.readUInt32LE(off + 1) + buf.readUInt32LE(off + 5) * 0x1_0000_0000
    return off + 9
  }
  return -1
}

/** offset just past the NUL that ends the string at buf[off], or -1 when there is none before `end` */
export function skipNulString(buf: Buffer, off: number, end: number): number {
  const i = buf.indexOf(0, off)
  return i < 0 || i >= end ? -1 : i + 1
}

/** printable text: no control characters other than tab, CR, LF (bytes >= 0x80 are UTF-8, allowed) */
export function isText(buf: Buffer, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = buf[i]
    if (c < 0x20 ? c !== 0x09 && c !== 0x0a && c !== 0x0d : c === 0x7f) return false
  }
  return true
}

// ---------------------------------------------------------------------------------------------------
// OK, ERR and EOF packets. `p` is the payload, `end` its end (a packet may be cut short by the framer's
// oversize head, so every field is optional).
// https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_basic_ok_packet.html
//   OK_Packet  => header:0x00|0xfe affected_rows:lenenc last_insert_id:lenenc status_flags:int<2>
//                 warnings:int<2> info... (protocol 4.1)
//   EOF_Packet => header:0xfe warnings:int<2> status_flags:int<2>            (exactly 5 bytes)
//   ERR_Packet => header:0xff error_code:int<2> ['#' sql_state:string<5>] error_message:string<EOF>

export interface OkInfo {
  affectedRows: number
  status: number
  warnings: number
}

const lenencOut = [0]

/** fields of an OK packet whose header byte is at p[off]; undefined when it is too short */
export function readOk(p: Buffer, off: number, end: number): OkInfo | undefined {
  let o = readLenenc(p, off + 1, end, lenencOut)
  if (o < 0) return undefined
  const affectedRows = lenencOut[0]
  o = readLenenc(p, o, end, lenencOut)
  if (o < 0 || o + 2 > end) return undefined
  const status = p.readUInt16LE(o)
  const warnings = o + 4 <= end ? p.readUInt16LE(o + 2) : 0
  return { affectedRows, status, warnings }
}

/** status flags of an EOF packet (5 bytes: 0xfe warnings status) */
export function eofStatus(p: Buffer, off: number, end: number): number {
  return off + 5 <= end ? p.readUInt16LE(off + 3) : 0
}

/**
 * Status flags of a packet that ends a result set: the 5-byte EOF of the classic protocol, or (under
 * CLIENT_DEPRECATE_EOF) an OK packet that starts with 0xfe and is at least 7 bytes long.
 */
export function terminatorStatus(p: Buffer, off: number, end: number, payloadLen: number): number {
  if (payloadLen === 5) return eofStatus(p, off, end)
  return readOk(p, off, end)?.status ?? 0
}

export interface ErrInfo {
  code: number
  sqlState?: string
  message: string
}

/** an ERR packet whose 0xff is at p[off]; `maxText` caps the message copied out */
export function readErr(p: Buffer, off: number, end: number, maxText: number): ErrInfo | undefined {
  if (off + 3 > end) return undefined
  const code = p.readUInt16LE(off + 1)
  let o = off + 3
  let sqlState: string | undefined
  // The '#' marker is absent before the client announced CLIENT_PROTOCOL_41 (errors sent instead of the
  // greeting: 1130 host not allowed, 1040 too many connections).
  if (o + 6 <= end && p[o] === 0x23) {
    sqlState = p.toString('latin1', o + 1, o + 6)
    o += 6
  }
  const message = p.toString('utf8', o, Math.min(end, o + maxText))
  return { code, sqlState, message }
}

// ---------------------------------------------------------------------------------------------------
// Connection phase.
// https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_connection_phase_packets_protocol_handshake_v10.html
//   Handshake v10 => protocol_version:int<1>=10 server_version:string<NUL> thread_id:int<4>
//     auth_plugin_data_1:string<8> filler:int<1>=0 capability_flags_1:int<2>
//     [character_set:int<1> status_flags:int<2> capability_flags_2:int<2> auth_plugin_data_len:int<1>
//      reserved:string<10> (MariaDB: 6 zero bytes + extended capabilities int<4>) auth_plugin_data_2
//      auth_plugin_name:string<NUL>]

export interface Greeting {
  version: string
  capabilities: number
  authPlugin?: string
}

/** A v10 greeting in p[off..end) (payload only), or undefined when the fields do not add up. */
export function readGreeting(p: Buffer, off: number, end: number): Greeting | undefined {
  if (end - off < 1 + 2 + 4 + 8 + 1 + 2 || p[off] !== HANDSHAKE_V10) return undefined
  const vEnd = skipNulString(p, off + 1, Math.min(end, off + 1 + 64))
  // a version string is 1..63 printable characters and starts with a digit ("5.7.16", "8.0.32", "11.4.2-MariaDB")
  if (vEnd < 0 || vEnd - off - 2 < 1) return undefined
  if (p[off + 1] < 0x30 || p[off + 1] > 0x39 || !isText(p, off + 1, vEnd - 1)) return undefined
  let o = vEnd + 4 + 8
  if (o + 3 > end || p[o] !== 0) return undefined
  let capabilities = p.readUInt16LE(o + 1)
  o += 3
  if (o + 5 <= end) capabilities += p.readUInt16LE(o + 3) * 0x10000
  const version = p.toString('latin1', off + 1, vEnd - 1)
  let authPlugin: string | undefined
  if (capabilities & Cap.PLUGIN_AUTH && o + 16 <= end) {
    const dataLen = p[o + 5]
    const nameAt = o + 16 + Math.max(13, dataLen - 8)
    const nameEnd = skipNulString(p, nameAt, end)
    const stop = nameEnd < 0 ? end : nameEnd - 1
    if (nameAt < stop && stop - nameAt <= 64 && isText(p, nameAt, stop)) authPlugin = p.toString('latin1', nameAt, stop)
  }
  return { version, capabilities: capabilities >>> 0, authPlugin }
}

/**
 * HandshakeResponse41 => client_flag:int<4> max_packet_size:int<4> character_set:int<1> filler:string<23>
 *   username:string<NUL> auth_response (lenenc | int<1> length | NUL-terminated) [database:string<NUL>]
 *   [client_plugin_name:string<NUL>] [connect attrs]
 * SSLRequest is the same first 32 bytes alone, with CLIENT_SSL set.
 * https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_connection_phase_packets_protocol_handshake_response.html
 * The auth response (scrambled password, or the password itself for mysql_clear_password) is skipped
 * over by its length and never copied.
 */
export interface HandshakeResponse {
  capabilities: number
  ssl: boolean
  user?: string
  db?: string
  authPlugin?: string
}

export function readHandshakeResponse(p: Buffer, off: number, end: number): HandshakeResponse | undefined {
  if (end - off < 4) return undefined
  const lowCaps = p.readUInt16LE(off)
  if (!(lowCaps & Cap.PROTOCOL_41)) {
    // HandshakeResponse320 (pre-4.1 clients): client_flag:int<2> max_packet_size:int<3> username...
    return { capabilities: lowCaps, ssl: !!(lowCaps & Cap.SSL) && end - off === 5 }
  }
  if (end - off < 32) return undefined
  const capabilities = p.readUInt32LE(off)
  // filler: 23 zero bytes; MariaDB uses the last 4 for its extended capabilities
  for (let i = off + 9; i < off + 28; i++) if (p[i] !== 0) return undefined
  if (end - off === 32) return { capabilities, ssl: !!(capabilities & Cap.SSL) }
  const r: HandshakeResponse = { capabilities, ssl: false }
  let o = off + 32
  const userEnd = skipNulString(p, o, end)
  if (userEnd < 0) return r
  if (userEnd - o - 1 <= 128 && isText(p, o, userEnd - 1)) r.user = p.toString('utf8', o, userEnd - 1)
  o = userEnd
  if (capabilities & Cap.PLUGIN_AUTH_LENENC_CLIENT_DATA) {
    const n = readLenenc(p, o, end, lenencOut)
    if (n < 0) return r
    o = n + lenencOut[0]
  } else if (capabilities & Cap.SECURE_CONNECTION) {
    if (o >= end) return r
    o = o + 1 + p[o]
  } else {
    const n = skipNulString(p, o, end)
    if (n < 0) return r
    o = n
  }
  if (o > end) return r
  if (capabilities & Cap.CONNECT_WITH_DB) {
    const n = skipNulString(p, o, end)
    if (n < 0) return r
    if (n - o - 1 > 0 && n - o - 1 <= 256 && isText(p, o, n - 1)) r.db = p.toString('utf8', o, n - 1)
    o = n
  }
  if (capabilities & Cap.PLUGIN_AUTH) {
    const n = skipNulString(p, o, end)
    if (n > o + 1 && n - o - 1 <= 64 && isText(p, o, n - 1)) r.authPlugin = p.toString('latin1', o, n - 1)
  }
  return r
}
