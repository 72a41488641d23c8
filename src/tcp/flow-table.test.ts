import { describe, expect, it } from 'vitest'
import { DEFAULT_LIMITS } from '../config.js'
import { C } from '../counters.js'
import { CLIENT, SERVER, T0, handshake, run, type Recorder, type Seg } from '../../test/helpers/tcp.js'
import type { Dir, EndReason, StreamHandler } from './types.js'

// Client ISN 1000 (first data byte 1001), server ISN 5000 (first data byte 5001).
const HS = handshake(1000, 5000)

interface Case {
  name: string
  segs: Seg[]
  /** handler calls of the first flow; the flow is closed with closeAll('shutdown') after the segments */
  want: string[]
  retransmits?: number
  limits?: Partial<typeof DEFAULT_LIMITS>
}

const cases: Case[] = [
  {
    name: 'in order, both directions',
    segs: [
      ...HS,
      { from: 'c', seq: 1001, ack: 5001, flags: 'PA', data: 'hello' },
      { from: 's', seq: 5001, ack: 1006, flags: 'PA', data: 'world' },
      { from: 'c', seq: 1006, ack: 5006, flags: 'PA', data: 'again' },
    ],
    want: ['c2s:hello', 's2c:world', 'c2s:again', 'end:shutdown'],
    retransmits: 0,
  },
  {
    name: 'reorder 3 2 1',
    segs: [
      ...HS,
      { from: 'c', seq: 1007, data: 'CCC' },
      { from: 'c', seq: 1004, data: 'BBB' },
      { from: 'c', seq: 1001, data: 'AAA' },
    ],
    want: ['c2s:AAA', 'c2s:BBB', 'c2s:CCC', 'end:shutdown'],
    retransmits: 0,
  },
  {
    name: 'reorder 2 3 1 with a duplicate of 3',
    segs: [
      ...HS,
      { from: 'c', seq: 1004, data: 'BBB' },
      { from: 'c', seq: 1007, data: 'CCC' },
      { from: 'c', seq: 1007, data: 'CCC' },
      { from: 'c', seq: 1001, data: 'AAA' },
    ],
    want: ['c2s:AAA', 'c2s:BBB', 'c2s:CCC', 'end:shutdown'],
    retransmits: 1,
  },
  {
    name: 'exact retransmission is delivered once',
    segs: [...HS, { from: 'c', seq: 1001, data: 'hello' }, { from: 'c', seq: 1001, data: 'hello' }, { from: 'c', seq: 1006, data: '!' }],
    want: ['c2s:hello', 'c2s:!', 'end:shutdown'],
    retransmits: 1,
  },
  {
    name: 'overlap at the front is trimmed',
    segs: [...HS, { from: 'c', seq: 1001, data: 'hello' }, { from: 'c', seq: 1004, data: 'loworld' }],
    want: ['c2s:hello', 'c2s:world', 'end:shutdown'],
    retransmits: 1,
  },
  {
    name: 'out-of-order segment overlapping buffered pieces on both sides keeps only the new parts',
    // stream ABCDEFGHIJKLMNOP from 1001
    segs: [
      ...HS,
      { from: 'c', seq: 1005, data: 'EFG' },
      { from: 'c', seq: 1011, data: 'KLM' },
      { from: 'c', seq: 1004, data: 'DEFGHIJKLMN' },
      { from: 'c', seq: 1001, data: 'ABC' },
      { from: 'c', seq: 1013, data: 'MNOP' },
    ],
    want: ['c2s:ABC', 'c2s:D', 'c2s:EFG', 'c2s:HIJ', 'c2s:KLM', 'c2s:N', 'c2s:OP', 'end:shutdown'],
    retransmits: 2,
  },
  {
    name: 'in-order segment covering part of a buffered piece',
    segs: [...HS, { from: 'c', seq: 1005, data: 'EFG' }, { from: 'c', seq: 1001, data: 'ABCDEF' }],
    want: ['c2s:ABCDEF', 'c2s:G', 'end:shutdown'],
    retransmits: 1,
  },
  {
    name: 'in-order segment covering buffered pieces entirely',
    segs: [...HS, { from: 'c', seq: 1003, data: 'C' }, { from: 'c', seq: 1005, data: 'E' }, { from: 'c', seq: 1001, data: 'ABCDEF' }],
    want: ['c2s:ABCDEF', 'end:shutdown'],
    retransmits: 1,
  },
  {
    name: 'gap: the peer acknowledges bytes never seen, delivery continues after the hole',
    segs: [
      ...HS,
      { from: 'c', seq: 1001, data: 'AAA' },
      { from: 'c', seq: 1007, data: 'CCC' },
      { from: 's', seq: 5001, ack: 1010 },
      { from: 'c', seq: 1010, data: 'DDD' },
      { from: 'c', seq: 1004, data: 'BBB' }, // too late: already declared lost
    ],
    want: ['c2s:AAA', 'c2s:gap:3', 'c2s:CCC', 'c2s:DDD', 'end:shutdown'],
    retransmits: 1,
  },
  {
    name: 'gap: the peer acknowledges bytes of which nothing is buffered',
    segs: [...HS, { from: 'c', seq: 1001, data: 'AAA' }, { from: 's', seq: 5001, ack: 1011 }, { from: 'c', seq: 1011, data: 'K' }],
    want: ['c2s:AAA', 'c2s:gap:7', 'c2s:K', 'end:shutdown'],
  },
  {
    name: 'a hole still open at the end is reported, then the buffered bytes',
    segs: [...HS, { from: 'c', seq: 1001, data: 'AAA' }, { from: 'c', seq: 1007, data: 'CCC' }],
    want: ['c2s:AAA', 'c2s:gap:3', 'c2s:CCC', 'end:shutdown'],
  },
  {
    name: 'sequence numbers wrap around 2^32',
    // ISN 0xfffffffc: A is at 0xfffffffd, D at 0x00000000, F at 2, J at 6
    segs: [
      ...handshake(0xfffffffc, 5000),
      { from: 'c', seq: 2, data: 'FGHI' },
      { from: 'c', seq: 0xfffffffd, data: 'ABCDE' },
      { from: 'c', seq: 0xffffffff, data: 'CDEFG' }, // retransmission across the wrap
      { from: 'c', seq: 6, data: 'JK' },
      { from: 's', seq: 5001, ack: 8, data: 'ok' },
    ],
    want: ['c2s:ABCDE', 'c2s:FGHI', 'c2s:JK', 's2c:ok', 'end:shutdown'],
    retransmits: 1,
  },
  {
    name: 'joined mid-stream: gap(-1) once per direction before its first data',
    segs: [
      { from: 'c', seq: 7000, ack: 9000, data: 'GET' },
      { from: 's', seq: 9000, ack: 7003, data: 'HTTP' },
      { from: 'c', seq: 7003, ack: 9004, data: 'more' },
      { from: 'c', seq: 6990, ack: 9004, data: 'old' }, // before the base: old, dropped
      { from: 's', seq: 9004, ack: 7007, data: 'again' },
    ],
    want: ['c2s:gap:-1', 'c2s:GET', 's2c:gap:-1', 's2c:HTTP', 'c2s:more', 's2c:again', 'end:shutdown'],
    retransmits: 1,
  },
  {
    name: 'joined mid-stream on a pure ACK: the base is its sequence number',
    segs: [{ from: 's', seq: 9000, ack: 7000 }, { from: 's', seq: 9000, ack: 7000, data: 'resp' }],
    want: ['s2c:gap:-1', 's2c:resp', 'end:shutdown'],
  },
  {
    name: 'TCP Fast Open: data in the SYN is delivered, once',
    segs: [
      { from: 'c', seq: 1000, flags: 'S', data: 'GET /' },
      { from: 'c', seq: 1000, flags: 'S', data: 'GET /' }, // retransmitted SYN
      { from: 's', seq: 5000, flags: 'SA', ack: 1006 },
      { from: 'c', seq: 1006, ack: 5001, data: ' HTTP/1.0' },
    ],
    want: ['c2s:GET /', 'c2s: HTTP/1.0', 'end:shutdown'],
    retransmits: 1,
  },
  {
    name: 'FIN both ways ends the flow; trailing ACK does not start another',
    segs: [
      ...HS,
      { from: 'c', seq: 1001, ack: 5001, data: 'hello' },
      { from: 'c', seq: 1006, ack: 5001, flags: 'FA' },
      { from: 's', seq: 5001, ack: 1007, data: 'bye', flags: 'FPA' },
      { from: 'c', seq: 1007, ack: 5005 },
    ],
    want: ['c2s:hello', 's2c:bye', 'end:fin'],
  },
  {
    name: 'FIN before the last data (reordered): ends once the data fills in',
    segs: [
      ...HS,
      { from: 'c', seq: 1006, data: 'world', flags: 'F' },
      { from: 's', seq: 5001, ack: 1001, flags: 'FA' },
      { from: 'c', seq: 1001, data: 'hello' },
    ],
    want: ['c2s:hello', 'c2s:world', 'end:fin'],
  },
  {
    name: 'FIN with bytes missing before it: the peer ACK of the FIN declares them lost',
    segs: [
      ...HS,
      { from: 'c', seq: 1001, data: 'hello' },
      { from: 'c', seq: 1009, flags: 'FA', ack: 5001 },
      { from: 's', seq: 5001, ack: 1010, flags: 'FA' },
    ],
    want: ['c2s:hello', 'c2s:gap:3', 'end:fin'],
  },
  {
    name: 'data past the FIN is not delivered',
    segs: [...HS, { from: 'c', seq: 1001, data: 'ab', flags: 'F' }, { from: 'c', seq: 1001, data: 'abcd' }],
    want: ['c2s:ab', 'end:shutdown'],
    retransmits: 1,
  },
  {
    name: 'RST: flush what is buffered (declaring the hole lost), end rst',
    segs: [...HS, { from: 'c', seq: 1001, data: 'hello' }, { from: 'c', seq: 1011, data: 'world' }, { from: 's', seq: 5001, flags: 'R' }],
    want: ['c2s:hello', 'c2s:gap:5', 'c2s:world', 'end:rst'],
  },
  {
    name: 'snaplen cut: captured part, then a gap for the missing tail',
    segs: [
      ...HS,
      { from: 'c', seq: 1001, data: 'GET ', wireLen: 10 },
      { from: 'c', seq: 1011, data: 'xyz' },
      { from: 'c', seq: 1014, data: '', wireLen: 6 }, // headers-only snaplen: nothing captured
      { from: 'c', seq: 1020, data: '!' },
    ],
    want: ['c2s:GET ', 'c2s:gap:6', 'c2s:xyz', 'c2s:gap:6', 'c2s:!', 'end:shutdown'],
  },
  {
    name: 'snaplen cut on an out-of-order segment',
    segs: [...HS, { from: 'c', seq: 1004, data: 'DE', wireLen: 5 }, { from: 'c', seq: 1001, data: 'ABC' }, { from: 'c', seq: 1009, data: 'I' }],
    want: ['c2s:ABC', 'c2s:DE', 'c2s:gap:3', 'c2s:I', 'end:shutdown'],
  },
  {
    name: 'OOO segment cap: the first hole is declared lost',
    limits: { maxOutOfOrderSegments: 2 },
    segs: [
      ...HS,
      { from: 'c', seq: 1004, data: 'BBB' },
      { from: 'c', seq: 1007, data: 'CCC' },
      { from: 'c', seq: 1010, data: 'DDD' },
      { from: 'c', seq: 1001, data: 'AAA' },
    ],
    want: ['c2s:gap:3', 'c2s:BBB', 'c2s:CCC', 'c2s:DDD', 'end:shutdown'],
    retransmits: 1,
  },
  {
    name: 'OOO byte cap: the first hole is declared lost, later holes stay open',
    limits: { maxOutOfOrderBytes: 5 },
    segs: [
      ...HS,
      { from: 'c', seq: 1007, data: 'CCC' },
      { from: 'c', seq: 1013, data: 'EEE' },
      { from: 'c', seq: 1010, data: 'DDD' },
    ],
    want: ['c2s:gap:6', 'c2s:CCC', 'c2s:DDD', 'c2s:EEE', 'end:shutdown'],
  },
  {
    name: 'OOO cap hit by a segment before the buffered ones: the hole up to it is lost',
    limits: { maxOutOfOrderBytes: 4 },
    segs: [...HS, { from: 'c', seq: 1011, data: 'KKK' }, { from: 'c', seq: 1005, data: 'EEE' }],
    want: ['c2s:gap:4', 'c2s:EEE', 'c2s:gap:3', 'c2s:KKK', 'end:shutdown'],
  },
  {
    name: 'a segment larger than the byte cap is never buffered',
    limits: { maxOutOfOrderBytes: 2 },
    segs: [...HS, { from: 'c', seq: 1004, data: 'DEFG' }],
    want: ['c2s:gap:3', 'c2s:DEFG', 'end:shutdown'],
  },
]

