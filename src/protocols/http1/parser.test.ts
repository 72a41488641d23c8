import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { DEFAULT_LIMITS, type Limits } from '../../config.js'
import type { Dir } from '../../tcp/types.js'
import { allSplits, runParser, type RunResult, type Step } from '../../../test/helpers/protocols.js'
import type { ParsedExchange, ParserContext } from '../types.js'
import { detectHttp1 } from './detect.js'
import { Http1Handler, http1Parser } from './parser.js'
import { checkSplits } from '../../../test/helpers/splits.js'

// ---- input builders (pg-protocol testing/test-buffers.ts style)

type Headers = [string, string][]

function request(method: string, path: string, headers: Headers = [['Host', 'example.com']], body = '', version = 'HTTP/1.1'): string {
  const h = body.length > 0 && !headers.some(([n]) => /^(content-length|transfer-encoding)$/i.test(n))
    ? [...headers, ['Content-Length', String(Buffer.byteLength(body, 'latin1'))] as [string, string]]
    : headers
  return `${method} ${path} ${version}\r\n` + h.map(([n, v]) => `${n}: ${v}\r\n`).join('') + '\r\n' + body
}

function response(status: number, headers: Headers = [], body = '', version = 'HTTP/1.1', reason = 'OK'): string {
  return `${version} ${status} ${reason}\r\n` + headers.map(([n, v]) => `${n}: ${v}\r\n`).join('') + '\r\n' + body
}

/** a response with Content-Length set from its body */
function ok(body = 'hello', status = 200, extra: Headers = []): string {
  return response(status, [['Content-Type', 'text/plain'], ['Content-Length', String(body.length)], ...extra], body)
}

function chunked(chunks: string[], opts: { ext?: string; trailers?: Headers } = {}): string {
  const ext = opts.ext ?? ''
  return (
    chunks.map((c) => `${c.length.toString(16)}${ext}\r\n${c}\r\n`).join('') +
    `0${ext}\r\n` +
    (opts.trailers ?? []).map(([n, v]) => `${n}: ${v}\r\n`).join('') +
    '\r\n'
  )
}

const c2s = (data: string, tsUs: number, peerAcked?: number): Step => ({ dir: 'c2s', data, tsUs, peerAcked })
const s2c = (data: string, tsUs: number, peerAcked?: number): Step => ({ dir: 's2c', data, tsUs, peerAcked })
const gap = (dir: Dir, n: number, tsUs: number): Step => ({ dir, gap: n, tsUs })
const end = (tsUs: number): Step => ({ end: 'fin', tsUs })

/**
 * Runs the steps whole, then at every split offset and 1 byte at a time: every run must give the
 * same exchanges, counts and unmatched responses. Returns the whole run.
 */
function check(steps: Step[], limits: Partial<Limits> = {}): RunResult {
  return checkSplits(http1Parser, steps, limits)
}

const T0 = 1_700_000_000_000_000

