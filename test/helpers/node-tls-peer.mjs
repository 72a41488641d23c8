// A Node.js TLS peer for the node TLS tap tests, plain JavaScript so that any node runs it (the
// nodesource node 20 here, Debian's node 18 from a dpkg -x cache). One JSON line per event on stdout.
//
//   node node-tls-peer.mjs server <host> <h1Port> <h2Port> <key.pem> <cert.pem>
//     HTTPS (HTTP/1.1) on h1Port and HTTP/2 over TLS on h2Port; every request answered with the
//     status its path asks for (/s/<status>/...), body "<path> from <pid>"; logs
//     {ev:'req', proto, path, status, local, remote}; {ev:'ready', pid} once listening.
//   node node-tls-peer.mjs client <host> <h1Port> <h2Port> <conns> <perConn> <tag>
//     conns concurrent keep-alive HTTPS connections with perConn requests each (distinct paths), then
//     conns HTTP/2 sessions with perConn streams each; logs {ev:'res', proto, path, status, local,
//     remote} per response and {ev:'done'} at the end (then stays PEER_LINGER_MS ms, default 0).

import { readFileSync } from 'node:fs'
import https from 'node:https'
import http2 from 'node:http2'

const [mode, host, h1Port, h2Port, ...rest] = process.argv.slice(2)
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n')
const ep = (addr, port) => ({ ip: addr?.replace(/^::ffff:/, ''), port })
const statusOf = (path) => Number(/^\/s\/(\d{3})\//.exec(path)?.[1] ?? 200)

if (mode === 'server') {
  const [keyFile, certFile] = rest
  const opts = { key: readFileSync(keyFile), cert: readFileSync(certFile) }
  const answer = (proto) => (req, res) => {
    const s = req.socket
    const status = statusOf(req.url)
    out({ ev: 'req', proto, path: req.url, status, local: ep(s.localAddress, s.localPort), remote: ep(s.remoteAddress, s.remotePort) })
    res.writeHead(status, { 'content-type': 'text/plain' })
    res.end(`${req.url} from ${process.pid}\n`)
  }
  const h1 = https.createServer({ ...opts, keepAliveTimeout: 30_000 }, answer('h1'))
  const h2 = http2.createSecureServer(opts, answer('h2'))
  let up = 0
  const ready = () => ++up === 2 && out({ ev: 'ready', pid: process.pid })
  h1.listen(Number(h1Port), host, ready)
  h2.listen(Number(h2Port), host, ready)
  process.on('SIGTERM', () => process.exit(0))
} else {
  const [conns, perConn, tag] = [Number(rest[0]), Number(rest[1]), rest[2]]
  const agent = new https.Agent({ keepAlive: true, maxSockets: conns, rejectUnauthorized: false })
  const get = (path) =>
    new Promise((resolve, reject) => {
      const req = https.get({ host, port: Number(h1Port), path, agent, rejectUnauthorized: false }, (res) => {
        const s = res.socket
        const rec = { ev: 'res', proto: 'h1', path, status: res.statusCode, local: ep(s.localAddress, s.localPort), remote: ep(s.remoteAddress, s.remotePort) }
        res.resume()
        res.on('end', () => resolve(out(rec)))
      })
      req.on('error', reject)
    })
  // conns chains run at once; each chain's requests go one after another on its kept-alive socket
  const statuses = [200, 404, 201, 500, 204]
  const path = (proto, c, i) => `/s/${statuses[(c + i) % statuses.length]}/${tag}/${proto}/c${c}/r${i}`
  await Promise.all(
    Array.from({ length: conns }, async (_, c) => {
      for (let i = 0; i < perConn; i++) await get(path('h1', c, i))
    }),
  )
  agent.destroy()
  await Promise.all(
    Array.from({ length: conns }, async (_, c) => {
      const session = http2.connect(`https://${host}:${h2Port}`, { rejectUnauthorized: false })
      await new Promise((resolve, reject) => session.once('connect', resolve).once('error', reject))
      const s = session.socket
      const local = ep(s.localAddress, s.localPort)
      const remote = ep(s.remoteAddress, s.remotePort)
      for (let i = 0; i < perConn; i++) {
        const p = path('h2', c, i)
        await new Promise((resolve, reject) => {
          const st = session.request({ ':path': p })
          st.on('response', (h) => {
            st.resume()
            st.on('end', () => resolve(out({ ev: 'res', proto: 'h2', path: p, status: h[':status'], local, remote })))
          })
          st.on('error', reject)
        })
      }
      await new Promise((resolve) => session.close(resolve))
    }),
  )
  out({ ev: 'done' })
  // PEER_LINGER_MS: stay a while (a process that exits at once may be gone before podtap looks at it)
  const linger = Number(process.env.PEER_LINGER_MS ?? 0)
  if (linger > 0) setTimeout(() => {}, linger)
}
