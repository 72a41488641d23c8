// podtap's command line: wiring only (commander). Exit codes: 0 ok, 1 runtime failure, 2 bad usage or input.

import { basename } from 'node:path'
import { isatty } from 'node:tty'
import { Command, InvalidArgumentError, Option } from 'commander'
import { DEFAULT_LIMITS, type Limits } from '../config.js'
import { PodtapError } from '../errors.js'
import { injectFaultsFromEnv } from '../fault.js'
import { knownProtocolIds } from '../protocols/registry.js'
// capture and demo (BPF, the TLS taps, their disassembler) load when their command runs: replay
// starts ~150 ms of CPU and ~20 MB of RSS lighter
import type * as CaptureModule from './capture.js'
import { Counters } from '../counters.js'
import { addOtlpOptions, addOutputOptions, buildOutputs, OutputHub, type Output, type OutputOptions } from './outputs.js'
import { ControlState, gateOutput } from '../control/state.js'
import { addK8sOptions, captureHook, k8sOptionsFrom } from './k8s.js'
import { printReplayResult, replay } from './replay.js'
import { intArg, splitList, stopOnSignals } from './args.js'

const captureModule = (): Promise<typeof CaptureModule> => import('./capture.js')
import { DEFAULT_SYN_TIMEOUT_US } from '../tcp/health.js'
import { addUiOptions, openUi, serveUntilStopped, type UiFlags, type UiHandle } from './ui.js'
import { configureLog, LOG_LEVELS, log, type LogFormat, type LogLevel } from '../log.js'


function portList(v: string): number[] {
  return splitList(v).map((p) => {
    const n = Number(p)
    if (!Number.isInteger(n) || n < 1 || n > 65_535) throw new InvalidArgumentError(`port ${p} is not 1..65535`)
    return n
  })
}

function pidList(v: string): number[] {
  return splitList(v).map((p) => {
    const n = Number(p)
    if (!Number.isInteger(n) || n < 1 || n > 4_194_304) throw new InvalidArgumentError(`pid ${p} is not 1..4194304`)
    return n
  })
}

function protocolList(v: string): string[] {
  const ids = v.split(',').map((s) => s.trim().toLowerCase()).filter(Boolean)
  const known = knownProtocolIds() as string[]
  const bad = ids.filter((i) => !known.includes(i))
  if (bad.length) throw new InvalidArgumentError(`unknown protocol ${bad.join(', ')}; known: ${known.join(', ')}`)
  return ids
}

/** the limit flags every command shares (DESIGN.md "Limits that keep it safe") */
function addLimitOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--max-flows <n>', 'TCP connections tracked at once').argParser(intArg('--max-flows', 16, 10_000_000)).default(DEFAULT_LIMITS.maxFlows))
    .addOption(new Option('--flow-idle <seconds>', 'a connection silent this long is ended').argParser(intArg('--flow-idle', 1, 86_400)).default(DEFAULT_LIMITS.flowIdleUs / 1e6))
    .addOption(new Option('--max-pending <n>', 'requests awaiting a response per connection').argParser(intArg('--max-pending', 1, 1_000_000)).default(DEFAULT_LIMITS.maxPendingRequests))
    .addOption(new Option('--max-ooo-bytes <n>', 'out-of-order bytes buffered per direction').argParser(intArg('--max-ooo-bytes', 0, 1 << 30)).default(DEFAULT_LIMITS.maxOutOfOrderBytes))
    .addOption(new Option('--max-text <n>', 'characters of path/SQL kept in records').argParser(intArg('--max-text', 16, 65_536)).default(DEFAULT_LIMITS.maxTextBytes))
    .addOption(new Option('--syn-timeout <seconds>', 'a TCP connect whose SYN gets neither SYN/ACK nor RST for this long (capture clock) counts as unanswered').argParser(intArg('--syn-timeout', 1, 3600)).default(DEFAULT_SYN_TIMEOUT_US / 1e6))
}

function limitsFrom(o: Record<string, unknown>): Partial<Limits> {
  return {
    maxFlows: o.maxFlows as number,
    flowIdleUs: (o.flowIdle as number) * 1e6,
    maxPendingRequests: o.maxPending as number,
    maxOutOfOrderBytes: o.maxOooBytes as number,
    maxTextBytes: o.maxText as number,
  }
}

