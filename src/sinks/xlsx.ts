// xlsx export of traces (--xlsx FILE): one sheet per protocol, one row per exchange, columns from the
// l7_trace record (records.ts) plus the parser's attrs (HTTP version, host, user agent...).
//
// Memory stays bounded however long the capture: exceljs' streaming WorkbookWriter zips sheets one
// after another, so rows of a second sheet written while the first is open would wait in memory. Rows
// are therefore spilled as JSON lines to one temporary file per protocol while exchanges arrive, and
// close() writes the sheets one at a time from those files (the spill directory is removed after).
// Spilling also tells close() which attr keys occur, so each becomes its own column.
//
// Secrets: parsers never store them, but attr keys that name credentials (Authorization, Cookie,
// tokens, passwords, API keys, sessions) are redacted here as well. Text is cleaned of characters XML
// cannot carry and cut at Excel's 32 767 characters per cell.

import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { once } from 'node:events'
import * as readline from 'node:readline'
import type { Writable } from 'node:stream'
import ExcelJS from 'exceljs'
import { SinkError, UsageError } from '../errors.js'
import { C, type Counters } from '../counters.js'
import { REDACTED, redactAttrs, toTraceRecord, type Exchange, type Peer } from '../records.js'

/** Excel's row limit is 1 048 576 including the header row */
export const EXCEL_MAX_DATA_ROWS = 1_048_575
/** Excel's limit of characters in one cell */
const EXCEL_MAX_CELL_CHARS = 32_767
/** spill buffer flushed to disk past this many characters */
const SPILL_FLUSH_CHARS = 256 * 1024
/** rows written between checks of the zip stream's back-pressure (see drained()) */
const ROWS_PER_YIELD = 500

export interface XlsxSinkOptions {
  file: string
  counters: Counters
  /** rows per sheet before a continuation sheet "<protocol> (2)" starts (default Excel's maximum) */
  maxRowsPerSheet?: number
  /** distinct attr keys that get their own column per sheet; more go into one "more_attrs" column */
  maxAttrColumns?: number
  /** where the spill directory is made (default the OS temp directory) */
  tmpDir?: string
}

export { REDACTED }

/** Peer fields beyond ip/port, in column order */
const PEER_EXTRA = ['pod', 'namespace', 'workload', 'service', 'node', 'container', 'pid', 'comm'] as const

/** one spilled row: [time, tls, client, server, method, resource, status, error, latency_ms, req, resp, attrs] */
type SpillRow = [string, boolean, Peer, Peer, string, string | null, number | string | null, boolean | null, number, number, number, Record<string, string> | null]

interface SheetSpill {
  protocol: string
  file: string
  fd: number
  buf: string[]
  bufChars: number
  rows: number
  hasResource: boolean
  clientExtra: Set<string>
  serverExtra: Set<string>
  /** attr keys in order of first appearance (capped at maxAttrColumns) */
  attrKeys: Map<string, number>
  moreAttrs: boolean
}

export class XlsxSink {
  readonly name = 'xlsx'
  private readonly dir: string
  private readonly sheets = new Map<string, SheetSpill>()
  private readonly maxRows: number
  private readonly maxAttrColumns: number
  private closed = false
  private failed: Error | null = null
  /** rows written to the workbook by close() */
  rowsWritten = 0

  constructor(private readonly o: XlsxSinkOptions) {
    this.maxRows = Math.min(EXCEL_MAX_DATA_ROWS, Math.max(1, o.maxRowsPerSheet ?? EXCEL_MAX_DATA_ROWS))
    this.maxAttrColumns = o.maxAttrColumns ?? 64
    // fail now, not after a long capture, when the file cannot be written
    try {
      fs.closeSync(fs.openSync(o.file, 'w'))
    } catch (e) {
      throw new UsageError(`--xlsx ${o.file}: cannot write it: ${(e as Error).message}`)
    }
    this.dir = fs.mkdtempSync(path.join(o.tmpDir ?? os.tmpdir(), 'podtap-xlsx-'))
    o.counters.inc(C.sinkDropped, { sink: 'xlsx' }, 0)
  }

