// pcap and pcapng file reader: the PacketSource for `podtap replay` and for tests.
//
// Streaming and synchronous: the file is read with fs.readSync into one fixed buffer (4 MiB by
// default) that is compacted and refilled as records are consumed, so a multi-GB capture replays in
// constant memory. The Packet returned by next() is one reused object whose `data` is a view into
// that buffer: valid until the next call to next() or close() (see source.ts). nextRaw() returns
// the same packet as offsets into the buffer, without the view (the replay's hot path).
//
// Formats:
//   pcap    https://www.ietf.org/archive/id/draft-ietf-opsawg-pcap-04.html
//           file header (24 bytes):
//             magic u32 | version major u16 | minor u16 | thiszone i32 | sigfigs u32 | snaplen u32 |
//             linktype u32 (bits 0-15 link type; bits 26-31 FCS info, ignored)
//           record header (16 bytes): ts_sec u32 | ts_usec (or ts_nsec) u32 | caplen u32 | origlen u32
//           magic a1b2c3d4 = µs, a1b23c4d = ns; read in the file's byte order (either works).
//           a1b2cd34 = Kuznetsov "modified pcap": record header has 8 more bytes (ifindex, protocol,
//           pkt_type, pad).
//   pcapng  https://www.ietf.org/archive/id/draft-ietf-opsawg-pcapng-03.html
//           every block: type u32 | total length u32 | body | total length u32 (multiple of 4)
//           SHB 0x0a0d0d0a: byte-order magic 1a2b3c4d | major u16 | minor u16 | section length i64 |
//               options. Starts a section: byte order and interface list restart.
//           IDB 1:  linktype u16 | reserved u16 | snaplen u32 | options (if_tsresol 9, if_tsoffset 14)
//           EPB 6:  interface id u32 | ts high u32 | ts low u32 | caplen u32 | origlen u32 | data | opts
//           SPB 3:  origlen u32 | data (interface 0, no timestamp)
//           PB  2:  (obsolete) interface id u16 | drops u16 | ts high | ts low | caplen | origlen | data
//           every other block (NRB, ISB, DSB with TLS keys, custom...) is skipped unread.
//
// Errors are CaptureFileError (exit code 2) naming the file and the byte offset. A record cut short
// at the end of the file is not an error: the source ends there, `truncatedTail` holds its offset and
// stats().dropped counts it, so everything before it is processed and the CLI can warn.

import * as fs from 'node:fs'
import { CaptureFileError } from '../errors.js'
import type { CaptureStats, FileProgress, LinkTypeId, Packet, PacketSource, RawPacket } from './source.js'

/** a record claiming more captured bytes than this is corrupt (262144 is the largest snaplen in use) */
export const MAX_CAPLEN = 256 * 1024
/** SHB/IDB/EPB/SPB/PB blocks are read whole: longer than this (options included) is corrupt */
const MAX_READ_BLOCK = MAX_CAPLEN + 64 * 1024
const DEFAULT_CHUNK_BYTES = 4 * 1024 * 1024
/** smallest buffer that still holds any record we read whole */
const MIN_CHUNK_BYTES = MAX_READ_BLOCK + 64

/** read-ahead: room kept before each chunk for the previous chunk's tail; a refill is due below this */
const AHEAD_ROOM = MIN_CHUNK_BYTES
const AHEAD_LOW = MIN_CHUNK_BYTES

const PCAP_HEADER_BYTES = 24
const MAGIC_US = 0xa1b2c3d4
const MAGIC_NS = 0xa1b23c4d
const MAGIC_MODIFIED = 0xa1b2cd34 // Kuznetsov's patched libpcap (µs)
const MAGIC_US_SWAPPED = 0xd4c3b2a1
const MAGIC_NS_SWAPPED = 0x4d3cb2a1
const MAGIC_MODIFIED_SWAPPED = 0x34cdb2a1

