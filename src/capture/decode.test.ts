// decode(): every link type, VLAN stacks, IPv4/IPv6 headers and their oddities, lengths, address text,
// and fuzzing (random bytes never throw; built packets always decode back to their fields).

import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  ETHERTYPE_IPV4, ETHERTYPE_IPV6, ethFrame, ethIpv4Tcp, ethIpv6Tcp, ipv4Tcp, ipv6Bytes, ipv6Tcp, linkLoop,
  linkNull, linkSll, linkSll2, type Ipv6ExtSpec, type TcpSpec,
} from '../../test/helpers/packets.js'
import { decode, decodeBytes, ipv4String, ipv6String } from './decode.js'
import { TcpFlag, newFrame, type Frame } from './frame.js'
import { LinkType, type Packet } from './source.js'

function pkt(data: Buffer, linkType: number = LinkType.ETHERNET, origLen = data.length): Packet {
  return { tsUs: 1_700_000_000_000_000, ifindex: 3, linkType, data, origLen }
}

const V4: TcpSpec = { src: '192.168.1.10', dst: '10.0.0.254', sport: 51234, dport: 443, seq: 0xfffffff0, ack: 7, flags: 'PA', window: 501, payload: 'hello' }
const V6: TcpSpec = { ...V4, src: '2001:db8::10', dst: 'fe80::1:2' }

function expectSegment(f: Frame, spec: TcpSpec, ipVersion: 4 | 6) {
  expect({
    ipVersion: f.ipVersion, src: f.src, dst: f.dst, srcPort: f.srcPort, dstPort: f.dstPort, seq: f.seq, ack: f.ack,
    flags: f.flags, window: f.window, payload: f.payload.toString('latin1'), payloadLen: f.payloadLen, tsUs: f.tsUs, ifindex: f.ifindex,
  }).toEqual({
    ipVersion, src: spec.src, dst: spec.dst, srcPort: spec.sport, dstPort: spec.dport, seq: spec.seq, ack: spec.ack,
    flags: TcpFlag.PSH | TcpFlag.ACK, window: spec.window, payload: String(spec.payload), payloadLen: String(spec.payload).length,
    tsUs: 1_700_000_000_000_000, ifindex: 3,
  })
}

