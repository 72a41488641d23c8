// What stays encrypted is still described: every TLS capture of test/pcaps/tls/ through the real
// pipeline, each connection's SNI, offered versions and ALPN, chosen version, cipher and ALPN, and
// plaintext alerts checked against tshark's dissection of the same file (ground truth; CI installs
// tshark, elsewhere the comparison skips with the reason printed). Captures 09-14 were made here
// (make-captures.sh: curl and openssl s_client against nginx in a network namespace).

import { spawnSync } from 'node:child_process'
import { readdirSync } from 'node:fs'
import * as path from 'node:path'
import { describe, expect, it } from 'vitest'
import { replayFilesSync } from '../src/pipeline/replay-sync.js'
import { alertName, cipherName, versionName } from '../src/protocols/tls/hello.js'
import type { TlsInfo } from '../src/protocols/tls/observer.js'
import type { LinkRecord } from '../src/records.js'

const DIR = path.join(import.meta.dirname, 'pcaps', 'tls')
const FILES = readdirSync(DIR).filter((f) => /\.pcap(ng)?$/.test(f)).sort()

const haveTshark = spawnSync('tshark', ['-v']).status === 0
if (!haveTshark) console.log('TLS capture comparison with tshark skipped: no tshark')

/** what tshark can say of a connection: TlsInfo's hello fields, alerts by description */
type Expected = Pick<TlsInfo, 'sni' | 'offeredVersions' | 'alpnOffered' | 'version' | 'cipher' | 'alpnChosen'> & { alerts: string[] }

const FIELDS = [
  'ip.src', 'ipv6.src', 'tcp.srcport', 'ip.dst', 'ipv6.dst', 'tcp.dstport', 'tls.record.content_type', 'tls.handshake.type',
  'tls.handshake.version', 'tls.handshake.extensions.supported_version', 'tls.handshake.extensions_server_name',
  'tls.handshake.extensions_alpn_str', 'tls.handshake.ciphersuite', 'tls.alert_message.level', 'tls.alert_message.desc',
]

const isGrease = (v: number): boolean => (v & 0x0f0f) === 0x0a0a && v >> 8 === (v & 0xff)
const codes = (s: string): number[] => (s === '' ? [] : s.split(',').map((x) => parseInt(x, 16)))

/** per connection (client "ip port"), what tshark reads from the hellos and plaintext alerts */
function tsharkTruth(file: string): Map<string, Expected> {
  const r = spawnSync('tshark', ['-n', '-r', file, '-Y', 'tls.handshake.type == 1 || tls.handshake.type == 2 || tls.alert_message.desc', '-T', 'fields', '-E', 'occurrence=a', ...FIELDS.flatMap((f) => ['-e', f])], { encoding: 'utf8' })
  expect(r.status, r.stderr).toBe(0)
  const byClient = new Map<string, Expected>()
  const clientOf = new Map<string, string>() // "src dst" endpoints -> the client key
  for (const line of r.stdout.split('\n').filter(Boolean)) {
    const [ip4s, ip6s, sport, ip4d, ip6d, dport, ctype, htype, hver, sver, sni, alpn, cipher, , adesc] = line.split('\t') as string[]
    const src = `${ip4s || ip6s} ${sport}`
    const dst = `${ip4d || ip6d} ${dport}`
    const types = (htype ?? '').split(',')
    if (types.includes('1') && ctype !== '') {
      const e: Expected = byClient.get(src) ?? { alerts: [] }
      if (sni) e.sni = sni
      const offered = codes(sver!).filter((v) => !isGrease(v))
      e.offeredVersions = offered.length ? offered.map(versionName) : [versionName(codes(hver!)[0]!)]
      if (alpn) e.alpnOffered = alpn.split(',')
      byClient.set(src, e)
      clientOf.set(`${src}|${dst}`, src)
      clientOf.set(`${dst}|${src}`, src)
    } else if (types.includes('2') && ctype !== '') {
      const e = byClient.get(clientOf.get(`${src}|${dst}`) ?? '')
      if (e === undefined) continue
      e.version = versionName(codes(sver!)[0] ?? codes(hver!)[0]!)
      e.cipher = cipherName(codes(cipher!)[0]!)
      if (alpn) e.alpnChosen = alpn
    }
    if (adesc) {
      const e = byClient.get(clientOf.get(`${src}|${dst}`) ?? '')
      if (e !== undefined) e.alerts.push(...adesc.split(',').map((d) => alertName(Number(d))))
    }
  }
  return byClient
}

function ours(l: LinkRecord): Expected {
  const t = l.tlsHandshake!
  const e: Expected = { alerts: t.alerts.map((a) => a.description) }
  for (const k of ['sni', 'offeredVersions', 'alpnOffered', 'version', 'cipher', 'alpnChosen'] as const) if (t[k] !== undefined) (e as unknown as Record<string, unknown>)[k] = t[k]
  return e
}

