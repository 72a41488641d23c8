// `podtap capture`: live capture on network interfaces through the same pipeline replay uses.
//
//   one AfPacketSource per interface (BPF socket filter + TPACKET_V3 ring) ─┐
//   --all-veth: one socket on every interface, watchInterfaces() adds veths  ├─ MultiSource ─> Pipeline ─> table / jsonl / onExchange
//   to (and drops them from) its filter's interface map as they come and go
//                                                                           ┘        └─> --pcap-out (PcapWriter)
//
// The loop takes packets in batches and, when the rings are empty, awaits MultiSource.wait(): one
// poll(2) on a libuv worker for every ring, so the event loop never blocks and no core spins. A 1 s
// timer moves the pipeline's clock to the wall clock (pipeline.tick), so idle flows expire and held
// exchanges are released when no packets come; exchanges are held at most ORDER_HORIZON_US for
// ordering, so output stays timely.
//
// Stopping (SIGINT/SIGTERM through `signal`, --duration, or every --iface gone): the loop keeps
// reading for two block timeouts plus a little, because the block the kernel is filling is handed
// over at most frameTimeoutMs after its first packet; then the rings close, pipeline.finish() ends
// every flow (requests still waiting are reported without response) and the totals are returned.

import { setImmediate as yieldLoop } from 'node:timers/promises'
import { readFileSync } from 'node:fs'
import { LRUCache } from 'lru-cache'
import { ContainerIdentities } from '../identity/container-identity.js'
import { AF_PACKET_DEFAULTS, MultiSource, openAfPacket, type AfPacketSource, type AfPacketStats } from '../capture/af-packet.js'
import { watchInterfaces, type InterfaceWatch, type NetInterface } from '../capture/interfaces.js'
import { vethMatcher } from '../capture/veth-match.js'
import { VethCopies } from '../capture/copies.js'
import { ringGeometry } from '../capture/ring-geometry.js'
import { probeBpf } from '../capture/libbpf.js'
import { PcapWriter } from '../capture/pcap-writer.js'
import { preflight, preflightError } from '../capture/privileges.js'
import { LinkType, type Packet, type PacketSource } from '../capture/source.js'
import type { Limits } from '../config.js'
import { UsageError } from '../errors.js'
import { C, Counters } from '../counters.js'
import { Summary } from '../metrics/summary.js'
import type { LinkRecord, Peer, TlsCoverageRow } from '../records.js'
import type { FlowView } from '../tcp/health.js'
import type { Endpoint } from '../tcp/types.js'
import { Pipeline, type PipelineOptions } from '../pipeline/pipeline.js'
import type { Exchange } from '../records.js'
import { JsonlWriter } from '../sinks/jsonl.js'
import { TlsSessions, type ProcessIdentity } from '../tls/sessions.js'
import { ListeningSockets } from '../tls/listeners.js'
import { openTlsTap, type TlsChunk, type TlsTap } from '../tls/tap.js'
import { SslBinaryFinder } from '../tls/binaries.js'
import { coverageLine, TlsCoverage, type TlsCoverageSource } from '../tls/coverage.js'
import { cgroupPathOf, ProcessWatcher, startTicksOf } from '../tls/processes.js'
import { openGoTlsTap, type GoTlsTap } from '../tls/go/tap.js'
import { podUidOfCgroup } from '../identity/container-identity.js'
import { LiveTable } from './live-table.js'
import { renderSummary, renderTotals } from './table.js'
import { log } from '../log.js'

