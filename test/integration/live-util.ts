// Shared by the live-*.test.ts and *-replay.test.ts files: drain a live source, a minimal TCP header
// reader (so these tests do not depend on src/capture/decode.ts), crafted frames, a raw sender for
// them, and the capture plumbing of the end-to-end tests (tcpdump as the reference capture, podtap's
// own ring feeding a pipeline, the check for the server and client programs they need).

import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { openAfPacket } from '../../src/capture/af-packet.js'
import { libc } from '../../src/capture/libbpf.js'
import type { Packet, PacketSource } from '../../src/capture/source.js'
import type { Counters } from '../../src/counters.js'
import { Pipeline } from '../../src/pipeline/pipeline.js'
import type { Exchange } from '../../src/records.js'
import { runHost } from '../helpers/netns.js'

export interface Seen {
  ifindex: number
  tsUs: number
  origLen: number
  data: Buffer // a copy
}

/**
 * Reads `src` until `until()` is true or nothing arrived for quietMs (after at least one wait),
 * copying every packet. Stops at timeoutMs whatever happens.
 */
export async function collect(
  src: PacketSource,
  opts: { quietMs?: number; timeoutMs?: number; until?: (seen: Seen[]) => boolean; onPacket?: (p: Packet) => void } = {},
): Promise<Seen[]> {
  const seen: Seen[] = []
  const quietMs = opts.quietMs ?? 300
  const deadline = Date.now() + (opts.timeoutMs ?? 10_000)
  let last = Date.now()
  for (;;) {
    let p: Packet | null
    while ((p = src.next()) !== null) {
      opts.onPacket?.(p)
      seen.push({ ifindex: p.ifindex, tsUs: p.tsUs, origLen: p.origLen, data: Buffer.from(p.data) })
      last = Date.now()
    }
    if (opts.until?.(seen) === true) return seen
    if (Date.now() - last >= quietMs || Date.now() >= deadline || src.ended) return seen
    await src.wait!(50)
  }
}

/** Keeps reading `src` in the background, counting packets, until stop() resolves with the totals. */
export function drainInBackground(src: PacketSource, onPacket?: (p: Packet) => void): { stop(): Promise<{ packets: number; bytes: number }> } {
  let stopping = false
  let packets = 0
  let bytes = 0
  const loop = (async () => {
    for (;;) {
      let p: Packet | null
      while ((p = src.next()) !== null) {
        packets++
        bytes += p.data.length
        onPacket?.(p)
      }
      if (stopping || src.ended) return
      await src.wait!(100)
    }
  })()
  return {
    stop: async () => {
      stopping = true
      await loop
      // whatever arrived between the last wait and stop
      let p: Packet | null
      while ((p = src.next()) !== null) {
        packets++
        bytes += p.data.length
        onPacket?.(p)
      }
      return { packets, bytes }
    },
  }
}

export interface TcpInfo {
  vlans: number[]
  ipVersion: 4 | 6
  src: string
  dst: string
  sport: number
  dport: number
  flags: number
  /** payload bytes on the wire, from the IP header */
  payloadLen: number
}

/** Ethernet (+VLANs) + IPv4/IPv6 (no extension headers) + TCP, or null. Enough for these tests. */
export function parseTcp(d: Buffer): TcpInfo | null {
  if (d.length < 14) return null
  let type = d.readUInt16BE(12)
  let off = 14
  const vlans: number[] = []
  while ((type === 0x8100 || type === 0x88a8) && d.length >= off + 4) {
    vlans.push(d.readUInt16BE(off) & 0x0fff)
    type = d.readUInt16BE(off + 2)
    off += 4
  }
  if (type === 0x0800 && d.length >= off + 20) {
    const ihl = (d[off]! & 0x0f) * 4
    if (d[off + 9] !== 6 || d.length < off + ihl + 20) return null
    const total = d.readUInt16BE(off + 2)
    const t = off + ihl
    const thl = (d[t + 12]! >> 4) * 4
    return {
      vlans, ipVersion: 4,
      src: [...d.subarray(off + 12, off + 16)].join('.'),
      dst: [...d.subarray(off + 16, off + 20)].join('.'),
      sport: d.readUInt16BE(t), dport: d.readUInt16BE(t + 2), flags: d[t + 13]!,
      payloadLen: total - ihl - thl,
    }
  }
  if (type === 0x86dd && d.length >= off + 60) {
    if (d[off + 6] !== 6) return null
    const t = off + 40
    const thl = (d[t + 12]! >> 4) * 4
    const hex = (a: Buffer): string => [...Array(8).keys()].map((i) => a.readUInt16BE(2 * i).toString(16)).join(':')
    return {
      vlans, ipVersion: 6,
      src: hex(d.subarray(off + 8, off + 24)), dst: hex(d.subarray(off + 24, off + 40)),
      sport: d.readUInt16BE(t), dport: d.readUInt16BE(t + 2), flags: d[t + 13]!,
      payloadLen: d.readUInt16BE(off + 4) - thl,
    }
  }
  return null
}

