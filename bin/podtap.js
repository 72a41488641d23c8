#!/usr/bin/env -S UV_USE_IO_URING=0 node --max-semi-space-size=8
// --max-semi-space-size=8: V8's young generation stops at 2 x 8 MiB instead of 2 x 16 MiB (-16 MB of peak
// RSS with many live flows, CPU within noise; docs/architecture.md "hot path"). Run as `node bin/podtap.js`
// the flag must be given to node by hand (the container's entrypoint does).
// Thin launcher: the compiled CLI lives in dist/ (built by `npm run build`, which `npm ci` runs via
// prepare), bundled into dist/run/ (scripts/build-cli.mjs: fewer files for node to load at start).
// UV_USE_IO_URING=0: libuv's asynchronous file I/O on its thread pool, not io_uring. Node 20's libuv
// sets up io_uring with a SQPOLL kernel thread on the first asynchronous fs call (the replay's
// read-ahead), and that thread spins: ~0.7 s of CPU on a 1 s replay, a core taken from V8's compiler
// and GC threads (docs/architecture.md "hot path"). libuv reads the variable at that first call, so
// setting it here also covers `node bin/podtap.js`.
process.env.UV_USE_IO_URING ??= '0'
import('../dist/run/main.js').then((m) => m.main(process.argv)).catch((err) => {
  if (err && err.code === 'ERR_MODULE_NOT_FOUND' && String(err.url ?? '').endsWith('/dist/run/main.js')) {
    console.error('podtap: not built yet. Run `npm ci` (or `npm run build`) in the podtap folder first.')
    process.exit(1)
  }
  console.error(err)
  process.exit(1)
})
