// Can this executable's crypto/tls be tapped, and where: the whole inspection of one Go binary,
// done once per executable file (ProcessWatcher's exeKey) before any probe is placed.
//
//   ELF header ─ amd64? ─> build info ─ Go version in GO_TLS_OFFSETS? ─> .gopclntab ─>
//   crypto/tls.(*Conn).Read / Write entry and end ─> decode each (code.ts): RETs, R14 prologue ─>
//   file offsets of the entry and of every RET (uprobes are placed by file offset)
//
// Anything unexpected ends in { ok: false, reason } (shown as the coverage reason, logged once),
// never in a probe at a guessed address. Works the same on stripped binaries (-ldflags '-s -w'):
// nothing here reads the ELF symbol table or DWARF.

import { decodeFunction } from './code.js'
import { readGoVersion, parseGoVersion } from './buildinfo.js'
import { ElfFile, EM_AARCH64, EM_X86_64, GoRefusal, PF_X, PT_LOAD, type ElfSection } from './elf.js'
import { GO_TLS_OFFSETS, type GoTlsOffsets } from './offsets.js'
import { findFuncs, pclntabVersion, type GoFunc, type PclntabVersion } from './pclntab.js'

export const GO_TLS_READ = 'crypto/tls.(*Conn).Read'
export const GO_TLS_WRITE = 'crypto/tls.(*Conn).Write'

export interface GoProbeSite {
  name: string
  /** virtual address and size of the function */
  entry: number
  size: number
  /** file offset of the first instruction (the entry uprobe) */
  entryOffset: number
  /** file offsets of every RET (one uprobe each) */
  retOffsets: number[]
}

export type GoInspection =
  | { ok: true; goVersion: string; pclntab: PclntabVersion; read: GoProbeSite; write: GoProbeSite; offsets: GoTlsOffsets }
  | {
      ok: false
      /** why not, for the coverage report: 'not a Go binary', 'unknown Go version go1.24.1', ... */
      reason: string
      /** a Go binary (so a TLS process of it is blind), or something else (not this tap's business) */
      go: boolean
      /** a Go binary that does not link crypto/tls: nothing to tap, nothing missed */
      noTls?: boolean
      /** the file could not be opened (the process went away): try again another time */
      unreadable?: boolean
      goVersion?: string
    }

/** Inspects one executable; never throws (an unreadable file is a refusal too). */
export function inspectGoBinary(path: string): GoInspection {
  let elf: ElfFile
  try {
    elf = ElfFile.open(path)
  } catch (e) {
    if (e instanceof GoRefusal) return { ok: false, go: false, reason: e.message }
    return { ok: false, go: false, unreadable: true, reason: `cannot read ${path}: ${(e as Error).message}` }
  }
  let goVersion: string | undefined
  let go = false
  try {
    const pcln = findPclntab(elf)
    try {
      goVersion = readGoVersion(elf)
    } catch (e) {
      if (pcln === null) throw e
      throw new GoRefusal('Go binary without build info: unknown Go version')
    }
    go = true
    if (pcln === null) throw new GoRefusal('Go binary without .gopclntab')
    if (elf.machine === EM_AARCH64) throw new GoRefusal('arm64 Go binaries are not supported (the tap is amd64-only: arm64 could not be tested)')
    if (elf.machine !== EM_X86_64) throw new GoRefusal(`Go binary for ELF machine ${elf.machine}: only amd64 is supported`)
    const v = parseGoVersion(goVersion)
    const offsets = v !== null && v.major === 1 ? GO_TLS_OFFSETS.get(v.minor) : undefined
    if (offsets === undefined) throw new GoRefusal(`unknown Go version ${goVersion}: the tap knows Go 1.17-1.23`)
    const { tab, funcs } = findFuncs(pcln, [GO_TLS_READ, GO_TLS_WRITE])
    const rd = funcs.get(GO_TLS_READ)
    const wr = funcs.get(GO_TLS_WRITE)
    if (rd === undefined || wr === undefined) return { ok: false, go: true, noTls: true, goVersion, reason: 'Go binary without crypto/tls' }
    return { ok: true, goVersion, pclntab: tab.version, read: site(elf, rd), write: site(elf, wr), offsets }
  } catch (e) {
    const reason = e instanceof GoRefusal ? e.message : `cannot inspect ${path}: ${(e as Error).message}`
    return goVersion === undefined ? { ok: false, go, reason } : { ok: false, go, reason, goVersion }
  } finally {
    elf.close()
  }
}

/** The function's code decoded and checked, as file offsets. */
function site(elf: ElfFile, f: GoFunc): GoProbeSite {
  const seg = elf.segmentOf(f.entry)
  if (seg === undefined || seg.type !== PT_LOAD || (seg.flags & PF_X) === 0 || f.end > seg.vaddr + seg.filesz) {
    throw new GoRefusal(`${f.name} is not in an executable segment`)
  }
  const code = decodeFunction(elf.readVaddr(f.entry, f.end - f.entry), f.entry)
  if (!code.gInR14) throw new GoRefusal(`code the decoder does not expect: ${f.name} has no register-ABI prologue (g in R14)`)
  const entryOffset = elf.fileOffset(f.entry)
  return { name: f.name, entry: f.entry, size: f.end - f.entry, entryOffset, retOffsets: code.rets.map((r) => entryOffset + r) }
}

/**
 * The pclntab bytes: section .gopclntab (internal linking), or .data.rel.ro.gopclntab (some PIE and
 * external links), else a header found by its magic in a read-only section; null when none.
 */
function findPclntab(elf: ElfFile): Buffer | null {
  const named = elf.section('.gopclntab') ?? elf.section('.data.rel.ro.gopclntab')
  if (named !== undefined) return elf.sectionData(named)
  const candidates: ElfSection[] = elf.sections.filter((s) => s.name === '.data.rel.ro' || s.name === '.rodata')
  for (const s of candidates) {
    const data = elf.sectionData(s)
    for (const magic of [0xfffffff1, 0xfffffff0, 0xfffffffa]) {
      const m = Buffer.alloc(4)
      m.writeUInt32LE(magic)
      for (let i = data.indexOf(m); i >= 0; i = data.indexOf(m, i + 1)) {
        if (i % 8 === 0 && pclntabVersion(data.subarray(i)) !== null) return data.subarray(i)
      }
    }
  }
  return null
}