describe('TLS captures: every connection described as tshark reads it', () => {
  it.skipIf(!haveTshark).each(FILES.filter((f) => !f.startsWith('06-')))('%s', (f) => {
    const file = path.join(DIR, f)
    const want = tsharkTruth(file)
    const r = replayFilesSync([file])
    const links = r.links.filter((l) => l.tls)
    expect(links.length).toBe(want.size)
    expect(want.size).toBeGreaterThan(0)
    for (const l of links) {
      const key = `${l.client.ip} ${l.client.port}`
      expect(l.protocol, key).toBe('tls')
      expect(ours(l), key).toEqual(want.get(key))
      // the l7_link fields are the same facts
      expect(l.sni).toBe(want.get(key)!.sni)
      expect(l.tlsVersion).toBe(want.get(key)!.version)
    }
    // nothing was decrypted: no exchange
    expect(r.exchanges).toEqual([])
  })
})

describe('TLS captures: what each case shows', () => {
  const links = (f: string): LinkRecord[] => replayFilesSync([path.join(DIR, f)]).links

  it('six HTTPS connections to one host: six links, each with the SNI, TLS 1.3 and the offered ALPN', () => {
    const l = links('09-six-https-one-host.pcap')
    expect(l).toHaveLength(6)
    for (const x of l) {
      expect([x.protocol, x.sni, x.tlsVersion, x.alpn]).toEqual(['tls', 'app.podtap.test', 'TLS1.3', 'h2,http/1.1 (offered)'])
      expect(x.tlsHandshake!.handshakeUs).toBeGreaterThan(0)
      expect(x.bytesReceived).toBeGreaterThan(1000) // the certificate, encrypted
    }
    expect(new Set(l.map((x) => x.client.port)).size).toBe(6)
  })

  it('TLS 1.2: the ALPN the server chose; TLS 1.3: what the client offered', () => {
    expect(links('10-tls12-http11.pcap').map((x) => [x.tlsVersion, x.alpn])).toEqual([['TLS1.2', 'http/1.1']])
    expect(links('12-tls12-h2.pcap').map((x) => [x.tlsVersion, x.alpn])).toEqual([['TLS1.2', 'h2']])
    expect(links('11-tls13-h2.pcap').map((x) => [x.tlsVersion, x.alpn])).toEqual([['TLS1.3', 'h2,http/1.1 (offered)']])
  })

  it('handshakes refused with an alert: unknown name, TLS 1.0 against a TLS 1.2 server, no common cipher', () => {
    const alerts = (f: string) => links(f).map((x) => [x.sni, x.tlsVersion, x.tlsHandshake!.offeredVersions, x.tlsHandshake!.alerts, x.tlsHandshake!.handshakeUs])
    expect(alerts('13-unknown-sni-alert.pcap')).toEqual([['other.podtap.test', undefined, ['TLS1.3', 'TLS1.2', 'TLS1.1', 'TLS1.0'], [{ from: 'server', level: 'fatal', description: 'unrecognized_name' }], undefined]])
    expect(alerts('14-tls10-refused-alert.pcap')).toEqual([['app.podtap.test', undefined, ['TLS1.0'], [{ from: 'server', level: 'fatal', description: 'protocol_version' }], undefined]])
    expect(alerts('05-tls12-handshake-failure-alert.pcap')).toEqual([[undefined, undefined, ['TLS1.2'], [{ from: 'server', level: 'fatal', description: 'handshake_failure' }], undefined]])
  })

  it('HelloRetryRequest, and a ClientHello over several TCP segments', () => {
    expect(links('02-tls13-hello-retry.pcap').map((x) => [x.tlsVersion, x.tlsHandshake!.helloRetry, x.tlsHandshake!.cipher])).toEqual([['TLS1.3', true, 'TLS_AES_256_GCM_SHA384']])
    expect(links('03-tls13-chrome-kyber-multi-segment-hello.pcap').map((x) => [x.sni, x.tlsVersion, x.alpn])).toEqual([['lh3.google.com', 'TLS1.3', 'h2,http/1.1 (offered)']])
  })

  it('an SSL 2.0 hello is labelled tls, its version offered, and counted; nothing else is guessed', () => {
    const r = replayFilesSync([path.join(DIR, '06-sslv2-hello.pcap')])
    expect(r.links.map((x) => [x.protocol, x.tls, x.sni, x.tlsVersion, x.tlsHandshake!.sslv2Hello, x.tlsHandshake!.offeredVersions])).toEqual([['tls', true, undefined, undefined, true, ['SSL2.0']]])
    expect(r.counters.get('parse_errors', { protocol: 'tls', reason: 'sslv2_hello' })).toBe(1)
  })
})
