// JSON Lines output of l7_trace records: one Exchange per line, batched into large writes.
// stdout: through process.stdout (synchronous for files and pipes on Linux), with EPIPE (`| head`)
// ending output quietly. Files: fs.writeSync of the batch.

import * as fs from 'node:fs'
import { toTraceRecord, type Exchange } from '../records.js'
import { SinkError } from '../errors.js'

const FLUSH_AT = 256 * 1024

export class JsonlWriter {
  private parts: string[] = []
  private pending = 0
  private fd: number | null
  private closed = false
  /** set when the reader went away (EPIPE): further lines are dropped */
  broken = false
  lines = 0

  /** path '-' (or undefined) = stdout */
  constructor(path?: string) {
    if (path === undefined || path === '-') {
      this.fd = null
      process.stdout.on('error', (err: NodeJS.ErrnoException) => {
        if (err.code === 'EPIPE') this.broken = true
      })
    } else {
      try {
        this.fd = fs.openSync(path, 'w')
      } catch (err) {
        throw new SinkError('PODTAP_JSONL_OPEN', `cannot write ${path}: ${(err as Error).message}`, { cause: err })
      }
    }
  }

  write(e: Exchange): void {
    if (this.broken || this.closed) return
    const s = JSON.stringify(toTraceRecord(e)) + '\n'
    this.parts.push(s)
    this.pending += s.length
    this.lines++
    if (this.pending >= FLUSH_AT) this.flush()
  }

  flush(): void {
    if (this.parts.length === 0 || this.broken) return
    const text = this.parts.join('')
    this.parts = []
    this.pending = 0
    if (this.fd === null) {
      try {
        process.stdout.write(text)
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EPIPE') this.broken = true
        else throw err
      }
    } else fs.writeSync(this.fd, text)
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.flush()
    this.closed = true
    if (this.fd !== null) fs.closeSync(this.fd)
    else if (!this.broken && process.stdout.writableNeedDrain) {
      await new Promise<void>((resolve) => process.stdout.once('drain', () => resolve()))
    }
  }
}
