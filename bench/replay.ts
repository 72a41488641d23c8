// `npm run bench`: podtap's replay speed beside tshark's on the same capture.
//  - the capture: bench/out/http-keepalive.pcap, recorded by bench/make-http-capture.sh (wrk against
//    nginx in a network namespace, tcpdump on the host side of the veth) when missing and root;
//    or any file given as argument: `npm run bench -- file.pcap`.
//  - podtap: `podtap replay --format jsonl FILE > out.jsonl` (every exchange written), timed with
//    GNU time for wall seconds and peak RSS.
//  - tshark: `tshark -r FILE -q -z http,stat,` (the lightest tshark run that still parses HTTP).
//  - memory: the first half of the file and the whole file; peak RSS must not grow with input.

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

interface Timed { seconds: number; maxRssMb: number; stdout: string }

/** runs a command under GNU time; stdout goes to `stdoutFile` when given */
function timed(cmd: string[], stdoutFile?: string): Timed {
  const timeFile = path.join(outDir, 'time.txt')
  const shell = `/usr/bin/time -f '%e %M' -o ${timeFile} ${cmd.map((c) => `'${c}'`).join(' ')}` + (stdoutFile ? ` > '${stdoutFile}'` : '')
  const r = spawnSync('sh', ['-c', shell], { maxBuffer: 1 << 28, encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`${cmd.join(' ')} failed: ${r.stderr}`)
  const [secs, kb] = fs.readFileSync(timeFile, 'utf8').trim().split(/\s+/).slice(-2).map(Number)
  return { seconds: secs, maxRssMb: kb / 1024, stdout: r.stdout }
}

need('/usr/bin/time', 'time')
need('tshark', 'tshark')
if (!fs.existsSync(path.join(root, 'dist', 'cli', 'main.js'))) execFileSync('npm', ['run', 'build'], { cwd: root, stdio: 'inherit' })

let file = process.argv[2]
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
const podtap = [process.execPath, path.join(root, 'bin', 'podtap.js'), 'replay', '--format', 'jsonl', '--no-progress']

console.log(`capture: ${file} (${sizeMb.toFixed(1)} MB)`)
const jsonl = path.join(outDir, 'exchanges.jsonl')
const p1 = timed([...podtap, file], jsonl)
const exchanges = fs.readFileSync(jsonl, 'utf8').split('\n').filter(Boolean).length
// the first half of the same capture (editcap): peak RSS must not grow with the input
const half = path.join(outDir, 'first-half.pcap')
const total = Number(/(\d+)/.exec(execFileSync('capinfos', ['-c', '-M', file], { encoding: 'utf8' }).split('\n').find((l) => l.includes('packets')) ?? '0')?.[1] ?? 0)
execFileSync('editcap', ['-r', file, half, `1-${Math.max(1, Math.floor(total / 2))}`])
const p2 = timed([...podtap, half], path.join(outDir, 'exchanges-half.jsonl'))
const ts = timed(['tshark', '-r', file, '-q', '-z', 'http,stat,'])
const tsReq = /Total HTTP Requests\s+(\d+)|Requests\s+(\d+)/.exec(ts.stdout)

const row = (name: string, t: Timed, n: number | string, mb = sizeMb) =>
  `${name.padEnd(22)} ${t.seconds.toFixed(2).padStart(8)} s ${String(n).padStart(10)} ${(typeof n === 'number' ? (n / t.seconds).toFixed(0) : '-').padStart(12)} ${(mb / t.seconds).toFixed(1).padStart(9)} ${t.maxRssMb.toFixed(0).padStart(8)}`
console.log(`${'run'.padEnd(22)} ${'time'.padStart(10)} ${'exchanges'.padStart(10)} ${'exch/s'.padStart(12)} ${'MB/s'.padStart(9)} ${'RSS MB'.padStart(8)}`)
console.log(row('podtap (jsonl to file)', p1, exchanges))
console.log(row('podtap, first half', p2, '(half)', fs.statSync(half).size / 1e6))
console.log(row('tshark -z http,stat', ts, tsReq ? '(see below)' : '-'))
console.log(`\nspeed: podtap is ${(ts.seconds / p1.seconds).toFixed(1)}x tshark (target >= 3x, aim 10x)`)
console.log(`memory: peak RSS ${p2.maxRssMb.toFixed(0)} MB for the first half, ${p1.maxRssMb.toFixed(0)} MB for the whole file (must not grow with input)`)
console.log('\ntshark http,stat output:\n' + ts.stdout.trim())
