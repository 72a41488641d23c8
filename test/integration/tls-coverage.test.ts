// The TLS coverage report: `podtap capture --tls --iface <veth>` says for every process with TLS
// connections which tap reads it, or why none can. In a test namespace a node 20 HTTPS server (read
// by the node tap) and a Java HTTPS server (JSSE: TLS inside the JVM, nothing to probe); from the
// host a node client and curl. The Java server is found from the packets: its TLS connections on the
// veth -> the LISTEN socket in its namespace -> its process. Checked in the three places the report
// goes: the control API (GET /v1/tls/coverage), Prometheus (podtap_tls_coverage) and the last line
// podtap prints. Needs root and a JDK (java with jdk.compiler and jdk.httpserver, keytool); skips with
// the reason otherwise.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { get } from 'node:http'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { TlsCoverageRow } from '../../src/records.js'
import { cleanupStale, createTestHost, needRoot, type TestHost } from '../helpers/netns.js'
import { node20, runNodeClient, startNodeServer, type NodeServer } from '../helpers/node-tls.js'
import { curl } from '../helpers/tls.js'
import { READY, interrupt, killRun, runPodtap, type PodtapRun } from './capture-util.js'

const JAVA_SERVER = fileURLToPath(new URL('../java/TlsServer.java', import.meta.url))

function javaMissing(): string | null {
  const v = spawnSync('java', ['--list-modules'], { encoding: 'utf8' })
  if (v.error !== undefined || v.status !== 0) return 'no java (apt-get install openjdk-17-jdk-headless)'
  if (!/jdk\.compiler/.test(v.stdout) || !/jdk\.httpserver/.test(v.stdout)) return 'java without jdk.compiler / jdk.httpserver (a JDK is needed, not a JRE)'
  if (spawnSync('keytool', ['-help']).error !== undefined) return 'no keytool'
  return null
}

const skip = needRoot() ?? javaMissing()
if (skip !== null) console.log(`TLS coverage tests skipped: ${skip}`)

function fetchText(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    get(url, (res) => {
      let body = ''
      res.on('data', (b: Buffer) => (body += b.toString()))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
    }).on('error', reject)
  })
}

const CONTROL_PORT = 18931
const METRICS_PORT = 18932

describe.skipIf(skip !== null)('TLS coverage: which tap reads each TLS process, and why none reads Java', () => {
  let host: TestHost
  let run: PodtapRun | undefined
  let nodeServer: NodeServer | undefined
  let java: ChildProcess | undefined
  let javaPid = 0
  let api: TlsCoverageRow[] = []
  let metrics = ''
  let stderr = ''

  beforeAll(async () => {
    cleanupStale()
    host = await createTestHost({ name: 'tlscov' })
    const dir = host.tmpDir()
    const ks = join(dir, 'ks.p12')
    const kt = spawnSync('keytool', ['-genkeypair', '-keystore', ks, '-storetype', 'PKCS12', '-storepass', 'secret1', '-keypass', 'secret1', '-alias', 's', '-keyalg', 'EC', '-dname', 'CN=test', '-validity', '1'], { encoding: 'utf8' })
    if (kt.status !== 0) throw new Error(`keytool failed: ${kt.stderr}`)
    // jdk.net.hosts.file: names from that (empty) file only: the JDK's HTTPS server looks up every
    // client's name (SSLEngine peer host), which waits for a DNS timeout in a test namespace
    java = spawn('ip', ['netns', 'exec', host.ns, 'java', '-Djdk.net.hosts.file=/dev/null', JAVA_SERVER, host.nsIp, '8443', ks, 'secret1'], { stdio: ['ignore', 'pipe', 'pipe'] })
    javaPid = await new Promise<number>((resolve, reject) => {
      let out = ''
      let err = ''
      const t = setTimeout(() => reject(new Error(`java server not ready: ${err}`)), 45_000)
      java!.stderr!.on('data', (b: Buffer) => (err += b.toString()))
      java!.stdout!.on('data', (b: Buffer) => {
        out += b.toString()
        const m = /ready (\d+)/.exec(out)
        if (m !== null) {
          clearTimeout(t)
          resolve(Number(m[1]))
        }
      })
    })
    nodeServer = await startNodeServer(host, node20, 443, 4443)

    run = runPodtap(['capture', '--tls', '--iface', host.hostIf, '--format', 'jsonl', '--control-port', String(CONTROL_PORT), '--metrics-port', String(METRICS_PORT), '--metrics-host', '127.0.0.1'])
    await run.waitFor(READY)
    const c = await runNodeClient(node20, host.nsIp, nodeServer, 2, 2, 'cov')
    expect(c.code, c.stderr).toBe(0)
    for (let i = 0; i < 3; i++) {
      const r = await curl(['-sk', '--http1.1', `https://${host.nsIp}:8443/j${i}`])
      expect(r.stdout).toBe('hello from java\n')
    }
    // the connections' ends reach the packets' l7_link, then the next report round finds the Java server
    const deadline = Date.now() + 20_000
    while (Date.now() < deadline) {
      const r = await fetchText(`http://127.0.0.1:${CONTROL_PORT}/v1/tls/coverage`)
      api = (JSON.parse(r.body) as { processes: TlsCoverageRow[] }).processes ?? []
      if (api.some((x) => x.pid === javaPid) && api.some((x) => x.pid === nodeServer!.pid)) break
      await new Promise((r) => setTimeout(r, 500))
    }
    metrics = (await fetchText(`http://127.0.0.1:${METRICS_PORT}/metrics`)).body
    await interrupt(run)
    stderr = run.stderr
  }, 60_000)

  afterAll(async () => {
    killRun(run)
    await nodeServer?.stop()
    if (java !== undefined && java.exitCode === null) java.kill('SIGKILL')
    await host?.destroy()
  })

  it('the control API names the node server (read by the node tap) and the Java server (blind, and why)', () => {
    expect(api.find((x) => x.pid === nodeServer!.pid)).toMatchObject({ comm: 'node', tap: 'node', seenBy: 'tap' })
    const j = api.find((x) => x.pid === javaPid)
    expect(j).toMatchObject({ comm: 'java', tap: 'none', seenBy: 'packets' })
    expect(j!.reason).toMatch(/^Java \(JSSE/)
    // nothing else was called blind: every other TLS process of this test is read by a tap
    expect(api.filter((x) => x.tap === 'none' && x.pid !== javaPid && (x.comm === 'node' || x.comm === 'curl'))).toEqual([])
  })

  it('Prometheus has podtap_tls_coverage for both, tap="none" with the reason for Java', () => {
    expect(metrics).toMatch(/^podtap_tls_coverage\{[^}]*comm="java",tap="none",reason="Java \(JSSE[^"]*"\} 1$/m)
    expect(metrics).toMatch(/^podtap_tls_coverage\{[^}]*comm="node",tap="node",reason=""\} [1-9]\d*$/m)
  })

  it('the last line says what was read and what was not', () => {
    expect(stderr).toMatch(new RegExp(`TLS: \\d+ process(es)? read \\([^)]*node \\d+[^)]*\\); blind: java\\[${javaPid}\\] \\(Java \\(JSSE`))
  })
})
