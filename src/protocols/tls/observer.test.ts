import { spawnSync } from 'node:child_process'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { randomSteps } from '../../../test/helpers/fuzz.js'
import { runParser, type Step } from '../../../test/helpers/protocols.js'
import { checkSplits } from '../../../test/helpers/splits.js'
import {
  alert, ccs, clientHello, HANDSHAKE, opaqueMessage, record, sealed, serverHello, sslv2Hello, ALERT,
} from '../../../test/helpers/buffers/tls.js'
import type { ProtocolParser } from '../types.js'
import { looksLikeSslv2Hello, looksLikeTlsHandshake } from './detect.js'
import { CIPHER_NAMES } from './hello.js'
import { alpnLabel, MAX_HELLO_BYTES, TlsObserver, type TlsInfo } from './observer.js'

// The observer is not a request/response parser; to run it through the shared split and fuzz
// harness (test/helpers/protocols.ts) it is wrapped as one whose only "exchange" is its result at end.
const observerAsParser: ProtocolParser = {
  id: 'http',
  ports: [],
  detect: () => true,
  create(ctx) {
    const o = new TlsObserver((r) => ctx.count(r))
    return {
      data: (dir, chunk, tsUs) => o.data(dir, chunk, tsUs),
      gap: (dir, n) => o.gap(dir, n),
      end: () => ctx.emit({ method: 'tls', status: null, error: false, startUs: 0, endUs: 0, reqBytes: 0, respBytes: 0, attrs: { info: JSON.stringify(o.result()) } }),
    }
  },
}

const c = (data: Buffer, tsUs: number): Step => ({ dir: 'c2s', data, tsUs })
const s = (data: Buffer, tsUs: number): Step => ({ dir: 's2c', data, tsUs })

/** the observer's result for `steps`, the same whole, at every split and byte by byte */
function observe(steps: Step[]): { info: TlsInfo; counts: Record<string, number> } {
  const r = checkSplits(observerAsParser, steps, {}, ['exchanges', 'counts'])
  return { info: JSON.parse(r.exchanges[0]!.attrs!.info!) as TlsInfo, counts: r.counts }
}

const hs = (...msgs: Buffer[]): Buffer => record(HANDSHAKE, Buffer.concat(msgs))

