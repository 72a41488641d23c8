import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { DEFAULT_LIMITS, type Limits } from '../../config.js'
import { checkSplits } from '../../../test/helpers/splits.js'
import { runParser, type RunResult, type Step } from '../../../test/helpers/protocols.js'
import type { ParsedExchange, ParserContext } from '../types.js'
import { RocketmqConnection, rocketmqParser } from './parser.js'
import { binaryFrame, frame, jsonFrame, oneway, pull, request, response, sendV2 } from '../../../test/helpers/buffers/rocketmq.js'

const c = (data: Buffer, tsUs: number): Step => ({ dir: 'c2s', data, tsUs })
const s = (data: Buffer, tsUs: number): Step => ({ dir: 's2c', data, tsUs })

/** runs the steps whole, at every split and byte by byte: all must give the same result */
function runAll(steps: Step[], limits: Partial<Limits> = {}): RunResult {
  return checkSplits(rocketmqParser, steps, limits)
}

/** the non-zero codes that are normal answers (codes.ts isFailure) */
const NORMAL_NAMES = new Set(['PULL_NOT_FOUND', 'PULL_RETRY_IMMEDIATELY', 'PULL_OFFSET_MOVED', 'QUERY_NOT_FOUND', 'TRANSACTION_SHOULD_COMMIT', 'TRANSACTION_SHOULD_ROLLBACK', 'TRANSACTION_STATE_UNKNOW'])
const brief = (e: ParsedExchange) => [e.method, e.resource, e.status, e.error]

describe('rocketmq: request/response pairs', () => {
  it('pairs SEND_MESSAGE_V2 and PULL_MESSAGE with their responses: topic, status, bytes, timing', () => {
    const send = sendV2(6, 'TopicTest', 'a message body')
    const sent = response(0, 6, '', undefined)
    const p = pull(7, 'orders')
    const found = response(0, 7, Buffer.alloc(300, 1), 'FOUND')
    const r = runAll([c(send, 1000), s(sent, 1400), c(p, 2000), s(found, 2600)])
    expect(r.exchanges).toEqual([
      { method: 'SEND_MESSAGE_V2', resource: 'TopicTest', status: 'SUCCESS', error: false, startUs: 1000, endUs: 1400, reqBytes: send.length, respBytes: sent.length },
      { method: 'PULL_MESSAGE', resource: 'orders', status: 'SUCCESS', error: false, startUs: 2000, endUs: 2600, reqBytes: p.length, respBytes: found.length },
    ])
    expect(r.unmatchedResponses).toBe(0)
    expect(r.counts).toEqual({})
  })

  it('pairs by opaque when responses come back in another order', () => {
    const r = runAll([
      c(Buffer.concat([pull(212, 'a'), pull(214, 'b'), pull(216, 'c')]), 10),
      s(Buffer.concat([response(19, 216), response(0, 212), response(20, 214)]), 20),
    ])
    expect(r.exchanges.map(brief)).toEqual([
      ['PULL_MESSAGE', 'c', 'PULL_NOT_FOUND', false], // an empty long-poll: a normal answer (codes.ts isFailure)
      ['PULL_MESSAGE', 'a', 'SUCCESS', false],
      ['PULL_MESSAGE', 'b', 'PULL_RETRY_IMMEDIATELY', false],
    ])
  })

  it('reads ROCKETMQ binary headers: code, opaque, flag and the topic from extFields', () => {
    const req = binaryFrame({ code: 10, opaque: 99, extFields: { producerGroup: 'pg', topic: 'bin-topic', queueId: '1' } }, 'payload')
    const rsp = binaryFrame({ code: 0, opaque: 99, flag: 1, remark: 'ok', extFields: { msgId: 'X', queueOffset: '5' } })
    const v2 = binaryFrame({ code: 310, opaque: 100, extFields: { a: 'pg', b: 'short-topic' } })
    const busy = binaryFrame({ code: 2, opaque: 100, flag: 1, remark: '[TIMEOUT_CLEAN_QUEUE]broker busy' })
    const r = runAll([c(req, 1), s(rsp, 2), c(v2, 3), s(busy, 4)])
    expect(r.exchanges).toEqual([
      { method: 'SEND_MESSAGE', resource: 'bin-topic', status: 'SUCCESS', error: false, startUs: 1, endUs: 2, reqBytes: req.length, respBytes: rsp.length },
      { method: 'SEND_MESSAGE_V2', resource: 'short-topic', status: 'SYSTEM_BUSY', error: true, startUs: 3, endUs: 4, reqBytes: v2.length, respBytes: busy.length },
    ])
  })

  it('names codes from the tables; unknown codes become their number; GET_ROUTEINFO_BY_TOPIC has its topic', () => {
    const r = runAll([
      c(Buffer.concat([request(105, 1, { topic: 'TBW102' }), request(34, 2), request(7777, 3), request(17, 4, { topic: 't' })]), 1),
      s(Buffer.concat([response(17, 1, '', 'No topic route info in name server for the topic: TBW102'), response(0, 2), response(9999, 3), response(1, 4)]), 2),
    ])
    expect(r.exchanges.map(brief)).toEqual([
      ['GET_ROUTEINFO_BY_TOPIC', 'TBW102', 'TOPIC_NOT_EXIST', true],
      ['HEART_BEAT', undefined, 'SUCCESS', false],
      ['7777', undefined, '9999', true],
      ['UPDATE_AND_CREATE_TOPIC', 't', 'SYSTEM_ERROR', true],
    ])
  })

  it('uses "b" as the topic only for SendMessageRequestHeaderV2 requests', () => {
    const r = runAll([c(request(38, 1, { b: 'not-a-topic', consumerGroup: 'g' }), 1), s(response(0, 1), 2)])
    expect(r.exchanges[0].resource).toBeUndefined()
  })

  it('cuts a long topic to maxTextBytes', () => {
    const r = runParser(rocketmqParser, [c(request(105, 1, { topic: 'x'.repeat(100) }), 1), s(response(0, 1), 2)], 'whole', { maxTextBytes: 16 })
    expect(r.exchanges[0].resource).toBe('x'.repeat(15) + '…')
  })
})

