import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import type { PodNetRef, VethResult } from '../capture/veth.js'
import type { LinkRecord } from '../records.js'
import type { Exchange } from '../records.js'
import { ContainerIdentities, describeIdentity, dockerName, parseCgroupContainer, podUidOfCgroup, startTimeFromStat } from './container-identity.js'

const ID = 'a3f1c2d4e5b60718293a4b5c6d7e8f90123456789abcdef0123456789abcdef0'
const POD = '8b1d3c1e-5a47-4d0c-9f43-2b6a1e0c9d7f'

describe('parseCgroupContainer', () => {
  const cases: { name: string; text: string; want: ReturnType<typeof parseCgroupContainer> }[] = [
    { name: 'docker, cgroup v2, systemd driver', text: `0::/system.slice/docker-${ID}.scope\n`, want: { id: ID, shortId: ID.slice(0, 12), runtime: 'docker' } },
    {
      name: 'docker, cgroup v1, cgroupfs driver',
      text: [
        `12:pids:/docker/${ID}`,
        `11:memory:/docker/${ID}`,
        `4:cpu,cpuacct:/docker/${ID}`,
        `1:name=systemd:/docker/${ID}`,
        `0::/system.slice/containerd.service`,
        '',
      ].join('\n'),
      want: { id: ID, shortId: 'a3f1c2d4e5b6', runtime: 'docker' },
    },
    { name: 'docker, cgroup v2, cgroupfs driver', text: `0::/docker/${ID}\n`, want: { id: ID, shortId: 'a3f1c2d4e5b6', runtime: 'docker' } },
    {
      name: 'docker with systemd inside the container',
      text: `0::/system.slice/docker-${ID}.scope/init.scope\n`,
      want: { id: ID, shortId: 'a3f1c2d4e5b6', runtime: 'docker' },
    },
    {
      name: 'containerd under Kubernetes, cgroup v2, systemd driver',
      text: `0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${POD.replace(/-/g, '_')}.slice/cri-containerd-${ID}.scope\n`,
      want: { id: ID, shortId: 'a3f1c2d4e5b6', runtime: 'containerd' },
    },
    {
      name: 'containerd under Kubernetes, cgroup v1, systemd driver',
      text: [
        `10:memory:/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${POD.replace(/-/g, '_')}.slice/cri-containerd-${ID}.scope`,
        `1:name=systemd:/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${POD.replace(/-/g, '_')}.slice/cri-containerd-${ID}.scope`,
      ].join('\n'),
      want: { id: ID, shortId: 'a3f1c2d4e5b6', runtime: 'containerd' },
    },
    {
      name: 'cri-o under Kubernetes',
      text: `0::/kubepods.slice/kubepods-pod${POD.replace(/-/g, '_')}.slice/crio-${ID}.scope\n`,
      want: { id: ID, shortId: 'a3f1c2d4e5b6', runtime: 'cri-o' },
    },
    {
      name: 'Kubernetes, cgroup v1, cgroupfs driver: id without the runtime',
      text: `11:memory:/kubepods/burstable/pod${POD}/${ID}\n3:cpu,cpuacct:/kubepods/burstable/pod${POD}/${ID}\n`,
      want: { id: ID, shortId: 'a3f1c2d4e5b6' },
    },
    { name: 'Kubernetes guaranteed QoS, cgroupfs', text: `4:devices:/kubepods/pod${POD}/${ID}\n`, want: { id: ID, shortId: 'a3f1c2d4e5b6' } },
    { name: 'nerdctl (containerd without Kubernetes)', text: `0::/system.slice/nerdctl-${ID}.scope\n`, want: { id: ID, shortId: 'a3f1c2d4e5b6', runtime: 'containerd' } },
    { name: 'podman', text: `0::/machine.slice/libpod-${ID}.scope/container\n`, want: { id: ID, shortId: 'a3f1c2d4e5b6', runtime: 'podman' } },
    { name: 'cri-o conmon is the monitor, not the container', text: `0::/system.slice/crio-conmon-${ID}.scope\n`, want: null },
    { name: 'a host process', text: '0::/user.slice/user-0.slice/session-3.scope\n', want: null },
    { name: 'containerd daemon itself', text: '0::/system.slice/containerd.service\n', want: null },
    { name: 'an id too short is no id', text: `0::/docker/${ID.slice(0, 63)}\n`, want: null },
    { name: 'upper-case hex is no Docker id', text: `0::/docker/${ID.toUpperCase()}\n`, want: null },
    { name: 'empty', text: '', want: null },
    { name: 'garbage', text: 'no colons here\n::\n', want: null },
  ]
  for (const c of cases) it(c.name, () => expect(parseCgroupContainer(c.text)).toEqual(c.want))
})

