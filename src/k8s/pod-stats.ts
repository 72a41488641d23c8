// The `pod` measurement (DESIGN.md "The records"): per-pod resource use read from the pod's cgroup,
// /proc and the host side of its veth, once per window.
//
//   where                                          what
//   cgroup of the pod (found by its UID, below)    cpu    v2 cpu.stat usage_usec / v1 cpuacct.usage (ns)
//                                                  rss    v2 memory.stat anon / v1 memory.stat total_rss
//                                                  usage  v2 memory.current / v1 memory.usage_in_bytes
//                                                  io     v2 io.stat rbytes+wbytes per device, summed /
//                                                         v1 blkio.throttle.io_service_bytes(_recursive)
//                                                         "MAJ:MIN Read N" / "MAJ:MIN Write N", summed
//                                                  procs  cgroup.procs of the pod and its sub-cgroups
//   /proc/PID/status of every process found        vm     VmSize (kB), summed
//   /sys/class/net/<host veth>/statistics          rx_bytes of the host end = what the pod sent
//                                                  (network_tx), tx_bytes = what it received
//   sub-cgroups of the pod                         container_cnt (see containerCount)
//
// Kernel documentation: Documentation/admin-guide/cgroup-v2.rst ("cpu.stat", "memory.stat",
// "io.stat"), Documentation/admin-guide/cgroup-v1/{cpuacct,memory,blkio-controller}.rst.
//
// Where kubelet puts a pod (https://kubernetes.io/docs/concepts/architecture/cgroups/, kubelet
// pkg/kubelet/cm/cgroup_manager_linux.go), below each hierarchy root (the v2 mount, or each v1
// controller's mount):
//   cgroupfs driver   kubepods/pod<uid>                         (Guaranteed QoS)
//                     kubepods/{burstable,besteffort}/pod<uid>
//   systemd driver    kubepods.slice/kubepods-pod<uid_>.slice   (uid with '-' as '_')
//                     kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid_>.slice
// With kubelet --cgroup-root (kind, nested runtimes) the kubepods directory sits deeper, e.g.
// kubelet.slice/kubelet-kubepods.slice: the roots are searched two levels down for it.
//
// Counters become values per interval: cpu is % of one core over the interval, network and io are
// bytes in the interval; the first sample of a pod has none of them (null), a counter that went
// backwards (veth or cgroup recreated) restarts from 0. vm and rss are bytes now.
//
// Nothing here throws: a pod, file or process that vanished between two reads is counted in
// Counters `pod_stats_misses{reason}` and its value left out. Work per sample is bounded: at most
// maxPodsPerTick pods (the rest are counted, not sampled), maxPidsPerPod /proc reads per pod and
// MAX_CGROUP_DIRS sub-cgroups per pod. Reads are synchronous (open/read/close): cgroup, sysfs and /proc files are
// generated in memory by the kernel, never wait on a disk, and 100 pods take a few ms (see
// test/integration/pod-stats.test.ts for the measurement).

import type { PodSample } from '../records.js'
import { closeSync, existsSync, openSync, readdirSync, readSync, type Dirent } from 'node:fs'
import type { Counters } from '../counters.js'

/** One pod to sample (the session builds these from the attached pods). */
export interface PodTarget {
  uid: string
  namespace: string
  name: string
  workload?: string
  node?: string
  ip?: string
  /** runtime container ids, with or without the 'containerd://' scheme */
  containerIds: readonly string[]
  /** host side of the pod's veth */
  veth?: string
}


/** Mount points of the hierarchies read; absent = not available here. */
export interface CgroupMounts {
  /** the cgroup2 mount (/sys/fs/cgroup, or /sys/fs/cgroup/unified on hybrid hosts) */
  v2?: string
  cpuacct?: string
  memory?: string
  blkio?: string
}

export interface PodStatsOptions {
  /** hierarchies to read (default: from /proc/self/mounts) */
  mounts?: CgroupMounts
  /** default '/proc' */
  procRoot?: string
  /** default '/sys/class/net' */
  sysClassNet?: string
  counters?: Counters
  /** pods sampled per call; the rest are counted in pod_stats_misses{reason=pods_cap} (default 1000) */
  maxPodsPerTick?: number
  /** /proc/PID/status reads per pod (default 256) */
  maxPidsPerPod?: number
  /** a missing pod makes the kubepods directories be looked for again at most this often (default 5 s) */
  rescanMs?: number
  /** monotonic clock in µs for intervals (tests) */
  monoUs?: () => number
  /** wall clock in µs for sample times (tests) */
  wallUs?: () => number
}

