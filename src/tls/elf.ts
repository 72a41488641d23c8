// What an ELF file says about its TLS library, read from its section headers and dynamic symbol
// table only (a few MB for node's 98 MB executable, never the whole file):
//   - which of a set of function names it defines and exports (SSL_read, SSL_write: OpenSSL built in,
//     as node's executable has it; an import, st_shndx 0, does not count);
//   - its section names (.gopclntab: Go; .rustc / .note.rustc: Rust; none: stripped of sections).
//
//   const info = readElf('/usr/bin/node', ['SSL_read', 'SSL_write'])
//   info.exports.has('SSL_read')      // true for node 20 from nodesource, false for Debian's node 18

import { closeSync, openSync, readSync } from 'node:fs'

export interface ElfInfo {
  /** those of the asked names the file defines as exported functions */
  exports: Set<string>
  /** every section name */
  sections: Set<string>
}

const SHT_DYNSYM = 11
const STT_FUNC = 2
const STT_GNU_IFUNC = 10
/** a section table or symbol table larger than this is not an ELF file we read */
const MAX_TABLE_BYTES = 64 << 20

/**
 * Reads path's section names and which of names it exports as functions. Returns null when the file
 * is not a 64-bit little-endian ELF file or cannot be read (the caller says which and moves on).
 */
export function readElf(path: string, names: readonly string[]): ElfInfo | null {
  let fd: number
  try {
    fd = openSync(path, 'r')
  } catch {
    return null
  }
  try {
    return parse(fd, new Set(names))
  } catch {
    return null
  } finally {
    closeSync(fd)
  }
}

function readAt(fd: number, off: number, len: number): Buffer {
  if (len < 0 || len > MAX_TABLE_BYTES) throw new Error('table too large')
  const b = Buffer.allocUnsafe(len)
  let got = 0
  while (got < len) {
    const n = readSync(fd, b, got, len - got, off + got)
    if (n === 0) throw new Error('short read')
    got += n
  }
  return b
}

function cstr(b: Buffer, off: number): string {
  const end = b.indexOf(0, off)
  return b.toString('latin1', off, end < 0 ? b.length : end)
}

function parse(fd: number, want: Set<string>): ElfInfo | null {
  const h = readAt(fd, 0, 64)
  // \x7fELF, ELFCLASS64, ELFDATA2LSB
  if (h.readUInt32BE(0) !== 0x7f454c46 || h[4] !== 2 || h[5] !== 1) return null
  const shoff = Number(h.readBigUInt64LE(0x28))
  const shentsize = h.readUInt16LE(0x3a)
  const shnum = h.readUInt16LE(0x3c)
  const shstrndx = h.readUInt16LE(0x3e)
  const out: ElfInfo = { exports: new Set(), sections: new Set() }
  if (shoff === 0 || shnum === 0 || shentsize < 64) return out
  const sh = readAt(fd, shoff, shnum * shentsize)
  const sec = (i: number) => {
    const o = i * shentsize
    return {
      name: sh.readUInt32LE(o),
      type: sh.readUInt32LE(o + 4),
      offset: Number(sh.readBigUInt64LE(o + 0x18)),
      size: Number(sh.readBigUInt64LE(o + 0x20)),
      link: sh.readUInt32LE(o + 0x28),
      entsize: Number(sh.readBigUInt64LE(o + 0x38)),
    }
  }
  if (shstrndx < shnum) {
    const s = sec(shstrndx)
    const strs = readAt(fd, s.offset, s.size)
    for (let i = 0; i < shnum; i++) out.sections.add(cstr(strs, sec(i).name))
  }
  if (want.size === 0) return out
  for (let i = 0; i < shnum; i++) {
    const s = sec(i)
    if (s.type !== SHT_DYNSYM || s.link >= shnum || s.entsize < 24) continue
    const syms = readAt(fd, s.offset, s.size)
    const strSec = sec(s.link)
    const strs = readAt(fd, strSec.offset, strSec.size)
    for (let o = 0; o + 24 <= syms.length; o += s.entsize) {
      const type = syms[o + 4]! & 0xf
      if ((type !== STT_FUNC && type !== STT_GNU_IFUNC) || syms.readUInt16LE(o + 6) === 0) continue
      const name = cstr(strs, syms.readUInt32LE(o))
      if (want.has(name)) out.exports.add(name)
    }
  }
  return out
}
