import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { limitsWith, type Limits } from '../../config.js'
import { runParser, type RunResult, type Step } from '../../../test/helpers/protocols.js'
import type { ParsedExchange, ParserContext } from '../types.js'
import { checkSplits } from '../../../test/helpers/splits.js'
import { detectKafka } from './detect.js'
import { errorName } from './error-codes.js'
import { KafkaConnection, kafkaParser } from './parser.js'
import * as k from '../../../test/helpers/buffers/kafka.js'

const c = (data: Buffer, tsUs: number): Step => ({ dir: 'c2s', data, tsUs })
const s = (data: Buffer, tsUs: number): Step => ({ dir: 's2c', data, tsUs })
const { cat } = k

/** whole, at every split and byte by byte: all must give the same exchanges, counts and unmatched */
function runAll(steps: Step[], limits: Partial<Limits> = {}): RunResult {
  return checkSplits(kafkaParser, steps, limits)
}

const brief = (e: ParsedExchange) => [e.method, e.resource, e.status, e.error]

describe('kafka: request/response pairing', () => {
  it('Produce v2: method, topic, NONE, bytes and timing', () => {
    const req = k.produceReq(2, 1, [{ name: 'orders', partitions: [{ index: 0 }] }])
    const rep = k.produceResp(2, 1, [{ name: 'orders', partitions: [{ index: 0 }] }])
    const r = runAll([c(req, 10), s(rep, 25)])
    expect(r.exchanges).toEqual([
      {
        method: 'Produce',
        resource: 'orders',
        status: 'NONE',
        error: false,
        startUs: 10,
        endUs: 25,
        reqBytes: req.length,
        respBytes: rep.length,
        attrs: { api_version: '2', client_id: 'producer-1' },
      },
    ])
    expect(r.unmatchedResponses).toBe(0)
    expect(r.counts).toEqual({})
  })

  it('Produce v9 (flexible): two topics as "a,b", the first non-zero partition error is the status', () => {
    const topics = [
      { name: 'a', partitions: [{ index: 0 }, { index: 1 }] },
      { name: 'b', partitions: [{ index: 0 }] },
    ]
    const rep = k.produceResp(9, 7, [
      { name: 'a', partitions: [{ index: 0 }, { index: 1, error: 6 }] },
      { name: 'b', partitions: [{ index: 0, error: 19 }] },
    ])
    const r = runAll([c(k.produceReq(9, 7, topics), 1), s(rep, 2)])
    expect(r.exchanges.map(brief)).toEqual([['Produce', 'a,b', 'NOT_LEADER_OR_FOLLOWER', true]])
  })

  it('every Produce version from 0 to 12 reads its topic and its partition error', () => {
    for (let v = 0; v <= 12; v++) {
      const r = runParser(kafkaParser, [
        c(k.produceReq(v, v, [{ name: 't' + v, partitions: [{ index: 0 }] }]), 1),
        s(k.produceResp(v, v, [{ name: 't' + v, partitions: [{ index: 0, error: 10 }] }]), 2),
      ])
      expect(r.exchanges.map(brief), 'v' + v).toEqual([['Produce', 't' + v, 'MESSAGE_TOO_LARGE', true]])
      expect(r.counts, 'v' + v).toEqual({})
    }
  })

  it('Produce v13 names topics by id: no resource, the error is still read', () => {
    const r = runAll([
      c(k.produceReq(13, 1, [{ name: 'x', partitions: [{ index: 0 }] }]), 1),
      s(k.produceResp(13, 1, [{ name: 'x', partitions: [{ index: 0, error: 100 }] }]), 2),
    ])
    expect(r.exchanges.map(brief)).toEqual([['Produce', undefined, 'UNKNOWN_TOPIC_ID', true]])
  })

  it('pipelined requests are paired by correlation id whatever order the answers come in', () => {
    const r = runAll([
      c(cat(k.metadataReq(1, 11, ['m']), k.heartbeatReq(1, 12), k.apiVersionsReq(0, 13)), 10),
      s(cat(k.apiVersionsResp(0, 13), k.metadataResp(1, 11, [{ name: 'm', error: 3 }])), 20),
      s(k.heartbeatResp(1, 12, 27), 30),
    ])
    expect(r.exchanges.map((e) => [e.method, e.status, e.startUs, e.endUs])).toEqual([
      ['ApiVersions', 'NONE', 10, 20],
      ['Metadata', 'UNKNOWN_TOPIC_OR_PARTITION', 10, 20],
      ['Heartbeat', 'REBALANCE_IN_PROGRESS', 10, 30],
    ])
  })

  it('acks=0 Produce is emitted at once with no status (reply: none, not an error) and no response bytes; the next request still pairs', () => {
    const r = runAll([
      c(k.produceReq(3, 1, [{ name: 'logs', partitions: [{ index: 0 }] }], 0), 5),
      c(k.metadataReq(5, 2, ['logs']), 6),
      s(k.metadataResp(5, 2, [{ name: 'logs' }]), 7),
    ])
    expect(r.exchanges.map((e) => [e.method, e.status, e.error, e.respBytes, e.endUs, e.attrs?.acks, e.attrs?.reply])).toEqual([
      ['Produce', null, false, 0, 5, '0', 'none'],
      ['Metadata', 'NONE', false, r.exchanges[1].respBytes, 7, undefined, undefined],
    ])
    expect(r.exchanges[1].respBytes).toBeGreaterThan(0)
  })

  it('a request with no answer is emitted at end: status null, error true', () => {
    const r = runAll([c(k.heartbeatReq(4, 9), 3), { end: 'fin', tsUs: 50 }])
    expect(r.exchanges.map((e) => [e.method, e.status, e.error, e.endUs])).toEqual([['Heartbeat', null, true, 50]])
  })

  it('a response to a request never seen is counted, not invented', () => {
    const r = runAll([s(k.heartbeatResp(4, 99), 1), c(k.heartbeatReq(4, 100), 2), s(k.heartbeatResp(4, 100), 3)])
    expect(r.exchanges.map(brief)).toEqual([['Heartbeat', undefined, 'NONE', false]])
    expect(r.unmatchedResponses).toBe(1)
  })

  it('an unknown api key is method unknown; its answer is not decoded: status unknown, counted', () => {
    const req = k.request(10000, 0, 4, Buffer.alloc(4))
    const r = runAll([c(req, 1), s(k.response(10000, 0, 4, Buffer.from([0, 0])), 2)])
    expect(r.exchanges.map((e) => [e.method, e.status, e.error, e.attrs?.api_key])).toEqual([['unknown', 'unknown', null, '10000']])
    expect(r.counts).toEqual({ response_not_decoded: 1 })
  })

  it('a version newer than the decoders: status unknown, error null (neither)', () => {
    const r = runAll([c(k.request(12, 9, 4, Buffer.alloc(20)), 1), s(k.response(12, 9, 4, Buffer.alloc(6)), 2)])
    expect(r.exchanges.map(brief)).toEqual([['Heartbeat', undefined, 'unknown', null]])
    expect(r.counts).toEqual({ response_not_decoded: 1 })
  })

  it('a malformed body of a known version: status unknown, counted', () => {
    // a Produce v2 answer that claims 5 topics and ends
    const r = runAll([c(k.produceReq(2, 1, [{ name: 't', partitions: [{ index: 0 }] }]), 1), s(k.response(0, 2, 1, Buffer.from([0, 0, 0, 5])), 2)])
    expect(r.exchanges.map(brief)).toEqual([['Produce', 't', 'unknown', null]])
    expect(r.counts).toEqual({ response_not_decoded: 1 })
  })
})

