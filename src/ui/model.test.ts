// The data the web UI is fed, checked against the terminal table's own aggregates (the same Summary
// rows for the same replay) and against the golden records of the real captures (tshark-checked):
// servers, clients, pairs, statuses, counts. Plus the request browser's filter, detail, redaction and
// bounds, and the server's access rules (loopback only without a token, bearer/cookie with one).

import { request as httpRequest } from 'node:http'
import { describe, expect, it } from 'vitest'
import { replay } from '../cli/replay.js'
import { rowPercentiles } from '../metrics/summary.js'
import { exchange, readGolden } from '../../test/helpers/records.js'
import type { LinkRecord } from '../records.js'
import { nodeOf, UiModel } from './model.js'
import { startUiServer } from './server.js'

const FILES = ['test/pcaps/http1/13-keepalive-304-http10.pcap', 'test/pcaps/http1/06-methods-scanner.pcap', 'test/pcaps/mysql/02-auth-failures.pcap']

function golden() {
  return readGolden(FILES)
}

async function replayed(o: ConstructorParameters<typeof UiModel>[0] = {}) {
  const model = new UiModel(o)
  const r = await replay(FILES, { format: 'table', summary: true, progress: false, onExchange: model.exchange, onLink: model.link })
  model.finish()
  return { model, r }
}

