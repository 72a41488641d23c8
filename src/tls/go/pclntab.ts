// Go's function table, .gopclntab: every function's name and entry address, present in stripped
// binaries too (`-ldflags '-s -w'` drops the ELF symbol table and DWARF, not this: the runtime needs
// it for stack traces). Layout from the Go sources (src/debug/gosym/pclntab.go, src/runtime/symtab.go
// moduledata/pcHeader, cmd/link/internal/ld/pcln.go), by header magic:
//
//   0xfffffffa  Go 1.16-1.17   magic u32, pad u8 x2, minLC u8, ptrSize u8,
//                              nfunc, nfiles, funcnameOffset, cuOffset, filetabOffset, pctabOffset,
//                              pclnOffset (ptrSize each, offsets from the table's start)
//   0xfffffff0  Go 1.18-1.19   as above with textStart after nfiles; functab entries are u32 offsets
//   0xfffffff1  Go 1.20+       from textStart instead of absolute addresses; same layout as 1.18
//
//   functab (at pclnOffset)    1.16: nfunc x (entry uintptr, funcoff uintptr), then the end address
//                              1.18+: nfunc x (entryoff u32, funcoff u32), then the end offset
//   _func (at pclnOffset + funcoff)  1.16: entry uintptr, nameoff i32   1.18+: entryoff u32, nameoff i32
//   name: NUL-terminated at funcnameOffset + nameoff
//
// Entries are sorted by address, so a function ends where the next begins (the last at the end
// entry). Older magics (0xfffffffb, Go 1.2-1.15) are refused: no register ABI before Go 1.17.

import { GoRefusal } from './elf.js'

export type PclntabVersion = '1.16' | '1.18' | '1.20'

const MAGICS: Record<number, PclntabVersion> = { 0xfffffffa: '1.16', 0xfffffff0: '1.18', 0xfffffff1: '1.20' }

export interface GoFunc {
  name: string
  /** virtual address of the first instruction */
  entry: number
  /** virtual address one past the last byte (the next function's entry) */
  end: number
}

export interface Pclntab {
  version: PclntabVersion
  nfunc: number
  /** runtime.text (1.18+ header; the lowest entry for 1.16) */
  textStart: number
}

/** The header's version, or null when buf does not start with a supported pclntab header. */
export function pclntabVersion(buf: Buffer): PclntabVersion | null {
  if (buf.length < 8) return null
  const v = MAGICS[buf.readUInt32LE(0)]
  // pad bytes 0, instruction quantum 1 (x86) or 4 (arm64), pointer size 8
  if (v === undefined || buf[4] !== 0 || buf[5] !== 0 || (buf[6] !== 1 && buf[6] !== 4) || buf[7] !== 8) return null
  return v
}

/**
 * Finds the named functions in a pclntab (its bytes from the table's start). Names not present are
 * absent from the result. Throws GoRefusal on a header it does not know or offsets out of bounds.
 */
export function findFuncs(buf: Buffer, names: readonly string[]): { tab: Pclntab; funcs: Map<string, GoFunc> } {
  const version = pclntabVersion(buf)
  if (version === null) {
    const magic = buf.length >= 4 ? buf.readUInt32LE(0) : 0
    throw new GoRefusal(magic === 0xfffffffb ? 'Go older than 1.16 (pclntab 1.2 header): no register ABI' : 'no Go function table (.gopclntab header not recognized)')
  }
  const word = (i: number): number => {
    const off = 8 + 8 * i
    if (off + 8 > buf.length) throw new GoRefusal('truncated .gopclntab header')
    const v = buf.readBigUInt64LE(off)
    if (v > BigInt(buf.length) && !(version !== '1.16' && i === 2)) throw new GoRefusal('corrupt .gopclntab header')
    return Number(v)
  }
  const old = version === '1.16'
  const nfunc = word(0)
  const textStart = old ? 0 : word(2)
  const base = old ? 2 : 3
  const funcnameOff = word(base)
  const pclnOff = word(base + 4)
  const entSize = old ? 16 : 8
  if (pclnOff + (nfunc + 1) * entSize > buf.length) throw new GoRefusal('truncated .gopclntab function table')
  const want = new Set(names)
  const funcs = new Map<string, GoFunc>()
  const entryAt = (i: number): number =>
    old ? Number(buf.readBigUInt64LE(pclnOff + i * 16)) : textStart + buf.readUInt32LE(pclnOff + i * 8)
  for (let i = 0; i < nfunc && funcs.size < want.size; i++) {
    const funcoff = old ? Number(buf.readBigUInt64LE(pclnOff + i * 16 + 8)) : buf.readUInt32LE(pclnOff + i * 8 + 4)
    const f = pclnOff + funcoff
    const nameField = f + (old ? 8 : 4)
    if (nameField + 4 > buf.length) throw new GoRefusal('corrupt .gopclntab function entry')
    const nameStart = funcnameOff + buf.readInt32LE(nameField)
    if (nameStart < 0 || nameStart >= buf.length) throw new GoRefusal('corrupt .gopclntab function name')
    const nameEnd = buf.indexOf(0, nameStart)
    if (nameEnd < 0) throw new GoRefusal('corrupt .gopclntab function name')
    // cheap test before decoding: the wanted names are short
    if (nameEnd - nameStart > 64) continue
    const name = buf.toString('latin1', nameStart, nameEnd)
    if (!want.has(name)) continue
    // the entry as the function's own record states it must agree with the table
    const entry = entryAt(i)
    const own = old ? Number(buf.readBigUInt64LE(f)) : textStart + buf.readUInt32LE(f)
    const end = entryAt(i + 1)
    if (own !== entry || end <= entry) throw new GoRefusal(`corrupt .gopclntab entry for ${name}`)
    funcs.set(name, { name, entry, end })
  }
  return { tab: { version, nfunc, textStart: old ? (nfunc > 0 ? entryAt(0) : 0) : textStart }, funcs }
}
