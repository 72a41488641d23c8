// Hosts in network namespaces: a namespace with a veth pair to the root namespace, servers spawned
// inside it, everything removed afterwards. `podtap demo` builds its pods with this; the integration
// tests use it through test/helpers/netns.ts (one copy of the logic).
//
//   root namespace                               namespace <prefix><name>-<pid>
//   <veth>h  10.213.<n>.1/30  <── veth ──>        eth0  10.213.<n>.2/30   (lo up)
//            fd00:213:<n>::1/126                        fd00:213:<n>::2/126
//
// Guarantees: destroy() is idempotent, kills every process spawned through the host (SIGTERM to the
// process group, SIGKILL after 2 s), deletes the namespace (which deletes the veth pair) and the temp
// directories. Hosts still alive when the process exits are destroyed synchronously from an 'exit'
// hook. cleanupStale() removes what a crashed run left behind (namespaces <prefix><name>-<pid> whose
// pid is gone). Subnets are taken with a lock directory per <n>, so parallel processes (test files, a
// demo) never share one. Addresses stay inside 10.213.0.0/16 and fd00:213::/32.

import { execFile, execFileSync, spawn as spawnChild, type ChildProcess, type SpawnOptions } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** Prefix of the test namespaces (and of veth pair aliases); cleanupStale() only touches its own prefix. */
export const NS_PREFIX = 'podtap-t-'
/** Prefix of the namespaces `podtap demo` creates. */
export const DEMO_NS_PREFIX = 'podtap-demo-'
/** Lock directories for taken subnets: <LOCK_DIR>/<n> holds the owner's pid (shared by tests and demo). */
const LOCK_DIR = '/run/podtap-test/subnets'

export interface NetnsHostOptions {
  /** short label, part of the namespace name: [a-z0-9]{1,12} */
  name: string
  /**
   * the subnet 10.213.<n>.0/30 to use (n in 1..254), or the namespace-side address '10.213.<n>.2'.
   * Default: the first n no other live process holds.
   */
  ip?: number | string
  /** namespace name prefix (default NS_PREFIX); the name is <prefix><name>-<pid> */
  prefix?: string
  /** first two characters of the host-side veth name (default 'pt'): <vethPrefix><6 hex>h */
  vethPrefix?: string
}

export interface ExecResult {
  code: number
  stdout: string
  stderr: string
}

export interface NetnsHost {
  /** the label given to createNetnsHost */
  readonly name: string
  /** namespace name, <prefix><name>-<pid> */
  readonly ns: string
  /** host side of the veth pair, in the root namespace: capture here */
  readonly hostIf: string
  readonly hostIfindex: number
  /** namespace side of the veth pair (inside the namespace) */
  readonly nsIf: 'eth0'
  readonly hostIp: string
  readonly nsIp: string
  readonly hostIp6: string
  readonly nsIp6: string
  /** the n of 10.213.<n>.0/30 */
  readonly subnet: number
  /**
   * Runs a command inside the namespace and waits for it. A string goes through `sh -c`.
   * Rejects when the exit code is not 0, unless allowFail is set.
   */
  exec(cmd: string | string[], opts?: { allowFail?: boolean; timeoutMs?: number; input?: string }): Promise<ExecResult>
  /** Starts a long-running command inside the namespace; killed by destroy() (its whole process group). */
  spawn(cmd: string[], opts?: SpawnOptions): ChildProcess
  /** A temp directory owned by this host, removed by destroy(). */
  tmpDir(): string
  /** Idempotent. Kills spawned processes, deletes the namespace and veth, releases the subnet. */
  destroy(): Promise<void>
}

const live = new Set<HostImpl>()
let exitHookInstalled = false

function installExitHook(): void {
  if (exitHookInstalled) return
  exitHookInstalled = true
  process.on('exit', () => {
    for (const h of live) h.destroySync()
    for (const p of livePairs) p.destroy()
  })
}

/** Runs a command in the current (root) namespace; never rejects. */
export function runHost(cmd: string, args: string[], opts: { timeoutMs?: number; input?: string } = {}): Promise<ExecResult> {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { timeout: opts.timeoutMs ?? 30_000, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1
      resolve({ code, stdout: String(stdout), stderr: String(stderr) || (err !== null && code === 1 ? err.message : '') })
    })
    if (opts.input !== undefined) child.stdin?.end(opts.input)
  })
}

