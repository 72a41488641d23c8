// The flow table's index of 4-tuples: live connections and closed ones (tombstones), in one hash
// table, so that a segment's 4-tuple is looked up once whether it belongs to a live flow, a closed one
// or neither, and a connection that closes stays in its bucket (the entry turns from live to closed).
// A short connection costs two probes in all (its SYN, its last ACK); a Map of live flows beside a
// table of closed ones cost six operations and a Map's delete, which reallocates its table when it
// empties, at each close.
//
// Closed 4-tuples are remembered for a while on the capture clock so that a closed connection's
// trailing packets (the last ACK, retransmitted FINs) do not start a new flow. Each closed connection
// is one record in a ring, in close order, so forgetting the oldest is O(1). The ring's record objects
// are made once per ring slot and reused by every later close that lands in that slot: a replay of
// many short connections allocates nothing per close (a record per close, kept for the linger time,
// survived into V8's old generation and cost GC time). A record deleted or closed again is marked dead
// and skipped when it reaches the ring's head. (Before: a Map keyed by the port pair with chained
// records, one object per close: pop + delete + unindex took 14% of a 300k short-connection replay.
// Earlier still, a Map keyed by the 4-tuple string and used as a FIFO, deleting through
// `keys().next()`, walked the holes its earlier deletes left: 300k short connections took 6x the time
// of 100k; lru-cache did the job in linear time but cost 15%.)
//
// The table is open-addressed (an Int32Array, linear probing, deletion by backward shift, at most half
// full) keyed by a hash of the 4-tuple that is the same in either direction; each bucket keeps the
// entry's hash, so a probe reads an entry only when its hash matches. A bucket's reference is a ring
// position + 1 (closed) or -(live slot + 1) (live: `objs`), 0 when empty. At most one entry per
// 4-tuple: a SYN that reopens a closed 4-tuple deletes its record first.
// The TCP health hook keeps each direction's highest sequence number in the record (end0, end1), so
// that a FIN sent again after the close still counts as a retransmission of its connection. A record
// handed out is borrowed: valid until the next close.

import type { ClosedFlow, Endpoint } from './types.js'

/** what the index holds for a live connection: its endpoints, and where the index keeps it */
export interface Indexed {
  client: Endpoint
  server: Endpoint
  /** its live slot in the index, -1 when not indexed */
  indexSlot: number
}

interface Tomb extends ClosedFlow {
  aIp: string
  aPort: number
  bIp: string
  bPort: number
  closedUs: number
  /** home bucket's hash (before masking) */
  hash: number
  /** no longer in the index (deleted, or the 4-tuple closed again: a newer record stands for it) */
  dead: boolean
}

/** one endpoint: its address's characters and its port (FNV-1a), before mixing */
function endHash(ip: string, port: number): number {
  let h = 0x811c9dc5 ^ port
  for (let i = 0; i < ip.length; i++) h = Math.imul(h ^ ip.charCodeAt(i), 0x01000193)
  return h
}

/**
 * the 4-tuple in either direction (the two endpoints' hashes added: the order does not matter),
 * mixed (Fibonacci hashing) so that the top bits pick the bucket. The addresses are in it: the same
 * ports between other addresses (client ports reused by many clients) would otherwise share one bucket.
 */
function tupleHash(aIp: string, aPort: number, bIp: string, bPort: number): number {
  return Math.imul((endHash(aIp, aPort) + endHash(bIp, bPort)) | 0, 0x9e3779b1) | 0
}

const FIRST_SIZE = 1024

export class Tombstones<L extends Indexed = Indexed> {
  /** records in close order; a slot's object is reused by the next close landing in it */
  private ring: (Tomb | undefined)[] = new Array<Tomb | undefined>(FIRST_SIZE)
  /** live entries by slot, and each one's hash */
  private objs: (L | null)[] = new Array<L | null>(FIRST_SIZE).fill(null)
  private objHash = new Int32Array(FIRST_SIZE)
  private freeSlots: number[] = []
  /** slots never used yet start here */
  private nextSlot = 0
  /**
   * two Int32 per bucket: the reference (see top) and the entry's hash; at least twice as many
   * buckets as ring slots and live slots together, so at most half full
   */
  private table = new Int32Array(2 * 4 * FIRST_SIZE)
  private shift = 32 - Math.log2(4 * FIRST_SIZE)
  private head = 0
  /** ring entries, dead ones included */
  private count = 0
  /** closed 4-tuples indexed */
  private live = 0
  /** the hash of the 4-tuple of the last find() */
  private lastHash = 0

