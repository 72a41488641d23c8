// The socket filter and the ring, with crafted frames on a quiet veth pair: which frames are kept,
// which are dropped and counted why, VLAN tags in the data and offloaded ones put back, IPv6
// extension headers, fragments, the port allow-list (switched while capturing) and snaplen.
//
// Frames are sent out of end a with a raw packet socket. A capture on a sees the outgoing copy exactly
// as sent (tags in the data); a capture on b sees it received, where the kernel has already moved the
// outer VLAN tag into skb->vlan_tci (skb_vlan_untag runs before packet taps), so b tests the
// offloaded path and the tag restoration.

import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { MultiSource, openAfPacket, type AfPacketSource } from '../../src/capture/af-packet.js'
import { LinkType } from '../../src/capture/source.js'
import { cleanupStale, createVethPair, needRoot, type VethPair } from '../helpers/netns.js'
import { ahExt, collect, eth, ext8, fragExt, ipv4, ipv6, RawSender, tcp, udp, type Seen } from './live-util.js'

const skip = needRoot()
if (skip !== null) console.log(`live-filter tests skipped: ${skip}`)

const IPV4 = 0x0800
const IPV6 = 0x86dd
const ARP = 0x0806
const TCP = 6
const UDP = 17
const HOP = 0
const ROUTING = 43
const FRAG = 44
const AH = 51
const DEST = 60
const Q = { tpid: 0x8100, vid: 100 }
const AD = { tpid: 0x88a8, vid: 200 }
const body = Buffer.from('GET / HTTP/1.1\r\n\r\n')

type Why = 'kept' | 'not_tcp' | 'malformed' | 'port'
interface Case {
  name: string
  frame: Buffer
  /** without a port list */
  open: Why
  /** with the allow-list [8080] */
  listed: Why
}

function v6chain(headers: number[], l4proto: number, l4: Buffer): Buffer {
  // headers: the extension header types in order; each one's next field names the following one
  const parts: Buffer[] = []
  for (let i = 0; i < headers.length; i++) {
    const next = i + 1 < headers.length ? headers[i + 1]! : l4proto
    const h = headers[i]!
    parts.push(h === FRAG ? fragExt(next, 0, true) : h === AH ? ahExt(next) : ext8(next, h === ROUTING ? 'routing' : 'opts'))
  }
  return ipv6(headers[0] ?? l4proto, Buffer.concat([...parts, l4]))
}

