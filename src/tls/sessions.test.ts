// TlsSessions with the real Pipeline and parsers: chunks as the tap reports them (built here: the tap
// itself is exercised in test/integration/tls-tap.test.ts and capture-tls.test.ts).

import { describe, expect, it } from 'vitest'
import { Pipeline } from '../pipeline/pipeline.js'
import type { Exchange } from '../records.js'
import { TlsSessions } from './sessions.js'
import type { TlsChunk } from './tap.js'

const CURL = { ip: '10.0.0.1', port: 40000 }
const WEB = { ip: '10.0.0.2', port: 443 }

function chunk(over: Partial<TlsChunk> & Pick<TlsChunk, 'dir' | 'tsUs'>, text: string): TlsChunk {
  const data = Buffer.from(text, 'latin1')
  return { pid: 100, tid: 100, comm: 'curl', ssl: 0x1000n, local: CURL, remote: WEB, len: data.length, data, ...over }
}

function setup() {
  const out: Exchange[] = []
  const p = new Pipeline({ onExchange: (e) => out.push(e) })
  const s = new TlsSessions({ pipeline: p, limits: p.limits, counters: p.counters })
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
})
