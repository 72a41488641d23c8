// Builders for PostgreSQL protocol test input (after pg-protocol testing/test-buffers.ts): tests say
// which messages they send, not hex. Layouts: https://www.postgresql.org/docs/current/protocol-message-formats.html
// Not used at run time.

import { CANCEL_REQUEST, GSSENC_REQUEST, PROTOCOL_3_0, SSL_REQUEST } from '../../../src/protocols/postgres/messages.js'

const cs = (s: string): Buffer => Buffer.concat([Buffer.from(s, 'utf8'), Buffer.from([0])])
const i16 = (n: number): Buffer => {
  const b = Buffer.alloc(2)
  b.writeInt16BE(n)
  return b
}
const i32 = (n: number): Buffer => {
  const b = Buffer.alloc(4)
  b.writeInt32BE(n)
  return b
}

/** a typed message: type byte, Int32 length (counting itself), body */
export function msg(type: string, ...body: Buffer[]): Buffer {
  const b = Buffer.concat(body)
  return Buffer.concat([Buffer.from(type, 'latin1'), i32(b.length + 4), b])
}

/** an untyped startup-phase packet: Int32 length, body */
function untyped(...body: Buffer[]): Buffer {
  const b = Buffer.concat(body)
  return Buffer.concat([i32(b.length + 4), b])
}

// ---- frontend ----

export const startup = (params: Record<string, string>): Buffer =>
  untyped(i32(PROTOCOL_3_0), ...Object.entries(params).flatMap(([k, v]) => [cs(k), cs(v)]), Buffer.from([0]))
export const sslRequest = (): Buffer => untyped(i32(SSL_REQUEST))
export const gssencRequest = (): Buffer => untyped(i32(GSSENC_REQUEST))
export const cancelRequest = (pid: number, key: number): Buffer => untyped(i32(CANCEL_REQUEST), i32(pid), i32(key))
export const password = (pw: string): Buffer => msg('p', cs(pw))
export const saslInitialResponse = (mech: string, data: string): Buffer =>
  msg('p', cs(mech), i32(Buffer.byteLength(data)), Buffer.from(data))
export const query = (text: string): Buffer => msg('Q', cs(text))
export const parse = (name: string, text: string, types: number[] = []): Buffer =>
  msg('P', cs(name), cs(text), i16(types.length), ...types.map(i32))
export function bind(portal: string, stmt: string, params: (string | null)[] = []): Buffer {
  const vals = params.flatMap((p) => (p === null ? [i32(-1)] : [i32(Buffer.byteLength(p)), Buffer.from(p)]))
  return msg('B', cs(portal), cs(stmt), i16(0), i16(params.length), ...vals, i16(0))
}
export const describe = (kind: 'S' | 'P', name: string): Buffer => msg('D', Buffer.from(kind), cs(name))
export const execute = (portal = '', maxRows = 0): Buffer => msg('E', cs(portal), i32(maxRows))
export const sync = (): Buffer => msg('S')
export const flush = (): Buffer => msg('H')
export const close = (kind: 'S' | 'P', name: string): Buffer => msg('C', Buffer.from(kind), cs(name))
export const terminate = (): Buffer => msg('X')
export const copyData = (data: string): Buffer => msg('d', Buffer.from(data))
export const copyDone = (): Buffer => msg('c')
export const copyFail = (why: string): Buffer => msg('f', cs(why))
export const functionCall = (oid: number): Buffer => msg('F', i32(oid), i16(0), i16(0), i16(0))

/** the usual extended-protocol round trip: Parse, Bind, Describe portal, Execute, Sync */
export const extended = (text: string, params: (string | null)[] = [], stmt = ''): Buffer =>
  Buffer.concat([parse(stmt, text), bind('', stmt, params), describe('P', ''), execute(), sync()])

// ---- backend ----

export const sslAnswer = (b: 'S' | 'N' | 'G'): Buffer => Buffer.from(b)
export const authOk = (): Buffer => msg('R', i32(0))
export const authMd5 = (): Buffer => msg('R', i32(5), Buffer.from([1, 2, 3, 4]))
export const authSasl = (mechs: string[]): Buffer => msg('R', i32(10), ...mechs.map(cs), Buffer.from([0]))
export const authSaslContinue = (data: string): Buffer => msg('R', i32(11), Buffer.from(data))
export const authSaslFinal = (data: string): Buffer => msg('R', i32(12), Buffer.from(data))
export const parameterStatus = (k: string, v: string): Buffer => msg('S', cs(k), cs(v))
export const backendKeyData = (pid: number, key: number): Buffer => msg('K', i32(pid), i32(key))
export const readyForQuery = (status: 'I' | 'T' | 'E' = 'I'): Buffer => msg('Z', Buffer.from(status))
export function rowDescription(names: string[]): Buffer {
  return msg(
    'T',
    i16(names.length),
    ...names.map((n) => Buffer.concat([cs(n), i32(0), i16(0), i32(25), i16(-1), i32(-1), i16(0)])),
  )
}
export function dataRow(values: (string | null)[]): Buffer {
  return msg('D', i16(values.length), ...values.flatMap((v) => (v === null ? [i32(-1)] : [i32(Buffer.byteLength(v)), Buffer.from(v)])))
}
export const commandComplete = (tag: string): Buffer => msg('C', cs(tag))
export const emptyQuery = (): Buffer => msg('I')
export function errorResponse(code: string, message = 'error', severity = 'ERROR'): Buffer {
  return msg('E', Buffer.from('S'), cs(severity), Buffer.from('V'), cs(severity), Buffer.from('C'), cs(code), Buffer.from('M'), cs(message), Buffer.from([0]))
}
export function notice(code: string, message = 'notice'): Buffer {
  return msg('N', Buffer.from('S'), cs('NOTICE'), Buffer.from('C'), cs(code), Buffer.from('M'), cs(message), Buffer.from([0]))
}
export const notification = (pid: number, channel: string, payload: string): Buffer => msg('A', i32(pid), cs(channel), cs(payload))
export const parseComplete = (): Buffer => msg('1')
export const bindComplete = (): Buffer => msg('2')
export const closeComplete = (): Buffer => msg('3')
export const noData = (): Buffer => msg('n')
export const portalSuspended = (): Buffer => msg('s')
export const parameterDescription = (oids: number[]): Buffer => msg('t', i16(oids.length), ...oids.map(i32))
export const copyInResponse = (cols = 1): Buffer => msg('G', Buffer.from([0]), i16(cols), ...Array.from({ length: cols }, () => i16(0)))
export const copyOutResponse = (cols = 1): Buffer => msg('H', Buffer.from([0]), i16(cols), ...Array.from({ length: cols }, () => i16(0)))
export const copyBothResponse = (): Buffer => msg('W', Buffer.from([0]), i16(0))
export const functionCallResponse = (v: string): Buffer => msg('V', i32(v.length), Buffer.from(v))

/** a server's answer to a successful startup with password auth */
export const startupOk = (): Buffer =>
  Buffer.concat([authOk(), parameterStatus('server_version', '15.5'), parameterStatus('client_encoding', 'UTF8'), backendKeyData(42, 7), readyForQuery('I')])

/** rows, then CommandComplete 'SELECT n' */
export function selectResult(cols: string[], rows: (string | null)[][]): Buffer {
  return Buffer.concat([rowDescription(cols), ...rows.map(dataRow), commandComplete('SELECT ' + rows.length)])
}

export const cat = (...b: Buffer[]): Buffer => Buffer.concat(b)
