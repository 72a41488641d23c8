// Live capture: one AF_PACKET socket per interface with the BPF socket filter attached and a
// PACKET_MMAP TPACKET_V3 receive ring read in place from JavaScript (packet(7), and
// Documentation/networking/packet_mmap.rst in the kernel tree).
//
// Setup order matters (each step's reason in openAfPacket):
//   socket(AF_PACKET, SOCK_RAW, protocol 0)    protocol 0: no packet is queued before bind
//   SO_ATTACH_BPF prog fd                       the filter is in place before any packet can arrive
//   PACKET_VERSION TPACKET_V3, PACKET_RX_RING   the ring replaces the socket receive queue
//   mmap the ring
//   bind(ETH_P_ALL, ifindex)                    packets start flowing, filtered, into the ring
//
// The ring is blockCount blocks of blockSize bytes. The kernel fills one block at a time with
// variable-length frames and hands it over (block_status = TP_STATUS_USER) when it is full or after
// frameTimeoutMs; next() walks the block's frames and gives the block back (TP_STATUS_KERNEL, an
// Atomics.store so the kernel sees every read done first) when the caller asks for the packet after
// its last one. A Packet's data is a view into the ring: valid until the next next() or close().
//
// Block (struct tpacket_block_desc + tpacket_hdr_v1, include/uapi/linux/if_packet.h):
//   0 version u32 | 4 offset_to_priv u32 | 8 block_status u32 | 12 num_pkts u32
//   16 offset_to_first_pkt u32 | 20 blk_len u32 | 24 seq_num u64 | 32 ts_first | 40 ts_last
// Frame (struct tpacket3_hdr), 16-byte aligned inside the block:
//   0 tp_next_offset u32 | 4 tp_sec u32 | 8 tp_nsec u32 | 12 tp_snaplen u32 | 16 tp_len u32
//   20 tp_status u32 | 24 tp_mac u16 | 26 tp_net u16 | 28 tp_rxhash u32 | 32 tp_vlan_tci u32
//   36 tp_vlan_tpid u16 | 38 tp_padding u16 ... packet bytes at frame + tp_mac
//
// Reading loop (what the capture command does; the hot path stays synchronous):
//
//   for (;;) {
//     let p; while ((p = src.next()) !== null) pipeline.packet(p)   // p valid until the next next()
//     if (stopping) break
//     await src.wait(100)
//   }
//
// Stopping without losing what the kernel already has: after the stop signal keep that loop going
// for frameTimeoutMs plus a little (the block being filled is handed over at most frameTimeoutMs
// after its first packet), then close().
//
// Waking: wait() parks in poll(2) on a libuv worker thread (koffi's async call), so neither the event
// loop blocks nor a core spins. Every source in the process shares one Poller: one poll() over all
// ring fds, so any number of interfaces holds one libuv threadpool thread (of UV_THREADPOOL_SIZE, 4
// by default), not one each. An eventfd in the poll set restarts it when the set changes.

import koffi from 'koffi'
import { CaptureError, UsageError } from '../errors.js'
import { BPF_ABI, COUNTER_FIELDS, filterObjectPath, type FilterCounters } from './bpf-abi.js'
import { Arphrd, findInterface, type NetInterface } from './interfaces.js'
import { check, errno, libbpf, libc, loadFilter, MAP_FAILED, type LoadedFilter } from './libbpf.js'
import { Errno, errnoName, syscallError } from './privileges.js'
import { LinkType, type CaptureStats, type Packet, type PacketSource } from './source.js'

// socket(2), packet(7), poll(2), mmap(2), eventfd(2) constants (Linux UAPI, same on every arch podtap runs on)
const AF_PACKET = 17
const SOCK_RAW = 3
const SOCK_NONBLOCK = 0x800
const SOCK_CLOEXEC = 0x80000
const SOL_SOCKET = 1
const SO_ERROR = 4
const SO_ATTACH_BPF = 50
const SOL_PACKET = 263
const PACKET_RX_RING = 5
const PACKET_STATISTICS = 6
const PACKET_VERSION = 10
const TPACKET_V3 = 2
const ETH_P_ALL = 0x0003
const PROT_READ = 0x1
const PROT_WRITE = 0x2
const MAP_SHARED = 0x01
const MAP_PRIVATE = 0x02
const MAP_FIXED = 0x10
const MAP_ANONYMOUS = 0x20
const POLLIN = 0x001
const POLLERR = 0x008
const POLLHUP = 0x010
const EFD_NONBLOCK = 0x800
const EFD_CLOEXEC = 0x80000

