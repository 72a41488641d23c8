// Reader of a BPF_MAP_TYPE_RINGBUF map, mapped into this process and walked from JavaScript, the way
// af-packet.ts walks its TPACKET ring: no per-record FFI call, records handed out as views.
//
// Memory layout (kernel/bpf/ringbuf.c, and libbpf's ringbuf.c which reads it the same way):
//   map offset 0          consumer page, read-write: u64 consumer_pos at byte 0 (we advance it)
//   map offset page       producer page, read-only:  u64 producer_pos at byte 0 (the kernel advances it)
//   map offset 2 * page   data, size bytes, mapped TWICE back to back, so a record that wraps past
//                         the end is still contiguous in our view
// A record at data[pos & (size - 1)]: an 8-byte header { u32 len | BUSY (bit 31) | DISCARD (bit 30);
// u32 page offset } then len bytes; the next record starts at pos + round_up(8 + len, 8).
// BUSY: reserved but not yet submitted: stop there and come back later. DISCARD: skip it.
//
// Ordering: the kernel publishes a record by clearing BUSY with a release store; we read the header
// with Atomics.load (sequentially consistent, at least acquire), and give space back by storing
// consumer_pos with Atomics.store after the records before it are handed out.
//
// Waking: wait() parks in poll(2) on the map fd in a libuv worker thread (koffi async call), with an
// eventfd beside it so close() ends the wait at once. The kernel signals the map fd after a submit
// when the reader had caught up (the ring's adaptive wakeup), so between wakes the reader drains
// everything there is.

import koffi from 'koffi'
import { check, libc, MAP_FAILED } from '../capture/libbpf.js'

// mmap(2), poll(2), eventfd(2) (Linux UAPI)
const PROT_READ = 0x1
const PROT_WRITE = 0x2
const MAP_SHARED = 0x01
const POLLIN = 0x001
const EFD_NONBLOCK = 0x800
const EFD_CLOEXEC = 0x80000

const HDR_BYTES = 8
const BUSY_BIT = 0x8000_0000
const DISCARD_BIT = 0x4000_0000
/** give space back to the kernel at least this often while draining a long backlog */
const RELEASE_EVERY_BYTES = 256 * 1024

let pageSizeCache = 0
function pageSize(): number {
  if (pageSizeCache === 0) {
    const getpagesize = koffi.load('libc.so.6').func('int getpagesize(void)') as () => number
    pageSizeCache = getpagesize()
  }
  return pageSizeCache
}

/** Called once per record; `data` is a view into the ring, valid only during the call. */
export type RecordHandler = (data: Buffer) => void

export class RingbufReader {
  private readonly consPtr: bigint
  private readonly prodPtr: bigint
  private readonly prodLen: number
  private readonly page: number
  private readonly mask: number
  /** consumer page as u64 (consumer_pos at index 0) */
  private readonly cons: BigUint64Array
  /** producer page + data twice, as bytes and as u32 words for the atomic header loads */
  private readonly prodPos: BigUint64Array
  private readonly bytes: Buffer
  private readonly words: Uint32Array
  private readonly wakeFd: number
  private readonly pollfds = Buffer.alloc(16)
  private readonly one = Buffer.from([1, 0, 0, 0, 0, 0, 0, 0])
  private inFlight: Promise<void> | null = null
  private closed = false
  /** records handed out, and their payload bytes (tests, benchmarks) */
  records = 0
  recordBytes = 0
  polls = 0