describe('http1 detect', () => {
  const yes = (s: string, dir: Dir) => expect(detectHttp1(Buffer.from(s, 'latin1'), dir), JSON.stringify(s)).toBe(true)
  const no = (s: string, dir: Dir) => expect(detectHttp1(Buffer.from(s, 'latin1'), dir), JSON.stringify(s)).toBe(false)

  it('accepts request lines of any letter/_/- method and the real target forms', () => {
    for (const m of ['GET', 'POST', 'PROPFIND', 'VERSION-CONTROL', 'CCM_POST', 'M-SEARCH', 'get']) yes(`${m} /x HTTP/1.1\r\n`, 'c2s')
    yes('OPTIONS * HTTP/1.1\r\n', 'c2s')
    yes('GET http://example.com/a?b HTTP/1.1\r\n', 'c2s')
    yes('GET HTTPS://example.com HTTP/1.0\n', 'c2s')
    yes('CONNECT example.com:443 HTTP/1.1\r\n', 'c2s')
    yes('GET /caf\xc3\xa9 HTTP/1.1\r\n', 'c2s')
  })

  it('accepts short heads only as valid prefixes of at least 4 bytes', () => {
    yes('GET ', 'c2s')
    yes('GET /', 'c2s')
    yes('POST /api/v1/items HTT', 'c2s')
    yes('HTTP', 's2c')
    yes('HTTP/1.1 2', 's2c')
    no('GE', 'c2s')
    no('GET', 'c2s')
    no('GETX', 'c2s') // no SP yet: could be anything
    no('HTT', 's2c')
    no('X /', 'c2s')
  })

  it('rejects other protocols and broken lines', () => {
    no('SET key value\r\n', 'c2s') // Redis inline command
    no('SET k', 'c2s')
    no('PING\r\n', 'c2s')
    no('*1\r\n$4\r\nPING\r\n', 'c2s')
    no('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'c2s') // HTTP/2 preface
    no('\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03', 'c2s') // TLS ClientHello
    no('\x00\x00\x00\x08\x04\xd2\x16\x2f', 'c2s') // PostgreSQL SSLRequest
    no('select 1', 'c2s')
    no('GET /x HTTP/1.1 extra\r\n', 'c2s')
    no('GET /x HTTP/2\r\n', 'c2s')
    no('GET\t/x HTTP/1.1\r\n', 'c2s')
    no('GET /x\r\n', 'c2s') // HTTP/0.9
    no('G3T /x HTTP/1.1\r\n', 'c2s')
    no('GET x HTTP/1.1\r\n', 'c2s')
    no('GET ftp://x/ HTTP/1.1\r\n', 'c2s')
    no('HTTP/2 200\r\n', 's2c')
    no('HTTP/1.1 2x0 OK\r\n', 's2c')
    no('http/1.1 200 OK\r\n', 's2c')
    no('+OK\r\n', 's2c')
    no('GET / HTTP/1.1\r\n', 's2c')
    no('HTTP/1.1 200 OK\r\n', 'c2s')
  })
})

describe('http1 parser', () => {
  it('pairs 3 keep-alive GETs with their responses', () => {
    const ua = 'curl/8.5.0'
    const reqs = [
      request('GET', '/index.html?x=1', [['Host', 'example.com'], ['User-Agent', ua], ['Accept', '*/*']]),
      request('GET', '/a/b#frag', [['Host', 'example.com'], ['User-Agent', ua]]),
      request('GET', '/', [['Host', 'example.com:8080']]),
    ]
    const resps = [ok('<html></html>'), ok('nope', 404), ok('boom', 503)]
    const steps: Step[] = []
    for (let i = 0; i < 3; i++) {
      steps.push(c2s(reqs[i], T0 + i * 1000), s2c(resps[i], T0 + i * 1000 + 250))
    }
    const r = check(steps)
    expect(r.exchanges).toEqual([
      {
        method: 'GET', resource: '/index.html', status: 200, error: false, startUs: T0, endUs: T0 + 250,
        reqBytes: reqs[0].length, respBytes: resps[0].length,
        attrs: { version: 'HTTP/1.1', host: 'example.com', user_agent: ua },
      },
      {
        method: 'GET', resource: '/a/b', status: 404, error: false, startUs: T0 + 1000, endUs: T0 + 1250,
        reqBytes: reqs[1].length, respBytes: resps[1].length,
        attrs: { version: 'HTTP/1.1', host: 'example.com', user_agent: ua },
      },
      {
        method: 'GET', resource: '/', status: 503, error: true, startUs: T0 + 2000, endUs: T0 + 2250,
        reqBytes: reqs[2].length, respBytes: resps[2].length,
        attrs: { version: 'HTTP/1.1', host: 'example.com:8080' },
      },
    ])
    expect(r.counts).toEqual({})
    expect(r.unmatchedResponses).toBe(0)
  })

  it('matches 5 pipelined requests with 5 responses in order', () => {
    const reqs = [0, 1, 2, 3, 4].map((i) => request('GET', `/p${i}`))
    const resps = [200, 201, 404, 500, 302].map((st, i) => ok(`body${i}`, st))
    const r = check([c2s(reqs.join(''), T0), s2c(resps.join(''), T0 + 900)])
    expect(r.exchanges.map((e) => [e.resource, e.status, e.reqBytes, e.respBytes])).toEqual(
      reqs.map((q, i) => [`/p${i}`, [200, 201, 404, 500, 302][i], q.length, resps[i].length]),
    )
    expect(r.exchanges.every((e) => e.startUs === T0 && e.endUs === T0 + 900)).toBe(true)
    expect(r.exchanges.map((e) => e.error)).toEqual([false, false, false, true, false])
  })

  it('counts a POST body in the request bytes', () => {
    const body = '{"name":"widget","count":3}'
    const q = request('POST', '/api/items?dry=1', [['Host', 'api'], ['Content-Type', 'application/json']], body)
    const a = ok('{"id":7}', 201)
    const q2 = request('GET', '/api/items/7', [['Host', 'api']])
    const r = check([c2s(q, T0), s2c(a, T0 + 10), c2s(q2, T0 + 20), s2c(ok(), T0 + 30)])
    expect(r.exchanges[0]).toMatchObject({ method: 'POST', resource: '/api/items', status: 201, reqBytes: q.length, respBytes: a.length })
    expect(r.exchanges[1]).toMatchObject({ method: 'GET', resource: '/api/items/7', status: 200, reqBytes: q2.length })
    expect(r.counts).toEqual({})
  })

  it('frames a chunked response with chunk extensions and trailers', () => {
    const body = chunked(['Hello, ', 'chunked ', 'world!'.repeat(40)], { ext: ';name=value;x="q;uoted"', trailers: [['Expires', 'never'], ['X-Checksum', 'abc']] })
    const a = response(200, [['Transfer-Encoding', 'chunked'], ['Content-Type', 'text/plain']], body)
    const r = check([c2s(request('GET', '/c'), T0), s2c(a, T0 + 5), c2s(request('GET', '/d'), T0 + 10), s2c(ok('x'), T0 + 15)])
    expect(r.exchanges.map((e) => [e.resource, e.status, e.respBytes, e.endUs])).toEqual([
      ['/c', 200, a.length, T0 + 5],
      ['/d', 200, ok('x').length, T0 + 15],
    ])
    expect(r.counts).toEqual({})
  })

  it('frames a chunked request body; Transfer-Encoding wins over Content-Length and is counted', () => {
    const q = request('PUT', '/upload', [['Host', 'h'], ['Transfer-Encoding', 'gzip, chunked']], chunked(['abc', 'defgh']))
    const q2 = request('POST', '/x', [['Host', 'h'], ['Content-Length', '3'], ['Transfer-Encoding', 'chunked']], chunked(['zz']))
    const r = check([c2s(q + q2, T0), s2c(ok('', 204) + ok('y'), T0 + 7)])
    expect(r.exchanges.map((e) => [e.method, e.resource, e.reqBytes, e.status])).toEqual([
      ['PUT', '/upload', q.length, 204],
      ['POST', '/x', q2.length, 200],
    ])
    expect(r.counts).toEqual({ te_and_cl: 1 })
  })

  it('reads no body after HEAD, 204 and 304, whatever Content-Length says', () => {
    const head = response(200, [['Content-Length', '12345'], ['Content-Type', 'text/html']])
    const noContent = response(204, [['Content-Length', '10']], '', 'HTTP/1.1', 'No Content')
    const notModified = response(304, [['Content-Length', '999'], ['ETag', '"x"']], '', 'HTTP/1.1', 'Not Modified')
    const steps = [
      c2s(request('HEAD', '/big'), T0),
      s2c(head, T0 + 1),
      c2s(request('DELETE', '/thing'), T0 + 2),
      s2c(noContent, T0 + 3),
      c2s(request('GET', '/cached', [['Host', 'h'], ['If-None-Match', '"x"']]), T0 + 4),
      s2c(notModified, T0 + 5),
      c2s(request('GET', '/after'), T0 + 6),
      s2c(ok('fine'), T0 + 7),
    ]
    const r = check(steps)
    expect(r.exchanges.map((e) => [e.method, e.resource, e.status, e.respBytes, e.endUs])).toEqual([
      ['HEAD', '/big', 200, head.length, T0 + 1],
      ['DELETE', '/thing', 204, noContent.length, T0 + 3],
      ['GET', '/cached', 304, notModified.length, T0 + 5],
      ['GET', '/after', 200, ok('fine').length, T0 + 7],
    ])
    expect(r.counts).toEqual({})
  })

  it('treats 100 Continue as interim: one exchange, answered by the 200', () => {
    const headers: Headers = [['Host', 'h'], ['Expect', '100-continue'], ['Content-Length', '11']]
    const q = request('POST', '/upload', headers)
    const cont = response(100, [], '', 'HTTP/1.1', 'Continue')
    const final = ok('stored', 201)
    const r = check([c2s(q, T0), s2c(cont, T0 + 100), c2s('hello world', T0 + 200), s2c(final, T0 + 300)])
    expect(r.exchanges).toEqual([
      {
        method: 'POST', resource: '/upload', status: 201, error: false, startUs: T0, endUs: T0 + 300,
        reqBytes: q.length + 11, respBytes: cont.length + final.length,
        attrs: { version: 'HTTP/1.1', host: 'h', expect: '100-continue', interim: '100' },
      },
    ])
    expect(r.unmatchedResponses).toBe(0)
  })

  it('stops at 101 Switching Protocols and ignores the binary that follows', () => {
    const q = request('GET', '/chat', [['Host', 'ws.example'], ['Upgrade', 'websocket'], ['Connection', 'Upgrade'], ['Sec-WebSocket-Key', 'dGhlIHNhbXBsZSBub25jZQ==']])
    const a = response(101, [['Upgrade', 'websocket'], ['Connection', 'Upgrade']], '', 'HTTP/1.1', 'Switching Protocols')
    const junk = '\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58\r\n\r\nHTTP/1.1 200 OK\r\n\r\n'
    const r = check([c2s(q, T0), s2c(a, T0 + 50), c2s(junk, T0 + 60), s2c(junk + ok('x'), T0 + 70), c2s(request('GET', '/'), T0 + 80), end(T0 + 90)])
    expect(r.exchanges).toEqual([
      {
        method: 'GET', resource: '/chat', status: 101, error: false, startUs: T0, endUs: T0 + 50,
        reqBytes: q.length, respBytes: a.length, attrs: { version: 'HTTP/1.1', host: 'ws.example', upgrade: 'websocket' },
      },
    ])
    expect(r.counts).toEqual({})
    expect(r.unmatchedResponses).toBe(0)
  })

  it('stops at a 2xx to CONNECT; a client that sends tunnel bytes early is not counted as bad', () => {
    const q = request('CONNECT', 'db.internal:443', [['Host', 'db.internal:443']])
    const tls = '\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03'
    const r = check([c2s(q + tls, T0), s2c(response(200, [], '', 'HTTP/1.1', 'Connection established'), T0 + 9), s2c('\x16\x03\x03\x00\x5a', T0 + 10)])
    expect(r.exchanges.map((e) => [e.method, e.resource, e.status, e.attrs?.host])).toEqual([['CONNECT', 'db.internal:443', 200, 'db.internal:443']])
    expect(r.counts).toEqual({})
  })

  it('resumes HTTP when the server declines an upgrade', () => {
    const q = request('GET', '/', [['Host', 'h'], ['Upgrade', 'h2c'], ['Connection', 'Upgrade, HTTP2-Settings']])
    const r = check([c2s(q, T0), s2c(ok('plain'), T0 + 1), c2s(request('GET', '/next'), T0 + 2), s2c(ok(), T0 + 3)])
    expect(r.exchanges.map((e) => [e.resource, e.status])).toEqual([['/', 200], ['/next', 200]])
    expect(r.counts).toEqual({})
  })

  it('ends an HTTP/1.0 close-delimited body at the connection end, timed by its last byte', () => {
    const q = request('GET', '/old', [['Host', 'h']], '', 'HTTP/1.0')
    const head = response(200, [['Content-Type', 'text/html']], '', 'HTTP/1.0')
    const r = check([c2s(q, T0), s2c(head + '<html>', T0 + 10), s2c('more</html>', T0 + 20), end(T0 + 5000)])
    expect(r.exchanges).toEqual([
      {
        method: 'GET', resource: '/old', status: 200, error: false, startUs: T0, endUs: T0 + 20,
        reqBytes: q.length, respBytes: head.length + 6 + 11, attrs: { version: 'HTTP/1.0', host: 'h' },
      },
    ])
  })

  it('counts a response without a request as unmatched and invents nothing', () => {
    const r = check([s2c(ok('early'), T0), c2s(request('GET', '/x'), T0 + 1), s2c(ok(), T0 + 2)])
    expect(r.unmatchedResponses).toBe(1)
    expect(r.exchanges.map((e) => [e.resource, e.startUs, e.endUs])).toEqual([['/x', T0 + 1, T0 + 2]])
  })

  it('steps over a gap inside a Content-Length body and keeps the exchange and its timing', () => {
    const body = 'a'.repeat(1000)
    const a = ok(body)
    const head = a.length - 1000
    const q = request('GET', '/file')
    const r = check([
      c2s(q, T0),
      s2c(a.slice(0, head + 300), T0 + 100),
      gap('s2c', 400, T0 + 150),
      s2c(a.slice(head + 700), T0 + 200),
      c2s(request('GET', '/next'), T0 + 300),
      s2c(ok(), T0 + 400),
    ])
    expect(r.exchanges.map((e) => [e.resource, e.status, e.startUs, e.endUs, e.respBytes, e.attrs?.partial])).toEqual([
      ['/file', 200, T0, T0 + 200, a.length, undefined],
      ['/next', 200, T0 + 300, T0 + 400, ok().length, undefined],
    ])
    expect(r.counts).toEqual({})
  })

  it('steps over a gap inside chunk data, and over one that ends a Content-Length body exactly', () => {
    const ch = response(200, [['Transfer-Encoding', 'chunked']], chunked(['x'.repeat(500), 'y'.repeat(10)]))
    const at = ch.indexOf('x')
    const cl = ok('z'.repeat(50))
    const r = check([
      c2s(request('GET', '/a') + request('GET', '/b'), T0),
      s2c(ch.slice(0, at + 100), T0 + 10),
      gap('s2c', 300, T0 + 11),
      s2c(ch.slice(at + 400) + cl.slice(0, cl.length - 50), T0 + 20),
      gap('s2c', 50, T0 + 30),
    ])
    expect(r.exchanges.map((e) => [e.resource, e.status, e.endUs, e.respBytes])).toEqual([
      ['/a', 200, T0 + 20, ch.length],
      ['/b', 200, T0 + 30, cl.length],
    ])
    expect(r.counts).toEqual({})
  })

  it('resyncs after a gap inside response headers: the known status is kept, the next exchange parses', () => {
    const a = ok('first', 200, [['Server', 'nginx'], ['X-Long', 'v'.repeat(100)]])
    const cut = a.indexOf('X-Long') + 10
    const r = check([
      c2s(request('GET', '/one'), T0),
      s2c(a.slice(0, cut), T0 + 10),
      gap('s2c', 60, T0 + 20),
      s2c(a.slice(cut + 60), T0 + 20),
      c2s(request('GET', '/two'), T0 + 30),
      s2c(ok('second'), T0 + 40),
    ])
    expect(r.exchanges.map((e) => [e.resource, e.status, e.endUs, e.attrs?.partial])).toEqual([
      ['/one', 200, T0 + 10, 'true'],
      ['/two', 200, T0 + 40, undefined],
    ])
    expect(r.counts).toEqual({ gap_resync: 1 })
    expect(r.unmatchedResponses).toBe(0)
  })

  it('resyncs after a gap inside request headers: the cut request still pairs with its response', () => {
    const q = request('GET', '/cut', [['Host', 'h'], ['Cookie', 'c'.repeat(200)], ['Accept', '*/*']])
    const r = check([
      c2s(q.slice(0, 40), T0),
      gap('c2s', 100, T0 + 5),
      c2s(q.slice(140) + request('GET', '/whole'), T0 + 5),
      s2c(ok('a') + ok('b'), T0 + 50),
    ])
    expect(r.exchanges.map((e) => [e.resource, e.status, e.attrs?.partial])).toEqual([
      ['/cut', 200, 'true'],
      ['/whole', 200, undefined],
    ])
    expect(r.counts).toEqual({ gap_resync: 1 })
  })

  it('finds the next response after a gap even when the lost body had no final newline', () => {
    const json = ok('{"a":[1,2,3],"b":"HTTP/1.1 is fine"}')
    const r = check([
      c2s(request('GET', '/1') + request('GET', '/2'), T0),
      // the status line is in, the gap hits the fields; the body after it ends in '}' with no newline
      s2c(json.slice(0, 30), T0 + 1),
      gap('s2c', 20, T0 + 2),
      s2c(json.slice(50) + ok('{"second":true}'), T0 + 3),
    ])
    expect(r.exchanges.map((e) => [e.resource, e.status, e.attrs?.partial])).toEqual([
      ['/1', 200, 'true'],
      ['/2', 200, undefined],
    ])
  })

  it('finds the next request after a gap when the lost JSON body had no final newline', () => {
    const q = request('POST', '/items', [['Host', 'h']], '{"name":"x","tags":["A","B"]}')
    const r = check([
      // the request line is in, the gap hits the fields and the body that ends in '}' with no newline
      c2s(q.slice(0, 35), T0),
      gap('c2s', 30, T0 + 1),
      c2s(q.slice(65) + request('GET', '/items/1'), T0 + 2),
      s2c(ok('created', 201) + ok('item'), T0 + 3),
    ])
    expect(r.exchanges.map((e) => [e.method, e.resource, e.status])).toEqual([
      ['POST', '/items', 201],
      ['GET', '/items/1', 200],
    ])
  })

  it('joins mid-stream: skips half a response, then pairs the next full exchange', () => {
    const half = ok('<p>' + 'lorem ipsum '.repeat(20) + '</p>\n')
    const r = check([
      gap('c2s', -1, T0),
      gap('s2c', -1, T0),
      s2c(half.slice(half.length / 2), T0 + 1),
      c2s(request('GET', '/fresh'), T0 + 2),
      s2c(ok('new'), T0 + 3),
    ])
    expect(r.exchanges.map((e) => [e.resource, e.status, e.startUs, e.endUs])).toEqual([['/fresh', 200, T0 + 2, T0 + 3]])
    expect(r.counts).toEqual({})
    expect(r.unmatchedResponses).toBe(0)
  })

  it('reports a request without response at the end as unanswered', () => {
    const q = request('GET', '/slow')
    const r = check([c2s(request('GET', '/fast'), T0), s2c(ok(), T0 + 1), c2s(q, T0 + 2), end(T0 + 9000)])
    expect(r.exchanges[1]).toEqual({
      method: 'GET', resource: '/slow', status: null, error: true, startUs: T0 + 2, endUs: T0 + 9000,
      reqBytes: q.length, respBytes: 0, attrs: { version: 'HTTP/1.1', host: 'example.com' },
    })
  })

  it('pairs by peerAcked after a lost response (zeek 1000-requests-one-dropped-response)', () => {
    const q1 = request('GET', '/', [['Host', 'localhost'], ['User-Agent', 'python-requests/2.28.1']])
    const q2 = q1
    const a = ok('<html>' + 'x'.repeat(600) + '</html>\n')
    const hdr = a.indexOf('\r\n\r\n') + 4
    const steps = [
      c2s(q1, T0, 0),
      // the first response's headers are lost, its body arrives
      gap('s2c', hdr, T0 + 10),
      s2c(a.slice(hdr), T0 + 10, q1.length),
      c2s(q2, T0 + 20, a.length),
      // the server had acknowledged both requests when it sent this response
      s2c(a, T0 + 30, q1.length + q2.length),
    ]
    const r = check(steps)
    // the first response came inside the gap: unknown, neither success nor failure (not unanswered)
    expect(r.exchanges.map((e) => [e.startUs, e.status, e.error, e.endUs])).toEqual([
      [T0, 'unknown', null, T0 + 30],
      [T0 + 20, 200, false, T0 + 30],
    ])
    expect(r.exchanges[0]!.attrs?.response).toBe('lost_in_gap')
    expect(r.counts).toEqual({ gap_resync: 1 })

    // the same bytes without peerAcked fall back to FIFO: the second response answers the first request
    const fifo = check(steps.map((s) => ('data' in s ? { ...s, peerAcked: -1 } : s)))
    expect(fifo.exchanges.map((e) => [e.startUs, e.status])).toEqual([
      [T0, 200],
      [T0 + 20, null],
    ])
  })

  it('uses peerAcked only after a gap: without one, plain FIFO even when peerAcked is ahead', () => {
    const q = request('GET', '/q')
    const r = check([c2s(q + q, T0, 0), s2c(ok('1'), T0 + 1, 2 * q.length), s2c(ok('2'), T0 + 2, 2 * q.length)])
    expect(r.exchanges.map((e) => e.status)).toEqual([200, 200])
    expect(r.exchanges.map((e) => e.endUs)).toEqual([T0 + 1, T0 + 2])
  })

  it('bounds a huge header line: counted, not buffered, and the connection recovers', () => {
    const limits = { maxLineBytes: 256, maxHeaderBytes: 1024 }
    const q = request('GET', '/huge', [['Host', 'h'], ['X-Junk', 'j'.repeat(5000)]])
    const r = check([c2s(q, T0), s2c(ok('431', 431), T0 + 1), c2s(request('GET', '/ok'), T0 + 2), s2c(ok(), T0 + 3)], limits)
    expect(r.exchanges.map((e) => [e.resource, e.status, e.attrs?.partial])).toEqual([
      ['/huge', 431, 'true'],
      ['/ok', 200, undefined],
    ])
    expect(r.counts).toEqual({ line_too_long: 1 })

    const many: Headers = Array.from({ length: 40 }, (_, i) => [`X-H${i}`, 'v'.repeat(40)])
    const r2 = check([c2s(request('GET', '/many', many), T0), s2c(ok('', 431), T0 + 1), c2s(request('GET', '/ok'), T0 + 2), s2c(ok(), T0 + 3)], limits)
    expect(r2.exchanges.map((e) => [e.resource, e.status])).toEqual([['/many', 431], ['/ok', 200]])
    expect(r2.counts).toEqual({ headers_too_large: 1 })
  })

  it('keeps buffered bytes within maxLineBytes while a line never ends', () => {
    const h = http1Parser.create(ctxFor({ maxLineBytes: 128 }).ctx) as Http1Handler
    h.data('c2s', Buffer.from('GET /' ), T0, -1)
    for (let i = 0; i < 1000; i++) {
      h.data('c2s', Buffer.alloc(100, 0x61), T0, -1)
      expect(h.bufferedBytes).toBeLessThanOrEqual(128)
    }
  })

  it('treats hostile Content-Length sanely: huge, negative, conflicting', () => {
    for (const cl of [['99999999999999999999'], ['-5'], ['5', '6'], ['5, 6'], ['0x10'], ['']]) {
      const a = response(200, cl.map((v) => ['Content-Length', v] as [string, string]), 'hello')
      const r = check([c2s(request('GET', '/a') + request('GET', '/b'), T0), s2c(a + ok('second'), T0 + 1)])
      expect(r.exchanges.map((e) => [e.resource, e.status]), cl.join('|')).toEqual([['/a', 200], ['/b', 200]])
      expect(r.exchanges[1].attrs?.partial).toBeUndefined()
      expect(r.counts).toEqual({ bad_content_length: 1 })
    }
    // identical repeated values are one value (RFC 9110 §8.6)
    const same = response(200, [['Content-Length', '5, 5'], ['Content-Length', '5']], 'hello')
    expect(check([c2s(request('GET', '/'), T0), s2c(same, T0 + 1)]).counts).toEqual({})
    // a request with a bad length still pairs with its response
    const r = check([c2s(request('POST', '/p', [['Content-Length', '-1']]), T0), s2c(ok('bad', 400), T0 + 1)])
    expect(r.exchanges.map((e) => [e.method, e.status])).toEqual([['POST', 400]])
    expect(r.counts).toEqual({ bad_content_length: 1 })
  })

  it('never stores secrets in attrs', () => {
    const secrets = ['Bearer s3cr3t-token', 'Basic dXNlcjpwYXNz', 'session=abc123secret', 'sid=zzz; HttpOnly']
    const q = request('GET', '/me', [['Host', 'h'], ['Authorization', secrets[0]], ['Proxy-Authorization', secrets[1]], ['Cookie', secrets[2]]])
    const a = ok('{}', 200, [['Set-Cookie', secrets[3]]])
    const r = check([c2s(q, T0), s2c(a, T0 + 1)])
    const out = JSON.stringify(r)
    for (const s of secrets) expect(out).not.toContain(s)
    expect(r.exchanges[0].attrs).toEqual({ version: 'HTTP/1.1', host: 'h' })
  })

  it('accepts any token method, absolute-form targets, and truncates long text', () => {
    const long = '/p/' + 'a'.repeat(2000)
    const r = check([
      c2s(request('PROPFIND', '/dav/', [['Host', 'h'], ['Depth', '1']]) + request('CCM_POST', '/x') + request('M!X', '/y'), T0),
      c2s(request('GET', 'http://proxy.example:3128/path/to?q=1', []) + request('OPTIONS', '*') + request('GET', long + '?q'), T0),
      s2c(ok('', 207) + ok() + ok() + ok() + ok() + ok(), T0 + 1),
    ])
    expect(r.exchanges.map((e) => [e.method, e.resource, e.attrs?.host])).toEqual([
      ['PROPFIND', '/dav/', 'h'],
      ['CCM_POST', '/x', 'example.com'],
      ['M!X', '/y', 'example.com'],
      ['GET', '/path/to', 'proxy.example:3128'],
      ['OPTIONS', '*', 'example.com'],
      ['GET', long.slice(0, DEFAULT_LIMITS.maxTextBytes - 1) + '…', 'example.com'],
    ])
    expect(r.exchanges[5].resource!.length).toBe(DEFAULT_LIMITS.maxTextBytes)
  })

  it('emits evicted requests as unanswered when the pending cap is hit', () => {
    const reqs = [0, 1, 2, 3, 4].map((i) => request('GET', `/r${i}`))
    const r = check([c2s(reqs.join(''), T0), end(T0 + 100)], { maxPendingRequests: 3 })
    expect(r.exchanges.map((e) => [e.resource, e.status, e.endUs])).toEqual([
      ['/r0', null, T0], ['/r1', null, T0], ['/r2', null, T0 + 100], ['/r3', null, T0 + 100], ['/r4', null, T0 + 100],
    ])
    expect(r.counts).toEqual({ pending_evicted: 2 })
  })

  it('skips blank lines between messages and accepts bare LF line ends', () => {
    const r = check([
      c2s('\r\nGET /lf HTTP/1.1\nHost: h\n\n', T0),
      s2c('HTTP/1.1 200\nContent-Length: 2\n\nok', T0 + 1),
    ])
    expect(r.exchanges.map((e) => [e.resource, e.status, e.reqBytes, e.respBytes])).toEqual([['/lf', 200, 26, 34]])
    expect(r.counts).toEqual({})
  })

  it('resyncs after garbage and counts it once', () => {
    const r = check([c2s('HELLO THERE\r\n' + request('GET', '/after'), T0), s2c('garbage line\r\n' + ok(), T0 + 1)])
    expect(r.exchanges.map((e) => [e.resource, e.status])).toEqual([['/after', 200]])
    expect(r.counts).toEqual({ bad_request_line: 1, bad_status_line: 1 })
  })
})

// ---- fuzzing: random bytes and mutated conversations, at random splits, never throw and stay bounded

function ctxFor(limits: Partial<Limits>) {
  const exchanges: ParsedExchange[] = []
  const counts: Record<string, number> = {}
  const ctx: ParserContext = {
    emit: (e) => exchanges.push(e),
    limits: { ...DEFAULT_LIMITS, ...limits },
    count: (reason, n = 1) => {
      counts[reason] = (counts[reason] ?? 0) + n
    },
    unmatchedResponse: () => {},
  }
  return { ctx, exchanges, counts }
}

const SMALL: Partial<Limits> = { maxLineBytes: 64, maxHeaderBytes: 256, maxPendingRequests: 4, maxTextBytes: 16 }

type Op = { dir: Dir; bytes: Uint8Array; cuts: number[]; peerAcked: number } | { dir: Dir; gap: number }

function play(ops: Op[], limits: Partial<Limits>) {
  const { ctx, exchanges, counts } = ctxFor(limits)
  const h = http1Parser.create(ctx) as Http1Handler
  let t = T0
  for (const op of ops) {
    t += 7
    if ('gap' in op) h.gap(op.dir, op.gap, t)
    else {
      const buf = Buffer.from(op.bytes)
      let prev = 0
      for (const c of [...op.cuts.map((x) => x % (buf.length + 1)).sort((a, b) => a - b), buf.length]) {
        if (c > prev) h.data(op.dir, buf.subarray(prev, c), t, op.peerAcked)
        prev = Math.max(prev, c)
      }
    }
    expect(h.bufferedBytes).toBeLessThanOrEqual(2 * (ctx.limits.maxLineBytes + 1))
    expect(h.pendingRequests).toBeLessThanOrEqual(ctx.limits.maxPendingRequests)
  }
  h.end('fin', t + 1)
  expect(counts.parser_exception).toBeUndefined()
  for (const e of exchanges) {
    expect(e.endUs).toBeGreaterThanOrEqual(e.startUs)
    expect(e.reqBytes).toBeGreaterThanOrEqual(0)
    expect(e.respBytes).toBeGreaterThanOrEqual(0)
    expect(e.method.length).toBeLessThanOrEqual(32)
    expect(e.resource!.length).toBeLessThanOrEqual(ctx.limits.maxTextBytes)
  }
  return { exchanges, counts }
}

const dirArb = fc.constantFrom<Dir>('c2s', 's2c')
/** FUZZ_RUNS=100000 for a long soak */
const fuzzRuns = (n: number) => Number(process.env.FUZZ_RUNS ?? n)

describe('http1 fuzz', () => {
  it('random bytes at random splits', () => {
    const op: fc.Arbitrary<Op> = fc.oneof(
      fc.record({ dir: dirArb, bytes: fc.uint8Array({ maxLength: 300 }), cuts: fc.array(fc.nat(), { maxLength: 4 }), peerAcked: fc.integer({ min: -1, max: 5000 }) }),
      fc.record({ dir: dirArb, gap: fc.integer({ min: -1, max: 500 }) }),
    )
    fc.assert(fc.property(fc.array(op, { maxLength: 30 }), fc.boolean(), (ops, small) => {
      const cut = play(ops, small ? SMALL : {})
      const whole = play(ops.map((o) => ('bytes' in o ? { ...o, cuts: [] } : o)), small ? SMALL : {})
      expect(cut).toEqual(whole)
    }), { numRuns: fuzzRuns(500) })
  })

  const pieces = [
    request('GET', '/a?b=c', [['Host', 'h'], ['User-Agent', 'ua']]),
    request('POST', '/p', [['Host', 'h']], 'x'.repeat(40)),
    request('PUT', '/c', [['Transfer-Encoding', 'chunked']], chunked(['abc', 'de'], { ext: ';e=1', trailers: [['T', 'v']] })),
    request('GET', '/ws', [['Upgrade', 'websocket'], ['Connection', 'Upgrade']]),
    request('CONNECT', 'h:443', []),
    request('HEAD', '/h', []),
  ]
  const answers = [
    ok('hello'),
    ok('', 204),
    response(100, [], '', 'HTTP/1.1', 'Continue'),
    response(200, [['Transfer-Encoding', 'chunked']], chunked(['0123456789', 'z'], { trailers: [['X', 'y']] })),
    response(101, [['Upgrade', 'websocket']]),
    response(304, [['Content-Length', '50']]),
    response(200, [], 'close-delimited'),
    ok('e'.repeat(70), 503),
  ]

  it('mutated valid conversations at random splits', () => {
    const mutation = fc.oneof(
      fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), v: fc.integer({ min: 0, max: 255 }) }),
      fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), s: fc.constantFrom('\r\n', ' ', ':', '0', 'HTTP/1.1 ', 'GET / HTTP/1.1\r\n', '\n\n', 'ffffffffffffffffff\r\n', 'Content-Length: 9999999\r\n') }),
      fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), n: fc.integer({ min: 1, max: 20 }) }),
    )
    const msg = fc.record({
      dir: dirArb,
      i: fc.nat(),
      muts: fc.array(mutation, { maxLength: 3 }),
      cuts: fc.array(fc.nat(), { maxLength: 5 }),
      gap: fc.option(fc.integer({ min: -1, max: 200 }), { freq: 5 }),
      peerAcked: fc.integer({ min: -1, max: 3000 }),
    })
    fc.assert(fc.property(fc.array(msg, { maxLength: 25 }), fc.boolean(), (msgs, small) => {
      const ops: Op[] = []
      for (const m of msgs) {
        const src = m.dir === 'c2s' ? pieces : answers
        let s = Buffer.from(src[m.i % src.length], 'latin1')
        for (const mu of m.muts) {
          const at = s.length === 0 ? 0 : mu.at % s.length
          if (mu.kind === 'flip' && s.length > 0) s[at] = mu.v
          else if (mu.kind === 'insert') s = Buffer.concat([s.subarray(0, at), Buffer.from(mu.s, 'latin1'), s.subarray(at)])
          else if (mu.kind === 'delete') s = Buffer.concat([s.subarray(0, at), s.subarray(at + mu.n)])
        }
        if (m.gap !== null) ops.push({ dir: m.dir, gap: m.gap })
        ops.push({ dir: m.dir, bytes: s, cuts: m.cuts, peerAcked: m.peerAcked })
      }
      const cut = play(ops, small ? SMALL : {})
      // where the chunks were cut never changes the outcome, not even for broken input
      const whole = play(ops.map((o) => ('bytes' in o ? { ...o, cuts: [] } : o)), small ? SMALL : {})
      expect(cut).toEqual(whole)
    }), { numRuns: fuzzRuns(1000) })
  })

  it('unmutated conversations at random splits give the same exchanges as whole ones', () => {
    fc.assert(fc.property(fc.array(fc.nat(), { minLength: 1, maxLength: 12 }), fc.array(fc.nat(), { maxLength: 6 }), (idx, cuts) => {
      // only pieces that keep HTTP going: no upgrade, no CONNECT, no close-delimited answer
      const qs = idx.map((i) => [pieces[0], pieces[1], pieces[2], pieces[5]][i % 4])
      const as = idx.map((i, k) => (qs[k] === pieces[5] ? response(200, [['Content-Length', '9']]) : [answers[0], answers[1], answers[3], answers[7]][i % 4]))
      const ops: Op[] = [
        { dir: 'c2s', bytes: Buffer.from(qs.join(''), 'latin1'), cuts, peerAcked: -1 },
        { dir: 's2c', bytes: Buffer.from(as.join(''), 'latin1'), cuts, peerAcked: -1 },
      ]
      const a = play(ops, {})
      const b = play(ops.map((o) => ('bytes' in o ? { ...o, cuts: [] } : o)), {})
      expect(a).toEqual(b)
      expect(a.exchanges.length).toBe(idx.length)
      expect(a.counts).toEqual({})
    }), { numRuns: fuzzRuns(300) })
  })
})

