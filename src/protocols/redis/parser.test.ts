import fc from 'fast-check'
import { randomSteps } from '../../../test/helpers/fuzz.js'
import { describe, expect, it } from 'vitest'
import { limitsWith, type Limits } from '../../config.js'
import { allSplits, runParser, type RunResult, type Step } from '../../../test/helpers/protocols.js'
import type { ParsedExchange } from '../types.js'
import { methodOf } from './commands.js'
import { detectRedis } from './detect.js'
import { redisParser } from './parser.js'
import { checkSplits } from '../../../test/helpers/splits.js'
import {
  arr, attr, bignum, blobErr, bool, bulk, cmd, confirm, double, err, inline, int, map, message, nul, pipeline,
  pmessage, push, set, simple, streamedArr, streamedBulk, verbatim,
} from '../../../test/helpers/buffers/redis.js'

const c = (data: string, tsUs: number): Step => ({ dir: 'c2s', data, tsUs })
const s = (data: string, tsUs: number): Step => ({ dir: 's2c', data, tsUs })

/** runs the steps whole, at every split and byte by byte: all must give the same exchanges */
function runAll(steps: Step[], limits: Partial<Limits> = {}): RunResult {
  return checkSplits(redisParser, steps, limits, ['exchanges', 'unmatchedResponses'])
}

const brief = (e: ParsedExchange) => [e.method, e.status, e.error]

describe('redis: request/response pairs', () => {
  it('pairs a GET and a SET with their replies, with bytes and timing', () => {
    const get = cmd('GET', 'user:1')
    const set1 = cmd('SET', 'user:1', 'alice')
    const r = runAll([c(get, 1000), s(bulk('alice'), 1500), c(set1, 2000), s(simple('OK'), 2600)])
    expect(r.exchanges).toEqual([
      { method: 'GET', status: 'OK', error: false, startUs: 1000, endUs: 1500, reqBytes: get.length, respBytes: 11 },
      { method: 'SET', status: 'OK', error: false, startUs: 2000, endUs: 2600, reqBytes: set1.length, respBytes: 5 },
    ])
    expect(r.unmatchedResponses).toBe(0)
  })

  it('matches hundreds of pipelined commands in order', () => {
    const n = 600
    const cmds = Array.from({ length: n }, (_, i) => (i % 3 === 0 ? ['INCR', 'k' + i] : ['GET', 'k' + i]))
    const replies = cmds.map((x, i) => (x[0] === 'INCR' ? int(i) : i === 7 ? err('WRONGTYPE Operation against a key') : bulk('v')))
    const r = runParser(redisParser, [c(pipeline(...cmds), 10), s(replies.join(''), 20)])
    expect(r.exchanges).toHaveLength(n)
    expect(r.exchanges.map((e) => e.method)).toEqual(cmds.map((x) => x[0]))
    expect(r.exchanges[7]).toMatchObject({ method: 'GET', status: 'WRONGTYPE', error: true })
    expect(r.exchanges.filter((e) => e.error)).toHaveLength(1)
    const sizes = replies.map((x) => x.length)
    expect(r.exchanges.map((e) => e.respBytes)).toEqual(sizes)
  })

  it('caps pending commands: the oldest are reported unanswered, state stays bounded', () => {
    const cmds = Array.from({ length: 15 }, (_, i) => ['GET', 'k' + i])
    const r = runParser(redisParser, [c(pipeline(...cmds), 10), s(bulk('x'), 30)], 'whole', { maxPendingRequests: 10 })
    expect(r.counts.pending_evicted).toBe(5)
    expect(r.exchanges).toHaveLength(15)
    // 5 evicted first, then the 6th command takes the one reply, then 9 unanswered at the end
    expect(r.exchanges.slice(0, 5).every((e) => e.status === null && e.error)).toBe(true)
    expect(r.exchanges[5]).toMatchObject({ status: 'OK', error: false, endUs: 30 })
    expect(r.exchanges.slice(6).every((e) => e.status === null && e.error)).toBe(true)
  })

  it('reports a command without reply at connection end as unanswered', () => {
    const r = runAll([c(cmd('BLPOP', 'q', '0'), 5), { end: 'rst', tsUs: 99 }])
    expect(r.exchanges).toEqual([
      { method: 'BLPOP', status: null, error: true, startUs: 5, endUs: 99, reqBytes: cmd('BLPOP', 'q', '0').length, respBytes: 0 },
    ])
  })

  it('counts a reply without a command, never invents one', () => {
    const r = runAll([s(simple('OK'), 1), c(cmd('PING'), 2), s(simple('PONG'), 3)])
    expect(r.unmatchedResponses).toBe(1)
    expect(r.exchanges.map(brief)).toEqual([['PING', 'OK', false]])
  })
})