const TP_STATUS_KERNEL = 0
const TP_STATUS_USER = 0x1
const TP_STATUS_VLAN_VALID = 0x10
const TP_STATUS_VLAN_TPID_VALID = 0x40
/** TPACKET_ALIGN(sizeof(struct tpacket3_hdr)) + sizeof(struct sockaddr_ll): the frame header the
 *  kernel needs before the packet bytes; tp_frame_size must be at least this */
const TPACKET3_HDRLEN = 48 + 20
const PAGE_SIZE = 4096

/** what an anyInterface socket is bound to: ifindex 0, every interface; Ethernet frames (veths) */
const ANY_INTERFACE: NetInterface = {
  name: 'any', ifindex: 0, driver: '', isVeth: false, up: true, operState: 'up', arphrd: Arphrd.ETHER, linkType: LinkType.ETHERNET, iflink: 0,
}
/** the value of a map entry that means "keep" */
const ONE = Buffer.from([1])

export interface AfPacketOptions {
  /** interface name; or give ifindex, or anyInterface */
  iface?: string
  ifindex?: number
  /**
   * One socket bound to every interface, keeping only the packets of the interfaces given to
   * watch() (a BPF hash map the filter checks first): many interfaces (a node's pod veths) share one
   * ring, and adding or removing one is a map update. Each Packet carries the ifindex it came from.
   * Ethernet interfaces only (veths).
   */
  anyInterface?: boolean
  /** bytes kept per packet, from the link-layer header (the filter's return value). Default 262144
   *  (tcpdump's), so GSO/GRO super-packets on veths (up to 64 KiB) arrive whole. */
  snaplen?: number
  /** TCP port allow-list (source or destination port matches); absent or empty: every TCP segment */
  ports?: readonly number[]
  /** ring block size: a power of two, at least 4096. Default 1 MiB. A frame never spans blocks, so
   *  a packet longer than a block (minus its 48-byte header) is cut to fit. */
  blockSize?: number
  /** ring blocks. Default 16 (16 MiB with the default block size). */
  blockCount?: number
  /** a partly filled block is handed to user space after this long (tp_retire_blk_tov). Default 50:
   *  the capture-to-user latency at low rates, and the wakeups per second when idle-ish. */
  frameTimeoutMs?: number
  /** path of the compiled filter; default the committed bpf/socket_filter.bpf.o */
  objectPath?: string
}

export const AF_PACKET_DEFAULTS = {
  snaplen: 262_144,
  blockSize: 1 << 20,
  blockCount: 16,
  frameTimeoutMs: 50,
} as const

export interface AfPacketStats extends CaptureStats {
  /** packets the filter passed to the socket, as the kernel counts them (PACKET_STATISTICS
   *  tp_packets, which includes the drops) */
  kernelPackets: number
  /** times the ring was full and the kernel froze the queue (tp_freeze_q_cnt): drops follow */
  freezes: number
  /** packets whose VLAN tag the driver had moved out of the data and next() put back */
  vlanRestored: number
  /** ENETDOWN errors seen: the link went down (capture resumes when it is up again) */
  linkDown: number
}

export type EndReason = 'closed' | 'interface_gone'

// ---------------------------------------------------------------------------------------------------
// Poller: one poll(2) in flight for the whole process

interface Waiter {
  fd: number
  deadline: number
  resolve: (revents: number) => void
}

class Poller {
  private waiters: Waiter[] = []
  private running = false
  private inFlight = new Set<number>()
  private inFlightDeadline = 0
  private wakeFd = -1
  private kicked = false
  private readonly one = Buffer.from([1, 0, 0, 0, 0, 0, 0, 0]) // eventfd counter increment, u64 host order
  private readonly drain = Buffer.alloc(8)
  /** poll() calls made, for tests and the benchmark */
  polls = 0

  /** Resolves with the fd's revents (0 on timeout or cancel) within timeoutMs. */
  wait(fd: number, timeoutMs: number): Promise<number> {
    return new Promise((resolve) => {
      const deadline = performance.now() + Math.max(0, timeoutMs)
      this.waiters.push({ fd, deadline, resolve })
      if (!this.running) this.start()
      else if (!this.inFlight.has(fd) || deadline < this.inFlightDeadline) this.kick()
    })
  }

  /** Resolves every wait on fd with 0 and takes fd out of the poll set (before the fd is closed). */
  cancel(fd: number): void {
    const keep: Waiter[] = []
    for (const w of this.waiters) {
      if (w.fd === fd) w.resolve(0)
      else keep.push(w)
    }
    this.waiters = keep
    if (this.running && this.inFlight.has(fd)) this.kick()
  }

  private kick(): void {
    if (this.kicked || this.wakeFd < 0) return
    this.kicked = true
    libc().write(this.wakeFd, this.one, 8)
  }

