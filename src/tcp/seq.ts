// TCP sequence arithmetic modulo 2^32 (RFC 9293 §3.4: "all arithmetic dealing with sequence numbers
// must be performed modulo 2**32"). Sequence numbers are plain numbers holding unsigned 32-bit values;
// `| 0` and `>>> 0` keep every operation in small integers, no bigint, no allocation.

/**
 * a − b as a signed distance in [−2^31, 2^31): positive when a is after b. Two sequence numbers more
 * than 2^31 apart cannot be ordered (RFC 1323 §4.2 PAWS reasoning); this picks the shorter way round.
 */
export function seqDiff(a: number, b: number): number {
  return (a - b) | 0
}

/** a + n modulo 2^32, as an unsigned value. n may be negative. */
export function seqAdd(a: number, n: number): number {
  return (a + n) >>> 0
}

export function seqLt(a: number, b: number): boolean {
  return ((a - b) | 0) < 0
}

export function seqLte(a: number, b: number): boolean {
  return ((a - b) | 0) <= 0
}

export function seqGt(a: number, b: number): boolean {
  return ((a - b) | 0) > 0
}

export function seqGte(a: number, b: number): boolean {
  return ((a - b) | 0) >= 0
}

/** The later of two sequence numbers. */
export function seqMax(a: number, b: number): number {
  return ((a - b) | 0) >= 0 ? a : b
}

/** The earlier of two sequence numbers. */
export function seqMin(a: number, b: number): number {
  return ((a - b) | 0) <= 0 ? a : b
}
