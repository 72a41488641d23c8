// HPACK header block decoding (RFC 7541, https://www.rfc-editor.org/rfc/rfc7541).
//
// Header field representations (§6), first byte of each:
//   1xxxxxxx  indexed field                          index (7-bit prefix)
//   01xxxxxx  literal, incremental indexing          name index (6-bit prefix) or 0 + name string, value string
//   001xxxxx  dynamic table size update              new max size (5-bit prefix)
//   0001xxxx  literal, never indexed                 name index (4-bit prefix) or 0 + name, value
//   0000xxxx  literal, without indexing              name index (4-bit prefix) or 0 + name, value
// String literal (§5.2): H bit + length (7-bit prefix), then bytes, Huffman coded when H is set.
// Index space (§2.3.3): 1..61 static table, 62.. dynamic table, newest entry first.
//
// One Decoder per direction: the dynamic table belongs to the peer's encoder. It is bounded by the
// size the receiving peer announced (SETTINGS_HEADER_TABLE_SIZE, 4096 by default) and by
// limits.maxHpackTableBytes. Bad input never throws: decode() returns a Result; after a malformed
// block (or one that was lost) the table can no longer be trusted, and the decoder starts over as if
// joined mid-stream: entries inserted from then on are learned, so later blocks decode again.
// Joined mid-stream, the entries added before the capture started are unknown: the decoder is `partial`,
// entries it added itself are still resolved, older ones come back as UNKNOWN fields.
// Values of secret fields (authorization, cookie...) are never kept: the table stores their size only.

/** RFC 7541 Appendix A: the static table, index 1..61 */
export const STATIC_TABLE: readonly (readonly [string, string])[] = [
  ['', ''], // index 0 is not used
  [':authority', ''],
  [':method', 'GET'],
  [':method', 'POST'],
  [':path', '/'],
  [':path', '/index.html'],
  [':scheme', 'http'],
  [':scheme', 'https'],
  [':status', '200'],
  [':status', '204'],
  [':status', '206'],
  [':status', '304'],
  [':status', '400'],
  [':status', '404'],
  [':status', '500'],
  ['accept-charset', ''],
  ['accept-encoding', 'gzip, deflate'],
  ['accept-language', ''],
  ['accept-ranges', ''],
  ['accept', ''],
  ['access-control-allow-origin', ''],
  ['age', ''],
  ['allow', ''],
  ['authorization', ''],
  ['cache-control', ''],
  ['content-disposition', ''],
  ['content-encoding', ''],
  ['content-language', ''],
  ['content-length', ''],
  ['content-location', ''],
  ['content-range', ''],
  ['content-type', ''],
  ['cookie', ''],
  ['date', ''],
  ['etag', ''],
  ['expect', ''],
  ['expires', ''],
  ['from', ''],
  ['host', ''],
  ['if-match', ''],
  ['if-modified-since', ''],
  ['if-none-match', ''],
  ['if-range', ''],
  ['if-unmodified-since', ''],
  ['last-modified', ''],
  ['link', ''],
  ['location', ''],
  ['max-forwards', ''],
  ['proxy-authenticate', ''],
  ['proxy-authorization', ''],
  ['range', ''],
  ['referer', ''],
  ['refresh', ''],
  ['retry-after', ''],
  ['server', ''],
  ['set-cookie', ''],
  ['strict-transport-security', ''],
  ['transfer-encoding', ''],
  ['user-agent', ''],
  ['vary', ''],
  ['via', ''],
  ['www-authenticate', ''],
]
const STATIC_COUNT = 61
const STATIC_ENTRIES: readonly Entry[] = STATIC_TABLE.map(([name, value]) => ({ name, value, size: 0 }))

/** fields whose values are secrets (DESIGN.md "Limits"): only their size is kept */
const SECRET = new Set(['authorization', 'proxy-authorization', 'cookie', 'set-cookie'])
export const REDACTED = '<redacted>'
/** a field whose name or value refers to a dynamic entry added before the capture started */
export const UNKNOWN = '\u0000unknown'

