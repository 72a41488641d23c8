// What the control API can see and change while podtap runs (gala-gopher's L7Probe REST control is
// the model: which probes and outputs are on, which pods are watched, changed without a restart).
//
// Protocols: an exchange of a switched-off protocol is dropped right after parsing, before enrichment
// and every output (the parser keeps running on connections it already owns, so switching back on
// loses nothing of them). Outputs: each registered output is asked isOn() per record; gateOutput()
// wraps an output so that it is.

import { UsageError } from '../errors.js'
import type { Exchange } from '../records.js'
import type { LinkRecord } from '../records.js'
import type { TlsCoverageRow } from '../records.js'

export interface SwitchView {
  name: string
  enabled: boolean
}

export class Switches {
  private readonly on = new Map<string, boolean>()

  constructor(
    private readonly what: string,
    names: readonly string[] = [],
    enabled?: readonly string[],
  ) {
    for (const n of names) this.on.set(n, enabled === undefined || enabled.length === 0 || enabled.includes(n))
  }

  register(name: string, enabled = true): void {
    if (!this.on.has(name)) this.on.set(name, enabled)
  }

  isOn(name: string): boolean {
    return this.on.get(name) ?? true
  }

  set(name: string, enabled: boolean): void {
    if (!this.on.has(name)) throw new UsageError(`unknown ${this.what} "${name}"; known: ${[...this.on.keys()].join(', ')}`, 'PODTAP_CONTROL_UNKNOWN')
    this.on.set(name, enabled)
  }

  has(name: string): boolean {
    return this.on.has(name)
  }

  view(): SwitchView[] {
    return [...this.on].map(([name, enabled]) => ({ name, enabled }))
  }
}

/** The run-time switches of one podtap process. */
export class ControlState {
  readonly protocols: Switches
  readonly outputs = new Switches('output')
  readonly startedAt = Date.now()
  /** --tls: the latest TLS coverage report (null: no TLS tap in this run) */
  tlsCoverage: readonly TlsCoverageRow[] | null = null

  constructor(knownProtocols: readonly string[], enabledProtocols?: readonly string[]) {
    this.protocols = new Switches('protocol', knownProtocols, enabledProtocols)
  }

  /** false when the exchange's protocol is switched off */
  readonly keepExchange = (e: Exchange): boolean => this.protocols.isOn(e.protocol)

  /** false when the link's protocol is switched off (links of unknown or TLS traffic always pass) */
  readonly keepLink = (l: LinkRecord): boolean => !this.protocols.has(l.protocol) || this.protocols.isOn(l.protocol)
}

/** The parts of an output gateOutput needs (src/cli/outputs.ts Output has them). */
export interface GateableOutput {
  readonly name: string
  onExchange?(e: Exchange): void
  onLink?(l: LinkRecord): void
  onWindow?(s: unknown): void
  onPods?(s: never): void
}

/**
 * Registers `out` under its name and returns a copy whose record callbacks do nothing while the
 * output is switched off (close() and the rest are the original's).
 */
export function gateOutput<T extends GateableOutput>(out: T, state: ControlState): T {
  state.outputs.register(out.name)
  const gated: Record<string, unknown> = {}
  for (const k of ['onExchange', 'onLink', 'onWindow', 'onPods'] as const) {
    const f = out[k] as ((x: never) => void) | undefined
    if (f !== undefined) gated[k] = (x: never) => (state.outputs.isOn(out.name) ? f.call(out, x) : undefined)
  }
  // a Proxy, not a copy: the output's other methods (close, ownEndpoints) run on the output itself
  return new Proxy(out, {
    get(target, prop, receiver) {
      if (typeof prop === 'string' && prop in gated) return gated[prop]
      const v = Reflect.get(target, prop, receiver) as unknown
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v
    },
  })
}
