// Generates test/pcaps/grpc/12-long-lived-*.pcap: one long-lived gRPC connection between node:http2
// peers speaking gRPC exactly as grpc-js does (grpc-js is built on node:http2, so the HPACK encoder is
// nghttp2's: request and response headers go into the dynamic table and are sent as indexes from the
// second call on). The server answers /grpc.health.v1.Health/Check: OK with a message and trailers
// (grpc-status 0), NOT_FOUND and UNAVAILABLE as trailers-only responses (one HEADERS frame with
// END_STREAM, the form gRPC uses for errors). tcpdump on lo records it.
//
//   sudo npx tsx scripts/gen-grpc-capture.ts OUT.pcap [PLAN]     PLAN: comma-separated OK|NF|UN
//
// Prints the truth (call index, path, grpc-status) as JSON lines on stdout.

import { spawn } from 'node:child_process'
import * as http2 from 'node:http2'
import type { AddressInfo } from 'node:net'

const out = process.argv[2]
const plan = (process.argv[3] ?? 'OK,OK,NF,OK,UN,OK,OK,NF,OK,OK,OK,UN,OK,NF,OK,OK,OK,NF,OK,UN,OK,OK,NF,OK,OK,OK').split(',')
const PORT = 50061

/** protobuf HealthCheckRequest{service} / HealthCheckResponse{status=SERVING}, gRPC length-prefixed */
function frame(msg: Buffer): Buffer {
  const h = Buffer.alloc(5)
  h.writeUInt32BE(msg.length, 1)
  return Buffer.concat([h, msg])
}
const str = (field: number, s: string) => Buffer.concat([Buffer.from([(field << 3) | 2, Buffer.byteLength(s)]), Buffer.from(s)])

const server = http2.createServer()
server.on('stream', (stream, headers) => {
  const chunks: Buffer[] = []
  stream.on('data', (c: Buffer) => chunks.push(c))
  stream.on('end', () => {
    const body = Buffer.concat(chunks)
    const service = body.subarray(7).toString()
    const base = { ':status': 200, 'content-type': 'application/grpc+proto' }
    if (service.startsWith('svc.missing')) {
      stream.respond({ ...base, 'grpc-status': '5', 'grpc-message': `unknown service ${service}` }, { endStream: true })
    } else if (service.startsWith('down')) {
      stream.respond({ ...base, 'grpc-status': '14', 'grpc-message': 'backend down' }, { endStream: true })
    } else {
      stream.respond(base, { waitForTrailers: true })
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0', 'grpc-message': '' }))
      stream.end(frame(Buffer.from([0x08, 0x01])))
    }
    void headers
  })
})

async function main(): Promise<void> {
  await new Promise<void>((r) => server.listen(PORT, '127.0.0.1', r))
  const td = spawn('tcpdump', ['-i', 'lo', '-U', '-w', out, `tcp port ${(server.address() as AddressInfo).port}`], { stdio: ['ignore', 'ignore', 'pipe'] })
  await new Promise<void>((r) => td.stderr!.once('data', () => r()))
  await new Promise((r) => setTimeout(r, 500))
  const client = http2.connect(`http://127.0.0.1:${PORT}`)
  for (const [i, p] of plan.entries()) {
    const service = p === 'NF' ? `svc.missing${i % 3}` : p === 'UN' ? 'down.db' : 'svc.ok'
    const req = client.request({
      ':method': 'POST',
      ':path': '/grpc.health.v1.Health/Check',
      'content-type': 'application/grpc',
      te: 'trailers',
      'grpc-accept-encoding': 'identity,deflate,gzip',
      'user-agent': 'grpc-node-js/1.12.6',
    })
    const status = await new Promise<string>((resolve) => {
      let st = ''
      req.on('response', (h) => {
        if (h['grpc-status'] !== undefined) st = String(h['grpc-status'])
      })
      req.on('trailers', (h) => (st = String(h['grpc-status'])))
      req.on('data', () => {})
      req.on('end', () => resolve(st))
      req.end(frame(str(1, service)))
    })
    console.log(JSON.stringify({ i, path: '/grpc.health.v1.Health/Check', grpcStatus: Number(status) }))
    await new Promise((r) => setTimeout(r, 20))
  }
  client.close()
  await new Promise((r) => setTimeout(r, 500))
  server.close()
  await new Promise((r) => setTimeout(r, 1000))
  td.kill('SIGINT')
  await new Promise((r) => td.once('close', r))
}

void main()
