// TlsSessions with the real Pipeline and parsers: chunks as the tap reports them (built here: the tap
// itself is exercised in test/integration/tls-tap.test.ts and capture-tls.test.ts).

import { describe, expect, it } from 'vitest'
import { Pipeline } from '../pipeline/pipeline.js'
import type { Exchange } from '../records.js'
import { TlsSessions } from './sessions.js'
import type { TlsChunk } from './tap.js'
import { PREFACE } from '../protocols/http2/frames.js'
import { headers, req, settings } from '../../test/helpers/buffers/http2.js'

const CURL = { ip: '10.0.0.1', port: 40000 }
const WEB = { ip: '10.0.0.2', port: 443 }

function chunk(over: Partial<TlsChunk> & Pick<TlsChunk, 'dir' | 'tsUs'>, text: string): TlsChunk {
  const data = Buffer.from(text, 'latin1')
  return { pid: 100, tid: 100, comm: 'curl', ssl: 0x1000n, local: CURL, remote: WEB, len: data.length, data, ...over }
}

function setup(listening?: (pid: number, local: { ip: string; port: number }) => boolean) {
  const out: Exchange[] = []
  const p = new Pipeline({ onExchange: (e) => out.push(e) })
  const s = new TlsSessions({ pipeline: p, limits: p.limits, counters: p.counters, listening })
  const finish = (): Exchange[] => {
    s.closeAll()
    p.finish()
    return out
  }
  return { p, s, finish }
}

const REQ = 'GET /x HTTP/1.1\r\nHost: h\r\n\r\n'
const RESP = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'

