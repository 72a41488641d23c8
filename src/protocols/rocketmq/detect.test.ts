import { describe, expect, it } from 'vitest'
import { mysqlParser } from '../mysql/parser.js'
import { postgresParser } from '../postgres/parser.js'
import { http2Parser } from '../http2/parser.js'
import { http1Parser } from '../http1/parser.js'
import { redisParser } from '../redis/parser.js'
import { detectRocketmq } from './detect.js'
import { binaryFrame, frame, jsonFrame, oneway, pull, request, response, sendV2 } from '../../../test/helpers/buffers/rocketmq.js'

const b = (s: string) => Buffer.from(s, 'latin1')

describe('rocketmq detect', () => {
  it('accepts a request as a client message and a response as a server message, JSON or binary', () => {
    for (const req of [pull(1, 't'), sendV2(2, 't'), oneway(15, 3), request(34, 4), binaryFrame({ code: 10, opaque: 5, extFields: { topic: 't' } })]) {
      expect(detectRocketmq(req, 'c2s')).toBe(true)
      expect(detectRocketmq(req, 's2c')).toBe(false)
    }
    for (const rsp of [response(0, 1), response(19, 2, 'body'), binaryFrame({ code: 0, opaque: 5, flag: 1, remark: 'x' })]) {
      expect(detectRocketmq(rsp, 's2c')).toBe(true)
      expect(detectRocketmq(rsp, 'c2s')).toBe(false)
    }
  })

  it('needs the whole header: a head cut inside it is not enough', () => {
    const req = pull(1, 'topic')
    const hl = req.readUInt32BE(4) & 0xffffff
    expect(detectRocketmq(req.subarray(0, 8 + hl), 'c2s')).toBe(true) // body not needed
    for (const n of [0, 3, 8, 12, 8 + hl - 1]) expect(detectRocketmq(req.subarray(0, n), 'c2s')).toBe(false)
  })

  it('rejects malformed headers: bad JSON, JSON not an object, odd flags, unknown binary codes, lengths that do not add up', () => {
    expect(detectRocketmq(frame(0, b('{"code":11,"opaque":1')), 'c2s')).toBe(false)
    expect(detectRocketmq(frame(0, b('[1,2,3,4,5,6,7,8,9]')), 'c2s')).toBe(false)
    expect(detectRocketmq(frame(0, b(' {"code":11,"opaque":1}')), 'c2s')).toBe(false)
    expect(detectRocketmq(frame(0, b('{"code":"11","opaque":1}')), 'c2s')).toBe(false)
    expect(detectRocketmq(jsonFrame({ code: 11, opaque: 1, flag: 3 }), 's2c')).toBe(false)
    expect(detectRocketmq(jsonFrame({ code: 11, opaque: 1, flag: 8 }), 'c2s')).toBe(false)
    expect(detectRocketmq(binaryFrame({ code: 4242, opaque: 1 }), 'c2s')).toBe(false)
    const bin = binaryFrame({ code: 10, opaque: 1, remark: 'abc' })
    bin.writeInt32BE(4, 8 + 13) // remark length one too long
    expect(detectRocketmq(bin, 'c2s')).toBe(false)
    const ser2 = pull(1, 't')
    ser2[4] = 2 // no such serialize type
    expect(detectRocketmq(ser2, 'c2s')).toBe(false)
    const huge = pull(1, 't')
    huge.writeUInt32BE(17 * 1024 * 1024, 0)
    expect(detectRocketmq(huge, 'c2s')).toBe(false)
  })

  it("never claims other protocols' first bytes", () => {
    const pgStartup = Buffer.concat([Buffer.from([0, 0, 0, 41, 0, 3, 0, 0]), b('user\0postgres\0database\0db\0\0'), Buffer.alloc(4)])
    const sslRequest = Buffer.from([0, 0, 0, 8, 4, 0xd2, 0x16, 0x2f])
    const mysqlQuery = Buffer.concat([Buffer.from([0x12, 0, 0, 0, 0x03]), b('SELECT 1 FROM dual')])
    const mysqlBig = Buffer.concat([Buffer.from([0x00, 0x01, 0x00, 0x00, 0x03]), b('{"code":1,'.repeat(30))])
    const h2 = Buffer.concat([b('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), Buffer.from([0, 0, 6, 4, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 100])])
    const h2Settings = Buffer.from([0, 0, 12, 4, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 100, 0, 4, 0, 1, 0, 0, 0])
    const kafka = Buffer.concat([Buffer.from([0, 0, 0, 20, 0, 18, 0, 3, 0, 0, 0, 1, 0, 7]), b('client1'), Buffer.alloc(3)])
    const tls = Buffer.from([0x16, 3, 1, 0, 200, 1, 0, 0, 196, 3, 3])
    const mongo = Buffer.concat([Buffer.from([60, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0xdd, 7, 0, 0]), Buffer.alloc(44)])
    for (const head of [
      b('GET / HTTP/1.1\r\nHost: x\r\n\r\n'), b('HTTP/1.1 200 OK\r\n\r\n'), b('*1\r\n$4\r\nPING\r\n'), b('+OK\r\n'),
      pgStartup, sslRequest, mysqlQuery, mysqlBig, h2, h2Settings, kafka, tls, mongo, Buffer.alloc(64),
    ]) {
      expect(detectRocketmq(head, 'c2s')).toBe(false)
      expect(detectRocketmq(head, 's2c')).toBe(false)
    }
  })

  it('parsers asked before or after it do not take RocketMQ frames', () => {
    for (const head of [pull(1, 'TopicTest'), sendV2(2, 'TopicTest'), response(0, 1), response(19, 2, 'x'), binaryFrame({ code: 10, opaque: 1 })]) {
      for (const p of [postgresParser, mysqlParser, http2Parser, http1Parser, redisParser]) {
        expect(p.detect(head, 'c2s'), p.id).toBe(false)
        expect(p.detect(head, 's2c'), p.id).toBe(false)
      }
    }
  })
})
