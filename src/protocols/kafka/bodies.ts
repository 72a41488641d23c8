// The few body fields podtap reads: topic names from requests (resource) and the error code from
// responses (status). Layouts from https://kafka.apache.org/protocol#protocol_messages; each decoder
// reads only as far as it must and takes a cursor set at the body start with the API's encoding.
// A version that only adds fields at the end reuses the older decoder (STYLE.md "Versions dispatch").

import { ApiKey } from './api-keys.js'
import type { Cursor } from './wire.js'

/** topic names kept per request: "a,b,c" up to this many (then the text limit cuts it) */
const MAX_TOPICS = 16

// ---------------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------------

export interface RequestBody {
  /** topic names in order, distinct; empty when none are named (all topics, or topic ids) */
  topics: string[]
  /** Produce only: required acks (0 = the broker sends no response) */
  acks?: number
}

/** highest request version whose topic names podtap reads, per API (newer versions name topics by id) */
const TOPIC_REQUESTS: Readonly<Record<number, number>> = {
  [ApiKey.Produce]: 12, // v13+: topic_id (UUID) instead of name
  [ApiKey.Fetch]: 12, // v13+: topic_id (KIP-516)
  [ApiKey.ListOffsets]: 10,
  [ApiKey.Metadata]: 13,
  [ApiKey.OffsetCommit]: 9, // v10+: topic_id
  [ApiKey.OffsetFetch]: 9, // v10+: topic_id
}

/**
 * Reads the topic names (and Produce's acks) of a request body. Returns undefined when the API/version
 * is not one podtap reads; a body cut short gives the names read before the cut.
 */
export function decodeRequest(c: Cursor, key: number, v: number, maxName: number): RequestBody | undefined {
  const top = TOPIC_REQUESTS[key]
  const out: RequestBody = { topics: [] }
  if (key === ApiKey.Produce) out.acks = produceAcks(c, v) // acks come first, also for v13+
  if (top === undefined || v > top) return key === ApiKey.Produce ? out : undefined
  switch (key) {
    case ApiKey.Produce:
      // ... topic_data[name partition_data[index records]]
      eachTopic(c, out, maxName, () => {
        const n = c.arr()
        for (let i = 0; i < n && c.ok; i++) {
          c.skip(4)
          c.skipBytes()
          c.tags()
        }
      })
      break
    case ApiKey.Fetch: {
      // Fetch Request (v0-12) => replica_id(v0-14) max_wait_ms min_bytes max_bytes(v3+)
      //   isolation_level(v4+) session_id(v7+) session_epoch(v7+) [topics] [forgotten_topics_data](v7+) rack_id(v11+)
      //   topics => topic [partitions]; partitions => partition current_leader_epoch(v9+) fetch_offset
      //     last_fetched_epoch(v12+) log_start_offset(v5+) partition_max_bytes
      c.skip(12)
      if (v >= 3) c.skip(4)
      if (v >= 4) c.skip(1)
      if (v >= 7) c.skip(8)
      const part = 16 + (v >= 5 ? 8 : 0) + (v >= 9 ? 4 : 0) + (v >= 12 ? 4 : 0)
      eachTopic(c, out, maxName, () => {
        const n = c.arr()
        for (let i = 0; i < n && c.ok; i++) {
          c.skip(part)
          c.tags()
        }
      })
      break
    }
    case ApiKey.ListOffsets: {
      // ListOffsets Request => replica_id isolation_level(v2+) [topics]
      //   topics => name [partitions]; partitions => partition_index current_leader_epoch(v4+) timestamp
      //     max_num_offsets(v0)
      c.skip(v >= 2 ? 5 : 4)
      const part = v === 0 ? 16 : v >= 4 ? 16 : 12
      eachTopic(c, out, maxName, () => {
        const n = c.arr()
        for (let i = 0; i < n && c.ok; i++) {
          c.skip(part)
          c.tags()
        }
      })
      break
    }
    case ApiKey.Metadata: {
      // Metadata Request => [topics] (v0: empty = all; v1+: null = all) allow_auto_topic_creation(v4+) ...
      //   topics => topic_id(v10+) name (nullable from v10)
      const n = c.arr()
      for (let i = 0; i < n && c.ok && out.topics.length < MAX_TOPICS; i++) {
        if (v >= 10) c.skip(16)
        addTopic(out, c.str(maxName))
        c.tags()
      }
      break
    }
    case ApiKey.OffsetCommit: {
      // OffsetCommit Request => group_id generation_id(v1+) member_id(v1+) group_instance_id(v7+)
      //   retention_time_ms(v2-4) [topics]
      //   topics => name [partitions]; partitions => partition_index committed_offset
      //     committed_leader_epoch(v6+) commit_timestamp(v1) committed_metadata
      c.skipStr()
      if (v >= 1) {
        c.skip(4)
        c.skipStr()
      }
      if (v >= 7) c.skipStr()
      if (v >= 2 && v <= 4) c.skip(8)
      const fixed = 12 + (v >= 6 ? 4 : 0) + (v === 1 ? 8 : 0)
      eachTopic(c, out, maxName, () => {
        const n = c.arr()
        for (let i = 0; i < n && c.ok; i++) {
          c.skip(fixed)
          c.skipStr()
          c.tags()
        }
      })
      break
    }
    case ApiKey.OffsetFetch: {
      // OffsetFetch Request (v0-7) => group_id [topics] require_stable(v7)
      //   topics => name [partition_indexes]   (topics null = all, v2+)
      // OffsetFetch Request (v8-9) => [groups] require_stable
      //   groups => group_id member_id(v9) member_epoch(v9) [topics]
      const groups = v >= 8 ? c.arr() : 1
      for (let g = 0; g < groups && c.ok && out.topics.length < MAX_TOPICS; g++) {
        c.skipStr()
        if (v >= 9) {
          c.skipStr()
          c.skip(4)
        }
        eachTopic(c, out, maxName, () => c.skipI32s())
        if (v >= 8) c.tags()
      }
      break
    }
  }
  return out
}

