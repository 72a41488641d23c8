// Runs the CLI from source (tests and development: `node --import tsx src/cli/entry.ts replay ...`).
// Users run bin/podtap.js, which loads the compiled CLI (dist/cli/main.js, bundled into dist/run/).
import { main } from './main.js'

await main(process.argv)