/** Counters name for what could not be read, label reason. */
export const POD_STATS_MISSES = 'pod_stats_misses'
/** Counters name for counters that went backwards (veth or cgroup recreated), label what. */
export const POD_STATS_RESETS = 'pod_stats_counter_resets'

/** sub-cgroups walked per pod for processes (a pod has a handful of containers) */
const MAX_CGROUP_DIRS = 64
/** depth below the pod's cgroup walked for processes (container, and runtimes' own sub-groups) */
const MAX_CGROUP_DEPTH = 3
/** /proc/PID/status VmSize is in kB (fs/proc/task_mmu.c task_mem) */
const KIB = 1024

/** The cgroup mount points in a /proc/mounts text. */
export function parseCgroupMounts(text: string): CgroupMounts {
  const m: CgroupMounts = {}
  for (const line of text.split('\n')) {
    // "cgroup /sys/fs/cgroup/cpu,cpuacct cgroup rw,nosuid,nodev,noexec,relatime,cpu,cpuacct 0 0"
    const f = line.split(' ')
    if (f.length < 4) continue
    const dir = f[1]!.replace(/\\040/g, ' ')
    if (f[2] === 'cgroup2') {
      m.v2 ??= dir
    } else if (f[2] === 'cgroup') {
      const opts = f[3]!.split(',')
      for (const c of ['cpuacct', 'memory', 'blkio'] as const) if (opts.includes(c)) m[c] ??= dir
    }
  }
  return m
}

/** one buffer for every read: the files are small (memory.stat ~1.5 KB, /proc/PID/status ~1.4 KB) */
const READ_BUF = Buffer.allocUnsafe(64 * 1024)

/**
 * A small kernel-generated file as text, null when it is gone. open + read + close into a shared
 * buffer: readFileSync adds an fstat and, as these files report size 0, reads in growing chunks.
 * Past 64 KiB the rest is left unread (cgroup.procs of a pod with ~9000 processes; maxPidsPerPod
 * reads far fewer).
 */
function readText(path: string): string | null {
  let fd: number
  try {
    fd = openSync(path, 'r')
  } catch {
    return null
  }
  try {
    let n = 0
    for (;;) {
      const got = readSync(fd, READ_BUF, n, READ_BUF.length - n, null)
      if (got === 0) break
      n += got
      if (n === READ_BUF.length) break
    }
    return READ_BUF.toString('latin1', 0, n)
  } catch {
    return null
  } finally {
    closeSync(fd)
  }
}

/** The number after `key ` at a line start in a "key value" file (memory.stat, cpu.stat); null when absent. */
export function statValue(text: string, key: string): number | null {
  let at = text.startsWith(key + ' ') ? 0 : text.indexOf('\n' + key + ' ')
  if (at < 0) return null
  if (at > 0) at++
  const end = text.indexOf('\n', at)
  const v = Number(text.slice(at + key.length + 1, end < 0 ? undefined : end))
  return Number.isFinite(v) ? v : null
}

/** v2 io.stat ("8:0 rbytes=1 wbytes=2 rios=..."), rbytes and wbytes summed over devices. */
export function parseIoStatV2(text: string): { read: number; write: number } {
  let read = 0
  let write = 0
  for (const m of text.matchAll(/\b([rw])bytes=(\d+)/g)) {
    if (m[1] === 'r') read += Number(m[2])
    else write += Number(m[2])
  }
  return { read, write }
}

/** v1 blkio.throttle.io_service_bytes ("8:0 Read 1" ... "Total 3"), Read and Write summed over devices. */
export function parseBlkioV1(text: string): { read: number; write: number } {
  let read = 0
  let write = 0
  for (const line of text.split('\n')) {
    const f = line.split(' ')
    if (f.length !== 3) continue // the closing "Total N" line has 2 fields
    if (f[1] === 'Read') read += Number(f[2]) || 0
    else if (f[1] === 'Write') write += Number(f[2]) || 0
  }
  return { read, write }
}

