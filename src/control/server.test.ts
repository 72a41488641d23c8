// The control API without Kubernetes (protocols, outputs, access rules) and with a stand-in session
// object (selection changes reach the Selection). The API in a real `capture --k8s` run is in
// test/integration/k8s-capture-cli.test.ts.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { Selection } from '../k8s/selection.js'
import type { Exchange } from '../records.js'
import { resolveControlToken, startControlServer, type ControlServer, type ControlTarget } from './server.js'
import { ControlState, gateOutput } from './state.js'

const servers: ControlServer[] = []
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close()
})

async function start(target: ControlTarget, o: { host?: string; token?: string } = {}): Promise<ControlServer> {
  const s = await startControlServer(target, { port: 0, ...o })
  servers.push(s)
  return s
}

function call(s: ControlServer, method: string, path: string, body?: unknown, token?: string): Promise<Response> {
  const headers: Record<string, string> = { 'Content-Type': 'application/json' }
  if (token !== undefined) headers.Authorization = `Bearer ${token}`
  return fetch(s.url + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) })
}

describe('control API', () => {
  it('protocols: listed, switched off and on; an exchange of a switched-off protocol is dropped', async () => {
    const state = new ControlState(['http', 'redis', 'mysql'], ['http', 'redis'])
    const s = await start({ state })
    expect(await (await call(s, 'GET', '/v1/protocols')).json()).toEqual({
      protocols: [
        { name: 'http', enabled: true },
        { name: 'redis', enabled: true },
        { name: 'mysql', enabled: false },
      ],
    })
    const ex = (protocol: string) => ({ protocol }) as unknown as Exchange
    expect(state.keepExchange(ex('redis'))).toBe(true)
    const r = await call(s, 'PUT', '/v1/protocols/redis', { enabled: false })
    expect(r.status).toBe(200)
    expect(state.keepExchange(ex('redis'))).toBe(false)
    await call(s, 'PUT', '/v1/protocols/mysql', { enabled: true })
    expect(state.keepExchange(ex('mysql'))).toBe(true)
    expect((await call(s, 'PUT', '/v1/protocols/redis', { enabled: 'no' })).status).toBe(400)
    expect((await call(s, 'PUT', '/v1/protocols/gopher', { enabled: true })).status).toBe(404)
    expect(state.keepLink({ protocol: 'unknown' } as never)).toBe(true)
    expect(state.keepLink({ protocol: 'redis' } as never)).toBe(false)
  })

  it('outputs: a gated output gets no records while switched off; its other methods still work', async () => {
    const state = new ControlState(['http'])
    const got: string[] = []
    class Out {
      readonly name = 'influx'
      private closed = false
      onExchange(e: Exchange): void {
        got.push(`ex ${e.protocol}`)
      }
      onWindow(): void {
        got.push('window')
      }
      async close(): Promise<void> {
        this.closed = true
        got.push(`closed ${this.closed}`)
      }
    }
    const out = gateOutput(new Out(), state)
    const s = await start({ state })
    out.onExchange({ protocol: 'http' } as Exchange)
    expect((await call(s, 'PUT', '/v1/outputs/influx', { enabled: false })).status).toBe(200)
    out.onExchange({ protocol: 'http' } as Exchange)
    out.onWindow()
    expect(await (await call(s, 'GET', '/v1/outputs')).json()).toEqual({ outputs: [{ name: 'influx', enabled: false }] })
    await call(s, 'PUT', '/v1/outputs/influx', { enabled: true })
    out.onWindow()
    await out.close()
    expect(got).toEqual(['ex http', 'window', 'closed true'])
    expect(out.name).toBe('influx')
  })

  it('without --k8s: pods and selection answer 409; status and interfaces still work; unknown paths 404, wrong methods 405', async () => {
    const s = await start({ state: new ControlState(['http']), interfaces: () => [{ name: 'lo', ifindex: 1 }], stats: () => ({ packets: 5 }) })
    const pods = await call(s, 'GET', '/v1/pods')
    expect(pods.status).toBe(409)
    expect(((await pods.json()) as { error: string }).error).toMatch(/not running with --k8s/)
    expect((await call(s, 'POST', '/v1/namespaces/shop')).status).toBe(409)
    expect(await (await call(s, 'GET', '/v1/interfaces')).json()).toEqual({ interfaces: [{ name: 'lo', ifindex: 1 }] })
    const st = (await (await call(s, 'GET', '/v1/status')).json()) as { capture: unknown; kubernetes: unknown }
    expect(st.capture).toEqual({ packets: 5 })
    expect(st.kubernetes).toBeNull()
    expect((await call(s, 'GET', '/v2/x')).status).toBe(404)
    expect((await call(s, 'DELETE', '/v1/status')).status).toBe(405)
    expect((await call(s, 'PUT', '/v1/protocols/http', '{not json')).status).toBe(400)
    const spec = await call(s, 'GET', '/openapi.yaml')
    expect(spec.status).toBe(200)
    // every path the server routes is documented
    const text = await spec.text()
    for (const p of ['/v1/status', '/v1/pods', '/v1/interfaces', '/v1/selection', '/v1/selection/selector', '/v1/namespaces/{namespace}', '/v1/pods/{namespace}/{pod}', '/v1/protocols', '/v1/protocols/{id}', '/v1/outputs', '/v1/outputs/{name}']) {
      expect(text).toContain(`\n  ${p}:\n`)
    }
  })

  it('with a Kubernetes session: selection changes reach the Selection; bad names are 400', async () => {
    const selection = new Selection({ namespaces: ['shop'] })
    const k8s = { nodeName: 'n1', configFrom: 'test', selection, attachment: { pods: () => [], interfaces: () => [], dedupe: {}, ringCount: 0 }, watch: { status: () => [] } }
    const s = await start({ state: new ControlState(['http']), k8s })
    expect((await call(s, 'POST', '/v1/namespaces/data')).status).toBe(200)
    expect((await call(s, 'DELETE', '/v1/pods/shop/web-1')).status).toBe(200)
    const r = await call(s, 'PUT', '/v1/selection/selector', { selector: 'app=web' })
    expect(await r.json()).toEqual({ namespaces: ['data', 'shop'], excludeNamespaces: [], selector: 'app=web', pods: [], excludePods: ['shop/web-1'] })
    expect((await call(s, 'PUT', '/v1/selection/selector', { selector: 'app in x' })).status).toBe(400)
    expect((await call(s, 'POST', '/v1/namespaces/Bad_NS')).status).toBe(400)
    expect(selection.view().selector).toBe('app=web')
  })

  it('access: loopback only without a token; a token is required off loopback and checked', async () => {
    await expect(startControlServer({ state: new ControlState([]) }, { port: 0, host: '0.0.0.0' })).rejects.toThrow(/only with a token/)
    const token = 'a-long-enough-token-1234'
    const s = await start({ state: new ControlState(['http']) }, { host: '0.0.0.0', token })
    const url = s.url.replace('0.0.0.0', '127.0.0.1')
    expect((await fetch(url + '/v1/status')).status).toBe(401)
    expect((await fetch(url + '/v1/status', { headers: { Authorization: 'Bearer wrong-token-of-same-len!' } })).status).toBe(401)
    expect((await fetch(url + '/v1/status', { headers: { Authorization: `Bearer ${token}` } })).status).toBe(200)
  })

  it('the token from a file or the environment; too short is refused', () => {
    const dir = mkdtempSync(join(tmpdir(), 'podtap-ctl-'))
    try {
      writeFileSync(join(dir, 't'), 'x'.repeat(20) + '\n')
      expect(resolveControlToken(join(dir, 't'), {})).toBe('x'.repeat(20))
      writeFileSync(join(dir, 'short'), 'abc')
      expect(() => resolveControlToken(join(dir, 'short'), {})).toThrow(/shorter than 16/)
      expect(() => resolveControlToken(join(dir, 'none'), {})).toThrow(/no such file/)
      expect(resolveControlToken(undefined, { PODTAP_CONTROL_TOKEN: 'y'.repeat(16) })).toBe('y'.repeat(16))
      expect(resolveControlToken(undefined, {})).toBeUndefined()
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