const cases: Case[] = [
  { name: 'ipv4 tcp', frame: eth(IPV4, ipv4(TCP, tcp(40000, 80, body))), open: 'kept', listed: 'port' },
  { name: 'ipv4 tcp to 8080', frame: eth(IPV4, ipv4(TCP, tcp(40000, 8080, body))), open: 'kept', listed: 'kept' },
  { name: 'ipv4 tcp from 8080', frame: eth(IPV4, ipv4(TCP, tcp(8080, 40000, body))), open: 'kept', listed: 'kept' },
  { name: 'ipv4 udp', frame: eth(IPV4, ipv4(UDP, udp(5353, 8080))), open: 'not_tcp', listed: 'not_tcp' },
  { name: 'arp', frame: eth(ARP, Buffer.alloc(28, 1)), open: 'not_tcp', listed: 'not_tcp' },
  { name: 'ipv4 options', frame: eth(IPV4, ipv4(TCP, tcp(40000, 8080), { optionWords: 3 })), open: 'kept', listed: 'kept' },
  { name: 'ipv4 first fragment', frame: eth(IPV4, ipv4(TCP, tcp(40000, 8080, body), { more: true })), open: 'kept', listed: 'kept' },
  { name: 'ipv4 later fragment', frame: eth(IPV4, ipv4(TCP, Buffer.alloc(40, 7), { fragOffset: 185 })), open: 'kept', listed: 'port' },
  { name: 'ipv4 cut short', frame: eth(IPV4, Buffer.from([0x45, 0, 0, 40, 0])), open: 'malformed', listed: 'malformed' },
  { name: '802.1Q ipv4 tcp', frame: eth(IPV4, ipv4(TCP, tcp(40000, 8080, body)), [Q]), open: 'kept', listed: 'kept' },
  { name: 'QinQ ipv4 tcp', frame: eth(IPV4, ipv4(TCP, tcp(40000, 8080, body)), [AD, Q]), open: 'kept', listed: 'kept' },
  { name: '802.1Q ipv6 tcp', frame: eth(IPV6, ipv6(TCP, tcp(40000, 8080)), [Q]), open: 'kept', listed: 'kept' },
  { name: '802.1Q udp', frame: eth(IPV4, ipv4(UDP, udp(1, 2)), [Q]), open: 'not_tcp', listed: 'not_tcp' },
  { name: 'ipv6 tcp', frame: eth(IPV6, ipv6(TCP, tcp(40000, 8080, body))), open: 'kept', listed: 'kept' },
  { name: 'ipv6 tcp other port', frame: eth(IPV6, ipv6(TCP, tcp(40000, 443, body))), open: 'kept', listed: 'port' },
  { name: 'ipv6 hop-by-hop', frame: eth(IPV6, v6chain([HOP], TCP, tcp(40000, 8080))), open: 'kept', listed: 'kept' },
  { name: 'ipv6 hbh+dest+routing', frame: eth(IPV6, v6chain([HOP, DEST, ROUTING], TCP, tcp(40000, 8080))), open: 'kept', listed: 'kept' },
  { name: 'ipv6 AH', frame: eth(IPV6, v6chain([AH], TCP, tcp(8080, 40000))), open: 'kept', listed: 'kept' },
  { name: 'ipv6 first fragment', frame: eth(IPV6, v6chain([FRAG], TCP, tcp(40000, 8080, body))), open: 'kept', listed: 'kept' },
  {
    name: 'ipv6 later fragment',
    frame: eth(IPV6, ipv6(FRAG, Buffer.concat([fragExt(TCP, 100, false), Buffer.alloc(32, 9)]))),
    open: 'kept',
    listed: 'port',
  },
  { name: 'ipv6 six ext headers', frame: eth(IPV6, v6chain([HOP, DEST, DEST, DEST, DEST, DEST], TCP, tcp(1, 8080))), open: 'kept', listed: 'kept' },
  { name: 'ipv6 seven ext headers', frame: eth(IPV6, v6chain([HOP, DEST, DEST, DEST, DEST, DEST, DEST], TCP, tcp(1, 8080))), open: 'malformed', listed: 'malformed' },
  { name: 'ipv6 udp behind hbh', frame: eth(IPV6, v6chain([HOP], UDP, udp(1, 8080))), open: 'not_tcp', listed: 'not_tcp' },
  { name: 'ipv6 icmpv6', frame: eth(IPV6, ipv6(58, Buffer.alloc(8))), open: 'not_tcp', listed: 'not_tcp' },
]

function expectedCounters(list: Case[], mode: 'open' | 'listed') {
  const n = (w: Why) => list.filter((c) => c[mode] === w).length
  return {
    seen: list.length,
    kept: n('kept'),
    dropped: list.length - n('kept'),
    dropNotTcp: n('not_tcp'),
    dropPort: n('port'),
    dropOutgoing: 0,
    dropMalformed: n('malformed'),
    truncated: 0,
    vlan: list.filter((c) => c[mode] === 'kept' && c.frame.readUInt16BE(12) !== IPV4 && c.frame.readUInt16BE(12) !== IPV6).length,
  }
}

