// Builders for MySQL wire messages in tests (pg-protocol testing/test-buffers.ts style): tests say
// `b.query('SELECT 1')`, not hex. Not used at run time.

import type { EndReason } from '../../../src/tcp/types.js'
import type { Step } from '../protocols.js'
import { Cap, Cmd } from '../../../src/protocols/mysql/constants.js'

export function lenenc(n: number): Buffer {
  if (n < 0xfb) return Buffer.from([n])
  if (n < 0x10000) return Buffer.from([0xfc, n & 0xff, n >> 8])
  if (n < 0x1000000) return Buffer.from([0xfd, n & 0xff, (n >> 8) & 0xff, n >> 16])
  const b = Buffer.alloc(9)
  b[0] = 0xfe
  b.writeUInt32LE(n % 0x1_0000_0000, 1)
  b.writeUInt32LE(Math.floor(n / 0x1_0000_0000), 5)
  return b
}

export function lenencStr(s: string | Buffer): Buffer {
  const v = typeof s === 'string' ? Buffer.from(s) : s
  return Buffer.concat([lenenc(v.length), v])
}

const nul = (s: string): Buffer => Buffer.concat([Buffer.from(s), Buffer.from([0])])
const u16 = (n: number): Buffer => {
  const b = Buffer.alloc(2)
  b.writeUInt16LE(n)
  return b
}
const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4)
  b.writeUInt32LE(n >>> 0)
  return b
}

/** one packet: 3-byte length, sequence id, payload */
export function packet(seq: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(4)
  h.writeUIntLE(payload.length, 0, 3)
  h[3] = seq & 0xff
  return Buffer.concat([h, payload])
}

/** capability set of a current MySQL 8 server (without DEPRECATE_EOF unless asked) */
export const SERVER_CAPS =
  Cap.LONG_PASSWORD | Cap.CONNECT_WITH_DB | Cap.LOCAL_FILES | Cap.PROTOCOL_41 | Cap.TRANSACTIONS |
  Cap.SECURE_CONNECTION | Cap.MULTI_STATEMENTS | Cap.MULTI_RESULTS | Cap.PLUGIN_AUTH | Cap.CONNECT_ATTRS |
  Cap.PLUGIN_AUTH_LENENC_CLIENT_DATA | Cap.SSL | Cap.COMPRESS

export const CLIENT_CAPS =
  Cap.LONG_PASSWORD | Cap.CONNECT_WITH_DB | Cap.PROTOCOL_41 | Cap.TRANSACTIONS | Cap.SECURE_CONNECTION |
  Cap.MULTI_STATEMENTS | Cap.MULTI_RESULTS | Cap.PLUGIN_AUTH | Cap.PLUGIN_AUTH_LENENC_CLIENT_DATA

