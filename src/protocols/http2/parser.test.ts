import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { DEFAULT_LIMITS } from '../../config.js'
import { allSplits, runParser, type Step } from '../../../test/helpers/protocols.js'
import type { ParsedExchange, ParserContext } from '../types.js'
import { detectHttp2 } from './detect.js'
import { FrameType } from './frames.js'
import { Http2Handler, http2Parser } from './parser.js'
import { checkSplits } from '../../../test/helpers/splits.js'
import {
  PREFACE, block, data, frame, goaway, grpcMessage, grpcReq, headers, hpackInt, idx, lit, litIdx, req, rst, settings,
  sizeUpdate,
} from '../../../test/helpers/buffers/http2.js'

const c2s = (d: Buffer, tsUs: number): Step => ({ dir: 'c2s', data: d, tsUs })
const s2c = (d: Buffer, tsUs: number): Step => ({ dir: 's2c', data: d, tsUs })
const cat = (...b: Buffer[]) => Buffer.concat(b)

/** runs the steps whole, split at every offset and byte by byte: the results must not differ */
function runAll(steps: Step[]) {
  return checkSplits(http2Parser, steps, {}, ['exchanges', 'counts'])
}

const open = (ts = 1000): Step[] => [c2s(cat(PREFACE, settings([[4, 65535]])), ts), s2c(cat(settings(), settings([], true)), ts + 10)]

describe('http2 detection', () => {
  it('client preface, server SETTINGS, mid-stream frame runs', () => {
    expect(detectHttp2(PREFACE, 'c2s')).toBe(true)
    expect(detectHttp2(PREFACE.subarray(0, 4), 'c2s')).toBe(true)
    expect(detectHttp2(settings([[3, 100], [4, 65535]]), 's2c')).toBe(true)
    expect(detectHttp2(cat(headers(1, req('/')), data(1, 'x', true)), 'c2s')).toBe(true)
    expect(detectHttp2(headers(3, [[':status', '200']]), 's2c')).toBe(true)
  })

  it('rejects other protocols', () => {
    for (const s of ['GET / HTTP/1.1\r\n\r\n', 'HTTP/1.1 200 OK\r\n', '*1\r\n$4\r\nPING\r\n', '+OK\r\n', 'PRX * HTTP/2.0']) {
      expect(detectHttp2(Buffer.from(s), 'c2s'), s).toBe(false)
      expect(detectHttp2(Buffer.from(s), 's2c'), s).toBe(false)
    }
    // PostgreSQL StartupMessage, MySQL greeting start
    expect(detectHttp2(Buffer.from('0000000800030000', 'hex'), 'c2s')).toBe(false)
    expect(detectHttp2(Buffer.from('4a0000000a382e302e3333', 'hex'), 's2c')).toBe(false)
    // a SETTINGS ACK carrying a payload, an unknown flag on DATA, PING of the wrong size
    expect(detectHttp2(frame(FrameType.SETTINGS, 1, 0, Buffer.alloc(6)), 's2c')).toBe(false)
    expect(detectHttp2(frame(FrameType.DATA, 0x40, 1, 'x'), 'c2s')).toBe(false)
    expect(detectHttp2(frame(FrameType.PING, 0, 0, Buffer.alloc(4)), 'c2s')).toBe(false)
  })
})

