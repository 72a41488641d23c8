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

/** the ring's columns: one entry per ring position (no object per closed connection) */
class Columns {
  aIp: string[]
  bIp: string[]
  aPort: Uint16Array
  bPort: Uint16Array
  /** home bucket's hash */
  hash: Int32Array
  closedUs: Float64Array
  end0: Float64Array
  end1: Float64Array
  /** 1: no longer in the index (deleted, or dropped by the cap); 0 live */
  dead: Uint8Array
  constructor(readonly n: number) {
    this.aIp = new Array<string>(n).fill('')
    this.bIp = new Array<string>(n).fill('')
    this.aPort = new Uint16Array(n)
    this.bPort = new Uint16Array(n)
    this.hash = new Int32Array(n)
    this.closedUs = new Float64Array(n)
    this.end0 = new Float64Array(n)
    this.end1 = new Float64Array(n)
    this.dead = new Uint8Array(n)
  }
}

/** a closed 4-tuple as the health hook sees it: a view of one ring position, moved by each closedAt/add */
class ClosedView implements ClosedFlow {
  pos = 0
  constructor(public c: Columns) {}
  get aIp(): string {
    return this.c.aIp[this.pos] as string
  }
  get aPort(): number {
    return this.c.aPort[this.pos] as number
  }
  get bIp(): string {
    return this.c.bIp[this.pos] as string
  }
  get bPort(): number {
    return this.c.bPort[this.pos] as number
  }
  get end0(): number {
    return this.c.end0[this.pos] as number
  }
  set end0(v: number) {
    this.c.end0[this.pos] = v
  }
  get end1(): number {
    return this.c.end1[this.pos] as number
  }
  set end1(v: number) {
    this.c.end1[this.pos] = v
  }
}

