// JSON Lines output of l7_trace records: one Exchange per line, encoded straight into a 1 MiB buffer
// as UTF-8 bytes (records.ts encodeTrace: no string per record) and written in large blocks with
// fs.writeSync. stdout as a terminal goes through process.stdout; a reader that goes away (EPIPE:
// `| head`) ends output quietly.

import * as fs from 'node:fs'
import { isatty } from 'node:tty'
import { SinkError } from '../errors.js'
import { encodeTrace, traceJson, type Exchange } from '../records.js'

const BUF_BYTES = 1 << 20
const sleeper = new Int32Array(new SharedArrayBuffer(4))

export class JsonlWriter {
  private buf = Buffer.allocUnsafeSlow(BUF_BYTES)
  private used = 0
  private readonly fd: number
  private readonly ownFd: boolean
  private readonly viaStream: boolean
  private closed = false
  /** set when the reader went away (EPIPE): further lines are dropped */
  broken = false
  lines = 0

  /** path '-' (or undefined) = stdout */
  constructor(path?: string) {
    if (path === undefined || path === '-') {
      this.fd = 1
      this.ownFd = false
      // isatty, not process.stdout.isTTY: the stdout stream object is made only when lines go through it
      // (a terminal); a file or pipe is written with fs.writeSync on fd 1
      this.viaStream = isatty(1)
      if (this.viaStream) {
        process.stdout.on('error', (err: NodeJS.ErrnoException) => {
          if (err.code === 'EPIPE') this.broken = true
        })
      }
    } else {
      try {
        this.fd = fs.openSync(path, 'w')
      } catch (err) {
        throw new SinkError('PODTAP_JSONL_OPEN', `cannot write ${path}: ${(err as Error).message}`, { cause: err })
      }
      this.ownFd = true
      this.viaStream = false
    }
  }

  write(e: Exchange): void {
    if (this.broken || this.closed) return
    // encoded in place; a line that does not fit what is left is tried again after a flush, and one
    // that never fits (or has fields of odd types) goes through its string form
    let end = encodeTrace(e, this.buf, this.used)
    if (end < 0 && this.used > 0) {
      this.flush()
      if (this.broken) return
      end = encodeTrace(e, this.buf, 0)
    }
    if (end < 0) return this.writeLine(traceJson(e))
    this.used = end
    this.lines++
  }

  /** one line of any JSON (other records: --links) */
  writeLine(s: string): void {
    if (this.broken || this.closed) return
    // worst case 3 bytes per UTF-16 unit, plus the newline
    if (this.used + s.length * 3 + 1 > this.buf.length) {
      this.flush()
      if (s.length * 3 + 1 > this.buf.length) this.buf = Buffer.allocUnsafeSlow(s.length * 3 + 1)
    }
    this.used += (this.buf as unknown as { utf8Write(s: string, off: number): number }).utf8Write(s, this.used)
    this.buf[this.used++] = 0x0a
    this.lines++
  }

  flush(): void {
    if (this.used === 0 || this.broken) {
      this.used = 0
      return
    }
    const data = this.buf.subarray(0, this.used)
    if (this.viaStream) {
      process.stdout.write(Buffer.from(data))
    } else {
      let off = 0
      while (off < data.length) {
        try {
          off += fs.writeSync(this.fd, data, off)
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code
          if (code === 'EAGAIN') Atomics.wait(sleeper, 0, 0, 1) // a non-blocking pipe is full: wait for the reader
          else if (code === 'EPIPE') {
            this.broken = true
            break
          } else throw new SinkError('PODTAP_JSONL_WRITE', `writing JSON lines failed: ${(err as Error).message}`, { cause: err })
        }
      }
    }
    this.used = 0
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.flush()
    this.closed = true
    if (this.ownFd) fs.closeSync(this.fd)
    else if (this.viaStream && !this.broken && process.stdout.writableNeedDrain) {
      await new Promise<void>((resolve) => process.stdout.once('drain', () => resolve()))
    }
  }
}