describe('TlsSessions', () => {
  it('client side tapped: one exchange, tls, the process named on the client side', () => {
    const { s, finish } = setup()
    s.chunk(chunk({ dir: 'sent', tsUs: 1000 }, REQ))
    s.chunk(chunk({ dir: 'received', tsUs: 3000 }, RESP))
    const ex = finish()
    expect(ex.map((e) => [e.protocol, e.tls, e.method, e.resource, e.status, e.startUs, e.endUs])).toEqual([['http', true, 'GET', '/x', 200, 1000, 3000]])
    expect(ex[0]!.client).toEqual({ ...CURL, pid: 100, comm: 'curl' })
    expect(ex[0]!.server).toEqual(WEB)
  })

  it('both ends tapped: the second end of the same 4-tuple is left out (counted once)', () => {
    const { s, p, finish } = setup()
    const srv = { pid: 200, tid: 200, comm: 'nginx', ssl: 0x2000n, local: WEB, remote: CURL }
    s.chunk(chunk({ dir: 'sent', tsUs: 1000 }, REQ))
    s.chunk(chunk({ ...srv, dir: 'received', tsUs: 1100 }, REQ))
    s.chunk(chunk({ ...srv, dir: 'sent', tsUs: 2900 }, RESP))
    s.chunk(chunk({ dir: 'received', tsUs: 3000 }, RESP))
    expect(finish()).toHaveLength(1)
    expect(p.counters.get('tls_duplicate_chunks')).toBe(2)
  })

  it('server side tapped (port 443 local): roles by port, the server named', () => {
    const { s, finish } = setup()
    const srv = { pid: 200, comm: 'nginx', local: WEB, remote: CURL }
    s.chunk(chunk({ ...srv, dir: 'received', tsUs: 1000 }, REQ))
    s.chunk(chunk({ ...srv, dir: 'sent', tsUs: 2000 }, RESP))
    const ex = finish()
    expect(ex.map((e) => [e.method, e.status])).toEqual([['GET', 200]])
    expect(ex[0]!.server).toEqual({ ...WEB, pid: 200, comm: 'nginx' })
    expect(ex[0]!.client).toEqual(CURL)
  })

  it('an SSL object reused for another connection ends the first session; a short copy is a gap', () => {
    const { s, finish } = setup()
    s.chunk(chunk({ dir: 'sent', tsUs: 1000 }, REQ)) // never answered on this connection
    const other = { ip: '10.0.0.3', port: 443 }
    s.chunk(chunk({ dir: 'sent', tsUs: 2000, remote: other }, REQ))
    // the response body's 2 bytes were not copied by the tap (len > data): a gap inside a known length
    const head = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n'
    s.chunk(chunk({ dir: 'received', tsUs: 3000, remote: other, len: head.length + 2 }, head))
    const ex = finish()
    expect(ex.map((e) => [e.server.ip, e.status, e.error])).toEqual([
      ['10.0.0.2', null, true],
      ['10.0.0.3', 200, false],
    ])
  })

  it('a role the tap knows (Go: tls.Conn.isClient) decides, even when the server speaks first on non-server ports', () => {
    // a Go HTTP/2 server writes its SETTINGS before it reads the client's preface; no server port
    const SRV = { ip: '10.0.0.2', port: 38001 }
    const CLI = { ip: '10.0.0.1', port: 51000 }
    const run = (role: 'server' | undefined): Exchange[] => {
      const { s, finish } = setup()
      const srv = (dir: 'sent' | 'received', tsUs: number, data: Buffer): TlsChunk =>
        ({ ...chunk({ dir, tsUs, local: SRV, remote: CLI, comm: 'gosrv', tap: 'go', role }, ''), data, len: data.length })
      s.chunk(srv('sent', 900, settings()))
      s.chunk(srv('received', 1000, Buffer.concat([PREFACE, settings(), headers(1, req('/x'), true)])))
      s.chunk(srv('sent', 2000, headers(1, [[':status', '200']], true)))
      return finish()
    }
    const ex = run('server')
    expect(ex.map((e) => [e.protocol, e.method, e.resource, e.status])).toEqual([['http2', 'GET', '/x', 200]])
    expect(ex[0]!.server).toEqual({ ...SRV, pid: 100, comm: 'gosrv' })
    expect(ex[0]!.client).toEqual(CLI)
    // without the role, the server's first write makes it look like the client: nothing parses
    expect(run(undefined).map((e) => [e.method, e.resource, e.status])).not.toEqual([['GET', '/x', 200]])
  })

  it('no role from the tap (node): a local address listening in its namespace makes the process the server', () => {
    // node's HTTP/2 server on a port that is no server port, its SETTINGS written before the preface
    // is read, the client's end tapped too but seen second (node-tls.test.ts lost these in 1 run of 5)
    const SRV = { ip: '10.0.0.2', port: 9443 }
    const CLI = { ip: '10.0.0.1', port: 51000 }
    const run = (listening?: (pid: number, local: { ip: string; port: number }) => boolean): Exchange[] => {
      const { s, finish } = setup(listening)
      const srv = (dir: 'sent' | 'received', tsUs: number, data: Buffer): TlsChunk =>
        ({ ...chunk({ dir, tsUs, local: SRV, remote: CLI, comm: 'node', pid: 200, ssl: 0x2000n }, ''), data, len: data.length })
      const cli = (dir: 'sent' | 'received', tsUs: number, data: Buffer): TlsChunk =>
        ({ ...chunk({ dir, tsUs, local: CLI, remote: SRV, comm: 'node', pid: 100 }, ''), data, len: data.length })
      const hello = Buffer.concat([PREFACE, settings(), headers(1, req('/x'), true)])
      const answer = headers(1, [[':status', '200']], true)
      s.chunk(srv('sent', 900, settings()))
      s.chunk(cli('sent', 950, hello))
      s.chunk(srv('received', 1000, hello))
      s.chunk(srv('sent', 2000, answer))
      s.chunk(cli('received', 2100, answer))
      return finish()
    }
    const asked: string[] = []
    const ex = run((pid, l) => (asked.push(`${pid} ${l.ip}:${l.port}`), pid === 200 && l.port === 9443))
    expect(ex.map((e) => [e.protocol, e.method, e.resource, e.status])).toEqual([['http2', 'GET', '/x', 200]])
    expect(ex[0]!.server).toEqual({ ...SRV, pid: 200, comm: 'node' })
    expect(ex[0]!.client).toEqual(CLI)
    expect(asked).toEqual(['200 10.0.0.2:9443']) // once, for the session that owns the 4-tuple
    // without the lookup the server's first write makes it look like the client: nothing parses
    expect(run().map((e) => [e.method, e.resource, e.status])).not.toEqual([['GET', '/x', 200]])
  })
})
