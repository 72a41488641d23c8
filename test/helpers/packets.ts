// Packet and capture-file builders for tests. Build wire bytes from fields instead of pasting hex:
//
//   const pkts = new TcpConversation({ client: { ip: '10.0.0.1', port: 40000 }, server: { ip: '10.0.0.2', port: 80 } })
//     .handshake()
//     .send('c2s', 'GET / HTTP/1.1\r\nHost: x\r\n\r\n')
//     .send('s2c', 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n')
//     .close()
//     .packets
//   writePcap(path, pkts)            // Ethernet pcap, readable by podtap, tcpdump and tshark
//
// Lower level: ethIpv4Tcp / ethIpv6Tcp (Ethernet frames, optional VLAN tags), ipv4Tcp / ipv6Tcp (bare IP
// packets for RAW link types), linkSll / linkSll2 / linkNull / linkLoop to wrap them for other link
// types, and pcapng block builders for reader tests. Checksums are filled in (tshark shows them valid).

import { PcapWriter, type PcapWriterOptions } from '../../src/capture/pcap-writer.js'
import { TcpFlag } from '../../src/capture/frame.js'

// ---------------------------------------------------------------- addresses

/** Parses '10.0.0.1' to 4 bytes. */
export function ipv4Bytes(ip: string): Buffer {
  const parts = ip.split('.')
  if (parts.length !== 4) throw new Error(`bad IPv4 address ${ip}`)
  return Buffer.from(parts.map((p) => {
    const n = Number(p)
    if (!Number.isInteger(n) || n < 0 || n > 255 || p === '') throw new Error(`bad IPv4 address ${ip}`)
    return n
  }))
}

/** Parses any IPv6 text form ('2001:db8::1', '::ffff:1.2.3.4') to 16 bytes. */
export function ipv6Bytes(ip: string): Buffer {
  let s = ip
  if (s.includes('.')) {
    // trailing dotted quad: rewrite it as the last two hex groups
    const colon = s.lastIndexOf(':')
    const q = ipv4Bytes(s.slice(colon + 1))
    s = s.slice(0, colon + 1) + q.readUInt16BE(0).toString(16) + ':' + q.readUInt16BE(2).toString(16)
  }
  const halves = s.split('::')
  if (halves.length > 2) throw new Error(`bad IPv6 address ${ip}`)
  const parse = (h: string) => (h === '' ? [] : h.split(':').map((g) => {
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) throw new Error(`bad IPv6 address ${ip}`)
    return parseInt(g, 16)
  }))
  const head = parse(halves[0])
  const rest = halves.length === 2 ? parse(halves[1]) : []
  let groups: number[]
  if (halves.length === 2) {
    const fill = 8 - head.length - rest.length
    if (fill < 1) throw new Error(`bad IPv6 address ${ip}`)
    groups = [...head, ...new Array<number>(fill).fill(0), ...rest]
  } else {
    groups = head
  }
  if (groups.length !== 8) throw new Error(`bad IPv6 address ${ip}`)
  const b = Buffer.alloc(16)
  groups.forEach((g, i) => b.writeUInt16BE(g, i * 2))
  return b
}

// ---------------------------------------------------------------- TCP / IP

export interface TcpSpec {
  src: string
  dst: string
  sport: number
  dport: number
  /** default 0 */
  seq?: number
  /** default 0 */
  ack?: number
  /** TcpFlag bits, or letters as tcpdump prints them: 'S' SYN, 'A' or '.' ACK, 'P' PSH, 'F' FIN, 'R' RST, 'U' URG, 'E' ECE, 'W' CWR. Default 'PA' with a payload, 'A' without. */
  flags?: number | string
  payload?: Buffer | string
  /** default 65535 */
  window?: number
  /** raw TCP options (padded with NOPs... zeros to a multiple of 4) */
  tcpOptions?: Buffer
  /** IPv4 only: raw IP options (padded to a multiple of 4) */
  ipOptions?: Buffer
  /** default 64 */
  ttl?: number
  /** IPv4 identification, default 0 */
  ipId?: number
  /** IPv4: set DF (default true) */
  dontFragment?: boolean
  /** 802.1Q tags for eth* builders, outermost first; a number is one tag */
  vlan?: number | number[]
  /** ethertype of the VLAN tags; default 0x8100 */
  vlanTpid?: number
  /** IPv6 only: extension headers placed before TCP, in order */
  ipv6Ext?: Ipv6ExtSpec[]
}

