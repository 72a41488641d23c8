// pcap/pcapng reader on synthetic files: byte orders, resolutions, pcapng sections and interfaces,
// skipped blocks, refills across the buffer, and every kind of bad file.

import { spawnSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import * as zlib from 'node:zlib'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CaptureFileError } from '../errors.js'
import {
  ethIpv4Tcp, ipv4Tcp, pcapFileBytes, pcapngEpb, pcapngIdb, pcapngOther, pcapngPb, pcapngShb, pcapngSpb,
  type PcapPacket,
} from '../../test/helpers/packets.js'
import { PcapWriter } from './pcap-writer.js'
import { openCaptureFile, type CaptureFileReader } from './pcap-file.js'
import { LinkType, type Packet } from './source.js'

let dir = ''
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'podtap-pcap-file-'))
})
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true })
})

let seq = 0
function file(bytes: Buffer | string, name = `f${seq++}.pcap`): string {
  const p = path.join(dir, name)
  fs.writeFileSync(p, bytes)
  return p
}

interface Got {
  tsUs: number
  ifindex: number
  linkType: number
  data: Buffer
  origLen: number
}

/** Every packet, copied (the reader reuses its Packet and buffer). */
function readAll(src: CaptureFileReader): Got[] {
  const out: Got[] = []
  for (let p: Packet | null = src.next(); p !== null; p = src.next()) out.push({ ...p, data: Buffer.from(p.data) })
  return out
}

function catchErr(fn: () => unknown): CaptureFileError {
  try {
    fn()
  } catch (e) {
    expect(e).toBeInstanceOf(CaptureFileError)
    return e as CaptureFileError
  }
  throw new Error('expected a CaptureFileError')
}

const haveTshark = spawnSync('tshark', ['--version'], { stdio: 'ignore' }).status === 0

/** tshark's frame count and µs timestamps for a file (null when tshark is missing) */
function tsharkTimes(p: string): string[] | null {
  if (!haveTshark) return null
  const r = spawnSync('tshark', ['-n', '-r', p, '-T', 'fields', '-e', 'frame.time_epoch'], { encoding: 'utf8' })
  return r.stdout.trim().split('\n').map((t) => {
    const [sec, frac] = t.split('.')
    return String(Number(sec + (frac ?? '').padEnd(9, '0').slice(0, 6)))
  })
}

function samplePackets(n: number, startUs = 1_700_000_000_123_456): PcapPacket[] {
  return Array.from({ length: n }, (_, i) => ({
    tsUs: startUs + i * 1_001,
    data: ethIpv4Tcp({ src: '10.0.0.1', dst: '10.0.0.2', sport: 40000 + i, dport: 80, seq: i, payload: 'x'.repeat(i % 50) }),
  }))
}

