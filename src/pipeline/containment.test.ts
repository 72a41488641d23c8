// Containment (issue 14 §1): a throw inside a parser ends that connection's parsing only, a throw
// while a consumer formats a record loses that record only; both counted in
// parse_errors{protocol, reason="internal"}, every other flow and the replay going on. Real captures
// through the real pipeline; the fault comes from the test-only hook (src/fault.ts) or a consumer
// that really throws. The live-capture proof is test/integration/containment.test.ts.

import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { C, Counters } from '../counters.js'
import { injectFaults } from '../fault.js'
import { configureLog } from '../log.js'
import type { Exchange } from '../records.js'
import type { LinkRecord } from '../records.js'
import { Pipeline } from './pipeline.js'
import { feedCaptureFiles } from './replay-sync.js'

const FILES = ['test/pcaps/http1/09-page-load-gap-in-body.pcap', 'test/pcaps/redis/03-list-ops-wrongtype.pcap']

function run(onExchange?: (e: Exchange, out: Exchange[]) => void) {
  const exchanges: Exchange[] = []
  const links: LinkRecord[] = []
  const counters = new Counters()
  const p = new Pipeline({ counters, onExchange: (e) => (onExchange ? onExchange(e, exchanges) : exchanges.push(e)), onLink: (l) => links.push(l) })
  feedCaptureFiles(p, FILES)
  p.finish()
  return { exchanges, links, counters }
}

/** flow ids count up across runs: a connection is named by its client end */
const conn = (e: { client: { ip: string; port: number } }) => `${e.client.ip}:${e.client.port}`
const key = (e: Exchange) => `${conn(e)} ${e.method} ${e.resource} ${e.status} ${e.startUs}`

describe('containment', () => {
  let logged: string[] = []
  beforeEach(() => configureLog({ out: { write: () => {} } }))
  afterEach(() => {
    injectFaults({})
    configureLog()
  })

  it('a parser that throws ends only its connection: counted, logged once, every other flow unchanged', () => {
    const base = run()
    const hit = base.exchanges.find((e) => e.resource === '/js/jquery.tweet.js')!
    expect(hit).toBeDefined()
    logged = []
    configureLog({ format: 'json', out: { write: (s) => void logged.push(s) } })
    injectFaults({ parser: 'GET /js/jquery.tweet.js' })
    const got = run()
    expect(got.counters.get(C.parseErrors, { protocol: 'http', reason: 'internal' })).toBe(1)
    const lines = logged.map((l) => JSON.parse(l) as Record<string, unknown>)
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatchObject({ level: 'error', protocol: 'http', client: `${hit.client.ip}:${hit.client.port}`, server: `${hit.server.ip}:${hit.server.port}` })
    expect(lines[0]!.msg).toMatch(/parser fault/)
    // every other connection (HTTP and Redis) exactly as without the fault
    const others = (x: Exchange[]) => x.filter((e) => conn(e) !== conn(hit)).map(key)
    expect(others(got.exchanges)).toEqual(others(base.exchanges))
    expect(got.exchanges.some((e) => e.protocol === 'redis')).toBe(true)
    // the faulted connection: what it emitted before the fault, nothing from the fault on
    const mine = (x: Exchange[]) => x.filter((e) => conn(e) === conn(hit)).map(key)
    const before = mine(base.exchanges).filter((k, i) => base.exchanges.filter((e) => conn(e) === conn(hit))[i]!.startUs < hit.startUs)
    expect(mine(got.exchanges)).toEqual(before)
    // its link record still comes, with its protocol
    expect(got.links).toHaveLength(base.links.length)
    expect(got.links.find((l) => conn(l) === conn(hit))?.protocol).toBe('http')
  })

  it('a consumer that throws while formatting one record loses that record only', () => {
    const base = run()
    const got = run((e, out) => {
      if (e.resource === '/css/960.css') throw new TypeError('cannot format')
      out.push(e)
    })
    expect(got.counters.get(C.parseErrors, { protocol: 'http', reason: 'internal' })).toBe(1)
    expect(got.exchanges.map(key)).toEqual(base.exchanges.filter((e) => e.resource !== '/css/960.css').map(key))
  })

  it('a consumer of l7_link records that throws loses that record only', () => {
    const links: LinkRecord[] = []
    const counters = new Counters()
    let n = 0
    const p = new Pipeline({
      counters,
      onExchange: () => {},
      onLink: (l) => {
        if (n++ === 2) throw new RangeError('cannot format link')
        links.push(l)
      },
    })
    feedCaptureFiles(p, FILES)
    p.finish()
    expect(links).toHaveLength(run().links.length - 1)
    expect(counters.total(C.parseErrors)).toBe(1)
  })

  it('the sink hook drops the marked record at the output boundary', () => {
    const base = run()
    injectFaults({ sink: '/favicon.ico' })
    const got = run()
    const n = base.exchanges.filter((e) => e.resource === '/favicon.ico').length
    expect(n).toBeGreaterThan(0)
    expect(got.counters.get(C.parseErrors, { protocol: 'http', reason: 'internal' })).toBe(n)
    expect(got.exchanges).toHaveLength(base.exchanges.length - n)
  })
})