describe('FlowTable: handler calls per scripted segments', () => {
  for (const c of cases) {
    it(c.name, () => {
      const r = run(c.segs, { limits: c.limits })
      r.table.closeAll('shutdown', r.nowUs + 1)
      expect(r.flows.length).toBe(1)
      const rec = r.flows[0] as Recorder
      expect(rec.events).toEqual(c.want)
      if (c.retransmits !== undefined) {
        expect(rec.flow.retransmits).toBe(c.retransmits)
        expect(r.counters.get(C.tcpRetransmits)).toBe(c.retransmits)
      }
      // bytes and gap bytes agree with what was delivered
      const delivered = { c2s: 0, s2c: 0 }
      const lost = { c2s: 0, s2c: 0 }
      for (const e of rec.events) {
        const m = /^(c2s|s2c):(gap:(-?\d+)|(.*))$/s.exec(e)
        if (m === null) continue
        const dir = m[1] as Dir
        if (m[3] !== undefined) lost[dir] += Math.max(0, Number(m[3]))
        else delivered[dir] += (m[4] as string).length
      }
      expect(rec.flow.bytes).toEqual(delivered)
      expect(rec.flow.gapBytes).toEqual(lost)
      expect(r.counters.get(C.tcpGapBytes)).toBe(lost.c2s + lost.s2c)
      expect(r.table.size).toBe(0)
      expect(r.counters.get(C.flowsActive)).toBe(0)
    })
  }
})