// RFC 7541 Appendix B: the Huffman code is canonical (codes of one length are consecutive, in symbol
// order, shorter codes first), so the code lengths of symbols 0..256 (256 = EOS) define it entirely.
// The table below is those lengths; huffman.test checks it against every code the RFC lists by value
// that the tests use, and Kraft's equality (a complete prefix code).
// prettier-ignore
export const HUFFMAN_CODE_LENGTHS = Uint8Array.from([
  // 0-31: control characters
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28,
  28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28,
  //  SP  !   "   #   $   %   &   '   (   )   *   +   ,   -   .   /
  6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6,
  //  0   1   2   3   4   5   6   7   8   9   :   ;   <   =   >   ?
  5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10,
  //  @   A   B   C   D   E   F   G   H   I   J   K   L   M   N   O
  13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
  //  P   Q   R   S   T   U   V   W   X   Y   Z   [   \   ]   ^   _
  7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6,
  //  `   a   b   c   d   e   f   g   h   i   j   k   l   m   n   o
  15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5,
  //  p   q   r   s   t   u   v   w   x   y   z   {   |   }   ~  DEL
  6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28,
  // 128-255
  20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23,
  24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24,
  22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23,
  21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23,
  26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25,
  19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27,
  20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23,
  26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26,
  // EOS
  30,
])

const EOS = 256
const MAX_CODE_BITS = 30

// Compact canonical decode table (the zlib "puff" scheme): how many codes have each length, and the
// symbols sorted by (length, symbol). 31 + 257 entries instead of a 2^30 lookup.
const HUFF_COUNT = new Uint16Array(MAX_CODE_BITS + 1)
const HUFF_SYMBOL = new Uint16Array(257)
{
  for (let s = 0; s <= EOS; s++) HUFF_COUNT[HUFFMAN_CODE_LENGTHS[s]]++
  const offs = new Uint16Array(MAX_CODE_BITS + 2)
  for (let len = 1; len <= MAX_CODE_BITS; len++) offs[len + 1] = offs[len] + HUFF_COUNT[len]
  for (let s = 0; s <= EOS; s++) HUFF_SYMBOL[offs[HUFFMAN_CODE_LENGTHS[s]]++] = s
}

/** the canonical code of every symbol, for tests and the test encoder */
export function huffmanCodes(): { code: number; bits: number }[] {
  const out: { code: number; bits: number }[] = []
  let code = 0
  let idx = 0
  for (let len = 1; len <= MAX_CODE_BITS; len++) {
    for (let k = 0; k < HUFF_COUNT[len]; k++) out[HUFF_SYMBOL[idx++]] = { code: code++, bits: len }
    code <<= 1
  }
  return out
}

/**
 * Decodes Huffman bytes b[s..e) into out (from 0); returns the decoded length, or -1 when the input is
 * invalid: EOS inside the string, padding longer than 7 bits or not the EOS prefix (all ones) (§5.2).
 */
export function huffmanDecode(b: Buffer, s: number, e: number, out: Uint8Array): number {
  let n = 0
  let code = 0 // bits of the symbol being read
  let first = 0 // first code of the current length
  let index = 0 // index in HUFF_SYMBOL of the first symbol of the current length
  let len = 0
  let ones = true // the bits of the pending symbol are all 1 (candidates for padding)
  for (let i = s; i < e; i++) {
    const byte = b[i]
    for (let bit = 7; bit >= 0; bit--) {
      const v = (byte >> bit) & 1
      code |= v
      if (v === 0) ones = false
      len++
      const count = HUFF_COUNT[len]
      if (code - first < count) {
        const sym = HUFF_SYMBOL[index + (code - first)]
        if (sym === EOS) return -1
        if (n >= out.length) return -1
        out[n++] = sym
        code = first = index = len = 0
        ones = true
        continue
      }
      index += count
      first = (first + count) << 1
      code <<= 1
      if (len >= MAX_CODE_BITS) return -1
    }
  }
  // what is left must be fewer than 8 bits, all ones (§5.2)
  if (len > 7 || !ones) return -1
  return n
}

