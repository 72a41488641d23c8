// Accumulates one direction's bytes and cuts whole frames from them (pg-protocol Parser.parse):
// only the incomplete tail is copied and kept; whole frames are handed out as views.

export type FrameLength = (buf: Buffer, off: number) => number
/**
 * Returns the total length of the frame starting at buf[off] (header included), or:
 *  -1 when more bytes are needed to know it, -2 when the header is malformed.
 */

export interface FramerOptions {
  /** largest frame kept whole; larger ones are skipped over (onOversize is called with their head) */
  maxFrameBytes: number
  frameLength: FrameLength
  /** a whole frame: a view valid only during the call */
  onFrame: (frame: Buffer, tsUs: number) => void
  /** a frame too large to keep: its first bytes (at least the header), its total length */
  onOversize?: (head: Buffer, totalLength: number, tsUs: number) => void
  /** a malformed header: the framer drops its buffer and waits for resync() */
  onMalformed?: (tsUs: number) => void
}

export class Framer {
  private tail: Buffer = Buffer.alloc(0)
  private tailLen = 0
  /** bytes still to skip of an oversize frame */
  private skip = 0
  /** time of the first byte of the frame being assembled */
  private frameStartUs = 0
  /** set by stop() from inside a callback: feed() returns at once */
  private stopped = false
  broken = false

  constructor(private readonly o: FramerOptions) {}

  /** start time of the frame being assembled, Infinity when none is */
  get partialStartUs(): number {
    return this.tailLen > 0 ? this.frameStartUs : Infinity
  }

  /** bytes held while waiting for the rest of a frame */
  get buffered(): number {
    return this.tailLen
  }

  /** throw away what is buffered (after a gap) and start clean at the next feed */
  reset(): void {
    this.tailLen = 0
    this.skip = 0
    this.broken = false
    if (this.tail.length > 64 * 1024) this.tail = Buffer.alloc(0)
  }

  /** steps over `n` lost bytes; returns false when they fell inside a frame (the buffer is dropped) */
  gap(n: number): boolean {
    if (n >= 0 && this.skip >= n) {
      this.skip -= n
      return true
    }
    this.reset()
    return false
  }

  /**
   * Call from inside onFrame/onOversize to stop cutting frames (the parser lost the framing and will
   * look for a clean start itself): feed() returns the bytes after the current frame and keeps nothing.
   */
  stop(): void {
    this.stopped = true
  }

  /**
   * Cuts whole frames from `chunk` (plus what was held). Returns undefined, or, when a callback called
   * stop(), the bytes after that frame: a view valid only until the next feed().
   */
  feed(chunk: Buffer, tsUs: number): Buffer | undefined {
    if (this.broken) return
    if (this.skip > 0) {
      const s = Math.min(this.skip, chunk.length)
      this.skip -= s
      chunk = chunk.subarray(s)
      if (chunk.length === 0) return
    }
    let buf: Buffer
    const fromTail = this.tailLen > 0
    if (fromTail) {
      this.append(chunk)
      buf = this.tail.subarray(0, this.tailLen)
    } else {
      buf = chunk
      this.frameStartUs = tsUs
    }
    let off = 0
    while (off < buf.length) {
      const len = this.o.frameLength(buf, off)
      if (len === -1) break
      if (len < 0 || len === 0) {
        this.broken = true
        this.tailLen = 0
        this.o.onMalformed?.(tsUs)
        return
      }
      if (len > this.o.maxFrameBytes) {
        this.o.onOversize?.(buf.subarray(off, Math.min(buf.length, off + 64)), len, this.frameStartUs)
        const have = buf.length - off
        if (have >= len) {
          off += len
          this.frameStartUs = tsUs
          if (this.stopped) return this.halt(buf, off)
          continue
        }
        if (this.stopped) return this.halt(buf, buf.length)
        this.skip = len - have
        this.tailLen = 0
        return
      }
      if (buf.length - off < len) break
      this.o.onFrame(buf.subarray(off, off + len), this.frameStartUs)
      off += len
      this.frameStartUs = tsUs
      if (this.stopped) return this.halt(buf, off)
    }
    this.keepTail(buf, off, fromTail)
  }

  private halt(buf: Buffer, off: number): Buffer {
    this.stopped = false
    this.tailLen = 0
    this.skip = 0
    return buf.subarray(off)
  }

  private append(chunk: Buffer): void {
    const need = this.tailLen + chunk.length
    if (need > this.tail.length) {
      const nb = Buffer.allocUnsafeSlow(Math.max(need, this.tail.length * 2, 256))
      this.tail.copy(nb, 0, 0, this.tailLen)
      this.tail = nb
    }
    chunk.copy(this.tail, this.tailLen)
    this.tailLen = need
  }

  private keepTail(buf: Buffer, off: number, fromTail: boolean): void {
    const rest = buf.length - off
    if (rest === 0) {
      this.tailLen = 0
      return
    }
    if (fromTail) {
      // compact in place
      this.tail.copy(this.tail, 0, off, off + rest)
      this.tailLen = rest
      return
    }
    if (rest > this.tail.length) this.tail = Buffer.allocUnsafeSlow(Math.max(rest, 256))
    buf.copy(this.tail, 0, off)
    this.tailLen = rest
  }
}
