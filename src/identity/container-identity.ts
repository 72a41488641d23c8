// Who is behind a host-side veth, without Kubernetes (`podtap capture --all-veth` on a Docker,
// containerd or plain network-namespace host): the process, and the container when the runtime can tell.
//
//   /proc/*/ns/net          processes grouped by network namespace (inode); the host's own is skipped;
//                           the representative is the oldest process (starttime, /proc/PID/stat field
//                           22; lower pid on a tie): the container's init, nginx's master, not a worker
//   /proc/PID/net/fib_trie  the namespace's addresses (k8s/veth.ts helpers; loopback and link-local
//   /proc/PID/net/if_inet6  left out: every namespace has them)
//   veth peer               k8s/veth.ts VethResolver: the namespace's veth end read through
//                           /proc/PID/root/sys/class/net (or nsenter ip -j link), its host peer checked
//                           from both ends (iflink <-> ifindex)
//   /proc/PID/cgroup        container id and runtime (parseCgroupContainer below)
//   Docker                  /var/lib/docker/containers/<id>/config.v2.json "Name" ("/web-1")
//
// A record end whose IP belongs to an identified namespace gets `pid`, `comm` and `container` (the
// Docker name, else the short id); an address two namespaces both own is left alone (never guessed).
//
// Work is bounded: a refresh (one /proc scan, then the namespaces not identified yet) runs when a veth
// appears or a record comes while an attached veth is still unknown, at most once per minRefreshMs
// (1 s), backing off to once per 32 s while refreshes find nothing new (a veth whose peer namespace has
// no process, say). Nothing here throws to the capture loop: what cannot be read stays unknown.
// Known gap: a namespace with two veths (a container on two Docker networks) is identified through
// one of them (VethResolver prefers eth0); the other stays unknown.

import { readdirSync, readFileSync, readlinkSync } from 'node:fs'
import type { LinkRecord } from '../records.js'
import type { Exchange, Peer } from '../records.js'
import { localIpv4FromFibTrie, localIpv6FromIfInet6, VethResolver, type PodNetRef, type VethResult } from '../capture/veth.js'

export type ContainerRuntime = 'docker' | 'containerd' | 'cri-o' | 'podman'

export interface ContainerRef {
  /** 64 hex digits */
  id: string
  /** first 12 hex digits, as `docker ps` shows */
  shortId: string
  /** absent when the cgroup path names no runtime (cgroupfs driver: /kubepods/<qos>/pod<uid>/<id>) */
  runtime?: ContainerRuntime
}

export interface NetnsIdentity {
  /** 'net:[4026532281]' */
  netns: string
  /** the namespace's addresses, loopback and link-local left out */
  ips: string[]
  /** the oldest process in the namespace */
  pid: number
  comm: string
  container?: ContainerRef & { name?: string }
}

// Container ids in cgroup paths, most specific first. One line of /proc/PID/cgroup is
// "hierarchy-ID:controller-list:path" (man 7 cgroups); v2 has the single line "0::path".
//   systemd driver   .../docker-<id>.scope  cri-containerd-<id>.scope  crio-<id>.scope  libpod-<id>.scope
//                    nerdctl-<id>.scope (containerd without Kubernetes)
//   cgroupfs driver  /docker/<id>   /kubepods/<qos>/pod<uid>/<id> (runtime not named)
// crio-conmon-<id>.scope and libpod-conmon-<id>.scope hold the runtime's monitor, not the container:
// the patterns need the id right after the prefix, so they do not match.
const CGROUP_PATTERNS: readonly { re: RegExp; runtime?: ContainerRuntime }[] = [
  { re: /(?:^|\/)docker-([0-9a-f]{64})\.scope(?:\/|$)/, runtime: 'docker' },
  { re: /(?:^|\/)cri-containerd-([0-9a-f]{64})\.scope(?:\/|$)/, runtime: 'containerd' },
  { re: /(?:^|\/)nerdctl-([0-9a-f]{64})\.scope(?:\/|$)/, runtime: 'containerd' },
  { re: /(?:^|\/)crio-([0-9a-f]{64})\.scope(?:\/|$)/, runtime: 'cri-o' },
  { re: /(?:^|\/)libpod-([0-9a-f]{64})\.scope(?:\/|$)/, runtime: 'podman' },
  { re: /(?:^|\/)docker\/([0-9a-f]{64})(?:\/|$)/, runtime: 'docker' },
  { re: /(?:^|\/)kubepods[^/]*\/(?:[^/]+\/)*([0-9a-f]{64})(?:\/|$)/ },
]

