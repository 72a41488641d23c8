// Preflight for live capture: can this process load a BPF socket filter and open packet sockets?
// Each failed check carries the message the CLI prints: what is wrong and how to fix it.
//
// What live capture needs (so podtap can run without full root):
//   CAP_NET_RAW    AF_PACKET sockets
//   CAP_BPF        loading the socket filter and creating its maps (Linux 5.8+; before that
//                  CAP_SYS_ADMIN). A socket filter needs neither CAP_PERFMON nor CAP_NET_ADMIN.
//   Measured (privileges.test.ts): as uid 65534 with exactly CAP_BPF + CAP_NET_RAW, capture opens and
//   runs; without either, the error below names what is missing.
//   CAP_NET_ADMIN and CAP_PERFMON are listed in the advice anyway because the TLS uprobes need
//   CAP_PERFMON (and CAP_SYS_ADMIN before 5.8), so one set of capabilities covers all of podtap.
//   memlock: kernels before 5.11 charge BPF maps to RLIMIT_MEMLOCK; raise it (ulimit -l) there.
// In a container: securityContext.capabilities.add: [BPF, NET_RAW, NET_ADMIN, PERFMON] (+ SYS_ADMIN
// on kernels older than 5.8), hostNetwork for node interfaces, /sys mounted for /sys/class/net.

import { accessSync, constants, existsSync, readFileSync } from 'node:fs'
import { CaptureError } from '../errors.js'

/** The capability bits podtap cares about (include/uapi/linux/capability.h). */
export const Cap = {
  NET_ADMIN: 12,
  NET_RAW: 13,
  SYS_ADMIN: 21,
  PERFMON: 38,
  BPF: 39,
} as const

export const PERMISSION_FIX =
  'run as root or grant CAP_BPF, CAP_NET_RAW, CAP_NET_ADMIN (and CAP_PERFMON/CAP_SYS_ADMIN on older kernels); ' +
  'live capture alone needs CAP_BPF and CAP_NET_RAW (CAP_SYS_ADMIN instead of CAP_BPF before Linux 5.8)'

export const LIBBPF_FIX = 'install libbpf 1.x: `apt-get install libbpf1` (Debian/Ubuntu) or `dnf install libbpf` (Fedora/RHEL)'

export interface Check {
  name: 'capabilities' | 'bpf_syscall' | 'btf' | 'libbpf' | 'sysfs'
  ok: boolean
  /** what is wrong and how to fix it; empty when ok */
  message: string
}

export interface Preflight {
  ok: boolean
  checks: Check[]
  /** effective capability mask from /proc/self/status (CapEff) */
  capEff: bigint
}

/** The effective capability set of this process, from /proc/self/status. */
export function effectiveCapabilities(statusText?: string): bigint {
  const text = statusText ?? readFileSync('/proc/self/status', 'utf8')
  const m = /^CapEff:\s*([0-9a-fA-F]+)$/m.exec(text)
  return m === null ? 0n : BigInt('0x' + m[1])
}

export function hasCap(capEff: bigint, bit: number): boolean {
  return ((capEff >> BigInt(bit)) & 1n) === 1n
}

/**
 * Capabilities missing for live capture, by name. CAP_BPF may be replaced by CAP_SYS_ADMIN (kernels
 * before 5.8 know only that).
 */
export function missingCapabilities(capEff: bigint): string[] {
  const missing: string[] = []
  if (!hasCap(capEff, Cap.NET_RAW)) missing.push('CAP_NET_RAW')
  if (!hasCap(capEff, Cap.BPF) && !hasCap(capEff, Cap.SYS_ADMIN)) missing.push('CAP_BPF')
  return missing
}

/**
 * Runs every check without throwing. `loadProbe` loads a trivial socket filter (the real test of
 * BPF availability); it is injected so this module needs no FFI of its own (libbpf.ts supplies it).
 */