export type Ipv6ExtSpec =
  | { type: 'hop' | 'dest' | 'routing'; bytes?: number }
  | { type: 'fragment'; offset?: number; more?: boolean; id?: number }
  | { type: 'ah'; icvBytes?: number }

/** TcpFlag bits from tcpdump-style letters ('SA', 'PA', 'F.'). */
export function tcpFlags(f: number | string | undefined, hasPayload: boolean): number {
  if (typeof f === 'number') return f
  if (f === undefined) return hasPayload ? TcpFlag.PSH | TcpFlag.ACK : TcpFlag.ACK
  let bits = 0
  for (const c of f) {
    const b = ({ S: TcpFlag.SYN, A: TcpFlag.ACK, '.': TcpFlag.ACK, P: TcpFlag.PSH, F: TcpFlag.FIN, R: TcpFlag.RST, U: TcpFlag.URG, E: TcpFlag.ECE, W: TcpFlag.CWR } as Record<string, number>)[c]
    if (b === undefined) throw new Error(`unknown TCP flag letter ${c}`)
    bits |= b
  }
  return bits
}

function pad4(b: Buffer | undefined): Buffer {
  if (!b || b.length === 0) return Buffer.alloc(0)
  const n = (b.length + 3) & ~3
  return n === b.length ? b : Buffer.concat([b, Buffer.alloc(n - b.length)])
}

function toBuf(p: Buffer | string | undefined): Buffer {
  return p === undefined ? Buffer.alloc(0) : typeof p === 'string' ? Buffer.from(p, 'latin1') : p
}

/** One's-complement sum of 16-bit words (RFC 1071), not yet inverted. */
function sum16(b: Buffer, acc = 0): number {
  for (let i = 0; i + 1 < b.length; i += 2) acc += (b[i] << 8) | b[i + 1]
  if (b.length & 1) acc += b[b.length - 1] << 8
  return acc
}

function fold(acc: number): number {
  while (acc > 0xffff) acc = (acc & 0xffff) + Math.floor(acc / 0x10000)
  return ~acc & 0xffff
}

/** The TCP header + payload, checksum computed over the pseudo-header of src/dst. */
function tcpSegment(spec: TcpSpec, src: Buffer, dst: Buffer): Buffer {
  const payload = toBuf(spec.payload)
  const opts = pad4(spec.tcpOptions)
  const hl = 20 + opts.length
  if (hl > 60) throw new Error('TCP options longer than 40 bytes')
  const t = Buffer.alloc(hl + payload.length)
  t.writeUInt16BE(spec.sport, 0)
  t.writeUInt16BE(spec.dport, 2)
  t.writeUInt32BE((spec.seq ?? 0) >>> 0, 4)
  t.writeUInt32BE((spec.ack ?? 0) >>> 0, 8)
  t[12] = (hl / 4) << 4
  t[13] = tcpFlags(spec.flags, payload.length > 0)
  t.writeUInt16BE(spec.window ?? 65535, 14)
  opts.copy(t, 20)
  payload.copy(t, hl)
  // pseudo-header: src, dst, zero, protocol 6, TCP length (IPv4 RFC 9293 §3.1; IPv6 RFC 8200 §8.1)
  let acc = sum16(src) + sum16(dst) + 6 + t.length
  acc = sum16(t, acc)
  t.writeUInt16BE(fold(acc), 16)
  return t
}

/** A bare IPv4 packet carrying one TCP segment. */
export function ipv4Tcp(spec: TcpSpec): Buffer {
  const src = ipv4Bytes(spec.src)
  const dst = ipv4Bytes(spec.dst)
  const tcp = tcpSegment(spec, src, dst)
  const opts = pad4(spec.ipOptions)
  const ihl = 20 + opts.length
  const ip = Buffer.alloc(ihl + tcp.length)
  ip[0] = 0x40 | (ihl / 4)
  ip.writeUInt16BE(ip.length, 2)
  ip.writeUInt16BE(spec.ipId ?? 0, 4)
  ip.writeUInt16BE(spec.dontFragment === false ? 0 : 0x4000, 6)
  ip[8] = spec.ttl ?? 64
  ip[9] = 6
  src.copy(ip, 12)
  dst.copy(ip, 16)
  opts.copy(ip, 20)
  ip.writeUInt16BE(fold(sum16(ip.subarray(0, ihl))), 10)
  tcp.copy(ip, ihl)
  return ip
}

