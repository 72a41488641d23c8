import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { describe, expect, it } from 'vitest'
import { traceJson, type Exchange } from '../records.js'
import { JsonlWriter } from './jsonl.js'

function exchange(i: number, resource: string): Exchange {
  return {
    protocol: 'http', tls: false, flowId: i, client: { ip: '10.0.0.1', port: 40_000 + (i % 1000) }, server: { ip: '10.0.0.2', port: 80 },
    method: i % 7 === 0 ? 'GÉT' : 'GET', resource, status: i % 5 === 0 ? 'unknown' : 200, error: false,
    startUs: 1_700_000_000_000_000 + i * 997, endUs: 1_700_000_000_000_000 + i * 997 + (i % 3000), reqBytes: i, respBytes: 2 * i,
  } as Exchange
}

describe('JsonlWriter', () => {
  it('writes traceJson(e) per line across buffer flushes, for lines of any length (one larger than the 1 MiB buffer too)', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'podtap-jsonl-'))
    try {
      const file = path.join(dir, 'out.jsonl')
      const w = new JsonlWriter(file)
      const xs: Exchange[] = []
      for (let i = 0; i < 20_000; i++) xs.push(exchange(i, i === 7000 ? '/h'.repeat(400_000) : `/item/${i}${i % 11 === 0 ? '?q="x"' : ''}`))
      for (const e of xs) w.write(e)
      await w.close()
      expect(w.lines).toBe(xs.length)
      expect(fs.readFileSync(file, 'utf8')).toBe(xs.map((e) => traceJson(e) + '\n').join(''))
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })
})
