// MongoDB OP_COMPRESSED bodies (compressorId 0 noop, 1 snappy, 2 zlib, 3 zstd; the drivers'
// `compressors=snappy,zlib,zstd`), decompressed to read the command inside.
//
// zlib: node:zlib. snappy and zstd are not in Node 20's zlib. zstd: fzstd (pure JS, MIT; a decoder
// only). snappy: the block format decoded here (snappyUncompress below, ~40 lines): snappyjs was
// judged and dropped at run time: it does not check a literal's length against its input, so a
// corrupt length from the wire makes it loop for seconds (the fuzzer found one of 18 s); it stays
// a dev dependency as the independent encoder of the tests. Pure JS rather than the drivers' native
// addons (snappy, @mongodb-js/zstd): nothing to build per platform in a DaemonSet image, and
// decompression only runs on the messages of MongoDB connections that negotiated it.
//
// Bounded: the header's uncompressedSize must be within `cap` before anything is allocated (a zstd
// frame's content size too), the output is allocated at that size and never grows, and a
// result of another length is refused. Bad input returns null, never throws.

import * as zlib from 'node:zlib'
import { decompress as zstdDecompress } from 'fzstd'

/** zstd decoding through fzstd: off (see decompressBody); tests of the decoder itself turn it on */
let zstdEnabled = false
export function enableZstd(on: boolean): void {
  zstdEnabled = on
}

export const enum Compressor {
  Noop = 0,
  Snappy = 1,
  Zlib = 2,
  Zstd = 3,
}

const ZSTD_MAGIC = 0xfd2fb528
/** largest body decoded from a zstd frame that does not announce its size in a single segment */
const STREAMED_ZSTD_CAP = 256 * 1024

/**
 * The content size a zstd frame header announces (RFC 8878 §3.1.1.1): 0 when absent, -1 when this is
 * not a frame header. (Its window size is not a cost here: fzstd decodes into the output buffer given,
 * which is allocated at the size MongoDB announced.)
 */
function zstdContentSize(b: Buffer): number {
  if (b.length < 6 || b.readUInt32LE(0) !== ZSTD_MAGIC) return -1
  const fhd = b[4]
  const fcsFlag = fhd >> 6
  const single = (fhd & 0x20) !== 0
  const p = 5 + (single ? 0 : 1) + [0, 1, 2, 4][fhd & 3]
  const fcsBytes = fcsFlag === 0 ? (single ? 1 : 0) : [0, 2, 4, 8][fcsFlag]
  if (b.length < p + fcsBytes) return -1
  if (fcsBytes === 1) return b[p]
  if (fcsBytes === 2) return b.readUInt16LE(p) + 256
  if (fcsBytes === 4) return b.readUInt32LE(p)
  if (fcsBytes === 8) return Number(b.readBigUInt64LE(p))
  return 0
}

/**
 * Snappy block format (google/snappy format_description.txt): a varint uncompressed length, then
 * literals (tag & 3 = 0) and copies (1, 2, 3: 1-, 2- and 4-byte offsets) into the output. Every length
 * and offset is checked against the input left and the output written: null on any violation, so
 * the work is bounded by the output size.
 */
export function snappyUncompress(b: Buffer, size: number): Buffer | null {
  let p = 0
  let want = 0
  for (let shift = 0; ; shift += 7) {
    if (p >= b.length || shift > 28) return null
    const c = b[p++]
    want += (c & 0x7f) * 2 ** shift
    if ((c & 0x80) === 0) break
  }
  if (want !== size) return null
  const out = Buffer.allocUnsafe(size)
  let o = 0
  while (p < b.length) {
    const tag = b[p++]
    const kind = tag & 3
    if (kind === 0) {
      let len = tag >> 2
      if (len >= 60) {
        const n = len - 59
        if (p + n > b.length) return null
        len = 0
        for (let i = 0; i < n; i++) len += b[p + i] * 2 ** (8 * i)
        p += n
      }
      len += 1
      if (p + len > b.length || o + len > size) return null
      b.copy(out, o, p, p + len)
      p += len
      o += len
      continue
    }
    let len: number
    let off: number
    if (kind === 1) {
      if (p + 1 > b.length) return null
      len = ((tag >> 2) & 7) + 4
      off = ((tag >> 5) << 8) | b[p++]
    } else if (kind === 2) {
      if (p + 2 > b.length) return null
      len = (tag >> 2) + 1
      off = b.readUInt16LE(p)
      p += 2
    } else {
      if (p + 4 > b.length) return null
      len = (tag >> 2) + 1
      off = b.readUInt32LE(p)
      p += 4
    }
    if (off === 0 || off > o || o + len > size) return null
    if (off >= len) {
      out.copyWithin(o, o - off, o - off + len)
      o += len
    } else {
      // overlapping (offset < length repeats a pattern): byte by byte
      for (let i = 0; i < len; i++, o++) out[o] = out[o - off]
    }
  }
  return o === size ? out : null
}

/** fzstd, bounded as far as it can be from outside: content size and output size checked */
function zstdDecode(body: Buffer, size: number): Buffer | null {
  const fcs = zstdContentSize(body)
  if (fcs < 0 || fcs > size) return null
  const single = (body[4] & 0x20) !== 0 && fcs === size
  if (!single && size > STREAMED_ZSTD_CAP) return null
  const u = single ? zstdDecompress(body) : zstdDecompress(body, new Uint8Array(size))
  return Buffer.from(u.buffer, u.byteOffset, u.byteLength)
}

/**
 * The decompressed body, exactly `size` bytes, or null: unknown compressor, size over `cap`, corrupt
 * data, or another length than announced.
 */
export function decompressBody(compressor: number, body: Buffer, size: number, cap: number): Buffer | null {
  if (size < 0 || size > cap) return null
  let out: Buffer
  try {
    switch (compressor) {
      case Compressor.Noop:
        out = body
        break
      case Compressor.Snappy: {
        const u = snappyUncompress(body, size)
        if (u === null) return null
        out = u
        break
      }
      case Compressor.Zlib:
        out = zlib.inflateSync(body, { maxOutputLength: Math.max(1, size) })
        break
      case Compressor.Zstd:
        // not decoded: fzstd (pure JS) loops without end on some corrupt frames (the fuzzer found one,
        // test/pcaps/mongo/zstd-hang.bin), and a synchronous loop cannot be stopped. A zstd message
        // stays 'compressed' (status unknown) until a bounded decoder (libzstd in WebAssembly) is in.
        if (!zstdEnabled) return null
        {
          const u = zstdDecode(body, size)
          if (u === null) return null
          out = u
        }
        break
      default:
        return null
    }
  } catch {
    return null
  }
  return out.length === size ? out : null
}
