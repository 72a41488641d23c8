// respEnd: where one RESP2 reply ends, for the demo's Redis client (which must know when a reply is
// complete before it sends the next command).

import { describe, expect, it } from 'vitest'
import { respEnd } from './clients.js'

const b = (s: string) => Buffer.from(s, 'latin1')

describe('respEnd', () => {
  const replies = [
    '+OK\r\n',
    '-WRONGTYPE Operation against a key holding the wrong kind of value\r\n',
    ':42\r\n',
    '$5\r\nhello\r\n',
    '$-1\r\n',
    '$0\r\n\r\n',
    '*-1\r\n',
    '*0\r\n',
    '*3\r\n$1\r\na\r\n:7\r\n*2\r\n+x\r\n$2\r\n\r\n\r\n', // nested, and a bulk string holding CRLF
  ]

  it('finds the end of each reply type, also with the next reply behind it', () => {
    for (const r of replies) {
      expect(respEnd(b(r), 0), r).toBe(r.length)
      expect(respEnd(b(r + '+NEXT\r\n'), 0), r).toBe(r.length)
      expect(respEnd(b('+PREV\r\n' + r), 7), r).toBe(7 + r.length)
    }
  })

  it('needs more bytes at every cut short of the end', () => {
    for (const r of replies) {
      for (let i = 0; i < r.length; i++) expect(respEnd(b(r.slice(0, i)), 0), `${JSON.stringify(r)} cut at ${i}`).toBe(-1)
    }
  })

  it('throws on bytes that are no RESP2 reply', () => {
    expect(() => respEnd(b('HTTP/1.1 200 OK\r\n'), 0)).toThrow(/bad RESP type/)
    expect(() => respEnd(b('$x\r\n'), 0)).toThrow(/bad RESP length/)
    expect(() => respEnd(b('*-2\r\n'), 0)).toThrow(/bad RESP length/)
  })
})
