// `podtap capture --tls` on Go programs: the crypto/tls uprobe tap (src/tls/go/, bpf/go_tls.c). Go
// HTTPS and gRPC-over-TLS servers run in a test network namespace, their clients (same programs) on
// the host; all are built here from test/go/ with Debian's Go 1.19. Ground truth is what the clients
// print about every response. Checked: every path, method and status (HTTP/1.1 and HTTP/2 over
// TLS), every gRPC method and status; a stripped server running before podtap and an unstripped one
// started after it are both read; both ends of each connection are on this machine and each
// request is still one exchange; records carry tls: true and the Go process's pid and comm.
// Needs root and golang-go; skips with the reason printed otherwise.

import { spawn, type ChildProcess } from 'node:child_process'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { TraceRecord } from '../../src/records.js'
import { goBuild, goMissing } from '../helpers/go.js'
import { cleanupStale, createTestHost, needRoot, type TestHost } from '../helpers/netns.js'
import { READY, killRun, runPodtap, traces, type PodtapRun } from './capture-util.js'

const skip = needRoot() ?? goMissing() ?? (process.arch === 'x64' ? null : 'the Go TLS tap is amd64-only')
if (skip !== null) console.log(`go-tls tests skipped: ${skip}`)

/** Runs a program to its end; its stdout lines (its pid goes into pids). */
function run(cmd: string, args: string[], pids: Set<number>): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const c = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    pids.add(c.pid!)
    let out = ''
    let err = ''
    c.stdout.on('data', (b: Buffer) => (out += b.toString()))
    c.stderr.on('data', (b: Buffer) => (err += b.toString()))
    c.once('error', reject)
    c.once('close', (code) => (code === 0 ? resolve(out.trim().split('\n')) : reject(new Error(`${cmd} exited ${code}: ${err}`))))
  })
}

/** A Go server in the namespace; resolves with its port once it says "listening PORT". */
function serve(host: TestHost, bin: string): Promise<{ child: ChildProcess; port: number }> {
  const child = host.spawn([bin, 'server', `${host.nsIp}:0`], { stdio: ['ignore', 'pipe', 'inherit'] })
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`${bin} server exited ${code}`)))
    child.stdout!.once('data', (b: Buffer) => {
      const m = /listening (\d+)/.exec(b.toString())
      if (m === null) reject(new Error(`${bin}: ${b.toString()}`))
      else resolve({ child, port: Number(m[1]) })
    })
  })
}

describe.skipIf(skip !== null)('podtap capture --tls on Go crypto/tls (HTTPS h1/h2, gRPC)', () => {
  let host: TestHost
  let podtap: PodtapRun | undefined
  let exitCode: number | null = null
  let stderr = ''
  let got: TraceRecord[] = []
  const https = { bin: '', port: 0, pid: 0 }
  const grpc = { bin: '', port: 0, pid: 0 }
  let h1: string[] = []
  let h2: string[] = []
  let rpc: string[] = []
  const clientPids = new Set<number>()

  beforeAll(async () => {
    https.bin = goBuild('httpsapp', { stripped: true })
    grpc.bin = goBuild('grpcapp')
    cleanupStale()
    host = await createTestHost({ name: 'gotls' })
    // running before podtap: found in the first scan
    const s1 = await serve(host, https.bin)
    https.port = s1.port
    https.pid = s1.child.pid!
    podtap = runPodtap(['capture', '--tls', '--format', 'jsonl', '--duration', '40'])
    await podtap.waitFor(READY, 20_000)
    await podtap.waitFor(/go tls: probing httpsapp/, 10_000)
    // started after podtap: found by the process watcher within a second
    const s2 = await serve(host, grpc.bin)
    grpc.port = s2.port
    grpc.pid = s2.child.pid!
    await podtap.waitFor(/go tls: probing grpcapp/, 10_000)
    // the clients run the servers' executables: probed already (uprobes hold per file)
    const url = `https://${host.nsIp}:${https.port}`
    ;[h1, h2, rpc] = await Promise.all([
      run(https.bin, ['client', url, 'h1', '/a', '/missing', '/post-1', '/fail'], clientPids),
      run(https.bin, ['client', url, 'h2', '/b', '/missing/2', '/post-2', '/fail/2', '/c'], clientPids),
      run(grpc.bin, ['client', `${host.nsIp}:${grpc.port}`, 'up', 'nope', 'up'], clientPids),
    ])
    await new Promise((r) => setTimeout(r, 500))
    podtap.child.kill('SIGINT')
    exitCode = (await podtap.exited).code
    stderr = podtap.stderr
    // the tap sees every Go TLS user on this machine: keep this test's servers
    got = traces(podtap.stdout).filter((t) => t.server.ip === host.nsIp || t.client.ip === host.nsIp)
  }, 60_000)

  afterAll(async () => {
    killRun(podtap)
    await host?.destroy()
  })

  it('the clients got what the servers answer', () => {
    expect(exitCode).toBe(0)
    expect(h1).toEqual(['GET /a 200 HTTP/1.1', 'GET /missing 404 HTTP/1.1', 'POST /post-1 201 HTTP/1.1', 'GET /fail 500 HTTP/1.1'])
    expect(h2.map((l) => l.split(' ')[3])).toEqual(Array(5).fill('HTTP/2.0'))
    expect(rpc).toEqual(['/grpc.health.v1.Health/Check 0 OK', '/grpc.health.v1.Health/Check 5 NotFound', '/grpc.health.v1.Health/Check 0 OK'])
  })

  it('every HTTP request over Go TLS is one exchange with the client\'s method, path and status', () => {
    const want = [...h1, ...h2].map((l) => l.split(' ').slice(0, 3).join(' ')).sort()
    const http = got.filter((t) => t.protocol === 'http' || t.protocol === 'http2')
    expect(http.map((t) => `${t.method} ${t.resource} ${t.status}`).sort()).toEqual(want)
    expect(new Set(http.filter((t) => t.protocol === 'http2').map((t) => t.resource))).toEqual(new Set(h2.map((l) => l.split(' ')[1])))
    for (const t of http) {
      expect(t.tls).toBe(true)
      expect(t.server).toMatchObject({ ip: host.nsIp, port: https.port })
      expect(t.client.ip).toBe(host.hostIp)
    }
  })

  it('every gRPC call is one exchange with the client\'s method and status, from a server started after podtap', () => {
    const calls = got.filter((t) => t.protocol === 'grpc')
    expect(calls.map((t) => `${t.method} ${t.status}`)).toEqual(rpc.map((l) => l.split(' ').slice(0, 2).join(' ')))
    for (const t of calls) expect(t.server).toMatchObject({ ip: host.nsIp, port: grpc.port })
    expect(stderr).toMatch(new RegExp(`go tls: probing grpcapp\\S* \\(pid ${grpc.pid}, go1\\.\\d+`))
  })

  it('records name the tapped Go process (pid, comm); both ends tapped, each request counted once', () => {
    // every exchange above is counted once although both ends ran a tapped Go program
    expect(got).toHaveLength(h1.length + h2.length + rpc.length)
    // the end named is whichever was seen first: one of this test's processes, with its comm (the
    // executable's name, cut to 15 characters)
    const mine = new Set([https.pid, grpc.pid, ...clientPids])
    for (const t of got) {
      const named = [t.client, t.server].filter((p) => p.pid !== undefined)
      expect(named).toHaveLength(1)
      expect(mine.has(named[0]!.pid!)).toBe(true)
      const bin = t.protocol === 'grpc' ? grpc.bin : https.bin
      expect(named[0]!.comm).toBe(bin.split('/').pop()!.slice(0, 15))
    }
  })
})
