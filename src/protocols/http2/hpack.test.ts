import * as http2 from 'node:http2'
import * as net from 'node:net'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { Decoder, HUFFMAN_CODE_LENGTHS, REDACTED, Result, huffmanCodes, huffmanDecode } from './hpack.js'
import { hpackInt, huffmanEncode, lit, sizeUpdate } from '../../../test/helpers/buffers/http2.js'

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex')

function decodeAll(d: Decoder, b: Buffer): { r: Result; fields: [string, string][] } {
  const fields: [string, string][] = []
  const r = d.decode(b, 0, b.length, (n, v) => fields.push([n, v]))
  return { r, fields }
}

describe('Huffman code (RFC 7541 Appendix B)', () => {
  it('is a complete prefix code (Kraft equality) over 257 symbols', () => {
    expect(HUFFMAN_CODE_LENGTHS.length).toBe(257)
    let k = 0
    for (const l of HUFFMAN_CODE_LENGTHS) k += 2 ** -l
    expect(k).toBe(1)
  })

  it('gives the codes the RFC lists', () => {
    const c = huffmanCodes()
    const want: [number, number, number][] = [
      [0, 0x1ff8, 13], [1, 0x7fffd8, 23], [9, 0xffffea, 24], [10, 0x3ffffffc, 30], [13, 0x3ffffffd, 30],
      [22, 0x3ffffffe, 30], [32, 0x14, 6], [48, 0x0, 5], [58, 0x5c, 7], [88, 0xfc, 8], [92, 0x7fff0, 19],
      [97, 0x3, 5], [127, 0xffffffc, 28], [128, 0xfffe6, 20], [129, 0x3fffd2, 22], [255, 0x3ffffee, 26],
      [256, 0x3fffffff, 30],
    ]
    for (const [sym, code, bits] of want) expect(c[sym], `symbol ${sym}`).toEqual({ code, bits })
  })

  it('decodes what it encodes, every symbol', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (a) => {
        const enc = huffmanEncode(Buffer.from(a))
        const out = new Uint8Array(a.length + 8)
        const n = huffmanDecode(enc, 0, enc.length, out)
        expect(Buffer.from(out.subarray(0, n))).toEqual(Buffer.from(a))
      }),
    )
  })

  it('rejects padding longer than 7 bits, padding that is not all ones, and EOS', () => {
    const out = new Uint8Array(16)
    // 'a' = 00011 then 3 one bits: fine; then a whole 0xff byte of padding: too long
    expect(huffmanDecode(Buffer.from([0x1f]), 0, 1, out)).toBe(1)
    expect(huffmanDecode(Buffer.from([0x1f, 0xff]), 0, 2, out)).toBe(-1)
    // 'a' then padding 000: not the EOS prefix
    expect(huffmanDecode(Buffer.from([0x18]), 0, 1, out)).toBe(-1)
    // EOS itself (30 ones) followed by padding
    expect(huffmanDecode(Buffer.from([0xff, 0xff, 0xff, 0xff]), 0, 4, out)).toBe(-1)
  })
})

