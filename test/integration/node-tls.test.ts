// `podtap capture --tls` on Node.js's own TLS: node 20 (nodesource: OpenSSL built into the executable,
// SSL_read/SSL_write exported; found by its symbols and probed there: the server runs a renamed copy
// started after podtap) and Debian's node 18 (libnode linked to the system libssl.so.3), each as server (HTTPS and HTTP/2 over TLS, inside a test
// namespace) and as client (on the host) of the other. Node drives OpenSSL through memory BIOs, so
// the socket is learned around the SSL calls on the event loop's thread (bpf/tls_tap.c): 50
// concurrent keep-alive connections per protocol, every request with its own path and status, must
// come out as exactly one exchange each, with the client's own 4-tuple, tls: true, and the tapped
// process named. Both ends of every connection run on this node: counted once.
// Needs root (uprobes); skips with the reason printed otherwise.

import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { TraceRecord } from '../../src/records.js'
import { findLibssl } from '../../src/tls/libssl.js'
import { cleanupStale, createTestHost, needRoot, type TestHost } from '../helpers/netns.js'
import { debianNode18, node20, renamedNode20, runNodeClient, startNodeServer, type NodeBin, type NodeClientRun, type NodeServer } from '../helpers/node-tls.js'
import { READY, interrupt, killRun, runPodtap, traces, type PodtapRun } from './capture-util.js'

const CONNS = 50
const PER_CONN = 3

let node18: NodeBin | string = 'not looked for'
const skip = needRoot() ?? (findLibssl().length > 0 ? null : 'no libssl.so.3 found') ?? (typeof (node18 = debianNode18()) === 'string' ? node18 : null)
if (skip !== null) console.log(`node TLS tests skipped: ${skip}`)

interface Pairing {
  server: NodeServer
  serverBin: NodeBin
  client: NodeClientRun
  clientBin: NodeBin
}

describe.skipIf(skip !== null)('podtap capture --tls on node 20 (OpenSSL in the executable) and Debian node 18 (libssl)', () => {
  let host: TestHost
  let run: PodtapRun | undefined
  const pairs: Pairing[] = []
  let got: TraceRecord[] = []
  let stderr = ''
  let exitCode: number | null = null

  beforeAll(async () => {
    cleanupStale()
    host = await createTestHost({ name: 'nodetls' })
    const n18 = node18 as NodeBin
    run = runPodtap(['capture', '--tls', '--format', 'jsonl'])
    await run.waitFor(READY)
    // servers start after podtap; node 20's is a copy named tlsd: found by its exported symbols
    const tlsd = renamedNode20(host.tmpDir(), 'tlsd')
    const s20 = await startNodeServer(host, tlsd, 443, 8443)
    const s18 = await startNodeServer(host, n18, 4443, 9443)
    await run.waitFor(/OpenSSL probes on \S*\/tlsd /, 10_000)
    // clients: node 18 against the node 20 server and the other way round, at the same time
    const [c18, c20] = await Promise.all([
      runNodeClient(n18, host.nsIp, s20, CONNS, PER_CONN, 'n18to20'),
      runNodeClient(node20, host.nsIp, s18, CONNS, PER_CONN, 'n20to18'),
    ])
    pairs.push({ server: s20, serverBin: tlsd, client: c18, clientBin: n18 }, { server: s18, serverBin: n18, client: c20, clientBin: node20 })
    await new Promise((r) => setTimeout(r, 1500)) // the last chunks through the ring
    await s20.stop()
    await s18.stop()
    const exit = await interrupt(run)
    exitCode = exit.code
    stderr = run.stderr
    got = traces(run.stdout)
  }, 60_000)

  afterAll(async () => {
    killRun(run)
    for (const p of pairs) await p.server.stop()
    await host?.destroy()
  })

  it('the clients got every answer; podtap found node 20 by its exported SSL symbols', () => {
    expect(exitCode).toBe(0)
    for (const p of pairs) {
      expect(p.client.code, p.client.stderr).toBe(0)
      expect(p.client.responses).toHaveLength(CONNS * PER_CONN * 2)
      expect(p.server.requests()).toHaveLength(CONNS * PER_CONN * 2)
    }
    expect(stderr).toMatch(/OpenSSL probes on \S*\/tlsd \(\/proc\/\d+\/root\S*\/tlsd\) \(node\)/)
  })

  it('every request is exactly one exchange: method, path and status as the client saw them, tls: true', () => {
    for (const p of pairs) {
      const want = p.client.responses.map((r) => `${r.proto === 'h2' ? 'http2' : 'http'} GET ${r.path} ${r.status}`).sort()
      const tag = /\/(n\d+to\d+)\//.exec(p.client.responses[0]!.path!)![1]!
      const mine = got.filter((t) => t.resource?.includes(`/${tag}/`))
      const have = mine.map((t) => `${t.protocol} ${t.method} ${t.resource} ${t.status}`).sort()
      const missing = want.filter((w) => !have.includes(w))
      const why = `missing ${missing.length}, e.g. ${missing.slice(0, 5).join('; ')}\npodtap said:\n${stderr.split('\n').slice(-14).join('\n')}`
      // exactly the client's list: nothing missing (an HTTP/2 server on a port that is no server port
      // writes SETTINGS before it reads the preface: podtap takes its side from its listening socket,
      // not from who spoke first), nothing twice, nothing the client did not see
      expect(have, why).toEqual(want)
      for (const t of mine) expect(t.tls).toBe(true)
    }
    // nothing else from these processes (other TLS users on this machine are tapped too: not counted)
    const ours = new Set(pairs.flatMap((p) => [p.client.pid, p.server.pid]))
    const fromOurs = got.filter((t) => ours.has(t.client.pid ?? 0) || ours.has(t.server.pid ?? 0) || t.server.ip === host.nsIp)
    expect(fromOurs.filter((t) => !/\/n\d+to\d+\//.test(t.resource ?? ''))).toEqual([])
  })

  it('each exchange carries the 4-tuple the client reported for that very request', () => {
    for (const p of pairs) {
      const byPath = new Map(p.client.responses.map((r) => [r.path!, r]))
      for (const t of got) {
        const r = byPath.get(t.resource!)
        if (r === undefined) continue
        expect({ path: t.resource, client: { ip: t.client.ip, port: t.client.port }, server: { ip: t.server.ip, port: t.server.port } }).toEqual({
          path: r.path,
          client: r.local,
          server: r.remote,
        })
      }
      // and the server's own view of the connection agrees
      for (const q of p.server.requests()) expect(byPath.get(q.path!)?.local).toEqual(q.remote)
    }
  })

  it('names the tapped node process (pid, comm) on one side of each exchange', () => {
    for (const p of pairs) {
      const tag = /\/(n\d+to\d+)\//.exec(p.client.responses[0]!.path!)![1]!
      for (const t of got.filter((x) => x.resource?.includes(`/${tag}/`))) {
        const named = [t.client, t.server].filter((s) => s.pid !== undefined)
        expect(named).toHaveLength(1)
        const side = named[0]!
        expect(side.comm).toBe(side === t.client ? 'node' : p.serverBin.name === 'tlsd' ? 'tlsd' : 'node')
        expect(side.pid).toBe(side === t.client ? p.client.pid : p.server.pid)
      }
    }
  })
})
