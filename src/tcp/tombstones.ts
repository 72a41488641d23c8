// Closed 4-tuples, remembered for a while on the capture clock so that a closed connection's trailing
// packets (the last ACK, retransmitted FINs) do not start a new flow.
//
// A Map answers "is this key closed", a ring of (key, close time) in close order answers "which is
// oldest". Forgetting the oldest pops the ring's head: O(1). (A Map alone used as a FIFO, deleting
// through `keys().next()`, walks the holes its earlier deletes left: 300k short connections took 6x
// the time of 100k. lru-cache did the job in linear time but cost 15% of a short-connection replay.)
// Closing a key again moves it to the newest place: its older ring entry no longer matches the Map's
// close time and is skipped when it reaches the head.

export class Tombstones {
  private readonly at = new Map<string, number>()
  private keys: (string | undefined)[]
  private times: Float64Array
  private head = 0
  /** ring entries, stale ones included */
  private count = 0

  /** at most `max` keys; each forgotten `lingerUs` after its close */
  constructor(
    private readonly max: number,
    private readonly lingerUs: number,
  ) {
    const cap = 1024
    this.keys = new Array<string | undefined>(cap)
    this.times = new Float64Array(cap)
  }

  get size(): number {
    return this.at.size
  }

  has(key: string): boolean {
    return this.at.size > 0 && this.at.has(key)
  }

  delete(key: string): void {
    if (this.at.size > 0) this.at.delete(key)
  }

  /** `key` closed at `tsUs` (the newest close so far, or close to it) */
  add(key: string, tsUs: number): void {
    this.at.set(key, tsUs)
    if (this.count === this.keys.length) this.grow()
    const i = (this.head + this.count) & (this.keys.length - 1)
    this.keys[i] = key
    this.times[i] = tsUs
    this.count++
    while (this.at.size > this.max) this.pop()
  }

  /** forgets keys closed more than lingerUs before `nowUs` */
  expire(nowUs: number): void {
    while (this.count > 0 && nowUs - (this.times[this.head] as number) > this.lingerUs) this.pop()
  }

  clear(): void {
    this.at.clear()
    this.keys.fill(undefined)
    this.head = 0
    this.count = 0
  }

  /** drops the ring's oldest entry, and its key unless the key was closed again since */
  private pop(): void {
    const h = this.head
    const key = this.keys[h] as string
    if (this.at.get(key) === this.times[h]) this.at.delete(key)
    this.keys[h] = undefined
    this.head = (h + 1) & (this.keys.length - 1)
    this.count--
  }

  /** the ring is full: keeps its live entries (drops those of keys closed again since), in a ring twice as big when more than half are live */
  private grow(): void {
    const n = this.keys.length
    const liveKeys: string[] = []
    const liveTimes: number[] = []
    for (let k = 0; k < this.count; k++) {
      const i = (this.head + k) & (n - 1)
      const key = this.keys[i] as string
      if (this.at.get(key) !== this.times[i]) continue
      liveKeys.push(key)
      liveTimes.push(this.times[i] as number)
    }
    const size = liveKeys.length * 2 > n ? n * 2 : n
    this.keys = new Array<string | undefined>(size)
    this.times = new Float64Array(size)
    for (let j = 0; j < liveKeys.length; j++) {
      this.keys[j] = liveKeys[j]
      this.times[j] = liveTimes[j] as number
    }
    this.head = 0
    this.count = liveKeys.length
  }
}