export interface CaptureOptions {
  /** interface names; exclusive with allVeth */
  ifaces?: readonly string[]
  /** every veth now and as they come and go */
  allVeth?: boolean
  /** with allVeth: only veths whose name matches (src/capture/veth-match.ts: globs, /regex/) */
  vethMatch?: string
  format: 'table' | 'jsonl'
  /** with jsonl: also print the summary table at the end (on stderr) */
  summary?: boolean
  /** also write every exchange as JSONL to this file */
  jsonlFile?: string
  /** every packet captured, as classic pcap (Ethernet link type) */
  pcapOut?: string
  /** stop after this many seconds */
  durationS?: number
  snaplen?: number
  /** kernel-side TCP port allow-list */
  ports?: readonly number[]
  protocols?: readonly string[]
  limits?: Partial<Limits>
  /** ring size per interface in MiB (--ring-blocks; default 16), cut into RING_BLOCK_BYTES blocks */
  ringBlocks?: number
  /** ring block size in bytes; given, ringBlocks counts blocks of this size (default: see RING_BLOCK_BYTES) */
  blockSize?: number
  /** a partly filled ring block is handed over after this long (default 50 ms) */
  frameTimeoutMs?: number
  /** how long exchanges are held to restore request-start order (default 2 s) */
  orderHorizonUs?: number
  /** redraw the table in place (default: format table and stdout is a terminal) */
  liveTable?: boolean
  /** live redraw interval (default 2000 ms) */
  refreshMs?: number
  /** first line of the live view (default 'podtap capture') */
  title?: string
  /** aborting stops the capture cleanly (the CLI aborts on SIGINT/SIGTERM; see stopOnSignals) */
  signal?: AbortSignal
  /** stderr lines, without the 'podtap: ' prefix (default: written to stderr with it) */
  log?: (msg: string) => void
  /** called once every initial interface is attached and packets flow */
  onReady?: (interfaces: string[]) => void
  // Hooks for the outputs (src/cli/outputs.ts OutputHub): exchange()/link() here, tick() on onTick,
  // close() after capture() resolves. Consumers are synchronous and must only queue.
  onExchange?: (e: Exchange) => void
  onLink?: (l: LinkRecord) => void
  /** TCP health windows (rows enriched like links before onWindow sees them) and knobs */
  tcp?: PipelineOptions['tcp']
  /** once a second with the wall clock in µs (windows close when no traffic comes) */
  onTick?: (nowUs: number) => void
  /** --tls: the TLS coverage report, once a tick (Prometheus podtap_tls_coverage, the control API) */
  onTlsCoverage?: (rows: readonly TlsCoverageRow[]) => void
  /**
   * A mode that attaches rings itself (--k8s: one per pod veth as pods come and go; the control
   * API): called once the MultiSource exists; its filters then see every packet and record.
   */
  attach?: (multi: MultiSource, log: (msg: string) => void) => Promise<CaptureAttachment>
  /** true when `attach` picks every interface (--k8s): then no --iface/--all-veth */
  attachOwnsInterfaces?: boolean
  /** health counters shared with the outputs (default: a fresh set) */
  counters?: Counters
  /** podtap's own endpoints (sinks, metrics port): their traffic is not analysed */
  exclude?: { ip: string; port: number }[]
  /**
   * Also read the plaintext of TLS connections through uprobes on OpenSSL (src/tls/): every process
   * using these libssl files (default: the usual paths), or only the pids given. With no interface
   * given, the tap is the only input.
   */
  tls?: { libssl?: readonly string[]; pids?: readonly number[]; coverageSources?: readonly TlsCoverageSource[] }
}

/**
 * The Go crypto/tls tap for --tls, or null where it cannot run (not amd64, or it fails to load: the
 * OpenSSL tap goes on alone, said in one log line).
 */
function openGoTap(pidFilter: boolean, onChunk: (c: TlsChunk) => void, log: (msg: string) => void): GoTlsTap | null {
  if (process.arch !== 'x64') {
    log(`Go TLS tap: not on ${process.arch} (amd64 only: arm64 could not be tested); Go programs stay encrypted`)
    return null
  }
  try {
    return openGoTlsTap({ onChunk, pidFilter, log })
  } catch (e) {
    log(`Go TLS tap not started: ${(e as Error).message}`)
    return null
  }
}

/**
 * Feeds the Go tap the processes to read: every process, or the pids given, or (--k8s) those whose
 * cgroup names one of the selected pods (the set is re-read every tick: pods come and go).
 */
