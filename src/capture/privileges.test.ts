// The preflight's capability arithmetic, its messages, and (as root, with setpriv) the real thing:
// an unprivileged user with exactly CAP_BPF + CAP_NET_RAW can capture; without one of them the error
// names what is missing and how to fix it.

import { execFileSync, spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { CaptureError } from '../errors.js'
import { probeBpf } from './libbpf.js'
import {
  Cap,
  effectiveCapabilities,
  hasCap,
  missingCapabilities,
  PERMISSION_FIX,
  preflight,
  preflightError,
  syscallError,
} from './privileges.js'

const bit = (n: number) => 1n << BigInt(n)

describe('capabilities', () => {
  it('reads CapEff from /proc/self/status text', () => {
    const status = 'Name:\tnode\nCapInh:\t0000000000000000\nCapEff:\t000001fffeffffff\nCapBnd:\t000001fffeffffff\n'
    expect(effectiveCapabilities(status)).toBe(0x1fffeffffffn)
    expect(effectiveCapabilities('Name: x\n')).toBe(0n)
  })

  it('needs CAP_NET_RAW and CAP_BPF, or CAP_SYS_ADMIN in place of CAP_BPF', () => {
    expect(missingCapabilities(0n)).toEqual(['CAP_NET_RAW', 'CAP_BPF'])
    expect(missingCapabilities(bit(Cap.NET_RAW) | bit(Cap.BPF))).toEqual([])
    expect(missingCapabilities(bit(Cap.NET_RAW) | bit(Cap.SYS_ADMIN))).toEqual([])
    expect(missingCapabilities(bit(Cap.BPF))).toEqual(['CAP_NET_RAW'])
    expect(hasCap(bit(Cap.PERFMON), Cap.PERFMON)).toBe(true)
    expect(hasCap(bit(Cap.PERFMON), Cap.BPF)).toBe(false)
  })

  it('turns EPERM/EACCES into the capability advice and other errnos into a named failure', () => {
    const e = syscallError('socket(AF_PACKET)', 1)
    expect(e).toBeInstanceOf(CaptureError)
    expect(e.code).toBe('PODTAP_PERMISSION')
    expect(e.exitCode).toBe(1)
    expect(e.message).toContain('run as root or grant CAP_BPF, CAP_NET_RAW, CAP_NET_ADMIN')
    expect(syscallError('x', 13).code).toBe('PODTAP_PERMISSION')
    expect(syscallError('mmap', 12).message).toBe('mmap failed: ENOMEM')
    expect(syscallError('bpf', 38).code).toBe('PODTAP_NO_BPF')
  })

  it('preflightError names the first failing check (BTF is advice, not a failure)', () => {
    const p = {
      ok: false,
      capEff: 0n,
      checks: [
        { name: 'btf' as const, ok: false, message: 'no btf' },
        { name: 'capabilities' as const, ok: false, message: 'missing CAP_BPF: ' + PERMISSION_FIX },
      ],
    }
    expect(preflightError(p)).toMatchObject({ code: 'PODTAP_PERMISSION', message: 'missing CAP_BPF: ' + PERMISSION_FIX })
    expect(preflightError({ ok: true, capEff: 0n, checks: [{ name: 'btf', ok: false, message: '' }] })).toBeNull()
  })
})

const isRoot = process.getuid?.() === 0
const setpriv = spawnSync('sh', ['-c', 'command -v setpriv']).status === 0
const why = !isRoot ? 'not root' : !setpriv ? 'no setpriv' : null
if (why !== null) console.log(`privilege drop tests skipped: ${why}`)

describe.skipIf(why !== null)('as an unprivileged user (setpriv)', () => {
  const root = fileURLToPath(new URL('../../', import.meta.url))
  // a child that runs the preflight and opens capture on lo, printing one JSON line
  const script = `
    import { openAfPacket } from './src/capture/af-packet.ts'
    import { preflight, preflightError } from './src/capture/privileges.ts'
    import { probeBpf } from './src/capture/libbpf.ts'
    const p = preflight({ loadProbe: probeBpf })
    let open = 'ok'
    try { openAfPacket({ iface: 'lo' }).close() } catch (e) { open = e.code + ': ' + e.message }
    console.log(JSON.stringify({ uid: process.getuid(), ok: p.ok, err: preflightError(p)?.message ?? null, open }))
  `
  function runAs(caps: string): { uid: number; ok: boolean; err: string | null; open: string } {
    const capArgs = caps === '' ? [] : [`--inh-caps=${caps}`, `--ambient-caps=${caps}`]
    const out = execFileSync(
      'setpriv',
      ['--reuid=65534', '--regid=65534', '--clear-groups', ...capArgs, process.execPath, '--import', 'tsx', '--input-type=module', '-e', script],
      { cwd: root, encoding: 'utf8', timeout: 60_000 },
    )
    return JSON.parse(out.trim().split('\n').pop()!)
  }

  it('CAP_BPF + CAP_NET_RAW are enough to capture', () => {
    expect(runAs('+bpf,+net_raw')).toEqual({ uid: 65534, ok: true, err: null, open: 'ok' })
  })

  it('without CAP_BPF: the preflight and the open both say so, with the fix', () => {
    const r = runAs('+net_raw')
    expect(r.ok).toBe(false)
    expect(r.err).toBe('missing CAP_BPF: ' + PERMISSION_FIX)
    expect(r.open).toBe('PODTAP_PERMISSION: loading the BPF socket filter: permission denied (EPERM): ' + PERMISSION_FIX)
  })

  it('without CAP_NET_RAW: the packet socket is refused with the fix', () => {
    const r = runAs('+bpf')
    expect(r.err).toBe('missing CAP_NET_RAW: ' + PERMISSION_FIX)
    expect(r.open).toBe('PODTAP_PERMISSION: socket(AF_PACKET): permission denied (EPERM): ' + PERMISSION_FIX)
  })
})

describe.skipIf(!isRoot)('preflight as root', () => {
  it('passes every check here, the BPF probe included', () => {
    const p = preflight({ loadProbe: probeBpf })
    expect(p.checks.filter((c) => !c.ok && c.name !== 'btf')).toEqual([])
    expect(preflightError(p)).toBeNull()
  })
})
