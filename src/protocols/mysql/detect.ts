// Is this the start of a MySQL message? Used by detect() (the first bytes of a direction) and by the
// parser to find a clean packet start again after a gap or a mid-stream join.
//
// A 4-byte header says little by itself (any 4 bytes are a length and a sequence id), so every check
// here asks for several fields that must agree: sequence id, a known command byte, a length that fits
// that command, and content that fits it (SQL text that starts with a statement verb, a name, an
// execute packet's iteration count of 1...). Other protocols' first bytes fail early: PostgreSQL,
// Kafka and RocketMQ start with a big-endian length whose top byte is 0 (a MySQL length of 0 or a
// non-zero sequence id), HTTP and Redis put printable text where the sequence id would be, TLS has
// 0x16 0x03 and a command byte MySQL does not know.

import { Cap, Cmd, HANDSHAKE_V10, Hdr, MAX_PACKET_PAYLOAD } from './constants.js'
import { HEADER_BYTES, isText, payloadLength, readGreeting, readHandshakeResponse } from './wire.js'
import { SQL_VERBS } from './sql.js'

/** 'yes' / 'no', or 'more' when the bytes so far cannot tell */
export type Verdict = 'yes' | 'no' | 'more'

/** Longest stretch of SQL comments and blanks looked through for the statement verb. */
const VERB_SCAN_BYTES = 512

/** Statement verbs a command's SQL text may start with (upper case; compared case-insensitively). */
const SQL_START = SQL_VERBS
const LONGEST_VERB = Math.max(...SQL_START.map((v) => v.length))
const SQL_START_SET: ReadonlySet<string> = new Set(SQL_START)

/**
 * Payload length each command may have: [min, max]. Commands a client may send but that have no fixed
 * size get [min, MAX_PACKET_PAYLOAD]. Commands not listed (COM_SLEEP, COM_CONNECT, COM_TIME...) are
 * server-internal or obsolete: never accepted as a clean start.
 */
const COMMAND_SIZES: ReadonlyMap<number, readonly [number, number]> = new Map<number, readonly [number, number]>([
  [Cmd.Quit, [1, 1]],
  [Cmd.InitDb, [2, 1 + 256]],
  [Cmd.Query, [2, MAX_PACKET_PAYLOAD]],
  [Cmd.FieldList, [2, 1 + 1024]],
  [Cmd.CreateDb, [2, 1 + 256]],
  [Cmd.DropDb, [2, 1 + 256]],
  [Cmd.Refresh, [2, 2]],
  [Cmd.Shutdown, [1, 2]],
  [Cmd.Statistics, [1, 1]],
  [Cmd.ProcessInfo, [1, 1]],
  [Cmd.ProcessKill, [5, 5]],
  [Cmd.Debug, [1, 1]],
  [Cmd.Ping, [1, 1]],
  [Cmd.ChangeUser, [3, MAX_PACKET_PAYLOAD]],
  [Cmd.BinlogDump, [11, MAX_PACKET_PAYLOAD]],
  [Cmd.RegisterSlave, [18, MAX_PACKET_PAYLOAD]],
  [Cmd.StmtPrepare, [2, MAX_PACKET_PAYLOAD]],
  [Cmd.StmtExecute, [10, MAX_PACKET_PAYLOAD]],
  [Cmd.StmtSendLongData, [7, MAX_PACKET_PAYLOAD]],
  [Cmd.StmtClose, [5, 5]],
  [Cmd.StmtReset, [5, 5]],
  [Cmd.SetOption, [3, 3]],
  [Cmd.StmtFetch, [9, 9]],
  [Cmd.BinlogDumpGtid, [19, MAX_PACKET_PAYLOAD]],
  [Cmd.ResetConnection, [1, 1]],
  [Cmd.StmtBulkExecute, [7, MAX_PACKET_PAYLOAD]],
])

/** Is `len` a payload length command `cmd` may have? (false for unknown and server-internal commands) */
export function commandFits(cmd: number, len: number): boolean {
  const size = COMMAND_SIZES.get(cmd)
  return size !== undefined && len >= size[0] && len <= size[1]
}

/**
 * Does buf[off..end) start with a command packet (sequence id 0)? `off` is where the packet would
 * start. 'more' when the check needs bytes beyond `end`. SQL text commands are judged on their first
 * words; every other command only once it is whole, on every field it has. Replication commands
 * (COM_BINLOG_DUMP...) and COM_STMT_SEND_LONG_DATA / COM_STMT_BULK_EXECUTE carry mostly binary data
 * and are never taken for a clean start: a replica's connection is seen from its handshake anyway.
 */
