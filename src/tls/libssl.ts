// Where OpenSSL's libssl lives on the distributions podtap runs on. Uprobes attach to a file (its
// inode), so every process that maps that file is tapped, whatever its mount namespace calls it;
// a container with its own libssl copy needs that copy's path (through /proc/<pid>/root/...).

import { existsSync, realpathSync, statSync } from 'node:fs'

/** Sonames tried, newest first: OpenSSL 3.x, then 1.1.x. */
export const LIBSSL_SONAMES = ['libssl.so.3', 'libssl.so.1.1'] as const

/** Directories libssl is installed in: Debian/Ubuntu multiarch, RHEL/Fedora, Alpine/Arch. */
export function libDirs(machine = process.arch === 'arm64' ? 'aarch64' : 'x86_64'): string[] {
  return [
    `/usr/lib/${machine}-linux-gnu`,
    `/lib/${machine}-linux-gnu`,
    '/usr/lib64',
    '/lib64',
    '/usr/lib',
    '/lib',
    '/usr/local/lib64',
    '/usr/local/lib',
  ]
}

/**
 * Existing libssl files in the usual places, one path per distinct file (merged /usr makes
 * /lib/x86_64-linux-gnu and /usr/lib/x86_64-linux-gnu the same directory: a uprobe attached twice to
 * one inode would report every call twice).
 */
export function findLibssl(dirs: readonly string[] = libDirs()): string[] {
  const seen = new Set<string>()
  const out: string[] = []
  for (const soname of LIBSSL_SONAMES) {
    for (const d of dirs) {
      const p = `${d}/${soname}`
      if (!existsSync(p)) continue
      let key: string
      let real: string
      try {
        real = realpathSync(p)
        const st = statSync(real)
        key = `${st.dev}:${st.ino}`
      } catch {
        continue
      }
      if (seen.has(key)) continue
      seen.add(key)
      out.push(real)
    }
  }
  return out
}