function watchGoProcesses(
  goTap: GoTlsTap,
  pids: readonly number[] | undefined,
  podUids: (() => ReadonlySet<string>) | undefined,
): { tick(): void; check(pid: number): void; close(): void } {
  let uids: ReadonlySet<string> = podUids?.() ?? new Set()
  const inPods = (cg: string): boolean => {
    const uid = podUidOfCgroup(cg)
    return uid !== null && uids.has(uid)
  }
  const w = new ProcessWatcher({
    pids: pids ?? null,
    cgroupFilter: podUids !== undefined ? inPods : null,
    onStart: (p) => goTap.addProcess(p),
    onExit: (p) => goTap.removeProcess(p),
  })
  w.start()
  return {
    tick: () => {
      if (podUids === undefined) return
      const now = podUids()
      if (now.size === uids.size && [...now].every((u) => uids.has(u))) return
      uids = now
      w.setCgroupFilter(inPods)
    },
    check: (pid) => w.check(pid),
    close: () => w.close(),
  }
}

/** What an attach mode (--k8s, src/k8s/cli.ts) plugs into the capture loop. */
export interface CaptureAttachment {
  /** false: the packet is left out (the second copy of same-node pod traffic); asked before --pcap-out */
  accept?(p: Packet): boolean
  /** asked first for every exchange: fills identity in place; false drops it */
  exchange?(e: Exchange): boolean
  link?(l: LinkRecord): boolean
  /** fills identity of a client and a server in place (TCP health rows) */
  peers?(client: Peer, server: Peer): void
  /** TCP health's one-copy rule: whether a flow is a second view of a connection counted on another veth */
  tcpView?(client: Endpoint, serverIp: string, tsUs: number): FlowView
  /** the pod and container of a process from its cgroup path (--k8s), for records of the TLS tap */
  identifyProcess?(cgroupPath: string): ProcessIdentity | undefined
  /** --k8s: UIDs of the node's selected pods; the Go TLS tap reads only their processes (by cgroup) */
  tlsPodUids?(): ReadonlySet<string>
  /** closes what it opened (rings, watchers, servers) */
  close(): Promise<void>
}

export type StopReason = 'signal' | 'duration' | 'no_interfaces'

export interface CaptureResult {
  summary: Summary
  counters: Counters
  packets: number
  bytes: number
  seconds: number
  /** packets the kernel dropped because the ring was full (PACKET_STATISTICS tp_drops) */
  kernelDrops: number
  /** times a ring was full (tp_freeze_q_cnt) */
  freezes: number
  /** interfaces captured on at some point (the first MAX_NAMES_KEPT) */
  interfaces: string[]
  /** how many more interfaces were captured on than `interfaces` names */
  moreInterfaces: number
  /** packets written to --pcap-out */
  pcapPackets: number
  /** packets left out of --pcap-out because their link type is not Ethernet */
  pcapSkipped: number
  stopReason: StopReason
  /** --tls: the TLS coverage report at the end */
  tlsCoverage?: TlsCoverageRow[]
  warnings: string[]
}

/** live: exchanges leave the order buffer this long after their start (replay uses 60 s) */
const ORDER_HORIZON_US = 2_000_000
/** packets handled between yields to the event loop (timers, signals, async sinks) */
const BATCH = 4096
/** longest wait for packets before the loop looks at its stop flag again */
const WAIT_MS = 200
const TICK_MS = 1000
/** interface names remembered for the totals (the count goes on past it) */
const MAX_NAMES_KEPT = 64

function defaultLog(msg: string): void {
  log.info(msg)
}

/** Throws the first failing preflight check (permissions, BPF, libbpf, sysfs) with its fix. */
export function checkLiveCapture(): void {
  const err = preflightError(preflight({ loadProbe: probeBpf }))
  if (err !== null) throw err
}

