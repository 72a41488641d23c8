// A database connection that switches to TLS is labelled tls in l7_link (and counted), not left as a
// plaintext connection that went quiet: real captures through the real pipeline.

import * as path from 'node:path'
import { describe, expect, it } from 'vitest'
import { replayFilesSync } from '../src/pipeline/replay-sync.js'

const PCAPS = path.join(import.meta.dirname, 'pcaps')

describe('encrypted connections', () => {
  it('PostgreSQL SSLRequest answered S: the link says postgresql + tls, no exchange', () => {
    const r = replayFilesSync([path.join(PCAPS, 'pgsql', '10-ssl-accepted-tls.pcap')])
    expect(r.exchanges).toHaveLength(0)
    const pg = r.links.filter((l) => l.protocol === 'postgresql')
    expect(pg.length).toBeGreaterThan(0)
    expect(pg.every((l) => l.tls)).toBe(true)
    expect(r.counters.get('flows_encrypted', { protocol: 'postgresql', kind: 'tls' })).toBe(pg.length)
  })

  it('a refused SSLRequest stays plaintext', () => {
    const r = replayFilesSync([path.join(PCAPS, 'pgsql', '08-app-transactions.pcap')])
    expect(r.exchanges.length).toBeGreaterThan(0)
    expect(r.links.filter((l) => l.protocol === 'postgresql').every((l) => !l.tls)).toBe(true)
  })
})
