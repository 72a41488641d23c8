// The demo's servers, each in its own namespace (src/demo/netns.ts): nginx with a few locations that
// give 200, 201, 404, 500 and a slow response; redis-server; PostgreSQL initialised into a temp dir
// as the postgres user (initdb and postgres refuse to run as root). All from Debian's packages.

import { execFileSync, type ChildProcess } from 'node:child_process'
import { appendFileSync, chownSync, existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { killGroup, runHost, startNginx, waitForPort, type NetnsHost } from './netns.js'

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
  nginx: 'nginx-light',
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
 * nginx locations of the demo's web pod (STYLE: what each is for):
 *   /api/users     200 JSON             /api/cart      500 (a failing endpoint)
 *   /api/checkout  201 on POST, else 405 /missing.html  404 (no such file)
 *   /slow          the 64 KiB static file at 32 KiB/s: about 2 s, for the p99 column
 */
export const NGINX_LOCATIONS = [
  'location = /api/users { default_type application/json; return 200 \'[{"id":1,"name":"ada"},{"id":2,"name":"grace"}]\'; }',
  'location = /api/cart { return 500; }',
  'location = /api/checkout { if ($request_method = POST) { return 201; } return 405; }',
  'location = /slow { limit_rate 32k; try_files /static.bin =404; }',
]

export async function startWeb(host: NetnsHost): Promise<DemoServer> {
  const web = await startNginx(host, { staticBytes: 64 * 1024, locations: NGINX_LOCATIONS })
  return { kind: 'http', host, ip: host.nsIp, port: web.port, label: `nginx http://${host.nsIp}/`, stop: web.stop }
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

function stopChild(child: ChildProcess, sig: NodeJS.Signals): Promise<void> {
  return new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve()
    const t = setTimeout(() => {
      killGroup(child, 'SIGKILL')
      resolve()
    }, 3000)
    child.once('exit', () => {
      clearTimeout(t)
      resolve()
    })
    killGroup(child, sig)
  })
}