/** payload builders; server packets take the fields that matter for podtap */
export const b = {
  greeting(o: { version?: string; caps?: number; plugin?: string } = {}): Buffer {
    const caps = (o.caps ?? SERVER_CAPS) >>> 0
    const scramble = Buffer.from('abcdefghijklmnopqrst') // 20 bytes, 8 + 12
    return Buffer.concat([
      Buffer.from([10]),
      nul(o.version ?? '8.0.36'),
      u32(42), // thread id
      scramble.subarray(0, 8),
      Buffer.from([0]),
      u16(caps & 0xffff),
      Buffer.from([0xff]), // utf8mb4_0900_ai_ci
      u16(0x0002), // autocommit
      u16(caps >>> 16),
      Buffer.from([21]),
      Buffer.alloc(10),
      scramble.subarray(8),
      Buffer.from([0]),
      nul(o.plugin ?? 'mysql_native_password'),
    ])
  },

  handshakeResponse(o: { caps?: number; user?: string; db?: string; auth?: Buffer; plugin?: string } = {}): Buffer {
    let caps = (o.caps ?? CLIENT_CAPS) >>> 0
    if (o.db !== undefined) caps |= Cap.CONNECT_WITH_DB
    else caps &= ~Cap.CONNECT_WITH_DB
    const auth = o.auth ?? Buffer.from('SECRETSCRAMBLE12345!')
    const parts = [u32(caps), u32(16 * 1024 * 1024), Buffer.from([0xff]), Buffer.alloc(23), nul(o.user ?? 'app')]
    parts.push(caps & Cap.PLUGIN_AUTH_LENENC_CLIENT_DATA ? lenencStr(auth) : Buffer.concat([Buffer.from([auth.length]), auth]))
    if (o.db !== undefined) parts.push(nul(o.db))
    if (caps & Cap.PLUGIN_AUTH) parts.push(nul(o.plugin ?? 'mysql_native_password'))
    return Buffer.concat(parts)
  },

  sslRequest(caps = CLIENT_CAPS | Cap.SSL): Buffer {
    return Buffer.concat([u32(caps), u32(16 * 1024 * 1024), Buffer.from([0xff]), Buffer.alloc(23)])
  },

  ok(o: { affected?: number; insertId?: number; status?: number; warnings?: number; header?: number; info?: string } = {}): Buffer {
    return Buffer.concat([
      Buffer.from([o.header ?? 0]),
      lenenc(o.affected ?? 0),
      lenenc(o.insertId ?? 0),
      u16(o.status ?? 0x0002),
      u16(o.warnings ?? 0),
      Buffer.from(o.info ?? ''),
    ])
  },

  /** classic EOF: 0xfe warnings status */
  eof(status = 0x0002, warnings = 0): Buffer {
    return Buffer.concat([Buffer.from([0xfe]), u16(warnings), u16(status)])
  },

  err(code: number, message: string, sqlState: string | null = 'HY000'): Buffer {
    return Buffer.concat([Buffer.from([0xff]), u16(code), Buffer.from(sqlState === null ? '' : '#' + sqlState), Buffer.from(message)])
  },

  authSwitch(plugin = 'caching_sha2_password', data = 'abcdefghijklmnopqrst'): Buffer {
    return Buffer.concat([Buffer.from([0xfe]), nul(plugin), nul(data)])
  },

  authMoreData(data: Buffer | string): Buffer {
    return Buffer.concat([Buffer.from([0x01]), Buffer.from(data)])
  },

  command(cmd: number, body: Buffer | string = Buffer.alloc(0)): Buffer {
    return Buffer.concat([Buffer.from([cmd]), Buffer.from(body)])
  },
  query: (sql: string) => b.command(Cmd.Query, sql),
  /** COM_QUERY under CLIENT_QUERY_ATTRIBUTES with no attributes */
  queryWithAttrs: (sql: string) => b.command(Cmd.Query, Buffer.concat([Buffer.from([0, 1]), Buffer.from(sql)])),
  initDb: (db: string) => b.command(Cmd.InitDb, db),
  ping: () => b.command(Cmd.Ping),
  quit: () => b.command(Cmd.Quit),
  statistics: () => b.command(Cmd.Statistics),
  resetConnection: () => b.command(Cmd.ResetConnection),
  fieldList: (table: string, wildcard = '') => b.command(Cmd.FieldList, Buffer.concat([nul(table), Buffer.from(wildcard)])),
  setOption: (on: boolean) => b.command(Cmd.SetOption, u16(on ? 0 : 1)),
  changeUser: (user: string) =>
    b.command(Cmd.ChangeUser, Buffer.concat([nul(user), Buffer.from([20]), Buffer.from('CHANGEUSERSECRET1234'), nul(''), u16(0xff), nul('mysql_native_password')])),
  stmtPrepare: (sql: string) => b.command(Cmd.StmtPrepare, sql),
  /** COM_STMT_EXECUTE with `params` LONG parameters (new_params_bind_flag set) */
  stmtExecute(id: number, params: number[] = [], flags = 0): Buffer {
    const parts = [u32(id), Buffer.from([flags]), u32(1)]
    if (params.length) {
      parts.push(Buffer.alloc((params.length + 7) >> 3), Buffer.from([1]))
      for (let i = 0; i < params.length; i++) parts.push(u16(3))
      for (const v of params) parts.push(u32(v))
    }
    return b.command(Cmd.StmtExecute, Buffer.concat(parts))
  },
  stmtClose: (id: number) => b.command(Cmd.StmtClose, u32(id)),
  stmtReset: (id: number) => b.command(Cmd.StmtReset, u32(id)),
  stmtFetch: (id: number, rows: number) => b.command(Cmd.StmtFetch, Buffer.concat([u32(id), u32(rows)])),
  stmtSendLongData: (id: number, param: number, data: string) =>
    b.command(Cmd.StmtSendLongData, Buffer.concat([u32(id), u16(param), Buffer.from(data)])),
  binlogDump: () => b.command(Cmd.BinlogDump, Buffer.concat([u32(4), u16(0), u32(1), Buffer.from('binlog.000001')])),

  /** COM_STMT_PREPARE OK: 0x00 stmt_id num_columns num_params filler warnings */
  prepareOk(id: number, cols: number, params: number, warnings = 0): Buffer {
    return Buffer.concat([Buffer.from([0]), u32(id), u16(cols), u16(params), Buffer.from([0]), u16(warnings)])
  },

  columnCount: (n: number) => lenenc(n),

  /** ColumnDefinition41 of a VARCHAR column */
  columnDef(name: string, table = 't'): Buffer {
    return Buffer.concat([
      lenencStr('def'),
      lenencStr('db'),
      lenencStr(table),
      lenencStr(table),
      lenencStr(name),
      lenencStr(name),
      Buffer.from([0x0c]),
      u16(0xff), // charset
      u32(1024), // column length
      Buffer.from([0xfd]), // VAR_STRING
      u16(0), // flags
      Buffer.from([0]), // decimals
      Buffer.alloc(2),
    ])
  },

  /** text row: lenenc strings, NULL as 0xfb */
  textRow(values: (string | null)[]): Buffer {
    return Buffer.concat(values.map((v) => (v === null ? Buffer.from([0xfb]) : lenencStr(v))))
  },

  /** binary row of VAR_STRING columns: 0x00, NULL bitmap (offset 2), values */
  binaryRow(values: string[]): Buffer {
    return Buffer.concat([Buffer.from([0]), Buffer.alloc((values.length + 7 + 2) >> 3), ...values.map((v) => lenencStr(v))])
  },

  localInfile: (file: string) => Buffer.concat([Buffer.from([0xfb]), Buffer.from(file)]),
}