describe('classic pcap', () => {
  it.each([
    ['little endian µs', { le: true }],
    ['big endian µs', { le: false }],
    ['little endian ns', { le: true, nanos: true }],
    ['big endian ns', { le: false, nanos: true }],
  ])('%s: every field comes back, and tshark agrees on the timestamps', (_n, o) => {
    const pkts = samplePackets(20)
    pkts[3].origLen = pkts[3].data.length + 100 // snap-length cut
    const p = file(pcapFileBytes(pkts, { ...o, snaplen: 65535 }))
    const src = openCaptureFile(p)
    expect(src.format).toBe('pcap')
    expect(src.linkType).toBe(LinkType.ETHERNET)
    expect(src.snaplen).toBe(65535)
    const got = readAll(src)
    expect(got.map((g) => g.tsUs)).toEqual(pkts.map((q) => q.tsUs))
    expect(got.map((g) => g.data)).toEqual(pkts.map((q) => q.data))
    expect(got[3].origLen).toBe(pkts[3].data.length + 100)
    expect(got[4].origLen).toBe(pkts[4].data.length)
    expect(src.ended).toBe(true)
    expect(src.next()).toBeNull()
    expect(src.bytesRead).toBe(src.bytesTotal)
    expect(src.stats()).toEqual({ packets: 20, bytes: pkts.reduce((a, q) => a + q.data.length, 0), dropped: 0, truncated: 1 })
    src.close()
    const ts = tsharkTimes(p)
    if (ts) expect(ts).toEqual(pkts.map((q) => String(q.tsUs)))
  })

  it('nextRaw(): the same packets as next(), as offsets into the read buffer', () => {
    const pkts = samplePackets(50)
    pkts[7].origLen = pkts[7].data.length + 10
    const p = file(pcapFileBytes(pkts))
    const viaNext = readAll(openCaptureFile(p))
    const src = openCaptureFile(p)
    const viaRaw: Got[] = []
    for (let r = src.nextRaw(); r !== null; r = src.nextRaw()) {
      viaRaw.push({ tsUs: r.tsUs, ifindex: r.ifindex, linkType: r.linkType, data: Buffer.from(r.buf.subarray(r.start, r.start + r.caplen)), origLen: r.origLen })
    }
    src.close()
    expect(viaRaw).toEqual(viaNext)
    expect(viaRaw.map((g) => g.data)).toEqual(pkts.map((q) => q.data))
  })

  it('ns timestamps round down to the µs, exactly, even at the largest u32 second', () => {
    const data = Buffer.alloc(60)
    const pkts = [
      { tsUs: 1_700_000_000_000_000, data, nsExtra: 999 }, // .000000999 -> .000000
      { tsUs: 1_700_000_000_999_999, data, nsExtra: 999 }, // .999999999 -> .999999
      { tsUs: 4_294_967_295_999_999, data, nsExtra: 1 }, // 2106-02-07, last representable second
    ]
    const got = readAll(openCaptureFile(file(pcapFileBytes(pkts, { nanos: true }))))
    expect(got.map((g) => g.tsUs)).toEqual([1_700_000_000_000_000, 1_700_000_000_999_999, 4_294_967_295_999_999])
  })

  it('ignores the FCS bits above the link type, and passes any link type through', () => {
    const pkts = samplePackets(2)
    // bits 28-31: FCS length in 16-bit units (here 2 = 4 bytes), bit 26: FCS length valid
    const src = openCaptureFile(file(pcapFileBytes(pkts, { linkType: 0x24000001 })))
    expect(src.linkType).toBe(LinkType.ETHERNET)
    expect(readAll(src).map((g) => g.linkType)).toEqual([1, 1])
    const sll2 = openCaptureFile(file(pcapFileBytes(pkts, { linkType: LinkType.LINUX_SLL2, le: false })))
    expect(readAll(sll2).map((g) => g.linkType)).toEqual([276, 276])
  })

  it('reads Kuznetsov "modified" pcap (24-byte record headers)', () => {
    const pkts = samplePackets(3)
    const got = readAll(openCaptureFile(file(pcapFileBytes(pkts, { modified: true }))))
    expect(got.map((g) => g.data)).toEqual(pkts.map((q) => q.data))
    expect(got[0].ifindex).toBe(7)
  })

  it('a header-only file has no packets and is not an error', () => {
    const src = openCaptureFile(file(pcapFileBytes([])))
    expect(src.next()).toBeNull()
    expect(src.ended).toBe(true)
    expect(src.truncatedTail).toBeNull()
  })

  it('a zero-length record is a packet (tshark counts it too)', () => {
    const got = readAll(openCaptureFile(file(pcapFileBytes([{ tsUs: 1, data: Buffer.alloc(0) }, ...samplePackets(1)]))))
    expect(got.map((g) => g.data.length)).toEqual([0, samplePackets(1)[0].data.length])
  })
})

