// One connection as encrypted packets and as tap plaintext is counted once. The packets are a real
// capture (six HTTPS connections, test/pcaps/tls/09); the tap side is stood in for by streams opened
// with Pipeline.openStream as src/tls/sessions.ts does, carrying HTTP/1.1 plaintext (the real tap
// needs root and live processes: test/integration/capture-tls-dedupe.test.ts runs it for real).

import * as path from 'node:path'
import { describe, expect, it } from 'vitest'
import { openCaptureFile } from '../capture/pcap-file.js'
import { Counters } from '../counters.js'
import type { Exchange, LinkRecord } from '../records.js'
import type { Endpoint, FlowInfo, RoleSource, StreamHandler } from '../tcp/types.js'
import { Pipeline, TLS_PAIR_HOLD_US } from './pipeline.js'
import { replayFilesSync } from './replay-sync.js'

const FILE = path.join(import.meta.dirname, '..', '..', 'test', 'pcaps', 'tls', '09-six-https-one-host.pcap')
const conns = replayFilesSync([FILE]).links.map((l) => ({ client: l.client, server: l.server, startUs: l.startUs, endUs: l.endUs }))

/** a tap stream's flow, as TlsSessions makes it */
function tapFlow(id: number, client: Endpoint, server: Endpoint, tsUs: number): FlowInfo {
  return {
    id, client: { ...client }, server: { ...server }, roleSource: 'port' as RoleSource, ifindex: 0, startUs: tsUs, lastUs: tsUs,
    bytes: { c2s: 0, s2c: 0 }, packets: { c2s: 0, s2c: 0 }, retransmits: 0, gapBytes: { c2s: 0, s2c: 0 },
    swapRoles() {},
  }
}

const REQ = Buffer.from('GET /index.html HTTP/1.1\r\nHost: app.podtap.test\r\n\r\n')
const RESP = Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nhello\n')

function run(o: { tlsTap: boolean; plan: (p: Pipeline, packetsUpTo: (tsUs: number) => void) => void }) {
  const exchanges: Exchange[] = []
  const links: LinkRecord[] = []
  const counters = new Counters()
  const p = new Pipeline({ counters, tlsTap: o.tlsTap, onExchange: (e) => exchanges.push(e), onLink: (l) => links.push(l) })
  const src = openCaptureFile(FILE)
  let next = src.next()
  const packetsUpTo = (tsUs: number) => {
    while (next !== null && next.tsUs <= tsUs) {
      p.packet(next)
      next = src.next()
    }
  }
  o.plan(p, packetsUpTo)
  packetsUpTo(Infinity)
  src.close()
  return { p, exchanges, links, counters }
}

function tapExchange(p: Pipeline, i: number, atUs: number): StreamHandler {
  const c = conns[i]!
  const h = p.openStream(tapFlow(1000 + i, c.client, c.server, atUs), { tls: true })
  h.data('c2s', REQ, atUs, -1)
  h.data('s2c', RESP, atUs + 100, -1)
  return h
}

