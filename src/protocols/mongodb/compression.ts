// MongoDB OP_COMPRESSED bodies (compressorId 0 noop, 1 snappy, 2 zlib, 3 zstd; the drivers'
// `compressors=snappy,zlib,zstd`), decompressed to read the command inside.
//
// zlib: node:zlib. snappy and zstd are not in Node 20's zlib. zstd: libzstd itself, bounded by the
// output size given: node:zlib's zstdDecompressSync where the runtime has it (Node >= 22.15 / 23.8),
// else zstddec (libzstd's decoder compiled to WebAssembly, MIT AND BSD-3-Clause, no dependencies, no
// install script; the wasm is inlined, instantiated on the first zstd message: see wasmZstd()).
// Its ZSTD_decompress writes into a buffer of the announced size and fails on anything
// more; each call's work is bounded by input and output size. fzstd (pure JS) was dropped: the
// fuzzer found a 44-byte corrupt frame on which it never returns (test/pcaps/mongo/zstd-hang.bin).
// snappy: the block format decoded here (snappyUncompress below, ~40 lines): snappyjs was
// judged and dropped at run time: it does not check a literal's length against its input, so a
// corrupt length from the wire makes it loop for seconds (the fuzzer found one of 18 s); it stays
// a dev dependency as the independent encoder of the tests. No native addons (snappy,
// @mongodb-js/zstd): nothing to build per platform in a DaemonSet image, and decompression only
// runs on the messages of MongoDB connections that negotiated it.
//
// Bounded: the header's uncompressedSize must be within `cap` before anything is allocated, the
// output is allocated at that size and never grows, and a result of another length is refused.
// Bad input returns null, never throws.

import { createRequire } from 'node:module'
import { ZSTDDecoder } from 'zstddec'

type ZstdSync = (b: Buffer, o: { maxOutputLength: number }) => Buffer
/** node:zlib, loaded with the first compressed message (it brings node's streams: ~20 modules at every start otherwise) */
let zlibModule: typeof import('node:zlib') | null = null
const zlib = (): typeof import('node:zlib') => (zlibModule ??= createRequire(import.meta.url)('node:zlib') as typeof import('node:zlib'))
/** node:zlib's libzstd binding where the runtime has one (not Node 20) */
const nodeZstd = (): ZstdSync | undefined => (zlib() as unknown as { zstdDecompressSync?: ZstdSync }).zstdDecompressSync
/** zstddec's decoder once instantiated; null: it could not be */
let wasmDecoder: ZSTDDecoder | null | undefined

/**
 * zstddec's libzstd, instantiated on the first zstd message rather than at every start (where it
 * cost ~28 ms of CPU and 13 MB of RSS for a codec few captures need). Its init() is asynchronous and
 * the parsers are not, so for that one call WebAssembly.instantiate is stood in for by the
 * synchronous Module and Instance constructors (Node puts no size limit on them) and `fetch` is
 * hidden, which makes zstddec take its Buffer path (its fetch of a data: URL loads undici: most of
 * the 28 ms); the instance then goes to the decoder's own _init(), as the promise would have.
 */
function wasmZstd(): ZSTDDecoder | null {
  if (wasmDecoder !== undefined) return wasmDecoder
  wasmDecoder = null
  const instantiate = WebAssembly.instantiate
  const fetchProp = Object.getOwnPropertyDescriptor(globalThis, 'fetch')
  let made: WebAssembly.WebAssemblyInstantiatedSource | undefined
  try {
    Object.defineProperty(globalThis, 'fetch', { value: undefined, configurable: true, writable: true })
    WebAssembly.instantiate = ((bytes: BufferSource, imports?: WebAssembly.Imports) => {
      const module = new WebAssembly.Module(bytes)
      made = { module, instance: new WebAssembly.Instance(module, imports) }
      return Promise.resolve(made)
    }) as typeof WebAssembly.instantiate
    const d = new ZSTDDecoder()
    d.init().catch(() => {}) // settles later with the same instance
    if (made !== undefined) {
      d._init(made)
      wasmDecoder = d
    }
  } catch {
    // no WebAssembly here: zstd messages stay compressed, counted zstd_not_decoded
  } finally {
    WebAssembly.instantiate = instantiate
    if (fetchProp !== undefined) Object.defineProperty(globalThis, 'fetch', fetchProp)
    else delete (globalThis as { fetch?: unknown }).fetch
  }
  return wasmDecoder
}

export const enum Compressor {
  Noop = 0,
  Snappy = 1,
  Zlib = 2,
  Zstd = 3,
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

/**
 * libzstd into exactly `size` bytes: a frame that announces or produces more fails (zstddec then
 * returns fewer bytes: its error codes come back as negative lengths), so only a result of `size`
 * bytes is taken.
 */
function zstdDecode(body: Buffer, size: number): Buffer | null {
  if (size === 0) return null // zstddec reads 0 as "size unknown: take the frame's"
  const native = nodeZstd()
  if (native !== undefined) return native(body, { maxOutputLength: size })
  const z = wasmZstd()
  if (z === null) return null
  const u = z.decode(body, size)
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
        out = zlib().inflateSync(body, { maxOutputLength: Math.max(1, size) })
        break
      case Compressor.Zstd: {
        const u = zstdDecode(body, size)
        if (u === null) return null
        out = u
        break
      }
      default:
        return null
    }
  } catch {
    return null
  }
  return out.length === size ? out : null
}
