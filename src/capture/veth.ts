// Pod -> the host side of its veth, the interface podtap captures on.
//
// 1. Through the pod's network namespace (exact, every CNI that gives a pod a veth: Calico, Cilium,
//    flannel/bridge, kindnet, AWS VPC CNI...):
//      a process of the pod      /proc/PID/cgroup names the pod UID (kubepods.../pod<uid>/..., or
//                                kubepods-...-pod<uid with _>.slice with the systemd driver); else a
//                                process whose network namespace holds the pod IP
//                                (/proc/PID/net/fib_trie "LOCAL" entries, /proc/PID/net/if_inet6)
//      its interfaces            /proc/PID/root/sys/class/net (the container's own sysfs mount, made
//                                in its namespace): the veth end has iflink != ifindex
//      the host side             the host interface whose ifindex is that iflink, a veth, whose own
//                                iflink is the pod end's ifindex (both ends checked: ifindexes are
//                                per namespace and could collide)
//    When the process has no sysfs of its own, `nsenter --net=/proc/PID/ns/net ip -j link` reads it.
// 2. Through the node's route to the pod IP (`ip -j route get IP`): Calico, Cilium (legacy host
//    routing) and host-gw style CNIs route each pod IP to its veth. A route to a bridge (cni0,
//    docker0), an overlay or the node's uplink is refused: there the namespace route is the only one.
//
// Nothing here throws: a pod that cannot be resolved yet (its sandbox not up, the veth not created)
// comes back as { error } and is retried by attach.ts.

import { execFile } from 'node:child_process'
import { readdirSync, readFileSync, readlinkSync } from 'node:fs'
import { isIPv4, isIPv6 } from 'node:net'
import { findInterface, readInterface } from './interfaces.js'

export type VethMethod = 'netns' | 'route'

export interface VethFound {
  ifindex: number
  name: string
  method: VethMethod
  /** the pod process the namespace was found through (netns method) */
  pid?: number
}

export type VethResult = VethFound | { error: string }

export interface PodNetRef {
  uid?: string
  ips: readonly string[]
}

export interface VethResolverOptions {
  /** '/proc' (tests point it elsewhere) */
  procRoot?: string
  /** try the namespace method (default true) */
  netns?: boolean
  /** try the route method (default true) */
  route?: boolean
  /** runs a command, resolving stdout; default execFile with a 5 s timeout */
  run?: (cmd: string, args: string[]) => Promise<string>
  /** how long a /proc scan is reused (ms, default 500) */
  scanTtlMs?: number
}

interface NsEntry {
  /** the network namespace (readlink of /proc/PID/ns/net) */
  ns: string
  pid: number
  /** addresses local to the namespace; filled on first need, read again when no kept one matches */
  ips: Set<string> | null
  /** the process's /proc/PID/cgroup; the same */
  cgroup: string | null
}

function defaultRun(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: 5000, maxBuffer: 4 << 20 }, (err, stdout, stderr) => {
      if (err !== null) reject(new Error(`${cmd} ${args.join(' ')}: ${String(stderr).trim() || err.message}`))
      else resolve(String(stdout))
    })
  })
}

function readText(path: string): string | null {
  try {
    return readFileSync(path, 'utf8')
  } catch {
    return null
  }
}

/** IPv4 addresses a namespace owns, from its /proc/net/fib_trie: a "|-- A.B.C.D" line followed by "/32 host LOCAL". */
export function localIpv4FromFibTrie(text: string): Set<string> {
  const out = new Set<string>()
  const lines = text.split('\n')
  for (let i = 0; i + 1 < lines.length; i++) {
    const m = /^\s*\|--\s+(\d+\.\d+\.\d+\.\d+)\s*$/.exec(lines[i]!)
    if (m === null) continue
    for (let j = i + 1; j < lines.length && /^\s*\/\d+/.test(lines[j]!); j++) {
      if (/\/32 host LOCAL/.test(lines[j]!)) out.add(m[1]!)
    }
  }
  return out
}