describe('kafka: headers and versions', () => {
  it('ApiVersions v3: request header v2 (tagged fields) but response header v0', () => {
    const r = runAll([c(k.apiVersionsReq(3, 1), 1), s(k.apiVersionsResp(3, 1), 2), c(k.apiVersionsReq(3, 2), 3), s(k.apiVersionsResp(0, 2, 35), 4)])
    expect(r.exchanges.map(brief)).toEqual([
      ['ApiVersions', undefined, 'NONE', false],
      ['ApiVersions', undefined, 'UNSUPPORTED_VERSION', true],
    ])
  })

  it('Fetch v0..v12 read topic names; v7+ read the top-level error first', () => {
    for (const v of [0, 1, 3, 4, 5, 7, 9, 11, 12]) {
      const req = k.fetchReq(v, 3, [{ name: 'f1', partitions: [0, 1] }, { name: 'f2', partitions: [0] }])
      const ok = k.fetchResp(v, 3, [{ name: 'f1', partitions: [{ index: 0 }, { index: 1 }] }, { name: 'f2', partitions: [{ index: 0, error: 1 }] }])
      const r = runParser(kafkaParser, [c(req, 1), s(ok, 2)])
      expect(r.exchanges.map(brief), 'v' + v).toEqual([['Fetch', 'f1,f2', 'OFFSET_OUT_OF_RANGE', true]])
      if (v >= 7) {
        const top = k.fetchResp(v, 4, [{ name: 'f1', partitions: [{ index: 0, error: 1 }] }], 70)
        const r2 = runParser(kafkaParser, [c(k.fetchReq(v, 4, [{ name: 'f1', partitions: [0] }]), 1), s(top, 2)])
        expect(r2.exchanges.map(brief), 'v' + v).toEqual([['Fetch', 'f1', 'FETCH_SESSION_ID_NOT_FOUND', true]])
      }
    }
  })

  it('Fetch v13 names topics by id: resource absent', () => {
    const r = runAll([c(k.fetchReq(13, 1, [{ name: 'x', partitions: [0] }]), 1), s(k.fetchResp(13, 1, [{ name: 'x', partitions: [{ index: 0 }] }]), 2)])
    expect(r.exchanges.map(brief)).toEqual([['Fetch', undefined, 'NONE', false]])
  })

  it('Metadata: named topics, all topics (null / empty) and v10+ topic ids with names', () => {
    const r = runAll([
      c(k.metadataReq(0, 1, []), 1),
      s(k.metadataResp(0, 1, [{ name: 'a' }]), 2),
      c(k.metadataReq(1, 2, null), 3),
      s(k.metadataResp(1, 2, [{ name: 'a' }]), 4),
      c(k.metadataReq(12, 3, ['a', 'b']), 5),
      s(k.metadataResp(12, 3, [{ name: 'a' }, { name: 'b', error: 29 }]), 6),
      c(k.metadataReq(9, 4, ['c']), 7),
      s(k.metadataResp(9, 4, [{ name: 'c', error: 5 }]), 8),
    ])
    expect(r.exchanges.map(brief)).toEqual([
      ['Metadata', undefined, 'NONE', false],
      ['Metadata', undefined, 'NONE', false],
      ['Metadata', 'a,b', 'TOPIC_AUTHORIZATION_FAILED', true],
      ['Metadata', 'c', 'LEADER_NOT_AVAILABLE', true],
    ])
  })

  it('ListOffsets, OffsetCommit and OffsetFetch: topics and partition errors, classic and flexible', () => {
    const steps: Step[] = []
    let t = 0
    for (const v of [0, 1, 4, 6]) {
      steps.push(c(k.listOffsetsReq(v, ++t, ['lo']), t), s(k.listOffsetsResp(v, t, [{ name: 'lo', errors: [0, 74] }]), t))
    }
    for (const v of [0, 1, 2, 6, 8]) {
      steps.push(c(k.offsetCommitReq(v, ++t, 'g', ['oc1', 'oc2']), t), s(k.offsetCommitResp(v, t, [{ name: 'oc1', errors: [0] }, { name: 'oc2', errors: [25] }]), t))
    }
    for (const v of [1, 3, 6, 8]) {
      steps.push(c(k.offsetFetchReq(v, ++t, 'g', ['of']), t), s(k.offsetFetchResp(v, t, [{ name: 'of', errors: [0, 0] }], v >= 2 ? 16 : 0), t))
    }
    const r = runAll(steps)
    expect(r.exchanges.map(brief)).toEqual([
      ...[0, 1, 4, 6].map(() => ['ListOffsets', 'lo', 'FENCED_LEADER_EPOCH', true]),
      ...[0, 1, 2, 6, 8].map(() => ['OffsetCommit', 'oc1,oc2', 'UNKNOWN_MEMBER_ID', true]),
      ['OffsetFetch', 'of', 'NONE', false],
      ['OffsetFetch', 'of', 'NOT_COORDINATOR', true],
      ['OffsetFetch', 'of', 'NOT_COORDINATOR', true],
      ['OffsetFetch', 'of', 'NOT_COORDINATOR', true],
    ])
  })

  it('a long topic list is cut at maxTextBytes', () => {
    const names = Array.from({ length: 12 }, (_, i) => 'topic-number-' + i)
    const r = runParser(kafkaParser, [c(k.metadataReq(1, 1, names), 1)], 'whole', { maxTextBytes: 40 })
    expect(r.exchanges[0].resource).toBe('topic-number-0,topic-number-1,topic-num…')
  })

  it('error names: the table and codes outside it', () => {
    expect(errorName(-1)).toBe('UNKNOWN_SERVER_ERROR')
    expect(errorName(0)).toBe('NONE')
    expect(errorName(6)).toBe('NOT_LEADER_OR_FOLLOWER')
    expect(errorName(35)).toBe('UNSUPPORTED_VERSION')
    expect(errorName(100)).toBe('UNKNOWN_TOPIC_ID')
    expect(errorName(999)).toBe('ERROR_999')
    expect(errorName(-5)).toBe('ERROR_-5')
  })
})

