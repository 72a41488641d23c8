// SQL text for labels: literals replaced by '?', comments dropped, whitespace collapsed, cut to
// limits.maxTextBytes with '…' (coroot l7/postgres.go does the same for its traces). The verb is the
// statement's command keyword, from a fixed list so the label stays bounded.
// Lexical rules: https://www.postgresql.org/docs/current/sql-syntax-lexical.html

import { truncateText } from '../text.js'

/** Command keywords (https://www.postgresql.org/docs/current/sql-commands.html), first word only. */
const VERBS: ReadonlySet<string> = new Set(
  (
    'ABORT ALTER ANALYZE BEGIN CALL CHECKPOINT CLOSE CLUSTER COMMENT COMMIT COPY CREATE DEALLOCATE DECLARE DELETE ' +
    'DISCARD DO DROP END EXECUTE EXPLAIN FETCH GRANT IMPORT INSERT LISTEN LOAD LOCK MERGE MOVE NOTIFY PREPARE ' +
    'REASSIGN REFRESH REINDEX RELEASE RESET REVOKE ROLLBACK SAVEPOINT SECURITY SELECT SET SHOW START TABLE ' +
    'TRUNCATE UNLISTEN UPDATE VACUUM VALUES WITH ' +
    // replication connections (https://www.postgresql.org/docs/current/protocol-replication.html)
    'BASE_BACKUP CREATE_REPLICATION_SLOT DROP_REPLICATION_SLOT IDENTIFY_SYSTEM READ_REPLICATION_SLOT ' +
    'START_REPLICATION TIMELINE_HISTORY'
  ).split(' '),
)

