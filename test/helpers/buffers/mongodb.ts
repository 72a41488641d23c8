// Builders for MongoDB wire messages in tests (pg-protocol testing/test-buffers.ts style): tests say
// what they send, not hex. Documents are built by the real `bson` package, so the parser's own walker
// is checked against an independent encoder. Not used at run time.

import { execFileSync } from 'node:child_process'
import * as zlib from 'node:zlib'
import { compress as snappyCompress } from 'snappyjs'
import { serialize, type Document } from 'bson'

export const OP = { reply: 1, update: 2001, insert: 2002, query: 2004, getMore: 2005, delete: 2006, killCursors: 2007, command: 2010, commandReply: 2011, compressed: 2012, msg: 2013 } as const

function header(len: number, requestId: number, responseTo: number, op: number): Buffer {
  const h = Buffer.alloc(16)
  h.writeInt32LE(len, 0)
  h.writeInt32LE(requestId, 4)
  h.writeInt32LE(responseTo, 8)
  h.writeInt32LE(op, 12)
  return h
}

function message(requestId: number, responseTo: number, op: number, body: Buffer[]): Buffer {
  const len = 16 + body.reduce((n, b) => n + b.length, 0)
  return Buffer.concat([header(len, requestId, responseTo, op), ...body])
}

const i32 = (n: number): Buffer => {
  const b = Buffer.alloc(4)
  b.writeInt32LE(n)
  return b
}
const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4)
  b.writeUInt32LE(n >>> 0)
  return b
}
const i64 = (n: bigint): Buffer => {
  const b = Buffer.alloc(8)
  b.writeBigInt64LE(n)
  return b
}
const cstr = (s: string): Buffer => Buffer.concat([Buffer.from(s, 'utf8'), Buffer.from([0])])
export const bson = (d: Document): Buffer => Buffer.from(serialize(d))

export interface MsgOptions {
  requestId: number
  responseTo?: number
  /** flagBits: 1 checksumPresent, 2 moreToCome, 1<<16 exhaustAllowed */
  flags?: number
  /** kind-1 document sequences, sent before the body when `sequencesFirst` */
  sequences?: { id: string; docs: Document[] }[]
  sequencesFirst?: boolean
}

export const MORE_TO_COME = 2
export const CHECKSUM = 1
export const EXHAUST_ALLOWED = 1 << 16

/** OP_MSG with body `doc` (a command or a reply) */
export function opMsg(doc: Document, o: MsgOptions): Buffer {
  const flags = o.flags ?? 0
  const body = Buffer.concat([Buffer.from([0]), bson(doc)])
  const seqs = (o.sequences ?? []).map((s) => {
    const docs = Buffer.concat(s.docs.map(bson))
    const id = cstr(s.id)
    return Buffer.concat([Buffer.from([1]), i32(4 + id.length + docs.length), id, docs])
  })
  const sections = o.sequencesFirst ? [...seqs, body] : [body, ...seqs]
  // the CRC-32C is not checked by podtap: any 4 bytes do
  const tail = flags & CHECKSUM ? [Buffer.from([0xde, 0xad, 0xbe, 0xef])] : []
  return message(o.requestId, o.responseTo ?? 0, OP.msg, [u32(flags), ...sections, ...tail])
}

/** a command request: OP_MSG {cmd: arg, ...rest, $db} */
export function cmd(requestId: number, db: string, command: Document, flags = 0): Buffer {
  return opMsg({ ...command, $db: db }, { requestId, flags })
}

/** a reply OP_MSG answering `responseTo` */
export function reply(requestId: number, responseTo: number, doc: Document, flags = 0): Buffer {
  return opMsg(doc, { requestId, responseTo, flags })
}

export function opQuery(requestId: number, ns: string, query: Document, flags = 0, responseTo = 0): Buffer {
  return message(requestId, responseTo, OP.query, [i32(flags), cstr(ns), i32(0), i32(-1), bson(query)])
}