describe.skipIf(skip !== null)('socket filter on crafted frames', () => {
  let pair: VethPair
  let sender: RawSender
  let a: AfPacketSource
  let b: AfPacketSource
  let multi: MultiSource

  beforeAll(async () => {
    cleanupStale()
    pair = await createVethPair()
    sender = new RawSender(pair.aIndex)
    a = openAfPacket({ iface: pair.a, frameTimeoutMs: 10 })
    b = openAfPacket({ iface: pair.b, frameTimeoutMs: 10 })
    multi = new MultiSource()
    multi.add(a)
    multi.add(b)
  })
  afterAll(() => {
    multi?.close()
    sender?.close()
    pair?.destroy()
  })

  async function sendAll(frames: Buffer[]): Promise<{ onA: Seen[]; onB: Seen[] }> {
    for (const f of frames) sender.send(f)
    const seen = await collect(multi, { quietMs: 300, timeoutMs: 5000 })
    return { onA: seen.filter((s) => s.ifindex === pair.aIndex), onB: seen.filter((s) => s.ifindex === pair.bIndex) }
  }

  it('keeps IPv4/IPv6 TCP (VLAN-tagged, behind extension headers) byte for byte, drops the rest and counts why', async () => {
    const { onA, onB } = await sendAll(cases.map((c) => c.frame))
    const kept = cases.filter((c) => c.open === 'kept')
    // outgoing copies on a: exactly the kept frames, in order, as sent
    expect(onA.map((s) => s.data.toString('hex'))).toEqual(kept.map((c) => c.frame.toString('hex')))
    // received on b: same bytes, the offloaded outer tag restored (with its own TPID for QinQ)
    expect(onB.map((s) => s.data.toString('hex'))).toEqual(kept.map((c) => c.frame.toString('hex')))
    for (const s of [...onA, ...onB]) expect(s.origLen).toBe(s.data.length)
    const want = expectedCounters(cases, 'open')
    expect(a.filterCounters()).toEqual(want)
    expect(b.filterCounters()).toEqual(want)
    // a saw the tags in the data; b had them offloaded and next() put them back
    expect(a.stats().vlanRestored).toBe(0)
    expect(b.stats().vlanRestored).toBe(kept.filter((c) => c.frame.readUInt16BE(12) === 0x8100 || c.frame.readUInt16BE(12) === 0x88a8).length)
    expect(a.linkType).toBe(LinkType.ETHERNET)
    const st = b.stats()
    expect(st.packets).toBe(kept.length)
    expect(st.dropped).toBe(0)
    expect(st.kernelPackets).toBe(kept.length)
  })

  it('with the allow-list [8080] keeps only segments from or to 8080, switched while capturing', async () => {
    const before = { a: a.filterCounters(), b: b.filterCounters() }
    a.setPorts([8080])
    b.setPorts([8080])
    const { onA, onB } = await sendAll(cases.map((c) => c.frame))
    const kept = cases.filter((c) => c.listed === 'kept')
    expect(onA.map((s) => s.data.toString('hex'))).toEqual(kept.map((c) => c.frame.toString('hex')))
    expect(onB.map((s) => s.data.toString('hex'))).toEqual(kept.map((c) => c.frame.toString('hex')))
    const want = expectedCounters(cases, 'listed')
    const after = b.filterCounters()
    const delta = Object.fromEntries(Object.entries(after).map(([k, v]) => [k, v - before.b[k as keyof typeof after]]))
    expect(delta).toEqual(want)

    // back to every port
    a.setPorts(null)
    b.setPorts([])
    const again = await sendAll([cases[0]!.frame])
    expect(again.onB).toHaveLength(1)
  })

  it('snaplen cuts long packets, origLen keeps the wire length, both counted', async () => {
    const cut = openAfPacket({ iface: pair.b, snaplen: 100, frameTimeoutMs: 10 })
    try {
      const big = eth(IPV4, ipv4(TCP, tcp(40000, 80, Buffer.alloc(1400, 0x61))))
      const small = eth(IPV4, ipv4(TCP, tcp(40000, 80, Buffer.from('x'))))
      sender.send(big)
      sender.send(small)
      const seen = await collect(cut, { quietMs: 300 })
      expect(seen.map((s) => [s.data.length, s.origLen])).toEqual([
        [100, big.length],
        [small.length, small.length],
      ])
      expect(seen[0]!.data).toEqual(big.subarray(0, 100))
      expect(cut.stats().truncated).toBe(1)
      expect(cut.filterCounters().truncated).toBe(1)
      // the other captures on b are not affected: they keep the whole packet
      await collect(multi, { quietMs: 200 })
    } finally {
      cut.close()
    }
  })

  it('a packet view kept past close() reads zeros instead of faulting (the ring is replaced, not unmapped)', async () => {
    const own = openAfPacket({ iface: pair.b, frameTimeoutMs: 10 })
    sender.send(cases[0]!.frame)
    let view: Buffer | null = null
    const t0 = Date.now()
    while (view === null && Date.now() - t0 < 3000) {
      const p = own.next()
      if (p !== null) view = p.data // deliberately not copied
      else await own.wait(50)
    }
    expect(view).not.toBeNull()
    expect(view!.toString('hex')).toBe(cases[0]!.frame.toString('hex'))
    own.close()
    // with munmap this read would kill the process with SIGSEGV
    expect(view!.every((b) => b === 0)).toBe(true)
    await collect(multi, { quietMs: 100 })
  })

  it('timestamps are microseconds since the epoch, close to now', async () => {
    const t0 = Date.now() * 1000
    sender.send(cases[0]!.frame)
    const seen = await collect(b, { quietMs: 200 })
    expect(seen).toHaveLength(1)
    const ts = seen[0]!.tsUs
    expect(Number.isInteger(ts)).toBe(true)
    expect(ts).toBeGreaterThanOrEqual(t0 - 1000)
    expect(ts).toBeLessThanOrEqual(Date.now() * 1000 + 1000)
  })
})
