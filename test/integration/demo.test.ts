// `podtap demo` as a user runs it: pods in namespaces with the web tier (node), redis-server and
// PostgreSQL (the last two when installed), the demo's client in the root namespace calling the web
// tier, which calls the other two; live capture on the host veths. It must exit 0, report each
// exchange exactly once (as many as the client and the web tier say they sent, per protocol: the web
// tier's calls pass two captured veths), name the chain client -> web -> cache, web -> db, and leave
// no namespace, veth, process or temp dir behind, whether it ends by --duration or by SIGINT.
// Needs root; skips with the reason printed otherwise.

import { existsSync, readdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { describe, expect, it } from 'vitest'
import { DEMO_NS_PREFIX } from '../../src/demo/netns.js'
import { postgresBin } from '../../src/demo/servers.js'
import { needRoot, runHost } from '../helpers/netns.js'
import { capturedTotals, killRun, runPodtap, sleep, traces, type PodtapRun } from './capture-util.js'

const skip = needRoot()
if (skip !== null) console.log(`demo tests skipped: ${skip}`)

const haveRedis = existsSync('/usr/bin/redis-server')
const havePostgres = postgresBin() !== null

/** What the demo's client and its web tier say they sent (its last line). */
function sentTotals(stderr: string): { http: number; failed: number; redis: number; postgresql: number; noReply: number } {
  const m = /demo client sent (\d+) HTTP requests(?: \((\d+) failed[^)]*\))?; the web tier sent (\d+) Redis commands, (\d+) SQL queries(?: \((\d+) got no reply\))?/.exec(stderr)
  if (m === null) throw new Error(`no client totals in:\n${stderr}`)
  return { http: Number(m[1]), failed: Number(m[2] ?? 0), redis: Number(m[3]), postgresql: Number(m[4]), noReply: Number(m[5] ?? 0) }
}