  private start(): void {
    if (this.waiters.length === 0) return
    const c = libc()
    if (this.wakeFd < 0) this.wakeFd = check(c.eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC), 'eventfd')
    const fds = [...new Set(this.waiters.map((w) => w.fd))]
    // struct pollfd { int fd; short events; short revents; }: 8 bytes; slot 0 is the eventfd
    const buf = Buffer.alloc(8 * (fds.length + 1))
    buf.writeInt32LE(this.wakeFd, 0)
    buf.writeInt16LE(POLLIN, 4)
    fds.forEach((fd, i) => {
      buf.writeInt32LE(fd, 8 * (i + 1))
      buf.writeInt16LE(POLLIN, 8 * (i + 1) + 4) // POLLERR/POLLHUP are always reported
    })
    let deadline = Infinity
    for (const w of this.waiters) deadline = Math.min(deadline, w.deadline)
    const timeoutMs = Math.max(0, Math.ceil(deadline - performance.now()))
    this.running = true
    this.inFlight = new Set(fds)
    this.inFlightDeadline = deadline
    this.polls++
    c.poll.async(buf, fds.length + 1, Math.min(timeoutMs, 0x7fffffff), (err, res) => this.done(buf, fds, err, res))
  }

  private done(buf: Buffer, fds: number[], err: unknown, res: number): void {
    this.running = false
    this.inFlight = new Set()
    if (this.kicked || (buf.readInt16LE(6) & POLLIN) !== 0) {
      libc().read(this.wakeFd, this.drain, 8) // EAGAIN when the kick came after poll returned: fine
      this.kicked = false
    }
    const revents = new Map<number, number>()
    if (err == null && res > 0) fds.forEach((fd, i) => revents.set(fd, buf.readInt16LE(8 * (i + 1) + 6)))
    const now = performance.now()
    const keep: Waiter[] = []
    for (const w of this.waiters) {
      const r = revents.get(w.fd) ?? 0
      if (r !== 0 || now >= w.deadline) w.resolve(r)
      else keep.push(w)
    }
    this.waiters = keep
    if (keep.length === 0) return
    if (err != null || res < 0) {
      // EINTR, ENOMEM: try again shortly rather than spin
      setTimeout(() => {
        if (!this.running) this.start()
      }, 5)
      return
    }
    this.start()
  }
}

const poller = new Poller()

/** How many poll(2) calls the shared poller has made (tests, benchmarks). */
export function pollCount(): number {
  return poller.polls
}

// ---------------------------------------------------------------------------------------------------
// The source

// placeholder mappings left where rings were, unmapped once no view of them is reachable
const placeholders = new FinalizationRegistry<{ ptr: bigint; size: number }>((m) => {
  libc().munmap(m.ptr, m.size)
})

export class AfPacketSource implements PacketSource {
  readonly name: string
  readonly ifindex: number
  readonly linkType: number
  /** ARPHRD_ type of the interface */
  readonly arphrd: number
  readonly snaplen: number
  readonly blockSize: number
  readonly blockCount: number
  readonly frameTimeoutMs: number
  /** why the source ended: null while open */
  endReason: EndReason | null = null
  /** set when the source ended on its own (interface gone) */
  error: CaptureError | null = null

  private fd: number
  private filter: LoadedFilter
  private ringPtr: bigint
  private readonly ringSize: number
  private ab: ArrayBuffer
  private u32: Uint32Array
  private u16: Uint16Array

  private block = 0
  private held = false
  private pktLeft = 0
  private pktOff = 0
  private readonly pkt: Packet
  private scratch: Buffer | null = null

  private readonly acc = { packets: 0, bytes: 0, truncated: 0, vlanRestored: 0, kernelPackets: 0, drops: 0, freezes: 0, linkDown: 0 }
  private readonly statsBuf = Buffer.alloc(12)
  private readonly lenBuf = new Uint32Array(1)
  private goneDeadline = 0
  private portsInMap = new Set<number>()
  /** bound to every interface (anyInterface): packets carry their own ifindex */
  readonly anyInterface: boolean
  private readonly watched = new Set<number>()

  /** @internal use openAfPacket() */
  constructor(args: {
    iface: NetInterface
    fd: number
    filter: LoadedFilter
    ringPtr: bigint
    ringSize: number
    snaplen: number
    blockSize: number
    blockCount: number
    frameTimeoutMs: number
    ports: Set<number>
  }) {
    this.name = args.iface.name
    this.ifindex = args.iface.ifindex
    this.linkType = args.iface.linkType ?? LinkType.ETHERNET
    this.arphrd = args.iface.arphrd
    this.fd = args.fd
    this.filter = args.filter
    this.ringPtr = args.ringPtr
    this.ringSize = args.ringSize
    this.snaplen = args.snaplen
    this.blockSize = args.blockSize
    this.blockCount = args.blockCount
    this.frameTimeoutMs = args.frameTimeoutMs
    this.portsInMap = args.ports
    this.ab = koffi.view(args.ringPtr, args.ringSize)
    this.u32 = new Uint32Array(this.ab)
    this.u16 = new Uint16Array(this.ab)
    this.pkt = { tsUs: 0, ifindex: this.ifindex, linkType: this.linkType, data: Buffer.alloc(0), origLen: 0 }
    this.anyInterface = args.iface.ifindex === 0
  }

