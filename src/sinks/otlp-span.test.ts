import { describe, expect, it } from 'vitest'
import type { Exchange } from '../records.js'
import { KIND_CLIENT, KIND_SERVER, resourceAttributes, ResourceCache, spanFields, spanKind } from './otlp-span.js'

/** an exchange as the pipeline gives it (records.ts); what each test needs is overridden */
function ex(o: Partial<Exchange>): Exchange {
  return {
    protocol: 'grpc', tls: false, client: { ip: '10.0.0.1', port: 40000 }, server: { ip: '10.0.0.2', port: 50051 },
    flowId: 1, method: '/pkg.Svc/Get', status: 0, error: false, startUs: 1_700_000_000_000_000, endUs: 1_700_000_000_001_500,
    reqBytes: 10, respBytes: 20, ...o,
  }
}

const span = (e: Exchange, kind: 1 | 2) => spanFields(e, kind === 1 ? KIND_SERVER : KIND_CLIENT)

describe('span status and kind (semantic conventions)', () => {
  it('gRPC: a SERVER span fails only on UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE, DATA_LOSS; a CLIENT span on any code but OK', () => {
    for (let code = 0; code <= 16; code++) {
      const e = ex({ status: code, error: code !== 0 })
      expect(span(e, 1).status.code, `server ${code}`).toBe([2, 4, 12, 13, 14, 15].includes(code) ? 2 : 0)
      expect(span(e, 2).status.code, `client ${code}`).toBe(code === 0 ? 0 : 2)
    }
    expect(span(ex({ status: 14, error: true }), 1).attributes).toMatchObject({ 'rpc.status_code': 'UNAVAILABLE', 'error.type': 'UNAVAILABLE' })
    expect(span(ex({ status: 5, error: true }), 1).attributes['error.type']).toBeUndefined()
    expect(span(ex({ status: null, error: true }), 1)).toMatchObject({ status: { code: 2, message: 'no response' }, attributes: { 'error.type': 'no_response' } })
  })

  it('HTTP: 4xx fails a CLIENT span, not a SERVER span; TLS gives https; client spans carry url.full', () => {
    const e = ex({ protocol: 'http', method: 'GET', resource: '/users/42', status: 404, error: false, tls: true, attrs: { version: 'HTTP/1.1', host: 'api:8443' } })
    expect(span(e, 1).status.code).toBe(0)
    const c = span(e, 2)
    expect(c.status.code).toBe(2)
    expect(c.name).toBe('GET /users/{id}')
    expect(c.attributes).toMatchObject({ 'url.scheme': 'https', 'url.full': 'https://api:8443/users/42', 'server.address': 'api', 'error.type': '404', 'podtap.tls': true })
  })

  it('kind: SERVER when the server end is observed, CLIENT when only the client is, else by protocol', () => {
    const pod = { ip: '10.1.0.5', port: 8080, pod: 'web-1', namespace: 'shop', workload: 'web', node: 'n1' }
    const remote = { ip: '10.2.0.9', port: 5432, pod: 'db-0', namespace: 'shop', node: 'n2' }
    expect(spanKind(ex({ protocol: 'postgresql', server: pod }), 'n1')).toBe(KIND_SERVER)
    expect(spanKind(ex({ protocol: 'postgresql', client: pod, server: remote }), 'n1')).toBe(KIND_CLIENT)
    expect(spanKind(ex({ protocol: 'http', client: pod, server: remote }), 'n1')).toBe(KIND_CLIENT)
    expect(spanKind(ex({ protocol: 'http' }), undefined)).toBe(KIND_SERVER)
    expect(spanKind(ex({ protocol: 'redis' }), undefined)).toBe(KIND_CLIENT)
    expect(spanKind(ex({ protocol: 'redis', server: { ip: '10.0.0.2', port: 6379, pid: 7, comm: 'redis-server' } }), undefined)).toBe(KIND_SERVER)
  })
})

describe('resource', () => {
  it('service.name is the workload, else the process, else ip:port (server) or ip (client); k8s attributes', () => {
    expect(resourceAttributes({ ip: '10.1.0.5', port: 8080, pod: 'web-1', namespace: 'shop', workload: 'web', node: 'n1', container: 'nginx' }, true)).toEqual({
      'service.name': 'web', 'k8s.pod.name': 'web-1', 'k8s.namespace.name': 'shop', 'k8s.deployment.name': 'web', 'k8s.node.name': 'n1', 'k8s.container.name': 'nginx',
    })
    expect(resourceAttributes({ ip: '172.17.0.2', port: 6379, pid: 12, comm: 'redis-server', container: 'cache-1' }, true)).toEqual({
      'service.name': 'redis-server', 'process.pid': 12, 'process.executable.name': 'redis-server', 'container.name': 'cache-1',
    })
    expect(resourceAttributes({ ip: 'fe80::1', port: 80 }, true)['service.name']).toBe('[fe80::1]:80')
    expect(resourceAttributes({ ip: '10.0.0.1', port: 40000 }, false)['service.name']).toBe('10.0.0.1')
  })

  it('one Resource object per identity (the exporter groups spans by it)', () => {
    const c = new ResourceCache()
    expect(c.of({ ip: '1.1.1.1', port: 80 }, true)).toBe(c.of({ ip: '1.1.1.1', port: 80 }, true))
    expect(c.of({ ip: '1.1.1.1', port: 80 }, true)).not.toBe(c.of({ ip: '1.1.1.1', port: 81 }, true))
  })
})
