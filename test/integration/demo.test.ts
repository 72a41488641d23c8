// `podtap demo` as a user runs it: pods in namespaces with nginx, redis-server and PostgreSQL (the
// last two when installed), the demo's client, live capture on the host veths. It must exit 0,
// report exactly what its own client says it sent, per protocol, and leave no namespace, veth,
// process or temp dir behind, whether it ends by --duration or by SIGINT.
// Needs root; skips with the reason printed otherwise.

import { existsSync, readdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { describe, expect, it } from 'vitest'
import { DEMO_NS_PREFIX } from '../../src/demo/netns.js'
import { postgresBin } from '../../src/demo/servers.js'
import { needRoot, runHost } from '../helpers/netns.js'
import { capturedTotals, killRun, runPodtap, sleep, traces, type PodtapRun } from './capture-util.js'

const skip = needRoot() ?? (existsSync('/usr/sbin/nginx') ? null : 'nginx not installed (apt-get install -y nginx-light)')
if (skip !== null) console.log(`demo tests skipped: ${skip}`)

const haveRedis = existsSync('/usr/bin/redis-server')
const havePostgres = postgresBin() !== null

/** The demo's client totals from its last line. */
function clientTotals(stderr: string): { http: number; redis: number; postgresql: number; failed: number } {
  const m = /demo client sent (\d+) HTTP requests, (\d+) Redis commands, (\d+) SQL queries(?: \((\d+) failed)?/.exec(stderr)
  if (m === null) throw new Error(`no client totals in:\n${stderr}`)
  return { http: Number(m[1]), redis: Number(m[2]), postgresql: Number(m[3]), failed: Number(m[4] ?? 0) }
}

/** Every process running in the demo's namespaces now (nginx master and worker, redis, postgres...). */
async function podProcesses(pid: number): Promise<number[]> {
  const ns = (await runHost('ip', ['netns', 'list'])).stdout.split('\n').map((l) => l.split(' ')[0]!)
  const mine = ns.filter((n) => n.startsWith(DEMO_NS_PREFIX) && n.endsWith(`-${pid}`))
  const pids: number[] = []
  for (const n of mine) pids.push(...(await runHost('ip', ['netns', 'pids', n])).stdout.split('\n').filter(Boolean).map(Number))
  return pids
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** Nothing of demo process `pid` is left: namespaces, veths, the processes seen in its pods, temp dirs. */
async function expectNothingLeft(pid: number, veths: string[], podPids: number[]): Promise<void> {
  const ns = (await runHost('ip', ['netns', 'list'])).stdout
  expect(ns.split('\n').filter((l) => l.startsWith(DEMO_NS_PREFIX) && l.includes(`-${pid}`))).toEqual([])
  for (const v of veths) expect(existsSync(`/sys/class/net/${v}`), v).toBe(false)
  expect(podPids.filter(alive)).toEqual([])
  expect(readdirSync(tmpdir()).filter((d) => d.startsWith(DEMO_NS_PREFIX) && d.includes(`-${pid}-`))).toEqual([])
}

function vethsOf(stderr: string): string[] {
  return [...stderr.matchAll(/behind (pd[0-9a-f]{6}h)/g)].map((m) => m[1]!)
}

describe.skipIf(skip !== null)('podtap demo', () => {
  let run: PodtapRun | undefined

  it('--duration 8 --format jsonl: exits 0, reports what its client sent, leaves nothing behind', async () => {
    try {
      run = runPodtap(['demo', '--duration', '8', '--format', 'jsonl'])
      await run.waitFor(/capturing on [^\n]*; for 8 s/, 60_000)
      const podPids = await podProcesses(run.child.pid!)
      // nginx master + worker, redis-server, the postmaster and its helpers
      expect(podPids.length).toBeGreaterThanOrEqual(2 + (haveRedis ? 1 : 0) + (havePostgres ? 3 : 0))
      const exit = await run.exited
      expect(exit, run.stderr).toEqual({ code: 0, signal: null })
      const got = traces(run.stdout)
      const sent = clientTotals(run.stderr)
      expect(sent.failed).toBe(0)
      const count = (p: string) => got.filter((t) => t.protocol === p).length
      expect(sent.http).toBeGreaterThan(50) // 20/s for 8 s, less the slow downloads in flight
      expect(count('http')).toBe(sent.http)
      const http = got.filter((t) => t.protocol === 'http')
      expect(new Set(http.map((t) => t.status))).toEqual(new Set([200, 201, 404, 405, 500]))
      expect(http.filter((t) => t.resource === '/api/cart').every((t) => t.status === 500 && t.error)).toBe(true)
      if (haveRedis) {
        expect(sent.redis).toBeGreaterThan(20)
        expect(count('redis')).toBe(sent.redis)
        expect(got.some((t) => t.protocol === 'redis' && t.status === 'WRONGTYPE')).toBe(true)
      }
      if (havePostgres) {
        expect(sent.postgresql).toBeGreaterThan(20)
        expect(count('postgresql')).toBe(sent.postgresql)
        expect(got.some((t) => t.protocol === 'postgresql' && t.status === '42P01' && t.error)).toBe(true)
      }
      expect(got.every((t) => t.server.ip.startsWith('10.213.') && t.client.ip.startsWith('10.213.'))).toBe(true)
      expect(capturedTotals(run.stderr).drops).toBe(0)
      const veths = vethsOf(run.stderr)
      expect(veths).toHaveLength(1 + (haveRedis ? 1 : 0) + (havePostgres ? 1 : 0))
      await expectNothingLeft(run.child.pid!, veths, podPids)
    } finally {
      killRun(run)
    }
  })

  it('SIGINT: stops the client, prints the table and totals, exits 0, leaves nothing behind', async () => {
    try {
      run = runPodtap(['demo'])
      await run.waitFor(/capturing on [^\n]*; Ctrl-C to stop/, 60_000)
      const podPids = await podProcesses(run.child.pid!)
      expect(podPids.length).toBeGreaterThanOrEqual(2)
      await sleep(3000)
      run.child.kill('SIGINT')
      const exit = await run.exited
      expect(exit, run.stderr).toEqual({ code: 0, signal: null })
      // stdout is a pipe: the table once, at the end
      expect(run.stdout).toMatch(/│ server\s+│ proto\s+│ method/)
      expect(run.stdout).toMatch(/│ http\s+│ GET\s+│ \/api\/users\s+│\s+200 │/)
      const sent = clientTotals(run.stderr)
      expect(run.stdout).toMatch(new RegExp(`^${sent.http + sent.redis + sent.postgresql} exchanges on `, 'm'))
      await expectNothingLeft(run.child.pid!, vethsOf(run.stderr), podPids)
    } finally {
      killRun(run)
    }
  })
})
