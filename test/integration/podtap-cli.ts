// The podtap CLI from source (through tsx), for the integration tests that spawn it as a process:
//   node --import tsx test/integration/podtap-cli.ts capture --iface X ...
// Same entry as bin/podtap.js, without depending on a dist/ build that other work may be rewriting.

import { main } from '../../src/cli/main.js'

await main(process.argv)