/**
 * Opens the outputs the flags ask for (InfluxDB, Prometheus, xlsx), runs `body` with a hub that feeds
 * them and the health counters they export, and always closes them (flushing what is queued).
 */
async function withOutputs(
  o: Record<string, unknown>,
  body: (hub: OutputHub, counters: Counters, ui: UiHandle | null) => Promise<void>,
  wrapOutput: (x: Output) => Output = (x) => x,
  title = 'podtap',
): Promise<void> {
  const counters = new Counters()
  const limits = limitsFrom(o)
  const outs = await buildOutputs({ ...(o as OutputOptions), limits }, counters)
  let ui: UiHandle | null = null
  try {
    ui = await openUi(o as UiFlags, { counters, title, log: (m) => log.info(m) })
  } catch (e) {
    await Promise.allSettled(outs.map((x) => x.close()))
    throw e
  }
  if (ui !== null) outs.push(ui.output)
  const hub = new OutputHub(outs.map(wrapOutput), { counters, limits, windowSeconds: o.window as number | undefined })
  try {
    await body(hub, counters, ui)
  } finally {
    await hub.close()
  }
}

export function buildProgram(): Command {
  const program = new Command()
  program
    .name('podtap')
    .description(
      'Layer-7 traffic analyzer for Kubernetes pods, nodes and containers: watches TCP traffic (eBPF on ' +
        'pod veths, any interface, or capture files), pairs requests with responses (HTTP/1.x, HTTP/2, gRPC, MySQL, ' +
        'PostgreSQL, Redis) and reports rate, errors and latency (p50/p90/p99) per endpoint, plus ' +
        'per-request traces. Start with `podtap demo` (root), or `podtap replay FILE.pcap`.',
    )
    .version('0.1.0')
    .showHelpAfterError('(run with --help for usage)')
  // podtap's own log lines (src/log.ts): set before any command runs
  program.hook('preAction', (_root, cmd) => {
    const o = cmd.opts()
    configureLog({ format: o.logFormat as LogFormat | undefined, level: o.logLevel as LogLevel | undefined })
  })

  const rp = program
    .command('replay')
    .description('replay pcap/pcapng files through the analyzer and summarize what it finds')
    .argument('<file...>', 'capture files (pcap or pcapng; several are replayed one after another)')
    .addOption(new Option('--format <format>', 'table: summary per endpoint/method/resource/status; jsonl: one exchange per line on stdout').choices(['table', 'jsonl']).default('table'))
    .option('--summary', 'with --format jsonl, also print the summary table (on stderr)', false)
    .option('--protocols <list>', 'only these protocols, comma-separated (default: all)', protocolList)
    .option('--jsonl <file>', 'also write every exchange as JSON Lines to this file')
    .option('--no-progress', 'no progress bar (it shows only on a terminal, for files over 8 MB)')
  addLimitOptions(rp)
  addOutputOptions(rp)
  addLogOptions(rp)
  addUiOptions(rp)
  rp.addHelpText(
    'after',
    '\nExamples:\n  podtap replay capture.pcap\n  podtap replay --format jsonl capture.pcapng > exchanges.jsonl\n  podtap replay --protocols http --summary --format jsonl a.pcap b.pcap\n\nExit codes: 0 ok, 1 runtime failure, 2 bad usage or a file that is not a readable capture.',
  )
  rp.action(async (files: string[], o: Record<string, unknown>) => {
    const ro = {
      format: o.format as 'table' | 'jsonl',
      summary: Boolean(o.summary),
      protocols: o.protocols as string[] | undefined,
      jsonlFile: o.jsonl as string | undefined,
      limits: limitsFrom(o),
      progress: Boolean(o.progress) && isatty(2),
    }
    await withOutputs(o, async (hub, counters, ui) => {
      const r = await replay(files, { ...ro, counters, onExchange: hub.exchange, onLink: hub.link, tcp: { ...hub.tcpOptions(), synTimeoutUs: (o.synTimeout as number) * 1e6 } })
      printReplayResult(r, ro)
      if (ui !== null) {
        const stop = stopOnSignals()
        try {
          await serveUntilStopped(ui, stop.signal, (m) => log.info(m))
        } finally {
          stop.dispose()
        }
      }
    }, undefined, `podtap replay ${basename(files[0]!)}${files.length > 1 ? ` and ${files.length - 1} more` : ''}`)
  })
  const cp = program
    .command('capture')
    .description('capture live on network interfaces (eBPF socket filter + AF_PACKET ring) and report what it finds')
    .option('--iface <list>', 'interfaces to capture on, comma-separated (pod veths, eth0, lo...)', splitList)
    .option('--all-veth', 'every veth interface (pods, containers), also those that appear while capturing', false)
    .option('--veth-match <pattern>', 'with --all-veth: only veths whose name matches, now and as they appear; a glob (* ? [a-z] [!a]), globs comma-separated, or a /regex/. CNIs name host-side veths by prefix: cali* Calico, lxc* Cilium, veth* flannel/bridge/kindnet, gke* GKE, eni* AWS VPC CNI')
    .addOption(new Option('--format <format>', 'table: summary per endpoint/method/resource/status (redrawn live on a terminal); jsonl: one exchange per line on stdout as they complete').choices(['table', 'jsonl']).default('table'))
    .option('--summary', 'with --format jsonl, also print the summary table at the end (on stderr)', false)
    .option('--jsonl <file>', 'also write every exchange as JSON Lines to this file')
    .option('--pcap-out <file>', 'write every captured packet to this pcap file (Ethernet link type; tcpdump/Wireshark read it)')
    .option('--duration <seconds>', 'stop after this many seconds (default: until Ctrl-C or SIGTERM)', intArg('--duration', 1, 31_536_000))
    .addOption(new Option('--snaplen <bytes>', 'bytes kept per packet').argParser(intArg('--snaplen', 64, 262_144)).default(262_144))
    .option('--ports <list>', 'only TCP segments to or from these ports, comma-separated (filtered in the kernel; for host-network pods on a shared interface)', portList)
    .option('--protocols <list>', 'only these protocols, comma-separated (default: all)', protocolList)
    .option('--ring-blocks <n>', 'ring size per interface in MiB (default 16; --all-veth and --k8s: the one ring all veths share), in blocks of 256 KiB: more absorbs longer bursts, and at pod packet rates each MiB rides out 0.2 s of podtap not reading (16: 3.2 s)', intArg('--ring-blocks', 2, 4096))
    .option('--tls', 'also read the plaintext of TLS connections through uprobes on OpenSSL (libssl, and node\'s built-in OpenSSL) and on Go programs\' crypto/tls (amd64, Go 1.17-1.23, stripped too; running and started later): records say tls: true and name the process (and its pod with --k8s); the TLS coverage (which tap reads each TLS process, or why none can) goes to the footer, podtap_tls_coverage and GET /v1/tls/coverage; alone (no --iface) it is the only input', false)
    .option('--tls-libssl <list>', 'with --tls: libssl files to tap, comma-separated (default: libssl.so.3 / .so.1.1 in the usual paths; a container\'s own: /proc/PID/root/...)', splitList)
    .option('--tls-pid <list>', 'with --tls: only these processes, comma-separated pids (OpenSSL and Go)', pidList)
    .addOption(new Option('--frame-timeout <ms>', 'hand a partly filled ring block over after this long').argParser(intArg('--frame-timeout', 1, 60_000)).default(50).hideHelp())
  addLimitOptions(cp)
  addOutputOptions(cp)
  addLogOptions(cp)
  addK8sOptions(cp)
  addUiOptions(cp)
  cp.addHelpText(
    'after',
    '\nPermissions: live capture needs CAP_BPF and CAP_NET_RAW (root has both; before Linux 5.8\n' +
      'CAP_SYS_ADMIN instead of CAP_BPF). CAP_NET_ADMIN and CAP_PERFMON are not needed for capture\n' +
      '(--tls, the OpenSSL uprobes, also needs CAP_PERFMON). To run without root, grant exactly these, e.g.\n' +
      '  setpriv --reuid=USER --regid=GROUP --clear-groups --inh-caps=+bpf,+net_raw --ambient-caps=+bpf,+net_raw podtap capture ...\n' +
      '  systemd: AmbientCapabilities=CAP_BPF CAP_NET_RAW\n' +
      '  Kubernetes: securityContext.capabilities.add: [BPF, NET_RAW] with hostNetwork: true\n' +
      'Also needed: libbpf 1.x (apt-get install libbpf1) and /sys mounted.\n' +
      '\nExamples:\n  podtap capture --iface eth0 --ports 80,6379\n  podtap capture --all-veth --format jsonl > exchanges.jsonl\n' +
      "  podtap capture --all-veth --veth-match 'cali*'   # Calico pods only; other veths' packets stop in the kernel\n" +
      '  podtap capture --iface lo --duration 30 --pcap-out lo.pcap\n' +
      '  podtap capture --tls --format jsonl          # HTTPS and other TLS traffic of every process using libssl\n' +
      '\nCtrl-C (SIGINT) or SIGTERM stops cleanly: what is already captured is analysed, the summary printed, exit 0.\n' +
      'Exit codes: 0 ok, 1 runtime failure (permissions, BPF, libbpf), 2 bad usage or an unknown interface.',
  )
  cp.action(async (o: Record<string, unknown>) => {
    const co = {
      ifaces: o.iface as string[] | undefined,
      allVeth: Boolean(o.allVeth),
      vethMatch: o.vethMatch as string | undefined,
      format: o.format as 'table' | 'jsonl',
      summary: Boolean(o.summary),
      jsonlFile: o.jsonl as string | undefined,
      pcapOut: o.pcapOut as string | undefined,
      durationS: o.duration as number | undefined,
      snaplen: o.snaplen as number,
      ports: o.ports as number[] | undefined,
      protocols: o.protocols as string[] | undefined,
      ringBlocks: o.ringBlocks as number | undefined,
      frameTimeoutMs: o.frameTimeout as number,
      limits: limitsFrom(o),
      tls: o.tls === true || o.tlsLibssl !== undefined || o.tlsPid !== undefined
        ? { libssl: o.tlsLibssl as string[] | undefined, pids: o.tlsPid as number[] | undefined }
        : undefined,
    }
    const ko = k8sOptionsFrom(o, (k) => cp.getOptionValueSource(k))
    // with the control API every parser runs and --protocols only sets which are reported at first,
    // so any protocol can be switched on later
    const control = ko.controlPort !== undefined ? new ControlState(knownProtocolIds(), co.protocols) : undefined
    await withOutputs(o, async (hub, counters, ui) => {
      const stop = stopOnSignals()
      try {
        const { capture, printCaptureResult } = await captureModule()
        const r = await capture({
          ...co,
          title: ui !== null ? `podtap capture | web UI ${ui.server.url}` : undefined,
          protocols: control !== undefined ? undefined : co.protocols,
          attach: captureHook(ko, { knownProtocols: knownProtocolIds(), protocols: co.protocols, counters, state: control, onPods: hub.pods, windowSeconds: hub.windowSeconds, ring: { blockCount: co.ringBlocks, snaplen: co.snaplen } }),
          attachOwnsInterfaces: ko.k8s,
          counters,
          exclude: await hub.ownAddresses(),
          onExchange: hub.exchange,
          onLink: hub.link,
          tcp: { ...hub.tcpOptions(), synTimeoutUs: (o.synTimeout as number) * 1e6 },
          onTick: (nowUs) => hub.tick(nowUs),
          onTlsCoverage: (rows) => {
            hub.tlsCoverage(rows)
            if (control !== undefined) control.tlsCoverage = rows
          },
          signal: stop.signal,
          onReady: (ifs) =>
            log.info(`capturing on ${ifs.join(', ') || (co.tls !== undefined && !co.allVeth && !ko.k8s ? 'TLS plaintext only' : '(veths as they appear)')}; Ctrl-C to stop`),
        })
        printCaptureResult(r, co)
      } finally {
        stop.dispose()
      }
    }, control !== undefined ? (x) => gateOutput(x, control) : undefined, 'podtap capture')
  })

  const dm = program
    .command('demo')
    .description('create test pods (network namespaces with a web tier, Redis and PostgreSQL), send requests through the chain client -> web -> cache, db and capture it live')
    .option('--duration <seconds>', 'stop after this many seconds (default: until Ctrl-C)', intArg('--duration', 1, 86_400))
    .addOption(new Option('--format <format>', 'table: live summary table; jsonl: one exchange per line on stdout').choices(['table', 'jsonl']).default('table'))
    .option('--summary', 'with --format jsonl, also print the summary table at the end (on stderr)', false)
    .addOption(new Option('--rate <n>', 'HTTP requests per second the demo client sends to the web tier (each makes 0 to 2 Redis and PostgreSQL calls)').argParser(intArg('--rate', 1, 1000)).default(20))
  addUiOptions(dm, { on: true })
  addLogOptions(dm)
  addOtlpOptions(dm)
  dm.addHelpText(
    'after',
    '\nNeeds root (network namespaces, veths, live capture) and Debian packages:\n' +
      '  apt-get install -y redis-server postgresql\n' +
      'Both are optional (left out with a message when missing); the web tier runs on podtap\'s own node.\n' +
      'Every namespace, process and temp directory the demo creates is removed on exit (Ctrl-C, --duration,\n' +
      'or an error).',
  )
  dm.action(async (o: Record<string, unknown>) => {
    const d = { durationS: o.duration as number | undefined, format: o.format as 'table' | 'jsonl', summary: Boolean(o.summary), rate: o.rate as number }
    const counters = new Counters()
    const ui = await openUi(o as UiFlags, { counters, title: 'podtap demo', log: (m) => log.info(m) })
    // OpenTelemetry spans, when asked for (first: it sets the span ids others may show)
    const otlp: OutputOptions = { otlpEndpoint: o.otlpEndpoint as string | undefined, otlpProtocol: o.otlpProtocol as string | undefined, otlpSample: o.otlpSample as number | undefined, otlpSlowMs: o.otlpSlowMs as number | undefined }
    const hub = new OutputHub(await buildOutputs(otlp, counters), { counters })
    const stop = stopOnSignals()
    try {
      const onExchange = hub.empty ? ui?.model.exchange : (e: Parameters<typeof hub.exchange>[0]) => (hub.exchange(e), ui?.model.exchange(e))
      const onLink = hub.empty ? ui?.model.link : (l: Parameters<typeof hub.link>[0]) => (hub.link(l), ui?.model.link(l))
      const { demo, printDemoResult } = await import('./demo.js')
      const r = await demo({ ...d, signal: stop.signal, counters, uiUrl: ui?.server.url, onExchange, onLink })
      printDemoResult(r, d)
    } finally {
      stop.dispose()
      await hub.close()
      await ui?.output.close()
    }
  })
  return program
}