export async function capture(o: CaptureOptions): Promise<CaptureResult> {
  const ifaces = [...new Set(o.ifaces ?? [])]
  if (o.attachOwnsInterfaces === true && (Boolean(o.allVeth) || ifaces.length > 0)) {
    throw new UsageError('--k8s picks the interfaces itself (each pod\'s veth): leave out --iface and --all-veth')
  }
  if (o.allVeth && ifaces.length > 0) throw new UsageError('give --iface or --all-veth, not both')
  if (o.vethMatch !== undefined && !o.allVeth) throw new UsageError('--veth-match narrows --all-veth: give --all-veth too')
  const vethMatches = o.vethMatch !== undefined ? vethMatcher(o.vethMatch) : (): boolean => true
  if (o.attachOwnsInterfaces !== true && !o.allVeth && ifaces.length === 0 && o.tls === undefined) {
    throw new UsageError('give the interfaces to capture on: --iface NAME[,NAME...], --all-veth, or --k8s (every pod of this node); or --tls alone for TLS plaintext only')
  }
  checkLiveCapture()
  const t0 = performance.now()
  const baseLog = o.log ?? defaultLog
  const live = o.liveTable ?? (o.format === 'table' && process.stdout.isTTY === true)
  const view = live ? new LiveTable(process.stdout) : null
  const log = (msg: string): void => {
    view?.log(msg)
    baseLog(msg)
  }
  const frameTimeoutMs = o.frameTimeoutMs ?? AF_PACKET_DEFAULTS.frameTimeoutMs
  const { blockSize, blockCount } = ringGeometry(o.ringBlocks ?? AF_PACKET_DEFAULTS.blockCount, o.blockSize)
  const snaplen = o.snaplen ?? AF_PACKET_DEFAULTS.snaplen
  const open = (iface: string): AfPacketSource =>
    openAfPacket({ iface, snaplen, ports: o.ports, blockCount, blockSize, frameTimeoutMs })

  // counts of rings already closed (MultiSource keeps packets/bytes/drops; freezes are ours to sum)
  const closedStats = { freezes: 0 }
  const byIfindex = new Map<number, AfPacketSource>()
  // --all-veth: one socket bound to every interface, the veths in its filter's map (watch/unwatch);
  // see docs/architecture.md "A node of many pods"
  let shared: AfPacketSource | null = null
  const vethNames = new Map<number, string>()
  /** --all-veth: when each veth entered the filter's map (capture time, µs) */
  const vethSince = new Map<number, number>()
  const everAttached: string[] = []
  let moreAttached = 0
  let stopReason: StopReason | null = null
  let stopAtMs = Infinity
  const drainMs = 2 * frameTimeoutMs + 50
  const stop = (why: StopReason): void => {
    if (stopReason !== null) return
    stopReason = why
    stopAtMs = performance.now() + drainMs
  }
  const retired = (s: PacketSource): void => {
    const a = s as AfPacketSource
    if (byIfindex.get(a.ifindex) === a) byIfindex.delete(a.ifindex)
    closedStats.freezes += (a.stats() as AfPacketStats).freezes ?? 0
  }

  const multi = new MultiSource({
    onSourceEnd: (s, err) => {
      retired(s)
      log(err?.message ?? `capture on ${s.name} ended`)
      if (!o.allVeth && o.attachOwnsInterfaces !== true && multi.sources.length === 0) {
        log('no interface left to capture on: stopping')
        stop('no_interfaces')
      }
    },
  })
  const named = (name: string): void => {
    if (!everAttached.includes(name)) {
      // names kept for the totals line; bounded, as --all-veth on a busy node sees endless pod churn
      if (everAttached.length < MAX_NAMES_KEPT) everAttached.push(name)
      else moreAttached++
    }
  }
  const attach = (iface: string): AfPacketSource => {
    const s = open(iface)
    byIfindex.set(s.ifindex, s)
    multi.add(s)
    named(s.name)
    return s
  }
  const captureNames = (): string[] => [...[...byIfindex.values()].map((s) => s.name), ...vethNames.values()]

  let watch: InterfaceWatch | null = null
  let pcap: PcapWriter | null = null
  let fileJsonl: JsonlWriter | null = null
  let att: CaptureAttachment | null = null
  let tap: TlsTap | null = null
  let goTap: GoTlsTap | null = null
  let sessions: TlsSessions | null = null
  /** told of every exec by the TLS tap (ProcessWatcher.check) */
  const execWatchers: { check(pid: number): void }[] = []
  try {
    // every named interface opens before any output exists: a bad name fails with nothing written
    for (const name of ifaces) attach(name)
    if (o.allVeth) {
      shared = openAfPacket({ anyInterface: true, snaplen, ports: o.ports, blockCount, blockSize, frameTimeoutMs })
      multi.add(shared)
    }
    if (o.attach !== undefined) att = await o.attach(multi, log)
    if (o.pcapOut !== undefined) pcap = new PcapWriter(o.pcapOut, { linkType: LinkType.ETHERNET, snaplen })
    if (o.jsonlFile !== undefined) fileJsonl = new JsonlWriter(o.jsonlFile)
    // TLS plaintext: each (pid, SSL *) a connection of the pipeline made below (chunks come from the
    // tap's poll loop, so none arrives before `sessions` exists: nothing in between awaits)
    if (o.tls !== undefined) {
      const onChunk = (c: TlsChunk): void => {
        sessions!.chunk(c)
        coverage!.tapped(c.pid, c.comm, c.tap ?? 'openssl')
      }
      // every exec on the host, at once: the process watchers (made below) look at that pid
      // without waiting for their next /proc scan (a short-lived Go or node client is probed in time)
      const onExec = (pid: number): void => {
        for (const w of execWatchers) w.check(pid)
      }
      tap = openTlsTap({ onChunk, onExec, libssl: o.tls.libssl, pids: o.tls.pids })
      goTap = openGoTap(o.tls.pids !== undefined || att?.tlsPodUids !== undefined, onChunk, log)
    }
  } catch (e) {
    await tap?.close()
    await att?.close()
    multi.close()
    pcap?.close()
    throw e
  }
  const hook = att
  // --all-veth without Kubernetes: each veth named by the process and container behind it
  // which tap reads each TLS-using process, or why none can (src/tls/coverage.ts)
  let coverage: TlsCoverage | null = null
  let coverageRows: TlsCoverageRow[] = []
  // and one copy kept of each packet between two of them (vethCopies below)
  let copies = null as VethCopies | null
  const ids = o.allVeth ? new ContainerIdentities({ log, graceMs: (o.orderHorizonUs ?? ORDER_HORIZON_US) / 1000 + 1000, onChange: () => (copies = vethCopies(vethSince, ids!, copies)) }) : null

  const summary = new Summary()
  const counters = o.counters ?? new Counters()
  const stdoutJsonl = o.format === 'jsonl' ? new JsonlWriter('-') : null
  const pipeline: Pipeline = new Pipeline({
    counters,
    exclude: o.exclude,
    limits: o.limits,
    protocols: o.protocols,
    orderHorizonUs: o.orderHorizonUs ?? ORDER_HORIZON_US,
    tcp: tcpEnriched(o.tcp, hook, ids),
    // with the tap, a connection seen as encrypted packets and as plaintext is counted once
    tlsTap: o.tls !== undefined,
    onExchange: (e) => {
      ids?.exchange(e)
      if (hook?.exchange !== undefined && !hook.exchange(e)) return
      summary.add(e)
      stdoutJsonl?.write(e)
      fileJsonl?.write(e)
      o.onExchange?.(e)
    },
    onLink: (l) => {
      ids?.link(l)
      coverage?.encrypted(l)
      if (hook?.link !== undefined && !hook.link(l)) return
      summary.addLink(l) // encrypted connections no parser read are rows of their own (proto tls)
      o.onLink?.(l)
    },
  })

  // executables with OpenSSL built in (node) and libssl copies in containers: found among the
  // processes now and as they start (ProcessWatcher), so a node started later is tapped within a second
  let procs: ProcessWatcher | null = null
  if (tap !== null) {
    const who = ProcessIdentities.create(hook, ids)
    const identify = who?.identify
    const listening = new ListeningSockets()
    sessions = new TlsSessions({ pipeline, limits: pipeline.limits, counters, identify, listening: (pid, ep) => listening.has(pid, ep) })
    const f = new SslBinaryFinder({ tap, mappedLibs: o.tls?.libssl === undefined, log })
    const w = (procs = new ProcessWatcher({
      pids: o.tls?.pids ?? null,
      onStart: (p) => {
        who?.started(p)
        f.started(p)
      },
      onExit: (p) => {
        f.exited(p.pid)
        coverage!.exited(p.pid)
      },
    }))
    coverage = new TlsCoverage({ tapOf: (pid) => f.tapOf(pid), processes: () => w.list(), identify, sources: [...(o.tls?.coverageSources ?? []), ...(goTap !== null ? [goTap] : [])] })
    procs.start()
    execWatchers.push(procs)
    log(`reading TLS plaintext through ${tap.probes.length} probes on ${[...new Set(tap.probes.filter((p) => p.kind === 'uprobe').map((p) => p.binary))].join(', ')}`)
  }
  // Go executables among the processes (all, --tls-pid's, or --k8s's selected pods'), probed per file
  const goProcs = goTap === null ? null : watchGoProcesses(goTap, o.tls?.pids, hook?.tlsPodUids?.bind(hook))
  if (goProcs !== null) execWatchers.push(goProcs)
  const tlsCounters = (): void => {
    if (tap === null) return
    const t = tap.counters()
    const g = goTap?.counters()
    counters.set('tls_chunks', t.delivered + (g?.delivered ?? 0))
    counters.set('tls_dropped', t.dropFull + (g?.dropFull ?? 0))
    if (g !== undefined) {
      counters.set('tls_go_executables', g.executables)
      counters.set('tls_go_refused', g.refused)
    }
  }

  if (o.allVeth) {
    const sh = shared as AfPacketSource
    watch = watchInterfaces(
      // veths of other names never enter the filter's map: their packets stop in the kernel
      (i) => i.isVeth && vethMatches(i.name),
      (i: NetInterface) => {
        if (vethNames.has(i.ifindex) || stopReason !== null) return
        try {
          // one map update: no ring, socket or program per veth
          sh.watch(i.ifindex)
          vethSince.set(i.ifindex, Date.now() * 1000)
          vethNames.set(i.ifindex, i.name)
          named(i.name)
          // logged once the process/container behind it has been looked for
          ids!.added(i, `capturing on ${i.name} (ifindex ${i.ifindex})`)
        } catch (e) {
          log(`cannot capture on ${i.name}: ${(e as Error).message}`)
        }
      },
      (i: NetInterface) => {
        if (!vethNames.delete(i.ifindex)) return
        vethSince.delete(i.ifindex)
        copies = vethCopies(vethSince, ids!, copies) // its address may come back on another veth
        ids?.removed(i.ifindex)
        // its packets already in the ring are still read; the device is gone, so none follow
        sh.unwatch(i.ifindex)
        log(`interface ${i.name} (ifindex ${i.ifindex}) disappeared; capture on it stopped`)
      },
      { intervalMs: 1000, onError: (e) => log(`watching interfaces: ${(e as Error).message}`) },
    )
    if (vethNames.size === 0) log(`no veth interface${o.vethMatch !== undefined ? ` matching ${o.vethMatch}` : ''} yet: waiting for one to appear`)
  }

  let lastPackets = 0
  let lastDrawMs = performance.now()
  const liveStats = (): { kernelDrops: number; freezes: number } => {
    let freezes = closedStats.freezes
    for (const s of byIfindex.values()) freezes += s.stats().freezes
    if (shared !== null && !shared.ended) freezes += shared.stats().freezes
    return { kernelDrops: multi.stats().dropped, freezes }
  }
  const draw = (): void => {
    if (view === null) return
    const now = performance.now()
    const st = liveStats()
    view.draw(
      {
        title: o.title ?? 'podtap capture',
        interfaces: captureNames(),
        elapsedS: (now - t0) / 1000,
        packets: pipeline.packets,
        packetsPerS: ((pipeline.packets - lastPackets) * 1000) / Math.max(1, now - lastDrawMs),
        kernelDrops: st.kernelDrops,
        freezes: st.freezes,
        flows: pipeline.flowsActive,
        exchanges: summary.totals.exchanges,
        errors: summary.totals.errors,
        footer: coverage !== null ? coverageLine(coverageRows) : undefined,
      },
      summary,
    )
    lastPackets = pipeline.packets
    lastDrawMs = now
  }

  const tick = setInterval(() => {
    const nowUs = Date.now() * 1000
    sessions?.advance(nowUs)
    goProcs?.tick()
    pipeline.tick(nowUs)
    tlsCounters()
    counters.set(C.packets, pipeline.packets)
    counters.set(C.captureDropped, liveStats().kernelDrops)
    if (copies !== null) counters.set('veth_second_copies', copies.dropped)
    if (coverage !== null) {
      coverageRows = coverage.rows()
      o.onTlsCoverage?.(coverageRows)
    }
    o.onTick?.(nowUs)
    stdoutJsonl?.flush()
    fileJsonl?.flush()
    pcap?.flush()
  }, TICK_MS)
  const redraw = view !== null ? setInterval(draw, o.refreshMs ?? 2000) : null
  const duration = o.durationS !== undefined ? setTimeout(() => stop('duration'), o.durationS * 1000) : null
  const onAbort = (): void => stop('signal')
  if (o.signal?.aborted) stop('signal')
  o.signal?.addEventListener('abort', onAbort)

  let pcapSkipped = 0
  const warnings: string[] = []
  try {
    o.onReady?.(captureNames())
    draw()
    for (;;) {
      let n = 0
      let p: Packet | null
      while (n < BATCH && (p = multi.next()) !== null) {
        if ((hook?.accept !== undefined && !hook.accept(p)) || (copies !== null && !copies.accept(p))) {
          n++
          continue
        }
        if (pcap !== null) {
          if (p.linkType === pcap.linkType) pcap.write(p.tsUs, p.data, p.origLen)
          else pcapSkipped++
        }
        pipeline.packet(p)
        n++
      }
      if (stdoutJsonl !== null && n > 0) stdoutJsonl.flush()
      const left = stopAtMs - performance.now()
      if (left <= 0) break
      if (n === BATCH) await yieldLoop()
      else await multi.wait(Math.min(WAIT_MS, left))
    }
  } finally {
    o.signal?.removeEventListener('abort', onAbort)
    clearInterval(tick)
    if (redraw !== null) clearInterval(redraw)
    if (duration !== null) clearTimeout(duration)
    watch?.close()
    procs?.close()
    ids?.close()
    await hook?.close()
    // the taps hand over what is left in their rings while closing: then the sessions end
    goProcs?.close()
    await tap?.close()
    await goTap?.close()
    tlsCounters()
    sessions?.closeAll()
    const members = [...byIfindex.values()]
    if (shared !== null) members.push(shared)
    multi.close()
    for (const s of members) retired(s)
    pipeline.finish()
    if (copies !== null) counters.set('veth_second_copies', copies.dropped)
    pcap?.close()
    await stdoutJsonl?.close()
    await fileJsonl?.close()
    view?.end()
  }
  const tlsDropped = counters.get('tls_dropped')
  if (tlsDropped > 0) warnings.push(`${tlsDropped} TLS plaintext records were dropped because the tap's ring buffer was full`)
  if (pcapSkipped > 0) warnings.push(`${pcapSkipped} packets from non-Ethernet interfaces were not written to ${o.pcapOut}`)
  const total = multi.stats()
  return {
    summary,
    counters,
    packets: pipeline.packets,
    bytes: pipeline.bytes,
    seconds: (performance.now() - t0) / 1000,
    kernelDrops: total.dropped,
    freezes: closedStats.freezes,
    interfaces: everAttached,
    moreInterfaces: moreAttached,
    pcapPackets: pcap?.packets ?? 0,
    pcapSkipped,
    stopReason: stopReason ?? 'signal',
    tlsCoverage: coverage?.rows(),
    warnings,
  }
}

