// TCP health through a ClusterIP whose backend is on the same node: one connection, two 4-tuples on
// two captured veths, counted once (the one-copy rule, TcpHealthOptions.view / K8sAttachment.tcpView).
//
//   pod "cli" (netns) eth0 ──veth── host: nft DNAT 10.96.77.7:80 -> srv:8080 ──veth── eth0 pod "srv" (netns)
//                          ^ capture: cli -> 10.96.77.7:80                 ^ capture: cli -> srv:8080
//
// The host is this machine's root namespace, as on a node: the pods are NetPods (test/k8s/netpods.ts),
// kube-proxy's DNAT is one nft table of our own (a ClusterIP of 10.96.0.0/12, no other traffic
// matches; removed at the end), the API server is the stand-in (test/k8s/apiserver.ts). tc/drop5
// (test/bpf/tcp_faults.c) on srv's eth0 ingress drops ~5 % of the client's data after both capture
// points, so both views see every original and every retransmission. podtap capture --k8s must count
// each connection, retransmission, RTT sample and reset once: its retransmits equal the client
// kernel's TcpRetransSegs (in cli's namespace) exactly, and its connects the connections made.
// Without the rule every number here is doubled. Needs root and nft; skips with the reason printed.

import { spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { cleanupStale, needRoot } from '../helpers/netns.js'
import { StandInApiServer, endpointSlice, pod, service } from '../k8s/apiserver.js'
import { until } from '../k8s/loop.js'
import { createNetPod, type NetPod } from '../k8s/netpods.js'
import { interrupt, killRun, runPodtap, sleep, type PodtapRun } from './capture-util.js'

const NFT = ['/usr/sbin/nft', '/sbin/nft', '/usr/bin/nft'].find((p) => existsSync(p))
const BPF_OBJ = join(import.meta.dirname, '..', 'bpf', 'tcp_faults.bpf.o')
let skip = needRoot()
if (skip === null && NFT === undefined) skip = 'no nft (Debian package nftables) for the ClusterIP DNAT'
if (skip !== null) console.log(`tcp-clusterip tests skipped: ${skip}`)

const NODE = 'kind-worker'
const VIP = '10.96.77.7'
const TABLE = `podtap_tcip_${process.pid}`
const CONNS = 3
const BYTES = 1 << 20

function nft(script: string, allowFail = false): void {
  const r = spawnSync(NFT!, ['-f', '-'], { input: script, encoding: 'utf8' })
  if (r.status !== 0 && !allowFail) throw new Error(`nft: ${r.stderr}`)
}

async function retransSegs(p: NetPod): Promise<number> {
  const lines = (await p.host.exec(['cat', '/proc/net/snmp'])).stdout.split('\n').filter((l) => l.startsWith('Tcp:'))
  const names = lines[0]!.trim().split(/\s+/)
  return Number(lines[1]!.trim().split(/\s+/)[names.indexOf('RetransSegs')])
}

describe.skipIf(skip !== null)('TCP health through a ClusterIP with both ends on this node', () => {
  let api: StandInApiServer
  let dir = ''
  let cli: NetPod | undefined
  let srv: NetPod | undefined
  let sink: ChildProcess | undefined
  let run: PodtapRun | undefined
  let metrics = ''
  let links: Record<string, any>[] = []
  let kernelRetrans = 0
  let stderr = ''

  beforeAll(async () => {
    cleanupStale()
    api = new StandInApiServer()
    await api.start()
    dir = mkdtempSync(join(tmpdir(), 'podtap-tcp-clusterip-'))
    const kubeconfig = api.writeKubeconfig(join(dir, 'kubeconfig'))
    ;[cli, srv] = await Promise.all([createNetPod('tcc'), createNetPod('tcs')])
    // one wire segment per packet from the client, as its kernel counts retransmitted segments
    await cli.host.exec(['ip', 'link', 'set', 'eth0', 'gso_max_segs', '1'])
    sink = srv.host.spawn([process.execPath, '-e', `
      const net = require('net')
      net.createServer((s) => { s.resume(); s.on('end', () => s.end()); s.on('error', () => {}) }).listen(8080, '${srv.ip}', () => console.log('listening'))`])
    await new Promise<void>((resolve, reject) => {
      sink!.stdout!.once('data', () => resolve())
      sink!.once('exit', (c) => reject(new Error(`sink exited ${c}`)))
    })
    nft(`table ip ${TABLE} {
      chain pre { type nat hook prerouting priority dstnat; policy accept; ip daddr ${VIP} tcp dport 80 dnat to ${srv.ip}:8080; }
      chain post { type nat hook postrouting priority srcnat; policy accept; }
    }`)

    api.upsert('pods', pod({ name: 'cli', namespace: 'tools', node: NODE, ip: cli.ip }))
    api.upsert('pods', pod({ name: 'sink-0', namespace: 'shop', node: NODE, ip: srv.ip, containers: [{ name: 'sink', ports: [8080] }] }))
    api.upsert('services', service('sink', 'shop', VIP, [{ port: 80, targetPort: 8080 }]))
    api.upsert('endpointslices', endpointSlice('sink', 'shop', [{ ip: srv.ip, pod: 'sink-0', node: NODE }], [{ port: 8080 }]))

    const env = { ...process.env }
    delete env.KUBECONFIG
    delete env.NODE_NAME
    run = runPodtap(
      ['capture', '--k8s', '--kubeconfig', kubeconfig, '--node', NODE, '--format', 'jsonl', '--links', join(dir, 'links.jsonl'), '--metrics-out', join(dir, 'metrics.txt'), '--frame-timeout', '20'],
      { env },
    )
    await until('both pods attached', () => /capturing pod tools\/cli on/.test(run!.stderr) && /capturing pod shop\/sink-0 on/.test(run!.stderr), 30_000)

    await srv.host.exec(['tc', 'qdisc', 'add', 'dev', 'eth0', 'clsact'])
    await srv.host.exec(['tc', 'filter', 'add', 'dev', 'eth0', 'ingress', 'bpf', 'da', 'obj', BPF_OBJ, 'sec', 'tc/drop5'])
    const before = await retransSegs(cli)
    // CONNS connections one after the other, each BYTES up through the ClusterIP
    await cli.host.exec([process.execPath, '-e', `
      const net = require('net'); let n = 0
      const one = () => { const s = net.connect(80, '${VIP}', () => s.end(Buffer.alloc(${BYTES}, 120))); s.resume(); s.on('close', () => { if (++n < ${CONNS}) one() }) }
      one()`], { timeoutMs: 60_000 })
    kernelRetrans = (await retransSegs(cli)) - before
    await srv.host.exec(['tc', 'qdisc', 'del', 'dev', 'eth0', 'clsact'])
    await sleep(1000)
    const exit = await interrupt(run)
    expect(exit.code).toBe(0)
    stderr = run.stderr
    metrics = readFileSync(join(dir, 'metrics.txt'), 'utf8')
    links = readFileSync(join(dir, 'links.jsonl'), 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l))
  }, 120_000)

  afterAll(async () => {
    killRun(run)
    sink?.kill('SIGKILL')
    if (NFT !== undefined) nft(`delete table ip ${TABLE}`, true)
    await Promise.all([cli, srv].map((p) => p?.destroy()))
    await api?.stop()
    api?.dispose()
    if (dir !== '') rmSync(dir, { recursive: true, force: true })
  })

  const metric = (name: string, labels: Record<string, string> = {}): number => {
    let n = 0
    for (const line of metrics.split('\n')) {
      if (!line.startsWith(name + '{') && !line.startsWith(name + ' ')) continue
      if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) n += Number(line.slice(line.lastIndexOf(' ') + 1))
    }
    return n
  }

  it('each connection counted once, on the backend pod (the server side view)', () => {
    expect(metric('podtap_tcp_connects_total', { result: 'ok' })).toBe(CONNS)
    expect(metric('podtap_tcp_connects_total', { result: 'ok', pod: 'sink-0' })).toBe(CONNS)
    expect(stderr).toMatch(new RegExp(`TCP: ${CONNS} connects \\(${CONNS} ok, 0 refused, 0 unanswered\\)`))
    // the links were already counted once (exchange()/link()): the same rule, the same connections
    const mine = links.filter((l) => l.client.ip === cli!.ip)
    expect(mine.map((l) => `${l.server.ip}:${l.server.port}`)).toEqual(Array(CONNS).fill(`${srv!.ip}:8080`))
    expect(mine.map((l) => l.bytes_sent)).toEqual(Array(CONNS).fill(BYTES))
  })

  it("loss after both capture points: retransmits equal the client kernel's TcpRetransSegs, once", () => {
    console.log(`tcp-clusterip: client kernel TcpRetransSegs +${kernelRetrans}, podtap retransmits ${metric('podtap_tcp_retransmits_total')}`)
    expect(kernelRetrans).toBeGreaterThan(10) // ~5 % of ~2200 segments
    expect(metric('podtap_tcp_retransmits_total', { direction: 'c2s' })).toBe(kernelRetrans)
    expect(metric('podtap_tcp_retransmits_total', { direction: 's2c' })).toBe(0)
    const mine = links.filter((l) => l.client.ip === cli!.ip)
    expect(mine.reduce((a, l) => a + l.retransmits.c2s, 0)).toBe(kernelRetrans)
  })

  it('round trips and connect times: one sample set per connection (those of its links)', () => {
    const mine = links.filter((l) => l.client.ip === cli!.ip)
    const samples = mine.reduce((a, l) => a + (l.rtt_client_ms?.samples ?? 0) + (l.rtt_server_ms?.samples ?? 0), 0)
    expect(samples).toBeGreaterThan(0)
    expect(metric('podtap_tcp_rtt_seconds_count')).toBe(samples)
    expect(metric('podtap_tcp_connect_duration_seconds_count')).toBe(CONNS)
    expect(metric('podtap_tcp_active_connections')).toBe(0)
  })
})
