// Classic pcap writer (µs timestamps, little endian), for --pcap-out and for tests that build captures.
//
//   file header (24 bytes): magic a1b2c3d4 | 2 | 4 | thiszone 0 | sigfigs 0 | snaplen | linktype
//   record: ts_sec u32 | ts_usec u32 | caplen u32 | origlen u32 | caplen bytes
//   https://www.ietf.org/archive/id/draft-ietf-opsawg-pcap-04.html
//
// Records are copied into one buffer that is written with fs.writeSync when full, so a live capture
// writes in large blocks. Nothing is written past close(). Synchronous like the rest of the hot path.

import * as fs from 'node:fs'
import { SinkError } from '../errors.js'
import { LinkType } from './source.js'

export interface PcapWriterOptions {
  /** LINKTYPE_ of every packet (source.ts LinkType); default Ethernet */
  linkType?: number
  /** packets longer than this are cut to it (origLen keeps the wire length); default 262144 */
  snaplen?: number
  /** write buffer size; default 1 MiB */
  bufferBytes?: number
}

const HEADER_BYTES = 24
const RECORD_HEADER_BYTES = 16

export class PcapWriter {
  readonly path: string
  readonly linkType: number
  readonly snaplen: number
  /** packets written (or buffered) so far */
  packets = 0
  /** bytes written to the file so far, header included (buffered bytes count once flushed) */
  bytesWritten = 0

  private fd: number
  private readonly buf: Buffer
  private used = 0
  private closed = false

  constructor(path: string, opts: PcapWriterOptions = {}) {
    this.path = path
    this.linkType = opts.linkType ?? LinkType.ETHERNET
    this.snaplen = opts.snaplen ?? 262_144
    if (!Number.isInteger(this.snaplen) || this.snaplen <= 0) throw new RangeError(`snaplen must be a positive integer, got ${this.snaplen}`)
    this.buf = Buffer.allocUnsafe(Math.max(64 * 1024, opts.bufferBytes ?? 1 << 20))
    try {
      this.fd = fs.openSync(path, 'w')
    } catch (e) {
      throw new SinkError('PODTAP_PCAP_OUT', `cannot write ${path}: ${(e as Error).message}`, { cause: e })
    }
    const b = this.buf
    b.writeUInt32LE(0xa1b2c3d4, 0)
    b.writeUInt16LE(2, 4)
    b.writeUInt16LE(4, 6)
    b.writeInt32LE(0, 8) // thiszone: timestamps are UTC
    b.writeUInt32LE(0, 12) // sigfigs
    b.writeUInt32LE(this.snaplen, 16)
    b.writeUInt32LE(this.linkType, 20)
    this.used = HEADER_BYTES
  }

  /**
   * Appends one packet. `data` is copied (it may be a view into a ring or a reused buffer) and cut to
   * the snap length; `origLen` is the length on the wire (default data.length).
   */
  write(tsUs: number, data: Uint8Array, origLen: number = data.length): void {
    if (this.closed) throw new SinkError('PODTAP_PCAP_OUT', `write to ${this.path} after close()`)
    const caplen = Math.min(data.length, this.snaplen)
    if (origLen < caplen) origLen = caplen
    const need = RECORD_HEADER_BYTES + caplen
    if (this.used + need > this.buf.length) this.flush()
    let sec = Math.floor(tsUs / 1e6)
    let usec = Math.floor(tsUs - sec * 1e6)
    if (!(sec >= 0)) sec = usec = 0 // negative or NaN: the format has no way to say it
    if (sec > 0xffffffff) sec = 0xffffffff // past 2106: the u32 seconds field is full
    const b = this.buf
    let o = this.used
    b.writeUInt32LE(sec, o)
    b.writeUInt32LE(usec, o + 4)
    b.writeUInt32LE(caplen, o + 8)
    b.writeUInt32LE(origLen >>> 0, o + 12)
    o += RECORD_HEADER_BYTES
    if (need <= b.length) {
      b.set(data.subarray(0, caplen), o)
      this.used = o + caplen
    } else {
      // a record larger than the whole buffer (tiny bufferBytes, huge snaplen): header, then data direct
      this.used = o
      this.flush()
      this.writeAll(data.subarray(0, caplen))
    }
    this.packets++
  }

  /** Writes buffered records to the file. */
  flush(): void {
    if (this.used === 0 || this.closed) return
    this.writeAll(this.buf.subarray(0, this.used))
    this.used = 0
  }

  close(): void {
    if (this.closed) return
    try {
      this.flush()
    } finally {
      this.closed = true
      fs.closeSync(this.fd)
    }
  }

  private writeAll(bytes: Uint8Array): void {
    let off = 0
    try {
      while (off < bytes.length) off += fs.writeSync(this.fd, bytes, off, bytes.length - off)
    } catch (e) {
      throw new SinkError('PODTAP_PCAP_OUT', `cannot write ${this.path}: ${(e as Error).message}`, { cause: e })
    }
    this.bytesWritten += bytes.length
  }
}