/** A bare IPv6 packet carrying one TCP segment, after the extension headers of spec.ipv6Ext. */
export function ipv6Tcp(spec: TcpSpec): Buffer {
  const src = ipv6Bytes(spec.src)
  const dst = ipv6Bytes(spec.dst)
  const tcp = tcpSegment(spec, src, dst)
  const exts = spec.ipv6Ext ?? []
  const extBufs: Buffer[] = []
  const codes = exts.map((e) => ({ hop: 0, routing: 43, fragment: 44, ah: 51, dest: 60 })[e.type])
  exts.forEach((e, i) => {
    const next = i + 1 < exts.length ? codes[i + 1] : 6
    let b: Buffer
    if (e.type === 'fragment') {
      b = Buffer.alloc(8)
      b.writeUInt16BE(((e.offset ?? 0) << 3) | (e.more ? 1 : 0), 2)
      b.writeUInt32BE(e.id ?? 1, 4)
    } else if (e.type === 'ah') {
      const len = 12 + (e.icvBytes ?? 12) // next, len, reserved(2), SPI(4), seq(4), ICV
      b = Buffer.alloc(len)
      b[1] = len / 4 - 2
    } else {
      // hop-by-hop / destination options: one PadN option filling the header (RFC 8200 §4.2);
      // routing: type 0, segments left 0 (ignored by receivers when nothing is left)
      const len = Math.max(8, ((e.bytes ?? 8) + 7) & ~7)
      b = Buffer.alloc(len)
      b[1] = len / 8 - 1
      if (e.type !== 'routing') {
        b[2] = 1
        b[3] = len - 4
      }
    }
    b[0] = next
    extBufs.push(b)
  })
  const ext = Buffer.concat(extBufs)
  const ip = Buffer.alloc(40 + ext.length + tcp.length)
  ip.writeUInt32BE(0x60000000, 0)
  ip.writeUInt16BE(ext.length + tcp.length, 4)
  ip[6] = exts.length ? codes[0] : 6
  ip[7] = spec.ttl ?? 64
  src.copy(ip, 8)
  dst.copy(ip, 24)
  ext.copy(ip, 40)
  tcp.copy(ip, 40 + ext.length)
  return ip
}

export const ETHERTYPE_IPV4 = 0x0800
export const ETHERTYPE_IPV6 = 0x86dd

/** An Ethernet frame: 02:00:00:00:00:02 <- 02:00:00:00:00:01, optional VLAN tags, then payload. */
export function ethFrame(ethertype: number, payload: Buffer, vlan?: number | number[], tpid = 0x8100): Buffer {
  const tags = vlan === undefined ? [] : Array.isArray(vlan) ? vlan : [vlan]
  const h = Buffer.alloc(14 + 4 * tags.length)
  Buffer.from([2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1]).copy(h, 0)
  let o = 12
  for (const t of tags) {
    h.writeUInt16BE(tpid, o)
    h.writeUInt16BE(t & 0x0fff, o + 2)
    o += 4
  }
  h.writeUInt16BE(ethertype, o)
  return Buffer.concat([h, payload])
}

/** Ethernet + IPv4 + TCP. */
export function ethIpv4Tcp(spec: TcpSpec): Buffer {
  return ethFrame(ETHERTYPE_IPV4, ipv4Tcp(spec), spec.vlan, spec.vlanTpid)
}

/** Ethernet + IPv6 (+ extension headers) + TCP. */
export function ethIpv6Tcp(spec: TcpSpec): Buffer {
  return ethFrame(ETHERTYPE_IPV6, ipv6Tcp(spec), spec.vlan, spec.vlanTpid)
}

/** Ethernet, IPv4 or IPv6 by the source address's form. */
export function ethTcp(spec: TcpSpec): Buffer {
  return spec.src.includes(':') ? ethIpv6Tcp(spec) : ethIpv4Tcp(spec)
}

/** Linux cooked header v1 (LINKTYPE_LINUX_SLL 113) around an IP packet. */
export function linkSll(protocol: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(16)
  h.writeUInt16BE(0, 0) // packet type: to us
  h.writeUInt16BE(1, 2) // ARPHRD_ETHER
  h.writeUInt16BE(6, 4)
  Buffer.from([2, 0, 0, 0, 0, 1]).copy(h, 6)
  h.writeUInt16BE(protocol, 14)
  return Buffer.concat([h, payload])
}

