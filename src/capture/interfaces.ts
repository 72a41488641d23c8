// Network interfaces of this namespace, from /sys/class/net, and a watcher for ones that come and go
// (`podtap capture --all-veth`: pods start and stop, their host-side veths appear and vanish).

import { lstatSync, readdirSync, readFileSync } from 'node:fs'
import koffi from 'koffi'
import { LinkType } from './source.js'
import { libc } from './libbpf.js'

/** ARPHRD_ device types (include/uapi/linux/if_arp.h) podtap can capture on. */
export const Arphrd = {
  ETHER: 1,
  LOOPBACK: 772,
  /** no link-layer header: tun, wireguard, some CNI devices */
  NONE: 65534,
} as const

export interface NetInterface {
  name: string
  ifindex: number
  /** driver name from the ethtool ioctl ('veth', 'virtio_net', 'bridge', 'loopback'...), '' if unknown */
  driver: string
  isVeth: boolean
  /** IFF_UP: administratively up */
  up: boolean
  /** /sys/class/net/X/operstate: 'up', 'down', 'unknown' (loopback), 'lowerlayerdown'... */
  operState: string
  /** ARPHRD_ type */
  arphrd: number
  /** what a packet socket on it delivers: Ethernet frames, raw IP, or null when podtap cannot decode it */
  linkType: number | null
  /** /sys/class/net/X/iflink: for a veth, the peer's ifindex (in the peer's namespace) */
  iflink: number
}

const SYS = '/sys/class/net'
const IFF_UP = 0x1

function readSys(name: string, attr: string): string | undefined {
  try {
    return readFileSync(`${SYS}/${name}/${attr}`, 'utf8').trim()
  } catch {
    return undefined
  }
}

/** Link type of the frames an AF_PACKET SOCK_RAW socket reads on an ARPHRD_ type. */
export function linkTypeOf(arphrd: number): number | null {
  // loopback carries a zeroed 14-byte Ethernet header in AF_PACKET (drivers/net/loopback.c uses
  // eth_header_ops), so it reads as Ethernet, like tcpdump -i lo shows
  if (arphrd === Arphrd.ETHER || arphrd === Arphrd.LOOPBACK) return LinkType.ETHERNET
  if (arphrd === Arphrd.NONE) return LinkType.RAW
  return null
}

// ethtool ETHTOOL_GDRVINFO through ioctl(SIOCETHTOOL), as `ethtool -i` does: the one cheap, exact way
// to tell a veth from other virtual Ethernet devices (/sys shows no driver link for virtual ones).
const SIOCETHTOOL = 0x8946
const ETHTOOL_GDRVINFO = 0x3
// struct ethtool_drvinfo: cmd u32, driver[32], version[32], fw_version[32], bus_info[32],
// erom_version[32], reserved2[12], five u32 counts = 196 bytes (include/uapi/linux/ethtool.h)
const DRVINFO_SIZE = 196
const DRVINFO_DRIVER_AT = 4
// struct ifreq: ifr_name[IFNAMSIZ=16], then the union whose ifr_data pointer sits at 16; 40 bytes
const IFREQ_SIZE = 40
let ethtoolFd = -1

/** The interface's driver name ('veth', 'e1000', 'bridge'...), '' if the ioctl fails. */
export function driverOf(name: string): string {
  try {
    const c = libc()
    if (ethtoolFd < 0) ethtoolFd = c.socket(2 /* AF_INET */, 2 /* SOCK_DGRAM */ | 0x80000 /* SOCK_CLOEXEC */, 0)
    if (ethtoolFd < 0) return ''
    const info = Buffer.alloc(DRVINFO_SIZE)
    info.writeUInt32LE(ETHTOOL_GDRVINFO, 0)
    const ifr = Buffer.alloc(IFREQ_SIZE)
    ifr.write(name.slice(0, 15), 0, 'latin1')
    ifr.writeBigUInt64LE(koffi.address(info), 16)
    if (c.ioctlPtr(ethtoolFd, SIOCETHTOOL, ifr) < 0) return ''
    const end = info.indexOf(0, DRVINFO_DRIVER_AT)
    return info.toString('latin1', DRVINFO_DRIVER_AT, end < 0 || end > DRVINFO_DRIVER_AT + 32 ? DRVINFO_DRIVER_AT + 32 : end)
  } catch {
    return ''
  }
}

/** Reads one interface from /sys/class/net; undefined when it does not exist (or vanished meanwhile). */
export function readInterface(name: string): NetInterface | undefined {
  const ifindex = Number(readSys(name, 'ifindex'))
  if (!Number.isInteger(ifindex) || ifindex <= 0) return undefined
  const arphrd = Number(readSys(name, 'type') ?? -1)
  const flags = parseInt(readSys(name, 'flags') ?? '0', 16)
  const driver = driverOf(name)
  return {
    name,
    ifindex,
    driver,
    isVeth: driver === 'veth',
    up: (flags & IFF_UP) !== 0,
    operState: readSys(name, 'operstate') ?? 'unknown',
    arphrd,
    linkType: linkTypeOf(arphrd),
    iflink: Number(readSys(name, 'iflink') ?? 0),
  }
}