/** --log-format, --log-level (src/log.ts), under a "Logging" help heading */
function addLogOptions(cmd: Command): void {
  const g = 'Logging:'
  cmd
    .addOption(new Option('--log-format <format>', "podtap's own messages on stderr: json (one JSON object a line: level, time, msg, fields; what a DaemonSet's log pipeline reads) or human (\"podtap: ...\" lines); default human on a terminal, json otherwise").choices(['json', 'human']).env('PODTAP_LOG_FORMAT').helpGroup(g))
    .addOption(new Option('--log-level <level>', 'least severe message logged').choices([...LOG_LEVELS]).default('info').env('PODTAP_LOG_LEVEL').helpGroup(g))
}

export async function main(argv: string[]): Promise<void> {
  // a reader that goes away (`podtap ... | head`) ends output quietly, not with a stack trace
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0)
      throw err
    })
  }
  // test-only: arms the fault injection hooks (src/fault.ts); never set in production
  injectFaultsFromEnv(process.env.PODTAP_TEST_FAULT)
  const program = buildProgram()
  program.exitOverride()
  // subcommands copy settings when created, so they need it too (else a bad option value exits 1, not 2)
  for (const c of program.commands) c.exitOverride()
  try {
    await program.parseAsync(argv)
  } catch (err) {
    const e = err as { code?: string; exitCode?: number }
    if (typeof e.code === 'string' && e.code.startsWith('commander.')) {
      // commander already printed the message (or help/version)
      process.exitCode = e.exitCode === 0 ? 0 : 2
      return
    }
    if (err instanceof PodtapError) {
      process.stderr.write(`podtap: ${err.message}\n`)
      process.exitCode = err.exitCode
      return
    }
    process.stderr.write(`podtap: internal error: ${(err as Error)?.stack ?? String(err)}\n`)
    process.exitCode = 1
  }
}