describe('UiModel on real captures', () => {
  it('feeds the page the terminal table\'s rows, the captures\' servers, pairs and statuses', async () => {
    const { model, r } = await replayed()
    const s = model.snapshot()
    const g = golden()
    // the RED table: the table's own rows, in its order, with its numbers
    const want = r.summary!.sortedRows().map((x) => ({ server: x.server, protocol: x.protocol, method: x.method, resource: x.resource, status: x.status, count: x.count, errors: x.errors, p99: rowPercentiles(x).p99 }))
    expect(s.table.map((x) => ({ server: x.server, protocol: x.protocol, method: x.method, resource: x.resource, status: x.status, count: x.count, errors: x.errors, p99: x.p99 }))).toEqual(want)
    expect(s.totals.exchanges).toBe(g.length)
    expect(s.totals.errors).toBe(g.filter((x) => x.error).length)
    expect(s.done).toBe(true)

    // the map: a node per server endpoint and per client address, an edge per client -> server pair
    const servers = new Set(g.map((x) => `${x.server.ip}:${x.server.port}`))
    const clients = new Set(g.map((x) => x.client.ip))
    const pairs = new Set(g.map((x) => `a:${x.client.ip}>a:${x.server.ip}:${x.server.port}|${x.protocol}`))
    expect(new Set(s.nodes.filter((n) => n.server).map((n) => n.label))).toEqual(servers)
    expect(new Set(s.nodes.filter((n) => n.client).map((n) => n.label))).toEqual(clients)
    expect(new Set(s.edges.filter((e) => e.requests > 0).map((e) => e.id))).toEqual(pairs)
    for (const e of s.edges) {
      const mine = g.filter((x) => `a:${x.client.ip}>a:${x.server.ip}:${x.server.port}|${x.protocol}` === e.id)
      expect(e.requests, e.id).toBe(mine.length)
      expect(e.errors, e.id).toBe(mine.filter((x) => x.error).length)
      expect(model.focus('edge', e.id)!.edge!.reduce((a, b) => a + b.requests, 0)).toBe(mine.length)
    }
    // the MySQL login failures make their edge red
    const mysql = s.edges.find((e) => e.protocol === 'mysql')!
    expect(mysql.errorRate).toBeGreaterThan(5)
    expect(mysql.health).toBe('bad')
    // endpoints carry the same totals as their rows
    for (const ep of s.endpoints) {
      const rows = s.table.filter((x) => x.server === ep.server && x.protocol === ep.protocol)
      expect(ep.requests).toBe(rows.reduce((a, b) => a + b.count, 0))
    }
    // TCP health from l7_link: every connection of the captures ended
    expect(s.sections.find((x) => x.id === 'tcp')!.rows.length).toBeGreaterThan(0)
    expect(s.totals.connections).toBe(r.counters.get('flows_created'))
  })

  it('finds requests by status, protocol, peer and text, newest first, and opens one', async () => {
    const { model } = await replayed()
    const g = golden()
    const by = (f: Parameters<UiModel['requests']>[0]) => model.requests(f, 1000)
    expect(by({ status: '404' }).requests.length).toBe(g.filter((x) => x.status === 404).length)
    expect(by({ status: '4xx' }).requests.length).toBe(g.filter((x) => typeof x.status === 'number' && x.status >= 400 && x.status < 500).length)
    expect(by({ status: 'error' }).requests.length).toBe(g.filter((x) => x.error).length)
    expect(by({ protocol: 'mysql' }).requests.length).toBe(g.filter((x) => x.protocol === 'mysql').length)
    expect(by({ pod: '192.168.1.8' }).requests.length).toBe(g.filter((x) => x.server.ip === '192.168.1.8' || x.client.ip === '192.168.1.8').length)
    expect(by({ text: 'favicon' }).requests.length).toBe(g.filter((x) => x.resource?.includes('favicon')).length)
    const all = by({}).requests
    expect(all.map((x) => x.id)).toEqual([...all.map((x) => x.id)].sort((a, b) => b - a))
    const one = all.find((x) => x.status === '404')!
    const d = model.request(one.id)!
    expect(d.method).toBe('GET')
    expect(d.serverPeer.port).toBeGreaterThan(0)
    expect(d.clientPeer.ip).toBe(d.client.split(':')[0])
    // newer than a given id only
    expect(model.requests({}, 1000, all[2]!.id).requests.map((x) => x.id)).toEqual([all[0]!.id, all[1]!.id])
  })

  it('puts encrypted connections on the map as TLS edges, with the SNI and version their handshakes showed (tshark agrees)', async () => {
    const tlsFiles = ['test/pcaps/tls/09-six-https-one-host.pcap', 'test/pcaps/tls/05-tls12-handshake-failure-alert.pcap']
    const model = new UiModel()
    const r = await replay(tlsFiles, { format: 'table', summary: true, progress: false, onExchange: model.exchange, onLink: model.link })
    const s = model.snapshot()
    // the table's tls rows, as the terminal shows them
    expect(s.table.map((x) => [x.server, x.protocol, x.method, x.resource, x.status, x.count])).toEqual(
      r.summary!.sortedRows().map((x) => [x.server, x.protocol, x.method, x.resource, x.status, x.count]),
    )
    const edge = s.edges.find((e) => e.target === 'a:10.213.250.2:443')!
    expect(edge).toMatchObject({ protocol: 'tls', tls: true, requests: 0 })
    expect(edge.tcp!.connections).toBe(6)
    expect(edge.handshakes).toEqual({ versions: [expect.stringContaining('1.')], snis: ['app.podtap.test'], fatalAlerts: 0 })
    const failed = s.edges.find((e) => e.target === 'a:74.125.239.37:443')!
    expect(failed.handshakes!.fatalAlerts).toBe(1)
    expect(failed.health).toBe('bad')
    const rows = s.sections.find((x) => x.id === 'tls-servers')!.rows
    // tshark -Y tls.handshake.type==1: six ClientHellos to 10.213.250.2:443 with SNI app.podtap.test,
    // one to 74.125.239.37:443 without SNI, answered by a fatal handshake_failure alert
    expect(rows.find((x) => x[0] === '10.213.250.2:443')).toMatchObject(['10.213.250.2:443', 6, 0, 6, expect.stringContaining('1.'), 'app.podtap.test', expect.any(String), 0])
    expect(rows.find((x) => x[0] === '74.125.239.37:443')).toMatchObject(['74.125.239.37:443', 1, 0, 1, expect.any(String), '', expect.any(String), 1])
  })

  it('counts a gRPC connection (l7_link http2, exchanges grpc) on one edge, whichever comes first', async () => {
    const files = ['test/pcaps/grpc/01-unary.pcapng', 'test/pcaps/grpc/03-server-streaming.pcapng']
    const model = new UiModel()
    const r = await replay(files, { format: 'table', summary: true, progress: false, onExchange: model.exchange, onLink: model.link })
    const s = model.snapshot()
    const g = readGolden(files)
    const pairs = new Set(g.map((x) => `a:${x.client.ip}>a:${x.server.ip.includes(':') ? `[${x.server.ip}]` : x.server.ip}:${x.server.port}|${x.protocol}`))
    expect(new Set(s.edges.map((e) => e.id))).toEqual(pairs)
    expect(s.edges.reduce((a, e) => a + e.requests, 0)).toBe(g.length)
    expect(s.edges.reduce((a, e) => a + (e.tcp?.connections ?? 0), 0)).toBe(r.counters.get('flows_created'))
  })

  it('keeps only the newest requests and caps the map', async () => {
    const { model } = await replayed({ maxRequests: 10, maxNodes: 3, maxEdges: 1 })
    const s = model.snapshot()
    expect(s.totals.requestsKept).toBe(10)
    expect(model.requests({}, 1000).requests.length).toBe(10)
    expect(model.request(1)).toBeNull()
    expect(model.request(model.lastId)).not.toBeNull()
    expect(s.nodes.length).toBe(3)
    expect(s.edges.length).toBe(1)
    expect(s.dropped.nodes + s.dropped.edges).toBeGreaterThan(0)
    // the table is the table's, whatever the map's caps
    expect(s.totals.exchanges).toBe(golden().length)
  })
})

