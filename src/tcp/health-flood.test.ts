// A SYN flood through the whole pipeline (decode, flow table, TCP health) with the default limits: the
// half-open list caps the flows the flood can open, every SYN past it is counted, live connections
// are neither evicted nor missed, and the unanswered flood attempts are decided on the capture clock.

import { describe, expect, it } from 'vitest'
import { LinkType } from '../capture/source.js'
import { C, Counters } from '../counters.js'
import { Pipeline } from '../pipeline/pipeline.js'
import { ethIpv4Tcp, type TcpSpec } from '../../test/helpers/packets.js'

describe('SYN flood', () => {
  it('60 000 spoofed SYNs: at most 16 384 flows, the rest counted, a real connection in the middle still seen', () => {
    const counters = new Counters()
    const links: { connect?: string; server: number }[] = []
    const p = new Pipeline({ counters, onExchange: () => undefined, onLink: (l) => links.push({ connect: l.tcp?.connect, server: l.server.port }) })
    let ts = 1_700_000_000_000_000
    const send = (spec: TcpSpec): void => {
      const data = ethIpv4Tcp(spec)
      p.packet({ tsUs: (ts += 10), ifindex: 1, linkType: LinkType.ETHERNET, data, origLen: data.length })
    }
    let peak = 0
    for (let i = 0; i < 60_000; i++) {
      send({ src: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, dst: '10.9.9.9', sport: 1024 + (i % 60_000), dport: 80, seq: i, flags: 'S' })
      if (i === 30_000) {
        // a real client during the flood: its SYN finds the list full (not tracked), its SYN/ACK opens the flow
        const c = { src: '192.168.7.7', dst: '10.9.9.9', sport: 5555, dport: 8080 }
        send({ ...c, seq: 100, flags: 'S' })
        send({ src: c.dst, dst: c.src, sport: c.dport, dport: c.sport, seq: 900, ack: 101, flags: 'SA' })
        send({ ...c, seq: 101, ack: 901, flags: 'A' })
        send({ ...c, seq: 101, ack: 901, flags: 'PA', payload: 'hi' })
      }
      if (p.flowsActive > peak) peak = p.flowsActive
    }
    expect(peak).toBe(16_384 + 1)
    expect(counters.get(C.tcpSynsUntracked)).toBe(60_000 + 1 - 16_384)
    p.tick(ts + 11_000_000) // past the SYN timeout: the tracked flood attempts are unanswered
    expect(counters.get(C.tcpConnects, { result: 'unanswered' })).toBe(16_384)
    p.finish()
    expect(links.filter((l) => l.server === 8080)).toEqual([{ connect: 'ok', server: 8080 }])
    expect(counters.get(C.tcpConnects, { result: 'ok' })).toBe(1)
    expect(p.tcp.halfOpenCount).toBe(0)
  })
})