/**
 * Who a TLS-tapped process is: its pod (--k8s: cgroup path -> pod UID -> the pod informer's object)
 * or its container (--all-veth: cgroup -> container id, Docker name). Looked up when the process
 * watcher sees it start (a short-lived client may be gone by the time its chunks are read), else at
 * its first session from /proc/PID/cgroup; what is found is kept per pid (a new process of that pid
 * is a new start and replaces it).
 */
class ProcessIdentities {
  private readonly known = new LRUCache<number, ProcessIdentity>({ max: 4096 })

  private constructor(
    private readonly viaPod: ((cgroupPath: string) => ProcessIdentity | undefined) | undefined,
    private readonly ids: ContainerIdentities | null,
  ) {}

  static create(hook: CaptureAttachment | null, ids: ContainerIdentities | null): ProcessIdentities | null {
    const viaPod = hook?.identifyProcess?.bind(hook)
    return viaPod === undefined && ids === null ? null : new ProcessIdentities(viaPod, ids)
  }

  started(p: { pid: number; cgroupPath: string }): void {
    const found = this.lookup(p.pid, p.cgroupPath)
    if (found !== undefined) this.known.set(p.pid, found)
    else this.known.delete(p.pid)
  }

  readonly identify = (pid: number): ProcessIdentity | undefined => {
    const had = this.known.get(pid)
    if (had !== undefined) return had
    let cg: string
    try {
      cg = readFileSync(`/proc/${pid}/cgroup`, 'latin1')
    } catch {
      return undefined // gone
    }
    const found = this.lookup(pid, cgroupPathOf(cg))
    if (found !== undefined) this.known.set(pid, found)
    return found
  }