describe('pcapng', () => {
  const eth = ethIpv4Tcp({ src: '10.1.1.1', dst: '10.1.1.2', sport: 1234, dport: 6379, payload: 'PING\r\n' })
  const raw = ipv4Tcp({ src: '10.2.2.1', dst: '10.2.2.2', sport: 5555, dport: 5432, payload: 'Q' })

  it('two interfaces of different link types and resolutions, an offset, SPB, PB, skipped blocks', () => {
    const t0 = 1_700_000_000n // seconds
    const bytes = Buffer.concat([
      pcapngShb(true),
      pcapngOther(4, Buffer.alloc(16)), // NRB
      pcapngIdb(LinkType.ETHERNET, { tsresol: 9, snaplen: 262144 }), // interface 0: ns
      pcapngIdb(LinkType.RAW, { tsresol: 0x80 | 20, tsoffsetSec: 100 }), // interface 1: 2^-20 s, +100 s
      pcapngEpb(0, t0 * 1_000_000_000n + 123_456_789n, eth),
      pcapngEpb(1, (t0 << 20n) + (1n << 19n), raw), // t0 + 0.5 s, then +100 s offset
      pcapngOther(10, dsbBody('CLIENT_RANDOM 00 11\n')), // DSB (TLS keys)
      pcapngOther(5, Buffer.alloc(24)), // ISB
      pcapngSpb(eth), // interface 0, no timestamp: the last one seen
      pcapngPb(1, (t0 << 20n) + 3n, raw),
      pcapngOther(0x40000bad, Buffer.alloc(8)), // custom, do-not-copy
      pcapngEpb(0, t0 * 1_000_000_000n + 999n, eth, { opts: [{ code: 1, value: Buffer.from('a comment') }] }),
    ])
    const p = file(bytes, 'two-ifaces.pcapng')
    const src = openCaptureFile(p)
    expect(src.format).toBe('pcapng')
    expect(src.linkType).toBe(LinkType.ETHERNET)
    const got = readAll(src)
    const sec = Number(t0) * 1e6
    expect(got.map((g) => [g.ifindex, g.linkType, g.tsUs])).toEqual([
      [0, 1, sec + 123_456],
      [1, 101, sec + 500_000 + 100e6],
      [0, 1, sec + 500_000 + 100e6], // SPB: last timestamp
      [1, 101, sec + 2 + 100e6], // 3 / 2^20 s = 2.86 µs, rounded down
      [0, 1, sec + 0],
    ])
    expect(got.map((g) => g.data)).toEqual([eth, raw, eth, raw, eth])
    expect(src.bytesRead).toBe(bytes.length)
    // tshark shows no time for the SPB (it has none; we repeat the last one), and lists the custom
    // block as a record of its own ('data', no time): it is not a packet, podtap skips it
    const ts = tsharkTimes(p)
    const mine = got.map((g, i) => (i === 2 ? '0' : String(g.tsUs)))
    if (ts) expect(ts).toEqual([...mine.slice(0, 4), '0', mine[4]])
  })

  it('several sections, each with its own byte order and interfaces', () => {
    const bytes = Buffer.concat([
      pcapngShb(true),
      pcapngIdb(LinkType.ETHERNET),
      pcapngEpb(0, 1_000_000n, eth),
      pcapngShb(false),
      pcapngIdb(LinkType.IPV4, { le: false, tsresol: 3 }), // ms
      pcapngIdb(LinkType.ETHERNET, { le: false }),
      pcapngEpb(0, 2_000n, raw, { le: false }),
      pcapngEpb(1, 3_000_000n, eth, { le: false }),
      pcapngShb(true),
      pcapngIdb(LinkType.RAW, { tsresol: 9 }),
      pcapngEpb(0, 4_000_000_000n, raw),
    ])
    const p = file(bytes, 'sections.pcapng')
    const got = readAll(openCaptureFile(p))
    expect(got.map((g) => [g.ifindex, g.linkType, g.tsUs, g.data.length])).toEqual([
      [0, 1, 1_000_000, eth.length],
      [0, 228, 2_000_000, raw.length],
      [1, 1, 3_000_000, eth.length],
      [0, 101, 4_000_000, raw.length],
    ])
    const ts = tsharkTimes(p)
    if (ts) expect(ts).toEqual(['1000000', '2000000', '3000000', '4000000'])
  })

  /** Decryption Secrets Block body: secrets type 'TLSK' | length | key log text */
  function dsbBody(text: string): Buffer {
    const h = Buffer.alloc(8)
    h.writeUInt32LE(0x544c534b, 0)
    h.writeUInt32LE(text.length, 4)
    return Buffer.concat([h, Buffer.from(text)])
  }

  it('decimal resolutions from s to ps and a 2^-n one convert exactly', () => {
    const t = 1_700_000_000_654_321 // µs
    const cases: [number, bigint, number][] = [
      [0, 1_700_000_000n, 1_700_000_000_000_000],
      [3, 1_700_000_000_654n, 1_700_000_000_654_000],
      [6, BigInt(t), t],
      [9, BigInt(t) * 1000n + 999n, t],
      // 64 bits of ps reach only 213 days past the epoch (such files use if_tsoffset)
      [12, 10_000_000_654_321n * 1_000_000n + 999_999n, 10_000_000_654_321],
      [15, 18_000_000_000n * 1_000_000_000n + 5n, 18_000_000_000], // beyond the two-step division: BigInt
      [0x80 | 10, 1_700_000_000n * 1024n + 512n, 1_700_000_000_500_000],
    ]
    for (const [res, units, want] of cases) {
      const got = readAll(openCaptureFile(file(Buffer.concat([pcapngShb(), pcapngIdb(1, { tsresol: res }), pcapngEpb(0, units, eth)]), `res${res}.pcapng`)))
      expect([res, got[0].tsUs]).toEqual([res, want])
    }
  })

  it('a skipped block larger than the read buffer is stepped over by position', () => {
    const big = pcapngOther(10, Buffer.alloc(3 * 1024 * 1024, 0x41)) // 3 MiB DSB
    const bytes = Buffer.concat([pcapngShb(), pcapngIdb(1), pcapngEpb(0, 1n, eth), big, pcapngEpb(0, 2n, eth)])
    const src = openCaptureFile(file(bytes, 'bigskip.pcapng'), { chunkBytes: 512 * 1024 })
    expect(readAll(src).map((g) => g.tsUs)).toEqual([1, 2])
    expect(src.bytesRead).toBe(bytes.length)
  })

  it('SPB data is cut to the interface snap length', () => {
    const bytes = Buffer.concat([pcapngShb(), pcapngIdb(1, { snaplen: 20 }), pcapngSpb(eth)])
    const got = readAll(openCaptureFile(file(bytes, 'spb-snap.pcapng')))
    expect(got[0].data).toEqual(eth.subarray(0, 20))
    expect(got[0].origLen).toBe(eth.length)
  })
})

