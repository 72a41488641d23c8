// Every protocol parser, in detection order: the most specific signatures first, so that a loose one
// (Redis inline commands, HTTP/1.x methods) never claims another protocol's bytes.

import type { ProtocolId, ProtocolParser } from './types.js'

export const PARSERS: ProtocolParser[] = [
  // each protocol folder adds its parser here, e.g. http1Parser from './http1/parser.js'
]

export function parsersFor(ids?: readonly string[]): ProtocolParser[] {
  if (!ids || ids.length === 0) return PARSERS
  const want = new Set(ids.map((s) => s.trim().toLowerCase()))
  return PARSERS.filter((p) => want.has(p.id))
}

export function knownProtocolIds(): ProtocolId[] {
  return PARSERS.map((p) => p.id)
}
