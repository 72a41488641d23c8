// TCP health on real captures, checked against tshark (ground truth where installed; the numbers
// tshark gave when this table was written are kept, so the table cannot drift unnoticed):
//   retransmits  = frames tshark flags tcp.analysis.retransmission
//   zero windows = frames tshark flags tcp.analysis.zero_window
//   RSTs         = frames with the RST flag; podtap counts a RST answering a SYN as a refused connect
//                  and one after the handshake as a reset, once per connection
// Where podtap and tshark disagree the row says why (`note`) and what podtap counts instead.

import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { C, Counters } from '../counters.js'
import { Pipeline } from '../pipeline/pipeline.js'
import { feedCaptureFiles } from '../pipeline/replay-sync.js'

const PCAPS = join(import.meta.dirname, '../../test/pcaps')
const tshark = spawnSync('tshark', ['--version']).status === 0

interface Row {
  file: string
  /** tshark: retransmission, zero_window, RST frames */
  tshark: [number, number, number]
  /** podtap: retransmits, zero windows, resets + refused */
  podtap: [number, number, number]
  note?: string
}

const ROWS: Row[] = [
  { file: 'tcp-health/01-zero-window.pcap', tshark: [0, 2, 0], podtap: [0, 2, 0] },
  { file: 'tcp/wswiki__out-of-order.pcap', tshark: [273, 0, 0], podtap: [273, 0, 0] },
  { file: 'tcp/zeek__retransmit-fast009.pcap', tshark: [3, 0, 1], podtap: [3, 0, 1] },
  { file: 'tcp/packetbeat__http_minitwit.pcap', tshark: [9, 0, 0], podtap: [9, 0, 0] },
  { file: 'tcp/suricata-verify__http-protocol-nodup__input.pcap', tshark: [7, 0, 0], podtap: [7, 0, 0] },
  { file: 'tcp-health/nDPI__kafka.pcapng', tshark: [2, 0, 0], podtap: [2, 0, 0] },
  { file: 'tcp-health/nDPI__mongodb.pcap', tshark: [4, 0, 0], podtap: [4, 0, 0] },
  { file: 'tcp-health/zeek__retransmit-timeout.pcapng', tshark: [1, 0, 0], podtap: [1, 0, 0] },
  { file: 'tcp-health/zeek__ipv6-http-atomic-frag.pcap', tshark: [1, 0, 0], podtap: [1, 0, 0] },
  { file: 'tcp-health/zeek__ssl-v2.pcap', tshark: [1, 0, 0], podtap: [1, 0, 0] },
  { file: 'tcp-health/packt__Server_Streaming.pcapng', tshark: [0, 0, 1], podtap: [0, 0, 1] },
  { file: 'tcp-health/zeek__caching_sha2_password.pcap', tshark: [0, 0, 1], podtap: [0, 0, 1] },
  { file: 'tcp-health/zeek__attr.pcap', tshark: [0, 0, 2], podtap: [0, 0, 2], note: 'both RSTs answer SYNs: 2 refused connects' },
  {
    file: 'tcp-health/zeek__auth.pcap',
    tshark: [13, 0, 0],
    podtap: [0, 0, 0],
    note: 'all 13 are FINs sent again after both FINs were seen: the connection is over, its closed 4-tuple swallows trailing packets',
  },
  {
    file: 'tcp-health/zeek__mysql8-navicat-login-failed.pcap',
    tshark: [5, 0, 0],
    podtap: [4, 0, 0],
    note: 'frame 21, a FIN sent again after both FINs, as in zeek__auth',
  },
  {
    file: 'tcp-health/zeek__psql-aws-ssl-require.pcap',
    tshark: [0, 0, 3],
    podtap: [0, 0, 1],
    note: 'the first RST ends the connection (a reset by the client); the two RSTs after it are of no connection any more',
  },
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

describe('TCP health on real captures, against tshark', () => {
  for (const row of ROWS) {
    it(`${row.file}${row.note ? ` (${row.note})` : ''}`, () => {
      const counters = new Counters()
      const p = new Pipeline({ counters, onExchange: () => undefined })
      feedCaptureFiles(p, [join(PCAPS, row.file)])
      p.finish()
      const got: [number, number, number] = [
        counters.total(C.tcpRetransmitsSeen),
        counters.total(C.tcpZeroWindows),
        counters.total(C.tcpResets) + counters.get(C.tcpConnects, { result: 'refused' }),
      ]
      expect(got).toEqual(row.podtap)
      if (tshark) expect(tsharkCounts(join(PCAPS, row.file))).toEqual(row.tshark)
    })
  }
})