export const enum Result {
  Ok = 0,
  /** malformed: the table is unknown from now on (the decoder relearns it, see bad()) */
  Bad = 1,
  /** decodable, but some fields referred to dynamic entries from before the capture (partial mode) */
  Partial = 2,
}

/** why a block was malformed, for counting */
export type BadReason =
  | 'hpack_index_out_of_range'
  | 'hpack_integer_overflow'
  | 'hpack_bad_huffman'
  | 'hpack_truncated'
  | 'hpack_table_size_too_large'
  | 'hpack_size_update_misplaced'

interface Entry {
  name: string
  value: string
  /** RFC 7541 §4.1: name + value octets + 32 */
  size: number
}

/** largest integer accepted (RFC 7541 §5.1 leaves the limit to the implementation) */
const MAX_INT = 0x7fffffff

export class Decoder {
  /** newest first: entries[0] is index 62 */
  private entries: Entry[] = []
  private size = 0
  /** current max size set by the encoder's size updates */
  private maxSize: number
  /** the largest size the encoder may pick: the receiver's SETTINGS value, capped by the limit */
  private allowed: number
  /** joined mid-stream: entries older than `known` are unknown */
  partial = false
  lastBad: BadReason | null = null
  private scratch: Uint8Array = new Uint8Array(256)
  private pos = 0

  constructor(
    private readonly limitBytes: number,
    private readonly maxStringBytes: number,
  ) {
    this.allowed = Math.min(4096, limitBytes)
    this.maxSize = this.allowed
  }

  get tableBytes(): number {
    return this.size
  }

  get tableEntries(): number {
    return this.entries.length
  }

  /** the receiving peer announced SETTINGS_HEADER_TABLE_SIZE = n */
  setAllowed(n: number): void {
    // a value over our limit is kept as it is: a size update beyond the limit then breaks the decoder
    // (counted) instead of letting the table grow past limits.maxHpackTableBytes
    this.allowed = Math.max(this.allowed, n)
  }

  /** a clean start (the connection preface was seen after all) */
  reset(): void {
    this.entries = []
    this.size = 0
    this.partial = false
    this.allowed = Math.min(4096, this.limitBytes)
    this.maxSize = this.allowed
  }

  /** joined mid-stream: forget the table; any size up to the limit is believable */
  joinMidStream(): void {
    this.entries = []
    this.size = 0
    this.partial = true
    this.allowed = this.limitBytes
    this.maxSize = this.limitBytes
  }

  /**
   * Decodes one whole header block b[s..e), calling onField per field. Names are lower case text;
   * values latin1 text (REDACTED for secrets, UNKNOWN when not decodable in partial mode).
   */
  decode(b: Buffer, s: number, e: number, onField: (name: string, value: string) => void): Result {
    this.pos = s
    let partialHit = false
    let fieldsSeen = false
    while (this.pos < e) {
      const c = b[this.pos]
      if (c & 0x80) {
        // indexed field
        const idx = this.int(b, e, 7)
        if (idx < 0) return this.bad()
        if (idx === 0) return this.bad('hpack_index_out_of_range')
        const ent = this.lookup(idx)
        if (ent === null) return this.bad('hpack_index_out_of_range')
        if (ent === undefined) {
          partialHit = true
          onField(UNKNOWN, UNKNOWN)
        } else onField(ent.name, ent.value)
        fieldsSeen = true
        continue
      }
      if ((c & 0xe0) === 0x20) {
        // dynamic table size update: only at the start of a block (§4.2)
        if (fieldsSeen) return this.bad('hpack_size_update_misplaced')
        const n = this.int(b, e, 5)
        if (n < 0) return this.bad()
        if (n > this.allowed || n > this.limitBytes) return this.bad('hpack_table_size_too_large')
        this.maxSize = n
        this.evict(0)
        continue
      }
      const incremental = (c & 0xc0) === 0x40
      const idx = this.int(b, e, incremental ? 6 : 4)
      if (idx < 0) return this.bad()
      let name: string
      if (idx === 0) {
        const n = this.str(b, e)
        if (n === null) return this.bad()
        name = n
      } else {
        const ent = this.lookup(idx)
        if (ent === null) return this.bad('hpack_index_out_of_range')
        if (ent === undefined) {
          partialHit = true
          name = UNKNOWN
        } else name = ent.name
      }
      const secret = SECRET.has(name)
      const v = this.str(b, e, secret)
      if (v === null) return this.bad()
      fieldsSeen = true
      onField(name, v)
      if (incremental) {
        // the entry's size counts the real value length even when the value itself is not kept
        const vlen = secret ? this.lastLen : v.length
        this.add(name, v, name.length + vlen + 32)
      }
    }
    return partialHit ? Result.Partial : Result.Ok
  }

