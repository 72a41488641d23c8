#!/usr/bin/env node
// Thin launcher: the compiled CLI lives in dist/ (built by `npm run build`, which `npm ci` runs via prepare).
import('../dist/cli/main.js').then((m) => m.main(process.argv)).catch((err) => {
  if (err && err.code === 'ERR_MODULE_NOT_FOUND' && String(err.url ?? '').endsWith('/dist/cli/main.js')) {
    console.error('podtap: not built yet. Run `npm ci` (or `npm run build`) in the podtap folder first.')
    process.exit(1)
  }
  console.error(err)
  process.exit(1)
})