  private lookup(pid: number, cgroupPath: string): ProcessIdentity | undefined {
    return this.viaPod?.(cgroupPath) ?? (this.ids !== null ? containerOnly(this.ids.containerOfPid(pid)) : undefined)
  }
}

function containerOnly(name: string | undefined): ProcessIdentity | undefined {
  return name === undefined ? undefined : { container: name }
}

/** the TCP health options with every row's client and server named like links are (exported for tests) */
export function tcpEnriched(tcp: CaptureOptions['tcp'], hook: CaptureAttachment | null, ids: ContainerIdentities | null): CaptureOptions['tcp'] {
  if (hook?.tcpView !== undefined) tcp = { ...tcp, view: hook.tcpView.bind(hook) }
  const onWindow = tcp?.onWindow
  if (onWindow === undefined || (hook?.peers === undefined && ids === null)) return tcp
  return {
    ...tcp,
    onWindow: (w) => {
      for (const r of w.rows) {
        ids?.peers(r.client as Peer, r.server as Peer)
        hook?.peers?.(r.client as Peer, r.server as Peer)
      }
      onWindow(w)
    },
  }
}

/**
 * --all-veth: one copy of each packet between two captured veths (pods of one node: the same packet
 * passes both), by the rule of src/capture/copies.ts that --k8s and the demo apply, with the
 * addresses ContainerIdentities found behind each veth. Rebuilt when they change or a veth goes
 * (a few entries per veth, no per-flow state to carry over). An address two veths claim is left
 * out: both copies of its packets pass, as without the rule. Until a new veth's namespace is
 * identified (about a second) its packets to other captured pods pass twice too.
 */
