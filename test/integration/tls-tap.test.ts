// The TLS plaintext tap against real OpenSSL users: nginx serving HTTPS in a network namespace and
// curl in the root namespace, both linked to the system libssl.so.3. Needs root (uprobes, BPF);
// elsewhere skips with the reason printed.

import { randomBytes } from 'node:crypto'
import { readdirSync } from 'node:fs'
import { spawn, spawnSync } from 'node:child_process'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { cleanupStale, createTestHost, needRoot, type TestHost } from '../helpers/netns.js'
import { openTlsTap, type TlsTap } from '../../src/tls/tap.js'
import { findLibssl } from '../../src/tls/libssl.js'
import { ChunkLog, curl, startNginxTls, until, type CurlRun, type NginxTls } from '../helpers/tls.js'
import { TLS_ABI } from '../../src/tls/abi.js'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'

function have(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0
}

const skip =
  needRoot() ??
  (!have('nginx') ? 'no nginx' : !have('curl') ? 'no curl' : !have('openssl') ? 'no openssl' : findLibssl().length === 0 ? 'no libssl' : null)
if (skip !== null) console.log(`TLS tap tests skipped: ${skip}`)

const fdCount = () => readdirSync('/proc/self/fd').length
const BIG = randomBytes(1 << 20)
const FILES = { 'a.txt': 'alpha\n', 'b.txt': 'bravo bravo\n', 'c.txt': 'charlie charlie charlie\n', 'big.bin': BIG }

/** Splits an HTTP/1.1 response stream at the end of its header block. */
function splitHead(b: Buffer): { head: string; body: Buffer } {
  const at = b.indexOf('\r\n\r\n')
  return { head: b.toString('latin1', 0, at + 4), body: b.subarray(at + 4) }
}

