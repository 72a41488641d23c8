// One connection seen twice: as encrypted packets on an interface (a Connection in State.Tls) and as
// plaintext from a TLS tap (src/tls/sessions.ts opens it through Pipeline.openStream, same 4-tuple).
// It is counted once:
//   - the exchanges are the tap's (the packets give none: they stay encrypted);
//   - one l7_link: the packet connection's (its bytes, packets, retransmits are what crossed the wire,
//     its handshake gives sni, version, alpn), with the protocol the tap's plaintext showed; the tap
//     stream's own link is not emitted. A tls table row therefore never counts it as unreadable.
//
// The two ends come and go in either order: the packet flow may end first (FIN) while the tap session
// lives on until SSL_free, idle or shutdown, or the other way round; and the two inputs are read
// apart: the tap's ring may hand over a chunk after the packets' FIN was processed, and a packet
// ring's block may be handed over only at its timeout, after the tap already reported the whole
// connection, SSL_free included. So, only when a tap feeds the pipeline, an ended link that found no
// partner waits holdUs of capture time for one: an encrypted packet connection's for a tap stream of
// its 4-tuple, a tap stream's for a packet connection.
//
//   packet conn encrypted ─> packets[key]; heldTap[key] ─> adopted[key] = its protocol, tap link dropped
//   tap stream's 4-tuple known ─> taps[key]
//   packet link (tls):  adopted[key] | taps[key] live | heldTap[key] ─> merged (tap link dropped) | hold | emit
//   tap link:           packets[key] live ─> adopted[key] = protocol, dropped
//                       held[key] ─> merged, dropped | hold | emit
//
// Bounded: maps hold live connections only (the flow table and the sessions cap those); each held map
// at most MAX_HELD links (past it the oldest go out unpaired).

import type { Counters } from '../counters.js'
import type { LinkRecord } from '../records.js'
import type { Dir, EndReason, Endpoint, FlowInfo, StreamHandler } from '../tcp/types.js'
import type { Connection } from './connection.js'

/** ended encrypted packet links waiting for their tap stream, at most */
const MAX_HELD = 10_000

/** canonical key of a 4-tuple (either order of the ends) */
export function tupleKey(a: Endpoint, b: Endpoint): string {
  const x = `${a.ip} ${a.port}`
  const y = `${b.ip} ${b.port}`
  return x < y ? `${x}|${y}` : `${y}|${x}`
}

interface TapEntry {
  conn: Connection
  flow: FlowInfo
  /** '' until the stream's 4-tuple is known */
  key: string
  /** its packet connection's link already carries it: its own link is dropped */
  covered: boolean
}

export class TlsPairing {
  private readonly packets = new Map<string, Connection>()
  private readonly taps = new Map<string, TapEntry>()
  private readonly tapOf = new Map<Connection, TapEntry>()
  /** protocol a tap stream showed, for a packet connection still live */
  private readonly adopted = new Map<string, LinkRecord['protocol']>()
  /** ended packet links waiting for a tap stream (insertion order is due order) */
  private readonly held = new Map<string, { link: LinkRecord; dueUs: number }>()
  /** ended tap stream links waiting for a packet connection */
  private readonly heldTap = new Map<string, { link: LinkRecord; dueUs: number }>()
  /**
   * 4-tuples whose packet link went out merged, until when a late tap link of theirs is dropped: the
   * tap may report one connection as two streams (its other end takes the 4-tuple over when the first
   * end's SSL object is freed)
   */
  private readonly merged = new Map<string, number>()

  /** holdUs 0: no tap feeds the pipeline, nothing is held */
  constructor(
    private readonly emit: (l: LinkRecord) => void,
    private readonly counters: Counters,
    public holdUs = 0,
  ) {}

  /** a packet connection turned out encrypted (Connection.startTls) */
  encrypted(c: Connection, flow: FlowInfo): void {
    const key = tupleKey(flow.client, flow.server)
    this.packets.set(key, c)
    const t = this.heldTap.get(key)
    if (t !== undefined) {
      // the tap reported this connection before its packets came through
      this.heldTap.delete(key)
      this.adopted.set(key, t.link.protocol)
    }
  }

  /** a tap stream: its handler, which registers the 4-tuple as soon as the tap knows it */
  tapStream(c: Connection, flow: FlowInfo): StreamHandler {
    const e: TapEntry = { conn: c, flow, key: '', covered: false }
    this.tapOf.set(c, e)
    const known = (): void => {
      if (e.key !== '' || flow.client.port === 0 || flow.server.port === 0) return
      e.key = tupleKey(flow.client, flow.server)
      this.taps.set(e.key, e)
    }
    return {
      data: (dir: Dir, chunk: Buffer, tsUs: number, acked: number) => {
        known()
        c.data(dir, chunk, tsUs, acked)
      },
      gap: (dir: Dir, n: number, tsUs: number) => c.gap(dir, n, tsUs),
      end: (reason: EndReason, tsUs: number) => c.end(reason, tsUs),
      oldestPendingUs: () => c.oldestPendingUs(),
    }
  }

