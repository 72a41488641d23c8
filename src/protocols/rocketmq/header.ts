// RocketMQ remoting wire format (apache/rocketmq RemotingCommand.java encode/decode,
// RocketMQSerializable.java; NettyDecoder.java for the frame cap):
//
//   frame   => length:int32 serialize:int8 header_length:int24 header body
//              length counts every byte after itself (4 + header_length + body); big-endian throughout
//              serialize (RemotingCommand.markProtocolType): 0 JSON, 1 ROCKETMQ (binary)
//   JSON    => {"code":N,"extFields":{...},"flag":F,"language":"JAVA","opaque":ID,"remark":"...",
//               "serializeTypeCurrentRPC":"JSON","version":V}   (keys in any order; extFields values are strings)
//   ROCKETMQ=> code:int16 language:int8 version:int16 opaque:int32 flag:int32
//              remark_length:int32 remark:bytes ext_length:int32 ext:(key_length:int16 key value_length:int32 value)*
//   flag    => bit 0 RPC_TYPE (1 = response), bit 1 RPC_ONEWAY (no response will come)
//
// The body (message payload, route tables) is never read.

import { truncateText } from '../text.js'
import { usesShortHeader } from './codes.js'

/** length:int32 + serialize:int8 + header_length:int24 */
export const PREFIX_BYTES = 8
/** NettyDecoder FRAME_MAX_LENGTH default (com.rocketmq.remoting.frameMaxLength = 16777216): brokers refuse longer frames */
export const MAX_WIRE_FRAME = 16 * 1024 * 1024
/** headers longer than this are not parsed (real ones are well under 4 KiB; the body carries the bulk) */
export const MAX_HEADER_BYTES = 64 * 1024
/** ROCKETMQ header without remark and extFields: 2 + 1 + 2 + 4 + 4 + 4 + 4 (RocketMQSerializable.calTotalLen) */
export const BINARY_HEADER_MIN = 21
/** the shortest JSON header that can hold a code: {"code":0} */
const JSON_HEADER_MIN = 10

export const enum Serialize {
  Json = 0,
  RocketMq = 1,
}

export const enum Flag {
  Response = 1,
  Oneway = 2,
}

/** LanguageCode.java: JAVA 0 ... OMS 11; a little room for languages added later */
const MAX_LANGUAGE = 15

export interface Header {
  code: number
  flag: number
  opaque: number
  /** extFields "topic", or "b" in SendMessageRequestHeaderV2; cut to maxTextBytes */
  topic: string | undefined
}

/** frame bytes (length field included) at `off`, or -1 when these 8 bytes cannot start a frame */
export function frameBytesAt(buf: Buffer, off: number): number {
  const len = buf.readUInt32BE(off)
  const ser = buf[off + 4]
  const hl = (buf[off + 5] << 16) | (buf[off + 6] << 8) | buf[off + 7]
  if (len > MAX_WIRE_FRAME || ser > Serialize.RocketMq) return -1
  if (hl < (ser === Serialize.Json ? JSON_HEADER_MIN : BINARY_HEADER_MIN) || hl + 4 > len) return -1
  return len + 4
}

export function serializeAt(buf: Buffer, off: number): number {
  return buf[off + 4]
}

export function headerLengthAt(buf: Buffer, off: number): number {
  return (buf[off + 5] << 16) | (buf[off + 6] << 8) | buf[off + 7]
}

/** decodes a header (its bytes only); null when it is not a well-formed header of that serialization */
export function decodeHeader(h: Buffer, ser: number, maxText: number): Header | null {
  return ser === Serialize.Json ? decodeJson(h, maxText) : decodeBinary(h, maxText)
}