describe('http2 parser', () => {
  it('GET → 200: method, resource without query, timing and frame bytes; every split', () => {
    const reqH = headers(1, req('/a/b?x=1', 'GET', [['user-agent', 'curl/8']]), true)
    const respH = headers(1, [[':status', '200'], ['content-type', 'text/plain']])
    const body = data(1, 'hello', true)
    const r = runAll([...open(), c2s(reqH, 2000), s2c(respH, 2500), s2c(body, 2600)])
    expect(r.exchanges).toEqual([
      {
        method: 'GET',
        resource: '/a/b',
        status: 200,
        error: false,
        startUs: 2000,
        endUs: 2600,
        reqBytes: reqH.length,
        respBytes: respH.length + body.length,
        attrs: { version: 'HTTP/2', stream: '1', host: 'example.com', user_agent: 'curl/8' },
      },
    ])
    expect(r.unmatchedResponses).toBe(0)
  })

  it('concurrent streams answered out of order pair by stream id; 5xx is an error', () => {
    const r = runAll([
      ...open(),
      c2s(cat(headers(1, req('/one'), true), headers(3, req('/two', 'POST')), data(3, 'body', true)), 2000),
      s2c(cat(headers(3, [[':status', '503']], true), headers(1, [[':status', '200']], true)), 3000),
    ])
    expect(r.exchanges.map((e) => [e.resource, e.method, e.status, e.error])).toEqual([
      ['/two', 'POST', 503, true],
      ['/one', 'GET', 200, false],
    ])
  })

  it('HEADERS with padding and priority, then CONTINUATION', () => {
    const blk = block(req('/cont', 'GET', [['x-long', 'y'.repeat(40)]]))
    const pad = 7
    const payload = cat(Buffer.from([pad]), Buffer.from([0x80, 0, 0, 3, 15]), blk.subarray(0, 10), Buffer.alloc(pad))
    const steps = [
      ...open(),
      c2s(
        cat(
          frame(FrameType.HEADERS, 0x8 | 0x20 | 0x1, 1, payload),
          frame(FrameType.CONTINUATION, 0, 1, blk.subarray(10, 30)),
          frame(FrameType.CONTINUATION, 0x4, 1, blk.subarray(30)),
        ),
        2000,
      ),
      s2c(headers(1, [[':status', '200']], true), 2100),
    ]
    const r = runAll(steps)
    expect(r.exchanges).toHaveLength(1)
    expect(r.exchanges[0]).toMatchObject({ method: 'GET', resource: '/cont', status: 200, reqBytes: 9 * 3 + payload.length + blk.length - 10 })
  })

  it('gRPC unary: method is the full path, status the grpc-status trailer, protocol grpc', () => {
    const r = runAll([
      ...open(),
      c2s(cat(headers(1, grpcReq('/helloworld.Greeter/SayHello')), data(1, grpcMessage('\x0a\x03bob'), true)), 2000),
      s2c(
        cat(
          headers(1, [[':status', '200'], ['content-type', 'application/grpc']]),
          data(1, grpcMessage('\x0a\x02hi')),
          headers(1, [['grpc-status', '0'], ['grpc-message', '']], true),
        ),
        2400,
      ),
    ])
    expect(r.exchanges).toHaveLength(1)
    expect(r.exchanges[0]).toMatchObject({ protocol: 'grpc', method: '/helloworld.Greeter/SayHello', status: 0, error: false })
    expect(r.exchanges[0].resource).toBeUndefined()
  })

  it('gRPC trailers-only error: grpc-status 14 is an error; grpc-web status comes from the body trailer', () => {
    const r = runAll([
      ...open(),
      c2s(cat(headers(1, grpcReq('/a.B/C'), true), headers(3, req('/w.S/M', 'POST', [['content-type', 'application/grpc-web+proto']]), true)), 2000),
      s2c(cat(headers(1, [[':status', '200'], ['content-type', 'application/grpc'], ['grpc-status', '14']], true)), 2100),
      s2c(cat(headers(3, [[':status', '200'], ['content-type', 'application/grpc-web+proto']]), data(3, cat(grpcMessage('m'), grpcMessage('grpc-status:5\r\ngrpc-message:nf\r\n', 0x80)), true)), 2200),
    ])
    expect(r.exchanges.map((e) => [e.protocol, e.method, e.status, e.error])).toEqual([
      ['grpc', '/a.B/C', 14, true],
      ['grpc', '/w.S/M', 5, true],
    ])
  })

  it('RST_STREAM: without a response → status null, error; after response headers → their status', () => {
    const r = runAll([
      ...open(),
      c2s(cat(headers(1, req('/x')), headers(3, req('/y'))), 2000),
      s2c(headers(3, [[':status', '200']]), 2100),
      c2s(cat(rst(1, 8), rst(3, 8)), 2200),
    ])
    expect(r.exchanges.map((e) => [e.resource, e.status, e.error, e.attrs?.rst_stream])).toEqual([
      ['/x', null, true, 'CANCEL'],
      ['/y', 200, false, 'CANCEL'],
    ])
  })

  it('GOAWAY: streams above last-stream-id are unanswered; connection end reports the rest', () => {
    const r = runAll([
      ...open(),
      c2s(cat(headers(1, req('/1'), true), headers(3, req('/3'), true), headers(5, req('/5'), true)), 2000),
      s2c(goaway(1, 0), 2100),
      { end: 'fin', tsUs: 9000 },
    ])
    expect(r.exchanges.map((e) => [e.resource, e.status, e.error, e.endUs, e.attrs?.goaway])).toEqual([
      ['/3', null, true, 2100, 'true'],
      ['/5', null, true, 2100, 'true'],
      ['/1', null, true, 9000, undefined],
    ])
  })

  it('PUSH_PROMISE: the promised stream is not a request nor an unmatched response', () => {
    const pp = frame(FrameType.PUSH_PROMISE, 0x4, 1, cat(Buffer.from([0, 0, 0, 2]), block(req('/style.css'))))
    const r = runAll([
      ...open(),
      c2s(headers(1, req('/'), true), 2000),
      s2c(cat(pp, headers(1, [[':status', '200']]), headers(2, [[':status', '200']]), data(2, 'css', true), data(1, 'html', true)), 2100),
    ])
    expect(r.exchanges.map((e) => [e.resource, e.status])).toEqual([['/', 200]])
    expect(r.exchanges[0].respBytes).toBe(pp.length + headers(1, [[':status', '200']]).length + data(1, 'html').length)
    expect(r.unmatchedResponses).toBe(0)
    expect(r.counts.push_promise).toBe(1)
  })

  it('1xx is not final', () => {
    const r = runAll([
      ...open(),
      c2s(headers(1, req('/up', 'POST', [['expect', '100-continue']])), 2000),
      s2c(headers(1, [[':status', '100']]), 2050),
      c2s(data(1, 'x', true), 2100),
      s2c(headers(1, [[':status', '201']], true), 2200),
    ])
    expect(r.exchanges.map((e) => [e.status, e.endUs])).toEqual([[201, 2200]])
  })

  it('SETTINGS_HEADER_TABLE_SIZE lets the encoder grow its table; dynamic entries resolve', () => {
    const big = 'v'.repeat(5000)
    const steps: Step[] = [
      c2s(cat(PREFACE, settings()), 1000),
      // the server allows 16 KiB for the client's encoder
      s2c(settings([[1, 16384]]), 1010),
      c2s(frame(FrameType.HEADERS, 0x5, 1, cat(sizeUpdate(16384), idx(2), idx(6), litIdx(4, '/big', 'incremental'), lit('x-big', big, 'incremental'))), 2000),
      c2s(frame(FrameType.HEADERS, 0x5, 3, cat(idx(2), idx(6), hpackInt(7, 0x80, 63), hpackInt(7, 0x80, 62))), 2100),
      s2c(cat(headers(1, [[':status', '200']], true), headers(3, [[':status', '204']], true)), 2200),
    ]
    const r = runParser(http2Parser, steps)
    expect(r.exchanges.map((e) => [e.resource, e.status])).toEqual([['/big', 200], ['/big', 204]])
    expect(r.counts).toEqual({})
  })

  it('a malformed block loses the HPACK table: counted, pairing holds, later blocks decode again', () => {
    const r = runAll([
      ...open(),
      c2s(frame(FrameType.HEADERS, 0x5, 1, cat(idx(2), hpackInt(7, 0x80, 70))), 2000),
      c2s(headers(3, req('/fine'), true), 2050),
      s2c(cat(headers(1, [[':status', '200']], true), headers(3, [[':status', '200']], true)), 2100),
    ])
    expect(r.exchanges.map((e) => [e.method, e.resource ?? null, e.status])).toEqual([
      ['unknown', null, 200],
      ['GET', '/fine', 200],
    ])
    expect(r.counts.hpack_index_out_of_range).toBe(1)
    expect(r.counts.hpack_broken).toBe(1)
  })

  it('joined mid-stream: static-table fields decode, dynamic references give unknown, pairing holds', () => {
    const r = runAll([
      { dir: 'c2s', gap: -1, tsUs: 1000 },
      { dir: 's2c', gap: -1, tsUs: 1000 },
      // :method POST (static), :path from a dynamic entry the capture never saw
      c2s(cat(frame(FrameType.HEADERS, 0x4, 7, cat(idx(3), hpackInt(7, 0x80, 64))), data(7, 'x', true)), 2000),
      s2c(cat(headers(7, [[':status', '200']]), data(7, 'y', true)), 2100),
      // a response whose request was never seen
      s2c(headers(5, [[':status', '200']], true), 2200),
    ])
    expect(r.exchanges.map((e) => [e.method, e.resource ?? null, e.status, e.error])).toEqual([['POST', null, 200, false]])
    expect(r.counts.hpack_unknown_entry).toBe(1)
    expect(r.counts.mid_stream).toBe(2)
    expect(r.unmatchedResponses).toBe(1)
  })

  it('after a gap, bytes are skipped until a plausible frame header starts a segment', () => {
    const r = runParser(http2Parser, [
      ...open(),
      c2s(headers(1, req('/a'), true), 2000),
      { dir: 's2c', gap: 100, tsUs: 2100 },
      s2c(Buffer.from('zzzzzzzzzzzzzzzzzzzz'), 2100),
      s2c(headers(1, [[':status', '200']], true), 2200),
    ])
    expect(r.exchanges.map((e) => [e.resource, e.status])).toEqual([['/a', 200]])
    expect(r.counts.resync_skipped).toBe(1)
  })

  it('cookie and authorization values are never stored', () => {
    const r = runParser(http2Parser, [
      ...open(),
      c2s(frame(FrameType.HEADERS, 0x5, 1, cat(block(req('/s')), litIdx(32, 'session=SECRET1', 'incremental'), litIdx(23, 'Bearer SECRET2', 'never'))), 2000),
      s2c(headers(1, [[':status', '200']], true), 2100),
    ])
    expect(JSON.stringify(r.exchanges)).not.toMatch(/SECRET/)
  })

  it('a hostile endless CONTINUATION run is cut at maxHeaderBytes and counted; memory stays bounded', () => {
    const ctx = context({ maxHeaderBytes: 4096 })
    const h = new Http2Handler(ctx)
    h.data('c2s', cat(PREFACE, frame(FrameType.HEADERS, 0, 1, block(req('/flood')))), 1000, -1)
    const cont = frame(FrameType.CONTINUATION, 0, 1, lit('x', 'y'.repeat(1000)))
    for (let i = 0; i < 1000; i++) {
      h.data('c2s', cont, 1000 + i, -1)
      expect(h.bufferedBytes).toBeLessThanOrEqual(4096 + cont.length)
    }
    h.data('c2s', frame(FrameType.CONTINUATION, 0x4, 1, 'x'), 3000, -1)
    h.data('s2c', headers(1, [[':status', '200']], true), 3100, -1)
    h.end('fin', 4000)
    expect(ctx.counts.header_block_too_large).toBe(1)
    expect(ctx.exchanges.map((e) => [e.method, e.status])).toEqual([['unknown', 200]])
  })

  it('a huge table size update breaks HPACK instead of growing the table', () => {
    const r = runParser(
      http2Parser,
      [
        c2s(cat(PREFACE, settings()), 1000),
        s2c(settings([[1, 0xffffffff]]), 1010),
        c2s(frame(FrameType.HEADERS, 0x5, 1, cat(sizeUpdate(0x7fffffff), idx(2))), 2000),
        s2c(headers(1, [[':status', '200']], true), 2100),
      ],
      'whole',
      { maxHpackTableBytes: 65536 },
    )
    expect(r.counts.hpack_table_size_too_large).toBe(1)
    expect(r.exchanges.map((e) => e.method)).toEqual(['unknown'])
  })

  it('pending streams are capped', () => {
    const frames: Buffer[] = []
    for (let i = 0; i < 20; i++) frames.push(headers(2 * i + 1, req('/' + i), true))
    const r = runParser(http2Parser, [...open(), c2s(cat(...frames), 2000)], 'whole', { maxPendingRequests: 5 })
    expect(r.counts.pending_evicted).toBe(15)
    expect(r.exchanges).toHaveLength(20)
  })

  it('oldestPendingUs follows the oldest open stream', () => {
    const ctx = context()
    const h = new Http2Handler(ctx)
    expect(h.oldestPendingUs()).toBe(Infinity)
    h.data('c2s', cat(PREFACE, headers(1, req('/a')), headers(3, req('/b'))), 1000, -1)
    h.data('c2s', headers(5, req('/c')), 2000, -1)
    expect(h.oldestPendingUs()).toBe(1000)
    h.data('s2c', cat(headers(1, [[':status', '200']], true), headers(3, [[':status', '200']], true)), 3000, -1)
    expect(h.oldestPendingUs()).toBe(2000)
  })
})