/** Linux cooked header v2 (LINKTYPE_LINUX_SLL2 276) around an IP packet. */
export function linkSll2(protocol: number, payload: Buffer, ifindex = 2): Buffer {
  const h = Buffer.alloc(20)
  h.writeUInt16BE(protocol, 0)
  h.writeUInt32BE(ifindex, 4)
  h.writeUInt16BE(1, 8) // ARPHRD_ETHER
  h[10] = 0 // packet type
  h[11] = 6
  Buffer.from([2, 0, 0, 0, 0, 1]).copy(h, 12)
  return Buffer.concat([h, payload])
}

/** BSD loopback (LINKTYPE_NULL 0): address family in host order (littleEndian picks which). */
export function linkNull(family: number, payload: Buffer, littleEndian = true): Buffer {
  const h = Buffer.alloc(4)
  if (littleEndian) h.writeUInt32LE(family)
  else h.writeUInt32BE(family)
  return Buffer.concat([h, payload])
}

/** OpenBSD loopback (LINKTYPE_LOOP 108): address family in network order. */
export function linkLoop(family: number, payload: Buffer): Buffer {
  return linkNull(family, payload, false)
}

// ---------------------------------------------------------------- capture files

export interface PcapPacket {
  /** µs since the epoch */
  tsUs: number
  data: Buffer
  /** wire length, default data.length */
  origLen?: number
}

/** Writes `packets` as a classic pcap (µs, little endian; Ethernet unless opts.linkType). */
export function writePcap(path: string, packets: PcapPacket[], opts: PcapWriterOptions = {}): void {
  const w = new PcapWriter(path, opts)
  try {
    for (const p of packets) w.write(p.tsUs, p.data, p.origLen ?? p.data.length)
  } finally {
    w.close()
  }
}

export interface PcapBytesOptions {
  /** byte order of the file; default true (little endian) */
  le?: boolean
  /** nanosecond magic (a1b23c4d); timestamps are then written as ts_nsec = (tsUs % 1e6) * 1000 + nsExtra */
  nanos?: boolean
  /** Kuznetsov "modified pcap" magic (a1b2cd34): 8 more bytes per record header */
  modified?: boolean
  /** the 32-bit link-type field as written (upper bits may carry FCS info); default 1 */
  linkType?: number
  /** default 262144 */
  snaplen?: number
}

/**
 * A classic pcap file as bytes, in either byte order and resolution (PcapWriter only writes the
 * common little-endian µs form). For reader tests; write it with fs.writeFileSync.
 */
export function pcapFileBytes(packets: (PcapPacket & { nsExtra?: number })[], o: PcapBytesOptions = {}): Buffer {
  const le = o.le ?? true
  const hl = o.modified ? 24 : 16
  const parts: Buffer[] = []
  const h = Buffer.alloc(24)
  const w32 = (b: Buffer, v: number, at: number) => (le ? b.writeUInt32LE(v >>> 0, at) : b.writeUInt32BE(v >>> 0, at))
  const w16 = (b: Buffer, v: number, at: number) => (le ? b.writeUInt16LE(v, at) : b.writeUInt16BE(v, at))
  w32(h, o.modified ? 0xa1b2cd34 : o.nanos ? 0xa1b23c4d : 0xa1b2c3d4, 0)
  w16(h, 2, 4)
  w16(h, 4, 6)
  w32(h, o.snaplen ?? 262144, 16)
  w32(h, o.linkType ?? 1, 20)
  parts.push(h)
  for (const p of packets) {
    const r = Buffer.alloc(hl)
    const sec = Math.floor(p.tsUs / 1e6)
    const us = p.tsUs - sec * 1e6
    w32(r, sec, 0)
    w32(r, o.nanos ? us * 1000 + (p.nsExtra ?? 0) : us, 4)
    w32(r, p.data.length, 8)
    w32(r, p.origLen ?? p.data.length, 12)
    if (o.modified) w32(r, 7, 16) // ifindex
    parts.push(r, p.data)
  }
  return Buffer.concat(parts)
}

export interface Endpoint {
  ip: string
  port: number
}

export interface ConversationOptions {
  client: Endpoint
  server: Endpoint
  /** time of the first packet, µs; default 1_700_000_000_000_000 (2023-11-14) */
  startUs?: number
  /** time between packets, µs; default 1000 */
  stepUs?: number
  clientIsn?: number
  serverIsn?: number
  /** segment size for send(); default 1460 */
  mss?: number
  vlan?: number | number[]
}

/**
 * A scripted TCP connection as Ethernet frames, keeping sequence and acknowledgement numbers right.
 * Every call appends packets and returns `this`; read `.packets` at the end.
 */
export class TcpConversation {
  readonly packets: PcapPacket[] = []
  private tsUs: number
  private readonly step: number
  private readonly mss: number
  /** next sequence number of each side */
  private seq: { c2s: number; s2c: number }

