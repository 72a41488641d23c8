// What an ELF file says about its TLS library (read through the shared reader, go/elf.ts ElfFile:
// headers and the sections asked for, never the whole file; a few MB of node's 98 MB executable):
//   - which of a set of function names it defines and exports (SSL_read, SSL_write: OpenSSL built in,
//     as node's executable has it; an import, st_shndx 0, does not count);
//   - its section names (.gopclntab: Go; none: stripped of sections);
//   - which of a set of strings its read-only data holds ("BoringSSL", "rustls"), for the coverage
//     report's reason when no tap can read a process.
//
//   const info = readElf('/usr/bin/node', ['SSL_read', 'SSL_write'])
//   info.exports.has('SSL_read')      // true for node 20 from nodesource, false for Debian's node 18

import { ElfFile } from './go/elf.js'

export interface ElfInfo {
  /** those of the asked names the file defines as exported functions */
  exports: Set<string>
  /** every section name */
  sections: Set<string>
  /** those of the asked strings found in .rodata */
  strings: Set<string>
}

const STT_FUNC = 2
const STT_GNU_IFUNC = 10
const SYM_SIZE = 24
/** .rodata larger than this is not searched for strings (a bound on the work per executable) */
const MAX_RODATA = 256 << 20

/**
 * Reads path's section names, which of names it exports as functions and which of strings its .rodata
 * holds. null when the file is not a 64-bit little-endian ELF file or cannot be read.
 */
export function readElf(path: string, names: readonly string[], strings: readonly string[] = []): ElfInfo | null {
  let elf: ElfFile
  try {
    elf = ElfFile.open(path)
  } catch {
    return null
  }
  try {
    const out: ElfInfo = { exports: new Set(), sections: new Set(elf.sections.map((s) => s.name)), strings: new Set() }
    const sym = elf.section('.dynsym')
    const str = elf.section('.dynstr')
    if (names.length > 0 && sym !== undefined && str !== undefined) {
      const want = new Set(names)
      const syms = elf.sectionData(sym)
      const strs = elf.sectionData(str)
      for (let o = 0; o + SYM_SIZE <= syms.length; o += SYM_SIZE) {
        const type = syms[o + 4]! & 0xf
        if ((type !== STT_FUNC && type !== STT_GNU_IFUNC) || syms.readUInt16LE(o + 6) === 0) continue
        const at = syms.readUInt32LE(o)
        const end = strs.indexOf(0, at)
        const name = strs.toString('latin1', at, end < 0 ? strs.length : end)
        if (want.has(name)) out.exports.add(name)
      }
    }
    const ro = elf.section('.rodata')
    if (strings.length > 0 && ro !== undefined && ro.size <= MAX_RODATA) {
      const data = elf.sectionData(ro)
      for (const s of strings) if (data.includes(s, 0, 'latin1')) out.strings.add(s)
    }
    return out
  } catch {
    return null
  } finally {
    elf.close()
  }
}
