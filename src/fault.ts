// Test-only fault injection (ground layer): proves that a throw inside a parser or while formatting a
// record for a sink ends only that connection's parsing (or that record), never the capture. Set from
// the environment variable PODTAP_TEST_FAULT=parser=<marker> or sink=<marker> (src/cli/main.ts) or by a test: a parser chunk
// that contains the marker throws inside the parser boundary; an exchange whose resource contains it
// throws inside the sink boundary. Unset (always, in production) it costs one null check per call.

export interface FaultHooks {
  /** called with every chunk a parser is handed, inside the boundary */
  parser: ((protocol: string, chunk: Buffer) => void) | null
  /** called with every record before it is formatted for an output, inside the boundary */
  sink: ((resource: string | undefined) => void) | null
}

export const faults: FaultHooks = { parser: null, sink: null }

/** Arms the hooks on their markers (a missing marker disarms that hook). */
export function injectFaults(m: { parser?: string; sink?: string }): void {
  const { parser, sink } = m
  faults.parser = parser
    ? (protocol, chunk) => {
        if (chunk.includes(parser)) throw new Error(`injected parser fault (${protocol})`)
      }
    : null
  faults.sink = sink
    ? (resource) => {
        if (resource !== undefined && resource.includes(sink)) throw new Error('injected sink fault')
      }
    : null
}

/** PODTAP_TEST_FAULT="parser=<marker>" or "sink=<marker>" (src/cli/main.ts) */
export function injectFaultsFromEnv(v: string | undefined): void {
  if (v === undefined || v === '') return
  const eq = v.indexOf('=')
  const kind = v.slice(0, eq)
  if (eq < 1 || (kind !== 'parser' && kind !== 'sink')) throw new Error(`PODTAP_TEST_FAULT: expected parser=<marker> or sink=<marker>, got "${v}"`)
  injectFaults({ [kind]: v.slice(eq + 1) })
}
