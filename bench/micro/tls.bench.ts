// TLS handshake observer throughput (src/protocols/tls/observer.ts): what following an encrypted
// connection costs. 100 connections, each a TLS 1.3 handshake (ClientHello with SNI and ALPN,
// ServerHello + 3 KB of encrypted handshake, client Finished) and 256 KB of application data each way
// in 16 KiB records, all cut into 1460-byte segments, fed as the pipeline would.
// Run: npx tsx bench/micro/tls.bench.ts    (prints mitata's table, then MB/s and connections/s)

import { bench, do_not_optimize, run } from 'mitata'
import { TlsObserver } from '../../src/protocols/tls/observer.js'
import { ccs, clientHello, HANDSHAKE, record, sealed, serverHello } from '../../test/helpers/buffers/tls.js'
import { MSS } from './harness.js'

const CONNS = 100
const APP = 256 * 1024

const segments = (b: Buffer): Buffer[] => {
  const out: Buffer[] = []
  for (let o = 0; o < b.length; o += MSS) out.push(b.subarray(o, o + MSS))
  return out
}
const app = Buffer.concat(Array.from({ length: APP / 16384 }, () => sealed(16384)))
const c2s = segments(Buffer.concat([record(HANDSHAKE, clientHello({ sni: 'api.example.com', versions: [0x0304, 0x0303], alpn: ['h2', 'http/1.1'] })), ccs(), sealed(53), app]))
const s2c = segments(Buffer.concat([record(HANDSHAKE, serverHello({ version: 0x0304 })), ccs(), sealed(3000), app]))
const bytesPerConn = [...c2s, ...s2c].reduce((a, b) => a + b.length, 0)

function follow(): number {
  let done = 0
  for (let i = 0; i < CONNS; i++) {
    const o = new TlsObserver()
    // the handshake in order, then the data interleaved as requests and responses would come
    o.data('c2s', c2s[0]!, 1)
    o.data('s2c', s2c[0]!, 2)
    for (let k = 1; k < Math.max(c2s.length, s2c.length); k++) {
      if (k < c2s.length) o.data('c2s', c2s[k]!, 3 + k)
      if (k < s2c.length) o.data('s2c', s2c[k]!, 3 + k)
    }
    if (o.result().sni !== undefined) done++
  }
  return done
}

if (follow() !== CONNS) throw new Error('the observer did not read every handshake')
bench(`tls observer: ${CONNS} connections, ${(bytesPerConn / 1024).toFixed(0)} KB each in ${MSS}-byte segments`, () => do_not_optimize(follow()))
const r = await run()
const ns = r.benchmarks[0]!.runs[0]!.stats!.avg
console.log(`\n${((CONNS * bytesPerConn) / (ns / 1e9) / 1e6).toFixed(0)} MB/s, ${(CONNS / (ns / 1e9)).toFixed(0)} connections/s, ${(ns / CONNS / (c2s.length + s2c.length)).toFixed(0)} ns per segment`)