describe('refilling the buffer', () => {
  it('packets of every size, up to 256 KiB, across many refills of the smallest buffer', () => {
    const sizes = [1, 60, 1514, 9000, 65535, 262144, 3, 200_000, 70_000, 262144, 262144, 5]
    const pkts: PcapPacket[] = []
    for (let i = 0; i < 60; i++) {
      const n = sizes[i % sizes.length]
      const data = Buffer.alloc(n)
      for (let j = 0; j < n; j += 997) data[j] = (i + j) & 0xff
      data[n - 1] = i
      pkts.push({ tsUs: i, data })
    }
    const p = file(pcapFileBytes(pkts))
    const src = openCaptureFile(p, { chunkBytes: 1 }) // clamped to the minimum (320 KiB)
    let i = 0
    let lastRead = 0
    for (let q = src.next(); q !== null; q = src.next(), i++) {
      expect(q.data.equals(pkts[i].data)).toBe(true)
      expect(src.bytesRead).toBeGreaterThan(lastRead)
      lastRead = src.bytesRead
    }
    expect(i).toBe(60)
    expect(src.bytesRead).toBe(fs.statSync(p).size)
  })

  it('a 64 MiB file replays in constant memory (one fixed buffer)', () => {
    const p = path.join(dir, 'big.pcap')
    const payload = Buffer.alloc(1400, 0x61)
    const w = new PcapWriter(p)
    const frame = ethIpv4Tcp({ src: '10.0.0.1', dst: '10.0.0.2', sport: 1, dport: 2, payload })
    for (let n = 0; n < 45_000; n++) w.write(1_700_000_000_000_000 + n, frame)
    w.close()
    const size = fs.statSync(p).size
    expect(size).toBeGreaterThan(64e6)
    const before = process.memoryUsage().arrayBuffers
    const src = openCaptureFile(p)
    let count = 0
    let peak = 0
    for (let q = src.next(); q !== null; q = src.next()) {
      if (++count % 5000 === 0) peak = Math.max(peak, process.memoryUsage().arrayBuffers - before)
    }
    src.close()
    expect(count).toBe(45_000)
    expect(peak).toBeLessThan(12 * 1024 * 1024) // the 4 MiB buffer plus slack, not the file
    fs.rmSync(p)
  })
})