describe('redis: inline commands', () => {
  it('parses pipelined inline commands with quotes; an empty line is no command', () => {
    const req =
      inline('PING') + inline('') + inline('SET key "my value with spaces"') + "SET k2 'single'\n" + inline('set bad1 "unclosed')
    const rep = simple('PONG') + simple('OK') + simple('OK') + err('ERR Protocol error: unbalanced quotes in request')
    const r = runAll([c(req, 1), s(rep, 2), c(inline('SET bad2 x'), 3), { end: 'fin', tsUs: 4 }])
    expect(r.exchanges.map(brief)).toEqual([
      ['PING', 'OK', false],
      ['SET', 'OK', false],
      ['SET', 'OK', false],
      ['SET', 'ERR', true],
      ['SET', null, true],
    ])
  })

  it('labels a container command with its subcommand, inline or not', () => {
    const r = runAll([
      c(inline('config get maxmemory') + cmd('CLIENT', 'LIST') + cmd('XINFO', 'STREAM', 'orders') + cmd('client', 'frob'), 1),
      s(arr([bulk('maxmemory'), bulk('0')]) + bulk('id=3 addr=...') + map([[bulk('length'), int(2)]]) + err('ERR unknown subcommand'), 2),
    ])
    expect(r.exchanges.map((e) => e.method)).toEqual(['CONFIG GET', 'CLIENT LIST', 'XINFO STREAM', 'CLIENT'])
  })
})

describe('redis: labels', () => {
  it('methodOf keeps names bounded and never takes a key for a command', () => {
    expect(methodOf('get', 'user:1')).toBe('GET')
    expect(methodOf('json.get', undefined)).toBe('JSON.GET')
    expect(methodOf('CONFIG', 'set')).toBe('CONFIG SET')
    expect(methodOf('user:1234', undefined)).toBe('unknown')
    expect(methodOf('FAKE', undefined)).toBe('unknown')
    expect(methodOf('x'.repeat(200), undefined)).toBe('unknown')
    expect(methodOf(undefined, undefined)).toBe('unknown')
  })

  it('error status is the error code; lower-case text falls back to ERR', () => {
    const r = runAll([
      c(pipeline(['GET', 'a'], ['GET', 'b'], ['GET', 'c'], ['GET', 'd']), 1),
      s(err('MOVED 3999 127.0.0.1:6381') + err('NOAUTH Authentication required.') + err('oops something') + blobErr('SYNTAX invalid syntax'), 2),
    ])
    expect(r.exchanges.map(brief)).toEqual([
      ['GET', 'MOVED', true],
      ['GET', 'NOAUTH', true],
      ['GET', 'ERR', true],
      ['GET', 'SYNTAX', true],
    ])
  })

  it('never keeps keys, values or AUTH/HELLO passwords', () => {
    const r = runAll([
      c(cmd('AUTH', 'default', 's3cretPassw0rd') + cmd('HELLO', '3', 'AUTH', 'bob', 'hunter22') + cmd('SET', 'secret-key', 'secret-value'), 1),
      s(err('WRONGPASS invalid username-password pair') + map([[bulk('proto'), int(3)]]) + simple('OK'), 2),
    ])
    const text = JSON.stringify(r)
    for (const secret of ['s3cretPassw0rd', 'hunter22', 'secret-key', 'secret-value', 'bob']) expect(text).not.toContain(secret)
    expect(r.exchanges.map(brief)).toEqual([
      ['AUTH', 'WRONGPASS', true],
      ['HELLO', 'OK', false],
      ['SET', 'OK', false],
    ])
  })
})

