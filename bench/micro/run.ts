// Runs every bench/micro/*.bench.ts, one after the other, each in a process of its own: parsers
// benchmarked in one process would share the harness's call sites, which V8 then sees megamorphic,
// and each would be measured after the others' garbage.
// Run: npm run bench:micro [-- <name>...]   (names filter: `-- redis mysql`)

import { spawnSync } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const only = process.argv.slice(2)
const files = readdirSync(here)
  .filter((f) => f.endsWith('.bench.ts'))
  .filter((f) => only.length === 0 || only.some((o) => f.startsWith(o)))
  .sort()
if (files.length === 0) throw new Error(`no bench/micro/*.bench.ts matches ${only.join(' ')}`)

const failed: string[] = []
for (const f of files) {
  console.log(`\n=== ${f}`)
  // process.execArgv carries tsx's loader (this file runs under tsx), so the child runs TypeScript too
  const r = spawnSync(process.execPath, [...process.execArgv, join(here, f)], { stdio: 'inherit' })
  if (r.status !== 0) failed.push(`${f} (${r.signal ?? 'exit ' + r.status})`)
}
if (failed.length > 0) {
  console.error(`\nfailed: ${failed.join(', ')}`)
  process.exitCode = 1
}
