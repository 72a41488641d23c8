import { describe, expect, it } from 'vitest'
import { C, Counters } from '../counters.js'
import { CLIENT, SERVER, T0, run, type Seg } from '../../test/helpers/tcp.js'
import { TcpHealth, type FlowTcpStats, type TcpHealthOptions, type TcpWindow } from './health.js'

/** Runs segments through a FlowTable with a TcpHealth hook; collects each ended flow's stats. */
function health(segs: Seg[], o: Partial<TcpHealthOptions> = {}) {
  const counters = new Counters()
  const windows: TcpWindow[] = []
  const tcp = new TcpHealth({ counters, onWindow: (w) => windows.push(w), ...o })
  const ended: FlowTcpStats[] = []
  const r = run([], {
    opts: {
      counters,
      health: tcp,
      onFlowEnd: (f) => {
        ended.push(tcp.stats(f)!)
        tcp.release(f)
      },
    },
  })
  r.feed(segs)
  const close = (): void => {
    r.table.closeAll('shutdown', r.nowUs)
    tcp.flush(r.nowUs)
  }
  const connects = (result: string): number => counters.get(C.tcpConnects, { result })
  return { r, tcp, counters, ended, windows, close, connects }
}

const ms = (n: number): number => T0 + n * 1000

describe('TcpHealth', () => {
  it('a handshake: connect ok, its duration, and both sides of the round trip (capture on the server side)', () => {
    const h = health([
      { from: 'c', seq: 100, flags: 'S', tsUs: ms(0) },
      { from: 's', seq: 900, flags: 'SA', ack: 101, tsUs: ms(1) }, // server side: 1 ms
      { from: 'c', seq: 101, ack: 901, tsUs: ms(21) }, // client side: 20 ms
      { from: 'c', seq: 101, ack: 901, flags: 'PA', data: 'GET', tsUs: ms(22) },
      { from: 's', seq: 901, ack: 104, tsUs: ms(23) }, // pure ACK of the data: server side 1 ms
      { from: 's', seq: 901, ack: 104, flags: 'PA', data: 'OK', tsUs: ms(30) },
      { from: 'c', seq: 104, ack: 903, tsUs: ms(50) }, // client side 20 ms
    ])
    h.close()
    expect(h.connects('ok')).toBe(1)
    const st = h.ended[0]!
    expect(st.connect).toBe('ok')
    expect(st.connectUs).toBe(1000)
    expect(st.rttServer).toEqual({ samples: 2, minUs: 1000, meanUs: 1000 })
    expect(st.rttClient).toEqual({ samples: 2, minUs: 20_000, meanUs: 20_000 })
    expect(st.retransmits).toEqual({ c2s: 0, s2c: 0 })
    expect(st.reset).toBeNull()
    const row = h.windows.flatMap((w) => w.rows)[0]!
    expect(row.server).toEqual(SERVER)
    expect(row.client).toEqual({ ip: CLIENT.ip, port: 0 })
    expect(row.connects).toEqual({ ok: 1, refused: 0, unanswered: 0 })
    expect(row.rttClient.minUs).toBe(20_000)
    expect(row.connectSumUs).toBe(1000)
  })

  it('a RST answering the SYN is refused, not a reset', () => {
    const h = health([
      { from: 'c', seq: 100, flags: 'S' },
      { from: 's', seq: 0, flags: 'RA', ack: 101 },
    ])
    h.close()
    expect(h.connects('refused')).toBe(1)
    expect(h.counters.total(C.tcpResets)).toBe(0)
    expect(h.ended[0]!.connect).toBe('refused')
    expect(h.tcp.halfOpenCount).toBe(0)
  })

  it('SYNs without answer: unanswered at the timeout on the capture clock, once', () => {
    const h = health(
      [
        { from: 'c', seq: 100, flags: 'S', tsUs: ms(0) },
        { from: 'c', seq: 100, flags: 'S', tsUs: ms(1000) },
      ],
      { synTimeoutUs: 3_000_000 },
    )
    h.tcp.advance(ms(2999))
    expect(h.connects('unanswered')).toBe(0)
    h.tcp.advance(ms(3000))
    h.tcp.advance(ms(4000))
    expect(h.connects('unanswered')).toBe(1)
    // a late SYN/ACK makes the connection live, but the connect stays counted as unanswered
    h.r.feed([{ from: 's', seq: 900, flags: 'SA', ack: 101, tsUs: ms(5000) }])
    h.close()
    expect(h.connects('unanswered')).toBe(1)
    expect(h.connects('ok')).toBe(0)
    expect(h.ended[0]!.connect).toBe('unanswered')
  })

  it('a SYN/ACK lost after the capture point: the client sends its SYN again; ok only at its ACK, timed from the SYN/ACK it answered', () => {
    const h = health(
      [
        { from: 'c', seq: 100, flags: 'S', tsUs: ms(0) },
        { from: 's', seq: 900, flags: 'SA', ack: 101, tsUs: ms(1) },
        { from: 'c', seq: 100, flags: 'S', tsUs: ms(1000) },
        { from: 's', seq: 900, flags: 'SA', ack: 101, tsUs: ms(1001) },
      ],
      { synTimeoutUs: 3_000_000 },
    )
    h.tcp.advance(ms(1500))
    expect(h.connects('ok')).toBe(0)
    h.r.feed([{ from: 'c', seq: 101, ack: 901, tsUs: ms(1002) }])
    h.close()
    expect(h.connects('ok')).toBe(1)
    const st = h.ended[0]!
    expect(st.connectUs).toBe(1_001_000)
    // the first SYN/ACK answered the only SYN sent by then (server side 1 ms); the ACK answers one of
    // two SYN/ACKs: no client-side sample (Karn)
    expect(st.rttServer).toEqual({ samples: 1, minUs: 1000, meanUs: 1000 })
    expect(st.rttClient.samples).toBe(0)
  })

  it('SYN/ACKs that never get an ACK: unanswered at the timeout', () => {
    const h = health(
      [
        { from: 'c', seq: 100, flags: 'S', tsUs: ms(0) },
        { from: 's', seq: 900, flags: 'SA', ack: 101, tsUs: ms(1) },
        { from: 'c', seq: 100, flags: 'S', tsUs: ms(1000) },
      ],
      { synTimeoutUs: 3_000_000 },
    )
    h.tcp.advance(ms(3000))
    h.close()
    expect(h.connects('unanswered')).toBe(1)
    expect(h.connects('ok')).toBe(0)
  })

  it('the capture ends before the timeout: a retransmitted SYN is unanswered, a single one is not counted', () => {
    const h = health([
      { from: 'c', seq: 100, flags: 'S', tsUs: ms(0) },
      { from: 'c', seq: 100, flags: 'S', tsUs: ms(1000) },
      { from: 'c', seq: 500, flags: 'S', tsUs: ms(1000), client: { ip: CLIENT.ip, port: 40001 } },
    ])
    h.close()
    expect(h.connects('unanswered')).toBe(1)
    expect(h.ended.map((s) => s.connect).sort()).toEqual(['unanswered', 'unknown'])
    // the SYN sent again is a retransmission of the client
    expect(h.counters.get(C.tcpRetransmitsSeen, { direction: 'c2s' })).toBe(1)
  })

  it('a RST after the handshake is a reset of its sender; mid-stream connections count too', () => {
    const h = health([
      { from: 'c', seq: 100, flags: 'S' },
      { from: 's', seq: 900, flags: 'SA', ack: 101 },
      { from: 'c', seq: 101, ack: 901 },
      { from: 's', seq: 901, flags: 'RA', ack: 101 },
      { from: 'c', seq: 7, ack: 9, data: 'x', client: { ip: CLIENT.ip, port: 40002 } },
      { from: 'c', seq: 8, flags: 'R', client: { ip: CLIENT.ip, port: 40002 } },
    ])
    h.close()
    expect(h.counters.get(C.tcpResets, { sender: 'server' })).toBe(1)
    expect(h.counters.get(C.tcpResets, { sender: 'client' })).toBe(1)
    expect(h.ended.map((s) => s.reset)).toEqual(['server', 'client'])
    expect(h.ended.map((s) => s.connect)).toEqual(['ok', 'unknown'])
  })

  it('after the close: a FIN sent again is a retransmission, every RST a RST segment, on the connection series even once it was dropped', () => {
    const h = health(
      [
        { from: 'c', seq: 100, flags: 'S', tsUs: ms(0) },
        { from: 's', seq: 900, flags: 'SA', ack: 101, tsUs: ms(1) },
        { from: 'c', seq: 101, ack: 901, data: 'hi', tsUs: ms(2) },
        { from: 's', seq: 901, ack: 103, flags: 'FA', tsUs: ms(3) },
        { from: 'c', seq: 103, ack: 902, flags: 'FA', tsUs: ms(4) }, // both FINs: the flow is over
      ],
      { windowUs: 1_000_000 },
    )
    expect(h.ended).toHaveLength(1)
    h.tcp.advance(ms(1500))
    h.tcp.advance(ms(2500)) // the series had no flow left: dropped
    expect(h.tcp.seriesCount).toBe(0)
    h.r.feed([
      { from: 'c', seq: 103, ack: 902, flags: 'FA', tsUs: ms(2600) }, // the client's FIN again
      { from: 'c', seq: 103, ack: 902, flags: 'FA', tsUs: ms(2700) }, // and again
      { from: 'c', seq: 104, ack: 902, tsUs: ms(2701) }, // a pure ACK: nothing
      { from: 's', seq: 902, flags: 'R', tsUs: ms(2800) },
      { from: 's', seq: 902, flags: 'R', tsUs: ms(2801) },
    ])
    h.tcp.advance(ms(3500))
    expect(h.counters.get(C.tcpRetransmitsSeen, { direction: 'c2s' })).toBe(2)
    expect(h.counters.get(C.tcpRetransmitsSeen, { direction: 's2c' })).toBe(0)
    expect(h.counters.get(C.tcpRstSegments, { sender: 'server' })).toBe(2)
    expect(h.counters.total(C.tcpResets)).toBe(0) // the connection had ended with its FINs, not reset
    const row = h.windows.at(-1)!.rows[0]!
    expect(row.server).toEqual(SERVER)
    expect(row.client).toEqual({ ip: CLIENT.ip, port: 0 })
    expect(row.retransmits).toEqual({ c2s: 2, s2c: 0 })
    expect(row.rstSegments).toEqual({ client: 0, server: 2 })
    expect(row.resets).toEqual({ client: 0, server: 0 })
    expect(h.ended[0]!.retransmits).toEqual({ c2s: 0, s2c: 0 }) // its link was written at the close
  })

  it('RSTs after the first: one connection reset, every RST segment counted by sender; data in flight after it is new', () => {
    const h = health([
      { from: 'c', seq: 100, flags: 'S' },
      { from: 's', seq: 900, flags: 'SA', ack: 101 },
      { from: 'c', seq: 101, ack: 901, data: 'abcd' },
      { from: 'c', seq: 105, flags: 'R' }, // the client aborts
      { from: 'c', seq: 105, flags: 'R' },
      { from: 's', seq: 901, ack: 105, data: 'late' }, // the server's answer was in flight: new bytes
      { from: 's', seq: 901, ack: 105, data: 'late' }, // sent again: a retransmission
      { from: 'c', seq: 101, ack: 901, data: 'abcd' }, // the client's data again, after its RST
      { from: 's', seq: 905, flags: 'R' },
    ])
    h.close()
    expect(h.counters.get(C.tcpResets, { sender: 'client' })).toBe(1)
    expect(h.counters.get(C.tcpResets, { sender: 'server' })).toBe(0)
    expect(h.counters.get(C.tcpRstSegments, { sender: 'client' })).toBe(2)
    expect(h.counters.get(C.tcpRstSegments, { sender: 'server' })).toBe(1)
    expect(h.counters.get(C.tcpRetransmitsSeen, { direction: 's2c' })).toBe(1)
    expect(h.counters.get(C.tcpRetransmitsSeen, { direction: 'c2s' })).toBe(1)
    const row = h.windows.flatMap((w) => w.rows)[0]!
    expect(row.rstSegments).toEqual({ client: 2, server: 1 })
    expect(row.retransmits).toEqual({ c2s: 1, s2c: 1 })
  })

  it('the one-copy rule: a copy counts nowhere; a flow not known yet counts aside, then is dropped or added whole', () => {
    // per client port: what view() says before and after ms(500) (after its flow ended: 'maybe' is own)
    const rule: Record<number, [string, string]> = { 40001: ['copy', 'copy'], 40002: ['maybe', 'copy'], 40003: ['maybe', 'own'], 40004: ['maybe', 'maybe'], 40005: ['own', 'own'] }
    const asked: number[] = []
    const conn = (port: number, t0: number): Seg[] => {
      const client = { ip: CLIENT.ip, port }
      return [
        { from: 'c', seq: 100, flags: 'S', tsUs: ms(t0), client },
        { from: 's', seq: 900, flags: 'SA', ack: 101, tsUs: ms(t0 + 1), client },
        { from: 'c', seq: 101, ack: 901, data: 'abcd', tsUs: ms(t0 + 2), client },
        { from: 'c', seq: 101, ack: 901, data: 'abcd', tsUs: ms(t0 + 300), client }, // sent again
        { from: 's', seq: 901, ack: 105, tsUs: ms(t0 + 301), client },
        { from: 's', seq: 901, flags: 'R', tsUs: ms(t0 + 302), client },
      ]
    }
    const segs: Seg[] = []
    for (const port of [40001, 40002, 40003, 40004, 40005]) segs.push(...conn(port, 0))
    segs.sort((a, b) => (a.tsUs as number) - (b.tsUs as number))
    // 40002 and 40003 stay open past ms(500): one more segment each then
    for (const s of segs) if (s.flags === 'R' && (s.client!.port === 40002 || s.client!.port === 40003)) s.tsUs = ms(700) + s.client!.port
    segs.sort((a, b) => (a.tsUs as number) - (b.tsUs as number))
    const h = health(segs, {
      view: (c, serverIp, tsUs) => {
        expect(serverIp).toBe(SERVER.ip)
        asked.push(c.port)
        const r = rule[c.port]!
        return (tsUs < ms(500) ? r[0] : r[1]) as 'own' | 'copy' | 'maybe'
      },
    })
    h.close()
    // own: 40003 (known late), 40004 (never known: own at its end), 40005; each 1 ok, 1 retransmit, 1 reset, 1 RST, 2 RTT samples
    expect(h.connects('ok')).toBe(3)
    expect(h.counters.total(C.tcpRetransmitsSeen)).toBe(3)
    expect(h.counters.total(C.tcpResets)).toBe(3)
    expect(h.counters.total(C.tcpRstSegments)).toBe(3)
    const rows = h.windows.flatMap((w) => w.rows)
    expect(rows).toHaveLength(1)
    const row = rows[0]!
    expect(row.connects.ok).toBe(3)
    expect(row.retransmits).toEqual({ c2s: 3, s2c: 0 })
    expect(row.resets).toEqual({ client: 0, server: 3 })
    expect(row.rstSegments).toEqual({ client: 0, server: 3 })
    expect(row.rttServer.hist.reduce((a, x) => a + x, 0)).toBe(3) // the handshake's (the data probe was sent twice)
    expect(row.rttClient.hist.reduce((a, x) => a + x, 0)).toBe(3)
    expect(row.connectHist.reduce((a, x) => a + x, 0)).toBe(3)
    expect(row.active).toBe(0)
    // a copy is asked once; 'own' once; 'maybe' again on each segment until known
    expect(asked.filter((p) => p === 40001)).toHaveLength(1)
    expect(asked.filter((p) => p === 40005)).toHaveLength(1)
    expect(h.tcp.seriesCount).toBe(0)
  })

  it('retransmissions per direction; Karn: a probe sent twice gives no RTT sample; keep-alives are not retransmissions', () => {
    const h = health([
      { from: 'c', seq: 100, flags: 'S', tsUs: ms(0) },
      { from: 's', seq: 900, flags: 'SA', ack: 101, tsUs: ms(1) },
      { from: 'c', seq: 101, ack: 901, tsUs: ms(2) },
      { from: 'c', seq: 101, ack: 901, data: 'aaaa', tsUs: ms(3) },
      { from: 'c', seq: 101, ack: 901, data: 'aaaa', tsUs: ms(300) }, // RTO retransmission
      { from: 's', seq: 901, ack: 105, tsUs: ms(301) }, // ambiguous: no sample
      { from: 's', seq: 901, ack: 105, data: 'bb', tsUs: ms(302) },
      { from: 's', seq: 901, ack: 105, data: 'bb', tsUs: ms(303) },
      { from: 'c', seq: 104, ack: 903, data: 'k', tsUs: ms(400) }, // keep-alive probe: 1 byte below
      { from: 'c', seq: 104, ack: 903, tsUs: ms(401) },
    ])
    h.close()
    const st = h.ended[0]!
    expect(st.retransmits).toEqual({ c2s: 1, s2c: 1 })
    expect(st.rttServer.samples).toBe(1) // the handshake's only
    expect(st.rttClient.samples).toBe(1)
    expect(h.counters.get(C.tcpRetransmitsSeen, { direction: 'c2s' })).toBe(1)
  })

  it('zero windows per direction (not on SYN, FIN, RST)', () => {
    const h = health([
      { from: 'c', seq: 100, flags: 'S', window: 0 },
      { from: 's', seq: 900, flags: 'SA', ack: 101 },
      { from: 'c', seq: 101, ack: 901 },
      { from: 's', seq: 901, ack: 101, data: 'zzzz' },
      { from: 'c', seq: 101, ack: 905, window: 0 },
      { from: 'c', seq: 101, ack: 905, window: 0 },
      { from: 'c', seq: 101, ack: 905, flags: 'FA', window: 0 },
    ])
    h.close()
    expect(h.ended[0]!.zeroWindows).toEqual({ c2s: 2, s2c: 0 })
    expect(h.counters.get(C.tcpZeroWindows, { direction: 'c2s' })).toBe(2)
  })

  it('a SYN flood is capped: past maxHalfOpen new SYNs open no flow and are counted', () => {
    const segs: Seg[] = []
    for (let i = 0; i < 10; i++) segs.push({ from: 'c', seq: 100 + i, flags: 'S', client: { ip: CLIENT.ip, port: 30000 + i } })
    const h = health(segs, { maxHalfOpen: 4 })
    expect(h.r.table.size).toBe(4)
    expect(h.tcp.halfOpenCount).toBe(4)
    expect(h.counters.get(C.tcpSynsUntracked)).toBe(6)
    // a SYN/ACK alone is not a completed handshake; the client's ACK is, and frees a place
    h.r.feed([{ from: 's', seq: 900, flags: 'SA', ack: 102, client: { ip: CLIENT.ip, port: 30001 } }])
    expect(h.tcp.halfOpenCount).toBe(4)
    h.r.feed([{ from: 'c', seq: 102, ack: 901, client: { ip: CLIENT.ip, port: 30001 } }])
    expect(h.tcp.halfOpenCount).toBe(3)
    // timed-out attempts keep their place until their flow ends
    h.tcp.advance(h.r.nowUs + 20_000_000)
    expect(h.connects('unanswered')).toBe(3)
    expect(h.tcp.halfOpenCount).toBe(3)
    h.close()
    expect(h.tcp.halfOpenCount).toBe(0)
    expect(h.tcp.seriesCount).toBe(0)
  })

  it('windows: rows per series, active connections carried over, series dropped when idle', () => {
    const h = health(
      [
        { from: 'c', seq: 100, flags: 'S', tsUs: ms(0) },
        { from: 's', seq: 900, flags: 'SA', ack: 101, tsUs: ms(1) },
        { from: 'c', seq: 101, ack: 901, tsUs: ms(2) },
      ],
      { windowUs: 1_000_000 },
    )
    h.tcp.advance(ms(2))
    h.tcp.advance(ms(1500))
    h.tcp.advance(ms(2500))
    expect(h.windows.map((w) => w.rows.map((r) => [r.connects.ok, r.active]))).toEqual([[[1, 1]], [[0, 1]]])
    h.r.feed([{ from: 'c', seq: 101, ack: 901, flags: 'FA', tsUs: ms(2600) }, { from: 's', seq: 901, ack: 102, flags: 'FA', tsUs: ms(2601) }])
    h.tcp.advance(ms(3500))
    expect(h.windows.at(-1)!.rows[0]!.active).toBe(0)
    expect(h.tcp.seriesCount).toBe(0)
  })
})

