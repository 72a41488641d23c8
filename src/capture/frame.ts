// One decoded TCP segment. decode() fills a caller-owned Frame in place (one object reused for every
// packet, like gopacket's DecodingLayerParser), so the hot path allocates nothing but the IP strings.

export const TcpFlag = {
  FIN: 0x01,
  SYN: 0x02,
  RST: 0x04,
  PSH: 0x08,
  ACK: 0x10,
  URG: 0x20,
  ECE: 0x40,
  CWR: 0x80,
} as const

export interface Frame {
  tsUs: number
  ifindex: number
  ipVersion: 4 | 6
  /** textual addresses: '10.0.0.1', '2001:db8::1' (RFC 5952 form for IPv6) */
  src: string
  dst: string
  srcPort: number
  dstPort: number
  /** TCP sequence and acknowledgement numbers, unsigned 32-bit */
  seq: number
  ack: number
  /** TcpFlag bits */
  flags: number
  window: number
  /** captured TCP payload: a view into the packet's data, valid as long as the Packet is */
  payload: Buffer
  /**
   * payload length on the wire, from the IP header. Greater than payload.length when the snap length
   * cut the packet: the missing tail is a gap for reassembly, not an error.
   */
  payloadLen: number
  /** VLAN ids seen, outermost first (empty when untagged) */
  vlans: number[]
}

export function newFrame(): Frame {
  return {
    tsUs: 0, ifindex: 0, ipVersion: 4, src: '', dst: '', srcPort: 0, dstPort: 0, seq: 0, ack: 0,
    flags: 0, window: 0, payload: Buffer.alloc(0), payloadLen: 0, vlans: [],
  }
}

/**
 * Why a packet did not yield a TCP frame. 'ok' means the Frame was filled.
 * Counted under decode_skipped{reason}; never thrown.
 */
export type DecodeResult =
  | 'ok'
  | 'not_ip' // ARP, LLDP, other ethertypes, unknown link type
  | 'not_tcp' // UDP, ICMP...
  | 'ip_fragment' // IPv4/IPv6 fragments are counted and skipped (TCP rarely fragments; DF is the norm)
  | 'truncated' // cut before the end of the TCP header: nothing usable
  | 'malformed' // lengths that contradict each other, bad header lengths