export function checkCommand(buf: Buffer, off: number, end: number): Verdict {
  if (end - off < 5) return end - off >= 4 && buf[off + 3] !== 0 ? 'no' : 'more'
  const len = payloadLength(buf, off)
  if (buf[off + 3] !== 0 || len === 0) return 'no'
  const cmd = buf[off + 4]
  if (!commandFits(cmd, len)) return 'no'
  const p = off + HEADER_BYTES // payload
  const pEnd = Math.min(end, p + len)
  const whole = end - p >= len
  if (cmd !== Cmd.Query && cmd !== Cmd.StmtPrepare && !whole) return 'more'
  switch (cmd) {
    case Cmd.Query:
    case Cmd.StmtPrepare: {
      let t = p + 1
      // COM_QUERY under CLIENT_QUERY_ATTRIBUTES: parameter_count:lenenc parameter_set_count:lenenc(=1)
      // before the text; with no attributes that is 00 01. SQL text never starts with a control byte.
      if (cmd === Cmd.Query && t < pEnd && buf[t] < 0x20 && !isSpaceByte(buf[t])) {
        if (t + 2 > pEnd) return 'more'
        if (buf[t] !== 0 || buf[t + 1] !== 1) return buf[t + 1] === 1 ? 'yes' : 'no' // attributes with values: trust the header
        t += 2
      }
      return checkSqlStart(buf, t, pEnd, whole)
    }
    case Cmd.InitDb:
    case Cmd.CreateDb:
    case Cmd.DropDb:
      return isText(buf, p + 1, p + len) ? 'yes' : 'no'
    case Cmd.FieldList: {
      // table:string<NUL> wildcard:string<EOF>
      const nul = buf.indexOf(0, p + 1)
      if (nul < 0 || nul >= p + len || nul === p + 1) return 'no'
      return isText(buf, p + 1, nul) && isText(buf, nul + 1, p + len) ? 'yes' : 'no'
    }
    case Cmd.ChangeUser: {
      // user:string<NUL> auth_response database:string<NUL> ...: a user name, and more after it
      const nul = buf.indexOf(0, p + 1)
      if (nul <= p + 1 || nul >= p + len - 1 || nul - p - 1 > 128) return 'no'
      return isText(buf, p + 1, nul) ? 'yes' : 'no'
    }
    case Cmd.StmtExecute:
      // stmt_id:int<4> flags:int<1> (cursor type, PARAMETER_COUNT_AVAILABLE) iteration_count:int<4> (always 1)
      if (buf[p + 5] > 0x0f) return 'no'
      return buf[p + 6] === 1 && buf[p + 7] === 0 && buf[p + 8] === 0 && buf[p + 9] === 0 ? 'yes' : 'no'
    case Cmd.StmtFetch:
      // stmt_id:int<4> num_rows:int<4> (> 0)
      return buf.readUInt32LE(p + 5) > 0 ? 'yes' : 'no'
    case Cmd.SetOption:
      // MYSQL_OPTION_MULTI_STATEMENTS_ON (0) / _OFF (1), int<2>
      return buf[p + 1] <= 1 && buf[p + 2] === 0 ? 'yes' : 'no'
    case Cmd.BinlogDump:
    case Cmd.BinlogDumpGtid:
    case Cmd.RegisterSlave:
    case Cmd.StmtSendLongData:
    case Cmd.StmtBulkExecute:
      return 'no'
    default:
      // fixed-size commands whose size already matched: QUIT, PING, STATISTICS, STMT_CLOSE, ...
      return 'yes'
  }
}

function isSpaceByte(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d
}

/** Does buf[t..end) start (after blanks, comments and '(') with a statement verb? */
function checkSqlStart(buf: Buffer, t: number, end: number, whole: boolean): Verdict {
  const stop = Math.min(end, t + VERB_SCAN_BYTES)
  while (t < stop) {
    const c = buf[t]
    if (isSpaceByte(c) || c === 0x28 /* ( */) {
      t++
      continue
    }
    if (c === 0x2f /* / */ && t + 1 < stop && buf[t + 1] === 0x2a /* * */) {
      if (t + 2 < stop && (buf[t + 2] === 0x21 /* ! */ || buf[t + 2] === 0x4d /* M */)) {
        // /*!40101 SET ... */ : executable comment, its content is the statement
        t += buf[t + 2] === 0x21 ? 3 : 4
        while (t < stop && buf[t] >= 0x30 && buf[t] <= 0x39) t++
        continue
      }
      const e = buf.indexOf('*/', t + 2, 'latin1')
      if (e < 0 || e >= stop) break
      t = e + 2
      continue
    }
    if (c === 0x23 /* # */ || (c === 0x2d && t + 2 < stop && buf[t + 1] === 0x2d && buf[t + 2] <= 0x20)) {
      const e = buf.indexOf(0x0a, t)
      if (e < 0 || e >= stop) break
      t = e + 1
      continue
    }
    // the verb: letters up to a non-letter
    let e = t
    while (e < end && e - t <= LONGEST_VERB && ((buf[e] | 0x20) >= 0x61 && (buf[e] | 0x20) <= 0x7a)) e++
    if (e === end && !whole) return 'more'
    if (e - t > LONGEST_VERB || e === t) return 'no'
    const next = e < end ? buf[e] : 0x20
    if (next === 0x5f || (next >= 0x30 && next <= 0x39) || next >= 0x80) return 'no' // longer identifier
    return SQL_START_SET.has(buf.toString('latin1', t, e).toUpperCase()) ? 'yes' : 'no'
  }
  if (t >= end && !whole) return 'more'
  return 'no'
}

