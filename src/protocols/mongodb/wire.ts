// MongoDB wire protocol: message header, opcodes, and the plausibility checks shared by detection and
// by the parser's resync after a gap.
// Spec: https://www.mongodb.com/docs/manual/reference/mongodb-wire-protocol/ (and the legacy opcodes page)
//
// Every message, both directions, little-endian:
//   MsgHeader => int32 messageLength (header included), int32 requestID, int32 responseTo, int32 opCode
//   OP_MSG 2013        => uint32 flagBits, sections..., [uint32 CRC-32C when checksumPresent]
//                         section kind 0 => one BSON document (the command or the reply)
//                         section kind 1 => int32 size, cstring identifier, BSON documents...
//   OP_QUERY 2004      => int32 flags, cstring fullCollectionName, int32 numberToSkip,
//                         int32 numberToReturn, document query, [document returnFieldsSelector]
//   OP_REPLY 1         => int32 responseFlags, int64 cursorID, int32 startingFrom, int32 numberReturned,
//                         documents...
//   OP_COMPRESSED 2012 => int32 originalOpcode, int32 uncompressedSize, uint8 compressorId, compressed bytes
//   OP_UPDATE 2001     => int32 ZERO, cstring fullCollectionName, int32 flags, document selector, document update
//   OP_INSERT 2002     => int32 flags, cstring fullCollectionName, documents...
//   OP_GET_MORE 2005   => int32 ZERO, cstring fullCollectionName, int32 numberToReturn, int64 cursorID
//   OP_DELETE 2006     => int32 ZERO, cstring fullCollectionName, int32 flags, document selector
//   OP_KILL_CURSORS 2007 => int32 ZERO, int32 numberOfCursorIDs, int64 cursorIDs...
//   OP_COMMAND 2010    => cstring database, cstring commandName, document, document, documents...
//   OP_COMMANDREPLY 2011 => document, document, documents...
//                         (3.2 to 4.0 servers and tools; the docs put metadata first, the server read
//                         commandArgs / commandReply first: the parser reads both documents)
// BSON document => int32 length (itself included), elements..., 0x00; element => type byte, cstring name, value.

import type { Dir } from '../../tcp/types.js'

export const enum Op {
  Reply = 1,
  Update = 2001,
  Insert = 2002,
  Query = 2004,
  GetMore = 2005,
  Delete = 2006,
  KillCursors = 2007,
  Command = 2010,
  CommandReply = 2011,
  Compressed = 2012,
  Msg = 2013,
}

export const HEADER_BYTES = 16
/** maxMessageSizeBytes of every MongoDB server since 2.6 (hello reply: 48000000) */
export const MAX_MESSAGE_BYTES = 48_000_000

/** OP_MSG flagBits (spec "flagBits"): bits 0-15 must be known to the receiver, 16-31 are optional */
export const MSG_CHECKSUM_PRESENT = 1 << 0
export const MSG_MORE_TO_COME = 1 << 1
export const MSG_EXHAUST_ALLOWED = 1 << 16
const MSG_KNOWN_FLAGS = MSG_CHECKSUM_PRESENT | MSG_MORE_TO_COME | MSG_EXHAUST_ALLOWED

/** OP_REPLY responseFlags: CursorNotFound, QueryFailure, ShardConfigStale, AwaitCapable; the rest reserved */
export const REPLY_CURSOR_NOT_FOUND = 1 << 0
export const REPLY_QUERY_FAILURE = 1 << 1
const REPLY_KNOWN_FLAGS = 0xf
/** OP_QUERY flags: bit 0 reserved, 1 TailableCursor ... 6 Exhaust, 7 Partial */
export const QUERY_EXHAUST = 1 << 6
const QUERY_KNOWN_FLAGS = 0xfe

/** compressorId: 0 noop, 1 snappy, 2 zlib, 3 zstd */
export const COMPRESSORS = ['noop', 'snappy', 'zlib', 'zstd'] as const

/** longest namespace checked ("db.collection"; the server's limit is 255 bytes) */
export const MAX_NS_BYTES = 512
/** element names are read up to this length; longer ones are not names a command or reply uses */
export const MAX_NAME_BYTES = 256