/** VmSize of a /proc/PID/status text in bytes; null for kernel threads (no such line). */
export function vmSizeBytes(status: string): number | null {
  const at = status.indexOf('\nVmSize:')
  if (at < 0) return null
  const end = status.indexOf('\n', at + 8)
  const kb = parseInt(status.slice(at + 8, end < 0 ? undefined : end).trim(), 10)
  return Number.isFinite(kb) ? kb * KIB : null
}

/** Container id without its runtime scheme ('containerd://abc' -> 'abc'). */
export function bareContainerId(id: string): string {
  const i = id.indexOf('://')
  return i < 0 ? id : id.slice(i + 3)
}

/**
 * Containers of a pod: its sub-cgroups naming one of its container ids (cgroupfs '<id>', systemd
 * 'cri-containerd-<id>.scope', 'docker-<id>.scope', 'crio-<id>.scope'); with no such sub-cgroup
 * (ids not known yet, another naming) the ids from the pod's status, and with no ids either, the
 * sub-cgroups themselves (then the sandbox, e.g. pause, counts too).
 */
export function containerCount(subdirs: readonly string[], ids: readonly string[]): number {
  const bare = ids.map(bareContainerId).filter((x) => x !== '')
  if (bare.length > 0) {
    const n = subdirs.filter((d) => bare.some((id) => d.includes(id))).length
    return n > 0 ? n : bare.length
  }
  return subdirs.length
}

type Hier = 'cpuacct' | 'memory' | 'blkio' | 'v2'

interface PodState {
  /** the pod's directory per hierarchy (null: looked for, not found) */
  dirs: Partial<Record<Hier, string | null>>
  prevMonoUs?: number
  cpuNs?: number
  rx?: number
  tx?: number
  veth?: string
  rd?: number
  wr?: number
  /** sample generation that last saw the pod (state of pods not sampled any more is dropped) */
  seen: number
}

/** Reads pods' resource use; one instance keeps the previous counters of every pod it samples. */
export class PodStatsReader {
  readonly mounts: CgroupMounts
  private readonly proc: string
  private readonly net: string
  private readonly pods = new Map<string, PodState>()
  /** kubepods directories per hierarchy root, and when they were looked for */
  private readonly bases = new Map<string, { atMs: number; dirs: string[] }>()
  private gen = 0
  private readonly monoUs: () => number
  private readonly wallUs: () => number

  constructor(private readonly o: PodStatsOptions = {}) {
    this.mounts = o.mounts ?? parseCgroupMounts(readText('/proc/self/mounts') ?? '')
    this.proc = o.procRoot ?? '/proc'
    this.net = o.sysClassNet ?? '/sys/class/net'
    this.monoUs = o.monoUs ?? (() => performance.now() * 1000)
    this.wallUs = o.wallUs ?? (() => Date.now() * 1000)
  }

  /** Pods tracked (their previous counters kept). */
  get tracked(): number {
    return this.pods.size
  }

  /** Samples every pod (up to maxPodsPerTick); pods not in `targets` are forgotten. */
  sample(targets: readonly PodTarget[]): PodSample[] {
    const gen = ++this.gen
    const cap = this.o.maxPodsPerTick ?? 1000
    if (targets.length > cap) this.miss('pods_cap', targets.length - cap)
    const out: PodSample[] = []
    for (let i = 0; i < targets.length && i < cap; i++) {
      const s = this.samplePod(targets[i]!, gen)
      if (s !== null) out.push(s)
    }
    for (const [uid, st] of this.pods) if (st.seen !== gen) this.pods.delete(uid)
    return out
  }

  private miss(reason: string, n = 1): void {
    this.o.counters?.inc(POD_STATS_MISSES, { reason }, n)
  }

  /** Hierarchy root per metric: a v1 controller when mounted (hybrid hosts keep kubepods there), else v2. */
  private rootOf(h: Exclude<Hier, 'v2'>): { h: Hier; root: string } | null {
    const v1 = this.mounts[h]
    if (v1 !== undefined) return { h, root: v1 }
    return this.mounts.v2 !== undefined ? { h: 'v2', root: this.mounts.v2 } : null
  }

