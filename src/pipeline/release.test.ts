// Exchanges are held and released in request-start order (ordered.ts); a release asks every open
// connection for its oldest pending request, so with many connections open the scans are spaced by
// packets as well as by time (pipeline.ts release()). Whatever the spacing, an exchange leaves within
// a second of capture time (tick), in start order, and none is lost.

import { describe, expect, it } from 'vitest'
import { LinkType } from '../capture/source.js'
import type { Exchange } from '../records.js'
import { ethIpv4Tcp, type TcpSpec } from '../../test/helpers/packets.js'
import { Pipeline } from './pipeline.js'

const REQ = 'GET /x HTTP/1.1\r\nHost: t\r\n\r\n'
const RESP = 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'

function feed(p: Pipeline, tsUs: number, spec: TcpSpec): void {
  const data = ethIpv4Tcp(spec)
  p.packet({ tsUs, ifindex: 1, linkType: LinkType.ETHERNET, data, origLen: data.length })
}

/** one connection's handshake and first exchange from 10.2.x.y:port to 10.9.0.1:80 */
function exchange(p: Pipeline, ts: number, src: string, sport: number, seq: { c: number; s: number }, handshake: boolean): number {
  const c = { src, dst: '10.9.0.1', sport, dport: 80 }
  const s = { src: c.dst, dst: src, sport: 80, dport: sport }
  if (handshake) {
    feed(p, (ts += 10), { ...c, seq: seq.c - 1, flags: 'S' })
    feed(p, (ts += 10), { ...s, seq: seq.s - 1, ack: seq.c, flags: 'SA' })
    feed(p, (ts += 10), { ...c, seq: seq.c, ack: seq.s, flags: 'A' })
  }
  feed(p, (ts += 10), { ...c, seq: seq.c, ack: seq.s, payload: REQ })
  seq.c += REQ.length
  feed(p, (ts += 50), { ...s, seq: seq.s, ack: seq.c, payload: RESP })
  seq.s += RESP.length
  return ts
}

describe('release of held exchanges with many connections open', () => {
  for (const open of [2, 3000]) {
    it(`${open} idle keep-alive connections beside a busy one: every exchange within 1 s, in start order`, () => {
      const out: { e: Exchange; atUs: number }[] = []
      const p: Pipeline = new Pipeline({ onExchange: (e) => out.push({ e, atUs: p.nowUs }) })
      let ts = 1_700_000_000_000_000
      for (let i = 0; i < open; i++) ts = exchange(p, ts, `10.2.${i >> 8}.${i & 255}`, 30000 + i, { c: 1001, s: 5001 }, true)
      const busy = { c: 1001, s: 9001 }
      const busyExchanges = 400
      for (let k = 0; k < busyExchanges; k++) ts = exchange(p, ts + 10_000, '10.3.0.1', 40000, busy, k === 0)
      const beforeFinish = out.length
      p.finish()
      expect(out.length).toBe(open + busyExchanges)
      // released while packets came, not only at the end
      expect(beforeFinish).toBeGreaterThan(out.length - 120)
      for (let i = 1; i < out.length; i++) expect(out[i]!.e.startUs).toBeGreaterThanOrEqual(out[i - 1]!.e.startUs)
      const late = out.slice(0, beforeFinish).map((x) => x.atUs - x.e.endUs)
      expect(Math.max(...late)).toBeLessThanOrEqual(1_000_000 + 20_000)
    })
  }
})