  /** a connection's l7_link, as it ends: emitted, merged, held or dropped (see top of file) */
  link(l: LinkRecord, c: Connection, nowUs: number): void {
    const tap = this.tapOf.get(c)
    if (tap !== undefined) return this.tapLink(l, tap, nowUs)
    if (l.protocol !== 'tls') return this.emit(l)
    const key = tupleKey(l.client, l.server)
    if (this.packets.get(key) === c) this.packets.delete(key)
    const plain = this.adopted.get(key)
    if (plain !== undefined) {
      this.adopted.delete(key)
      return this.emit(this.merge(l, plain))
    }
    const t = this.taps.get(key)
    if (t !== undefined) {
      t.covered = true
      return this.emit(this.merge(l, t.conn.protocol))
    }
    const ht = this.heldTap.get(key)
    if (ht !== undefined) {
      this.heldTap.delete(key)
      return this.emit(this.merge(l, ht.link.protocol))
    }
    if (this.holdUs <= 0) return this.emit(l)
    this.hold(this.held, key, l, nowUs)
  }

  private hold(m: Map<string, { link: LinkRecord; dueUs: number }>, key: string, l: LinkRecord, nowUs: number): void {
    const old = m.get(key)
    if (old !== undefined) {
      m.delete(key)
      this.emit(old.link)
    }
    if (m.size >= MAX_HELD) {
      const first = m.entries().next()
      if (!first.done) {
        m.delete(first.value[0])
        this.emit(first.value[1].link)
      }
    }
    // the capture clock may not have started (no packet read yet when the tap reports a connection):
    // the link's own end time bounds it from below
    m.set(key, { link: l, dueUs: Math.max(nowUs, l.endUs) + this.holdUs })
  }

  private tapLink(l: LinkRecord, t: TapEntry, nowUs: number): void {
    this.tapOf.delete(t.conn)
    if (t.key !== '' && this.taps.get(t.key) === t) this.taps.delete(t.key)
    if (t.covered) return
    const key = t.key !== '' ? t.key : tupleKey(l.client, l.server)
    const until = this.merged.get(key)
    if ((until !== undefined && l.startUs <= until) || this.heldTap.has(key)) {
      // its connection's link already went out with the packets, or another view of it waits for them
      this.counters.inc('tls_links_duplicate')
      return
    }
    if (this.packets.has(key)) {
      // the packet connection lives on: its link will carry this protocol
      this.adopted.set(key, l.protocol)
      return
    }
    const h = this.held.get(key)
    if (h !== undefined) {
      this.held.delete(key)
      return this.emit(this.merge(h.link, l.protocol))
    }
    // a stream whose socket became known only with its last chunk is keyed by its link's ends
    if (this.holdUs <= 0 || l.client.port === 0 || l.server.port === 0) return this.emit(l)
    this.hold(this.heldTap, key, l, nowUs)
  }

  /** the packet link, with the protocol the plaintext showed (when it showed one) */
  private merge(l: LinkRecord, protocol: LinkRecord['protocol'] | null): LinkRecord {
    this.counters.inc('tls_links_paired')
    if (this.holdUs > 0) {
      const key = tupleKey(l.client, l.server)
      this.merged.delete(key)
      if (this.merged.size >= MAX_HELD) this.merged.delete(this.merged.keys().next().value!)
      this.merged.set(key, l.endUs + this.holdUs)
    }
    if (protocol !== null && protocol !== 'tls') l.protocol = protocol
    return l
  }

  /** emits held links whose wait is over (all of them with nowUs = Infinity) */
  release(nowUs: number): void {
    for (const [key, h] of this.held) {
      if (h.dueUs > nowUs) break
      this.held.delete(key)
      const t = this.taps.get(key)
      if (t !== undefined) {
        t.covered = true
        this.emit(this.merge(h.link, t.conn.protocol))
      } else this.emit(h.link)
    }
    for (const [key, until] of this.merged) {
      if (until > nowUs) break
      this.merged.delete(key)
    }
    for (const [key, h] of this.heldTap) {
      if (h.dueUs > nowUs) break
      this.heldTap.delete(key)
      // its packet connection is still live: that link will carry the protocol
      if (this.packets.has(key)) this.adopted.set(key, h.link.protocol)
      else this.emit(h.link)
    }
  }

  get heldLinks(): number {
    return this.held.size + this.heldTap.size
  }
}