function produceAcks(c: Cursor, v: number): number {
  // Produce Request => transactional_id(v3+) acks timeout_ms [topic_data]
  if (v >= 3) c.skipStr()
  const acks = c.i16()
  c.skip(4)
  return acks
}

/** topics => name <rest>: collects names, `rest` steps over what follows each name */
function eachTopic(c: Cursor, out: RequestBody, maxName: number, rest: () => void): void {
  const n = c.arr()
  for (let i = 0; i < n && c.ok && out.topics.length < MAX_TOPICS; i++) {
    addTopic(out, c.str(maxName))
    rest()
    c.tags()
  }
}

function addTopic(out: RequestBody, name: string | null): void {
  if (name !== null && name !== '' && !out.topics.includes(name)) out.topics.push(name)
}

// ---------------------------------------------------------------------------------------------------
// Responses
// ---------------------------------------------------------------------------------------------------

/** returned when podtap does not decode this API/version's response */
export const NOT_DECODED = 0x10000

/** where a top-level error_code sits: at the body start ('E') or after throttle_time_ms ('TE') */
const enum At {
  E,
  TE,
}

/**
 * APIs whose response has a top-level error_code near the start: [layout below version `since`,
 * layout from it]. Versions above the table's highest known version are not decoded.
 */
const TOP_LEVEL: Readonly<Record<number, readonly [At, number, At, number]>> = {
  // [layout before `since`, since, layout from since, highest version decoded]
  [ApiKey.ApiVersions]: [At.E, 0, At.E, 4], // ApiVersions Response => error_code [api_keys] throttle_time_ms(v1+)
  [ApiKey.Heartbeat]: [At.E, 1, At.TE, 4], // Heartbeat Response => throttle_time_ms(v1+) error_code
  [ApiKey.LeaveGroup]: [At.E, 1, At.TE, 5],
  [ApiKey.SyncGroup]: [At.E, 1, At.TE, 5],
  [ApiKey.ListGroups]: [At.E, 1, At.TE, 5],
  [ApiKey.JoinGroup]: [At.E, 2, At.TE, 9], // JoinGroup Response => throttle_time_ms(v2+) error_code ...
  [ApiKey.FindCoordinator]: [At.E, 1, At.TE, 3], // v4+: per-key coordinators, see below
  [ApiKey.InitProducerId]: [At.TE, 0, At.TE, 5],
  [ApiKey.AddOffsetsToTxn]: [At.TE, 0, At.TE, 4],
  [ApiKey.EndTxn]: [At.TE, 0, At.TE, 5],
  [ApiKey.SaslHandshake]: [At.E, 0, At.E, 1], // SaslHandshake Response => error_code [mechanisms]
  [ApiKey.SaslAuthenticate]: [At.E, 0, At.E, 2], // error_code error_message auth_bytes: auth_bytes never read
  [ApiKey.ControlledShutdown]: [At.E, 0, At.E, 3],
  29: [At.TE, 0, At.TE, 3], // DescribeAcls
  46: [At.TE, 0, At.TE, 0], // ListPartitionReassignments
  45: [At.TE, 0, At.TE, 1], // AlterPartitionReassignments
  50: [At.TE, 0, At.TE, 0], // DescribeUserScramCredentials
  60: [At.TE, 0, At.TE, 2], // DescribeCluster
  63: [At.TE, 0, At.TE, 1], // BrokerHeartbeat
  68: [At.TE, 0, At.TE, 1], // ConsumerGroupHeartbeat
  71: [At.TE, 0, At.TE, 0], // GetTelemetrySubscriptions
  72: [At.TE, 0, At.TE, 0], // PushTelemetry
  76: [At.TE, 0, At.TE, 1], // ShareGroupHeartbeat
}

