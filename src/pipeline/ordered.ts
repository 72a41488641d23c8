// Puts exchanges back in order of request start. Parsers emit an exchange when its response ends, so
// across connections (and for pipelined requests) completion order is not start order. Exchanges are
// held until the capture clock has moved `horizonUs` past their start, or until `cap` are held (then the
// oldest goes out). One that arrives after later ones already left is written at once and counted as
// late: memory stays bounded on captures of any size.
//
// Arrivals are nearly sorted (most exchanges are short), so the store is a sorted array: an insert is
// usually an append, a release takes from the front; a heap would pay log(n) on each.

export class StartOrderBuffer<T extends { startUs: number }> {
  private items: T[] = []
  private head = 0
  /** exchanges written after a later-starting one (only when horizon or cap were too small) */
  late = 0
  private lastOutUs = -Infinity

  constructor(
    private readonly out: (v: T) => void,
    private readonly horizonUs: number,
    private readonly cap: number,
  ) {}

  get size(): number {
    return this.items.length - this.head
  }

  push(v: T): void {
    if (v.startUs < this.lastOutUs) {
      this.late++
      this.out(v)
      return
    }
    const a = this.items
    if (a.length === this.head || a[a.length - 1].startUs <= v.startUs) a.push(v)
    else {
      // first entry that starts strictly later (equal start times keep arrival order); the move is a
      // native memmove, cheap even for a slow request that lands before many newer ones
      let lo = this.head
      let hi = a.length - 1
      while (lo < hi) {
        const mid = (lo + hi) >> 1
        if (a[mid].startUs > v.startUs) hi = mid
        else lo = mid + 1
      }
      a.splice(lo, 0, v)
    }
    if (this.size > this.cap) this.pop()
  }

  /**
   * The capture clock is at nowUs, and no request still pending anywhere started before watermarkUs:
   * release what started before the watermark, and whatever started more than horizonUs ago.
   */
  advance(nowUs: number, watermarkUs = -Infinity): void {
    const limit = Math.max(nowUs - this.horizonUs, Math.min(watermarkUs, nowUs) - 1)
    while (this.head < this.items.length && this.items[this.head].startUs <= limit) this.pop()
    this.compact()
  }

  flush(): void {
    while (this.head < this.items.length) this.pop()
    this.compact()
  }

  private pop(): void {
    const v = this.items[this.head]
    this.items[this.head] = undefined as unknown as T
    this.head++
    this.lastOutUs = v.startUs
    this.out(v)
    if (this.head >= 4096 && this.head * 2 >= this.items.length) this.compact()
  }

  private compact(): void {
    if (this.head === 0) return
    this.items = this.items.slice(this.head)
    this.head = 0
  }
}