describe('kafka: SASL', () => {
  it('SaslHandshake v0 then raw tokens: skipped, never kept; the next request is parsed', () => {
    const r = runAll([
      c(k.apiVersionsReq(0, 1), 1),
      s(k.apiVersionsResp(0, 1), 2),
      c(k.saslHandshakeReq(0, 2, 'PLAIN'), 3),
      s(k.saslHandshakeResp(0, 2), 4),
      c(k.rawToken('\0alice\0SECRETpassword'), 5),
      s(k.rawToken(''), 6),
      c(k.metadataReq(1, 3, ['t']), 7),
      s(k.metadataResp(1, 3, [{ name: 't' }]), 8),
    ])
    expect(r.exchanges.map(brief)).toEqual([
      ['ApiVersions', undefined, 'NONE', false],
      ['SaslHandshake', undefined, 'NONE', false],
      ['Metadata', 't', 'NONE', false],
    ])
    expect(r.unmatchedResponses).toBe(0)
    expect(JSON.stringify(r)).not.toContain('SECRET')
  })

  it('SCRAM tokens over two round trips are skipped too', () => {
    const r = runAll([
      c(k.saslHandshakeReq(0, 1, 'SCRAM-SHA-256'), 1),
      s(k.saslHandshakeResp(0, 1), 2),
      c(k.rawToken('n,,n=alice,r=SECRETnonce'), 3),
      s(k.rawToken('r=SECRETnonceSERVER,s=c2FsdA==,i=4096'), 4),
      c(k.rawToken('c=biws,r=SECRETnonceSERVER,p=SECRETproof'), 5),
      s(k.rawToken('v=SECRETsig'), 6),
      c(k.heartbeatReq(0, 2), 7),
      s(k.heartbeatResp(0, 2), 8),
    ])
    expect(r.exchanges.map((e) => e.method)).toEqual(['SaslHandshake', 'Heartbeat'])
    expect(JSON.stringify(r)).not.toContain('SECRET')
  })

  it('a refused SaslHandshake leaves Kafka framing on', () => {
    const r = runAll([c(k.saslHandshakeReq(0, 1, 'GSSAPI'), 1), s(k.saslHandshakeResp(0, 1, 33), 2), c(k.heartbeatReq(0, 2), 3), s(k.heartbeatResp(0, 2), 4)])
    expect(r.exchanges.map(brief)).toEqual([
      ['SaslHandshake', undefined, 'UNSUPPORTED_SASL_MECHANISM', true],
      ['Heartbeat', undefined, 'NONE', false],
    ])
  })

  it('SaslAuthenticate: the error is read, the auth bytes never kept', () => {
    const r = runAll([
      c(k.saslHandshakeReq(1, 1, 'PLAIN'), 1),
      s(k.saslHandshakeResp(1, 1), 2),
      c(k.saslAuthenticateReq(1, 2, '\0bob\0SECRETpw'), 3),
      s(k.saslAuthenticateResp(1, 2, 58, 'SECRETserver'), 4),
      c(k.saslAuthenticateReq(2, 3, '\0bob\0SECRETpw2'), 5),
      s(k.saslAuthenticateResp(2, 3, 0, 'SECRETok'), 6),
    ])
    expect(r.exchanges.map(brief)).toEqual([
      ['SaslHandshake', undefined, 'NONE', false],
      ['SaslAuthenticate', undefined, 'SASL_AUTHENTICATION_FAILED', true],
      ['SaslAuthenticate', undefined, 'NONE', false],
    ])
    expect(JSON.stringify(r)).not.toContain('SECRET')
  })
})