describe('FlowTable: counters around caps and gaps', () => {
  it('counts the cap that forced a hole closed, once per segment', () => {
    const r = run(
      [...HS, { from: 'c', seq: 1004, data: 'B' }, { from: 'c', seq: 1006, data: 'C' }, { from: 'c', seq: 1008, data: 'D' }],
      { limits: { maxOutOfOrderSegments: 1 } },
    )
    expect(r.counters.get(C.tcpOooDropped, { reason: 'segments_cap' })).toBe(2)
    expect(r.counters.get(C.tcpGaps)).toBe(2) // 1001-1003 and 1005
    expect(r.counters.get(C.tcpGapBytes)).toBe(4)
    expect(r.flows[0]?.events).toEqual(['c2s:gap:3', 'c2s:B', 'c2s:gap:1', 'c2s:C'])
  })

  it('drops a segment implausibly far ahead instead of buffering it', () => {
    const r = run([...HS, { from: 'c', seq: (1001 + 0x7000_0000) >>> 0, data: 'far' }, { from: 'c', seq: 1001, data: 'near' }])
    expect(r.counters.get(C.tcpOooDropped, { reason: 'out_of_window' })).toBe(1)
    expect(r.flows[0]?.events).toEqual(['c2s:near'])
  })

  it('an ACK implausibly far ahead declares nothing lost', () => {
    const r = run([...HS, { from: 'c', seq: 1001, data: 'a' }, { from: 's', seq: 5001, ack: (1002 + 0x7000_0000) >>> 0 }, { from: 'c', seq: 1002, data: 'b' }])
    expect(r.flows[0]?.events).toEqual(['c2s:a', 'c2s:b'])
  })
})