describe('rocketmq: oneway, unanswered, unmatched, server requests', () => {
  it('emits oneway requests at once with status null and error false (reply: none), never as unanswered', () => {
    const a = oneway(15, 5722, { topic: 'TopicTest', queueId: '3', commitOffset: '904' })
    const b = oneway(15, 5723, { topic: 'TopicTest', queueId: '2', commitOffset: '904' })
    const exchanges: ParsedExchange[] = []
    const h = rocketmqParser.create(ctxFor(exchanges))
    h.data('c2s', a, 100, -1)
    expect(exchanges).toHaveLength(1) // before the connection ends
    h.data('c2s', b, 200, -1)
    h.end('fin', 999)
    expect(exchanges).toEqual([
      { method: 'UPDATE_CONSUMER_OFFSET', resource: 'TopicTest', status: null, error: false, startUs: 100, endUs: 100, reqBytes: a.length, respBytes: 0, attrs: { reply: 'none' } },
      { method: 'UPDATE_CONSUMER_OFFSET', resource: 'TopicTest', status: null, error: false, startUs: 200, endUs: 200, reqBytes: b.length, respBytes: 0, attrs: { reply: 'none' } },
    ])
    const split = runAll([c(Buffer.concat([a, b]), 5)])
    expect(split.exchanges.map((e) => [e.status, e.error])).toEqual([[null, false], [null, false]])
  })

  it('reports a request without response at the end as unanswered; counts a response without request', () => {
    const r = runAll([s(response(0, 41), 1), c(pull(42, 't'), 2), { end: 'rst', tsUs: 50 }])
    expect(r.unmatchedResponses).toBe(1)
    expect(r.exchanges).toEqual([
      { method: 'PULL_MESSAGE', resource: 't', status: null, error: true, startUs: 2, endUs: 50, reqBytes: pull(42, 't').length, respBytes: 0 },
    ])
  })

  it('pairs a request the broker sends with the client response, marked initiator server', () => {
    const req = jsonFrame({ code: 307, opaque: 9, extFields: { consumerGroup: 'g', clientId: 'c' } })
    const rsp = jsonFrame({ code: 0, opaque: 9, flag: 1 }, '{"properties":{}}')
    const r = runAll([c(pull(9, 't'), 1), s(req, 2), c(rsp, 3), s(response(0, 9), 4)])
    expect(r.exchanges).toEqual([
      { method: 'GET_CONSUMER_RUNNING_INFO', status: 'SUCCESS', error: false, startUs: 2, endUs: 3, reqBytes: req.length, respBytes: rsp.length, attrs: { initiator: 'server' } },
      { method: 'PULL_MESSAGE', resource: 't', status: 'SUCCESS', error: false, startUs: 1, endUs: 4, reqBytes: pull(9, 't').length, respBytes: response(0, 9).length },
    ])
  })

  it('a reused opaque reports the older request unanswered', () => {
    const r = runAll([c(Buffer.concat([pull(1, 'a'), pull(1, 'b')]), 1), s(response(0, 1), 2)])
    expect(r.counts.pending_evicted).toBe(1)
    expect(r.exchanges.map(brief)).toEqual([
      ['PULL_MESSAGE', 'a', null, true],
      ['PULL_MESSAGE', 'b', 'SUCCESS', false],
    ])
  })

  it('caps pending requests: the oldest are reported unanswered and state stays bounded', () => {
    const reqs = Array.from({ length: 15 }, (_, i) => pull(i, 't' + i))
    const r = runParser(rocketmqParser, [c(Buffer.concat(reqs), 1), s(response(0, 14), 2)], 'whole', { maxPendingRequests: 10 })
    expect(r.counts.pending_evicted).toBe(5)
    expect(r.exchanges).toHaveLength(15)
    expect(r.exchanges.slice(0, 5).map((e) => e.resource)).toEqual(['t0', 't1', 't2', 't3', 't4'])
    expect(r.exchanges.slice(0, 5).every((e) => e.status === null)).toBe(true)
    expect(r.exchanges[5]).toMatchObject({ resource: 't14', status: 'SUCCESS' })
    expect(r.exchanges.filter((e) => e.status === null)).toHaveLength(14)
  })
})