describe('kafka: bounds, gaps and mid-stream starts', () => {
  it('a response larger than maxFrameBytes is streamed: counted, paired, its error read from the head', () => {
    const big = Buffer.alloc(300_000, 9)
    const rep = k.fetchResp(4, 1, [{ name: 'big', partitions: [{ index: 0, error: 1, records: big }] }])
    const steps = [c(k.fetchReq(4, 1, [{ name: 'big', partitions: [0] }]), 1), s(rep, 2)]
    for (const split of ['whole', 1000, 'bytes'] as const) {
      const r = runParser(kafkaParser, steps, split, { maxFrameBytes: 4096 })
      expect(r.exchanges.map((e) => [e.status, e.respBytes])).toEqual([['OFFSET_OUT_OF_RANGE', rep.length]])
      expect(r.counts).toEqual({ frame_too_large: 1 })
    }
  })

  it('an error past the kept head is not seen: a long body with no error before its cut reads NONE', () => {
    const rep = k.fetchResp(4, 1, [
      { name: 'a', partitions: [{ index: 0, records: Buffer.alloc(40_000, 1) }] },
      { name: 'b', partitions: [{ index: 0, error: 3 }] },
    ])
    const r = runAll([c(k.fetchReq(4, 1, [{ name: 'a', partitions: [0] }]), 1), s(rep, 2)])
    expect(r.exchanges.map(brief)).toEqual([['Fetch', 'a', 'NONE', false]])
    expect(r.counts).toEqual({})
  })

  it('a known-size gap inside a response body is stepped over', () => {
    const rep = k.fetchResp(4, 1, [{ name: 'a', partitions: [{ index: 0, error: 1, records: Buffer.alloc(5000, 1) }] }])
    const r = runAll([
      c(k.fetchReq(4, 1, [{ name: 'a', partitions: [0] }]), 1),
      s(rep.subarray(0, 1000), 2),
      { dir: 's2c', gap: 3000, tsUs: 3 },
      s(rep.subarray(4000), 4),
      c(k.heartbeatReq(1, 2), 5),
      s(k.heartbeatResp(1, 2), 6),
    ])
    expect(r.exchanges.map((e) => [e.method, e.status, e.endUs])).toEqual([
      ['Fetch', 'OFFSET_OUT_OF_RANGE', 4],
      ['Heartbeat', 'NONE', 6],
    ])
    expect(r.counts).toEqual({})
  })

  it('joined mid-stream: the tail of a message is skipped, the next request found, its answer paired', () => {
    const prev = k.produceReq(2, 5, [{ name: 'x', partitions: [{ index: 0, records: Buffer.alloc(300, 0) }] }])
    const r = runAll([
      { dir: 'c2s', gap: -1, tsUs: 0 },
      { dir: 's2c', gap: -1, tsUs: 0 },
      c(cat(prev.subarray(150), k.produceReq(2, 6, [{ name: 'y', partitions: [{ index: 0 }] }])), 1),
      s(cat(k.produceResp(2, 5, [{ name: 'x', partitions: [{ index: 0 }] }]), k.produceResp(2, 6, [{ name: 'y', partitions: [{ index: 0 }] }])), 2),
    ])
    expect(r.exchanges.map(brief)).toEqual([['Produce', 'y', 'NONE', false]])
    expect(r.counts.resync).toBe(1)
  })

  it('an unknown-size gap in requests: hunt for the next request; earlier ones stay pending by id', () => {
    const r = runAll([
      c(k.heartbeatReq(1, 1), 1),
      c(k.produceReq(2, 2, [{ name: 'lost', partitions: [{ index: 0 }] }]).subarray(0, 30), 2),
      { dir: 'c2s', gap: -1, tsUs: 3 },
      c(cat(Buffer.alloc(17, 0xee), k.metadataReq(1, 3, ['m'])), 4),
      s(cat(k.heartbeatResp(1, 1), k.metadataResp(1, 3, [{ name: 'm' }])), 5),
    ])
    expect(r.exchanges.map(brief)).toEqual([
      ['Heartbeat', undefined, 'NONE', false],
      ['Metadata', 'm', 'NONE', false],
    ])
    expect(r.counts).toMatchObject({ gap_request: 1, resync: 1 })
  })

  it('a negative size is malformed: counted, the direction resyncs', () => {
    const r = runAll([c(cat(Buffer.from([0xff, 0xff, 0xff, 0xf0]), k.heartbeatReq(1, 1)), 1), s(k.heartbeatResp(1, 1), 2)])
    expect(r.exchanges.map(brief)).toEqual([['Heartbeat', undefined, 'NONE', false]])
    expect(r.counts.malformed_request).toBe(1)
  })

  it('a response cut by the end still closes its exchange ("partial is not failed")', () => {
    const rep = k.fetchResp(4, 1, [{ name: 'a', partitions: [{ index: 0, error: 1, records: Buffer.alloc(5000, 1) }] }])
    const r = runAll([c(k.fetchReq(4, 1, [{ name: 'a', partitions: [0] }]), 1), s(rep.subarray(0, 200), 2), { end: 'rst', tsUs: 9 }])
    expect(r.exchanges.map((e) => [e.status, e.error, e.endUs])).toEqual([['OFFSET_OUT_OF_RANGE', true, 2]])
  })

  it('pending requests are capped: the oldest are reported unanswered and counted', () => {
    const steps: Step[] = []
    for (let i = 0; i < 10; i++) steps.push(c(k.heartbeatReq(1, i), i))
    steps.push(s(k.heartbeatResp(1, 9), 20))
    const r = runAll(steps, { maxPendingRequests: 4 })
    expect(r.exchanges.map((e) => [e.status, e.startUs])).toEqual([
      ...[0, 1, 2, 3, 4, 5].map((i) => [null, i]),
      ['NONE', 9],
      [null, 6],
      [null, 7],
      [null, 8],
    ])
    expect(r.counts.pending_evicted).toBe(6)
  })

  it('oldestPendingUs: the oldest unanswered request, else a request being received, else Infinity', () => {
    const out: ParsedExchange[] = []
    const ctx: ParserContext = { emit: (e) => out.push(e), limits: limitsWith(), count: () => {}, unmatchedResponse: () => {} }
    const h = new KafkaConnection(ctx)
    expect(h.oldestPendingUs()).toBe(Infinity)
    const req = k.heartbeatReq(1, 1)
    h.data('c2s', req.subarray(0, 10), 100, -1)
    expect(h.oldestPendingUs()).toBe(100)
    h.data('c2s', req.subarray(10), 110, -1)
    h.data('c2s', k.heartbeatReq(1, 2), 120, -1)
    expect(h.oldestPendingUs()).toBe(100)
    h.data('s2c', k.heartbeatResp(1, 1), 130, -1)
    expect(h.oldestPendingUs()).toBe(120)
    h.data('s2c', k.heartbeatResp(1, 2), 140, -1)
    expect(h.oldestPendingUs()).toBe(Infinity)
    expect(out).toHaveLength(2)
  })
})

