// PcapWriter: what it writes reads back through our reader and through tshark.

import { spawnSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { SinkError } from '../errors.js'
import { TcpConversation, ipv6Tcp } from '../../test/helpers/packets.js'
import { openCaptureFile } from './pcap-file.js'
import { PcapWriter } from './pcap-writer.js'
import { LinkType } from './source.js'

let dir = ''
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'podtap-pcap-writer-'))
})
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true })
})

const haveTshark = spawnSync('tshark', ['--version'], { stdio: 'ignore' }).status === 0
if (!haveTshark) console.log('skipping tshark checks of written files: tshark is not installed')

function tshark(file: string, ...args: string[]): string {
  return spawnSync('tshark', ['-n', '-r', file, ...args], { encoding: 'utf8' }).stdout.trim()
}

function conversation() {
  return new TcpConversation({ client: { ip: '10.0.0.1', port: 40000 }, server: { ip: '10.0.0.2', port: 80 }, startUs: 1_700_000_000_000_001, stepUs: 1_234 })
    .handshake()
    .send('c2s', 'GET /index.html HTTP/1.1\r\nHost: example\r\n\r\n')
    .send('s2c', 'HTTP/1.1 200 OK\r\nContent-Length: 3000\r\n\r\n' + 'a'.repeat(3000))
    .close()
}

describe('PcapWriter', () => {
  it('writes a file our reader returns unchanged', () => {
    const pkts = conversation().packets
    const p = path.join(dir, 'conv.pcap')
    const w = new PcapWriter(p)
    for (const q of pkts) w.write(q.tsUs, q.data)
    w.close()
    expect(w.packets).toBe(pkts.length)
    expect(w.bytesWritten).toBe(fs.statSync(p).size)
    const src = openCaptureFile(p)
    expect(src.linkType).toBe(LinkType.ETHERNET)
    expect(src.snaplen).toBe(262144)
    let i = 0
    for (let q = src.next(); q !== null; q = src.next(), i++) {
      expect(q.tsUs).toBe(pkts[i].tsUs)
      expect(q.data.equals(pkts[i].data)).toBe(true)
      expect(q.origLen).toBe(pkts[i].data.length)
    }
    expect(i).toBe(pkts.length)
  })

  it.skipIf(!haveTshark)('tshark reads it: count, times, addresses, HTTP, valid checksums', () => {
    const conv = conversation()
    const p = path.join(dir, 'tshark.pcap')
    conv.writePcap(p)
    const lines = tshark(p, '-o', 'tcp.check_checksum:TRUE', '-o', 'ip.check_checksum:TRUE', '-T', 'fields', '-E', 'separator=|',
      '-e', 'frame.time_epoch', '-e', 'ip.src', '-e', 'tcp.srcport', '-e', 'ip.checksum.status', '-e', 'tcp.checksum.status', '-e', 'http.request.method', '-e', 'http.response.code').split('\n')
    expect(lines.length).toBe(conv.packets.length)
    expect(lines[0].split('|').slice(0, 3)).toEqual(['1700000000.000001000', '10.0.0.1', '40000'])
    for (const l of lines) expect(l.split('|').slice(3, 5)).toEqual(['1', '1']) // 0 bad, 1 good, 2 unverified
    expect(lines.map((l) => l.split('|')[5]).filter(Boolean)).toEqual(['GET'])
    expect(lines.map((l) => l.split('|')[6]).filter(Boolean)).toEqual(['200'])
  })

  it('cuts packets to the snap length and keeps the wire length', () => {
    const p = path.join(dir, 'snap.pcap')
    const w = new PcapWriter(p, { snaplen: 100, linkType: LinkType.RAW })
    w.write(5, Buffer.alloc(1000, 1))
    w.write(6, Buffer.alloc(50, 2), 70)
    w.close()
    const src = openCaptureFile(p)
    expect(src.linkType).toBe(LinkType.RAW)
    const a = src.next()!
    expect([a.data.length, a.origLen, a.linkType]).toEqual([100, 1000, 101])
    const b = src.next()!
    expect([b.data.length, b.origLen, b.tsUs]).toEqual([50, 70, 6])
    expect(src.stats().truncated).toBe(2)
    if (haveTshark) expect(tshark(p, '-T', 'fields', '-e', 'frame.len', '-e', 'frame.cap_len')).toBe('1000\t100\n70\t50')
  })

  it('records larger than the buffer, and many flushes', () => {
    const p = path.join(dir, 'large.pcap')
    const w = new PcapWriter(p, { bufferBytes: 1 }) // clamped to 64 KiB
    const big = Buffer.alloc(200_000)
    for (let i = 0; i < big.length; i++) big[i] = i & 0xff
    for (let i = 0; i < 30; i++) w.write(i, i % 3 === 0 ? big : big.subarray(0, 1000 + i))
    w.close()
    const src = openCaptureFile(p)
    for (let i = 0; i < 30; i++) {
      const q = src.next()!
      expect(q.tsUs).toBe(i)
      expect(q.data.equals(i % 3 === 0 ? big : big.subarray(0, 1000 + i))).toBe(true)
    }
    expect(src.next()).toBeNull()
  })

  it('copies the data: changing the caller\'s buffer after write() does not change the file', () => {
    const p = path.join(dir, 'copy.pcap')
    const w = new PcapWriter(p, { linkType: LinkType.IPV6 })
    const data = ipv6Tcp({ src: '2001:db8::1', dst: '2001:db8::2', sport: 1, dport: 2, payload: 'abc' })
    const keep = Buffer.from(data)
    w.write(1, data)
    data.fill(0)
    w.close()
    expect(openCaptureFile(p).next()!.data.equals(keep)).toBe(true)
  })

  it('timestamps: fractional µs round down; negative ones become 0', () => {
    const p = path.join(dir, 'ts.pcap')
    const w = new PcapWriter(p)
    w.write(1_700_000_000_999_999.7, Buffer.alloc(60))
    w.write(-5, Buffer.alloc(60))
    w.close()
    const src = openCaptureFile(p)
    expect(src.next()!.tsUs).toBe(1_700_000_000_999_999)
    expect(src.next()!.tsUs).toBe(0)
  })

  it('write after close is an error; close twice is not', () => {
    const w = new PcapWriter(path.join(dir, 'closed.pcap'))
    w.close()
    w.close()
    expect(() => w.write(1, Buffer.alloc(1))).toThrow(SinkError)
  })

  it('an unwritable path is a SinkError that names it', () => {
    expect(() => new PcapWriter(path.join(dir, 'no/such/dir/x.pcap'))).toThrow(/cannot write .*no\/such\/dir/)
  })
})
