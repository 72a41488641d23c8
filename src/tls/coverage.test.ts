import { spawnSync } from 'node:child_process'
import { describe, expect, it } from 'vitest'
import { blindReason, coverageLine, TlsCoverage } from './coverage.js'

describe('blindReason', () => {
  it('Java: libjvm mapped, or a java executable', () => {
    expect(blindReason('/bin/sh', '7f00-7f01 r-xp 0 08:01 5 /usr/lib/jvm/java-17-openjdk-amd64/lib/server/libjvm.so\n')).toMatch(/^Java \(JSSE/)
  })

  it('a libssl it maps but nobody tapped is said so, with its path', () => {
    expect(blindReason('/bin/sh', '7f00-7f01 r-xp 0 08:01 5 /opt/app/lib/libssl.so.3\n')).toMatch(/maps \/opt\/app\/lib\/libssl\.so\.3, which is not tapped/)
  })

  it('an executable that exports SSL_read/SSL_write (node) but was not probed; an ordinary one: unknown', () => {
    expect(blindReason(process.execPath, '')).toMatch(/exports SSL_read\/SSL_write/)
    expect(blindReason('/bin/ls', '')).toMatch(/TLS library unknown/)
    expect(blindReason('/nonexistent', '')).toBe('executable not readable')
  })

  it('a Go binary (when go is installed)', () => {
    const go = spawnSync('sh', ['-c', 'command -v go'], { encoding: 'utf8' }).stdout.trim()
    if (go === '') return
    const real = spawnSync('readlink', ['-f', go], { encoding: 'utf8' }).stdout.trim()
    expect(blindReason(real, '')).toMatch(/^Go binary/)
  })
})

describe('TlsCoverage', () => {
  it('a process a tap read is one row; node by the finder; sources add theirs; Go none keeps its reason', () => {
    const cov = new TlsCoverage({
      tapOf: (pid) => (pid === 2 ? 'node' : null),
      sources: [{ coverage: () => [{ pid: 3, comm: 'api', tap: 'none', reason: 'unknown Go version go1.99' }] }],
      identify: (pid) => (pid === 2 ? { pod: 'web-0', namespace: 'shop' } : undefined),
    })
    cov.tapped(1, 'curl', 'openssl')
    cov.tapped(1, 'curl', 'openssl')
    cov.tapped(2, 'node', 'openssl')
    expect(cov.rows()).toEqual([
      { pid: 1, comm: 'curl', tap: 'openssl', seenBy: 'tap' },
      { pid: 2, comm: 'node', tap: 'node', seenBy: 'tap', pod: 'web-0', namespace: 'shop' },
      { pid: 3, comm: 'api', tap: 'none', reason: 'unknown Go version go1.99', seenBy: 'inspection' },
    ])
    cov.exited(1)
    expect(cov.rows().map((r) => r.pid)).toEqual([2, 3])
  })

  it('the footer line', () => {
    expect(coverageLine([])).toBe('TLS: no process with TLS connections seen yet')
    expect(
      coverageLine([
        { pid: 1, comm: 'curl', tap: 'openssl', seenBy: 'tap' },
        { pid: 2, comm: 'node', tap: 'node', seenBy: 'tap' },
        { pid: 9, comm: 'java', tap: 'none', reason: 'Java (JSSE)', pod: 'pay-0', namespace: 'shop', seenBy: 'packets' },
      ]),
    ).toBe('TLS: 2 processes read (openssl 1, node 1); blind: java[9] shop/pay-0 (Java (JSSE))')
  })
})
