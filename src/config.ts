// Every buffer and table has a cap with a default here and a flag in the CLI (DESIGN.md "Limits").
// Hitting a cap is counted (see metrics/counters.ts), never a crash and never unbounded growth.

export interface Limits {
  /** flows tracked at once; the least recently used is ended ('evicted') past this */
  maxFlows: number
  /** a flow with no packet for this long is ended with reason 'idle' */
  flowIdleUs: number
  /** out-of-order bytes buffered per direction while waiting for a hole to fill */
  maxOutOfOrderBytes: number
  /** out-of-order segments buffered per direction */
  maxOutOfOrderSegments: number
  /** bytes of a direction's head kept while protocol detection is undecided */
  maxDetectBytes: number
  /** requests waiting for a response on one connection (pipelining, Kafka in-flight) */
  maxPendingRequests: number
  /** HTTP/1.x: one start or header line */
  maxLineBytes: number
  /** HTTP/1.x: the whole header block of one message */
  maxHeaderBytes: number
  /** length-prefixed protocols: the largest frame kept whole for parsing; larger ones are skipped over */
  maxFrameBytes: number
  /** text copied into records (paths, SQL): longer text is cut and marked with '…' */
  maxTextBytes: number
  /** prepared statements remembered per connection (MySQL/PostgreSQL) */
  maxStatements: number
  /** HTTP/2 HPACK dynamic table size accepted from a peer */
  maxHpackTableBytes: number
  /** aggregation: series per window (server, client, protocol, method); overflow is counted */
  maxSeriesPerWindow: number
  /** aggregation: distinct methods per server before further ones become 'other' */
  maxMethodsPerServer: number
  /** sinks: points queued per sink before the oldest are dropped (and counted) */
  maxSinkQueue: number
}

export const DEFAULT_LIMITS: Readonly<Limits> = Object.freeze({
  maxFlows: 65_536,
  flowIdleUs: 120_000_000, // 2 min: longer than common keep-alive timeouts (nginx 75 s)
  maxOutOfOrderBytes: 1 << 20,
  maxOutOfOrderSegments: 256,
  maxDetectBytes: 16 * 1024,
  maxPendingRequests: 1024,
  maxLineBytes: 16 * 1024,
  maxHeaderBytes: 64 * 1024,
  maxFrameBytes: 16 * 1024 * 1024 + 64, // MySQL's 16 MiB packets
  maxTextBytes: 512,
  maxStatements: 1024,
  maxHpackTableBytes: 64 * 1024,
  maxSeriesPerWindow: 20_000,
  maxMethodsPerServer: 64,
  maxSinkQueue: 100_000,
})

export function limitsWith(overrides: Partial<Limits> = {}): Limits {
  return { ...DEFAULT_LIMITS, ...overrides }
}

/** Ports that name a server side when no SYN was seen (a hint only; content detection decides the protocol). */
export const WELL_KNOWN_SERVER_PORTS: ReadonlySet<number> = new Set([
  80, 81, 443, 591, 3000, 5000, 8000, 8008, 8080, 8081, 8088, 8443, 8888, 9000, 9090, 20880, // HTTP-ish
  3306, 33060, // MySQL
  5432, 6432, // PostgreSQL, pgbouncer
  6379, 6380, 26379, // Redis
  9092, 9093, 9094, // Kafka
  27017, 27018, 27019, // MongoDB
  9876, 10909, 10911, 10912, // RocketMQ
  50051, 2379, // gRPC, etcd
])
