import { describe, expect, it } from 'vitest'
import { normalizeSql } from './sql.js'

const norm = (sql: string, max = 512) => normalizeSql(sql, max)

describe('normalizeSql', () => {
  it.each([
    ["SELECT * FROM t WHERE id = 5 AND name = 'bob''s'", 'SELECT', 'SELECT * FROM t WHERE id = ? AND name = ?'],
    ['select  a,b\n\tfrom   t', 'SELECT', 'select a, b from t'],
    ["INSERT INTO t (a, b) VALUES (1, 'x'), (2, 'y'), (3, 'z')", 'INSERT', 'INSERT INTO t (a, b) VALUES (...), ...'],
    ['SELECT * FROM t WHERE id IN (1, 2, 3) AND k IN (7)', 'SELECT', 'SELECT * FROM t WHERE id IN (...) AND k IN (?)'],
    ['SELECT COUNT(1), SUBSTR(name, 1, 2) FROM t', 'SELECT', 'SELECT COUNT(?), SUBSTR(name, ?, ?) FROM t'],
    ['UPDATE t SET a = -1.5e-3, b = 0x1F, c = X\'0A\', d = _utf8mb4\'é\', e = .5 WHERE f = "dq"', 'UPDATE', 'UPDATE t SET a = -?, b = ?, c = ?, d = ?, e = ? WHERE f = ?'],
    ['DELETE FROM `order items` WHERE `id` = 10', 'DELETE', 'DELETE FROM `order items` WHERE `id` = ?'],
    ["SELECT 'it\\'s', 'a\\\\' FROM t", 'SELECT', 'SELECT ?, ? FROM t'],
    ['SELECT t1.c2 FROM t1 JOIN t2 ON t1.id = t2.id', 'SELECT', 'SELECT t1.c2 FROM t1 JOIN t2 ON t1.id = t2.id'],
    ['/* app:checkout */ SELECT 1 -- trailing\n', 'SELECT', 'SELECT ?'],
    ['# comment\nSHOW TABLES', 'SHOW', 'SHOW TABLES'],
    ['/*!40101 SET NAMES utf8mb4 */', 'SET', 'SET NAMES utf8mb4'],
    ['/*M!100100 SET @a = 1 */', 'SET', 'SET @a = ?'],
    ['(SELECT a FROM t) UNION (SELECT b FROM u)', 'SELECT', '(SELECT a FROM t) UNION (SELECT b FROM u)'],
    ['WITH c AS (SELECT 1 AS n) SELECT * FROM c', 'SELECT', 'WITH c AS (SELECT ? AS n) SELECT * FROM c'],
    ['WITH c AS (SELECT 1) DELETE FROM t WHERE id IN (SELECT * FROM c)', 'DELETE', 'WITH c AS (SELECT ?) DELETE FROM t WHERE id IN (SELECT * FROM c)'],
    ['begin', 'BEGIN', 'begin'],
    ['SELECT a >= 1, b<>2, c != 3, d := 4', 'SELECT', 'SELECT a >= ?, b<>?, c != ?, d := ?'],
    ['SELECT a FROM t WHERE b = ? AND c = ?', 'SELECT', 'SELECT a FROM t WHERE b = ? AND c = ?'],
    ['SELECT * FROM t WHERE (a, b) IN ((1, 2), (3, 4))', 'SELECT', 'SELECT * FROM t WHERE (a, b) IN (...)'],
    ['CALL add_user(1, \'x\')', 'CALL', 'CALL add_user(?, ?)'],
    ['foo bar', 'unknown', 'foo bar'],
    ['', 'unknown', ''],
    ['   ', 'unknown', ''],
    ['SELECT 1; SELECT 2', 'SELECT', 'SELECT ?; SELECT ?'],
    ['select 1 -1', 'SELECT', 'select ? -?'],
    ['SELECT a--1\nFROM t', 'SELECT', 'SELECT a--?\nFROM t'.replace('\n', ' ')],
  ])('%s', (sql, verb, text) => {
    expect(norm(sql)).toEqual({ verb, text })
  })

  it('cuts the text at maxChars and marks the cut with …', () => {
    const r = norm('SELECT ' + Array.from({ length: 50 }, (_, i) => 'column_' + i).join(', ') + ' FROM t', 30)
    expect(r.text).toBe('SELECT column_0, column_1, co…')
    expect(r.text.length).toBe(30)
  })

  it('marks text that was only the head of a longer statement', () => {
    expect(normalizeSql('SELECT a FROM t WHERE x = 1', 512, true).text).toBe('SELECT a FROM t WHERE x = ?…')
    expect(normalizeSql('SELECT abc', 10, true).text).toBe('SELECT ab…')
  })

  it('unterminated strings and comments do not run away', () => {
    expect(norm("SELECT 'never closed")).toEqual({ verb: 'SELECT', text: 'SELECT ?' })
    expect(norm('SELECT 1 /* never closed')).toEqual({ verb: 'SELECT', text: 'SELECT ?' })
    expect(norm('SELECT `never closed')).toEqual({ verb: 'SELECT', text: 'SELECT `never closed' })
  })

  it('work is bounded by the output size: a huge statement is cut, not scanned to its end', () => {
    const big = 'INSERT INTO t VALUES ' + Array.from({ length: 200_000 }, (_, i) => `(${i}, 'v${i}', NOW())`).join(', ')
    const t0 = performance.now()
    const r = normalizeSql(big, 100)
    expect(performance.now() - t0).toBeLessThan(200)
    expect(r.verb).toBe('INSERT')
    expect(r.text.endsWith('…')).toBe(true)
    expect(r.text.length).toBeLessThanOrEqual(100)
  })

  it('method stays a bounded set: odd first words give unknown', () => {
    for (const w of ['SELECTX', 'xyz', '123', '@@', 'sel_ect', 'ÉTAT']) expect(norm(w + ' 1').verb).toBe('unknown')
  })
})
