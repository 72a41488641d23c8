// The three pclntab headers the Go tap reads. Go 1.18/1.19 (0xfffffff0) is checked on real binaries
// in inspect.test.ts; Go 1.16-1.17 (0xfffffffa) and 1.20+ (0xfffffff1) cannot be built here (Debian
// ships Go 1.19 only), so their tables are built by hand after the layout in src/debug/gosym/pclntab.go
// (a test-only builder: no real part of those versions can run here).

import { describe, expect, it } from 'vitest'
import { findFuncs, pclntabVersion } from './pclntab.js'

/** A pclntab with the given functions (name, entry) in address order, ending at end. */
function table(magic: number, funcs: [string, number][], end: number, textStart = 0x401000): Buffer {
  const old = magic === 0xfffffffa
  const hdrWords = old ? 7 : 8
  const hdr = 8 + 8 * hdrWords
  const names = Buffer.concat(funcs.map(([n]) => Buffer.from(n + '\0', 'latin1')))
  const funcnameOff = hdr
  const pclnOff = funcnameOff + names.length + ((8 - ((funcnameOff + names.length) % 8)) % 8)
  const entSize = old ? 16 : 8
  const funcRecOff = (funcs.length + 1) * entSize
  const recSize = 16
  const b = Buffer.alloc(pclnOff + funcRecOff + funcs.length * recSize)
  b.writeUInt32LE(magic, 0)
  b[6] = 1
  b[7] = 8
  const words = old
    ? [funcs.length, 0, funcnameOff, 0, 0, 0, pclnOff]
    : [funcs.length, 0, textStart, funcnameOff, 0, 0, 0, pclnOff]
  words.forEach((w, i) => b.writeBigUInt64LE(BigInt(w), 8 + 8 * i))
  names.copy(b, funcnameOff)
  let nameOff = 0
  funcs.forEach(([n, entry], i) => {
    const rec = funcRecOff + i * recSize
    if (old) {
      b.writeBigUInt64LE(BigInt(entry), pclnOff + i * 16)
      b.writeBigUInt64LE(BigInt(rec), pclnOff + i * 16 + 8)
      b.writeBigUInt64LE(BigInt(entry), pclnOff + rec)
      b.writeInt32LE(nameOff, pclnOff + rec + 8)
    } else {
      b.writeUInt32LE(entry - textStart, pclnOff + i * 8)
      b.writeUInt32LE(rec, pclnOff + i * 8 + 4)
      b.writeUInt32LE(entry - textStart, pclnOff + rec)
      b.writeInt32LE(nameOff, pclnOff + rec + 4)
    }
    nameOff += n.length + 1
  })
  if (old) b.writeBigUInt64LE(BigInt(end), pclnOff + funcs.length * 16)
  else b.writeUInt32LE(end - textStart, pclnOff + funcs.length * 8)
  return b
}

const FUNCS: [string, number][] = [
  ['runtime.main', 0x401000],
  ['crypto/tls.(*Conn).Write', 0x402000],
  ['crypto/tls.(*Conn).Read', 0x402800],
]
const WANT = ['crypto/tls.(*Conn).Read', 'crypto/tls.(*Conn).Write']

describe('findFuncs', () => {
  it.each([
    [0xfffffffa, '1.16'],
    [0xfffffff0, '1.18'],
    [0xfffffff1, '1.20'],
  ] as const)('reads the %s header (Go %s): entries and ends', (magic, version) => {
    const { tab, funcs } = findFuncs(table(magic, FUNCS, 0x402c00), WANT)
    expect(tab.version).toBe(version)
    expect(tab.nfunc).toBe(3)
    expect(funcs.get('crypto/tls.(*Conn).Write')).toEqual({ name: 'crypto/tls.(*Conn).Write', entry: 0x402000, end: 0x402800 })
    expect(funcs.get('crypto/tls.(*Conn).Read')).toEqual({ name: 'crypto/tls.(*Conn).Read', entry: 0x402800, end: 0x402c00 })
  })

  it('refuses older and unknown headers, and tables cut short', () => {
    const t = table(0xfffffff1, FUNCS, 0x402c00)
    const old = Buffer.from(t)
    old.writeUInt32LE(0xfffffffb, 0)
    expect(() => findFuncs(old, WANT)).toThrow(/older than 1.16/)
    expect(pclntabVersion(Buffer.alloc(16))).toBeNull()
    expect(() => findFuncs(Buffer.from('garbage garbage garbage'), WANT)).toThrow(/not recognized/)
    expect(() => findFuncs(t.subarray(0, 40), WANT)).toThrow(/truncated|corrupt/)
    expect(() => findFuncs(t.subarray(0, t.length - 20), WANT)).toThrow(/truncated|corrupt/)
  })

  it('a function missing from the table is absent, not guessed', () => {
    const { funcs } = findFuncs(table(0xfffffff1, FUNCS.slice(0, 2), 0x402800), WANT)
    expect([...funcs.keys()]).toEqual(['crypto/tls.(*Conn).Write'])
  })
})