const enum Block {
  SHB = 0x0a0d0d0a,
  IDB = 1,
  PB = 2, // obsolete Packet Block
  SPB = 3,
  EPB = 6,
}
const BYTE_ORDER_MAGIC = 0x1a2b3c4d
const OPT_END = 0
const OPT_IF_TSRESOL = 9
const OPT_IF_TSOFFSET = 14

const TWO_32 = 4294967296

export type CaptureFormat = 'pcap' | 'pcapng'

export interface CaptureFileOptions {
  /** size of the read buffer; at least 320 KiB (a whole record must fit). Default 4 MiB. */
  chunkBytes?: number
  /**
   * Read the next chunk on libuv's thread pool while this one is parsed (a second buffer). next() and
   * nextRaw() then also return null when a refill is due: the caller (an async reader: `podtap
   * replay`) awaits refill() whenever needsRefill is true, and reads on.
   */
  readAhead?: boolean
}

/** how one interface's 64-bit timestamps become µs */
const enum TsMode {
  Micro, // units are µs: hi * 2^32 + lo
  Div, // units finer than µs, 10^k per second with d = 10^(k-6) <= 10^6: exact two-step division
  Mul, // units coarser than µs (10^k, k < 6)
  Big, // anything else (powers of 2, very fine decimal): BigInt, rare
}

interface Iface {
  linkType: number
  snaplen: number
  mode: TsMode
  /** Div: divisor; Mul: multiplier */
  factor: number
  /** Big: units per second */
  unitsPerSec: bigint
  /** if_tsoffset, in µs */
  offsetUs: number
}

/** Opens a pcap or pcapng file. Throws CaptureFileError when it is not one, or its header is cut. */
export function openCaptureFile(path: string, opts: CaptureFileOptions = {}): CaptureFileReader {
  return new CaptureFileReader(path, opts)
}

export class CaptureFileReader implements PacketSource, FileProgress {
  readonly name: string
  readonly format: CaptureFormat
  /** pcap: the file's link type; pcapng: the first interface's, -1 when not known at open (each packet carries its own) */
  readonly linkType: LinkTypeId
  /** pcap: the file header's snap length; pcapng: the first interface's (0 = not set) */
  readonly snaplen: number
  /** size of the file when opened */
  readonly bytesTotal: number
  private tail: number | null = null

  private readonly fd: number
  private closed = false
  private done = false
  private buf: Buffer
  /** file offset of buf[0] */
  private bufPos = 0
  /** valid bytes are buf[lo, hi); the next record starts at buf[lo] */
  private lo = 0
  private hi = 0
  private le = true

  // pcap
  private nanos = false
  private recHeader = 16
  // pcapng
  private ifaces: Iface[] = []
  private lastTsUs = 0

  /** read-ahead: the spare buffer, being filled from file offset aheadPos with aheadLen bytes (-1: not yet, or failed) */
  private ahead: Buffer | null = null
  private aheadOn = false
  private aheadPos = 0
  private aheadLen = -1
  private aheadRead: Promise<void> | null = null

  private readonly pkt: Packet = { tsUs: 0, ifindex: 0, linkType: 0, data: Buffer.alloc(0), origLen: 0 }
  private readonly raw: RawPacket
  private readonly st: CaptureStats = { packets: 0, bytes: 0, dropped: 0, truncated: 0 }