  constructor(private readonly o: ConversationOptions) {
    this.tsUs = o.startUs ?? 1_700_000_000_000_000
    this.step = o.stepUs ?? 1000
    this.mss = o.mss ?? 1460
    this.seq = { c2s: (o.clientIsn ?? 1000) >>> 0, s2c: (o.serverIsn ?? 5000) >>> 0 }
  }

  /** current time, µs: the timestamp of the next packet */
  get nowUs(): number {
    return this.tsUs
  }

  /** Moves the clock forward. */
  wait(us: number): this {
    this.tsUs += us
    return this
  }

  /** SYN, SYN-ACK, ACK. */
  handshake(): this {
    this.segment('c2s', 'S', Buffer.alloc(0), { ackless: true })
    this.seq.c2s = (this.seq.c2s + 1) >>> 0
    this.segment('s2c', 'SA', Buffer.alloc(0))
    this.seq.s2c = (this.seq.s2c + 1) >>> 0
    return this.segment('c2s', 'A', Buffer.alloc(0))
  }

  /** Data from one side in mss-sized PSH|ACK segments (opts.mss overrides). */
  send(dir: 'c2s' | 's2c', data: Buffer | string, opts: { mss?: number } = {}): this {
    const b = toBuf(data)
    const mss = opts.mss ?? this.mss
    for (let off = 0; off < b.length; off += mss) {
      const piece = b.subarray(off, Math.min(b.length, off + mss))
      this.segment(dir, 'PA', piece)
      this.seq[dir] = (this.seq[dir] + piece.length) >>> 0
    }
    return this
  }

  /** A bare ACK from `dir`. */
  ack(dir: 'c2s' | 's2c'): this {
    return this.segment(dir, 'A', Buffer.alloc(0))
  }

  /** FIN|ACK from `dir`. */
  fin(dir: 'c2s' | 's2c'): this {
    this.segment(dir, 'FA', Buffer.alloc(0))
    this.seq[dir] = (this.seq[dir] + 1) >>> 0
    return this
  }

  /** RST from `dir`. */
  rst(dir: 'c2s' | 's2c'): this {
    return this.segment(dir, 'R', Buffer.alloc(0), { ackless: true })
  }

  /** FIN from the client, FIN from the server, last ACK. */
  close(): this {
    return this.fin('c2s').fin('s2c').ack('c2s')
  }

  /** Writes the packets so far as a pcap. */
  writePcap(path: string): void {
    writePcap(path, this.packets)
  }

  /** A raw segment from `dir` with the current sequence numbers (for retransmissions, odd flags). */
  segment(dir: 'c2s' | 's2c', flags: string | number, payload: Buffer, opts: { ackless?: boolean; seq?: number } = {}): this {
    const from = dir === 'c2s' ? this.o.client : this.o.server
    const to = dir === 'c2s' ? this.o.server : this.o.client
    const other = dir === 'c2s' ? 's2c' : 'c2s'
    const data = ethTcp({
      src: from.ip, dst: to.ip, sport: from.port, dport: to.port,
      seq: opts.seq ?? this.seq[dir], ack: opts.ackless ? 0 : this.seq[other],
      flags, payload, vlan: this.o.vlan,
    })
    this.packets.push({ tsUs: this.tsUs, data })
    this.tsUs += this.step
    return this
  }
}

// ---------------------------------------------------------------- pcapng blocks
// For reader tests: build blocks, Buffer.concat them, write the file. Every builder takes the
// section's byte order.

export interface PcapngOption {
  code: number
  value: Buffer
}

function block(type: number, body: Buffer, le: boolean): Buffer {
  const padded = pad4(body)
  const len = 12 + padded.length
  const b = Buffer.alloc(len)
  if (le) {
    b.writeUInt32LE(type, 0)
    b.writeUInt32LE(len, 4)
    b.writeUInt32LE(len, len - 4)
  } else {
    b.writeUInt32BE(type, 0)
    b.writeUInt32BE(len, 4)
    b.writeUInt32BE(len, len - 4)
  }
  padded.copy(b, 8)
  return b
}

function options(opts: PcapngOption[], le: boolean): Buffer {
  if (opts.length === 0) return Buffer.alloc(0)
  const parts: Buffer[] = []
  for (const o of [...opts, { code: 0, value: Buffer.alloc(0) }]) {
    const h = Buffer.alloc(4)
    if (le) {
      h.writeUInt16LE(o.code, 0)
      h.writeUInt16LE(o.value.length, 2)
    } else {
      h.writeUInt16BE(o.code, 0)
      h.writeUInt16BE(o.value.length, 2)
    }
    parts.push(h, pad4(o.value))
  }
  return Buffer.concat(parts)
}

