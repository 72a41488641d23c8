// PostgreSQL parser throughput: N exchanges of a pgbench-like mix, fed request, response, request...
// one TCP segment per message batch, and the same bytes in 1460-byte segments (messages cut anywhere):
//   - simple Query SELECT with literals to normalize, answered by RowDescription, 5 DataRows,
//     CommandComplete, ReadyForQuery
//   - extended Bind/Execute/Sync of a named statement (prepared once), answered by BindComplete,
//     1 DataRow, CommandComplete, ReadyForQuery
//   - extended Parse/Bind/Describe/Execute/Sync of an unnamed UPDATE
//   - simple Query BEGIN / END
// Run: npx tsx bench/micro/postgres.bench.ts    (prints mitata's table, then MB/s and exchanges/s)

import { bench, do_not_optimize, run } from 'mitata'
import { DEFAULT_LIMITS } from '../../src/config.js'
import { postgresParser } from '../../src/protocols/postgres/parser.js'
import * as pg from '../../src/protocols/postgres/test-buffers.js'
import type { ParserContext } from '../../src/protocols/types.js'

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

function perMessage(): void {
  const h = postgresParser.create(ctx)
  let t = 1_700_000_000_000_000
  for (let i = 0; i < reqs.length; i++) {
    h.data('c2s', reqs[i], t, -1)
    h.data('s2c', resps[i], t + 150, -1)
    t += 1000
  }
  h.end('fin', t)
}

const MSS = 1460
/** c2s offset after request i, s2c offset after response i */
const reqEnds: number[] = []
const respEnds: number[] = []
for (let i = 0, a = 0, b = 0; i < reqs.length; i++) reqEnds.push((a += reqs[i].length)), respEnds.push((b += resps[i].length))

function segments(): void {
  const h = postgresParser.create(ctx)
  let t = 1_700_000_000_000_000
  let sOff = 0
  let done = 0
  for (let off = 0; off < c2sAll.length; off += MSS) {
    h.data('c2s', c2sAll.subarray(off, off + MSS), t++, -1)
    // the server answers every request that is complete so far, in segments of its own
    while (done < reqs.length && reqEnds[done] <= off + MSS) done++
    const to = done === 0 ? 0 : respEnds[done - 1]
    for (; sOff < to; sOff += Math.min(MSS, to - sOff)) h.data('s2c', s2cAll.subarray(sOff, Math.min(sOff + MSS, to)), t++, -1)
  }
  h.end('fin', t)
}

// both ways must give every exchange, answered (checked once, outside the timing)
{
  let answered = 0
  const emit = ctx.emit
  ctx.emit = (e) => void (e.status === 'OK' && answered++)
  for (const f of [perMessage, segments]) {
    answered = 0
    f()
    if (answered !== N) throw new Error(`${f.name}: ${answered} of ${N} answered`)
  }
  ctx.emit = emit
}

bench(`postgres ${N} exchanges, one segment per message batch`, perMessage)
bench(`postgres ${N} exchanges in ${MSS}-byte segments`, segments)

const { benchmarks } = await run()
console.log(`\n${N} exchanges = ${(totalBytes / 1e6).toFixed(2)} MB per run`)
for (const b of benchmarks) {
  const s = b.runs[0]?.stats
  if (!s) continue
  const sec = s.avg / 1e9
  console.log(`${b.alias}: ${(totalBytes / 1e6 / sec).toFixed(0)} MB/s, ${(N / sec / 1e3).toFixed(0)}k exchanges/s`)
}
if (emitted === 0) throw new Error('nothing emitted')
