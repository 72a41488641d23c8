// Kafka API keys: name, highest version known, and the first "flexible" version (KIP-482: compact
// strings/arrays and tagged fields). Source: https://kafka.apache.org/protocol#protocol_api_keys and
// the message schemas (clients/src/main/resources/common/message/*.json, "validVersions" and
// "flexibleVersions"). Keys missing here (or above the table) are reported as method 'unknown'.

/** [name, highest version known, first flexible version (-1: never flexible)] */
type ApiRow = readonly [name: string, maxVersion: number, flexibleFrom: number]

export const enum ApiKey {
  Produce = 0,
  Fetch = 1,
  ListOffsets = 2,
  Metadata = 3,
  ControlledShutdown = 7,
  OffsetCommit = 8,
  OffsetFetch = 9,
  FindCoordinator = 10,
  JoinGroup = 11,
  Heartbeat = 12,
  LeaveGroup = 13,
  SyncGroup = 14,
  DescribeGroups = 15,
  ListGroups = 16,
  SaslHandshake = 17,
  ApiVersions = 18,
  CreateTopics = 19,
  DeleteTopics = 20,
  InitProducerId = 22,
  AddOffsetsToTxn = 25,
  EndTxn = 26,
  SaslAuthenticate = 36,
}

export const API: readonly ApiRow[] = [
  ['Produce', 13, 9], // 0
  ['Fetch', 18, 12],
  ['ListOffsets', 10, 6],
  ['Metadata', 13, 9],
  ['LeaderAndIsr', 7, 4],
  ['StopReplica', 4, 2], // 5
  ['UpdateMetadata', 8, 6],
  ['ControlledShutdown', 3, 3],
  ['OffsetCommit', 10, 8],
  ['OffsetFetch', 10, 6],
  ['FindCoordinator', 6, 3], // 10
  ['JoinGroup', 9, 6],
  ['Heartbeat', 4, 4],
  ['LeaveGroup', 5, 4],
  ['SyncGroup', 5, 4],
  ['DescribeGroups', 6, 5], // 15
  ['ListGroups', 5, 3],
  ['SaslHandshake', 1, -1],
  ['ApiVersions', 4, 3],
  ['CreateTopics', 7, 5],
  ['DeleteTopics', 6, 4], // 20
  ['DeleteRecords', 2, 2],
  ['InitProducerId', 5, 2],
  ['OffsetForLeaderEpoch', 4, 4],
  ['AddPartitionsToTxn', 5, 3],
  ['AddOffsetsToTxn', 4, 3], // 25
  ['EndTxn', 5, 3],
  ['WriteTxnMarkers', 1, 1],
  ['TxnOffsetCommit', 5, 3],
  ['DescribeAcls', 3, 2],
  ['CreateAcls', 3, 2], // 30
  ['DeleteAcls', 3, 2],
  ['DescribeConfigs', 4, 4],
  ['AlterConfigs', 2, 2],
  ['AlterReplicaLogDirs', 2, 2],
  ['DescribeLogDirs', 4, 2], // 35
  ['SaslAuthenticate', 2, 2],
  ['CreatePartitions', 3, 2],
  ['CreateDelegationToken', 3, 2],
  ['RenewDelegationToken', 2, 2],
  ['ExpireDelegationToken', 2, 2], // 40
  ['DescribeDelegationToken', 3, 2],
  ['DeleteGroups', 2, 2],
  ['ElectLeaders', 2, 2],
  ['IncrementalAlterConfigs', 1, 1],
  ['AlterPartitionReassignments', 1, 0], // 45
  ['ListPartitionReassignments', 0, 0],
  ['OffsetDelete', 0, -1],
  ['DescribeClientQuotas', 1, 1],
  ['AlterClientQuotas', 1, 1],
  ['DescribeUserScramCredentials', 0, 0], // 50
  ['AlterUserScramCredentials', 0, 0],
  ['Vote', 2, 0],
  ['BeginQuorumEpoch', 1, 1],
  ['EndQuorumEpoch', 1, 1],
  ['DescribeQuorum', 2, 0], // 55
  ['AlterPartition', 3, 0],
  ['UpdateFeatures', 2, 0],
  ['Envelope', 0, 0],
  ['FetchSnapshot', 1, 0],
  ['DescribeCluster', 2, 0], // 60
  ['DescribeProducers', 0, 0],
  ['BrokerRegistration', 4, 0],
  ['BrokerHeartbeat', 1, 0],
  ['UnregisterBroker', 0, 0],
  ['DescribeTransactions', 0, 0], // 65
  ['ListTransactions', 2, 0],
  ['AllocateProducerIds', 0, 0],
  ['ConsumerGroupHeartbeat', 1, 0],
  ['ConsumerGroupDescribe', 1, 0],
  ['ControllerRegistration', 0, 0], // 70
  ['GetTelemetrySubscriptions', 0, 0],
  ['PushTelemetry', 0, 0],
  ['AssignReplicasToDirs', 0, 0],
  ['ListConfigResources', 1, 0],
  ['DescribeTopicPartitions', 0, 0], // 75
  ['ShareGroupHeartbeat', 1, 0],
  ['ShareGroupDescribe', 1, 0],
  ['ShareFetch', 1, 0],
  ['ShareAcknowledge', 1, 0],
  ['AddRaftVoter', 0, 0], // 80
  ['RemoveRaftVoter', 0, 0],
  ['UpdateRaftVoter', 0, 0],
  ['InitializeShareGroupState', 0, 0],
  ['ReadShareGroupState', 0, 0],
  ['WriteShareGroupState', 0, 0], // 85
  ['DeleteShareGroupState', 0, 0],
  ['ReadShareGroupStateSummary', 0, 0],
  ['StreamsGroupHeartbeat', 0, 0],
  ['StreamsGroupDescribe', 0, 0],
  ['DescribeShareGroupOffsets', 0, 0], // 90
  ['AlterShareGroupOffsets', 0, 0],
  ['DeleteShareGroupOffsets', 0, 0],
]

/**
 * Versions newer than the table that detection still accepts: brokers gain a version or two per
 * release, and a capture from a newer cluster must not stop being Kafka. Beyond this a version is
 * implausible (the unsupported-version capture sends ControlledShutdown v1000).
 */
export const VERSION_SLACK = 3

export function apiName(key: number): string {
  return key >= 0 && key < API.length ? API[key][0] : 'unknown'
}

export function knownApi(key: number): boolean {
  return key >= 0 && key < API.length
}

/** a version a client could send for this key (table maximum plus slack) */
export function plausibleVersion(key: number, version: number): boolean {
  return knownApi(key) && version >= 0 && version <= API[key][1] + VERSION_SLACK
}

/** flexible (compact encodings, tagged fields) at this version; unknown keys are taken as not */
export function isFlexible(key: number, version: number): boolean {
  if (!knownApi(key)) return false
  const from = API[key][2]
  return from >= 0 && version >= from
}
