// One packet socket bound to every interface (openAfPacket anyInterface, what `capture --all-veth`
// uses): only the watched veths' packets reach the ring, each with the ifindex it came from; a veth
// unwatched stops at once, one watched later starts at once. Two real veths, nginx and curl in their
// namespaces' far ends. Needs root; skips with the reason printed.

import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openAfPacket, type AfPacketSource } from '../../src/capture/af-packet.js'
import { decode } from '../../src/capture/decode.js'
import { newFrame } from '../../src/capture/frame.js'
import { cleanupStale, createTestHost, needRoot, startNginx, type TestHost } from '../helpers/netns.js'
import { collect, sh } from './live-util.js'

const skip = needRoot()
if (skip !== null) console.log(`capture-any-iface tests skipped: ${skip}`)

describe.skipIf(skip !== null)('one socket for many interfaces (anyInterface + watch)', () => {
  let a: TestHost | undefined
  let b: TestHost | undefined
  let src: AfPacketSource | undefined

  beforeAll(() => {
    cleanupStale()
  })
  afterAll(async () => {
    src?.close()
    await a?.destroy()
    await b?.destroy()
  })

  it('keeps the watched veths only, each packet with its own ifindex; unwatch and watch take effect at once', async () => {
    a = await createTestHost({ name: 'anya' })
    b = await createTestHost({ name: 'anyb' })
    const webA = await startNginx(a)
    const webB = await startNginx(b)
    src = openAfPacket({ anyInterface: true, frameTimeoutMs: 20 })
    expect(src.ifindex).toBe(0)
    src.watch(a.hostIfindex)

    // both veths carry a request; only a's packets may come
    const servers = (s: AfPacketSource) => {
      const f = newFrame()
      const got = collect(s, { quietMs: 400, timeoutMs: 5000 })
      return got.then((seen) =>
        seen.map((p) => {
          const r = decode({ tsUs: p.tsUs, ifindex: p.ifindex, linkType: 1, data: p.data, origLen: p.origLen }, f)
          return { ifindex: p.ifindex, ok: r === 'ok', addrs: r === 'ok' ? [f.src, f.dst] : [] }
        }),
      )
    }
    let seen = servers(src)
    await sh('curl', ['-s', '-o', '/dev/null', webA.url])
    await sh('curl', ['-s', '-o', '/dev/null', webB.url])
    let pk = await seen
    const ofA = pk.filter((p) => p.ifindex === a!.hostIfindex)
    expect(ofA.length).toBeGreaterThanOrEqual(8) // handshake, request, response, acks, FINs
    expect(ofA.every((p) => p.ok && p.addrs.includes(a!.nsIp))).toBe(true)
    expect(pk.filter((p) => p.ifindex !== a!.hostIfindex)).toEqual([])

    // b watched, a not: the other way round
    src.unwatch(a.hostIfindex)
    src.watch(b.hostIfindex)
    expect([...src.watching]).toEqual([b.hostIfindex])
    seen = servers(src)
    await sh('curl', ['-s', '-o', '/dev/null', webA.url])
    await sh('curl', ['-s', '-o', '/dev/null', webB.url])
    pk = await seen
    expect(pk.filter((p) => p.ifindex === b!.hostIfindex && p.addrs.includes(b!.nsIp)).length).toBeGreaterThanOrEqual(8)
    expect(pk.filter((p) => p.ifindex !== b!.hostIfindex)).toEqual([])
    expect(src.stats().dropped).toBe(0)
  })
})