  constructor(path: string, opts: CaptureFileOptions = {}) {
    this.name = path
    this.raw = { tsUs: 0, ifindex: 0, linkType: 0, buf: Buffer.alloc(0), start: 0, caplen: 0, origLen: 0 }
    try {
      this.fd = fs.openSync(path, 'r')
    } catch (e) {
      const err = e as NodeJS.ErrnoException
      const why = err.code === 'ENOENT' ? 'no such file' : err.code === 'EACCES' ? 'permission denied' : err.message
      throw new CaptureFileError('PODTAP_FILE_OPEN', path, 0, `cannot open: ${why}`)
    }
    try {
      const st = fs.fstatSync(this.fd)
      if (st.isDirectory()) throw new CaptureFileError('PODTAP_FILE_OPEN', path, 0, 'is a directory, not a capture file')
      this.bytesTotal = st.size
      // a small file needs no more buffer than its size (a file still growing is streamed all the same)
      // read-ahead keeps two buffers of 1 MiB (less peak memory than one of 4 MiB; 1 MiB reads cost no more)
      const chunk = opts.chunkBytes ?? (opts.readAhead === true ? DEFAULT_CHUNK_BYTES / 4 : DEFAULT_CHUNK_BYTES)
      const want = Math.min(chunk, st.size > 0 ? st.size : Infinity)
      const size = Math.max(MIN_CHUNK_BYTES, want)
      // read-ahead: both buffers keep room before the chunk for the tail of the previous one
      const ahead = opts.readAhead === true && st.size > size
      this.buf = Buffer.allocUnsafe(ahead ? AHEAD_ROOM + size : size)
      const head = this.fill(PCAP_HEADER_BYTES)
      if (head < 4) this.notCapture(head)
      const m = this.buf.readUInt32LE(0)
      if (m === Block.SHB) {
        this.format = 'pcapng'
        this.readShb(true)
        // every writer puts the first IDB right after the SHB: look for it in what is buffered,
        // without consuming anything
        const first = this.peekFirstIface()
        this.linkType = first?.linkType ?? -1
        this.snaplen = first?.snaplen ?? 0
      } else {
        this.format = 'pcap'
        const h = this.readPcapHeader(m, head)
        this.linkType = h.linkType
        this.snaplen = h.snaplen
      }
      this.aheadOn = ahead
    } catch (e) {
      fs.closeSync(this.fd)
      throw e
    }
  }

  get ended(): boolean {
    return this.done
  }

  /**
   * Byte offset of a last record cut short by the end of the file (it is counted in stats().dropped
   * and not delivered), or null. Set once next() has returned null.
   */
  get truncatedTail(): number | null {
    return this.tail
  }

  /** bytes of the file consumed so far (offset of the next record) */
  get bytesRead(): number {
    return this.bufPos + this.lo
  }

  stats(): CaptureStats {
    return { ...this.st }
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    this.done = true
    // a read still in flight on the thread pool keeps the descriptor until it is back (a number
    // reused meanwhile would be read into a buffer nobody reads, but closed twice: no)
    const fd = this.fd
    if (this.aheadRead !== null) void this.aheadRead.then(() => fs.closeSync(fd))
    else fs.closeSync(fd)
  }

  // ---- read-ahead ----

  /**
   * Read-ahead only: less than a whole record's worth is left in the buffer and the file goes on;
   * call refill() before the next nextRaw()/next().
   */
  get needsRefill(): boolean {
    return this.aheadOn && this.hi - this.lo < AHEAD_LOW && !this.done
  }

  /**
   * Read-ahead: waits for the chunk being read, and swaps it in behind what is left of this one (the
   * last packet returned becomes invalid). Then starts reading the next.
   */
  async refill(): Promise<void> {
    if (!this.aheadOn || this.closed) return
    // the spare buffer from the first refill on (a replay opens every file first, reads one at a time)
    this.ahead ??= Buffer.allocUnsafe(this.buf.length)
    if (this.aheadRead === null) this.prefetch()
    await this.aheadRead
    this.aheadRead = null
    if (this.closed) return
    const n = this.aheadLen
    if (n <= 0) {
      // the end of the file (or a read error, which the synchronous path reports where it happens)
      this.aheadOn = false
      this.ahead = null
      return
    }
    // a synchronous fill() may have read past the prefetch's start, or skip() jumped beyond it
    const hiPos = this.bufPos + this.hi
    const skip = hiPos - this.aheadPos
    const tail = this.hi - this.lo
    if (skip < 0 || skip >= n || tail > AHEAD_ROOM) return this.prefetch()
    const next = this.ahead
    const at = AHEAD_ROOM + skip - tail
    this.buf.copy(next, at, this.lo, this.hi)
    this.ahead = this.buf
    this.buf = next
    this.bufPos = hiPos - (AHEAD_ROOM + skip)
    this.lo = at
    this.hi = AHEAD_ROOM + n
    this.prefetch()
  }

