// A process killed inside SSL_read leaves nothing in the TLS tap's kernel tables: python3 (libssl,
// blocking socket) parked in SSL_read_ex on a connection whose server (node, in a test namespace)
// never answers is SIGKILLed; its return probe never runs, the sched_process_exit hook cleans up.
// Needs root (uprobes); skips with the reason printed otherwise.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openTlsTap, type TlsTap } from '../../src/tls/tap.js'
import { findLibssl } from '../../src/tls/libssl.js'
import { cleanupStale, createTestHost, needRoot, type TestHost } from '../helpers/netns.js'
import { node20, startNodeServer, type NodeServer } from '../helpers/node-tls.js'
import { until } from '../helpers/tls.js'

const skip =
  needRoot() ?? (findLibssl().length === 0 ? 'no libssl' : spawnSync('python3', ['-c', 'import ssl']).status !== 0 ? 'no python3 with ssl' : null)
if (skip !== null) console.log(`TLS tap exit tests skipped: ${skip}`)

// connects, handshakes, says "ready <pid>", waits for a line on stdin, then blocks in recv (SSL_read_ex)
const CLIENT = `
import os, socket, ssl, sys
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
s = ctx.wrap_socket(socket.create_connection((sys.argv[1], int(sys.argv[2]))))
print('ready', os.getpid(), flush=True)
sys.stdin.readline()
s.recv(100)
`

describe.skipIf(skip !== null)('TLS tap: a process killed inside SSL_read', () => {
  let host: TestHost
  let server: NodeServer
  let py: ChildProcess | undefined
  let tap: TlsTap | undefined

  beforeAll(async () => {
    cleanupStale()
    host = await createTestHost({ name: 'tlsexit' })
    server = await startNodeServer(host, node20, 443, 8443)
  }, 60_000)

  afterAll(async () => {
    if (py !== undefined && py.exitCode === null) py.kill('SIGKILL')
    await tap?.close()
    await server?.stop()
    await host?.destroy()
  })

  it('the call and thread entries are there while it waits, gone once it is killed', async () => {
    py = spawn('python3', ['-c', CLIENT, host.nsIp, '443'], { stdio: ['pipe', 'pipe', 'inherit'] })
    let out = ''
    py.stdout!.on('data', (b: Buffer) => (out += b.toString()))
    expect(await until(() => /ready \d+/.test(out), 15_000)).toBe(true)
    const pid = Number(/ready (\d+)/.exec(out)![1])
    tap = openTlsTap({ onChunk: () => {}, pids: [pid] })
    expect(tap.inFlight()).toEqual({ calls: 0, threads: 0 })
    py.stdin!.write('go\n')
    expect(await until(() => tap!.inFlight().calls === 1, 10_000)).toBe(true)
    expect(tap.inFlight()).toEqual({ calls: 1, threads: 1 })
    const exited = new Promise((r) => py!.once('exit', r))
    py.kill('SIGKILL')
    await exited
    expect(await until(() => tap!.inFlight().calls === 0, 5000)).toBe(true)
    expect(tap.inFlight()).toEqual({ calls: 0, threads: 0 })
    expect(tap.counters().callsFull).toBe(0)
  })
})