describe('TcpHealth table', () => {
  it('many flows across slab chunks: each keeps its own state, slots are reused', () => {
    const segs: Seg[] = []
    const n = 10_000 // more than one chunk of 4096 slots
    for (let i = 0; i < n; i++) {
      const client = { ip: CLIENT.ip, port: 1024 + i }
      segs.push({ from: 'c', seq: i, flags: 'S', client, tsUs: ms(i) })
      segs.push({ from: 's', seq: 900, flags: 'SA', ack: i + 1, client, tsUs: ms(i) + i % 7 })
      segs.push({ from: 'c', seq: i + 1, ack: 901, client, tsUs: ms(i) + 10 })
    }
    const h = health(segs, { maxHalfOpen: n })
    expect(h.connects('ok')).toBe(n)
    h.close()
    expect(h.ended.length).toBe(n)
    expect(h.ended.every((s, i) => s.connect === 'ok' && s.connectUs === i % 7)).toBe(true)
    expect(h.tcp.seriesCount).toBe(0)
  })

  it('a reused slot starts clean: nothing of the flow that had it before', () => {
    const a = { ip: CLIENT.ip, port: 41000 }
    const b = { ip: CLIENT.ip, port: 41001 }
    const h = health([
      // a: SYN twice, data sent twice, a zero window, RTT samples, then a RST
      { from: 'c', seq: 100, flags: 'S', client: a, tsUs: ms(0) },
      { from: 'c', seq: 100, flags: 'S', client: a, tsUs: ms(1000) },
      { from: 's', seq: 900, flags: 'SA', ack: 101, client: a, tsUs: ms(1001) },
      { from: 'c', seq: 101, ack: 901, data: 'abcd', client: a, tsUs: ms(1002) },
      { from: 'c', seq: 101, ack: 901, data: 'abcd', client: a, tsUs: ms(1300) },
      { from: 's', seq: 901, ack: 105, window: 0, client: a, tsUs: ms(1301) },
      { from: 'c', seq: 105, flags: 'R', client: a, tsUs: ms(1302) },
      // b: a plain mid-stream connection in a's slot
      { from: 'c', seq: 7, ack: 9, data: 'x', client: b, tsUs: ms(1400) },
    ])
    h.close()
    expect(h.ended[0]!.retransmits).toEqual({ c2s: 2, s2c: 0 }) // the SYN and the data, each sent again
    expect(h.ended[0]!.zeroWindows).toEqual({ c2s: 0, s2c: 1 })
    expect(h.ended[1]).toEqual({
      connect: 'unknown', connectUs: null, reset: null, retransmits: { c2s: 0, s2c: 0 }, zeroWindows: { c2s: 0, s2c: 0 },
      rttClient: { samples: 0, minUs: null, meanUs: null }, rttServer: { samples: 0, minUs: null, meanUs: null },
    })
  })
})