  /** starts reading the file from the end of what is buffered into the spare buffer, after its room */
  private prefetch(): void {
    const buf = this.ahead!
    const pos = this.bufPos + this.hi
    this.aheadPos = pos
    this.aheadLen = -1
    this.aheadRead = new Promise<void>((resolve) =>
      fs.read(this.fd, buf, AHEAD_ROOM, buf.length - AHEAD_ROOM, pos, (err, n) => {
        this.aheadLen = err ? -1 : n
        resolve()
      }),
    )
  }

  /**
   * The next packet, or null at the end of the file. Throws CaptureFileError for a corrupt record
   * in the middle of the file (every packet before it was already returned); after that, null.
   */
  next(): Packet | null {
    const r = this.nextRaw()
    if (r === null) return null
    const p = this.pkt
    p.tsUs = r.tsUs
    p.ifindex = r.ifindex
    p.linkType = r.linkType
    p.data = r.buf.subarray(r.start, r.start + r.caplen)
    p.origLen = r.origLen
    return p
  }

  /** next() without the view: the packet's bytes as offsets into the read buffer (see RawPacket). */
  nextRaw(): RawPacket | null {
    if (this.done) return null
    // read-ahead: null also when a refill is due (needsRefill), until the caller has awaited refill()
    if (this.aheadOn && this.hi - this.lo < AHEAD_LOW) return null
    try {
      return this.format === 'pcap' ? this.nextPcap() : this.nextPcapng()
    } catch (e) {
      this.done = true
      throw e
    }
  }

  // ---- buffer ----

  /**
   * Makes at least `need` bytes available at buf[lo] if the file has them (compacting and refilling
   * the buffer; `need` must fit in it). Returns how many bytes are available, which is less than
   * `need` only at the end of the file.
   */
  private fill(need: number): number {
    let avail = this.hi - this.lo
    if (avail >= need) return avail
    if (this.lo + need > this.buf.length) {
      // compact: the bytes before lo belong to packets already handed out, which next() invalidates
      this.buf.copyWithin(0, this.lo, this.hi)
      this.bufPos += this.lo
      this.hi = avail
      this.lo = 0
    }
    while (this.hi < this.buf.length) {
      const n = fs.readSync(this.fd, this.buf, this.hi, this.buf.length - this.hi, this.bufPos + this.hi)
      if (n === 0) break
      this.hi += n
      if (this.hi - this.lo >= need) break
    }
    avail = this.hi - this.lo
    return avail
  }

  /** Moves past `n` bytes, which may reach beyond the buffer. Returns false when the file is shorter. */
  private skip(n: number): boolean {
    if (n <= this.hi - this.lo) {
      this.lo += n
      return true
    }
    const target = this.bufPos + this.lo + n
    let size = this.bytesTotal
    if (target > size) size = fs.fstatSync(this.fd).size // the file may still be growing
    if (target > size) return false
    this.bufPos = target
    this.lo = 0
    this.hi = 0
    return true
  }

  // byte arithmetic instead of Buffer.readUInt32LE, which validates its arguments on every call;
  // every caller has made sure the bytes are in the buffer
  private u32(off: number): number {
    const b = this.buf
    return this.le
      ? ((b[off + 3] << 24) | (b[off + 2] << 16) | (b[off + 1] << 8) | b[off]) >>> 0
      : ((b[off] << 24) | (b[off + 1] << 16) | (b[off + 2] << 8) | b[off + 3]) >>> 0
  }

