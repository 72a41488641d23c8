// `podtap capture --k8s --tls` on Go programs: the Go crypto/tls tap reads the selected pods'
// processes only. A stand-in API server (test/k8s/apiserver.ts: no Kubernetes runs here) announces
// one pod on this node; its "container" is the Go HTTPS server of test/go/httpsapp, run in the pod's
// network namespace after being moved into a kubepods-shaped v1 memory cgroup this test makes. The
// same executable also runs as a server on the host, outside any pod: the uprobes sit on the file,
// so they fire in both, and the kernel's pid filter must keep only the pod's process. Ground truth:
// the clients' own logs. Needs root, golang-go and the cgroup v1 memory hierarchy; skips otherwise.

import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { TraceRecord } from '../../src/records.js'
import { parseCgroupMounts } from '../../src/k8s/pod-stats.js'
import { CgroupDirs } from '../helpers/cgroup-dirs.js'
import { goBuild, goMissing } from '../helpers/go.js'
import { cleanupStale, needRoot } from '../helpers/netns.js'
import { StandInApiServer, pod } from '../k8s/apiserver.js'
import { createNetPod, type NetPod } from '../k8s/netpods.js'
import { interrupt, killRun, runPodtap, traces, type PodtapRun } from './capture-util.js'

const NODE = 'kind-worker'
const memoryRoot = parseCgroupMounts(readFileSync('/proc/self/mounts', 'utf8')).memory
const skip =
  needRoot() ??
  goMissing() ??
  (process.arch === 'x64' ? null : 'the Go TLS tap is amd64-only') ??
  (memoryRoot === undefined ? 'no cgroup v1 memory hierarchy (this test moves a real process into a v1 cgroup)' : null)
if (skip !== null) console.log(`k8s Go TLS tests skipped: ${skip}`)

/** Starts argv; resolves with the process once it prints "listening PORT". */
function serve(argv: string[]): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'inherit'] })
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`${argv.join(' ')} exited ${code}`)))
    child.stdout!.once('data', (b: Buffer) => resolve({ child, port: Number(/listening (\d+)/.exec(b.toString())![1]) }))
  })
}

/** Runs the Go client to its end: its stdout lines. */
function client(bin: string, url: string, paths: string[]): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const c = spawn(bin, ['client', url, 'h1', ...paths], { stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    c.stdout.on('data', (b: Buffer) => (out += b.toString()))
    c.once('close', (code) => (code === 0 ? resolve(out.trim().split('\n')) : reject(new Error(`client exited ${code}`))))
  })
}

describe.skipIf(skip !== null)('podtap capture --k8s --tls: the Go tap reads the selected pods\' processes only', () => {
  let api: StandInApiServer
  let dir: string
  let web: NetPod
  let run: PodtapRun | undefined
  const cgroups = new CgroupDirs()
  const servers: ChildProcess[] = []
  let inPod = { pid: 0, port: 0 }
  let outside = { pid: 0, port: 0 }
  let podLog: string[] = []
  let hostLog: string[] = []
  let got: TraceRecord[] = []
  let stderr = ''

  beforeAll(async () => {
    const bin = goBuild('httpsapp', { stripped: true })
    cleanupStale()
    api = new StandInApiServer()
    await api.start()
    dir = mkdtempSync(join(tmpdir(), 'podtap-k8s-go-tls-'))
    const kubeconfig = api.writeKubeconfig(join(dir, 'kubeconfig'))
    web = await createNetPod('kgweb')
    const container = randomBytes(32).toString('hex')
    const p = pod({ name: 'goweb-0', namespace: 'shop', node: NODE, ip: web.ip, owner: { kind: 'StatefulSet', name: 'goweb' }, containers: [{ name: 'app', ports: [8443] }] })
    ;(p.status as Record<string, unknown>).containerStatuses = [{ name: 'app', containerID: `containerd://${container}` }]
    const uid = (api.upsert('pods', p).metadata as { uid: string }).uid
    const cg = cgroups.mk(memoryRoot!, `podtap-k8sgotls-${randomBytes(4).toString('hex')}/kubepods/burstable/pod${uid}/${container}`)

    run = runPodtap(['capture', '--k8s', '--kubeconfig', kubeconfig, '--node', NODE, '--tls', '--format', 'jsonl'])
    await run.waitFor(/capturing pod shop\/goweb-0 on/, 20_000)
    // the pod's server: into the pod's cgroup, then its network namespace, then exec (one pid throughout)
    const a = await serve(['sh', '-c', `echo $$ > ${cg}/cgroup.procs && exec "$@"`, 'sh', 'ip', 'netns', 'exec', web.host.ns, bin, 'server', '0.0.0.0:8443'])
    // the same executable outside any pod
    const b = await serve([bin, 'server', '127.0.0.1:0'])
    servers.push(a.child, b.child)
    inPod = { pid: a.child.pid!, port: a.port }
    outside = { pid: b.child.pid!, port: b.port }
    await run.waitFor(new RegExp(`go tls: probing httpsapp\\S* \\(pid ${inPod.pid},`), 10_000)
    ;[podLog, hostLog] = await Promise.all([
      client(bin, `https://${web.ip}:${inPod.port}`, ['/a-pod', '/missing-pod', '/post-pod']),
      client(bin, `https://127.0.0.1:${outside.port}`, ['/a-host', '/b-host']),
    ])
    await new Promise((r) => setTimeout(r, 1000))
    await interrupt(run)
    stderr = run.stderr
    got = traces(run.stdout).filter((t) => /-(pod|host)$/.test(t.resource ?? ''))
  }, 60_000)

  afterAll(async () => {
    killRun(run)
    for (const s of servers) s.kill('SIGKILL')
    await web?.destroy()
    cgroups.removeAll()
    await api?.stop()
    api?.dispose()
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
  })

  it('both clients were answered', () => {
    expect(podLog).toEqual(['GET /a-pod 200 HTTP/1.1', 'GET /missing-pod 404 HTTP/1.1', 'POST /post-pod 201 HTTP/1.1'])
    expect(hostLog).toEqual(['GET /a-host 200 HTTP/1.1', 'GET /b-host 200 HTTP/1.1'])
  })

  it('the pod\'s Go server is read: every request, with the pod on the server side and the server named', () => {
    expect(got.map((t) => `${t.method} ${t.resource} ${t.status}`)).toEqual(podLog.map((l) => l.split(' ').slice(0, 3).join(' ')))
    for (const t of got) {
      expect(t.tls).toBe(true)
      expect(t.server).toMatchObject({ ip: web.ip, port: inPod.port, pod: 'goweb-0', namespace: 'shop', pid: inPod.pid })
      expect(t.client.pid).toBeUndefined() // the client runs outside any pod: not read
    }
  })

  it('the same executable outside the pods is not read, though its file carries the probes', () => {
    expect(got.some((t) => t.resource!.endsWith('-host'))).toBe(false)
    expect(stderr).not.toMatch(new RegExp(`pid ${outside.pid}\\b`))
  })
})
