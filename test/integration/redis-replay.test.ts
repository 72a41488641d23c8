// Redis end to end: a real redis-server (Debian package redis-server) in a network namespace, driven
// from the host by real clients (ioredis, a raw RESP3 socket, redis-benchmark) through the veth;
// tcpdump captures the host side of the veth and the file is replayed through podtap's pipeline;
// at the same time podtap captures the same veth live (AF_PACKET ring + socket filter) into the same
// pipeline. Both sets of exchanges are compared with what the server itself counted (INFO
// commandstats and errorstats, reset just before the capture and read just after it).
//
// Needs root (network namespaces); skips with a printed reason otherwise.

import { createConnection } from 'node:net'
import { copyFileSync } from 'node:fs'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Counters } from '../../src/counters.js'
import { replayFilesSync } from '../../src/pipeline/replay-sync.js'
import type { Exchange } from '../../src/records.js'
import { cleanupStale, createTestHost, needRoot, runHost, waitForPort, type TestHost } from '../helpers/netns.js'
import { captureWhile, missingCommands } from './live-util.js'

const skip = needRoot() ?? (await missingCommands('redis-server tcpdump', 'redis-server', 'redis-benchmark', 'tcpdump'))
if (skip !== null) console.log(`redis integration tests skipped: ${skip}`)

const PORT = 6379
const PASSWORD = 'podtap-s3cret-pw'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** INFO commandstats as method -> calls + rejected_calls (every call the server answered), and failed counts */
function commandStats(info: string): { calls: Map<string, number>; errors: number } {
  const calls = new Map<string, number>()
  let errors = 0
  for (const line of info.split(/\r?\n/)) {
    const m = /^cmdstat_([^:]+):calls=(\d+),.*?rejected_calls=(\d+),failed_calls=(\d+)/.exec(line)
    if (m === null) continue
    // "config|get" is how Redis 7 names a subcommand; podtap says "CONFIG GET"
    const method = m[1].toUpperCase().replace('|', ' ')
    calls.set(method, Number(m[2]) + Number(m[3]))
    errors += Number(m[3]) + Number(m[4])
  }
  return { calls, errors }
}

/** INFO errorstats as error code -> count */
function errorStats(info: string): Map<string, number> {
  const out = new Map<string, number>()
  for (const line of info.split(/\r?\n/)) {
    const m = /^errorstat_([^:]+):count=(\d+)/.exec(line)
    if (m !== null) out.set(m[1], Number(m[2]))
  }
  return out
}

function tally(xs: Exchange[], key: (x: Exchange) => string | undefined): Map<string, number> {
  const m = new Map<string, number>()
  for (const x of xs) {
    const k = key(x)
    if (k !== undefined) m.set(k, (m.get(k) ?? 0) + 1)
  }
  return m
}

const sorted = (m: Map<string, number>) => [...m.entries()].sort((a, b) => a[0].localeCompare(b[0]))

/** A minimal RESP3 client on a raw socket: sends commands, waits a little for the server to answer. */
async function resp3Session(host: string, steps: (string[] | number)[]): Promise<string> {
  const sock = createConnection({ host, port: PORT })
  let got = ''
  sock.on('data', (b) => (got += b.toString('latin1')))
  await new Promise<void>((resolve, reject) => {
    sock.once('connect', () => resolve())
    sock.once('error', reject)
  })
  for (const s of steps) {
    if (typeof s === 'number') await sleep(s)
    else {
      sock.write('*' + s.length + '\r\n' + s.map((a) => '$' + Buffer.byteLength(a) + '\r\n' + a + '\r\n').join(''))
      await sleep(60)
    }
  }
  sock.destroy()
  return got
}

