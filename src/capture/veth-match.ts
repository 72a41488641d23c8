// `--veth-match`: which veths `capture --all-veth` takes, by name. CNIs name the host side of a pod's
// veth by a prefix of their own (Calico cali*, Cilium lxc*, flannel/bridge/kindnet veth*, GKE gke*,
// AWS VPC CNI eni*, Weave vethwe*), so a name pattern keeps one CNI's pods and leaves out other
// containers' veths (a CI runner's, a second CNI's, test namespaces) and their load.
//
//   cali*                 a glob: * any run of characters, ? one, [abc] [a-z] [!a] one of / none of
//   cali*,lxc*            several globs, comma-separated: any of them
//   /^(cali|lxc)[0-9a-f]/ a regular expression between slashes (JavaScript syntax), searched in the name
//
// Globs match the whole name. A pattern that cannot be compiled, or that holds a character no
// interface name can have (whitespace, '/' outside a regex, ':'), is a usage error naming the
// pattern; a glob is never silently taken literally.

import { UsageError } from '../errors.js'

export type VethMatcher = (name: string) => boolean

// Linux dev_valid_name(): no '/', ':' or whitespace in an interface name
const NOT_IN_NAMES = /[\s/:]/

/** Compiles a --veth-match pattern; throws a UsageError saying what is wrong with it. */
export function vethMatcher(pattern: string): VethMatcher {
  const p = pattern.trim()
  if (p === '') throw new UsageError('--veth-match: the pattern is empty (e.g. cali*, lxc*,veth*, or /^cali/)')
  if (p.length >= 2 && p.startsWith('/') && p.endsWith('/')) {
    let re: RegExp
    try {
      re = new RegExp(p.slice(1, -1))
    } catch (e) {
      throw new UsageError(`--veth-match ${pattern}: not a valid regular expression: ${(e as Error).message}`)
    }
    return (name) => re.test(name)
  }
  const globs = p.split(',').map((g) => g.trim())
  const res = globs.map((g) => globToRegExp(g, pattern))
  return (name) => res.some((re) => re.test(name))
}

function globToRegExp(glob: string, pattern: string): RegExp {
  const bad = (why: string): UsageError => new UsageError(`--veth-match ${pattern}: ${why} (globs: * ? [a-z] [!a], comma-separated; or a /regex/)`)
  if (glob === '') throw bad('an empty glob between commas')
  const c = NOT_IN_NAMES.exec(glob)
  if (c !== null) throw bad(`${c[0].trim() === '' ? 'whitespace' : `'${c[0]}'`} cannot be in an interface name`)
  let src = '^'
  for (let i = 0; i < glob.length; i++) {
    const ch = glob[i]!
    if (ch === '*') src += '.*'
    else if (ch === '?') src += '.'
    else if (ch === '[') {
      const end = glob.indexOf(']', glob[i + 1] === '!' ? i + 3 : i + 2) // a ']' right after '[' or '[!' is a member
      if (end < 0) throw bad(`'[' at ${i + 1} has no closing ']'`)
      let set = glob.slice(i + 1, end)
      const negate = set.startsWith('!')
      if (negate) set = set.slice(1)
      if (set === '') throw bad(`an empty set at ${i + 1}`)
      src += `[${negate ? '^' : ''}${set.replace(/[\\\]^]/g, '\\$&')}]`
      i = end
    } else if (ch === ']') throw bad(`']' at ${i + 1} closes no '['`)
    else src += ch.replace(/[.+^${}()|\\]/g, '\\$&')
  }
  try {
    return new RegExp(src + '$')
  } catch (e) {
    throw bad((e as Error).message) // a set like [z-a]
  }
}
