// Pod -> veth resolution pieces that need no root: /proc parsing, and finding the pod's process in a
// /proc tree built here (cgroup with the pod UID, systemd and cgroupfs spellings; else the namespace
// that owns the pod IP). The resolution against real namespaces is in test/integration/k8s-*.test.ts.

import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { compressIpv6, localIpv4FromFibTrie, localIpv6FromIfInet6, VethResolver } from '../../src/capture/veth.js'

// /proc/net/fib_trie of a pod namespace with 10.244.1.7/32 on eth0 and lo (format of Linux 6.x)
const FIB_TRIE = `Main:
  +-- 0.0.0.0/0 3 0 5
     |-- 0.0.0.0
        /0 universe UNICAST
     +-- 10.244.1.0/24 2 0 2
        |-- 10.244.1.0
           /24 link UNICAST
        |-- 10.244.1.7
           /32 host LOCAL
     +-- 127.0.0.0/8 2 0 2
        +-- 127.0.0.0/31 1 0 0
           |-- 127.0.0.0
              /8 host LOCAL
           |-- 127.0.0.1
              /32 host LOCAL
        |-- 127.255.255.255
           /32 link BROADCAST
Local:
  +-- 0.0.0.0/0 3 0 5
     |-- 10.244.1.7
        /32 host LOCAL
`

describe('/proc parsing', () => {
  it('fib_trie: the addresses marked /32 host LOCAL', () => {
    // 127.0.0.0 is "/8 host LOCAL", a local route, not an address
    expect([...localIpv4FromFibTrie(FIB_TRIE)].sort()).toEqual(['10.244.1.7', '127.0.0.1'])
    expect(localIpv4FromFibTrie('garbage\n|-- 1.2.3.4\n')).toEqual(new Set())
  })
  it('if_inet6 lines and RFC 5952 compression', () => {
    const text = ['fd00021300050000000000000000000002 05 7e 00 80     eth0', '00000000000000000000000000000001 01 80 10 80       lo', 'fe80000000000000a8c2bafffe1b2c3d 05 40 20 80     eth0'].join('\n')
    // the first line is 34 hex digits: not an address
    expect([...localIpv6FromIfInet6(text)]).toEqual(['::1', 'fe80::a8c2:baff:fe1b:2c3d'])
    expect(compressIpv6('20010db8000000000001000000000001')).toBe('2001:db8::1:0:0:1')
    expect(compressIpv6('20010db8000000010000000000000001')).toBe('2001:db8:0:1::1')
    expect(compressIpv6('00000000000000000000000000000000')).toBe('::')
    expect(compressIpv6('20010db8000100010001000100010001')).toBe('2001:db8:1:1:1:1:1:1')
    expect(compressIpv6('20010000000000010000000000000000')).toBe('2001:0:0:1::') // the later, longer run
  })
})