describe('truncated last record: the source ends, everything before it is delivered', () => {
  const pkts = samplePackets(5)
  const whole = pcapFileBytes(pkts)
  const lastAt = whole.length - 16 - pkts[4].data.length

  it.each([
    ['inside the record header', lastAt + 7],
    ['inside the packet data', whole.length - 3],
  ])('pcap cut %s', (_n, cutAt) => {
    const src = openCaptureFile(file(whole.subarray(0, cutAt)))
    const got = readAll(src)
    expect(got.length).toBe(4)
    expect(src.truncatedTail).toBe(lastAt)
    expect(src.stats().dropped).toBe(1)
    expect(src.ended).toBe(true)
  })

  it('pcapng cut inside the last block', () => {
    const eth = pkts[0].data
    const head = Buffer.concat([pcapngShb(), pcapngIdb(1), pcapngEpb(0, 1n, eth), pcapngEpb(0, 2n, eth)])
    const last = pcapngEpb(0, 3n, eth)
    for (const keep of [4, 11, last.length - 1]) {
      const src = openCaptureFile(file(Buffer.concat([head, last.subarray(0, keep)]), `cut${keep}.pcapng`))
      expect(readAll(src).length).toBe(2)
      expect(src.truncatedTail).toBe(head.length)
      expect(src.stats().dropped).toBe(1)
    }
  })

  it('pcapng cut inside a skipped block', () => {
    const bytes = Buffer.concat([pcapngShb(), pcapngIdb(1), pcapngEpb(0, 1n, pkts[0].data)])
    const src = openCaptureFile(file(Buffer.concat([bytes, pcapngOther(5, Buffer.alloc(64)).subarray(0, 40)]), 'cutisb.pcapng'))
    expect(readAll(src).length).toBe(1)
    expect(src.truncatedTail).toBe(bytes.length)
  })
})

