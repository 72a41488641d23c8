// The web UI's flags (--ui-port, --ui-address) on replay, capture and demo, and the Output that feeds
// it (src/ui/: the model computed from the same exchanges and links as the table, and its server).

import { Command, Option } from 'commander'
import type { Counters } from '../counters.js'
import { UsageError } from '../errors.js'
import type { UiModel } from '../ui/model.js'
import type { UiServer } from '../ui/server.js'
import { intArg } from './args.js'
import type { Output } from './outputs.js'

export interface UiFlags {
  uiPort?: number
  /** false: --no-ui (demo, where the UI is on by default) */
  ui?: boolean
  uiAddress?: string
  controlTokenFile?: string
}

export interface UiHandle {
  readonly model: UiModel
  readonly server: UiServer
  /** an output for OutputHub (exchanges, links; its close() stops the server) */
  readonly output: Output
}

/** the demo's web UI port when none is given (any free port when it is taken) */
export const DEMO_UI_PORT = 8080

/**
 * Adds --ui-port and --ui-address (and --control-token-file where the command has none) under "Web
 * UI"; `on` (the demo): the UI is served unless --no-ui, on DEMO_UI_PORT unless --ui-port.
 */
export function addUiOptions(cmd: Command, o: { on?: boolean } = {}): Command {
  const g = 'Web UI:'
  const port = o.on
    ? `serve the web UI (service map, RED table, request browser, live) on http://ADDRESS:PORT/ (default ${DEMO_UI_PORT}, or any free port when it is taken; 0: any free port)`
    : 'serve the web UI (service map, RED table, request browser, live) on http://ADDRESS:PORT/ (0: any free port)'
  cmd.addOption(new Option('--ui-port <port>', port).argParser(intArg('--ui-port', 0, 65_535)).helpGroup(g))
  if (o.on) cmd.addOption(new Option('--no-ui', 'no web UI').helpGroup(g))
  cmd.addOption(new Option('--ui-address <addr>', 'address the web UI listens on (default 127.0.0.1; another one needs the control token: PODTAP_CONTROL_TOKEN or --control-token-file, then open /?token=TOKEN once)').helpGroup(g))
  if (!cmd.options.some((x) => x.long === '--control-token-file')) {
    cmd.addOption(new Option('--control-token-file <file>', 'token that guards the web UI off loopback (or PODTAP_CONTROL_TOKEN)').helpGroup(g))
  }
  return cmd
}

/** Starts the web UI when --ui-port is given; null otherwise. Prints its address through `log`. */
export async function openUi(flags: UiFlags, ctx: { counters?: Counters; title: string; log: (msg: string) => void; env?: NodeJS.ProcessEnv }): Promise<UiHandle | null> {
  // the demo: on unless --no-ui, on its own port unless one is given
  const demoDefault = flags.ui === true && flags.uiPort === undefined
  if (flags.ui === false && (flags.uiPort !== undefined || flags.uiAddress !== undefined)) throw new UsageError('--no-ui with --ui-port or --ui-address: give one or the other')
  if (flags.ui === false || (flags.uiPort === undefined && !demoDefault)) {
    if (flags.uiAddress !== undefined) throw new UsageError('--ui-address needs --ui-port')
    return null
  }
  // the server, its page model and node:http load only when a UI is asked for (start-up of every other run)
  const [{ resolveControlToken }, { startUiServer }, { UiModel }] = await Promise.all([import('../control/server.js'), import('../ui/server.js'), import('../ui/model.js')])
  const token = resolveControlToken(flags.controlTokenFile, ctx.env)
  const model = new UiModel({ title: ctx.title, counters: ctx.counters })
  const start = (port: number): Promise<UiServer> => startUiServer(model, { port, host: flags.uiAddress, token, log: ctx.log })
  let server: UiServer
  try {
    server = await start(flags.uiPort ?? DEMO_UI_PORT)
  } catch (e) {
    if (!demoDefault || !(e instanceof UsageError) || !/in use/.test(e.message)) throw e
    server = await start(0)
  }
  ctx.log(`web UI on ${server.url}${token !== undefined ? ' (open it once as /?token=TOKEN)' : ''}`)
  const host = flags.uiAddress ?? '127.0.0.1'
  const output: Output = {
    name: 'ui',
    onExchange: model.exchange,
    onLink: model.link,
    onTlsCoverage: model.tlsCoverage,
    ownEndpoints: () => [{ ip: host === 'localhost' ? '127.0.0.1' : host, port: server.port }],
    close: async () => {
      model.finish()
      await server.close()
    },
  }
  return { model, server, output }
}

/**
 * After a replay: the input is read, the page keeps showing it until SIGINT/SIGTERM (or `signal`).
 */
export async function serveUntilStopped(ui: UiHandle, signal: AbortSignal, log: (msg: string) => void): Promise<void> {
  ui.model.finish()
  if (signal.aborted) return
  log(`replay done; the web UI keeps serving on ${ui.server.url} until Ctrl-C`)
  await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }))
}