/** IPv6 addresses from /proc/net/if_inet6 (32 hex digits per line), in RFC 5952 form. */
export function localIpv6FromIfInet6(text: string): Set<string> {
  const out = new Set<string>()
  for (const line of text.split('\n')) {
    const hex = line.trim().split(/\s+/)[0]
    if (hex === undefined || !/^[0-9a-f]{32}$/.test(hex)) continue
    out.add(compressIpv6(hex))
  }
  return out
}

export function compressIpv6(hex32: string): string {
  const groups = Array.from({ length: 8 }, (_, i) => parseInt(hex32.slice(i * 4, i * 4 + 4), 16).toString(16))
  // RFC 5952: the longest run (>= 2) of zero groups becomes '::', the first one on a tie
  let best = -1
  let bestLen = 0
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') {
      i++
      continue
    }
    let j = i
    while (j < 8 && groups[j] === '0') j++
    if (j - i > bestLen && j - i >= 2) {
      best = i
      bestLen = j - i
    }
    i = j
  }
  if (best < 0) return groups.join(':')
  return groups.slice(0, best).join(':') + '::' + groups.slice(best + bestLen).join(':')
}

export class VethResolver {
  private readonly proc: string
  private readonly run: (cmd: string, args: string[]) => Promise<string>
  // The /proc scan is incremental (a node's pods come one at a time, each a resolution): every pid's
  // namespace is read once, and per namespace one process's cgroup and addresses are kept while it
  // lives. A pod is first looked for among what is kept (a hit is confirmed by reading that entry
  // again); only when no address matches are all addresses read again (a namespace scanned before its
  // pod got its IP).
  private readonly pidNs = new Map<number, string>()
  private byInode = new Map<string, NsEntry>()
  private scannedAt = -Infinity
  private stale = true
  private hostNs = ''
  /** how each resolution went, for /v1/status and tests */
  readonly stats = { netns: 0, route: 0, failed: 0 }

  constructor(private readonly o: VethResolverOptions = {}) {
    this.proc = o.procRoot ?? '/proc'
    this.run = o.run ?? defaultRun
  }

  async resolve(pod: PodNetRef): Promise<VethResult> {
    const reasons: string[] = []
    if (pod.ips.length === 0) return { error: 'the pod has no IP yet' }
    if (this.o.netns !== false) {
      const r = await this.viaNetns(pod)
      if ('ifindex' in r) {
        this.stats.netns++
        return r
      }
      reasons.push(r.error)
    }
    if (this.o.route !== false) {
      const r = await this.viaRoute(pod.ips)
      if ('ifindex' in r) {
        this.stats.route++
        return r
      }
      reasons.push(r.error)
    }
    this.stats.failed++
    return { error: reasons.join('; ') }
  }

  /** The next resolution reads /proc's process list again (a pod just started: its process is new). */
  invalidate(): void {
    this.stale = true
  }

  // -------------------------------------------------------------------------------------------------
  // namespace method

  private nsOf(pid: number | string): string {
    try {
      return readlinkSync(`${this.proc}/${pid}/ns/net`)
    } catch {
      return ''
    }
  }