describe('kafka: detect', () => {
  const requests = [
    k.produceReq(2, 1, [{ name: 't', partitions: [{ index: 0 }] }]),
    k.produceReq(9, 1, [{ name: 't', partitions: [{ index: 0 }] }]),
    k.fetchReq(12, 1, [{ name: 't', partitions: [0] }]),
    k.metadataReq(0, 1, ['t']),
    k.apiVersionsReq(3, 1),
    k.heartbeatReq(4, 1),
    k.request(0, 2, 1, Buffer.alloc(10), null),
    k.request(7, 0, 1, Buffer.alloc(4)), // ControlledShutdown v0 as some clients write it (with a client id)
  ]

  it('accepts requests (whole, or a head that covers the client id); never a response', () => {
    for (const r of requests) {
      expect(detectKafka(r, 'c2s')).toBe(true)
      expect(detectKafka(r.subarray(0, 30), 'c2s')).toBe(true)
      expect(detectKafka(r, 's2c')).toBe(false)
    }
    expect(detectKafka(cat(requests[0], requests[3]), 'c2s')).toBe(true)
    expect(detectKafka(k.heartbeatResp(1, 1), 'c2s')).toBe(false)
    expect(detectKafka(k.metadataResp(1, 1, [{ name: 't' }]), 's2c')).toBe(false)
  })

  it('rejects short heads, unknown keys, implausible versions, bad client ids and a bad next header', () => {
    expect(detectKafka(requests[0].subarray(0, 11), 'c2s')).toBe(false)
    expect(detectKafka(k.request(10000, 0, 1, Buffer.alloc(4)), 'c2s')).toBe(false)
    expect(detectKafka(k.request(7, 1000, 1, Buffer.alloc(4)), 'c2s')).toBe(false)
    expect(detectKafka(k.request(3, 0, 1, Buffer.alloc(4), 'bad\u0001id'), 'c2s')).toBe(false)
    const tooLong = Buffer.from(requests[5])
    tooLong.writeInt16BE(500, 12)
    expect(detectKafka(tooLong, 'c2s')).toBe(false)
    expect(detectKafka(cat(requests[0], Buffer.from('GET / HTTP/1.1\r\n')), 'c2s')).toBe(false)
  })

  it('never claims other protocols', () => {
    const others = [
      'GET / HTTP/1.1\r\nHost: x\r\n\r\n',
      'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n',
      '*1\r\n$4\r\nPING\r\n',
      'PING\r\n',
      '+OK\r\n',
    ].map((t) => Buffer.from(t))
    // PostgreSQL startup (protocol 3.0 reads as Metadata v0) and SSLRequest
    const pg = Buffer.concat([Buffer.from([0, 0, 0, 0x29, 0, 3, 0, 0]), Buffer.from('user\0alice\0database\0shop\0application_name\0\0')])
    pg.writeInt32BE(pg.length, 0)
    others.push(pg, Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]))
    // TLS ClientHello, MySQL COM_QUERY, MongoDB OP_MSG (little-endian length), RocketMQ JSON header
    others.push(Buffer.from([0x16, 0x03, 0x01, 0x00, 0xa5, 0x01, 0x00, 0x00, 0xa1, 0x03, 0x03, 0, 0, 0, 0, 0]))
    others.push(Buffer.concat([Buffer.from([0x09, 0, 0, 0, 0x03]), Buffer.from('SELECT 1')]))
    others.push(Buffer.from([0x3a, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0xdd, 7, 0, 0, 0, 0, 0, 0, 0]))
    const json = Buffer.from('{"code":10,"flag":0,"language":"JAVA","opaque":1,"serializeTypeCurrentRPC":"JSON","version":317}')
    const rmq = Buffer.alloc(8 + json.length)
    rmq.writeInt32BE(4 + json.length, 0)
    rmq.writeInt32BE(json.length, 4)
    json.copy(rmq, 8)
    others.push(rmq)
    for (const o of others) {
      expect(detectKafka(o, 'c2s'), o.toString('latin1')).toBe(false)
      expect(detectKafka(o, 's2c')).toBe(false)
    }
  })
})

