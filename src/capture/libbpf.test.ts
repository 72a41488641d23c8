// The koffi bindings: the filter object loads and its maps answer; a missing object and a program
// the verifier refuses become CaptureErrors that carry libbpf's own words (not printed to stderr).

import { execFileSync, spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { CaptureError } from '../errors.js'
import { BPF_ABI, filterObjectPath } from './bpf-abi.js'
import { libbpf, libbpfLog, libc, loadFilter, MAP_FAILED } from './libbpf.js'

const names = { prog: BPF_ABI.PROG_FILTER, config: BPF_ABI.MAP_CONFIG, ports: BPF_ABI.MAP_PORTS, counters: BPF_ABI.MAP_COUNTERS }
const isRoot = process.getuid?.() === 0
if (!isRoot) console.log('libbpf load tests skipped: not root')

describe('libc bindings', () => {
  it('errno, pointers as BigInt, MAP_FAILED', () => {
    const c = libc()
    expect(c.close(-1)).toBe(-1)
    const p = c.mmap(null, 4096, 3, 0x22, -1, 0) // PROT_READ|WRITE, MAP_PRIVATE|ANONYMOUS
    expect(typeof p).toBe('bigint')
    expect(p).not.toBe(MAP_FAILED)
    expect(c.munmap(p!, 4096)).toBe(0)
    expect(c.mmap(null, 0, 3, 0x22, -1, 0)).toBe(MAP_FAILED) // length 0: EINVAL
    expect(c.if_nametoindex('lo')).toBe(1)
    expect(c.if_nametoindex('nosuchif0')).toBe(0)
    const name = Buffer.alloc(16)
    expect(c.if_indextoname(1, name)).not.toBe(0)
    expect(name.toString('latin1', 0, name.indexOf(0))).toBe('lo')
    expect(c.if_indextoname(0x7fffffff, name)).toBe(0)
  })
})

describe.skipIf(!isRoot)('loading the filter object', () => {
  it('loads the committed object: program and maps found, config readable back', () => {
    const f = loadFilter(filterObjectPath(), names)
    try {
      expect(f.progFd).toBeGreaterThan(0)
      expect(f.configFd).toBeGreaterThan(0)
      expect(f.possibleCpus).toBeGreaterThanOrEqual(1)
      const key = Buffer.alloc(4)
      const val = Buffer.from([1, 2, 3, 4, 5, 6, 7, 8])
      expect(libbpf().bpf_map_update_elem(f.configFd, key, val, 0)).toBe(0)
      const back = Buffer.alloc(8)
      expect(libbpf().bpf_map_lookup_elem(f.configFd, key, back)).toBe(0)
      expect(back).toEqual(val)
    } finally {
      f.close()
      f.close() // idempotent
    }
  })

  it('a missing object: PODTAP_BPF_OBJECT with libbpf\'s reason', () => {
    let err: unknown
    try {
      loadFilter('/nonexistent/podtap.bpf.o', names)
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(CaptureError)
    expect(err).toMatchObject({ code: 'PODTAP_BPF_OBJECT' })
    expect((err as Error).message).toContain('No such file or directory')
  })

  const clang = spawnSync('sh', ['-c', 'command -v clang']).status === 0
  it.skipIf(!clang)('a program the verifier refuses: PODTAP_BPF_LOAD quoting the verifier', () => {
    const dir = mkdtempSync(join(tmpdir(), 'podtap-bad-'))
    try {
      // socket filters may not read skb->data directly: the verifier rejects the context access
      writeFileSync(
        join(dir, 'bad.c'),
        [
          '#include <linux/bpf.h>',
          '#include <bpf/bpf_helpers.h>',
          'SEC("socket") int podtap_filter(struct __sk_buff *skb) { return *(char *)(long)skb->data; }',
          'char LICENSE[] SEC("license") = "GPL";',
        ].join('\n'),
      )
      const multiarch = `/usr/include/${execFileSync('uname', ['-m'], { encoding: 'utf8' }).trim()}-linux-gnu`
      execFileSync('clang', ['-O2', '-g', '-target', 'bpf', '-mcpu=v3', '-I', multiarch, '-c', join(dir, 'bad.c'), '-o', join(dir, 'bad.o')])
      let err: unknown
      try {
        loadFilter(join(dir, 'bad.o'), names)
      } catch (e) {
        err = e
      }
      expect(err).toMatchObject({ code: 'PODTAP_BPF_LOAD' })
      expect((err as Error).message).toMatch(/invalid bpf_context access/)
      expect(libbpfLog().some((l) => l.includes('invalid bpf_context access'))).toBe(true)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
