// --veth-match patterns: globs, lists of globs, /regex/; bad patterns are usage errors naming the
// pattern. The capture side (real veths, one added later) is test/integration/capture-veth-match.test.ts.

import { describe, expect, it } from 'vitest'
import { UsageError } from '../errors.js'
import { vethMatcher } from './veth-match.js'

const names = ['cali1a2b3c4d5e6', 'lxc0123abcd', 'lxc_health', 'veth9f8e7d6', 'vethwe-bridge', 'gke3b2a1c0d', 'eth0', 'cni0', 'docker0', 'pk1a2b3ch']
const matching = (p: string) => names.filter(vethMatcher(p))

describe('vethMatcher', () => {
  it('matches whole names against a glob', () => {
    expect(matching('cali*')).toEqual(['cali1a2b3c4d5e6'])
    expect(matching('lxc*')).toEqual(['lxc0123abcd', 'lxc_health'])
    expect(matching('pk??????h')).toEqual(['pk1a2b3ch'])
    expect(matching('pk?????h')).toEqual([]) // one ? short: whole-name match
    expect(matching('eth0')).toEqual(['eth0'])
    expect(matching('eth')).toEqual([])
    expect(matching('*0')).toEqual(['eth0', 'cni0', 'docker0'])
  })

  it('takes character sets, negated sets and ranges, and regex characters literally', () => {
    expect(matching('lxc[0-9]*')).toEqual(['lxc0123abcd'])
    expect(matching('lxc[!0-9]*')).toEqual(['lxc_health'])
    expect(matching('veth[a-f0-9]*')).toEqual(['veth9f8e7d6'])
    expect(vethMatcher('a.b')('a.b')).toBe(true)
    expect(vethMatcher('a.b')('axb')).toBe(false) // '.' is a dot, not any character
    expect(vethMatcher('x+(y)')('x+(y)')).toBe(true)
    expect(vethMatcher('[]a]x')(']x')).toBe(true) // ']' first in a set is a member
  })

  it('takes a comma-separated list: any glob matches', () => {
    expect(matching('cali*, lxc*,gke*')).toEqual(['cali1a2b3c4d5e6', 'lxc0123abcd', 'lxc_health', 'gke3b2a1c0d'])
  })

  it('takes a /regex/, searched in the name', () => {
    expect(matching('/^(cali|lxc)[0-9a-f]/')).toEqual(['cali1a2b3c4d5e6', 'lxc0123abcd'])
    expect(matching('/we-/')).toEqual(['vethwe-bridge'])
  })

  it('rejects a pattern that cannot be compiled or cannot match a name, naming it', () => {
    const err = (p: string): string => {
      try {
        vethMatcher(p)
      } catch (e) {
        expect(e).toBeInstanceOf(UsageError)
        expect((e as UsageError).exitCode).toBe(2)
        return (e as Error).message
      }
      throw new Error(`${p} was accepted`)
    }
    expect(err('/(cali/')).toMatch(/^--veth-match \/\(cali\/: not a valid regular expression: .*/)
    expect(err('')).toMatch(/the pattern is empty/)
    expect(err('cali*,')).toMatch(/^--veth-match cali\*,: an empty glob between commas/)
    expect(err('cali[0-9')).toMatch(/'\[' at 5 has no closing '\]'/)
    expect(err('cali]')).toMatch(/'\]' at 5 closes no '\['/)
    expect(err('veth[z-a]*')).toMatch(/^--veth-match veth\[z-a\]\*: .*range/i)
    expect(err('cali *')).toMatch(/whitespace cannot be in an interface name/)
    expect(err('net/cali*')).toMatch(/'\/' cannot be in an interface name/)
    expect(err('eth0:1')).toMatch(/':' cannot be in an interface name/)
  })
})