describe('redis: RESP3 types', () => {
  it('reads maps, sets, doubles, booleans, nulls, big numbers, verbatim, attributes and streamed values', () => {
    const replies = [
      map([[bulk('server'), bulk('redis')], [bulk('modules'), arr([])]]),
      set([bulk('a'), bulk('b')]),
      double('3.14'),
      bool(true),
      nul(),
      bignum('3492890328409238509324850943850943825024385'),
      verbatim('txt', 'Some string'),
      attr([[simple('key-popularity'), map([[bulk('a'), double('0.1923')]])]]) + arr([int(2039123), int(9543892)]),
      arr([int(1), attr([[simple('ttl'), int(3600)]]) + int(2)]),
      streamedBulk(['Hell', 'o wor', 'ld']),
      streamedArr([int(1), bulk('two'), arr([int(3)])]),
      map([[bulk('nested'), map([[bulk('deeper'), set([arr([nul(), bool(false)])])]])]]),
    ]
    const cmds = replies.map((_, i) => ['HGETALL', 'k' + i])
    const r = runAll([c(pipeline(...cmds), 1), s(replies.join(''), 2)])
    expect(r.exchanges).toHaveLength(replies.length)
    expect(r.exchanges.every((e) => e.status === 'OK' && !e.error)).toBe(true)
    expect(r.exchanges.map((e) => e.respBytes)).toEqual(replies.map((x) => x.length))
    expect(Object.keys(r.counts).filter((k) => k.startsWith('malformed'))).toEqual([])
  })

  it('rejects nesting deeper than the cap, and recovers at the next reply', () => {
    let deep = int(1)
    for (let i = 0; i < 40; i++) deep = arr([deep])
    const r = runParser(redisParser, [c(pipeline(['GET', 'a'], ['GET', 'b']), 1), s(deep, 2), s(bulk('x'), 3)])
    expect(r.counts.malformed_reply_too_deep).toBe(1)
    expect(r.exchanges.map(brief)).toEqual([
      ['GET', 'OK', false],
      ['GET', null, true],
    ])
  })

  it('rejects a bulk longer than maxFrameBytes', () => {
    const r = runParser(redisParser, [c(cmd('GET', 'a'), 1), s(bulk('x'.repeat(100)), 2)], 'whole', { maxFrameBytes: 50 })
    expect(r.counts.malformed_reply_bulk_too_large).toBe(1)
    expect(r.exchanges.map(brief)).toEqual([['GET', null, true]])
  })

  it('streams a large value without keeping it', () => {
    const big = 'v'.repeat(500_000)
    const steps = [c(cmd('GET', 'big'), 1), s(bulk(big), 2), c(cmd('EXISTS', 'big'), 3), s(int(1), 4)]
    for (const split of ['whole', 1, 1000, 250_003] as const) {
      const r = runParser(redisParser, steps, split)
      expect(r.exchanges.map((e) => [e.method, e.respBytes])).toEqual([
        ['GET', big.length + 11],
        ['EXISTS', 4],
      ])
    }
  })
})