function vethCopies(since: ReadonlyMap<number, number>, ids: ContainerIdentities, old: VethCopies | null): VethCopies {
  const owner = new Map<string, number | null>()
  for (const ifindex of since.keys()) {
    for (const ip of ids.identityOf(ifindex)?.ips ?? []) owner.set(ip, owner.has(ip) && owner.get(ip) !== ifindex ? null : ifindex)
  }
  const c = new VethCopies()
  c.dropped = old?.dropped ?? 0
  for (const [ip, ifindex] of owner) if (ifindex !== null) c.own(ip, ifindex, since.get(ifindex))
  return c
}

/** One line with the capture's own totals, e.g. for the test that compares with tshark. */
export function captureTotalsLine(r: CaptureResult): string {
  const n = r.interfaces.length + r.moreInterfaces
  const names = (r.interfaces.join(', ') || 'none') + (r.moreInterfaces > 0 ? ` and ${r.moreInterfaces} more` : '')
  return (
    `captured ${r.packets} packets on ${n} interface${n === 1 ? '' : 's'}` +
    ` (${names}): ${r.kernelDrops} kernel drops, ${r.freezes} ring freezes` +
    (r.pcapPackets > 0 || r.pcapSkipped > 0 ? `, ${r.pcapPackets} packets written to pcap` : '')
  )
}

/** Final summary: the table on stdout for table format; totals on stderr for jsonl (table too with --summary). */
export function printCaptureResult(r: CaptureResult, o: Pick<CaptureOptions, 'format' | 'summary'>): void {
  const out = o.format === 'table' ? process.stdout : process.stderr
  if (o.format === 'table' || o.summary) out.write(renderSummary(r.summary, { width: process.stdout.columns }))
  out.write(renderTotals(r.summary, r.counters, r))
  out.write(captureTotalsLine(r) + '\n')
  if (r.tlsCoverage !== undefined) out.write(coverageLine(r.tlsCoverage) + '\n')
  for (const w of r.warnings) log.warn(w)
}

export { splitList, stopOnSignals } from './args.js'
