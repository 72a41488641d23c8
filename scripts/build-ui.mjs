// Bundles the web UI (src/ui/web) into dist/ui/web: index.html, app.js (preact, cytoscape and the
// page, minified), app.css. Run by `npm run build`; podtap serves these files and nothing else, so
// the page works with no network beyond podtap itself.
import { build } from 'esbuild'
import { copyFileSync, mkdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const out = process.argv[2] ?? join(root, 'dist/ui/web')
mkdirSync(out, { recursive: true })
await build({
  entryPoints: { app: join(root, 'src/ui/web/main.tsx') },
  outdir: out,
  bundle: true,
  minify: true,
  format: 'esm',
  target: ['es2020'],
  jsx: 'automatic',
  jsxImportSource: 'preact',
  legalComments: 'linked',
  logLevel: 'warning',
})
copyFileSync(join(root, 'src/ui/web/index.html'), join(out, 'index.html'))
