// The live view of `podtap capture` and `podtap demo` on a terminal: a status line (interfaces,
// packets/s, kernel drops, ring freezes, flows, exchanges), the summary table cut to the screen, and
// the last few log lines (which the redraw would otherwise wipe). Redrawn in place with ANSI codes:
// cursor home, each line followed by erase-to-end-of-line, erase below at the end (no full clear, so
// no flicker).

import type { Summary } from '../metrics/summary.js'
import { renderSummary } from './table.js'

export interface LiveStatus {
  title: string
  interfaces: readonly string[]
  elapsedS: number
  packets: number
  /** packets per second since the previous frame */
  packetsPerS: number
  kernelDrops: number
  freezes: number
  flows: number
  exchanges: number
  errors: number
  /** one line under the table (--tls: the TLS coverage) */
  footer?: string
}

const HOME = '\x1b[H'
const ERASE_EOL = '\x1b[K'
const ERASE_BELOW = '\x1b[J'
const HIDE_CURSOR = '\x1b[?25l'
const SHOW_CURSOR = '\x1b[?25h'
/** log lines kept for the view */
const LOG_LINES = 4

export class LiveTable {
  private readonly logs: string[] = []
  private started = false

  constructor(private readonly out: NodeJS.WriteStream) {}

  /** Remembers a log line to show under the table. */
  log(line: string): void {
    this.logs.push(line)
    if (this.logs.length > LOG_LINES) this.logs.shift()
  }

  draw(s: LiveStatus, summary: Summary): void {
    const rows = this.out.rows || 40
    const width = this.out.columns || 120
    const head = [
      `${s.title} on ${s.interfaces.length === 0 ? '(no interface yet)' : shorten(s.interfaces.join(', '), width - s.title.length - 4)}`,
      `${fmtElapsed(s.elapsedS)}  ${fmtRate(s.packetsPerS)} packets/s  ${s.packets} packets  ${s.kernelDrops} kernel drops  ` +
        `${s.freezes} ring freezes  ${s.flows} flows  ${s.exchanges} exchanges  ${s.errors} errors   (Ctrl-C to stop)`,
      '',
    ]
    const logs = [...(s.footer !== undefined ? ['', s.footer] : []), ...(this.logs.length ? ['', ...this.logs] : [])]
    // the table's own header and borders take 3 lines, the "more rows" note 1
    const maxRows = Math.max(1, rows - head.length - logs.length - 5)
    // renderSummary fits the table to width by sizing the resource column
    const table = summary.totals.exchanges === 0 ? 'no exchanges yet\n' : renderSummary(summary, { maxRows, width })
    const lines = [...head, ...table.replace(/\n$/, '').split('\n'), ...logs].map((l) => shorten(l, width))
    const text = (this.started ? '' : HIDE_CURSOR + '\x1b[2J') + HOME + lines.join(ERASE_EOL + '\n') + ERASE_EOL + '\n' + ERASE_BELOW
    this.started = true
    this.out.write(text)
  }

  /** Clears the live view and shows the cursor again, before the final summary is printed. */
  end(): void {
    if (!this.started) return
    this.out.write(HOME + ERASE_BELOW + SHOW_CURSOR)
    this.started = false
  }
}

function shorten(s: string, width: number): string {
  return s.length <= width ? s : s.slice(0, Math.max(0, width - 1)) + '…'
}

function fmtRate(n: number): string {
  return n >= 10_000 ? `${(n / 1000).toFixed(0)}k` : n >= 1000 ? `${(n / 1000).toFixed(1)}k` : String(Math.round(n))
}

function fmtElapsed(s: number): string {
  const t = Math.floor(s)
  const h = Math.floor(t / 3600)
  const m = Math.floor((t % 3600) / 60)
  const sec = t % 60
  return (h > 0 ? `${h}:${String(m).padStart(2, '0')}` : String(m)) + ':' + String(sec).padStart(2, '0')
}