/** highest response version decoded by the per-API walkers below */
const WALKED: Readonly<Record<number, number>> = {
  [ApiKey.Produce]: 13,
  [ApiKey.Fetch]: 18,
  [ApiKey.ListOffsets]: 10,
  [ApiKey.Metadata]: 13,
  [ApiKey.OffsetCommit]: 9,
  [ApiKey.OffsetFetch]: 9,
  [ApiKey.FindCoordinator]: 6,
  [ApiKey.CreateTopics]: 7,
  [ApiKey.DeleteTopics]: 6,
}

/**
 * The response's error code: the top-level one where the response has one, else the first non-zero
 * per-topic/partition one (0 when all are 0), or NOT_DECODED. When the cursor runs out (`!c.ok`) the
 * result is what was found before the end: the caller decides whether the body was cut (a head kept
 * of a long message) or malformed.
 */
export function responseError(c: Cursor, key: number, v: number): number {
  const top = TOP_LEVEL[key]
  if (top !== undefined && (key !== ApiKey.FindCoordinator || v < 4)) {
    if (v > top[3]) return NOT_DECODED
    if ((v < top[1] ? top[0] : top[2]) === At.TE) c.skip(4)
    return c.i16()
  }
  const max = WALKED[key]
  if (max === undefined || v > max) return NOT_DECODED
  switch (key) {
    case ApiKey.Produce:
      return produceError(c, v)
    case ApiKey.Fetch:
      return fetchError(c, v)
    case ApiKey.ListOffsets:
      return listOffsetsError(c, v)
    case ApiKey.Metadata:
      return metadataError(c, v)
    case ApiKey.OffsetCommit:
      return offsetCommitError(c, v)
    case ApiKey.OffsetFetch:
      return offsetFetchError(c, v)
    case ApiKey.FindCoordinator:
      return findCoordinatorError(c)
    case ApiKey.CreateTopics:
      return createTopicsError(c, v)
    case ApiKey.DeleteTopics:
      return deleteTopicsError(c, v)
  }
  return NOT_DECODED
}

// Produce Response => [responses] throttle_time_ms(v1+)
//   responses => name (topic_id v13+) [partition_responses]
//   partition_responses => index error_code base_offset log_append_time_ms(v2+) log_start_offset(v5+)
//     [record_errors](v8+) error_message(v8+)        record_errors => batch_index batch_index_error_message
function produceError(c: Cursor, v: number): number {
  const fixed = 8 + (v >= 2 ? 8 : 0) + (v >= 5 ? 8 : 0)
  const topics = c.arr()
  for (let t = 0; t < topics && c.ok; t++) {
    if (v >= 13) c.skip(16)
    else c.skipStr()
    const parts = c.arr()
    for (let p = 0; p < parts && c.ok; p++) {
      c.skip(4)
      const e = c.i16()
      if (e !== 0 && c.ok) return e
      c.skip(fixed)
      if (v >= 8) {
        const n = c.arr()
        for (let i = 0; i < n && c.ok; i++) {
          c.skip(4)
          c.skipStr()
          c.tags()
        }
        c.skipStr()
      }
      c.tags()
    }
    c.tags()
  }
  return 0
}