  private samplePod(t: PodTarget, gen: number): PodSample | null {
    if (t.uid === '') return null
    let st = this.pods.get(t.uid)
    if (st === undefined) {
      st = { dirs: {}, seen: gen }
      this.pods.set(t.uid, st)
    }
    st.seen = gen
    const nowMono = this.monoUs()
    const intervalUs = st.prevMonoUs !== undefined ? nowMono - st.prevMonoUs : null
    st.prevMonoUs = nowMono

    // cpu
    let cpuPercent: number | null = null
    const cpuRoot = this.rootOf('cpuacct')
    if (cpuRoot !== null) {
      const text = this.readPodFile(t.uid, st, cpuRoot.h, cpuRoot.root, cpuRoot.h === 'v2' ? 'cpu.stat' : 'cpuacct.usage')
      const ns = text === null ? null : cpuRoot.h === 'v2' ? mul(statValue(text, 'usage_usec'), 1000) : num(text)
      if (ns !== null) {
        const d = this.delta(st.cpuNs, ns, 'cpu')
        st.cpuNs = ns
        if (d !== null && intervalUs !== null && intervalUs > 0) cpuPercent = round3((d / (intervalUs * 1000)) * 100)
      } else st.cpuNs = undefined
    }

    // memory, processes, containers
    let rssBytes: number | null = null
    let usage: number | null = null
    const memRoot = this.rootOf('memory')
    let procDir: string | null = null
    if (memRoot !== null) {
      const v2 = memRoot.h === 'v2'
      const stat = this.readPodFile(t.uid, st, memRoot.h, memRoot.root, 'memory.stat')
      if (stat !== null) rssBytes = statValue(stat, v2 ? 'anon' : 'total_rss')
      const dir = st.dirs[memRoot.h]
      if (dir) {
        usage = num(readText(`${dir}/${v2 ? 'memory.current' : 'memory.usage_in_bytes'}`))
        procDir = dir
      }
    }
    if (procDir === null) {
      // no memory hierarchy: processes from the cpu one
      procDir = (cpuRoot && st.dirs[cpuRoot.h]) || null
    }
    const { pids, subdirs } = procDir !== null ? this.processes(procDir) : { pids: [], subdirs: [] }
    let vmBytes: number | null = null
    if (pids.length > 0) {
      const maxPids = this.o.maxPidsPerPod ?? 256
      if (pids.length > maxPids) this.miss('pids_cap', pids.length - maxPids)
      let sum = 0
      let got = 0
      for (let i = 0; i < pids.length && i < maxPids; i++) {
        const s = readText(`${this.proc}/${pids[i]}/status`)
        if (s === null) {
          this.miss('pid_gone')
          continue
        }
        const v = vmSizeBytes(s)
        if (v !== null) {
          sum += v
          got++
        }
      }
      vmBytes = got > 0 ? sum : null
    }

    // block I/O
    let bytesRead: number | null = null
    let bytesWrite: number | null = null
    const ioRoot = this.rootOf('blkio')
    if (ioRoot !== null) {
      const v2 = ioRoot.h === 'v2'
      let text = this.readPodFile(t.uid, st, ioRoot.h, ioRoot.root, v2 ? 'io.stat' : 'blkio.throttle.io_service_bytes_recursive', true)
      // kernels before 4.2 have no _recursive file: the pod's own (its containers' I/O is charged to them)
      if (text === null && !v2 && st.dirs.blkio) text = readText(`${st.dirs.blkio}/blkio.throttle.io_service_bytes`)
      if (text !== null) {
        const io = v2 ? parseIoStatV2(text) : parseBlkioV1(text)
        bytesRead = this.delta(st.rd, io.read, 'io')
        bytesWrite = this.delta(st.wr, io.write, 'io')
        st.rd = io.read
        st.wr = io.write
      } else {
        st.rd = st.wr = undefined
      }
    }

    // network: the host end of the veth counts the other way round
    let networkTx: number | null = null
    let networkRx: number | null = null
    if (t.veth !== undefined) {
      const base = `${this.net}/${t.veth}/statistics`
      const rx = num(readText(`${base}/rx_bytes`))
      const tx = num(readText(`${base}/tx_bytes`))
      if (rx === null || tx === null) {
        this.miss('veth_gone')
        st.rx = st.tx = undefined
      } else {
        const same = st.veth === t.veth
        networkTx = same ? this.delta(st.rx, rx, 'network') : null
        networkRx = same ? this.delta(st.tx, tx, 'network') : null
        st.rx = rx
        st.tx = tx
        st.veth = t.veth
      }
    }

    const ids = t.containerIds.map(bareContainerId).filter((x) => x !== '')
    const s: PodSample = {
      timeUs: this.wallUs(),
      namespace: t.namespace,
      pod: t.name,
      uid: t.uid,
      containerCnt: containerCount(subdirs, ids),
      processes: pids.length,
      intervalUs: intervalUs === null ? null : Math.round(intervalUs),
      cpuPercent,
      networkTx,
      networkRx,
      bytesRead,
      bytesWrite,
      vmBytes,
      rssBytes,
      memoryUsageBytes: usage,
    }
    if (t.workload !== undefined) s.workload = t.workload
    if (t.node !== undefined) s.node = t.node
    if (t.ip !== undefined) s.podIp = t.ip
    if (ids.length === 1) s.containerId = ids[0]
    return s
  }