describe('redis: pub/sub', () => {
  it('RESP2: N confirmations end SUBSCRIBE, messages are pushes, PING and RESET are replies', () => {
    const steps = [
      c(cmd('SUBSCRIBE', 'a', 'b'), 1),
      s(confirm('subscribe', 'a', 1), 2),
      s(confirm('subscribe', 'b', 2) + message('a', 'hello'), 3),
      c(cmd('PSUBSCRIBE', 'f*'), 4),
      s(message('b', 'x') + confirm('psubscribe', 'f*', 3) + pmessage('f*', 'foo', 'hi'), 5),
      c(cmd('PING'), 6),
      s(message('a', 'before pong') + arr([bulk('pong'), bulk('')]), 7),
      c(cmd('UNSUBSCRIBE'), 8),
      s(confirm('unsubscribe', 'a', 2) + confirm('unsubscribe', 'b', 1), 9),
      c(cmd('PUNSUBSCRIBE'), 10),
      s(confirm('punsubscribe', 'f*', 0), 11),
      // no longer subscribed: an array that looks like a message is a reply
      c(cmd('LRANGE', 'list', '0', '-1'), 12),
      s(arr([bulk('message'), bulk('b'), bulk('c')]), 13),
    ]
    const r = runAll(steps)
    expect(r.exchanges.map((e) => [e.method, e.status, e.startUs, e.endUs])).toEqual([
      ['SUBSCRIBE', 'OK', 1, 3],
      ['PSUBSCRIBE', 'OK', 4, 5],
      ['PING', 'OK', 6, 7],
      ['UNSUBSCRIBE', 'OK', 8, 9],
      ['PUNSUBSCRIBE', 'OK', 10, 11],
      ['LRANGE', 'OK', 12, 13],
    ])
    expect(r.unmatchedResponses).toBe(0)
    expect(r.counts).toEqual({})
  })

  it('RESP3: pushes interleave with replies to other commands', () => {
    const steps = [
      c(cmd('HELLO', '3'), 1),
      s(map([[bulk('server'), bulk('redis')], [bulk('proto'), int(3)]]), 2),
      c(cmd('SUBSCRIBE', 'Foo'), 3),
      s(confirm('subscribe', 'Foo', 1, true), 4),
      c(cmd('SET', 'k', 'v'), 5),
      s(message('Foo', 'early', true) + simple('OK'), 6),
      c(cmd('PING'), 7),
      s(simple('PONG') + message('Foo', 'Hi:)', true) + pmessage('F*', 'Foo', 'x', true), 8),
      s(push([bulk('invalidate'), arr([bulk('k')])]), 9),
    ]
    const r = runAll(steps)
    expect(r.exchanges.map((e) => [e.method, e.status, e.endUs])).toEqual([
      ['HELLO', 'OK', 2],
      ['SUBSCRIBE', 'OK', 4],
      ['SET', 'OK', 6],
      ['PING', 'OK', 8],
    ])
    expect(r.unmatchedResponses).toBe(0)
    expect(r.counts).toEqual({})
  })

  it('a capture that starts on a subscribed RESP2 connection counts messages, no exchanges', () => {
    const r = runAll([{ dir: 'c2s', gap: -1, tsUs: 0 }, { dir: 's2c', gap: -1, tsUs: 0 }, s(message('a', 'x') + message('a', 'y'), 1)])
    expect(r.exchanges).toEqual([])
    expect(r.unmatchedResponses).toBe(0)
  })
})

describe('redis: MONITOR, MULTI/EXEC, CLIENT REPLY', () => {
  it('MONITOR lines after +OK are not replies; RESET ends monitoring', () => {
    const lines =
      simple('1339518083.107412 [0 127.0.0.1:60866] "keys" "*"') + simple('1339518087.877697 [0 127.0.0.1:60866] "dbsize"')
    const r = runAll([
      c(cmd('MONITOR'), 1),
      s(simple('OK'), 2),
      s(lines, 3),
      c(cmd('RESET'), 4),
      s(simple('1339518090.000001 [0 127.0.0.1:60866] "get" "x"') + simple('RESET'), 5),
    ])
    expect(r.exchanges.map((e) => [e.method, e.status, e.endUs])).toEqual([
      ['MONITOR', 'OK', 2],
      ['RESET', 'OK', 5],
    ])
    expect(r.unmatchedResponses).toBe(0)
  })

  it('MULTI/EXEC: QUEUED answers each command, EXEC is its own exchange', () => {
    const r = runAll([
      c(pipeline(['MULTI'], ['SET', 'a', '1'], ['INCR', 'a'], ['LPUSH', 'a', 'x'], ['EXEC']), 1),
      s(simple('OK') + simple('QUEUED') + simple('QUEUED') + simple('QUEUED'), 2),
      s(arr([simple('OK'), int(2), err('WRONGTYPE Operation against a key holding the wrong kind of value')]), 3),
    ])
    expect(r.exchanges.map((e) => [e.method, e.status, e.attrs?.queued ?? '-', e.endUs])).toEqual([
      ['MULTI', 'OK', '-', 2],
      ['SET', 'OK', 'true', 2],
      ['INCR', 'OK', 'true', 2],
      ['LPUSH', 'OK', 'true', 2],
      ['EXEC', 'OK', '-', 3],
    ])
  })

  it('EXECABORT and queue-time errors are errors', () => {
    const r = runAll([
      c(pipeline(['MULTI'], ['SET', 'a'], ['EXEC']), 1),
      s(simple('OK') + err("ERR wrong number of arguments for 'set' command") + err('EXECABORT Transaction discarded'), 2),
    ])
    expect(r.exchanges.map(brief)).toEqual([
      ['MULTI', 'OK', false],
      ['SET', 'ERR', true],
      ['EXEC', 'EXECABORT', true],
    ])
  })

  it('CLIENT REPLY OFF/SKIP: unanswered commands are emitted at once with status null, not errors', () => {
    const steps = [
      c(cmd('CLIENT', 'REPLY', 'OFF'), 1),
      c(cmd('SET', 'a', '1') + cmd('SET', 'b', '2'), 2),
      c(cmd('CLIENT', 'REPLY', 'ON'), 3),
      s(simple('OK'), 4),
      c(cmd('CLIENT', 'REPLY', 'SKIP') + cmd('INCR', 'a') + cmd('GET', 'a'), 5),
      s(bulk('2'), 6),
    ]
    const r = runAll(steps)
    expect(r.exchanges.map((e) => [e.method, e.status, e.error, e.endUs])).toEqual([
      ['CLIENT REPLY', null, false, 1],
      ['SET', null, false, 2],
      ['SET', null, false, 2],
      ['CLIENT REPLY', 'OK', false, 4],
      ['CLIENT REPLY', null, false, 5],
      ['INCR', null, false, 5],
      ['GET', 'OK', false, 6],
    ])
    expect(r.exchanges.filter((e) => e.status === null).every((e) => e.attrs?.reply === 'off')).toBe(true)
  })
})

