// Interfaces that come and go under live capture: a veth deleted mid-capture ends its source cleanly
// (packets already in the ring still delivered, the reason reported), a link going down and up does
// not, watchInterfaces() follows veths appearing and disappearing, and MultiSource keeps running
// through all of it. Also: close() while a wait() is pending, and the errors for bad interfaces.

import { execFileSync } from 'node:child_process'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { MultiSource, openAfPacket, pollCount, type AfPacketSource } from '../../src/capture/af-packet.js'
import { findInterface, listInterfaces, watchInterfaces, type NetInterface } from '../../src/capture/interfaces.js'
import { CaptureError } from '../../src/errors.js'
import type { PacketSource } from '../../src/capture/source.js'
import { cleanupStale, createTestHost, needRoot, startNginx, type TestHost } from '../helpers/netns.js'
import { collect, drainInBackground, sh } from './live-util.js'

const skip = needRoot()
if (skip !== null) console.log(`live-iface tests skipped: ${skip}`)

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

describe.skipIf(skip !== null)('interfaces under live capture', () => {
  beforeAll(() => {
    cleanupStale()
  })

  it('lists interfaces with ifindex, veth-ness and link type; lo reads as Ethernet', async () => {
    const h = await createTestHost({ name: 'list' })
    try {
      const all = listInterfaces()
      const lo = all.find((i) => i.name === 'lo')!
      expect(lo).toMatchObject({ ifindex: 1, isVeth: false, up: true, linkType: 1, arphrd: 772 })
      const v = all.find((i) => i.name === h.hostIf)!
      expect(v).toMatchObject({ ifindex: h.hostIfindex, isVeth: true, driver: 'veth', up: true, linkType: 1 })
      expect(findInterface(h.hostIfindex)?.name).toBe(h.hostIf)
    } finally {
      await h.destroy()
    }
  })

  it('a veth deleted during capture: packets before are delivered, then the source ends with PODTAP_IFACE_GONE', async () => {
    const h = await createTestHost({ name: 'gone' })
    const keep = await createTestHost({ name: 'stay' })
    const ended: { source: PacketSource; error: Error | null }[] = []
    const multi = new MultiSource({ onSourceEnd: (source, error) => ended.push({ source, error }) })
    try {
      const web = await startNginx(h)
      const webStay = await startNginx(keep)
      // a long block timeout: the block holding the curl is surely not handed over before the delete
      const goneSrc = openAfPacket({ iface: h.hostIf, frameTimeoutMs: 1000 })
      multi.add(goneSrc)
      multi.add(openAfPacket({ iface: keep.hostIf, frameTimeoutMs: 20 }))
      const perIf = new Map<number, number>()
      const bg = drainInBackground(multi, (p) => perIf.set(p.ifindex, (perIf.get(p.ifindex) ?? 0) + 1))
      await sh('curl', ['-s', '-o', '/dev/null', web.url])
      await sh('curl', ['-s', '-o', '/dev/null', webStay.url])
      // no sleep: the last segments of that curl are still in a block the kernel has not retired
      await h.destroy() // deletes the namespace and with it both ends of the veth
      const t0 = Date.now()
      while (ended.length === 0 && Date.now() - t0 < 5000) await sleep(20)
      expect(ended).toHaveLength(1)
      expect(ended[0]!.source).toBe(goneSrc)
      expect(ended[0]!.error).toBeInstanceOf(CaptureError)
      expect((ended[0]!.error as CaptureError).code).toBe('PODTAP_IFACE_GONE')
      expect(goneSrc.endReason).toBe('interface_gone')
      expect(goneSrc.ended).toBe(true)
      expect(multi.sources).toHaveLength(1)
      // every segment of the completed curl arrived (>= 8: handshake, request, response, two FINs, ACKs)
      expect(perIf.get(h.hostIfindex) ?? 0).toBeGreaterThanOrEqual(8)
      // the other interface still captures
      const before = perIf.get(keep.hostIfindex) ?? 0
      await sh('curl', ['-s', '-o', '/dev/null', webStay.url])
      await sleep(200)
      const totals = await bg.stop()
      expect((perIf.get(keep.hostIfindex) ?? 0) - before).toBeGreaterThanOrEqual(8)
      // counts of the ended source stay in the total
      expect(multi.stats().packets).toBe(totals.packets)
      goneSrc.close() // idempotent after the source ended on its own
    } finally {
      multi.close()
      await h.destroy()
      await keep.destroy()
    }
  })

  it('a link going down and up does not end the source; capture resumes', async () => {
    const h = await createTestHost({ name: 'flap' })
    try {
      const web = await startNginx(h)
      const src = openAfPacket({ iface: h.hostIf, frameTimeoutMs: 20 })
      const bg = drainInBackground(src)
      execFileSync('ip', ['link', 'set', h.hostIf, 'down'])
      await sleep(200)
      execFileSync('ip', ['link', 'set', h.hostIf, 'up'])
      // carrier and the route come back; wait until the server is reachable again
      const t0 = Date.now()
      while ((await sh('sh', ['-c', `curl -s -m 1 -o /dev/null -w '%{http_code}' ${web.url} || true`])) !== '200') {
        if (Date.now() - t0 > 10_000) throw new Error('nginx unreachable after link up')
        await sleep(100)
      }
      await sleep(200)
      const { packets } = await bg.stop()
      expect(src.ended).toBe(false)
      expect(src.stats().linkDown).toBeGreaterThanOrEqual(1)
      expect(packets).toBeGreaterThanOrEqual(8)
      src.close()
    } finally {
      await h.destroy()
    }
  })

  it('watchInterfaces follows veths as they appear and vanish (the --all-veth loop)', async () => {
    const added: NetInterface[] = []
    const removed: NetInterface[] = []
    const multi = new MultiSource()
    const mine = (i: NetInterface) => i.isVeth && /^pt[0-9a-f]{6}h$/.test(i.name)
    const w = watchInterfaces(
      mine,
      (i) => {
        added.push(i)
        multi.add(openAfPacket({ ifindex: i.ifindex, frameTimeoutMs: 20 }))
      },
      (i) => {
        removed.push(i)
        multi.remove(i.name)
      },
      { intervalMs: 100 },
    )
    const base = added.length // veths of other test files running in parallel
    let h: TestHost | undefined
    try {
      h = await createTestHost({ name: 'watch' })
      const t0 = Date.now()
      while (!added.some((i) => i.name === h!.hostIf) && Date.now() - t0 < 3000) await sleep(50)
      expect(added.slice(base).map((i) => i.name)).toContain(h.hostIf)
      expect(multi.sources.map((s) => s.name)).toContain(h.hostIf)
      const web = await startNginx(h)
      const seen = collect(multi, { quietMs: 400, timeoutMs: 5000, until: (s) => s.filter((p) => p.ifindex === h!.hostIfindex).length >= 8 })
      await sh('curl', ['-s', '-o', '/dev/null', web.url])
      expect((await seen).filter((p) => p.ifindex === h!.hostIfindex).length).toBeGreaterThanOrEqual(8)
      const name = h.hostIf
      await h.destroy()
      const t1 = Date.now()
      while (!removed.some((i) => i.name === name) && Date.now() - t1 < 3000) await sleep(50)
      expect(removed.map((i) => i.name)).toContain(name)
      expect(multi.sources.map((s) => s.name)).not.toContain(name)
    } finally {
      w.close()
      multi.close()
      await h?.destroy()
    }
  })

  it('close() while wait() is pending resolves the wait at once and releases everything', async () => {
    const h = await createTestHost({ name: 'close' })
    try {
      const src: AfPacketSource = openAfPacket({ iface: h.hostIf })
      const fd = src.socketFd
      expect(fd).toBeGreaterThan(0)
      const link = (): string => {
        try {
          return execFileSync('readlink', [`/proc/${process.pid}/fd/${fd}`], { encoding: 'utf8' }).trim()
        } catch {
          return '' // no such fd
        }
      }
      const sock = link()
      expect(sock).toMatch(/^socket:\[\d+\]$/)
      const polls = pollCount()
      const t0 = performance.now()
      const waiting = src.wait(10_000)
      await sleep(50)
      expect(pollCount()).toBeGreaterThan(polls) // really parked in poll()
      src.close()
      await waiting
      expect(performance.now() - t0).toBeLessThan(1000)
      src.close()
      expect(src.next()).toBeNull()
      expect(src.ended).toBe(true)
      expect(src.endReason).toBe('closed')
      expect(src.stats().packets).toBe(0)
      await src.wait(1000) // after close: returns at once
      // the packet socket is gone from this process (the fd number may already hold something else)
      expect(link()).not.toBe(sock)
    } finally {
      await h.destroy()
    }
  })

  it('wait() parks in poll without spinning: an idle second costs few polls and little CPU', async () => {
    const h = await createTestHost({ name: 'idle' })
    try {
      const src = openAfPacket({ iface: h.hostIf, frameTimeoutMs: 50 })
      const polls = pollCount()
      const cpu0 = process.cpuUsage()
      const t0 = Date.now()
      while (Date.now() - t0 < 1000) {
        while (src.next() !== null);
        await src.wait(250)
      }
      const cpu = process.cpuUsage(cpu0)
      const pollsMade = pollCount() - polls
      console.log(`idle 1 s: ${pollsMade} polls, ${((cpu.user + cpu.system) / 1000).toFixed(1)} ms CPU`)
      expect(pollsMade).toBeLessThanOrEqual(12)
      expect((cpu.user + cpu.system) / 1000).toBeLessThan(200)
      src.close()
    } finally {
      await h.destroy()
    }
  })

  it('errors: unknown interface exits 2 naming `ip link`; bad options are usage errors', () => {
    let err: unknown
    try {
      openAfPacket({ iface: 'nosuchif0' })
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(CaptureError)
    expect(err).toMatchObject({ code: 'PODTAP_IFACE_NOT_FOUND', exitCode: 2 })
    expect((err as Error).message).toBe('interface nosuchif0 not found: see `ip link`')
    expect(() => openAfPacket({ iface: 'lo', blockSize: 5000 })).toThrow(/power of two/)
    expect(() => openAfPacket({ iface: 'lo', ports: [0] })).toThrow(/1\.\.65535/)
    expect(() => openAfPacket({})).toThrow(/iface or ifindex/)
  })
})
