// The CLI users run: bin/podtap.js loads dist/run/ (the compiled CLI bundled by scripts/build-cli.mjs).
// Every other test runs the CLI from source; this one checks the build gives the same records, the
// same table and the same errors. Needs `npm run build` (npm ci runs it): skipped with a reason when
// dist/run/ is missing or older than a source file (a worktree whose build is behind its sources).

import { spawnSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { describe, expect, it } from 'vitest'
import { ROOT, runCli } from './helpers/cli.js'

const MAIN = path.join(ROOT, 'dist', 'run', 'main.js')

/** the newest modification time of the sources the build is made from */
function newestSource(dir: string): number {
  let t = 0
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name)
    if (e.isDirectory()) t = Math.max(t, newestSource(p))
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.test.ts')) t = Math.max(t, fs.statSync(p).mtimeMs)
  }
  return t
}

const BUILT = fs.existsSync(MAIN) && fs.statSync(MAIN).mtimeMs >= newestSource(path.join(ROOT, 'src'))
if (!BUILT) console.warn('cli-bundle.test.ts: skipped: dist/run/ is missing or older than src/ (run npm run build)')

function runBuilt(args: string[]) {
  const r = spawnSync(process.execPath, [path.join(ROOT, 'bin', 'podtap.js'), ...args], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, FORCE_COLOR: '0' }, timeout: 60_000, maxBuffer: 1 << 28 })
  return { status: r.status, stdout: r.stdout, stderr: r.stderr }
}

describe.skipIf(!BUILT)('the built CLI (bin/podtap.js, dist/run/)', () => {
  const pcaps = ['http1/04-docker-keepalive-chunked-upgrade.pcap', 'http2', 'mysql', 'pgsql', 'redis', 'mongo', 'kafka'].flatMap((p) => {
    const full = path.join(ROOT, 'test', 'pcaps', p)
    return fs.statSync(full).isDirectory() ? fs.readdirSync(full).filter((f) => /\.pcap(ng)?$/.test(f)).slice(0, 2).map((f) => path.join(full, f)) : [full]
  })

  it('replays to the same JSON lines and table as the CLI from source', () => {
    const args = ['replay', '--format', 'jsonl', '--summary', ...pcaps]
    const built = runBuilt(args)
    const source = runCli(args)
    expect(built.status).toBe(0)
    expect(built.stdout.length).toBeGreaterThan(1000)
    expect(built.stdout).toBe(source.stdout)
    const untimed = (t: string) => t.replace(/ in \d+\.\d+ s/g, ' in (time) s')
    expect(untimed(built.stderr)).toBe(untimed(source.stderr))
    expect(built.stderr).toContain('exchanges')
  })

  it('reports a bad file and a bad option as the CLI from source does (exit 2)', () => {
    for (const args of [['replay', path.join(ROOT, 'package.json')], ['replay', '--format', 'xml', 'x.pcap']]) {
      const built = runBuilt(args)
      const source = runCli(args)
      expect([built.status, built.stderr]).toEqual([2, source.stderr])
    }
  })
})
