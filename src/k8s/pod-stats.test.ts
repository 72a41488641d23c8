// pod-stats.ts on directory trees made by the test: cgroup v2 cannot be mounted on this (hybrid v1)
// machine, so the v2 reading is checked on a fixture tree with the kernel's file formats; the real
// v1 hierarchies and real processes are in test/integration/pod-stats.test.ts.

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { Counters } from '../counters.js'
import {
  containerCount,
  parseBlkioV1,
  parseCgroupMounts,
  parseIoStatV2,
  PodStatsReader,
  POD_STATS_MISSES,
  POD_STATS_RESETS,
  statValue,
  vmSizeBytes,
  type PodTarget,
} from './pod-stats.js'

const UID = '5f0c3a52-1b7e-4c1e-9a7d-2f4a6b8c9d01'
const CID = 'a'.repeat(64)

let dir: string
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'podtap-podstats-'))
})
afterEach(() => rmSync(dir, { recursive: true, force: true }))

function put(path: string, text: string): void {
  mkdirSync(join(dir, path, '..'), { recursive: true })
  writeFileSync(join(dir, path), text)
}

const status = (vmKb: number | null) => `Name:\tnginx\nUmask:\t0022\nState:\tS (sleeping)\nPid:\t1\n${vmKb === null ? '' : `VmPeak:\t${vmKb + 8} kB\nVmSize:\t${vmKb} kB\n`}Threads:\t1\n`

/** a v2 pod: cgroup dir with cpu.stat, memory.stat, memory.current, io.stat; procs in the container sub-cgroup */
function v2Pod(podDir: string, o: { usageUsec: number; anon: number; current: number; rbytes: number[]; wbytes: number[]; pids: number[] }): void {
  put(`${podDir}/cpu.stat`, `usage_usec ${o.usageUsec}\nuser_usec ${o.usageUsec - 10}\nsystem_usec 10\nnr_periods 0\n`)
  put(`${podDir}/memory.stat`, `anon ${o.anon}\nfile 4096\nkernel 8192\nanon_thp 0\n`)
  put(`${podDir}/memory.current`, `${o.current}\n`)
  put(`${podDir}/io.stat`, o.rbytes.map((r, i) => `8:${i * 16} rbytes=${r} wbytes=${o.wbytes[i]} rios=1 wios=2 dbytes=0 dios=0\n`).join(''))
  put(`${podDir}/cgroup.procs`, '')
  put(`${podDir}/cri-containerd-${CID}.scope/cgroup.procs`, o.pids.map((p) => `${p}\n`).join(''))
  put(`${podDir}/cri-containerd-${'b'.repeat(64)}.scope/cgroup.procs`, '') // the sandbox (pause)
}

function veth(name: string, rx: number, tx: number): void {
  put(`net/${name}/statistics/rx_bytes`, `${rx}\n`)
  put(`net/${name}/statistics/tx_bytes`, `${tx}\n`)
}

const target = (over: Partial<PodTarget> = {}): PodTarget => ({
  uid: UID,
  namespace: 'shop',
  name: 'web-0',
  workload: 'web',
  node: 'node-a',
  ip: '10.0.0.5',
  containerIds: [`containerd://${CID}`],
  veth: 'cali123',
  ...over,
})

function clock(): { mono: () => number; wall: () => number; advance(us: number): void } {
  let t = 1_000_000
  return { mono: () => t, wall: () => 1_700_000_000_000_000 + t, advance: (us) => (t += us) }
}

describe('file formats', () => {
  it('parses mounts, stat files, io.stat, blkio and /proc status', () => {
    const mounts = [
      'cgroup2 /sys/fs/cgroup/unified cgroup2 rw,nosuid,nodev,noexec,relatime 0 0',
      'cgroup /sys/fs/cgroup/cpu,cpuacct cgroup rw,nosuid,nodev,noexec,relatime,cpu,cpuacct 0 0',
      'cgroup /sys/fs/cgroup/memory cgroup rw,nosuid,nodev,noexec,relatime,memory 0 0',
      'cgroup /sys/fs/cgroup/blkio cgroup rw,nosuid,nodev,noexec,relatime,blkio 0 0',
      'proc /proc proc rw 0 0',
    ].join('\n')
    expect(parseCgroupMounts(mounts)).toEqual({ v2: '/sys/fs/cgroup/unified', cpuacct: '/sys/fs/cgroup/cpu,cpuacct', memory: '/sys/fs/cgroup/memory', blkio: '/sys/fs/cgroup/blkio' })
    expect(parseCgroupMounts('cgroup2 /sys/fs/cgroup cgroup2 rw 0 0\n')).toEqual({ v2: '/sys/fs/cgroup' })
    expect(statValue('rss 5\ntotal_rss 4096\ntotal_rss_huge 0\n', 'total_rss')).toBe(4096)
    expect(statValue('rss 5\ntotal_rss 4096\n', 'rss')).toBe(5)
    expect(statValue('anon 1\n', 'file')).toBeNull()
    expect(parseIoStatV2('8:0 rbytes=100 wbytes=200 rios=1 wios=1 dbytes=0 dios=0\n8:16 rbytes=1 wbytes=2 rios=1 wios=1 dbytes=7 dios=1\n')).toEqual({ read: 101, write: 202 })
    expect(parseBlkioV1('254:0 Read 8388608\n254:0 Write 4096\n254:0 Sync 0\n254:0 Async 0\n254:0 Discard 0\n254:0 Total 8392704\n8:0 Read 1\n8:0 Write 2\nTotal 8392707\n')).toEqual({ read: 8388609, write: 4098 })
    expect(parseBlkioV1('Total 0\n')).toEqual({ read: 0, write: 0 })
    expect(vmSizeBytes(status(12_345))).toBe(12_345 * 1024)
    expect(vmSizeBytes(status(null))).toBeNull() // kernel thread
  })

  it('counts containers by their sub-cgroups, else by the status ids', () => {
    const subs = [`cri-containerd-${CID}.scope`, `cri-containerd-${'b'.repeat(64)}.scope`]
    expect(containerCount(subs, [`containerd://${CID}`])).toBe(1) // the sandbox is not a container
    expect(containerCount([], ['containerd://x', 'containerd://y'])).toBe(2)
    expect(containerCount(subs, [])).toBe(2)
  })
})