  /** interfaces watched now (anyInterface) */
  get watching(): ReadonlySet<number> {
    return this.watched
  }

  /**
   * anyInterface: keep the packets of `ifindex` from now on (an Ethernet interface). One map update,
   * a few microseconds: no ring, socket or program is made.
   */
  watch(ifindex: number): void {
    if (!this.anyInterface || this.fd < 0 || this.watched.has(ifindex)) return
    const key = Buffer.alloc(4)
    key.writeUInt32LE(ifindex, 0)
    const rc = libbpf().bpf_map_update_elem(this.filter.ifindexesFd, key, ONE, 0)
    if (rc < 0) throw new CaptureError('PODTAP_BPF_MAP', `cannot watch ifindex ${ifindex}: ${errnoName(-rc)}` + (-rc === Errno.E2BIG ? ` (at most ${BPF_ABI.IFINDEXES_MAX} interfaces)` : ''))
    this.watched.add(ifindex)
  }

  /** anyInterface: no more packets of `ifindex` (those already in the ring are still delivered) */
  unwatch(ifindex: number): void {
    if (!this.anyInterface || this.fd < 0 || !this.watched.delete(ifindex)) return
    const key = Buffer.alloc(4)
    key.writeUInt32LE(ifindex, 0)
    libbpf().bpf_map_delete_elem(this.filter.ifindexesFd, key)
  }

  get ended(): boolean {
    return this.endReason !== null
  }

  /** The ring socket's fd (for tests); -1 once closed. */
  get socketFd(): number {
    return this.fd
  }

  next(): Packet | null {
    if (this.fd < 0) return null
    const u32 = this.u32
    for (;;) {
      if (this.pktLeft > 0) {
        const off = this.pktOff
        const w = off >>> 2
        const nextOff = u32[w]!
        const sec = u32[w + 1]!
        const nsec = u32[w + 2]!
        const caplen = u32[w + 3]!
        const len = u32[w + 4]!
        const status = u32[w + 5]!
        const mac = this.u16[(off + 24) >>> 1]!
        this.pktLeft--
        this.pktOff = off + nextOff
        const p = this.pkt
        // bound to every interface: sockaddr_ll.sll_ifindex, after the 48-byte tpacket3_hdr
        if (this.anyInterface) p.ifindex = u32[w + 13]!
        p.tsUs = sec * 1_000_000 + Math.floor(nsec / 1000)
        p.origLen = len
        if ((status & TP_STATUS_VLAN_VALID) !== 0 && caplen >= 12 && this.linkType === LinkType.ETHERNET) {
          const tpid = (status & TP_STATUS_VLAN_TPID_VALID) !== 0 ? this.u16[(off + 36) >>> 1]! : 0x8100
          p.data = this.withVlan(off + mac, caplen, tpid, u32[w + 8]! & 0xffff)
          p.origLen = len + 4
          this.acc.vlanRestored++
        } else {
          p.data = Buffer.from(this.ab, off + mac, caplen)
        }
        this.acc.packets++
        this.acc.bytes += p.data.length
        if (p.data.length < p.origLen) this.acc.truncated++
        return p
      }
      const statusIdx = (this.block * this.blockSize + 8) >>> 2
      if (this.held) {
        // the caller is done with the previous block's last packet: hand the block back
        Atomics.store(u32, statusIdx, TP_STATUS_KERNEL)
        this.held = false
        this.block = this.block + 1 === this.blockCount ? 0 : this.block + 1
        continue
      }
      if ((Atomics.load(u32, statusIdx) & TP_STATUS_USER) === 0) {
        if (this.goneDeadline > 0 && performance.now() >= this.goneDeadline) this.finish('interface_gone')
        return null
      }
      const base = this.block * this.blockSize
      this.pktLeft = u32[(base + 12) >>> 2]!
      this.pktOff = base + u32[(base + 16) >>> 2]!
      this.held = true
    }
  }

  /** The driver moved the VLAN tag out of the data (offload, veth included): put it back after the MACs. */
  private withVlan(start: number, caplen: number, tpid: number, tci: number): Buffer {
    if (this.scratch === null) this.scratch = Buffer.alloc(this.blockSize + 4)
    const s = this.scratch
    const src = new Uint8Array(this.ab, start, caplen)
    s.set(src.subarray(0, 12), 0)
    s.writeUInt16BE(tpid, 12)
    s.writeUInt16BE(tci, 14)
    s.set(src.subarray(12), 16)
    return s.subarray(0, caplen + 4)
  }

