// Bounded request/response matchers. Both count evictions through onEvict, which reports the evicted
// request as unanswered (packetbeat caps Redis at 20 000 messages; deepflow keeps ≤32 Kafka sessions).

/**
 * Requests answered in order (HTTP/1.x, Redis, MySQL, PostgreSQL): a ring buffer with a cap. onEvict is
 * called with `owner` as `this`: a parser passes one shared function and itself, not a closure per
 * connection (a closure and its context are ~100 B kept by every idle connection).
 */
export class FifoMatcher<R, O = undefined> {
  private buf: (R | undefined)[]
  private head = 0
  private len = 0

  constructor(
    private readonly cap: number,
    private readonly onEvict: (this: O, r: R) => void,
    private readonly owner?: O,
  ) {
    // most connections have one request pending at a time: start small (an idle connection keeps it)
    this.buf = new Array(Math.min(cap, 2))
  }

  get size(): number {
    return this.len
  }

  push(r: R): void {
    if (this.len >= this.cap) this.onEvict.call(this.owner as O, this.shift()!)
    if (this.len === this.buf.length) this.grow()
    this.buf[(this.head + this.len) % this.buf.length] = r
    this.len++
  }

  /** oldest pending request, not removed */
  peek(): R | undefined {
    return this.len === 0 ? undefined : this.buf[this.head]
  }

  /** i-th pending request from the oldest (0 = oldest) */
  at(i: number): R | undefined {
    return i < 0 || i >= this.len ? undefined : this.buf[(this.head + i) % this.buf.length]
  }

  /** newest pending request */
  last(): R | undefined {
    return this.at(this.len - 1)
  }

  shift(): R | undefined {
    if (this.len === 0) return undefined
    const r = this.buf[this.head]
    this.buf[this.head] = undefined
    this.head = (this.head + 1) % this.buf.length
    this.len--
    return r
  }

  /** removes and returns every pending request, oldest first */
  drain(): R[] {
    const out: R[] = []
    while (this.len > 0) out.push(this.shift()!)
    return out
  }

  private grow(): void {
    const n = Math.min(this.cap, Math.max(16, this.buf.length * 2))
    const nb: (R | undefined)[] = new Array(n)
    for (let i = 0; i < this.len; i++) nb[i] = this.buf[(this.head + i) % this.buf.length]
    this.buf = nb
    this.head = 0
  }
}

/** Requests answered by id (Kafka correlation id, MongoDB requestID, RocketMQ opaque, HTTP/2 stream). */
export class IdMatcher<K, R> {
  private readonly pending = new Map<K, R>() // insertion order = age

  constructor(
    private readonly cap: number,
    private readonly onEvict: (r: R) => void,
  ) {}

  get size(): number {
    return this.pending.size
  }

  put(id: K, req: R): void {
    const old = this.pending.get(id)
    if (old !== undefined) {
      // the same id reused before an answer: the older request is lost
      this.pending.delete(id)
      this.onEvict(old)
    } else if (this.pending.size >= this.cap) {
      const first = this.pending.entries().next().value as [K, R]
      this.pending.delete(first[0])
      this.onEvict(first[1])
    }
    this.pending.set(id, req)
  }

  take(id: K): R | undefined {
    const r = this.pending.get(id)
    if (r !== undefined) this.pending.delete(id)
    return r
  }

  has(id: K): boolean {
    return this.pending.has(id)
  }

  /** the oldest pending request (the first put of those still waiting), not removed */
  oldest(): R | undefined {
    for (const r of this.pending.values()) return r
    return undefined
  }

  drain(): R[] {
    const out = [...this.pending.values()]
    this.pending.clear()
    return out
  }
}
