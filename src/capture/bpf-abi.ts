// TypeScript copy of bpf/abi.h: map names, the config record layout and flags, counter indices.
// bpf-abi.test.ts parses abi.h and fails when a value here differs or a #define is not mirrored.

import { fileURLToPath } from 'node:url'

/** Keys are the abi.h macro names without the PODTAP_ prefix; values exactly as abi.h defines them. */
export const BPF_ABI = {
  MAP_CONFIG: 'podtap_config',
  MAP_PORTS: 'podtap_ports',
  MAP_COUNTERS: 'podtap_counters',
  MAP_IFINDEXES: 'podtap_ifidx',
  PROG_FILTER: 'podtap_filter',

  CONFIG_SIZE: 8,
  CONFIG_OFF_SNAPLEN: 0,
  CONFIG_OFF_FLAGS: 4,

  CFG_PORTS: 0x1,
  CFG_SKIP_OUTGOING: 0x2,
  CFG_RAW_IP: 0x4,
  CFG_IFINDEXES: 0x8,

  PORTS_MAX: 4096,
  IFINDEXES_MAX: 16384,

  CNT_SEEN: 0,
  CNT_KEPT: 1,
  CNT_DROPPED: 2,
  CNT_DROP_NOT_TCP: 3,
  CNT_DROP_PORT: 4,
  CNT_DROP_OUTGOING: 5,
  CNT_DROP_MALFORMED: 6,
  CNT_TRUNCATED: 7,
  CNT_VLAN: 8,
  CNT_MAX: 9,

  IPV6_EXT_MAX: 6,
  VLAN_MAX: 2,
} as const

/** The filter's per-CPU counters, summed over CPUs (names follow the PODTAP_CNT_ indices). */
export interface FilterCounters {
  seen: number
  kept: number
  dropped: number
  dropNotTcp: number
  dropPort: number
  dropOutgoing: number
  dropMalformed: number
  truncated: number
  vlan: number
}

/** Counter index → FilterCounters field, in index order. */
export const COUNTER_FIELDS: readonly (keyof FilterCounters)[] = [
  'seen', 'kept', 'dropped', 'dropNotTcp', 'dropPort', 'dropOutgoing', 'dropMalformed', 'truncated', 'vlan',
]

/** Path of the committed filter object: <package>/bpf/, two levels above src/capture/ or dist/capture/. */
export function filterObjectPath(): string {
  return fileURLToPath(new URL('../../bpf/socket_filter.bpf.o', import.meta.url))
}
