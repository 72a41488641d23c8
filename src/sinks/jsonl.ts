// JSON Lines output of l7_trace records: one Exchange per line, encoded straight into a 1 MiB buffer
// as UTF-8 bytes (records.ts encodeTrace: no string per record) and written in large blocks with
// fs.writeSync. stdout as a terminal goes through process.stdout; a reader that goes away (EPIPE:
// `| head`) ends output quietly. With `background` (the replay) full buffers are written in order on
// libuv's thread pool instead, while the next fills: the caller awaits drained() now and then so what
// waits stays bounded.

import * as fs from 'node:fs'
import { isatty } from 'node:tty'
import { SinkError } from '../errors.js'
import { encodeTrace, traceJson, type Exchange } from '../records.js'

const BUF_BYTES = 1 << 20
const sleeper = new Int32Array(new SharedArrayBuffer(4))

export interface JsonlWriterOptions {
  /** write full buffers on the thread pool, in order (the caller awaits drained() to bound the queue) */
  background?: boolean
}

export class JsonlWriter {
  private buf: Buffer = Buffer.allocUnsafeSlow(BUF_BYTES)
  private readonly background: boolean
  /** background: buffers written or being written, in order; their bytes; spare buffers */
  private queue: Buffer[] = []
  private queuedBytes = 0
  private writing = false
  private spare: Buffer[] = []
  private waiters: (() => void)[] = []
  /** background: the write error that ended output (thrown by close()) */
  private failure: SinkError | null = null
  private used = 0
  private readonly fd: number
  private readonly ownFd: boolean
  private readonly viaStream: boolean
  private closed = false
  /** set when the reader went away (EPIPE): further lines are dropped */
  broken = false
  lines = 0

  /** path '-' (or undefined) = stdout */
  constructor(path?: string, opts: JsonlWriterOptions = {}) {
    if (path === undefined || path === '-') {
      this.fd = 1
      this.ownFd = false
      // isatty, not process.stdout.isTTY: the stdout stream (and node's stream modules) only when used
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
    this.background = opts.background === true && !this.viaStream
  }

  /** bytes handed to the thread pool and not yet written */
  get pendingBytes(): number {
    return this.queuedBytes
  }

  /** resolves once at most `bytes` wait to be written (background), at once otherwise */
  async drained(bytes = 0): Promise<void> {
    while (this.queuedBytes > bytes && this.writing) await new Promise<void>((r) => this.waiters.push(r))
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
    if (this.background) {
      this.queue.push(data)
      this.queuedBytes += data.length
      this.buf = this.spare.pop() ?? Buffer.allocUnsafeSlow(BUF_BYTES)
      this.used = 0
      if (!this.writing) this.writeNext()
      return
    }
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

  /** background: writes the queue's first buffer, then the next (one write at a time: in order) */
  private writeNext(): void {
    const data = this.queue[0]
    if (data === undefined || this.broken) {
      this.writing = false
      this.queue = []
      this.queuedBytes = 0
      for (const w of this.waiters.splice(0)) w()
      return
    }
    this.writing = true
    fs.write(this.fd, data, 0, data.length, null, (err, n) => {
      if (err !== null) {
        if (err.code === 'EAGAIN') return void setTimeout(() => this.writeNext(), 1) // a non-blocking pipe is full
        this.broken = true
        if (err.code !== 'EPIPE') this.failure = new SinkError('PODTAP_JSONL_WRITE', `writing JSON lines failed: ${err.message}`, { cause: err })
        return this.writeNext()
      }
      this.queuedBytes -= n
      if (n < data.length) this.queue[0] = data.subarray(n)
      else {
        this.queue.shift()
        // a whole buffer back for the next lines (one grown for a long line is left to the GC)
        if (data.buffer.byteLength === BUF_BYTES && this.spare.length < 2) this.spare.push(Buffer.from(data.buffer, 0, BUF_BYTES))
      }
      for (const w of this.waiters.splice(0)) w()
      this.writeNext()
    })
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.flush()
    await this.drained()
    this.closed = true
    if (this.failure !== null) {
      if (this.ownFd) fs.closeSync(this.fd)
      throw this.failure
    }
    if (this.ownFd) fs.closeSync(this.fd)
    else if (this.viaStream && !this.broken && process.stdout.writableNeedDrain) {
      await new Promise<void>((resolve) => process.stdout.once('drain', () => resolve()))
    }
  }
}