describe.skipIf(skip !== null)('TLS tap on nginx + curl (OpenSSL uprobes)', () => {
  let host: TestHost
  let nginx: NginxTls
  let tap: TlsTap
  const log = new ChunkLog()
  let fdsBefore = 0

  beforeAll(async () => {
    cleanupStale()
    host = await createTestHost({ name: 'tls' })
    nginx = await startNginxTls(host, FILES)
    fdsBefore = fdCount()
    tap = openTlsTap({ onChunk: log.onChunk })
  })

  afterAll(async () => {
    await tap?.close()
    await nginx?.stop()
    await host?.destroy()
  })

  it('attaches SSL_write/SSL_read (+_ex) entry and return probes and the two socket hooks', () => {
    const syms = tap.probes.map((p) => `${p.kind}:${p.symbol}`)
    for (const s of ['SSL_write', 'SSL_read']) {
      expect(syms).toContain(`uprobe:${s}`)
      expect(syms).toContain(`uretprobe:${s}`)
    }
    expect(tap.probes.filter((p) => p.kind === tap.socketHook && p.symbol !== 'sched_process_exit')).toHaveLength(2)
    // and the thread-exit cleanup, and SSL_free (close records)
    expect(syms).toContain('raw_tp:sched_process_exit')
    expect(syms).toContain('uprobe:SSL_free')
  })

  it('sees nothing from nginx or port 443 while nothing happens', async () => {
    await new Promise((r) => setTimeout(r, 300))
    tap.drain()
    const ours = log.chunks.filter((c) => c.pid === nginx.workerPid || c.remote?.port === nginx.port || c.local?.port === nginx.port)
    expect(ours).toEqual([])
  })

  it('one request: plaintext both ways, on both processes, with the 4-tuple and curl\'s byte counts', async () => {
    log.clear()
    const r = await curl(['-sk', '--http1.1', '-o', '/dev/null', '-w', '%{size_request} %{size_header} %{size_download} %{local_port}', `${nginx.url}a.txt`])
    expect(r.code).toBe(0)
    const [reqBytes, headBytes, bodyBytes, localPort] = r.stdout.trim().split(' ').map(Number)
    const want = reqBytes! + headBytes! + bodyBytes!
    const seen = await until(() => log.len(r.pid, 'sent') + log.len(r.pid, 'received') >= want && log.len(nginx.workerPid, 'sent') >= headBytes! + bodyBytes!, 5000, () => tap.drain())
    expect(seen, `chunks: ${JSON.stringify(log.chunks.map((c) => [c.pid, c.dir, c.len]))}`).toBe(true)

    const curlSent = log.bytes(r.pid, 'sent')
    const curlRecv = log.bytes(r.pid, 'received')
    expect(curlSent.toString('latin1')).toMatch(/^GET \/a\.txt HTTP\/1\.1\r\nHost: /)
    expect(curlSent.length).toBe(reqBytes)
    expect(curlRecv.toString('latin1')).toMatch(/^HTTP\/1\.1 200 OK\r\n/)
    expect(curlRecv.length).toBe(headBytes! + bodyBytes!)
    expect(splitHead(curlRecv).body.toString()).toBe('alpha\n')
    // nginx saw the same bytes the other way round
    expect(log.bytes(nginx.workerPid, 'received').equals(curlSent)).toBe(true)
    expect(log.bytes(nginx.workerPid, 'sent').equals(curlRecv)).toBe(true)
    // 4-tuple: curl's local port is nginx's remote port; the addresses are the veth addresses
    for (const c of log.of(r.pid)) {
      expect(c.local).toEqual({ ip: host.hostIp, port: localPort })
      expect(c.remote).toEqual({ ip: host.nsIp, port: nginx.port })
      expect(c.comm).toBe('curl')
    }
    for (const c of log.of(nginx.workerPid)) {
      expect(c.local).toEqual({ ip: host.nsIp, port: nginx.port })
      expect(c.remote).toEqual({ ip: host.hostIp, port: localPort })
      expect(c.comm).toBe('nginx')
    }
    // one SSL object per side; times are now-ish wall clock
    expect(new Set(log.of(r.pid).map((c) => c.ssl)).size).toBe(1)
    expect(new Set(log.of(nginx.workerPid).map((c) => c.ssl)).size).toBe(1)
    for (const c of log.chunks) expect(Math.abs(c.tsUs / 1000 - Date.now())).toBeLessThan(10_000)
  })

  it('keep-alive: three URLs on one connection arrive in order on one SSL object', async () => {
    log.clear()
    const urls = ['a.txt', 'b.txt', 'c.txt'].map((f) => nginx.url + f)
    const r = await curl(['-sk', '--http1.1', ...urls.flatMap((u) => ['-o', '/dev/null', u]), '-w', '%{num_connects} %{size_request}\n'])
    expect(r.code).toBe(0)
    const lines = r.stdout.trim().split('\n').map((l) => l.split(' ').map(Number))
    expect(lines.map((l) => l[0])).toEqual([1, 0, 0]) // one connect, reused twice
    const reqTotal = lines.reduce((n, l) => n + l[1]!, 0)
    await until(() => (log.bytes(nginx.workerPid, 'sent').toString('latin1').match(/HTTP\/1\.1 200/g) ?? []).length === 3, 5000, () => tap.drain())
    const sent = log.bytes(r.pid, 'sent').toString('latin1')
    expect([...sent.matchAll(/^GET (\S+) HTTP\/1\.1/gm)].map((m) => m[1])).toEqual(['/a.txt', '/b.txt', '/c.txt'])
    expect(sent.length).toBe(reqTotal)
    expect(log.bytes(nginx.workerPid, 'received').toString('latin1')).toBe(sent)
    const recv = log.bytes(r.pid, 'received').toString('latin1')
    expect(recv.match(/HTTP\/1\.1 200 OK/g)).toHaveLength(3)
    expect(recv).toContain('alpha\n')
    expect(recv.indexOf('bravo bravo\n')).toBeGreaterThan(recv.indexOf('alpha\n'))
    expect(recv.indexOf('charlie charlie charlie\n')).toBeGreaterThan(recv.indexOf('bravo bravo\n'))
    expect(new Set(log.of(r.pid).map((c) => c.ssl)).size).toBe(1)
    expect(new Set(log.of(r.pid).map((c) => c.local?.port)).size).toBe(1)
  })

  it('N separate curls: every one seen, each with its own port', async () => {
    log.clear()
    const N = 10
    const runs: CurlRun[] = []
    for (let i = 0; i < N; i++) runs.push(await curl(['-sk', '--http1.1', '-o', '/dev/null', '-w', '%{local_port}', `${nginx.url}b.txt`]))
    await until(() => runs.every((r) => log.bytes(r.pid, 'received').includes('bravo bravo\n')), 5000, () => tap.drain())
    for (const r of runs) {
      expect(log.bytes(r.pid, 'sent').toString('latin1')).toMatch(/^GET \/b\.txt HTTP\/1\.1\r\n/)
      expect(log.bytes(r.pid, 'received').toString('latin1')).toMatch(/^HTTP\/1\.1 200 OK\r\n[^]*bravo bravo\n$/)
      expect(log.of(r.pid)[0]!.local!.port).toBe(Number(r.stdout))
    }
    const ports = new Set(log.of(nginx.workerPid, 'received').map((c) => c.remote?.port))
    expect(ports).toEqual(new Set(runs.map((r) => Number(r.stdout))))
  })

  it('a 1 MiB response arrives whole and in order on both sides', async () => {
    log.clear()
    const r = await curl(['-sk', '--http1.1', '-o', '/dev/null', '-w', '%{size_header} %{size_download}', `${nginx.url}big.bin`])
    const [headBytes, bodyBytes] = r.stdout.split(' ').map(Number)
    expect(bodyBytes).toBe(BIG.length)
    // both sides: nginx's last SSL_write can return (and be reported) after curl's last SSL_read did
    const whole = headBytes! + bodyBytes!
    await until(() => log.len(r.pid, 'received') >= whole && log.len(nginx.workerPid, 'sent') >= whole, 10_000, () => tap.drain())
    const recv = log.bytes(r.pid, 'received')
    expect(recv.length).toBe(headBytes! + bodyBytes!)
    expect(splitHead(recv).body.equals(BIG)).toBe(true)
    expect(log.bytes(nginx.workerPid, 'sent').equals(recv)).toBe(true)
    const c = tap.counters()
    expect(c.dropFull).toBe(0)
    expect(c.malformed).toBe(0)
  })

  it('an upload larger than one chunk per SSL_write is split into in-order chunks, none lost', async () => {
    log.clear()
    const body = randomBytes(300 * 1024)
    const file = join(host.tmpDir(), 'upload.bin')
    writeFileSync(file, body)
    const before = tap.counters()
    const r = await curl(['-sk', '--http1.1', '-o', '/dev/null', '-w', '%{size_request} %{size_upload}', '-H', 'Expect:', '--data-binary', `@${file}`, `${nginx.url}upload`])
    const [reqBytes, upBytes] = r.stdout.split(' ').map(Number)
    expect(upBytes).toBe(body.length)
    await until(() => log.len(r.pid, 'sent') >= reqBytes! + upBytes!, 10_000, () => tap.drain())
    const sent = log.bytes(r.pid, 'sent')
    expect(sent.length).toBe(reqBytes! + upBytes!)
    expect(splitHead(sent).body.equals(body)).toBe(true)
    // curl writes the upload in buffers larger than one record: those calls came as several chunks
    const chunks = log.of(r.pid, 'sent')
    expect(chunks.every((c) => c.data.length <= TLS_ABI.CHUNK_BYTES && c.data.length === c.len)).toBe(true)
    expect(chunks.filter((c) => c.len === TLS_ABI.CHUNK_BYTES).length).toBeGreaterThanOrEqual(body.length / TLS_ABI.CHUNK_BYTES - 1)
    const after = tap.counters()
    expect(after.truncated - before.truncated).toBe(0)
    expect(after.readFault - before.readFault).toBe(0)
  })

  it('a pid allow-list keeps only those processes', async () => {
    const only = new ChunkLog()
    const t2 = openTlsTap({ onChunk: only.onChunk, pids: [nginx.workerPid] })
    try {
      const r = await curl(['-sk', '--http1.1', '-o', '/dev/null', `${nginx.url}c.txt`])
      await until(() => only.bytes(nginx.workerPid, 'sent').includes('charlie'), 5000, () => t2.drain())
      expect(only.bytes(nginx.workerPid, 'received').toString('latin1')).toMatch(/^GET \/c\.txt HTTP\/1\.1/)
      expect(only.of(r.pid)).toEqual([])
      expect(new Set(only.chunks.map((c) => c.pid))).toEqual(new Set([nginx.workerPid]))
    } finally {
      await t2.close()
    }
  })

  it('onExec: every exec on the host is reported with its pid, not as a chunk', async () => {
    const execs: number[] = []
    const chunks = new ChunkLog()
    const t2 = openTlsTap({ onChunk: chunks.onChunk, onExec: (pid) => execs.push(pid) })
    try {
      expect(t2.probes.map((p) => `${p.kind}:${p.symbol}`)).toContain('raw_tp:sched_process_exec')
      // sh execs itself, then env (same pid, a second exec): both reported with that pid
      const c = spawn('sh', ['-c', 'exec env true'], { stdio: 'ignore' })
      await new Promise((r) => c.once('close', r))
      await until(() => execs.filter((p) => p === c.pid).length >= 2, 5000, () => t2.drain())
      expect(chunks.of(c.pid!)).toEqual([])
    } finally {
      await t2.close()
    }
    // without onExec the program is not attached
    const t3 = openTlsTap({ onChunk: () => undefined })
    expect(t3.probes.map((p) => p.symbol)).not.toContain('sched_process_exec')
    await t3.close()
  })

  it('close() detaches everything: no events after, no fds left over several open/close cycles', async () => {
    await tap.close()
    log.clear()
    await curl(['-sk', '--http1.1', '-o', '/dev/null', `${nginx.url}a.txt`])
    await new Promise((r) => setTimeout(r, 200))
    expect(log.chunks).toEqual([])
    expect(fdCount()).toBe(fdsBefore)
    for (let i = 0; i < 3; i++) {
      const t = openTlsTap({ onChunk: () => undefined })
      expect(fdCount()).toBeGreaterThan(fdsBefore)
      await t.close()
      expect(fdCount()).toBe(fdsBefore)
    }
  })
})
