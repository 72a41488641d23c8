// The processes of this host (or of the selected pods) as the TLS taps need them: which ones run,
// which executable each runs (once per file, however many processes share it), and when one starts,
// execs or exits. Shared by the Go tap (src/tls/go/) and the Node tap.
//
//   const w = new ProcessWatcher({ onStart: (p) => ..., onExit: (p, why) => ... })
//   w.start()               // one synchronous scan: onStart for every selected process running now,
//                           // then a scan every intervalMs (default 500 ms: a new process is seen
//                           // within ~0.5 s)
//   w.list()                // the selected processes now
//   w.setPidFilter([1, 2])  // --tls-pid: only these (null: no pid filter)
//   w.setCgroupFilter((cg) => cg.includes('pod1234'))   // --k8s: the node's selected pods
//   w.close()
//
// API
//   ProcessInfo            { pid, comm, exePath, exeKey, cgroupPath, startTicks }
//     exePath              a path the HOST can open for the executable: /proc/PID/root + the exe link
//                          target when that file is the one running (same dev:inode), else
//                          /proc/PID/exe (a deleted or replaced binary; valid while the process lives)
//     exeKey               'dev:inode' of the running executable: probe a file once for all its
//                          processes (a uprobe attaches to the inode)
//     cgroupPath           the process's cgroup: the cgroup v2 path ("0::" line) on a v2 or hybrid
//                          host, else the v1 memory controller's path, else the first line's; '' if
//                          unreadable. Pod UIDs and container ids are in it (identity/).
//     startTicks           /proc/PID/stat field 22: with pid, names the process (pids are reused)
//   onStart(p)             a selected process appeared, or exec'd a new executable (an exec is an
//                          onExit(p, 'exec') of the old image, then onStart of the new one), or a
//                          filter change selected it
//   onExit(p, why)         why: 'exit' | 'exec' | 'deselected' (a filter change left it out)
//   scan()                 one poll now (tests; start() schedules them)
//   check(pid)             one pid now: the kernel reported an exec (TLS tap's sched_process_exec
//                          records, TlsTapOptions.onExec), so a new executable is probed within
//                          milliseconds, not at the next scan
//   setPidFilter(pids|null), setCgroupFilter(pred|null), setFilter(pred|null): change the selection;
//                          the next scan (run at once) reports the differences
//   counters()             { scans, checks, processes, selected, vanished, capped, lastScanUs }
//
// Why polling: a 500 ms readdir of /proc plus one stat(/proc/PID/exe) per process (the exec check)
// costs ~6 µs per pid: 0.6 ms per scan for the 98 pids (35 processes) of this machine, the first
// scan (reads everything) 7.7 ms; ~3 ms per scan for 500 processes, 0.6% of a core.
// With --tls the scan is the fallback: the TLS tap's raw_tp sched_process_exec reports every exec
// through its ring and check(pid) reads that one process at once (a Go client that starts, makes its
// requests and exits within 100 ms was missed whole between two scans). Uprobes attach to files, so a
// process of an already-probed executable is tapped from its first instruction anyway.
//
// Bounded: at most maxProcesses (default 32768) are tracked; beyond that new pids are counted as
// 'capped' and skipped. Never throws on a process that vanishes while it is read (every /proc read
// may fail with ENOENT/ESRCH): such a pid is left for the next scan, or counted as vanished.
// Kernel threads (no exe link) are not processes here.

import { readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs'

export interface ProcessInfo {
  pid: number
  /** /proc/PID/comm, at most 15 characters */
  comm: string
  /** host-visible path of the executable (see the file comment) */
  exePath: string
  /** 'dev:inode' of the executable */
  exeKey: string
  /** the process's cgroup path (see the file comment) */
  cgroupPath: string
  /** /proc/PID/stat starttime, clock ticks since boot */
  startTicks: number
}

export type ExitReason = 'exit' | 'exec' | 'deselected'

export interface ProcessWatcherOptions {
  onStart?: (p: ProcessInfo) => void
  onExit?: (p: ProcessInfo, why: ExitReason) => void
  /** poll period, 50..1000 ms (default 500) */
  intervalMs?: number
  /** only these pids (as setPidFilter) */
  pids?: readonly number[] | null
  /** only processes whose cgroup path passes (as setCgroupFilter) */
  cgroupFilter?: ((cgroupPath: string) => boolean) | null
  /** any other selection (as setFilter) */
  filter?: ((p: ProcessInfo) => boolean) | null
  /** the proc file system (default /proc; tests point it at a fixture tree) */
  proc?: string
  /** most processes tracked (default 32768) */
  maxProcesses?: number
}

export interface ProcessWatcherCounters {
  scans: number
  /** single pids looked at on the kernel's word (check) */
  checks: number
  /** processes tracked (every process with an executable) */
  processes: number
  /** of which selected */
  selected: number
  /** pids that disappeared while being read */
  vanished: number
  /** new pids skipped because maxProcesses were tracked (once per scan they are seen) */
  capped: number
  /** duration of the last scan, µs */
  lastScanUs: number
}

interface Tracked {
  info: ProcessInfo
  selected: boolean
}

/** The cgroup path a /proc/PID/cgroup text names (see the file comment for the choice). */
export function cgroupPathOf(text: string): string {
  let v2: string | null = null
  let memory: string | null = null
  let first: string | null = null
  for (const line of text.split('\n')) {
    const a = line.indexOf(':')
    const b = a < 0 ? -1 : line.indexOf(':', a + 1)
    if (b < 0) continue
    const path = line.slice(b + 1).trim()
    const controllers = line.slice(a + 1, b)
    if (line.startsWith('0::')) v2 = path
    else if (controllers.split(',').includes('memory')) memory = path
    first ??= path
  }
  // hybrid hosts have a "0::/" line next to the v1 hierarchies: the v1 path says more there
  if (v2 !== null && (memory === null || v2 !== '/')) return v2
  return memory ?? first ?? ''
}

/** starttime (field 22) of a /proc/PID/stat text; comm (field 2) may hold spaces and ')'. */
export function startTicksOf(stat: string): number {
  const close = stat.lastIndexOf(')')
  if (close < 0) return -1
  // fields after comm start at field 3 (state); starttime is field 22
  const f = stat.slice(close + 2).split(' ')
  const v = Number(f[22 - 3])
  return Number.isFinite(v) ? v : -1
}

export class ProcessWatcher {
  private readonly tracked = new Map<number, Tracked>()
  /** pids without an executable (kernel threads): not read again while they live */
  private readonly noExe = new Set<number>()
  private readonly proc: string
  private readonly intervalMs: number
  private readonly max: number
  private pids: Set<number> | null = null
  private cgroupFilter: ((cgroupPath: string) => boolean) | null
  private filter: ((p: ProcessInfo) => boolean) | null
  private timer: NodeJS.Timeout | null = null
  private closed = false
  private readonly c = { scans: 0, checks: 0, vanished: 0, capped: 0, lastScanUs: 0 }

  constructor(private readonly o: ProcessWatcherOptions = {}) {
    this.proc = o.proc ?? '/proc'
    this.intervalMs = Math.min(1000, Math.max(50, o.intervalMs ?? 500))
    this.max = o.maxProcesses ?? 32768
    this.pids = o.pids == null ? null : new Set(o.pids)
    this.cgroupFilter = o.cgroupFilter ?? null
    this.filter = o.filter ?? null
  }

  /** First scan now (onStart for every selected process), then one every intervalMs. */
  start(): void {
    if (this.closed || this.timer !== null) return
    this.scan()
    this.timer = setInterval(() => this.scan(), this.intervalMs)
    this.timer.unref()
  }

  close(): void {
    this.closed = true
    if (this.timer !== null) clearInterval(this.timer)
    this.timer = null
  }

  /** The selected processes now. */
  list(): ProcessInfo[] {
    const out: ProcessInfo[] = []
    for (const t of this.tracked.values()) if (t.selected) out.push(t.info)
    return out
  }

  /** A tracked process (selected or not), or undefined. */
  get(pid: number): ProcessInfo | undefined {
    return this.tracked.get(pid)?.info
  }

  setPidFilter(pids: readonly number[] | null): void {
    this.pids = pids === null ? null : new Set(pids)
    this.reselect()
  }

  setCgroupFilter(pred: ((cgroupPath: string) => boolean) | null): void {
    this.cgroupFilter = pred
    this.reselect()
  }

  setFilter(pred: ((p: ProcessInfo) => boolean) | null): void {
    this.filter = pred
    this.reselect()
  }

  counters(): ProcessWatcherCounters {
    let selected = 0
    for (const t of this.tracked.values()) if (t.selected) selected++
    return { ...this.c, processes: this.tracked.size, selected }
  }

  /** One poll of /proc: new processes, execs, exits. Never throws. */
  scan(): void {
    if (this.closed) return
    const t0 = process.hrtime.bigint()
    this.c.scans++
    let names: string[]
    try {
      names = readdirSync(this.proc)
    } catch {
      return
    }
    const seen = new Set<number>()
    for (const name of names) {
      const c0 = name.charCodeAt(0)
      if (c0 < 48 || c0 > 57) continue
      const pid = Number(name)
      if (Number.isInteger(pid)) seen.add(pid)
    }
    // exits first: their room in the table is free for this scan's new processes
    for (const [pid, t] of this.tracked) if (!seen.has(pid)) this.drop(pid, t, 'exit')
    for (const pid of this.noExe) if (!seen.has(pid)) this.noExe.delete(pid)
    for (const pid of seen) if (!this.noExe.has(pid)) this.look(pid)
    this.c.lastScanUs = Number((process.hrtime.bigint() - t0) / 1000n)
  }

  /**
   * One pid now, without waiting for the next scan: the kernel said it has just exec'd (the TLS
   * tap's sched_process_exec records). A new process or a new executable is reported at once; the
   * same executable as before, nothing. Never throws.
   */
  check(pid: number): void {
    if (this.closed) return
    this.c.checks++
    this.noExe.delete(pid) // a pid reused since it was a kernel thread
    this.look(pid)
  }

  private look(pid: number): void {
    const old = this.tracked.get(pid)
    if (old !== undefined) {
      const key = this.exeKeyOf(pid)
      if (key === null || key === old.info.exeKey) return
      // exec'd another executable, or the pid was reused between scans: the old image is gone
      this.drop(pid, old, 'exec')
    }
    if (this.tracked.size >= this.max) {
      this.c.capped++
      return
    }
    const info = this.read(pid)
    if (info === null) return
    const t = { info, selected: this.selects(info) }
    this.tracked.set(pid, t)
    if (t.selected) this.emitStart(info)
  }

  private drop(pid: number, t: Tracked, why: ExitReason): void {
    this.tracked.delete(pid)
    if (t.selected) this.emitExit(t.info, why)
  }

  private reselect(): void {
    for (const t of this.tracked.values()) {
      const now = this.selects(t.info)
      if (now === t.selected) continue
      t.selected = now
      if (now) this.emitStart(t.info)
      else this.emitExit(t.info, 'deselected')
    }
  }

  private selects(p: ProcessInfo): boolean {
    if (this.pids !== null && !this.pids.has(p.pid)) return false
    if (this.cgroupFilter !== null && !safe(() => this.cgroupFilter!(p.cgroupPath))) return false
    if (this.filter !== null && !safe(() => this.filter!(p))) return false
    return true
  }

  private emitStart(p: ProcessInfo): void {
    safe(() => (this.o.onStart?.(p), true))
  }

  private emitExit(p: ProcessInfo, why: ExitReason): void {
    safe(() => (this.o.onExit?.(p, why), true))
  }

  private exeKeyOf(pid: number): string | null {
    try {
      const st = statSync(`${this.proc}/${pid}/exe`)
      return `${st.dev}:${st.ino}`
    } catch {
      return null
    }
  }

  /** Everything about one pid, or null (a kernel thread, or it vanished meanwhile). */
  private read(pid: number): ProcessInfo | null {
    const dir = `${this.proc}/${pid}`
    let target: string
    let exeKey: string
    let stat: string
    let comm: string
    try {
      target = readlinkSync(`${dir}/exe`)
      const st = statSync(`${dir}/exe`)
      exeKey = `${st.dev}:${st.ino}`
      stat = readFileSync(`${dir}/stat`, 'latin1')
      comm = readFileSync(`${dir}/comm`, 'latin1').replace(/\n$/, '')
    } catch (e) {
      // ENOENT with the directory still there: a kernel thread (no executable); without it: gone
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') return null
      if (existsDir(dir)) {
        if (this.noExe.size < this.max) this.noExe.add(pid)
      } else {
        this.c.vanished++
      }
      return null
    }
    let cgroup = ''
    try {
      cgroup = cgroupPathOf(readFileSync(`${dir}/cgroup`, 'latin1'))
    } catch {
      // vanished just now: keep what was read, the next scan reports the exit
    }
    return { pid, comm, exePath: hostPath(dir, target, exeKey), exeKey, cgroupPath: cgroup, startTicks: startTicksOf(stat) }
  }
}

/** /proc/PID/root + target when that is the running file, else /proc/PID/exe. */
function hostPath(dir: string, target: string, exeKey: string): string {
  if (target.startsWith('/') && !target.endsWith(' (deleted)')) {
    const p = `${dir}/root${target}`
    try {
      const st = statSync(p)
      if (`${st.dev}:${st.ino}` === exeKey) return p
    } catch {
      // not reachable through the root link (another mount namespace being torn down)
    }
  }
  return `${dir}/exe`
}

function existsDir(p: string): boolean {
  try {
    return statSync(p).isDirectory()
  } catch {
    return false
  }
}

function safe(f: () => boolean): boolean {
  try {
    return f()
  } catch {
    return false
  }
}
