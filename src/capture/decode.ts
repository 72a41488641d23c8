// Packet decode: link layer, IPv4/IPv6, TCP header into one caller-owned Frame (frame.ts).
//
// decode() never throws and allocates only the payload view and, on a cache miss, an IP string. It
// returns why a packet gave no TCP frame; the caller counts the reason (C.decodeSkipped).
//
// Link layers (https://www.tcpdump.org/linktypes.html):
//   ETHERNET 1   dst(6) src(6) ethertype(2); 802.1Q 0x8100 / 802.1ad 0x88a8 / old QinQ 0x9100 tags:
//                TCI(2: PCP 3, DEI 1, VID 12) ethertype(2), any depth up to MAX_VLAN_TAGS
//   LINUX_SLL 113   packet type(2) ARPHRD(2) addr len(2) addr(8) protocol(2) = 16 bytes
//   LINUX_SLL2 276  protocol(2) reserved(2) ifindex(4) ARPHRD(2) packet type(1) addr len(1) addr(8) = 20
//   RAW 101 (also DLT_RAW 12 and OpenBSD's 14 found in old files), IPV4 228, IPV6 229: no header
//   NULL 0       4-byte address family in the capturing host's byte order; LOOP 108: network order.
//                AF_INET 2; AF_INET6 24 (NetBSD/OpenBSD), 28 (FreeBSD), 30 (macOS)
// IPv4 (RFC 791): ver/IHL, total length, flags/fragment offset, protocol, addresses; options skipped
// IPv6 (RFC 8200): 40-byte header then extension headers: hop-by-hop 0, routing 43, destination 60
//   ((len+1)·8 bytes), fragment 44 (8 bytes), AH 51 ((len+2)·4 bytes, RFC 4302); 59 = no next header
// TCP (RFC 9293): ports, seq, ack, data offset, flags, window; options skipped
//
// Lengths: the IP length decides where the datagram ends, so Ethernet padding is trimmed and a packet
// cut by the snap length reports payloadLen > payload.length (the missing bytes are a gap, not an
// error). An IP length of 0 (IPv4 total length, IPv6 payload length) comes from TSO/GSO/GRO packets
// seen on the capture host (and IPv6 jumbograms): the datagram then runs to the end of the frame.
//
// Fragments: a TCP fragment (IPv4 MF or offset > 0; IPv6 fragment header with M or offset > 0) is
// 'ip_fragment'; fragments of other protocols are 'not_tcp', so that counter stays about lost TCP.
// An IPv6 "atomic fragment" (fragment header, offset 0, M 0, RFC 6946) is a whole packet and decodes.

import { LinkType, type Packet } from './source.js'
import type { DecodeResult, Frame } from './frame.js'

const ETH_IPV4 = 0x0800
const ETH_IPV6 = 0x86dd
const ETH_VLAN = 0x8100 // 802.1Q
const ETH_QINQ = 0x88a8 // 802.1ad service tag
const ETH_QINQ_OLD = 0x9100 // pre-standard QinQ
/** more tags than this (the corpus has 3) is not a real frame */
const MAX_VLAN_TAGS = 8
/** extension headers followed before giving up (a real packet has a handful) */
const MAX_IPV6_EXT = 16

const PROTO_TCP = 6
const IPV6_HOP_BY_HOP = 0
const IPV6_ROUTING = 43
const IPV6_FRAGMENT = 44
const IPV6_AH = 51
const IPV6_NO_NEXT = 59
const IPV6_DEST_OPTS = 60

const DLT_RAW = 12 // DLT_RAW on most systems; libpcap writes LINKTYPE_RAW 101 but old files have 12
const DLT_RAW_OPENBSD = 14

/**
 * Decodes one packet into `out`. Returns 'ok' when `out` holds a TCP segment; otherwise the reason,
 * and the fields of `out` other than tsUs, ifindex and vlans are left as they were.
 */
export function decode(pkt: Packet, out: Frame): DecodeResult {
  out.tsUs = pkt.tsUs
  out.ifindex = pkt.ifindex
  return decodeBytes(pkt.data, 0, pkt.data.length, pkt.origLen, pkt.linkType, out)
}

/**
 * decode() of a packet whose captured bytes are d[start, start + caplen), read in place (a capture
 * file's read buffer: no view per packet). The caller sets out.tsUs and out.ifindex.
 */
