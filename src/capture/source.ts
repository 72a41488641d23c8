// The PacketSource every capture reader implements: pcap/pcapng files, the AF_PACKET ring, test fakes.
//
// Call order: next() until it returns null. For a file, null means the end (ended === true). For a
// live source, null means "nothing right now": await wait() and call next() again. close() releases
// everything; next() after close() returns null.
//
// Buffer lifetime: the Packet returned by next(), and its data Buffer, are valid only until the next
// call to next() or close() (the same object is reused, and for the ring `data` is a view into kernel
// memory that is handed back). Whoever keeps bytes past that copies them (the reassembler does).

/** Link-layer types, by their LINKTYPE_ numbers (https://www.tcpdump.org/linktypes.html). */
export const LinkType = {
  NULL: 0, // BSD loopback: 4-byte host-order address family
  ETHERNET: 1,
  RAW: 101, // raw IPv4 or IPv6, version from the first nibble
  LOOP: 108, // OpenBSD loopback: 4-byte network-order address family
  LINUX_SLL: 113,
  IPV4: 228,
  IPV6: 229,
  LINUX_SLL2: 276,
} as const
export type LinkTypeId = number

export interface Packet {
  /** capture time, microseconds since the Unix epoch (exact in a double) */
  tsUs: number
  /** interface index: the kernel ifindex for live capture, the pcapng interface id for files */
  ifindex: number
  linkType: LinkTypeId
  /** captured bytes, starting at the link-layer header; may be shorter than origLen (snap length) */
  data: Buffer
  /** length of the packet on the wire */
  origLen: number
}

/**
 * A packet read in place (capture files: no Buffer view per packet): its captured bytes are
 * buf[start, start + caplen). Valid until the next read, like a Packet.
 */
export interface RawPacket {
  tsUs: number
  ifindex: number
  linkType: LinkTypeId
  buf: Buffer
  start: number
  caplen: number
  origLen: number
}

export interface CaptureStats {
  packets: number
  bytes: number
  /** packets the kernel or ring dropped (live), or records skipped as unreadable (files) */
  dropped: number
  /** packets whose captured length is shorter than their wire length */
  truncated: number
}

export interface PacketSource {
  /** human name for messages: the file path or the interface name */
  readonly name: string
  /** true once a file source has returned its last packet; always false for live sources until close() */
  readonly ended: boolean
  next(): Packet | null
  /** live sources: resolves when next() may have data again (or after timeoutMs). Files lack it. */
  wait?(timeoutMs: number): Promise<void>
  stats(): CaptureStats
  close(): void
}

/** Progress of a file source, for progress bars: bytes consumed of bytes total. */
export interface FileProgress {
  readonly bytesRead: number
  readonly bytesTotal: number
}