  private u16(off: number): number {
    const b = this.buf
    return this.le ? b[off] | (b[off + 1] << 8) : (b[off] << 8) | b[off + 1]
  }

  private get offset(): number {
    return this.bufPos + this.lo
  }

  private corrupt(offset: number, what: string): never {
    throw new CaptureFileError('PODTAP_FILE_CORRUPT', this.name, offset, `corrupt capture file: ${what}`)
  }

  private endAtTruncated(): null {
    this.tail = this.offset
    this.st.dropped++
    this.done = true
    return null
  }

  /**
   * EPB and PB: interface id (read by the caller, its width differs), ts high/low at +12/+16, caplen
   * at +20, origlen at +24, data at +28.
   */
  private timedPacket(lo: number, len: number, at: number, ifid: number): RawPacket {
    const caplen = this.u32(lo + 20)
    if (caplen > MAX_CAPLEN) this.corrupt(at, `packet claims ${caplen} captured bytes (more than ${MAX_CAPLEN})`)
    if (28 + caplen + 4 > len) this.corrupt(at, `packet of ${caplen} bytes does not fit its ${len}-byte block`)
    const iface = this.iface(ifid, at)
    const tsUs = this.ts(iface, this.u32(lo + 12), this.u32(lo + 16))
    this.lastTsUs = tsUs
    return this.deliver(tsUs, ifid, iface.linkType, lo + 28, caplen, this.u32(lo + 24))
  }

  private deliver(tsUs: number, ifindex: number, linkType: number, start: number, caplen: number, origLen: number): RawPacket {
    const p = this.raw
    p.tsUs = tsUs
    p.ifindex = ifindex
    p.linkType = linkType
    p.buf = this.buf
    p.start = start
    p.caplen = caplen
    p.origLen = origLen < caplen ? caplen : origLen
    this.st.packets++
    this.st.bytes += caplen
    if (caplen < origLen) this.st.truncated++
    return p
  }

  // ---- not a capture file ----

  private notCapture(have: number): never {
    const head = this.buf.subarray(0, have)
    const name = this.name
    if (have === 0) throw new CaptureFileError('PODTAP_FILE_EMPTY', name, 0, 'empty file, not a pcap or pcapng capture')
    const magics = [MAGIC_US, MAGIC_NS, MAGIC_MODIFIED, MAGIC_US_SWAPPED, MAGIC_NS_SWAPPED, MAGIC_MODIFIED_SWAPPED, Block.SHB]
    if (have < 4) {
      for (const m of magics) {
        const b = Buffer.alloc(4)
        b.writeUInt32LE(m)
        if (b.subarray(0, have).equals(head)) this.headerCut(have, 'file header')
      }
    }
    throw new CaptureFileError('PODTAP_FILE_NOT_CAPTURE', name, 0, describeNonCapture(head))
  }

  private headerCut(have: number, what: string): never {
    throw new CaptureFileError('PODTAP_FILE_TRUNCATED', this.name, have, `${what} cut short: the file ends after ${have} bytes`)
  }

  // ---- pcap ----

  private readPcapHeader(magicLe: number, have: number): { linkType: number; snaplen: number } {
    switch (magicLe) {
      case MAGIC_US: this.le = true; break
      case MAGIC_NS: this.le = true; this.nanos = true; break
      case MAGIC_MODIFIED: this.le = true; this.recHeader = 24; break
      case MAGIC_US_SWAPPED: this.le = false; break
      case MAGIC_NS_SWAPPED: this.le = false; this.nanos = true; break
      case MAGIC_MODIFIED_SWAPPED: this.le = false; this.recHeader = 24; break
      default: this.notCapture(have)
    }
    if (have < PCAP_HEADER_BYTES) this.headerCut(have, 'pcap file header')
    const major = this.u16(4)
    if (major !== 2) this.corrupt(4, `pcap version ${major}.${this.u16(6)} (only 2.x exists)`)
    const snaplen = this.u32(16)
    const linkType = this.u32(20) & 0xffff // upper bits: FCS length and flags, not the link type
    this.lo = PCAP_HEADER_BYTES
    return { linkType, snaplen }
  }

