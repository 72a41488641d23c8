// Detection and Exchange building above the TCP layer, with the real parsers: content decides, the
// port orders and breaks ties, guessed roles are swapped when content proves them wrong, TLS is
// labelled and not parsed.

import { describe, expect, it } from 'vitest'
import { limitsWith } from '../config.js'
import { Counters } from '../counters.js'
import * as h2 from '../../test/helpers/buffers/http2.js'
import { PARSERS, parsersFor } from '../protocols/registry.js'
import type { Exchange } from '../records.js'
import type { Endpoint, FlowInfo, RoleSource } from '../tcp/types.js'
import { Connection } from './connection.js'
import type { LinkRecord } from '../records.js'

function flow(client: Endpoint, server: Endpoint, roleSource: RoleSource): FlowInfo {
  const f: FlowInfo = {
    id: 1, client, server, roleSource, ifindex: 0, startUs: 0, lastUs: 0,
    bytes: { c2s: 0, s2c: 0 }, packets: { c2s: 0, s2c: 0 }, retransmits: 0, gapBytes: { c2s: 0, s2c: 0 },
    swapRoles(source: RoleSource) {
      ;[f.client, f.server] = [f.server, f.client]
      f.roleSource = source
    },
  }
  return f
}

function conn(f: FlowInfo, parsers = PARSERS) {
  const exchanges: Exchange[] = []
  const links: LinkRecord[] = []
  const counters = new Counters()
  const c = new Connection(f, { parsers, limits: limitsWith(), counters, onExchange: (e) => exchanges.push({ ...e }), onLink: (l) => links.push(l) })
  return { c, exchanges, links, counters }
}

const B = (s: string) => Buffer.from(s, 'latin1')
const CLIENT = { ip: '10.0.0.1', port: 40000 }
const SERVER = { ip: '10.0.0.2', port: 80 }