describe('http2 fuzz', () => {
  it('random bytes at random splits never throw and stay bounded', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ dir: fc.constantFrom('c2s', 's2c'), b: fc.uint8Array({ maxLength: 300 }) }), { maxLength: 30 }),
        fc.boolean(),
        (chunks, preface) => {
          const ctx = context({ maxFrameBytes: 4096, maxHeaderBytes: 2048, maxPendingRequests: 16 })
          const h = new Http2Handler(ctx)
          if (preface) h.data('c2s', PREFACE, 1, -1)
          let t = 2
          for (const c of chunks) {
            h.data(c.dir as 'c2s' | 's2c', Buffer.from(c.b), t++, -1)
            expect(h.bufferedBytes).toBeLessThanOrEqual(2 * (4096 + 2048))
            expect(h.pendingStreams).toBeLessThanOrEqual(16)
            expect(h.hpackBytes).toBeLessThanOrEqual(2 * 65536)
          }
          h.end('fin', t)
        },
      ),
      { numRuns: 300 },
    )
  })

  it('random well-formed frames with hostile HEADERS/CONTINUATION and table updates never throw', () => {
    const frameArb = fc.oneof(
      fc.record({ t: fc.constant(FrameType.HEADERS), sid: fc.integer({ min: 0, max: 9 }), flags: fc.integer({ min: 0, max: 0x2d }), p: fc.uint8Array({ maxLength: 64 }) }),
      fc.record({ t: fc.constant(FrameType.CONTINUATION), sid: fc.integer({ min: 0, max: 9 }), flags: fc.constantFrom(0, 4), p: fc.uint8Array({ maxLength: 900 }) }),
      fc.record({ t: fc.constant(FrameType.HEADERS), sid: fc.integer({ min: 1, max: 9 }), flags: fc.constant(5), p: fc.integer({ min: 0, max: 2 ** 31 - 1 }).map((n) => Uint8Array.from(sizeUpdate(n))) }),
      fc.record({ t: fc.integer({ min: 0, max: 12 }), sid: fc.integer({ min: 0, max: 9 }), flags: fc.integer({ min: 0, max: 255 }), p: fc.uint8Array({ maxLength: 40 }) }),
    )
    fc.assert(
      fc.property(fc.array(fc.record({ s2c: fc.boolean(), f: frameArb }), { maxLength: 60 }), fc.integer({ min: 1, max: 40 }), (fs, cutAt) => {
        const ctx = context({ maxHeaderBytes: 1024, maxPendingRequests: 8 })
        const h = new Http2Handler(ctx)
        h.data('c2s', PREFACE, 1, -1)
        let t = 2
        for (const { s2c: dir, f } of fs) {
          const b = frame(f.t, f.flags, f.sid, Buffer.from(f.p))
          const d = dir ? 's2c' : 'c2s'
          h.data(d, b.subarray(0, Math.min(cutAt, b.length)), t, -1)
          h.data(d, b.subarray(Math.min(cutAt, b.length)), t++, -1)
          expect(h.bufferedBytes).toBeLessThanOrEqual(2 * (1024 + 1024))
          expect(h.pendingStreams).toBeLessThanOrEqual(8)
          expect(h.hpackBytes).toBeLessThanOrEqual(2 * 65536)
        }
        h.end('fin', t)
        for (const e of ctx.exchanges) expect(e.endUs).toBeGreaterThanOrEqual(e.startUs)
      }),
      { numRuns: 300 },
    )
  })
})