describe('http1 trace context headers', () => {
  it('keeps traceparent, tracestate (repeated lines joined), b3 and uber-trace-id of requests only; other fields cost nothing', () => {
    const tp = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'
    const reqs = [
      request('GET', '/a', [['Host', 'x'], ['TraceParent', tp], ['tracestate', 'rojo=00f067aa0ba902b7'], ['Tracestate', 'congo=t61rcWkgMzE'], ['B3', '80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1']]),
      request('GET', '/b', [['Host', 'x'], ['X-B3-TraceId', '463ac35c9f6413ad'], ['X-B3-SpanId', 'a2fb4a1d1a96d312'], ['X-B3-Sampled', '1'], ['uber-trace-id', 'abc:def:0:1'], ['X-Other', 'y']]),
      request('GET', '/c', [['Host', 'x'], ['bb', 'not b3']]),
    ]
    const resps = [ok('a', 200, [['traceparent', tp]]), ok('b'), ok('c')]
    const steps: Step[] = []
    for (let i = 0; i < 3; i++) steps.push(c2s(reqs[i], T0 + i * 1000), s2c(resps[i], T0 + i * 1000 + 250))
    const r = check(steps)
    expect(r.exchanges.map((e) => e.trace)).toEqual([
      { traceparent: tp, tracestate: 'rojo=00f067aa0ba902b7,congo=t61rcWkgMzE', b3: '80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1' },
      { b3TraceId: '463ac35c9f6413ad', b3SpanId: 'a2fb4a1d1a96d312', b3Sampled: '1', uberTraceId: 'abc:def:0:1' },
      undefined,
    ])
  })
})

