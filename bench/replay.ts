// `npm run bench`: podtap's replay speed beside tshark's on the same capture.
//  - the capture: bench/out/http-keepalive.pcap, recorded by bench/make-http-capture.sh (wrk against
//    nginx in a network namespace, tcpdump on the host side of the veth) when missing and root;
//    or any file given as argument: `npm run bench -- file.pcap`.
//  - podtap: `podtap replay --format jsonl FILE > out.jsonl` (every exchange written), timed with
//    GNU time for wall seconds and peak RSS.
//  - tshark: `tshark -r FILE -q -z http,stat,` (the lightest tshark run that still parses HTTP).
//  - the speed ratio: podtap and tshark run in turn, BENCH_RUNS pairs (default 3), on the file and
//    on its first half (where podtap's start-up weighs more); medians of wall and of CPU seconds.
//  - memory: half the file, the file, and 3x the file (time-shifted copies); peak RSS must not grow with input.
//  - then, without a file argument, the flow-count captures of bench/make-flows.ts (generated when
//    missing, no root needed): short connections (100k and 300k: time must grow linearly with the
//    connections) and 50k concurrent keep-alive flows (peak RSS per flow), and a recorded
//    short-connection capture (bench/make-http-capture.sh ... close: wrk -H 'Connection: close' against
//    nginx, recorded when missing and root), each beside the same tshark -z http,stat run, in turn
//    (BENCH_RUNS pairs, medians).
//  - then, without a file argument, the database captures of bench/make-db-captures.sh (recorded when
//    missing and root, else skipped): redis.pcap (redis-benchmark, plain and -P 16), pgbench.pcap
//    (pgbench -M simple, extended, prepared), mysql.pcap (mariadb-slap). podtap runs as above; tshark
//    runs once per file as `tshark -r FILE -T fields -e <field> -E occurrence=a > out` with the one
//    field that names each request (see DB_RUNS). -T fields is the lightest tshark run that still
//    dissects every message of that protocol: the field is only filled once tshark has reassembled
//    the TCP stream and run the protocol's dissector on every PDU (no display filter, no -z tap, no
//    protocol tree for other fields), and its output gives tshark's own request count, printed beside
//    podtap's exchange count. Both write one line per item to a file, so the output cost is alike.