describe('link types', () => {
  const v4 = ipv4Tcp(V4)
  const v6 = ipv6Tcp(V6)
  const cases: [string, number, Buffer, 4 | 6][] = [
    ['Ethernet IPv4', LinkType.ETHERNET, ethIpv4Tcp(V4), 4],
    ['Ethernet IPv6', LinkType.ETHERNET, ethIpv6Tcp(V6), 6],
    ['Linux SLL IPv4', LinkType.LINUX_SLL, linkSll(ETHERTYPE_IPV4, v4), 4],
    ['Linux SLL IPv6', LinkType.LINUX_SLL, linkSll(ETHERTYPE_IPV6, v6), 6],
    ['Linux SLL2 IPv4', LinkType.LINUX_SLL2, linkSll2(ETHERTYPE_IPV4, v4), 4],
    ['Linux SLL2 IPv6', LinkType.LINUX_SLL2, linkSll2(ETHERTYPE_IPV6, v6), 6],
    ['RAW 101 IPv4', LinkType.RAW, v4, 4],
    ['RAW 101 IPv6', LinkType.RAW, v6, 6],
    ['DLT_RAW 12', 12, v4, 4],
    ['DLT_RAW 14 (OpenBSD)', 14, v6, 6],
    ['IPV4 228', LinkType.IPV4, v4, 4],
    ['IPV6 229', LinkType.IPV6, v6, 6],
    ['NULL AF_INET little endian', LinkType.NULL, linkNull(2, v4, true), 4],
    ['NULL AF_INET big endian', LinkType.NULL, linkNull(2, v4, false), 4],
    ['NULL AF_INET6 24 (NetBSD/OpenBSD)', LinkType.NULL, linkNull(24, v6), 6],
    ['NULL AF_INET6 28 (FreeBSD) big endian', LinkType.NULL, linkNull(28, v6, false), 6],
    ['NULL AF_INET6 30 (macOS)', LinkType.NULL, linkNull(30, v6), 6],
    ['LOOP AF_INET', LinkType.LOOP, linkLoop(2, v4), 4],
    ['LOOP AF_INET6', LinkType.LOOP, linkLoop(24, v6), 6],
  ]
  it.each(cases)('%s', (_n, lt, data, ver) => {
    const f = newFrame()
    expect(decode(pkt(data, lt), f)).toBe('ok')
    expectSegment(f, ver === 4 ? V4 : V6, ver)
    expect(f.vlans).toEqual([])
  })

  it('not IP: ARP, LLC (802.3 length), other address families, unknown link types', () => {
    const f = newFrame()
    expect(decode(pkt(ethFrame(0x0806, Buffer.alloc(28))), f)).toBe('not_ip')
    expect(decode(pkt(ethFrame(100, Buffer.alloc(100))), f)).toBe('not_ip')
    expect(decode(pkt(linkNull(7, ipv4Tcp(V4)), LinkType.NULL), f)).toBe('not_ip')
    expect(decode(pkt(linkSll(0x0004, Buffer.alloc(40)), LinkType.LINUX_SLL), f)).toBe('not_ip')
    expect(decode(pkt(Buffer.from([0x55, 0, 0, 0]), LinkType.RAW), f)).toBe('not_ip')
    expect(decode(pkt(ethIpv4Tcp(V4), 127 /* radiotap */), f)).toBe('not_ip')
  })

  it('link headers cut short are truncated', () => {
    const f = newFrame()
    expect(decode(pkt(Buffer.alloc(13)), f)).toBe('truncated')
    expect(decode(pkt(Buffer.alloc(15), LinkType.LINUX_SLL), f)).toBe('truncated')
    expect(decode(pkt(Buffer.alloc(19), LinkType.LINUX_SLL2), f)).toBe('truncated')
    expect(decode(pkt(Buffer.alloc(3), LinkType.NULL), f)).toBe('truncated')
    expect(decode(pkt(Buffer.alloc(0), LinkType.RAW), f)).toBe('truncated')
    expect(decode(pkt(ethIpv4Tcp(V4).subarray(0, 30)), f)).toBe('truncated')
    expect(decode(pkt(ethIpv6Tcp(V6).subarray(0, 50)), f)).toBe('truncated')
  })
})

describe('VLAN tags', () => {
  it.each([
    ['802.1Q', [100], 0x8100],
    ['VLAN 0 (priority tag)', [0], 0x8100],
    ['802.1ad outer + 802.1Q inner', [10, 20], 0x88a8],
    ['pre-standard 0x9100 QinQ', [10, 20], 0x9100],
    ['triple tags', [1, 2, 4095], 0x8100],
  ])('%s', (_n, vlan, tpid) => {
    const f = newFrame()
    expect(decode(pkt(ethIpv4Tcp({ ...V4, vlan, vlanTpid: tpid })), f)).toBe('ok')
    expect(f.vlans).toEqual(vlan)
    expectSegment(f, V4, 4)
    // the reused Frame forgets the tags of the previous packet
    expect(decode(pkt(ethIpv6Tcp(V6)), f)).toBe('ok')
    expect(f.vlans).toEqual([])
  })

  it('PCP and DEI bits are not part of the id; endless tags are malformed; a cut tag is truncated', () => {
    const f = newFrame()
    const d = ethIpv4Tcp({ ...V4, vlan: 5 })
    d[14] |= 0xf0 // PCP 7, DEI 1
    expect(decode(pkt(d), f)).toBe('ok')
    expect(f.vlans).toEqual([5])
    expect(decode(pkt(ethIpv4Tcp({ ...V4, vlan: Array(9).fill(1) })), f)).toBe('malformed')
    expect(decode(pkt(ethIpv4Tcp({ ...V4, vlan: [1, 2] }).subarray(0, 20)), f)).toBe('truncated')
  })
})

