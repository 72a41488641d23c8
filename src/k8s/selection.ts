// Which local pods podtap captures: --namespace, --exclude-namespace, --selector, and what the control
// API adds or removes at run time (namespaces, single pods).
//
// Label selectors are Kubernetes' own syntax
// (https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors):
//   app=web,tier!=cache,env in (prod,staging),track notin (canary),release,!experimental
// Terms are ANDed; `=` and `==` are the same.
//
// Order of decision for a pod: excluded by name > included by name > excluded namespace > not in the
// included namespaces (when some are given) > selector.

import { UsageError } from '../errors.js'
import type { Pod } from './objects.js'

type Term =
  | { op: 'exists' | 'notexists'; key: string }
  | { op: 'in' | 'notin'; key: string; values: Set<string> }

export interface LabelSelector {
  readonly text: string
  matches(labels: Record<string, string> | undefined): boolean
}

// [prefix/]name: prefix a DNS subdomain, name 1-63 of [A-Za-z0-9_.-] starting and ending alphanumeric
const KEY = /^([a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/
const VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/

/** Splits on commas outside parentheses. */
function splitTerms(s: string): string[] {
  const out: string[] = []
  let depth = 0
  let cur = ''
  for (const ch of s) {
    if (ch === '(') depth++
    if (ch === ')') depth--
    if (ch === ',' && depth === 0) {
      out.push(cur)
      cur = ''
    } else cur += ch
  }
  out.push(cur)
  return out.map((t) => t.trim())
}

/** Parses a label selector; throws a UsageError naming the bad term. '' selects everything. */
export function parseLabelSelector(text: string): LabelSelector {
  const terms: Term[] = []
  const bad = (t: string, why: string): never => {
    throw new UsageError(`--selector ${JSON.stringify(text)}: ${JSON.stringify(t)} ${why}`)
  }
  const checkKey = (t: string, k: string): string => (KEY.test(k) ? k : bad(t, `has an invalid label key ${JSON.stringify(k)}`))
  const checkValue = (t: string, v: string): string => (VALUE.test(v) ? v : bad(t, `has an invalid label value ${JSON.stringify(v)}`))
  if (text.trim() !== '') {
    for (const t of splitTerms(text)) {
      if (t === '') bad(t, 'is empty')
      let m: RegExpExecArray | null
      if ((m = /^(\S+)\s+(in|notin)\s*\((.*)\)$/.exec(t)) !== null) {
        const values = m[3]!.split(',').map((v) => checkValue(t, v.trim()))
        terms.push({ op: m[2] as 'in' | 'notin', key: checkKey(t, m[1]!), values: new Set(values) })
      } else if ((m = /^([^=!\s]+)\s*(==|=|!=)\s*(\S*)$/.exec(t)) !== null) {
        const v = checkValue(t, m[3]!)
        terms.push({ op: m[2] === '!=' ? 'notin' : 'in', key: checkKey(t, m[1]!), values: new Set([v]) })
      } else if ((m = /^!\s*(\S+)$/.exec(t)) !== null) {
        terms.push({ op: 'notexists', key: checkKey(t, m[1]!) })
      } else if (/^\S+$/.test(t)) {
        terms.push({ op: 'exists', key: checkKey(t, t) })
      } else bad(t, 'is not key, !key, key=value, key!=value, key in (a,b) or key notin (a,b)')
    }
  }
  return {
    text,
    matches(labels) {
      const l = labels ?? {}
      for (const t of terms) {
        const has = Object.prototype.hasOwnProperty.call(l, t.key)
        switch (t.op) {
          case 'exists':
            if (!has) return false
            break
          case 'notexists':
            if (has) return false
            break
          case 'in':
            if (!has || !t.values.has(l[t.key]!)) return false
            break
          case 'notin':
            // Kubernetes: a missing key satisfies notin and !=
            if (has && t.values.has(l[t.key]!)) return false
            break
        }
      }
      return true
    },
  }
}

export interface SelectionSpec {
  /** only these namespaces (empty or absent: all) */
  namespaces?: readonly string[]
  excludeNamespaces?: readonly string[]
  /** label selector text */
  selector?: string
  /** namespace/name of pods selected whatever the rules above say */
  pods?: readonly string[]
  /** namespace/name of pods never selected */
  excludePods?: readonly string[]
}

export interface SelectionView {
  namespaces: string[] | null
  excludeNamespaces: string[]
  selector: string
  pods: string[]
  excludePods: string[]
}

const NS = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/

export function checkNamespace(ns: string): string {
  if (!NS.test(ns)) throw new UsageError(`"${ns}" is not a valid namespace name`)
  return ns
}

export function checkPodRef(ref: string): string {
  const m = /^([^/]+)\/([^/]+)$/.exec(ref)
  if (m === null || !NS.test(m[1]!) || !/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/.test(m[2]!)) {
    throw new UsageError(`"${ref}" is not NAMESPACE/POD`)
  }
  return ref
}

/** The current selection rules; every change bumps `version` and calls the listeners. */
export class Selection {
  private includeNs: Set<string> | null
  private readonly excludeNs: Set<string>
  private selector: LabelSelector
  private readonly includePods: Set<string>
  private readonly excludePods: Set<string>
  version = 0
  private readonly listeners: (() => void)[] = []

  constructor(spec: SelectionSpec = {}) {
    this.includeNs = spec.namespaces !== undefined && spec.namespaces.length > 0 ? new Set(spec.namespaces.map(checkNamespace)) : null
    this.excludeNs = new Set((spec.excludeNamespaces ?? []).map(checkNamespace))
    this.selector = parseLabelSelector(spec.selector ?? '')
    this.includePods = new Set((spec.pods ?? []).map(checkPodRef))
    this.excludePods = new Set((spec.excludePods ?? []).map(checkPodRef))
  }

  onChange(f: () => void): void {
    this.listeners.push(f)
  }

  private changed(): void {
    this.version++
    for (const f of this.listeners) f()
  }

  matches(p: Pod): boolean {
    const ns = p.metadata.namespace ?? ''
    const key = `${ns}/${p.metadata.name}`
    if (this.excludePods.has(key)) return false
    if (this.includePods.has(key)) return true
    if (this.excludeNs.has(ns)) return false
    if (this.includeNs !== null && !this.includeNs.has(ns)) return false
    return this.selector.matches(p.metadata.labels)
  }

  /** Observe this namespace: taken off the exclusions; added to the inclusions when there are some. */
  addNamespace(ns: string): void {
    checkNamespace(ns)
    this.excludeNs.delete(ns)
    this.includeNs?.add(ns)
    this.changed()
  }

  /** Stop observing this namespace. */
  removeNamespace(ns: string): void {
    checkNamespace(ns)
    // an inclusion list emptied this way means "none left", not "all" (null is "all")
    this.includeNs?.delete(ns)
    this.excludeNs.add(ns)
    this.changed()
  }

  addPod(ref: string): void {
    checkPodRef(ref)
    this.excludePods.delete(ref)
    this.includePods.add(ref)
    this.changed()
  }

  removePod(ref: string): void {
    checkPodRef(ref)
    this.includePods.delete(ref)
    this.excludePods.add(ref)
    this.changed()
  }

  setSelector(text: string): void {
    this.selector = parseLabelSelector(text)
    this.changed()
  }

  view(): SelectionView {
    return {
      namespaces: this.includeNs === null ? null : [...this.includeNs].sort(),
      excludeNamespaces: [...this.excludeNs].sort(),
      selector: this.selector.text,
      pods: [...this.includePods].sort(),
      excludePods: [...this.excludePods].sort(),
    }
  }
}
