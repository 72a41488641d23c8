// MySQL parser throughput: N exchanges of an application-like mix, fed request, response, request...
// one TCP segment per message, and the same bytes in 1460-byte segments (packets cut anywhere):
//   - COM_QUERY SELECT with literals to normalize, answered by a 3-column, 5-row text result set
//   - COM_STMT_EXECUTE of a prepared SELECT, answered by a 1-row binary result set
//   - COM_QUERY UPDATE answered by OK
//   - COM_PING answered by OK (a connection pool's validation query)
// Run: npx tsx bench/micro/mysql.bench.ts    (prints mitata's table, then MB/s and exchanges/s)

import { mysqlParser } from '../../src/protocols/mysql/parser.js'
import { b, CLIENT_CAPS, packet, resultSet, SERVER_CAPS } from '../../test/helpers/buffers/mysql.js'
import { MSS, runParserBench } from './harness.js'

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

await runParserBench(
  {
    parser: mysqlParser,
    reqs,
    resps,
    exchanges: N,
    answered: (e) => e.status === 'OK' && e.method !== 'LOGIN' && e.method !== 'STMT_PREPARE',
    // every run logs in and prepares the statement COM_STMT_EXECUTE runs
    preamble: [['s2c', login[0]], ['c2s', login[1]], ['s2c', login[2]], ['c2s', prepare[0]], ['s2c', prepare[1]]],
  },
  [
    { name: `mysql ${N} exchanges (query/execute/update/ping mix), one segment per message`, feed: 'per-message' },
    // one command at a time, as MySQL clients do: each request's segments, then its answer's segments
    { name: `mysql ${N} exchanges in ${MSS}-byte segments`, feed: 'lockstep' },
  ],
)