/** The container a process's /proc/PID/cgroup text names, or null (a host process, or unknown form). */
export function parseCgroupContainer(text: string): ContainerRef | null {
  for (const line of text.split('\n')) {
    // the path is everything after the second ':' (paths may contain ':' themselves)
    const a = line.indexOf(':')
    const b = a < 0 ? -1 : line.indexOf(':', a + 1)
    if (b < 0) continue
    const path = line.slice(b + 1).trim()
    for (const p of CGROUP_PATTERNS) {
      const m = p.re.exec(path)
      if (m === null) continue
      const id = m[1]!
      return p.runtime === undefined ? { id, shortId: id.slice(0, 12) } : { id, shortId: id.slice(0, 12), runtime: p.runtime }
    }
  }
  return null
}

// The pod a kubelet-made cgroup path belongs to (the kubepods layouts src/k8s/pod-stats.ts reads
// from the other side, pod UID -> directory):
//   cgroupfs driver   .../kubepods[/burstable|/besteffort]/pod<uid>/<container id>
//   systemd driver    .../kubepods[-<qos>]-pod<uid with '_' for '-'>.slice/cri-containerd-<id>.scope
const KUBEPODS_UID = [
  /(?:^|\/)kubepods[^/\n]*\/(?:[^/\n]+\/)*pod([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})(?:\/|$)/m,
  /(?:^|\/)[^/\n]*kubepods[^/\n]*-pod([0-9a-f]{8}_[0-9a-f]{4}_[0-9a-f]{4}_[0-9a-f]{4}_[0-9a-f]{12})\.slice(?:\/|$)/m,
]

/** The pod UID (with dashes) in a cgroup path (or /proc/PID/cgroup text) of a pod's process, or null. */
export function podUidOfCgroup(path: string): string | null {
  for (const re of KUBEPODS_UID) {
    const m = re.exec(path)
    if (m !== null) return m[1]!.replace(/_/g, '-')
  }
  return null
}

/**
 * The container a process's /proc/PID/cgroup text names, with its Docker name when Docker runs it
 * (read from dockerRoot/containers/<id>/config.v2.json), or null.
 */
export function containerOfCgroup(text: string, dockerRoot: string): (ContainerRef & { name?: string }) | null {
  const c = parseCgroupContainer(text)
  if (c === null || c.runtime !== 'docker') return c
  const name = dockerName(readText(`${dockerRoot}/containers/${c.id}/config.v2.json`))
  return name === undefined ? c : { ...c, name }
}

/** starttime (clock ticks since boot, field 22) from /proc/PID/stat text, or null. */
export function startTimeFromStat(text: string): number | null {
  // comm (field 2) is in parentheses and may hold spaces and ')': split after the last ')'
  const close = text.lastIndexOf(')')
  if (close < 0) return null
  const fields = text.slice(close + 1).trim().split(/\s+/)
  const v = Number(fields[22 - 3])
  return Number.isFinite(v) ? v : null
}

/** 127.0.0.0/8, ::1, fe80::/10: in every namespace, they tell nothing about which one. */
function isLocalOnly(ip: string): boolean {
  if (ip.startsWith('127.') || ip === '::1') return true
  return /^fe[89ab][0-9a-f]:/i.test(ip)
}

