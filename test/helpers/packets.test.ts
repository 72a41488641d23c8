// The packet builders other tests rely on: addresses parse, conversations keep TCP numbers right.

import { describe, expect, it } from 'vitest'
import { decode, ipv6String } from '../../src/capture/decode.js'
import { TcpFlag, newFrame } from '../../src/capture/frame.js'
import { LinkType } from '../../src/capture/source.js'
import { TcpConversation, ipv4Bytes, ipv6Bytes, tcpFlags } from './packets.js'

describe('address parsing', () => {
  it.each([
    ['::', '::'],
    ['::1', '::1'],
    ['2001:DB8:0:0:0:0:0:1', '2001:db8::1'],
    ['fe80::1:2', 'fe80::1:2'],
    ['1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8'],
    ['::ffff:10.1.2.3', '::ffff:10.1.2.3'],
    ['64:ff9b::192.0.2.1', '64:ff9b::c000:201'],
  ])('%s', (text, canonical) => {
    expect(ipv6String(ipv6Bytes(text), 0)).toBe(canonical)
  })

  it('rejects bad addresses', () => {
    for (const bad of ['1::2::3', '1:2:3:4:5:6:7:8:9', '12345::', 'g::1', '1:2:3']) expect(() => ipv6Bytes(bad)).toThrow()
    for (const bad of ['1.2.3', '1.2.3.256', '1..2.3', 'a.b.c.d']) expect(() => ipv4Bytes(bad)).toThrow()
  })

  it('flag letters', () => {
    expect(tcpFlags('SA', false)).toBe(TcpFlag.SYN | TcpFlag.ACK)
    expect(tcpFlags('F.', false)).toBe(TcpFlag.FIN | TcpFlag.ACK)
    expect(tcpFlags(undefined, true)).toBe(TcpFlag.PSH | TcpFlag.ACK)
    expect(() => tcpFlags('X', false)).toThrow()
  })
})

describe('TcpConversation', () => {
  it('handshake, data both ways split at the MSS, close: every ack covers what the peer sent', () => {
    const conv = new TcpConversation({
      client: { ip: '2001:db8::1', port: 50000 }, server: { ip: '2001:db8::2', port: 6379 },
      clientIsn: 0xfffffff0, serverIsn: 100, mss: 10, startUs: 5_000_000, stepUs: 7,
    })
      .handshake()
      .send('c2s', 'x'.repeat(25))
      .send('s2c', '+OK\r\n')
      .close()
    const f = newFrame()
    const rows = conv.packets.map((p) => {
      expect(decode({ tsUs: p.tsUs, ifindex: 0, linkType: LinkType.ETHERNET, data: p.data, origLen: p.data.length }, f)).toBe('ok')
      return [f.tsUs, f.srcPort, f.seq, f.ack, f.flags, f.payload.length]
    })
    const S = TcpFlag.SYN, A = TcpFlag.ACK, P = TcpFlag.PSH, F = TcpFlag.FIN
    expect(rows).toEqual([
      [5_000_000, 50000, 0xfffffff0, 0, S, 0],
      [5_000_007, 6379, 100, 0xfffffff1, S | A, 0],
      [5_000_014, 50000, 0xfffffff1, 101, A, 0],
      [5_000_021, 50000, 0xfffffff1, 101, P | A, 10],
      [5_000_028, 50000, 0xfffffffb, 101, P | A, 10],
      [5_000_035, 50000, 5, 101, P | A, 5], // wrapped past 2^32
      [5_000_042, 6379, 101, 10, P | A, 5],
      [5_000_049, 50000, 10, 106, F | A, 0],
      [5_000_056, 6379, 106, 11, F | A, 0],
      [5_000_063, 50000, 11, 107, A, 0],
    ])
  })
})
