// Node.js TLS peers for the node TLS tap tests (test/helpers/node-tls-peer.mjs): a server (HTTPS and
// HTTP/2 over TLS) inside a test namespace and clients on the host, run by this machine's node 20
// or by Debian's node 18.
//
// Debian's nodejs 18 conflicts with the installed nodesource nodejs 20, so it is never installed:
// `apt-get download` fetches nodejs, libnode108 and the three arch-all packages node 18 loads its
// externalized builtins from (/usr/share/nodejs/{cjs-module-lexer,acorn,undici}), `dpkg -x` unpacks
// them into a cache directory, and node 18 runs with LD_LIBRARY_PATH on that copy of libnode and
// (in a private mount namespace) a tmpfs over /usr/share with the cache's /usr/share/nodejs bound
// in: the host's files are not touched. It links the system libssl.so.3.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { runHost, type NetnsHost } from '../../src/demo/netns.js'

const PEER = fileURLToPath(new URL('./node-tls-peer.mjs', import.meta.url))
const CACHE = '/var/cache/podtap-test/node18'
const PACKAGES = ['nodejs=18.*', 'libnode108', 'node-cjs-module-lexer', 'node-acorn', 'node-undici']

export interface NodeBin {
  /** 'node20' or 'node18' */
  name: string
  /** argv prefix that runs this node (the script and its arguments follow) */
  argv: string[]
  version: string
}

export const node20: NodeBin = { name: 'node20', argv: [process.execPath], version: process.version }

/** node 20 copied to dir/name: another file (inode) under another name, found only by its symbols */
export function renamedNode20(dir: string, name: string): NodeBin {
  const path = join(dir, name)
  copyFileSync(process.execPath, path)
  chmodSync(path, 0o755)
  return { name, argv: [path], version: process.version }
}

/**
 * Debian's node 18 from the cache (fetched and unpacked on first use); a string saying why not
 * when it cannot be had (no apt-get, offline).
 */
export function debianNode18(): NodeBin | string {
  const root = join(CACHE, 'x')
  const runner = join(CACHE, 'run.sh')
  if (!existsSync(join(root, 'usr/bin/node')) || !existsSync(runner)) {
    mkdirSync(CACHE, { recursive: true })
    // the debian release's 18 (the security archive may hold a newer libnode108 than nodejs: both 18.20.x)
    const dl = spawnSync('apt-get', ['download', ...PACKAGES], { cwd: CACHE, encoding: 'utf8', timeout: 120_000 })
    if (dl.status !== 0) return `apt-get download ${PACKAGES.join(' ')} failed: ${(dl.stderr ?? dl.error?.message ?? '').trim().slice(-300)}`
    for (const deb of readdirSync(CACHE).filter((f) => f.endsWith('.deb'))) {
      const x = spawnSync('dpkg', ['-x', join(CACHE, deb), root], { encoding: 'utf8' })
      if (x.status !== 0) return `dpkg -x ${deb} failed: ${x.stderr.trim()}`
    }
    writeFileSync(
      runner,
      '#!/bin/sh\n' +
        `# Debian's node 18 unpacked in ${root}; see test/helpers/node-tls.ts\n` +
        'exec unshare -m --propagation private sh -c "' +
        'mount -t tmpfs tmpfs /usr/share && mkdir /usr/share/nodejs && ' +
        `mount --bind ${root}/usr/share/nodejs /usr/share/nodejs && ` +
        `LD_LIBRARY_PATH=${root}/usr/lib/x86_64-linux-gnu exec ${root}/usr/bin/node \\"\\$@\\"" node18 "$@"\n`,
    )
    chmodSync(runner, 0o755)
  }
  const v = spawnSync(runner, ['-e', 'process.stdout.write(process.version)'], { encoding: 'utf8', timeout: 30_000 })
  if (v.status !== 0 || !v.stdout.startsWith('v18.')) return `Debian's node 18 does not run: ${(v.stderr ?? '').trim().slice(-300)}`
  return { name: 'node18', argv: [runner], version: v.stdout }
}

export interface PeerLine {
  ev: string
  proto?: 'h1' | 'h2'
  path?: string
  status?: number
  local?: { ip: string; port: number }
  remote?: { ip: string; port: number }
  pid?: number
}

function lines(s: string): PeerLine[] {
  return s
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as PeerLine)
}

export interface NodeServer {
  pid: number
  h1Port: number
  h2Port: number
  /** the requests the server logged so far */
  requests(): PeerLine[]
  stop(): Promise<void>
}