/** Runs a command synchronously, true when it exited 0. */
export function runSync(args: string[]): boolean {
  try {
    execFileSync(args[0]!, args.slice(1), { stdio: 'ignore', timeout: 10_000 })
    return true
  } catch {
    return false
  }
}

async function ip(...args: string[]): Promise<void> {
  const r = await runHost('ip', args)
  if (r.code !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr.trim()}`)
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** Takes subnet n with an atomic mkdir; a lock whose owner pid is dead is taken over. */
function tryLockSubnet(n: number): boolean {
  const dir = join(LOCK_DIR, String(n))
  try {
    mkdirSync(dir)
  } catch {
    let owner = 0
    try {
      owner = Number(readFileSync(join(dir, 'pid'), 'utf8'))
    } catch {
      // lock dir without pid file: its creator is between mkdir and write, or crashed there
      return false
    }
    if (owner > 0 && pidAlive(owner)) return false
    rmSync(dir, { recursive: true, force: true })
    try {
      mkdirSync(dir)
    } catch {
      return false
    }
  }
  writeFileSync(join(dir, 'pid'), String(process.pid))
  return true
}

function unlockSubnet(n: number): void {
  rmSync(join(LOCK_DIR, String(n)), { recursive: true, force: true })
}

function parseSubnet(ip: number | string | undefined): number | undefined {
  if (ip === undefined) return undefined
  const n = typeof ip === 'number' ? ip : Number(/^10\.213\.(\d+)\.2$/.exec(ip)?.[1] ?? NaN)
  if (!Number.isInteger(n) || n < 1 || n > 254) throw new Error(`createNetnsHost: ip ${ip} is not 1..254 or 10.213.<n>.2`)
  return n
}

function ifindexOf(name: string): number {
  return Number(readFileSync(`/sys/class/net/${name}/ifindex`, 'utf8'))
}

class HostImpl implements NetnsHost {
  readonly nsIf = 'eth0' as const
  readonly hostIp: string
  readonly nsIp: string
  readonly hostIp6: string
  readonly nsIp6: string
  hostIfindex = 0
  private readonly children = new Set<ChildProcess>()
  private readonly dirs: string[] = []
  private destroyed = false

  constructor(
    readonly name: string,
    readonly ns: string,
    readonly hostIf: string,
    readonly subnet: number,
  ) {
    this.hostIp = `10.213.${subnet}.1`
    this.nsIp = `10.213.${subnet}.2`
    this.hostIp6 = `fd00:213:${subnet.toString(16)}::1`
    this.nsIp6 = `fd00:213:${subnet.toString(16)}::2`
  }

  async setUp(): Promise<void> {
    const tmpPeer = this.hostIf.slice(0, -1) + 'n'
    await ip('netns', 'add', this.ns)
    await ip('link', 'add', this.hostIf, 'type', 'veth', 'peer', 'name', tmpPeer)
    await ip('link', 'set', tmpPeer, 'netns', this.ns)
    await ip('-n', this.ns, 'link', 'set', tmpPeer, 'name', 'eth0')
    await ip('addr', 'add', `${this.hostIp}/30`, 'dev', this.hostIf)
    await ip('-6', 'addr', 'add', `${this.hostIp6}/126`, 'dev', this.hostIf, 'nodad')
    await ip('-n', this.ns, 'addr', 'add', `${this.nsIp}/30`, 'dev', 'eth0')
    await ip('-n', this.ns, '-6', 'addr', 'add', `${this.nsIp6}/126`, 'dev', 'eth0', 'nodad')
    await ip('link', 'set', this.hostIf, 'up')
    await ip('-n', this.ns, 'link', 'set', 'lo', 'up')
    await ip('-n', this.ns, 'link', 'set', 'eth0', 'up')
    await ip('-n', this.ns, 'route', 'add', 'default', 'via', this.hostIp)
    this.hostIfindex = ifindexOf(this.hostIf)
  }

  exec(cmd: string | string[], opts: { allowFail?: boolean; timeoutMs?: number; input?: string } = {}): Promise<ExecResult> {
    const argv = typeof cmd === 'string' ? ['sh', '-c', cmd] : cmd
    return runHost('ip', ['netns', 'exec', this.ns, ...argv], opts).then((r) => {
      if (r.code !== 0 && opts.allowFail !== true) {
        throw new Error(`in ${this.ns}: ${argv.join(' ')} exited ${r.code}: ${r.stderr.trim().slice(0, 2000)}`)
      }
      return r
    })
  }

  spawn(cmd: string[], opts: SpawnOptions = {}): ChildProcess {
    if (this.destroyed) throw new Error(`${this.ns} is destroyed`)
    // detached: own process group, so destroy() kills the command and whatever it forked
    const child = spawnChild('ip', ['netns', 'exec', this.ns, ...cmd], { stdio: 'pipe', ...opts, detached: true })
    this.children.add(child)
    child.once('exit', () => this.children.delete(child))
    return child
  }

  tmpDir(): string {
    const d = mkdtempSync(join(tmpdir(), `${this.ns}-`))
    chmodSync(d, 0o755) // nginx workers run as nobody and must read the static files
    this.dirs.push(d)
    return d
  }

  async destroy(): Promise<void> {
    if (this.destroyed) return
    const waits = [...this.children].map(
      (c) => new Promise<void>((resolve) => {
        if (c.exitCode !== null || c.signalCode !== null) return resolve()
        const t = setTimeout(() => {
          killGroup(c, 'SIGKILL')
          resolve()
        }, 2000)
        c.once('exit', () => {
          clearTimeout(t)
          resolve()
        })
        killGroup(c, 'SIGTERM')
      }),
    )
    await Promise.all(waits)
    this.destroySync()
  }

  /** Synchronous teardown, for the 'exit' hook; also the tail of destroy(). */
  destroySync(): void {
    if (this.destroyed) return
    this.destroyed = true
    live.delete(this)
    for (const c of this.children) killGroup(c, 'SIGKILL')
    removeNamespace(this.ns)
    runSync(['ip', 'link', 'del', this.hostIf]) // normally gone with the namespace already
    for (const d of this.dirs) rmSync(d, { recursive: true, force: true })
    unlockSubnet(this.subnet)
  }
}

export function killGroup(c: ChildProcess, sig: NodeJS.Signals): void {
  if (c.pid === undefined) return
  try {
    process.kill(-c.pid, sig)
  } catch {
    // already gone
  }
}

/** Kills whatever still runs in the namespace, then deletes it (and the veth end inside it). */
function removeNamespace(ns: string): void {
  try {
    const pids = execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8', timeout: 10_000 })
    for (const p of pids.split('\n').filter(Boolean)) {
      try {
        process.kill(Number(p), 'SIGKILL')
      } catch {
        // exited meanwhile
      }
    }
  } catch {
    // namespace already gone
  }
  runSync(['ip', 'netns', 'del', ns])
}

/**
 * Creates a namespace with a veth pair to the host, addresses, lo up and a default route via the
 * host side. The host side name is <vethPrefix><6 hex>h (9 chars, under IFNAMSIZ 16).
 */
export async function createNetnsHost(opts: NetnsHostOptions): Promise<NetnsHost> {
  if (!/^[a-z0-9]{1,12}$/.test(opts.name)) throw new Error(`createNetnsHost: name ${opts.name} must be [a-z0-9]{1,12}`)
  const vethPrefix = opts.vethPrefix ?? 'pt'
  if (!/^[a-z]{2}$/.test(vethPrefix)) throw new Error(`createNetnsHost: vethPrefix ${vethPrefix} must be two letters`)
  mkdirSync(LOCK_DIR, { recursive: true })
  let subnet = parseSubnet(opts.ip)
  if (subnet !== undefined) {
    if (!tryLockSubnet(subnet)) throw new Error(`createNetnsHost: subnet 10.213.${subnet}.0/30 is in use`)
  } else {
    // start at a pid-derived point so parallel processes rarely contend for the same lock
    const start = process.pid % 254
    for (let i = 0; i < 254 && subnet === undefined; i++) {
      const n = ((start + i) % 254) + 1
      if (tryLockSubnet(n)) subnet = n
    }
    if (subnet === undefined) throw new Error('createNetnsHost: no free subnet in 10.213.1-254.0/30')
  }
  const ns = `${opts.prefix ?? NS_PREFIX}${opts.name}-${process.pid}`
  const host = new HostImpl(opts.name, ns, `${vethPrefix}${randomBytes(3).toString('hex')}h`, subnet)
  installExitHook()
  live.add(host)
  try {
    await host.setUp()
  } catch (e) {
    host.destroySync()
    throw e
  }
  return host
}

/**
 * Removes leftovers of crashed runs: namespaces <prefix><name>-<pid> and veth pairs aliased
 * <prefix><pid> whose pid is no longer alive (with all=true: every one not owned by this process),
 * and stale subnet locks. Returns the namespaces and links removed.
 */
export function cleanupStale(all = false, prefix = NS_PREFIX): string[] {
  const removed: string[] = []
  let names: string[] = []
  try {
    names = readdirSync('/run/netns')
  } catch {
    names = []
  }
  for (const ns of names) {
    if (!ns.startsWith(prefix)) continue
    const pid = Number(/-(\d+)$/.exec(ns)?.[1] ?? 0)
    if (pid === process.pid) continue
    if (!all && pid > 0 && pidAlive(pid)) continue
    removeNamespace(ns)
    removed.push(ns)
  }
  // veth pairs from createVethPair carry the alias <prefix><pid>
  let links: string[] = []
  try {
    links = readdirSync('/sys/class/net')
  } catch {
    links = []
  }
  for (const l of links) {
    let alias = ''
    try {
      alias = readFileSync(`/sys/class/net/${l}/ifalias`, 'utf8').trim()
    } catch {
      continue
    }
    if (!alias.startsWith(prefix)) continue
    const pid = Number(alias.slice(prefix.length))
    if (pid === process.pid || (!all && pid > 0 && pidAlive(pid))) continue
    if (runSync(['ip', 'link', 'del', l])) removed.push(l)
  }
  let locks: string[] = []
  try {
    locks = readdirSync(LOCK_DIR)
  } catch {
    locks = []
  }
  for (const n of locks) {
    let owner = 0
    try {
      owner = Number(readFileSync(join(LOCK_DIR, n, 'pid'), 'utf8'))
    } catch {
      continue
    }
    if (owner !== process.pid && !pidAlive(owner)) rmSync(join(LOCK_DIR, n), { recursive: true, force: true })
  }
  return removed
}

export interface VethPair {
  /** the two ends, both in the root namespace, up, IPv6 off (so no ND/MLD noise), no addresses */
  a: string
  b: string
  aIndex: number
  bIndex: number
  /** Idempotent: deletes the pair (deleting one end deletes both). */
  destroy(): void
}

const livePairs = new Set<VethPair>()

/**
 * A veth pair in the root namespace with no addresses and IPv6 disabled: a quiet wire for crafted
 * frames (send on a with RawSender, capture on a for the outgoing copy and on b for the received
 * one). Names pt<6 hex>a / pt<6 hex>b; the alias podtap-t-<pid> lets cleanupStale() find leftovers.
 */
export async function createVethPair(): Promise<VethPair> {
  const base = `pt${randomBytes(3).toString('hex')}`
  const a = `${base}a`
  const b = `${base}b`
  installExitHook()
  await ip('link', 'add', a, 'type', 'veth', 'peer', 'name', b)
  let destroyed = false
  const pair: VethPair = {
    a, b, aIndex: 0, bIndex: 0,
    destroy: () => {
      if (destroyed) return
      destroyed = true
      livePairs.delete(pair)
      runSync(['ip', 'link', 'del', a])
    },
  }
  livePairs.add(pair)
  try {
    for (const n of [a, b]) {
      await ip('link', 'set', 'dev', n, 'alias', `${NS_PREFIX}${process.pid}`)
      try {
        writeFileSync(`/proc/sys/net/ipv6/conf/${n}/disable_ipv6`, '1')
      } catch {
        // IPv6 compiled out or disabled everywhere: already quiet
      }
      await ip('link', 'set', n, 'up')
    }
    pair.aIndex = ifindexOf(a)
    pair.bIndex = ifindexOf(b)
  } catch (e) {
    pair.destroy()
    throw e
  }
  return pair
}

export interface Nginx {
  /** http://<nsIp>:<port>/ answers 200 "hello" */
  url: string
  port: number
  /** path of a static file of staticBytes bytes, relative to url: 'static.bin' */
  staticPath: string
  staticBytes: number
  process: ChildProcess
  /** Stops nginx (also done by host.destroy()). */
  stop(): Promise<void>
}

/**
 * Starts nginx (Debian's nginx-light) inside the namespace: one worker, no daemon, no access log,
 * `location = /` returns 200 "hello", everything else is served from a temp dir holding one static
 * file; `locations` adds lines to the server block (`location /x { return 500; }`). Resolves once
 * the port accepts connections from the host.
 */
export async function startNginx(
  host: NetnsHost,
  opts: { port?: number; staticBytes?: number; locations?: readonly string[] } = {},
): Promise<Nginx> {
  const port = opts.port ?? 80
  const staticBytes = opts.staticBytes ?? 16 * 1024
  const dir = host.tmpDir()
  const www = join(dir, 'www')
  mkdirSync(www)
  chmodSync(www, 0o755)
  writeFileSync(join(www, 'static.bin'), randomBytes(staticBytes))
  chmodSync(join(www, 'static.bin'), 0o644)
  const child = await runNginx(host, dir, port, {
    server: [`listen ${port};`, `listen [::]:${port};`, `root ${www};`, 'location = / { default_type text/plain; return 200 "hello"; }', ...(opts.locations ?? [])],
  })
  return {
    url: `http://${host.nsIp}:${port}/`,
    port,
    staticPath: 'static.bin',
    staticBytes,
    process: child,
    stop: () => stopNginx(child),
  }
}

