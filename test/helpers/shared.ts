// Where ../shared/pcaps (the project's reference corpus, beside the repository) is: beside the checkout
// as CI lays it out, or PODTAP_SHARED_PCAPS. Tests that need it skip when it is not there.
import * as fs from 'node:fs'
import * as path from 'node:path'

export const SHARED_PCAPS: string =
  process.env.PODTAP_SHARED_PCAPS ??
  [path.resolve(import.meta.dirname, '..', '..', '..', 'shared', 'pcaps'), '/work/shared/pcaps'].find((p) => fs.existsSync(p)) ??
  path.resolve(import.meta.dirname, '..', '..', '..', 'shared', 'pcaps')
