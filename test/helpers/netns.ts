// Test hosts in network namespaces for the integration tests. The logic lives in src/demo/netns.ts
// (`podtap demo` builds its pods with it); this file gives it the test names and adds needRoot().
//
//   host (root namespace)                       namespace podtap-t-<name>-<pid>
//   pt<rand>h  10.213.<n>.1/30  <── veth ──>     eth0  10.213.<n>.2/30   (lo up)
//              fd00:213:<n>::1/126                     fd00:213:<n>::2/126
//
// Usage, from a test file:
//
//   const skip = needRoot()                       // 'not root' | 'no ip netns' | 'no BPF' | null
//   if (skip) console.log(`live tests skipped: ${skip}`)
//   describe.skipIf(skip)('live', () => {
//     let host: TestHost
//     beforeAll(async () => { cleanupStale(); host = await createTestHost({ name: 'web' }) })
//     afterAll(() => host?.destroy())
//     it('...', async () => {
//       const web = await startNginx(host)                   // http://10.213.<n>.2:80/
//       await host.exec(['curl', '-s', web.url])             // a client inside the namespace
//       ... capture on host.hostIf ...
//     })
//   })
//
// Guarantees (src/demo/netns.ts): destroy() is idempotent and removes processes, namespace, veth and
// temp dirs; an 'exit' hook destroys what is left; cleanupStale() removes what crashed runs left.

import { execFileSync } from 'node:child_process'
import { createNetnsHost, runSync, startNginx, type NetnsHost, type NetnsHostOptions } from '../../src/demo/netns.js'
import type { DemoServer } from '../../src/demo/servers.js'

export {
  cleanupStale,
  createVethPair,
  NS_PREFIX,
  runHost,
  startNginx,
  waitForPort,
  type ExecResult,
  type Nginx,
  type VethPair,
} from '../../src/demo/netns.js'

export type TestHost = NetnsHost
export type TestHostOptions = Pick<NetnsHostOptions, 'name' | 'ip' | 'vethPrefix'>

/** A namespace podtap-t-<name>-<pid> with a veth pair to the host (see src/demo/netns.ts). */
export function createTestHost(opts: TestHostOptions): Promise<TestHost> {
  return createNetnsHost({ name: opts.name, ip: opts.ip, vethPrefix: opts.vethPrefix })
}

let skipReason: string | null | undefined

/**
 * Why live tests cannot run here, or null when they can: 'not root', 'no ip netns', 'no BPF'.
 * Synchronous, for describe.skipIf(); the result is cached. Always print a non-null reason.
 */
export function needRoot(): string | null {
  if (skipReason !== undefined) return skipReason
  skipReason = computeSkipReason()
  return skipReason
}

function computeSkipReason(): string | null {
  if (process.getuid?.() !== 0) return 'not root'
  if (!runSync(['ip', 'netns', 'list'])) return 'no ip netns'
  // a socket filter load through libbpf, the same path capture takes; bpftool is only the fallback
  // check when the probe script cannot run
  try {
    execFileSync(process.execPath, ['--input-type=module', '-e', BPF_PROBE], { stdio: 'pipe', timeout: 20_000, cwd: process.cwd() })
  } catch (e) {
    const out = String((e as { stderr?: unknown }).stderr ?? '')
    return `no BPF${out ? ': ' + out.trim().split('\n').slice(-1)[0] : ''}`
  }
  return null
}

// Loads a 2-instruction socket filter (r0 = 0; exit) with libbpf's bpf_prog_load, in a child
// process so a missing libbpf or a crash cannot take the test runner down.
const BPF_PROBE = `
import koffi from 'koffi'
const lib = koffi.load('libbpf.so.1')
const load = lib.func('int bpf_prog_load(int type, const char *name, const char *license, const void *insns, size_t n, void *opts)')
const insns = Buffer.from([0xb7,0,0,0,0,0,0,0, 0x95,0,0,0,0,0,0,0])
const fd = load(1, 'podtap_probe', 'GPL', insns, 2, null)
if (fd < 0) { console.error('bpf_prog_load: error ' + (-fd)); process.exit(1) }
`

/**
 * nginx with a few locations (what `podtap demo`'s web pod served before the demo got its own web
 * tier; the UI's live browser test uses it):
 *   /api/users     200 JSON             /api/cart      500 (a failing endpoint)
 *   /api/checkout  201 on POST, else 405 /missing.html  404 (no such file)
 *   /slow          the 64 KiB static file at 32 KiB/s: about 2 s
 */
export const NGINX_LOCATIONS = [
  'location = /api/users { default_type application/json; return 200 \'[{"id":1,"name":"ada"},{"id":2,"name":"grace"}]\'; }',
  'location = /api/cart { return 500; }',
  'location = /api/checkout { if ($request_method = POST) { return 201; } return 405; }',
  'location = /slow { limit_rate 32k; try_files /static.bin =404; }',
]

export async function startWeb(host: TestHost): Promise<DemoServer> {
  const web = await startNginx(host, { staticBytes: 64 * 1024, locations: NGINX_LOCATIONS })
  return { kind: 'http', host, ip: host.nsIp, port: web.port, label: `nginx http://${host.nsIp}/`, stop: web.stop }
}