  /** cur - prev; null without prev; a counter that went backwards restarted at 0 (recreated). */
  private delta(prev: number | undefined, cur: number, what: string): number | null {
    if (prev === undefined) return null
    if (cur >= prev) return cur - prev
    this.o.counters?.inc(POD_STATS_RESETS, { what })
    return cur
  }

  /**
   * A file of the pod's cgroup in hierarchy h; finds the directory first (cached). A cached
   * directory that vanished (the pod's cgroup recreated, or the pod gone) is looked for once more.
   */
  private readPodFile(uid: string, st: PodState, h: Hier, root: string, file: string, quiet = false): string | null {
    let dir = st.dirs[h]
    if (dir === undefined || dir === null) dir = st.dirs[h] = this.findPodDir(root, uid)
    if (dir === null) {
      this.miss('cgroup_not_found')
      return null
    }
    const text = readText(`${dir}/${file}`)
    if (text !== null) return text
    if (existsSync(dir)) {
      // the directory is there, the file is not: this kernel or hierarchy lacks it
      if (!quiet) this.miss('file_missing')
      return null
    }
    this.miss('cgroup_gone')
    dir = st.dirs[h] = this.findPodDir(root, uid)
    return dir === null ? null : readText(`${dir}/${file}`)
  }

  /** The pod's cgroup below `root`, or null. */
  findPodDir(root: string, uid: string): string | null {
    const dashed = `pod${uid}`
    const under = `pod${uid.replace(/-/g, '_')}`
    const look = (bases: string[]): string | null => {
      for (const b of bases) {
        // systemd slices repeat their parents' names: kubepods.slice -> kubepods-burstable.slice
        const slice = b.endsWith('.slice') ? b.slice(b.lastIndexOf('/') + 1, -'.slice'.length) : null
        const cands =
          slice === null
            ? [`${b}/${dashed}`, `${b}/burstable/${dashed}`, `${b}/besteffort/${dashed}`]
            : [`${b}/${slice}-${under}.slice`, `${b}/${slice}-burstable.slice/${slice}-burstable-${under}.slice`, `${b}/${slice}-besteffort.slice/${slice}-besteffort-${under}.slice`]
        for (const c of cands) if (existsSync(c)) return c
      }
      return null
    }
    let cached = this.bases.get(root)
    if (cached === undefined) {
      cached = { atMs: Date.now(), dirs: kubepodsDirs(root) }
      this.bases.set(root, cached)
    }
    const found = look(cached.dirs)
    if (found !== null) return found
    if (Date.now() - cached.atMs < (this.o.rescanMs ?? 5000)) return null
    cached.atMs = Date.now()
    cached.dirs = kubepodsDirs(root)
    return look(cached.dirs)
  }

