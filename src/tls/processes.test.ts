// ProcessWatcher against this machine's real /proc (child processes it starts itself), plus a fixture
// tree for what a live /proc cannot be made to show on demand (odd cgroup files, a vanishing pid).
// No root needed.

import { spawn, type ChildProcess } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { cgroupPathOf, ProcessWatcher, startTicksOf, type ExitReason, type ProcessInfo } from './processes.js'

const children: ChildProcess[] = []
afterEach(() => {
  for (const c of children.splice(0)) c.kill('SIGKILL')
})

function run(cmd: string, args: string[]): ChildProcess {
  const c = spawn(cmd, args, { stdio: 'ignore' })
  children.push(c)
  return c
}

function recorder(): { starts: ProcessInfo[]; exits: [ProcessInfo, ExitReason][]; w: ProcessWatcher } {
  const starts: ProcessInfo[] = []
  const exits: [ProcessInfo, ExitReason][] = []
  const w = new ProcessWatcher({ onStart: (p) => starts.push(p), onExit: (p, why) => exits.push([p, why]) })
  return { starts, exits, w }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

async function until(f: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms
  while (!f()) {
    if (Date.now() > end) throw new Error('condition not met in time')
    await sleep(20)
  }
}

describe('ProcessWatcher on the real /proc', () => {
  it('check(pid): a process the kernel said exec\'d is reported at once, a second exec as exit + start', async () => {
    const { starts, exits, w } = recorder()
    w.scan()
    // sh waits for a line on its stdin, then execs sleep (same pid, another executable)
    const c = spawn('sh', ['-c', 'read x; exec sleep 30'], { stdio: ['pipe', 'ignore', 'ignore'] })
    children.push(c)
    await until(() => existsProc(c.pid!) && readFileComm(c.pid!) === 'sh')
    w.check(c.pid!)
    expect(starts.filter((p) => p.pid === c.pid).map((p) => p.comm)).toEqual(['sh'])
    w.check(c.pid!) // the same executable again: nothing
    expect(starts.filter((p) => p.pid === c.pid)).toHaveLength(1)
    c.stdin!.write('go\n')
    await until(() => readFileComm(c.pid!) === 'sleep')
    w.check(c.pid!)
    expect(exits.filter(([p]) => p.pid === c.pid).map(([p, why]) => [p.comm, why])).toEqual([['sh', 'exec']])
    expect(starts.filter((p) => p.pid === c.pid).map((p) => p.comm)).toEqual(['sh', 'sleep'])
    expect(w.counters().checks).toBe(3)
    w.close()
  })

  it('lists running processes with exe path, exe key and cgroup, and reports a new one and its exit', async () => {
    const { starts, exits, w } = recorder()
    w.scan()
    const self = w.get(process.pid)!
    expect(self.comm).toBe(readFileComm(process.pid))
    expect(self.exeKey).toBe(keyOf(`/proc/${process.pid}/exe`))
    // the host-visible path is the same file as the running executable
    expect(keyOf(self.exePath)).toBe(self.exeKey)
    expect(self.exePath.endsWith(readlinkSync(`/proc/${process.pid}/exe`))).toBe(true)
    expect(self.startTicks).toBeGreaterThan(0)
    expect(starts.some((p) => p.pid === process.pid)).toBe(true)
    // kernel threads have no executable: not processes here
    expect(w.get(2)).toBeUndefined()

    const before = starts.length
    const c = run('sleep', ['30'])
    await until(() => existsProc(c.pid!))
    w.scan()
    const mine = starts.slice(before).find((p) => p.pid === c.pid)!
    expect(mine.comm).toBe('sleep')
    expect(mine.exeKey).toBe(keyOf('/proc/' + c.pid + '/exe'))
    // two processes of one file share the exe key
    const d = run('sleep', ['30'])
    await until(() => existsProc(d.pid!))
    w.scan()
    expect(w.get(d.pid!)!.exeKey).toBe(mine.exeKey)

    c.kill('SIGKILL')
    await new Promise((r) => c.once('exit', r))
    w.scan()
    expect(exits.find(([p]) => p.pid === c.pid)?.[1]).toBe('exit')
    expect(w.get(c.pid!)).toBeUndefined()
    expect(w.get(d.pid!)).toBeDefined()
  })

  it('sees an exec as the exit of the old image and the start of the new one', async () => {
    const { starts, exits, w } = recorder()
    w.setPidFilter([]) // nothing selected until the child's pid is known
    const c = run('sh', ['-c', 'sleep 2; exec sleep 30'])
    w.setPidFilter([c.pid!])
    await until(() => existsProc(c.pid!))
    w.scan()
    expect(starts.map((p) => [p.pid, p.comm])).toEqual([[c.pid, 'sh']])
    await until(() => readFileComm(c.pid!) === 'sleep', 10_000)
    w.scan()
    expect(exits.map(([p, why]) => [p.comm, why])).toEqual([['sh', 'exec']])
    expect(starts.map((p) => p.comm)).toEqual(['sh', 'sleep'])
    expect(starts[1]!.exeKey).not.toBe(starts[0]!.exeKey)
  })

  it('filters by pid and by cgroup, and reports what a filter change selects or leaves out', async () => {
    const { starts, exits, w } = recorder()
    const c = run('sleep', ['30'])
    await until(() => existsProc(c.pid!))
    w.setPidFilter([c.pid!])
    w.scan()
    expect(w.list().map((p) => p.pid)).toEqual([c.pid])
    expect(starts.map((p) => p.pid)).toEqual([c.pid])
    w.setCgroupFilter((cg) => cg === 'no such cgroup')
    expect(w.list()).toEqual([])
    expect(exits.map(([p, why]) => [p.pid, why])).toEqual([[c.pid, 'deselected']])
    const own = w.get(c.pid!)!.cgroupPath
    w.setCgroupFilter((cg) => cg === own)
    expect(w.list().map((p) => p.pid)).toEqual([c.pid])
    // a throwing predicate selects nothing and does not throw out of the watcher
    w.setFilter(() => {
      throw new Error('boom')
    })
    expect(w.list()).toEqual([])
    w.setFilter(null)
    w.setPidFilter(null)
    expect(w.list().length).toBeGreaterThan(1)
  })

  it('start() finds a process started later within a second', async () => {
    const seen: number[] = []
    const w = new ProcessWatcher({ onStart: (p) => seen.push(p.pid), intervalMs: 500 })
    w.start()
    try {
      const c = run('sleep', ['30'])
      await until(() => seen.includes(c.pid!), 10_000)
    } finally {
      w.close()
    }
    const n = seen.length
    await sleep(600)
    expect(seen.length).toBe(n) // closed: no more scans
  })
})

describe('ProcessWatcher on a fixture /proc', () => {
  it('skips what cannot be read, counts a pid gone mid-read, caps the table', () => {
    const root = mkdtempSync(join(tmpdir(), 'podtap-proc-'))
    try {
      const exe = join(root, 'bin-app')
      writeFileSync(exe, 'x')
      const mk = (pid: number, o: { exe?: boolean; cgroup?: string; stat?: string } = {}): void => {
        const d = join(root, String(pid))
        mkdirSync(d)
        if (o.exe !== false) symlinkSync(exe, join(d, 'exe'))
        symlinkSync('/', join(d, 'root'))
        writeFileSync(join(d, 'comm'), `app${pid}\n`)
        writeFileSync(join(d, 'stat'), o.stat ?? `${pid} (a) b) S 1 ${'0 '.repeat(17)}4242 0 0\n`)
        if (o.cgroup !== undefined) writeFileSync(join(d, 'cgroup'), o.cgroup)
      }
      mk(10, { cgroup: '0::/kubepods.slice/pod-x/cri-containerd-1.scope\n' })
      mk(11, { exe: false }) // a kernel thread
      mk(12, { stat: 'garbage' }) // no cgroup file, unreadable stat fields
      mkdirSync(join(root, 'self'))
      writeFileSync(join(root, 'uptime'), '1 1\n')
      const w = new ProcessWatcher({ proc: root, maxProcesses: 2 })
      w.scan()
      expect(w.get(10)).toMatchObject({
        comm: 'app10', exeKey: keyOf(exe), cgroupPath: '/kubepods.slice/pod-x/cri-containerd-1.scope', startTicks: 4242,
      })
      expect(w.get(10)!.exePath).toBe(join(root, '10', 'root') + exe)
      expect(w.get(11)).toBeUndefined()
      expect(w.get(12)).toMatchObject({ cgroupPath: '', startTicks: -1 })
      mk(13)
      w.scan()
      expect(w.counters()).toMatchObject({ processes: 2, capped: 1 })
      rmSync(join(root, '10'), { recursive: true })
      w.scan()
      expect(w.get(10)).toBeUndefined()
      expect(w.get(13)).toBeDefined() // room again
      // a missing /proc: nothing, no throw
      rmSync(root, { recursive: true })
      expect(() => w.scan()).not.toThrow()
    } finally {
      rmSync(root, { recursive: true, force: true })
    }
  })

  it('cgroupPathOf: v2, v1 memory, hybrid, empty', () => {
    expect(cgroupPathOf('0::/system.slice/a.service\n')).toBe('/system.slice/a.service')
    const v1 = '12:pids:/kubepods/pod1/c1\n4:cpu,memory:/kubepods/burstable/pod1/c1\n1:name=systemd:/x\n'
    expect(cgroupPathOf(v1)).toBe('/kubepods/burstable/pod1/c1')
    expect(cgroupPathOf('4:memory:/docker/abc\n0::/\n')).toBe('/docker/abc')
    expect(cgroupPathOf('2:cpu:/a\n')).toBe('/a')
    expect(cgroupPathOf('')).toBe('')
    expect(startTicksOf('1 (a b) c) S ' + '0 '.repeat(18) + '77 0')).toBe(77)
  })
})

function keyOf(p: string): string {
  const st = statSync(p)
  return `${st.dev}:${st.ino}`
}

function existsProc(pid: number): boolean {
  try {
    statSync(`/proc/${pid}/exe`)
    return true
  } catch {
    return false
  }
}

function readFileComm(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'latin1').trim()
  } catch {
    return ''
  }
}