describe('HPACK decoder, RFC 7541 Appendix C', () => {
  it('C.2 field representations', () => {
    const d = new Decoder(65536, 65536)
    expect(decodeAll(d, hex('400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572')).fields).toEqual([
      ['custom-key', 'custom-header'],
    ])
    expect(d.tableBytes).toBe(55)
    const d2 = new Decoder(65536, 65536)
    expect(decodeAll(d2, hex('040c 2f73 616d 706c 652f 7061 7468')).fields).toEqual([[':path', '/sample/path']])
    expect(d2.tableEntries).toBe(0)
    expect(decodeAll(d2, hex('1008 7061 7373 776f 7264 0673 6563 7265 74')).fields).toEqual([['password', 'secret']])
    expect(d2.tableEntries).toBe(0)
    expect(decodeAll(d2, hex('82')).fields).toEqual([[':method', 'GET']])
  })

  const c3 = [
    '8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d',
    '8286 84be 5808 6e6f 2d63 6163 6865',
    '8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65',
  ]
  const c4 = [
    '8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff',
    '8286 84be 5886 a8eb 1064 9cbf',
    '8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf',
  ]
  const requests: [string, string][][] = [
    [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'www.example.com']],
    [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'www.example.com'], ['cache-control', 'no-cache']],
    [[':method', 'GET'], [':scheme', 'https'], [':path', '/index.html'], [':authority', 'www.example.com'], ['custom-key', 'custom-value']],
  ]
  for (const [name, blocks] of [['C.3 requests, plain', c3], ['C.4 requests, Huffman', c4]] as const) {
    it(name, () => {
      const d = new Decoder(65536, 65536)
      const sizes = [57, 110, 164]
      blocks.forEach((b, i) => {
        const r = decodeAll(d, hex(b))
        expect(r.r).toBe(Result.Ok)
        expect(r.fields).toEqual(requests[i])
        expect(d.tableBytes).toBe(sizes[i])
      })
    })
  }

  const c5 = [
    '4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63 6f6d',
    '4803 3330 37c1 c0bf',
    '88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d 54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049 5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e 3d31',
  ]
  const c6 = [
    '4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3',
    '4883 640e ffc1 c0bf',
    '88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab 77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07',
  ]
  const date1 = 'Mon, 21 Oct 2013 20:13:21 GMT'
  const date2 = 'Mon, 21 Oct 2013 20:13:22 GMT'
  const loc = 'https://www.example.com'
  const responses: [string, string][][] = [
    [[':status', '302'], ['cache-control', 'private'], ['date', date1], ['location', loc]],
    [[':status', '307'], ['cache-control', 'private'], ['date', date1], ['location', loc]],
    [[':status', '200'], ['cache-control', 'private'], ['date', date2], ['location', loc], ['content-encoding', 'gzip'], ['set-cookie', REDACTED]],
  ]
  for (const [name, blocks] of [['C.5 responses, plain, table 256', c5], ['C.6 responses, Huffman, table 256', c6]] as const) {
    it(name + ' (set-cookie value not kept, its size still counted)', () => {
      const d = new Decoder(65536, 65536)
      d.setAllowed(256)
      // the encoder's table is 256 bytes (SETTINGS_HEADER_TABLE_SIZE = 256 in the RFC's example)
      expect(decodeAll(d, sizeUpdate(256)).r).toBe(Result.Ok)
      const sizes = [222, 222, 215]
      const entries = [4, 4, 3]
      blocks.forEach((b, i) => {
        const r = decodeAll(d, hex(b))
        expect(r.r).toBe(Result.Ok)
        expect(r.fields).toEqual(responses[i])
        expect(d.tableBytes).toBe(sizes[i])
        expect(d.tableEntries).toBe(entries[i])
      })
    })
  }
})