  private nextPcap(): RawPacket | null {
    const hl = this.recHeader
    // the common case: header and data already in the buffer
    const lo = this.lo
    if (lo + hl <= this.hi) {
      const caplen = this.u32(lo + 8)
      if (caplen <= MAX_CAPLEN && lo + hl + caplen <= this.hi) return this.pcapRecord(lo, hl, caplen)
    }
    return this.nextPcapFilled(hl)
  }

  /** nextPcap() when the record may reach past what is buffered */
  private nextPcapFilled(hl: number): RawPacket | null {
    const have = this.fill(hl)
    if (have === 0) {
      this.done = true
      return null
    }
    if (have < hl) return this.endAtTruncated()
    const lo = this.lo
    const caplen = this.u32(lo + 8)
    if (caplen > MAX_CAPLEN) this.corrupt(this.offset, `record claims ${caplen} captured bytes (more than ${MAX_CAPLEN})`)
    if (this.fill(hl + caplen) < hl + caplen) return this.endAtTruncated()
    return this.pcapRecord(this.lo, hl, caplen) // fill() may have moved the record to the start of the buffer
  }

  /** the pcap record whose header (hl bytes) and caplen bytes of data are buffered at buf[at] */
  private pcapRecord(at: number, hl: number, caplen: number): RawPacket {
    const sec = this.u32(at)
    const frac = this.u32(at + 4)
    const origLen = this.u32(at + 12)
    const tsUs = sec * 1e6 + (this.nanos ? Math.floor(frac / 1000) : frac)
    const ifindex = hl === 24 ? this.u32(at + 16) : 0
    this.lo = at + hl + caplen
    return this.deliver(tsUs, ifindex, this.linkType, at + hl, caplen, origLen)
  }

  // ---- pcapng ----

  /** Reads the SHB at buf[lo]: byte order, version; resets the interface list. */
  private readShb(first: boolean): void {
    const at = this.offset
    const have = this.fill(28)
    if (have < 12) {
      if (first) this.headerCut(have, 'pcapng section header')
      return void this.endAtTruncated()
    }
    const bom = this.buf.readUInt32LE(this.lo + 8)
    if (bom === BYTE_ORDER_MAGIC) this.le = true
    else if (bom === 0x4d3c2b1a) this.le = false
    else if (first) throw new CaptureFileError('PODTAP_FILE_NOT_CAPTURE', this.name, 8, 'starts like pcapng but has no byte-order magic: not a capture file')
    else this.corrupt(at, 'section header block without byte-order magic')
    const len = this.u32(this.lo + 4)
    if (len < 28 || len % 4 !== 0 || len > MAX_READ_BLOCK) this.corrupt(at, `section header block length ${len}`)
    if (this.fill(len) < len) {
      if (first) this.headerCut(this.hi - this.lo, 'pcapng section header')
      return void this.endAtTruncated()
    }
    const major = this.u16(this.lo + 12)
    if (major !== 1) this.corrupt(at, `pcapng version ${major}.${this.u16(this.lo + 14)} (only 1.x exists)`)
    if (this.u32(this.lo + len - 4) !== len) this.corrupt(at, 'section header block lengths differ')
    this.ifaces = []
    this.lo += len
  }

  /** At open: the first interface, reading only SHB/IDB/skippable blocks up to the first packet. */
  private peekFirstIface(): Iface | undefined {
    // Walk the blocks in the buffer without consuming them; only what is already buffered is looked
    // at (any real file has its first IDB in the first few hundred bytes).
    let off = this.lo
    while (off + 12 <= this.hi) {
      const type = this.u32(off)
      const len = this.u32(off + 4)
      if (len < 12 || len % 4 !== 0) return undefined
      if (type === Block.IDB && off + 16 <= this.hi) return { ...this.idbFixed(off), ...DEFAULT_TS }
      if (type === Block.SHB || type === Block.EPB || type === Block.SPB || type === Block.PB) return undefined
      off += len
    }
    return undefined
  }