/** Section Header Block. */
export function pcapngShb(le = true, opts: PcapngOption[] = []): Buffer {
  const b = Buffer.alloc(16)
  if (le) {
    b.writeUInt32LE(0x1a2b3c4d, 0)
    b.writeUInt16LE(1, 4)
    b.writeUInt16LE(0, 6)
  } else {
    b.writeUInt32BE(0x1a2b3c4d, 0)
    b.writeUInt16BE(1, 4)
    b.writeUInt16BE(0, 6)
  }
  b.writeBigInt64LE(-1n, 8) // section length unknown (same bytes in both orders)
  return block(0x0a0d0d0a, Buffer.concat([b, options(opts, le)]), le)
}

/**
 * Interface Description Block. tsresol: the if_tsresol byte (6 µs, 9 ns, 0x80|n for 2^-n);
 * tsoffsetSec: if_tsoffset seconds.
 */
export function pcapngIdb(linkType: number, o: { le?: boolean; snaplen?: number; tsresol?: number; tsoffsetSec?: number } = {}): Buffer {
  const le = o.le ?? true
  const b = Buffer.alloc(8)
  if (le) {
    b.writeUInt16LE(linkType, 0)
    b.writeUInt32LE(o.snaplen ?? 0, 4)
  } else {
    b.writeUInt16BE(linkType, 0)
    b.writeUInt32BE(o.snaplen ?? 0, 4)
  }
  const opts: PcapngOption[] = []
  if (o.tsresol !== undefined) opts.push({ code: 9, value: Buffer.from([o.tsresol]) })
  if (o.tsoffsetSec !== undefined) {
    const v = Buffer.alloc(8)
    if (le) v.writeBigInt64LE(BigInt(o.tsoffsetSec))
    else v.writeBigInt64BE(BigInt(o.tsoffsetSec))
    opts.push({ code: 14, value: v })
  }
  return block(1, Buffer.concat([b, options(opts, le)]), le)
}

/** Enhanced Packet Block; ts is in the interface's units (a bigint, since ns values pass 2^53). */
export function pcapngEpb(ifid: number, ts: bigint, data: Buffer, o: { le?: boolean; origLen?: number; opts?: PcapngOption[] } = {}): Buffer {
  const le = o.le ?? true
  const h = Buffer.alloc(20)
  const w = (v: number, at: number) => (le ? h.writeUInt32LE(v >>> 0, at) : h.writeUInt32BE(v >>> 0, at))
  w(ifid, 0)
  w(Number(ts >> 32n), 4)
  w(Number(ts & 0xffffffffn), 8)
  w(data.length, 12)
  w(o.origLen ?? data.length, 16)
  return block(6, Buffer.concat([h, pad4(data), options(o.opts ?? [], le)]), le)
}

/** Obsolete Packet Block (type 2). */
export function pcapngPb(ifid: number, ts: bigint, data: Buffer, o: { le?: boolean; origLen?: number } = {}): Buffer {
  const le = o.le ?? true
  const h = Buffer.alloc(20)
  if (le) h.writeUInt16LE(ifid, 0)
  else h.writeUInt16BE(ifid, 0)
  const w = (v: number, at: number) => (le ? h.writeUInt32LE(v >>> 0, at) : h.writeUInt32BE(v >>> 0, at))
  w(Number(ts >> 32n), 4)
  w(Number(ts & 0xffffffffn), 8)
  w(data.length, 12)
  w(o.origLen ?? data.length, 16)
  return block(2, Buffer.concat([h, pad4(data)]), le)
}

/** Simple Packet Block (interface 0, no timestamp). */
export function pcapngSpb(data: Buffer, o: { le?: boolean; origLen?: number } = {}): Buffer {
  const le = o.le ?? true
  const h = Buffer.alloc(4)
  if (le) h.writeUInt32LE(o.origLen ?? data.length)
  else h.writeUInt32BE(o.origLen ?? data.length)
  return block(3, Buffer.concat([h, pad4(data)]), le)
}

/** Any other block (NRB 4, ISB 5, DSB 10, custom 0xbad/0x40000bad): readers skip these. */
export function pcapngOther(type: number, body: Buffer, le = true): Buffer {
  return block(type, body, le)
}