  /** at most `max` closed 4-tuples; each forgotten `lingerUs` after its close */
  constructor(
    private readonly max: number,
    private readonly lingerUs: number,
  ) {}

  /** closed 4-tuples remembered */
  get size(): number {
    return this.live
  }

  // ---- the flow table's side: one find, then what the bucket holds

  /**
   * The bucket holding the 4-tuple (either direction), live or closed; -1 when neither. Read it with
   * liveAt / closedAt (valid until the index changes).
   */
  find(srcIp: string, srcPort: number, dstIp: string, dstPort: number): number {
    const hash = tupleHash(srcIp, srcPort, dstIp, dstPort)
    this.lastHash = hash
    return this.findHashed(hash, srcIp, srcPort, dstIp, dstPort)
  }

  /** the live entry in bucket `b` (from find), null when it holds a closed 4-tuple */
  liveAt(b: number): L | null {
    const e = this.table[2 * b] as number
    return e < 0 ? (this.objs[-e - 1] as L) : null
  }

  /** the closed 4-tuple's record in bucket `b` (from find), null when it holds a live one */
  closedAt(b: number): ClosedFlow | null {
    const e = this.table[2 * b] as number
    return e > 0 ? (this.ring[e - 1] as Tomb) : null
  }

  /** forgets the closed 4-tuple in bucket `b` (from find: a SYN opens it again) */
  deleteClosedAt(b: number): void {
    ;(this.ring[(this.table[2 * b] as number) - 1] as Tomb).dead = true
    this.live--
    this.removeBucket(b)
  }

  /** indexes a live connection; its 4-tuple must not be in the index */
  addLive(x: L): void {
    let slot = this.freeSlots.pop()
    if (slot === undefined) {
      if (this.nextSlot === this.objs.length) this.growSlots()
      slot = this.nextSlot++
    }
    const c = x.client
    const s = x.server
    const hash = tupleHash(c.ip, c.port, s.ip, s.port)
    this.objs[slot] = x
    this.objHash[slot] = hash
    x.indexSlot = slot
    this.insert(hash, -(slot + 1))
  }

  /** takes a live connection out (idle, evicted, shut down); nothing when it is not indexed */
  removeLive(x: L): void {
    const slot = x.indexSlot
    if (slot < 0) return
    this.removeBucket(this.bucketOfRef(this.objHash[slot] as number, -(slot + 1)))
    this.freeSlot(x)
  }

  /**
   * A live connection closed at `tsUs` (FIN, RST): its entry becomes its closed record, in place.
   * Returns the record (borrowed), null when the connection was not indexed.
   */
  closeLive(x: L, tsUs: number): ClosedFlow | null {
    const slot = x.indexSlot
    if (slot < 0) return null
    if (this.count === this.ring.length) this.grow()
    const hash = this.objHash[slot] as number
    const b = this.bucketOfRef(hash, -(slot + 1))
    this.freeSlot(x)
    const pos = this.record(x.client.ip, x.client.port, x.server.ip, x.server.port, tsUs, hash)
    this.table[2 * b] = pos + 1
    return this.closedTail()
  }

  // ---- closed 4-tuples alone (tests, and what the names say)

  /** the 4-tuple (either direction) is closed */
  has(srcIp: string, srcPort: number, dstIp: string, dstPort: number): boolean {
    return this.get(srcIp, srcPort, dstIp, dstPort) !== null
  }

