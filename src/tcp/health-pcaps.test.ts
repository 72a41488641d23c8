// TCP health on real captures, checked against tshark (ground truth where installed; the numbers
// tshark gave when this table was written are kept, so the table cannot drift unnoticed). Strict:
// podtap's counts equal tshark's on every capture, with no exception:
//   retransmits  = frames tshark flags tcp.analysis.retransmission (FINs sent again after the close too)
//   zero windows = frames tshark flags tcp.analysis.zero_window
//   RST segments = frames with the RST flag (every one: answering a SYN, after the first, after the close)
// Beside them, what podtap counts per connection (not a tshark figure): connections ended by a RST
// (resets, by sender) and connects refused. The windows' series add up to the totals: a segment that
// arrives after its connection closed still lands on that connection's series.
//
// The captures: every public capture of test/pcaps with a retransmission, zero window or RST (the
// same files are in /work/shared/pcaps; all 120 of that corpus agree with tshark on these three
// counts, checked when this table was written).

import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { C, Counters } from '../counters.js'
import { Pipeline } from '../pipeline/pipeline.js'
import { feedCaptureFiles } from '../pipeline/replay-sync.js'
import type { TcpWindow } from './health.js'

const PCAPS = join(import.meta.dirname, '../../test/pcaps')
const tshark = spawnSync('tshark', ['--version']).status === 0

interface Row {
  file: string
  /** tshark: retransmission, zero_window, RST frames (podtap must count the same) */
  tshark: [number, number, number]
  /** podtap only: connections reset by the client, by the server; connects refused */
  conns?: [number, number, number]
  note?: string
}

const ROWS: Row[] = [
  { file: 'tcp-health/01-zero-window.pcap', tshark: [0, 2, 0] },
  { file: 'tcp/wswiki__out-of-order.pcap', tshark: [273, 0, 0] },
  { file: 'tcp/zeek__retransmit-fast009.pcap', tshark: [3, 0, 1], conns: [1, 0, 0] },
  { file: 'tcp/packetbeat__http_minitwit.pcap', tshark: [9, 0, 0] },
  { file: 'tcp/suricata-verify__http-protocol-nodup__input.pcap', tshark: [7, 0, 0] },
  { file: 'tcp-health/nDPI__kafka.pcapng', tshark: [2, 0, 0] },
  { file: 'tcp-health/nDPI__mongodb.pcap', tshark: [4, 0, 0] },
  { file: 'tcp-health/zeek__retransmit-timeout.pcapng', tshark: [1, 0, 0] },
  { file: 'tcp-health/zeek__ipv6-http-atomic-frag.pcap', tshark: [1, 0, 0] },
  { file: 'tcp-health/zeek__ssl-v2.pcap', tshark: [1, 0, 0], note: 'a FIN sent again while the connection is open' },
  { file: 'tcp-health/packt__Server_Streaming.pcapng', tshark: [0, 0, 1], conns: [1, 0, 0] },
  { file: 'tcp-health/zeek__caching_sha2_password.pcap', tshark: [0, 0, 1], conns: [1, 0, 0] },
  { file: 'tcp-health/zeek__attr.pcap', tshark: [0, 0, 2], conns: [0, 0, 2], note: 'both RSTs answer SYNs: 2 refused connects' },
  { file: 'tcp-health/zeek__auth.pcap', tshark: [13, 0, 0], note: '13 FINs sent again after both FINs were seen: counted on the closed connections' },
  { file: 'tcp-health/zeek__mysql8-navicat-login-failed.pcap', tshark: [5, 0, 0], note: 'frame 21, a FIN sent again after both FINs' },
  {
    file: 'tcp-health/zeek__psql-aws-ssl-require.pcap',
    tshark: [0, 0, 3],
    conns: [1, 0, 0],
    note: 'three RST segments (two from the client, one from the server after it), one connection reset by the client',
  },
  { file: 'tcp-health/wswiki__client-grpc-web-text-http1-send-two-unary.pcapng', tshark: [0, 0, 1], conns: [1, 0, 0] },
  { file: 'grpc/06-grpc-web-http2-two-unary.pcapng', tshark: [0, 0, 1], conns: [1, 0, 0] },
  { file: 'grpc/07-connect-tunnel-goaway.pcap', tshark: [0, 0, 1], conns: [1, 0, 0] },
  { file: 'tls/08-grpc-tls12-two-connections.pcapng', tshark: [0, 0, 1], conns: [1, 0, 0] },
]

function tsharkCounts(file: string): [number, number, number] {
  const r = spawnSync('tshark', ['-r', file, '-T', 'fields', '-e', 'tcp.analysis.retransmission', '-e', 'tcp.analysis.zero_window', '-e', 'tcp.flags.reset'], {
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  })
  let rt = 0
  let zw = 0
  let rst = 0
  for (const line of r.stdout.split('\n')) {
    if (line === '') continue
    const [a, b, c] = line.split('\t')
    if (a !== '') rt++
    if (b !== '') zw++
    if (c === '1' || c === 'True') rst++
  }
  return [rt, zw, rst]
}

describe('TCP health on real captures, equal to tshark', () => {
  for (const row of ROWS) {
    it(`${row.file}${row.note ? ` (${row.note})` : ''}`, () => {
      const counters = new Counters()
      const windows: TcpWindow[] = []
      const p = new Pipeline({ counters, onExchange: () => undefined, tcp: { onWindow: (w) => windows.push(w) } })
      feedCaptureFiles(p, [join(PCAPS, row.file)])
      p.finish()
      const got: [number, number, number] = [counters.total(C.tcpRetransmitsSeen), counters.total(C.tcpZeroWindows), counters.total(C.tcpRstSegments)]
      expect(got).toEqual(row.tshark)
      if (tshark) expect(tsharkCounts(join(PCAPS, row.file))).toEqual(row.tshark)
      const conns = [counters.get(C.tcpResets, { sender: 'client' }), counters.get(C.tcpResets, { sender: 'server' }), counters.get(C.tcpConnects, { result: 'refused' })]
      expect(conns).toEqual(row.conns ?? [0, 0, 0])
      // every count is on a series (none past the cap here)
      const sum = [0, 0, 0]
      for (const w of windows) {
        for (const r of w.rows) {
          sum[0] += r.retransmits.c2s + r.retransmits.s2c
          sum[1] += r.zeroWindows.c2s + r.zeroWindows.s2c
          sum[2] += r.rstSegments.client + r.rstSegments.server
        }
      }
      expect(sum).toEqual(row.tshark)
    })
  }
})