/** "docker container web-1 abc123def456, pid 1234 nginx": what a veth leads to, for the log. */
export function describeIdentity(id: NetnsIdentity): string {
  const c = id.container
  const container = c === undefined ? '' : `${c.runtime !== undefined ? `${c.runtime} ` : ''}container ${c.name !== undefined ? `${c.name} ` : ''}${c.shortId}, `
  return `${container}pid ${id.pid} ${id.comm}`
}

/** What VethResolver offers that is used here (tests give a stand-in). */
export interface NetnsToVeth {
  resolve(ref: PodNetRef): Promise<VethResult>
  invalidate(): void
}

export interface ContainerIdentitiesOptions {
  /** '/proc' */
  procRoot?: string
  /** Docker's data root, '/var/lib/docker' */
  dockerRoot?: string
  /** a refresh runs at most this often (default 1000 ms) */
  minRefreshMs?: number
  /** stderr lines (without the 'podtap: ' prefix) */
  log: (msg: string) => void
  /** how long a removed veth's identity is still used (default 3000 ms) */
  graceMs?: number
  /** default: a VethResolver with the namespace method only */
  resolver?: NetnsToVeth
  /** called when the addresses behind the veths changed (a veth identified, or gone past graceMs) */
  onChange?: () => void
}

/** 1 s * 2^5: a veth that stays unknown is looked for again every 32 s at most */
const MAX_BACKOFF = 5

interface VethEntry {
  name: string
  ifindex: number
  /** the log line to print once the first lookup is done; null once printed */
  line: string | null
  id: NetnsIdentity | null
}

interface NsGroup {
  pid: number
  start: number
}

export class ContainerIdentities {
  private readonly proc: string
  private readonly dockerRoot: string
  private readonly minRefreshMs: number
  private readonly resolver: NetnsToVeth
  /** attached veths, by host ifindex */
  private readonly veths = new Map<number, VethEntry>()
  /** address -> identity; null when two namespaces own it */
  private byIp = new Map<string, NetnsIdentity | null>()
  private unresolved = 0
  private lastRefreshMs = -Infinity
  private timer: NodeJS.Timeout | null = null
  /** removals waiting out graceMs */
  private readonly graced = new Set<NodeJS.Timeout>()
  private running: Promise<void> | null = null
  private again = false
  /** refreshes that found nothing in a row: the next waits minRefreshMs * 2^backoff */
  private backoff = 0
  private closed = false
  /** refreshes run, for tests */
  refreshes = 0

  constructor(private readonly o: ContainerIdentitiesOptions) {
    this.proc = o.procRoot ?? '/proc'
    this.dockerRoot = o.dockerRoot ?? '/var/lib/docker'
    this.minRefreshMs = o.minRefreshMs ?? 1000
    // route: false: a route names a veth but not who is behind it; the scan is invalidated per refresh
    this.resolver = o.resolver ?? new VethResolver({ procRoot: this.proc, route: false, scanTtlMs: 60_000 })
  }

  /**
   * A veth was attached. `line` ("capturing on vethX (ifindex 12)") is logged after the first lookup,
   * with what the veth leads to inside the parentheses when known; when found later, a line of its own.
   */
  added(i: { name: string; ifindex: number }, line: string): void {
    if (this.closed) return
    const old = this.veths.get(i.ifindex)
    if (old !== undefined) this.drop(old)
    this.veths.set(i.ifindex, { name: i.name, ifindex: i.ifindex, line, id: null })
    this.unresolved++
    this.backoff = 0
    if (this.timer !== null) clearTimeout(this.timer) // may be a long backed-off wait
    this.timer = null
    this.poke()
  }

  /**
   * The veth is gone. Its identity stays graceMs longer: records of its last packets still come
   * (held for ordering, or in the ring when the device went).
   */
  removed(ifindex: number): void {
    const v = this.veths.get(ifindex)
    if (v === undefined) return
    if (v.id === null) return this.drop(v)
    const t = setTimeout(() => {
      this.graced.delete(t)
      if (this.veths.get(ifindex) === v) this.drop(v)
    }, this.o.graceMs ?? 3000)
    t.unref()
    this.graced.add(t)
  }

