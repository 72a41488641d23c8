// MySQL parser throughput: N exchanges of an application-like mix, fed request, response, request...
// one TCP segment per message, and the same bytes in 1460-byte segments (packets cut anywhere):
//   - COM_QUERY SELECT with literals to normalize, answered by a 3-column, 5-row text result set
//   - COM_STMT_EXECUTE of a prepared SELECT, answered by a 1-row binary result set
//   - COM_QUERY UPDATE answered by OK
//   - COM_PING answered by OK (a connection pool's validation query)
// Run: npx tsx bench/micro/mysql.bench.ts    (prints mitata's table, then MB/s and exchanges/s)

import { bench, do_not_optimize, run } from 'mitata'
import { DEFAULT_LIMITS } from '../../src/config.js'
import { mysqlParser } from '../../src/protocols/mysql/parser.js'
import { b, CLIENT_CAPS, packet, resultSet, SERVER_CAPS } from '../../src/protocols/mysql/test-buffers.js'
import type { ParserContext } from '../../src/protocols/types.js'

const N = 10_000

/** packets of one message, sequence ids from `seq` */
const msg = (seq: number, ...payloads: Buffer[]) => Buffer.concat(payloads.map((p, i) => packet(seq + i, p)))

const login = [msg(0, b.greeting({ caps: SERVER_CAPS })), msg(1, b.handshakeResponse({ caps: CLIENT_CAPS, db: 'shop' })), msg(2, b.ok())]
const prepare = [
  msg(0, b.stmtPrepare('SELECT id, name, price FROM items WHERE id = ?')),
  msg(1, b.prepareOk(1, 3, 1), b.columnDef('?'), b.eof(), b.columnDef('id'), b.columnDef('name'), b.columnDef('price'), b.eof()),
]
const rows = Array.from({ length: 5 }, (_, i) => [String(1000 + i), 'widget number ' + i, '9.99'])

const reqs: Buffer[] = []
const resps: Buffer[] = []
for (let i = 0; i < N; i++) {
  switch (i % 4) {
    case 0:
      reqs.push(msg(0, b.query(`SELECT id, name, price FROM items WHERE category = 'tools' AND price < ${i} ORDER BY id LIMIT 5`)))
      resps.push(msg(1, ...resultSet(['id', 'name', 'price'], rows)))
      break
    case 1:
      reqs.push(msg(0, b.stmtExecute(1, [i])))
      resps.push(msg(1, ...resultSet(['id', 'name', 'price'], [rows[0]], { binary: true })))
      break
    case 2:
      reqs.push(msg(0, b.query(`UPDATE items SET stock = stock - 1 WHERE id = ${i}`)))
      resps.push(msg(1, b.ok({ affected: 1 })))
      break
    default:
      reqs.push(msg(0, b.ping()))
      resps.push(msg(1, b.ok()))
  }
}
const c2sAll = Buffer.concat(reqs)
const s2cAll = Buffer.concat(resps)
const totalBytes = c2sAll.length + s2cAll.length

let emitted = 0
const ctx: ParserContext = {
  emit: (e) => {
    emitted++
    do_not_optimize(e)
  },
  limits: DEFAULT_LIMITS,
  count: () => {},
  unmatchedResponse: () => {},
}

function start(t: number) {
  const h = mysqlParser.create(ctx)
  h.data('s2c', login[0], t, -1)
  h.data('c2s', login[1], t + 1, -1)
  h.data('s2c', login[2], t + 2, -1)
  h.data('c2s', prepare[0], t + 3, -1)
  h.data('s2c', prepare[1], t + 4, -1)
  return h
}

function perMessage(): void {
  let t = 1_700_000_000_000_000
  const h = start(t)
  for (let i = 0; i < N; i++) {
    h.data('c2s', reqs[i], t, -1)
    h.data('s2c', resps[i], t + 150, -1)
    t += 1000
  }
  h.end('fin', t)
}

const MSS = 1460
const reqEnds: number[] = []
const respEnds: number[] = []
for (let i = 0, a = 0, c = 0; i < N; i++) reqEnds.push((a += reqs[i].length)), respEnds.push((c += resps[i].length))

/** one command at a time, as MySQL clients do: each request's last segment, then its answer's segments */
function segments(): void {
  let t = 1_700_000_000_000_000
  const h = start(t)
  let cOff = 0
  let sOff = 0
  for (let i = 0; i < N; i++) {
    for (; cOff < reqEnds[i]; cOff += Math.min(MSS, reqEnds[i] - cOff)) h.data('c2s', c2sAll.subarray(cOff, Math.min(cOff + MSS, reqEnds[i])), t++, -1)
    for (; sOff < respEnds[i]; sOff += Math.min(MSS, respEnds[i] - sOff)) h.data('s2c', s2cAll.subarray(sOff, Math.min(sOff + MSS, respEnds[i])), t++, -1)
  }
  h.end('fin', t)
}

// every way must give every exchange, answered OK (checked once, outside the timing)
{
  let ok = 0
  const emit = ctx.emit
  ctx.emit = (e) => void (e.status === 'OK' && e.method !== 'LOGIN' && e.method !== 'STMT_PREPARE' && ok++)
  for (const f of [perMessage, segments]) {
    ok = 0
    f()
    if (ok !== N) throw new Error(`${f.name}: ${ok} of ${N} answered OK`)
  }
  ctx.emit = emit
}

bench(`mysql ${N} exchanges (query/execute/update/ping mix), one segment per message`, perMessage)
bench(`mysql ${N} exchanges in ${MSS}-byte segments`, segments)

const { benchmarks } = await run()
console.log(`\n${N} exchanges = ${(totalBytes / 1e6).toFixed(2)} MB per run`)
for (const r of benchmarks) {
  const s = r.runs[0]?.stats
  if (!s) continue
  const sec = s.avg / 1e9
  console.log(`${r.alias}: ${(totalBytes / 1e6 / sec).toFixed(0)} MB/s, ${(N / sec / 1e3).toFixed(0)}k exchanges/s`)
}
if (emitted === 0) throw new Error('nothing emitted')