describe('PodStatsReader on a cgroup v2 tree (fixture: v2 cannot be mounted here)', () => {
  it('finds the pod by UID (systemd driver), turns counters into interval values, sums VmSize', () => {
    const podDir = `cg/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID.replace(/-/g, '_')}.slice`
    v2Pod(podDir, { usageUsec: 1_000_000, anon: 3 << 20, current: 5 << 20, rbytes: [100, 0], wbytes: [1000, 24], pids: [101, 102] })
    put('proc/101/status', status(10_000))
    put('proc/102/status', status(20_000))
    veth('cali123', 5000, 7000)
    const c = clock()
    const counters = new Counters()
    const r = new PodStatsReader({ mounts: { v2: join(dir, 'cg') }, procRoot: join(dir, 'proc'), sysClassNet: join(dir, 'net'), monoUs: c.mono, wallUs: c.wall, counters })
    const [first] = r.sample([target()])
    expect(first).toEqual({
      timeUs: c.wall(),
      namespace: 'shop',
      pod: 'web-0',
      uid: UID,
      workload: 'web',
      node: 'node-a',
      podIp: '10.0.0.5',
      containerId: CID,
      containerCnt: 1,
      processes: 2,
      intervalUs: null,
      cpuPercent: null, // counters need two samples
      networkTx: null,
      networkRx: null,
      bytesRead: null,
      bytesWrite: null,
      vmBytes: 30_000 * 1024,
      rssBytes: 3 << 20,
      memoryUsageBytes: 5 << 20,
    })
    // 2 s later: 0.5 s of CPU (25 % of one core), 1 MB sent by the pod (host veth rx), 2 KB read
    c.advance(2_000_000)
    v2Pod(podDir, { usageUsec: 1_500_000, anon: 4 << 20, current: 6 << 20, rbytes: [2148, 0], wbytes: [1000, 524], pids: [101] })
    veth('cali123', 5000 + 1_000_000, 7000 + 300)
    const [s] = r.sample([target()])
    expect(s).toMatchObject({ intervalUs: 2_000_000, cpuPercent: 25, networkTx: 1_000_000, networkRx: 300, bytesRead: 2048, bytesWrite: 500, vmBytes: 10_000 * 1024, rssBytes: 4 << 20, processes: 1 })
    expect(counters.snapshot().filter((x) => x.name === POD_STATS_MISSES)).toEqual([])
  })

  it('cgroupfs driver, Guaranteed and BestEffort pods, kubepods below a --cgroup-root', () => {
    const c = clock()
    const uid2 = '0a0b0c0d-0000-4000-8000-000000000002'
    v2Pod(`cg/kubelet/kubepods/pod${UID}`, { usageUsec: 10, anon: 1, current: 1, rbytes: [0], wbytes: [0], pids: [] })
    v2Pod(`cg/kubelet/kubepods/besteffort/pod${uid2}`, { usageUsec: 10, anon: 2, current: 2, rbytes: [0], wbytes: [0], pids: [] })
    const r = new PodStatsReader({ mounts: { v2: join(dir, 'cg') }, procRoot: join(dir, 'proc'), sysClassNet: join(dir, 'net'), monoUs: c.mono, wallUs: c.wall })
    const out = r.sample([target({ veth: undefined }), target({ uid: uid2, name: 'be', veth: undefined })])
    expect(out.map((x) => [x.pod, x.rssBytes])).toEqual([['web-0', 1], ['be', 2]])
    expect(r.findPodDir(join(dir, 'cg'), uid2)).toBe(join(dir, 'cg', 'kubelet', 'kubepods', 'besteffort', `pod${uid2}`))
  })

  it('vanished processes, files and pods are counted, never thrown; a recreated cgroup and veth restart their counters', () => {
    const c = clock()
    const counters = new Counters()
    const podDir = `cg/kubepods/burstable/pod${UID}`
    v2Pod(podDir, { usageUsec: 5_000_000, anon: 1, current: 1, rbytes: [1_000_000], wbytes: [0], pids: [101, 999] })
    put('proc/101/status', status(100))
    veth('cali123', 900_000, 0)
    const r = new PodStatsReader({ mounts: { v2: join(dir, 'cg') }, procRoot: join(dir, 'proc'), sysClassNet: join(dir, 'net'), monoUs: c.mono, wallUs: c.wall, counters, rescanMs: 0 })
    const [a] = r.sample([target()])
    expect(a.vmBytes).toBe(100 * 1024) // pid 999 has no /proc entry
    expect(counters.get(POD_STATS_MISSES, { reason: 'pid_gone' })).toBe(1)

    // the pod's cgroup and veth are recreated (counters start over, smaller than before)
    rmSync(join(dir, podDir), { recursive: true })
    rmSync(join(dir, 'net'), { recursive: true })
    v2Pod(podDir, { usageUsec: 1_000_000, anon: 1, current: 1, rbytes: [4096], wbytes: [0], pids: [101] })
    veth('cali123', 500, 0)
    c.advance(1_000_000)
    const [b] = r.sample([target()])
    expect(b).toMatchObject({ cpuPercent: 100, bytesRead: 4096, networkTx: 500 })
    expect(counters.get(POD_STATS_RESETS, { what: 'cpu' })).toBe(1)
    expect(counters.get(POD_STATS_RESETS, { what: 'network' })).toBe(1)

    // the pod goes: no throw, values left out, misses counted
    rmSync(join(dir, 'cg'), { recursive: true })
    rmSync(join(dir, 'net'), { recursive: true })
    c.advance(1_000_000)
    const [g] = r.sample([target()])
    expect(g).toMatchObject({ cpuPercent: null, rssBytes: null, vmBytes: null, networkTx: null, bytesRead: null, processes: 0 })
    expect(counters.get(POD_STATS_MISSES, { reason: 'cgroup_gone' })).toBeGreaterThan(0)
    expect(counters.get(POD_STATS_MISSES, { reason: 'veth_gone' })).toBe(1)
    // pods not asked for any more are forgotten
    r.sample([])
    expect(r.tracked).toBe(0)
  })

  it('bounds work: pods per tick and /proc reads per pod', () => {
    const c = clock()
    const counters = new Counters()
    v2Pod(`cg/kubepods/pod${UID}`, { usageUsec: 1, anon: 1, current: 1, rbytes: [0], wbytes: [0], pids: Array.from({ length: 10 }, (_, i) => 200 + i) })
    for (let i = 0; i < 10; i++) put(`proc/${200 + i}/status`, status(1))
    const r = new PodStatsReader({ mounts: { v2: join(dir, 'cg') }, procRoot: join(dir, 'proc'), sysClassNet: join(dir, 'net'), monoUs: c.mono, wallUs: c.wall, counters, maxPidsPerPod: 4, maxPodsPerTick: 1 })
    const out = r.sample([target({ veth: undefined }), target({ uid: 'other', veth: undefined })])
    expect(out).toHaveLength(1)
    expect(out[0]!.vmBytes).toBe(4 * 1024)
    expect(counters.get(POD_STATS_MISSES, { reason: 'pods_cap' })).toBe(1)
    expect(counters.get(POD_STATS_MISSES, { reason: 'pids_cap' })).toBe(6)
  })

  it('100 pods sampled repeatedly: every pod read whole each round (fixture tree; time printed, goals live in bench)', () => {
    const uids = Array.from({ length: 100 }, (_, i) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`)
    for (const [i, uid] of uids.entries()) {
      v2Pod(`cg/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${uid.replace(/-/g, '_')}.slice`, { usageUsec: 1, anon: 1, current: 1, rbytes: [0], wbytes: [0], pids: [1000 + i * 2, 1001 + i * 2] })
      put(`proc/${1000 + i * 2}/status`, status(1))
      put(`proc/${1001 + i * 2}/status`, status(1))
      veth(`veth${i}`, 1, 1)
    }
    const r = new PodStatsReader({ mounts: { v2: join(dir, 'cg') }, procRoot: join(dir, 'proc'), sysClassNet: join(dir, 'net') })
    const targets = uids.map((uid, i) => target({ uid, name: `p${i}`, veth: `veth${i}` }))
    r.sample(targets) // finds the directories
    const times: number[] = []
    for (let k = 0; k < 5; k++) {
      const t0 = performance.now()
      const out = r.sample(targets)
      times.push(performance.now() - t0)
      expect(out.filter((x) => x.vmBytes === 2048)).toHaveLength(100)
    }
    times.sort((a, b) => a - b)
    console.log(`pod-stats: 100 pods (fixture tree) median ${times[2]!.toFixed(2)} ms`)
  })
})
