// Closed 4-tuples, remembered for a while on the capture clock so that a closed connection's trailing
// packets (the last ACK, retransmitted FINs) do not start a new flow.
//
// Each closed connection is one record in a ring, in close order, so forgetting the oldest is O(1). The
// ring's record objects are made once per ring slot and reused by every later close that lands in that
// slot: a replay of many short connections allocates nothing per close (a record per close, kept for the
// linger time, survived into V8's old generation and cost GC time). They are found through an
// open-addressed hash table (an Int32Array of ring positions, linear probing, deletion by backward shift)
// keyed by a hash of the 4-tuple; the table keeps each record's hash, so a probe reads a record only
// when its hash matches. (Before: a Map keyed
// by the port pair with chained records, one object per close: pop + delete + unindex took 14% of a
// 300k short-connection replay. Earlier still, a Map keyed by the 4-tuple string and used as a FIFO,
// deleting through `keys().next()`, walked the holes its earlier deletes left: 300k short connections
// took 6x the time of 100k; lru-cache did the job in linear time but cost 15%.)
// A record deleted or closed again is marked dead and skipped when it reaches the ring's head.
// The TCP health hook keeps each direction's highest sequence number in the record (end0, end1), so
// that a FIN sent again after the close still counts as a retransmission of its connection. A record
// handed out by add/get is borrowed: valid until the next add.

import type { ClosedFlow } from './types.js'

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
  return Math.imul((endHash(aIp, aPort) + endHash(bIp, bPort)) | 0, 0x9e3779b1) >>> 0
}

export class Tombstones {
  /** records in close order; a slot's object is reused by the next close landing in it */
  private ring: (Tomb | undefined)[] = new Array<Tomb | undefined>(1024)
  /**
   * two Int32 per bucket: ring position + 1 (0 = empty) and the record's hash, so that a probe reads
   * the record only when the hashes match; twice as many buckets as ring slots, so at most half full
   */
  private table = new Int32Array(2 * 2048)
  private shift = 32 - 11
  private head = 0
  /** ring entries, dead ones included */
  private count = 0
  private live = 0

  /** at most `max` closed 4-tuples; each forgotten `lingerUs` after its close */
  constructor(
    private readonly max: number,
    private readonly lingerUs: number,
  ) {}

  get size(): number {
    return this.live
  }

  /** the 4-tuple (either direction) is closed */
  has(srcIp: string, srcPort: number, dstIp: string, dstPort: number): boolean {
    return this.live > 0 && this.find(srcIp, srcPort, dstIp, dstPort) >= 0
  }

  /** the 4-tuple's record (either direction), null when it is not closed */
  get(srcIp: string, srcPort: number, dstIp: string, dstPort: number): ClosedFlow | null {
    if (this.live === 0) return null
    const b = this.find(srcIp, srcPort, dstIp, dstPort)
    return b < 0 ? null : (this.ring[(this.table[2 * b] as number) - 1] as Tomb)
  }

  /** forgets the 4-tuple (a SYN opens it again) */
  delete(srcIp: string, srcPort: number, dstIp: string, dstPort: number): void {
    if (this.live === 0) return
    const b = this.find(srcIp, srcPort, dstIp, dstPort)
    if (b >= 0) this.unindex(b)
  }

  /** the connection between these endpoints closed at `tsUs` (the newest close so far, or close to it) */
  add(aIp: string, aPort: number, bIp: string, bPort: number, tsUs: number): ClosedFlow {
    const hash = tupleHash(aIp, aPort, bIp, bPort)
    if (this.live > 0) {
      const old = this.findHashed(hash, aIp, aPort, bIp, bPort)
      if (old >= 0) this.unindex(old)
    }
    if (this.count === this.ring.length) this.grow()
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
    this.insert(hash, pos)
    this.live++
    this.count++
    while (this.live > this.max) this.pop()
    return t
  }

  /** forgets 4-tuples closed more than lingerUs before `nowUs` */
  expire(nowUs: number): void {
    while (this.count > 0) {
      const t = this.ring[this.head] as Tomb
      if (!t.dead && nowUs - t.closedUs <= this.lingerUs) return
      this.pop()
    }
  }

  clear(): void {
    for (let k = 0; k < this.count; k++) (this.ring[(this.head + k) & (this.ring.length - 1)] as Tomb).dead = true
    this.table.fill(0)
    this.head = 0
    this.count = 0
    this.live = 0
  }

  /** the bucket holding the 4-tuple (either direction), -1 when it is not there */
  private find(srcIp: string, srcPort: number, dstIp: string, dstPort: number): number {
    return this.findHashed(tupleHash(srcIp, srcPort, dstIp, dstPort), srcIp, srcPort, dstIp, dstPort)
  }

  /** find() with the 4-tuple's tupleHash already computed */
  private findHashed(hash: number, srcIp: string, srcPort: number, dstIp: string, dstPort: number): number {
    const table = this.table
    const mask = (table.length >> 1) - 1
    let b = hash >>> this.shift
    for (;;) {
      const e = table[2 * b] as number
      if (e === 0) return -1
      if ((table[2 * b + 1] as number) === (hash | 0)) {
        const t = this.ring[e - 1] as Tomb
        if (t.aPort === srcPort && t.bPort === dstPort && t.aIp === srcIp && t.bIp === dstIp) return b
        if (t.aPort === dstPort && t.bPort === srcPort && t.aIp === dstIp && t.bIp === srcIp) return b
      }
      b = (b + 1) & mask
    }
  }

  private insert(hash: number, pos: number): void {
    const table = this.table
    const mask = (table.length >> 1) - 1
    let b = hash >>> this.shift
    while (table[2 * b] !== 0) b = (b + 1) & mask
    table[2 * b] = pos + 1
    table[2 * b + 1] = hash
  }

  /** takes bucket `b`'s record out of the index (backward-shift deletion: no markers left behind) */
  private unindex(b: number): void {
    const table = this.table
    const mask = (table.length >> 1) - 1
    const shift = this.shift
    ;(this.ring[(table[2 * b] as number) - 1] as Tomb).dead = true
    this.live--
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

  /** the bucket holding ring position `pos` */
  private bucketOf(pos: number): number {
    const table = this.table
    const mask = (table.length >> 1) - 1
    let b = (this.ring[pos] as Tomb).hash >>> this.shift
    while (table[2 * b] !== pos + 1) b = (b + 1) & mask
    return b
  }

  /** drops the ring's oldest entry (and its record from the index unless already dead) */
  private pop(): void {
    const h = this.head
    if (!(this.ring[h] as Tomb).dead) this.unindex(this.bucketOf(h))
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
    if (this.table.length !== 2 * size * 2) {
      this.table = new Int32Array(2 * size * 2)
      this.shift = 32 - Math.log2(size * 2)
    } else this.table.fill(0)
    for (let j = 0; j < keep.length; j++) this.insert((keep[j] as Tomb).hash, j)
  }
}
