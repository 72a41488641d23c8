#!/usr/bin/env node
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
