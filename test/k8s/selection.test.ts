// Label selectors (Kubernetes syntax) and the selection rules: by name, by namespace, by selector.

import { describe, expect, it } from 'vitest'
import { UsageError } from '../../src/errors.js'
import { trimPod } from '../../src/k8s/objects.js'
import { parseLabelSelector, Selection } from '../../src/k8s/selection.js'
import { pod } from './apiserver.js'

describe('parseLabelSelector', () => {
  const labels = { app: 'web', tier: 'front', env: 'prod', 'app.kubernetes.io/name': 'shop' }
  const cases: [string, boolean][] = [
    ['', true],
    ['app=web', true],
    ['app==web', true],
    ['app = web', true],
    ['app=api', false],
    ['app!=api', true],
    ['app!=web', false],
    ['missing!=x', true], // a missing key satisfies != (as Kubernetes)
    ['app', true],
    ['missing', false],
    ['!missing', true],
    ['!app', false],
    ['env in (prod,staging)', true],
    ['env in (dev)', false],
    ['env notin (dev, staging)', true],
    ['env notin (prod)', false],
    ['missing notin (x)', true],
    ['missing in (x)', false],
    ['app=web,tier=front,env in (prod)', true],
    ['app=web,tier=back', false],
    ['app.kubernetes.io/name=shop', true],
    ['app=', false], // empty value: only a label with an empty value matches
  ]
  for (const [sel, want] of cases) {
    it(`${JSON.stringify(sel)} -> ${want}`, () => expect(parseLabelSelector(sel).matches(labels)).toBe(want))
  }
  it('an empty value matches an empty label; no labels at all', () => {
    expect(parseLabelSelector('x=').matches({ x: '' })).toBe(true)
    expect(parseLabelSelector('!x').matches(undefined)).toBe(true)
    expect(parseLabelSelector('x').matches(undefined)).toBe(false)
  })
  for (const bad of ['app=web,', 'a b', 'in (x)', 'app in x', '-bad=x', 'app=web!', 'Bad/Key=x', 'a=b=c']) {
    it(`refuses ${JSON.stringify(bad)} with the term named`, () => {
      expect(() => parseLabelSelector(bad)).toThrow(UsageError)
      expect(() => parseLabelSelector(bad)).toThrow(/--selector/)
    })
  }
})

describe('Selection', () => {
  const p = (ns: string, name: string, labels: Record<string, string> = {}) => trimPod(pod({ name, namespace: ns, node: 'n', ip: '10.0.0.1', labels }))

  it('everything by default', () => {
    expect(new Selection().matches(p('a', 'x'))).toBe(true)
  })

  it('namespaces, exclusions and the selector combine; names win over rules', () => {
    const s = new Selection({ namespaces: ['shop', 'data'], excludeNamespaces: ['data'], selector: 'app=web' })
    expect(s.matches(p('shop', 'w', { app: 'web' }))).toBe(true)
    expect(s.matches(p('shop', 'c', { app: 'cache' }))).toBe(false)
    expect(s.matches(p('data', 'w', { app: 'web' }))).toBe(false)
    expect(s.matches(p('other', 'w', { app: 'web' }))).toBe(false)
    s.addPod('other/w')
    expect(s.matches(p('other', 'w'))).toBe(true)
    s.removePod('shop/w')
    expect(s.matches(p('shop', 'w', { app: 'web' }))).toBe(false)
    expect(s.view()).toEqual({ namespaces: ['data', 'shop'], excludeNamespaces: ['data'], selector: 'app=web', pods: ['other/w'], excludePods: ['shop/w'] })
  })

  it('adding and removing namespaces at run time; removing the last listed one leaves none, not all', () => {
    const changes: number[] = []
    const s = new Selection({ namespaces: ['shop'] })
    s.onChange(() => changes.push(s.version))
    s.addNamespace('data')
    expect(s.matches(p('data', 'x'))).toBe(true)
    s.removeNamespace('shop')
    s.removeNamespace('data')
    expect(s.matches(p('shop', 'x'))).toBe(false)
    expect(s.matches(p('data', 'x'))).toBe(false)
    expect(s.matches(p('else', 'x'))).toBe(false)
    s.addNamespace('else')
    expect(s.matches(p('else', 'x'))).toBe(true)
    expect(changes).toEqual([1, 2, 3, 4])
    const all = new Selection()
    all.removeNamespace('kube-system')
    expect(all.matches(p('kube-system', 'x'))).toBe(false)
    expect(all.matches(p('shop', 'x'))).toBe(true)
  })

  it('refuses bad names', () => {
    expect(() => new Selection({ namespaces: ['Bad_NS'] })).toThrow(UsageError)
    expect(() => new Selection().addPod('no-slash')).toThrow(/NAMESPACE\/POD/)
  })
})