/**
 * Handshake v10 greeting (seq 0) or an ERR sent instead of one (1130 host not allowed, 1040 too many
 * connections), at buf[off]. Needs the whole packet.
 */
export function checkGreeting(buf: Buffer, off: number, end: number): Verdict {
  if (end - off < 5) return 'more'
  const len = payloadLength(buf, off)
  if (buf[off + 3] !== 0 || len < 3 || len > 1024) return 'no'
  const first = buf[off + 4]
  if (first !== HANDSHAKE_V10 && first !== Hdr.Err) return 'no'
  if (end - off < HEADER_BYTES + len) return 'more'
  const p = off + HEADER_BYTES
  if (first === Hdr.Err) {
    // error_code:int<2> message (no '#' sqlstate before the client spoke 4.1)
    const code = buf.readUInt16LE(p + 1)
    return code >= 1000 && len >= 8 && isText(buf, p + 3, p + len) ? 'yes' : 'no'
  }
  return readGreeting(buf, p, p + len) !== undefined ? 'yes' : 'no'
}

/** HandshakeResponse41 or SSLRequest (seq 1) at buf[off]. Needs the first 32 payload bytes. */
export function checkHandshakeResponse(buf: Buffer, off: number, end: number): Verdict {
  if (end - off < 4) return 'more'
  const len = payloadLength(buf, off)
  if (buf[off + 3] !== 1 || len < 32 || len > 64 * 1024) return 'no'
  if (end - off < HEADER_BYTES + 32) return 'more'
  const p = off + HEADER_BYTES
  const caps = buf.readUInt32LE(p)
  if (!(caps & Cap.PROTOCOL_41)) return 'no'
  // the 23-byte zero filler is the strong field (readHandshakeResponse checks it)
  return readHandshakeResponse(buf, p, p + 32) !== undefined ? 'yes' : 'no'
}

/**
 * A compressed-protocol frame (CLIENT_COMPRESS) at buf[off]:
 *   compressed_length:int<3> compressed_sequence_id:int<1> uncompressed_length:int<3> payload
 * uncompressed_length 0 means the payload is stored as is (then it holds whole MySQL packets);
 * otherwise it is a zlib stream (RFC 1950 header: CMF 0x78, FCHECK makes CMF*256+FLG a multiple of 31).
 * https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_basic_compression_packet.html
 */
export function checkCompressed(buf: Buffer, off: number, end: number): Verdict {
  if (end - off < 9) return 'more'
  const clen = payloadLength(buf, off)
  const ulen = payloadLength(buf, off + 4)
  if (clen < 4) return 'no'
  const p = off + 7
  if (ulen === 0) {
    // stored: the payload is a plain packet; a command from the client or a response from the server
    if (end - p < 4) return 'more'
    const inner = payloadLength(buf, p)
    return inner + HEADER_BYTES <= clen && inner > 0 ? 'yes' : 'no'
  }
  // compressed frames are only used for payloads of at least 50 bytes (MIN_COMPRESS_LENGTH) and
  // deflate never grows them much
  if (ulen < 50 || clen > ulen + 64) return 'no'
  return buf[p] === 0x78 && ((buf[p] << 8) | buf[p + 1]) % 31 === 0 ? 'yes' : 'no'
}

/**
 * The detect() of the registry: the first bytes of a direction.
 *  c2s: a command (seq 0, known command, consistent length and content), a HandshakeResponse41 /
 *       SSLRequest, or a compressed-protocol frame carrying a command;
 *  s2c: a v10 greeting, or the ERR a server sends instead of one.
 */
export function detectMysql(head: Buffer, dir: 'c2s' | 's2c'): boolean {
  if (dir === 's2c') return checkGreeting(head, 0, head.length) === 'yes'
  if (checkHandshakeResponse(head, 0, head.length) === 'yes') return true
  const v = checkCommand(head, 0, head.length)
  if (v === 'yes') {
    const total = HEADER_BYTES + payloadLength(head, 0)
    // whole packets: the head is one command, or several (COM_STMT_CLOSE then COM_QUERY); a longer
    // command cut by the segment is accepted on its content alone (checkCommand looked at it)
    if (total >= head.length) return true
    return checkCommand(head, total, head.length) !== 'no'
  }
  if (v === 'more') return false
  if (checkCompressed(head, 0, head.length) !== 'yes') return false
  // the frame must also be whole or cut (never followed by junk) and, when stored, hold a command
  const clen = payloadLength(head, 0)
  if (payloadLength(head, 4) === 0) return checkCommand(head, 7, Math.min(head.length, 7 + clen)) === 'yes'
  return 7 + clen >= head.length
}