  /** octets of the last string read (its decoded length), kept for secrets whose text is not */
  private lastLen = 0

  /** index → entry; undefined: a dynamic entry from before the capture; null: out of range */
  private lookup(idx: number): Entry | undefined | null {
    if (idx <= STATIC_COUNT) return STATIC_ENTRIES[idx]
    const k = idx - STATIC_COUNT - 1
    if (k < this.entries.length) return this.entries[k]
    if (this.partial) {
      // older entries exist only if the table can hold them
      return this.size + 32 * (k - this.entries.length + 1) <= this.maxSize ? undefined : null
    }
    return null
  }

  private add(name: string, value: string, size: number): void {
    if (size > this.maxSize) {
      // an entry larger than the table empties it (§4.4)
      this.entries = []
      this.size = 0
      return
    }
    this.evict(size)
    this.entries.unshift({ name, value, size })
    this.size += size
  }

  private evict(room: number): void {
    while (this.entries.length > 0 && this.size + room > this.maxSize) this.size -= this.entries.pop()!.size
  }

  /** integer with an N-bit prefix at this.pos (§5.1); -1 on overflow or truncation */
  private int(b: Buffer, e: number, prefix: number): number {
    const max = (1 << prefix) - 1
    let v = b[this.pos++] & max
    if (v < max) return v
    let shift = 0
    for (;;) {
      if (this.pos >= e) {
        this.lastBad = 'hpack_truncated'
        return -1
      }
      const c = b[this.pos++]
      v += (c & 0x7f) * 2 ** shift
      shift += 7
      if (v > MAX_INT || shift > 35) {
        this.lastBad = 'hpack_integer_overflow'
        return -1
      }
      if ((c & 0x80) === 0) return v
    }
  }

  /** string literal at this.pos (§5.2); null when malformed (this.lastBad says why) */
  private str(b: Buffer, e: number, secret = false): string | null {
    if (this.pos >= e) {
      this.lastBad = 'hpack_truncated'
      return null
    }
    const huff = (b[this.pos] & 0x80) !== 0
    const len = this.int(b, e, 7)
    if (len < 0) return null
    if (len > e - this.pos) {
      this.lastBad = 'hpack_truncated'
      return null
    }
    const s = this.pos
    this.pos += len
    if (!huff) {
      this.lastLen = len
      if (secret) return REDACTED
      return b.toString('latin1', s, s + len)
    }
    // a Huffman code is at least 5 bits per symbol: 8/5 of the input bounds the output
    const need = Math.ceil((len * 8) / 5)
    if (need > this.scratch.length) {
      if (need > Math.max(256, this.maxStringBytes * 2)) {
        this.lastBad = 'hpack_truncated'
        return null
      }
      this.scratch = new Uint8Array(Math.max(need, this.scratch.length * 2))
    }
    const n = huffmanDecode(b, s, s + len, this.scratch)
    if (n < 0) {
      this.lastBad = 'hpack_bad_huffman'
      return null
    }
    this.lastLen = n
    if (secret) return REDACTED
    return Buffer.from(this.scratch.buffer, this.scratch.byteOffset, n).toString('latin1')
  }

  /**
   * A malformed block: what it added to the table is unknown, so every entry is. The decoder goes on
   * as if joined mid-stream (entries added from now on are learned, older ones are UNKNOWN), so later
   * blocks decode again as soon as they refer only to static or newly learned entries.
   */
  private bad(reason?: BadReason): Result {
    if (reason !== undefined) this.lastBad = reason
    this.joinMidStream()
    return Result.Bad
  }
}