describe('FlowTable: roles', () => {
  const dirs = (r: ReturnType<typeof run>) => {
    const info = (r.flows[0] as Recorder).flow
    return `${info.client.ip}:${info.client.port}>${info.server.ip}:${info.server.port} ${info.roleSource}`
  }

  it('SYN: its sender is the client', () => {
    const r = run([{ from: 's', seq: 1, flags: 'S' }]) // the "server" endpoint of the script sends the SYN
    expect(dirs(r)).toBe('10.0.0.2:80>10.0.0.1:40000 syn')
  })

  it('only the SYN-ACK seen: its receiver is the client, even against the port hint', () => {
    const r = run([{ from: 'c', seq: 1, flags: 'SA', ack: 7 }])
    expect(dirs(r)).toBe('10.0.0.2:80>10.0.0.1:40000 synack')
  })

  it('handshake reordered (SYN-ACK before SYN): roles from the SYN, data delivered from the start', () => {
    const r = run([
      { from: 's', seq: 5000, flags: 'SA', ack: 1001 },
      { from: 'c', seq: 1000, flags: 'S' },
      { from: 'c', seq: 1001, ack: 5001, data: 'GET' },
    ])
    expect(dirs(r)).toBe('10.0.0.1:40000>10.0.0.2:80 syn')
    expect(r.flows[0]?.events).toEqual(['c2s:GET'])
  })

  it('no SYN: a well-known server port decides, whoever sends first', () => {
    const r = run([{ from: 's', seq: 9, ack: 1, data: 'HTTP/1.1 200 OK' }])
    expect(dirs(r)).toBe('10.0.0.1:40000>10.0.0.2:80 port')
    expect(r.flows[0]?.events).toEqual(['s2c:gap:-1', 's2c:HTTP/1.1 200 OK'])
  })

  it('no SYN: a custom isServerPort hint', () => {
    const a = { ip: '10.1.0.1', port: 7777 }
    const b = { ip: '10.1.0.2', port: 7000 }
    const r = run([{ from: 'c', client: a, server: b, seq: 1, data: 'x' }], { opts: { isServerPort: (p) => p === 7777 } })
    expect(dirs(r)).toBe('10.1.0.2:7000>10.1.0.1:7777 port')
  })

  it('no SYN, no known port: a port below 1024 is the server', () => {
    const a = { ip: '10.1.0.1', port: 1023 }
    const b = { ip: '10.1.0.2', port: 2000 }
    const r = run([{ from: 'c', client: a, server: b, seq: 1, data: 'x' }])
    expect(dirs(r)).toBe('10.1.0.2:2000>10.1.0.1:1023 port')
  })

  it('no SYN, no known port: the lower port is the server when the other is ephemeral', () => {
    const a = { ip: '10.1.0.1', port: 45000 }
    const b = { ip: '10.1.0.2', port: 4100 }
    const r = run([{ from: 's', client: a, server: b, seq: 1, data: 'x' }])
    expect(dirs(r)).toBe('10.1.0.1:45000>10.1.0.2:4100 port')
  })

  it('no SYN, nothing to go by: the first sender is the client (guess)', () => {
    const a = { ip: '10.1.0.1', port: 4100 }
    const b = { ip: '10.1.0.2', port: 4200 }
    const r = run([{ from: 's', client: a, server: b, seq: 1, data: 'x' }])
    expect(dirs(r)).toBe('10.1.0.2:4200>10.1.0.1:4100 guess')
  })

  it('swapRoles: directions, counters and reassembly state follow', () => {
    const a = { ip: '10.1.0.1', port: 4100 }
    const b = { ip: '10.1.0.2', port: 4200 }
    // b sends first, so b is guessed to be the client; it is the server, sending a response
    let swapped = false
    const r = run(
      [
        { from: 's', client: a, server: b, seq: 100, ack: 50, data: 'RESP' },
        { from: 's', client: a, server: b, seq: 110, ack: 50, data: 'LATER' }, // buffered: hole 104-109
        { from: 'c', client: a, server: b, seq: 50, ack: 104, data: 'REQ' },
      ],
      {
        handler: (rec) => ({
          data(dir: Dir, chunk: Buffer, ts: number, acked: number) {
            rec.data(dir, chunk, ts, acked)
            if (!swapped) {
              swapped = true
              rec.flow.swapRoles('content')
            }
          },
          gap: (dir: Dir, n: number, ts: number) => rec.gap(dir, n),
          end: (reason: EndReason) => rec.end(reason),
        }),
      },
    )
    const rec = r.flows[0] as Recorder
    expect(rec.flow.client).toEqual(a)
    expect(rec.flow.server).toEqual(b)
    expect(rec.flow.roleSource).toBe('content')
    expect(rec.flow.packets).toEqual({ c2s: 1, s2c: 2 })
    // the buffered "LATER" belongs to b, which is now s2c
    r.feed([{ from: 's', client: a, server: b, seq: 104, ack: 53, data: 'MORE!!' }])
    r.table.closeAll('shutdown', r.nowUs)
    expect(rec.events).toEqual(['c2s:gap:-1', 'c2s:RESP', 'c2s:gap:-1', 'c2s:REQ', 's2c:MORE!!', 's2c:LATER', 'end:shutdown'])
    expect(rec.flow.bytes).toEqual({ c2s: 3, s2c: 15 })
    expect(rec.flow.packets).toEqual({ c2s: 1, s2c: 3 })
  })

  it('swapRoles is ignored when the roles come from a SYN', () => {
    const r = run([...HS])
    const info = (r.flows[0] as Recorder).flow
    info.swapRoles('content')
    expect(info.client).toEqual(CLIENT)
    expect(info.roleSource).toBe('syn')
  })
})