  /** True when next() would return a packet without waiting. */
  private ready(): boolean {
    if (this.pktLeft > 0) return true
    const b = this.held ? (this.block + 1) % this.blockCount : this.block
    return (Atomics.load(this.u32, (b * this.blockSize + 8) >>> 2) & TP_STATUS_USER) !== 0
  }

  /**
   * Resolves when next() may return packets again, or after timeoutMs. Also where an interface
   * that went away is noticed (poll reports POLLERR, SO_ERROR says ENETDOWN and the ifindex is no
   * longer there): the packets already in the ring are still delivered, then the source ends with
   * endReason 'interface_gone' and `error` set. Never rejects.
   */
  async wait(timeoutMs: number): Promise<void> {
    if (this.fd < 0 || this.ready()) return
    if (this.goneDeadline > 0) {
      const left = this.goneDeadline - performance.now()
      if (left <= 0) return
      timeoutMs = Math.min(timeoutMs, left)
    }
    const revents = await poller.wait(this.fd, timeoutMs)
    if (this.fd >= 0 && (revents & (POLLERR | POLLHUP)) !== 0) this.onSocketError()
  }

  private onSocketError(): void {
    const c = libc()
    const val = Buffer.alloc(4)
    this.lenBuf[0] = 4
    if (c.getsockopt(this.fd, SOL_SOCKET, SO_ERROR, val, this.lenBuf) < 0) return
    const err = val.readInt32LE(0)
    if (err === 0) return
    if (this.anyInterface || c.if_nametoindex(this.name) === this.ifindex) {
      // still there, only down (or another error): the kernel re-registers the socket when it is up
      if (err === Errno.ENETDOWN) this.acc.linkDown++
      return
    }
    // the device is gone: give the kernel one block timeout to retire the block it was filling,
    // deliver what is in the ring, then end
    this.error = new CaptureError(
      'PODTAP_IFACE_GONE',
      `interface ${this.name} (ifindex ${this.ifindex}) disappeared (${errnoName(err)}); capture on it stopped`,
    )
    this.goneDeadline = performance.now() + 2 * this.frameTimeoutMs + 20
  }

  stats(): AfPacketStats {
    this.readKernelStats()
    const a = this.acc
    return {
      packets: a.packets,
      bytes: a.bytes,
      dropped: a.drops,
      truncated: a.truncated,
      kernelPackets: a.kernelPackets,
      freezes: a.freezes,
      vlanRestored: a.vlanRestored,
      linkDown: a.linkDown,
    }
  }

  /** PACKET_STATISTICS resets the kernel's counters on every read, so they are summed here. */
  private readKernelStats(): void {
    if (this.fd < 0) return
    // struct tpacket_stats_v3 { tp_packets, tp_drops, tp_freeze_q_cnt }: u32 each
    this.lenBuf[0] = 12
    if (libc().getsockopt(this.fd, SOL_PACKET, PACKET_STATISTICS, this.statsBuf, this.lenBuf) < 0) return
    this.acc.kernelPackets += this.statsBuf.readUInt32LE(0)
    this.acc.drops += this.statsBuf.readUInt32LE(4)
    this.acc.freezes += this.statsBuf.readUInt32LE(8)
  }

  /** The filter's per-CPU counters summed (what it saw, kept, and dropped why). */
  filterCounters(): FilterCounters {
    const out = Object.fromEntries(COUNTER_FIELDS.map((f) => [f, 0])) as unknown as FilterCounters
    if (this.fd < 0) return out
    const b = libbpf()
    const key = Buffer.alloc(4)
    const val = Buffer.alloc(8 * this.filter.possibleCpus)
    for (let i = 0; i < BPF_ABI.CNT_MAX; i++) {
      key.writeUInt32LE(i, 0)
      if (b.bpf_map_lookup_elem(this.filter.countersFd, key, val) < 0) continue
      let sum = 0
      for (let c = 0; c < this.filter.possibleCpus; c++) sum += Number(val.readBigUInt64LE(8 * c))
      out[COUNTER_FIELDS[i]!] = sum
    }
    return out
  }

  /**
   * Replaces the port allow-list while capturing (null or empty: every TCP port). New ports are
   * added before old ones are removed, so a port in both lists never loses a packet.
   */
  setPorts(ports: readonly number[] | null): void {
    if (this.fd < 0) return
    const want = validatePorts(ports ?? [])
    writePorts(this.filter, this.portsInMap, want)
    this.portsInMap = want
    writeConfig(this.filter, this.snaplen, configFlags(this.arphrd, want.size > 0, this.anyInterface))
  }

