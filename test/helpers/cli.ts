// Runs podtap's real CLI from source in a child process (tsx), as a user would run bin/podtap.js.

import { spawnSync } from 'node:child_process'
import * as path from 'node:path'

export const ROOT = path.resolve(import.meta.dirname, '..', '..')

export interface CliResult {
  status: number | null
  stdout: string
  stderr: string
}

export function runCli(args: string[], opts: { input?: string; env?: Record<string, string | undefined>; timeoutMs?: number } = {}): CliResult {
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src', 'cli', 'entry.ts'), ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    input: opts.input,
    env: { ...process.env, FORCE_COLOR: '0', ...opts.env },
    timeout: opts.timeoutMs ?? 60_000,
    maxBuffer: 1 << 28,
  })
  return { status: r.status, stdout: r.stdout, stderr: r.stderr }
}
