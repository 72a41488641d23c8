// PostgreSQL parser throughput: N exchanges of a pgbench-like mix, fed request, response, request...
// one TCP segment per message batch, and the same bytes in 1460-byte segments (messages cut anywhere):
//   - simple Query SELECT with literals to normalize, answered by RowDescription, 5 DataRows,
//     CommandComplete, ReadyForQuery
//   - extended Bind/Execute/Sync of a named statement (prepared once), answered by BindComplete,
//     1 DataRow, CommandComplete, ReadyForQuery
//   - extended Parse/Bind/Describe/Execute/Sync of an unnamed UPDATE
//   - simple Query BEGIN / END
// Run: npx tsx bench/micro/postgres.bench.ts    (prints mitata's table, then MB/s and exchanges/s)

import { postgresParser } from '../../src/protocols/postgres/parser.js'
import * as pg from '../../test/helpers/buffers/postgres.js'
import { MSS, runParserBench } from './harness.js'

const N = 10_000
const { cat } = pg
const rows = Array.from({ length: 5 }, (_, i) => [String(1000 + i), 'widget number ' + i, '9.99'])

const login = [pg.startup({ user: 'app', database: 'shop' }), pg.startupOk()]
const prepare = [
  cat(pg.parse('S_1', 'SELECT abalance FROM pgbench_accounts WHERE aid = $1'), pg.describe('S', 'S_1'), pg.sync()),
  cat(pg.parseComplete(), pg.parameterDescription([23]), pg.rowDescription(['abalance']), pg.readyForQuery()),
]
const reqs: Buffer[] = [login[0], prepare[0]]
const resps: Buffer[] = [login[1], prepare[1]]
for (let i = 0; i < N; i++) {
  switch (i % 4) {
    case 0:
      reqs.push(pg.query(`SELECT id, name, price FROM items WHERE category = 'tools' AND price < ${i} ORDER BY id LIMIT 5`))
      resps.push(cat(pg.selectResult(['id', 'name', 'price'], rows), pg.readyForQuery()))
      break
    case 1:
      reqs.push(cat(pg.bind('', 'S_1', [String(i)]), pg.execute(), pg.sync()))
      resps.push(cat(pg.bindComplete(), pg.dataRow(['-1234']), pg.commandComplete('SELECT 1'), pg.readyForQuery('T')))
      break
    case 2:
      reqs.push(pg.extended('UPDATE pgbench_tellers SET tbalance = tbalance + $1 WHERE tid = $2', [String(i), '7']))
      resps.push(cat(pg.parseComplete(), pg.bindComplete(), pg.noData(), pg.commandComplete('UPDATE 1'), pg.readyForQuery('T')))
      break
    default:
      reqs.push(pg.query(i % 8 === 3 ? 'BEGIN' : 'END'))
      resps.push(cat(pg.commandComplete(i % 8 === 3 ? 'BEGIN' : 'COMMIT'), pg.readyForQuery(i % 8 === 3 ? 'T' : 'I')))
  }
}

await runParserBench(
  // the login and the prepare are the first two requests: they give no OK exchange
  { parser: postgresParser, reqs, resps, exchanges: N, answered: (e) => e.status === 'OK' },
  [
    { name: `postgres ${N} exchanges, one segment per message batch`, feed: 'per-message' },
    { name: `postgres ${N} exchanges in ${MSS}-byte segments`, feed: 'answering' },
  ],
)