/** A TLS key pair made with `openssl req` in dir. */
export async function makeCert(dir: string): Promise<{ key: string; cert: string }> {
  const key = join(dir, 'key.pem')
  const cert = join(dir, 'cert.pem')
  if (!existsSync(cert)) {
    const gen = await runHost('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=test', '-days', '1', '-keyout', key, '-out', cert])
    if (gen.code !== 0) throw new Error(`openssl req failed: ${gen.stderr.trim()}`)
  }
  return { key, cert }
}

/**
 * bin with a prefix (outside any `ip netns exec`: that mounts a /sys without /sys/fs/cgroup) that first moves the process into the cgroup directories given (v1: one per
 * hierarchy, by writing its pid to cgroup.procs), then execs: the pid stays the same throughout.
 */
export function inCgroups(bin: NodeBin, dirs: readonly string[]): NodeBin {
  if (dirs.length === 0) return bin
  const moves = dirs.map((d) => `echo $$ > ${d}/cgroup.procs`).join(' && ')
  return { ...bin, argv: ['sh', '-c', `${moves} && exec "$@"`, 'sh', ...bin.argv] }
}

/** bin run inside a network namespace (ip netns exec, which execs in place) */
export function inNetns(bin: NodeBin, ns: string): NodeBin {
  return { ...bin, argv: ['ip', 'netns', 'exec', ns, ...bin.argv] }
}

/**
 * The peer server run by bin inside host's namespace on listen (default nsIp):h1Port (HTTPS) and
 * :h2Port (HTTP/2).
 */
export async function startNodeServer(
  host: NetnsHost,
  bin: NodeBin,
  h1Port: number,
  h2Port: number,
  opts: { listen?: string; cgroups?: readonly string[] } = {},
): Promise<NodeServer> {
  const { key, cert } = await makeCert(host.tmpDir())
  // cgroups are entered before the namespace: `ip netns exec` mounts a /sys without /sys/fs/cgroup
  const run = inCgroups(inNetns(bin, host.ns), opts.cgroups ?? [])
  const argv = [...run.argv, PEER, 'server', opts.listen ?? host.nsIp, String(h1Port), String(h2Port), key, cert]
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  child.stdout.on('data', (b: Buffer) => (out += b.toString()))
  child.stderr.on('data', (b: Buffer) => (err += b.toString()))
  const ready = await new Promise<PeerLine>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${bin.name} server not ready: ${err}`)), 30_000)
    const check = (): void => {
      const r = lines(out).find((l) => l.ev === 'ready')
      if (r !== undefined) {
        clearTimeout(t)
        resolve(r)
      }
    }
    child.stdout.on('data', check)
    child.once('exit', (code) => {
      clearTimeout(t)
      reject(new Error(`${bin.name} server exited (${code}): ${err}`))
    })
  })
  return {
    pid: ready.pid!,
    h1Port,
    h2Port,
    requests: () => lines(out).filter((l) => l.ev === 'req'),
    stop: () => stopChild(child),
  }
}

export interface NodeClientRun {
  pid: number
  code: number | null
  /** one line per response, as the client saw it */
  responses: PeerLine[]
  stderr: string
}

/** The peer client run by bin on the host: conns connections x perConn requests, over HTTPS then HTTP/2. */
export function runNodeClient(
  bin: NodeBin,
  ip: string,
  server: NodeServer,
  conns: number,
  perConn: number,
  tag: string,
  opts: { lingerMs?: number } = {},
): Promise<NodeClientRun> {
  const child = spawn(bin.argv[0]!, [...bin.argv.slice(1), PEER, 'client', ip, String(server.h1Port), String(server.h2Port), String(conns), String(perConn), tag], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, PEER_LINGER_MS: String(opts.lingerMs ?? 0) },
  })
  let out = ''
  let err = ''
  child.stdout.on('data', (b: Buffer) => (out += b.toString()))
  child.stderr.on('data', (b: Buffer) => (err += b.toString()))
  const t = setTimeout(() => child.kill('SIGKILL'), 45_000)
  return new Promise((resolve) =>
    child.once('close', (code) => {
      clearTimeout(t)
      resolve({ pid: child.pid!, code, responses: lines(out).filter((l) => l.ev === 'res'), stderr: err })
    }),
  )
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  return new Promise((resolve) => {
    const t = setTimeout(() => child.kill('SIGKILL'), 3000)
    child.once('close', () => {
      clearTimeout(t)
      resolve()
    })
    child.kill('SIGTERM')
  })
}