describe('IPv4', () => {
  it('options (IHL > 5) are skipped', () => {
    const f = newFrame()
    const d = ethIpv4Tcp({ ...V4, ipOptions: Buffer.from([0x94, 0x04, 0, 0, 1, 1, 1, 0]) }) // router alert, NOPs, EOL
    expect(d[14] & 0x0f).toBe(7)
    expect(decode(pkt(d), f)).toBe('ok')
    expectSegment(f, V4, 4)
  })

  it('Ethernet padding after a short packet is trimmed by the total length', () => {
    const f = newFrame()
    const bare = ethIpv4Tcp({ ...V4, payload: '', flags: 'A' })
    expect(bare.length).toBe(54)
    const padded = Buffer.concat([bare, Buffer.alloc(6, 0xee)]) // 60-byte minimum frame
    expect(decode(pkt(padded), f)).toBe('ok')
    expect([f.payload.length, f.payloadLen, f.flags]).toEqual([0, 0, TcpFlag.ACK])
    const small = Buffer.concat([ethIpv4Tcp({ ...V4, payload: 'ab' }), Buffer.alloc(4, 0xee), Buffer.alloc(4, 0xff)]) // + FCS
    expect(decode(pkt(small), f)).toBe('ok')
    expect(f.payload.toString()).toBe('ab')
  })

  it('total length 0 (TSO/GRO on the capture host) means "to the end of the frame"', () => {
    const f = newFrame()
    const d = ethIpv4Tcp({ ...V4, payload: 'x'.repeat(3000) })
    d.writeUInt16BE(0, 16)
    expect(decode(pkt(d), f)).toBe('ok')
    expect([f.payload.length, f.payloadLen]).toEqual([3000, 3000])
    // cut by the snap length: the wire length still tells how much is missing
    expect(decode(pkt(d.subarray(0, 1000), LinkType.ETHERNET, d.length), f)).toBe('ok')
    expect([f.payload.length, f.payloadLen]).toEqual([1000 - 54, 3000])
  })

  it('a packet cut by the snap length: payloadLen from the IP header exceeds the captured payload', () => {
    const f = newFrame()
    const d = ethIpv4Tcp({ ...V4, payload: 'y'.repeat(1400) })
    expect(decode(pkt(d.subarray(0, 200), LinkType.ETHERNET, d.length), f)).toBe('ok')
    expect([f.payload.length, f.payloadLen]).toEqual([200 - 54, 1400])
    expect(f.payload.equals(d.subarray(54, 200))).toBe(true)
  })

  it('cut inside the TCP options: ok, empty payload, all of it a gap; cut inside the fixed header: truncated', () => {
    const f = newFrame()
    const d = ethIpv4Tcp({ ...V4, tcpOptions: Buffer.from([2, 4, 5, 0xb4, 1, 1, 4, 2, 1, 3, 3, 7]), payload: 'z'.repeat(100) })
    expect(decode(pkt(d.subarray(0, 54 + 4), LinkType.ETHERNET, d.length), f)).toBe('ok')
    expect([f.payload.length, f.payloadLen, f.seq]).toEqual([0, 100, V4.seq])
    expect(decode(pkt(d.subarray(0, 53), LinkType.ETHERNET, d.length), f)).toBe('truncated')
    expect(decode(pkt(d.subarray(0, 40), LinkType.ETHERNET, d.length), f)).toBe('truncated')
  })

  it('TCP options are skipped by the data offset', () => {
    const f = newFrame()
    const d = ethIpv4Tcp({ ...V4, tcpOptions: Buffer.from([1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2]) }) // NOP NOP timestamps
    expect(decode(pkt(d), f)).toBe('ok')
    expectSegment(f, V4, 4)
  })

  it('fragments: MF or an offset is ip_fragment; DF alone is not; non-TCP fragments are not_tcp', () => {
    const f = newFrame()
    const mf = ethIpv4Tcp({ ...V4, dontFragment: false })
    mf.writeUInt16BE(0x2000, 20)
    expect(decode(pkt(mf), f)).toBe('ip_fragment')
    const off = ethIpv4Tcp({ ...V4, dontFragment: false })
    off.writeUInt16BE(185, 20) // offset 1480 bytes, last fragment
    expect(decode(pkt(off), f)).toBe('ip_fragment')
    expect(decode(pkt(ethIpv4Tcp({ ...V4, dontFragment: true })), f)).toBe('ok')
    expect(decode(pkt(ethIpv4Tcp({ ...V4, dontFragment: false })), f)).toBe('ok')
    const udpFrag = Buffer.from(mf)
    udpFrag[23] = 17
    expect(decode(pkt(udpFrag), f)).toBe('not_tcp')
  })

  it('not TCP: UDP, ICMP', () => {
    const f = newFrame()
    for (const proto of [1, 17, 132]) {
      const d = ethIpv4Tcp(V4)
      d[23] = proto
      expect(decode(pkt(d), f)).toBe('not_tcp')
    }
  })

  it.each([
    ['IHL below 5', (d: Buffer) => { d[14] = 0x44 }],
    ['version 6 in an IPv4 ethertype', (d: Buffer) => { d[14] = 0x65 }],
    ['total length below the header length', (d: Buffer) => d.writeUInt16BE(19, 16)],
    ['total length beyond the frame on the wire', (d: Buffer) => d.writeUInt16BE(d.length, 16)],
    ['TCP data offset below 5', (d: Buffer) => { d[46] = 0x40 }],
    ['TCP header longer than the IP datagram', (d: Buffer) => { d[46] = 0xf0 }],
    ['IP datagram too short for a TCP header', (d: Buffer) => d.writeUInt16BE(30, 16)],
  ])('malformed: %s', (_n, damage) => {
    const f = newFrame()
    const d = ethIpv4Tcp({ ...V4, payload: '' })
    damage(d)
    expect(decode(pkt(d), f)).toBe('malformed')
  })
})

