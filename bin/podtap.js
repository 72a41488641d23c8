#!/usr/bin/env -S node --max-semi-space-size=8
// --max-semi-space-size=8: V8's young generation stops at 2 x 8 MiB instead of 2 x 16 MiB (-16 MB of peak
// RSS with many live flows, CPU within noise; docs/architecture.md "hot path"). Run as `node bin/podtap.js`
// the flag must be given to node by hand (the container's entrypoint does).
// Thin launcher: the compiled CLI lives in dist/ (built by `npm run build`, which `npm ci` runs via
// prepare), bundled into dist/run/ (scripts/build-cli.mjs: fewer files for node to load at start).
import('../dist/run/main.js').then((m) => m.main(process.argv)).catch((err) => {
  if (err && err.code === 'ERR_MODULE_NOT_FOUND' && String(err.url ?? '').endsWith('/dist/run/main.js')) {
    console.error('podtap: not built yet. Run `npm ci` (or `npm run build`) in the podtap folder first.')
    process.exit(1)
  }
  console.error(err)
  process.exit(1)
})