describe('files that cannot be read', () => {
  it('an empty file', () => {
    const e = catchErr(() => openCaptureFile(file('')))
    expect(e.code).toBe('PODTAP_FILE_EMPTY')
    expect(e.exitCode).toBe(2)
    expect(e.message).toMatch(/empty file/)
  })

  it('a text file says so and shows how it starts', () => {
    const p = file('GET / HTTP/1.1\r\nHost: example\r\n\r\n')
    const e = catchErr(() => openCaptureFile(p))
    expect(e.code).toBe('PODTAP_FILE_NOT_CAPTURE')
    expect(e.message).toContain(p)
    expect(e.message).toMatch(/looks like a text file \(starts with "GET \/ HTTP\/1.1/)
    expect(e.message).toMatch(/at byte offset 0/)
  })

  it('a gzip-compressed capture asks to gunzip it', () => {
    const e = catchErr(() => openCaptureFile(file(zlib.gzipSync(pcapFileBytes(samplePackets(3))), 'x.pcap.gz')))
    expect(e.code).toBe('PODTAP_FILE_NOT_CAPTURE')
    expect(e.message).toMatch(/looks like gzip: gunzip it first/)
  })

  it('binary garbage shows its first bytes', () => {
    const e = catchErr(() => openCaptureFile(file(Buffer.from([0xde, 0xad, 0xbe, 0xef, 0, 1, 2, 3, 4, 5]))))
    expect(e.message).toMatch(/first bytes de ad be ef 00 01 02 03/)
  })

  it('a pcap header cut short', () => {
    const h = pcapFileBytes([])
    for (const keep of [2, 10, 23]) {
      const e = catchErr(() => openCaptureFile(file(h.subarray(0, keep))))
      expect(e.code).toBe('PODTAP_FILE_TRUNCATED')
      expect(e.offset).toBe(keep)
      expect(e.message).toMatch(/cut short/)
    }
  })

  it('a pcapng section header cut short', () => {
    const shb = pcapngShb()
    for (const keep of [6, 12, shb.length - 2]) {
      const e = catchErr(() => openCaptureFile(file(shb.subarray(0, keep), `shb${keep}.pcapng`)))
      expect(e.code).toBe('PODTAP_FILE_TRUNCATED')
    }
  })

  it('a missing file and a directory', () => {
    expect(catchErr(() => openCaptureFile(path.join(dir, 'nope.pcap'))).message).toMatch(/cannot open: no such file/)
    expect(catchErr(() => openCaptureFile(dir)).message).toMatch(/is a directory/)
  })

  it('a record with a huge caplen in the middle: earlier packets, then an error naming its offset', () => {
    const pkts = samplePackets(3)
    const bytes = pcapFileBytes(pkts)
    const second = 24 + 16 + pkts[0].data.length
    bytes.writeUInt32LE(300_000, second + 8)
    const p = file(bytes)
    const src = openCaptureFile(p)
    expect(src.next()?.data.equals(pkts[0].data)).toBe(true)
    const e = catchErr(() => src.next())
    expect(e.code).toBe('PODTAP_FILE_CORRUPT')
    expect(e.offset).toBe(second)
    expect(e.message).toContain(p)
    expect(e.message).toMatch(/300000 captured bytes/)
    expect(src.next()).toBeNull()
    expect(src.ended).toBe(true)
  })

  it.each([
    ['a block length not a multiple of 4', (b: Buffer, at: number) => b.writeUInt32LE(70, at + 4), /block length 70/],
    ['a block length below 12', (b: Buffer, at: number) => b.writeUInt32LE(8, at + 4), /block length 8/],
    ['leading and trailing lengths that differ', (b: Buffer, at: number) => b.writeUInt32LE(999, at + b.readUInt32LE(at + 4) - 4), /lengths differ/],
    ['a packet on an interface never described', (b: Buffer, at: number) => b.writeUInt32LE(3, at + 8), /interface 3/],
    ['a caplen larger than its block', (b: Buffer, at: number) => b.writeUInt32LE(5000, at + 20), /does not fit/],
  ])('pcapng with %s', (_n, damage, msg) => {
    const eth = samplePackets(1)[0].data
    const head = Buffer.concat([pcapngShb(), pcapngIdb(1), pcapngEpb(0, 1n, eth)])
    const bytes = Buffer.concat([head, pcapngEpb(0, 2n, eth), pcapngEpb(0, 3n, eth)])
    damage(bytes, head.length)
    const src = openCaptureFile(file(bytes, `bad${seq}.pcapng`))
    expect(src.next()).not.toBeNull()
    const e = catchErr(() => src.next())
    expect(e.code).toBe('PODTAP_FILE_CORRUPT')
    expect(e.offset).toBe(head.length)
    expect(e.message).toMatch(msg)
  })
})

describe('close', () => {
  it('next() after close() returns null; close() twice is fine', () => {
    const src = openCaptureFile(file(pcapFileBytes(samplePackets(3))))
    expect(src.next()).not.toBeNull()
    src.close()
    expect(src.next()).toBeNull()
    expect(src.ended).toBe(true)
    src.close()
  })
})

describe('fuzz', () => {
  // a damaged file ends, or fails with a CaptureFileError, and nothing else: no RangeError from a
  // read past the buffer, no endless loop, no packet outside the file
  const eth = samplePackets(3).map((q) => q.data)
  const pcap = pcapFileBytes(samplePackets(3))
  const pcapng = Buffer.concat([
    pcapngShb(), pcapngIdb(1, { tsresol: 9, tsoffsetSec: 5 }), pcapngEpb(0, 1n, eth[0]), pcapngSpb(eth[1]),
    pcapngOther(5, Buffer.alloc(16)), pcapngShb(false), pcapngIdb(101, { le: false }), pcapngPb(0, 2n, eth[2], { le: false }),
  ])
  const fuzzFile = path.join(os.tmpdir(), `podtap-fuzz-${process.pid}.bin`)
  afterAll(() => fs.rmSync(fuzzFile, { force: true }))

  it.each([['pcap', pcap], ['pcapng', pcapng]])('%s with random bytes overwritten and a random cut', (_n, good) => {
    fc.assert(fc.property(
      fc.array(fc.record({ at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }), { maxLength: 6 }), fc.nat(),
      (edits, cut) => {
        const b = Buffer.from(good)
        for (const e of edits) b[e.at % b.length] = e.byte
        fs.writeFileSync(fuzzFile, b.subarray(0, (cut % (b.length + 1)) || b.length))
        try {
          const src = openCaptureFile(fuzzFile)
          let n = 0
          for (let q = src.next(); q !== null; q = src.next()) {
            expect(q.data.length).toBeLessThanOrEqual(b.length)
            if (++n > 10) throw new Error('more packets than the file holds')
          }
          src.close()
        } catch (e) {
          if (!(e instanceof CaptureFileError)) throw e
        }
      },
    ), { numRuns: 1500 })
  })
})