// ---------------------------------------------------------------------------------------------------
// Crafted frames

const DST_MAC = Buffer.from('020000000002', 'hex') // locally administered, matches no interface
const SRC_MAC = Buffer.from('020000000001', 'hex')

export function eth(type: number, payload: Buffer, tags: { tpid: number; vid: number }[] = []): Buffer {
  const parts: Buffer[] = [DST_MAC, SRC_MAC]
  for (const t of tags) {
    const b = Buffer.alloc(4)
    b.writeUInt16BE(t.tpid, 0)
    b.writeUInt16BE(t.vid, 2)
    parts.push(b)
  }
  const tb = Buffer.alloc(2)
  tb.writeUInt16BE(type, 0)
  return Buffer.concat([...parts, tb, payload])
}

export function tcp(sport: number, dport: number, payload = Buffer.alloc(0)): Buffer {
  const h = Buffer.alloc(20)
  h.writeUInt16BE(sport, 0)
  h.writeUInt16BE(dport, 2)
  h.writeUInt32BE(1000, 4)
  h[12] = 5 << 4
  h[13] = 0x18 // PSH|ACK
  h.writeUInt16BE(65535, 14)
  return Buffer.concat([h, payload])
}

export function udp(sport: number, dport: number): Buffer {
  const h = Buffer.alloc(8)
  h.writeUInt16BE(sport, 0)
  h.writeUInt16BE(dport, 2)
  h.writeUInt16BE(8, 4)
  return h
}

/** IPv4 header (+options of optionWords 4-byte words) around l4; fragOffset in 8-byte units. */
export function ipv4(proto: number, l4: Buffer, opts: { fragOffset?: number; more?: boolean; optionWords?: number } = {}): Buffer {
  const ihl = 5 + (opts.optionWords ?? 0)
  const h = Buffer.alloc(ihl * 4)
  h[0] = 0x40 | ihl
  h.writeUInt16BE(h.length + l4.length, 2)
  h.writeUInt16BE(((opts.more ? 1 : 0) << 13) | (opts.fragOffset ?? 0), 6)
  h[8] = 64
  h[9] = proto
  Buffer.from([10, 99, 0, 1]).copy(h, 12)
  Buffer.from([10, 99, 0, 2]).copy(h, 16)
  for (let i = 20; i < h.length; i++) h[i] = 1 // NOP options
  return Buffer.concat([h, l4])
}

/** IPv6 header with next header nh around rest (extension headers + l4, already chained). */
export function ipv6(nh: number, rest: Buffer): Buffer {
  const h = Buffer.alloc(40)
  h[0] = 0x60
  h.writeUInt16BE(rest.length, 4)
  h[6] = nh
  h[7] = 64
  Buffer.from('fd00009900000000000000000000000' + '1', 'hex').copy(h, 8)
  Buffer.from('fd00009900000000000000000000000' + '2', 'hex').copy(h, 24)
  return Buffer.concat([h, rest])
}

/** An IPv6 options-style extension header (hop-by-hop 0, routing 43, destination 60): 8 bytes. */
export function ext8(next: number, type: 'opts' | 'routing' = 'opts'): Buffer {
  const b = Buffer.alloc(8)
  b[0] = next
  b[1] = 0 // (0 + 1) * 8 bytes
  if (type === 'opts') {
    b[2] = 1 // PadN
    b[3] = 4
  } else {
    b[2] = 4 // routing type (segment routing header shape is not checked by the filter)
  }
  return b
}

export function fragExt(next: number, offset8: number, more: boolean): Buffer {
  const b = Buffer.alloc(8)
  b[0] = next
  b.writeUInt16BE((offset8 << 3) | (more ? 1 : 0), 2)
  b.writeUInt32BE(0x1234, 4)
  return b
}

/** Authentication header (RFC 4302) with 4 bytes of ICV: 16 bytes, len field 2. */
export function ahExt(next: number): Buffer {
  const b = Buffer.alloc(16)
  b[0] = next
  b[1] = 2 // (2 + 2) * 4 = 16
  return b
}

/** Sends raw frames out of an interface through an AF_PACKET socket. */
export class RawSender {
  private fd: number
  private sll = Buffer.alloc(20)
  constructor(ifindex: number) {
    const c = libc()
    this.fd = c.socket(17 /* AF_PACKET */, 3 /* SOCK_RAW */ | 0x80000, 0)
    if (this.fd < 0) throw new Error('RawSender: socket failed')
    this.sll.writeUInt16LE(17, 0)
    this.sll.writeInt32LE(ifindex, 4)
    this.sll[11] = 6
  }
  send(frame: Buffer): void {
    const n = libc().sendto(this.fd, frame, frame.length, 0, this.sll, 20)
    if (n !== frame.length) throw new Error(`RawSender: sendto returned ${n}`)
  }
  close(): void {
    if (this.fd >= 0) libc().close(this.fd)
    this.fd = -1
  }
}