describe('tls observer: what the handshake shows', () => {
  it('TLS 1.3: SNI, offered versions without GREASE, offered ALPN, chosen version and cipher, handshake time', () => {
    const { info, counts } = observe([
      c(hs(clientHello({ sni: 'api.example.com', versions: [0x8a8a, 0x0304, 0x0303], alpn: ['h2', 'http/1.1'] })), 1000),
      s(Buffer.concat([hs(serverHello({ version: 0x0304, cipher: 0x1302 })), ccs(), sealed(40), sealed(900), sealed(80)]), 2000),
      c(Buffer.concat([ccs(), sealed(53)]), 3500),
      c(sealed(120), 3600),
      s(sealed(300), 4000),
    ])
    expect(info).toEqual({
      sni: 'api.example.com', offeredVersions: ['TLS1.3', 'TLS1.2'], alpnOffered: ['h2', 'http/1.1'],
      version: 'TLS1.3', cipher: 'TLS_AES_256_GCM_SHA384', clientHelloUs: 1000, handshakeUs: 2500,
      alerts: [], encryptedAlerts: 0,
    })
    // TLS 1.3 sends the chosen ALPN encrypted: what the client offered is reported, marked
    expect(alpnLabel(info)).toBe('h2,http/1.1 (offered)')
    expect(counts).toEqual({})
  })

  it('TLS 1.2: ALPN chosen in the ServerHello, a Certificate across records, handshake to the server Finished', () => {
    const cert = opaqueMessage(11, 5000)
    const { info } = observe([
      c(hs(clientHello({ sni: 'shop.example', alpn: ['h2', 'http/1.1'] })), 1000),
      // ServerHello and the first part of the certificate in one record, the rest in another
      s(Buffer.concat([hs(serverHello({ cipher: 0xc02f, alpn: 'h2' }), cert.subarray(0, 2000)), hs(cert.subarray(2000), opaqueMessage(14, 0))]), 2000),
      c(Buffer.concat([hs(opaqueMessage(16, 66)), ccs(), sealed(40, HANDSHAKE)]), 3000),
      s(Buffer.concat([ccs(), sealed(40, HANDSHAKE)]), 4000),
      c(sealed(200), 4100),
    ])
    expect(info).toMatchObject({ sni: 'shop.example', offeredVersions: ['TLS1.2'], version: 'TLS1.2', cipher: 'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256', alpnChosen: 'h2', handshakeUs: 3000 })
    expect(alpnLabel(info)).toBe('h2')
  })

  it('a ClientHello split across three records', () => {
    const ch = clientHello({ sni: 'split.example', versions: [0x0304], padding: 300 })
    const { info, counts } = observe([c(Buffer.concat([hs(ch.subarray(0, 3)), hs(ch.subarray(3, 100)), hs(ch.subarray(100))]), 10)])
    expect(info).toMatchObject({ sni: 'split.example', offeredVersions: ['TLS1.3'] })
    expect(counts).toEqual({})
  })

  it('HelloRetryRequest: the second ClientHello after a ChangeCipherSpec is still read; time from the first', () => {
    const { info } = observe([
      c(hs(clientHello({ sni: 'retry.example', versions: [0x0304] })), 1000),
      s(Buffer.concat([hs(serverHello({ version: 0x0304, helloRetry: true, cipher: 0x1303 })), ccs()]), 2000),
      c(Buffer.concat([ccs(), hs(clientHello({ sni: 'retry.example', versions: [0x0304], alpn: ['http/1.1'] }))]), 3000),
      s(Buffer.concat([hs(serverHello({ version: 0x0304, cipher: 0x1303 })), sealed(500)]), 4000),
      c(sealed(53), 5000),
    ])
    expect(info).toMatchObject({ helloRetry: true, version: 'TLS1.3', cipher: 'TLS_CHACHA20_POLY1305_SHA256', clientHelloUs: 1000, handshakeUs: 4000, alpnOffered: ['http/1.1'] })
  })

  it('TLS 1.0 and 1.1 without extensions; SSL 3.0 records', () => {
    for (const [v, name] of [[0x0301, 'TLS1.0'], [0x0302, 'TLS1.1'], [0x0300, 'SSL3.0']] as const) {
      const { info } = observe([
        c(record(HANDSHAKE, clientHello({ legacyVersion: v, noExtensions: true }), v === 0x0300 ? 0x0300 : 0x0301), 1),
        s(record(HANDSHAKE, serverHello({ legacyVersion: v, cipher: 0x002f }), v), 2),
      ])
      expect(info).toMatchObject({ offeredVersions: [name], version: name, cipher: 'TLS_RSA_WITH_AES_128_CBC_SHA' })
    }
  })

  it('plaintext alerts with level and description; encrypted ones counted', () => {
    const failed = observe([c(hs(clientHello({ sni: 'x.example' })), 1), s(alert(2, 40), 2)])
    expect(failed.info.alerts).toEqual([{ from: 'server', level: 'fatal', description: 'handshake_failure' }])
    expect(failed.info.handshakeUs).toBeUndefined()
    const closed = observe([
      c(hs(clientHello()), 1),
      s(Buffer.concat([hs(serverHello({ cipher: 0xc030 })), ccs(), sealed(40, HANDSHAKE)]), 2),
      c(Buffer.concat([ccs(), sealed(40, HANDSHAKE), sealed(100)]), 3),
      c(sealed(26, ALERT), 4), // close_notify under GCM: 26 bytes, content unknown
      s(alert(1, 0), 5), // after its ChangeCipherSpec even 2 bytes are ciphertext (a NULL cipher aside)
    ])
    expect(closed.info.encryptedAlerts).toBe(2)
    expect(closed.info.alerts).toEqual([])
    // a warning before encryption is read as such
    const warned = observe([c(hs(clientHello({ sni: 'nope.example' })), 1), s(alert(1, 112), 2), s(hs(serverHello()), 3)])
    expect(warned.info.alerts).toEqual([{ from: 'server', level: 'warning', description: 'unrecognized_name' }])
  })

  it('an SSL 2.0-format hello is recognised and not parsed further; a TLS answer still is', () => {
    const v2 = sslv2Hello(0x0301)
    expect(looksLikeSslv2Hello(v2)).toBe(true)
    expect(looksLikeTlsHandshake(v2)).toBe(false)
    const { info, counts } = observe([c(v2, 1), s(hs(serverHello({ legacyVersion: 0x0301, cipher: 0x0035 })), 2), c(Buffer.concat([hs(opaqueMessage(16, 130)), ccs()]), 3)])
    expect(info).toMatchObject({ sslv2Hello: true, offeredVersions: ['TLS1.0'], version: 'TLS1.0', cipher: 'TLS_RSA_WITH_AES_256_CBC_SHA' })
    expect(counts).toEqual({ sslv2_hello: 1 })
    // SSL 2.0 both ways: the server's answer is not TLS; counted, nothing thrown
    const pure = observe([c(sslv2Hello(0x0002), 1), s(Buffer.from([0x80, 0x10, 0x04, 0x00, 0x01, 0x00, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]), 2)])
    expect(pure.info).toMatchObject({ sslv2Hello: true, offeredVersions: ['SSL2.0'] })
    expect(pure.info.version).toBeUndefined()
    expect(pure.counts).toEqual({ sslv2_hello: 1, not_tls_record: 1 })
  })
})

