// ListeningSockets on this machine's own /proc: real listening and connected sockets of this process.

import { createServer, connect, Server, type Socket } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { ListeningSockets } from './listeners.js'

const open: (Server | Socket)[] = []
afterEach(() => {
  for (const x of open.splice(0)) {
    if (x instanceof Server) x.close()
    else x.destroy()
  }
})

function listen(host: string): Promise<number> {
  const s = createServer((c) => open.push(c))
  open.push(s)
  return new Promise((resolve) => s.listen(0, host, () => resolve((s.address() as { port: number }).port)))
}

describe('ListeningSockets', () => {
  it('a listening address is; a connected socket\'s ephemeral port and another address are not', async () => {
    const port = await listen('127.0.0.1')
    const c = connect(port, '127.0.0.1')
    open.push(c)
    await new Promise((r) => c.once('connect', r))
    // listen(0) ports come from the ephemeral range, which has() otherwise takes for clients' without looking
    const l = new ListeningSockets({ ephemeralFrom: 65536 })
    expect(l.has(process.pid, { ip: '127.0.0.1', port })).toBe(true)
    expect(l.has(process.pid, { ip: '127.0.0.1', port: c.localPort! })).toBe(false)
    expect(l.has(process.pid, { ip: '10.9.9.9', port })).toBe(false)
    // a pid that does not exist
    expect(l.has(0x7ffffff0, { ip: '127.0.0.1', port })).toBe(false)
  })

  it('the any address (IPv6 ::, dual stack) covers an IPv4 endpoint', async () => {
    const port = await listen('::')
    expect(new ListeningSockets({ ephemeralFrom: 65536 }).has(process.pid, { ip: '127.0.0.1', port })).toBe(true)
  })

  it('a port in the ephemeral range is a client\'s: no, without reading /proc', async () => {
    const port = await listen('127.0.0.1')
    expect(new ListeningSockets({ ephemeralFrom: port, proc: '/nonexistent' }).has(process.pid, { ip: '127.0.0.1', port })).toBe(false)
    expect(new ListeningSockets({ ephemeralFrom: port + 1 }).has(process.pid, { ip: '127.0.0.1', port })).toBe(true)
  })

  it('a listener opened after a miss is found once rereadMs has passed, not before', async () => {
    let now = 1000
    const l = new ListeningSockets({ now: () => now, rereadMs: 250, ephemeralFrom: 65536 })
    const first = await listen('127.0.0.1')
    expect(l.has(process.pid, { ip: '127.0.0.1', port: first })).toBe(true)
    const port = await listen('127.0.0.1')
    now += 100
    expect(l.has(process.pid, { ip: '127.0.0.1', port })).toBe(false) // the namespace read at 1000 is kept
    now += 200
    expect(l.has(process.pid, { ip: '127.0.0.1', port })).toBe(true)
  })
})