  onExchange(e: Exchange): void {
    if (this.closed || this.failed) {
      this.o.counters.inc(C.sinkDropped, { sink: 'xlsx' })
      return
    }
    const sh = this.sheet(e.protocol)
    const t = toTraceRecord(e)
    for (const k of PEER_EXTRA) {
      if (e.client[k] !== undefined) sh.clientExtra.add(k)
      if (e.server[k] !== undefined) sh.serverExtra.add(k)
    }
    if (t.resource !== undefined) sh.hasResource = true
    let attrs: Record<string, string> | null = null
    if (e.attrs) {
      attrs = redactAttrs(e.attrs)
      for (const k in e.attrs) {
        if (!sh.attrKeys.has(k)) {
          if (sh.attrKeys.size < this.maxAttrColumns) sh.attrKeys.set(k, sh.attrKeys.size)
          else sh.moreAttrs = true
        }
      }
    }
    const row: SpillRow = [t.time, t.tls, t.client, t.server, t.method, t.resource ?? null, t.status, t.error, t.latency_ms, t.request_bytes, t.response_bytes, attrs]
    const line = JSON.stringify(row) + '\n'
    sh.buf.push(line)
    sh.bufChars += line.length
    sh.rows++
    if (sh.bufChars >= SPILL_FLUSH_CHARS) this.flushSpill(sh)
  }

  /** Writes the workbook (one sheet per protocol, in name order) and removes the spill files. */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    try {
      for (const sh of this.sheets.values()) {
        this.flushSpill(sh)
        fs.closeSync(sh.fd)
      }
      if (this.failed) throw this.failed
      // no styles (bold headers would cost 3x the time per row) and no shared strings (that table would
      // hold every distinct string in memory until the end)
      const wb = new ExcelJS.stream.xlsx.WorkbookWriter({ filename: this.o.file, useStyles: false, useSharedStrings: false })
      wb.creator = 'podtap'
      const protocols = [...this.sheets.keys()].sort()
      for (const p of protocols) await this.writeSheets(wb, this.sheets.get(p)!)
      if (protocols.length === 0) {
        // an empty capture still gives a valid workbook that says so
        const ws = wb.addWorksheet('exchanges')
        ws.addRow(['no exchanges were seen']).commit()
        ws.commit()
      }
      await wb.commit()
    } catch (e) {
      throw e instanceof SinkError ? e : new SinkError('PODTAP_XLSX_WRITE', `cannot write --xlsx ${this.o.file}: ${(e as Error).message}`, { cause: e })
    } finally {
      fs.rmSync(this.dir, { recursive: true, force: true })
    }
  }

  private sheet(protocol: string): SheetSpill {
    let sh = this.sheets.get(protocol)
    if (sh === undefined) {
      const file = path.join(this.dir, `${protocol.replace(/[^a-z0-9_-]/gi, '_')}.jsonl`)
      sh = {
        protocol,
        file,
        fd: fs.openSync(file, 'w'),
        buf: [],
        bufChars: 0,
        rows: 0,
        hasResource: false,
        clientExtra: new Set(),
        serverExtra: new Set(),
        attrKeys: new Map(),
        moreAttrs: false,
      }
      this.sheets.set(protocol, sh)
    }
    return sh
  }

  private flushSpill(sh: SheetSpill): void {
    if (sh.buf.length === 0) return
    const text = sh.buf.join('')
    sh.buf = []
    sh.bufChars = 0
    try {
      fs.writeSync(sh.fd, text)
    } catch (e) {
      // disk full or similar: stop collecting, report at close
      this.failed ??= new SinkError('PODTAP_XLSX_SPILL', `--xlsx: cannot write temporary rows under ${this.dir}: ${(e as Error).message}`, { cause: e })
    }
  }

  private async writeSheets(wb: ExcelJS.stream.xlsx.WorkbookWriter, sh: SheetSpill): Promise<void> {
    const clientExtra = PEER_EXTRA.filter((k) => sh.clientExtra.has(k))
    const serverExtra = PEER_EXTRA.filter((k) => sh.serverExtra.has(k))
    const attrKeys = [...sh.attrKeys.keys()]
    const header = [
      'time',
      'protocol',
      'tls',
      'client_ip',
      'client_port',
      ...clientExtra.map((k) => `client_${k}`),
      'server_ip',
      'server_port',
      ...serverExtra.map((k) => `server_${k}`),
      'method',
      ...(sh.hasResource ? ['resource'] : []),
      'status',
      'error',
      'latency_ms',
      'request_bytes',
      'response_bytes',
      ...attrKeys,
      ...(sh.moreAttrs ? ['more_attrs'] : []),
    ]
    let part = 0
    let ws: ExcelJS.Worksheet | null = null
    let inSheet = 0
    const input = fs.createReadStream(sh.file, { encoding: 'utf8' })
    const lines = readline.createInterface({ input, crlfDelay: Infinity })
    let n = 0
    for await (const line of lines) {
      if (line === '') continue
      if (ws === null || inSheet >= this.maxRows) {
        ws?.commit()
        part++
        ws = wb.addWorksheet(sheetName(sh.protocol, part), { views: [{ state: 'frozen', ySplit: 1 }] })
        ws.columns = header.map((h) => ({ header: h, key: h, width: Math.max(10, Math.min(40, h.length + 2)) }))
        ws.getRow(1).commit()
        inSheet = 0
      }
      const r = JSON.parse(line) as SpillRow
      const [time, tls, client, server, method, resource, status, error, latency, req, resp, attrs] = r
      const values: (string | number | boolean | null)[] = [time, sh.protocol, tls, client.ip, client.port]
      for (const k of clientExtra) values.push(cell(client[k]))
      values.push(server.ip, server.port)
      for (const k of serverExtra) values.push(cell(server[k]))
      values.push(text(method))
      if (sh.hasResource) values.push(resource === null ? null : text(resource))
      values.push(typeof status === 'string' ? text(status) : status, error, latency, req, resp)
      let more = ''
      const attrCells = new Array<string | null>(attrKeys.length).fill(null)
      if (attrs) {
        for (const k in attrs) {
          const i = sh.attrKeys.get(k)
          if (i !== undefined) attrCells[i] = text(attrs[k])
          else more += `${more ? '; ' : ''}${k}=${attrs[k]}`
        }
      }
      values.push(...attrCells)
      if (sh.moreAttrs) values.push(more ? text(more) : null)
      ws.addRow(values).commit()
      inSheet++
      this.rowsWritten++
      if (++n % ROWS_PER_YIELD === 0) await drained(ws)
    }
    ws?.commit()
  }
}