describe('podUidOfCgroup', () => {
  const UID = '0dadf3e3-98e4-4d2c-a9dd-539439cf18aa'
  const U_ = UID.replace(/-/g, '_')
  const cases: { name: string; path: string; want: string | null }[] = [
    { name: 'cgroupfs, Guaranteed', path: `/kubepods/pod${UID}/${ID}`, want: UID },
    { name: 'cgroupfs, burstable', path: `/kubepods/burstable/pod${UID}/${ID}`, want: UID },
    { name: 'cgroupfs, the pod itself', path: `/kubepods/besteffort/pod${UID}`, want: UID },
    { name: 'cgroupfs below --cgroup-root', path: `/kubelet/kubepods/burstable/pod${UID}/${ID}`, want: UID },
    { name: 'systemd, Guaranteed', path: `/kubepods.slice/kubepods-pod${U_}.slice/cri-containerd-${ID}.scope`, want: UID },
    { name: 'systemd, besteffort', path: `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${U_}.slice/crio-${ID}.scope`, want: UID },
    { name: 'systemd below kubelet.slice', path: `/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-burstable.slice/kubelet-kubepods-burstable-pod${U_}.slice/x.scope`, want: UID },
    { name: 'a whole /proc/PID/cgroup text (v1)', path: `5:devices:/\n4:memory:/kubepods/burstable/pod${UID}/${ID}\n0::/\n`, want: UID },
    { name: 'a Docker container is no pod', path: `/docker/${ID}`, want: null },
    { name: 'pod<uid> outside kubepods', path: `/system.slice/pod${UID}`, want: null },
    { name: 'a uid too short', path: `/kubepods/burstable/pod${UID.slice(1)}/${ID}`, want: null },
    { name: 'a host process', path: '/user.slice/user-0.slice/session-3.scope', want: null },
  ]
  for (const c of cases) it(c.name, () => expect(podUidOfCgroup(c.path)).toBe(c.want))
})

describe('small readers', () => {
  it('startTimeFromStat reads field 22 even when comm holds spaces and parentheses', () => {
    const rest = 'S 1 1234 1234 0 -1 4194560 500 0 0 0 1 2 0 0 20 0 1 0 987654 12345678 300'
    expect(startTimeFromStat(`1234 (nginx) ${rest}`)).toBe(987654)
    expect(startTimeFromStat(`1234 (a) b (c) ${rest}`)).toBe(987654)
    expect(startTimeFromStat('garbage')).toBeNull()
  })
  it('dockerName strips the leading slash; anything else is unknown', () => {
    expect(dockerName('{"ID":"x","Name":"/web-1","State":{}}')).toBe('web-1')
    expect(dockerName('{"Name":"/"}')).toBeUndefined()
    expect(dockerName('{"Name":3}')).toBeUndefined()
    expect(dockerName('{not json')).toBeUndefined()
    expect(dockerName(null)).toBeUndefined()
  })
  it('describeIdentity', () => {
    expect(describeIdentity({ netns: 'n', ips: [], pid: 7, comm: 'nginx' })).toBe('pid 7 nginx')
    expect(describeIdentity({ netns: 'n', ips: [], pid: 7, comm: 'sh', container: { id: ID, shortId: 'a3f1c2d4e5b6', runtime: 'docker', name: 'web-1' } })).toBe(
      'docker container web-1 a3f1c2d4e5b6, pid 7 sh',
    )
    expect(describeIdentity({ netns: 'n', ips: [], pid: 7, comm: 'pause', container: { id: ID, shortId: 'a3f1c2d4e5b6' } })).toBe('container a3f1c2d4e5b6, pid 7 pause')
  })
})

// ---------------------------------------------------------------------------------------------------
// ContainerIdentities over a made-up /proc: only files it reads are written.

/** /proc/net/fib_trie text with these local addresses (plus 127.0.0.1), as the kernel prints it. */
function fibTrie(ips: string[]): string {
  const locals = ['127.0.0.1', ...ips].map((ip) => `        |-- ${ip}\n           /32 host LOCAL\n`).join('')
  return `Main:\n  +-- 0.0.0.0/0 3 0 5\n     |-- 0.0.0.0\n        /0 universe UNICAST\n${locals}Local:\n`
}