describe('kafka: hostile input', () => {
  const conversation = cat(
    k.apiVersionsReq(3, 1),
    k.metadataReq(12, 2, ['a']),
    k.produceReq(9, 3, [{ name: 'a', partitions: [{ index: 0 }] }]),
    k.fetchReq(12, 4, [{ name: 'a', partitions: [0] }]),
    k.saslHandshakeReq(0, 5, 'PLAIN'),
  )
  const answers = cat(
    k.apiVersionsResp(3, 1),
    k.metadataResp(12, 2, [{ name: 'a' }]),
    k.produceResp(9, 3, [{ name: 'a', partitions: [{ index: 0 }] }]),
    k.fetchResp(12, 4, [{ name: 'a', partitions: [{ index: 0 }] }]),
    k.saslHandshakeResp(0, 5),
  )
  const limits = { maxPendingRequests: 4, maxFrameBytes: 512, maxTextBytes: 64 }

  it('random bytes in both directions, at random cuts, never throw; pending stays under its cap', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.boolean(), fc.uint8Array({ maxLength: 300 }), fc.integer({ min: -1, max: 50 })), { maxLength: 30 }),
        (ops) => {
          const steps: Step[] = ops.map(([dir, bytes, g], i) =>
            g < 2 && g >= 0 ? { dir: dir ? 'c2s' : 's2c', gap: g === 0 ? -1 : 7, tsUs: i } : { dir: dir ? 'c2s' : 's2c', data: Buffer.from(bytes), tsUs: i },
          )
          const r = runParser(kafkaParser, steps, 'whole', limits)
          for (const e of r.exchanges) {
            expect(e.endUs).toBeGreaterThanOrEqual(e.startUs)
            if (e.resource) expect(e.resource.length).toBeLessThanOrEqual(64)
          }
        },
      ),
      { numRuns: 300 },
    )
  })

  it('mutated valid conversations never throw, and every request is reported at most once', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 12 }),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 12 }),
        fc.nat(),
        (flipsC, flipsS, cutAt) => {
          const req = Buffer.from(conversation)
          const rep = Buffer.from(answers)
          for (const [i, v] of flipsC) req[i % req.length] = v
          for (const [i, v] of flipsS) rep[i % rep.length] = v
          const h = new KafkaConnection({ emit: () => {}, limits: limitsWith(limits), count: () => {}, unmatchedResponse: () => {} })
          const r = runParser(kafkaParser, [c(req, 1), s(rep, 2)], cutAt % 64, limits)
          expect(r.exchanges.length).toBeLessThanOrEqual(6)
          h.data('c2s', req, 1, -1)
          h.data('s2c', rep, 2, -1)
          expect((h as unknown as { pending: Map<number, unknown> }).pending.size).toBeLessThanOrEqual(4)
          h.end('fin', 3)
        },
      ),
      { numRuns: 300 },
    )
  })
})