describe('UiModel details', () => {
  it('names nodes by workload, pod, service, process, else address', () => {
    expect(nodeOf({ ip: '1.2.3.4', port: 80, namespace: 'shop', pod: 'web-1', workload: 'web' }, 'server').label).toBe('shop/web')
    expect(nodeOf({ ip: '1.2.3.4', port: 80, namespace: 'shop', pod: 'web-1' }, 'server').label).toBe('shop/web-1')
    expect(nodeOf({ ip: '1.2.3.4', port: 80, namespace: 'shop', service: 'web' }, 'server').label).toBe('shop/web')
    expect(nodeOf({ ip: '1.2.3.4', port: 80, comm: 'nginx' }, 'server').label).toBe('nginx (1.2.3.4)')
    expect(nodeOf({ ip: '1.2.3.4', port: 80 }, 'server').label).toBe('1.2.3.4:80')
    expect(nodeOf({ ip: '1.2.3.4', port: 51234 }, 'client').label).toBe('1.2.3.4')
    expect(nodeOf({ ip: 'fd00::1', port: 80 }, 'server').label).toBe('[fd00::1]:80')
  })

  it('redacts credentials in a request\'s attributes', () => {
    const m = new UiModel()
    m.exchange(exchange({ attrs: { host: 'shop', authorization: 'Bearer abc', cookie: 'sid=1', user_agent: 'curl' } }))
    const d = m.request(1)!
    expect(d.attrs).toEqual({ host: 'shop', authorization: '[redacted]', cookie: '[redacted]', user_agent: 'curl' })
  })

  it('marks TLS edges, counts TLS coverage, and buckets history on the capture clock', () => {
    const m = new UiModel({ bucketUs: 1_000_000 })
    const t0 = 1_700_000_000_000_000
    for (let i = 0; i < 5; i++) m.exchange(exchange({ tls: true, startUs: t0 + i * 1_000_000, endUs: t0 + i * 1_000_000 + 1000, status: i === 4 ? 500 : 200, error: i === 4 }))
    m.link({ flowId: 1, client: { ip: '10.0.0.2', port: 40000 }, server: { ip: '10.0.0.1', port: 80 }, protocol: 'http', tls: true, startUs: t0, endUs: t0 + 5e6, bytesSent: 1, bytesReceived: 1, packetsSent: 10, packetsReceived: 10, retransmits: 1, gapBytes: 0, endReason: 'rst' })
    m.link({ flowId: 2, client: { ip: '10.0.0.2', port: 40001 }, server: { ip: '10.0.0.3', port: 443 }, protocol: 'tls', tls: true, startUs: t0, endUs: t0 + 5e6, bytesSent: 1, bytesReceived: 1, packetsSent: 4, packetsReceived: 4, retransmits: 0, gapBytes: 0, endReason: 'fin' })
    const s = m.snapshot()
    const http = s.edges.find((e) => e.protocol === 'http')!
    expect(http.tls).toBe(true)
    const f = m.focus('edge', http.id)!
    expect(f.edge!.map((b) => b.requests)).toEqual([1, 1, 1, 1, 1])
    expect(f.edge!.map((b) => b.errors)).toEqual([0, 0, 0, 0, 1])
    // the endpoint it calls, with the same history; the server node's endpoints too
    expect(Object.values(f.endpoints).map((t) => t.map((b) => b.requests))).toEqual([[1, 1, 1, 1, 1]])
    expect(m.focus('node', http.target)!.endpoints).toEqual(f.endpoints)
    expect(m.focus('node', 'nope')).toBeNull()
    expect(http.errorRate).toBe(20)
    expect(http.health).toBe('bad')
    expect(http.tcp).toMatchObject({ connections: 1, resets: 1, retransmits: 1, packets: 20, gapBytes: 0, refused: 0 })
    // an encrypted connection is on the map as a TLS edge without requests
    const enc = s.edges.find((e) => e.protocol === 'tls')!
    expect(enc.tls).toBe(true)
    expect(enc.requests).toBe(0)
    const tls = s.sections.find((x) => x.id === 'tls')!
    expect(tls.rows).toEqual([[2, 0, 1, 1, 5]])
  })

  it('puts refused and unanswered connects on the map, and TCP health from l7_link tcp, and the TLS coverage report', () => {
    const m = new UiModel()
    const t0 = 1_700_000_000_000_000
    const tcp = (over: Partial<NonNullable<LinkRecord['tcp']>>): NonNullable<LinkRecord['tcp']> => ({
      connect: 'ok', connectUs: 200, reset: null, retransmits: { c2s: 0, s2c: 0 }, zeroWindows: { c2s: 0, s2c: 0 },
      rttClient: { samples: 0, minUs: null, meanUs: null }, rttServer: { samples: 2, minUs: 100, meanUs: 150 }, ...over,
    })
    const link = (port: number, protocol: LinkRecord['protocol'], t: NonNullable<LinkRecord['tcp']>): LinkRecord => ({
      flowId: port, client: { ip: '10.0.0.2', port: 40000 + port }, server: { ip: '10.0.0.1', port }, protocol, tls: false, startUs: t0, endUs: t0 + 1000,
      bytesSent: 0, bytesReceived: 0, packetsSent: 2, packetsReceived: 1, retransmits: 0, gapBytes: 0, endReason: t.connect === 'refused' ? 'rst' : 'fin', tcp: t,
    })
    m.exchange(exchange())
    m.link(link(80, 'http', tcp({ zeroWindows: { c2s: 1, s2c: 0 } })))
    m.link(link(80, 'http', tcp({ connectUs: 400, rttServer: { samples: 2, minUs: 100, meanUs: 350 } })))
    m.link(link(81, 'unknown', tcp({ connect: 'refused', connectUs: null, rttServer: { samples: 0, minUs: null, meanUs: null } })))
    const s = m.snapshot()
    const http = s.edges.find((e) => e.protocol === 'http')!
    expect(http.tcp).toMatchObject({ connections: 2, refused: 0, connectMs: 0.3, zeroWindows: 1, rttServerMs: 0.25 })
    const refused = s.edges.find((e) => e.target === 'a:10.0.0.1:81')!
    expect(refused).toMatchObject({ protocol: 'tcp', requests: 0, health: 'bad' })
    expect(refused.tcp).toMatchObject({ connections: 1, refused: 1 })
    expect(s.sections.find((x) => x.id === 'tcp')!.rows.find((r) => r[1] === '10.0.0.1:81')!.slice(2, 6)).toEqual(['tcp', 1, 1, 0])
    m.tlsCoverage([{ pid: 42, comm: 'envoy', tap: 'none', reason: 'statically linked BoringSSL (no exported SSL_ symbols)', seenBy: 'packets', pod: 'web-1', namespace: 'shop' }])
    expect(m.snapshot().sections.find((x) => x.id === 'tls-coverage')!.rows).toEqual([[42, 'envoy', 'shop/web-1', 'none', 'packets', 'statically linked BoringSSL (no exported SSL_ symbols)']])
  })

  it('shows sections registered later only when they have rows', () => {
    const m = new UiModel()
    let rows: (string | number)[][] = []
    m.addSection('later', () => ({ id: 'x', title: 'Later', columns: ['a'], rows }))
    expect(m.snapshot().sections.map((s) => s.id)).toEqual([])
    rows = [[1]]
    expect(m.snapshot().sections.map((s) => s.id)).toEqual(['later'])
  })
})

