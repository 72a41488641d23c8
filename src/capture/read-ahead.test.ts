// pcap-file.ts read-ahead (`podtap replay`): the next chunk is read on the thread pool and swapped in
// behind the previous chunk's tail. Every packet must come out as the synchronous reader gives it:
// records across chunk ends, records of every size up to 256 KiB, pcapng with a block skipped past the
// buffer (the prefetch then no longer follows on), and every test capture larger than one chunk.

import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { createHash } from 'node:crypto'
import { afterAll, describe, expect, it } from 'vitest'
import { PcapWriter } from './pcap-writer.js'
import { openCaptureFile, type CaptureFileReader } from './pcap-file.js'

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'podtap-readahead-'))
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

/** one line per packet: time, lengths, interface, link type, a hash of the bytes */
function digestSync(src: CaptureFileReader): string[] {
  const out: string[] = []
  for (let p = src.nextRaw(); p !== null; p = src.nextRaw()) out.push(line(p.tsUs, p.caplen, p.origLen, p.ifindex, p.linkType, p.buf.subarray(p.start, p.start + p.caplen)))
  src.close()
  return out
}

async function digestAhead(src: CaptureFileReader): Promise<{ lines: string[]; refills: number }> {
  const out: string[] = []
  let refills = 0
  for (;;) {
    const p = src.nextRaw()
    if (p === null) {
      if (!src.needsRefill) break
      refills++
      await src.refill()
      continue
    }
    out.push(line(p.tsUs, p.caplen, p.origLen, p.ifindex, p.linkType, p.buf.subarray(p.start, p.start + p.caplen)))
  }
  src.close()
  return { lines: out, refills }
}

function line(ts: number, caplen: number, origLen: number, ifindex: number, linkType: number, data: Buffer): string {
  return `${ts} ${caplen} ${origLen} ${ifindex} ${linkType} ${createHash('sha1').update(data).digest('hex')}`
}

describe('read-ahead', () => {
  it('records of every size up to 256 KiB across many chunk swaps of the smallest buffer', async () => {
    const p = path.join(dir, 'sizes.pcap')
    const w = new PcapWriter(p, { snaplen: 262144 })
    const sizes = [1, 60, 1514, 9000, 65535, 262144, 3, 200_000, 70_000, 262144, 262144, 5, 327, 131_072]
    for (let i = 0; i < 400; i++) {
      const n = sizes[(i * 7) % sizes.length]!
      const data = Buffer.alloc(n)
      for (let j = 0; j < n; j += 331) data[j] = (i * 31 + j) & 0xff
      w.write(1_700_000_000_000_000 + i, data)
    }
    w.close()
    const want = digestSync(openCaptureFile(p, { chunkBytes: 1 }))
    const got = await digestAhead(openCaptureFile(p, { chunkBytes: 1, readAhead: true }))
    expect(want.length).toBe(400)
    expect(got.lines).toEqual(want)
    expect(got.refills).toBeGreaterThan(100) // ~37 MB through a 320 KiB buffer
  })

  it('pcapng with a block larger than the buffer skipped in the middle', async () => {
    const u32 = (v: number): Buffer => {
      const b = Buffer.alloc(4)
      b.writeUInt32LE(v >>> 0)
      return b
    }
    const block = (type: number, body: Buffer): Buffer => {
      const pad = Buffer.alloc((4 - (body.length % 4)) % 4)
      const len = 12 + body.length + pad.length
      return Buffer.concat([u32(type), u32(len), body, pad, u32(len)])
    }
    const shb = block(0x0a0d0d0a, Buffer.concat([u32(0x1a2b3c4d), Buffer.from([1, 0, 0, 0]), Buffer.alloc(8, 0xff)]))
    const idb = block(1, Buffer.concat([Buffer.from([1, 0, 0, 0]), u32(262144)]))
    const epb = (i: number, n: number): Buffer => {
      const data = Buffer.alloc(n, i & 0xff)
      return block(6, Buffer.concat([u32(0), u32(0), u32(i), u32(n), u32(n), data]))
    }
    const parts: Buffer[] = [shb, idb]
    for (let i = 0; i < 3000; i++) {
      parts.push(epb(i, 200 + ((i * 37) % 1400)))
      if (i === 1500) parts.push(block(10, Buffer.alloc(3 * 1024 * 1024, 0x41))) // a 3 MiB DSB
    }
    const p = path.join(dir, 'skip.pcapng')
    fs.writeFileSync(p, Buffer.concat(parts))
    const want = digestSync(openCaptureFile(p, { chunkBytes: 512 * 1024 }))
    const got = await digestAhead(openCaptureFile(p, { chunkBytes: 512 * 1024, readAhead: true }))
    expect(want.length).toBe(3000)
    expect(got.lines).toEqual(want)
  })

  it('every test capture larger than one chunk reads the same', async () => {
    const root = path.resolve(import.meta.dirname, '../../test/pcaps')
    const files = fs.readdirSync(root, { recursive: true, encoding: 'utf8' }).filter((f) => /\.pcap(ng)?$/.test(f)).map((f) => path.join(root, f))
    const big = files.filter((f) => fs.statSync(f).size > 400 * 1024)
    expect(big.length).toBeGreaterThan(3)
    for (const f of big) {
      const want = digestSync(openCaptureFile(f, { chunkBytes: 1 }))
      const got = await digestAhead(openCaptureFile(f, { chunkBytes: 1, readAhead: true }))
      expect([f, got.lines.length]).toEqual([f, want.length])
      expect(got.lines).toEqual(want)
    }
  })
})
