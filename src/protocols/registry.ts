// Every protocol parser, in detection order: the most specific signatures first, so that a loose one
// (Redis inline commands, HTTP/1.x methods) never claims another protocol's bytes.

import { http1Parser } from './http1/parser.js'
import { mysqlParser } from './mysql/parser.js'
import { postgresParser } from './postgres/parser.js'
import { redisParser } from './redis/parser.js'
import type { ProtocolId, ProtocolParser } from './types.js'

export const PARSERS: ProtocolParser[] = [
  // each protocol folder adds its parser here, e.g. http1Parser from './http1/parser.js'
  postgresParser, // startup packet (length + protocol 3.0 / SSLRequest code), or typed messages confirmed by the next
  mysqlParser, // seq-0 command with a known command byte and fitting content, or a v10 greeting
  http1Parser, // loose (any method token): after the binary protocols
  redisParser, // loosest (a reply can be '+OK', an inline command is a word): last; rejects HTTP request lines
]

export function parsersFor(ids?: readonly string[]): ProtocolParser[] {
  if (!ids || ids.length === 0) return PARSERS
  const want = new Set(ids.map((s) => s.trim().toLowerCase()))
  return PARSERS.filter((p) => want.has(p.id))
}

export function knownProtocolIds(): ProtocolId[] {
  return PARSERS.map((p) => p.id)
}
