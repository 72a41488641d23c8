// Text helpers every parser shares.

/** Cuts text to `max` UTF-16 units, marking a cut with '…' (coroot l7/postgres.go). */
export function truncateText(s: string, max: number): string {
  return s.length <= max ? s : s.slice(0, Math.max(0, max - 1)) + '…'
}