/** Every process running in the demo's namespaces now (the web tier, redis, postgres...). */
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
  // the demo SIGKILLs what is left in a namespace before deleting it; a killed process is gone once
  // reaped, which may take a moment (run from source, the web tier's tsx loader has an esbuild child)
  for (let i = 0; i < 30 && podPids.some(alive); i++) await sleep(100)
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
      // the web tier, redis-server, the postmaster and its helpers
      expect(podPids.length).toBeGreaterThanOrEqual(1 + (haveRedis ? 1 : 0) + (havePostgres ? 3 : 0))
      const exit = await run.exited
      expect(exit, run.stderr).toEqual({ code: 0, signal: null })
      const got = traces(run.stdout)
      const sent = sentTotals(run.stderr)
      expect(sent.failed).toBe(0)
      expect(sent.noReply).toBe(0)
      const count = (p: string) => got.filter((t) => t.protocol === p).length
      expect(sent.http).toBeGreaterThan(50) // 20/s for 8 s, less the slow requests in flight
      // every exchange once: what crossed two veths (web -> cache, web -> db) is not doubled
      expect(count('http')).toBe(sent.http)
      expect(count('redis')).toBe(sent.redis)
      expect(count('postgresql')).toBe(sent.postgresql)
      expect(got.length).toBe(sent.http + sent.redis + sent.postgresql)
      const http = got.filter((t) => t.protocol === 'http')
      expect(new Set(http.map((t) => t.status))).toEqual(new Set(havePostgres ? [200, 201, 404, 500] : haveRedis ? [200, 404, 500, 503] : [200, 404, 503]))
      expect(http.filter((t) => t.resource === '/api/report').every((t) => t.status === (havePostgres ? 500 : 503) && t.error)).toBe(true)
      // the chain, named by the demo's pods: client -> web (http), web -> cache (redis), web -> db (postgresql)
      const edges = new Set(got.map((t) => `${t.client.namespace}/${t.client.pod} -> ${t.server.namespace}/${t.server.pod} ${t.protocol}`))
      expect(edges).toEqual(
        new Set(['demo/client -> demo/web http', ...(haveRedis ? ['demo/web -> demo/cache redis'] : []), ...(havePostgres ? ['demo/web -> demo/db postgresql'] : [])]),
      )
      if (haveRedis) {
        expect(sent.redis).toBeGreaterThan(20)
        expect(got.some((t) => t.protocol === 'redis' && t.status === 'WRONGTYPE' && t.error)).toBe(true)
      }
      if (havePostgres) {
        expect(sent.postgresql).toBeGreaterThan(20)
        expect(got.some((t) => t.protocol === 'postgresql' && t.method === 'INSERT')).toBe(true)
        expect(got.some((t) => t.protocol === 'postgresql' && t.status === '42P01' && t.error)).toBe(true)
      }
      expect(got.every((t) => t.server.ip.startsWith('10.213.') && t.client.ip.startsWith('10.213.'))).toBe(true)
      // the web tier's calls pass two veths: one copy of each packet is left out. A second copy would
      // not add exchanges (the reassembler takes it for a retransmission) but would count as one: at
      // least two per call (293 retransmits for 136 calls when the rule is off); real ones are rare
      const copies = Number(/(\d+) packets passed two veths and were kept once/.exec(run.stderr)?.[1])
      expect(copies).toBeGreaterThanOrEqual(2 * (sent.redis + sent.postgresql)) // request and response, each on two veths
      const retransmits = Number(/TCP: .*?(\d+) retransmits/.exec(run.stderr)?.[1])
      expect(retransmits, run.stderr).toBeLessThan((sent.redis + sent.postgresql) / 4)
      expect(capturedTotals(run.stderr).drops).toBe(0)
      const veths = vethsOf(run.stderr)
      expect(veths).toHaveLength(1 + (haveRedis ? 1 : 0) + (havePostgres ? 1 : 0))
      await expectNothingLeft(run.child.pid!, veths, podPids)
    } finally {
      killRun(run)
    }
  })

  it('SIGINT: the web UI\'s map is the chain; stops the client, prints the table and totals, exits 0, leaves nothing behind', async () => {
    try {
      run = runPodtap(['demo', '--ui-port', '0'])
      const url = (await run.waitFor(/web UI on (http:\/\/\S+)/, 60_000))[1]!
      await run.waitFor(/capturing on [^\n]*; Ctrl-C to stop/, 60_000)
      const podPids = await podProcesses(run.child.pid!)
      expect(podPids.length).toBeGreaterThanOrEqual(2)
      // the service map the page draws (its snapshot): a node per pod, the chain as its edges
      const want = ['demo/client -> demo/web http', ...(haveRedis ? ['demo/web -> demo/cache redis'] : []), ...(havePostgres ? ['demo/web -> demo/db postgresql'] : [])]
      await sleep(2000)
      let edges: string[] = []
      for (let i = 0; i < 100 && edges.length < want.length; i++) {
        await sleep(200)
        const snap = (await (await fetch(new URL('/api/snapshot', url))).json()) as { nodes: { id: string; label: string }[]; edges: { source: string; target: string; protocol: string }[] }
        const label = new Map(snap.nodes.map((n) => [n.id, n.label]))
        edges = snap.edges.map((e) => `${label.get(e.source)} -> ${label.get(e.target)} ${e.protocol}`).sort()
      }
      expect(edges).toEqual(want.sort())
      run.child.kill('SIGINT')
      const exit = await run.exited
      expect(exit, run.stderr).toEqual({ code: 0, signal: null })
      // stdout is a pipe: the table once, at the end
      expect(run.stdout).toMatch(/│ server\s+│ proto\s+│ method/)
      expect(run.stdout).toMatch(/│ demo\/web:80\s+│ http\s+│ GET\s+│ \/api\/users\s+│\s+200 │/)
      const sent = sentTotals(run.stderr)
      expect(run.stdout).toMatch(new RegExp(`^${sent.http + sent.redis + sent.postgresql} exchanges on `, 'm'))
      await expectNothingLeft(run.child.pid!, vethsOf(run.stderr), podPids)
    } finally {
      killRun(run)
    }
  })
})