  private drop(v: VethEntry): void {
    this.veths.delete(v.ifindex)
    if (v.id === null) this.unresolved--
    else this.rebuildIps()
  }

  /** The identity behind a host veth, if known. */
  identityOf(ifindex: number): NetnsIdentity | null {
    return this.veths.get(ifindex)?.id ?? null
  }

  /** Fills pid/comm/container of either end in place. */
  readonly exchange = (e: Exchange): void => {
    if (this.unresolved > 0) this.poke()
    if (this.byIp.size === 0) return
    this.fill(e.client)
    this.fill(e.server)
  }

  readonly link = (l: LinkRecord): void => {
    this.peers(l.client as Peer, l.server as Peer)
  }

  /** Fills both ends of a pair in place (links, TCP health rows). */
  peers(client: Peer, server: Peer): void {
    if (this.unresolved > 0) this.poke()
    if (this.byIp.size === 0) return
    this.fill(client)
    this.fill(server)
  }

  /** Resolves when no refresh is running or due (tests). */
  async settled(): Promise<void> {
    while (this.running !== null || this.timer !== null) {
      if (this.running !== null) await this.running
      else await new Promise((r) => setTimeout(r, 10))
    }
  }

  /** Stops refreshing; lines still waiting for their first lookup are logged as they are. */
  close(): void {
    if (this.closed) return
    this.closed = true
    for (const v of this.veths.values()) {
      if (v.line !== null) this.o.log(v.line)
      v.line = null
    }
    if (this.timer !== null) clearTimeout(this.timer)
    this.timer = null
    for (const t of this.graced) clearTimeout(t)
    this.graced.clear()
  }

  private fill(p: Peer): void {
    const id = this.byIp.get(p.ip)
    if (id === undefined || id === null) return
    p.pid ??= id.pid
    p.comm ??= id.comm
    const c = id.container
    if (c !== undefined) p.container ??= c.name ?? c.shortId
  }

  /** The container name (Docker name, else short id) of a process, for records of the TLS tap. */
  containerOfPid(pid: number): string | undefined {
    const c = containerOfCgroup(readText(`${this.proc}/${pid}/cgroup`) ?? '', this.dockerRoot)
    return c === null ? undefined : (c.name ?? c.shortId)
  }

  /** A refresh now, or as soon as minRefreshMs has passed since the last one. */
  private poke(): void {
    if (this.closed || this.timer !== null) return
    if (this.running !== null) {
      this.again = true
      return
    }
    const wait = this.lastRefreshMs + this.minRefreshMs * 2 ** this.backoff - performance.now()
    this.timer = setTimeout(() => {
      this.timer = null
      this.running = this.refresh().finally(() => {
        this.running = null
        if (this.again) {
          this.again = false
          if (this.unresolved > 0) this.poke()
        }
      })
    }, Math.max(0, wait))
    this.timer.unref()
  }

  private async refresh(): Promise<void> {
    if (this.closed) return
    this.lastRefreshMs = performance.now()
    this.refreshes++
    const looked = [...this.veths.values()]
    const before = this.unresolved
    try {
      if (this.unresolved > 0) await this.identify()
    } catch (e) {
      this.o.log(`identifying veths: ${(e as Error).message}`)
    }
    this.lastRefreshMs = performance.now()
    // nothing new found: wait longer before the next scan (a veth whose peer has no process, say)
    this.backoff = this.unresolved > 0 && this.unresolved >= before ? Math.min(this.backoff + 1, MAX_BACKOFF) : 0
    // every veth looked up once gets its line now, with or without an identity
    for (const v of looked) {
      if (v.line === null || this.veths.get(v.ifindex) !== v) continue
      this.o.log(v.id !== null ? `${v.line.replace(/\)$/, '')}: ${describeIdentity(v.id)})` : v.line)
      v.line = null
    }
  }

