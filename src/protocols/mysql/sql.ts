// SQL text → `method` (the statement's verb) and `resource` (the statement normalized): literals become
// `?`, comments go, whitespace collapses, lists of literals become `(...)` the way MySQL's statement
// digests show them (performance_schema events_statements_summary_by_digest.DIGEST_TEXT), and the
// result is cut to limits.maxTextBytes with '…'. Identifiers and keywords keep their spelling.
//
// One pass over the text, no regular expressions, no allocation per character: this runs for every
// COM_QUERY and COM_STMT_PREPARE.

import { truncateText } from '../text.js'

/**
 * Statement verbs podtap reports as `method` (upper case). Anything else is 'unknown' so that `method`
 * stays bounded; detection (detect.ts) accepts a COM_QUERY whose text starts with one of them.
 */
export const SQL_VERBS: readonly string[] = [
  'SELECT', 'INSERT', 'UPDATE', 'DELETE', 'REPLACE', 'CALL', 'DO', 'HANDLER', 'LOAD', 'TABLE', 'VALUES',
  'WITH', 'SET', 'SHOW', 'USE', 'DESCRIBE', 'DESC', 'EXPLAIN', 'HELP', 'BEGIN', 'START', 'COMMIT',
  'ROLLBACK', 'SAVEPOINT', 'RELEASE', 'LOCK', 'UNLOCK', 'XA', 'CREATE', 'ALTER', 'DROP', 'RENAME',
  'TRUNCATE', 'GRANT', 'REVOKE', 'ANALYZE', 'CHECK', 'CHECKSUM', 'OPTIMIZE', 'REPAIR', 'FLUSH', 'KILL',
  'RESET', 'PURGE', 'CHANGE', 'STOP', 'PREPARE', 'EXECUTE', 'DEALLOCATE', 'INSTALL', 'UNINSTALL',
  'SHUTDOWN', 'RESTART', 'CLONE', 'IMPORT', 'CACHE', 'BINLOG', 'SIGNAL', 'RESIGNAL', 'GET', 'DECLARE',
  'BACKUP',
]
const VERBS: ReadonlySet<string> = new Set(SQL_VERBS)

/** Words after which a parenthesized list of literals is data, not function arguments. */
const LIST_WORDS: ReadonlySet<string> = new Set(['IN', 'VALUES', 'VALUE', 'ROW'])