  /** Namespaces other than the host's, one process each (the scan reads only pids it has not seen). */
  private scanProc(): Map<string, NsEntry> {
    const ttl = this.o.scanTtlMs ?? 500
    if (!this.stale && Date.now() - this.scannedAt < ttl) return this.byInode
    this.stale = false
    this.scannedAt = Date.now()
    if (this.hostNs === '') this.hostNs = this.nsOf('self')
    let names: string[] = []
    try {
      names = readdirSync(this.proc)
    } catch {
      names = []
    }
    const alive = new Set<number>()
    for (const d of names) {
      const c = d.charCodeAt(0)
      if (c < 48 || c > 57) continue // not a pid
      const pid = Number(d)
      alive.add(pid)
      if (!this.pidNs.has(pid)) this.pidNs.set(pid, this.nsOf(pid))
    }
    for (const pid of this.pidNs.keys()) if (!alive.has(pid)) this.pidNs.delete(pid)
    // an entry lives on (with what was read of it) while its process does
    const byInode = new Map<string, NsEntry>()
    for (const [pid, ns] of this.pidNs) {
      if (ns === '' || ns === this.hostNs || byInode.has(ns)) continue
      const had = this.byInode.get(ns)
      byInode.set(ns, had !== undefined && this.pidNs.get(had.pid) === ns ? had : { ns, pid, ips: null, cgroup: null })
    }
    this.byInode = byInode
    return byInode
  }

  private ipsOf(e: NsEntry, again: boolean): Set<string> {
    if (e.ips !== null && !again) return e.ips
    const ips = localIpv4FromFibTrie(readText(`${this.proc}/${e.pid}/net/fib_trie`) ?? '')
    for (const ip of localIpv6FromIfInet6(readText(`${this.proc}/${e.pid}/net/if_inet6`) ?? '')) ips.add(ip)
    e.ips = ips
    return ips
  }

  private cgroupOf(e: NsEntry, again: boolean): string {
    if (e.cgroup === null || again) e.cgroup = readText(`${this.proc}/${e.pid}/cgroup`) ?? ''
    return e.cgroup
  }

  /** A process in the pod's network namespace: by cgroup (pod UID), else by an address it owns. */
  findPodPid(pod: PodNetRef): number | null {
    const byInode = this.scanProc()
    const found = this.findIn(byInode, pod)
    if (found === null) return null
    // a pid reused by a process of another namespace since it was read: read every pid again
    if (this.nsOf(found.pid) === found.ns) return found.pid
    this.pidNs.clear()
    this.stale = true
    return this.findIn(this.scanProc(), pod)?.pid ?? null
  }

  private findIn(byInode: Map<string, NsEntry>, pod: PodNetRef): NsEntry | null {
    // A match on what was kept is confirmed by reading that one entry again (it may be stale). By
    // cgroup: a pod's processes are in its cgroup from their start, so a new pod is a new process,
    // read fresh; kept cgroups are not all read again on a miss (the address match below is the
    // fallback). By address: on a miss everything is read again when anything kept was used (a
    // namespace read before its pod got its IP).
    const find = <T>(read: (e: NsEntry, again: boolean) => T, kept: (e: NsEntry) => boolean, hit: (v: T) => boolean, rereadOnMiss: boolean): NsEntry | null => {
      let usedKept = false
      for (const e of byInode.values()) {
        const wasKept = kept(e)
        usedKept ||= wasKept
        if (hit(read(e, false)) && (!wasKept || hit(read(e, true)))) return e
      }
      if (!usedKept || !rereadOnMiss) return null
      for (const e of byInode.values()) if (hit(read(e, true))) return e
      return null
    }
    if (pod.uid !== undefined && pod.uid !== '') {
      const dashed = `pod${pod.uid}`
      const underscored = `pod${pod.uid.replace(/-/g, '_')}`
      const e = find((x, again) => this.cgroupOf(x, again), (x) => x.cgroup !== null, (cg) => cg.includes(dashed) || cg.includes(underscored), false)
      if (e !== null) return e
    }
    return find((x, again) => this.ipsOf(x, again), (x) => x.ips !== null, (ips) => pod.ips.some((ip) => ips.has(ip)), true)
  }

