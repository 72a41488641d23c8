// `podtap replay` of a capture larger than its read buffers: the file is read ahead on the thread pool
// in 1 MiB chunks (pcap-file.ts), the JSON lines written 1 MiB at a time (jsonl.ts).
// 30 000 short HTTP connections (bench/make-flows.ts, ~23 MB) against what tshark reads in the same
// file: every response, with its client, port, URI and status; lines in request-start order, the same
// on stdout and in --jsonl FILE.

import { spawnSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ROOT, runCli } from './helpers/cli.js'

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'podtap-cli-large-'))
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }))
const capture = path.join(tmp, 'short-30k.pcap')
const N = 30_000
const haveTshark = spawnSync('sh', ['-c', 'command -v tshark']).status === 0

beforeAll(() => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'bench', 'make-flows.ts'), 'short', String(N), capture], { cwd: ROOT, encoding: 'utf8' })
  expect(r.status, r.stderr).toBe(0)
}, 120_000)

describe('podtap replay of a capture larger than its buffers', () => {
  it.skipIf(!haveTshark)('every response tshark sees, once, in start order, on stdout and in --jsonl FILE alike', () => {
    expect(fs.statSync(capture).size).toBeGreaterThan(8 << 20) // several read-ahead chunks
    const file = path.join(tmp, 'out.jsonl')
    const r = runCli(['replay', '--format', 'jsonl', '--no-progress', '--jsonl', file, capture], { timeoutMs: 120_000 })
    expect(r.status, r.stderr).toBe(0)
    expect(r.stdout.length).toBeGreaterThan(4 << 20) // several buffer flushes
    expect(fs.readFileSync(file, 'utf8')).toBe(r.stdout)
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { time: string; client: { ip: string; port: number }; resource: string; status: number })
    expect(lines).toHaveLength(N)
    const times = lines.map((l) => l.time)
    expect([...times].sort()).toEqual(times)
    const ours = lines.map((l) => `${l.client.ip} ${l.client.port} ${l.resource} ${l.status}`).sort()
    const ts = spawnSync('tshark', ['-r', capture, '-Y', 'http.response', '-T', 'fields', '-e', 'ip.dst', '-e', 'tcp.dstport', '-e', 'http.response_for.uri', '-e', 'http.response.code'], { encoding: 'utf8', maxBuffer: 1 << 28 })
    expect(ts.status, ts.stderr).toBe(0)
    const theirs = ts.stdout
      .trim()
      .split('\n')
      .map((l) => {
        const [ip, port, uri, code] = l.split('\t')
        return `${ip} ${port} ${new URL(uri!).pathname} ${code}` // podtap's resource: the path, without the query
      })
      .sort()
    expect(ours).toEqual(theirs)
  }, 180_000)
})
