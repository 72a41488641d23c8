// HTTP/2 live: `podtap capture` on the host side of a veth, Debian's nghttpd (nghttp2-server, plain
// h2c with prior knowledge) in the namespace, and two real clients on the host: node's http2 client
// multiplexing many concurrent streams on one connection (GET, HEAD, POST; 200 and 404), and curl
// --http2-prior-knowledge. Every stream the clients report is
// one exchange, with its method, path and status, and a latency within what the client measured.
//
// nghttpd does not answer HTTP/1.1 `Upgrade: h2c` (it speaks HTTP/2 from the first byte), so the
// Upgrade hand-over is checked on the real nghttp2.org capture (test/pcaps/http2/08-h2c-upgrade) and
// in src/pipeline/connection.test.ts. Needs root; skips with the reason printed otherwise.

import { existsSync, writeFileSync } from 'node:fs'
import { connect, constants } from 'node:http2'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { TraceRecord } from '../../src/records.js'
import { cleanupStale, createTestHost, needRoot, type TestHost } from '../helpers/netns.js'
import { READY, killRun, runPodtap, traces, type PodtapRun } from './capture-util.js'
import { waitForPort } from '../../src/demo/netns.js'
import { sh } from './live-util.js'

const skip = needRoot() ?? (existsSync('/usr/sbin/nghttpd') ? null : 'nghttpd not installed (apt-get install nghttp2-server)')
if (skip !== null) console.log(`capture-http2 tests skipped: ${skip}`)

interface Sent {
  method: string
  path: string
  status: number
  ms: number
}

/** `n` streams on one HTTP/2 session, all in flight at once */
async function multiplexed(origin: string, n: number): Promise<Sent[]> {
  const session = connect(origin)
  await new Promise<void>((resolve, reject) => {
    session.once('connect', () => resolve())
    session.once('error', reject)
  })
  const one = (i: number): Promise<Sent> => {
    const method = ['GET', 'GET', 'HEAD', 'POST'][i % 4]!
    // (not HEAD of a missing file: nghttpd answers that 404 with a body, which node's client resets)
    const path = i % 5 === 4 && method !== 'HEAD' ? `/missing/${i}` : `/file${i % 3}.txt?i=${i}`
    return new Promise((resolve, reject) => {
      const t0 = performance.now()
      const req = session.request({ [constants.HTTP2_HEADER_METHOD]: method, [constants.HTTP2_HEADER_PATH]: path }, { endStream: method !== 'POST' })
      let status = 0
      req.on('response', (h) => (status = Number(h[constants.HTTP2_HEADER_STATUS])))
      req.on('error', reject)
      req.resume()
      req.on('end', () => resolve({ method, path: path.replace(/\?.*/, ''), status, ms: performance.now() - t0 }))
      if (method === 'POST') req.end(Buffer.alloc(3000, 'p'))
    })
  }
  try {
    return await Promise.all(Array.from({ length: n }, (_, i) => one(i)))
  } finally {
    await new Promise<void>((resolve) => session.close(() => resolve()))
  }
}

describe.skipIf(skip !== null)('podtap capture of HTTP/2 (nghttpd, node http2 client, curl)', () => {
  let host: TestHost
  let run: PodtapRun | undefined
  let sent: Sent[] = []
  let curlStatuses: string[] = []
  let got: TraceRecord[] = []
  let exitCode: number | null = null

  beforeAll(async () => {
    cleanupStale()
    host = await createTestHost({ name: 'caph2' })
    const docs = host.tmpDir()
    for (let k = 0; k < 3; k++) writeFileSync(join(docs, `file${k}.txt`), `file ${k}\n`.repeat(200 * (k + 1)))
    host.spawn(['nghttpd', '--no-tls', '-d', docs, '--address', host.nsIp, '8080'], { stdio: 'ignore' })
    await waitForPort(host.nsIp, 8080, 10_000)

    run = runPodtap(['capture', '--iface', host.hostIf, '--format', 'jsonl', '--duration', '8'])
    await run.waitFor(READY)
    const origin = `http://${host.nsIp}:8080`
    sent = await multiplexed(origin, 40)
    // curl, prior knowledge, a connection per URL (curl 7.88 reusing one nghttpd connection for a
    // second URL fails with exit 16, an HTTP/2 framing error on its side: not what is tested here)
    for (const path of ['/file0.txt', '/file1.txt', '/nothing-here']) {
      const out = await sh('curl', ['-s', '-o', '/dev/null', '-w', '%{http_version} %{response_code}', '--http2-prior-knowledge', `${origin}${path}`], 20_000)
      curlStatuses.push(out.trim())
    }
    const exit = await run.exited
    exitCode = exit.code
    got = traces(run.stdout)
  }, 60_000)

  afterAll(async () => {
    killRun(run)
    await host?.destroy()
  })

  it('the clients really spoke HTTP/2 to a real server', () => {
    expect(exitCode).toBe(0)
    expect(sent).toHaveLength(40)
    expect(new Set(sent.map((s) => s.status))).toEqual(new Set([200, 404, 405].filter((c) => sent.some((s) => s.status === c))))
    expect(sent.filter((s) => s.status === 404).map((s) => s.path)).toEqual(sent.filter((s) => s.path.startsWith('/missing/')).map((s) => s.path))
    expect(sent.filter((s) => s.status === 404).length).toBeGreaterThanOrEqual(5)
    expect(curlStatuses).toEqual(['2 200', '2 200', '2 404'])
  })

  it('one exchange per stream, with the method, path and status the client got', () => {
    const key = (m: string, p: string, s: number | string | null) => `${m} ${p} ${s}`
    const want = [...sent.map((s) => key(s.method, s.path, s.status)), 'GET /file0.txt 200', 'GET /file1.txt 200', 'GET /nothing-here 404'].sort()
    const have = got.map((t) => key(t.method, t.resource ?? '', t.status)).sort()
    expect(have).toEqual(want)
    for (const t of got) {
      expect(t).toMatchObject({ protocol: 'http2', tls: false, client: { ip: host.hostIp }, server: { ip: host.nsIp, port: 8080 } })
      expect(t.error).toBe(typeof t.status === 'number' && t.status >= 500)
    }
  })

  it('latencies are within what the client measured; request and response sizes are real', () => {
    // node's client: one session, streams in flight together; the client's time per stream includes
    // its own scheduling, so podtap's (taken on the wire) is at most the client's
    const byConn = new Map<number, TraceRecord[]>()
    for (const t of got) byConn.set(t.client.port, [...(byConn.get(t.client.port) ?? []), t])
    expect([...byConn.values()].map((x) => x.length).sort((x, y) => x - y)).toEqual([1, 1, 1, 40]) // curl's and node's
    const nodeConn = [...byConn.values()].find((x) => x.length === 40)!
    const slowest = Math.max(...sent.map((s) => s.ms))
    for (const t of nodeConn) {
      expect(t.latency_ms).toBeGreaterThan(0)
      expect(t.latency_ms).toBeLessThanOrEqual(slowest + 1)
    }
    // a 200 GET of file2.txt carries its 4,200 bytes of DATA plus frame headers
    const big = got.find((t) => t.method === 'GET' && t.resource === '/file2.txt' && t.status === 200)!
    expect(big.response_bytes).toBeGreaterThan(4200)
    const post = got.find((t) => t.method === 'POST')!
    expect(post.request_bytes).toBeGreaterThan(3000)
  })
})