describe('tls observer: bounds and bad input', () => {
  it('a hello claiming more than MAX_HELLO_BYTES is skipped, not buffered', () => {
    const big = MAX_HELLO_BYTES + 100
    const head = Buffer.from([1, (big >> 16) & 0xff, (big >> 8) & 0xff, big & 0xff])
    const body = Buffer.alloc(big, 0x41)
    const msg = Buffer.concat([head, body])
    const steps: Step[] = []
    for (let off = 0; off < msg.length; off += 16384) steps.push(c(record(HANDSHAKE, msg.subarray(off, off + 16384)), 1))
    steps.push(s(hs(serverHello({ version: 0x0304 })), 2))
    const r = runParser(observerAsParser, steps)
    const info = JSON.parse(r.exchanges[0]!.attrs!.info!) as TlsInfo
    expect(r.counts).toEqual({ hello_too_large: 1 })
    expect(info.sni).toBeUndefined()
    // framing went on: the ServerHello after it was read
    expect(info.version).toBe('TLS1.3')
  })

  it('record length past 2^14 + 2048, or a non-TLS header: framing stops until a chunk starts with records', () => {
    const bad = Buffer.from([23, 3, 3, 0xff, 0xff, 1, 2, 3])
    const r = runParser(observerAsParser, [c(hs(clientHello({ sni: 'a.example' })), 1), s(bad, 2), s(Buffer.from('garbage'), 3), s(hs(serverHello({ version: 0x0304 })), 4)])
    const info = JSON.parse(r.exchanges[0]!.attrs!.info!) as TlsInfo
    expect(r.counts).toEqual({ not_tls_record: 1 })
    expect(info).toMatchObject({ sni: 'a.example', version: 'TLS1.3' })
  })

  it('a gap of known size inside a record keeps the framing; an unknown gap resyncs at the next record start', () => {
    const app = sealed(1000)
    const r = runParser(observerAsParser, [
      c(hs(clientHello()), 1),
      s(Buffer.concat([hs(serverHello({ cipher: 0xc02f })), ccs(), sealed(40, HANDSHAKE)]), 2),
      c(Buffer.concat([ccs(), sealed(40, HANDSHAKE)]), 3),
      c(app.subarray(0, 100), 4),
      { dir: 'c2s', gap: 500, tsUs: 5 },
      c(Buffer.concat([app.subarray(600), sealed(26, ALERT)]), 6),
      { dir: 's2c', gap: -1, tsUs: 7 },
      s(Buffer.from([1, 2, 3]), 8), // mid-record: not followed
      s(sealed(26, ALERT), 9), // a chunk that starts with a record: followed again
    ])
    const info = JSON.parse(r.exchanges[0]!.attrs!.info!) as TlsInfo
    expect(info.encryptedAlerts).toBe(2)
    expect(r.counts).toEqual({})
  })

  it('random bytes at random splits and gaps never throw, and keep at most one hello per direction', () => {
    fc.assert(
      fc.property(randomSteps(300), (steps) => {
        const r = runParser(observerAsParser, steps)
        expect(r.exchanges).toHaveLength(1)
      }),
      { numRuns: 300 },
    )
  })

  it('a real conversation cut at random with random bytes between never throws', () => {
    const conv = [
      hs(clientHello({ sni: 'fuzz.example', versions: [0x0304], alpn: ['h2'] })),
      Buffer.concat([hs(serverHello({ version: 0x0304 })), ccs(), sealed(300)]),
      Buffer.concat([ccs(), sealed(53), alert(2, 50)]),
    ]
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(2), fc.nat(400), fc.uint8Array({ maxLength: 20 })), { maxLength: 12 }), (cuts) => {
        const steps: Step[] = []
        cuts.forEach(([i, at, junk], k) => {
          const b = conv[i]!
          steps.push({ dir: i === 1 ? 's2c' : 'c2s', data: Buffer.concat([b.subarray(0, at), Buffer.from(junk), b.subarray(at)]), tsUs: k })
        })
        const r = runParser(observerAsParser, steps)
        expect(r.exchanges).toHaveLength(1)
      }),
      { numRuns: 300 },
    )
  })
})

const openssl = spawnSync('openssl', ['ciphers', '-V', '-stdname', 'ALL:COMPLEMENTOFALL:@SECLEVEL=0'], { encoding: 'utf8' })

describe.skipIf(openssl.status !== 0)('tls cipher names', () => {
  it('every name in the table is the one OpenSSL gives that code', () => {
    const byCode = new Map<number, string>()
    for (const line of openssl.stdout.split('\n')) {
      const m = /^\s*0x([0-9A-F]{2}),0x([0-9A-F]{2})\s+-\s+(\S+)/.exec(line)
      if (m) byCode.set(parseInt(m[1]! + m[2]!, 16), m[3]!)
    }
    let checked = 0
    for (const [code, name] of CIPHER_NAMES) {
      const theirs = byCode.get(code)
      if (theirs === undefined) continue // not built into this OpenSSL (RC4, CCM)
      expect(theirs, `0x${code.toString(16)}`).toBe(name)
      checked++
    }
    expect(checked).toBeGreaterThan(20)
  })
})
