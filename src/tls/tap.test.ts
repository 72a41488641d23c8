// Record decoding (bpf/tls_abi.h layout) and libssl discovery; no root needed.

import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { TLS_ABI } from './abi.js'
import { findLibssl } from './libssl.js'
import { decodeRecord } from './tap.js'

/** A ring record as bpf/tls_tap.c writes it. */
function record(f: {
  tsNs?: bigint; pid?: number; tid?: number; ssl?: bigint; dir?: number; family?: number
  lport?: number; rport?: number; laddr?: number[]; raddr?: number[]; len?: number; comm?: string; data?: Buffer
}): Buffer {
  const data = f.data ?? Buffer.alloc(0)
  const b = Buffer.alloc(TLS_ABI.EV_HDR_SIZE + data.length)
  b.writeBigUInt64LE(f.tsNs ?? 0n, TLS_ABI.EV_OFF_TS)
  b.writeUInt32LE(f.pid ?? 0, TLS_ABI.EV_OFF_PID)
  b.writeUInt32LE(f.tid ?? 0, TLS_ABI.EV_OFF_TID)
  b.writeBigUInt64LE(f.ssl ?? 0n, TLS_ABI.EV_OFF_SSL)
  b[TLS_ABI.EV_OFF_DIR] = f.dir ?? 0
  b[TLS_ABI.EV_OFF_FAMILY] = f.family ?? 0
  b.writeUInt16LE(f.lport ?? 0, TLS_ABI.EV_OFF_LPORT)
  b.writeUInt16LE(f.rport ?? 0, TLS_ABI.EV_OFF_RPORT)
  Buffer.from(f.laddr ?? []).copy(b, TLS_ABI.EV_OFF_LADDR)
  Buffer.from(f.raddr ?? []).copy(b, TLS_ABI.EV_OFF_RADDR)
  b.writeUInt32LE(f.len ?? data.length, TLS_ABI.EV_OFF_LEN)
  b.writeUInt32LE(data.length, TLS_ABI.EV_OFF_CAP_LEN)
  b.write(f.comm ?? '', TLS_ABI.EV_OFF_COMM, 'latin1')
  data.copy(b, TLS_ABI.EV_HDR_SIZE)
  return b
}

describe('decodeRecord', () => {
  it('decodes an IPv4 write with its tuple, time and a data view', () => {
    const rec = record({
      tsNs: 5_000_123_456n, pid: 42, tid: 43, ssl: 0x7f00_dead_beefn, dir: TLS_ABI.DIR_WRITE, family: 2,
      lport: 51234, rport: 443, laddr: [10, 213, 7, 1], raddr: [10, 213, 7, 2], comm: 'curl', data: Buffer.from('GET / HTTP/1.1\r\n'),
    })
    const c = decodeRecord(rec, 1_700_000_000_000_000)!
    expect(c).toMatchObject({
      tsUs: 1_700_000_000_000_000 + 5_000_123, pid: 42, tid: 43, comm: 'curl', ssl: 0x7f00_dead_beefn, dir: 'sent',
      local: { ip: '10.213.7.1', port: 51234 }, remote: { ip: '10.213.7.2', port: 443 }, len: 16,
    })
    expect(c.data.toString()).toBe('GET / HTTP/1.1\r\n')
    expect(c.data.buffer).toBe(rec.buffer) // borrowed view, not a copy
  })

  it('IPv6, IPv4-mapped IPv6, and an unknown socket', () => {
    const v6 = [0xfd, 0, 0x2, 0x13, 0, 7, ...Array(9).fill(0), 2]
    const c = decodeRecord(record({ family: 10, dir: TLS_ABI.DIR_READ, laddr: v6, raddr: [...Array(10).fill(0), 0xff, 0xff, 127, 0, 0, 1], lport: 1, rport: 2 }), 0)!
    expect(c.dir).toBe('received')
    expect(c.local).toEqual({ ip: 'fd00:213:7::2', port: 1 })
    expect(c.remote).toEqual({ ip: '127.0.0.1', port: 2 })
    const u = decodeRecord(record({ family: 0, data: Buffer.from('x') }), 0)!
    expect(u.local).toBeNull()
    expect(u.remote).toBeNull()
  })

  it('a gap record (cap_len 0, len > 0) keeps its length; a 15-character comm is read whole', () => {
    const c = decodeRecord(record({ len: 70000, comm: 'abcdefghijklmno' }), 0)!
    expect(c.len).toBe(70000)
    expect(c.data.length).toBe(0)
    expect(c.comm).toBe('abcdefghijklmno')
  })

  it('refuses records shorter than the header or claiming more data than they hold', () => {
    expect(decodeRecord(Buffer.alloc(TLS_ABI.EV_HDR_SIZE - 1), 0)).toBeNull()
    const r = record({ data: Buffer.from('abcd') })
    expect(decodeRecord(r.subarray(0, r.length - 1), 0)).toBeNull()
    const bad = record({ data: Buffer.from('abcd'), len: 2 }) // cap_len 4 > len 2
    expect(decodeRecord(bad, 0)).toBeNull()
  })
})

describe('findLibssl', () => {
  it('finds both sonames, one path per file even through symlinked directories', () => {
    const root = mkdtempSync(join(tmpdir(), 'podtap-libssl-'))
    try {
      mkdirSync(join(root, 'usr/lib'), { recursive: true })
      mkdirSync(join(root, 'lib64'), { recursive: true })
      writeFileSync(join(root, 'usr/lib/libssl.so.3'), 'x')
      writeFileSync(join(root, 'lib64/libssl.so.1.1'), 'y')
      symlinkSync(join(root, 'usr/lib'), join(root, 'lib')) // merged /usr
      const dirs = [join(root, 'usr/lib'), join(root, 'lib'), join(root, 'lib64'), join(root, 'nowhere')]
      expect(findLibssl(dirs)).toEqual([join(root, 'usr/lib/libssl.so.3'), join(root, 'lib64/libssl.so.1.1')])
      expect(findLibssl([join(root, 'nowhere')])).toEqual([])
    } finally {
      rmSync(root, { recursive: true, force: true })
    }
  })
})
