// One copy of each packet between two captured veths. Traffic between two network namespaces whose
// host-side veths are both captured (pods of one node, the demo's web tier calling its cache) passes
// both veths: the same packet, byte-identical, microseconds apart. The flow key has no ifindex, so
// both copies would reach the pipeline and every segment would count twice (as a retransmission).
// The rule (docs/architecture.md "Pods on one node: every packet is seen twice"): keep the copy on
// the veth of the listening side (the lower port; equal ports: the lower ifindex), drop the other,
// without per-flow state; drop only when the kept side's ring was open at the packet's time.
// Used by K8sAttachment.accept (src/k8s/attach.ts) and by `podtap demo` (VethCopies below).

import { isIPv4 } from 'node:net'
import { LinkType, type Packet } from './source.js'

/** Which veth an address's packets are captured on, and from when. */
export interface Owner {
  ifindex: number
  /** capture time (µs) from which this veth's ring sees the address's packets */
  sinceUs: number
}

/** Addresses in the forms accept() compares without allocating: IPv4 as a uint32, IPv6 as 32 hex digits. */
export function ipKey(ip: string): number | string {
  if (isIPv4(ip)) {
    const p = ip.split('.')
    return ((+p[0]! << 24) >>> 0) + (+p[1]! << 16) + (+p[2]! << 8) + +p[3]!
  }
  // expand '::' and write every group as 4 hex digits
  const [head, tail] = ip.includes('::') ? ip.split('::') : [ip, undefined]
  const h = head ? head.split(':') : []
  const t = tail !== undefined && tail !== '' ? tail.split(':') : []
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t]
  return groups.map((g) => g.padStart(4, '0').toLowerCase()).join('')
}

export const TCP_SYN = 0x02
export const TCP_ACK = 0x10

/** What accept() reads of a packet; one object, reused. */
export interface Peek {
  v: 0 | 4 | 6
  src4: number
  dst4: number
  src6: string
  dst6: string
  sport: number
  dport: number
  /** -1 when the ports could not be read (fragment, extension headers) */
  flags: number
}

export function newPeek(): Peek {
  return { v: 0, src4: 0, dst4: 0, src6: '', dst6: '', sport: 0, dport: 0, flags: -1 }
}

/** Reads the addresses, ports and TCP flags of an Ethernet/VLAN or raw IP packet into `o`. */
export function peek(p: Packet, o: Peek): void {
  const d = p.data
  o.v = 0
  o.flags = -1
  let off = 0
  let type: number
  if (p.linkType === LinkType.ETHERNET) {
    if (d.length < 14) return
    type = d.readUInt16BE(12)
    off = 14
    while ((type === 0x8100 || type === 0x88a8) && d.length >= off + 4) {
      type = d.readUInt16BE(off + 2)
      off += 4
    }
  } else if (p.linkType === LinkType.RAW) {
    if (d.length < 1) return
    type = d[0]! >> 4 === 6 ? 0x86dd : 0x0800
  } else return
  if (type === 0x0800) {
    if (d.length < off + 20) return
    o.v = 4
    o.src4 = d.readUInt32BE(off + 12)
    o.dst4 = d.readUInt32BE(off + 16)
    const ihl = (d[off]! & 0x0f) * 4
    const frag = d.readUInt16BE(off + 6) & 0x1fff
    const t = off + ihl
    if (d[off + 9] === 6 && frag === 0 && d.length >= t + 14) {
      o.sport = d.readUInt16BE(t)
      o.dport = d.readUInt16BE(t + 2)
      o.flags = d[t + 13]!
    }
  } else if (type === 0x86dd) {
    if (d.length < off + 40) return
    o.v = 6
    o.src6 = d.toString('hex', off + 8, off + 24)
    o.dst6 = d.toString('hex', off + 24, off + 40)
    const t = off + 40
    if (d[off + 6] === 6 && d.length >= t + 14) {
      o.sport = d.readUInt16BE(t)
      o.dport = d.readUInt16BE(t + 2)
      o.flags = d[t + 13]!
    }
  }
}

/** ip:port of the packet's source (or destination) as a map key: a number for IPv4 (ip * 65536 + port, < 2^48) */
export function endpointKey(k: Peek, source: boolean): number | string {
  if (k.v === 4) return (source ? k.src4 : k.dst4) * 65536 + (source ? k.sport : k.dport)
  return `${source ? k.src6 : k.dst6}:${source ? k.sport : k.dport}`
}

/**
 * A packet whose source and destination are both captured on their own veths (src.ifindex !==
 * dst.ifindex), seen on one of them: 'keep' on the listening side's veth (the lower port; equal
 * ports or no ports: the lower ifindex), 'drop' on the other when the kept side was capturing at
 * the packet's time, else 'only' (the kept side's ring was not open yet: this is the only copy). A wrong guess of the listening side costs
 * nothing (the copies are identical); the rule only has to pick the same veth for both directions.
 */
export function copyVerdict(p: Packet, k: Peek, src: Owner, dst: Owner): 'keep' | 'drop' | 'only' {
  const keepOn = k.flags < 0 || k.sport === k.dport ? (src.ifindex < dst.ifindex ? src : dst) : k.sport < k.dport ? src : dst
  if (p.ifindex === keepOn.ifindex) return 'keep'
  return p.tsUs >= keepOn.sinceUs ? 'drop' : 'only'
}

/**
 * The rule alone, for captures whose addresses and veths are known up front (`podtap demo`): own()
 * each namespace's addresses with its host veth, then accept() every packet in capture order.
 * No allocation per IPv4 packet.
 */
export class VethCopies {
  private readonly owner4 = new Map<number, Owner>()
  private readonly owner6 = new Map<string, Owner>()
  private readonly pk = newPeek()
  /** second copies left out */
  dropped = 0

  /** Packets of `ip` are captured on `ifindex` from capture time sinceUs (default: always). */
  own(ip: string, ifindex: number, sinceUs = 0): void {
    const k = ipKey(ip)
    if (typeof k === 'number') this.owner4.set(k, { ifindex, sinceUs })
    else this.owner6.set(k, { ifindex, sinceUs })
  }

  /** false: the second copy of a packet between two owned addresses on different veths. */
  accept(p: Packet): boolean {
    const k = this.pk
    peek(p, k)
    if (k.v === 0) return true
    const src = k.v === 4 ? this.owner4.get(k.src4) : this.owner6.get(k.src6)
    const dst = k.v === 4 ? this.owner4.get(k.dst4) : this.owner6.get(k.dst6)
    if (src === undefined || dst === undefined || src.ifindex === dst.ifindex) return true
    if (p.ifindex !== src.ifindex && p.ifindex !== dst.ifindex) return true
    if (copyVerdict(p, k, src, dst) !== 'drop') return true
    this.dropped++
    return false
  }
}