export function opName(op: number): string {
  switch (op) {
    case Op.Reply: return 'OP_REPLY'
    case Op.Update: return 'OP_UPDATE'
    case Op.Insert: return 'OP_INSERT'
    case Op.Query: return 'OP_QUERY'
    case Op.GetMore: return 'OP_GET_MORE'
    case Op.Delete: return 'OP_DELETE'
    case Op.KillCursors: return 'OP_KILL_CURSORS'
    case Op.Compressed: return 'OP_COMPRESSED'
    case Op.Command: return 'OP_COMMAND'
    case Op.CommandReply: return 'OP_COMMANDREPLY'
    case Op.Msg: return 'OP_MSG'
    default: return 'unknown'
  }
}

/** opcodes a client sends (OP_COMPRESSED wraps any of them) */
export function isClientOp(op: number): boolean {
  return op === Op.Msg || op === Op.Query || op === Op.Compressed || op === Op.GetMore || op === Op.Insert ||
    op === Op.Update || op === Op.Delete || op === Op.KillCursors || op === Op.Command
}

/** opcodes a server sends */
export function isServerOp(op: number): boolean {
  return op === Op.Msg || op === Op.Reply || op === Op.Compressed || op === Op.CommandReply
}

/** a header at `off` whose length and opcode fit direction `dir` (16 bytes must be there) */
export function plausibleHeader(b: Buffer, off: number, dir: Dir, maxLen: number): boolean {
  const len = b.readInt32LE(off)
  if (len < HEADER_BYTES + 4 || len > maxLen) return false
  const op = b.readInt32LE(off + 12)
  return dir === 'c2s' ? isClientOp(op) : isServerOp(op)
}

/**
 * Does a message of direction `dir` start at `off`? Checks the header and the start of the body (flags
 * with only known bits, a namespace, the first document's length and first element name).
 * Returns the message length, 0 when it is not one, -1 when more bytes are needed to tell.
 */
export function plausibleMessage(b: Buffer, off: number, dir: Dir, maxLen: number): number {
  const avail = b.length - off
  if (avail < HEADER_BYTES) return -1
  const len = b.readInt32LE(off)
  if (len < HEADER_BYTES + 4 || len > maxLen) return 0
  const respTo = b.readInt32LE(off + 8)
  const op = b.readInt32LE(off + 12)
  if (dir === 'c2s' ? !isClientOp(op) : !isServerOp(op)) return 0
  const end = off + len // may lie beyond b
  const r = bodyHead(b, off, end, op, dir, respTo)
  return r === 1 ? len : r
}