describe('IPv6', () => {
  it.each([
    ['hop-by-hop', [{ type: 'hop' as const }]],
    ['destination options (24 bytes)', [{ type: 'dest' as const, bytes: 24 }]],
    ['routing', [{ type: 'routing' as const }]],
    ['AH', [{ type: 'ah' as const }]],
    ['atomic fragment (offset 0, M 0)', [{ type: 'fragment' as const }]],
    ['hop-by-hop, routing, fragment (atomic), AH, destination', [
      { type: 'hop' as const }, { type: 'routing' as const }, { type: 'fragment' as const }, { type: 'ah' as const, icvBytes: 16 }, { type: 'dest' as const },
    ]],
  ])('extension headers are followed: %s', (_n, ipv6Ext) => {
    const f = newFrame()
    expect(decode(pkt(ethIpv6Tcp({ ...V6, ipv6Ext })), f)).toBe('ok')
    expectSegment(f, V6, 6)
  })

  it('a real fragment (M set, or an offset) is ip_fragment', () => {
    const f = newFrame()
    expect(decode(pkt(ethIpv6Tcp({ ...V6, ipv6Ext: [{ type: 'fragment', more: true }] })), f)).toBe('ip_fragment')
    expect(decode(pkt(ethIpv6Tcp({ ...V6, ipv6Ext: [{ type: 'fragment', offset: 100 }] })), f)).toBe('ip_fragment')
    expect(decode(pkt(ethIpv6Tcp({ ...V6, ipv6Ext: [{ type: 'fragment', offset: 100 }, { type: 'dest' }] })), f)).toBe('ip_fragment')
  })

  it('no next header (59), UDP, ICMPv6, a UDP fragment are not_tcp', () => {
    const f = newFrame()
    for (const nh of [59, 17, 58, 50]) {
      const d = ethIpv6Tcp(V6)
      d[20] = nh
      expect(decode(pkt(d), f)).toBe('not_tcp')
    }
    const frag = ethIpv6Tcp({ ...V6, ipv6Ext: [{ type: 'fragment', more: true }] })
    frag[54] = 17
    expect(decode(pkt(frag), f)).toBe('not_tcp')
  })

  it('payload length 0 (jumbogram/TSO) runs to the end of the frame; padding is trimmed otherwise', () => {
    const f = newFrame()
    const d = ethIpv6Tcp({ ...V6, payload: 'q'.repeat(2000) })
    d.writeUInt16BE(0, 18)
    expect(decode(pkt(d), f)).toBe('ok')
    expect(f.payloadLen).toBe(2000)
    const padded = Buffer.concat([ethIpv6Tcp({ ...V6, payload: 'ab' }), Buffer.alloc(8, 0xee)])
    expect(decode(pkt(padded), f)).toBe('ok')
    expect(f.payload.toString()).toBe('ab')
  })

  it('snap-length cut inside an extension header is truncated, and inside the payload a gap', () => {
    const f = newFrame()
    const d = ethIpv6Tcp({ ...V6, ipv6Ext: [{ type: 'dest', bytes: 40 }], payload: 'p'.repeat(500) })
    expect(decode(pkt(d.subarray(0, 14 + 40 + 1), LinkType.ETHERNET, d.length), f)).toBe('truncated')
    expect(decode(pkt(d.subarray(0, 14 + 40 + 40 + 10), LinkType.ETHERNET, d.length), f)).toBe('truncated')
    expect(decode(pkt(d.subarray(0, 200), LinkType.ETHERNET, d.length), f)).toBe('ok')
    expect([f.payload.length, f.payloadLen]).toEqual([200 - 14 - 40 - 40 - 20, 500])
  })

  it.each([
    ['version 4 in an IPv6 ethertype', (d: Buffer) => { d[14] = 0x45 }],
    ['payload length beyond the frame', (d: Buffer) => d.writeUInt16BE(2000, 18)],
    ['an extension header running past the payload', (d: Buffer) => { d[20] = 60; d[54] = 6; d[55] = 200 }],
  ])('malformed: %s', (_n, damage) => {
    const f = newFrame()
    const d = ethIpv6Tcp(V6)
    damage(d)
    expect(decode(pkt(d), f)).toBe('malformed')
  })

  it('a chain of more than 16 extension headers is malformed', () => {
    const f = newFrame()
    expect(decode(pkt(ethIpv6Tcp({ ...V6, ipv6Ext: Array(17).fill({ type: 'dest' }) })), f)).toBe('malformed')
    expect(decode(pkt(ethIpv6Tcp({ ...V6, ipv6Ext: Array(16).fill({ type: 'dest' }) })), f)).toBe('ok')
  })
})

