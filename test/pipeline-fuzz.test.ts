// Bad input never throws out of the pipeline and never grows it past its limits: real captures with
// bytes flipped, packets dropped, duplicated and shuffled, and random payloads on the ports every
// parser listens to, all through the real decode → flow table → reassembly → detection → parsers path.

import * as path from 'node:path'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { openCaptureFile } from '../src/capture/pcap-file.js'
import type { Packet } from '../src/capture/source.js'
import { Pipeline } from '../src/pipeline/pipeline.js'
import type { Exchange } from '../src/records.js'
import { TcpConversation } from './helpers/packets.js'

const PCAPS = path.join(import.meta.dirname, 'pcaps')
const SOURCES = [
  'http1/04-docker-keepalive-chunked-upgrade.pcap',
  'http1/11-pipelining.pcap',
  'http1/05-chunked-requests-and-1xx.pcap',
  'odd/02-ipv6-retransmits.cap',
]

interface Raw { tsUs: number; linkType: number; data: Buffer }

function load(rel: string): Raw[] {
  const src = openCaptureFile(path.join(PCAPS, rel))
  const out: Raw[] = []
  for (let p = src.next(); p !== null; p = src.next()) out.push({ tsUs: p.tsUs, linkType: p.linkType, data: Buffer.from(p.data) })
  src.close()
  return out
}

const LIMITS = { maxFlows: 8, maxPendingRequests: 4, maxOutOfOrderBytes: 4096, maxOutOfOrderSegments: 4, maxLineBytes: 256, maxHeaderBytes: 1024, maxDetectBytes: 512, maxFrameBytes: 4096 }

function run(packets: Raw[]): { exchanges: Exchange[]; maxFlows: number } {
  const exchanges: Exchange[] = []
  const pl = new Pipeline({ limits: LIMITS, onExchange: (e) => exchanges.push(e), orderCap: 16 })
  let maxFlows = 0
  const pkt: Packet = { tsUs: 0, ifindex: 0, linkType: 1, data: Buffer.alloc(0), origLen: 0 }
  for (const r of packets) {
    pkt.tsUs = r.tsUs
    pkt.linkType = r.linkType
    pkt.data = r.data
    pkt.origLen = r.data.length
    pl.packet(pkt)
    maxFlows = Math.max(maxFlows, pl.flowsActive)
  }
  pl.finish()
  return { exchanges, maxFlows }
}

function sane(e: Exchange): void {
  expect(typeof e.method).toBe('string')
  expect(e.endUs).toBeGreaterThanOrEqual(e.startUs)
  expect(e.reqBytes).toBeGreaterThanOrEqual(0)
  expect(e.respBytes).toBeGreaterThanOrEqual(0)
  if (e.resource !== undefined) expect(e.resource.length).toBeLessThanOrEqual(4096)
}

describe('pipeline under hostile input', () => {
  const corpus = SOURCES.map(load)

  it('mutated real captures: flipped bytes, dropped, duplicated and reordered packets', () => {
    fc.assert(
      fc.property(
        fc.nat(corpus.length - 1),
        fc.array(fc.tuple(fc.nat(), fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 40 }),
        fc.array(fc.tuple(fc.nat(), fc.constantFrom('drop', 'dup', 'swap', 'cut')), { maxLength: 20 }),
        (which, flips, ops) => {
          const pkts = corpus[which].map((r) => ({ ...r, data: Buffer.from(r.data) }))
          for (const [i, off, v] of flips) {
            const p = pkts[i % pkts.length]
            p.data[off % p.data.length] = v
          }
          for (const [i, op] of ops) {
            const k = i % pkts.length
            if (op === 'drop') pkts.splice(k, 1)
            else if (op === 'dup') pkts.splice(k, 0, { ...pkts[k] })
            else if (op === 'swap' && k + 1 < pkts.length) [pkts[k], pkts[k + 1]] = [pkts[k + 1], pkts[k]]
            else if (op === 'cut') pkts[k] = { ...pkts[k], data: pkts[k].data.subarray(0, i % (pkts[k].data.length + 1)) }
            if (pkts.length === 0) break
          }
          const r = run(pkts)
          expect(r.maxFlows).toBeLessThanOrEqual(LIMITS.maxFlows)
          r.exchanges.forEach(sane)
        },
      ),
      { numRuns: 150 },
    )
  })

  it('random payloads on every parser port, at random segment sizes, never throw', () => {
    const ports = [80, 3306, 5432, 6379, 8080, 9092, 27017, 12345]
    fc.assert(
      fc.property(
        fc.constantFrom(...ports),
        fc.array(fc.tuple(fc.boolean(), fc.uint8Array({ minLength: 1, maxLength: 600 })), { minLength: 1, maxLength: 12 }),
        fc.integer({ min: 1, max: 1460 }),
        fc.boolean(),
        (port, msgs, mss, handshake) => {
          const c = new TcpConversation({ client: { ip: '10.1.0.1', port: 40000 }, server: { ip: '10.1.0.2', port }, mss })
          if (handshake) c.handshake()
          for (const [toServer, bytes] of msgs) c.send(toServer ? 'c2s' : 's2c', Buffer.from(bytes))
          c.close()
          const r = run(c.packets.map((p) => ({ tsUs: p.tsUs, linkType: 1, data: p.data })))
          r.exchanges.forEach(sane)
        },
      ),
      { numRuns: 300 },
    )
  })

  it('many connections churn through a small flow table without growing it', () => {
    const packets: Raw[] = []
    for (let i = 0; i < 200; i++) {
      const c = new TcpConversation({ client: { ip: '10.1.0.1', port: 20000 + i }, server: { ip: '10.1.0.2', port: 80 }, startUs: 1_700_000_000_000_000 + i * 10 })
      c.handshake().send('c2s', 'GET /x HTTP/1.1\r\nHost: a\r\n\r\n') // never answered, never closed
      packets.push(...c.packets.map((p) => ({ tsUs: p.tsUs, linkType: 1, data: p.data })))
    }
    packets.sort((a, b) => a.tsUs - b.tsUs)
    const r = run(packets)
    expect(r.maxFlows).toBeLessThanOrEqual(LIMITS.maxFlows)
    // every request is still reported: evicted connections report theirs as unanswered
    expect(r.exchanges).toHaveLength(200)
    expect(r.exchanges.every((e) => e.status === null && e.error)).toBe(true)
  })
})
