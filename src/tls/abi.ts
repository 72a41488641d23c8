// TypeScript copy of bpf/tls_abi.h: map and program names, the ring buffer record layout, config
// flags and counter indices of the TLS plaintext tap. abi.test.ts parses tls_abi.h and fails when a
// value here differs or a #define is not mirrored.

import { fileURLToPath } from 'node:url'

/** Keys are the tls_abi.h macro names without the PODTAP_TLS_ prefix; values exactly as it defines them. */
export const TLS_ABI = {
  MAP_EVENTS: 'tls_events',
  MAP_COUNTERS: 'tls_counters',
  MAP_CONFIG: 'tls_config',
  MAP_PIDS: 'tls_pids',

  PROG_WRITE_ENTER: 'tls_wr_enter',
  PROG_WRITE_RET: 'tls_wr_ret',
  PROG_WRITE_EX_RET: 'tls_wr_ex_ret',
  PROG_READ_ENTER: 'tls_rd_enter',
  PROG_READ_RET: 'tls_rd_ret',
  PROG_READ_EX_RET: 'tls_rd_ex_ret',
  PROG_SOCK_SEND: 'tls_sock_send',
  PROG_SOCK_RECV: 'tls_sock_recv',
  PROG_TCP_SEND: 'tls_tcp_send',
  PROG_TCP_RECV: 'tls_tcp_recv',
  PROG_FREE: 'tls_free',
  PROG_EXIT: 'tls_exit',
  PROG_EXEC: 'tls_exec',

  RINGBUF_BYTES: 8388608,

  EV_OFF_TS: 0,
  EV_OFF_PID: 8,
  EV_OFF_TID: 12,
  EV_OFF_SSL: 16,
  EV_OFF_DIR: 24,
  EV_OFF_FAMILY: 25,
  EV_OFF_LPORT: 26,
  EV_OFF_RPORT: 28,
  EV_OFF_LADDR: 32,
  EV_OFF_RADDR: 48,
  EV_OFF_LEN: 64,
  EV_OFF_CAP_LEN: 68,
  EV_OFF_COMM: 72,
  EV_HDR_SIZE: 88,

  DIR_WRITE: 0,
  DIR_READ: 1,
  DIR_CLOSE: 2,
  DIR_EXEC: 3,

  CHUNK_BYTES: 16384,
  CHUNKS_MAX: 16,

  CFG_PIDS: 0x1,
  PIDS_MAX: 4096,
  CALLS_MAX: 16384,
  CONNS_MAX: 65536,
  THREADS_MAX: 16384,

  CNT_EVENTS: 0,
  CNT_BYTES: 1,
  CNT_DROP_FULL: 2,
  CNT_TRUNCATED: 3,
  CNT_READ_FAULT: 4,
  CNT_NO_TUPLE: 5,
  CNT_EMPTY_CALLS: 6,
  CNT_CALLS_FULL: 7,
  CNT_LEARN_READ: 8,
  CNT_LEARN_WRITE: 9,
  CNT_FREES: 10,
  CNT_MAX: 11,

  EV_OFF_TAP: 30,
  TAP_OPENSSL: 0,
  TAP_GO: 1,
  EV_OFF_ROLE: 31,
  ROLE_UNKNOWN: 0,
  ROLE_CLIENT: 1,
  ROLE_SERVER: 2,
  GO_MAP_EVENTS: 'go_tls_events',
  GO_MAP_COUNTERS: 'go_tls_counters',
  GO_MAP_CONFIG: 'go_tls_config',
  GO_MAP_PIDS: 'go_tls_pids',
  GO_MAP_RD_CALLS: 'go_rd_calls',
  GO_PROG_READ_ENTER: 'go_rd_enter',
  GO_PROG_READ_RET: 'go_rd_ret',
  GO_PROG_WRITE_ENTER: 'go_wr_enter',
} as const

/** The tap's per-CPU kernel counters, summed over CPUs (names follow the PODTAP_TLS_CNT_ indices). */
export interface TlsKernelCounters {
  events: number
  bytes: number
  dropFull: number
  truncated: number
  readFault: number
  noTuple: number
  emptyCalls: number
  callsFull: number
  learnRead: number
  learnWrite: number
  frees: number
}

/** Counter index → TlsKernelCounters field, in index order. */
export const TLS_COUNTER_FIELDS: readonly (keyof TlsKernelCounters)[] = [
  'events', 'bytes', 'dropFull', 'truncated', 'readFault', 'noTuple', 'emptyCalls', 'callsFull',
  'learnRead', 'learnWrite', 'frees',
]

/** Path of the committed Go crypto/tls tap object (bpf/go_tls.c). */
export function goTlsObjectPath(): string {
  return fileURLToPath(new URL('../../bpf/go_tls.bpf.o', import.meta.url))
}

/** Path of the committed tap object: <package>/bpf/, two levels above src/tls/ or dist/tls/. */
export function tlsObjectPath(): string {
  return fileURLToPath(new URL('../../bpf/tls_tap.bpf.o', import.meta.url))
}