export class Tombstones<L extends Indexed = Indexed> {
  /** closed 4-tuples in close order, by ring position */
  private c = new Columns(FIRST_SIZE)
  private readonly view = new ClosedView(this.c)
  /** live entries by slot, and each one's hash */
  private objs: (L | null)[] = new Array<L | null>(FIRST_SIZE).fill(null)
  private objHash = new Int32Array(FIRST_SIZE)
  private freeSlots: number[] = []
  /** slots never used yet start here */
  private nextSlot = 0
  /**
   * two Int32 per bucket: the reference (see top) and the entry's hash; at least twice as many
   * buckets as entries can be indexed at once (closed ones: the ring or the cap; live slots), so at
   * most half full
   */
  private table = new Int32Array(0)
  private shift = 32
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
  ) {
    this.rebuild()
  }

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

  /** the closed 4-tuple in bucket `b` (from find), null when it holds a live one; borrowed until the next closedAt or close */
  closedAt(b: number): ClosedFlow | null {
    const e = this.table[2 * b] as number
    return e > 0 ? this.viewOf(e - 1) : null
  }

  /** forgets the closed 4-tuple in bucket `b` (from find: a SYN opens it again) */
  deleteClosedAt(b: number): void {
    this.c.dead[(this.table[2 * b] as number) - 1] = 1
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
    if (this.count === this.c.n) this.makeRoom()
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
    if (b >= 0 && (this.table[2 * b] as number) > 0) this.deleteClosedAt(b)
  }

  /** the connection between these endpoints (not a live one of the index) closed at `tsUs` */
  add(aIp: string, aPort: number, bIp: string, bPort: number, tsUs: number): ClosedFlow {
    const old = this.find(aIp, aPort, bIp, bPort)
    if (old >= 0 && (this.table[2 * old] as number) > 0) this.deleteClosedAt(old)
    const hash = this.lastHash
    if (this.count === this.c.n) this.makeRoom()
    this.insert(hash, this.record(aIp, aPort, bIp, bPort, tsUs, hash) + 1)
    return this.closedTail()
  }

  /** forgets 4-tuples closed more than lingerUs before `nowUs` */
  expire(nowUs: number): void {
    const c = this.c
    while (this.count > 0) {
      const h = this.head
      if (c.dead[h] === 0 && nowUs - (c.closedUs[h] as number) <= this.lingerUs) return
      this.pop()
    }
  }

  /** forgets everything, closed and live (live entries are told: indexSlot -1) */
  clear(): void {
    for (let i = 0; i < this.nextSlot; i++) {
      const x = this.objs[i]
      if (x !== null && x !== undefined) x.indexSlot = -1
    }
    this.objs.fill(null)
    this.freeSlots = []
    this.nextSlot = 0
    this.c.aIp.fill('')
    this.c.bIp.fill('')
    this.table.fill(0)
    this.head = 0
    this.count = 0
    this.live = 0
  }

  // ---- internals

  private viewOf(pos: number): ClosedFlow {
    this.view.pos = pos
    return this.view
  }

  /** fills the ring's next position with a closed 4-tuple (the ring has room); returns it */
  private record(aIp: string, aPort: number, bIp: string, bPort: number, tsUs: number, hash: number): number {
    const c = this.c
    const pos = (this.head + this.count) & (c.n - 1)
    c.aIp[pos] = aIp
    c.aPort[pos] = aPort
    c.bIp[pos] = bIp
    c.bPort[pos] = bPort
    c.hash[pos] = hash
    c.closedUs[pos] = tsUs
    c.end0[pos] = -1
    c.end1[pos] = -1
    c.dead[pos] = 0
    this.live++
    this.count++
    return pos
  }

  /** the record just added, after the cap is applied (the cap drops the oldest, never the newest) */
  private closedTail(): ClosedFlow {
    const pos = (this.head + this.count - 1) & (this.c.n - 1)
    while (this.live > this.max) this.pop()
    return this.viewOf(pos)
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
    const c = this.c
    let b = hash >>> this.shift
    for (;;) {
      const e = table[2 * b] as number
      if (e === 0) return -1
      if ((table[2 * b + 1] as number) === hash) {
        if (e > 0) {
          const p = e - 1
          const ap = c.aPort[p] as number
          const bp = c.bPort[p] as number
          if (ap === srcPort && bp === dstPort && c.aIp[p] === srcIp && c.bIp[p] === dstIp) return b
          if (ap === dstPort && bp === srcPort && c.aIp[p] === dstIp && c.bIp[p] === srcIp) return b
        } else {
          const x = this.objs[-e - 1] as L
          const cl = x.client
          const sv = x.server
          if (cl.port === srcPort && sv.port === dstPort && cl.ip === srcIp && sv.ip === dstIp) return b
          if (cl.port === dstPort && sv.port === srcPort && cl.ip === dstIp && sv.ip === srcIp) return b
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
    const c = this.c
    const h = this.head
    if (c.dead[h] === 0) {
      c.dead[h] = 1
      this.live--
      this.removeBucket(this.bucketOfRef(c.hash[h] as number, h + 1))
    }
    // the addresses are not kept alive by a forgotten entry
    c.aIp[h] = ''
    c.bIp[h] = ''
    this.head = (h + 1) & (c.n - 1)
    this.count--
  }

  /**
   * The ring is full. At the cap, the oldest entry goes now (the cap would drop the oldest live one
   * right after this close anyway): a ring as long as the cap never grows past it (it doubled, and the
   * whole table was rebuilt, once the cap was reached). Below the cap it grows.
   */
  private makeRoom(): void {
    if (this.live >= this.max) this.pop()
    else this.grow()
  }

  /** the ring is full: keeps its live entries, in a ring twice as big when more than half are live */
  private grow(): void {
    const o = this.c
    const n = o.n
    let keep = 0
    for (let k = 0; k < this.count; k++) if (o.dead[(this.head + k) & (n - 1)] === 0) keep++
    const c = new Columns(keep * 2 > n ? n * 2 : n)
    let j = 0
    for (let k = 0; k < this.count; k++) {
      const p = (this.head + k) & (n - 1)
      if (o.dead[p] !== 0) continue
      c.aIp[j] = o.aIp[p] as string
      c.bIp[j] = o.bIp[p] as string
      c.aPort[j] = o.aPort[p] as number
      c.bPort[j] = o.bPort[p] as number
      c.hash[j] = o.hash[p] as number
      c.closedUs[j] = o.closedUs[p] as number
      c.end0[j] = o.end0[p] as number
      c.end1[j] = o.end1[p] as number
      j++
    }
    this.c = c
    this.view.c = c
    this.head = 0
    this.count = keep
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

  /** the table made again, sized for what may be indexed at once: the ring's records, then the live entries */
  private rebuild(): void {
    let buckets = 1
    while (buckets < 2 * (Math.min(this.c.n, this.max + 1) + this.objs.length)) buckets *= 2
    if (this.table.length !== 2 * buckets) {
      this.table = new Int32Array(2 * buckets)
      this.shift = 32 - Math.log2(buckets)
    } else this.table.fill(0)
    const c = this.c
    for (let k = 0; k < this.count; k++) {
      const pos = (this.head + k) & (c.n - 1)
      if (c.dead[pos] === 0) this.insert(c.hash[pos] as number, pos + 1)
    }
    for (let i = 0; i < this.nextSlot; i++) if (this.objs[i] !== null) this.insert(this.objHash[i] as number, -(i + 1))
  }
}