/** 1 plausible, 0 not, -1 more bytes needed */
function bodyHead(b: Buffer, off: number, end: number, op: number, dir: Dir, respTo: number): -1 | 0 | 1 {
  const at = off + HEADER_BYTES
  if (b.length < at + 4) return -1
  switch (op) {
    case Op.Msg: {
      // a request never answers anything; a reply always names the request (or exhaust reply) it answers
      if ((dir === 'c2s') !== (respTo === 0)) return 0
      const flags = b.readUInt32LE(at)
      if ((flags & ~MSG_KNOWN_FLAGS) !== 0) return 0
      const secEnd = end - (flags & MSG_CHECKSUM_PRESENT ? 4 : 0)
      if (secEnd < at + 4 + 1 + 5) return 0
      if (b.length < at + 5) return -1
      const kind = b[at + 4]
      if (kind === 0) return docHead(b, at + 5, secEnd)
      if (kind !== 1) return 0
      if (b.length < at + 9) return -1
      const size = b.readInt32LE(at + 5)
      if (size < 4 + 2 || at + 5 + size > secEnd) return 0
      const id = cstrName(b, at + 9, at + 5 + size, true)
      return id > 0 ? 1 : id === -1 ? -1 : 0
    }
    case Op.Query: {
      if ((b.readUInt32LE(at) & ~QUERY_KNOWN_FLAGS) !== 0) return 0
      const ns = namespace(b, at + 4, end)
      if (ns <= 0) return ns === -1 ? -1 : 0
      return docHead(b, ns + 8, end)
    }
    case Op.Reply: {
      if (end < at + 20) return 0
      if (b.length < at + 20) return -1
      if ((b.readUInt32LE(at) & ~REPLY_KNOWN_FLAGS) !== 0) return 0
      const from = b.readInt32LE(at + 12)
      const n = b.readInt32LE(at + 16)
      if (from < 0 || n < 0 || at + 20 + 5 * n > end) return 0
      if (n === 0) return end === at + 20 ? 1 : 0
      return docHead(b, at + 20, end)
    }
    case Op.Compressed: {
      if (end < at + 10) return 0
      if (b.length < at + 9) return -1
      const orig = b.readInt32LE(at)
      if (orig === Op.Compressed || (dir === 'c2s' ? !isClientOp(orig) : !isServerOp(orig))) return 0
      if (orig === Op.Msg && (dir === 'c2s') !== (respTo === 0)) return 0
      const size = b.readInt32LE(at + 4)
      if (size < 0 || size > MAX_MESSAGE_BYTES) return 0
      return b[at + 8] < COMPRESSORS.length ? 1 : 0
    }
    case Op.Insert: {
      if ((b.readUInt32LE(at) & ~1) !== 0) return 0
      const ns = namespace(b, at + 4, end)
      if (ns <= 0) return ns === -1 ? -1 : 0
      return docHead(b, ns, end)
    }
    case Op.Update:
    case Op.Delete: {
      if (b.readInt32LE(at) !== 0) return 0
      const ns = namespace(b, at + 4, end)
      if (ns <= 0) return ns === -1 ? -1 : 0
      if (b.length < ns + 4) return -1
      if ((b.readUInt32LE(ns) & ~(op === Op.Update ? 3 : 1)) !== 0) return 0
      return docHead(b, ns + 4, end)
    }
    case Op.GetMore: {
      if (b.readInt32LE(at) !== 0) return 0
      const ns = namespace(b, at + 4, end)
      if (ns <= 0) return ns === -1 ? -1 : 0
      return ns + 12 === end ? 1 : 0
    }
    case Op.Command: {
      // a request answers nothing; database and command name are printable names
      if (respTo !== 0) return 0
      const db = cstrName(b, at, end, false)
      if (db <= 0) return db === -1 ? -1 : 0
      const name = cstrName(b, db, end, false)
      if (name <= 0) return name === -1 ? -1 : 0
      return docHead(b, name, end)
    }
    case Op.CommandReply:
      return respTo === 0 ? 0 : docHead(b, at, end)
    case Op.KillCursors: {
      if (b.readInt32LE(at) !== 0) return 0
      if (b.length < at + 8) return -1
      const n = b.readInt32LE(at + 4)
      return n >= 1 && end === at + 8 + 8 * n ? 1 : 0
    }
    default:
      return 0
  }
}

/**
 * A BSON document starting at `at` that fits before `end`: a sane length, then an empty document or a
 * known element type with a printable name. 1 / 0 / -1 (more bytes needed).
 */
export function docHead(b: Buffer, at: number, end: number): -1 | 0 | 1 {
  if (end < at + 5) return 0
  if (b.length < at + 5) return -1
  const len = b.readInt32LE(at)
  if (len < 5 || at + len > end) return 0
  const t = b[at + 4]
  if (t === 0) return len === 5 ? 1 : 0
  if (!isBsonType(t) || len < 8) return 0
  const r = cstrName(b, at + 5, at + len - 1, false)
  return r > 0 ? 1 : r === -1 ? -1 : 0
}

export function isBsonType(t: number): boolean {
  return (t >= 0x01 && t <= 0x13) || t === 0x7f || t === 0xff
}

/**
 * A printable cstring name at `at` ending before `end`: returns the offset after its NUL, 0 when it is
 * not a name, -1 when more bytes are needed. `ident`: a section identifier (letters only).
 */
function cstrName(b: Buffer, at: number, end: number, ident: boolean): number {
  const stop = Math.min(end, at + MAX_NAME_BYTES + 1)
  for (let i = at; i < stop; i++) {
    if (i >= b.length) return -1
    const c = b[i]
    if (c === 0) return i > at ? i + 1 : 0
    if (ident ? !((c | 0x20) >= 0x61 && (c | 0x20) <= 0x7a) : c < 0x20 || c > 0x7e) return 0
  }
  return 0
}

/** "db.collection" cstring at `at`: returns the offset after its NUL, 0 when not one, -1 for more bytes */
function namespace(b: Buffer, at: number, end: number): number {
  const stop = Math.min(end, at + MAX_NS_BYTES + 1)
  let dot = -1
  for (let i = at; i < stop; i++) {
    if (i >= b.length) return -1
    const c = b[i]
    if (c === 0) return dot > at && i > dot + 1 ? i + 1 : 0
    if (c < 0x20 || c > 0x7e) return 0
    if (c === 0x2e && dot < 0) dot = i
  }
  return 0
}
