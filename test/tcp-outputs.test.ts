// TCP health in the outputs (issue #11): real captures replayed through the pipeline into --links,
// the Prometheus exposition (checked by promtool where installed) and InfluxDB line protocol; every
// output's numbers must add up to the pipeline's own counters and to the link records.

import { spawnSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { describe, expect, it } from 'vitest'
import { LinkType } from '../src/capture/source.js'
import { tcpEnriched } from '../src/cli/capture.js'
import { buildOutputs, OutputHub } from '../src/cli/outputs.js'
import { ClusterIndex } from '../src/k8s/identity.js'
import { trimPod, trimReplicaSet } from '../src/k8s/objects.js'
import { Pipeline } from '../src/pipeline/pipeline.js'
import { C, Counters } from '../src/counters.js'
import type { TcpWindow } from '../src/tcp/health.js'
import { ethIpv4Tcp } from './helpers/packets.js'
import { pod, replicaSet } from './k8s/apiserver.js'
import { outputPcaps, replayInto } from './outputs-helpers.js'

const promtool = spawnSync('promtool', ['--version']).status === 0

function sumMetric(text: string, name: string, labels: Record<string, string> = {}): number {
  let n = 0
  for (const line of text.split('\n')) {
    if (!line.startsWith(name + '{') && !line.startsWith(name + ' ')) continue
    if (!Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue
    n += Number(line.slice(line.lastIndexOf(' ') + 1))
  }
  return n
}

describe('TCP health outputs', () => {
  it('--links, podtap_tcp_* and l7_tcp agree with the pipeline on real captures', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'podtap-tcp-out-'))
    try {
      const counters = new Counters()
      const links = path.join(dir, 'links.jsonl')
      const metrics = path.join(dir, 'metrics.txt')
      const outs = await buildOutputs({ links, metricsOut: metrics }, counters)
      const windows: TcpWindow[] = []
      outs.push({ name: 'windows', onTcp: (w) => windows.push(w), close: async () => undefined })
      const hub = new OutputHub(outs, { counters })
      const r = replayInto(outputPcaps(), hub, counters)
      await hub.close()

      // one line per ended connection, with its TCP health
      const lines = fs.readFileSync(links, 'utf8').trim().split('\n').map((l) => JSON.parse(l))
      expect(lines.length).toBe(r.links.length)
      expect(lines.length).toBeGreaterThan(20)
      for (const k of ['time', 'client', 'server', 'protocol', 'connect', 'connect_ms', 'reset', 'retransmits', 'zero_windows', 'rtt_client_ms', 'rtt_server_ms']) {
        expect(lines[0], k).toHaveProperty(k)
      }
      const ok = counters.get(C.tcpConnects, { result: 'ok' })
      expect(ok).toBeGreaterThan(10)
      expect(lines.filter((l) => l.connect === 'ok').length).toBe(ok)
      const retrans = counters.total(C.tcpRetransmitsSeen)
      expect(retrans).toBeGreaterThan(0)
      expect(lines.reduce((a, l) => a + l.retransmits.c2s + l.retransmits.s2c, 0)).toBe(retrans)

      // the windows, the exposition and the counters count the same
      const rows = windows.flatMap((w) => w.rows)
      expect(rows.reduce((a, x) => a + x.connects.ok, 0)).toBe(ok)
      const text = fs.readFileSync(metrics, 'utf8')
      if (promtool) expect(spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' }).status).toBe(0)
      expect(sumMetric(text, 'podtap_tcp_connects_total', { result: 'ok' })).toBe(ok)
      expect(sumMetric(text, 'podtap_tcp_retransmits_total')).toBe(retrans)
      expect(sumMetric(text, 'podtap_tcp_resets_total')).toBe(counters.total(C.tcpResets))
      expect(sumMetric(text, 'podtap_tcp_rst_segments_total')).toBe(counters.total(C.tcpRstSegments))
      // every ok connect with a SYN seen has a duration; the histogram's count says so
      const withTime = lines.filter((l) => l.connect_ms !== null).length
      expect(sumMetric(text, 'podtap_tcp_connect_duration_seconds_count')).toBe(withTime)
      expect(sumMetric(text, 'podtap_tcp_rtt_seconds_count')).toBe(
        lines.reduce((a, l) => a + (l.rtt_client_ms?.samples ?? 0) + (l.rtt_server_ms?.samples ?? 0), 0),
      )
      // the replay ended every connection
      expect(sumMetric(text, 'podtap_tcp_active_connections')).toBe(0)
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe('TCP health rows in --k8s mode', () => {
  it('rows are named like links (ClusterIndex) before the outputs: client label is the workload, server the pod', async () => {
    const index = new ClusterIndex('n1')
    index.upsertReplicaSet(trimReplicaSet(replicaSet('web-6f7', 'shop', 'web')))
    index.upsertPod(trimPod(pod({ name: 'web-6f7-a', namespace: 'shop', node: 'n1', ip: '10.1.0.5', owner: { kind: 'ReplicaSet', name: 'web-6f7' } })))
    index.upsertPod(trimPod(pod({ name: 'db-0', namespace: 'data', node: 'n1', ip: '10.1.0.6', owner: { kind: 'StatefulSet', name: 'db' }, containers: [{ name: 'pg', ports: [5432] }] })))

    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'podtap-tcp-k8s-'))
    try {
      const counters = new Counters()
      const metrics = path.join(dir, 'metrics.txt')
      const hub = new OutputHub(await buildOutputs({ metricsOut: metrics }, counters), { counters })
      const tcp = tcpEnriched(hub.tcpOptions(), { peers: (c, s) => index.enrichPair(c, s), close: async () => undefined }, null)
      const p = new Pipeline({ counters, onExchange: () => undefined, tcp })
      let ts = 1_700_000_000_000_000
      const c = { src: '10.1.0.5', dst: '10.1.0.6', sport: 40000, dport: 5432 }
      for (const spec of [
        { ...c, seq: 1, flags: 'S' },
        { src: c.dst, dst: c.src, sport: c.dport, dport: c.sport, seq: 9, ack: 2, flags: 'SA' },
        { ...c, seq: 2, ack: 10, flags: 'A' },
      ]) {
        const data = ethIpv4Tcp(spec)
        p.packet({ tsUs: (ts += 100), ifindex: 1, linkType: LinkType.ETHERNET, data, origLen: data.length })
      }
      p.finish()
      await hub.close()
      const text = fs.readFileSync(metrics, 'utf8')
      expect(text).toContain('podtap_tcp_connects_total{server="10.1.0.6:5432",namespace="data",pod="db-0",client="web",client_namespace="shop",result="ok"} 1')
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })
})