describe('rocketmq: gaps, mid-stream starts, bad input', () => {
  it('joins mid-stream: skips the tail of a message, resyncs on the next whole header', () => {
    const lost = sendV2(1, 'x', 'b'.repeat(200))
    const r = runAll([
      { dir: 'c2s', gap: -1, tsUs: 0 },
      { dir: 's2c', gap: -1, tsUs: 0 },
      c(Buffer.concat([lost.subarray(37), sendV2(2, 'TopicTest')]), 10),
      s(Buffer.concat([response(0, 1).subarray(5), response(0, 2)]), 20),
    ])
    expect(r.exchanges.map(brief)).toEqual([['SEND_MESSAGE_V2', 'TopicTest', 'SUCCESS', false]])
    expect(r.counts.resync_skipped).toBe(2)
    expect(r.unmatchedResponses).toBe(0)
  })

  it('steps over a gap of known size inside a body and still pairs the response', () => {
    const big = response(0, 5, Buffer.alloc(5000, 7), 'FOUND')
    const r = runAll([
      c(pull(5, 'q'), 1),
      s(big.subarray(0, 1000), 2),
      { dir: 's2c', gap: 3000, tsUs: 3 },
      s(big.subarray(4000), 4),
      c(pull(6, 'q'), 5),
      s(response(19, 6), 6),
    ])
    expect(r.counts.gap_in_body).toBe(1)
    expect(r.exchanges).toEqual([
      { method: 'PULL_MESSAGE', resource: 'q', status: 'SUCCESS', error: false, startUs: 1, endUs: 4, reqBytes: pull(5, 'q').length, respBytes: big.length },
      { method: 'PULL_MESSAGE', resource: 'q', status: 'PULL_NOT_FOUND', error: false, startUs: 5, endUs: 6, reqBytes: pull(6, 'q').length, respBytes: response(19, 6).length },
    ])
  })

  it('after lost responses keeps waiting requests: later responses still pair by opaque (the pull capture)', () => {
    const r = runAll([
      c(Buffer.concat([pull(212, 'retry'), pull(214, 'TopicTest')]), 1),
      s(Buffer.concat([response(19, 212), response(19, 214)]), 2),
      { dir: 'c2s', gap: 1092, tsUs: 3 },
      c(Buffer.concat([pull(247, 'retry'), pull(248, 'TopicTest')]), 4),
      { dir: 'c2s', gap: 364, tsUs: 5 },
      c(pull(250, 'TopicTest'), 6),
      { dir: 's2c', gap: 819, tsUs: 7 },
      s(Buffer.concat([response(0, 250, 'm'), response(0, 248, 'm')]), 8),
      { end: 'fin', tsUs: 9 },
    ])
    expect(r.exchanges.map((e) => [e.startUs, e.status])).toEqual([
      [1, 'PULL_NOT_FOUND'],
      [1, 'PULL_NOT_FOUND'],
      [6, 'SUCCESS'],
      [4, 'SUCCESS'],
      [4, null],
    ])
    expect(r.counts).toEqual({ gap_request: 2, gap_response: 1 })
  })

  it('a gap inside a header drops that frame and resyncs on the next one', () => {
    const r = runAll([
      c(pull(1, 'a'), 1),
      c(pull(2, 'b').subarray(0, 30), 2),
      { dir: 'c2s', gap: 100, tsUs: 3 },
      c(Buffer.concat([pull(2, 'b').subarray(130), pull(3, 'c')]), 4),
      s(Buffer.concat([response(0, 1), response(0, 2), response(0, 3)]), 5),
    ])
    expect(r.exchanges.map(brief)).toEqual([
      ['PULL_MESSAGE', 'a', 'SUCCESS', false],
      ['PULL_MESSAGE', 'c', 'SUCCESS', false],
    ])
    expect(r.unmatchedResponses).toBe(1)
    expect(r.counts).toMatchObject({ gap_request: 1, resync_skipped: 1 })
  })

  it('a malformed header is counted and the next clean frame is found', () => {
    const junk = frame(0, Buffer.from('{"code":11,"opaque":'), 'zz') // JSON cut short
    const r = runAll([c(Buffer.concat([junk, pull(8, 'ok')]), 1), s(response(0, 8), 2)])
    expect(r.counts.malformed_header).toBe(1)
    expect(r.exchanges.map(brief)).toEqual([['PULL_MESSAGE', 'ok', 'SUCCESS', false]])
  })

  it('a frame longer than the broker allows is malformed; garbage between frames is skipped', () => {
    const bad = Buffer.alloc(8)
    bad.writeUInt32BE(64 * 1024 * 1024, 0)
    const r = runAll([c(Buffer.concat([bad, Buffer.from('garbage!'), pull(3, 'x')]), 1), s(response(0, 3), 2)])
    expect(r.counts.malformed_frame).toBe(1)
    expect(r.exchanges.map(brief)).toEqual([['PULL_MESSAGE', 'x', 'SUCCESS', false]])
  })

  it('streams over a body larger than maxFrameBytes without holding it, and still pairs it', () => {
    const body = Buffer.alloc(6000, 3)
    const req = sendV2(4, 'big', body)
    const r = runAll([c(req.subarray(0, 3000), 1), c(req.subarray(3000), 2), s(response(0, 4), 3)], { maxFrameBytes: 4096 })
    expect(r.counts.frame_too_large).toBe(1)
    expect(r.exchanges).toEqual([
      { method: 'SEND_MESSAGE_V2', resource: 'big', status: 'SUCCESS', error: false, startUs: 1, endUs: 3, reqBytes: req.length, respBytes: response(0, 4).length },
    ])
  })

  it('skips a frame whose header is above 64 KiB, counted; the request it answers stays unanswered', () => {
    const huge = frame(0, Buffer.from('{"code":0,"flag":1,"opaque":4,"remark":"' + 'r'.repeat(70_000) + '"}'))
    const r = runParser(rocketmqParser, [c(pull(4, 'x'), 1), s(huge, 2), c(pull(5, 'y'), 3), s(response(0, 5), 4)])
    expect(r.counts.header_too_large).toBe(1)
    expect(r.exchanges.map(brief)).toEqual([
      ['PULL_MESSAGE', 'y', 'SUCCESS', false],
      ['PULL_MESSAGE', 'x', null, true],
    ])
  })

  it('holds no body bytes and reports the oldest pending request start', () => {
    const exchanges: ParsedExchange[] = []
    const h = new RocketmqConnection(ctxFor(exchanges))
    expect(h.oldestPendingUs()).toBe(Infinity)
    const req = sendV2(1, 't', Buffer.alloc(1 << 20, 1))
    for (let off = 0, t = 100; off < req.length; off += 1460, t++) h.data('c2s', req.subarray(off, off + 1460), t, -1)
    expect(h.bufferedBytes).toBe(0)
    expect(h.oldestPendingUs()).toBe(100)
    h.data('c2s', pull(2, 'u').subarray(0, 20), 5000, -1) // a header in pieces
    expect(h.oldestPendingUs()).toBe(100)
    h.data('s2c', response(0, 1), 6000, -1)
    expect(h.oldestPendingUs()).toBe(5000)
    h.data('c2s', pull(2, 'u').subarray(20), 5001, -1)
    expect(h.oldestPendingUs()).toBe(5000)
    h.data('s2c', response(0, 2), 7000, -1)
    expect(h.oldestPendingUs()).toBe(Infinity)
    expect(exchanges.map((e) => [e.startUs, e.endUs])).toEqual([[100, 6000], [5000, 7000]])
  })
})