// Fetch Response => throttle_time_ms(v1+) error_code(v7+) session_id(v7+) [responses]
//   responses => topic (topic_id v13+) [partitions]
//   partitions => partition_index error_code high_watermark last_stable_offset(v4+) log_start_offset(v5+)
//     [aborted_transactions](v4+) preferred_read_replica(v11+) records
// The top-level error_code first; when it is 0, the first non-zero partition error_code: a partition
// error (OFFSET_OUT_OF_RANGE, NOT_LEADER_OR_FOLLOWER...) means the same whether the version has a
// top-level code or not.
function fetchError(c: Cursor, v: number): number {
  if (v >= 1) c.skip(4)
  if (v >= 7) {
    const e = c.i16()
    if (e !== 0 && c.ok) return e
    c.skip(4)
  }
  const fixed = 8 + (v >= 4 ? 8 : 0) + (v >= 5 ? 8 : 0)
  const topics = c.arr()
  for (let t = 0; t < topics && c.ok; t++) {
    if (v >= 13) c.skip(16)
    else c.skipStr()
    const parts = c.arr()
    for (let p = 0; p < parts && c.ok; p++) {
      c.skip(4)
      const e = c.i16()
      if (e !== 0 && c.ok) return e
      c.skip(fixed)
      if (v >= 4) {
        const n = c.arr()
        for (let i = 0; i < n && c.ok; i++) {
          c.skip(16)
          c.tags()
        }
      }
      if (v >= 11) c.skip(4)
      c.skipBytes()
      c.tags()
    }
    c.tags()
  }
  return 0
}

// ListOffsets Response => throttle_time_ms(v2+) [topics]
//   topics => name [partitions]
//   partitions => partition_index error_code old_style_offsets(v0: [int64]) | timestamp offset (v1+)
//     leader_epoch(v4+)
function listOffsetsError(c: Cursor, v: number): number {
  if (v >= 2) c.skip(4)
  const topics = c.arr()
  for (let t = 0; t < topics && c.ok; t++) {
    c.skipStr()
    const parts = c.arr()
    for (let p = 0; p < parts && c.ok; p++) {
      c.skip(4)
      const e = c.i16()
      if (e !== 0 && c.ok) return e
      if (v === 0) {
        const n = c.arr()
        if (n > 0) c.skip(8 * n)
      } else c.skip(16 + (v >= 4 ? 4 : 0))
      c.tags()
    }
    c.tags()
  }
  return 0
}

// Metadata Response => throttle_time_ms(v3+) [brokers] cluster_id(v2+) controller_id(v1+) [topics] ...
//   brokers => node_id host port rack(v1+)
//   topics => error_code name topic_id(v10+) is_internal(v1+) [partitions] topic_authorized_operations(v8+)
//   partitions => error_code partition_index leader_id leader_epoch(v7+) [replica_nodes] [isr_nodes]
//     [offline_replicas](v5+)
// Status = the first non-zero topic error_code (UNKNOWN_TOPIC_OR_PARTITION, TOPIC_AUTHORIZATION_FAILED...).
function metadataError(c: Cursor, v: number): number {
  if (v >= 3) c.skip(4)
  const brokers = c.arr()
  for (let i = 0; i < brokers && c.ok; i++) {
    c.skip(4)
    c.skipStr()
    c.skip(4)
    if (v >= 1) c.skipStr()
    c.tags()
  }
  if (v >= 2) c.skipStr()
  if (v >= 1) c.skip(4)
  const topics = c.arr()
  for (let t = 0; t < topics && c.ok; t++) {
    const e = c.i16()
    if (e !== 0 && c.ok) return e
    c.skipStr()
    if (v >= 10) c.skip(16)
    if (v >= 1) c.skip(1)
    const parts = c.arr()
    for (let p = 0; p < parts && c.ok; p++) {
      c.skip(10 + (v >= 7 ? 4 : 0))
      c.skipI32s()
      c.skipI32s()
      if (v >= 5) c.skipI32s()
      c.tags()
    }
    if (v >= 8) c.skip(4)
    c.tags()
  }
  return 0
}

