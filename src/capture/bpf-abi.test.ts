// bpf-abi.ts must mirror bpf/abi.h, and the committed bpf/socket_filter.bpf.o must be what
// bpf/socket_filter.c builds to today (CI has clang; elsewhere the rebuild check skips, saying why).

import { execFileSync, spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { BPF_ABI, COUNTER_FIELDS, filterObjectPath } from './bpf-abi.js'

const root = fileURLToPath(new URL('../../', import.meta.url))
const abiH = readFileSync(join(root, 'bpf/abi.h'), 'utf8')

/** `#define PODTAP_X value` lines of abi.h, prefix stripped; numbers parsed, identifiers kept. */
function parseDefines(text: string): Map<string, number | string> {
  const out = new Map<string, number | string>()
  for (const m of text.matchAll(/^#define\s+PODTAP_(\w+)\s+(\S+)\s*$/gm)) {
    const v = m[2]!
    out.set(m[1]!, /^(0x[0-9a-fA-F]+|\d+)$/.test(v) ? Number(v) : v)
  }
  return out
}

describe('bpf-abi.ts mirrors bpf/abi.h', () => {
  const defs = parseDefines(abiH)

  it('finds the defines (the parser is not silently matching nothing)', () => {
    expect(defs.size).toBeGreaterThanOrEqual(20)
    expect(defs.get('MAP_CONFIG')).toBe('podtap_config')
  })

  it('every #define has the same value in BPF_ABI, and BPF_ABI has nothing abi.h lacks', () => {
    const fromH = Object.fromEntries([...defs].filter(([k]) => k !== 'ABI_H'))
    expect(BPF_ABI).toEqual(fromH)
  })

  it('counter fields cover every counter index in order', () => {
    expect(COUNTER_FIELDS).toHaveLength(BPF_ABI.CNT_MAX)
    const idx = Object.entries(BPF_ABI)
      .filter(([k]) => k.startsWith('CNT_') && k !== 'CNT_MAX')
      .sort((a, b) => (a[1] as number) - (b[1] as number))
    expect(idx.map(([, v]) => v)).toEqual([...Array(BPF_ABI.CNT_MAX).keys()])
    // SEEN -> seen, DROP_NOT_TCP -> dropNotTcp
    const camel = (s: string) => s.toLowerCase().replace(/_([a-z])/g, (_, c: string) => c.toUpperCase())
    expect(idx.map(([k]) => camel(k.slice(4)))).toEqual(COUNTER_FIELDS)
  })

  it('map names fit the kernel limit of 15 characters', () => {
    for (const k of ['MAP_CONFIG', 'MAP_PORTS', 'MAP_COUNTERS', 'PROG_FILTER'] as const) {
      expect(BPF_ABI[k].length).toBeLessThanOrEqual(15)
    }
  })
})

function have(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0
}

const objdump = have('llvm-objdump') ? 'llvm-objdump' : null
const noRebuild = !have('clang') ? 'no clang' : objdump === null ? 'no llvm-objdump' : !have('llvm-strip') ? 'no llvm-strip' : null
if (noRebuild !== null) console.log(`bpf object freshness check skipped: ${noRebuild}`)

describe('bpf/socket_filter.bpf.o', () => {
  const committed = filterObjectPath()

  it.skipIf(objdump === null)('holds the program and the maps abi.h names', () => {
    const syms = execFileSync(objdump!, ['-t', committed], { encoding: 'utf8' })
    for (const name of [BPF_ABI.PROG_FILTER, BPF_ABI.MAP_CONFIG, BPF_ABI.MAP_PORTS, BPF_ABI.MAP_COUNTERS]) {
      expect(syms).toMatch(new RegExp(`\\s${name}$`, 'm'))
    }
  })

  it.skipIf(noRebuild !== null)('is current: rebuilding bpf/socket_filter.c gives the same instructions and maps', () => {
    const dir = mkdtempSync(join(tmpdir(), 'podtap-bpf-'))
    try {
      const fresh = join(dir, 'socket_filter.bpf.o')
      execFileSync('sh', [join(root, 'scripts/build-bpf.sh'), fresh], { stdio: 'pipe' })
      const a = readFileSync(committed)
      const b = readFileSync(fresh)
      if (a.equals(b)) return // the build is reproducible (see scripts/build-bpf.sh): the common case
      // otherwise compare what the kernel gets: instructions with relocations, and the symbols (maps)
      const dis = (f: string) =>
        execFileSync(objdump!, ['-d', '-r', '--no-show-raw-insn', f], { encoding: 'utf8' }).split('\n').slice(2).join('\n')
      const sym = (f: string) => execFileSync(objdump!, ['-t', f], { encoding: 'utf8' }).split('\n').slice(2).sort().join('\n')
      expect(dis(fresh), 'bpf/socket_filter.bpf.o is stale: run `npm run build:bpf` and commit it').toBe(dis(committed))
      expect(sym(fresh), 'bpf/socket_filter.bpf.o is stale: run `npm run build:bpf` and commit it').toBe(sym(committed))
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