describe('rocketmq: fuzz', () => {
  const conversation = [
    c(Buffer.concat([sendV2(1, 'a'), pull(2, 'b'), oneway(15, 3, { topic: 'c' }), binaryFrame({ code: 105, opaque: 4, extFields: { topic: 'd' } })]), 1),
    s(Buffer.concat([response(0, 2, 'x'.repeat(50)), response(19, 1), binaryFrame({ code: 0, opaque: 4, flag: 1 }, 'route')]), 2),
  ]

  it('random bytes at random splits never throw and never grow state past the caps', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ dir: fc.constantFrom('c2s' as const, 's2c' as const), data: fc.uint8Array({ maxLength: 300 }), gap: fc.integer({ min: -1, max: 400 }) }), { maxLength: 20 }),
        (chunks) => {
          const exchanges: ParsedExchange[] = []
          const h = new RocketmqConnection(ctxFor(exchanges, { maxPendingRequests: 8 }))
          let t = 0
          for (const ch of chunks) {
            if (ch.gap > 350) h.gap(ch.dir, ch.gap - 351 || -1, t++)
            h.data(ch.dir, Buffer.from(ch.data), t++, -1)
            expect(h.pendingCount).toBeLessThanOrEqual(16)
            expect(h.bufferedBytes).toBeLessThanOrEqual(4 * (8 + 64 * 1024))
          }
          h.end('fin', t)
          expect(h.pendingCount).toBe(0)
        },
      ),
      { numRuns: 300 },
    )
  })

  it('mutated valid conversations never throw; every exchange is well formed', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }), { maxLength: 8 }),
        fc.integer({ min: 1, max: 200 }),
        (muts, cut) => {
          const steps = conversation.map((st) => ({ ...st, data: Buffer.from((st as { data: Buffer }).data) }))
          for (const m of muts) {
            const st = steps[m.at % steps.length]
            st.data[m.at % st.data.length] = m.byte
          }
          const r = runParser(rocketmqParser, steps, cut)
          for (const e of r.exchanges) {
            expect(typeof e.method).toBe('string')
            expect(e.endUs).toBeGreaterThanOrEqual(e.startUs)
            if (e.status === null) expect(e.error).toBe(e.attrs?.reply !== 'none')
            else expect(e.error).toBe(e.status !== 'SUCCESS' && !NORMAL_NAMES.has(e.status as string))
          }
        },
      ),
      { numRuns: 300 },
    )
  })
})

function ctxFor(out: ParsedExchange[], limits: Partial<Limits> = {}): ParserContext {
  return {
    emit: (e) => out.push(structuredClone(e)),
    limits: { ...DEFAULT_LIMITS, ...limits },
    count: () => {},
    unmatchedResponse: () => {},
  }
}