describe('a connection seen as encrypted packets and as tap plaintext', () => {
  it('tap stream live when the packets end: one link, packet bytes, the plaintext protocol, the handshake facts', () => {
    const handlers: StreamHandler[] = []
    const r = run({
      tlsTap: true,
      plan: (p, upTo) => {
        upTo(conns[0]!.startUs + 5000)
        handlers.push(tapExchange(p, 0, conns[0]!.startUs + 5000))
        upTo(Infinity)
        p.tick(p.nowUs + 10 * TLS_PAIR_HOLD_US) // packets' links whose wait is over go out
        for (const h of handlers) h.end('fin', p.nowUs)
      },
    })
    r.p.finish()
    expect(r.exchanges.map((e) => [e.protocol, e.tls, e.method, e.resource, e.status])).toEqual([['http', true, 'GET', '/index.html', 200]])
    expect(r.links).toHaveLength(6)
    const packetOnly = replayFilesSync([FILE]).links
    const paired = r.links.find((l) => l.client.port === conns[0]!.client.port)!
    const alone = packetOnly.find((l) => l.client.port === conns[0]!.client.port)!
    expect(paired).toMatchObject({ protocol: 'http', tls: true, sni: 'app.podtap.test', tlsVersion: 'TLS1.3', bytesSent: alone.bytesSent, bytesReceived: alone.bytesReceived, packetsSent: alone.packetsSent })
    expect(r.links.filter((l) => l.protocol === 'tls')).toHaveLength(5)
    expect(r.counters.get('tls_links_paired')).toBe(1)
  })

  it('packets end first, the tap stream comes within the hold: merged; after it: two links', () => {
    const within = run({
      tlsTap: true,
      plan: (p, upTo) => {
        upTo(Infinity) // every packet connection has ended, links held
        const h = tapExchange(p, 2, conns[2]!.endUs + 1000)
        p.tick(p.nowUs + TLS_PAIR_HOLD_US + 1)
        h.end('fin', p.nowUs)
      },
    })
    within.p.finish()
    expect(within.links).toHaveLength(6)
    expect(within.links.filter((l) => l.protocol === 'http').map((l) => l.client.port)).toEqual([conns[2]!.client.port])

    const late = run({
      tlsTap: true,
      plan: (p, upTo) => {
        upTo(Infinity)
        p.tick(p.nowUs + TLS_PAIR_HOLD_US + 1) // the packets' links are out
        tapExchange(p, 2, p.nowUs).end('fin', p.nowUs)
      },
    })
    late.p.finish()
    expect(late.links).toHaveLength(7)
    expect(late.counters.get('tls_links_paired')).toBe(0)
  })

  it('the tap stream ends first (SSL_free, shutdown): the packet link takes its protocol when it ends', () => {
    const r = run({
      tlsTap: true,
      plan: (p, upTo) => {
        upTo(conns[4]!.startUs + 5000)
        tapExchange(p, 4, conns[4]!.startUs + 5000).end('fin', conns[4]!.startUs + 6000)
      },
    })
    r.p.finish()
    expect(r.links).toHaveLength(6)
    expect(r.links.filter((l) => l.protocol === 'http').map((l) => [l.client.port, l.sni, l.bytesSent > 0])).toEqual([[conns[4]!.client.port, 'app.podtap.test', true]])
  })

  it('a second tap view of an already merged connection (its other end, after the first SSL_free) is dropped', () => {
    const r = run({
      tlsTap: true,
      plan: (p, upTo) => {
        upTo(conns[1]!.startUs + 5000)
        const first = tapExchange(p, 1, conns[1]!.startUs + 5000)
        upTo(conns[1]!.endUs + 1) // packets end while the first view lives: merged
        first.end('fin', p.nowUs)
        tapExchange(p, 1, conns[1]!.startUs + 6000).end('fin', p.nowUs) // the other end's view
      },
    })
    r.p.finish()
    expect(r.links).toHaveLength(6)
    expect(r.links.filter((l) => l.protocol === 'http')).toHaveLength(1)
    expect(r.counters.get('tls_links_duplicate')).toBe(1)
  })

  it('two tap views of one connection reported before its packets: one link', () => {
    const r = run({
      tlsTap: true,
      plan: (p, upTo) => {
        upTo(conns[3]!.startUs - 1)
        tapExchange(p, 3, p.nowUs).end('fin', p.nowUs)
        tapExchange(p, 3, p.nowUs + 10).end('fin', p.nowUs + 20)
      },
    })
    r.p.finish()
    expect(r.links).toHaveLength(6)
    expect(r.links.filter((l) => l.protocol === 'http')).toHaveLength(1)
    expect(r.counters.get('tls_links_duplicate')).toBe(1)
  })

  it('the tap reports the whole connection before its packets come through (a packet ring block handed over late)', () => {
    const r = run({
      tlsTap: true,
      plan: (p, upTo) => {
        upTo(conns[3]!.startUs - 1) // the packets of connection 3 are not read yet
        tapExchange(p, 3, p.nowUs).end('fin', p.nowUs) // SSL_free already seen
      },
    })
    r.p.finish()
    expect(r.links).toHaveLength(6)
    expect(r.links.filter((l) => l.protocol === 'http').map((l) => [l.client.port, l.sni, l.bytesReceived > 1000])).toEqual([[conns[3]!.client.port, 'app.podtap.test', true]])
    expect(r.counters.get('tls_links_paired')).toBe(1)
  })

  it('without a tap nothing is held: links come as connections end', () => {
    const r = run({ tlsTap: false, plan: () => {} })
    expect(r.links).toHaveLength(6) // before finish(): each went out at its FIN
    expect(r.links.every((l) => l.protocol === 'tls')).toBe(true)
  })
})