  /** Processes of a pod's cgroup and its sub-cgroups, and the names of its direct sub-cgroups. */
  private processes(dir: string): { pids: number[]; subdirs: string[] } {
    const pids: number[] = []
    const subdirs: string[] = []
    const queue: { d: string; depth: number }[] = [{ d: dir, depth: 0 }]
    let walked = 0
    while (queue.length > 0) {
      const { d, depth } = queue.shift()!
      if (++walked > MAX_CGROUP_DIRS) {
        this.miss('cgroup_dirs_cap')
        break
      }
      const procs = readText(`${d}/cgroup.procs`)
      if (procs === null) {
        this.miss('cgroup_gone')
        continue
      }
      for (const l of procs.split('\n')) if (l !== '') pids.push(Number(l))
      if (depth >= MAX_CGROUP_DEPTH) continue
      let entries: Dirent[]
      try {
        entries = readdirSync(d, { withFileTypes: true })
      } catch {
        continue
      }
      for (const e of entries) {
        if (!e.isDirectory()) continue
        if (depth === 0) subdirs.push(e.name)
        queue.push({ d: `${d}/${e.name}`, depth: depth + 1 })
      }
    }
    return { pids, subdirs }
  }
}

/** kubepods directories at a hierarchy root, or up to two levels below it (kubelet --cgroup-root). */
function kubepodsDirs(root: string): string[] {
  const out: string[] = []
  const isKubepods = (n: string) => n === 'kubepods' || n === 'kubepods.slice' || n.endsWith('-kubepods.slice')
  const walk = (dir: string, depth: number): void => {
    let entries: Dirent[]
    try {
      entries = readdirSync(dir, { withFileTypes: true })
    } catch {
      return
    }
    for (const e of entries) {
      if (!e.isDirectory()) continue
      if (isKubepods(e.name)) out.push(`${dir}/${e.name}`)
      // services and sessions never hold pods
      else if (depth < 2 && !/^(system|user|machine)\.slice$|\.scope$|^pod/.test(e.name)) walk(`${dir}/${e.name}`, depth + 1)
    }
  }
  for (const n of ['kubepods', 'kubepods.slice']) if (existsSync(`${root}/${n}`)) out.push(`${root}/${n}`)
  if (out.length > 0) return out
  walk(root, 0)
  // the usual places first
  return out.sort((a, b) => a.split('/').length - b.split('/').length)
}

function num(text: string | null): number | null {
  if (text === null) return null
  const v = Number(text.trim())
  return text.trim() !== '' && Number.isFinite(v) ? v : null
}

function mul(v: number | null, k: number): number | null {
  return v === null ? null : v * k
}

function round3(v: number): number {
  return Math.round(v * 1000) / 1000
}

export interface PodStatsSamplerOptions extends PodStatsOptions {
  /** receives every round of samples (OutputHub.pods); a pod missing from a round is gone */
  onPods(samples: PodSample[]): void
  /** time between rounds (default 15 000 ms, the RED window) */
  intervalMs?: number
  log?: (msg: string) => void
}

/**
 * Samples the pods `targets()` names every intervalMs and hands each round to onPods. start() and
 * stop() are idempotent; a failing round is logged once and the timer goes on.
 */
export class PodStatsSampler {
  readonly reader: PodStatsReader
  private timer: NodeJS.Timeout | null = null
  private saidError = false
  /** rounds sampled, and how long the last one took (ms) */
  rounds = 0
  lastDurationMs = 0

  constructor(
    private readonly targets: () => PodTarget[],
    private readonly o: PodStatsSamplerOptions,
  ) {
    this.reader = new PodStatsReader(o)
  }

  start(): void {
    if (this.timer !== null) return
    this.timer = setInterval(() => this.sampleNow(), this.o.intervalMs ?? 15_000)
    this.timer.unref()
  }

  /** One round now: samples, hands them to onPods, returns them (never throws). */
  sampleNow(): PodSample[] {
    try {
      const t0 = performance.now()
      const samples = this.reader.sample(this.targets())
      this.lastDurationMs = performance.now() - t0
      this.rounds++
      this.o.onPods(samples)
      return samples
    } catch (e) {
      if (!this.saidError) this.o.log?.(`pod stats: sampling failed: ${(e as Error).message}`)
      this.saidError = true
      return []
    }
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer)
    this.timer = null
  }
}
