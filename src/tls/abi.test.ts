// abi.ts must mirror bpf/tls_abi.h, and the committed bpf/tls_tap.bpf.o must be what
// bpf/tls_tap.c builds to today (CI has clang; elsewhere the rebuild check skips, saying why).

import { execFileSync, spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { goTlsObjectPath, TLS_ABI, TLS_COUNTER_FIELDS, tlsObjectPath } from './abi.js'

const root = fileURLToPath(new URL('../../', import.meta.url))
const abiH = readFileSync(join(root, 'bpf/tls_abi.h'), 'utf8')

/** `#define PODTAP_TLS_X value` lines, prefix stripped; numbers parsed, identifiers kept. */
function parseDefines(text: string): Map<string, number | string> {
  const out = new Map<string, number | string>()
  for (const m of text.matchAll(/^#define\s+PODTAP_TLS_(\w+)\s+(\S+)\s*$/gm)) {
    const v = m[2]!
    out.set(m[1]!, /^(0x[0-9a-fA-F]+|\d+)$/.test(v) ? Number(v) : v)
  }
  return out
}

describe('src/tls/abi.ts mirrors bpf/tls_abi.h', () => {
  const defs = parseDefines(abiH)

  it('finds the defines (the parser is not silently matching nothing)', () => {
    expect(defs.size).toBeGreaterThanOrEqual(40)
    expect(defs.get('MAP_EVENTS')).toBe('tls_events')
  })

  it('every #define has the same value in TLS_ABI, and TLS_ABI has nothing tls_abi.h lacks', () => {
    const fromH = Object.fromEntries([...defs].filter(([k]) => k !== 'ABI_H'))
    expect(TLS_ABI).toEqual(fromH)
  })

  it('counter fields cover every counter index in order', () => {
    expect(TLS_COUNTER_FIELDS).toHaveLength(TLS_ABI.CNT_MAX)
    const idx = Object.entries(TLS_ABI)
      .filter(([k]) => k.startsWith('CNT_') && k !== 'CNT_MAX')
      .sort((a, b) => (a[1] as number) - (b[1] as number))
    expect(idx.map(([, v]) => v)).toEqual([...Array(TLS_ABI.CNT_MAX).keys()])
    const camel = (s: string) => s.toLowerCase().replace(/_([a-z])/g, (_, c: string) => c.toUpperCase())
    expect(idx.map(([k]) => camel(k.slice(4)))).toEqual(TLS_COUNTER_FIELDS)
  })

  it('record header fields do not overlap and end at EV_HDR_SIZE', () => {
    const sizes: Record<string, number> = {
      TS: 8, PID: 4, TID: 4, SSL: 8, DIR: 1, FAMILY: 1, LPORT: 2, RPORT: 2, LADDR: 16, RADDR: 16, LEN: 4, CAP_LEN: 4, COMM: 16, TAP: 1, ROLE: 1,
    }
    const fields = Object.entries(TLS_ABI)
      .filter(([k]) => k.startsWith('EV_OFF_'))
      .map(([k, v]) => ({ off: v as number, size: sizes[k.slice(7)]! }))
      .sort((a, b) => a.off - b.off)
    expect(fields).toHaveLength(Object.keys(sizes).length)
    for (let i = 1; i < fields.length; i++) expect(fields[i]!.off).toBeGreaterThanOrEqual(fields[i - 1]!.off + fields[i - 1]!.size)
    expect(fields.at(-1)!.off + fields.at(-1)!.size).toBe(TLS_ABI.EV_HDR_SIZE)
    expect(TLS_ABI.EV_HDR_SIZE % 8).toBe(0) // ring records are 8-byte aligned
  })

  it('names fit the kernel limit of 15 characters; the ring size is a power of 2 of whole pages', () => {
    for (const [k, v] of Object.entries(TLS_ABI)) if (/^(GO_)?(MAP|PROG)_/.test(k)) expect((v as string).length).toBeLessThanOrEqual(15)
    expect(TLS_ABI.RINGBUF_BYTES & (TLS_ABI.RINGBUF_BYTES - 1)).toBe(0)
    expect(TLS_ABI.RINGBUF_BYTES % 65536).toBe(0)
  })
})

function have(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0
}

const objdump = have('llvm-objdump') ? 'llvm-objdump' : null
const noRebuild = !have('clang') ? 'no clang' : objdump === null ? 'no llvm-objdump' : !have('llvm-strip') ? 'no llvm-strip' : null
if (noRebuild !== null) console.log(`tls object freshness check skipped: ${noRebuild}`)

// each object: its committed path, the TLS_ABI names it holds, its source
const OBJECTS = [
  { name: 'tls_tap', committed: tlsObjectPath(), names: /^(MAP|PROG)_/, src: 'bpf/tls_tap.c' },
  { name: 'go_tls', committed: goTlsObjectPath(), names: /^GO_(MAP|PROG)_/, src: 'bpf/go_tls.c' },
]

describe.each(OBJECTS)('bpf/$name.bpf.o', ({ name, committed, names, src }) => {

  it.skipIf(objdump === null)('holds every program and map tls_abi.h names', () => {
    const syms = execFileSync(objdump!, ['-t', committed], { encoding: 'utf8' })
    for (const [k, v] of Object.entries(TLS_ABI)) {
      if (names.test(k)) expect(syms).toMatch(new RegExp(`\\s${v as string}$`, 'm'))
    }
  })

  it.skipIf(noRebuild !== null)(`is current: rebuilding ${src} gives the same instructions and maps`, () => {
    const dir = mkdtempSync(join(tmpdir(), 'podtap-bpf-tls-'))
    try {
      const fresh = join(dir, `${name}.bpf.o`)
      execFileSync('sh', [join(root, 'scripts/build-bpf-tls.sh'), fresh, src], { stdio: 'pipe' })
      const a = readFileSync(committed)
      const b = readFileSync(fresh)
      if (a.equals(b)) return // the build is reproducible (see scripts/build-bpf-tls.sh): the common case
      const dis = (f: string) =>
        execFileSync(objdump!, ['-d', '-r', '--no-show-raw-insn', f], { encoding: 'utf8' }).split('\n').slice(2).join('\n')
      const sym = (f: string) => execFileSync(objdump!, ['-t', f], { encoding: 'utf8' }).split('\n').slice(2).sort().join('\n')
      const stale = `bpf/${name}.bpf.o is stale: run \`sh scripts/build-bpf-tls.sh\` and commit it`
      expect(dis(fresh), stale).toBe(dis(committed))
      expect(sym(fresh), stale).toBe(sym(committed))
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
