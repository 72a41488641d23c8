// Real captures: every file of the shared corpus reads completely and decodes to exactly the TCP
// frames tshark sees; the odd/ copies in test/pcaps are also compared field by field with tshark.

import { SHARED_PCAPS } from '../../test/helpers/shared.js'
import { execFileSync, spawnSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { describe, expect, it } from 'vitest'
import { decode } from './decode.js'
import { newFrame, type DecodeResult } from './frame.js'
import { openCaptureFile } from './pcap-file.js'

const SHARED = SHARED_PCAPS
const LOCAL = path.resolve(import.meta.dirname, '../../test/pcaps')
const haveShared = fs.existsSync(path.join(SHARED, 'ground_truth.json'))
const haveTshark = (() => {
  try {
    execFileSync('tshark', ['--version'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
})()
if (!haveShared) console.log(`skipping the shared-corpus tests: ${SHARED} is not on this machine`)
if (!haveTshark) console.log('skipping the field-by-field tshark comparisons: tshark is not installed')

// `tshark -n -r FILE -Y tcp | wc -l`, tshark 4.0.17 (Debian 12), run on each file of the corpus.
// Equal to the packet count except where the file also holds ICMPv6/mDNS (odd/ IPv6 files).
const TSHARK_TCP_FRAMES: Record<string, number> = {
  'grpc/deepflow__grpc-server-stream.pcap': 8,
  'grpc/deepflow__grpc-service-name.pcap': 39,
  'grpc/deepflow__grpc-unary.pcap': 2,
  'grpc/deepflow__grpc-unknown.pcap': 3,
  'grpc/packt__Bidi_Streaming.pcapng': 56,
  'grpc/packt__Server_Streaming.pcapng': 31,
  'grpc/suricata-verify__http2-errorcode__input.pcap': 55,
  'grpc/wswiki__client-grpc-web-proto-http2-send-two-unary.pcapng': 26,
  'grpc/wswiki__client-grpc-web-text-http1-send-two-unary.pcapng': 18,
  'grpc/wswiki__grpc_person_search.pcapng': 21,
  'grpc/wswiki__grpc_person_search_json_with_image.pcapng': 27,
  'grpc/wswiki__grpc_person_search_protobuf_with_image-missing_headers.pcapng': 5,
  'http1/deepflow__httpv1.pcap': 2,
  'http1/deepflow__sw8.pcap': 20,
  'http1/packetbeat__http_minitwit.pcap': 104,
  'http1/suricata-verify__http-protocol-nodup__input.pcap': 36,
  'http1/wswiki__http-chunked-gzip.pcap': 28,
  'http1/zeek__100-continue.pcap': 66,
  'http1/zeek__1000-requests-one-dropped-response.pcap': 4102,
  'http1/zeek__bro.org.pcap': 751,
  'http1/zeek__docker-http-upgrade.pcap': 200,
  'http1/zeek__get.pcap': 14,
  'http1/zeek__get_nosyn.pcap': 11,
  'http1/zeek__http-body-match.pcap': 207,
  'http1/zeek__methods.pcap': 655,
  'http1/zeek__websocket.pcap': 27,
  'http1/zeek__zero-length-bodies-with-drops.pcap': 44,
  'http2/arkime__http2-nghttp2.pcap': 101,
  'http2/deepflow__http2-multi.pcap': 2,
  'http2/nDPI__http2.pcapng': 10,
  'http2/suricata-verify__dns_over_https_POST.pcap': 147,
  'http2/suricata-verify__http2-bugfixes__input.pcap': 29,
  'http2/suricata-verify__http2-continuation__input.pcap': 30,
  'http2/suricata-verify__http2-keywords__input.pcap': 56,
  'http2/suricata-verify__http2-range.pcap': 116,
  'http2/wswiki__http2-h2c.pcap': 10,
  'kafka/arkime__kafka.pcap': 5,
  'kafka/deepflow__00-produce-v2.pcap': 2,
  'kafka/deepflow__00-produce-v7-sw8.pcap': 9,
  'kafka/deepflow__00-produce-v9.pcap': 2,
  'kafka/deepflow__01-fetch-v12-ok.pcap': 2,
  'kafka/deepflow__11-join-group-v7.pcap': 2,
  'kafka/deepflow__18-api-versions-v3.pcap': 2,
  'kafka/deepflow__mixed-with-unsupported.pcap': 9,
  'kafka/gosniffer__kafka.pcap': 20,
  'kafka/nDPI__kafka.pcapng': 41,
  'kafka/wswiki__kafka-testcases-v4__fetch.pcapng': 136,
  'kafka/wswiki__kafka-testcases-v4__produce.pcapng': 80,
  'kafka/wswiki__kafka-testcases-v4__unsupported-version.pcapng': 48,
  'mongo/deepflow__mongo-msg.pcap': 2,
  'mongo/deepflow__mongo.pcap': 46,
  'mongo/nDPI__mongo_false_positive.pcapng': 26,
  'mongo/nDPI__mongodb.pcap': 27,
  'mongo/packetbeat__mongo_3.0_session.pcap': 71,
  'mongo/packetbeat__mongodb_insert_duplicate_key.pcap': 9,
  'mongo/packetbeat__mongodb_more_rows.pcap': 3,
  'mongo/packetbeat__mongodb_reply_request_reply.pcap': 3,
  'mysql/arkime__mysql-tls.pcap': 10,
  'mysql/deepflow__171-mysql.pcap': 1040,
  'mysql/deepflow__mysql-error.pcap': 18,
  'mysql/deepflow__mysql-exec.pcap': 4,
  'mysql/deepflow__partial-packet-compressed.pcap': 19,
  'mysql/packetbeat__mysql_with_gap.pcap': 31,
  'mysql/zeek__auth.pcap': 174,
  'mysql/zeek__caching_sha2_password.pcap': 59,
  'mysql/zeek__mysql.pcap': 57,
  'mysql/zeek__mysql8-navicat-login-failed.pcap': 22,
  'odd/deepflow__out-of-order.pcap': 7,
  'odd/wswiki__http_over_ipv6_with_options.pcap': 11,
  'odd/wswiki__out-of-order.pcap': 1871,
  'odd/wswiki__v6-http.cap': 10,
  'odd/zeek__handshake-reorder.pcap': 14,
  'odd/zeek__http-vlan-0.pcap': 14,
  'odd/zeek__ipv6-http-atomic-frag.pcap': 36,
  'odd/zeek__retransmit-fast009.pcap': 39,
  'odd/zeek__retransmit-timeout.pcapng': 3,
  'odd/zeek__tcp-fast-open.pcap': 16,
  'odd/zeek__truncated-header.pcap': 24,
  'odd/zeek__vlan-qinqinq.pcap': 14,
  'pgsql/deepflow__error.pcap': 2,
  'pgsql/deepflow__pgsql-all.pcap': 78,
  'pgsql/nDPI__pgsql.pcap': 88,
  'pgsql/suricata-verify__TLPW-Jason-copyfrom-small.pcap': 26,
  'pgsql/suricata-verify__pgsql-5000-query-results__input.pcap': 785,
  'pgsql/suricata-verify__pgsql-bug-5579__input.pcap': 14,
  'pgsql/suricata-verify__pgsql-cancel-request__input.pcap': 29,
  'pgsql/zeek__greenhouse-app.pcap': 230,
  'pgsql/zeek__mysql-on-port-5432.pcap': 26,
  'pgsql/zeek__psql-aws-ssl-require.pcap': 30,
  'pgsql/zeek__psql-insert-fail-drop-fail.pcap': 27,
  'redis/deepflow__redis-error.pcap': 3,
  'redis/deepflow__redis.pcap': 50,
  'redis/packetbeat__redis_session.pcap': 22,
  'redis/zeek__attr.pcap': 28,
  'redis/zeek__auth.pcap': 12,
  'redis/zeek__bulk-loading.pcap': 32,
  'redis/zeek__django-cloud.pcapng': 474,
  'redis/zeek__pipeline-quotes.pcap': 12,
  'redis/zeek__pipelining-example.pcap': 12,
  'redis/zeek__pubsub-resp3.pcap': 108,
  'redis/zeek__pubsub.pcap': 60,
  'redis/zeek__start-with-server.pcapng': 6,
  'rocketmq/deepflow__rocketmq-consumer-otel.pcap': 6,
  'rocketmq/deepflow__rocketmq-consumer-skywalking.pcap': 6,
  'rocketmq/deepflow__rocketmq-get-consumer-list-by-group.pcap': 2,
  'rocketmq/deepflow__rocketmq-get-routeinfo-by-topic.pcap': 6,
  'rocketmq/deepflow__rocketmq-heartbeat.pcap': 2,
  'rocketmq/deepflow__rocketmq-producer-otel.pcap': 6,
  'rocketmq/deepflow__rocketmq-producer-skywalking.pcap': 6,
  'rocketmq/deepflow__rocketmq-pull-message.pcap': 9,
  'rocketmq/deepflow__rocketmq-send-message-v2.pcap': 4,
  'rocketmq/deepflow__rocketmq-update-consumer-offset.pcap': 4,
  'tls/arkime__tls-alpn-h2.pcap': 9,
  'tls/wswiki__grpc_person_search_protobuf_and_json_tls.pcapng': 97,
  'tls/zeek__chrome-1250-tls-x25519-kyber.pcap': 15,
  'tls/zeek__client-certificate.pcap': 31,
  'tls/zeek__hrr.pcap': 19,
  'tls/zeek__ssl-v2.pcap': 25,
  'tls/zeek__tls-1.2-handshake-failure.pcap': 11,
  'tls/zeek__tls1.2.pcap': 22,
}

interface Truth {
  file: string
  packets: number
}

function readAll(file: string) {
  const src = openCaptureFile(file)
  const f = newFrame()
  const reasons: Partial<Record<DecodeResult, number>> = {}
  let packets = 0
  for (let p = src.next(); p !== null; p = src.next()) {
    packets++
    const r = decode(p, f)
    reasons[r] = (reasons[r] ?? 0) + 1
  }
  src.close()
  return { packets, reasons, truncatedTail: src.truncatedTail, stats: src.stats(), bytesRead: src.bytesRead, bytesTotal: src.bytesTotal }
}

describe.skipIf(!haveShared)('shared corpus (../shared/pcaps)', () => {
  const truth: Truth[] = haveShared ? JSON.parse(fs.readFileSync(path.join(SHARED, 'ground_truth.json'), 'utf8')) : []

  it('covers every file of ground_truth.json', () => {
    expect(truth.length).toBe(120)
    expect(Object.keys(TSHARK_TCP_FRAMES).sort()).toEqual(truth.map((t) => t.file).sort())
  })

  it.each(truth.map((t) => [t.file, t] as const))('%s: packet count and TCP frames match tshark', (_name, t) => {
    const r = readAll(path.join(SHARED, t.file))
    expect(r.packets).toBe(t.packets)
    expect(r.reasons.ok ?? 0).toBe(TSHARK_TCP_FRAMES[t.file])
    // nothing in the corpus is fragmented, malformed or cut before the TCP header
    expect(r.reasons.malformed ?? 0).toBe(0)
    expect(r.reasons.truncated ?? 0).toBe(0)
    expect(r.reasons.ip_fragment ?? 0).toBe(0)
    if (t.file === 'pgsql/suricata-verify__pgsql-5000-query-results__input.pcap') {
      // the one file in the corpus whose last record is cut (tshark: "cut short in the middle of a
      // packet"); its 785 whole packets are still delivered
      expect(r.truncatedTail).toBe(3276005)
      expect(r.stats.dropped).toBe(1)
    } else {
      expect(r.truncatedTail).toBeNull()
      expect(r.bytesRead).toBe(r.bytesTotal)
    }
  })
})

// one file per link type / format / oddity, compared packet by packet with tshark
const SHARED_FIELD_CHECKS = [
  'http1/packetbeat__http_minitwit.pcap', // Linux SLL
  'http2/nDPI__http2.pcapng', // pcapng, Linux SLL
  'grpc/packt__Bidi_Streaming.pcapng', // pcapng, BSD NULL
  'pgsql/suricata-verify__pgsql-cancel-request__input.pcap', // raw IP
  'redis/zeek__pubsub.pcap', // BSD NULL
  'tls/arkime__tls-alpn-h2.pcap', // NULL, IPv6
  'kafka/nDPI__kafka.pcapng', // pcapng, Ethernet
  'mongo/nDPI__mongodb.pcap', // 802.1Q
  'http1/zeek__1000-requests-one-dropped-response.pcap', // 20k packets
  'pgsql/suricata-verify__pgsql-5000-query-results__input.pcap', // truncated last record
]

describe.skipIf(!haveShared || !haveTshark)('shared corpus, field by field', () => {
  it.each(SHARED_FIELD_CHECKS)('%s: every TCP frame equals tshark\'s fields', (name) => {
    const file = path.join(SHARED, name)
    expect(decodedFields(file)).toEqual(tsharkFrames(file))
  })
})

// ---- local copies: field-by-field against tshark ----

const ODD: Record<string, { packets: number; reasons: Partial<Record<DecodeResult, number>> }> = {
  'odd/05-ipv6-atomic-fragment-crafted.pcap': { packets: 38, reasons: { ok: 36, not_tcp: 2 } }, // 2 ICMPv6 ND
  'odd/03-vlan-0.pcap': { packets: 14, reasons: { ok: 14 } },
  'odd/04-vlan-qinqinq.pcap': { packets: 14, reasons: { ok: 14 } },
  'odd/01-ipv6-ext-headers.pcap': { packets: 11, reasons: { ok: 11 } },
  'odd/02-ipv6-retransmits.cap': { packets: 55, reasons: { ok: 10, not_tcp: 45 } }, // ICMPv6, mDNS
  'odd/07-snaplen-inside-tcp-header.pcap': { packets: 24, reasons: { ok: 24 } },
  'odd/06-rto-retransmit-mid-stream.pcapng': { packets: 3, reasons: { ok: 3 } },
}

/** tshark's view of every TCP frame: the fields decode() fills, as strings. */
function tsharkFrames(file: string): string[] {
  // spawnSync, not execFileSync: tshark exits with 2 after reading a file whose last record is cut
  const out = spawnSync('tshark', [
    '-n', '-r', file, '-Y', 'tcp', '-T', 'fields', '-E', 'separator=|',
    '-e', 'frame.time_epoch', '-e', 'ip.src', '-e', 'ip.dst', '-e', 'ipv6.src', '-e', 'ipv6.dst',
    '-e', 'tcp.srcport', '-e', 'tcp.dstport', '-e', 'tcp.seq_raw', '-e', 'tcp.ack_raw', '-e', 'tcp.flags',
    '-e', 'tcp.window_size_value', '-e', 'tcp.len', '-e', 'vlan.id',
  ], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 64 << 20 }).stdout
  return out.trim().split('\n').map((line) => {
    const [t, s4, d4, s6, d6, sp, dp, seq, ack, flags, win, len, vlan] = line.split('|')
    // frame.time_epoch is "seconds.nanoseconds": µs exactly, by string, not through a float
    const [sec, frac] = t.split('.')
    const us = sec + (frac ?? '').padEnd(9, '0').slice(0, 6)
    return [String(Number(us)), s4 || s6, d4 || d6, sp, dp, seq, ack, String(Number(flags) & 0xff), win, len, vlan].join(' ')
  })
}

/** decode()'s view of every TCP frame, in tsharkFrames' format */
function decodedFields(file: string): string[] {
  const src = openCaptureFile(file)
  const f = newFrame()
  const mine: string[] = []
  for (let p = src.next(); p !== null; p = src.next()) {
    if (decode(p, f) !== 'ok') continue
    mine.push([f.tsUs, f.src, f.dst, f.srcPort, f.dstPort, f.seq, f.ack, f.flags, f.window, f.payloadLen, f.vlans.join(',')].join(' '))
  }
  src.close()
  return mine
}

describe('test/pcaps/odd copies', () => {
  it.each(Object.entries(ODD))('%s', (name, want) => {
    const r = readAll(path.join(LOCAL, name))
    expect(r.packets).toBe(want.packets)
    expect(r.reasons).toEqual(want.reasons)
  })

  it.skipIf(!haveTshark).each(Object.keys(ODD))('%s: every TCP frame equals tshark\'s fields', (name) => {
    const file = path.join(LOCAL, name)
    expect(decodedFields(file)).toEqual(tsharkFrames(file))
  })

  it('the atomic fragment file decodes its TCP payload (a fragment header with offset 0, M 0 is a whole packet)', () => {
    const src = openCaptureFile(path.join(LOCAL, 'odd/05-ipv6-atomic-fragment-crafted.pcap'))
    const f = newFrame()
    const requests: string[] = []
    for (let p = src.next(); p !== null; p = src.next()) {
      if (decode(p, f) === 'ok' && f.payload.length > 0 && f.dstPort === 80) requests.push(f.payload.toString('latin1'))
    }
    src.close()
    expect(requests).toEqual(Array(4).fill('GET /bad.html\r\n'))
  })

  it('the snaplen-cut file gives empty payloads whose wire length is a gap', () => {
    const src = openCaptureFile(path.join(LOCAL, 'odd/07-snaplen-inside-tcp-header.pcap'))
    const f = newFrame()
    let cut = 0
    for (let p = src.next(); p !== null; p = src.next()) {
      expect(decode(p, f)).toBe('ok')
      expect(f.payload.length).toBe(0)
      if (f.payloadLen > 0) cut++
    }
    src.close()
    expect(cut).toBeGreaterThan(5)
    expect(src.stats().truncated).toBe(24)
  })
})
