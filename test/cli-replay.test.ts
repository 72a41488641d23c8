// `podtap replay` as a user runs it: real captures in, the table or JSON lines out, exit codes and
// error messages for bad input.

import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { ROOT, runCli } from './helpers/cli.js'

const PCAPS = path.join(ROOT, 'test', 'pcaps')
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'podtap-cli-'))
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }))

describe('podtap replay', () => {
  it('prints the summary table of a real browser page load', () => {
    const r = runCli(['replay', path.join(PCAPS, 'http1', '09-page-load-gap-in-body.pcap')])
    expect(r.status).toBe(0)
    expect(r.stdout).toMatch(/server\s+│\s+proto\s+│\s+method/)
    expect(r.stdout).toContain('192.150.187.43:80')
    expect(r.stdout).toMatch(/31 exchanges on \d+ server endpoints: 0 errors, 0 without response/)
  })

  it('prints one JSON line per exchange, in request-start order, equal to the golden file', () => {
    const file = path.join(PCAPS, 'http1', '10-one-dropped-response.pcap')
    const r = runCli(['replay', '--format', 'jsonl', file])
    expect(r.status).toBe(0)
    const lines = r.stdout.trim().split('\n')
    expect(lines).toHaveLength(1000)
    expect(r.stdout).toBe(fs.readFileSync(file.replace(/\.pcap$/, '.golden.jsonl'), 'utf8'))
    const times = lines.map((l) => Date.parse(JSON.parse(l).time))
    expect([...times].sort((a, b) => a - b)).toEqual(times)
    expect(r.stderr).toBe('')
  })

  it('--summary with jsonl puts the table on stderr, keeping stdout pure JSON lines', () => {
    const r = runCli(['replay', '--format', 'jsonl', '--summary', path.join(PCAPS, 'http1', '01-get.pcap')])
    expect(r.status).toBe(0)
    expect(r.stdout.trim().split('\n').map((l) => JSON.parse(l).method)).toEqual(['GET'])
    expect(r.stderr).toContain('1 exchanges on 1 server endpoints')
  })

  it('--jsonl FILE writes the same records as stdout, and --protocols filters', () => {
    const out = path.join(tmp, 'x.jsonl')
    const file = path.join(PCAPS, 'http1', '04-docker-keepalive-chunked-upgrade.pcap')
    const r = runCli(['replay', '--jsonl', out, '--protocols', 'http', file])
    expect(r.status).toBe(0)
    expect(fs.readFileSync(out, 'utf8')).toBe(fs.readFileSync(file.replace(/\.pcap$/, '.golden.jsonl'), 'utf8'))
    const none = runCli(['replay', '--format', 'jsonl', '--protocols', 'redis', file])
    expect(none.stdout).toBe('')
  })

  it('exit 2 with the file and the cause for a file that is not a capture', () => {
    const txt = path.join(tmp, 'notes.txt')
    fs.writeFileSync(txt, 'hello, this is text\n')
    const r = runCli(['replay', txt])
    expect(r.status).toBe(2)
    expect(r.stderr).toContain(txt)
    expect(r.stderr).toMatch(/not a (pcap|capture)/i)
    const missing = runCli(['replay', path.join(tmp, 'nope.pcap')])
    expect(missing.status).toBe(2)
    expect(missing.stderr).toContain('nope.pcap')
  })

  it('replays everything before a truncated last record and warns', () => {
    const src = fs.readFileSync(path.join(PCAPS, 'http1', '01-get.pcap'))
    const cut = path.join(tmp, 'cut.pcap')
    fs.writeFileSync(cut, src.subarray(0, src.length - 10)) // inside the last record (a FIN/ACK)
    const r = runCli(['replay', '--format', 'jsonl', cut])
    expect(r.status).toBe(0)
    expect(r.stdout.trim().split('\n')).toHaveLength(1)
    expect(r.stderr).toMatch(/cut short at byte offset \d+/)
  })

  it('bad usage: exit 2 and a hint', () => {
    const r = runCli(['replay', '--format', 'xml', 'a.pcap'])
    expect(r.status).toBe(2)
    expect(r.stderr).toMatch(/xml/)
    const p = runCli(['replay', '--protocols', 'gopher', 'a.pcap'])
    expect(p.status).toBe(2)
    expect(p.stderr).toMatch(/unknown protocol gopher/)
    const n = runCli(['replay'])
    expect(n.status).toBe(2)
  })

  it('--help explains the command and its flags', () => {
    const r = runCli(['replay', '--help'])
    expect(r.status).toBe(0)
    for (const flag of ['--format', '--summary', '--protocols', '--jsonl', '--max-flows', 'Exit codes']) expect(r.stdout).toContain(flag)
  })
})

describe('podtap replay with outputs', () => {
  it('--metrics-out writes the final Prometheus exposition, counting every exchange', () => {
    const prom = path.join(tmp, 'm.prom')
    const r = runCli(['replay', '--metrics-out', prom, path.join(PCAPS, 'http1', '10-one-dropped-response.pcap')])
    expect(r.status).toBe(0)
    const text = fs.readFileSync(prom, 'utf8')
    let total = 0
    for (const m of text.matchAll(/^podtap_l7_requests_total\{[^}]*\} (\d+)$/gm)) total += Number(m[1])
    expect(total).toBe(1000)
    expect(text).toMatch(/^podtap_capture_packets_total 4102$/m)
  })

  it('--xlsx writes a workbook; an output flag without its partner is a usage error (exit 2)', () => {
    const x = path.join(tmp, 't.xlsx')
    const r = runCli(['replay', '--xlsx', x, path.join(PCAPS, 'http1', '01-get.pcap')])
    expect(r.status).toBe(0)
    expect(fs.readFileSync(x).subarray(0, 2).toString()).toBe('PK') // a zip container
    const bad = runCli(['replay', '--influx-bucket', 'b', path.join(PCAPS, 'http1', '01-get.pcap')])
    expect(bad.status).toBe(2)
    expect(bad.stderr).toContain('--influx-url')
  })
})