  /** IDB fixed part at buf[lo]: linktype u16 at +8, snaplen u32 at +12 */
  private idbFixed(lo: number): { linkType: number; snaplen: number } {
    return { linkType: this.u16(lo + 8), snaplen: this.u32(lo + 12) }
  }

  private nextPcapng(): RawPacket | null {
    for (;;) {
      const have = this.fill(12)
      if (have === 0) {
        this.done = true
        return null
      }
      if (have < 12) return this.endAtTruncated()
      const at = this.offset
      const type = this.buf.readUInt32LE(this.lo) // SHB's type reads the same in both byte orders
      if (type === Block.SHB) {
        this.readShb(false)
        if (this.done) return null
        continue
      }
      const t = this.le ? type : this.buf.readUInt32BE(this.lo)
      const len = this.u32(this.lo + 4)
      if (len < 12 || len % 4 !== 0) this.corrupt(at, `block length ${len} (type ${t})`)
      if (t !== Block.IDB && t !== Block.EPB && t !== Block.SPB && t !== Block.PB) {
        if (!this.skip(len)) return this.endAtTruncated()
        continue
      }
      if (len > MAX_READ_BLOCK) this.corrupt(at, `block of type ${t} is ${len} bytes long`)
      if (this.fill(len) < len) return this.endAtTruncated()
      const lo = this.lo
      if (this.u32(lo + len - 4) !== len) this.corrupt(at, `block of type ${t}: leading and trailing lengths differ`)
      this.lo += len
      switch (t) {
        case Block.IDB:
          this.readIdb(lo, len, at)
          continue
        case Block.EPB:
          if (len < 32) this.corrupt(at, `enhanced packet block length ${len}`)
          return this.timedPacket(lo, len, at, this.u32(lo + 8))
        case Block.SPB: {
          if (len < 16) this.corrupt(at, `simple packet block length ${len}`)
          const iface = this.iface(0, at)
          const origLen = this.u32(lo + 8)
          let caplen = Math.min(origLen, len - 16)
          if (iface.snaplen > 0 && caplen > iface.snaplen) caplen = iface.snaplen
          return this.deliver(this.lastTsUs, 0, iface.linkType, lo + 12, caplen, origLen)
        }
        case Block.PB:
          // the obsolete Packet Block: EPB's layout with a 16-bit interface id (then drops count)
          if (len < 32) this.corrupt(at, `packet block length ${len}`)
          return this.timedPacket(lo, len, at, this.u16(lo + 8))
      }
    }
  }

  private iface(id: number, at: number): Iface {
    const f = this.ifaces[id]
    if (f === undefined) this.corrupt(at, `packet on interface ${id}, but the section describes ${this.ifaces.length}`)
    return f
  }

  private readIdb(lo: number, len: number, at: number): void {
    if (len < 20) this.corrupt(at, `interface description block length ${len}`)
    const f: Iface = { ...this.idbFixed(lo), ...DEFAULT_TS }
    // options: code u16 | length u16 | value padded to 4 bytes
    let o = lo + 16
    const end = lo + len - 4
    while (o + 4 <= end) {
      const code = this.u16(o)
      const olen = this.u16(o + 2)
      const v = o + 4
      if (code === OPT_END) break
      if (v + olen > end) this.corrupt(at, `interface option ${code} runs past its block`)
      if (code === OPT_IF_TSRESOL && olen >= 1) setResolution(f, this.buf[v])
      else if (code === OPT_IF_TSOFFSET && olen >= 8) {
        const sec = this.le ? this.buf.readBigInt64LE(v) : this.buf.readBigInt64BE(v)
        f.offsetUs = Number(sec) * 1e6
      }
      o = v + ((olen + 3) & ~3)
    }
    this.ifaces.push(f)
  }

