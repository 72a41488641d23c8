// VethCopies: the one-copy rule of docs/architecture.md "Pods on one node" for captures whose
// addresses are known up front (`podtap demo`): web (ifindex 10) calls cache (ifindex 11), and the
// same packets pass both veths; the client in the root namespace (10.213.1.1) is on web's veth only.

import { describe, expect, it } from 'vitest'
import { ethIpv4Tcp, ethIpv6Tcp } from '../../test/helpers/packets.js'
import { VethCopies } from './copies.js'
import { LinkType, type Packet } from './source.js'

function pkt(ifindex: number, tsUs: number, src: string, sport: number, dst: string, dport: number, flags = 'PA'): Packet {
  const spec = { src, dst, sport, dport, flags, payload: flags.includes('S') ? undefined : 'x' }
  const data = src.includes(':') ? ethIpv6Tcp(spec) : ethIpv4Tcp(spec)
  return { tsUs, ifindex, linkType: LinkType.ETHERNET, data, origLen: data.length }
}

describe('VethCopies', () => {
  const WEB = '10.213.1.2'
  const CACHE = '10.213.2.2'
  const setup = (cacheSinceUs = 0): VethCopies => {
    const c = new VethCopies()
    c.own(WEB, 10)
    c.own('fd00:213:1::2', 10)
    c.own(CACHE, 11, cacheSinceUs)
    c.own('fd00:213:2::2', 11)
    return c
  }

  it('keeps each packet of web -> cache once, on the listening side (cache) in both directions', () => {
    const c = setup()
    for (const [src, sport, dst, dport, flags] of [
      [WEB, 40000, CACHE, 6379, 'S'],
      [CACHE, 6379, WEB, 40000, 'SA'],
      [WEB, 40000, CACHE, 6379, 'PA'],
      [CACHE, 6379, WEB, 40000, 'PA'],
    ] as const) {
      expect(c.accept(pkt(10, 5, src, sport, dst, dport, flags)), `${src} on web`).toBe(false)
      expect(c.accept(pkt(11, 6, src, sport, dst, dport, flags)), `${src} on cache`).toBe(true)
    }
    expect(c.accept(pkt(10, 5, 'fd00:213:1::2', 40000, 'fd00:213:2::2', 6379))).toBe(false)
    expect(c.accept(pkt(11, 5, 'fd00:213:1::2', 40000, 'fd00:213:2::2', 6379))).toBe(true)
    expect(c.dropped).toBe(5)
  })

  it('keeps what passes one captured veth only: the root-namespace client, unknown addresses', () => {
    const c = setup()
    expect(c.accept(pkt(10, 5, '10.213.1.1', 50000, WEB, 8080))).toBe(true)
    expect(c.accept(pkt(10, 5, WEB, 8080, '10.213.1.1', 50000))).toBe(true)
    expect(c.accept(pkt(11, 5, '192.0.2.1', 50000, CACHE, 6379))).toBe(true)
    expect(c.dropped).toBe(0)
  })

  it('keeps the copy on the other veth while the listening side is not captured yet', () => {
    const c = setup(1000)
    expect(c.accept(pkt(10, 999, WEB, 40000, CACHE, 6379))).toBe(true)
    expect(c.accept(pkt(10, 1000, WEB, 40000, CACHE, 6379))).toBe(false)
  })
})