describe('FlowTable: peerAcked', () => {
  it('is the offset in the other direction that the ACK field stands for', () => {
    const r = run([
      ...HS,
      { from: 'c', seq: 1001, ack: 5001, data: 'req1' }, // acks nothing of the server yet: 0
      { from: 's', seq: 5001, ack: 1005, data: 'resp1' }, // acks all 4 bytes of req1
      { from: 'c', seq: 1005, data: 'noack' }, // ACK flag off: unknown
      { from: 's', seq: 5006, ack: 1003, data: 'old' }, // an older ACK value is still an offset
      { from: 's', seq: 5009, ack: 1000, data: 'x' }, // acks the SYN only: before the base
      { from: 'c', seq: 1010, ack: 5010, flags: 'FA' },
      { from: 's', seq: 5010, ack: 1011, data: 'fin+1' }, // acks the FIN: clamped to the stream end
    ])
    expect(r.flows[0]?.acks).toEqual(['c2s:req1@0', 's2c:resp1@4', 'c2s:noack@-1', 's2c:old@2', 's2c:x@-1', 's2c:fin+1@9'])
  })

  it('is -1 while the other direction has no base, and counts gaps once it has', () => {
    const r = run([
      { from: 'c', seq: 7000, ack: 9000, data: 'a' }, // server direction never seen yet
      { from: 's', seq: 9000, ack: 7001, data: 'bb' },
      { from: 'c', seq: 7001, ack: 9010, data: 'c' }, // acks 8 bytes never seen: gap, offset 10
    ])
    expect(r.flows[0]?.acks).toEqual(['c2s:a@-1', 's2c:bb@1', 'c2s:c@10'])
    expect(r.flows[0]?.events).toContain('s2c:gap:8')
  })

  it('a buffered segment keeps the ACK it arrived with', () => {
    const r = run([...HS, { from: 's', seq: 5004, ack: 1001, data: 'def' }, { from: 'c', seq: 1001, ack: 5001, data: 'q' }, { from: 's', seq: 5001, ack: 1002, data: 'abc' }])
    expect(r.flows[0]?.acks).toEqual(['c2s:q@0', 's2c:abc@1', 's2c:def@0'])
  })
})

