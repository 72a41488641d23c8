// Canonical flow key: both directions of a connection map to the same string. The endpoint that sorts
// first (address, then port) is written first, so the key says nothing about client or server; the
// flow table decides roles separately (SYN, then port hints).
//
// A string key is one short allocation per packet; the flow table avoids even that for runs of
// packets on the same flow (it compares the frame's endpoints with the last flow's first).

import type { Endpoint } from './types.js'

/**
 * Key of the connection between (srcIp, srcPort) and (dstIp, dstPort), the same for both directions.
 * IPv6 text contains ':', so fields are separated by spaces (never part of an address).
 */
export function flowKey(srcIp: string, srcPort: number, dstIp: string, dstPort: number): string {
  return endpointFirst(srcIp, srcPort, dstIp, dstPort)
    ? srcIp + ' ' + srcPort + ' ' + dstIp + ' ' + dstPort
    : dstIp + ' ' + dstPort + ' ' + srcIp + ' ' + srcPort
}

/** True when (aIp, aPort) sorts before or equal to (bIp, bPort): the order flowKey writes them in. */
export function endpointFirst(aIp: string, aPort: number, bIp: string, bPort: number): boolean {
  if (aIp !== bIp) return aIp < bIp
  return aPort <= bPort
}

/** Key of a connection given as two endpoints (tests, control API lookups). */
export function flowKeyOf(a: Endpoint, b: Endpoint): string {
  return flowKey(a.ip, a.port, b.ip, b.port)
}

/** Splits a key back into its two endpoints, in key order. */
export function parseFlowKey(key: string): [Endpoint, Endpoint] {
  const [aIp, aPort, bIp, bPort] = key.split(' ')
  return [
    { ip: aIp ?? '', port: Number(aPort) },
    { ip: bIp ?? '', port: Number(bPort) },
  ]
}
