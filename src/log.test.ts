// podtap's own log (src/log.ts, pino): JSON lines with level, time, msg and the fields; the human
// "podtap: ..." line; the level filter. And the CLI flags end to end on a real replay whose capture
// file is cut short (a warning).

import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { runCli } from '../test/helpers/cli.js'
import { configureLog, log } from './log.js'

describe('log', () => {
  afterEach(() => configureLog())

  it('json: one object a line with level, ISO time, msg and the fields', () => {
    const lines: string[] = []
    configureLog({ format: 'json', out: { write: (s) => void lines.push(s) } })
    log.warn('sink down', { sink: 'influx', queued: 12 })
    expect(lines).toHaveLength(1)
    expect(lines[0]!.endsWith('\n')).toBe(true)
    const o = JSON.parse(lines[0]!) as Record<string, unknown>
    expect(o).toEqual({ level: 'warn', time: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/), msg: 'sink down', sink: 'influx', queued: 12 })
  })

  it('human: the present "podtap: ..." line, fields after it; the level filters', () => {
    const lines: string[] = []
    configureLog({ format: 'human', level: 'warn', out: { write: (s) => void lines.push(s) } })
    log.info('not shown')
    log.warn('sink down', { sink: 'influx' })
    log.error('parser fault', { protocol: 'http' })
    expect(lines).toEqual(['podtap: warning: sink down (sink=influx)\n', 'podtap: error: parser fault (protocol=http)\n'])
  })

  it('the CLI: --log-format json, human, --log-level', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'podtap-log-'))
    const cut = path.join(dir, 'cut.pcap')
    fs.writeFileSync(cut, fs.readFileSync('test/pcaps/http1/09-page-load-gap-in-body.pcap').subarray(0, 3000))
    try {
      const json = runCli(['replay', '--format', 'jsonl', '--log-format', 'json', cut])
      expect(json.status).toBe(0)
      const o = JSON.parse(json.stderr.trim()) as Record<string, unknown>
      expect(o).toMatchObject({ level: 'warn', msg: expect.stringMatching(/cut short at byte offset \d+/) })
      const human = runCli(['replay', '--format', 'jsonl', '--log-format', 'human', cut])
      expect(human.stderr).toMatch(/^podtap: warning: .*cut short at byte offset \d+/)
      const quiet = runCli(['replay', '--format', 'jsonl', '--log-level', 'error', cut])
      expect(quiet.stderr).toBe('')
      // not a terminal and no flag: JSON lines
      const piped = runCli(['replay', '--format', 'jsonl', cut], { env: { PODTAP_LOG_FORMAT: undefined } })
      expect(JSON.parse(piped.stderr.trim())).toMatchObject({ level: 'warn' })
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })
})