  constructor(
    private readonly mapFd: number,
    private readonly size: number,
  ) {
    const c = libc()
    this.page = pageSize()
    if ((size & (size - 1)) !== 0 || size % this.page !== 0) throw new Error(`ring size ${size} is not a power-of-2 multiple of the page`)
    this.mask = size - 1
    const cons = c.mmap(null, this.page, PROT_READ | PROT_WRITE, MAP_SHARED, mapFd, 0)
    if (cons === null || cons === MAP_FAILED) check(-1, 'mmap of the TLS ring buffer consumer page', 'PODTAP_TLS_RING')
    this.consPtr = cons as bigint
    this.prodLen = this.page + 2 * size
    const prod = c.mmap(null, this.prodLen, PROT_READ, MAP_SHARED, mapFd, this.page)
    if (prod === null || prod === MAP_FAILED) {
      c.munmap(this.consPtr, this.page)
      check(-1, 'mmap of the TLS ring buffer data', 'PODTAP_TLS_RING')
    }
    this.prodPtr = prod as bigint
    this.cons = new BigUint64Array(koffi.view(this.consPtr, this.page), 0, 1)
    const ab = koffi.view(this.prodPtr, this.prodLen)
    this.prodPos = new BigUint64Array(ab, 0, 1)
    this.bytes = Buffer.from(ab)
    this.words = new Uint32Array(ab)
    const wake = c.eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)
    if (wake < 0) {
      c.munmap(this.prodPtr, this.prodLen)
      c.munmap(this.consPtr, this.page)
      check(-1, 'eventfd', 'PODTAP_TLS_RING')
    }
    this.wakeFd = wake
    // struct pollfd { int fd; short events; short revents; } x 2: the map, the eventfd
    this.pollfds.writeInt32LE(mapFd, 0)
    this.pollfds.writeInt16LE(POLLIN, 4)
    this.pollfds.writeInt32LE(wake, 8)
    this.pollfds.writeInt16LE(POLLIN, 12)
  }

  /** Bytes submitted and not yet consumed. */
  pending(): number {
    return Number(Atomics.load(this.prodPos, 0) - Atomics.load(this.cons, 0))
  }

  /**
   * Hands every submitted record to `on`, in ring order, then returns how many. Stops early at a
   * record still being written (BUSY). Synchronous; never blocks.
   */
  drain(on: RecordHandler): number {
    if (this.closed) return 0
    let cons = Atomics.load(this.cons, 0)
    let released = cons
    let n = 0
    for (;;) {
      const prod = Atomics.load(this.prodPos, 0)
      if (cons >= prod) break
      while (cons < prod) {
        const off = this.page + (Number(cons) & this.mask)
        const hdr = Atomics.load(this.words, off >>> 2)
        if ((hdr & BUSY_BIT) !== 0) {
          this.release(cons)
          return n
        }
        const len = hdr & 0x3fff_ffff // without BUSY and DISCARD
        cons += BigInt((HDR_BYTES + len + 7) & ~7)
        if ((hdr & DISCARD_BIT) === 0) {
          n++
          this.records++
          this.recordBytes += len
          on(this.bytes.subarray(off + HDR_BYTES, off + HDR_BYTES + len))
        }
        if (cons - released >= RELEASE_EVERY_BYTES) {
          this.release(cons)
          released = cons
        }
      }
    }
    this.release(cons)
    return n
  }

  private release(cons: bigint): void {
    Atomics.store(this.cons, 0, cons)
  }

  /**
   * Resolves when records may be there (the map fd polled readable), after timeoutMs, or at close().
   * One wait at a time.
   */
  wait(timeoutMs: number): Promise<void> {
    if (this.closed) return Promise.resolve()
    if (this.inFlight !== null) return this.inFlight
    if (this.pending() > 0) return Promise.resolve()
    this.polls++
    const p = new Promise<void>((resolve) => {
      libc().poll.async(this.pollfds, 2, Math.max(0, Math.min(timeoutMs, 0x7fffffff)), () => {
        this.inFlight = null
        resolve()
      })
    })
    this.inFlight = p
    return p
  }

  /**
   * Ends a pending wait, then unmaps the ring and closes the eventfd. The map fd belongs to the
   * caller (the bpf_object) and is closed there, after this resolves.
   */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    const c = libc()
    if (this.inFlight !== null) {
      c.write(this.wakeFd, this.one, 8)
      await this.inFlight
    }
    c.close(this.wakeFd)
    c.munmap(this.prodPtr, this.prodLen)
    c.munmap(this.consPtr, this.page)
  }
}
