// One connection, two views, counted once: `podtap capture --tls --iface <veth>` sees each HTTPS
// connection as encrypted packets on the veth and as plaintext through the OpenSSL uprobes (curl on
// the host, nginx in a network namespace, both on Debian's libssl). The requests must come out once
// (from the plaintext), and each connection must be one l7_link with the plaintext protocol, the
// handshake's SNI and version, and the bytes that crossed the wire (checked against a replay of the
// packets podtap wrote with --pcap-out). Needs root; skips with the reason printed otherwise.

import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { replayFilesSync } from '../../src/pipeline/replay-sync.js'
import type { TraceRecord } from '../../src/records.js'
import { findLibssl } from '../../src/tls/libssl.js'
import { cleanupStale, createTestHost, needRoot, type TestHost } from '../helpers/netns.js'
import { curlGets, startNginxTls, type NginxTls } from '../helpers/tls.js'
import { READY, killRun, runPodtap, traces, type PodtapRun } from './capture-util.js'

const skip = needRoot() ?? (findLibssl().length > 0 ? null : 'no libssl.so.3 / libssl.so.1.1 found')
if (skip !== null) console.log(`capture-tls-dedupe tests skipped: ${skip}`)

const NAME = 'app.podtap.test'

/** sum of a metric's samples whose labels contain every `want` pair */
function metric(text: string, name: string, want: Record<string, string>): { sum: number; n: number } {
  let sum = 0
  let n = 0
  for (const line of text.split('\n')) {
    if (!line.startsWith(name + '{')) continue
    const labels = Object.fromEntries([...line.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]))
    if (Object.entries(want).every(([k, v]) => labels[k] === v)) {
      sum += Number(line.split(' ').pop())
      n++
    }
  }
  return { sum, n }
}

