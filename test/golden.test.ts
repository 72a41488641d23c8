// Every capture under test/pcaps/<proto>/ runs through the real pipeline (file reader, decode, flow
// table, reassembly, detection, parsers) and must give exactly its `.golden.jsonl` (one l7_trace record
// per line, DESIGN.md) and match its `.expect.json`: counts that come from tshark, written by hand,
// with a note wherever podtap and tshark disagree and why. UPDATE_GOLDEN=1 rewrites the goldens; a
// mismatch writes `.actual.jsonl` beside the golden for diffing. GOLDEN_ONLY=odd/ limits the rewrite.

import * as fs from 'node:fs'
import * as path from 'node:path'
import { describe, expect, it } from 'vitest'
import { replayFilesSync } from '../src/pipeline/replay-sync.js'
import { toTraceRecord, type TraceRecord } from '../src/records.js'

const ROOT = path.join(import.meta.dirname, 'pcaps')
const CAPTURE = /\.(pcap|pcapng|cap)$/

interface Expect {
  exchanges: number
  methods?: Record<string, number>
  status?: Record<string, number>
  errors?: number
  unanswered?: number
  protocols?: Record<string, number>
  note?: string
}

function captures(): string[] {
  const out: string[] = []
  if (!fs.existsSync(ROOT)) return out
  for (const dir of fs.readdirSync(ROOT, { withFileTypes: true })) {
    if (!dir.isDirectory()) continue
    for (const f of fs.readdirSync(path.join(ROOT, dir.name))) if (CAPTURE.test(f)) out.push(path.join(dir.name, f))
  }
  return out.sort()
}

function base(file: string): string {
  return path.join(ROOT, file.replace(CAPTURE, ''))
}

function count<T>(xs: T[], key: (x: T) => string): Record<string, number> {
  const m: Record<string, number> = {}
  for (const x of xs) m[key(x)] = (m[key(x)] ?? 0) + 1
  return m
}

describe('golden captures', () => {
  const files = captures()
  it('has captures to check', () => {
    expect(files.length).toBeGreaterThan(0)
  })
  for (const file of files) {
    const goldenPath = base(file) + '.golden.jsonl'
    const expectPath = base(file) + '.expect.json'
    const hasGolden = fs.existsSync(goldenPath)
    const hasExpect = fs.existsSync(expectPath)
    const updating = process.env.UPDATE_GOLDEN !== undefined && (!process.env.GOLDEN_ONLY || file.startsWith(process.env.GOLDEN_ONLY))
    if (!hasGolden && !hasExpect && !updating) continue
    it(file, () => {
      const r = replayFilesSync([path.join(ROOT, file)])
      const records: TraceRecord[] = r.exchanges.map(toTraceRecord)
      const text = records.map((x) => JSON.stringify(x)).join('\n') + (records.length ? '\n' : '')
      if (updating) fs.writeFileSync(goldenPath, text)
      else if (hasGolden) {
        const want = fs.readFileSync(goldenPath, 'utf8')
        if (want !== text) fs.writeFileSync(base(file) + '.actual.jsonl', text)
        expect(text.split('\n')).toEqual(want.split('\n'))
      }
      if (hasExpect) {
        const ex = JSON.parse(fs.readFileSync(expectPath, 'utf8')) as Expect
        expect(records.length, 'exchanges').toBe(ex.exchanges)
        if (ex.methods) expect(count(records, (x) => x.method)).toEqual(ex.methods)
        if (ex.status) expect(count(records.filter((x) => x.status !== null), (x) => String(x.status))).toEqual(ex.status)
        if (ex.errors !== undefined) expect(records.filter((x) => x.error).length, 'errors').toBe(ex.errors)
        // unanswered: no response where one was expected; a request that gets none by design (error false) is not
        if (ex.unanswered !== undefined) expect(records.filter((x) => x.status === null && x.error).length, 'unanswered').toBe(ex.unanswered)
        if (ex.protocols) expect(count(records, (x) => x.protocol)).toEqual(ex.protocols)
      }
    })
  }
})