describe.skipIf(skip !== null)('redis: real server, real clients, replayed capture', () => {
  let host: TestHost
  let control: Redis

  beforeAll(async () => {
    cleanupStale()
    host = await createTestHost({ name: 'redis' })
    const dir = host.tmpDir()
    host.spawn([
      'redis-server', '--bind', host.nsIp, '--port', String(PORT), '--save', '', '--appendonly', 'no',
      '--protected-mode', 'no', '--dir', dir, '--requirepass', PASSWORD, '--loglevel', 'warning',
    ])
    await waitForPort(host.nsIp, PORT, 10_000)
    // the control connection is made before the capture starts and used only outside it
    control = new Redis({ host: host.nsIp, port: PORT, password: PASSWORD, lazyConnect: true })
    await control.connect()
  })

  afterAll(async () => {
    control?.disconnect()
    await host?.destroy()
  })

  it('every command the server counted is one exchange, with the same method and errors', async () => {
    const file = join(host.tmpDir(), 'redis.pcap')
    await control.config('RESETSTAT')
    let wrongType = ''
    const liveRun = await captureWhile(host.hostIf, file, PORT, async () => {
      // ioredis: plain commands, a 300-command pipeline, MULTI/EXEC, an error, container commands, a big value
      const a = new Redis({ host: host.nsIp, port: PORT, password: PASSWORD })
      for (let i = 0; i < 50; i++) await a.set('key:' + i, 'value-' + i)
      for (let i = 0; i < 50; i++) await a.get('key:' + i)
      const p = a.pipeline()
      for (let i = 0; i < 300; i++) p.incr('counter')
      await p.exec()
      await a.multi().set('tx', '1').incr('tx').lpush('txlist', 'x').exec()
      await a.set('str', 'x')
      wrongType = await a.lpush('str', 'y').then(
        () => '',
        (e: unknown) => String(e),
      )
      await a.config('GET', 'maxmemory')
      await a.client('LIST')
      await a.hset('h', { f1: 'v1', f2: 'v2' })
      await a.hgetall('h')
      await a.set('big', 'b'.repeat(1 << 20))
      expect((await a.get('big'))?.length).toBe(1 << 20)

      // pub/sub over RESP2: one SUBSCRIBE of two channels, five messages pushed, UNSUBSCRIBE
      const sub = new Redis({ host: host.nsIp, port: PORT, password: PASSWORD })
      let received = 0
      sub.on('message', () => received++)
      await sub.subscribe('news', 'sports')
      for (let i = 0; i < 5; i++) await a.publish(i % 2 ? 'news' : 'sports', 'msg ' + i)
      for (let t = 0; t < 50 && received < 5; t++) await sleep(20)
      expect(received).toBe(5)
      await sub.unsubscribe()
      sub.disconnect()
      a.disconnect()

      // RESP3 on a raw socket: maps, push confirmations and messages interleaved with replies
      const raw = await resp3Session(host.nsIp, [
        ['HELLO', '3', 'AUTH', 'default', PASSWORD],
        ['HSET', 'h3', 'a', '1'],
        ['HGETALL', 'h3'],
        ['SUBSCRIBE', 'c1', 'c2'],
        ['PING'],
        ['UNSUBSCRIBE'],
      ])
      expect(raw).toContain('%') // a RESP3 map came back
      expect(raw).toContain('>3\r\n$9\r\nsubscribe') // confirmations are pushes

      // redis-benchmark: inline and multibulk PING, pipelined (-P 16) and not
      const auth = ['-h', host.nsIp, '-p', String(PORT), '-a', PASSWORD]
      let r = await runHost('redis-benchmark', [...auth, '-n', '400', '-c', '2', '-t', 'ping_inline,ping_mbulk,set,get', '-q'], { timeoutMs: 30_000 })
      expect(r.code, r.stderr).toBe(0)
      r = await runHost('redis-benchmark', [...auth, '-n', '2000', '-c', '4', '-P', '16', '-t', 'set,get,incr,lpush', '-q'], { timeoutMs: 30_000 })
      expect(r.code, r.stderr).toBe(0)
      // RESP3 (-3: HELLO 3 first), pipelined
      r = await runHost('redis-benchmark', [...auth, '-3', '-n', '600', '-c', '2', '-P', '8', '-t', 'hset,lrange_100', '-q'], { timeoutMs: 30_000 })
      expect(r.code, r.stderr).toBe(0)
    })
    expect(liveRun.dropped).toBe(0)

    const stats = commandStats(await control.info('commandstats'))
    const errstats = errorStats(await control.info('errorstats'))
    stats.calls.delete('CONFIG RESETSTAT') // sent before the capture began

    // KEEP_PCAP=<path> keeps the capture (a real redis-benchmark/pgbench trace, for benchmarks or debugging)
    if (process.env.KEEP_PCAP) copyFileSync(file, process.env.KEEP_PCAP)
    const replay = replayFilesSync([file])
    const runs: [string, Exchange[], Counters][] = [
      ['replay', replay.exchanges, replay.counters],
      ['live', liveRun.exchanges, liveRun.counters],
    ]
    for (const [how, all, counters] of runs) {
      const ex = all.filter((e) => e.protocol === 'redis')
      const byMethod = tally(ex, (e) => e.method)
      console.log(`redis ${how}: ${ex.length} exchanges; server counted ${[...stats.calls.values()].reduce((a, b) => a + b, 0)} calls`)
      // a command the server does not know (ioredis sends CLIENT SETINFO, new in Redis 7.2) is refused
      // before it is counted in commandstats: only errorstats sees it, as ERR
      const unknownToServer = ex.filter((e) => !stats.calls.has(e.method))
      expect(unknownToServer.every((e) => e.status === 'ERR'), how).toBe(true)
      for (const e of unknownToServer) byMethod.delete(e.method)
      expect(sorted(byMethod), how).toEqual(sorted(stats.calls))
      expect(ex.filter((e) => e.status === null), how).toEqual([]) // nothing unanswered
      expect(counters.total('unmatched'), how).toBe(0)
      // errors: the same count and the same codes as the server's errorstats
      expect(sorted(tally(ex, (e) => (e.error ? String(e.status) : undefined))), how).toEqual(sorted(errstats))
      expect(ex.filter((e) => e.error).length, how).toBe([...errstats.values()].reduce((a, b) => a + b, 0))
      // commandstats' failed and rejected calls are the errors of commands it knows
      expect(ex.filter((e) => e.error && stats.calls.has(e.method)).length, how).toBe(stats.errors)
      // what the client saw
      expect(ex.filter((e) => e.status === 'WRONGTYPE'), how).toHaveLength(1)
      // no password, key or value in any record
      const text = JSON.stringify(ex)
      for (const secret of [PASSWORD, 'value-7', 'key:7', 'txlist']) expect(text, how).not.toContain(secret)
    }
    expect(wrongType).toContain('WRONGTYPE')
  }, 60_000)
})