  private async identify(): Promise<void> {
    this.resolver.invalidate()
    const groups = this.scanNamespaces()
    const known = new Set<string>()
    for (const v of this.veths.values()) if (v.id !== null) known.add(v.id.netns)
    let found = false
    for (const [netns, g] of groups) {
      if (this.unresolved === 0 || this.closed) break
      if (known.has(netns)) continue
      const ips = this.ipsOf(g.pid)
      // a namespace with no address of its own (only lo) is reached by no record: not worth a lookup
      if (ips.length === 0) continue
      const r = await this.resolver.resolve({ ips })
      if (!('ifindex' in r)) continue
      const v = this.veths.get(r.ifindex)
      if (v === undefined || v.id !== null) continue
      // the resolver may have found another namespace owning the same address: trust only its own pid
      const rNs = r.pid !== undefined ? this.nsOf(r.pid) : ''
      const rg = rNs === netns ? g : groups.get(rNs)
      if (rg === undefined) continue
      v.id = this.identityOfGroup(rNs, rg, rNs === netns ? ips : this.ipsOf(rg.pid))
      if (v.id === null) continue
      known.add(rNs)
      this.unresolved--
      found = true
      if (v.line === null) this.o.log(`${v.name} (ifindex ${v.ifindex}) leads to ${describeIdentity(v.id)}`)
    }
    if (found) this.rebuildIps()
  }

  private identityOfGroup(netns: string, g: NsGroup, ips: string[]): NetnsIdentity | null {
    const comm = readText(`${this.proc}/${g.pid}/comm`)?.trim()
    if (comm === undefined) return null // exited meanwhile
    const id: NetnsIdentity = { netns, ips, pid: g.pid, comm }
    const c = containerOfCgroup(readText(`${this.proc}/${g.pid}/cgroup`) ?? '', this.dockerRoot)
    if (c !== null) id.container = c
    return id
  }

  private rebuildIps(): void {
    const m = new Map<string, NetnsIdentity | null>()
    for (const v of this.veths.values()) {
      if (v.id === null) continue
      for (const ip of v.id.ips) {
        const had = m.get(ip)
        m.set(ip, had === undefined || had?.netns === v.id.netns ? v.id : null)
      }
    }
    this.byIp = m
    this.o.onChange?.()
  }

  private nsOf(pid: number | string): string {
    try {
      return readlinkSync(`${this.proc}/${pid}/ns/net`)
    } catch {
      return ''
    }
  }

  /** netns -> its oldest process, every namespace but the host's. */
  private scanNamespaces(): Map<string, NsGroup> {
    const hostNs = this.nsOf('self')
    const out = new Map<string, NsGroup>()
    let pids: string[]
    try {
      pids = readdirSync(this.proc)
    } catch {
      return out
    }
    for (const d of pids) {
      if (!/^\d+$/.test(d)) continue
      const ns = this.nsOf(d)
      if (ns === '' || ns === hostNs) continue
      const start = startTimeFromStat(readText(`${this.proc}/${d}/stat`) ?? '')
      if (start === null) continue
      const pid = Number(d)
      const g = out.get(ns)
      if (g === undefined || start < g.start || (start === g.start && pid < g.pid)) out.set(ns, { pid, start })
    }
    return out
  }

  private ipsOf(pid: number): string[] {
    const ips = localIpv4FromFibTrie(readText(`${this.proc}/${pid}/net/fib_trie`) ?? '')
    for (const ip of localIpv6FromIfInet6(readText(`${this.proc}/${pid}/net/if_inet6`) ?? '')) ips.add(ip)
    return [...ips].filter((ip) => !isLocalOnly(ip))
  }
}

/** "Name" of a Docker config.v2.json ("/web-1" -> "web-1"), or undefined. */
export function dockerName(json: string | null): string | undefined {
  if (json === null) return undefined
  try {
    const name = (JSON.parse(json) as { Name?: unknown }).Name
    if (typeof name !== 'string') return undefined
    const n = name.replace(/^\//, '')
    return n === '' ? undefined : n
  } catch {
    return undefined
  }
}

function readText(path: string): string | null {
  try {
    return readFileSync(path, 'utf8')
  } catch {
    return null
  }
}
