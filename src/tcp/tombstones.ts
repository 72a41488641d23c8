// Closed 4-tuples, remembered for a while on the capture clock so that a closed connection's trailing
// packets (the last ACK, retransmitted FINs) do not start a new flow.
//
// Each closed connection is one small record, found through a Map keyed by a number made of its two
// ports (a small integer, so no string is built and no key is hashed as text); the few records that
// share a port pair are chained and told apart by address, as the flow table's own index does. A
// ring of the records in close order says which is oldest, so forgetting it is O(1). (A Map keyed
// by the 4-tuple string and used as a FIFO, deleting through `keys().next()`, walked the holes its
// earlier deletes left: 300k short connections took 6x the time of 100k. lru-cache did the job in
// linear time but cost 15% of a short-connection replay; string keys in a Map with a ring, 16%.)
// A record deleted or closed again is marked dead and skipped when it reaches the ring's head.
// The TCP health hook keeps each direction's highest sequence number in the record (end0, end1), so
// that a FIN sent again after the close still counts as a retransmission of its connection.

import type { ClosedFlow } from './types.js'

interface Tomb extends ClosedFlow {
  aIp: string
  aPort: number
  bIp: string
  bPort: number
  closedUs: number
  /** next record with the same port-pair key */
  next: Tomb | null
  /** no longer in the index (deleted, or the 4-tuple closed again: a newer record stands for it) */
  dead: boolean
}

/** both directions' port pair as one small integer (a Smi): collisions are told apart by the chain */
function portsHash(a: number, b: number): number {
  return a < b ? (a << 14) ^ b : (b << 14) ^ a
}

export class Tombstones {
  private readonly index = new Map<number, Tomb>()
  private ring: (Tomb | undefined)[] = new Array<Tomb | undefined>(1024)
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
    return this.live > 0 && this.find(srcIp, srcPort, dstIp, dstPort) !== null
  }

  /** the 4-tuple's record (either direction), null when it is not closed */
  get(srcIp: string, srcPort: number, dstIp: string, dstPort: number): ClosedFlow | null {
    return this.live > 0 ? this.find(srcIp, srcPort, dstIp, dstPort) : null
  }

  /** forgets the 4-tuple (a SYN opens it again) */
  delete(srcIp: string, srcPort: number, dstIp: string, dstPort: number): void {
    if (this.live === 0) return
    const t = this.find(srcIp, srcPort, dstIp, dstPort)
    if (t !== null) this.unindex(t)
  }

  /** the connection between these endpoints closed at `tsUs` (the newest close so far, or close to it) */
  add(aIp: string, aPort: number, bIp: string, bPort: number, tsUs: number): ClosedFlow {
    const old = this.find(aIp, aPort, bIp, bPort)
    if (old !== null) this.unindex(old)
    const h = portsHash(aPort, bPort)
    const t: Tomb = { aIp, aPort, bIp, bPort, end0: -1, end1: -1, closedUs: tsUs, next: this.index.get(h) ?? null, dead: false }
    this.index.set(h, t)
    this.live++
    if (this.count === this.ring.length) this.grow()
    this.ring[(this.head + this.count) & (this.ring.length - 1)] = t
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
    this.index.clear()
    this.ring.fill(undefined)
    this.head = 0
    this.count = 0
    this.live = 0
  }

  private find(srcIp: string, srcPort: number, dstIp: string, dstPort: number): Tomb | null {
    let t = this.index.get(portsHash(srcPort, dstPort)) ?? null
    while (t !== null) {
      if (t.aPort === srcPort && t.bPort === dstPort && t.aIp === srcIp && t.bIp === dstIp) return t
      if (t.aPort === dstPort && t.bPort === srcPort && t.aIp === dstIp && t.bIp === srcIp) return t
      t = t.next
    }
    return null
  }

  private unindex(t: Tomb): void {
    const h = portsHash(t.aPort, t.bPort)
    const first = this.index.get(h) as Tomb
    if (first === t) {
      if (t.next === null) this.index.delete(h)
      else this.index.set(h, t.next)
    } else {
      let x = first
      while (x.next !== t) x = x.next as Tomb
      x.next = t.next
    }
    t.next = null
    t.dead = true
    this.live--
  }

  /** drops the ring's oldest entry (and its record from the index unless already dead) */
  private pop(): void {
    const h = this.head
    const t = this.ring[h] as Tomb
    if (!t.dead) this.unindex(t)
    this.ring[h] = undefined
    this.head = (h + 1) & (this.ring.length - 1)
    this.count--
  }

  /** the ring is full: keeps its live entries, in a ring twice as big when more than half are live */
  private grow(): void {
    const n = this.ring.length
    const keep: Tomb[] = []
    for (let k = 0; k < this.count; k++) {
      const t = this.ring[(this.head + k) & (n - 1)] as Tomb
      if (!t.dead) keep.push(t)
    }
    this.ring = new Array<Tomb | undefined>(keep.length * 2 > n ? n * 2 : n)
    for (let j = 0; j < keep.length; j++) this.ring[j] = keep[j]
    this.head = 0
    this.count = keep.length
  }
}