/**
 * Back-pressure for exceljs' streaming writer, which ignores it: a sheet's XML goes into a PassThrough
 * that the zip reads at deflate speed, and rows committed faster than that pile up in memory (300 000
 * rows: 300 MB of buffers). When that stream wants draining, wait for it (at most a second, in case
 * nothing reads it, then carry on as exceljs would); otherwise just let the event loop run.
 */
async function drained(ws: ExcelJS.Worksheet): Promise<void> {
  // the PassThrough comes from readable-stream 2 (through archiver), which predates writableNeedDrain
  const pt = (ws as unknown as { stream?: { pipes?: (Writable & { _writableState?: { needDrain?: boolean } })[] } }).stream?.pipes?.[0]
  if (pt !== undefined && (pt.writableNeedDrain || pt._writableState?.needDrain)) {
    let t: NodeJS.Timeout | undefined
    await Promise.race([once(pt, 'drain'), new Promise((r) => (t = setTimeout(r, 1000)))])
    clearTimeout(t)
  } else await new Promise<void>((res) => setImmediate(res))
}

/** "http", then "http (2)", ... (Excel: at most 31 characters, none of []:*?/\) */
function sheetName(protocol: string, part: number): string {
  const base = protocol.replace(/[[\]:*?/\\]/g, '_').slice(0, 24)
  return part === 1 ? base : `${base} (${part})`
}

function cell(v: string | number | undefined): string | number | null {
  if (v === undefined) return null
  return typeof v === 'number' ? v : text(v)
}

/** Text as a cell can hold it: no XML-illegal control characters or lone surrogates, ≤ 32 767 chars. */
export function text(s: string): string {
  // eslint-disable-next-line no-control-regex
  let t = s.replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g, '\ufffd')
  if (/[\ud800-\udfff]/.test(t)) t = t.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd')
  return t.length > EXCEL_MAX_CELL_CHARS ? t.slice(0, EXCEL_MAX_CELL_CHARS - 1) + '…' : t
}