describe('redis: gaps and mid-stream starts', () => {
  it('joins mid-stream: skips the tail of a reply and of a command, then pairs normally', () => {
    const big = bulk('z'.repeat(3000))
    const r = runAll([
      { dir: 'c2s', gap: -1, tsUs: 0 },
      { dir: 's2c', gap: -1, tsUs: 0 },
      s(big.slice(1500), 1), // the end of a reply whose start was not captured
      c('lue\r\n', 2), // the end of a command
      c(cmd('GET', 'k'), 3),
      s(big, 4),
    ])
    expect(r.exchanges.map((e) => [e.method, e.status, e.startUs, e.endUs, e.respBytes])).toEqual([['GET', 'OK', 3, 4, big.length]])
    expect(r.unmatchedResponses).toBe(0)
  })

  it('lost command bytes: what the server had acknowledged tells the lost commands\' replies from the next one\'s', () => {
    const get = cmd('GET', 'a')
    const lost = cmd('INCR', 'n') // lost in the gap
    const getB = cmd('GET', 'b')
    const steps: Step[] = [
      { dir: 'c2s', data: get, tsUs: 1000 },
      { dir: 's2c', data: bulk('1'), tsUs: 1100, peerAcked: get.length },
      { dir: 'c2s', gap: lost.length, tsUs: 2000 },
      { dir: 'c2s', data: getB, tsUs: 2100 },
      // INCR's reply left before the server had GET b: it cannot be GET b's
      { dir: 's2c', data: int(2), tsUs: 2050, peerAcked: get.length + lost.length },
      { dir: 's2c', data: bulk('bee'), tsUs: 2200, peerAcked: get.length + lost.length + getB.length },
    ]
    const r = runParser(redisParser, steps)
    expect(r.exchanges.map((e) => [e.method, e.status, e.respBytes])).toEqual([
      ['GET', 'OK', bulk('1').length],
      ['GET', 'OK', bulk('bee').length],
    ])
    expect(r.unmatchedResponses).toBe(1)
    expect(r.counts.reply_to_lost_command).toBe(1)
    // without peerAcked: FIFO, GET b takes INCR's reply (what podtap did before)
    const fifo = runParser(redisParser, steps.map((x) => ('data' in x ? { ...x, peerAcked: -1 } : x)))
    expect(fifo.exchanges.map((e) => e.respBytes)).toEqual([bulk('1').length, int(2).length])
  })

  it('a lost reply segment reports the commands waiting with status unknown (their replies may be in the gap) and resyncs', () => {
    const r = runParser(redisParser, [
      c(pipeline(['GET', 'a'], ['GET', 'b']), 1),
      s('$10\r\n01234', 2),
      { dir: 's2c', gap: 100, tsUs: 3 },
      s('789\r\n', 4), // still inside the lost reply: not plausible, skipped
      c(cmd('GET', 'c'), 5),
      s(bulk('c'), 6),
    ])
    expect(r.exchanges.map((e) => [e.method, e.status, e.error])).toEqual([
      ['GET', 'unknown', null],
      ['GET', 'unknown', null],
      ['GET', 'OK', false],
    ])
    expect(r.counts.gap_flushed).toBe(2)
  })
})

