// Every protocol parser, in detection order: the most specific signatures first, so that a loose one
// (Redis inline commands, HTTP/1.x methods) never claims another protocol's bytes.

import { http1Parser } from './http1/parser.js'
import { http2Parser } from './http2/parser.js'
import { kafkaParser } from './kafka/parser.js'
import { mongoParser } from './mongodb/parser.js'
import { mysqlParser } from './mysql/parser.js'
import { postgresParser } from './postgres/parser.js'
import { redisParser } from './redis/parser.js'
import { rocketmqParser } from './rocketmq/parser.js'
import type { ProtocolId, ProtocolParser } from './types.js'

export const PARSERS: ProtocolParser[] = [
  // each protocol folder adds its parser here, e.g. http1Parser from './http1/parser.js'
  postgresParser, // startup packet (length + protocol 3.0 / SSLRequest code), or typed messages confirmed by the next
  mysqlParser, // seq-0 command with a known command byte and fitting content, or a v10 greeting
  mongoParser, // a whole 16-byte header (length 20..48 MB, an opcode of that direction), flags with known bits only, the first document's length and element name
  rocketmqParser, // a whole frame header: length <= 16 MiB, serialize type 0/1, a JSON '{"' header that parses or an exact binary one
  http2Parser, // client preface, a server SETTINGS frame, or a run of strict frame headers (binary, 16 KiB lengths); before Kafka, whose Produce v0 with an empty client id an HTTP/2 GOAWAY frame also reads as
  kafkaParser, // requests only: size, known api key, plausible version, printable client_id, body fits (whole) / acks -1..1, next header plausible
  http1Parser, // loose (any method token): after the binary protocols
  redisParser, // loosest (a reply can be '+OK', an inline command is a word): last; rejects HTTP request lines
]

/** protocol ids a parser reports besides its own (gRPC is found by the HTTP/2 parser) */
const REPORTED_BY: Readonly<Record<string, ProtocolId>> = { grpc: 'http2' }

export function parsersFor(ids?: readonly string[]): ProtocolParser[] {
  if (!ids || ids.length === 0) return PARSERS
  const want = new Set(ids.map((s) => s.trim().toLowerCase()).map((s) => REPORTED_BY[s] ?? s))
  return PARSERS.filter((p) => want.has(p.id))
}

/** every protocol id a record can carry, for --protocols */
export function knownProtocolIds(): ProtocolId[] {
  const ids: ProtocolId[] = PARSERS.map((p) => p.id)
  for (const [reported, by] of Object.entries(REPORTED_BY)) if (ids.includes(by)) ids.push(reported as ProtocolId)
  return ids
}
