// A bounded walker over the top-level elements of one BSON document (https://bsonspec.org/spec.html).
//
// Why not the `bson` package here: a reply can be 16 MB (a find's firstBatch) and podtap needs five
// things from it: the first element's name and string value (the command and its collection), `$db`,
// `ok`, `code`, and the first code of `writeErrors` / `writeConcernError`. Deserializing would build
// every document of the batch; this walker reads element headers and steps over values by their
// length, so its cost is the number of top-level elements, and it never allocates more than the few
// strings it keeps. It also works on a window of the document (the head of a message, or a probe taken
// further on while the message streams by): it stops at the first element it cannot read in the window
// and says where, so the parser can look again there. The tests check it against `bson.deserialize`.
//
// element => int8 type, cstring name, value; value sizes per type below (spec "element").

import { MAX_NAME_BYTES } from './wire.js'

export interface DocInfo {
  /** top-level elements read */
  elements: number
  /** name of the first element (the command, in a request) */
  first: string | undefined
  /** string value of the first element (a collection, for most commands), cut at MAX_STRING_BYTES */
  firstStr: string | undefined
  /** `$db` (OP_MSG requests) */
  db: string | undefined
  /** `collection` (getMore names its collection there) */
  collection: string | undefined
  ok: number | undefined
  code: number | undefined
  /** a legacy error string: `$err` (query failure) or a non-null `err` (getLastError) */
  errText: boolean
  /** code of the first writeErrors entry; null when present without a code; undefined when absent */
  writeErrors: number | null | undefined
  writeConcernError: number | null | undefined
}

export function newDocInfo(): DocInfo {
  return {
    elements: 0, first: undefined, firstStr: undefined, db: undefined, collection: undefined, ok: undefined,
    code: undefined, errText: false, writeErrors: undefined, writeConcernError: undefined,
  }
}

export function resetDocInfo(d: DocInfo): void {
  d.elements = 0
  d.first = d.firstStr = d.db = d.collection = undefined
  d.ok = d.code = undefined
  d.errText = false
  d.writeErrors = d.writeConcernError = undefined
}

/** returned when the document cannot be read further (malformed, or a name longer than MAX_NAME_BYTES) */
export const GIVE_UP = -1

/** strings kept (collection and database names: the server limits namespaces to 255 bytes) */
export const MAX_STRING_BYTES = 255
/** bytes of writeErrors / writeConcernError looked at for the first code */
const NESTED_BYTES = 512

const enum T {
  Double = 0x01,
  String = 0x02,
  Document = 0x03,
  Array = 0x04,
  Binary = 0x05,
  Undefined = 0x06,
  ObjectId = 0x07,
  Boolean = 0x08,
  DateTime = 0x09,
  Null = 0x0a,
  Regex = 0x0b,
  DbPointer = 0x0c,
  Code = 0x0d,
  Symbol = 0x0e,
  CodeWithScope = 0x0f,
  Int32 = 0x10,
  Timestamp = 0x11,
  Int64 = 0x12,
  Decimal128 = 0x13,
  MaxKey = 0x7f,
  MinKey = 0xff,
}

/**
 * Size of the value of type `t` at w[v]: -1 when its length prefix (or a regex's cstrings) lies beyond
 * the window, -2 when the type is unknown or the length impossible.
 */
function valueSize(t: number, w: Buffer, v: number): number {
  switch (t) {
    case T.Double:
    case T.DateTime:
    case T.Timestamp:
    case T.Int64:
      return 8
    case T.Int32:
      return 4
    case T.Decimal128:
      return 16
    case T.ObjectId:
      return 12
    case T.Boolean:
      return 1
    case T.Undefined:
    case T.Null:
    case T.MaxKey:
    case T.MinKey:
      return 0
    case T.String:
    case T.Code:
    case T.Symbol: {
      if (v + 4 > w.length) return -1
      const n = w.readInt32LE(v)
      return n >= 1 ? 4 + n : -2
    }
    case T.Document:
    case T.Array: {
      if (v + 4 > w.length) return -1
      const n = w.readInt32LE(v)
      return n >= 5 ? n : -2
    }
    case T.Binary: {
      if (v + 4 > w.length) return -1
      const n = w.readInt32LE(v)
      return n >= 0 ? 5 + n : -2
    }
    case T.DbPointer: {
      if (v + 4 > w.length) return -1
      const n = w.readInt32LE(v)
      return n >= 1 ? 4 + n + 12 : -2
    }
    case T.CodeWithScope: {
      if (v + 4 > w.length) return -1
      const n = w.readInt32LE(v)
      return n >= 14 ? n : -2
    }
    case T.Regex: {
      // pattern cstring, options cstring
      const a = w.indexOf(0, v)
      if (a < 0) return -1
      const b = w.indexOf(0, a + 1)
      return b < 0 ? -1 : b + 1 - v
    }
    default:
      return -2
  }
}

/** a numeric value (ok, code), undefined for other types */
function numberAt(t: number, w: Buffer, v: number): number | undefined {
  switch (t) {
    case T.Double:
      return w.readDoubleLE(v)
    case T.Int32:
      return w.readInt32LE(v)
    case T.Int64:
      return w.readInt32LE(v + 4) * 4294967296 + w.readUInt32LE(v)
    case T.Boolean:
      return w[v] === 0 ? 0 : 1
    default:
      return undefined
  }
}