/**
 * Payloads of a text (or binary) result set: column count, definitions, [EOF], rows, terminator.
 * `deprecateEof` ends with an OK with 0xfe header instead of EOFs; `more` sets
 * SERVER_MORE_RESULTS_EXISTS on the terminator.
 */
export function resultSet(
  cols: string[],
  rows: (string | null)[][],
  o: { deprecateEof?: boolean; more?: boolean; binary?: boolean; status?: number } = {},
): Buffer[] {
  const status = (o.status ?? 0x0002) | (o.more ? 0x0008 : 0)
  const out: Buffer[] = [b.columnCount(cols.length), ...cols.map((c) => b.columnDef(c))]
  if (!o.deprecateEof) out.push(b.eof(0x0002))
  for (const r of rows) out.push(o.binary ? b.binaryRow(r.map((v) => v ?? '')) : b.textRow(r))
  out.push(o.deprecateEof ? b.ok({ header: 0xfe, status }) : b.eof(status))
  return out
}

/**
 * A scripted conversation with sequence ids filled in: command() restarts at 0, server() and client()
 * continue. Each call is one data step (one TCP chunk) at a time 100 µs after the previous one.
 */
export class Script {
  readonly steps: Step[] = []
  private seq = 0
  tsUs = 1_700_000_000_000_000

  /** a command packet (seq 0) */
  command(payload: Buffer): this {
    this.seq = 0
    return this.client(payload)
  }

  /** client packets continuing the sequence, in one chunk */
  client(...payloads: Buffer[]): this {
    return this.push('c2s', payloads)
  }

  server(...payloads: Buffer[]): this {
    return this.push('s2c', payloads)
  }

  /** set the next sequence id (handshake: the greeting is 0, the response 1) */
  at(seq: number): this {
    this.seq = seq
    return this
  }

  raw(dir: 'c2s' | 's2c', data: Buffer): this {
    this.tsUs += 100
    this.steps.push({ dir, data, tsUs: this.tsUs })
    return this
  }

  gap(dir: 'c2s' | 's2c', n: number): this {
    this.steps.push({ dir, gap: n, tsUs: this.tsUs })
    return this
  }

  end(reason: EndReason = 'fin'): this {
    this.tsUs += 100
    this.steps.push({ end: reason, tsUs: this.tsUs })
    return this
  }

  private push(dir: 'c2s' | 's2c', payloads: Buffer[]): this {
    const pk = payloads.map((p) => packet(this.seq++, p))
    return this.raw(dir, Buffer.concat(pk))
  }
}
