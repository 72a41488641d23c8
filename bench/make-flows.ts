// Generates the flow-count captures of `npm run bench` (nothing here is committed: files go to
// bench/out/, git-ignored). Both are HTTP/1.1 over IPv4 in an Ethernet pcap, built from byte templates
// whose addresses, ports and sequence numbers are patched per packet, so a million connections take a
// few seconds. TCP checksums are left 0 (tshark does not check them by default, podtap never does).
//
//   short N      N short connections, one request each, distinct clients (10.1.0.0/16 ... by
//                index, ports 1024-65535): SYN, SYN-ACK, ACK, request, response, FIN+ACK from the
//                client, FIN+ACK from the server, last ACK. One connection every 50 µs of capture time.
//   concurrent N N keep-alive connections all open at once: each does its handshake and one
//                request/response, then every one of them (in the same order) a second request/response
//                after all are open, and none is closed. The peak holds N idle parsed flows.
//
//   usage: tsx bench/make-flows.ts short|concurrent N out.pcap

import { PcapWriter } from '../src/capture/pcap-writer.js'

const REQ = Buffer.from('GET /api/items?id=42 HTTP/1.1\r\nHost: bench.local\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n')
const BODY = '{"id":42,"name":"item"}\n'
const RESP = Buffer.from(`HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: application/json\r\nContent-Length: ${BODY.length}\r\n\r\n${BODY}`)
const SERVER_IP = [10, 0, 0, 80]
const SERVER_PORT = 80

const FIN = 0x01
const SYN = 0x02
const PSH = 0x08
const ACK = 0x10

/** one Ethernet/IPv4/TCP frame with `payload`, into `out` (reused); returns its length */
function frame(out: Buffer, src: number[], sport: number, dst: number[], dport: number, seq: number, ack: number, flags: number, payload: Buffer | null): number {
  const plen = payload === null ? 0 : payload.length
  out.fill(0, 0, 54)
  out[12] = 0x08 // ethertype IPv4
  out[14] = 0x45
  out.writeUInt16BE(40 + plen, 16)
  out[22] = 64 // ttl
  out[23] = 6 // TCP
  for (let i = 0; i < 4; i++) {
    out[26 + i] = src[i]!
    out[30 + i] = dst[i]!
  }
  out.writeUInt16BE(sport, 34)
  out.writeUInt16BE(dport, 36)
  out.writeUInt32BE(seq >>> 0, 38)
  out.writeUInt32BE(ack >>> 0, 42)
  out[46] = 0x50 // data offset 5
  out[47] = flags
  out.writeUInt16BE(65535, 48)
  if (payload !== null) payload.copy(out, 54)
  return 54 + plen
}

interface Conn {
  ip: number[]
  port: number
  cseq: number
  sseq: number
}

function conn(i: number): Conn {
  // distinct clients: 64 512 ports per address, addresses 10.1.0.0 upward
  const a = Math.floor(i / 64512)
  return { ip: [10, 1 + (a >> 16), (a >> 8) & 255, a & 255], port: 1024 + (i % 64512), cseq: (i * 2654435761) >>> 0, sseq: (i * 40503 + 7) >>> 0 }
}

function main(): void {
  const [kind, nArg, out] = process.argv.slice(2)
  const n = Number(nArg)
  if ((kind !== 'short' && kind !== 'concurrent') || !Number.isInteger(n) || n <= 0 || !out) {
    console.error('usage: tsx bench/make-flows.ts short|concurrent N out.pcap')
    process.exit(2)
  }
  const w = new PcapWriter(out, { bufferBytes: 4 << 20 })
  const buf = Buffer.alloc(2048)
  let tsUs = 1_700_000_000_000_000
  const put = (c: Conn, c2s: boolean, flags: number, payload: Buffer | null) => {
    const len = c2s
      ? frame(buf, c.ip, c.port, SERVER_IP, SERVER_PORT, c.cseq, c.sseq, flags, payload)
      : frame(buf, SERVER_IP, SERVER_PORT, c.ip, c.port, c.sseq, c.cseq, flags, payload)
    w.write(tsUs, buf.subarray(0, len))
    tsUs += 5
  }
  const handshake = (c: Conn) => {
    put(c, true, SYN, null)
    c.cseq++
    put(c, false, SYN | ACK, null)
    c.sseq++
    put(c, true, ACK, null)
  }
  const exchange = (c: Conn) => {
    put(c, true, PSH | ACK, REQ)
    c.cseq += REQ.length
    put(c, false, PSH | ACK, RESP)
    c.sseq += RESP.length
  }
  if (kind === 'short') {
    for (let i = 0; i < n; i++) {
      const c = conn(i)
      handshake(c)
      exchange(c)
      put(c, true, FIN | ACK, null)
      c.cseq++
      put(c, false, FIN | ACK, null)
      c.sseq++
      put(c, true, ACK, null)
      tsUs += 10
    }
  } else {
    for (let i = 0; i < n; i++) {
      const c = conn(i)
      handshake(c)
      exchange(c)
    }
    for (let i = 0; i < n; i++) {
      const c = conn(i)
      c.cseq += 1 + REQ.length
      c.sseq += 1 + RESP.length
      exchange(c)
    }
  }
  w.close()
  console.log(`${out}: ${kind} ${n} connections, ${w.packets} packets`)
}

main()
