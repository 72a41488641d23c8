// Minimal clients for the demo's traffic: just enough of RESP2 and of the PostgreSQL simple-query
// protocol to send a command and know when its reply has fully arrived. podtap's runtime dependencies
// hold no database client (ioredis and pg are dev dependencies), and the demo needs only this.
// One command at a time per connection; a reply that does not parse closes the connection.

import { connect, type Socket } from 'node:net'

/**
 * Outcome of one command: the error text when the server answered with an error, else null; Redis:
 * the value of a simple, integer or bulk string reply (null for nil and other types); PostgreSQL:
 * the rows (text format) of the last result.
 */
export type Reply = { error: string | null; value?: string | null; rows?: (string | null)[][] }

class Conn {
  protected buf: Buffer = Buffer.alloc(0)
  protected waiting: { resolve: (r: Reply) => void; reject: (e: Error) => void } | null = null
  protected closed = false

  constructor(protected readonly sock: Socket) {
    sock.on('data', (d: Buffer) => {
      this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d])
      this.onData()
    })
    sock.on('error', (e) => this.fail(e))
    sock.on('close', () => this.fail(new Error('connection closed')))
  }

  protected onData(): void {}

  protected fail(e: Error): void {
    this.closed = true
    const w = this.waiting
    this.waiting = null
    w?.reject(e)
  }

  protected send(bytes: Buffer): Promise<Reply> {
    if (this.closed) return Promise.reject(new Error('connection closed'))
    if (this.waiting !== null) return Promise.reject(new Error('one command at a time'))
    return new Promise<Reply>((resolve, reject) => {
      this.waiting = { resolve, reject }
      this.sock.write(bytes)
    })
  }

  protected done(r: Reply): void {
    const w = this.waiting
    this.waiting = null
    w?.resolve(r)
  }

  get busy(): boolean {
    return this.waiting !== null
  }

  close(): void {
    this.closed = true
    this.sock.destroy()
  }
}

function connected(host: string, port: number, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host, port })
    const t = setTimeout(() => {
      s.destroy()
      reject(new Error(`connect ${host}:${port} timed out`))
    }, timeoutMs)
    s.once('connect', () => {
      clearTimeout(t)
      s.setNoDelay(true)
      resolve(s)
    })
    s.once('error', (e) => {
      clearTimeout(t)
      reject(e)
    })
  })
}

// ---------------------------------------------------------------------------------------------------
// Redis: RESP2 (https://redis.io/docs/latest/develop/reference/protocol-spec/)
//   request: *<n>\r\n then per argument $<len>\r\n<bytes>\r\n
//   reply:   +simple\r\n | -ERR text\r\n | :int\r\n | $<len>\r\n<bytes>\r\n ($-1: nil) | *<n>\r\n<n replies> (*-1: nil)

/** End offset of the complete RESP2 reply at `off`, or -1 when more bytes are needed; throws on junk. */
export function respEnd(b: Buffer, off: number): number {
  if (off >= b.length) return -1
  const eol = b.indexOf('\r\n', off, 'latin1')
  if (eol < 0) return -1
  const type = b[off]
  if (type === 0x2b || type === 0x2d || type === 0x3a) return eol + 2 // + - :
  if (type !== 0x24 && type !== 0x2a) throw new Error(`bad RESP type byte 0x${(type ?? 0).toString(16)}`)
  const n = Number(b.toString('latin1', off + 1, eol))
  if (!Number.isInteger(n) || n < -1) throw new Error('bad RESP length')
  if (type === 0x24) {
    // $: bulk string of n bytes and its CRLF
    if (n < 0) return eol + 2
    const end = eol + 2 + n + 2
    return b.length >= end ? end : -1
  }
  // *: n replies follow
  let at = eol + 2
  for (let i = 0; i < n; i++) {
    at = respEnd(b, at)
    if (at < 0) return -1
  }
  return at
}

export class RedisClient extends Conn {
  static async connect(host: string, port: number, timeoutMs = 5000): Promise<RedisClient> {
    return new RedisClient(await connected(host, port, timeoutMs))
  }

  /** Sends one command; resolves when its whole reply is in. */
  command(...args: string[]): Promise<Reply> {
    const parts = [`*${args.length}\r\n`]
    for (const a of args) parts.push(`$${Buffer.byteLength(a)}\r\n${a}\r\n`)
    return this.send(Buffer.from(parts.join('')))
  }

  protected override onData(): void {
    if (this.waiting === null) return
    let end: number
    try {
      end = respEnd(this.buf, 0)
    } catch (e) {
      this.fail(e as Error)
      this.sock.destroy()
      return
    }
    if (end < 0) return
    const type = this.buf[0]
    const eol = this.buf.indexOf('\r\n')
    const line = this.buf.toString('utf8', 1, eol)
    const error = type === 0x2d ? line : null
    let value: string | null = null
    if (type === 0x2b || type === 0x3a) value = line // + :
    else if (type === 0x24 && Number(line) >= 0) value = this.buf.toString('utf8', eol + 2, end - 2) // $
    this.buf = this.buf.subarray(end)
    this.done({ error, value })
  }
}