describe('address text', () => {
  it.each([
    ['2001:db8::1', '2001:0db8:0000:0000:0000:0000:0000:0001'],
    ['2001:db8::1:0:0:1', '2001:db8:0:0:1:0:0:1'], // first of two equal runs
    ['2001:0:0:1::1', '2001:0:0:1:0:0:0:1'], // the longer run
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'], // one zero group stays
    ['2001:db8::abcd:ef', '2001:DB8:0:0:0:0:ABCD:EF'], // lower case
    ['::', '0:0:0:0:0:0:0:0'],
    ['::1', '0:0:0:0:0:0:0:1'],
    ['1::', '1:0:0:0:0:0:0:0'],
    ['fe80::', 'fe80:0:0:0:0:0:0:0'],
    ['1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8'],
    ['::ffff:192.0.2.1', '0:0:0:0:0:ffff:c000:201'], // IPv4-mapped: dotted quad (RFC 5952 §5)
    ['::c000:201', '::192.0.2.1'], // deprecated IPv4-compatible form: plain hex
    ['64:ff9b::c000:201', '64:ff9b::192.0.2.1'],
  ])('%s', (want, input) => {
    const b = Buffer.concat([Buffer.alloc(3), ipv6Bytes(input)])
    expect(ipv6String(b, 3)).toBe(want)
    expect(ipv6String(b, 3)).toBe(want) // from the cache
  })

  it('IPv6 text agrees with the WHATWG URL serializer (same RFC 5952 compression) for random addresses', () => {
    const groupArb = fc.oneof(fc.constant(0), fc.constant(0), fc.integer({ min: 0, max: 0xffff }))
    fc.assert(fc.property(fc.array(groupArb, { minLength: 8, maxLength: 8 }), (groups) => {
      const b = Buffer.alloc(16)
      groups.forEach((g, i) => b.writeUInt16BE(g, i * 2))
      const mapped = groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff
      fc.pre(!mapped)
      const want = new URL(`http://[${groups.map((g) => g.toString(16)).join(':')}]/`).hostname.slice(1, -1)
      expect(ipv6String(b, 0)).toBe(want)
    }), { numRuns: 5000 })
  })

  it('IPv4 text, through more distinct addresses than the cache holds', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 0xffffffff }), (a) => {
      expect(ipv4String(a)).toBe([a >>> 24, (a >>> 16) & 255, (a >>> 8) & 255, a & 255].join('.'))
    }), { numRuns: 20000 })
    expect(ipv4String(0)).toBe('0.0.0.0')
    expect(ipv4String(0xffffffff)).toBe('255.255.255.255')
  })
})