export function decodeBytes(d: Buffer, start: number, caplen: number, origLen: number, linkType: number, out: Frame): DecodeResult {
  if (out.vlans.length !== 0) out.vlans.length = 0 // the setter is slow even when nothing changes
  // offsets below are into d; `lim` ends the captured bytes, `wire` the frame on the wire (an IP
  // length beyond it contradicts the capture)
  const lim = start + caplen
  const wire = start + (origLen > caplen ? origLen : caplen)
  switch (linkType) {
    case LinkType.ETHERNET:
      if (caplen < 14) return 'truncated'
      return ethertype(d, start + 14, lim, (d[start + 12] << 8) | d[start + 13], wire, out)
    case LinkType.LINUX_SLL:
      if (caplen < 16) return 'truncated'
      return ethertype(d, start + 16, lim, (d[start + 14] << 8) | d[start + 15], wire, out)
    case LinkType.LINUX_SLL2:
      if (caplen < 20) return 'truncated'
      return ethertype(d, start + 20, lim, (d[start] << 8) | d[start + 1], wire, out)
    case LinkType.RAW:
    case LinkType.IPV4:
    case LinkType.IPV6:
    case DLT_RAW:
    case DLT_RAW_OPENBSD:
      return rawIp(d, start, lim, wire, out)
    case LinkType.NULL: {
      if (caplen < 4) return 'truncated'
      // host byte order of the capturing machine, unknown here: family numbers are small, so a
      // value with high bits set was written in the other order
      let af = u32le(d, start)
      if (af > 0xffff) af = u32be(d, start)
      return addressFamily(d, start, lim, af, wire, out)
    }
    case LinkType.LOOP:
      if (caplen < 4) return 'truncated'
      return addressFamily(d, start, lim, u32be(d, start), wire, out)
    default:
      return 'not_ip'
  }
}

function addressFamily(d: Buffer, start: number, lim: number, af: number, wire: number, out: Frame): DecodeResult {
  if (af === 2) return ipv4(d, start + 4, lim, wire, out)
  if (af === 24 || af === 28 || af === 30) return ipv6(d, start + 4, lim, wire, out)
  return 'not_ip'
}

function rawIp(d: Buffer, off: number, lim: number, wire: number, out: Frame): DecodeResult {
  if (lim <= off) return 'truncated'
  const v = d[off] >> 4
  if (v === 4) return ipv4(d, off, lim, wire, out)
  if (v === 6) return ipv6(d, off, lim, wire, out)
  return 'not_ip'
}

function ethertype(d: Buffer, off: number, lim: number, type: number, wire: number, out: Frame): DecodeResult {
  let tags = 0
  while (type === ETH_VLAN || type === ETH_QINQ || type === ETH_QINQ_OLD) {
    if (++tags > MAX_VLAN_TAGS) return 'malformed'
    if (off + 4 > lim) return 'truncated'
    out.vlans.push(((d[off] << 8) | d[off + 1]) & 0x0fff)
    type = (d[off + 2] << 8) | d[off + 3]
    off += 4
  }
  if (type === ETH_IPV4) return ipv4(d, off, lim, wire, out)
  if (type === ETH_IPV6) return ipv6(d, off, lim, wire, out)
  return 'not_ip'
}

function ipv4(d: Buffer, off: number, lim: number, wire: number, out: Frame): DecodeResult {
  if (off + 20 > lim) return 'truncated'
  const vihl = d[off]
  if (vihl >> 4 !== 4) return 'malformed'
  const ihl = (vihl & 0x0f) * 4
  if (ihl < 20) return 'malformed'
  let total = (d[off + 2] << 8) | d[off + 3]
  if (total === 0) total = wire - off // TSO/GRO: length not filled in
  if (total < ihl || off + total > wire) return 'malformed'
  if (d[off + 9] !== PROTO_TCP) return 'not_tcp'
  if ((((d[off + 6] << 8) | d[off + 7]) & 0x3fff) !== 0) return 'ip_fragment' // MF flag or offset
  if (off + ihl > lim) return 'truncated' // options cut by the snap length
  out.ipVersion = 4
  out.src = ipv4String(u32be(d, off + 12))
  out.dst = ipv4String(u32be(d, off + 16))
  return tcp(d, off + ihl, lim, off + total, out)
}

