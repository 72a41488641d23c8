// The demo's servers, each in its own namespace (src/demo/netns.ts): the web tier (web-tier.ts, a
// node process that calls the other two); redis-server; PostgreSQL initialised into a temp dir as the
// postgres user (initdb and postgres refuse to run as root). The last two from Debian's packages.

import { execFileSync, type ChildProcess } from 'node:child_process'
import { appendFileSync, chownSync, existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { killGroup, runHost, waitForPort, type NetnsHost } from './netns.js'
import type { WebTierConfig, WebTierStats } from './web-tier.js'

export interface DemoServer {
  kind: 'http' | 'redis' | 'postgresql'
  host: NetnsHost
  ip: string
  port: number
  /** what it is, for the start-up message */
  label: string
  stop(): Promise<void>
}

/** Debian package of each program the demo runs. */
export const PACKAGES = {
  'redis-server': 'redis-server',
  postgres: 'postgresql',
} as const

export function which(cmd: string): string | null {
  if (cmd.includes('/')) return existsSync(cmd) ? cmd : null
  for (const dir of (process.env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin').split(':')) {
    const p = join(dir, cmd)
    if (existsSync(p)) return p
  }
  // nginx and friends live in /usr/sbin, which a user's PATH may lack
  for (const dir of ['/usr/sbin', '/sbin']) if (existsSync(join(dir, cmd))) return join(dir, cmd)
  return null
}

/** Debian keeps initdb and postgres out of PATH, in /usr/lib/postgresql/<major>/bin: the newest. */
export function postgresBin(): string | null {
  const base = '/usr/lib/postgresql'
  const majors = existsSync(base) ? readdirSync(base).filter((d) => /^\d+$/.test(d)).sort((a, b) => Number(b) - Number(a)) : []
  for (const m of majors) {
    const dir = join(base, m, 'bin')
    if (existsSync(join(dir, 'initdb')) && existsSync(join(dir, 'postgres'))) return dir
  }
  const initdb = which('initdb')
  return initdb !== null && which('postgres') !== null ? initdb.slice(0, -'/initdb'.length) : null
}

/**
 * The web tier's program: dist/demo/web-tier.js, or src/demo/web-tier.ts when podtap runs from source
 * (tsx). Found through ../demo/ so that it resolves from the bundled CLI too (dist/run/, a sibling).
 */
const FROM_SOURCE = import.meta.url.endsWith('.ts')
export const WEB_TIER_SCRIPT = fileURLToPath(new URL(FROM_SOURCE ? '../demo/web-tier.ts' : '../demo/web-tier.js', import.meta.url))

export interface WebTier extends DemoServer {
  /** what the web tier sent to its backends, from its exit line (after stop()); null if it said nothing */
  stats(): WebTierStats | null
}

/**
 * Starts the web tier (web-tier.ts) inside `host` with podtap's own node executable, on port 80,
 * calling the cache and db given (either may be absent); resolves once it accepts connections.
 */
export async function startWebTier(host: NetnsHost, backends: { redis?: DemoServer; pg?: DemoServer }, port = 80): Promise<WebTier> {
  if (!existsSync(WEB_TIER_SCRIPT)) throw new Error(`${WEB_TIER_SCRIPT} is missing: run npm run build`)
  const cfg: WebTierConfig = { host: host.nsIp, port }
  if (backends.redis !== undefined) cfg.redis = { host: backends.redis.ip, port: backends.redis.port }
  if (backends.pg !== undefined) cfg.pg = { host: backends.pg.ip, port: backends.pg.port, user: PG_USER, database: PG_DATABASE }
  // from source, node's own flags (--import tsx) load the .ts; built, none are passed (no --inspect port clash)
  const node = [process.execPath, ...(FROM_SOURCE ? process.execArgv : [])]
  const child = host.spawn([...node, WEB_TIER_SCRIPT, JSON.stringify(cfg)], { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stdout?.on('data', (b: Buffer) => (out = (out + b.toString()).slice(-4000)))
  await untilListening(host, port, child, 'the web tier', 30_000)
  let stats: WebTierStats | null = null
  return {
    kind: 'http',
    host,
    ip: host.nsIp,
    port,
    label: `web tier (node, pid ${child.pid}) http://${host.nsIp}/`,
    stop: async () => {
      await stopChild(child, 'SIGTERM', 5000)
      try {
        stats = JSON.parse(out.trim().split('\n').pop() ?? '') as WebTierStats
      } catch {
        stats = null
      }
    },
    stats: () => stats,
  }
}

export async function startRedis(host: NetnsHost, port = 6379): Promise<DemoServer> {
  const dir = host.tmpDir()
  const child = host.spawn(
    ['redis-server', '--bind', host.nsIp, '--port', String(port), '--save', '', '--appendonly', 'no', '--protected-mode', 'no', '--dir', dir, '--loglevel', 'warning'],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  )
  await untilListening(host, port, child, 'redis-server')
  return { kind: 'redis', host, ip: host.nsIp, port, label: `redis-server ${host.nsIp}:${port}`, stop: () => stopChild(child, 'SIGTERM') }
}

/** User and database the demo's client uses (trust authentication from 10.213.0.0/16). */
export const PG_USER = 'demo'
export const PG_DATABASE = 'postgres'

export async function startPostgres(host: NetnsHost, binDir: string, port = 5432): Promise<DemoServer> {
  const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim())
  const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim())
  const dir = host.tmpDir()
  chownSync(dir, uid, gid)
  const data = join(dir, 'data')
  const asPostgres = ['setpriv', '--reuid=postgres', '--regid=postgres', '--init-groups']
  const init = await runHost(asPostgres[0]!, [...asPostgres.slice(1), join(binDir, 'initdb'), '-D', data, '-U', PG_USER, '--auth=trust', '-E', 'UTF8', '--no-sync'], {
    timeoutMs: 120_000,
  })
  if (init.code !== 0) throw new Error(`initdb failed: ${init.stderr.trim().split('\n').slice(-3).join(' ')}`)
  appendFileSync(
    join(data, 'postgresql.conf'),
    [`listen_addresses = '${host.nsIp}'`, `port = ${port}`, `unix_socket_directories = '${dir}'`, 'fsync = off', 'ssl = off', ''].join('\n'),
  )
  appendFileSync(join(data, 'pg_hba.conf'), 'host all all 10.213.0.0/16 trust\n')
  const child = host.spawn([...asPostgres, join(binDir, 'postgres'), '-D', data], { stdio: ['ignore', 'ignore', 'pipe'] })
  await untilListening(host, port, child, 'postgres', 30_000)
  // SIGINT is PostgreSQL's fast shutdown (SIGTERM waits for clients to leave)
  return { kind: 'postgresql', host, ip: host.nsIp, port, label: `postgres ${host.nsIp}:${port}`, stop: () => stopChild(child, 'SIGINT') }
}

async function untilListening(host: NetnsHost, port: number, child: ChildProcess, what: string, timeoutMs = 10_000): Promise<void> {
  let stderr = ''
  child.stderr?.on('data', (b: Buffer) => (stderr = (stderr + b.toString()).slice(-4000)))
  const exited = new Promise<never>((_, reject) => child.once('exit', (code) => reject(new Error(`${what} in ${host.ns} exited ${code}: ${stderr.trim()}`))))
  exited.catch(() => undefined)
  await Promise.race([waitForPort(host.nsIp, port, timeoutMs), exited])
}

function stopChild(child: ChildProcess, sig: NodeJS.Signals, killAfterMs = 3000): Promise<void> {
  return new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve()
    const t = setTimeout(() => {
      killGroup(child, 'SIGKILL')
      resolve()
    }, killAfterMs)
    child.once('exit', () => {
      clearTimeout(t)
      resolve()
    })
    killGroup(child, sig)
  })
}