  private ts(f: Iface, hi: number, lo: number): number {
    switch (f.mode) {
      case TsMode.Micro:
        return hi * TWO_32 + lo + f.offsetUs
      case TsMode.Div: {
        // floor((hi·2^32 + lo) / d) without leaving exact doubles: hi = q·d + r, so the quotient is
        // q·2^32 + floor((r·2^32 + lo) / d), and r·2^32 + lo < d·2^32 <= 10^6·2^32 < 2^53
        const d = f.factor
        const q = Math.floor(hi / d)
        const r = hi - q * d
        return q * TWO_32 + Math.floor((r * TWO_32 + lo) / d) + f.offsetUs
      }
      case TsMode.Mul:
        return (hi * TWO_32 + lo) * f.factor + f.offsetUs
      default: {
        const units = (BigInt(hi) << 32n) | BigInt(lo)
        return Number((units * 1_000_000n) / f.unitsPerSec) + f.offsetUs
      }
    }
  }
}

const DEFAULT_TS = { mode: TsMode.Micro, factor: 1, unitsPerSec: 1_000_000n, offsetUs: 0 }

/**
 * if_tsresol: top bit clear = 10^-v seconds per unit, set = 2^-(v & 0x7f). Default 6 (µs).
 */
function setResolution(f: Iface, v: number): void {
  if ((v & 0x80) === 0) {
    if (v === 6) f.mode = TsMode.Micro
    else if (v < 6) {
      f.mode = TsMode.Mul
      f.factor = 10 ** (6 - v)
    } else if (v <= 12) {
      f.mode = TsMode.Div
      f.factor = 10 ** (v - 6)
    } else {
      f.mode = TsMode.Big
      f.unitsPerSec = 10n ** BigInt(v)
    }
  } else {
    f.mode = TsMode.Big
    f.unitsPerSec = 1n << BigInt(v & 0x7f)
  }
}

/** What the first bytes of a file that is not a capture look like, with what to do about it. */
function describeNonCapture(head: Buffer): string {
  const starts = (...b: number[]) => head.length >= b.length && b.every((x, i) => head[i] === x)
  if (starts(0x1f, 0x8b)) return 'looks like gzip: gunzip it first (gunzip -k FILE) and replay the .pcap inside'
  if (starts(0x28, 0xb5, 0x2f, 0xfd)) return 'looks like zstd: decompress it first (zstd -d FILE)'
  if (starts(0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00)) return 'looks like xz: decompress it first (xz -dk FILE)'
  if (starts(0x42, 0x5a, 0x68)) return 'looks like bzip2: decompress it first (bunzip2 -k FILE)'
  if (starts(0x50, 0x4b, 0x03, 0x04)) return 'looks like a zip archive: unzip it first'
  if (starts(0x73, 0x6e, 0x6f, 0x6f, 0x70, 0x00)) return 'looks like a Solaris snoop capture: convert it with `editcap -F pcap FILE OUT.pcap`'
  const n = Math.min(head.length, 64)
  let text = n > 0
  for (let i = 0; i < n && text; i++) {
    const c = head[i]
    text = c === 9 || c === 10 || c === 13 || (c >= 0x20 && c !== 0x7f)
  }
  if (text) {
    const shown = head.toString('utf8', 0, Math.min(n, 24)).replace(/[\r\n\t]/g, ' ')
    return `looks like a text file (starts with ${JSON.stringify(shown)}), not a pcap or pcapng capture`
  }
  const hex = [...head.subarray(0, Math.min(8, head.length))].map((b) => b.toString(16).padStart(2, '0')).join(' ')
  return `not a pcap or pcapng file (first bytes ${hex})`
}