describe('redis: detect', () => {
  const b = (x: string) => Buffer.from(x, 'latin1')
  it('accepts real starts', () => {
    expect(detectRedis(b(cmd('GET', 'k')), 'c2s')).toBe(true)
    expect(detectRedis(b(cmd('hello', '3')), 'c2s')).toBe(true)
    expect(detectRedis(b(inline('PING')), 'c2s')).toBe(true)
    expect(detectRedis(b(simple('OK')), 's2c')).toBe(true)
    expect(detectRedis(b(err('NOAUTH Authentication required.')), 's2c')).toBe(true)
    expect(detectRedis(b(bulk('x')), 's2c')).toBe(true)
    expect(detectRedis(b(map([[bulk('server'), bulk('redis')]])), 's2c')).toBe(true)
  })
  it('rejects other protocols', () => {
    expect(detectRedis(b('GET / HTTP/1.1\r\nHost: x\r\n\r\n'), 'c2s')).toBe(false)
    expect(detectRedis(b('POST /api HTTP/1.1\r\n'), 'c2s')).toBe(false)
    expect(detectRedis(b('HTTP/1.1 200 OK\r\n'), 's2c')).toBe(false)
    expect(detectRedis(Buffer.from([0, 0, 0, 8, 4, 0xd2, 0x16, 0x2f]), 'c2s')).toBe(false) // PG SSLRequest
    expect(detectRedis(Buffer.from([0x4a, 0, 0, 0, 0x0a, 0x35, 0x2e, 0x37]), 's2c')).toBe(false) // MySQL greeting
    expect(detectRedis(b(cmd('user:1', 'x')), 'c2s')).toBe(false)
    expect(detectRedis(b('*2\r\n$3\r\nGE'), 'c2s')).toBe(false) // unsure: too short
    expect(detectRedis(b('-err lower case\r\n'), 's2c')).toBe(false)
  })
})

describe('redis: fuzz', () => {
  const limits = { maxPendingRequests: 64, maxFrameBytes: 4096 }

  it('random bytes at random splits never throw and never grow past the caps', () => {
    fc.assert(
      fc.property(
        randomSteps(200),
        fc.integer({ min: 1, max: 50 }),
        (steps, split) => {
          const r = runParser(redisParser, steps, split, limits)
          for (const e of r.exchanges) expect(e.endUs).toBeGreaterThanOrEqual(e.startUs)
        },
      ),
      { numRuns: 300 },
    )
  })

  it('mutated conversations never throw; pending stays under maxPendingRequests', () => {
    const conv = [
      c(pipeline(['HELLO', '3'], ['SUBSCRIBE', 'a', 'b'], ['GET', 'k']), 1),
      s(map([[bulk('proto'), int(3)]]) + confirm('subscribe', 'a', 1, true) + confirm('subscribe', 'b', 2, true), 2),
      s(message('a', 'x', true) + bulk('v') + attr([[simple('ttl'), int(3)]]) + streamedArr([int(1)]), 3),
      c(inline('MULTI') + cmd('INCR', 'x') + inline('EXEC'), 4),
      s(simple('OK') + simple('QUEUED') + arr([int(1)]), 5),
    ]
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(), fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }),
        fc.integer({ min: 1, max: 40 }),
        (mutations, split) => {
          const steps = conv.map((x) => ({ ...x, data: Buffer.from((x as { data: string }).data, 'latin1') })) as Step[]
          for (const [si, off, byte] of mutations) {
            const st = steps[si % steps.length] as { data: Buffer }
            st.data[off % st.data.length] = byte
          }
          const h = redisParser.create({
            emit: () => {},
            limits: limitsWith(limits),
            count: () => {},
            unmatchedResponse: () => {},
          })
          for (const st of steps as { dir: 'c2s' | 's2c'; data: Buffer; tsUs: number }[]) {
            for (let i = 0; i < st.data.length; i += split) h.data(st.dir, st.data.subarray(i, i + split), st.tsUs, -1)
          }
          const pending = (h as unknown as { pending: { size: number } }).pending.size
          expect(pending).toBeLessThanOrEqual(limits.maxPendingRequests)
          h.end('fin', 10)
        },
      ),
      { numRuns: 300 },
    )
  })
})
