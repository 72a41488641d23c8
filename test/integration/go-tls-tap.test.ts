// The Go TLS tap as a library (src/tls/go/tap.ts) around one Go HTTPS server's life on loopback: a
// client that connects and stays idle leaves the server's goroutine blocked in (*Conn).Read (an
// entry with no RET yet, in the kernel's LRU call table); when the server is killed mid-call, that
// entry is deleted (the once-a-second sweep of exited pids), the process leaves the coverage, and
// the executable's uprobes are removed lingerMs after its last process. Needs root and golang-go.

import { spawn, type ChildProcess } from 'node:child_process'
import { connect, type TLSSocket } from 'node:tls'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openGoTlsTap, type GoTlsTap } from '../../src/tls/go/tap.js'
import { ProcessWatcher } from '../../src/tls/processes.js'
import { goBuild, goMissing } from '../helpers/go.js'
import { needRoot } from '../helpers/netns.js'

const skip = needRoot() ?? goMissing() ?? (process.arch === 'x64' ? null : 'the Go TLS tap is amd64-only')
if (skip !== null) console.log(`go-tls-tap tests skipped: ${skip}`)

async function until(f: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms
  while (!f()) {
    if (Date.now() > end) throw new Error('condition not met in time')
    await new Promise((r) => setTimeout(r, 50))
  }
}

describe.skipIf(skip !== null)('Go TLS tap: a process killed mid-Read leaves no state behind', () => {
  let tap: GoTlsTap
  let watcher: ProcessWatcher
  let server: ChildProcess
  let sock: TLSSocket | undefined

  beforeAll(async () => {
    const bin = goBuild('httpsapp', { stripped: true })
    server = spawn(bin, ['server', '127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'ignore'] })
    const port = await new Promise<number>((r) => server.stdout!.once('data', (b: Buffer) => r(Number(/listening (\d+)/.exec(b.toString())![1]))))
    tap = openGoTlsTap({ onChunk: () => undefined, pidFilter: true, lingerMs: 2000 })
    watcher = new ProcessWatcher({ pids: [server.pid!], intervalMs: 200, onStart: (p) => tap.addProcess(p), onExit: (p) => tap.removeProcess(p) })
    watcher.start()
    sock = connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] })
    await new Promise((r) => sock!.once('secureConnect', r))
  }, 60_000)

  afterAll(async () => {
    sock?.destroy()
    server?.kill('SIGKILL')
    watcher?.close()
    await tap?.close()
  })

  it('the idle connection\'s server goroutine waits in Read; killing the server clears it, the coverage and (after lingerMs) the probes', async () => {
    expect(tap.coverage()).toEqual([expect.objectContaining({ pid: server.pid, tap: 'go' })])
    // net/http reads the request: Read entered, no RET until the client speaks
    await until(() => tap.counters().readsInFlight >= 1, 5000)
    expect(tap.counters()).toMatchObject({ executables: 1 })
    server.kill('SIGKILL')
    await until(() => tap.coverage().length === 0, 5000)
    // the file's probes linger (a program run again is read from its first instruction)...
    expect(tap.counters()).toMatchObject({ executables: 1 })
    await until(() => tap.counters().readsInFlight === 0, 5000)
    // ...then go
    await until(() => tap.counters().executables === 0, 6000)
    expect(tap.counters()).toMatchObject({ executables: 0, uprobes: 0 })
  })
})
