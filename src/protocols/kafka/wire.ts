// A bounds-checked cursor over one Kafka message body, for both encodings
// (https://kafka.apache.org/protocol#protocol_types):
//   classic:  STRING = int16 length + bytes (-1 = null), ARRAY = int32 count (-1 = null),
//             BYTES = int32 length + bytes
//   flexible: COMPACT_STRING / COMPACT_ARRAY / COMPACT_BYTES = UNSIGNED_VARINT (length + 1, 0 = null)
//             + content; each struct ends with TAG_BUFFER = UNSIGNED_VARINT count, then per field
//             UNSIGNED_VARINT tag, UNSIGNED_VARINT size, bytes
// A read past the end never throws: it clears `ok`, moves to the end and returns 0/'' so a decoder
// runs to its end and the caller looks at `ok` once. Re-pointed per message (no frame stays referenced
// after clear()).

const EMPTY = Buffer.alloc(0)

export class Cursor {
  buf: Buffer = EMPTY
  pos = 0
  end = 0
  ok = true
  flexible = false

  set(buf: Buffer, pos: number, flexible: boolean): this {
    this.buf = buf
    this.pos = pos
    this.end = buf.length
    this.ok = true
    this.flexible = flexible
    return this
  }

  clear(): void {
    this.buf = EMPTY
    this.pos = this.end = 0
  }

  private fail(): 0 {
    this.ok = false
    this.pos = this.end
    return 0
  }

  skip(n: number): void {
    if (n < 0 || this.pos + n > this.end) this.fail()
    else this.pos += n
  }

  i8(): number {
    if (this.pos + 1 > this.end) return this.fail()
    return this.buf.readInt8(this.pos++)
  }

  i16(): number {
    if (this.pos + 2 > this.end) return this.fail()
    const v = this.buf.readInt16BE(this.pos)
    this.pos += 2
    return v
  }

  i32(): number {
    if (this.pos + 4 > this.end) return this.fail()
    const v = this.buf.readInt32BE(this.pos)
    this.pos += 4
    return v
  }

  /** UNSIGNED_VARINT, at most 5 bytes (32 bits) */
  uvarint(): number {
    let v = 0
    for (let i = 0; i < 5; i++) {
      if (this.pos >= this.end) return this.fail()
      const b = this.buf[this.pos++]
      v += (b & 0x7f) * 2 ** (7 * i)
      if ((b & 0x80) === 0) return v
    }
    return this.fail()
  }

  /** length of a STRING / COMPACT_STRING (or BYTES) about to be read: -1 for null */
  private len(classicBytes: boolean): number {
    if (this.flexible) return this.uvarint() - 1
    const n = classicBytes ? this.i32() : this.i16()
    return n < -1 ? (this.fail(), -1) : n
  }

  /** a string, cut to `max` characters; null when null (or unreadable: check ok) */
  str(max: number): string | null {
    const n = this.len(false)
    if (n < 0 || !this.ok) return null
    if (this.pos + n > this.end) {
      this.fail()
      return null
    }
    const s = this.buf.toString('latin1', this.pos, this.pos + Math.min(n, max))
    this.pos += n
    return s
  }

  skipStr(): void {
    const n = this.len(false)
    if (n > 0) this.skip(n)
  }

  skipBytes(): void {
    const n = this.len(true)
    if (n > 0) this.skip(n)
  }

  /** element count of an ARRAY / COMPACT_ARRAY: -1 for null */
  arr(): number {
    if (this.flexible) return this.uvarint() - 1
    const n = this.i32()
    return n < -1 ? this.fail() : n
  }

  /** an array of int32 */
  skipI32s(): void {
    const n = this.arr()
    if (n > 0) this.skip(4 * n)
  }

  /** TAG_BUFFER at the end of a flexible struct; nothing in a classic one */
  tags(): void {
    if (!this.flexible) return
    const n = this.uvarint()
    for (let i = 0; i < n && this.ok; i++) {
      this.uvarint()
      this.skip(this.uvarint())
    }
  }
}