function context(limits: Partial<typeof DEFAULT_LIMITS> = {}): ParserContext & { exchanges: ParsedExchange[]; counts: Record<string, number> } {
  const exchanges: ParsedExchange[] = []
  const counts: Record<string, number> = {}
  return {
    exchanges,
    counts,
    emit: (e) => exchanges.push(e),
    limits: { ...DEFAULT_LIMITS, ...limits },
    count: (r, n = 1) => {
      counts[r] = (counts[r] ?? 0) + n
    },
    unmatchedResponse: () => {
      counts.unmatched = (counts.unmatched ?? 0) + 1
    },
  }
}

describe('http2 trace context headers', () => {
  it('keeps traceparent and tracestate from request headers and gRPC metadata, not from responses', () => {
    const tp = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'
    const r = runAll([
      ...open(),
      c2s(headers(1, req('/one', 'GET', [['traceparent', tp], ['tracestate', 'k=v']]), true), 2000),
      c2s(cat(headers(3, [...grpcReq('/pkg.Svc/M'), ['uber-trace-id', 'abc:def:0:1']]), data(3, grpcMessage('x'), true)), 2100),
      c2s(headers(5, req('/three'), true), 2200),
      s2c(headers(1, [[':status', '200'], ['traceparent', tp]], true), 2500),
      s2c(cat(headers(3, [[':status', '200'], ['content-type', 'application/grpc']]), headers(3, [['grpc-status', '0']], true)), 2600),
      s2c(headers(5, [[':status', '200'], ['traceparent', tp]], true), 2700),
    ])
    expect(r.exchanges.map((e) => e.trace)).toEqual([{ traceparent: tp, tracestate: 'k=v' }, { uberTraceId: 'abc:def:0:1' }, undefined])
  })
})