/** /proc/net/if_inet6: ::1 on lo, a link-local and optionally a global on eth0 */
function ifInet6(global?: string): string {
  const lines = ['00000000000000000000000000000001 01 80 10 80       lo', 'fe80000000000000a8c1abfffe123456 02 40 20 80     eth0']
  if (global !== undefined) lines.push(`${global} 02 7e 00 80     eth0`)
  return lines.join('\n') + '\n'
}

interface FakeProc {
  pid: number
  ns: number
  comm: string
  start: number
  cgroup?: string
  ips?: string[]
  ip6?: string
}

class FakeRoot {
  readonly dir = mkdtempSync(join(tmpdir(), 'podtap-cid-'))
  readonly proc = join(this.dir, 'proc')
  readonly docker = join(this.dir, 'docker')
  constructor() {
    mkdirSync(join(this.proc, 'self', 'ns'), { recursive: true })
    symlinkSync('net:[4026531840]', join(this.proc, 'self', 'ns', 'net'))
  }
  add(p: FakeProc): void {
    const d = join(this.proc, String(p.pid))
    mkdirSync(join(d, 'ns'), { recursive: true })
    mkdirSync(join(d, 'net'))
    symlinkSync(`net:[${p.ns}]`, join(d, 'ns', 'net'))
    writeFileSync(join(d, 'stat'), `${p.pid} (${p.comm}) S 1 ${p.pid} ${p.pid} 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 ${p.start} 1000 10`)
    writeFileSync(join(d, 'comm'), `${p.comm}\n`)
    writeFileSync(join(d, 'cgroup'), p.cgroup ?? '0::/user.slice\n')
    writeFileSync(join(d, 'net', 'fib_trie'), fibTrie(p.ips ?? []))
    writeFileSync(join(d, 'net', 'if_inet6'), ifInet6(p.ip6))
  }
  kill(pid: number): void {
    rmSync(join(this.proc, String(pid)), { recursive: true, force: true })
  }
  dockerConfig(id: string, name: string): void {
    mkdirSync(join(this.docker, 'containers', id), { recursive: true })
    writeFileSync(join(this.docker, 'containers', id, 'config.v2.json'), JSON.stringify({ ID: id, Name: `/${name}`, Config: { Hostname: id.slice(0, 12) } }))
  }
  destroy(): void {
    rmSync(this.dir, { recursive: true, force: true })
  }
}

/** Stands in for VethResolver: address -> the host veth and the pid it was found through. */
class FakeResolver {
  readonly veth = new Map<string, { ifindex: number; name: string; pid: number }>()
  calls = 0
  async resolve(ref: PodNetRef): Promise<VethResult> {
    this.calls++
    for (const ip of ref.ips) {
      const v = this.veth.get(ip)
      if (v !== undefined) return { ifindex: v.ifindex, name: v.name, method: 'netns', pid: v.pid }
    }
    return { error: 'not found' }
  }
  invalidate(): void {}
}

