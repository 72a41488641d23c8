// HTTP/1.x detection: is this the start of a request line (c2s) or a status line (s2c)?
//
// request-line = method SP request-target SP HTTP-version CRLF      (RFC 9112 §3)
// status-line  = HTTP-version SP status-code SP [ reason-phrase ] CRLF (RFC 9112 §4)
// HTTP-version = "HTTP/" DIGIT "." DIGIT                               (RFC 9112 §2.3)
//
// Detection is stricter than parsing: the parser takes any RFC 9110 token as a method, detection only
// letters, '_' and '-' (GET, PROPFIND, VERSION-CONTROL, CCM_POST), and only the target forms clients
// really send: origin-form '/...', asterisk-form '*', absolute-form 'http(s)://...', and authority-form
// after CONNECT. That keeps Redis inline commands ("SET k v"), SQL text and binary protocols out.
// The same checks find a message start again after a gap (the parser's resync).

import type { Dir } from '../../tcp/types.js'

export const SP = 0x20
export const HT = 0x09
export const CR = 0x0d
export const LF = 0x0a

/** how far a check got before it ran out of bytes or failed */
export const Look = {
  /** not the start of a message */
  NO: 0,
  /** request only: method characters up to the end of the bytes, no SP yet */
  TOKEN: 1,
  /** valid so far, the bytes end before the check could finish */
  PREFIX: 2,
  /** a whole request line (terminator seen) or a whole "HTTP/1.x NNN" status start */
  YES: 3,
} as const
export type LookResult = (typeof Look)[keyof typeof Look]

/** longest method detection and the parser accept; WebDAV's longest is 17 (UPDATEREDIRECTREF) */
export const MAX_METHOD_BYTES = 32

/** tchar (RFC 9110 §5.6.2): "!#$%&'*+-.^_`|~" DIGIT ALPHA */
export const TCHAR = new Uint8Array(256)
for (const c of "!#$%&'*+-.^_`|~") TCHAR[c.charCodeAt(0)] = 1
for (let c = 0x30; c <= 0x39; c++) TCHAR[c] = 1
for (let c = 0x41; c <= 0x5a; c++) TCHAR[c] = TCHAR[c + 32] = 1

/** detection's method characters: letters, '_', '-' */
export const METHOD_CHAR = new Uint8Array(256)
for (let c = 0x41; c <= 0x5a; c++) METHOD_CHAR[c] = METHOD_CHAR[c + 32] = 1
METHOD_CHAR[0x5f] = METHOD_CHAR[0x2d] = 1

/** request-target bytes: visible ASCII, and bytes >= 0x80 (raw UTF-8 paths are common in the wild) */
export const TARGET_CHAR = new Uint8Array(256)
for (let c = 0x21; c <= 0x7e; c++) TARGET_CHAR[c] = 1
for (let c = 0x80; c <= 0xff; c++) TARGET_CHAR[c] = 1

const HTTP1 = Buffer.from('HTTP/1.', 'latin1')
const CONNECT = Buffer.from('CONNECT', 'latin1')

/**
 * Checks buf[start..end) as the start of a request line, strictly (see the file comment).
 * `upperOnly`: the method must be upper case (resync inside a line, where "abcPOST" would fool it).
 * `complete`: buf[start..end) is one whole line without its terminator (YES right after the version).
 */