function decodeJson(h: Buffer, maxText: number): Header | null {
  // {" : an object whose first member has a name; anything else is not a RemotingCommand
  if (h.length < JSON_HEADER_MIN || h[0] !== 0x7b || h[1] !== 0x22) return null
  let v: unknown
  try {
    v = JSON.parse(h.toString('utf8'))
  } catch {
    return null
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return null
  const o = v as Record<string, unknown>
  const code = o.code
  const opaque = o.opaque ?? 0
  const flag = o.flag ?? 0
  if (!isInt32(code) || !isInt32(opaque) || !isInt32(flag)) return null
  let topic: string | undefined
  const ext = o.extFields
  if (typeof ext === 'object' && ext !== null && !Array.isArray(ext)) {
    const e = ext as Record<string, unknown>
    const t = typeof e.topic === 'string' ? e.topic : usesShortHeader(code) && typeof e.b === 'string' ? e.b : undefined
    if (t !== undefined && t !== '') topic = truncateText(t, maxText)
  }
  return { code, flag, opaque, topic }
}

function isInt32(x: unknown): x is number {
  return typeof x === 'number' && Number.isInteger(x) && x >= -0x80000000 && x <= 0x7fffffff
}

function decodeBinary(h: Buffer, maxText: number): Header | null {
  if (h.length < BINARY_HEADER_MIN) return null
  const code = h.readInt16BE(0)
  if (h[2] > MAX_LANGUAGE) return null
  const opaque = h.readInt32BE(5)
  const flag = h.readInt32BE(9)
  const remarkLen = h.readInt32BE(13)
  if (remarkLen < 0 || 17 + remarkLen + 4 > h.length) return null
  const extAt = 17 + remarkLen + 4
  const extLen = h.readInt32BE(extAt - 4)
  // the header is exactly its fields: a length that does not add up is not a header
  if (extLen < 0 || extAt + extLen !== h.length) return null
  const short = usesShortHeader(code)
  let topic: string | undefined
  let p = extAt
  while (p < h.length) {
    if (p + 2 > h.length) return null
    const kl = h.readInt16BE(p)
    if (kl < 0 || p + 2 + kl + 4 > h.length) return null
    const k = p + 2
    const vl = h.readInt32BE(k + kl)
    const vAt = k + kl + 4
    if (vl < 0 || vAt + vl > h.length) return null
    // only the topic is read: ext values are otherwise never turned into strings
    if (topic === undefined && vl > 0 && ((kl === 5 && h.toString('latin1', k, k + 5) === 'topic') || (short && kl === 1 && h[k] === 0x62 /* b */))) {
      topic = truncateText(h.toString('utf8', vAt, vAt + Math.min(vl, maxText * 4)), maxText)
    }
    p = vAt + vl
  }
  return { code, flag, opaque, topic }
}

/**
 * Is there a whole, well-formed frame header at buf[off]? 1 yes, 0 no, -1 not enough bytes to tell.
 * Stricter than what the parser accepts once in sync: only flag bits 0 and 1, never both (a oneway
 * response does not exist), a non-negative code, and for the binary form a code the tables know (its
 * fields are too short to be told from chance otherwise). `header` receives the decoded header on 1.
 */
export function messageStartAt(buf: Buffer, off: number, known: (code: number, response: boolean) => boolean, out?: { header: Header | null }): number {
  if (buf.length - off < PREFIX_BYTES) return -1
  if (frameBytesAt(buf, off) < 0) return 0
  const hl = headerLengthAt(buf, off)
  if (hl > MAX_HEADER_BYTES) return 0
  const ser = serializeAt(buf, off)
  if (ser === Serialize.Json && buf.length - off >= PREFIX_BYTES + 2 && (buf[off + 8] !== 0x7b || buf[off + 9] !== 0x22)) return 0
  if (buf.length - off < PREFIX_BYTES + hl) return -1
  const h = decodeHeader(buf.subarray(off + PREFIX_BYTES, off + PREFIX_BYTES + hl), ser, 128)
  if (h === null) return 0
  if ((h.flag & ~3) !== 0 || h.flag === 3 || h.code < 0) return 0
  if (ser === Serialize.RocketMq && !known(h.code, (h.flag & Flag.Response) !== 0)) return 0
  if (out !== undefined) out.header = h
  return 1
}