describe('FlowTable: lifecycle', () => {
  const other = { ip: '10.0.0.3', port: 40001 }
  const third = { ip: '10.0.0.4', port: 40002 }

  it('idle expiry: only flows idle longer than flowIdleUs, oldest first; one FIN + idle ends fin', () => {
    const idle = DEFAULT_LIMITS.flowIdleUs
    const r = run([
      { from: 'c', seq: 1, data: 'a', tsUs: T0 },
      { from: 'c', client: other, seq: 1, data: 'b', flags: 'FA', ack: 1, tsUs: T0 + 10 },
      { from: 'c', client: third, seq: 1, data: 'c', tsUs: T0 + 20 },
      { from: 'c', seq: 2, data: 'd', tsUs: T0 + 30 }, // touches the first flow again
    ])
    r.table.advance(T0 + 10 + idle) // exactly idle: not yet
    expect(r.ended).toEqual([])
    r.table.advance(T0 + 21 + idle)
    expect(r.ended).toEqual(['1:fin', '2:idle'])
    expect(r.table.size).toBe(1)
    expect(r.counters.get(C.flowsEnded, { reason: 'idle' })).toBe(1)
    expect(r.counters.get(C.flowsEnded, { reason: 'fin' })).toBe(1)
    expect(r.counters.get(C.flowsActive)).toBe(1)
    r.table.advance(T0 + 31 + idle)
    expect(r.ended).toEqual(['1:fin', '2:idle', '0:idle'])
    expect(r.flows[0]?.events).toEqual(['c2s:gap:-1', 'c2s:a', 'c2s:d', 'end:idle'])
  })

  it('idle expiry flushes buffered data first', () => {
    const r = run([...HS, { from: 'c', seq: 1005, data: 'late' }])
    r.table.advance(r.nowUs + DEFAULT_LIMITS.flowIdleUs + 1)
    expect(r.flows[0]?.events).toEqual(['c2s:gap:4', 'c2s:late', 'end:idle'])
  })

  it('maxFlows: the least recently used flow is evicted', () => {
    const r = run(
      [
        { from: 'c', seq: 1, data: 'a' },
        { from: 'c', client: other, seq: 1, data: 'b' },
        { from: 'c', seq: 2, data: 'a2' }, // the first flow is now the most recent
        { from: 'c', client: third, seq: 1, data: 'c' },
      ],
      { limits: { maxFlows: 2 } },
    )
    expect(r.ended).toEqual(['1:evicted'])
    expect(r.flows[1]?.events).toEqual(['c2s:gap:-1', 'c2s:b', 'end:evicted'])
    expect(r.table.size).toBe(2)
    expect(r.counters.get(C.flowsEvicted)).toBe(1)
    expect(r.counters.get(C.flowsEnded, { reason: 'evicted' })).toBe(1)
    expect(r.counters.get(C.flowsCreated)).toBe(3)
    expect(r.counters.get(C.flowsActive)).toBe(2)
    // an evicted flow's next packet starts a new flow (mid-stream)
    r.feed([{ from: 'c', client: other, seq: 2, data: 'b2' }])
    expect(r.ended).toEqual(['1:evicted', '0:evicted'])
    expect(r.flows[3]?.events).toEqual(['c2s:gap:-1', 'c2s:b2'])
  })

  it('a new SYN after FIN starts a new flow (port reuse)', () => {
    const r = run([
      ...HS,
      { from: 'c', seq: 1001, ack: 5001, data: 'one', flags: 'FA' },
      { from: 's', seq: 5001, ack: 1005, flags: 'FA' },
      { from: 'c', seq: 1005, ack: 5002 },
      { from: 'c', seq: 1005, ack: 5002, flags: 'FA' }, // retransmitted FIN: swallowed
      ...handshake(77777, 88888),
      { from: 'c', seq: 77778, ack: 88889, data: 'two' },
    ])
    expect(r.flows.map((f) => f.events)).toEqual([['c2s:one', 'end:fin'], ['c2s:two']])
    expect(r.counters.get(C.flowsCreated)).toBe(2)
  })

  it('a SYN on a flow half-closed by a FIN ends it fin and starts a new one (port reuse)', () => {
    const r = run([
      ...HS,
      { from: 'c', seq: 1001, ack: 5001, data: 'one', flags: 'FA' },
      { from: 'c', seq: 1000, flags: 'S' }, // same ISN as before, but after a FIN: a new connection
      { from: 's', seq: 7000, flags: 'SA', ack: 1001 },
    ])
    expect(r.flows.map((f) => f.events)).toEqual([['c2s:one', 'end:fin'], []])
    expect(r.flows[1]?.flow.roleSource).toBe('syn')
    expect(r.table.size).toBe(1)
  })

  it('a handler factory that throws leaves no half-made flow behind', () => {
    let calls = 0
    const r = run([], {
      handler: (rec) => {
        if (calls++ === 0) throw new Error('factory failed')
        return rec
      },
    })
    expect(() => r.feed([{ from: 'c', seq: 1, data: 'a' }])).toThrow('factory failed')
    expect(r.table.size).toBe(0)
    r.feed([{ from: 'c', seq: 2, data: 'b' }])
    expect(r.table.size).toBe(1)
    expect(r.counters.get(C.flowsCreated)).toBe(1)
  })

  it('a SYN with a new ISN on a live flow ends it and starts a new one; a retransmitted SYN does not', () => {
    const r = run([
      ...HS,
      { from: 'c', seq: 1000, flags: 'S' }, // retransmitted: same ISN
      { from: 'c', seq: 1001, ack: 5001, data: 'one' },
      { from: 'c', seq: 3000, flags: 'S' },
      { from: 's', seq: 6000, flags: 'SA', ack: 3001 },
      { from: 'c', seq: 3001, ack: 6001, data: 'two' },
    ])
    expect(r.flows.map((f) => f.events)).toEqual([['c2s:one', 'end:idle'], ['c2s:two']])
  })

  it('RST leaves a tombstone: late packets of the connection are swallowed, a lone RST creates nothing', () => {
    const r = run([
      ...HS,
      { from: 'c', seq: 1001, data: 'one' },
      { from: 's', seq: 5001, flags: 'R' },
      { from: 'c', seq: 1004, data: 'late' },
      { from: 'c', client: other, seq: 5, flags: 'R' },
    ])
    expect(r.flows.map((f) => f.events)).toEqual([['c2s:one', 'end:rst']])
    expect(r.counters.get(C.flowsCreated)).toBe(1)
    // after the linger time the 4-tuple is forgotten: the next packet is a mid-stream join
    r.table.advance(r.nowUs + 10_000_001)
    r.feed([{ from: 'c', seq: 1008, data: 'much later' }])
    expect(r.flows[1]?.events).toEqual(['c2s:gap:-1', 'c2s:much later'])
  })

  it('closeAll ends every flow once, with the reason given, after delivering buffered bytes', () => {
    const r = run([...HS, { from: 'c', seq: 1004, data: 'x' }, { from: 'c', client: other, seq: 9, data: 'y' }])
    r.table.closeAll('shutdown', r.nowUs)
    r.table.closeAll('shutdown', r.nowUs)
    expect(r.flows.map((f) => f.events)).toEqual([['c2s:gap:3', 'c2s:x', 'end:shutdown'], ['c2s:gap:-1', 'c2s:y', 'end:shutdown']])
    expect(r.ended).toEqual(['0:shutdown', '1:shutdown'])
    expect(r.table.size).toBe(0)
  })

  it('FlowInfo counts packets (retransmissions included), bytes once, and the last packet time', () => {
    const r = run([...HS, { from: 'c', seq: 1001, data: 'abc' }, { from: 'c', seq: 1001, data: 'abc' }, { from: 's', seq: 5001, data: 'de', tsUs: T0 + 500 }])
    const info = (r.flows[0] as Recorder).flow
    expect(info.packets).toEqual({ c2s: 4, s2c: 2 })
    expect(info.bytes).toEqual({ c2s: 3, s2c: 2 })
    expect(info.retransmits).toBe(1)
    expect(info.lastUs).toBe(T0 + 500)
    expect(info.startUs).toBe(T0 + 1)
    expect(info.ifindex).toBe(0)
  })

  it('IPv6 endpoints map both directions to one flow', () => {
    const c6 = { ip: '2001:db8::1', port: 50000 }
    const s6 = { ip: '2001:db8::2', port: 443 }
    const r = run([
      { from: 'c', client: c6, server: s6, seq: 1, flags: 'S' },
      { from: 's', client: c6, server: s6, seq: 9, flags: 'SA', ack: 2 },
      { from: 'c', client: c6, server: s6, seq: 2, ack: 10, data: 'hi' },
      { from: 's', client: c6, server: s6, seq: 10, ack: 4, data: 'yo' },
    ])
    expect(r.flows.length).toBe(1)
    expect(r.flows[0]?.events).toEqual(['c2s:hi', 's2c:yo'])
  })

  it('nothing reaches a handler after end()', () => {
    const seen: string[] = []
    const h = (rec: Recorder): StreamHandler => ({
      data: (d, c, t, a) => rec.data(d, c, t, a),
      gap: (d, n) => rec.gap(d, n),
      end: (reason) => {
        rec.end(reason)
        seen.push(reason)
      },
    })
    const r = run([...HS, { from: 'c', seq: 1001, data: 'a' }, { from: 's', seq: 5001, flags: 'R' }, { from: 'c', seq: 1002, data: 'b' }], { handler: h })
    r.table.closeAll('shutdown', r.nowUs)
    expect(seen).toEqual(['rst'])
    expect(r.flows[0]?.events).not.toContain('AFTER-END')
    expect(SERVER.port).toBe(80)
  })
})