/**
 * Writes `dir`/nginx.conf (one worker, no daemon, no access log, temp paths in `dir`, `http` lines then
 * one server block of `server` lines), starts nginx on it inside the namespace and resolves once the
 * port accepts connections; rejects with nginx's stderr if it exits first.
 */
export async function runNginx(host: NetnsHost, dir: string, port: number, conf: { http?: readonly string[]; server: readonly string[] }): Promise<ChildProcess> {
  const file = join(dir, 'nginx.conf')
  writeFileSync(
    file,
    [
      'worker_processes 1;',
      'daemon off;',
      `pid ${dir}/nginx.pid;`,
      `error_log ${dir}/error.log warn;`,
      'events { worker_connections 1024; }',
      'http {',
      '  access_log off;',
      `  client_body_temp_path ${dir}/body;`,
      `  proxy_temp_path ${dir}/proxy;`,
      `  fastcgi_temp_path ${dir}/fastcgi;`,
      `  uwsgi_temp_path ${dir}/uwsgi;`,
      `  scgi_temp_path ${dir}/scgi;`,
      '  keepalive_requests 1000000;',
      ...(conf.http ?? []).map((l) => `  ${l}`),
      '  server {',
      ...conf.server.map((l) => `    ${l}`),
      '  }',
      '}',
      '',
    ].join('\n'),
  )
  const child = host.spawn(['nginx', '-c', file, '-p', dir], { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr?.on('data', (b: Buffer) => (stderr += b.toString()))
  const exited = new Promise<never>((_, reject) =>
    child.once('exit', (code) => reject(new Error(`nginx in ${host.ns} exited ${code}: ${stderr.trim()}`))),
  )
  exited.catch(() => undefined)
  await Promise.race([waitForPort(host.nsIp, port, 10_000), exited])
  return child
}

/** SIGTERM to nginx's process group; resolves when it has exited. */
export function stopNginx(child: ChildProcess): Promise<void> {
  return new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve()
    child.once('exit', () => resolve())
    killGroup(child, 'SIGTERM')
  })
}

/** Resolves once a TCP connect to ip:port succeeds (from the current namespace); rejects after timeoutMs. */
export async function waitForPort(ip: string, port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect({ host: ip, port })
      s.once('connect', () => {
        s.destroy()
        resolve(true)
      })
      s.once('error', () => resolve(false))
    })
    if (ok) return
    if (Date.now() > deadline) throw new Error(`${ip}:${port} not accepting after ${timeoutMs} ms`)
    await new Promise((r) => setTimeout(r, 50))
  }
}
