// podtap's command line: wiring only (commander). Exit codes: 0 ok, 1 runtime failure, 2 bad usage or input.

import { Command, InvalidArgumentError, Option } from 'commander'
import { DEFAULT_LIMITS, type Limits } from '../config.js'
import { PodtapError } from '../errors.js'
import { knownProtocolIds } from '../protocols/registry.js'
import { printReplayResult, replay } from './replay.js'

function intArg(name: string, min: number, max: number) {
  return (v: string): number => {
    const n = Number(v)
    if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`${name} must be a whole number from ${min} to ${max}`)
    return n
  }
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

export function buildProgram(): Command {
  const program = new Command()
  program
    .name('podtap')
    .description(
      'Layer-7 traffic analyzer for Kubernetes pods, nodes and containers: watches TCP traffic (eBPF on\n' +
        'veths, or capture files), pairs requests with responses for HTTP/1.x and more, and reports\n' +
        'rate, errors and latency (p50/p90/p99) per endpoint, plus per-request traces.',
    )
    .version('0.1.0')
    .showHelpAfterError('(run with --help for usage)')

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
      progress: Boolean(o.progress) && process.stderr.isTTY === true,
    }
    const r = await replay(files, ro)
    printReplayResult(r, ro)
  })
  return program
}

export async function main(argv: string[]): Promise<void> {
  const program = buildProgram()
  program.exitOverride()
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