/** After WITH ... the statement's own verb, at parenthesis depth 0. */
const WITH_TARGETS: ReadonlySet<string> = new Set(['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'REPLACE', 'TABLE', 'VALUES'])

export interface Sql {
  /** SELECT, INSERT, ... or 'unknown' */
  verb: string
  /** normalized text, at most maxChars UTF-16 units, '…' marking a cut */
  text: string
}

const enum Ch {
  Tab = 9,
  Lf = 10,
  Cr = 13,
  Space = 32,
  Bang = 33, // !
  DQuote = 34, // "
  Hash = 35, // #
  Dollar = 36, // $
  Quote = 39, // '
  LParen = 40,
  RParen = 41,
  Star = 42,
  Plus = 43,
  Comma = 44,
  Minus = 45,
  Dot = 46,
  Slash = 47,
  D0 = 48,
  D9 = 57,
  Question = 63,
  UA = 65,
  UZ = 90,
  Backslash = 92,
  Underscore = 95,
  Backtick = 96,
  LA = 97,
  LZ = 122,
}

function isWordStart(c: number): boolean {
  return (c >= Ch.LA && c <= Ch.LZ) || (c >= Ch.UA && c <= Ch.UZ) || c === Ch.Underscore || c === Ch.Dollar || c >= 0x80
}

function isWordChar(c: number): boolean {
  return isWordStart(c) || (c >= Ch.D0 && c <= Ch.D9)
}

function isDigit(c: number): boolean {
  return c >= Ch.D0 && c <= Ch.D9
}

function isSpace(c: number): boolean {
  return c === Ch.Space || c === Ch.Tab || c === Ch.Lf || c === Ch.Cr || c === 0x0b || c === 0x0c
}

/** end of the quoted run that starts at s[i] (the quote), backslash escapes and doubled quotes included */
function skipQuoted(s: string, i: number, q: number): number {
  const n = s.length
  i++
  while (i < n) {
    const c = s.charCodeAt(i)
    if (c === Ch.Backslash) i += 2
    else if (c === q) {
      if (i + 1 < n && s.charCodeAt(i + 1) === q) i += 2
      else return i + 1
    } else i++
  }
  return n
}

/** Paren group being written: where it starts in the output and whether it holds only literals. */
interface Group {
  at: number
  literalsOnly: boolean
  items: number
}

/**
 * Normalizes `sql`. `cut` says the text handed in is only the head of a longer statement (the rest was
 * not kept): the result then ends with '…' as well.
 */
export function normalizeSql(sql: string, maxChars: number, cut = false): Sql {
  const n = sql.length
  // Work on at most a few times the output size: lists of literals shrink a lot, but a statement that
  // still has more than 4x maxChars of output is cut anyway.
  const budget = Math.max(64, maxChars * 4)
  let out = ''
  let space = false // whitespace or a comment was seen since the last token
  let verb = ''
  let withVerb = ''
  let depth = 0
  let inExecComment = false // inside /*! ... */ whose content is SQL
  const groups: Group[] = []
  let lastCollapsedEnd = -1 // output length right after the last "(...)"
  let elided = false // a collapsed group right after a collapsed group was dropped ("(...), ...")
  let i = 0

  // emit one token; `literal` marks a '?' that came from a literal
  const emit = (tok: string, literal: boolean): void => {
    const c = tok.charCodeAt(0)
    const g = groups.length ? groups[groups.length - 1] : undefined
    if (g !== undefined && c !== Ch.RParen) {
      if (c === Ch.Comma || c === Ch.LParen) {
        // separators and nested rows keep a literal list a literal list (a nested group that does not
        // collapse clears it when it closes)
      } else if (literal) g.items++
      else g.literalsOnly = false
    }
    const last = out.length ? out.charCodeAt(out.length - 1) : 0
    if (out.length && c !== Ch.Comma && c !== Ch.RParen && last !== Ch.LParen && (space || last === Ch.Comma)) out += ' '
    out += tok
    space = false
  }

  while (i < n && out.length < budget) {
    const c = sql.charCodeAt(i)
    if (isSpace(c)) {
      space = true
      i++
      continue
    }
    // comments: /* */, /*! */ and /*M! */ (content is SQL), -- to end of line, # to end of line
    if (c === Ch.Slash && sql.charCodeAt(i + 1) === Ch.Star) {
      const c2 = sql.charCodeAt(i + 2)
      if (c2 === Ch.Bang || (c2 === 0x4d && sql.charCodeAt(i + 3) === Ch.Bang)) {
        i += c2 === Ch.Bang ? 3 : 4
        while (i < n && isDigit(sql.charCodeAt(i))) i++ // version number
        inExecComment = true
      } else {
        const e = sql.indexOf('*/', i + 2)
        i = e < 0 ? n : e + 2
      }
      space = true
      continue
    }
    if (inExecComment && c === Ch.Star && sql.charCodeAt(i + 1) === Ch.Slash) {
      inExecComment = false
      space = true
      i += 2
      continue
    }
    if (c === Ch.Hash || (c === Ch.Minus && sql.charCodeAt(i + 1) === Ch.Minus && (i + 2 >= n || sql.charCodeAt(i + 2) <= Ch.Space))) {
      const e = sql.indexOf('\n', i)
      i = e < 0 ? n : e + 1
      space = true
      continue
    }
    // string literals
    if (c === Ch.Quote || c === Ch.DQuote) {
      i = skipQuoted(sql, i, c)
      emit('?', true)
      continue
    }
    if (c === Ch.Backtick) {
      const e = skipQuoted(sql, i, c)
      emit(sql.slice(i, e), false)
      i = e
      continue
    }
    // numbers: 12, 1.5, .5, 1e-3, 0x1F, 0b101
    if (isDigit(c) || (c === Ch.Dot && isDigit(sql.charCodeAt(i + 1)) && !isWordChar(out.charCodeAt(out.length - 1) || 0))) {
      i++
      while (i < n) {
        const d = sql.charCodeAt(i)
        if (isWordChar(d) || d === Ch.Dot) i++
        else if ((d === Ch.Plus || d === Ch.Minus) && (sql.charCodeAt(i - 1) | 0x20) === 0x65 && isDigit(c)) i++ // exponent sign
        else break
      }
      emit('?', true)
      continue
    }
    if (isWordStart(c)) {
      let e = i + 1
      while (e < n && isWordChar(sql.charCodeAt(e))) e++
      // X'..', B'..', N'..', _utf8mb4'..': one literal
      const q = sql.charCodeAt(e)
      if (q === Ch.Quote && (e - i === 1 ? 'xXbBnN'.includes(sql[i]) : c === Ch.Underscore)) {
        i = skipQuoted(sql, e, q)
        emit('?', true)
        continue
      }
      const word = sql.slice(i, e)
      if (verb === '') verb = word.toUpperCase()
      else if (verb === 'WITH' && withVerb === '' && depth === 0) {
        const w = word.toUpperCase()
        if (WITH_TARGETS.has(w)) withVerb = w
      }
      emit(word, false)
      i = e
      continue
    }
    if (c === Ch.LParen) {
      // a list of literals after IN / VALUES, or a row inside one, may collapse; a function call may not
      let collapsible = true
      const last = out.length ? out.charCodeAt(out.length - 1) : 0
      if (isWordChar(last) || last === Ch.Backtick) {
        let s0 = out.length - 1
        while (s0 > 0 && isWordChar(out.charCodeAt(s0 - 1))) s0--
        collapsible = LIST_WORDS.has(out.slice(s0).toUpperCase())
      }
      emit('(', false)
      groups.push({ at: out.length - 1, literalsOnly: collapsible, items: 0 })
      depth++
      i++
      continue
    }
    if (c === Ch.RParen) {
      const g = groups.pop()
      if (depth > 0) depth--
      if (g !== undefined && g.literalsOnly && g.items >= 2) {
        if (groups.length) groups[groups.length - 1].items++
        if (lastCollapsedEnd >= 0 && onlyComma(out, lastCollapsedEnd, g.at)) {
          // (...), (...), (...) → (...), ...
          out = out.slice(0, lastCollapsedEnd)
          if (!elided) out += ', ...'
          elided = true
        } else {
          out = out.slice(0, g.at) + '(...)'
          elided = false
        }
        lastCollapsedEnd = out.length
        space = false
        i++
        continue
      }
      if (g !== undefined && groups.length) groups[groups.length - 1].literalsOnly = false
      emit(')', false)
      i++
      continue
    }
    // placeholders and operators, one character at a time: ">=" stays ">=", "a = 1" stays "a = ?"
    emit(sql[i], c === Ch.Question)
    i++
  }

  let method = verb === 'WITH' ? withVerb || 'WITH' : verb
  if (!VERBS.has(method)) method = 'unknown'
  let text: string
  if (cut || i < n) text = out.length < maxChars ? out + '…' : out.slice(0, Math.max(0, maxChars - 1)) + '…'
  else text = truncateText(out, maxChars)
  return { verb: method, text }
}

/** out[from..to) is one comma, with or without spaces */
function onlyComma(out: string, from: number, to: number): boolean {
  let commas = 0
  for (let k = from; k < to; k++) {
    const c = out.charCodeAt(k)
    if (c === Ch.Comma) commas++
    else if (c !== Ch.Space) return false
  }
  return commas === 1
}