describe('HPACK decoder, bad input', () => {
  it('index out of range: the table is unknown from then on, static and newly added entries decode again', () => {
    const d = new Decoder(4096, 65536)
    expect(decodeAll(d, hpackInt(7, 0x80, 62)).r).toBe(Result.Bad)
    expect(d.lastBad).toBe('hpack_index_out_of_range')
    expect(decodeAll(d, Buffer.from([0x82])).r).toBe(Result.Ok)
    // an entry from before the fault is unknown; one added after it (literal :path '/x', incremental) is learned
    expect(decodeAll(d, hpackInt(7, 0x80, 62)).r).toBe(Result.Partial)
    expect(decodeAll(d, Buffer.from([0x44, 0x02, 0x2f, 0x78])).r).toBe(Result.Ok)
    const again = decodeAll(d, hpackInt(7, 0x80, 62))
    expect(again.r).toBe(Result.Ok)
    expect(again.fields).toEqual([[':path', '/x']])
  })

  it('integer overflow', () => {
    const d = new Decoder(4096, 65536)
    expect(decodeAll(d, Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f])).r).toBe(Result.Bad)
    expect(d.lastBad).toBe('hpack_integer_overflow')
  })

  it('bad Huffman padding', () => {
    const d = new Decoder(4096, 65536)
    // literal without indexing, name :path (4), Huffman value of 1 byte 0x18 ('a' + zero padding)
    expect(decodeAll(d, Buffer.from([0x04, 0x81, 0x18])).r).toBe(Result.Bad)
    expect(d.lastBad).toBe('hpack_bad_huffman')
  })

  it('a table size update above what SETTINGS allowed, or above the limit', () => {
    const d = new Decoder(65536, 65536)
    expect(decodeAll(d, sizeUpdate(8192)).r).toBe(Result.Bad)
    expect(d.lastBad).toBe('hpack_table_size_too_large')
    const d2 = new Decoder(65536, 65536)
    d2.setAllowed(1 << 30)
    expect(decodeAll(d2, sizeUpdate(1 << 20)).r).toBe(Result.Bad)
    const d3 = new Decoder(65536, 65536)
    d3.setAllowed(16384)
    expect(decodeAll(d3, sizeUpdate(16384)).r).toBe(Result.Ok)
  })

  it('a size update after a field is misplaced', () => {
    const d = new Decoder(4096, 65536)
    expect(decodeAll(d, Buffer.concat([Buffer.from([0x82]), sizeUpdate(0)])).r).toBe(Result.Bad)
  })

  it('mid-stream: own entries resolve, older dynamic ones are unknown', () => {
    const d = new Decoder(4096, 65536)
    d.joinMidStream()
    const r1 = decodeAll(d, Buffer.concat([lit('x-a', '1', 'incremental'), hpackInt(7, 0x80, 62), hpackInt(7, 0x80, 63)]))
    expect(r1.r).toBe(Result.Partial)
    expect(r1.fields[0]).toEqual(['x-a', '1'])
    expect(r1.fields[1]).toEqual(['x-a', '1'])
    expect(r1.fields[2][0]).toMatch(/unknown/)
  })

  it('random blocks never throw and the table stays within its size', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 200 }), { maxLength: 20 }), fc.boolean(), (blocks, mid) => {
        const d = new Decoder(4096, 4096)
        if (mid) d.joinMidStream()
        for (const b of blocks) {
          const buf = Buffer.from(b)
          d.decode(buf, 0, buf.length, () => {})
          expect(d.tableBytes).toBeLessThanOrEqual(4096)
        }
      }),
      { numRuns: 500 },
    )
  })
})

describe('HPACK decoder against nghttp2 (node:http2) output', () => {
  it('decodes the request header blocks a real encoder sends, Huffman and dynamic table included', async () => {
    const raw: Buffer[] = []
    const server = net.createServer((sock) => {
      sock.on('data', (b) => raw.push(b))
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    const port = (server.address() as net.AddressInfo).port
    const client = http2.connect(`http://127.0.0.1:${port}`)
    client.on('error', () => {})
    const paths = ['/api/v1/users?id=42', '/api/v1/users?id=43', '/static/app.js']
    for (const p of paths) {
      const r = client.request({ ':path': p, 'user-agent': 'podtap-test/1.0', 'x-trace': 'abc' + p })
      r.on('error', () => {})
      r.end()
    }
    // wait for the three HEADERS frames to arrive
    for (let i = 0; i < 100; i++) {
      await new Promise((r) => setTimeout(r, 10))
      if (countHeaders(Buffer.concat(raw)) >= 3) break
    }
    client.destroy()
    await new Promise<void>((r) => server.close(() => r()))
    const all = Buffer.concat(raw)
    const d = new Decoder(65536, 65536)
    const got: string[] = []
    let huff = 0
    for (let off = 24; off + 9 <= all.length; ) {
      const len = all.readUIntBE(off, 3)
      if (all[off + 3] === 1) {
        const r = decodeAll(d, all.subarray(off + 9, off + 9 + len))
        expect(r.r).toBe(Result.Ok)
        const m = new Map(r.fields)
        got.push(`${m.get(':path')} ${m.get('user-agent')} ${m.get('x-trace')}`)
        for (let i = off + 9; i < off + 9 + len; i++) if (all[i] & 0x80) huff++
      }
      off += 9 + len
    }
    expect(got).toEqual(paths.map((p) => `${p} podtap-test/1.0 abc${p}`))
    expect(huff).toBeGreaterThan(0)
  })
})

function countHeaders(b: Buffer): number {
  let n = 0
  for (let off = 24; off + 9 <= b.length; off += 9 + b.readUIntBE(off, 3)) if (b[off + 3] === 1) n++
  return n
}