describe('http1 head memo (a head the same as the last one on its side is not read again)', () => {
  it('gives repeated heads of every kind the same results as reading their lines', () => {
    const tp = (i: number) => `00-0af7651916cd43dd8448eb211c80319${i}-b7ad6b7169203331-01`
    const pairs: [string, string][] = [
      [request('GET', '/', [['Host', 'h'], ['User-Agent', 'ua/1']]), ok('a')],
      [request('GET', '/', [['Host', 'h'], ['User-Agent', 'ua/1']]), ok('a')],
      // trace context: an object per request, never shared between two
      [request('GET', '/t', [['Host', 'h'], ['traceparent', tp(1)]]), ok('b')],
      [request('GET', '/t', [['Host', 'h'], ['traceparent', tp(1)]]), ok('b')],
      // HEAD: the same response head, with a Content-Length that frames no body
      [request('HEAD', '/', [['Host', 'h']]), response(200, [['Content-Length', '99']])],
      [request('HEAD', '/', [['Host', 'h']]), response(200, [['Content-Length', '99']])],
      // chunked both ways
      [request('POST', '/c', [['Host', 'h'], ['Transfer-Encoding', 'chunked']]) + chunked(['abc']), response(200, [['Transfer-Encoding', 'chunked']]) + chunked(['xy', 'z'])],
      [request('POST', '/c', [['Host', 'h'], ['Transfer-Encoding', 'chunked']]) + chunked(['abc']), response(200, [['Transfer-Encoding', 'chunked']]) + chunked(['xy', 'z'])],
      // Expect and an obs-fold line: counted or per request, so never kept
      [request('POST', '/e', [['Host', 'h'], ['Expect', '100-continue']], 'body'), ok('c')],
      [request('POST', '/e', [['Host', 'h'], ['Expect', '100-continue']], 'body'), ok('c')],
      [request('GET', '/f', [['Host', 'h'], ['X-Folded', 'a'], [' b', '']]), response(204)],
      [request('GET', '/f', [['Host', 'h'], ['X-Folded', 'a'], [' b', '']]), response(204)],
      // an Upgrade the server declines, twice
      [request('GET', '/ws', [['Host', 'h'], ['Upgrade', 'websocket'], ['Connection', 'Upgrade']]), ok('no')],
      [request('GET', '/ws', [['Host', 'h'], ['Upgrade', 'websocket'], ['Connection', 'Upgrade']]), ok('no')],
      // the Content-Length contradicts itself: given up on, twice
      [request('GET', '/cl', [['Host', 'h'], ['Content-Length', '1'], ['Content-Length', '2']]), ok('d')],
      [request('GET', '/cl', [['Host', 'h'], ['Content-Length', '1'], ['Content-Length', '2']]), ok('d')],
      [request('GET', '/', [['Host', 'h'], ['User-Agent', 'ua/1']]), ok('a')],
    ]
    const steps: Step[] = []
    pairs.forEach(([q, a], i) => steps.push(c2s(q, T0 + i * 1000), s2c(a, T0 + i * 1000 + 10)))
    steps.push(end(T0 + 99_000))
    // whole messages (the memo applies) against every split and 1 byte at a time (it never does)
    const r = check(steps)
    expect(r.exchanges.map((e) => [e.method, e.resource, e.status])).toEqual([
      ['GET', '/', 200], ['GET', '/', 200], ['GET', '/t', 200], ['GET', '/t', 200], ['HEAD', '/', 200], ['HEAD', '/', 200],
      ['POST', '/c', 200], ['POST', '/c', 200], ['POST', '/e', 200], ['POST', '/e', 200], ['GET', '/f', 204], ['GET', '/f', 204],
      ['GET', '/ws', 200], ['GET', '/ws', 200], ['GET', '/cl', 200], ['GET', '/cl', 200], ['GET', '/', 200],
    ])
    expect(r.exchanges[2].trace).toEqual({ traceparent: tp(1) })
    expect(r.exchanges[3].trace).not.toBe(r.exchanges[2].trace)
    expect(r.exchanges[9].attrs?.expect).toBe('100-continue')
    expect(r.counts).toEqual({ obs_fold: 2, bad_content_length: 2 })
  })

  it('keeps a head apart per limits: one read under larger limits is read again under smaller ones', () => {
    const q = Buffer.from(request('GET', '/', [['Host', 'h'], ['X-Long', 'v'.repeat(100)]]), 'latin1')
    const big = ctxFor({})
    const hb = http1Parser.create(big.ctx) as Http1Handler
    hb.data('c2s', q, T0, -1)
    hb.data('c2s', q, T0 + 1, -1)
    expect(big.counts).toEqual({})
    const small = ctxFor({ maxLineBytes: 64 })
    const hs = http1Parser.create(small.ctx) as Http1Handler
    hs.data('c2s', q, T0 + 2, -1)
    expect(small.counts).toEqual({ line_too_long: 1 })
  })
})