export function lookRequestLine(buf: Buffer, start: number, end: number, upperOnly = false, complete = false): LookResult {
  let i = start
  while (i < end && METHOD_CHAR[buf[i]] === 1) {
    if (upperOnly && (buf[i] < 0x41 || buf[i] > 0x5a) && buf[i] !== 0x5f && buf[i] !== 0x2d) return Look.NO
    i++
  }
  const mlen = i - start
  if (mlen > MAX_METHOD_BYTES) return Look.NO
  if (i === end) return complete || mlen === 0 ? Look.NO : Look.TOKEN
  if (mlen === 0 || buf[i] !== SP) return Look.NO
  i++
  if (i === end) return complete ? Look.NO : Look.PREFIX
  // request-target: which forms are accepted is decided by its first bytes
  const c = buf[i]
  if (c !== 0x2f && c !== 0x2a) {
    // not '/...' nor '*': authority-form after CONNECT, else absolute-form http:// or https://
    const isConnect = mlen === 7 && buf.compare(CONNECT, 0, 7, start, start + 7) === 0
    if (!isConnect) {
      const r = lookScheme(buf, i, end)
      if (r !== Look.YES) return r === Look.PREFIX && !complete ? Look.PREFIX : Look.NO
    }
  }
  while (i < end && TARGET_CHAR[buf[i]] === 1) i++
  if (i === end) return complete ? Look.NO : Look.PREFIX
  if (buf[i] !== SP) return Look.NO
  i++
  // HTTP-version: "HTTP/1." DIGIT
  for (let k = 0; k < 7; k++, i++) {
    if (i === end) return complete ? Look.NO : Look.PREFIX
    if (buf[i] !== HTTP1[k]) return Look.NO
  }
  if (i === end) return complete ? Look.NO : Look.PREFIX
  if (buf[i] < 0x30 || buf[i] > 0x39) return Look.NO
  i++
  if (i === end) return complete ? Look.YES : Look.PREFIX
  if (complete) return Look.NO
  // CRLF, or a bare LF (RFC 9112 §2.2 lets a recipient accept it)
  if (buf[i] === LF) return Look.YES
  if (buf[i] !== CR) return Look.NO
  i++
  if (i === end) return Look.PREFIX
  return buf[i] === LF ? Look.YES : Look.NO
}

/** "http://" or "https://", any case, at buf[i]; PREFIX when the bytes end inside it */
function lookScheme(buf: Buffer, i: number, end: number): LookResult {
  const want = 'http'
  for (let k = 0; k < 4; k++, i++) {
    if (i === end) return Look.PREFIX
    if ((buf[i] | 0x20) !== want.charCodeAt(k)) return Look.NO
  }
  if (i === end) return Look.PREFIX
  if ((buf[i] | 0x20) === 0x73) i++ // 's'
  for (let k = 0; k < 3; k++, i++) {
    if (i === end) return Look.PREFIX
    if (buf[i] !== (k === 0 ? 0x3a : 0x2f)) return Look.NO
  }
  return Look.YES
}

/** Checks buf[start..end) as the start of a status line: "HTTP/1." DIGIT SP 3DIGIT. */
export function lookStatusLine(buf: Buffer, start: number, end: number): LookResult {
  // every status line the parser reads comes this way: the 12 bytes compared one by one to constants
  if (end - start >= 12 && isStatusStart(buf, start)) return Look.YES
  let i = start
  for (let k = 0; k < 7; k++, i++) {
    if (i === end) return Look.PREFIX
    if (buf[i] !== HTTP1[k]) return Look.NO
  }
  if (i === end) return Look.PREFIX
  if (buf[i] < 0x30 || buf[i] > 0x39) return Look.NO
  if (++i === end) return Look.PREFIX
  if (buf[i] !== SP) return Look.NO
  for (let k = 0; k < 3; k++) {
    if (++i === end) return Look.PREFIX
    if (buf[i] < 0x30 || buf[i] > 0x39) return Look.NO
  }
  return Look.YES
}

/**
 * ProtocolParser.detect for HTTP/1.x. A short head is accepted only when what is there is a valid
 * prefix of at least 4 bytes ("GET ", "HTTP"); a request head must at least hold its method and SP.
 */
export function detectHttp1(head: Buffer, dir: Dir): boolean {
  if (head.length < 4) return false
  const r = dir === 'c2s' ? lookRequestLine(head, 0, head.length) : lookStatusLine(head, 0, head.length)
  return r === Look.YES || r === Look.PREFIX
}

const isDigit = (c: number) => c >= 0x30 && c <= 0x39

/** "HTTP/1." DIGIT SP 3DIGIT at buf[i..i+12), which the caller knows to be there */
function isStatusStart(buf: Buffer, i: number): boolean {
  return (
    buf[i] === 0x48 && buf[i + 1] === 0x54 && buf[i + 2] === 0x54 && buf[i + 3] === 0x50 && buf[i + 4] === 0x2f &&
    buf[i + 5] === 0x31 && buf[i + 6] === 0x2e && isDigit(buf[i + 7]) && buf[i + 8] === SP &&
    isDigit(buf[i + 9]) && isDigit(buf[i + 10]) && isDigit(buf[i + 11])
  )
}