describe('fuzz', () => {
  const LINK_TYPES = [0, 1, 12, 14, 101, 108, 113, 228, 229, 276, 999]

  it('random bytes on every link type never throw; an ok frame stays inside the packet', () => {
    const f = newFrame()
    fc.assert(fc.property(
      fc.constantFrom(...LINK_TYPES), fc.uint8Array({ maxLength: 200 }), fc.nat(400),
      (lt, bytes, extra) => {
        const data = Buffer.from(bytes)
        const r = decode(pkt(data, lt, data.length + (extra % 3 === 0 ? extra : 0)), f)
        expect(['ok', 'not_ip', 'not_tcp', 'ip_fragment', 'truncated', 'malformed']).toContain(r)
        if (r === 'ok') {
          expect(f.payload.buffer).toBe(data.buffer)
          expect(f.payload.byteOffset + f.payload.length).toBeLessThanOrEqual(data.byteOffset + data.length)
          expect(f.payloadLen).toBeGreaterThanOrEqual(f.payload.length)
          expect(f.srcPort).toBeLessThan(65536)
        }
      },
    ), { numRuns: 20000 })
  })

  // random bytes rarely get past the link header: start from real headers and damage them
  const specArb = fc.record({
    v6: fc.boolean(),
    sport: fc.integer({ min: 0, max: 65535 }),
    dport: fc.integer({ min: 0, max: 65535 }),
    seq: fc.integer({ min: 0, max: 0xffffffff }),
    ack: fc.integer({ min: 0, max: 0xffffffff }),
    flags: fc.integer({ min: 0, max: 255 }),
    window: fc.integer({ min: 0, max: 65535 }),
    payload: fc.uint8Array({ maxLength: 300 }),
    vlan: fc.array(fc.integer({ min: 0, max: 4095 }), { maxLength: 3 }),
    tcpOptWords: fc.integer({ min: 0, max: 10 }),
    ipOptWords: fc.integer({ min: 0, max: 10 }),
    ext: fc.array(fc.constantFrom<Ipv6ExtSpec['type'][]>('hop', 'dest', 'routing', 'ah', 'fragment'), { maxLength: 4 }),
    a: fc.uint8Array({ minLength: 16, maxLength: 16 }),
    b: fc.uint8Array({ minLength: 16, maxLength: 16 }),
  })

  type Spec = typeof specArb extends fc.Arbitrary<infer T> ? T : never

  function build(s: Spec) {
    const src = s.v6 ? ipv6String(Buffer.from(s.a), 0) : ipv4String(Buffer.from(s.a).readUInt32BE(0))
    const dst = s.v6 ? ipv6String(Buffer.from(s.b), 0) : ipv4String(Buffer.from(s.b).readUInt32BE(0))
    const spec: TcpSpec = {
      src, dst, sport: s.sport, dport: s.dport, seq: s.seq, ack: s.ack, flags: s.flags, window: s.window,
      payload: Buffer.from(s.payload), vlan: s.vlan, tcpOptions: Buffer.alloc(4 * s.tcpOptWords, 1),
      ipOptions: s.v6 ? undefined : Buffer.alloc(4 * s.ipOptWords, 1),
      ipv6Ext: s.ext.map((type: Ipv6ExtSpec['type']) => ({ type }) as Ipv6ExtSpec),
    }
    return { spec, data: s.v6 ? ethIpv6Tcp(spec) : ethIpv4Tcp(spec) }
  }

  it('any built packet decodes back to its fields', () => {
    const f = newFrame()
    fc.assert(fc.property(specArb, (s) => {
      const { spec, data } = build(s)
      expect(decode(pkt(data), f)).toBe('ok')
      expect([f.src, f.dst, f.srcPort, f.dstPort, f.seq, f.ack, f.flags, f.window]).toEqual([spec.src, spec.dst, s.sport, s.dport, s.seq, s.ack, s.flags, s.window])
      expect(f.payload.equals(Buffer.from(s.payload))).toBe(true)
      expect(f.payloadLen).toBe(s.payload.length)
      expect(f.vlans).toEqual(s.vlan)
    }), { numRuns: 3000 })
  })

  it('in place (decodeBytes: the bytes inside a larger buffer, other bytes around them) it gives what decode() of the bytes alone gives', () => {
    const alone = newFrame()
    const inPlace = newFrame()
    const fields = (f: Frame, r: string) => [r, f.ipVersion, f.src, f.dst, f.srcPort, f.dstPort, f.seq, f.ack, f.flags, f.window, f.payloadLen, f.payload.toString('hex'), [...f.vlans]]
    fc.assert(fc.property(specArb, fc.nat(), fc.nat(64), fc.nat(64), fc.constantFrom(...LINK_TYPES), fc.nat(100), (s, cutAt, before, after, lt, extra) => {
      const { data } = build(s)
      const bytes = lt === LinkType.ETHERNET ? data : data.subarray(14) // the IP packet for the other link types: some decode
      const cut = bytes.subarray(0, cutAt % (bytes.length + 1))
      const origLen = cut.length + (extra % 2 === 0 ? extra : 0)
      const big = Buffer.alloc(before + cut.length + after, 0x45) // 0x45 looks like an IPv4 header: reading past the end would show
      cut.copy(big, before)
      const a = fields(alone, decode(pkt(cut, lt, origLen), alone))
      inPlace.tsUs = alone.tsUs
      expect(fields(inPlace, decodeBytes(big, before, cut.length, origLen, lt, inPlace))).toEqual(a)
    }), { numRuns: 5000 })
  })

  it('built packets cut anywhere, or with a byte overwritten, never throw; a cut one keeps a prefix of the payload', () => {
    const f = newFrame()
    fc.assert(fc.property(specArb, fc.nat(), fc.nat(), fc.integer({ min: 0, max: 255 }), (s, cutAt, at, byte) => {
      const { data } = build(s)
      const cut = data.subarray(0, cutAt % (data.length + 1))
      const r = decode(pkt(cut, LinkType.ETHERNET, data.length), f)
      if (r === 'ok') {
        expect(Buffer.from(s.payload).subarray(0, f.payload.length).equals(f.payload)).toBe(true)
        expect(f.payloadLen).toBe(s.payload.length)
      }
      const damaged = Buffer.from(data)
      damaged[at % damaged.length] = byte
      decode(pkt(damaged), f)
      decode(pkt(damaged.subarray(14), LinkType.RAW), f)
    }), { numRuns: 5000 })
  })
})