  private async viaNetns(pod: PodNetRef): Promise<VethResult> {
    const pid = this.findPodPid(pod)
    if (pid === null) return { error: 'no process of the pod found in /proc (container runtime not visible: hostPID needed)' }
    const ends = this.podEndsFromSysfs(pid) ?? (await this.podEndsFromNsenter(pid))
    if (ends === null) return { error: `cannot read the interfaces of pid ${pid}'s network namespace` }
    // the pod side: a veth end (iflink differs from ifindex); eth0 first when there are several
    ends.sort((a, b) => (a.name === 'eth0' ? -1 : b.name === 'eth0' ? 1 : a.ifindex - b.ifindex))
    for (const end of ends) {
      const host = findInterface(end.iflink)
      if (host === undefined || !host.isVeth || host.iflink !== end.ifindex) continue
      return { ifindex: host.ifindex, name: host.name, method: 'netns', pid }
    }
    return { error: `pid ${pid}'s network namespace has no veth whose peer is in this namespace` }
  }

  /** The namespace's veth-like interfaces from the process's own sysfs mount, or null when it has none. */
  private podEndsFromSysfs(pid: number): { name: string; ifindex: number; iflink: number }[] | null {
    const base = `${this.proc}/${pid}/root/sys/class/net`
    let names: string[]
    try {
      names = readdirSync(base)
    } catch {
      return null
    }
    // is this sysfs the namespace's own? /proc/PID/net/dev lists the namespace's interfaces
    const dev = readText(`${this.proc}/${pid}/net/dev`)
    if (dev === null) return null
    const inNs = new Set(dev.split('\n').slice(2).map((l) => l.split(':')[0]!.trim()).filter(Boolean))
    if (names.length !== inNs.size || !names.every((n) => inNs.has(n))) return null
    const out: { name: string; ifindex: number; iflink: number }[] = []
    for (const n of names) {
      const ifindex = Number(readText(`${base}/${n}/ifindex`))
      const iflink = Number(readText(`${base}/${n}/iflink`))
      if (Number.isInteger(ifindex) && Number.isInteger(iflink) && ifindex > 0 && iflink > 0 && iflink !== ifindex) out.push({ name: n, ifindex, iflink })
    }
    return out
  }

  private async podEndsFromNsenter(pid: number): Promise<{ name: string; ifindex: number; iflink: number }[] | null> {
    try {
      const out = await this.run('nsenter', [`--net=${this.proc}/${pid}/ns/net`, 'ip', '-j', 'link', 'show'])
      const links = JSON.parse(out) as { ifindex?: number; ifname?: string; link_index?: number }[]
      return links
        .filter((l) => typeof l.ifindex === 'number' && typeof l.link_index === 'number' && l.link_index !== l.ifindex)
        .map((l) => ({ name: l.ifname ?? '', ifindex: l.ifindex!, iflink: l.link_index! }))
    } catch {
      return null
    }
  }

  // -------------------------------------------------------------------------------------------------
  // route method

  private async viaRoute(ips: readonly string[]): Promise<VethResult> {
    const errors: string[] = []
    for (const ip of ips) {
      if (!isIPv4(ip) && !isIPv6(ip)) continue
      let dev: string | undefined
      try {
        const out = await this.run('ip', ['-j', 'route', 'get', ip])
        const routes = JSON.parse(out) as { dev?: string; type?: string }[]
        if (routes[0]?.type === 'local') {
          errors.push(`${ip} is an address of this host`)
          continue
        }
        dev = routes[0]?.dev
      } catch (e) {
        errors.push(`ip route get ${ip}: ${(e as Error).message}`)
        continue
      }
      if (dev === undefined) {
        errors.push(`no route to ${ip}`)
        continue
      }
      const i = readInterface(dev)
      if (i === undefined) {
        errors.push(`the route to ${ip} names ${dev}, which is gone`)
        continue
      }
      if (!i.isVeth) {
        errors.push(`the route to ${ip} goes through ${dev} (${i.driver || 'not a veth'}), not the pod's own veth`)
        continue
      }
      return { ifindex: i.ifindex, name: i.name, method: 'route' }
    }
    return { error: errors.join('; ') || 'no usable pod IP' }
  }
}