export function preflight(opts: { loadProbe?: () => void } = {}): Preflight {
  const checks: Check[] = []
  let capEff = 0n
  try {
    capEff = effectiveCapabilities()
  } catch {
    // not Linux, or /proc not mounted: the checks below say what fails
  }
  const missing = missingCapabilities(capEff)
  checks.push({
    name: 'capabilities',
    ok: missing.length === 0,
    message: missing.length === 0 ? '' : `missing ${missing.join(', ')}: ${PERMISSION_FIX}`,
  })

  const sysfs = existsSync('/sys/class/net')
  checks.push({
    name: 'sysfs',
    ok: sysfs,
    message: sysfs ? '' : '/sys/class/net is not readable: mount sysfs (in a container: mount the host /sys)',
  })

  // BTF is not needed by the socket filter (no CO-RE relocations), but the TLS uprobes use it;
  // report it so one preflight covers podtap
  const btf = existsSync('/sys/kernel/btf/vmlinux')
  checks.push({
    name: 'btf',
    ok: btf,
    message: btf
      ? ''
      : 'kernel has no BTF (/sys/kernel/btf/vmlinux missing): live capture works, TLS uprobes will not; ' +
        'use a kernel built with CONFIG_DEBUG_INFO_BTF=y (every major distribution since 2021 is)',
  })

  let libbpfOk = true
  let bpfMessage = ''
  if (opts.loadProbe !== undefined) {
    try {
      opts.loadProbe()
    } catch (e) {
      const err = e as CaptureError
      if (err.code === 'PODTAP_LIBBPF_MISSING') {
        libbpfOk = false
        bpfMessage = 'skipped: libbpf missing'
      } else {
        bpfMessage = err.message
      }
    }
  }
  checks.push({ name: 'libbpf', ok: libbpfOk, message: libbpfOk ? '' : `libbpf.so.1 not found: ${LIBBPF_FIX}` })
  checks.push({
    name: 'bpf_syscall',
    ok: bpfMessage === '',
    message: bpfMessage === '' ? '' : bpfMessage,
  })
  return { ok: checks.every((c) => c.ok || c.name === 'btf'), checks, capEff }
}

/** First failing check (BTF excluded) as a CaptureError, for the CLI to print and exit with. */
export function preflightError(p: Preflight): CaptureError | null {
  const bad = p.checks.find((c) => !c.ok && c.name !== 'btf')
  if (bad === undefined) return null
  const code =
    bad.name === 'capabilities' ? 'PODTAP_PERMISSION' : bad.name === 'libbpf' ? 'PODTAP_LIBBPF_MISSING' : bad.name === 'sysfs' ? 'PODTAP_NO_SYSFS' : 'PODTAP_NO_BPF'
  return new CaptureError(code, bad.message, 1)
}

/** Linux errno values the capture code tells apart (asm-generic/errno-base.h, errno.h). */
export const Errno = {
  EPERM: 1,
  ENOENT: 2,
  ENXIO: 6,
  E2BIG: 7,
  EBADF: 9,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EBUSY: 16,
  ENODEV: 19,
  EINVAL: 22,
  ENOSYS: 38,
  ENOTSUP: 95,
  EAFNOSUPPORT: 97,
  ENETDOWN: 100,
} as const

const ERRNO_NAMES: Record<number, string> = Object.fromEntries(Object.entries(Errno).map(([k, v]) => [v, k]))

export function errnoName(errno: number): string {
  return ERRNO_NAMES[errno] ?? `errno ${errno}`
}

/**
 * The error for a failed system call during capture setup: permission problems get the capability
 * fix, everything else names the call and the errno.
 */
export function syscallError(what: string, errno: number, code = 'PODTAP_CAPTURE_SETUP'): CaptureError {
  if (errno === Errno.EPERM || errno === Errno.EACCES) {
    return new CaptureError('PODTAP_PERMISSION', `${what}: permission denied (${errnoName(errno)}): ${PERMISSION_FIX}`, 1)
  }
  if (errno === Errno.ENOSYS) {
    return new CaptureError('PODTAP_NO_BPF', `${what}: the kernel lacks this (ENOSYS): use a kernel with CONFIG_BPF_SYSCALL=y`, 1)
  }
  return new CaptureError(code, `${what} failed: ${errnoName(errno)}`, 1)
}

/** True when `path` exists and this process may read it. */
export function readable(path: string): boolean {
  try {
    accessSync(path, constants.R_OK)
    return true
  } catch {
    return false
  }
}