import { execFileSync, spawnSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'

const root = path.resolve(import.meta.dirname, '..')
const outDir = path.join(root, 'bench', 'out')
fs.mkdirSync(outDir, { recursive: true })

function need(cmd: string, pkg: string): void {
  if (spawnSync('sh', ['-c', `command -v ${cmd}`]).status !== 0) {
    console.error(`bench: ${cmd} is missing: apt-get install -y ${pkg}`)
    process.exit(2)
  }
}

/** wall seconds, CPU seconds (user + sys: what a shared, noisy machine measures best), peak RSS */
interface Timed { seconds: number; cpuSeconds: number; maxRssMb: number; stdout: string }

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

/** podtap and tshark in turn, `runs` pairs: medians of each (shared machines are noisy) */
function pairs(runs: number, a: () => Timed, b: () => Timed): { a: Timed; b: Timed } {
  const as: Timed[] = []
  const bs: Timed[] = []
  for (let i = 0; i < runs; i++) {
    as.push(a())
    bs.push(b())
  }
  const med = (ts: Timed[]): Timed => ({ seconds: median(ts.map((t) => t.seconds)), cpuSeconds: median(ts.map((t) => t.cpuSeconds)), maxRssMb: median(ts.map((t) => t.maxRssMb)), stdout: ts[0]!.stdout })
  return { a: med(as), b: med(bs) }
}
const RUNS = Math.max(1, Number(process.env.BENCH_RUNS ?? 3))

/** runs a command under GNU time; stdout goes to `stdoutFile` when given */
function timed(cmd: string[], stdoutFile?: string): Timed {
  const timeFile = path.join(outDir, 'time.txt')
  const shell = `/usr/bin/time -f '%e %U %S %M' -o ${timeFile} ${cmd.map((c) => `'${c}'`).join(' ')}` + (stdoutFile ? ` > '${stdoutFile}'` : '')
  const r = spawnSync('sh', ['-c', shell], { maxBuffer: 1 << 28, encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`${cmd.join(' ')} failed: ${r.stderr}`)
  const [secs, user, sys, kb] = fs.readFileSync(timeFile, 'utf8').trim().split(/\s+/).slice(-4).map(Number)
  return { seconds: secs, cpuSeconds: user + sys, maxRssMb: kb / 1024, stdout: r.stdout }
}

need('/usr/bin/time', 'time')
need('tshark', 'tshark')
if (!fs.existsSync(path.join(root, 'dist', 'run', 'main.js'))) execFileSync('npm', ['run', 'build'], { cwd: root, stdio: 'inherit' })

const fileArg = process.argv[2]
let file = fileArg
if (!file) {
  file = path.join(outDir, 'http-keepalive.pcap')
  if (!fs.existsSync(file)) {
    if (process.getuid?.() !== 0) {
      console.error('bench: no capture yet and not root: run as root once (it records one), or pass a file')
      process.exit(2)
    }
    execFileSync('bash', [path.join(root, 'bench', 'make-http-capture.sh'), '5', '16', file], { stdio: 'inherit' })
  }
}
const sizeMb = fs.statSync(file).size / 1e6
// the launcher itself, as users run it (its shebang passes --max-semi-space-size=8 to node)
const podtap = [path.join(root, 'bin', 'podtap.js'), 'replay', '--format', 'jsonl', '--no-progress']

console.log(`capture: ${file} (${sizeMb.toFixed(1)} MB)`)
const jsonl = path.join(outDir, 'exchanges.jsonl')
const tsharkStat = (f: string) => timed(['tshark', '-r', f, '-q', '-z', 'http,stat,'])
const { a: p1, b: ts } = pairs(RUNS, () => timed([...podtap, file], jsonl), () => tsharkStat(file))
const exchanges = fs.readFileSync(jsonl, 'utf8').split('\n').filter(Boolean).length
// the first half of the same capture (editcap): peak RSS must not grow with the input
const half = path.join(outDir, 'first-half.pcap')
const total = Number(/(\d+)/.exec(execFileSync('capinfos', ['-c', '-M', file], { encoding: 'utf8' }).split('\n').find((l) => l.includes('packets')) ?? '0')?.[1] ?? 0)
execFileSync('editcap', ['-r', file, half, `1-${Math.max(1, Math.floor(total / 2))}`])
const { a: p2, b: tsHalf } = pairs(RUNS, () => timed([...podtap, half], path.join(outDir, 'exchanges-half.jsonl')), () => tsharkStat(half))
// and the same traffic three times over, shifted in time (editcap -t, mergecap -a): 3x the input
const triple = path.join(outDir, 'triple.pcap')
const shifted = [10, 20].map((s) => path.join(outDir, `shift-${s}.pcap`))
shifted.forEach((f, i) => execFileSync('editcap', ['-t', String(10 * (i + 1)), file, f]))
execFileSync('mergecap', ['-a', '-w', triple, file, ...shifted])
shifted.forEach((f) => fs.rmSync(f))
const p3 = timed([...podtap, triple], path.join(outDir, 'exchanges-triple.jsonl'))
for (const f of ['exchanges-half.jsonl', 'exchanges-triple.jsonl']) fs.rmSync(path.join(outDir, f), { force: true })
const tsReq = /Total HTTP Requests\s+(\d+)|Requests\s+(\d+)/.exec(ts.stdout)

const row = (name: string, t: Timed, n: number | string, mb = sizeMb) =>
  `${name.padEnd(22)} ${t.seconds.toFixed(2).padStart(8)} s ${String(n).padStart(10)} ${(typeof n === 'number' ? (n / t.seconds).toFixed(0) : '-').padStart(12)} ${(mb / t.seconds).toFixed(1).padStart(9)} ${t.maxRssMb.toFixed(0).padStart(8)}`
console.log(`${'run'.padEnd(22)} ${'time'.padStart(10)} ${'exchanges'.padStart(10)} ${'exch/s'.padStart(12)} ${'MB/s'.padStart(9)} ${'RSS MB'.padStart(8)}`)
console.log(row('podtap (jsonl to file)', p1, exchanges))
console.log(row('podtap, first half', p2, '(half)', fs.statSync(half).size / 1e6))
console.log(row('podtap, 3x the file', p3, '(3x)', fs.statSync(triple).size / 1e6))
console.log(row('tshark -z http,stat', ts, tsReq ? '(see below)' : '-'))
console.log(`\nspeed (medians of ${RUNS} runs each, in turn): podtap is ${(ts.seconds / p1.seconds).toFixed(1)}x tshark in wall time, ${(ts.cpuSeconds / p1.cpuSeconds).toFixed(1)}x in CPU time (target >= 5x, aim 10x)`)
console.log(`  first half of the file: ${(tsHalf.seconds / p2.seconds).toFixed(1)}x in wall time, ${(tsHalf.cpuSeconds / p2.cpuSeconds).toFixed(1)}x in CPU time (podtap ${p2.cpuSeconds.toFixed(2)} s, tshark ${tsHalf.cpuSeconds.toFixed(2)} s CPU)`)
console.log(`memory: peak RSS ${p2.maxRssMb.toFixed(0)} MB for half the file, ${p1.maxRssMb.toFixed(0)} MB for all of it, ${p3.maxRssMb.toFixed(0)} MB for 3x (must not grow with input)`)
fs.rmSync(triple, { force: true })
console.log('\ntshark http,stat output:\n' + ts.stdout.trim())

// ---- flow counts: short connections and many concurrent flows, generated ----

if (!fileArg) {
  const gen = (kind: 'short' | 'concurrent', n: number): string => {
    const f = path.join(outDir, `${kind}-${n / 1000}k.pcap`)
    if (!fs.existsSync(f)) execFileSync(process.execPath, ['--import', 'tsx', path.join(root, 'bench', 'make-flows.ts'), kind, String(n), f], { stdio: 'inherit', cwd: root })
    return f
  }
  const flowRuns: { name: string; file: string; n: number }[] = [
    { name: 'short connections, 100k', file: gen('short', 100_000), n: 100_000 },
    { name: 'short connections, 300k', file: gen('short', 300_000), n: 300_000 },
    { name: 'concurrent flows, 50k', file: gen('concurrent', 50_000), n: 50_000 },
  ]
  // recorded: real TCP (options, delayed ACKs, the server's FIN first), one request per connection
  const closeFile = path.join(outDir, 'http-close.pcap')
  if (!fs.existsSync(closeFile) && process.getuid?.() === 0) execFileSync('bash', [path.join(root, 'bench', 'make-http-capture.sh'), '5', '16', closeFile, 'close'], { stdio: 'inherit' })
  if (fs.existsSync(closeFile)) flowRuns.push({ name: 'short connections, recorded', file: closeFile, n: 0 })
  else console.log('\n(short connections, recorded: skipped, not root: run `sudo bench/make-http-capture.sh 5 16 bench/out/http-close.pcap close` once)')
  const got: Record<string, { pt: Timed; ts: Timed }> = {}
  for (const r of flowRuns) {
    const mb = fs.statSync(r.file).size / 1e6
    console.log(`\n${r.name}: ${r.file} (${mb.toFixed(1)} MB)`)
    const out = path.join(outDir, 'exchanges-flows.jsonl')
    const { a: pt, b: ts } = pairs(RUNS, () => timed([...podtap, r.file], out), () => tsharkStat(r.file))
    const n = countJsonl(out, 'http').lines
    fs.rmSync(out)
    console.log(`${'run'.padEnd(22)} ${'time'.padStart(10)} ${'exchanges'.padStart(10)} ${'exch/s'.padStart(12)} ${'MB/s'.padStart(9)} ${'RSS MB'.padStart(8)}`)
    console.log(row('podtap (jsonl to file)', pt, n, mb))
    console.log(row('tshark -z http,stat', ts, '-', mb))
    // tshark's request count: the sum of its request-method rows
    const tsRequests = [...ts.stdout.matchAll(/^\s+(GET|POST|PUT|DELETE|HEAD|OPTIONS|PATCH)\s+(\d+)/gm)].reduce((a, m) => a + Number(m[2]), 0)
    const target = r.name.startsWith('short') ? ' (target >= 5x, aim 10x)' : ' (speed not a target here; memory is)'
    console.log(`speed: podtap is ${(ts.seconds / pt.seconds).toFixed(1)}x tshark in wall time, ${(ts.cpuSeconds / pt.cpuSeconds).toFixed(1)}x in CPU time${target}`)
    console.log(`counts: podtap ${n} exchanges; tshark ${tsRequests} requests`)
    got[r.name] = { pt, ts }
  }
  const s1 = got['short connections, 100k']!.pt.cpuSeconds
  const s3 = got['short connections, 300k']!.pt.cpuSeconds
  console.log(`\nlinearity: 300k short connections take ${(s3 / s1).toFixed(2)}x the CPU time of 100k (linear: ~3x, less with start-up)`)
  const conc = got['concurrent flows, 50k']!.pt
  console.log(`memory: 50k concurrent flows, peak RSS ${conc.maxRssMb.toFixed(0)} MB (target <= 160 MB)`)
}

// ---- database captures: podtap beside tshark on the same file ----

interface DbRun {
  /** capture name in bench/out/ (<name>.pcap) and the argument of make-db-captures.sh */
  name: 'redis' | 'pgbench' | 'mysql'
  /** podtap's protocol name in the records */
  protocol: string
  /** tshark's -e fields: tab-separated columns in its output, occurrences of one field joined by ',' */
  fields: string[]
  /** tshark's request count from its -T fields output */
  requests(lines: string[]): { n: number; what: string }
}

const items = (col: string | undefined) => (col ? col.split(',') : [])

const DB_RUNS: DbRun[] = [
  {
    name: 'redis',
    protocol: 'redis',
    // every RESP command is an array; one frame can carry many (pipelining). Client-to-server frames
    // only: some replies are arrays too (CONFIG GET).
    fields: ['tcp.dstport', 'resp.array.length'],
    requests: (lines) => ({
      n: lines.reduce((s, l) => (l.startsWith('6379\t') ? s + items(l.split('\t')[1]).length : s), 0),
      what: 'RESP arrays sent to :6379',
    }),
  },
  {
    name: 'pgbench',
    protocol: 'postgresql',
    // frontend messages: a Simple query yields one statement here (pgbench sends one per Query), an
    // Execute one more; Parse/Bind/Describe/Sync are parts of the Execute's exchange
    fields: ['pgsql.type'],
    requests: (lines) => {
      let q = 0
      let e = 0
      for (const l of lines) {
        for (const t of items(l)) {
          if (t === 'Simple query') q++
          else if (t === 'Execute') e++
        }
      }
      return { n: q + e, what: `Simple query ${q} + Execute ${e}` }
    },
  },
  {
    name: 'mysql',
    protocol: 'mysql',
    // command bytes of client packets (COM_QUIT = 1 gets no reply: not an exchange for podtap) and
    // login requests (mysql.user is only in the handshake response), which podtap reports as LOGIN
    fields: ['tcp.dstport', 'mysql.command', 'mysql.user'],
    requests: (lines) => {
      let cmds = 0
      let quits = 0
      let logins = 0
      for (const l of lines) {
        const [port, cmd, user] = l.split('\t')
        if (port !== '3306') continue
        for (const c of items(cmd)) {
          if (c === '1') quits++
          else cmds++
        }
        logins += items(user).length
      }
      return { n: cmds + logins, what: `commands ${cmds} (+ COM_QUIT ${quits}) + logins ${logins}` }
    },
  },
]

/** newline count and lines naming `protocol`, without holding the file as one string */
function countJsonl(f: string, protocol: string): { lines: number; ofProtocol: number } {
  const buf = fs.readFileSync(f)
  const needle = Buffer.from(`"protocol":"${protocol}"`)
  let lines = 0
  for (let i = buf.indexOf(10); i !== -1; i = buf.indexOf(10, i + 1)) lines++
  let ofProtocol = 0
  for (let i = buf.indexOf(needle); i !== -1; i = buf.indexOf(needle, i + needle.length)) ofProtocol++
  return { lines, ofProtocol }
}

if (!fileArg) {
  const capture = (r: DbRun) => path.join(outDir, `${r.name}.pcap`)
  const missing = DB_RUNS.filter((r) => !fs.existsSync(capture(r)))
  if (missing.length > 0) {
    if (process.getuid?.() === 0) {
      execFileSync('bash', [path.join(root, 'bench', 'make-db-captures.sh'), outDir, ...missing.map((r) => r.name)], { stdio: 'inherit' })
    } else {
      console.log(`\nbench: ${missing.map((r) => r.name).join(', ')} not recorded yet and not root: skipped (run once as root)`)
    }
  }
  const ratios: string[] = []
  for (const r of DB_RUNS) {
    const f = capture(r)
    if (!fs.existsSync(f)) continue
    const mb = fs.statSync(f).size / 1e6
    console.log(`\n${r.name}: ${f} (${mb.toFixed(1)} MB)`)
    const out = path.join(outDir, `exchanges-${r.name}.jsonl`)
    const pt = timed([...podtap, f], out)
    const counted = countJsonl(out, r.protocol)
    fs.rmSync(out) // hundreds of MB for redis; only the count is needed
    const tsOut = path.join(outDir, `tshark-${r.name}.txt`)
    const ts = timed(['tshark', '-r', f, '-T', 'fields', ...r.fields.flatMap((x) => ['-e', x]), '-E', 'occurrence=a'], tsOut)
    const req = r.requests(fs.readFileSync(tsOut, 'utf8').split('\n'))
    fs.rmSync(tsOut)
    console.log(`${'run'.padEnd(22)} ${'time'.padStart(10)} ${'exchanges'.padStart(10)} ${'exch/s'.padStart(12)} ${'MB/s'.padStart(9)} ${'RSS MB'.padStart(8)}`)
    console.log(row('podtap (jsonl to file)', pt, counted.lines, mb))
    console.log(row(`tshark -T fields`, ts, req.n, mb))
    const other = counted.lines - counted.ofProtocol
    console.log(`counts: podtap ${counted.lines} exchanges${other > 0 ? ` (${other} not ${r.protocol})` : ''}; tshark ${req.n} requests: ${req.what}`)
    ratios.push(`${r.name} ${(ts.seconds / pt.seconds).toFixed(1)}x`)
  }
  if (ratios.length > 0) console.log(`\nspeed, podtap against tshark on the same file: ${ratios.join(', ')}`)
}
