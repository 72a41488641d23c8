// A small ELF64 little-endian reader: section and program headers, section bytes, and the mapping
// from a virtual address to its file offset (a uprobe is placed at a file offset). Enough for Go
// executables; reads only what is asked (a Go binary can be 100 MB), never the whole file.
//
// Own code rather than an npm ELF library: the kept ones (elfy, elf-tools) parse the whole file into
// objects and are unmaintained; this needs ~100 lines of the ELF spec (System V gABI, "ELF Header",
// "Section Header", "Program Header").
//
// Every failure is a GoRefusal whose message is the coverage reason ('not an ELF file', ...).

import { closeSync, fstatSync, openSync, readSync } from 'node:fs'

/** Why a binary cannot be tapped; the message is shown as the coverage reason. */
export class GoRefusal extends Error {}

export interface ElfSection {
  name: string
  type: number
  addr: number
  offset: number
  size: number
}

export interface ElfSegment {
  type: number
  flags: number
  offset: number
  vaddr: number
  filesz: number
}

export const PT_LOAD = 1
export const PF_X = 1
export const PF_W = 2
export const EM_X86_64 = 62
export const EM_AARCH64 = 183
const SHT_NOBITS = 8
/** more section headers than this is not a real executable (a corrupt count) */
const MAX_SECTIONS = 4096

export class ElfFile {
  readonly sections: ElfSection[] = []
  readonly segments: ElfSegment[] = []
  readonly machine: number
  readonly size: number
  private closed = false

  private constructor(private readonly fd: number, path: string) {
    this.size = fstatSync(fd).size
    const h = this.read(0, 64)
    if (h.length < 64 || h.readUInt32BE(0) !== 0x7f454c46) throw new GoRefusal(`not an ELF file: ${path}`)
    if (h[4] !== 2 || h[5] !== 1) throw new GoRefusal('not a 64-bit little-endian ELF file')
    this.machine = h.readUInt16LE(18)
    const phoff = num(h.readBigUInt64LE(32))
    const shoff = num(h.readBigUInt64LE(40))
    const phentsize = h.readUInt16LE(54)
    const phnum = h.readUInt16LE(56)
    const shentsize = h.readUInt16LE(58)
    const shnum = h.readUInt16LE(60)
    const shstrndx = h.readUInt16LE(62)
    if (phnum > 0) {
      if (phentsize < 56) throw new GoRefusal('corrupt ELF program headers')
      const ph = this.readExact(phoff, phnum * phentsize, 'program headers')
      for (let i = 0; i < phnum; i++) {
        const o = i * phentsize
        this.segments.push({
          type: ph.readUInt32LE(o),
          flags: ph.readUInt32LE(o + 4),
          offset: num(ph.readBigUInt64LE(o + 8)),
          vaddr: num(ph.readBigUInt64LE(o + 16)),
          filesz: num(ph.readBigUInt64LE(o + 32)),
        })
      }
    }
    if (shnum > 0 && shoff > 0) {
      if (shentsize < 64 || shnum > MAX_SECTIONS || shstrndx >= shnum) throw new GoRefusal('corrupt ELF section headers')
      const sh = this.readExact(shoff, shnum * shentsize, 'section headers')
      const raw: (ElfSection & { nameOff: number })[] = []
      for (let i = 0; i < shnum; i++) {
        const o = i * shentsize
        raw.push({
          nameOff: sh.readUInt32LE(o),
          name: '',
          type: sh.readUInt32LE(o + 4),
          addr: num(sh.readBigUInt64LE(o + 16)),
          offset: num(sh.readBigUInt64LE(o + 24)),
          size: num(sh.readBigUInt64LE(o + 32)),
        })
      }
      const strtab = raw[shstrndx]!
      const names = this.readExact(strtab.offset, strtab.size, 'section names')
      for (const s of raw) {
        const end = names.indexOf(0, s.nameOff)
        const { nameOff: _, ...sec } = s
        this.sections.push({ ...sec, name: s.nameOff < names.length ? names.toString('latin1', s.nameOff, end < 0 ? names.length : end) : '' })
      }
    }
  }

  /** Opens path; throws GoRefusal for what is not an ELF64 LE file (and fs errors as they are). */
  static open(path: string): ElfFile {
    const fd = openSync(path, 'r')
    try {
      return new ElfFile(fd, path)
    } catch (e) {
      closeSync(fd)
      throw e
    }
  }

  close(): void {
    if (!this.closed) closeSync(this.fd)
    this.closed = true
  }

  section(name: string): ElfSection | undefined {
    return this.sections.find((s) => s.name === name)
  }

  /** The bytes of a section; GoRefusal when they are not all in the file. */
  sectionData(s: ElfSection): Buffer {
    if (s.type === SHT_NOBITS) return Buffer.alloc(0)
    return this.readExact(s.offset, s.size, `section ${s.name}`)
  }

  /** Up to len bytes at a file offset (fewer at the end of the file). */
  read(offset: number, len: number): Buffer {
    const want = Math.max(0, Math.min(len, this.size - offset))
    const b = Buffer.alloc(want)
    let got = 0
    while (got < want) {
      const n = readSync(this.fd, b, got, want - got, offset + got)
      if (n <= 0) break
      got += n
    }
    return got === want ? b : b.subarray(0, got)
  }

  /** Exactly len bytes at offset, or GoRefusal naming what was cut short (a truncated file). */
  readExact(offset: number, len: number, what: string): Buffer {
    if (offset < 0 || len < 0 || offset + len > this.size) throw new GoRefusal(`truncated ELF file: ${what} past its end`)
    return this.read(offset, len)
  }

  /** The loaded segment holding a virtual address, or undefined. */
  segmentOf(vaddr: number): ElfSegment | undefined {
    return this.segments.find((p) => p.type === PT_LOAD && vaddr >= p.vaddr && vaddr < p.vaddr + p.filesz)
  }

  /** File offset of a virtual address in a loaded segment; GoRefusal when it is in none. */
  fileOffset(vaddr: number): number {
    const p = this.segmentOf(vaddr)
    if (p === undefined) throw new GoRefusal(`address 0x${vaddr.toString(16)} is in no loaded segment`)
    return vaddr - p.vaddr + p.offset
  }

  /** len bytes at a virtual address (within one segment). */
  readVaddr(vaddr: number, len: number): Buffer {
    const p = this.segmentOf(vaddr)
    if (p === undefined || vaddr + len > p.vaddr + p.filesz) throw new GoRefusal(`address 0x${vaddr.toString(16)} is in no loaded segment`)
    return this.readExact(vaddr - p.vaddr + p.offset, len, 'segment data')
  }
}

function num(v: bigint): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new GoRefusal('corrupt ELF file: offset out of range')
  return Number(v)
}