describe('Connection', () => {
  it('recognises HTTP by content and builds the Exchange with the flow roles', () => {
    const { c, exchanges, links } = conn(flow(CLIENT, SERVER, 'syn'))
    c.data('c2s', B('GET /a?x=1 HTTP/1.1\r\nHost: h\r\n\r\n'), 1000, -1)
    c.data('s2c', B('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n'), 3000, -1)
    c.end('fin', 4000)
    expect(exchanges).toHaveLength(1)
    expect(exchanges[0]).toMatchObject({ protocol: 'http', method: 'GET', resource: '/a', status: 404, client: CLIENT, server: SERVER, startUs: 1000, endUs: 3000, tls: false })
    expect(links[0]).toMatchObject({ protocol: 'http', tls: false, endReason: 'fin' })
  })

  it('swaps roles guessed from ports when the first bytes are a response going the other way', () => {
    // capture joined mid-stream and the port guess was backwards: the "client" sends a status line
    const f = flow(SERVER, CLIENT, 'port')
    const { c, exchanges } = conn(f)
    c.gap('c2s', -1, 0)
    c.gap('s2c', -1, 0)
    c.data('c2s', B('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'), 1000, -1) // a response we never saw the request of
    // from here on the flow table hands directions by the swapped roles
    c.data('c2s', B('GET /next HTTP/1.1\r\nHost: h\r\n\r\n'), 2000, -1)
    c.data('s2c', B('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'), 2500, -1)
    c.end('fin', 3000)
    expect(f.roleSource).toBe('content')
    expect(f.client).toEqual(CLIENT)
    expect(exchanges.map((e) => [e.method, e.resource, e.status, e.client.port, e.server.port])).toEqual([['GET', '/next', 200, 40000, 80]])
  })

  it('the server port breaks a tie: a scanner request to :80 that Redis could read is HTTP once the server answers', () => {
    const { c, exchanges } = conn(flow(CLIENT, SERVER, 'syn'))
    c.data('c2s', B('GET/ HTTP/1.1\r\nHost: h\r\n\r\n'), 1000, -1)
    c.data('s2c', B('HTTP/1.0 400 Bad Request\r\nContent-Length: 0\r\n\r\n'), 2000, -1)
    c.end('fin', 3000)
    expect(exchanges.every((e) => e.protocol === 'http')).toBe(true)
  })

  it('a cross-port match the other side contradicts is no protocol at all', () => {
    const { c, exchanges, links } = conn(flow(CLIENT, SERVER, 'syn'))
    c.data('s2c', B('<html>\n<head><title>Bad!</title></head>\n</html>\n'), 1000, -1)
    c.data('c2s', B('GET /bad.html\r\n'), 2000, -1) // HTTP/0.9, or a Redis inline command?
    c.end('fin', 3000)
    expect(exchanges).toEqual([])
    expect(links[0].protocol).toBe('unknown')
  })

  it('labels a TLS ClientHello connection as tls and parses nothing', () => {
    const { c, exchanges, links } = conn(flow(CLIENT, { ip: '10.0.0.2', port: 443 }, 'syn'))
    c.data('c2s', Buffer.from([0x16, 0x03, 0x01, 0x00, 0x05, 1, 0, 0, 1, 0]), 1000, -1)
    c.data('s2c', B('HTTP/1.1 200 OK\r\n\r\n'), 2000, -1) // would parse as HTTP if it were plaintext
    c.end('fin', 3000)
    expect(exchanges).toEqual([])
    expect(links[0]).toMatchObject({ protocol: 'tls', tls: true })
  })

  it('labels TLS application data joined mid-stream as tls, after every parser said no', () => {
    const { c, links } = conn(flow(CLIENT, { ip: '10.0.0.2', port: 443 }, 'port'))
    c.gap('c2s', -1, 0)
    const rec = (n: number) => Buffer.concat([Buffer.from([0x17, 0x03, 0x03, n >> 8, n & 0xff]), Buffer.alloc(n, 0xab)])
    c.data('c2s', Buffer.concat([rec(40), rec(300)]), 1000, -1)
    c.end('fin', 2000)
    expect(links[0]).toMatchObject({ protocol: 'tls', tls: true })
  })

  it('gives up on bytes no parser recognises, within its detection budget, and counts it', () => {
    const { c, links, counters } = conn(flow(CLIENT, { ip: '10.0.0.2', port: 5999 }, 'syn'))
    const junk = Buffer.alloc(1460, 0x00)
    for (let i = 0; i < 100; i++) c.data(i % 2 ? 's2c' : 'c2s', junk, i, -1)
    expect(c.protocol).toBe('unknown')
    c.end('fin', 200)
    expect(links[0].protocol).toBe('unknown')
    expect(counters.get('flows_unknown_protocol')).toBe(1)
  })

  describe('h2c Upgrade (RFC 9113 §3.2): HTTP/1.1 hands the connection to HTTP/2', () => {
    const upgradeReq = B('GET /robots.txt HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAoAAA\r\ntraceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n\r\n')
    const switching = B('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n')
    // the server's preface (SETTINGS) and stream 1's response in the same segment as the 101
    const serverH2 = Buffer.concat([h2.settings([[3, 100]]), h2.headers(1, [[':status', '200']]), h2.data(1, 'User-agent: *', true)])
    const clientH2 = Buffer.concat([h2.PREFACE, h2.settings(), h2.settings([], true), h2.headers(3, h2.req('/humans.txt'), true)])
    const serverH2b = Buffer.concat([h2.settings([], true), h2.headers(3, [[':status', '404']], true)])

    function run(split: number, parsers = PARSERS) {
      const r = conn(flow(CLIENT, SERVER, 'syn'), parsers)
      const resp = Buffer.concat([switching, serverH2])
      r.c.data('c2s', upgradeReq, 1000, -1)
      r.c.data('s2c', resp.subarray(0, split), 2000, -1)
      if (split < resp.length) r.c.data('s2c', resp.subarray(split), 2500, -1)
      r.c.data('c2s', clientH2, 3000, -1)
      r.c.data('s2c', serverH2b, 4000, -1)
      r.c.end('fin', 5000)
      return r
    }

    it('the upgrade request is answered by stream 1; later streams are HTTP/2 exchanges', () => {
      const { exchanges, links, counters } = run(switching.length + serverH2.length)
      expect(exchanges.map((e) => [e.protocol, e.method, e.resource, e.status, e.startUs, e.endUs])).toEqual([
        ['http2', 'GET', '/robots.txt', 200, 1000, 2000],
        ['http2', 'GET', '/humans.txt', 404, 3000, 4000],
      ])
      expect(exchanges[0]!.attrs).toMatchObject({ upgrade: 'h2c', stream: '1', host: 'h' })
      expect(exchanges[0]!.reqBytes).toBe(upgradeReq.length)
      // its trace context travels with it to the HTTP/2 parser
      expect(exchanges[0]!.trace).toEqual({ traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' })
      expect(exchanges[1]!.trace).toBeUndefined()
      // the 101 and stream 1's frames (not the SETTINGS) are the response
      expect(exchanges[0]!.respBytes).toBe(switching.length + serverH2.length - h2.settings([[3, 100]]).length)
      expect(links[0]!.protocol).toBe('http2')
      expect(counters.total('protocol_switches')).toBe(1)
      expect(counters.total('parse_errors')).toBe(0)
    })

    it('gives the same exchanges wherever the server\'s segment is cut, the 101 split included', () => {
      const want = JSON.stringify(run(switching.length + serverH2.length).exchanges.map((e) => [e.method, e.resource, e.status, e.startUs]))
      for (let k = 1; k < switching.length + serverH2.length; k++) {
        expect(JSON.stringify(run(k).exchanges.map((e) => [e.method, e.resource, e.status, e.startUs])), `split ${k}`).toBe(want)
      }
    })

    it('with HTTP/2 not enabled (--protocols http) the 101 answers the request and parsing stops', () => {
      const { exchanges } = run(switching.length + serverH2.length, parsersFor(['http']))
      expect(exchanges.map((e) => [e.protocol, e.method, e.status, e.attrs?.upgrade])).toEqual([['http', 'GET', 101, 'h2c']])
    })

    it('a WebSocket 101 is not handed over', () => {
      const r = conn(flow(CLIENT, SERVER, 'syn'))
      r.c.data('c2s', B('GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n'), 1000, -1)
      r.c.data('s2c', B('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x02hi'), 2000, -1)
      r.c.end('fin', 3000)
      expect(r.exchanges.map((e) => [e.protocol, e.status, e.attrs?.upgrade])).toEqual([['http', 101, 'websocket']])
      expect(r.counters.total('protocol_switches')).toBe(0)
    })
  })
})

describe('Connection: TLS read from the handshake', () => {
  it('a ClientHello arriving one byte at a time is still TLS, and the link carries SNI, version and ALPN', async () => {
    const t = await import('../../test/helpers/buffers/tls.js')
    const { c, exchanges, links } = conn(flow(CLIENT, { ip: '10.0.0.2', port: 443 }, 'syn'))
    const ch = t.record(t.HANDSHAKE, t.clientHello({ sni: 'one.example', versions: [0x0304], alpn: ['h2'] }))
    for (let i = 0; i < ch.length; i++) c.data('c2s', ch.subarray(i, i + 1), 1000, -1)
    c.data('s2c', Buffer.concat([t.record(t.HANDSHAKE, t.serverHello({ version: 0x0304 })), t.ccs(), t.sealed(100)]), 2000, -1)
    c.data('c2s', t.sealed(53), 3000, -1)
    c.end('fin', 4000)
    expect(exchanges).toEqual([])
    expect(links[0]).toMatchObject({ protocol: 'tls', tls: true, sni: 'one.example', tlsVersion: 'TLS1.3', alpn: 'h2 (offered)' })
    expect(links[0]!.tlsHandshake!.handshakeUs).toBe(2000)
  })

  it('a ClientHello from the side guessed to be the server swaps the roles', async () => {
    const t = await import('../../test/helpers/buffers/tls.js')
    const f = flow({ ip: '10.0.0.2', port: 8443 }, { ip: '10.0.0.1', port: 9000 }, 'guess')
    const { c, links } = conn(f)
    c.data('s2c', t.record(t.HANDSHAKE, t.clientHello({ sni: 'swap.example' })), 1000, -1)
    // after the swap the flow table names directions by the new roles: the ServerHello is s2c
    c.data('s2c', t.record(t.HANDSHAKE, t.serverHello({ cipher: 0xc02f })), 2000, -1)
    c.end('fin', 3000)
    expect(links[0]).toMatchObject({ protocol: 'tls', sni: 'swap.example', tlsVersion: 'TLS1.2', client: { port: 9000 }, server: { port: 8443 } })
  })
})
