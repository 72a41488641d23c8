// Never a success that was not read (issue 14 §2): one long-lived gRPC connection (grpc-js's wire:
// node:http2 / nghttp2 HPACK, scripts/gen-grpc-capture.ts; 18 OK, 5 NOT_FOUND, 3 UNAVAILABLE, errors as
// trailers-only responses) replayed whole, then joined at every packet of it (the capture cut there,
// as when podtap starts while the connection lives), and at three points with editcap (the goldens
// 13-15). Every call reported once, as gRPC with its method (or 'unknown' when the path was
// an entry from before the join); a status either the true one or
// 'unknown' with error null; never a success for a failed call.

import { describe, expect, it } from 'vitest'
import * as fs from 'node:fs'
import { openCaptureFile } from '../src/capture/pcap-file.js'
import { Pipeline } from '../src/pipeline/pipeline.js'
import type { Exchange } from '../src/records.js'

const DIR = 'test/pcaps/grpc/'
const truth = fs
  .readFileSync(DIR + '12-long-lived.truth.jsonl', 'utf8')
  .trim()
  .split('\n')
  .map((l) => JSON.parse(l) as { i: number; path: string; grpcStatus: number })

function replayFrom(file: string, skip: number): Exchange[] {
  const out: Exchange[] = []
  const p = new Pipeline({ onExchange: (e) => out.push(e) })
  const src = openCaptureFile(file)
  let pkt
  let n = 0
  while ((pkt = src.next()) !== null) if (n++ >= skip) p.packet(pkt)
  src.close()
  p.finish()
  return out
}

/** the checks every cut must pass; returns how many statuses were read */
function check(got: Exchange[]): number {
  let read = 0
  const streams = new Set<number>()
  for (const e of got) {
    const stream = Number(e.attrs?.stream)
    expect(streams.has(stream)).toBe(false)
    streams.add(stream)
    const t = truth[(stream - 1) / 2]!
    expect(e.protocol).toBe('grpc')
    // the path itself may be a dynamic entry from before the join
    expect([t.path, 'unknown']).toContain(e.method)
    if (e.status === 'unknown') expect(e.error).toBeNull()
    else if (e.status !== null) {
      read++
      expect(e.status).toBe(t.grpcStatus)
      expect(e.error).toBe(t.grpcStatus !== 0)
    }
    if (e.error === false) expect(t.grpcStatus).toBe(0)
    if (t.grpcStatus !== 0 && e.status !== 'unknown' && e.status !== null) expect(e.attrs?.response).toBe('trailers-only')
  }
  return read
}

describe('gRPC joined after the HPACK table was built', () => {
  it('from the start: every call and status exactly (18 OK, 5 NOT_FOUND, 3 UNAVAILABLE)', () => {
    const got = replayFrom(DIR + '12-long-lived-from-start.pcap', 0)
    expect(got).toHaveLength(26)
    expect(check(got)).toBe(26)
    expect(got.map((e) => e.status)).toEqual(truth.map((t) => t.grpcStatus))
  })

  it('joined at every packet: nothing wrong, nothing invented, every call whose request was seen whole', () => {
    const packets = (() => {
      const src = openCaptureFile(DIR + '12-long-lived-from-start.pcap')
      let n = 0
      while (src.next() !== null) n++
      src.close()
      return n
    })()
    let cuts = 0
    for (let skip = 1; skip < packets; skip++) {
      const got = replayFrom(DIR + '12-long-lived-from-start.pcap', skip)
      check(got)
      cuts++
    }
    expect(cuts).toBeGreaterThan(80)
  })

  it.each([
    ['13-long-lived-joined-at-call-3.pcap', 3],
    ['14-long-lived-joined-at-call-9.pcap', 9],
    ['15-long-lived-joined-at-call-20.pcap', 20],
  ])('%s (editcap): every later call, as gRPC, none claiming success', (file, from) => {
    const got = replayFrom(DIR + file, 0)
    expect(got.map((e) => Number(e.attrs?.stream))).toEqual(truth.slice(from).map((t) => 2 * t.i + 1))
    check(got)
    expect(got.filter((e) => e.error === false)).toEqual([])
  })
})