export interface ReplyOptions {
  requestId: number
  responseTo: number
  flags?: number
  cursorId?: bigint
}

export function opReply(docs: Document[], o: ReplyOptions): Buffer {
  return message(o.requestId, o.responseTo, OP.reply, [
    i32(o.flags ?? 0), i64(o.cursorId ?? 0n), i32(0), i32(docs.length), ...docs.map(bson),
  ])
}

export function opInsert(requestId: number, ns: string, docs: Document[]): Buffer {
  return message(requestId, 0, OP.insert, [i32(0), cstr(ns), ...docs.map(bson)])
}

export function opUpdate(requestId: number, ns: string, selector: Document, update: Document): Buffer {
  return message(requestId, 0, OP.update, [i32(0), cstr(ns), i32(0), bson(selector), bson(update)])
}

export function opDelete(requestId: number, ns: string, selector: Document): Buffer {
  return message(requestId, 0, OP.delete, [i32(0), cstr(ns), i32(0), bson(selector)])
}

export function opGetMore(requestId: number, ns: string, cursorId: bigint): Buffer {
  return message(requestId, 0, OP.getMore, [i32(0), cstr(ns), i32(0), i64(cursorId)])
}

export function opKillCursors(requestId: number, ids: bigint[]): Buffer {
  return message(requestId, 0, OP.killCursors, [i32(0), i32(ids.length), ...ids.map(i64)])
}

/**
 * The body compressed as the drivers do: 0 noop, 1 snappy (snappyjs, the Snappy block format), 2 zlib
 * (node:zlib deflate), 3 zstd (the zstd command line tool).
 */
export function compressBody(body: Buffer, compressorId: number): Buffer {
  switch (compressorId) {
    case 1:
      return Buffer.from(snappyCompress(body))
    case 2:
      return zlib.deflateSync(body)
    case 3:
      return execFileSync('zstd', ['-q', '-c', '-19'], { input: body, maxBuffer: 64 << 20 })
    default:
      return body
  }
}

/**
 * OP_COMPRESSED around `original` (a whole message), its body compressed with `compressorId`; with
 * `raw`, the "compressed" bytes are the original body as is (what no compressor would send).
 */
export function opCompressed(original: Buffer, compressorId: number, o: { raw?: boolean; size?: number } = {}): Buffer {
  const reqId = original.readInt32LE(4)
  const respTo = original.readInt32LE(8)
  const op = original.readInt32LE(12)
  const inner = original.subarray(16)
  const body = o.raw ? inner : compressBody(inner, compressorId)
  return message(reqId, respTo, OP.compressed, [i32(op), i32(o.size ?? inner.length), Buffer.from([compressorId]), body])
}

/**
 * Legacy OP_COMMAND (3.2 to 4.0): database, command name, then commandArgs and metadata, in the order
 * the server reads them (`metadataFirst`: the order the wire protocol page lists)
 */
export function opCommand(requestId: number, db: string, args: Document, o: { metadata?: Document; metadataFirst?: boolean } = {}): Buffer {
  const docs = o.metadataFirst ? [bson(o.metadata ?? {}), bson(args)] : [bson(args), bson(o.metadata ?? {})]
  const name = Object.keys(args)[0]!
  return message(requestId, 0, OP.command, [Buffer.from(`${db}\0${name}\0`), ...docs])
}

/** Legacy OP_COMMANDREPLY: commandReply and metadata (`metadataFirst`: as the wire protocol page lists) */
export function opCommandReply(requestId: number, responseTo: number, reply: Document, o: { metadata?: Document; metadataFirst?: boolean } = {}): Buffer {
  const docs = o.metadataFirst ? [bson(o.metadata ?? {}), bson(reply)] : [bson(reply), bson(o.metadata ?? {})]
  return message(requestId, responseTo, OP.commandReply, docs)
}