describe('UI server access', () => {
  it('refuses to listen off loopback without a token', async () => {
    await expect(startUiServer(new UiModel(), { port: 0, host: '0.0.0.0' })).rejects.toThrow(/only with a token/)
  })

  it('without a token: refuses a Host that is not a loopback name (DNS rebinding)', async () => {
    const srv = await startUiServer(new UiModel(), { port: 0 })
    try {
      const status = (host: string): Promise<number> =>
        new Promise((resolve, reject) => {
          const req = httpRequest({ host: '127.0.0.1', port: srv.port, path: '/api/snapshot', headers: { host } }, (res) => {
            res.resume()
            resolve(res.statusCode!)
          })
          req.on('error', reject)
          req.end()
        })
      expect(await status(`127.0.0.1:${srv.port}`)).toBe(200)
      expect(await status(`localhost:${srv.port}`)).toBe(200)
      expect(await status(`[::1]:${srv.port}`)).toBe(200)
      expect(await status(`evil.example:${srv.port}`)).toBe(403)
    } finally {
      await srv.close()
    }
  })

  it('with a token: 401 without it, 200 with the bearer header, ?token= sets a cookie that works', async () => {
    const token = 'a-token-of-sixteen-plus'
    const m = new UiModel()
    m.exchange(exchange())
    const srv = await startUiServer(m, { port: 0, host: '127.0.0.1', token })
    try {
      const base = srv.url
      expect((await fetch(base + 'api/snapshot')).status).toBe(401)
      expect((await fetch(base + 'api/snapshot', { headers: { authorization: 'Bearer wrong-token-of-sixteen' } })).status).toBe(401)
      const ok = await fetch(base + 'api/snapshot', { headers: { authorization: `Bearer ${token}` } })
      expect(ok.status).toBe(200)
      expect(((await ok.json()) as { totals: { exchanges: number } }).totals.exchanges).toBe(1)
      const login = await fetch(base + `?token=${token}`, { redirect: 'manual' })
      expect(login.status).toBe(303)
      const cookie = login.headers.get('set-cookie')!.split(';')[0]!
      expect((await fetch(base + 'api/requests/1', { headers: { cookie } })).status).toBe(200)
      expect((await fetch(base + 'api/requests/99', { headers: { cookie } })).status).toBe(404)
    } finally {
      await srv.close()
    }
  })

  it('streams a snapshot and new requests as Server-Sent Events', async () => {
    const m = new UiModel()
    const srv = await startUiServer(m, { port: 0, pushMs: 50 })
    const ac = new AbortController()
    try {
      const res = await fetch(srv.url + 'api/events', { signal: ac.signal })
      expect(res.headers.get('content-type')).toBe('text/event-stream')
      const reader = res.body!.getReader()
      let text = ''
      const until = async (re: RegExp): Promise<void> => {
        while (!re.test(text)) text += new TextDecoder().decode((await reader.read()).value)
      }
      await until(/event: snapshot\ndata: .*"exchanges":0/)
      m.exchange(exchange({ resource: '/streamed' }))
      await until(/event: requests\ndata: .*"\/streamed"/)
      await until(/event: snapshot\ndata: .*"exchanges":1/)
    } finally {
      ac.abort()
      await srv.close()
    }
  })
})