function exchange(client: string, server: string): Exchange {
  return {
    protocol: 'http',
    tls: false,
    client: { ip: client, port: 40000 },
    server: { ip: server, port: 80 },
    flowId: 1,
    method: 'GET',
    resource: '/',
    status: 200,
    error: false,
    startUs: 1,
    endUs: 2,
    reqBytes: 10,
    respBytes: 20,
  } as Exchange
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

describe('ContainerIdentities', () => {
  let root: FakeRoot | undefined
  let ids: ContainerIdentities | undefined
  afterEach(() => {
    ids?.close()
    root?.destroy()
  })

  function setup(minRefreshMs = 100) {
    const r = new FakeRoot()
    root = r
    const resolver = new FakeResolver()
    const logs: string[] = []
    ids = new ContainerIdentities({ procRoot: r.proc, dockerRoot: r.docker, minRefreshMs, graceMs: 50, resolver, log: (m) => logs.push(m) })
    return { r, resolver, logs, ids }
  }

  it('names each veth by the oldest process of its namespace and the Docker container, and fills only that end', async () => {
    const { r, resolver, logs, ids } = setup()
    r.add({ pid: 1, ns: 4026531840, comm: 'systemd', start: 1 }) // the host: never a candidate
    // namespace A: nginx master and worker share a start tick; the master has the lower pid
    r.add({ pid: 301, ns: 4026532001, comm: 'nginx', start: 5000, ips: ['10.213.5.2'], ip6: 'fd000213000500000000000000000002' })
    r.add({ pid: 300, ns: 4026532001, comm: 'nginx', start: 5000, ips: ['10.213.5.2'], ip6: 'fd000213000500000000000000000002' })
    r.add({ pid: 250, ns: 4026532001, comm: 'curl', start: 9000, ips: ['10.213.5.2'] })
    // namespace B: a Docker container
    r.add({ pid: 400, ns: 4026532002, comm: 'sh', start: 6000, ips: ['172.17.0.2'], cgroup: `0::/system.slice/docker-${ID}.scope\n` })
    r.dockerConfig(ID, 'web-1')
    resolver.veth.set('10.213.5.2', { ifindex: 11, name: 'vethA', pid: 301 })
    resolver.veth.set('172.17.0.2', { ifindex: 12, name: 'vethB', pid: 400 })

    ids.added({ name: 'vethA', ifindex: 11 }, 'capturing on vethA (ifindex 11)')
    ids.added({ name: 'vethB', ifindex: 12 }, 'capturing on vethB (ifindex 12)')
    await ids.settled()
    expect(logs.sort()).toEqual(['capturing on vethA (ifindex 11: pid 300 nginx)', 'capturing on vethB (ifindex 12: docker container web-1 a3f1c2d4e5b6, pid 400 sh)'])
    expect(ids.identityOf(11)).toEqual({ netns: 'net:[4026532001]', ips: ['10.213.5.2', 'fd00:213:5::2'], pid: 300, comm: 'nginx' })

    const a = exchange('10.213.5.1', '10.213.5.2')
    ids.exchange(a)
    expect(a.server).toEqual({ ip: '10.213.5.2', port: 80, pid: 300, comm: 'nginx' })
    expect(a.client).toEqual({ ip: '10.213.5.1', port: 40000 })
    // an IPv6 flow of the same namespace
    const a6 = exchange('fd00:213:5::1', 'fd00:213:5::2')
    ids.exchange(a6)
    expect(a6.server.pid).toBe(300)
    // container to container: both ends
    const b = exchange('172.17.0.2', '10.213.5.2')
    ids.exchange(b)
    expect(b.client).toEqual({ ip: '172.17.0.2', port: 40000, pid: 400, comm: 'sh', container: 'web-1' })
    expect(b.server.comm).toBe('nginx')
    // what another enricher set first stays
    const k = exchange('10.0.0.1', '172.17.0.2')
    k.server.container = 'app'
    ids.exchange(k)
    expect(k.server.container).toBe('app')
    // link records too
    const l = { client: { ip: '10.213.5.1', port: 1 }, server: { ip: '172.17.0.2', port: 80 } } as unknown as LinkRecord
    ids.link(l)
    expect(l.server).toEqual({ ip: '172.17.0.2', port: 80, pid: 400, comm: 'sh', container: 'web-1' })
    expect(l.client).toEqual({ ip: '10.213.5.1', port: 1 })
    // loopback addresses are in every namespace: never filled
    const lo = exchange('127.0.0.1', '127.0.0.1')
    ids.exchange(lo)
    expect(lo.server).toEqual({ ip: '127.0.0.1', port: 80 })
  })

  it('a veth with nobody behind it yet is logged as is, identified later when a record comes, at most once per interval', async () => {
    const { r, resolver, logs, ids } = setup(150)
    ids.added({ name: 'vethC', ifindex: 13 }, 'capturing on vethC (ifindex 13)')
    await ids.settled()
    expect(logs).toEqual(['capturing on vethC (ifindex 13)'])
    expect(ids.refreshes).toBe(1)

    // records keep coming while the veth is unknown: refreshes stay bounded by the interval
    const t0 = performance.now()
    while (performance.now() - t0 < 400) {
      ids.exchange(exchange('10.213.7.1', '10.213.7.2'))
      await sleep(5)
    }
    await ids.settled()
    // 400 ms at >= 150 ms apart (and backing off while nothing is found): at most 3 more
    expect(ids.refreshes).toBeGreaterThanOrEqual(2)
    expect(ids.refreshes).toBeLessThanOrEqual(4)

    // the server starts in the namespace: found on the next refresh, logged once
    r.add({ pid: 500, ns: 4026532003, comm: 'redis-server', start: 7000, ips: ['10.213.7.2'] })
    resolver.veth.set('10.213.7.2', { ifindex: 13, name: 'vethC', pid: 500 })
    ids.added({ name: 'vethD', ifindex: 14 }, 'capturing on vethD (ifindex 14)') // resets the back-off
    await ids.settled()
    expect(logs).toContain('vethC (ifindex 13) leads to pid 500 redis-server')
    const e = exchange('10.213.7.1', '10.213.7.2')
    ids.exchange(e)
    expect(e.server).toMatchObject({ pid: 500, comm: 'redis-server' })
    expect(logs.filter((l) => l.includes('vethC'))).toHaveLength(2)
  })

  it('an address two namespaces own is left alone; a removed veth stops filling after the grace time', async () => {
    const { r, resolver, ids } = setup()
    r.add({ pid: 600, ns: 4026532010, comm: 'a', start: 1, ips: ['10.9.0.2'] })
    r.add({ pid: 700, ns: 4026532011, comm: 'b', start: 1, ips: ['10.9.0.2', '10.9.1.2'] })
    // the resolver finds each namespace through an address only it owns
    resolver.veth.set('10.9.1.2', { ifindex: 22, name: 'vb', pid: 700 })
    ids.added({ name: 'vb', ifindex: 22 }, 'capturing on vb (ifindex 22)')
    await ids.settled()
    let e = exchange('10.9.0.1', '10.9.0.2')
    ids.exchange(e)
    expect(e.server.comm).toBe('b')

    resolver.veth.set('10.9.0.2', { ifindex: 21, name: 'va', pid: 600 })
    ids.added({ name: 'va', ifindex: 21 }, 'capturing on va (ifindex 21)')
    await ids.settled()
    expect(ids.identityOf(21)?.comm).toBe('a')
    e = exchange('10.9.0.1', '10.9.0.2')
    ids.exchange(e)
    expect(e.server).toEqual({ ip: '10.9.0.2', port: 80 })
    e = exchange('10.9.0.1', '10.9.1.2')
    ids.exchange(e)
    expect(e.server.comm).toBe('b')

    // vb goes: still filled during the grace time, then not
    ids.removed(22)
    e = exchange('10.9.0.1', '10.9.1.2')
    ids.exchange(e)
    expect(e.server.comm).toBe('b')
    await sleep(120)
    e = exchange('10.9.0.1', '10.9.1.2')
    ids.exchange(e)
    expect(e.server).toEqual({ ip: '10.9.1.2', port: 80 })
    // and 10.9.0.2 is no longer ambiguous
    e = exchange('10.9.0.1', '10.9.0.2')
    ids.exchange(e)
    expect(e.server.comm).toBe('a')
  })

  it('containerOfPid (TLS tap records): the Docker name, else the short id, else nothing', () => {
    const { r, ids } = setup()
    const other = 'b'.repeat(64)
    r.add({ pid: 400, ns: 4026532002, comm: 'sh', start: 6000, cgroup: `0::/system.slice/docker-${ID}.scope\n` })
    r.add({ pid: 401, ns: 4026532003, comm: 'app', start: 6001, cgroup: `0::/kubepods/burstable/pod0dadf3e3-98e4-4d2c-a9dd-539439cf18aa/${other}\n` })
    r.add({ pid: 402, ns: 4026531840, comm: 'bash', start: 6002 })
    r.dockerConfig(ID, 'web-1')
    expect(ids.containerOfPid(400)).toBe('web-1')
    expect(ids.containerOfPid(401)).toBe(other.slice(0, 12))
    expect(ids.containerOfPid(402)).toBeUndefined()
    expect(ids.containerOfPid(999)).toBeUndefined()
    ids.close()
  })

  it('close() logs the lines still waiting for a lookup, once, and stops refreshing', async () => {
    const { logs, ids } = setup(10_000)
    ids.added({ name: 'v0', ifindex: 40 }, 'capturing on v0 (ifindex 40)')
    await ids.settled() // the first refresh is immediate
    ids.added({ name: 'v1', ifindex: 41 }, 'capturing on v1 (ifindex 41)') // due 10 s later
    ids.close()
    ids.close()
    await ids.settled()
    expect(logs).toEqual(['capturing on v0 (ifindex 40)', 'capturing on v1 (ifindex 41)'])
    expect(ids.refreshes).toBe(1)
  })

  it('a process that exits between the scan and the read leaves the veth unknown, not wrong', async () => {
    const { r, resolver, logs, ids } = setup()
    r.add({ pid: 800, ns: 4026532020, comm: 'x', start: 1, ips: ['10.8.0.2'] })
    resolver.veth.set('10.8.0.2', { ifindex: 31, name: 'vx', pid: 800 })
    const resolve = resolver.resolve.bind(resolver)
    resolver.resolve = async (ref) => {
      const out = await resolve(ref)
      r.kill(800)
      return out
    }
    ids.added({ name: 'vx', ifindex: 31 }, 'capturing on vx (ifindex 31)')
    await ids.settled()
    expect(ids.identityOf(31)).toBeNull()
    expect(logs).toEqual(['capturing on vx (ifindex 31)'])
  })
})
