// Builds the Go test programs of test/go/ with Debian's golang-go, offline (GOPATH mode, the gRPC
// packages from /usr/share/gocode), stripped (-ldflags '-s -w') or not. Builds are cached in the
// temp directory by a hash of the sources, the Go version and the flags, so a test run rebuilds only
// what changed (a cold build of the gRPC program takes ~10 s here, a cached lookup nothing).

import { execFileSync, spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const GO_SRC = fileURLToPath(new URL('../go/', import.meta.url))

export type GoProgram = 'httpsapp' | 'grpcapp' | 'hello'

/** Why Go programs cannot be built here, or null when they can. */
export function goMissing(): string | null {
  if (spawnSync('go', ['version']).status !== 0) return 'no Go toolchain (apt-get install golang-go)'
  if (!existsSync('/usr/share/gocode/src/google.golang.org/grpc')) return 'no gRPC for Go (apt-get install golang-google-grpc-dev)'
  return null
}

let goVersion: string | undefined

/** Path of the built program (built now unless cached). Throws with the compiler's output on failure. */
export function goBuild(program: GoProgram, opts: { stripped?: boolean; pie?: boolean } = {}): string {
  goVersion ??= execFileSync('go', ['version'], { encoding: 'utf8' }).trim()
  const dir = join(GO_SRC, program)
  const flags = [...(opts.stripped === true ? ['-ldflags=-s -w'] : []), ...(opts.pie === true ? ['-buildmode=pie'] : [])]
  const h = createHash('sha256').update(goVersion).update(flags.join(' '))
  // the program's files and the package the programs share (imported as "../testcert")
  for (const d of [dir, join(GO_SRC, 'testcert')]) for (const f of readdirSync(d).sort()) h.update(f).update(readFileSync(join(d, f)))
  const cache = join(tmpdir(), 'podtap-go-builds')
  const out = join(cache, `${program}-${h.digest('hex').slice(0, 16)}`)
  if (existsSync(out)) return out
  mkdirSync(cache, { recursive: true })
  const gopath = join(cache, 'gopath')
  mkdirSync(gopath, { recursive: true })
  const tmp = `${out}.${process.pid}.tmp`
  const r = spawnSync('go', ['build', ...flags, '-o', tmp, '.'], {
    cwd: dir,
    encoding: 'utf8',
    env: { ...process.env, GO111MODULE: 'off', GOPATH: `${gopath}:/usr/share/gocode`, GOPROXY: 'off', GOFLAGS: '' },
  })
  if (r.status !== 0) throw new Error(`go build ${program} failed:\n${r.stderr}`)
  renameSync(tmp, out)
  return out
}