// OffsetCommit Response => throttle_time_ms(v3+) [topics]
//   topics => name [partitions]; partitions => partition_index error_code
function offsetCommitError(c: Cursor, v: number): number {
  if (v >= 3) c.skip(4)
  const topics = c.arr()
  for (let t = 0; t < topics && c.ok; t++) {
    c.skipStr()
    const parts = c.arr()
    for (let p = 0; p < parts && c.ok; p++) {
      c.skip(4)
      const e = c.i16()
      if (e !== 0 && c.ok) return e
      c.tags()
    }
    c.tags()
  }
  return 0
}

// OffsetFetch Response (v0-7) => throttle_time_ms(v3+) [topics] error_code(v2+)
//   topics => name [partitions]; partitions => partition_index committed_offset
//     committed_leader_epoch(v5+) metadata error_code
// OffsetFetch Response (v8-9) => throttle_time_ms [groups]; groups => group_id [topics] error_code
function offsetFetchError(c: Cursor, v: number): number {
  if (v >= 3) c.skip(4)
  const groups = v >= 8 ? c.arr() : 1
  for (let g = 0; g < groups && c.ok; g++) {
    if (v >= 8) c.skipStr()
    const topics = c.arr()
    for (let t = 0; t < topics && c.ok; t++) {
      c.skipStr()
      const parts = c.arr()
      for (let p = 0; p < parts && c.ok; p++) {
        c.skip(12 + (v >= 5 ? 4 : 0))
        c.skipStr()
        const e = c.i16()
        if (e !== 0 && c.ok) return e
        c.tags()
      }
      c.tags()
    }
    if (v >= 2) {
      const e = c.i16()
      if (e !== 0 && c.ok) return e
    }
    if (v >= 8) c.tags()
  }
  return 0
}

// FindCoordinator Response (v4+) => throttle_time_ms [coordinators]
//   coordinators => key node_id host port error_code error_message
function findCoordinatorError(c: Cursor): number {
  c.skip(4)
  const n = c.arr()
  for (let i = 0; i < n && c.ok; i++) {
    c.skipStr()
    c.skip(4)
    c.skipStr()
    c.skip(4)
    const e = c.i16()
    if (e !== 0 && c.ok) return e
    c.skipStr()
    c.tags()
  }
  return 0
}

// CreateTopics Response => throttle_time_ms(v2+) [topics]
//   topics => name topic_id(v7+) error_code error_message(v1+) num_partitions(v5+)
//     replication_factor(v5+) [configs](v5+)
//   configs => name value read_only config_source is_sensitive
function createTopicsError(c: Cursor, v: number): number {
  if (v >= 2) c.skip(4)
  const topics = c.arr()
  for (let t = 0; t < topics && c.ok; t++) {
    c.skipStr()
    if (v >= 7) c.skip(16)
    const e = c.i16()
    if (e !== 0 && c.ok) return e
    if (v >= 1) c.skipStr()
    if (v >= 5) {
      c.skip(6)
      const n = c.arr()
      for (let i = 0; i < n && c.ok; i++) {
        c.skipStr()
        c.skipStr()
        c.skip(3)
        c.tags()
      }
    }
    c.tags()
  }
  return 0
}

// DeleteTopics Response => throttle_time_ms(v1+) [responses]
//   responses => name topic_id(v6+) error_code error_message(v5+)
function deleteTopicsError(c: Cursor, v: number): number {
  if (v >= 1) c.skip(4)
  const topics = c.arr()
  for (let t = 0; t < topics && c.ok; t++) {
    c.skipStr()
    if (v >= 6) c.skip(16)
    const e = c.i16()
    if (e !== 0 && c.ok) return e
    if (v >= 5) c.skipStr()
    c.tags()
  }
  return 0
}