/** what a WITH query really does: its main statement follows the CTEs, at parenthesis depth 0 */
const MAIN_AFTER_WITH: ReadonlySet<string> = new Set(['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'MERGE', 'VALUES', 'TABLE'])

/** raw text scanned per statement: literals may be long, but what is kept is maxTextBytes */
export function scanWindow(maxTextBytes: number): number {
  return Math.max(256, maxTextBytes * 8)
}

function isIdent(c: number): boolean {
  return (
    (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c === 0x5f || c === 0x24 || c >= 0x80
  )
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d || c === 0x0c
}

/**
 * Normalized statement text, at most `maxChars` long (cut marked with '…'). Bounded work: at most
 * `scanWindow(maxChars)` characters of `sql` are looked at.
 */
export function normalizeSql(sql: string, maxChars: number): string {
  const n = Math.min(sql.length, scanWindow(maxChars))
  let out = ''
  let i = 0
  let space = false
  const emit = (s: string) => {
    if (space && out.length > 0) out += ' '
    space = false
    out += s
  }
  while (i < n && out.length <= maxChars) {
    const c = sql.charCodeAt(i)
    if (isSpace(c)) {
      space = true
      i++
      continue
    }
    // -- comment to end of line
    if (c === 0x2d && sql.charCodeAt(i + 1) === 0x2d) {
      while (i < n && sql.charCodeAt(i) !== 0x0a) i++
      space = true
      continue
    }
    // /* comment */, nested in PostgreSQL
    if (c === 0x2f && sql.charCodeAt(i + 1) === 0x2a) {
      let depth = 0
      while (i < n) {
        if (sql.charCodeAt(i) === 0x2f && sql.charCodeAt(i + 1) === 0x2a) {
          depth++
          i += 2
        } else if (sql.charCodeAt(i) === 0x2a && sql.charCodeAt(i + 1) === 0x2f) {
          depth--
          i += 2
          if (depth === 0) break
        } else i++
      }
      space = true
      continue
    }
    // 'string', E'escaped', B'bits', X'hex', N'national', U&'unicode'
    if (c === 0x27) {
      let escapes = false
      const prev = out.length > 0 && !space ? out.charCodeAt(out.length - 1) : 0
      const before = out.length > 1 ? out.charCodeAt(out.length - 2) : 0x20
      if (prev !== 0 && /[EeBbXxNn&]/.test(String.fromCharCode(prev)) && !isIdent(before)) {
        escapes = prev === 0x45 || prev === 0x65
        out = out.slice(0, -1)
        if (prev === 0x26 && /[Uu]$/.test(out)) out = out.slice(0, -1)
      }
      i++
      while (i < n) {
        const d = sql.charCodeAt(i)
        if (escapes && d === 0x5c) {
          i += 2
          continue
        }
        if (d === 0x27) {
          if (sql.charCodeAt(i + 1) === 0x27) {
            i += 2
            continue
          }
          i++
          break
        }
        i++
      }
      emit('?')
      continue
    }
    // $tag$ dollar-quoted $tag$ ; $1 parameters stay
    if (c === 0x24) {
      const prevIdent = out.length > 0 && !space && isIdent(out.charCodeAt(out.length - 1))
      if (!prevIdent) {
        if (isDigit(sql.charCodeAt(i + 1))) {
          let j = i + 1
          while (j < n && isDigit(sql.charCodeAt(j))) j++
          emit(sql.slice(i, j))
          i = j
          continue
        }
        let j = i + 1
        while (j < n && j - i < 64 && isIdent(sql.charCodeAt(j)) && sql.charCodeAt(j) !== 0x24) j++
        if (sql.charCodeAt(j) === 0x24) {
          const tag = sql.slice(i, j + 1)
          const end = sql.indexOf(tag, j + 1)
          i = end < 0 || end >= n ? n : end + tag.length
          emit('?')
          continue
        }
      }
    }
    // "quoted identifier"
    if (c === 0x22) {
      const end = sql.indexOf('"', i + 1)
      const j = end < 0 || end >= n ? n : end + 1
      emit(sql.slice(i, j))
      i = j
      continue
    }
    // numbers not part of an identifier: 42, 3.14, .5, 1e-3, 0x1F
    if (isDigit(c) || (c === 0x2e && isDigit(sql.charCodeAt(i + 1)))) {
      const prevIdent = out.length > 0 && !space && isIdent(out.charCodeAt(out.length - 1))
      if (!prevIdent) {
        let j = i
        if (c === 0x30 && /[xXoObB]/.test(sql.charAt(i + 1))) j += 2
        while (j < n) {
          const d = sql.charCodeAt(j)
          if (isIdent(d) || d === 0x2e) j++
          else if ((d === 0x2b || d === 0x2d) && /[eE]/.test(sql.charAt(j - 1))) j++
          else break
        }
        emit('?')
        i = j
        continue
      }
    }
    if (isIdent(c)) {
      let j = i + 1
      while (j < n && isIdent(sql.charCodeAt(j))) j++
      emit(sql.slice(i, j))
      i = j
      continue
    }
    emit(sql.charAt(i))
    i++
  }
  if (n < sql.length && out.length <= maxChars) out += '…'
  return truncateText(out, maxChars)
}

/** The statement's verb from its normalized text: 'SELECT', 'INSERT', ...; 'unknown' when not a command. */
export function sqlVerb(normalized: string): string {
  let i = 0
  while (i < normalized.length && (normalized[i] === '(' || normalized[i] === ' ')) i++
  const m = /^[A-Za-z_]+/.exec(normalized.slice(i, i + 32))
  if (m === null) return normalized.trim() === '' ? 'EMPTY' : 'unknown'
  const v = m[0].toUpperCase()
  if (!VERBS.has(v)) return 'unknown'
  if (v !== 'WITH') return v
  // WITH [RECURSIVE] name AS (...) [, ...] main statement: the first verb outside parentheses
  let depth = 0
  const re = /[()]|[A-Za-z]+/g
  re.lastIndex = i + 4
  for (let t = re.exec(normalized); t !== null; t = re.exec(normalized)) {
    if (t[0] === '(') depth++
    else if (t[0] === ')') depth--
    else if (depth === 0) {
      const w = t[0].toUpperCase()
      if (MAIN_AFTER_WITH.has(w)) return w
    }
  }
  return 'WITH'
}

/** The verb of a CommandComplete tag ('SELECT 5', 'INSERT 0 1', 'CREATE TABLE'), bounded like sqlVerb. */
export function tagVerb(tag: string): string | undefined {
  const m = /^[A-Z]+/.exec(tag)
  return m !== null && VERBS.has(m[0]) ? m[0] : undefined
}
