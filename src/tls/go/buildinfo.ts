// The Go version a binary was built with, from its build info blob (what `go version FILE` reads;
// layout from src/debug/buildinfo/buildinfo.go and cmd/link/internal/ld/data.go):
//
//   section .go.buildinfo (or, without section headers, the first 64 KiB of the first writable
//   segment), 16-byte aligned, 32-byte header:
//     "\xff Go buildinf:" (14 bytes), ptrSize u8, flags u8
//     flags & 2 (Go 1.18+): after the header, uvarint length + version string, then modinfo
//     else (Go 1.13-1.17): at 16 and 16+ptrSize two pointers (little-endian when flags & 1 == 0)
//       to Go string headers {data pointer, length} of runtime.buildVersion and runtime.modinfo

import { ElfFile, GoRefusal, PF_W, PT_LOAD } from './elf.js'

const MAGIC = Buffer.from('\xff Go buildinf:', 'latin1')

export interface GoVersion {
  /** as the binary says it: 'go1.19.8', 'go1.21rc2', 'devel go1.22-abc' */
  raw: string
  major: number
  minor: number
}

/** 'go1.19.8' -> {1, 19}; null for what does not start with go1.N (a devel build says 'devel go1.N-...') */
export function parseGoVersion(raw: string): GoVersion | null {
  const m = /^(?:devel )?go(\d+)\.(\d+)/.exec(raw)
  return m === null ? null : { raw, major: Number(m[1]), minor: Number(m[2]) }
}

/** The build info's version string; GoRefusal when the binary has none (not Go, or pre-1.13). */
export function readGoVersion(elf: ElfFile): string {
  let blob: Buffer | null = null
  const sec = elf.section('.go.buildinfo')
  if (sec !== undefined) {
    blob = elf.sectionData(sec)
  } else {
    const data = elf.segments.find((p) => p.type === PT_LOAD && (p.flags & PF_W) !== 0)
    if (data !== undefined) blob = elf.read(data.offset, Math.min(data.filesz, 65536))
  }
  let at = -1
  if (blob !== null) {
    for (let i = blob.indexOf(MAGIC); i >= 0; i = blob.indexOf(MAGIC, i + 1)) {
      if (i % 16 === 0) {
        at = i
        break
      }
    }
  }
  if (blob === null || at < 0 || blob.length - at < 32) throw new GoRefusal('no Go build info (not a Go binary, or Go older than 1.13)')
  const h = blob.subarray(at)
  const ptrSize = h[14]!
  const flags = h[15]!
  if (ptrSize !== 8) throw new GoRefusal(`Go build info for ${ptrSize * 8}-bit pointers: only 64-bit binaries are supported`)
  if ((flags & 2) !== 0) {
    const [len, n] = uvarint(h, 32)
    if (n === 0 || 32 + n + len > h.length) throw new GoRefusal('corrupt Go build info')
    return h.toString('latin1', 32 + n, 32 + n + len)
  }
  if ((flags & 1) !== 0) throw new GoRefusal('big-endian Go binary: only little-endian amd64 is supported')
  const strHdr = elf.readVaddr(Number(h.readBigUInt64LE(16)), 16)
  const len = Number(strHdr.readBigUInt64LE(8))
  if (len === 0 || len > 256) throw new GoRefusal('corrupt Go build info')
  return elf.readVaddr(Number(strHdr.readBigUInt64LE(0)), len).toString('latin1')
}

/** Go's encoding/binary uvarint at buf[off]: [value, bytes used], bytes 0 when malformed. */
function uvarint(buf: Buffer, off: number): [number, number] {
  let v = 0
  for (let i = 0; i < 5 && off + i < buf.length; i++) {
    const b = buf[off + i]!
    v += (b & 0x7f) * 2 ** (7 * i)
    if (b < 0x80) return [v, i + 1]
  }
  return [0, 0]
}
