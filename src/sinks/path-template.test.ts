import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { CappedValues, endpointLabel, statusClass, statusLabel, templatePath } from './path-template.js'

describe('templatePath', () => {
  it.each([
    ['/users/123', '/users/{id}'],
    ['/users/123/orders/456', '/users/{id}/orders/{id}'],
    ['/users/123?x=1#f', '/users/{id}'],
    ['/o/550e8400-e29b-41d4-a716-446655440000', '/o/{uuid}'],
    ['/commits/9fceb02d0ae598e95dc970b74767f19372d61af8', '/commits/{hex}'],
    ['/objects/5f1d7a3e9b1c2d3e4f5a6b7c/raw', '/objects/{hex}/raw'],
    ['/t/aZ3kq9Lm2Xp8Rt7Vw1Yb', '/t/{token}'],
    ['/img/1234.png', '/img/{id}.png'],
    ['/css/960.css', '/css/{id}.css'],
    ['/users/alice', '/users/alice'],
    ['/static/style.css', '/static/style.css'],
    ['/deadbeef', '/deadbeef'], // all letters: a word, not an id
    ['/', '/'],
    ['*', '*'],
    ['example.com:443', '{other}'],
    ['/a/b/c/d/e/f/g/h/i/j', '/a/b/c/d/e/f/g/h/{...}'],
  ])('%s -> %s', (p, want) => {
    expect(templatePath(p)).toBe(want)
  })

  it('keeps every template short and never returns a segment of digits', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.nat().map(String), fc.uuid(), fc.string({ maxLength: 80 })), { maxLength: 30 }), (segs) => {
        const t = templatePath('/' + segs.join('/'))
        expect(t.length).toBeLessThanOrEqual(128)
        expect(t.split('/').some((s) => /^\d+$/.test(s))).toBe(false)
      }),
    )
  })
})

describe('status labels', () => {
  it('classes HTTP codes by hundreds and other protocols by their error flag', () => {
    expect(statusClass('http', 200, false)).toBe('2xx')
    expect(statusClass('http', 503, true)).toBe('5xx')
    expect(statusClass('http2', 404, false)).toBe('4xx')
    expect(statusClass('http', null, true)).toBe('none')
    expect(statusClass('grpc', 0, false)).toBe('ok')
    expect(statusClass('grpc', 14, true)).toBe('error')
    expect(statusClass('redis', 'WRONGTYPE', true)).toBe('error')
    expect(statusClass('mysql', 'OK', false)).toBe('ok')
  })
  it('cuts long status text and names a missing status', () => {
    expect(statusLabel(null)).toBe('none')
    expect(statusLabel(404)).toBe('404')
    expect(statusLabel('x'.repeat(100)).length).toBe(32)
  })
  it('brackets IPv6 endpoints', () => {
    expect(endpointLabel('10.0.0.1', 80)).toBe('10.0.0.1:80')
    expect(endpointLabel('2001:db8::1', 443)).toBe('[2001:db8::1]:443')
  })
})

describe('CappedValues', () => {
  it('allows maxPerOwner values per owner, then folds new ones into other; known ones stay', () => {
    const c = new CappedValues(3)
    expect(['A', 'B', 'C', 'D', 'A', 'E'].map((v) => c.value('s1', v))).toEqual(['A', 'B', 'C', 'other', 'A', 'other'])
    expect(c.value('s2', 'D')).toBe('D') // per owner
    expect(c.overflow).toBe(2)
  })
  it('caps owners: past maxOwners new owners share the other owner and its values', () => {
    const c = new CappedValues(2, 2)
    expect(['a', 'b', 'c', 'd', 'a'].map((o) => c.owner(o))).toEqual(['a', 'b', 'other', 'other', 'a'])
    expect(c.ownerOverflow).toBe(2)
    expect(c.value('other', 'X')).toBe('X')
    expect(c.value('other', 'Y')).toBe('Y')
    expect(c.value('other', 'Z')).toBe('other')
    expect(c.value('zzz', 'X')).toBe('X') // an unknown owner maps to other as well
  })
})