  /** Idempotent. Releases the ring, the socket and the filter, also while a wait() is pending (it resolves). */
  close(): void {
    this.finish('closed')
  }

  private finish(reason: EndReason): void {
    if (this.fd < 0) return
    const c = libc()
    poller.cancel(this.fd)
    this.readKernelStats()
    // Views of the ring (the last Packet's data, this.u32) may outlive close(). Instead of munmap,
    // map anonymous read-only zero pages over the ring (MAP_FIXED replaces it, which releases the
    // ring pages): a stale view reads zeros instead of faulting. The placeholder is unmapped once
    // the ArrayBuffer behind every view has been collected.
    const ph = c.mmap(this.ringPtr, this.ringSize, PROT_READ, MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
    if (ph === this.ringPtr) placeholders.register(this.ab, { ptr: this.ringPtr, size: this.ringSize })
    else c.munmap(this.ringPtr, this.ringSize) // cannot happen with MAP_FIXED; never leave the ring mapped
    c.close(this.fd)
    this.fd = -1
    this.filter.close()
    this.pktLeft = 0
    this.held = false
    this.endReason = reason
  }
}

function validatePorts(ports: readonly number[]): Set<number> {
  const set = new Set<number>()
  for (const p of ports) {
    if (!Number.isInteger(p) || p < 1 || p > 65535) throw new UsageError(`port ${p} is not 1..65535`)
    set.add(p)
  }
  if (set.size > BPF_ABI.PORTS_MAX) throw new UsageError(`at most ${BPF_ABI.PORTS_MAX} ports in the allow-list, got ${set.size}`)
  return set
}

function configFlags(arphrd: number, ports: boolean, ifindexes = false): number {
  let flags = ifindexes ? BPF_ABI.CFG_IFINDEXES : 0
  if (ports) flags |= BPF_ABI.CFG_PORTS
  if (arphrd === Arphrd.LOOPBACK) flags |= BPF_ABI.CFG_SKIP_OUTGOING
  if (arphrd === Arphrd.NONE) flags |= BPF_ABI.CFG_RAW_IP
  return flags
}

function writeConfig(f: LoadedFilter, snaplen: number, flags: number): void {
  const key = Buffer.alloc(4)
  const val = Buffer.alloc(BPF_ABI.CONFIG_SIZE)
  val.writeUInt32LE(snaplen, BPF_ABI.CONFIG_OFF_SNAPLEN)
  val.writeUInt32LE(flags, BPF_ABI.CONFIG_OFF_FLAGS)
  const rc = libbpf().bpf_map_update_elem(f.configFd, key, val, 0)
  if (rc < 0) throw syscallError('writing the filter config map', -rc)
}

function writePorts(f: LoadedFilter, have: Set<number>, want: Set<number>): void {
  const b = libbpf()
  const key = Buffer.alloc(2)
  const one = Buffer.from([1])
  for (const p of want) {
    if (have.has(p)) continue
    key.writeUInt16LE(p, 0) // host byte order, as the filter converts with bpf_ntohs
    const rc = b.bpf_map_update_elem(f.portsFd, key, one, 0)
    if (rc < 0) throw syscallError('writing the port allow-list map', -rc)
  }
  for (const p of have) {
    if (want.has(p)) continue
    key.writeUInt16LE(p, 0)
    b.bpf_map_delete_elem(f.portsFd, key)
  }
}

function isPowerOfTwo(n: number): boolean {
  return Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0
}

/**
 * Opens live capture on one interface. Throws CaptureError: PODTAP_IFACE_NOT_FOUND (exit 2),
 * PODTAP_IFACE_UNSUPPORTED (exit 2, a link type podtap cannot decode), PODTAP_PERMISSION,
 * PODTAP_LIBBPF_MISSING, PODTAP_BPF_OBJECT, PODTAP_BPF_LOAD, PODTAP_RING (ring setup, e.g. ENOMEM
 * for a ring too large); UsageError for bad options. Nothing stays open when it throws.
 */
export function openAfPacket(opts: AfPacketOptions): AfPacketSource {
  const snaplen = opts.snaplen ?? AF_PACKET_DEFAULTS.snaplen
  const blockSize = opts.blockSize ?? AF_PACKET_DEFAULTS.blockSize
  const blockCount = opts.blockCount ?? AF_PACKET_DEFAULTS.blockCount
  const frameTimeoutMs = opts.frameTimeoutMs ?? AF_PACKET_DEFAULTS.frameTimeoutMs
  if (!Number.isInteger(snaplen) || snaplen < 64 || snaplen > 262_144) throw new UsageError(`snaplen ${snaplen} is not 64..262144`)
  if (!isPowerOfTwo(blockSize) || blockSize < PAGE_SIZE) throw new UsageError(`block size ${blockSize} is not a power of two >= ${PAGE_SIZE}`)
  if (!Number.isInteger(blockCount) || blockCount < 2 || blockCount > 4096) throw new UsageError(`block count ${blockCount} is not 2..4096`)
  if (!Number.isInteger(frameTimeoutMs) || frameTimeoutMs < 1 || frameTimeoutMs > 60_000) {
    throw new UsageError(`frame timeout ${frameTimeoutMs} ms is not 1..60000`)
  }
  const ports = validatePorts(opts.ports ?? [])

  const wanted = opts.iface ?? opts.ifindex
  if (wanted === undefined && opts.anyInterface !== true) throw new UsageError('openAfPacket: give iface or ifindex (or anyInterface)')
  if (wanted !== undefined && opts.anyInterface === true) throw new UsageError('openAfPacket: anyInterface takes no iface or ifindex')
  const iface = wanted === undefined ? ANY_INTERFACE : findInterface(wanted)
  if (iface === undefined) {
    throw new CaptureError('PODTAP_IFACE_NOT_FOUND', `interface ${wanted} not found: see \`ip link\``, 2)
  }
  if (iface.linkType === null) {
    throw new CaptureError(
      'PODTAP_IFACE_UNSUPPORTED',
      `interface ${iface.name} has link type ARPHRD ${iface.arphrd}, which podtap cannot decode (Ethernet, loopback and raw-IP devices are supported)`,
      2,
    )
  }

  const c = libc()
  const filter = loadFilter(opts.objectPath ?? filterObjectPath(), {
    prog: BPF_ABI.PROG_FILTER,
    config: BPF_ABI.MAP_CONFIG,
    ports: BPF_ABI.MAP_PORTS,
    counters: BPF_ABI.MAP_COUNTERS,
    ifindexes: BPF_ABI.MAP_IFINDEXES,
  })
  let fd = -1
  let ringPtr: bigint | null = null
  const ringSize = blockSize * blockCount
  try {
    writePorts(filter, new Set(), ports)
    writeConfig(filter, snaplen, configFlags(iface.arphrd, ports.size > 0, iface.ifindex === 0))

    // protocol 0: the socket receives nothing until bind() names ETH_P_ALL, so no unfiltered packet
    // can be queued between socket() and SO_ATTACH_BPF
    fd = c.socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)
    if (fd < 0) throw syscallError('socket(AF_PACKET)', errno())

    const i32 = Buffer.alloc(4)
    i32.writeInt32LE(filter.progFd, 0)
    check(c.setsockopt(fd, SOL_SOCKET, SO_ATTACH_BPF, i32, 4), 'attaching the BPF filter (SO_ATTACH_BPF)', 'PODTAP_BPF_ATTACH')

    i32.writeInt32LE(TPACKET_V3, 0)
    check(c.setsockopt(fd, SOL_PACKET, PACKET_VERSION, i32, 4), 'PACKET_VERSION TPACKET_V3', 'PODTAP_RING')

    // struct tpacket_req3: block_size, block_nr, frame_size, frame_nr, retire_blk_tov (ms),
    // sizeof_priv, feature_req_word; u32 each. With V3 frames are variable-length: frame_size only
    // has to hold the frame header (TPACKET3_HDRLEN) and divide the block (packet_set_ring checks
    // frames_per_block * block_nr == frame_nr); 2048 divides every allowed block size.
    const frameSize = 2048
    const req = Buffer.alloc(28)
    req.writeUInt32LE(blockSize, 0)
    req.writeUInt32LE(blockCount, 4)
    req.writeUInt32LE(frameSize, 8)
    req.writeUInt32LE((blockSize / frameSize) * blockCount, 12)
    req.writeUInt32LE(frameTimeoutMs, 16)
    req.writeUInt32LE(0, 20)
    req.writeUInt32LE(0, 24)
    if (c.setsockopt(fd, SOL_PACKET, PACKET_RX_RING, req, 28) < 0) {
      const e = errno()
      throw new CaptureError(
        'PODTAP_RING',
        `PACKET_RX_RING of ${blockCount} x ${blockSize} bytes failed: ${errnoName(e)}` +
          (e === Errno.ENOMEM ? ' (not enough memory: use fewer or smaller blocks)' : ''),
      )
    }

    const p = c.mmap(null, ringSize, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
    if (p === null || p === MAP_FAILED) throw syscallError(`mmap of the ${ringSize}-byte ring`, errno(), 'PODTAP_RING_MMAP')
    ringPtr = p

    // sockaddr_ll: family u16, protocol be16, ifindex i32, hatype u16, pkttype u8, halen u8, addr[8]
    const sll = Buffer.alloc(20)
    sll.writeUInt16LE(AF_PACKET, 0)
    sll.writeUInt16BE(ETH_P_ALL, 2)
    sll.writeInt32LE(iface.ifindex, 4)
    if (c.bind(fd, sll, 20) < 0) {
      const e = errno()
      if (e === Errno.ENODEV || e === Errno.ENXIO) {
        throw new CaptureError('PODTAP_IFACE_NOT_FOUND', `interface ${iface.name} not found: see \`ip link\``, 2)
      }
      throw syscallError(`bind to ${iface.name}`, e)
    }
    return new AfPacketSource({ iface, fd, filter, ringPtr: p, ringSize, snaplen, blockSize, blockCount, frameTimeoutMs, ports })
  } catch (e) {
    if (ringPtr !== null) c.munmap(ringPtr, ringSize)
    if (fd >= 0) c.close(fd)
    filter.close()
    throw e
  }
}

// ---------------------------------------------------------------------------------------------------
// Several interfaces as one source

export interface MultiSourceOptions {
  /** a member ended on its own (interface gone) or failed; it has been removed already */
  onSourceEnd?: (source: PacketSource, error: Error | null) => void
  /** packets taken from one member before moving to the next, so a busy interface cannot starve a quiet one */
  burst?: number
}

/**
 * Merges live sources (one per interface) into one PacketSource. Members can be added and removed
 * while capturing (`--all-veth`). Packets come member by member in bursts, not in timestamp order
 * across interfaces: flows are per interface, so nothing downstream needs a global order. Its
 * wait() is one poll over every member (they share the Poller), and also returns when a member is
 * added. ended stays false until close().
 */
export class MultiSource implements PacketSource {
  private members: PacketSource[] = []
  private cur = 0
  private taken = 0
  private readonly burst: number
  private closed = false
  private readonly final: CaptureStats = { packets: 0, bytes: 0, dropped: 0, truncated: 0 }
  private wake: (() => void) | null = null

