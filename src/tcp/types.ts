// What the TCP layer hands to the layers above it (gopacket reassembly.Stream, packetbeat TCPPlugin).

import type { Frame } from '../capture/frame.js'

/** Direction within a connection: client to server, server to client. */
export type Dir = 'c2s' | 's2c'

export function flip(d: Dir): Dir {
  return d === 'c2s' ? 's2c' : 'c2s'
}

export interface Endpoint {
  ip: string
  port: number
}

/** How the client/server roles of a flow were decided, most certain first. */
export type RoleSource = 'syn' | 'synack' | 'content' | 'port' | 'guess'

export type EndReason = 'fin' | 'rst' | 'idle' | 'evicted' | 'shutdown'

/**
 * One TCP connection as the layers above see it. Owned by the flow table; the fields are kept up to
 * date while the flow lives and are final when StreamHandler.end() is called.
 */
export interface FlowInfo {
  /** unique per process run, increasing */
  readonly id: number
  client: Endpoint
  server: Endpoint
  roleSource: RoleSource
  /** interface the flow was first seen on (ifindex or pcapng interface id) */
  readonly ifindex: number
  readonly startUs: number
  lastUs: number
  /** payload bytes delivered in order, per direction (retransmissions counted once) */
  readonly bytes: { readonly c2s: number; readonly s2c: number }
  /** packets seen, per direction, retransmissions included */
  readonly packets: { readonly c2s: number; readonly s2c: number }
  retransmits: number
  /** bytes lost to gaps, per direction (unknown-size gaps count 0) */
  readonly gapBytes: { readonly c2s: number; readonly s2c: number }
  /** the flow's place in the SegmentHook's side table (TCP health), -1 or absent when it has none */
  tcpSlot?: number
  /**
   * Swap client and server (and every per-direction counter). Only the layer above may call it, only
   * when roleSource is weaker than 'syn' and content proves the guess wrong (a response seen going
   * "c2s"). From then on the direction passed to the handler follows the new roles.
   */
  swapRoles(source: RoleSource): void
}

/**
 * Receives one connection's bytes, in order, per direction. Call order: data/gap in any interleaving
 * that follows capture order, then end() exactly once. Nothing is called after end().
 *
 * Buffer lifetime: `chunk` is borrowed for the duration of the call (it may be a view into a ring or
 * a reused buffer); copy whatever must outlive the call.
 */
export interface StreamHandler {
  /**
   * In-order payload bytes of direction `dir`, first seen at `tsUs`.
   * `peerAcked` is how many bytes of the other direction the sender of this chunk had acknowledged
   * when it sent it (a stream offset, gaps included), or -1 when unknown. Parsers can use it to pair
   * a response with the request it answers after a gap lost a whole response.
   */
  data(dir: Dir, chunk: Buffer, tsUs: number, peerAcked: number): void
  /** `lostBytes` of direction `dir` will never arrive. -1 = unknown size (joined mid-stream). */
  gap(dir: Dir, lostBytes: number, tsUs: number): void
  /** The connection is over. Report what is pending (requests without response) now. */
  end(reason: EndReason, tsUs: number): void
  /**
   * Optional, for parsers: the start time (µs) of the oldest request not yet emitted, Infinity when
   * none. Exchanges that started before every connection's answer can be written out at once in
   * start order (pipeline/ordered.ts); without it a connection holds output back for a fixed horizon.
   */
  oldestPendingUs?(): number
}

/** The flow table asks for one handler per new flow. */
export type StreamHandlerFactory = (flow: FlowInfo) => StreamHandler

/**
 * Sees every segment the flow table keeps, after its flow and direction are known and before
 * reassembly (src/tcp/health.ts). Must be cheap: it runs once per packet. `f` is borrowed.
 */
export interface SegmentHook {
  /** a bare SYN is about to open a new flow: false leaves it out (a cap on half-open attempts) */
  admit(): boolean
  segment(flow: FlowInfo, fromClient: boolean, f: Frame): void
  /** the flow closed (FIN or RST) and left tombstone `t`: the hook may note what it needs in it */
  closed(flow: FlowInfo, t: ClosedFlow): void
  /** a segment of a closed 4-tuple (retransmitted FIN, RST after RST), swallowed by tombstone `t` */
  afterClose(t: ClosedFlow, f: Frame): void
}

/** A closed connection's tombstone (tombstones.ts) as the SegmentHook sees it: a = client, b = server. */
export interface ClosedFlow {
  readonly aIp: string
  readonly aPort: number
  readonly bIp: string
  readonly bPort: number
  /** highest sequence number sent + 1, client -> server / server -> client; -1 unknown (SegmentHook's to keep) */
  end0: number
  end1: number
}
