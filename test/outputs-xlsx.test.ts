// --xlsx: the workbook is read back with an independent reader (a small zip + SpreadsheetML reader
// below, node:zlib only; not exceljs, which wrote it) and compared with the exchange records of real
// captures: one sheet per protocol, one row per exchange in order, columns from the l7_trace record
// plus attrs. Also: credentials redacted, XML-illegal characters cleaned, the per-sheet row cap rolls
// over to continuation sheets, and memory stays flat while rows are collected.

import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import * as v8 from 'node:v8'
import * as vm from 'node:vm'
import * as zlib from 'node:zlib'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildOutputs, OutputHub } from '../src/cli/outputs.js'
import { Counters } from '../src/counters.js'
import { toTraceRecord, type Exchange } from '../src/records.js'
import { XlsxSink } from '../src/sinks/xlsx.js'
import { outputPcaps, replayInto, type Replayed } from './outputs-helpers.js'

// ---- an independent xlsx reader: zip central directory + inflateRaw, then sheet XML by regex

function unzip(file: string): Map<string, Buffer> {
  const b = fs.readFileSync(file)
  let eocd = -1
  for (let i = b.length - 22; i >= Math.max(0, b.length - 65_557); i--) {
    if (b.readUInt32LE(i) === 0x06054b50) {
      eocd = i
      break
    }
  }
  if (eocd < 0) throw new Error('not a zip file: no end of central directory')
  const entries = b.readUInt16LE(eocd + 10)
  let p = b.readUInt32LE(eocd + 16)
  const out = new Map<string, Buffer>()
  for (let n = 0; n < entries; n++) {
    if (b.readUInt32LE(p) !== 0x02014b50) throw new Error('bad central directory entry')
    const method = b.readUInt16LE(p + 10)
    const csize = b.readUInt32LE(p + 20)
    const nameLen = b.readUInt16LE(p + 28)
    const extraLen = b.readUInt16LE(p + 30)
    const commentLen = b.readUInt16LE(p + 32)
    const local = b.readUInt32LE(p + 42)
    const name = b.subarray(p + 46, p + 46 + nameLen).toString('utf8')
    const lNameLen = b.readUInt16LE(local + 26)
    const lExtraLen = b.readUInt16LE(local + 28)
    const data = b.subarray(local + 30 + lNameLen + lExtraLen, local + 30 + lNameLen + lExtraLen + csize)
    out.set(name.replace(/^\//, ''), method === 8 ? zlib.inflateRawSync(data) : Buffer.from(data))
    p += 46 + nameLen + extraLen + commentLen
  }
  return out
}

const unescapeXml = (s: string) => s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&#x([0-9a-f]+);/gi, (_, h) => String.fromCodePoint(parseInt(h, 16))).replace(/&#(\d+);/g, (_, d) => String.fromCodePoint(Number(d))).replace(/&amp;/g, '&')

type Cell = string | number | boolean | null

function colIndex(ref: string): number {
  const letters = /^[A-Z]+/.exec(ref)![0]
  let n = 0
  for (const ch of letters) n = n * 26 + (ch.charCodeAt(0) - 64)
  return n - 1
}

/** sheet name -> rows of cells (typed by the cell's t attribute) */
function readXlsx(file: string): Map<string, Cell[][]> {
  const z = unzip(file)
  const wb = z.get('xl/workbook.xml')!.toString('utf8')
  const rels = z.get('xl/_rels/workbook.xml.rels')!.toString('utf8')
  const shared = z.has('xl/sharedStrings.xml') ? [...z.get('xl/sharedStrings.xml')!.toString('utf8').matchAll(/<si>(.*?)<\/si>/gs)].map((m) => unescapeXml([...m[1].matchAll(/<t[^>]*>(.*?)<\/t>/gs)].map((t) => t[1]).join(''))) : []
  const out = new Map<string, Cell[][]>()
  for (const m of wb.matchAll(/<sheet [^>]*name="([^"]*)"[^>]*r:id="([^"]*)"/g)) {
    const target = new RegExp(`Id="${m[2]}"[^>]*Target="([^"]*)"`).exec(rels)![1]
    const xml = z.get(path.posix.join('xl', target.replace(/^\/xl\//, '')))!.toString('utf8')
    const rows: Cell[][] = []
    for (const r of xml.matchAll(/<row [^>]*>(.*?)<\/row>/gs)) {
      const row: Cell[] = []
      for (const c of r[1].matchAll(/<c r="([A-Z]+\d+)"([^>]*?)(?:\/>|>(.*?)<\/c>)/gs)) {
        const t = /t="(\w+)"/.exec(c[2])?.[1]
        const inner = c[3] ?? ''
        const v = /<v>(.*?)<\/v>/s.exec(inner)?.[1]
        let val: Cell = null
        if (t === 'inlineStr') val = unescapeXml(/<t[^>]*>(.*?)<\/t>/s.exec(inner)?.[1] ?? '')
        else if (t === 's') val = shared[Number(v)]
        else if (t === 'str') val = v === undefined ? null : unescapeXml(v)
        else if (t === 'b') val = v === '1'
        else if (v !== undefined) val = Number(v)
        row[colIndex(c[1])] = val
      }
      rows.push(row)
    }
    // empty cells are not written: pad every row to the sheet's width
    const width = Math.max(...rows.map((x) => x.length))
    for (const row of rows) for (let i = 0; i < width; i++) if (row[i] === undefined) row[i] = null
    out.set(unescapeXml(m[1]), rows)
  }
  return out
}

// ----

describe('xlsx output', () => {
  let tmp: string
  let r: Replayed
  let book: Map<string, Cell[][]>

  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'podtap-xlsx-test-'))
    const counters = new Counters()
    const file = path.join(tmp, 'traces.xlsx')
    const hub = new OutputHub(await buildOutputs({ xlsx: file }, counters), { counters })
    r = replayInto(outputPcaps(), hub, counters)
    await hub.close()
    book = readXlsx(file)
  })
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }))

  it('has one sheet per protocol with one row per exchange, in order, equal to the trace records', () => {
    expect([...book.keys()]).toEqual(['http', 'redis'])
    for (const [sheet, rows] of book) {
      const ex = r.exchanges.filter((e) => e.protocol === sheet)
      const header = rows[0] as string[]
      expect(rows.length - 1).toBe(ex.length)
      expect(header.slice(0, 5)).toEqual(['time', 'protocol', 'tls', 'client_ip', 'client_port'])
      const col = (name: string) => {
        const i = header.indexOf(name)
        expect(i, `${sheet} column ${name}`).toBeGreaterThanOrEqual(0)
        return i
      }
      const cols = ['time', 'server_ip', 'server_port', 'client_ip', 'client_port', 'method', 'status', 'error', 'latency_ms', 'request_bytes', 'response_bytes'].map(col)
      ex.forEach((e, i) => {
        const t = toTraceRecord(e)
        const want = [t.time, t.server.ip, t.server.port, t.client.ip, t.client.port, t.method, t.status, t.error, t.latency_ms, t.request_bytes, t.response_bytes]
        expect(cols.map((c) => rows[i + 1][c]), `${sheet} row ${i + 2}`).toEqual(want)
      })
      if (sheet === 'http') {
        // resource and attrs (headers the parser captured) have their own columns
        const res = col('resource')
        ex.forEach((e, i) => expect(rows[i + 1][res]).toBe(e.resource ?? null))
        for (const k of ['version', 'host', 'user_agent']) {
          const c = col(k)
          ex.forEach((e, i) => expect(rows[i + 1][c]).toBe(e.attrs?.[k] ?? null))
        }
      } else {
        expect(header).not.toContain('resource') // Redis: keys are data, never a column
      }
    }
  })

  it('redacts credential attrs, cleans XML-illegal characters and rolls over past the row cap', async () => {
    const counters = new Counters()
    const file = path.join(tmp, 'rollover.xlsx')
    const sink = new XlsxSink({ file, counters, maxRowsPerSheet: 300 })
    const http = r.exchanges.filter((e) => e.protocol === 'http' && e.server.ip.includes(':')) // the 1000-request IPv6 connection
    expect(http.length).toBe(1000)
    const fed: Exchange[] = http.map((e, i) => ({
      ...e,
      resource: i === 0 ? '/a\u0001b\u0000c\ud800' : e.resource,
      attrs: { ...e.attrs, Authorization: 'Bearer s3cret-token', cookie: 'sid=s3cret-cookie', 'x-api-key': 's3cret-key', 'proxy-authorization': 'Basic s3cret' },
    }))
    for (const e of fed) sink.onExchange(e)
    await sink.close()
    const raw = [...unzip(file).values()].map((b) => b.toString('utf8')).join('\n')
    expect(raw).not.toContain('s3cret')
    const b = readXlsx(file)
    expect([...b.keys()]).toEqual(['http', 'http (2)', 'http (3)', 'http (4)'])
    expect([...b.values()].map((rows) => rows.length - 1)).toEqual([300, 300, 300, 100])
    const header = b.get('http')![0] as string[]
    expect(b.get('http (4)')![0]).toEqual(header)
    for (const k of ['Authorization', 'cookie', 'x-api-key', 'proxy-authorization']) {
      const c = header.indexOf(k)
      expect(c, k).toBeGreaterThan(0)
      for (const rows of b.values()) for (const row of rows.slice(1)) expect(row[c]).toBe('[redacted]')
    }
    const res = header.indexOf('resource')
    expect(b.get('http')![1][res]).toBe('/a\ufffdb\ufffdc\ufffd')
    // continuation sheets keep the order
    expect(b.get('http (4)')![100][0]).toBe(toTraceRecord(fed[999]).time)
  })

  it('an empty capture gives a valid workbook; an unwritable path is a usage error at start', async () => {
    const counters = new Counters()
    const file = path.join(tmp, 'empty.xlsx')
    const sink = new XlsxSink({ file, counters })
    await sink.close()
    expect(readXlsx(file).get('exchanges')).toEqual([['no exchanges were seen']])
    await expect(buildOutputs({ xlsx: path.join(tmp, 'no', 'such', 'dir', 'x.xlsx') }, counters)).rejects.toThrow(/--xlsx .*cannot write/)
  })

  it('keeps memory flat while collecting: rows go to spill files, sheets are written one at a time', async () => {
    v8.setFlagsFromString('--expose-gc')
    const gc = vm.runInNewContext('gc') as () => void
    const counters = new Counters()
    const file = path.join(tmp, 'big.xlsx')
    const sink = new XlsxSink({ file, counters, tmpDir: tmp })
    const base = r.exchanges
    const protocols = ['http', 'redis', 'mysql'] as const
    gc()
    const heap0 = process.memoryUsage().heapUsed
    const N = 150_000
    for (let i = 0; i < N; i++) {
      const e = base[i % base.length]
      sink.onExchange({ ...e, protocol: protocols[i % 3], startUs: e.startUs + i, endUs: e.endUs + i })
    }
    gc()
    const heapFed = process.memoryUsage().heapUsed
    const t0 = Date.now()
    // while the workbook is written: buffers (the zip's input) and heap must not grow with the rows
    const ext = () => process.memoryUsage().external + process.memoryUsage().arrayBuffers
    const ext0 = ext()
    let peakExt = 0
    let peakHeap = 0
    let ticks = 0
    const probe = setInterval(() => {
      peakExt = Math.max(peakExt, ext())
      // live heap, not garbage waiting for a collection (which depends on the machine's load)
      if (++ticks % 10 === 0) {
        gc()
        peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed)
      }
    }, 20)
    await sink.close()
    clearInterval(probe)
    const closeMs = Date.now() - t0
    console.log(`xlsx: ${N} rows, heap growth while collecting ${((heapFed - heap0) / 1e6).toFixed(1)} MB; close ${closeMs} ms, peak buffers +${((peakExt - ext0) / 1e6).toFixed(1)} MB, peak heap +${((peakHeap - heapFed) / 1e6).toFixed(1)} MB; file ${(fs.statSync(file).size / 1e6).toFixed(1)} MB`)
    expect(heapFed - heap0).toBeLessThan(8 * 1024 * 1024)
    // without back-pressure the sheet XML (~100 MB here) would sit in buffers
    expect(peakExt - ext0).toBeLessThan(48 * 1024 * 1024)
    expect(peakHeap - heapFed).toBeLessThan(96 * 1024 * 1024)
    expect(sink.rowsWritten).toBe(N)
    expect(fs.readdirSync(tmp).filter((f) => f.startsWith('podtap-xlsx-'))).toEqual([]) // spill files removed
    const b = readXlsx(file)
    expect([...b.keys()]).toEqual(['http', 'mysql', 'redis'])
    for (const rows of b.values()) expect(rows.length - 1).toBe(N / 3)
  }, 60_000)
})