describe.skipIf(skip !== null)('capture --tls plus the veth: each HTTPS connection counted once', () => {
  let host: TestHost
  let web: NginxTls
  let run: PodtapRun | undefined
  let got: TraceRecord[] = []
  let all: TraceRecord[] = []
  let prom = ''
  let exitCode: number | null = null
  let server = ''
  const sent: { path: string; status: number }[] = []
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'podtap-tlsdup-'))
  const pcap = path.join(dir, 'wire.pcap')
  const metricsOut = path.join(dir, 'metrics.txt')

  beforeAll(async () => {
    cleanupStale()
    host = await createTestHost({ name: 'tlsdup' })
    web = await startNginxTls(host, { 'tlsdup-a.txt': 'hello over tls\n', 'tlsdup-big.bin': Buffer.alloc(200_000, 7) })
    server = `${host.nsIp}:${web.port}`
    run = runPodtap(['capture', '--tls', '--iface', host.hostIf, '--format', 'jsonl', '--duration', '8', '--pcap-out', pcap, '--metrics-out', metricsOut])
    await run.waitFor(READY)
    // a name, so the ClientHello carries an SNI (curl sends none for an IP address)
    const one = async (paths: string[]): Promise<void> => {
      sent.push(...(await curlGets(`https://${NAME}:${web.port}`, paths, ['--resolve', `${NAME}:${web.port}:${host.nsIp}`])))
    }
    await one(['/tlsdup-a.txt'])
    await one(['/tlsdup-missing'])
    await one(['/tlsdup-a.txt', '/tlsdup-big.bin', '/tlsdup-nope']) // keep-alive: one connection, three requests
    const exit = await run.exited
    exitCode = exit.code
    // other processes of this machine may use TLS meanwhile (the tap sees every libssl user): ours only
    all = traces(run.stdout)
    got = all.filter((t) => `${t.server.ip}:${t.server.port}` === server)
    prom = fs.readFileSync(metricsOut, 'utf8')
  }, 90_000)

  afterAll(async () => {
    killRun(run)
    await host?.destroy()
    fs.rmSync(dir, { recursive: true, force: true })
  })

  it('without --tls the same connections are described from their handshake: one tls row, count 6, the SNI', async () => {
    const live = runPodtap(['capture', '--iface', host.hostIf, '--format', 'table', '--duration', '5'])
    try {
      await live.waitFor(READY)
      for (let i = 0; i < 6; i++) await curlGets(`https://${NAME}:${web.port}`, ['/tlsdup-a.txt'], ['--resolve', `${NAME}:${web.port}:${host.nsIp}`])
      expect((await live.exited).code, live.stderr).toBe(0)
    } finally {
      killRun(live)
    }
    const rows = live.stdout
      .split('\n')
      .filter((l) => l.startsWith('│') && l.includes(server))
      .map((l) => l.split('│').slice(1, -1).map((c) => c.trim()))
    expect(rows.map((r) => r.slice(0, 8))).toEqual([[server, 'tls', 'TLS1.2', NAME, '-', '6', '1', '0']])
  }, 60_000)

  it('curl got what nginx has', () => {
    expect(exitCode, run?.stderr).toBe(0)
    expect(sent.map((s) => s.status)).toEqual([200, 404, 200, 200, 404])
  })

  it('one set of exchanges, from the plaintext', () => {
    expect(got.map((t) => [t.protocol, t.tls, t.method, t.resource, t.status])).toEqual(sent.map((s) => ['http', true, 'GET', s.path, s.status]))
    expect(new Set(got.map((t) => t.client.port)).size).toBe(3)
    // the summary (stderr with jsonl) counts none of them as an unreadable TLS connection
    expect(run!.stderr).toMatch(/exchanges on \d+ server endpoints/)
    expect(run!.stderr).not.toMatch(/TLS connections not decrypted/)
    // and nowhere else: not as a second view with the socket unknown (0.0.0.0)
    const ours = new Set(['/tlsdup-a.txt', '/tlsdup-missing', '/tlsdup-big.bin', '/tlsdup-nope'])
    expect(all.filter((t) => ours.has(t.resource ?? '')).length, JSON.stringify(all.filter((t) => ours.has(t.resource ?? '') && !got.includes(t)))).toBe(5)
  })

  it('one l7_link per connection: the plaintext protocol, the packet bytes, the handshake', () => {
    // what the wire carried, from the packets alone: three encrypted connections
    const wire = replayFilesSync([pcap]).links.filter((l) => `${l.server.ip}:${l.server.port}` === server)
    expect(wire.map((l) => [l.protocol, l.sni])).toEqual([['tls', NAME], ['tls', NAME], ['tls', NAME]])
    const wireSent = wire.reduce((a, l) => a + l.bytesSent, 0)
    const wireRecv = wire.reduce((a, l) => a + l.bytesReceived, 0)
    // the capture's links: three, protocol http, with exactly those bytes (TLS overhead included)
    const seen = prom.split('\n').filter((l) => (l.includes(server) && /connections|link_bytes/.test(l)) || l.startsWith('podtap_tls_')).join('\n')
    expect(metric(prom, 'podtap_l7_connections_total', { server, protocol: 'http' }).sum, seen).toBe(3)
    expect(metric(prom, 'podtap_l7_connections_total', { server, protocol: 'tls' }).n, seen).toBe(0)
    expect(metric(prom, 'podtap_l7_link_bytes_total', { server, protocol: 'http', direction: 'client_to_server' }).sum).toBe(wireSent)
    expect(metric(prom, 'podtap_l7_link_bytes_total', { server, protocol: 'http', direction: 'server_to_client' }).sum).toBe(wireRecv)
    expect(wireRecv).toBeGreaterThan(200_000)
    // the handshake facts, once per connection
    expect(metric(prom, 'podtap_tls_connections_total', { server, sni: NAME }).sum).toBe(3)
    expect(metric(prom, 'podtap_tls_links_paired_total', {}).sum + Number(/^podtap_tls_links_paired_total (\d+)/m.exec(prom)?.[1] ?? 0)).toBe(3)
  })
})