  /** the 4-tuple's record (either direction), null when it is not closed */
  get(srcIp: string, srcPort: number, dstIp: string, dstPort: number): ClosedFlow | null {
    const b = this.find(srcIp, srcPort, dstIp, dstPort)
    return b < 0 ? null : this.closedAt(b)
  }

  /** forgets the closed 4-tuple (a SYN opens it again) */
  delete(srcIp: string, srcPort: number, dstIp: string, dstPort: number): void {
    const b = this.find(srcIp, srcPort, dstIp, dstPort)
    if (b >= 0 && this.closedAt(b) !== null) this.deleteClosedAt(b)
  }

  /** the connection between these endpoints (not a live one of the index) closed at `tsUs` */
  add(aIp: string, aPort: number, bIp: string, bPort: number, tsUs: number): ClosedFlow {
    const old = this.find(aIp, aPort, bIp, bPort)
    if (old >= 0 && this.closedAt(old) !== null) this.deleteClosedAt(old)
    const hash = this.lastHash
    if (this.count === this.ring.length) this.grow()
    this.insert(hash, this.record(aIp, aPort, bIp, bPort, tsUs, hash) + 1)
    return this.closedTail()
  }

  /** forgets 4-tuples closed more than lingerUs before `nowUs` */
  expire(nowUs: number): void {
    while (this.count > 0) {
      const t = this.ring[this.head] as Tomb
      if (!t.dead && nowUs - t.closedUs <= this.lingerUs) return
      this.pop()
    }
  }

  /** forgets everything, closed and live (live entries are told: indexSlot -1) */
  clear(): void {
    for (let k = 0; k < this.count; k++) (this.ring[(this.head + k) & (this.ring.length - 1)] as Tomb).dead = true
    for (let i = 0; i < this.nextSlot; i++) {
      const x = this.objs[i]
      if (x !== null && x !== undefined) x.indexSlot = -1
    }
    this.objs.fill(null)
    this.freeSlots = []
    this.nextSlot = 0
    this.table.fill(0)
    this.head = 0
    this.count = 0
    this.live = 0
  }

  // ---- internals

  /** fills the ring's next slot with a closed 4-tuple (the ring has room); returns its position */
  private record(aIp: string, aPort: number, bIp: string, bPort: number, tsUs: number, hash: number): number {
    const pos = (this.head + this.count) & (this.ring.length - 1)
    let t = this.ring[pos]
    if (t === undefined) {
      t = { aIp, aPort, bIp, bPort, end0: -1, end1: -1, closedUs: tsUs, hash, dead: false }
      this.ring[pos] = t
    } else {
      t.aIp = aIp
      t.aPort = aPort
      t.bIp = bIp
      t.bPort = bPort
      t.end0 = -1
      t.end1 = -1
      t.closedUs = tsUs
      t.hash = hash
      t.dead = false
    }
    this.live++
    this.count++
    return pos
  }

  /** the record just added, after the cap is applied (the cap drops the oldest, never the newest) */
  private closedTail(): ClosedFlow {
    const t = this.ring[(this.head + this.count - 1) & (this.ring.length - 1)] as Tomb
    while (this.live > this.max) this.pop()
    return t
  }

  private freeSlot(x: L): void {
    const slot = x.indexSlot
    this.objs[slot] = null
    this.freeSlots.push(slot)
    x.indexSlot = -1
  }

  /** find() with the 4-tuple's tupleHash already computed */
  private findHashed(hash: number, srcIp: string, srcPort: number, dstIp: string, dstPort: number): number {
    const table = this.table
    const mask = (table.length >> 1) - 1
    let b = hash >>> this.shift
    for (;;) {
      const e = table[2 * b] as number
      if (e === 0) return -1
      if ((table[2 * b + 1] as number) === hash) {
        if (e > 0) {
          const t = this.ring[e - 1] as Tomb
          if (t.aPort === srcPort && t.bPort === dstPort && t.aIp === srcIp && t.bIp === dstIp) return b
          if (t.aPort === dstPort && t.bPort === srcPort && t.aIp === dstIp && t.bIp === srcIp) return b
        } else {
          const x = this.objs[-e - 1] as L
          const c = x.client
          const s = x.server
          if (c.port === srcPort && s.port === dstPort && c.ip === srcIp && s.ip === dstIp) return b
          if (c.port === dstPort && s.port === srcPort && c.ip === dstIp && s.ip === srcIp) return b
        }
      }
      b = (b + 1) & mask
    }
  }