/** Runs a command, resolving with stdout; rejects on a non-zero exit. */
export function sh(cmd: string, args: string[], timeoutMs = 60_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 256 << 20 }, (err, stdout, stderr) => {
      if (err !== null) reject(new Error(`${cmd} ${args.join(' ')}: ${err.message} ${stderr}`))
      else resolve(stdout)
    })
  })
}

/** CPU time (user+system, ms) of this process so far. */
export function cpuMs(): number {
  const u = process.cpuUsage()
  return (u.user + u.system) / 1000
}

// ---------------------------------------------------------------------------------------------------
// End-to-end capture plumbing

/**
 * null when every command is on PATH, else why the test skips: `<cmd> not installed (apt-get install
 * <packages>)`.
 */
export async function missingCommands(packages: string, ...cmds: string[]): Promise<string | null> {
  for (const c of cmds) {
    const r = await runHost('sh', ['-c', `command -v ${c}`])
    if (r.code !== 0) return `${c} not installed (apt-get install ${packages})`
  }
  return null
}

export interface TcpdumpOptions {
  /** the capture filter, as tcpdump's trailing words: ['tcp', 'port', '5432'] */
  filter: string[]
  /**
   * --immediate-mode (default on): without it libpcap holds packets in its ring blocks up to its 1 s
   * block timeout, a short capture can end before any reaches the file, and SIGINT loses them.
   */
  immediate?: boolean
  /**
   * -B, the kernel buffer in KiB (default: tcpdump's own). 131072 (128 MiB) for servers whose bursts
   * of 64 KB GSO segments would overflow the default and be lost.
   */
  bufferKiB?: number
}

/** Starts tcpdump on `iface` writing `file` (-U, 256 KiB snaplen, no name lookups); resolves once it listens. */
export async function startTcpdump(iface: string, file: string, opts: TcpdumpOptions): Promise<ChildProcess> {
  const args = ['-i', iface, '-w', file, '-U']
  if (opts.immediate !== false) args.push('--immediate-mode')
  if (opts.bufferKiB !== undefined) args.push('-B', String(opts.bufferKiB))
  args.push('-s', '262144', '-n', ...opts.filter)
  const td = spawn('tcpdump', args, { stdio: ['ignore', 'ignore', 'pipe'] })
  await new Promise<void>((resolve, reject) => {
    let err = ''
    const t = setTimeout(() => reject(new Error(`tcpdump did not start: ${err}`)), 10_000)
    td.stderr!.on('data', (b: Buffer) => {
      err += b.toString()
      if (err.includes('listening on')) {
        clearTimeout(t)
        resolve()
      }
    })
    td.once('exit', (code) => reject(new Error(`tcpdump exited ${code}: ${err}`)))
  })
  return td
}

/** Stops tcpdump with SIGINT after `settleMs`, which lets the last segments (FIN, ACK) reach its file. */
export async function stopTcpdump(td: ChildProcess, settleMs = 300): Promise<void> {
  if (td.exitCode !== null) return
  await new Promise((r) => setTimeout(r, settleMs))
  const done = new Promise((r) => td.once('exit', r))
  td.kill('SIGINT')
  await done
}

export interface LiveRun {
  exchanges: Exchange[]
  counters: Counters
  /** packets the ring dropped: the exchanges are incomplete when > 0 */
  dropped: number
}

/** podtap capturing `iface` live (ring + socket filter on `port`) into a pipeline, until stop() */
export function startLive(iface: string, port: number): { stop(): Promise<LiveRun> } {
  // 64 blocks (64 MiB) of ring: bursts of 64 KiB GSO segments from redis-benchmark or pgbench fit
  const src = openAfPacket({ iface, ports: [port], frameTimeoutMs: 20, blockCount: 64 })
  const exchanges: Exchange[] = []
  const pipeline = new Pipeline({ onExchange: (e) => exchanges.push(e) })
  const bg = drainInBackground(src, (p) => pipeline.packet(p))
  return {
    async stop() {
      await new Promise((r) => setTimeout(r, 300)) // the last block retires after frameTimeoutMs
      await bg.stop()
      pipeline.finish()
      const dropped = src.stats().dropped
      src.close()
      return { exchanges, counters: pipeline.counters, dropped }
    },
  }
}

/**
 * Runs `drive` while tcpdump (128 MiB buffer, immediate mode) writes `file` and podtap captures the
 * same interface live, both on TCP port `port`; both stop when `drive` ends or throws. Resolves with
 * the live run; the file is then complete.
 */
export async function captureWhile(iface: string, file: string, port: number, drive: () => Promise<void>): Promise<LiveRun> {
  const td = await startTcpdump(iface, file, { filter: ['tcp', 'port', String(port)], bufferKiB: 131072 })
  const live = startLive(iface, port)
  let run: LiveRun
  try {
    await drive()
  } finally {
    await stopTcpdump(td)
    run = await live.stop()
  }
  return run
}
