// Test helpers for the TLS tap: nginx serving HTTPS inside a network namespace (src/demo/netns.ts
// startNginx only does plain HTTP), a curl run whose pid is known, and a chunk collector that copies
// the borrowed chunk data.

import { spawn } from 'node:child_process'
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { runHost, runNginx, stopNginx, type NetnsHost } from '../../src/demo/netns.js'
import type { TlsChunk } from '../../src/tls/tap.js'

export interface NginxTls {
  /** https://<nsIp>:<port>/ */
  url: string
  port: number
  /** nginx master pid (in the root pid namespace: netns does not change pids) */
  masterPid: number
  /** the single worker's pid: the process that calls SSL_read/SSL_write */
  workerPid: number
  /** the web root: files written here are served */
  www: string
  stop(): Promise<void>
}

/**
 * nginx with a self-signed certificate (made here with `openssl req`), one worker, HTTP/1.1 only
 * (no http2, so curl's ALPN settles on http/1.1), serving `files` from a temp dir; /upload answers
 * 200 "ok" to any method (a POST target).
 */
export async function startNginxTls(host: NetnsHost, files: Record<string, Buffer | string>, port = 443): Promise<NginxTls> {
  const dir = host.tmpDir()
  const www = join(dir, 'www')
  mkdirSync(www)
  chmodSync(www, 0o755)
  for (const [name, body] of Object.entries(files)) {
    writeFileSync(join(www, name), body)
    chmodSync(join(www, name), 0o644)
  }
  const key = join(dir, 'key.pem')
  const cert = join(dir, 'cert.pem')
  const gen = await runHost('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=test', '-days', '1', '-keyout', key, '-out', cert])
  if (gen.code !== 0) throw new Error(`openssl req failed: ${gen.stderr.trim()}`)
  const child = await runNginx(host, dir, port, {
    http: [
      'default_type application/octet-stream;',
      'sendfile off;', // with TLS nginx writes through SSL_write anyway; keep the path explicit
    ],
    server: [
      `listen ${host.nsIp}:${port} ssl;`,
      `ssl_certificate ${cert};`,
      `ssl_certificate_key ${key};`,
      `root ${www};`,
      'client_max_body_size 64m;',
      'location = /upload { return 200 "ok\\n"; }', // POST target: nginx reads and discards the body
    ],
  })
  // `ip netns exec` execs nginx in place: the spawned pid is the master
  const masterPid = child.pid!
  let workerPid = 0
  for (let i = 0; i < 100 && workerPid === 0; i++) {
    const kids = readFileSync(`/proc/${masterPid}/task/${masterPid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean)
    if (kids.length > 0) workerPid = Number(kids[0])
    else await new Promise((r) => setTimeout(r, 50))
  }
  if (workerPid === 0) throw new Error('nginx worker did not start')
  return {
    url: `https://${host.nsIp}:${port}/`,
    port,
    masterPid,
    workerPid,
    www,
    stop: () => stopNginx(child),
  }
}

export interface CurlRun {
  pid: number
  code: number
  stdout: string
  stderr: string
}

/** Runs curl in the root namespace and resolves with its pid and output. */
export function curl(args: readonly string[], timeoutMs = 30_000): Promise<CurlRun> {
  return new Promise((resolve, reject) => {
    const c = spawn('curl', args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs })
    let stdout = ''
    let stderr = ''
    c.stdout.on('data', (b: Buffer) => (stdout += b.toString('latin1')))
    c.stderr.on('data', (b: Buffer) => (stderr += b.toString()))
    c.once('error', reject)
    c.once('close', (code) => resolve({ pid: c.pid!, code: code ?? -1, stdout, stderr }))
  })
}

/**
 * GETs `paths` from `base` (https://host:port) in one curl run over HTTP/1.1: one keep-alive
 * connection; `extra` curl arguments go first (e.g. --resolve). The status curl saw for each path.
 */
export async function curlGets(base: string, paths: readonly string[], extra: readonly string[] = []): Promise<{ path: string; status: number }[]> {
  const args = ['-sk', '--http1.1', ...extra, '-w', '%{response_code}\\n']
  for (const p of paths) args.push('-o', '/dev/null', `${base}${p}`)
  const r = await curl(args)
  const codes = r.stdout.trim().split('\n').map(Number)
  return paths.map((p, i) => ({ path: p, status: codes[i]! }))
}

/** A chunk whose data was copied out of the ring. */
export type KeptChunk = Omit<TlsChunk, 'data'> & { data: Buffer }

/** Collects chunks (copying their data) for later assertions; SSL_free close records apart. */
export class ChunkLog {
  readonly chunks: KeptChunk[] = []
  /** close records (dir 'closed': SSL_free), which carry no data and no 4-tuple */
  readonly closes: KeptChunk[] = []
  readonly onChunk = (c: TlsChunk): void => {
    ;(c.dir === 'closed' ? this.closes : this.chunks).push({ ...c, data: Buffer.from(c.data) })
  }

  of(pid: number, dir?: 'sent' | 'received'): KeptChunk[] {
    return this.chunks.filter((c) => c.pid === pid && (dir === undefined || c.dir === dir))
  }

  /** Concatenated data of one process in one direction, in arrival order. */
  bytes(pid: number, dir: 'sent' | 'received'): Buffer {
    return Buffer.concat(this.of(pid, dir).map((c) => c.data))
  }

  /** Sum of len (bytes the calls moved) of one process in one direction. */
  len(pid: number, dir: 'sent' | 'received'): number {
    return this.of(pid, dir).reduce((n, c) => n + c.len, 0)
  }

  clear(): void {
    this.chunks.length = 0
    this.closes.length = 0
  }
}

/** Polls `cond` (after a drain) every 20 ms until true or timeoutMs; returns the last result. */
export async function until(cond: () => boolean, timeoutMs = 5000, drain?: () => void): Promise<boolean> {
  const end = Date.now() + timeoutMs
  for (;;) {
    drain?.()
    if (cond()) return true
    if (Date.now() > end) return false
    await new Promise((r) => setTimeout(r, 20))
  }
}