function ipv6(d: Buffer, off: number, lim: number, wire: number, out: Frame): DecodeResult {
  if (off + 40 > lim) return 'truncated'
  if (d[off] >> 4 !== 6) return 'malformed'
  const plen = (d[off + 4] << 8) | d[off + 5]
  const end = plen === 0 ? wire : off + 40 + plen // 0: jumbogram or TSO, runs to the frame's end
  if (end > wire) return 'malformed'
  let nh = d[off + 6]
  let p = off + 40
  for (let i = 0; i <= MAX_IPV6_EXT; i++) {
    switch (nh) {
      case PROTO_TCP:
        out.ipVersion = 6
        out.src = ipv6String(d, off + 8)
        out.dst = ipv6String(d, off + 24)
        return tcp(d, p, lim, end, out)
      case IPV6_HOP_BY_HOP:
      case IPV6_ROUTING:
      case IPV6_DEST_OPTS:
      case IPV6_AH: {
        if (p + 2 > end) return 'malformed'
        if (p + 2 > lim) return 'truncated'
        const len = nh === IPV6_AH ? (d[p + 1] + 2) * 4 : (d[p + 1] + 1) * 8
        nh = d[p]
        p += len
        if (p > end) return 'malformed'
        continue
      }
      case IPV6_FRAGMENT: {
        if (p + 8 > end) return 'malformed'
        if (p + 8 > lim) return 'truncated'
        nh = d[p]
        // offset (13 bits) << 3 | res (2) | M (1); offset 0 and M 0 = atomic fragment, a whole packet
        if ((((d[p + 2] << 8) | d[p + 3]) & 0xfff9) !== 0) {
          return nh === PROTO_TCP || isIpv6Ext(nh) ? 'ip_fragment' : 'not_tcp'
        }
        p += 8
        continue
      }
      case IPV6_NO_NEXT:
      default:
        return 'not_tcp'
    }
  }
  return 'malformed'
}

function isIpv6Ext(nh: number): boolean {
  return nh === IPV6_HOP_BY_HOP || nh === IPV6_ROUTING || nh === IPV6_DEST_OPTS || nh === IPV6_AH || nh === IPV6_FRAGMENT
}

/** shared empty payload: most segments are bare ACKs, and a view per packet costs ~50 ns */
const EMPTY = Buffer.alloc(0)

/**
 * The class of payload views: a Uint8Array whose prototype chain runs through Buffer.prototype, so a
 * payload is a Buffer to every reader (instanceof Buffer, Buffer.isBuffer, toString, equals,
 * subarray). Constructed directly it costs about half of d.subarray(), which loads the method from
 * Buffer.prototype (kept in dictionary mode by V8: a LoadIC call every time), reads the `buffer` and
 * `byteOffset` getters generically and validates its arguments: ~15 ns of ~35 per data packet.
 */
class PayloadView extends Uint8Array {}
Object.setPrototypeOf(PayloadView.prototype, Buffer.prototype)

/**
 * The packet buffer of the last view made, its ArrayBuffer and offset: reading them per packet is a
 * LoadIC and a runtime call (`buffer` is a getter beyond the dictionary-mode Buffer.prototype), and a
 * capture file reads every packet from one of two buffers.
 */
let viewOf: Buffer = EMPTY
let viewAb: ArrayBufferLike = EMPTY.buffer
let viewBase = 0
/** views until the two are read again from the same buffer */
let viewRefresh = 0

/** d[s, e) as a Buffer view (e > s) */
function payloadView(d: Buffer, s: number, e: number): Buffer {
  if (d !== viewOf || --viewRefresh < 0) {
    // read again every 256 views even from the same buffer: the branch runs early and often enough to
    // have type feedback when this code is optimized (else the first other buffer deoptimizes it)
    viewOf = d
    viewAb = d.buffer
    viewBase = d.byteOffset
    viewRefresh = 256
  }
  // a SharedArrayBuffer works the same
  return new PayloadView(viewAb as ArrayBuffer, viewBase + s, e - s) as Buffer
}

// Buffer.readUInt32BE validates its arguments on every call; callers here have checked the bounds
function u32be(d: Buffer, o: number): number {
  return ((d[o] << 24) | (d[o + 1] << 16) | (d[o + 2] << 8) | d[o + 3]) >>> 0
}

function u32le(d: Buffer, o: number): number {
  return ((d[o + 3] << 24) | (d[o + 2] << 16) | (d[o + 1] << 8) | d[o]) >>> 0
}

/**
 * TCP header at d[off]; the IP datagram ends at `end` (on the wire), the captured bytes at `lim`
 * (the capture may stop earlier).
 */