function names(): string[] {
  try {
    return readdirSync(SYS)
  } catch {
    return []
  }
}

/** Every interface of this network namespace, by ifindex. */
export function listInterfaces(): NetInterface[] {
  const out: NetInterface[] = []
  for (const n of names()) {
    const i = readInterface(n)
    if (i !== undefined) out.push(i)
  }
  return out.sort((a, b) => a.ifindex - b.ifindex)
}

/** The interface with this name or ifindex, or undefined. */
export function findInterface(nameOrIndex: string | number): NetInterface | undefined {
  if (typeof nameOrIndex === 'string') return readInterface(nameOrIndex)
  // by index: the kernel's name for it (one ioctl), not a read of every interface's ifindex (a node
  // of 100 pods: 4 ms -> microseconds per pod veth resolved)
  const byIndex = nameOfIndex(nameOrIndex)
  if (byIndex !== undefined) {
    const i = readInterface(byIndex)
    if (i?.ifindex === nameOrIndex) return i
  }
  for (const n of names()) {
    if (Number(readSys(n, 'ifindex')) === nameOrIndex) return readInterface(n)
  }
  return undefined
}

const nameBuf = Buffer.alloc(16) // IF_NAMESIZE

/** if_indextoname(3); undefined when there is no such interface or libc cannot be loaded. */
function nameOfIndex(ifindex: number): string | undefined {
  if (!Number.isInteger(ifindex) || ifindex <= 0 || ifindex > 0xffffffff) return undefined
  try {
    nameBuf.fill(0)
    if (libc().if_indextoname(ifindex, nameBuf) === 0) return undefined
    const end = nameBuf.indexOf(0)
    return nameBuf.toString('latin1', 0, end < 0 ? 16 : end)
  } catch {
    return undefined
  }
}

export interface InterfaceWatch {
  /** interfaces currently matched, by ifindex */
  readonly current: ReadonlyMap<number, NetInterface>
  /** Rescans now (the timer does it every intervalMs). */
  refresh(): void
  close(): void
}

/**
 * Calls onAdd for every interface matching `pred` now and whenever one appears, onRemove when one
 * disappears. `pred` is asked once per interface, when it is first seen: test stable properties
 * (isVeth, name), not up/down (matched by ifindex, so a name reused by a new device is a remove plus an add). Polls
 * /sys/class/net every intervalMs (1 s default): cheap (one readdir) and needs no netlink socket.
 * Callbacks run on the event loop; an exception from one is reported to onError and does not stop
 * the watch.
 */
export function watchInterfaces(
  pred: (i: NetInterface) => boolean,
  onAdd: (i: NetInterface) => void,
  onRemove: (i: NetInterface) => void,
  opts: { intervalMs?: number; onError?: (e: unknown) => void } = {},
): InterfaceWatch {
  const current = new Map<number, NetInterface>()
  const seenNames = new Map<string, number>() // name -> ifindex, to skip re-reading known ones
  const onError = opts.onError ?? (() => undefined)
  const call = (f: () => void): void => {
    try {
      f()
    } catch (e) {
      onError(e)
    }
  }
  // A scan is one readdir and one lstat per name: the symlink /sys/class/net/NAME is made anew with
  // each device, so its inode tells a name reused by a new device from the one seen before, and only
  // names new or re-made are read further (ifindex, type, driver). With a hundred veths that is
  // ~0.4 ms of the event loop a second; reading every ifindex took ~5 ms.
  const inodes = new Map<string, number>() // name -> inode of its sysfs link
  const refresh = (): void => {
    const now = new Set<number>()
    for (const n of names()) {
      let ino: number
      try {
        ino = lstatSync(`${SYS}/${n}`).ino
      } catch {
        continue // vanished meanwhile
      }
      if (inodes.get(n) === ino) {
        const idx = seenNames.get(n)
        if (idx !== undefined) now.add(idx)
        continue
      }
      const idx = Number(readSys(n, 'ifindex'))
      if (!Number.isInteger(idx) || idx <= 0) continue
      inodes.set(n, ino)
      now.add(idx)
      seenNames.set(n, idx)
      const i = readInterface(n)
      if (i === undefined || !pred(i)) continue
      const old = current.get(i.ifindex)
      if (old !== undefined) continue
      current.set(i.ifindex, i)
      call(() => onAdd(i))
    }
    for (const [idx, i] of current) {
      if (!now.has(idx)) {
        current.delete(idx)
        call(() => onRemove(i))
      }
    }
    for (const [n, idx] of seenNames) {
      if (!now.has(idx)) {
        seenNames.delete(n)
        inodes.delete(n)
      }
    }
  }
  refresh()
  const timer = setInterval(refresh, opts.intervalMs ?? 1000)
  timer.unref()
  return {
    current,
    refresh,
    close: () => clearInterval(timer),
  }
}
