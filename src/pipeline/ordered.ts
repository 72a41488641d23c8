// Puts exchanges back in order of request start. Parsers emit an exchange when its response ends, so
// across connections (and for pipelined requests) completion order is not start order. A min-heap
// holds exchanges until the capture clock has moved `horizonUs` past their start, or until `cap`
// are held (then the oldest goes out). An exchange that arrives after later ones already left is
// written at once and counted as late: memory stays bounded on captures of any size.

export class StartOrderBuffer<T extends { startUs: number }> {
  private heap: { v: T; seq: number }[] = []
  private seq = 0
  /** exchanges written after a later-starting one (only when horizon or cap were too small) */
  late = 0
  private lastOutUs = -Infinity

  constructor(
    private readonly out: (v: T) => void,
    private readonly horizonUs: number,
    private readonly cap: number,
  ) {}

  get size(): number {
    return this.heap.length
  }

  push(v: T): void {
    if (v.startUs < this.lastOutUs) {
      this.late++
      this.out(v)
      return
    }
    const h = this.heap
    h.push({ v, seq: this.seq++ })
    let i = h.length - 1
    while (i > 0) {
      const p = (i - 1) >> 1
      if (!this.less(h[i], h[p])) break
      ;[h[i], h[p]] = [h[p], h[i]]
      i = p
    }
    if (h.length > this.cap) this.pop()
  }

  /** the capture clock is at nowUs: release what started more than horizonUs ago */
  advance(nowUs: number): void {
    const limit = nowUs - this.horizonUs
    while (this.heap.length > 0 && this.heap[0].v.startUs <= limit) this.pop()
  }

  flush(): void {
    while (this.heap.length > 0) this.pop()
  }

  private pop(): void {
    const h = this.heap
    const top = h[0]
    const last = h.pop()!
    if (h.length > 0) {
      h[0] = last
      let i = 0
      for (;;) {
        const l = 2 * i + 1
        const r = l + 1
        let m = i
        if (l < h.length && this.less(h[l], h[m])) m = l
        if (r < h.length && this.less(h[r], h[m])) m = r
        if (m === i) break
        ;[h[i], h[m]] = [h[m], h[i]]
        i = m
      }
    }
    this.lastOutUs = top.v.startUs
    this.out(top.v)
  }

  private less(a: { v: T; seq: number }, b: { v: T; seq: number }): boolean {
    return a.v.startUs < b.v.startUs || (a.v.startUs === b.v.startUs && a.seq < b.seq)
  }
}
