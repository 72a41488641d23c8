// Records for tests: an Exchange with defaults, and the golden l7_trace records beside real captures.

import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Exchange, TraceRecord } from '../../src/records.js'

const ROOT = join(import.meta.dirname, '..', '..')

/** An HTTP exchange 10.0.0.2 -> 10.0.0.1:80, GET / 200 in 2 ms; `over` replaces fields. */
export function exchange(over: Partial<Exchange> = {}): Exchange {
  return {
    protocol: 'http',
    tls: false,
    client: { ip: '10.0.0.2', port: 40000 },
    server: { ip: '10.0.0.1', port: 80 },
    flowId: 1,
    method: 'GET',
    resource: '/',
    status: 200,
    error: false,
    startUs: 1_700_000_000_000_000,
    endUs: 1_700_000_000_002_000,
    reqBytes: 100,
    respBytes: 200,
    ...over,
  }
}

/** The golden records (NN-case.golden.jsonl) of captures given by their path from the repository root. */
export function readGolden(captures: readonly string[]): TraceRecord[] {
  return captures.flatMap((f) =>
    readFileSync(join(ROOT, f.replace(/\.pcap(ng)?$/, '.golden.jsonl')), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as TraceRecord),
  )
}