  private insert(hash: number, ref: number): void {
    const table = this.table
    const mask = (table.length >> 1) - 1
    let b = hash >>> this.shift
    while (table[2 * b] !== 0) b = (b + 1) & mask
    table[2 * b] = ref
    table[2 * b + 1] = hash
  }

  /** empties bucket `b` (backward-shift deletion: no markers left behind) */
  private removeBucket(b: number): void {
    const table = this.table
    const mask = (table.length >> 1) - 1
    const shift = this.shift
    let i = b
    let j = b
    for (;;) {
      j = (j + 1) & mask
      const e = table[2 * j] as number
      if (e === 0) break
      const hash = table[2 * j + 1] as number
      const home = hash >>> shift
      // the entry at j may move to the hole at i unless its home lies cyclically in (i, j]
      if (i <= j ? i < home && home <= j : i < home || home <= j) continue
      table[2 * i] = e
      table[2 * i + 1] = hash
      i = j
    }
    table[2 * i] = 0
  }

  /** the bucket holding reference `ref`, whose entry hashes to `hash` */
  private bucketOfRef(hash: number, ref: number): number {
    const table = this.table
    const mask = (table.length >> 1) - 1
    let b = hash >>> this.shift
    while (table[2 * b] !== ref) b = (b + 1) & mask
    return b
  }

  /** drops the ring's oldest entry (and its record from the index unless already dead) */
  private pop(): void {
    const h = this.head
    const t = this.ring[h] as Tomb
    if (!t.dead) {
      t.dead = true
      this.live--
      this.removeBucket(this.bucketOfRef(t.hash, h + 1))
    }
    this.head = (h + 1) & (this.ring.length - 1)
    this.count--
  }

  /** the ring is full: keeps its live entries, in a ring twice as big when more than half are live */
  private grow(): void {
    const n = this.ring.length
    const keep: Tomb[] = []
    const spare: Tomb[] = []
    for (let k = 0; k < n; k++) {
      const t = this.ring[(this.head + k) & (n - 1)] as Tomb
      if (k < this.count && !t.dead) keep.push(t)
      else spare.push(t)
    }
    const size = keep.length * 2 > n ? n * 2 : n
    this.ring = new Array<Tomb | undefined>(size)
    for (let j = 0; j < keep.length; j++) this.ring[j] = keep[j]
    for (let j = 0; j < spare.length; j++) this.ring[keep.length + j] = spare[j]
    this.head = 0
    this.count = keep.length
    this.rebuild()
  }

  /** every live slot is taken: twice as many */
  private growSlots(): void {
    const n = this.objs.length
    const objs = new Array<L | null>(2 * n).fill(null)
    for (let i = 0; i < n; i++) objs[i] = this.objs[i] as L | null
    this.objs = objs
    const h = new Int32Array(2 * n)
    h.set(this.objHash)
    this.objHash = h
    this.rebuild()
  }

  /** the table made again (sized for the ring and the live slots): the ring's records, then the live entries */
  private rebuild(): void {
    let buckets = 1
    while (buckets < 2 * (this.ring.length + this.objs.length)) buckets *= 2
    if (this.table.length !== 2 * buckets) {
      this.table = new Int32Array(2 * buckets)
      this.shift = 32 - Math.log2(buckets)
    } else this.table.fill(0)
    const n = this.ring.length
    for (let k = 0; k < this.count; k++) {
      const pos = (this.head + k) & (n - 1)
      const t = this.ring[pos] as Tomb
      if (!t.dead) this.insert(t.hash, pos + 1)
    }
    for (let i = 0; i < this.nextSlot; i++) if (this.objs[i] !== null) this.insert(this.objHash[i] as number, -(i + 1))
  }
}
