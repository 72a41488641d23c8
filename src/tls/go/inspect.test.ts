// Go binary inspection against real Go 1.19 binaries built here (test/go/, stripped and not, PIE),
// checked against the Go toolchain's own view (`go tool nm` symbol addresses, `go version`) and
// binutils' disassembler (objdump's RET lines); refusals on real non-Go ELF files, and on copies of
// the real binaries cut short or patched (truncated, another Go version, arm64, an invalid
// instruction, the pre-1.18 build info form). No root needed; skips without golang-go.

import { execFileSync } from 'node:child_process'
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { goBuild, goMissing } from '../../../test/helpers/go.js'
import { readGoVersion } from './buildinfo.js'
import { ElfFile } from './elf.js'
import { GO_TLS_READ, GO_TLS_WRITE, inspectGoBinary, type GoInspection } from './inspect.js'

const missing = goMissing()
if (missing !== null) console.log(`Go inspection tests skipped: ${missing}`)

type Ok = GoInspection & { ok: true }

describe.skipIf(missing !== null)('inspectGoBinary on real Go binaries', () => {
  let plain = ''
  let stripped = ''
  let pie = ''
  let grpc = ''
  let hello = ''
  let dir = ''
  beforeAll(() => {
    plain = goBuild('httpsapp')
    stripped = goBuild('httpsapp', { stripped: true })
    pie = goBuild('httpsapp', { pie: true })
    grpc = goBuild('grpcapp', { stripped: true })
    hello = goBuild('hello')
    dir = mkdtempSync(join(tmpdir(), 'podtap-goinspect-'))
  }, 120_000)
  afterAll(() => {
    if (dir !== '') rmSync(dir, { recursive: true, force: true })
  })

  const goVersion = (): string => execFileSync('go', ['env', 'GOVERSION'], { encoding: 'utf8' }).trim()

  it('finds Read and Write where go tool nm says they are, with the toolchain\'s version', () => {
    const r = inspectGoBinary(plain) as Ok
    expect(r.ok).toBe(true)
    expect(r.goVersion).toBe(goVersion())
    expect(r.pclntab).toBe('1.18') // Go 1.18 and 1.19 share the 0xfffffff0 header
    const nm = execFileSync('go', ['tool', 'nm', '-size', plain], { encoding: 'utf8' })
    for (const site of [r.read, r.write]) {
      const line = nm.split('\n').find((l) => l.trim().endsWith(` T ${site.name}`))!
      const [addr, size] = line.trim().split(/\s+/)
      expect(site.entry).toBe(parseInt(addr!, 16))
      // pclntab ends a function where the next begins: nm's size plus the alignment padding (INT3s)
      expect(site.size - Number(size)).toBeGreaterThanOrEqual(0)
      expect(site.size - Number(size)).toBeLessThan(32)
    }
    expect([r.read.name, r.write.name]).toEqual([GO_TLS_READ, GO_TLS_WRITE])
  })

  it('finds every RET objdump finds, and nothing else', () => {
    const r = inspectGoBinary(plain) as Ok
    const elf = ElfFile.open(plain)
    try {
      for (const site of [r.read, r.write]) {
        const dis = execFileSync('objdump', ['-d', '--no-show-raw-insn', `--start-address=0x${site.entry.toString(16)}`, `--stop-address=0x${(site.entry + site.size).toString(16)}`, plain], { encoding: 'utf8' })
        const rets = [...dis.matchAll(/^\s*([0-9a-f]+):\s+ret/gm)].map((m) => elf.fileOffset(parseInt(m[1]!, 16)))
        expect(rets.length).toBeGreaterThan(2)
        expect(site.retOffsets).toEqual(rets)
        expect(site.entryOffset).toBe(elf.fileOffset(site.entry))
      }
    } finally {
      elf.close()
    }
  })

  it('a stripped binary (-s -w: no symbols, no DWARF) gives the same answer as the unstripped one', () => {
    const a = inspectGoBinary(plain) as Ok
    const b = inspectGoBinary(stripped) as Ok
    expect(execFileSync('readelf', ['-S', stripped], { encoding: 'utf8' })).not.toMatch(/\.symtab|\.debug_info/)
    expect(b).toEqual(a)
  })

  it('PIE and the gRPC program are read too', () => {
    for (const p of [pie, grpc]) {
      const r = inspectGoBinary(p) as Ok
      expect(r.ok).toBe(true)
      expect(r.read.retOffsets.length).toBeGreaterThan(0)
      expect(r.write.retOffsets.length).toBeGreaterThan(0)
    }
  })

  it('a Go program without crypto/tls is Go but nothing to tap', () => {
    expect(inspectGoBinary(hello)).toMatchObject({ ok: false, go: true, noTls: true, goVersion: goVersion() })
  })

  it('refuses what is not Go, or not whole, with the reason', () => {
    expect(inspectGoBinary('/bin/sh')).toMatchObject({ ok: false, go: false, reason: expect.stringMatching(/no Go build info/) })
    const garbage = join(dir, 'garbage')
    writeFileSync(garbage, Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) & 0xff)))
    expect(inspectGoBinary(garbage)).toMatchObject({ ok: false, go: false, reason: expect.stringMatching(/not an ELF file/) })
    expect(inspectGoBinary(join(dir, 'absent'))).toMatchObject({ ok: false, unreadable: true })
    // cut after the section headers' start: the headers are not all there
    const full = readFileSync(stripped)
    for (const cut of [40, 200, full.length >> 1]) {
      const f = join(dir, `truncated-${cut}`)
      writeFileSync(f, full.subarray(0, cut))
      const r = inspectGoBinary(f)
      expect(r.ok, `cut at ${cut}`).toBe(false)
      expect((r as { reason: string }).reason).toMatch(/truncated|not an ELF|no Go build info|corrupt/)
    }
  })

  /** A copy of the stripped binary with patch applied (offsets of the real file). */
  function patched(name: string, patch: (b: Buffer, elf: ElfFile) => void): string {
    const f = join(dir, name)
    copyFileSync(stripped, f)
    const b = readFileSync(f)
    const elf = ElfFile.open(stripped)
    try {
      patch(b, elf)
    } finally {
      elf.close()
    }
    writeFileSync(f, b)
    return f
  }

  it('refuses a Go version outside the offsets table, naming it', () => {
    const f = patched('go199', (b, elf) => {
      const sec = elf.section('.go.buildinfo')!
      const at = b.indexOf('go1.', sec.offset)
      expect(at - sec.offset).toBeLessThan(64) // the inline (1.18+) form: right after the header
      b.write('go1.99', at, 'latin1')
    })
    expect(inspectGoBinary(f)).toMatchObject({ ok: false, go: true, reason: expect.stringMatching(/^unknown Go version go1\.99/) })
  })

  it('refuses arm64 and code the decoder does not expect', () => {
    const arm = patched('arm64', (b) => b.writeUInt16LE(183, 18))
    expect(inspectGoBinary(arm)).toMatchObject({ ok: false, go: true, reason: expect.stringMatching(/arm64 .* not supported/) })
    const r = inspectGoBinary(stripped) as Ok
    // 0x06 (push es) is invalid in 64-bit mode
    const bad = patched('invalid', (b) => b.fill(0x06, r.write.entryOffset + 40, r.write.entryOffset + 48))
    expect(inspectGoBinary(bad)).toMatchObject({ ok: false, go: true, reason: expect.stringMatching(/code the decoder does not expect: invalid instruction/) })
    // a prologue that does not check the stack through R14: not the register ABI
    const noAbi = patched('noabi', (b) => b.fill(0x90, r.read.entryOffset, r.read.entryOffset + 16))
    expect(inspectGoBinary(noAbi)).toMatchObject({ ok: false, reason: expect.stringMatching(/register-ABI prologue/) })
  })

  it('reads the pre-1.18 build info form (pointers to a Go string header)', () => {
    const f = patched('buildinfo-117', (b, elf) => {
      const sec = elf.section('.go.buildinfo')!
      const o = sec.offset
      // header flags: little-endian, pointer form; pointers at 16 (version) and 24 (modinfo)
      b[o + 15] = 0
      const hdr = sec.addr + 0x40
      const str = sec.addr + 0x60
      b.writeBigUInt64LE(BigInt(hdr), o + 16)
      b.writeBigUInt64LE(BigInt(hdr), o + 24)
      b.writeBigUInt64LE(BigInt(str), o + 0x40)
      b.writeBigUInt64LE(9n, o + 0x48)
      b.write('go1.17.13', o + 0x60, 'latin1')
    })
    const elf = ElfFile.open(f)
    try {
      expect(readGoVersion(elf)).toBe('go1.17.13')
    } finally {
      elf.close()
    }
    expect(inspectGoBinary(f)).toMatchObject({ ok: true, goVersion: 'go1.17.13' })
  })
})
