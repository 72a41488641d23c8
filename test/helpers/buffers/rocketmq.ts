// Builders for RocketMQ remoting test input (pg-protocol testing/test-buffers.ts style): tests say what
// they send, not hex. Layout in header.ts. Not used at run time.

export interface Command {
  code: number
  opaque: number
  /** bit 0 response, bit 1 oneway; default 0 */
  flag?: number
  extFields?: Record<string, string>
  remark?: string
  language?: string
  version?: number
}

/** a whole frame: length, serialize type 0 + header length, JSON header, body */
export function jsonFrame(c: Command, body: Buffer | string = ''): Buffer {
  const h: Record<string, unknown> = { code: c.code }
  if (c.extFields !== undefined) h.extFields = c.extFields
  h.flag = c.flag ?? 0
  h.language = c.language ?? 'JAVA'
  h.opaque = c.opaque
  if (c.remark !== undefined) h.remark = c.remark
  h.serializeTypeCurrentRPC = 'JSON'
  h.version = c.version ?? 401
  return frame(0, Buffer.from(JSON.stringify(h), 'utf8'), body)
}

/** a whole frame with a ROCKETMQ (binary) header (RocketMQSerializable.rocketMQProtocolEncode) */
export function binaryFrame(c: Command, body: Buffer | string = ''): Buffer {
  const remark = Buffer.from(c.remark ?? '', 'utf8')
  const ext: Buffer[] = []
  for (const [k, v] of Object.entries(c.extFields ?? {})) {
    const kb = Buffer.from(k, 'utf8')
    const vb = Buffer.from(v, 'utf8')
    const kl = Buffer.alloc(2)
    kl.writeInt16BE(kb.length)
    const vl = Buffer.alloc(4)
    vl.writeInt32BE(vb.length)
    ext.push(kl, kb, vl, vb)
  }
  const extBytes = Buffer.concat(ext)
  const fixed = Buffer.alloc(17)
  fixed.writeInt16BE(c.code, 0)
  fixed[2] = 0 // JAVA
  fixed.writeInt16BE(c.version ?? 401, 3)
  fixed.writeInt32BE(c.opaque, 5)
  fixed.writeInt32BE(c.flag ?? 0, 9)
  fixed.writeInt32BE(remark.length, 13)
  const extLen = Buffer.alloc(4)
  extLen.writeInt32BE(extBytes.length)
  return frame(1, Buffer.concat([fixed, remark, extLen, extBytes]), body)
}

/** length + serialize/header-length + header + body, from raw header bytes (for malformed cases) */
export function frame(serialize: number, header: Buffer, body: Buffer | string = ''): Buffer {
  const b = typeof body === 'string' ? Buffer.from(body, 'utf8') : body
  const pre = Buffer.alloc(8)
  pre.writeUInt32BE(4 + header.length + b.length, 0)
  pre.writeUInt32BE(((serialize & 0xff) << 24) | header.length, 4)
  return Buffer.concat([pre, header, b])
}

export const request = (code: number, opaque: number, extFields?: Record<string, string>, body: Buffer | string = ''): Buffer =>
  jsonFrame({ code, opaque, extFields }, body)

export const oneway = (code: number, opaque: number, extFields?: Record<string, string>): Buffer =>
  jsonFrame({ code, opaque, flag: 2, extFields })

export const response = (code: number, opaque: number, body: Buffer | string = '', remark?: string): Buffer =>
  jsonFrame({ code, opaque, flag: 1, remark }, body)

/** a SEND_MESSAGE_V2 request as the Java producer sends it: SendMessageRequestHeaderV2 short names */
export function sendV2(opaque: number, topic: string, body: Buffer | string = 'hello'): Buffer {
  return request(310, opaque, { a: 'producer-group', b: topic, c: 'TBW102', d: '4', e: '0', f: '0', g: '1736132550666', h: '0', i: 'WAIT\u0001true', j: '0', k: 'false', m: 'false' }, body)
}

/** a PULL_MESSAGE request */
export function pull(opaque: number, topic: string): Buffer {
  return request(11, opaque, { consumerGroup: 'cg', topic, queueId: '0', queueOffset: '0', maxMsgNums: '32', sysFlag: '3', commitOffset: '0', suspendTimeoutMillis: '15000', subVersion: '1', expressionType: 'TAG' })
}