describe('VethResolver.findPodPid over a /proc tree', () => {
  let root = ''
  afterEach(() => rmSync(root, { recursive: true, force: true }))

  /** a fake /proc: self in the host namespace, and processes with a namespace, cgroup and fib_trie each */
  function fakeProc(procs: { pid: number; ns: string; cgroup?: string; fib?: string }[]): string {
    root = mkdtempSync(join(tmpdir(), 'podtap-proc-'))
    const add = (dir: string, ns: string, cgroup = '0::/\n', fib = ''): void => {
      mkdirSync(join(root, dir, 'ns'), { recursive: true })
      mkdirSync(join(root, dir, 'net'), { recursive: true })
      symlinkSync(ns, join(root, dir, 'ns', 'net'))
      writeFileSync(join(root, dir, 'cgroup'), cgroup)
      writeFileSync(join(root, dir, 'net', 'fib_trie'), fib)
    }
    add('self', 'net:[4026531840]')
    for (const p of procs) add(String(p.pid), p.ns, p.cgroup, p.fib)
    return root
  }

  it('by the pod UID in the cgroup path (cgroupfs and systemd spellings), before any address match', () => {
    const uid = '3f2a9c1e-77aa-4b6e-9d9e-0123456789ab'
    const proc = fakeProc([
      { pid: 1, ns: 'net:[4026531840]' }, // the host namespace: never a pod
      { pid: 200, ns: 'net:[4026532001]', cgroup: '0::/kubepods/burstable/pod00000000-0000-0000-0000-000000000000/abc\n', fib: FIB_TRIE },
      { pid: 300, ns: 'net:[4026532002]', cgroup: `0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${uid.replace(/-/g, '_')}.slice/cri-containerd-1.scope\n` },
    ])
    const r = new VethResolver({ procRoot: proc })
    expect(r.findPodPid({ uid, ips: ['10.244.1.7'] })).toBe(300)
    expect(r.findPodPid({ uid: '00000000-0000-0000-0000-000000000000', ips: [] })).toBe(200)
  })

  it('by the namespace that owns the pod IP when no cgroup names the pod (no container runtime)', () => {
    const proc = fakeProc([
      { pid: 1, ns: 'net:[4026531840]', fib: FIB_TRIE }, // host namespace is skipped even if it matched
      { pid: 410, ns: 'net:[4026532010]', fib: FIB_TRIE.replace(/10\.244\.1\.7/g, '10.244.1.8') },
      { pid: 420, ns: 'net:[4026532011]', fib: FIB_TRIE },
      { pid: 421, ns: 'net:[4026532011]', fib: FIB_TRIE }, // same namespace: one entry
    ])
    const r = new VethResolver({ procRoot: proc })
    expect(r.findPodPid({ uid: 'not-in-any-cgroup', ips: ['10.244.1.7'] })).toBe(420)
    expect(r.findPodPid({ ips: ['10.244.1.8'] })).toBe(410)
    expect(r.findPodPid({ ips: ['10.9.9.9'] })).toBeNull()
  })

  it('the scan is incremental: what is kept is looked at first, a hit confirmed; addresses read again on a miss', () => {
    const uidOf = (n: number) => `3f2a9c1e-77aa-4b6e-9d9e-00000000000${n}`
    const cg = (n: number) => `0::/kubepods/besteffort/pod${uidOf(n)}/c1\n`
    const proc = fakeProc([
      { pid: 200, ns: 'net:[4026532001]', cgroup: cg(1) },
      { pid: 300, ns: 'net:[4026532002]', cgroup: '0::/starting\n', fib: '' }, // a sandbox before its pod's cgroup and IP
    ])
    const r = new VethResolver({ procRoot: proc })
    expect(r.findPodPid({ uid: uidOf(9), ips: ['10.9.9.9'] })).toBeNull() // every cgroup and address read, and kept
    // pid 300 now belongs to pod 2 and has its IP; a new pod 3 (pid 400) appears
    writeFileSync(join(proc, '300', 'cgroup'), cg(2))
    writeFileSync(join(proc, '300', 'net', 'fib_trie'), FIB_TRIE)
    mkdirSync(join(proc, '400', 'ns'), { recursive: true })
    symlinkSync('net:[4026532003]', join(proc, '400', 'ns', 'net'))
    writeFileSync(join(proc, '400', 'cgroup'), cg(3))
    r.invalidate()
    expect(r.findPodPid({ uid: uidOf(3), ips: [] })).toBe(400) // the new process is read
    expect(r.findPodPid({ uid: uidOf(2), ips: [] })).toBeNull() // kept cgroups are not all read again
    expect(r.findPodPid({ uid: uidOf(2), ips: ['10.244.1.7'] })).toBe(300) // addresses are, on a miss
    // a hit on a kept cgroup is confirmed by reading it again
    writeFileSync(join(proc, '200', 'cgroup'), cg(6))
    expect(r.findPodPid({ uid: uidOf(1), ips: [] })).toBeNull()
    expect(r.findPodPid({ uid: uidOf(6), ips: [] })).toBe(200)
    // pid 200 reused by a process of another pod and namespace: what was kept of it is not believed
    rmSync(join(proc, '200', 'ns', 'net'))
    symlinkSync('net:[4026532009]', join(proc, '200', 'ns', 'net'))
    writeFileSync(join(proc, '200', 'cgroup'), cg(5))
    expect(r.findPodPid({ uid: uidOf(6), ips: [] })).toBeNull()
    expect(r.findPodPid({ uid: uidOf(5), ips: [] })).toBe(200)
  })

  it('resolve() says why when nothing is found, and asks the route only when allowed', async () => {
    const proc = fakeProc([])
    const calls: string[] = []
    const r = new VethResolver({
      procRoot: proc,
      run: async (cmd, args) => {
        calls.push(`${cmd} ${args.join(' ')}`)
        if (args.includes('10.0.0.1')) return '[{"type":"local","dst":"10.0.0.1","dev":"lo"}]'
        return '[{"dst":"10.9.9.9","dev":"lo","prefsrc":"127.0.0.1"}]'
      },
    })
    expect(await r.resolve({ ips: [] })).toEqual({ error: 'the pod has no IP yet' })
    const res = await r.resolve({ ips: ['10.9.9.9'] })
    expect('error' in res && res.error).toMatch(/no process of the pod.*; the route to 10\.9\.9\.9 goes through lo .*not the pod's own veth/)
    expect(await r.resolve({ ips: ['10.0.0.1'] })).toEqual({ error: expect.stringMatching(/10\.0\.0\.1 is an address of this host/) })
    expect(calls).toEqual(['ip -j route get 10.9.9.9', 'ip -j route get 10.0.0.1'])
    const noRoute = new VethResolver({ procRoot: proc, route: false, run: async () => { throw new Error('not called') } })
    expect(await noRoute.resolve({ ips: ['10.9.9.9'] })).toEqual({ error: expect.stringMatching(/^no process of the pod/) })
    expect(r.stats.failed).toBe(2)
  })
})