  constructor(private readonly opts: MultiSourceOptions = {}) {
    this.burst = opts.burst ?? 256
  }

  /** the members' names, comma-separated ('' with none) */
  get name(): string {
    return this.members.map((m) => m.name).join(',')
  }

  get ended(): boolean {
    return this.closed
  }

  get sources(): readonly PacketSource[] {
    return this.members
  }

  add(s: PacketSource): void {
    if (this.closed) {
      s.close()
      return
    }
    this.members.push(s)
    this.wake?.()
  }

  /** Closes and removes the member with this name or identity; its counts stay in stats(). */
  remove(which: string | PacketSource): void {
    const i = this.members.findIndex((m) => m === which || m.name === which)
    if (i < 0) return
    const [m] = this.members.splice(i, 1)
    this.retire(m!)
    if (this.cur >= this.members.length) this.cur = 0
  }

  private retire(m: PacketSource): void {
    const st = m.stats()
    m.close()
    this.final.packets += st.packets
    this.final.bytes += st.bytes
    this.final.dropped += st.dropped
    this.final.truncated += st.truncated
  }

  next(): Packet | null {
    const n = this.members.length
    for (let tries = 0; tries <= n && this.members.length > 0; tries++) {
      if (this.cur >= this.members.length) this.cur = 0
      const m = this.members[this.cur]!
      if (this.taken < this.burst) {
        const p = m.next()
        if (p !== null) {
          this.taken++
          return p
        }
        if (m.ended) {
          this.members.splice(this.cur, 1)
          const err = (m as { error?: Error | null }).error ?? null
          this.retire(m)
          this.taken = 0
          this.opts.onSourceEnd?.(m, err)
          continue
        }
      }
      this.cur++
      this.taken = 0
    }
    return null
  }

  async wait(timeoutMs: number): Promise<void> {
    if (this.closed) return
    const added = new Promise<void>((resolve) => (this.wake = resolve))
    const waits: Promise<void>[] = [added]
    for (const m of this.members) {
      if (m.wait !== undefined) waits.push(m.wait(timeoutMs))
    }
    let timer: NodeJS.Timeout | undefined
    if (waits.length === 1) waits.push(new Promise((r) => (timer = setTimeout(r, timeoutMs))))
    await Promise.race(waits)
    if (timer !== undefined) clearTimeout(timer)
    this.wake = null
  }

  stats(): CaptureStats {
    const s = { ...this.final }
    for (const m of this.members) {
      const st = m.stats()
      s.packets += st.packets
      s.bytes += st.bytes
      s.dropped += st.dropped
      s.truncated += st.truncated
    }
    return s
  }

  close(): void {
    if (this.closed) return
    for (const m of this.members) this.retire(m)
    this.members = []
    this.closed = true
    this.wake?.()
  }
}
