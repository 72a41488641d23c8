// Encrypted connections in every output: the summary table of `podtap replay` (a tls row per server
// and SNI), Prometheus podtap_tls_connections_total, and the InfluxDB l7_link fields, from real
// captures (test/pcaps/tls/, made with curl and openssl s_client against nginx).

import * as fs from 'node:fs'
import * as http from 'node:http'
import type { AddressInfo } from 'node:net'
import * as os from 'node:os'
import * as path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { limitsWith } from '../src/config.js'
import { Counters } from '../src/counters.js'
import { replayFilesSync } from '../src/pipeline/replay-sync.js'
import { InfluxSink } from '../src/sinks/influx.js'
import { PrometheusSink } from '../src/sinks/prometheus.js'
import { ROOT, runCli } from './helpers/cli.js'

const TLS = path.join(ROOT, 'test', 'pcaps', 'tls')
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'podtap-tls-out-'))
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }))

/** the table's body rows, cells trimmed */
function tableRows(out: string): string[][] {
  return out
    .split('\n')
    .filter((l) => l.startsWith('│') && !/^│ server \s*│ proto /.test(l))
    .map((l) => l.split('│').slice(1, -1).map((c) => c.trim()))
}

describe('podtap replay: encrypted connections are rows of their own', () => {
  it('six HTTPS connections to one host: one tls row, count 6, the SNI as resource, their bytes and handshake times', () => {
    const r = runCli(['replay', path.join(TLS, '09-six-https-one-host.pcap')])
    expect(r.status).toBe(0)
    const rows = tableRows(r.stdout)
    expect(rows).toHaveLength(1)
    const [server, proto, method, resource, status, count, clients, errors, bytes, p50] = rows[0]!
    expect([server, proto, method, resource, status, count, clients, errors]).toEqual(['10.213.250.2:443', 'tls', 'TLS1.3', 'app.podtap.test', '-', '6', '1', '0'])
    const links = replayFilesSync([path.join(TLS, '09-six-https-one-host.pcap')]).links
    const total = links.reduce((a, l) => a + l.bytesSent + l.bytesReceived, 0)
    expect(bytes).toBe(`${(total / 1000).toFixed(1)}k`)
    expect(Number(p50)).toBeGreaterThan(0)
    expect(r.stdout).toContain('6 TLS connections not decrypted')
  })

  it('refused handshakes: the fatal alert is the status and an error; no SNI says so', () => {
    const r = runCli(['replay', path.join(TLS, '13-unknown-sni-alert.pcap'), path.join(TLS, '14-tls10-refused-alert.pcap'), path.join(TLS, '08-grpc-tls12-two-connections.pcapng')])
    expect(r.status).toBe(0)
    const rows = tableRows(r.stdout).map((x) => x.slice(0, 8))
    expect(rows).toEqual([
      ['10.213.250.2:443', 'tls', '-', 'other.podtap.test', 'unrecognized_name', '1', '1', '1'],
      ['10.213.250.2:8443', 'tls', '-', 'app.podtap.test', 'protocol_version', '1', '1', '1'],
      ['127.0.0.1:60051', 'tls', 'TLS1.2', '(no SNI)', '-', '1', '1', '0'],
      ['127.0.0.1:60052', 'tls', 'TLS1.2', '(no SNI)', '-', '1', '1', '0'],
    ])
  })
})

describe('podtap_tls_connections_total and InfluxDB l7_link', () => {
  const files = ['09-six-https-one-host.pcap', '10-tls12-http11.pcap', '13-unknown-sni-alert.pcap'].map((f) => path.join(TLS, f))

  it('counts connections per server, SNI and chosen version', async () => {
    const s = await PrometheusSink.start({ counters: new Counters(), limits: limitsWith(), processMetrics: false })
    for (const l of replayFilesSync(files).links) s.onLink(l)
    const text = await s.exposition()
    const lines = text.split('\n').filter((l) => l.startsWith('podtap_tls_connections_total{')).sort()
    expect(lines).toEqual([
      'podtap_tls_connections_total{server="10.213.250.2:443",sni="app.podtap.test",version="TLS1.2"} 1',
      'podtap_tls_connections_total{server="10.213.250.2:443",sni="app.podtap.test",version="TLS1.3"} 6',
      'podtap_tls_connections_total{server="10.213.250.2:443",sni="other.podtap.test",version=""} 1',
    ])
    await s.close()
  })

  it('l7_link points carry sni, tls_version, alpn tags and the handshake fields', async () => {
    const bodies: string[] = []
    const server = http.createServer(async (req, res) => {
      const chunks: Buffer[] = []
      for await (const c of req) chunks.push(c as Buffer)
      bodies.push(Buffer.concat(chunks).toString('utf8'))
      res.writeHead(204).end()
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
      const sink = new InfluxSink({ url, token: 't', org: 'o', bucket: 'b', traces: false, counters: new Counters(), limits: limitsWith(), agent: 'n1', flushIntervalMs: 10 })
      for (const l of replayFilesSync(files).links) sink.onLink(l)
      await sink.close()
      const links = bodies.join('\n').split('\n').filter((l) => l.startsWith('l7_link,'))
      expect(links).toHaveLength(8)
      const tls12 = links.filter((l) => l.includes('tls_version=TLS1.2'))
      expect(tls12).toHaveLength(1)
      expect(tls12[0]).toMatch(/alpn=http\/1\.1/)
      expect(tls12[0]).toMatch(/sni=app\.podtap\.test/)
      expect(tls12[0]).toContain('tls_cipher="TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"')
      expect(tls12[0]).toMatch(/tls_handshake_ms=\d/)
      const tls13 = links.filter((l) => l.includes('tls_version=TLS1.3'))
      expect(tls13).toHaveLength(6)
      for (const l of tls13) expect(l).toContain('alpn=h2\\,http/1.1\\ (offered)')
      const refused = links.filter((l) => l.includes('sni=other.podtap.test'))
      expect(refused).toHaveLength(1)
      expect(refused[0]).toContain('tls_alert="unrecognized_name"')
      expect(refused[0]).not.toContain('tls_version=')
    } finally {
      await new Promise<void>((r) => server.close(() => r()))
    }
  })
})
