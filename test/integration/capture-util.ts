// Shared by capture-*.test.ts and demo.test.ts: the podtap CLI as a child process (from source through
// tsx, see podtap-cli.ts), waiting for it to be ready, stopping it, and reading what it printed.

import { spawn, type ChildProcess } from 'node:child_process'
import { request, type Agent } from 'node:http'
import { fileURLToPath } from 'node:url'
import type { TraceRecord } from '../../src/records.js'

export const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const CLI = fileURLToPath(new URL('./podtap-cli.ts', import.meta.url))

/** what `podtap capture` prints on stderr once every interface given is attached */
export const READY = /capturing on [^\n]*; Ctrl-C to stop/

export interface PodtapRun {
  child: ChildProcess
  /** everything printed so far */
  readonly stdout: string
  readonly stderr: string
  /** resolves once stderr matches re (rejects if the process exits first or after timeoutMs) */
  waitFor(re: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>
  /** resolves at exit with the code (null when killed by a signal) */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
}

/** Starts `podtap <args>`; `prefix` runs it under another command (setpriv ...). */
export function runPodtap(args: string[], opts: { prefix?: string[]; env?: NodeJS.ProcessEnv } = {}): PodtapRun {
  const argv = [...(opts.prefix ?? []), process.execPath, '--import', 'tsx', CLI, ...args]
  const child = spawn(argv[0]!, argv.slice(1), { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: opts.env ?? process.env })
  let stdout = ''
  let stderr = ''
  const watchers = new Set<() => void>()
  child.stdout!.on('data', (b: Buffer) => (stdout += b.toString()))
  child.stderr!.on('data', (b: Buffer) => {
    stderr += b.toString()
    for (const w of watchers) w()
  })
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('close', (code, signal) => {
      resolve({ code, signal })
      for (const w of watchers) w()
    }),
  )
  return {
    child,
    get stdout() {
      return stdout
    },
    get stderr() {
      return stderr
    },
    waitFor(re: RegExp, timeoutMs = 30_000): Promise<RegExpMatchArray> {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          const m = re.exec(stderr)
          if (m !== null) {
            done()
            resolve(m)
          } else if (child.exitCode !== null || child.signalCode !== null) {
            done()
            reject(new Error(`podtap exited (${child.exitCode ?? child.signalCode}) before printing ${re}; stderr:\n${stderr}`))
          }
        }
        const t = setTimeout(() => {
          done()
          reject(new Error(`podtap did not print ${re} within ${timeoutMs} ms; stderr:\n${stderr}`))
        }, timeoutMs)
        const done = (): void => {
          clearTimeout(t)
          watchers.delete(check)
        }
        watchers.add(check)
        check()
      })
    },
    exited,
  }
}

/** The JSONL exchanges podtap printed on stdout. */
export function traces(stdout: string): TraceRecord[] {
  return stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as TraceRecord)
}

/** "captured N packets on ... : D kernel drops, F ring freezes" from the final totals. */
export function capturedTotals(stderrOrStdout: string): { packets: number; drops: number; freezes: number; pcap: number | null } {
  const m = /captured (\d+) packets on .*: (\d+) kernel drops, (\d+) ring freezes(?:, (\d+) packets written to pcap)?/.exec(stderrOrStdout)
  if (m === null) throw new Error(`no capture totals in:\n${stderrOrStdout}`)
  return { packets: Number(m[1]), drops: Number(m[2]), freezes: Number(m[3]), pcap: m[4] === undefined ? null : Number(m[4]) }
}

/** Sends SIGINT (if still running) and waits for the exit. */
export async function interrupt(run: PodtapRun): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (run.child.exitCode === null && run.child.signalCode === null) run.child.kill('SIGINT')
  return run.exited
}

/** Kills a run left over by a failed test (SIGKILL; its own exit hook cannot run then). */
export function killRun(run: PodtapRun | undefined): void {
  if (run !== undefined && run.child.exitCode === null && run.child.signalCode === null) run.child.kill('SIGKILL')
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

// ---------------------------------------------------------------------------------------------------
// A node http client that measures each request

export interface ClientResult {
  path: string
  status: number
  /** from writing the request to the end of the response, as the client measured it */
  ms: number
  reusedSocket: boolean
}

export function get(agent: Agent | false, url: string): Promise<ClientResult> {
  const u = new URL(url)
  return new Promise((resolve, reject) => {
    const t0 = performance.now()
    const req = request({ host: u.hostname, port: u.port || 80, path: u.pathname, agent }, (res) => {
      res.resume()
      res.on('end', () => resolve({ path: u.pathname, status: res.statusCode!, ms: performance.now() - t0, reusedSocket: req.reusedSocket }))
    })
    req.on('error', reject)
    req.end()
  })
}

/** n requests, `parallel` at a time */
export async function many(n: number, parallel: number, one: (i: number) => Promise<ClientResult>): Promise<ClientResult[]> {
  const out: ClientResult[] = []
  let next = 0
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < n) out.push(await one(next++))
    }),
  )
  return out
}