// ---------------------------------------------------------------------------------------------------
// PostgreSQL: protocol 3.0, simple query (https://www.postgresql.org/docs/current/protocol-flow.html)
//   StartupMessage: int32 len | int32 196608 (3.0) | "user\0<u>\0database\0<db>\0\0"
//   Query:          'Q' | int32 len | sql\0          Terminate: 'X' | int32 4
//   backend:        type byte | int32 len (itself included) | body; 'R' Authentication (int32 0 = ok),
//                   'E' ErrorResponse (fields: code byte + text\0, 'C' = SQLSTATE), 'Z' ReadyForQuery,
//                   'T' RowDescription (a result starts), 'D' DataRow (int16 n, n x (int32 len | bytes))

const PROTOCOL_3_0 = 196_608

export class PgClient extends Conn {
  private ready = false
  private error: string | null = null
  private rows: (string | null)[][] = []
  private startup: { resolve: () => void; reject: (e: Error) => void } | null = null

  /** Connects with trust authentication (the demo's pg_hba) and waits for ReadyForQuery. */
  static async connect(host: string, port: number, user: string, database: string, timeoutMs = 5000): Promise<PgClient> {
    const c = new PgClient(await connected(host, port, timeoutMs))
    const body = Buffer.from(`user\0${user}\0database\0${database}\0\0`)
    const msg = Buffer.alloc(8 + body.length)
    msg.writeInt32BE(msg.length, 0)
    msg.writeInt32BE(PROTOCOL_3_0, 4)
    body.copy(msg, 8)
    await new Promise<void>((resolve, reject) => {
      c.startup = { resolve, reject }
      c.sock.write(msg)
    })
    return c
  }

  /** Runs one simple query; resolves at ReadyForQuery with the SQLSTATE of an error, if any. */
  query(sql: string): Promise<Reply> {
    const text = Buffer.from(sql + '\0')
    const msg = Buffer.alloc(5 + text.length)
    msg[0] = 0x51 // Q
    msg.writeInt32BE(4 + text.length, 1)
    text.copy(msg, 5)
    this.error = null
    this.rows = []
    return this.send(msg)
  }

  protected override fail(e: Error): void {
    const s = this.startup
    this.startup = null
    s?.reject(e)
    super.fail(e)
  }

  protected override onData(): void {
    let off = 0
    while (this.buf.length - off >= 5) {
      const type = this.buf[off]!
      const len = this.buf.readInt32BE(off + 1)
      if (len < 4) {
        this.fail(new Error('bad PostgreSQL message length'))
        this.sock.destroy()
        return
      }
      if (this.buf.length - off < 1 + len) break
      const body = this.buf.subarray(off + 5, off + 1 + len)
      off += 1 + len
      if (type === 0x52 /* R */ && body.length >= 4 && body.readInt32BE(0) !== 0) {
        this.fail(new Error(`server asks for authentication method ${body.readInt32BE(0)}; the demo uses trust`))
        this.sock.destroy()
        return
      }
      if (type === 0x45 /* E */) this.error = sqlState(body) ?? 'ERROR'
      if (type === 0x54 /* T */) this.rows = [] // a new result: the rows of the last one are returned
      if (type === 0x44 /* D */) this.rows.push(dataRow(body))
      if (type === 0x5a /* Z */) {
        if (!this.ready) {
          this.ready = true
          const s = this.startup
          this.startup = null
          if (this.error !== null) s?.reject(new Error(`startup failed: ${this.error}`))
          else s?.resolve()
        } else this.done({ error: this.error, rows: this.rows })
      } else if (type === 0x45 && !this.ready && this.startup !== null) {
        // errors before the first ReadyForQuery end the connection (no Z follows)
        const s = this.startup
        this.startup = null
        s.reject(new Error(`startup failed: ${this.error}`))
      }
    }
    this.buf = this.buf.subarray(off)
  }

  override close(): void {
    if (!this.closed) {
      const x = Buffer.from([0x58, 0, 0, 0, 4]) // Terminate
      this.sock.end(x)
    }
    this.closed = true
  }
}

/** The SQLSTATE field ('C') of an ErrorResponse body. */
function sqlState(body: Buffer): string | null {
  let i = 0
  while (i < body.length && body[i] !== 0) {
    const code = body[i]!
    const end = body.indexOf(0, i + 1)
    if (end < 0) return null
    if (code === 0x43 /* C */) return body.toString('latin1', i + 1, end)
    i = end + 1
  }
  return null
}

/** The fields of a DataRow body: int16 count, then per field int32 length (-1: NULL) and its bytes. */
function dataRow(body: Buffer): (string | null)[] {
  const n = body.length >= 2 ? body.readInt16BE(0) : 0
  const out: (string | null)[] = []
  let at = 2
  for (let i = 0; i < n && at + 4 <= body.length; i++) {
    const len = body.readInt32BE(at)
    at += 4
    if (len < 0) out.push(null)
    else {
      out.push(body.toString('utf8', at, Math.min(at + len, body.length)))
      at += len
    }
  }
  return out
}