/** bytes of the value needed to read what is kept of it; 0 when nothing is read */
function wanted(name: string, t: number, size: number, first: boolean): number {
  if (first && t === T.String) return Math.min(size, 4 + MAX_STRING_BYTES)
  switch (name) {
    case 'ok':
    case 'code':
      return t === T.String ? 0 : size
    case '$db':
    case 'collection':
      return t === T.String ? Math.min(size, 4 + MAX_STRING_BYTES) : 0
    case '$err':
    case 'err':
      return t === T.String ? 4 : 0
    case 'writeErrors':
    case 'writeConcernError':
      return Math.min(size, NESTED_BYTES)
    default:
      return 0
  }
}

/**
 * Walks the top-level elements of a document. The window `w` holds the message bytes at absolute
 * offsets [base, base + w.length); `at` is the absolute offset of the next element, `docEnd` that of the
 * document's terminating NUL. Returns the absolute offset of the first element that could not be read
 * in this window (the caller looks again with a window starting there), `docEnd` when the document is
 * done, or GIVE_UP. An element that starts the window is read as far as the window allows, so a caller
 * that moves its window to the returned offset always makes progress.
 */
export function walkElements(w: Buffer, base: number, at: number, docEnd: number, info: DocInfo): number {
  while (at < docEnd) {
    const p = at - base
    if (p >= w.length) return at
    const t = w[p]
    if (t === 0) return docEnd // an early terminator: nothing more to read
    const nameEnd = w.indexOf(0, p + 1)
    if (nameEnd < 0 || nameEnd - p - 1 > MAX_NAME_BYTES) {
      if (nameEnd < 0 && w.length - p - 1 <= MAX_NAME_BYTES && at > base) return at
      return GIVE_UP
    }
    const v = nameEnd + 1
    const size = valueSize(t, w, v)
    if (size === -2) return GIVE_UP
    if (size === -1) return at > base ? at : GIVE_UP
    if (base + v + size > docEnd) return GIVE_UP
    const first = info.elements === 0
    const nameLen = nameEnd - p - 1
    // only short names are compared; the first element's name is always kept
    const name = first || nameLen <= 17 ? w.toString('latin1', p + 1, nameEnd) : ''
    const need = wanted(name, t, size, first)
    if (need > 0 && v + need > w.length && at > base) return at
    const have = Math.min(need, w.length - v)
    if (first) {
      info.first = w.toString('utf8', p + 1, nameEnd)
      if (t === T.String && have >= 4) info.firstStr = str(w, v, have)
      // legacy drivers talking to mongos wrap a command: {$query: {count: "c", ...}, $readPreference: ...}
      else if (t === T.Document && name === '$query') unwrap(w, v, Math.min(v + size, w.length), info)
    }
    if (have === need && need > 0) {
      switch (name) {
        case 'ok':
          info.ok = numberAt(t, w, v)
          break
        case 'code':
          info.code = numberAt(t, w, v)
          break
        case '$db':
          info.db = str(w, v, have)
          break
        case 'collection':
          info.collection = str(w, v, have)
          break
        case '$err':
        case 'err':
          info.errText = true
          break
      }
    }
    if (name === 'writeErrors' && t === T.Array) {
      // absent when there were none; an empty array is no error
      const c = firstEntryCode(w, v, Math.min(v + size, w.length))
      if (c !== 'empty') info.writeErrors = c
    } else if (name === 'writeConcernError' && t === T.Document) {
      info.writeConcernError = codeIn(w, v, Math.min(v + size, w.length))
    }
    info.elements++
    at = base + v + size
  }
  return docEnd
}

/** a BSON string value at w[v] (int32 length, bytes, NUL), read from at most `have` bytes */
function str(w: Buffer, v: number, have: number): string {
  const n = w.readInt32LE(v) - 1
  return w.toString('utf8', v + 4, v + 4 + Math.max(0, Math.min(n, have - 4, MAX_STRING_BYTES)))
}

/** the numeric `code` among the top-level elements of the document at w[d], read up to `lim` */
function codeIn(w: Buffer, d: number, lim: number): number | null {
  let p = d + 4
  while (p < lim) {
    const t = w[p]
    if (t === 0) return null
    const nameEnd = w.indexOf(0, p + 1)
    if (nameEnd < 0 || nameEnd >= lim) return null
    const v = nameEnd + 1
    const size = valueSize(t, w, v)
    if (size < 0) return null
    if (nameEnd - p - 1 === 4 && w.toString('latin1', p + 1, nameEnd) === 'code') {
      if (v + size > lim) return null
      return numberAt(t, w, v) ?? null
    }
    p = v + size
  }
  return null
}

/** the code of the first entry of the array at w[a] (its first element, a document) */
function firstEntryCode(w: Buffer, a: number, lim: number): number | null | 'empty' {
  if (a + 5 > lim) return null
  const t = w[a + 4]
  if (t === 0) return 'empty'
  if (t !== T.Document) return null
  const nameEnd = w.indexOf(0, a + 5)
  if (nameEnd < 0 || nameEnd + 5 > lim) return null
  return codeIn(w, nameEnd + 1, lim)
}

/** the first element of the document at w[d] (read up to `lim`) becomes the command */
function unwrap(w: Buffer, d: number, lim: number, info: DocInfo): void {
  const p = d + 4
  if (p >= lim || w[p] === 0) return
  const t = w[p]
  const nameEnd = w.indexOf(0, p + 1)
  if (nameEnd < 0 || nameEnd >= lim || nameEnd - p - 1 > MAX_NAME_BYTES) return
  info.first = w.toString('utf8', p + 1, nameEnd)
  const v = nameEnd + 1
  if (t === T.String && v + 4 <= lim) info.firstStr = str(w, v, lim - v)
}