function tcp(d: Buffer, off: number, lim: number, end: number, out: Frame): DecodeResult {
  if (off + 20 > end) return 'malformed'
  if (off + 20 > lim) return 'truncated'
  const hl = (d[off + 12] >> 4) * 4
  if (hl < 20 || off + hl > end) return 'malformed'
  out.srcPort = (d[off] << 8) | d[off + 1]
  out.dstPort = (d[off + 2] << 8) | d[off + 3]
  out.seq = u32be(d, off + 4)
  out.ack = u32be(d, off + 8)
  out.flags = d[off + 13]
  out.window = (d[off + 14] << 8) | d[off + 15]
  // options cut by the snap length lose nothing we use: the payload is then empty and all of it a gap
  const start = off + hl
  const capEnd = end < lim ? end : lim
  out.payload = start < capEnd ? payloadView(d, start, capEnd) : EMPTY
  out.payloadLen = end - start
  return 'ok'
}

// ---- address strings ----
// The same few addresses repeat packet after packet, so each family has a small direct-mapped cache:
// a hit costs a hash and a compare, a miss builds the string and replaces that slot. Bounded memory.

const V4_BITS = 12
const V4_SLOTS = 1 << V4_BITS
const v4Keys = new Float64Array(V4_SLOTS).fill(-1) // -1: empty (keys are u32)
const v4Vals: string[] = new Array<string>(V4_SLOTS).fill('')
const DEC: string[] = Array.from({ length: 256 }, (_, i) => String(i))

/** Dotted quad of an address held as an unsigned 32-bit number (network order: first octet high). */
export function ipv4String(a: number): string {
  const slot = Math.imul(a, 0x9e3779b1) >>> (32 - V4_BITS) // Fibonacci hashing
  if (v4Keys[slot] === a) return v4Vals[slot]
  const s = DEC[a >>> 24] + '.' + DEC[(a >>> 16) & 0xff] + '.' + DEC[(a >>> 8) & 0xff] + '.' + DEC[a & 0xff]
  v4Keys[slot] = a
  v4Vals[slot] = s
  return s
}

const V6_BITS = 10
const V6_SLOTS = 1 << V6_BITS
const v6Keys = new Uint32Array(V6_SLOTS * 4)
const v6Vals: string[] = new Array<string>(V6_SLOTS).fill('') // '': empty

/** RFC 5952 text of the 16-byte address at d[off] (d must hold it). */
export function ipv6String(d: Buffer, off: number): string {
  const w0 = u32be(d, off)
  const w1 = u32be(d, off + 4)
  const w2 = u32be(d, off + 8)
  const w3 = u32be(d, off + 12)
  const slot = Math.imul(w0 ^ Math.imul(w1, 31) ^ Math.imul(w2, 961) ^ Math.imul(w3, 0x9e3779b1), 0x85ebca6b) >>> (32 - V6_BITS)
  const k = slot * 4
  if (v6Keys[k] === w0 && v6Keys[k + 1] === w1 && v6Keys[k + 2] === w2 && v6Keys[k + 3] === w3 && v6Vals[slot] !== '') {
    return v6Vals[slot]
  }
  const s = formatIpv6(w0, w1, w2, w3)
  v6Keys[k] = w0
  v6Keys[k + 1] = w1
  v6Keys[k + 2] = w2
  v6Keys[k + 3] = w3
  v6Vals[slot] = s
  return s
}

/**
 * RFC 5952 §4: lower-case hex, no leading zeros, the longest run of two or more zero groups (the
 * first of equal runs) as '::'. §5: IPv4-mapped addresses (::ffff:0:0/96) end in dotted quad.
 */
function formatIpv6(w0: number, w1: number, w2: number, w3: number): string {
  if (w0 === 0 && w1 === 0 && w2 === 0xffff) {
    return '::ffff:' + DEC[w3 >>> 24] + '.' + DEC[(w3 >>> 16) & 0xff] + '.' + DEC[(w3 >>> 8) & 0xff] + '.' + DEC[w3 & 0xff]
  }
  const g = [w0 >>> 16, w0 & 0xffff, w1 >>> 16, w1 & 0xffff, w2 >>> 16, w2 & 0xffff, w3 >>> 16, w3 & 0xffff]
  let bestAt = -1
  let bestLen = 1 // a single zero group is not shortened (§4.2.2)
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++
      continue
    }
    let j = i
    while (j < 8 && g[j] === 0) j++
    if (j - i > bestLen) {
      bestAt = i
      bestLen = j - i
    }
    i = j
  }
  if (bestAt < 0) return g.map((x) => x.toString(16)).join(':')
  let s = ''
  for (let i = 0; i < bestAt; i++) s += (i > 0 ? ':' : '') + g[i].toString(16)
  s += '::'
  for (let i = bestAt + bestLen; i < 8; i++) s += (i > bestAt + bestLen ? ':' : '') + g[i].toString(16)
  return s
}
