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

  it('after the switch the TLS handshake is read: SNI, versions and cipher as tshark shows them', () => {
    // tshark -d tcp.port==5432,pgsql: server_name database-1...rds.amazonaws.com, supported_versions
    // 0x0304,0x0303 offered, ServerHello 0x0303 with cipher 0xc030; MySQL: ClientHello 0x0302, cipher 0x0035
    const pg = replayFilesSync([path.join(PCAPS, 'pgsql', '10-ssl-accepted-tls.pcap')]).links.filter((l) => l.protocol === 'postgresql')
    expect(pg.map((l) => [l.sni, l.tlsVersion, l.tlsHandshake!.offeredVersions, l.tlsHandshake!.cipher])).toEqual([
      ['database-1.cyx4x7yvdoay.us-east-1.rds.amazonaws.com', 'TLS1.2', ['TLS1.3', 'TLS1.2'], 'TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384'],
    ])
    const my = replayFilesSync([path.join(PCAPS, 'mysql', '10-ssl-request.pcap')]).links.filter((l) => l.protocol === 'mysql')
    expect(my.map((l) => [l.tls, l.sni, l.tlsVersion, l.tlsHandshake!.offeredVersions, l.tlsHandshake!.cipher])).toEqual([[true, undefined, 'TLS1.1', ['TLS1.1'], 'TLS_RSA_WITH_AES_256_CBC_SHA']])
  })

  it('a refused SSLRequest stays plaintext', () => {
    const r = replayFilesSync([path.join(PCAPS, 'pgsql', '08-app-transactions.pcap')])
    expect(r.exchanges.length).toBeGreaterThan(0)
    expect(r.links.filter((l) => l.protocol === 'postgresql').every((l) => !l.tls)).toBe(true)
  })
})
